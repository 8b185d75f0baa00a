#!/usr/bin/env python3
"""The official OpenAI Python SDK against Strato's embeddings endpoints, by base URL and key only.
Usage: openai_sdk.py BASE_URL TOKEN ACCOUNT MODEL"""
import base64
import struct
import sys

from openai import OpenAI

base, token, account, model = sys.argv[1:5]
texts = ["This is a story about an orange cloud", "orange cloud", "a llama"]
for url in (f"{base}/client/v4/accounts/{account}/ai/v1", f"{base}/v1"):
    client = OpenAI(api_key=token, base_url=url, max_retries=0)
    r = client.embeddings.create(model=model, input=texts)
    assert [d.index for d in r.data] == [0, 1, 2], r
    assert r.usage.prompt_tokens > 0 and r.usage.total_tokens == r.usage.prompt_tokens, r.usage
    vecs = [d.embedding for d in r.data]
    norm = sum(x * x for x in vecs[0]) ** 0.5
    assert abs(norm - 1.0) < 1e-4, norm
    dot = lambda a, b: sum(x * y for x, y in zip(a, b))  # noqa: E731
    assert dot(vecs[0], vecs[1]) > dot(vecs[2], vecs[1]), "the orange-cloud story must be nearer 'orange cloud'"
    single = client.embeddings.create(model=model, input="orange cloud")
    assert max(abs(a - b) for a, b in zip(single.data[0].embedding, vecs[1])) < 1e-6
    raw = client.embeddings.with_raw_response.create(model=model, input="orange cloud", encoding_format="base64")
    b64 = raw.http_response.json()["data"][0]["embedding"]
    decoded = struct.unpack(f"<{len(vecs[1])}f", base64.b64decode(b64))
    assert max(abs(a - b) for a, b in zip(decoded, vecs[1])) < 1e-6
    try:
        client.embeddings.create(model="@cf/nope/none", input="x")
        raise AssertionError("unknown model accepted")
    except Exception as e:  # openai.NotFoundError or BadRequestError
        assert getattr(e, "status_code", 0) in (400, 404), e
    print("ok", url, flush=True)
print("openai SDK: all steps passed")
