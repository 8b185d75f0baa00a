#!/usr/bin/env python3
"""Downloads a Workers AI model's files from its public home (Hugging Face) into a Strato model
directory, each checked against the hash its repository publishes for a pinned revision.

  fetch_model.py MODELS_DIR NAME [NAME ...]     (names as Workers AI has them, or `all`)
  fetch_model.py --selftest                     (the download and check against a local origin)

Each file is fetched from `$STRATO_HF_BASE/<repo>/resolve/<revision>/<path>` (default
https://huggingface.co) into a temporary name, hashed as it streams, and kept only when it
matches `paths-info` for that revision: the LFS sha256 for large files, the git blob sha1 for
the rest. The revision is a commit, so what is checked can't move under us. The
sentence-transformers files the ONNX exports lack (pooling, prompts) are written from the
models' own published configurations, quoted below. A model already complete is skipped.
"""
import hashlib
import json
import os
import sys
import urllib.request

BASE = os.environ.get("STRATO_HF_BASE", "https://huggingface.co").rstrip("/")

# The model's repository, pinned revision, the files to fetch (repository path → file name), the
# sentence-transformers files to write, and strato-model.json.
MODELS = {
    "@cf/baai/bge-m3": {
        "repo": "BAAI/bge-m3",
        "revision": "5617a9f61b028005a4858fdac845db406aefb181",
        "dir": "bge-m3",
        # BAAI's own export: token_embeddings [b, seq, 1024]; its external data is two files.
        "files": {"onnx/model.onnx": "model.onnx", "onnx/model.onnx_data": "model.onnx_data",
                  "onnx/Constant_7_attr__value": "Constant_7_attr__value", "onnx/tokenizer.json": "tokenizer.json"},
        "write": {
            "modules.json": [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                             {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                             {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}],
            "1_Pooling/config.json": {"word_embedding_dimension": 1024, "pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False,
                                      "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False},
        },
        "manifest": {"name": "@cf/baai/bge-m3", "dimensions": 1024, "max_tokens": 8192, "output": "token_embeddings"},
    },
    "@cf/google/embeddinggemma-300m": {
        "repo": "onnx-community/embeddinggemma-300m-ONNX",
        "revision": "5090578d9565bb06545b4552f76e6bc2c93e4a66",
        "dir": "embeddinggemma-300m",
        # Pooling and both Dense layers are inside this export (`sentence_embedding` [b, 768]).
        "files": {"onnx/model.onnx": "model.onnx", "onnx/model.onnx_data": "model.onnx_data", "tokenizer.json": "tokenizer.json"},
        "write": {
            "config_sentence_transformers.json": {"prompts": {
                "query": "task: search result | query: ", "document": "title: none | text: ",
                "BitextMining": "task: search result | query: ", "Clustering": "task: clustering | query: ",
                "Classification": "task: classification | query: ", "InstructionRetrieval": "task: code retrieval | query: ",
                "MultilabelClassification": "task: classification | query: ", "PairClassification": "task: sentence similarity | query: ",
                "Reranking": "task: search result | query: ", "Retrieval": "task: search result | query: ",
                "Retrieval-query": "task: search result | query: ", "Retrieval-document": "title: none | text: ",
                "STS": "task: sentence similarity | query: ", "Summarization": "task: summarization | query: "},
                "default_prompt_name": None, "similarity_fn_name": "cosine"},
        },
        "manifest": {"name": "@cf/google/embeddinggemma-300m", "dimensions": 768, "max_tokens": 2048, "output": "sentence_embedding",
                     "matryoshka_dims": [768, 512, 256, 128]},
    },
    "@cf/qwen/qwen3-embedding-0.6b": {
        "repo": "onnx-community/Qwen3-Embedding-0.6B-ONNX",
        "revision": "c25a394dd583836952667c12f008335071b3f43d",
        "dir": "qwen3-embedding-0.6b",
        # A decoder export: position_ids and an empty key/value cache are fed; token states out.
        "files": {"onnx/model.onnx": "model.onnx", "onnx/model.onnx_data": "model.onnx_data", "tokenizer.json": "tokenizer.json"},
        "write": {
            "modules.json": [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                             {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                             {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}],
            "1_Pooling/config.json": {"word_embedding_dimension": 1024, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": False,
                                      "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False,
                                      "pooling_mode_weightedmean_tokens": False, "pooling_mode_lasttoken": True, "include_prompt": True},
            "config_sentence_transformers.json": {"prompts": {
                "query": "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:", "document": ""},
                "default_prompt_name": None, "similarity_fn_name": "cosine"},
        },
        "manifest": {"name": "@cf/qwen/qwen3-embedding-0.6b", "dimensions": 1024, "max_tokens": 8192, "output": "last_hidden_state",
                     "matryoshka_dims": [1024, 768, 512, 256, 128, 64, 32]},
    },
}


def log(msg):
    print(f"[fetch_model] {msg}", file=sys.stderr, flush=True)


def published(repo, revision, paths):
    """What the repository says of each path at the revision: ("sha256", hex) or ("sha1-blob", hex), and its size."""
    req = urllib.request.Request(f"{BASE}/api/models/{repo}/paths-info/{revision}", method="POST",
                                 data=json.dumps({"paths": paths}).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        info = json.loads(r.read())
    out = {}
    for item in info:
        if item.get("lfs"):
            out[item["path"]] = ("sha256", item["lfs"]["oid"], item["lfs"]["size"])
        else:
            out[item["path"]] = ("sha1-blob", item["oid"], item["size"])
    missing = [p for p in paths if p not in out]
    if missing:
        raise SystemExit(f"fetch_model: {repo}@{revision} has no {', '.join(missing)}")
    return out


def hasher(kind, size):
    return hashlib.sha256() if kind == "sha256" else hashlib.sha1(f"blob {size}\0".encode())


def matches(path, want):
    """Whether a file already here is the one the repository publishes (a re-run after a
    failure keeps what was verified instead of fetching gigabytes again)."""
    kind, digest, size = want
    if not os.path.isfile(path) or os.path.getsize(path) != size:
        return False
    h = hasher(kind, size)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest() == digest


def download(repo, revision, path, dest, want):
    """Streams the file to dest.part, hashing as it comes; renamed into place only when it
    matches, and the .part removed whatever goes wrong."""
    kind, digest, size = want
    if matches(dest, want):
        log(f"{dest}: already here and checked")
        return
    h = hasher(kind, size)
    got = 0
    url = f"{BASE}/{repo}/resolve/{revision}/{path}"
    log(f"fetching {url} ({size} bytes)")
    part = dest + ".part"
    try:
        with urllib.request.urlopen(url, timeout=60) as r, open(part, "wb") as f:
            while chunk := r.read(1 << 20):
                h.update(chunk)
                f.write(chunk)
                got += len(chunk)
        if got != size or h.hexdigest() != digest:
            raise SystemExit(f"fetch_model: {url}: got {got} bytes with {kind} {h.hexdigest()}, the repository says {size} bytes, {digest}")
        os.replace(part, dest)
    finally:
        if os.path.exists(part):
            os.remove(part)


def fetch(models_dir, name, spec):
    d = os.path.join(models_dir, spec["dir"])
    manifest = os.path.join(d, "strato-model.json")
    source = f"{spec['repo']}@{spec['revision']}"
    if os.path.exists(manifest):
        with open(manifest) as f:
            if json.load(f).get("source") == source:
                log(f"{name}: already in {d}")
                return
        # Another revision is pinned now: not a model again until its files are checked.
        os.remove(manifest)
    os.makedirs(d, exist_ok=True)
    want = published(spec["repo"], spec["revision"], list(spec["files"]))
    for path, local in spec["files"].items():
        download(spec["repo"], spec["revision"], path, os.path.join(d, local), want[path])
    for rel, value in spec.get("write", {}).items():
        os.makedirs(os.path.dirname(os.path.join(d, rel)), exist_ok=True)
        with open(os.path.join(d, rel), "w") as f:
            json.dump(value, f, indent=2, ensure_ascii=False)
    # Written last: a directory is a model only once everything in it is checked.
    with open(manifest + ".part", "w") as f:
        json.dump({**spec["manifest"], "source": source}, f, indent=2)
    os.replace(manifest + ".part", manifest)
    log(f"{name}: ready in {d}")


def selftest():
    """The download and its check against a local origin that speaks the same two routes, with
    a file served whole, then one served with a byte flipped (which must be refused)."""
    import http.server
    import tempfile
    import threading

    global BASE
    files = {"onnx/model.onnx": os.urandom(3 << 20), "tokenizer.json": b'{"version": "1.0"}'}
    tamper = {"on": False}
    gets = []

    class Origin(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            paths = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["paths"]
            out = []
            for p in paths:
                body = files[p]
                if p.endswith(".onnx"):
                    out.append({"path": p, "size": len(body), "lfs": {"oid": hashlib.sha256(body).hexdigest(), "size": len(body)}})
                else:
                    out.append({"path": p, "size": len(body), "oid": hashlib.sha1(b"blob %d\0" % len(body) + body).hexdigest()})
            self._send(json.dumps(out).encode())

        def do_GET(self):
            gets.append(self.path)
            path = self.path.split("/resolve/rev1/", 1)[1]
            body = bytearray(files[path])
            if tamper["on"] and path.endswith(".onnx"):
                body[len(body) // 2] ^= 0x01
            self._send(bytes(body))

        def _send(self, body):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Origin)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    BASE = f"http://127.0.0.1:{srv.server_address[1]}"
    spec = {"repo": "org/model", "revision": "rev1", "dir": "m", "files": {"onnx/model.onnx": "model.onnx", "tokenizer.json": "tokenizer.json"},
            "write": {"1_Pooling/config.json": {"pooling_mode_cls_token": True}}, "manifest": {"name": "@x/m", "dimensions": 8, "max_tokens": 8}}
    with tempfile.TemporaryDirectory() as out:
        fetch(out, "@x/m", spec)
        with open(os.path.join(out, "m", "model.onnx"), "rb") as f:
            assert f.read() == files["onnx/model.onnx"], "the file kept is the file served"
        assert os.path.exists(os.path.join(out, "m", "strato-model.json"))
        assert os.path.exists(os.path.join(out, "m", "1_Pooling", "config.json"))
        # A second run finds it complete; with its manifest gone (an interrupted run), the
        # checked files are kept, not fetched again.
        n = len(gets)
        fetch(out, "@x/m", spec)
        os.remove(os.path.join(out, "m", "strato-model.json"))
        fetch(out, "@x/m", spec)
        assert len(gets) == n, f"verified files were fetched again: {gets[n:]}"
        assert os.path.exists(os.path.join(out, "m", "strato-model.json"))
        tamper["on"] = True
        spec["dir"] = "m2"
        try:
            fetch(out, "@x/m2", spec)
            raise AssertionError("a flipped byte was accepted")
        except SystemExit as e:
            assert "the repository says" in str(e), e
        left = sorted(os.listdir(os.path.join(out, "m2")))
        assert left == [], f"a refused download leaves nothing behind (no manifest, no .part): {left}"
    srv.shutdown()
    print("selftest passed")


def main():
    if sys.argv[1:] == ["--selftest"]:
        return selftest()
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    models_dir, names = sys.argv[1], sys.argv[2:]
    if names == ["all"]:
        names = list(MODELS)
    for n in names:
        if n not in MODELS:
            raise SystemExit(f"fetch_model: {n} is not one this script fetches; it knows {', '.join(MODELS)}")
        try:
            fetch(models_dir, n, MODELS[n])
        except OSError as e:  # urllib's errors included: no route, refused, HTTP 4xx/5xx
            raise SystemExit(f"fetch_model: cannot fetch {n} from {BASE} ({e}); place its files in "
                             f"{os.path.join(models_dir, MODELS[n]['dir'])} by hand (see this script's table), or set STRATO_HF_BASE to a mirror")


if __name__ == "__main__":
    main()
