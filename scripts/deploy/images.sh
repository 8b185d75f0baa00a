#!/usr/bin/env bash
# Container test of deploy/Dockerfile: builds the three images from the prebuilt release binaries
# with podman (no Docker daemon, no registry), runs them read-only and non-root on the host network,
# drives the tutorial and a REST query through the gateway, and checks users and healthchecks.
#
#   cargo build --release && scripts/deploy/images.sh
#
# Needs root (apt-get installs podman, runc, debootstrap if missing) and Debian's apt mirror.
# The base image is a debootstrap'ed bookworm minbase (nothing is pulled from a registry), cached as
# a tarball under $STRATO_CACHE/deploy/; podman's storage lives there too, so a second run (or a
# fresh clone on the same machine) reuses the base image and the cached layers.
# Env: STRATO_CACHE (default ~/.cache/strato), STRATO_IMAGES_KEEP=1 keeps containers for debugging.
set -euo pipefail

T0=$(date +%s.%N)
PHASE_T=$T0
phase() { # phase NAME: prints the time the previous phase took
  local now; now=$(date +%s.%N)
  [ -z "${PHASE_NAME:-}" ] ||
    awk -v a="$PHASE_T" -v b="$now" -v n="$PHASE_NAME" 'BEGIN { printf "[images] phase %-12s %6.1fs\n", n, b - a }' 
  PHASE_T=$now; PHASE_NAME=$1
}
die() { echo "[images] FAIL: $*" >&2; exit 1; }
log() { echo "[images] $*"; }

REPO=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${STRATO_CACHE:-$HOME/.cache/strato}
DEPLOY_CACHE=$CACHE/deploy
ORT_LIB=$CACHE/lib/libonnxruntime.so.1.31.1
MODELS=$CACHE/models
MODEL_DIR=all-minilm-l6-v2
BASE_TAR=$DEPLOY_CACHE/strato-base-bookworm-minbase.tar
BASE_IMAGE=localhost/strato-base:bookworm
TAG=${STRATO_IMAGE_TAG:-test}
NAME=strato-images-$$
cd "$REPO"

[ "$(id -u)" = 0 ] || die "run as root (podman as root with runc; apt-get installs)"
for b in embedder-svc index-svc gateway; do
  [ -x target/release/$b ] || die "target/release/$b missing: cargo build --release first"
done
[ -f "$ORT_LIB" ] || die "$ORT_LIB missing (scripts/provision.sh fetches it)"
[ -f "$MODELS/$MODEL_DIR/model.onnx" ] || die "$MODELS/$MODEL_DIR missing (scripts/provision.sh fetches it)"

# ---------------------------------------------------------------- tools
phase tools
missing=()
command -v podman >/dev/null || missing+=(podman)
command -v runc >/dev/null || missing+=(runc)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  # --no-install-recommends: no crun/slirp4netns/fuse-overlayfs/uidmap; root + runc + host network
  # + kernel overlay need none of them.
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

# podman configuration, private to this script: no systemd here (cgroupfs, file events), no
# ulimits podman cannot set in this sandbox, storage under the cache dir.
mkdir -p "$DEPLOY_CACHE/podman"
export CONTAINERS_CONF=$DEPLOY_CACHE/podman/containers.conf
export CONTAINERS_STORAGE_CONF=$DEPLOY_CACHE/podman/storage.conf
cat > "$CONTAINERS_CONF" <<CONF
[containers]
default_ulimits = []
log_driver = "k8s-file"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
STORAGE_DRIVER=${STRATO_PODMAN_STORAGE_DRIVER:-overlay}
cat > "$CONTAINERS_STORAGE_CONF" <<CONF
[storage]
driver = "$STORAGE_DRIVER"
graphroot = "$DEPLOY_CACHE/podman/storage-$STORAGE_DRIVER"
runroot = "/run/strato-podman"
CONF
PODMAN=(podman --runtime runc --cgroup-manager=cgroupfs)

# ---------------------------------------------------------------- base image
phase base-image
if ! "${PODMAN[@]}" image exists "$BASE_IMAGE"; then
  if [ ! -s "$BASE_TAR" ]; then
    mirror=$(grep -rhoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
             | awk '{print $2}' | head -1 || true)
    mirror=${mirror:-http://deb.debian.org/debian}
    log "debootstrap --variant=minbase bookworm from $mirror (a few minutes, once)"
    root=$(mktemp -d "$DEPLOY_CACHE/rootfs.XXXXXX")
    debootstrap --variant=minbase bookworm "$root" "$mirror" > "$DEPLOY_CACHE/debootstrap.log" 2>&1 \
      || { rm -rf "$root"; die "debootstrap failed, see $DEPLOY_CACHE/debootstrap.log"; }
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" --numeric-owner -cf "$BASE_TAR.tmp" .
    mv "$BASE_TAR.tmp" "$BASE_TAR"
    rm -rf "$root"
  fi
  "${PODMAN[@]}" import --change 'CMD ["/bin/bash"]' "$BASE_TAR" "$BASE_IMAGE" >/dev/null
fi

# ---------------------------------------------------------------- images
phase build
mkdir -p deploy/build
cmp -s "$ORT_LIB" deploy/build/libonnxruntime.so.1.31.1 || cp "$ORT_LIB" deploy/build/libonnxruntime.so.1.31.1
for t in embedder index gateway; do
  "${PODMAN[@]}" build -q --format docker --layers --pull=never \
    --build-arg BASE=$BASE_IMAGE --target $t -t localhost/strato-$t:$TAG -f deploy/Dockerfile . >/dev/null \
    || die "podman build --target $t failed"
done
"${PODMAN[@]}" images --filter reference='localhost/strato-*' --format '  {{.Repository}}:{{.Tag}} {{.Size}}'

# ---------------------------------------------------------------- run
phase start
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
EMB=$(free_port); EMB_ADMIN=$(free_port); IDX=$(free_port); IDX_ADMIN=$(free_port)
GW=$(free_port); GW_ADMIN=$(free_port)
SERVICE_TOKEN=svc-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
API_TOKEN=api-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
DATA=$(mktemp -d /tmp/strato-images-data.XXXXXX)
chown 65532:65532 "$DATA"
CONTAINERS=()
cleanup() {
  local rc=$?
  if [ $rc -ne 0 ]; then
    for c in "${CONTAINERS[@]}"; do echo "---- logs of $c" >&2; "${PODMAN[@]}" logs --tail 30 "$c" >&2 2>&1 || true; done
  fi
  if [ "${STRATO_IMAGES_KEEP:-0}" != 1 ]; then
    for c in "${CONTAINERS[@]}"; do "${PODMAN[@]}" rm -f -t 2 "$c" >/dev/null 2>&1 || true; done
    rm -rf "$DATA"
  fi
  rm -f "$DATA.err"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Host network: everything on loopback, but the services still listen on 0.0.0.0 (the image's
# default), so the service token is required, as in a cluster.
COMMON=(--network host --read-only --read-only-tmpfs --health-interval disable
        -e "STRATO_SERVICE_TOKEN=$SERVICE_TOKEN" -e RUST_LOG=warn)
# Without systemd podman cannot schedule the periodic healthcheck (it logs that and goes on);
# `podman healthcheck run` below runs the image's HEALTHCHECK on demand.
run() { local n=$1; shift; CONTAINERS+=("$NAME-$n")
        "${PODMAN[@]}" run -d --name "$NAME-$n" "${COMMON[@]}" "$@" >/dev/null 2>"$DATA.err" \
          || { cat "$DATA.err" >&2; die "podman run $n failed"; }
        grep -v 'systemd connection' "$DATA.err" >&2 || true; }
run embedder -v "$MODELS:/models:ro" \
  -e STRATO_EMBEDDER_LISTEN=0.0.0.0:$EMB -e STRATO_EMBEDDER_ADMIN_LISTEN=0.0.0.0:$EMB_ADMIN \
  -e STRATO_MODELS=@strato/all-minilm-l6-v2 localhost/strato-embedder:$TAG
run index -v "$DATA:/data" \
  -e STRATO_INDEX_LISTEN=0.0.0.0:$IDX -e STRATO_INDEX_ADMIN_LISTEN=0.0.0.0:$IDX_ADMIN localhost/strato-index:$TAG
run gateway \
  -e STRATO_GATEWAY_LISTEN=0.0.0.0:$GW -e STRATO_GATEWAY_ADMIN_LISTEN=0.0.0.0:$GW_ADMIN \
  -e STRATO_EMBEDDER_URLS=http://127.0.0.1:$EMB -e STRATO_INDEX_URL=http://127.0.0.1:$IDX \
  -e "STRATO_API_TOKENS=$API_TOKEN" -e STRATO_PUBLIC_TUTORIAL=true -e STRATO_CREATE_INDEX=true \
  -e STRATO_BINDING_ACCOUNT=demo localhost/strato-gateway:$TAG

ready() { curl -fs -o /dev/null --max-time 2 "http://127.0.0.1:$1/readyz"; }
for _ in $(seq 1 300); do
  ready $EMB_ADMIN && ready $IDX_ADMIN && ready $GW_ADMIN && break
  for c in "${CONTAINERS[@]}"; do
    [ "$("${PODMAN[@]}" inspect -f '{{.State.Running}}' "$c")" = true ] || die "container $c exited"
  done
  sleep 0.2
done
ready $GW_ADMIN || die "gateway not ready on admin port $GW_ADMIN after 60 s"

# ---------------------------------------------------------------- tutorial + REST
phase tutorial
out=$(curl -fsS --max-time 30 "http://127.0.0.1:$GW/insert") || die "GET /insert failed"
echo "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d.get("mutationId"), d' \
  || die "GET /insert: no mutationId in $out"
out=$(curl -fsS --max-time 30 "http://127.0.0.1:$GW/") || die "GET / failed"
echo "$out" | python3 -c '
import json,sys; d=json.load(sys.stdin)["matches"]
assert d["count"] == 1 and d["matches"][0]["id"] == "1", d' || die "GET /: expected count 1, id \"1\", got $out"
log "GET / -> $out"
vec=$(python3 -c 'import json; print(json.dumps({"vector":[0.05]*384,"topK":3}))')
url="http://127.0.0.1:$GW/client/v4/accounts/demo/vectorize/v2/indexes/embeddings-index/query"
code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 -X POST -H 'content-type: application/json' -d "$vec" "$url")
[ "$code" = 401 ] || [ "$code" = 403 ] || die "REST query without a token answered $code, expected 401/403"
out=$(curl -fsS --max-time 30 -X POST -H "Authorization: Bearer $API_TOKEN" -H 'content-type: application/json' \
  -d "$vec" "$url") || die "REST query failed"
echo "$out" | python3 -c '
import json,sys; d=json.load(sys.stdin)
assert d["success"] is True and d["errors"] == [] and d["result"]["count"] >= 1, d' \
  || die "REST query: expected success true, got $out"
log "REST query ok (success true, $(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["count"])') matches)"

# ---------------------------------------------------------------- user, read-only, health
phase checks
for c in "${CONTAINERS[@]}"; do
  cfg_user=$("${PODMAN[@]}" inspect -f '{{.Config.User}}' "$c")
  uid=$("${PODMAN[@]}" exec "$c" bash -c 'echo $(id -u):$(id -g)')
  [ "$uid" = 65532:65532 ] || die "$c runs as $uid (config user '$cfg_user'), expected 65532:65532"
  [ "$("${PODMAN[@]}" inspect -f '{{.HostConfig.ReadonlyRootfs}}' "$c")" = true ] || die "$c root is not read-only"
  "${PODMAN[@]}" exec "$c" bash -c ': > /usr/local/bin/probe' 2>/dev/null && die "$c can write its root filesystem"
  "${PODMAN[@]}" healthcheck run "$c" >/dev/null || die "healthcheck of $c failed"
  log "$c: user $uid, read-only root, healthcheck healthy"
done
for t in embedder index gateway; do
  labels=$("${PODMAN[@]}" image inspect -f '{{index .Labels "org.opencontainers.image.title"}} {{index .Labels "org.opencontainers.image.licenses"}}' localhost/strato-$t:$TAG)
  [ "$labels" = "strato-$t Apache-2.0" ] || die "image strato-$t labels: $labels"
done

phase done
awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "[images] PASS, total %.1fs\n", b - a }' 
