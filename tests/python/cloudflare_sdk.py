#!/usr/bin/env python3
"""The official Cloudflare Python SDK (PyPI `cloudflare`) against Strato's gateway, pointed at it
only by base URL and token (spec §6.2). Usage: cloudflare_sdk.py BASE_URL TOKEN ACCOUNT DIMS MODEL
Every step asserts on results; prints one line per step and exits non-zero on the first failure."""
import json
import sys

import cloudflare
from cloudflare import Cloudflare

base, token, account, dims, model = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
cf = Cloudflare(api_token=token, base_url=f"{base}/client/v4", max_retries=0)
ix = cf.vectorize.indexes
name = "sdk-index"
step = lambda s: print("ok", s, flush=True)  # noqa: E731


def vec(i: int) -> list:
    return [((i * 31 + d) % 17) / 17.0 - 0.5 + (0.9 if d == i % dims else 0.0) for d in range(dims)]


# create / list / get / info
created = ix.create(account_id=account, name=name, config={"dimensions": dims, "metric": "cosine"}, description="from the SDK")
assert created.name == name and created.config.dimensions == dims and created.config.metric == "cosine", created
step("create")
names = [i.name for i in ix.list(account_id=account)]
assert name in names, names
step("list")
got = ix.get(name, account_id=account)
assert got.description == "from the SDK" and got.created_on, got
step("get")
info = ix.info(name, account_id=account)
assert info.dimensions == dims and info.vector_count == 0, info
step("info (empty)")

# insert / upsert (NDJSON body)
rows = [{"id": f"v{i}", "values": vec(i), "metadata": {"genre": "drama" if i % 2 else "comedy", "year": 2000 + i},
         **({"namespace": "ns-a"} if i < 3 else {})} for i in range(8)]
ndjson = "\n".join(json.dumps(r) for r in rows)
m = ix.insert(name, account_id=account, body=ndjson.encode())
assert m.mutation_id and len(m.mutation_id) == 36, m
step("insert")
info = ix.info(name, account_id=account)
assert info.vector_count == 8 and info.processed_up_to_mutation == m.mutation_id, info
step("info after insert (read-your-writes)")
up = [{"id": "v0", "values": vec(5), "metadata": {"genre": "horror", "year": 1999}}]
m2 = ix.upsert(name, account_id=account, body="\n".join(json.dumps(r) for r in up).encode())
assert m2.mutation_id != m.mutation_id, m2
step("upsert")

# metadata indexes, then rewrite so the vectors are indexed
for prop, kind in [("genre", "string"), ("year", "number")]:
    r = cf.vectorize.indexes.metadata_index.create(name, account_id=account, property_name=prop, index_type=kind)
    assert r.mutation_id, r
listed = cf.vectorize.indexes.metadata_index.list(name, account_id=account)
assert sorted((x.property_name, x.index_type) for x in listed.metadata_indexes) == [("genre", "string"), ("year", "number")], listed
step("metadata_index create + list")
ix.upsert(name, account_id=account, body=ndjson.encode())

# query: plain, filter, namespace (extra_body: the SDK has no namespace param), returnMetadata modes
q = ix.query(name, account_id=account, vector=vec(4), top_k=3)
assert q.count == 3 and q.matches[0].id == "v4" and abs(q.matches[0].score - 1.0) < 1e-5, q
assert all(mm.metadata is None and mm.values is None for mm in q.matches), q
step("query")
q = ix.query(name, account_id=account, vector=vec(4), top_k=8, filter={"genre": "drama"}, return_metadata="all")
assert q.count == 4 and all(mm.metadata["genre"] == "drama" for mm in q.matches), q
assert q.matches[0].metadata["year"] == 2005 or q.matches[0].id != "v5"
step("query with filter + returnMetadata all")
q = ix.query(name, account_id=account, vector=vec(1), top_k=8, filter={"year": {"$gte": 2003, "$lt": 2006}}, return_metadata="indexed", return_values=True)
assert sorted(mm.id for mm in q.matches) == ["v3", "v4", "v5"], q
assert all(set(mm.metadata) <= {"genre", "year"} and len(mm.values) == dims for mm in q.matches), q
step("query with range filter + returnMetadata indexed + values")
q = ix.query(name, account_id=account, vector=vec(7), top_k=8, extra_body={"namespace": "ns-a"})
assert sorted(mm.id for mm in q.matches) == ["v0", "v1", "v2"], q
step("query with namespace")

# get_by_ids / delete_by_ids
# The SDK types get_by_ids' result as a plain object (JSON as parsed).
vs = ix.get_by_ids(name, account_id=account, ids=["v2", "nope", "v1"])
assert [v["id"] for v in vs] == ["v2", "v1"], vs
v2 = vs[0]
assert v2["namespace"] == "ns-a" and v2["metadata"] == {"genre": "comedy", "year": 2002}, v2
assert max(abs(a - b) for a, b in zip(v2["values"], vec(2))) < 1e-6, v2
step("get_by_ids")
d = ix.delete_by_ids(name, account_id=account, ids=["v1", "v2"])
assert d.mutation_id, d
assert ix.info(name, account_id=account).vector_count == 6
assert [v["id"] for v in ix.get_by_ids(name, account_id=account, ids=["v1", "v2", "v3"])] == ["v3"]
step("delete_by_ids")

# errors surface as the SDK's typed errors with Cloudflare's codes
try:
    ix.query(name, account_id=account, vector=[0.1] * (dims - 1), top_k=1)
    raise AssertionError("dimension mismatch accepted")
except cloudflare.BadRequestError as e:
    assert "40006" in str(e) or e.body and any(err.get("code") == 40006 for err in e.body.get("errors", [])), e
step("error 40006")
try:
    ix.get("no-such-index", account_id=account)
    raise AssertionError("missing index found")
except cloudflare.APIStatusError as e:
    assert e.status_code == 404, e
step("error 3000 (404)")

r = cf.vectorize.indexes.metadata_index.delete(name, account_id=account, property_name="year")
assert r.mutation_id
assert [x.property_name for x in cf.vectorize.indexes.metadata_index.list(name, account_id=account).metadata_indexes] == ["genre"]
step("metadata_index delete")
ix.delete(name, account_id=account)
assert name not in [i.name for i in ix.list(account_id=account)]
step("delete")

# Workers AI: ai.run for the embedding model
out = cf.ai.run(model, account_id=account, text=["This is a story about an orange cloud", "orange cloud"])
assert out["shape"][0] == 2 and len(out["data"]) == 2 and len(out["data"][0]) == out["shape"][1], out.keys()
cos = sum(a * b for a, b in zip(out["data"][0], out["data"][1]))
assert 0.3 < cos <= 1.0001, cos
assert out.get("pooling") == "mean", out.get("pooling")
step("ai.run")
print("cloudflare SDK: all steps passed")
