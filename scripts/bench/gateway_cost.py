#!/usr/bin/env python3
"""What a request costs the HTTP gateway (issue #22, point 9): `./strato bench gateway --cost`.

Two gateway binaries run in the same session, alternating, in BENCH_ROUNDS rounds (≥ 3):
  BEFORE = $BENCH_GATEWAY_BASELINE (default ~/.cache/strato/bench/before/gateway)
  AFTER  = $BENCH_GATEWAY_AFTER    (default target/release/gateway)
in front of ONE embedder-svc and ONE index-svc (target/release, or $BENCH_EMBEDDER_SVC /
$BENCH_INDEX_SVC) started for the whole run on a temporary data directory.

Part `cost`: per route, a body at the route's limit (and one just over it) sent to a fresh
gateway process; its peak RSS is read from /proc/PID/status (VmHWM after the request, the peak
having been reset with `echo 5 > /proc/PID/clear_refs` once the gateway is up and warm) minus
its VmRSS before the request. Printed: status, body and response bytes, peak MiB, peak ÷ body
bytes, wall time; medians of the per-round values and the median of per-round after÷before.

Part `starve`: p50/p99 of 200 sequential tokened `GET …/indexes/{name}/info` calls, (a) alone,
(b) while 8 tokenless clients trickle a `POST /insert` body one byte every 2 s, (c) while 64
tokenless clients (a child process) flood `GET /?text=hello` and `GET /insert`; plus how many of
the tokened calls were not answered 200 (a 503 there is what the issue is about).

Never asserts: prints figures. Environment:
  BENCH_ROUNDS (3)  BENCH_PARTS (cost,starve)  BENCH_CASES (substrings of case names; all)
  BENCH_STARVE_CALLS (200)  BENCH_GATEWAY_FLAGS (extra gateway flags, e.g. "--memory-budget-mib 512";
  each passed only to a binary whose --help lists it)  BENCH_KEEP=1 (keep the temp dir and logs)
  STRATO_CACHE (~/.cache/strato)
Python stdlib only; Linux only (/proc); run as root or as the gateway's owner (clear_refs).
"""
import http.client
import json
import os
import random
import re
import select
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CACHE = os.environ.get("STRATO_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "strato")
MODEL = "@strato/all-minilm-l6-v2"
ACCOUNT = "bench"
TOKEN = "bench-token"
INDEX = "bench-cost"
DIMS = 1536
AUTH = ("Authorization", "Bearer " + TOKEN)
API = f"/client/v4/accounts/{ACCOUNT}/vectorize/v2/indexes"

KiB, MiB = 1 << 10, 1 << 20
# The current gateway's body limits (gateway/src/routes/ai.rs AI_BODY_LIMIT, routes/vectorize.rs
# MAX_UPLOAD_BYTES / MAX_QUERY_BYTES / MAX_IDS_BYTES; the binding routes take the upload limit).
AI_LIMIT = 32 * MiB
UPLOAD_LIMIT = 100 * MiB + 1 * MiB
QUERY_LIMIT = 128 * KiB
IDS_LIMIT = 2 * MiB
# "At the limit" for the AI routes: ~28 MB of `0,` (an array of numbers where texts belong: 400).
AI_AT = 28_000_000
OVER = 1 * KiB  # "just over": the limit plus this much
UPSERT_VECTORS = 5000
DIGITS = 10  # fraction digits per value of the ~100 MB upsert: 5000 x 1536 x "0.dddddddddd,"


def log(*a):
    print("[bench gateway --cost]", *a, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------
# Processes
# ------------------------------------------------------------------------------------------------

_help_cache = {}


def help_flags(binary):
    """Every `--flag` a binary's --help lists."""
    if binary not in _help_cache:
        out = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=30)
        _help_cache[binary] = set(re.findall(r"(--[a-z0-9][a-z0-9-]*)", out.stdout + out.stderr))
    return _help_cache[binary]


def flag_groups(text):
    """`--a 1 --b --c=2` → [["--a", "1"], ["--b"], ["--c=2"]]."""
    groups = []
    for tok in shlex.split(text or ""):
        if tok.startswith("--") or not groups:
            groups.append([tok])
        else:
            groups[-1].append(tok)
    return groups


class Proc:
    """A service binary on port 0 (--listen 127.0.0.1:0 --addr-file), exiting when its stdin
    closes (--exit-on-stdin-eof), as tests/src/process.rs starts them."""

    live = []

    def __init__(self, name, binary, args, workdir, timeout=180.0):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix=name + "-", dir=workdir)
        addr_file = os.path.join(self.dir, "addr")
        admin_file = os.path.join(self.dir, "admin")
        self.log = os.path.join(self.dir, "log.err")
        cmd = [binary]
        if "--admin-listen" in help_flags(binary):
            cmd += ["--admin-listen", "127.0.0.1:0", "--admin-addr-file", admin_file]
        cmd += ["--listen", "127.0.0.1:0", *args, "--exit-on-stdin-eof", "--addr-file", addr_file]
        self.p = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=open(os.path.join(self.dir, "log"), "wb"),
            stderr=open(self.log, "wb"),
        )
        Proc.live.append(self)
        start = time.monotonic()
        while True:
            try:
                a = open(addr_file).read().strip()
            except OSError:
                a = ""
            if a:
                host, port = a.rsplit(":", 1)
                self.addr = (host, int(port))
                return
            if self.p.poll() is not None:
                raise RuntimeError(f"{name} exited ({self.p.returncode}) before serving:\n{self.tail()}")
            if time.monotonic() - start > timeout:
                self.stop()
                raise RuntimeError(f"{name} did not serve within {timeout} s:\n{self.tail()}")
            time.sleep(0.02)

    @property
    def pid(self):
        return self.p.pid

    def url(self):
        return f"http://{self.addr[0]}:{self.addr[1]}"

    def tail(self, n=3000):
        try:
            return open(self.log, errors="replace").read()[-n:]
        except OSError:
            return ""

    def stop(self):
        if self in Proc.live:
            Proc.live.remove(self)
        try:
            self.p.stdin.close()
        except OSError:
            pass
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


def stop_all():
    for p in list(Proc.live):
        p.stop()


def proc_status(pid):
    """VmRSS, VmHWM, … of /proc/PID/status, in bytes."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Vm") or line.startswith("Rss"):
                k, v = line.split(":", 1)
                parts = v.split()
                if len(parts) == 2 and parts[1] == "kB":
                    out[k] = int(parts[0]) * 1024
    return out


def reset_peak(pid):
    """`echo 5 > /proc/PID/clear_refs`: VmHWM becomes the current VmRSS. False if refused."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def cpu_seconds(pid):
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def wait_idle(pids, window=0.5, share=0.10, limit=90.0):
    """Until the processes together use under `share` of a core over `window` s (a finished
    ingest, a drained queue), at most `limit` s."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        c0 = sum(cpu_seconds(p) for p in pids)
        time.sleep(window)
        if (sum(cpu_seconds(p) for p in pids) - c0) / window < share:
            return
    log(f"services still busy after {limit:.0f} s; measuring anyway")


# ------------------------------------------------------------------------------------------------
# HTTP
# ------------------------------------------------------------------------------------------------


def exchange(addr, method, path, headers, body, timeout=300.0):
    """One request on a fresh connection: the body is sent in chunks and sending stops as soon as
    the server answers (an early 413). Returns (status, bytes sent, response bytes, response
    head, seconds); status "ERR:…" if no response could be read."""
    t0 = time.perf_counter()
    s = socket.create_connection(addr, timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    lines = [f"{method} {path} HTTP/1.1", f"Host: {addr[0]}:{addr[1]}", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers]
    s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    mv, sent = memoryview(body), 0
    s.setblocking(False)
    try:
        while sent < len(body):
            r, w, _ = select.select([s], [s], [], timeout)
            if r:
                break  # answered before the whole body was sent
            if w:
                try:
                    sent += s.send(mv[sent:sent + 4 * MiB])
                except BlockingIOError:
                    pass
                except OSError:
                    break
    finally:
        s.setblocking(True)
        s.settimeout(timeout)
    try:
        resp = http.client.HTTPResponse(s, method=method)
        resp.begin()
        data = resp.read()
        status = resp.status
    except (OSError, http.client.HTTPException) as e:
        status, data = f"ERR:{type(e).__name__}", b""
    finally:
        s.close()
    return status, sent, len(data), data[:400], time.perf_counter() - t0


def call(addr, method, path, body=None, headers=(AUTH,), timeout=300.0):
    """A small JSON call on its own connection: (status, parsed body or text)."""
    c = http.client.HTTPConnection(addr[0], addr[1], timeout=timeout)
    try:
        h = dict(headers)
        if body is not None:
            body = json.dumps(body).encode() if not isinstance(body, bytes) else body
            h.setdefault("Content-Type", "application/json")
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        try:
            return r.status, json.loads(data)
        except ValueError:
            return r.status, data.decode(errors="replace")
    finally:
        c.close()


# ------------------------------------------------------------------------------------------------
# Bodies
# ------------------------------------------------------------------------------------------------


def zeros(size, prefix, suffix):
    """prefix + [0,0,…,0] + suffix, `size` bytes (±1)."""
    n = max(1, (size - len(prefix) - len(suffix) - 1) // 2)
    return prefix + b"[" + b"0," * (n - 1) + b"0]" + suffix


def padded(body, size):
    """A JSON body followed by spaces up to `size` bytes (trailing whitespace is valid JSON)."""
    return body + b" " * max(0, size - len(body))


class Bodies:
    """Every body, built once per run (the same bytes for both contenders)."""

    def __init__(self):
        self._c = {}

    def get(self, name):
        if name not in self._c:
            self._c[name] = getattr(self, "make_" + name)()
        return self._c[name]

    def make_vectors(self):
        """The ~100 MB upsert: 5000 lines of 1536 values `0.dddddddddd` (random digits)."""
        rng = random.Random(22)
        per = DIGITS + 3
        n = UPSERT_VECTORS * DIMS
        block = bytearray((b"0." + b"0" * DIGITS + b",") * n)
        table = bytes(48 + i % 10 for i in range(256))
        for k in range(2, 2 + DIGITS):
            block[k::per] = rng.randbytes(n).translate(table)
        row = DIMS * per
        lines = [
            b'{"id":"v%05d","values":[' % i + bytes(block[i * row:(i + 1) * row - 1]) + b"]}\n"
            for i in range(UPSERT_VECTORS)
        ]
        return lines

    def make_upsert_100mb(self):
        return b"".join(self.get("vectors"))

    def make_upsert_over(self):
        lines = self.get("vectors")
        body = bytearray(self.get("upsert_100mb"))
        i = 0
        while len(body) <= UPLOAD_LIMIT:
            line = lines[i % len(lines)]
            body += b'{"id":"w%05d"' % i + line[len(b'{"id":"v00000"'):]
            i += 1
        return bytes(body)

    def make_upsert_meta(self):
        values = b",".join(b"0.5" for _ in range(DIMS))
        blob = b"x" * (AI_AT - len(values) - 64)
        return b'{"id":"meta-big","values":[' + values + b'],"metadata":{"blob":"' + blob + b'"}}\n'

    def make_openai_zeros(self):
        return zeros(AI_AT, b'{"model":"%s","input":' % MODEL.encode(), b"}")

    def make_openai_over(self):
        return zeros(AI_LIMIT + OVER, b'{"model":"%s","input":' % MODEL.encode(), b"}")

    def make_openai_2048(self):
        return json.dumps({"model": MODEL, "input": [f"short text number {i}" for i in range(2048)]}).encode()

    def make_run_zeros(self):
        return zeros(AI_AT, b'{"text":', b"}")

    def make_run_over(self):
        return zeros(AI_LIMIT + OVER, b'{"text":', b"}")

    def make_ids(self):
        return json.dumps({"ids": [f"v{i:05d}" for i in range(UPSERT_VECTORS)]}).encode()

    def make_ids_1000(self):
        # Strato's per-call limit since #22 (40007 beyond): both gateways answer it.
        return json.dumps({"ids": [f"v{i:05d}" for i in range(1000)]}).encode()

    def make_ids_over(self):
        return padded(self.get("ids"), IDS_LIMIT + OVER)

    def query_json(self):
        rng = random.Random(9)
        vec = ",".join(f"{rng.random():.17f}" for _ in range(DIMS))
        return ('{"vector":[' + vec + '],"topK":5,"returnValues":false,"returnMetadata":"none"}').encode()

    def make_query(self):
        return padded(self.query_json(), QUERY_LIMIT)

    def make_query_over(self):
        return padded(self.query_json(), QUERY_LIMIT + OVER)

    def make_binding_zeros(self):
        return zeros(AI_AT, b'{"inputs":{"text":', b"}}")

    def make_binding_over(self):
        return zeros(UPLOAD_LIMIT + OVER, b'{"inputs":{"text":', b"}}")


JSON_CT = ("Content-Type", "application/json")
NDJSON_CT = ("Content-Type", "application/x-ndjson")
BINDING_MODEL = ("cf-consn-model-id", MODEL)

# (name, method, path, headers, body, what is expected)
CASES = [
    ("embeddings 28MB zeros", "POST", "/v1/embeddings", [AUTH, JSON_CT], "openai_zeros", "400"),
    ("embeddings >32MiB", "POST", "/v1/embeddings", [AUTH, JSON_CT], "openai_over", "413"),
    ("embeddings 2048 texts", "POST", "/v1/embeddings", [AUTH, JSON_CT], "openai_2048", "200"),
    ("ai/run 28MB zeros", "POST", f"/client/v4/accounts/{ACCOUNT}/ai/run/{MODEL}", [AUTH, JSON_CT], "run_zeros", "400"),
    ("ai/run >32MiB", "POST", f"/client/v4/accounts/{ACCOUNT}/ai/run/{MODEL}", [AUTH, JSON_CT], "run_over", "413"),
    ("upsert 28MB metadata", "POST", f"{API}/{INDEX}/upsert", [AUTH, NDJSON_CT], "upsert_meta", "400"),
    ("upsert 100MB 5000x1536", "POST", f"{API}/{INDEX}/upsert", [AUTH, NDJSON_CT], "upsert_100mb", "200"),
    ("upsert >101MiB", "POST", f"{API}/{INDEX}/upsert", [AUTH, NDJSON_CT], "upsert_over", "413"),
    ("get_by_ids 5000", "POST", f"{API}/{INDEX}/get_by_ids", [AUTH, JSON_CT], "ids", "200"),
    ("get_by_ids 1000", "POST", f"{API}/{INDEX}/get_by_ids", [AUTH, JSON_CT], "ids_1000", "200"),
    ("get_by_ids >2MiB", "POST", f"{API}/{INDEX}/get_by_ids", [AUTH, JSON_CT], "ids_over", "413"),
    ("query 128KiB", "POST", f"{API}/{INDEX}/query", [AUTH, JSON_CT], "query", "200"),
    ("query >128KiB", "POST", f"{API}/{INDEX}/query", [AUTH, JSON_CT], "query_over", "413"),
    ("binding ai 28MB zeros", "POST", "/__strato/binding/ai/run?version=3", [AUTH, JSON_CT, BINDING_MODEL], "binding_zeros", "400"),
    ("binding ai >101MiB", "POST", "/__strato/binding/ai/run?version=3", [AUTH, JSON_CT, BINDING_MODEL], "binding_over", "413"),
]


# ------------------------------------------------------------------------------------------------
# The run
# ------------------------------------------------------------------------------------------------


class Run:
    def __init__(self, workdir):
        self.workdir = workdir
        rel = os.path.join(REPO, "target", "release")
        self.contenders = [
            ("before", os.environ.get("BENCH_GATEWAY_BASELINE") or os.path.join(CACHE, "bench", "before", "gateway")),
            ("after", os.environ.get("BENCH_GATEWAY_AFTER") or os.path.join(rel, "gateway")),
        ]
        for name, b in self.contenders:
            if not os.access(b, os.X_OK):
                raise SystemExit(f"{name} gateway {b} missing (BENCH_GATEWAY_BASELINE / BENCH_GATEWAY_AFTER)")
        self.embedder_bin = os.environ.get("BENCH_EMBEDDER_SVC") or os.path.join(rel, "embedder-svc")
        self.index_bin = os.environ.get("BENCH_INDEX_SVC") or os.path.join(rel, "index-svc")
        self.tokens = os.path.join(workdir, "tokens")
        with open(self.tokens, "w") as f:
            f.write(TOKEN + "\n")
        self.extra = flag_groups(os.environ.get("BENCH_GATEWAY_FLAGS", ""))
        self.peak_reset = True
        self.index_ready = False

    def start_services(self):
        models, ort = os.path.join(CACHE, "models"), os.path.join(CACHE, "lib", "libonnxruntime.so.1.31.1")
        for p in (os.path.join(models, "all-minilm-l6-v2", "model.onnx"), ort, self.embedder_bin, self.index_bin):
            if not os.path.exists(p):
                raise SystemExit(f"{p} missing: run scripts/provision.sh and cargo build --release --workspace --bins")
        log("starting embedder-svc and index-svc")
        self.embedder = Proc("embedder-svc", self.embedder_bin, ["--models-dir", models, "--ort-lib", ort, "--model", MODEL], self.workdir)
        data = os.path.join(self.workdir, "index-data")
        os.makedirs(data, exist_ok=True)
        self.index = Proc("index-svc", self.index_bin, ["--data-dir", data], self.workdir, timeout=300)
        self.service_pids = [self.embedder.pid, self.index.pid]

    def gateway_args(self, binary):
        flags = help_flags(binary)
        base = [
            ["--embedder", self.embedder.url()],
            ["--index", self.index.url()],
            ["--api-tokens-file", self.tokens],
            ["--public-tutorial"],
            ["--binding-account", ACCOUNT],
            ["--create-index"],
            ["--max-concurrent-requests", "64"],
        ]
        for g in base:
            if g[0] not in flags:
                raise SystemExit(f"{binary} --help does not list {g[0]}")
        args = [x for g in base for x in g]
        for g in self.extra:
            if g[0].split("=", 1)[0] in flags:
                args += g
        return args

    def start_gateway(self, who, binary):
        gw = Proc(f"gateway-{who}", binary, self.gateway_args(binary), self.workdir, timeout=120)
        # Warm: the index-svc channel is connected and the route's code paged in.
        for _ in range(100):
            s, _ = call(gw.addr, "GET", f"{API}/{INDEX}/info") if self.index_ready else call(gw.addr, "GET", API)
            if s == 200:
                break
            time.sleep(0.1)
        return gw

    # -- setup ----------------------------------------------------------------------------------

    def setup(self, bodies):
        self.index_ready = False
        gw = self.start_gateway("setup", self.contenders[1][1])
        try:
            s, b = call(gw.addr, "POST", API, {"name": INDEX, "config": {"dimensions": DIMS, "metric": "cosine"}})
            if s != 200:
                raise SystemExit(f"create index: {s} {b}")
            self.index_ready = True
            body = bodies.get("upsert_100mb")
            log(f"upserting {UPSERT_VECTORS} vectors ({len(body) / 1e6:.1f} MB) for get_by_ids")
            status, _, _, head, secs = exchange(gw.addr, "POST", f"{API}/{INDEX}/upsert", [AUTH, NDJSON_CT], body)
            if status != 200:
                raise SystemExit(f"setup upsert: {status} {head[:300]!r}\n{gw.tail()}")
            try:
                mutation = (json.loads(head).get("result") or {}).get("mutationId")
            except ValueError:
                mutation = None
            start = time.monotonic()
            while time.monotonic() - start < 300:
                s, b = call(gw.addr, "GET", f"{API}/{INDEX}/info")
                r = b.get("result", {}) if isinstance(b, dict) else {}
                if r.get("vectorCount", 0) >= UPSERT_VECTORS and (mutation is None or r.get("processedUpToMutation") == mutation):
                    break
                time.sleep(0.5)
            log(f"index holds {r.get('vectorCount')} vectors ({time.monotonic() - start:.1f} s after the upsert)")
            s, _ = call(gw.addr, "POST", f"{API}/{INDEX}/get_by_ids", {"ids": ["v00000", "v04999"]})
        finally:
            gw.stop()
        wait_idle(self.service_pids)
        # Does resetting the peak work here?
        gw = self.start_gateway("probe", self.contenders[0][1])
        try:
            self.peak_reset = reset_peak(gw.pid)
            st = proc_status(gw.pid)
            if not self.peak_reset:
                log("clear_refs refused: peaks are since the gateway's start (fresh process per measurement)")
            elif st["VmHWM"] > st["VmRSS"] + 4 * MiB:
                log(f"clear_refs did not reset VmHWM ({st['VmHWM']} > {st['VmRSS']}); peaks are since start")
        finally:
            gw.stop()

    # -- part cost --------------------------------------------------------------------------------

    def measure(self, who, binary, case, bodies):
        name, method, path, headers, body_name, _ = case
        body = bodies.get(body_name)
        wait_idle(self.service_pids, window=0.3, limit=60)
        gw = self.start_gateway(who, binary)
        try:
            time.sleep(0.1)
            if self.peak_reset:
                reset_peak(gw.pid)
            before = proc_status(gw.pid)["VmRSS"]
            status, sent, resp_bytes, head, secs = exchange(gw.addr, method, path, headers, body)
            time.sleep(0.05)
            alive = gw.p.poll() is None
            peak = proc_status(gw.pid)["VmHWM"] - before if alive else float("nan")
            if not alive:
                status = f"died({gw.p.returncode})"
                log(f"{who} gateway died on {name}:\n{gw.tail()}")
        finally:
            gw.stop()
        return {"status": status, "body": len(body), "sent": sent, "resp": resp_bytes, "peak": peak, "secs": secs, "head": head}

    def cost(self, rounds, bodies):
        cases = CASES
        want = [w.strip() for w in os.environ.get("BENCH_CASES", "").split(",") if w.strip()]
        if want:
            cases = [c for c in CASES if any(w in c[0] for w in want)]
        res = {c[0]: {"before": [], "after": []} for c in cases}
        for r in range(rounds):
            for i, case in enumerate(cases):
                order = self.contenders if (r + i) % 2 == 0 else self.contenders[::-1]
                for who, binary in order:
                    m = self.measure(who, binary, case, bodies)
                    res[case[0]][who].append(m)
                    log(
                        f"round {r + 1}/{rounds} {case[0]:<24} {who:<6} {m['status']} peak {m['peak'] / MiB:7.1f} MiB "
                        f"({m['peak'] / m['body']:.2f}x body) sent {m['sent'] / 1e6:.1f} MB resp {m['resp'] / 1e6:.1f} MB {m['secs'] * 1e3:.0f} ms"
                    )
                    if str(m["status"]) != case[5]:
                        log(f"  (expected {case[5]}) {m['head'][:200]!r}")
        return cases, res

    # -- part starve ------------------------------------------------------------------------------

    def tokened_calls(self, addr, n):
        lat, statuses, ok = [], {}, []
        c = None
        for _ in range(n):
            t0 = time.perf_counter()
            try:
                if c is None:
                    c = http.client.HTTPConnection(addr[0], addr[1], timeout=30)
                c.request("GET", f"{API}/{INDEX}/info", headers=dict([AUTH]))
                r = c.getresponse()
                r.read()
                s = r.status
                if r.getheader("connection", "").lower() == "close":
                    c.close()
                    c = None
            except (OSError, http.client.HTTPException) as e:
                s = f"ERR:{type(e).__name__}"
                if c is not None:
                    c.close()
                c = None
            lat.append(time.perf_counter() - t0)
            if s == 200:
                ok.append(lat[-1])
            statuses[s] = statuses.get(s, 0) + 1
        if c is not None:
            c.close()
        return lat, statuses, ok

    def starve_one(self, who, binary, n):
        wait_idle(self.service_pids, window=0.5, limit=90)
        gw = self.start_gateway(who, binary)
        out = {}
        try:
            out["alone"] = self.tokened_calls(gw.addr, n)
            stop = threading.Event()
            t = threading.Thread(target=trickle, args=(gw.addr, 8, stop), daemon=True)
            t.start()
            time.sleep(1.0)
            out["8 trickling"] = self.tokened_calls(gw.addr, n)
            stop.set()
            t.join()
            flood = subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), "--flood", f"{gw.addr[0]}:{gw.addr[1]}", "64"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
            time.sleep(2.0)
            out["64 flooding"] = self.tokened_calls(gw.addr, n)
            flood.stdin.close()
            try:
                summary = json.loads(flood.stdout.read() or b"{}")
            except ValueError:
                summary = {}
            flood.wait(timeout=60)
            out["flood"] = summary
        finally:
            gw.stop()
        return out

    def starve(self, rounds, n):
        res = {"before": [], "after": []}
        for r in range(rounds):
            order = self.contenders if r % 2 == 0 else self.contenders[::-1]
            for who, binary in order:
                o = self.starve_one(who, binary, n)
                res[who].append(o)
                parts = []
                for k in ("alone", "8 trickling", "64 flooding"):
                    lat, st, _ = o[k]
                    parts.append(f"{k}: p99 {pct(lat, 0.99) * 1e3:.1f} ms non-200 {n - st.get(200, 0)}")
                log(f"round {r + 1}/{rounds} starve {who:<6} " + "; ".join(parts) + f"; flood {o['flood']}")
        return res


def trickle(addr, clients, stop):
    """`clients` tokenless POST /insert whose bodies arrive one byte every 2 s."""
    head = (
        f"POST /insert HTTP/1.1\r\nHost: {addr[0]}:{addr[1]}\r\nContent-Type: application/json\r\n"
        f"Content-Length: 100000\r\n\r\n"
    ).encode()
    socks = []

    def opened():
        s = socket.create_connection(addr, timeout=5)
        s.sendall(head + b"{")
        return s

    for _ in range(clients):
        socks.append(opened())
    while not stop.wait(2.0):
        for i, s in enumerate(socks):
            try:
                s.sendall(b" ")
            except OSError:
                s.close()
                try:
                    socks[i] = opened()
                except OSError:
                    pass
    for s in socks:
        s.close()


def flood_main(target, n):
    """Child process: `n` threads, each on its own keep-alive connection, GET /?text=hello (even
    threads) or GET /insert (odd) as fast as answered, until stdin closes; prints their statuses."""
    host, port = target.rsplit(":", 1)
    stop = threading.Event()
    counts = [dict() for _ in range(n)]

    def worker(i):
        path = "/?text=hello" if i % 2 == 0 else "/insert"
        c = None
        while not stop.is_set():
            try:
                if c is None:
                    c = http.client.HTTPConnection(host, int(port), timeout=30)
                c.request("GET", path)
                r = c.getresponse()
                r.read()
                s = str(r.status)
                if r.getheader("connection", "").lower() == "close":
                    c.close()
                    c = None
            except (OSError, http.client.HTTPException):
                s = "ERR"
                if c is not None:
                    c.close()
                c = None
                time.sleep(0.01)
            counts[i][s] = counts[i].get(s, 0) + 1

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(n)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    sys.stdin.read()
    stop.set()
    secs = time.monotonic() - t0
    total = {}
    for c in counts:
        for k, v in list(c.items()):
            total[k] = total.get(k, 0) + v
    total["per_s"] = round(sum(v for k, v in total.items() if k != "per_s") / secs, 1)
    sys.stdout.write(json.dumps(total))
    sys.stdout.flush()
    os._exit(0)


# ------------------------------------------------------------------------------------------------
# Figures
# ------------------------------------------------------------------------------------------------


def pct(xs, q):
    """Nearest-rank percentile."""
    s = sorted(xs)
    return s[max(0, min(len(s) - 1, int(-(-q * len(s) // 1)) - 1))]


def med(xs):
    xs = [x for x in xs if x == x]
    return statistics.median(xs) if xs else float("nan")


def fmt_bytes(b):
    if b >= MiB:
        return f"{b / MiB:.1f} MiB"
    return f"{b / KiB:.0f} KiB" if b >= KiB else f"{b:.0f} B"


def ratio(a, b, floor):
    """Median of per-round a/b, or '—' when b is under `floor` (noise)."""
    rs = [x / y for x, y in zip(a, b) if y == y and x == x and y >= floor]
    return f"{med(rs):.2f}" if len(rs) == len(a) and rs else "—"


def statuses(ms):
    s = sorted({str(m["status"]) for m in ms})
    return "/".join(s)


def print_cost(cases, res, rounds):
    print(f"\n### Gateway cost per request: peak RSS increase ÷ body bytes (median of {rounds} rounds; fresh gateway per request)\n")
    print("| route | status b/a | body | response | before peak | after peak | before peak/body | after peak/body | after÷before | before wall | after wall | wall a÷b |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    notes = []
    for case in cases:
        b, a = res[case[0]]["before"], res[case[0]]["after"]
        bp, ap = [m["peak"] for m in b], [m["peak"] for m in a]
        bw, aw = [m["secs"] for m in b], [m["secs"] for m in a]
        body = b[0]["body"]
        resp = med([m["resp"] for m in a + b])

        def per(peaks):
            cell = f"{med(peaks) / body:.2f}"
            if resp > body:  # a small request with a large answer (get_by_ids): per response byte too
                cell += f" ({med(peaks) / resp:.2f}/resp)"
            return cell

        for who, ms in (("before", b), ("after", a)):
            short = [m["sent"] for m in ms if m["sent"] < m["body"]]
            if short:
                notes.append(f"{case[0]}, {who}: answered before the whole body was sent (sent {fmt_bytes(med(short))} of {fmt_bytes(body)}, median)")
        print(
            f"| {case[0]} | {statuses(b)} / {statuses(a)} | {fmt_bytes(body)} | {fmt_bytes(resp)} "
            f"| {med(bp) / MiB:.1f} MiB | {med(ap) / MiB:.1f} MiB | {per(bp)} | {per(ap)} "
            f"| {ratio(ap, bp, 1 * MiB)} | {med(bw) * 1e3:.0f} ms | {med(aw) * 1e3:.0f} ms | {ratio(aw, bw, 1e-3)} |"
        )
    print("\npeak = VmHWM after the request − VmRSS before it (peak reset by clear_refs once the gateway is up and warm); "
          "after÷before = median of the per-round ratios of the peaks ('—' when a before peak is under 1 MiB: page-size noise).")
    for n in notes:
        print(f"- {n}")


def print_starve(res, rounds, n):
    print(f"\n### Tokened `GET …/indexes/{INDEX}/info` ({n} sequential calls) beside tokenless load "
          f"(--max-concurrent-requests 64; median of {rounds} rounds)\n")
    print("| load | before p50 | before p99 | before non-200 | after p50 | after p99 | after non-200 | p99 after÷before |")
    print("|---|---|---|---|---|---|---|---|")
    for k in ("alone", "8 trickling", "64 flooding"):
        row = [k]
        p99s = {}
        for who in ("before", "after"):
            rs = res[who]
            p50 = med([pct(o[k][0], 0.5) for o in rs])
            p99s[who] = [pct(o[k][0], 0.99) for o in rs]
            bad = med([n - o[k][1].get(200, 0) for o in rs])
            kinds = {}
            for o in rs:
                for s, c in o[k][1].items():
                    if s != 200:
                        kinds[s] = kinds.get(s, 0) + c
            p99 = f"{med(p99s[who]) * 1e3:.1f} ms"
            if kinds:
                # p99 of the calls answered 200 only (a 503 comes back at once and lowers the p99)
                ok = [pct(o[k][2], 0.99) for o in rs if len(o[k][2]) >= 10]
                p99 += f" (200s: {med(ok) * 1e3:.1f} ms)" if ok else " (200s: too few)"
                detail = " (" + ", ".join(f"{s}×{c}" for s, c in sorted(kinds.items(), key=str)) + f" in {len(rs)} rounds)"
            else:
                detail = ""
            row += [f"{p50 * 1e3:.1f} ms", p99, f"{bad:.0f}{detail}"]
        row.append(ratio(p99s["after"], p99s["before"], 1e-6))
        print("| " + " | ".join(row) + " |")
    print("\np50/p99 count every call, a non-200 one too (a 503 is answered at once); '200s' = the p99 of the calls answered 200.")
    for who in ("before", "after"):
        fl = [o.get("flood", {}) for o in res[who]]
        print(f"{who}: the flood's own answers per round: " + "; ".join(json.dumps(f, sort_keys=True) for f in fl))


# ------------------------------------------------------------------------------------------------


def main():
    args = sys.argv[1:]
    if args[:1] == ["--flood"]:
        flood_main(args[1], int(args[2]))
        return
    rounds = max(3, int(os.environ.get("BENCH_ROUNDS", "3")))
    parts = {p.strip() for p in os.environ.get("BENCH_PARTS", "cost,starve").split(",") if p.strip()}
    n = int(os.environ.get("BENCH_STARVE_CALLS", "200"))
    workdir = tempfile.mkdtemp(prefix="strato-bench-cost-")
    run = Run(workdir)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    t0 = time.monotonic()
    try:
        for who, b in run.contenders:
            print(f"{who}: {b}" + (f"  (extra flags: {' '.join(x for g in run.extra if g[0].split('=', 1)[0] in help_flags(b) for x in g)})" if run.extra else ""))
        print(f"{rounds} rounds, contenders alternating; parts: {', '.join(sorted(parts))}; {os.cpu_count()} cores")
        run.start_services()
        bodies = Bodies()
        run.setup(bodies)
        if "cost" in parts:
            cases, res = run.cost(rounds, bodies)
            print_cost(cases, res, rounds)
            sys.stdout.flush()
        bodies = None
        if "starve" in parts:
            res = run.starve(rounds, n)
            print_starve(res, rounds, n)
        print(f"\n({time.monotonic() - t0:.0f} s in all)")
    finally:
        stop_all()
        if os.environ.get("BENCH_KEEP"):
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
