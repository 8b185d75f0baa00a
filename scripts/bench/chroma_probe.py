#!/usr/bin/env python3
"""Probe a running Chroma (1.5.x) HTTP server: load N random unit vectors in
batches, check each batch is queryable right after its add returns, measure
add/query latency and the server's VmRSS.  Stdlib + numpy only.

usage: chroma_probe.py PORT [N=20000] [DIM=384] [SERVER_PID]
"""
import json, sys, time, urllib.request, urllib.error
import numpy as np

port = int(sys.argv[1])
n = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
dim = int(sys.argv[3]) if len(sys.argv) > 3 else 384
pid = sys.argv[4] if len(sys.argv) > 4 else None
ROOT = f"http://127.0.0.1:{port}/api/v2"
DB = f"{ROOT}/tenants/default_tenant/databases/default_database"


def call(method, url, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw or b"null")
        except ValueError:
            return e.code, raw[:300]


def rss_kb():
    if not pid:
        return None
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])


max_batch = call("GET", f"{ROOT}/pre-flight-checks")[1]["max_batch_size"]
batch = min(max_batch, 5000)
name = "probe"
call("DELETE", f"{DB}/collections/{name}")  # DELETE takes the *name*
st, coll = call("POST", f"{DB}/collections", {
    "name": name,
    "configuration": {"hnsw": {"space": "cosine", "ef_construction": 100,
                               "max_neighbors": 16, "ef_search": 100}}})
assert st == 200, coll
cid = coll["id"]  # add/query/count/get take the UUID
print(f"max_batch_size={max_batch} batch={batch} rss_empty_kb={rss_kb()}")

rng = np.random.default_rng(1)
vecs = rng.standard_normal((n, dim), dtype=np.float32)
vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)

t_add = 0.0
for s in range(0, n, batch):
    e = min(n, s + batch)
    body = {"ids": [str(i) for i in range(s, e)],
            "embeddings": np.round(vecs[s:e].astype(np.float64), 6).tolist()}
    # NB: the server rejects bodies > 40 MiB (413 "Payload too large");
    # float32.tolist() prints ~20 chars/value, so round via float64.
    t0 = time.perf_counter()
    st, r = call("POST", f"{DB}/collections/{cid}/add", body)
    t1 = time.perf_counter()
    assert st == 201, r
    t_add += t1 - t0
    # queryable right away?  query the last vector of the batch
    st, q = call("POST", f"{DB}/collections/{cid}/query",
                 {"query_embeddings": [vecs[e - 1].tolist()], "n_results": 1,
                  "include": ["distances"]})
    t2 = time.perf_counter()
    cnt = call("GET", f"{DB}/collections/{cid}/count")[1]
    print(f"batch {s}-{e}: add {t1-t0:.2f}s; immediate query top1={q['ids'][0][0]}"
          f" (want {e-1}) d={q['distances'][0][0]:.2e} in {t2-t1:.3f}s; count={cnt}; rss_kb={rss_kb()}")
print(f"total add {t_add:.1f}s = {n/t_add:.0f} vec/s")

# sequential query latency, top-10, distances only
qs = rng.standard_normal((300, dim), dtype=np.float32)
lat = []
for i, qv in enumerate(qs):
    t0 = time.perf_counter()
    st, q = call("POST", f"{DB}/collections/{cid}/query",
                 {"query_embeddings": [qv.tolist()], "n_results": 10, "include": ["distances"]})
    lat.append(time.perf_counter() - t0)
    assert st == 200 and len(q["ids"][0]) == 10, q
lat = np.array(lat[20:]) * 1e3
print(f"query top10 sequential (urllib, new conn each): p50={np.percentile(lat,50):.2f}ms"
      f" p99={np.percentile(lat,99):.2f}ms mean={lat.mean():.2f}ms; rss_kb={rss_kb()}")
resp_bytes = len(json.dumps(q))
print(f"response size ~{resp_bytes} bytes: {json.dumps(q)[:200]}")
