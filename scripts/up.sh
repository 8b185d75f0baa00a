#!/usr/bin/env bash
# Builds and starts the stack on this machine with embedded defaults; Ctrl-C stops every service.
# Ports: embedder gRPC 50051, index gRPC 50052, gateway HTTP 8787 (override with the env vars below).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/provision.sh
cargo build --release --workspace --bins
BIN=target/release
EMBEDDER_LISTEN="${STRATO_EMBEDDER_LISTEN:-127.0.0.1:50051}"

pids=()
stop() { trap - INT TERM EXIT; for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; echo "strato: stopped"; }
trap stop INT TERM EXIT

"$BIN/embedder-svc" --listen "$EMBEDDER_LISTEN" & pids+=($!)
echo "strato: embedder-svc on $EMBEDDER_LISTEN (Ctrl-C stops)"
wait -n "${pids[@]}"
