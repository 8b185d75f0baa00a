#!/usr/bin/env bash
# Builds and starts the whole stack on this machine with embedded defaults, creates the tutorial's
# index if missing (the serving model's dimensions), waits for health, prints the URL; Ctrl-C stops
# all three. Ports: embedder 50051, index 50052, gateway 8787; override with the env vars below.
# The tutorial's index lives in account `local` (STRATO_BINDING_ACCOUNT), so the console and the
# REST API reach it at /client/v4/accounts/local/… (the gateway's default account, "", has no path).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/provision.sh
cargo build --release --workspace --bins
BIN=target/release
EMBEDDER_LISTEN="${STRATO_EMBEDDER_LISTEN:-127.0.0.1:50051}"
INDEX_LISTEN="${STRATO_INDEX_LISTEN:-127.0.0.1:50052}"
GATEWAY_LISTEN="${STRATO_GATEWAY_LISTEN:-127.0.0.1:8787}"
RUN="$(mktemp -d)"

pids=()
stop() {
  trap - INT TERM EXIT
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$RUN"
  echo "strato: stopped"
}
trap stop INT TERM EXIT

"$BIN/embedder-svc" --listen "$EMBEDDER_LISTEN" & pids+=($!)
"$BIN/index-svc" --listen "$INDEX_LISTEN" & pids+=($!)
"$BIN/gateway" --listen "$GATEWAY_LISTEN" --embedder "http://$EMBEDDER_LISTEN" --index "http://$INDEX_LISTEN" \
  --binding-account "${STRATO_BINDING_ACCOUNT:-local}" --create-index --addr-file "$RUN/gateway.addr" & pids+=($!)

# The gateway writes its address once the index exists and it serves.
for _ in $(seq 1 600); do
  [ -s "$RUN/gateway.addr" ] && break
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || { echo "strato: a service exited during start-up" >&2; exit 1; }; done
  sleep 0.2
done
[ -s "$RUN/gateway.addr" ] || { echo "strato: the gateway did not come up" >&2; exit 1; }
echo
echo "strato: serving the Vectorize embeddings tutorial at http://$GATEWAY_LISTEN"
echo "  open http://$GATEWAY_LISTEN/insert, then http://$GATEWAY_LISTEN/   (model: see http://$GATEWAY_LISTEN/__strato/status)"
echo "  console: http://$GATEWAY_LISTEN/console"
echo "  metrics: http://127.0.0.1:9450/metrics (gateway), :9451 (embedder), :9452 (index); traces: set OTEL_EXPORTER_OTLP_ENDPOINT"
echo "  Ctrl-C stops all three services."
wait -n "${pids[@]}"
