#!/usr/bin/env bash
# Benchmarks print figures; they are never tests. Usage: scripts/bench.sh embedder|index|gateway|serve
# `gateway --cost` runs scripts/bench/gateway_cost.py (what a request costs the gateway, before
# vs after: BENCH_GATEWAY_BASELINE, default ~/.cache/strato/bench/before/gateway).
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-}"; shift || true
case "$what" in
  embedder|index|gateway|serve) ;;
  *) echo "usage: ./strato bench embedder|index|gateway|serve" >&2; exit 2 ;;
esac
bash scripts/provision.sh --bench
cargo build --release --workspace --bins
if [ "$what" = gateway ] && [[ " $* " == *" --cost "* ]]; then
  exec "${STRATO_CACHE:-$HOME/.cache/strato}/venv/bin/python" scripts/bench/gateway_cost.py "$@"
fi
exec "target/release/bench_$what" "$@"
