#!/usr/bin/env bash
# Start a local Chroma (1.5.x) HTTP server for benchmarks.
#
#   scripts/bench/chroma_server.sh PORT DIR
#
# The script *becomes* the server (exec), so the pid of this script is the
# server's pid: a caller that spawned it can kill it directly (SIGTERM/SIGKILL).
# Before exec it starts a small background watcher that polls
# GET /api/v2/heartbeat and, once it answers, prints ONE line to stdout:
#
#   chroma ready pid=<PID> port=<PORT> url=http://127.0.0.1:<PORT>
#
# and closes stdout (so a reader gets EOF right after it).  If the server dies
# or is not up within CHROMA_START_TIMEOUT seconds (default 60) the watcher
# prints an error to stderr, kills the server and exits non-zero (the caller
# then sees EOF with no "ready" line).  Judge success by the ready line, not
# the exit status: `chroma run` exits 0 even when it cannot bind the port.
# (Don't use bash `out=$(chroma_server.sh ...)`: bash waits for the substituted
# process, which is the server itself, to exit.  Read one line from a pipe.)
#
# Server output (banner + logs) goes to CHROMA_LOG (default: DIR.log).
# Env:
#   CHROMA_BIN            chroma executable (default: $STRATO_CACHE/venv/bin/chroma)
#   CHROMA_LOG            server log file (default: "${DIR%/}.log")
#   CHROMA_RUST_LOG       tracing filter (default: "warn"; chroma logs every
#                         HTTP request at info level, which costs CPU in a bench)
#   CHROMA_START_TIMEOUT  seconds to wait for the heartbeat (default 60)
#   CHROMA_PDEATHSIG=1    also ask the kernel to SIGKILL the server when the
#                         process that spawned it exits (setpriv --pdeathsig).
#                         Caveat: on Linux this fires when the spawning *thread*
#                         exits, so only use it if the spawning thread lives as
#                         long as the benchmark (not from a tokio blocking pool).
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 PORT DIR" >&2
    exit 2
fi
PORT=$1
DIR=$2
CHROMA_BIN=${CHROMA_BIN:-${STRATO_CACHE:-$HOME/.cache/strato}/venv/bin/chroma}
CHROMA_LOG=${CHROMA_LOG:-${DIR%/}.log}
TIMEOUT=${CHROMA_START_TIMEOUT:-60}

if [ ! -x "$CHROMA_BIN" ]; then
    echo "chroma_server.sh: $CHROMA_BIN not found; install with" >&2
    echo "  \${STRATO_CACHE:-\$HOME/.cache/strato}/venv/bin/python -m pip install chromadb==1.5.9" >&2
    exit 1
fi
if curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/api/v2/heartbeat"; then
    echo "chroma_server.sh: something already answers on port $PORT" >&2
    exit 1
fi
mkdir -p "$DIR"

SELF=$$   # stays the server's pid after exec
# Double fork: the watcher is reparented to init, so it never becomes a zombie
# child of the (exec'd) server.
( (
    # Watcher: must not hold the server's stdin; keeps our stdout only until ready.
    exec </dev/null
    deadline=$(( $(date +%s) + TIMEOUT ))
    while :; do
        if ! kill -0 "$SELF" 2>/dev/null; then
            echo "chroma_server.sh: server (pid $SELF) exited during startup; see $CHROMA_LOG" >&2
            exit 1
        fi
        if curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/api/v2/heartbeat"; then
            echo "chroma ready pid=$SELF port=$PORT url=http://127.0.0.1:$PORT"
            exit 0
        fi
        if [ "$(date +%s)" -ge "$deadline" ]; then
            echo "chroma_server.sh: no heartbeat on port $PORT after ${TIMEOUT}s; killing pid $SELF (log: $CHROMA_LOG)" >&2
            kill -TERM "$SELF" 2>/dev/null || true
            exit 1
        fi
        sleep 0.1
    done
) & )

export RUST_LOG=${CHROMA_RUST_LOG:-warn}
export ANONYMIZED_TELEMETRY=False
PRE=()
if [ "${CHROMA_PDEATHSIG:-0}" = 1 ]; then
    PRE=(setpriv --pdeathsig KILL)   # setpriv execs in place: pid unchanged
fi
# Server output must not go to our stdout (the caller reads the ready line there).
exec "${PRE[@]}" "$CHROMA_BIN" run --path "$DIR" --host 127.0.0.1 --port "$PORT" \
    </dev/null >>"$CHROMA_LOG" 2>&1
