#!/usr/bin/env python3
"""Logs every request the Worker's bindings send (method, path, headers, body) and answers like a
minimal in-memory Strato, so the Worker can be checked end to end without the gateway:

    python3 scripts/worker/capture.py 18787 &        # then
    STRATO_URL=http://127.0.0.1:18787 scripts/worker/run.sh

Not Strato: embeddings are a hash of the text (384 dims, unit length), queries are brute-force
cosine, filters only support {"field": value} / {"field": {"$eq": value}}. It exists to show the
wire protocol, nothing more.
"""
import hashlib, json, math, sys, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DIMS = 384
VECTORS = {}  # (namespace, id) -> vector dict


def embed(text):
    vals = []
    i = 0
    while len(vals) < DIMS:
        h = hashlib.sha256(f"{i}:{text}".encode()).digest()
        vals.extend((b - 127.5) / 127.5 for b in h)
        i += 1
    vals = vals[:DIMS]
    n = math.sqrt(sum(v * v for v in vals))
    return [v / n for v in vals]


def cos(a, b):
    return sum(x * y for x, y in zip(a, b)) / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def matches_filter(meta, flt):
    for k, cond in (flt or {}).items():
        want = cond.get("$eq") if isinstance(cond, dict) else cond
        if (meta or {}).get(k) != want:
            return False
    return True


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_one(self):
        n = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(n) if n else b""
        print(f"--> {self.command} {self.path} {self.request_version}", flush=True)
        for k, v in self.headers.items():
            print(f"    {k}: {v}", flush=True)
        if body:
            text = body.decode("utf-8", "replace")
            print("    body: " + (text if len(text) < 600 else text[:600] + f"... ({len(text)} chars)"), flush=True)
        p = self.path.split("?")[0]
        if p == "/__strato/binding/mf" and self.headers.get("Upgrade", "").lower() == "websocket":
            # miniflare's proxy client opens a capnweb (JS RPC) WebSocket per call; AI and
            # Vectorize only use fetch, so refuse it.
            return self.reply(426, {"code": 426, "error": "JS RPC over WebSocket is not supported"})
        if p == "/__strato/binding/mf":
            # miniflare remote-bindings proxy: the binding's own request is in MF-URL / MF-Header-*;
            # the binding name (MF-Binding) maps to an index via the query (?VECTORIZE=embeddings-index)
            from urllib.parse import parse_qs, urlsplit
            mapping = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            inner = urlsplit(self.headers["MF-URL"])
            binding = self.headers["MF-Binding"]
            if inner.hostname == "workers-binding.ai":
                p = "/__strato/binding/ai" + inner.path
            else:
                p = "/__strato/binding/vectorize/" + mapping.get(binding, binding) + inner.path
            print(f"    => {binding} {self.headers['MF-URL']} -> {p}", flush=True)
        try:
            if p == "/__strato/binding/ai/run":
                req = json.loads(body)
                texts = req["inputs"]["text"]
                texts = [texts] if isinstance(texts, str) else texts
                return self.reply(200, {"shape": [len(texts), DIMS], "data": [embed(t) for t in texts], "pooling": "mean"})
            pre = "/__strato/binding/vectorize/"
            if not p.startswith(pre):
                return self.reply(404, {"code": 404, "error": f"no route {p}"})
            index, op = p[len(pre):].rsplit("/", 1)
            if op == "info":
                return self.reply(200, {"dimensions": DIMS, "vectorCount": len(VECTORS), "processedUpToMutation": None, "processedUpToDatetime": None})
            if op in ("insert", "upsert"):
                vecs = [json.loads(l) for l in body.decode().split("\n") if l.strip()]
                for v in vecs:
                    key = (v.get("namespace"), v["id"])
                    if op == "upsert" or key not in VECTORS:
                        VECTORS[key] = v
                return self.reply(200, {"mutationId": str(uuid.uuid4())})
            req = json.loads(body)
            if op == "getByIds":
                return self.reply(200, [v for (ns, i), v in VECTORS.items() if i in req["ids"]])
            if op == "deleteByIds":
                for key in [k for k in VECTORS if k[1] in req["ids"]]:
                    del VECTORS[key]
                return self.reply(200, {"mutationId": str(uuid.uuid4())})
            if op == "query":
                if "vectorId" in req:
                    src = next((v for (ns, i), v in VECTORS.items() if i == req["vectorId"]), None)
                    if src is None:
                        return self.reply(404, {"code": 40020, "error": f"vector {req['vectorId']} not found"})
                    q = src["values"]
                else:
                    q = req["vector"]
                if len(q) != DIMS:
                    return self.reply(400, {"code": 40006, "error": f"invalid query vector, expected {DIMS} dimensions, and got {len(q)} dimensions"})
                level = req.get("returnMetadata", "none")
                out = []
                for (ns, i), v in VECTORS.items():
                    if ns != req.get("namespace") or not matches_filter(v.get("metadata"), req.get("filter")):
                        continue
                    m = {"id": i, "score": cos(q, v["values"])}
                    if req.get("returnValues"):
                        m["values"] = v["values"]
                    if level in ("all", "indexed") and "metadata" in v:
                        m["metadata"] = v["metadata"]
                    if ns is not None:
                        m["namespace"] = ns
                    out.append(m)
                out.sort(key=lambda m: -m["score"])
                out = out[: req.get("topK", 5)]
                return self.reply(200, {"count": len(out), "matches": out})
            return self.reply(404, {"code": 404, "error": f"unknown op {op}"})
        except Exception as e:  # noqa
            return self.reply(500, {"error": repr(e)})

    do_GET = do_POST = do_PUT = do_DELETE = handle_one

    def log_message(self, *a):
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 18787
    print(f"capture/mock on 127.0.0.1:{port}", flush=True)
    ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
