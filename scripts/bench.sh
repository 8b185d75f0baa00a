#!/usr/bin/env bash
# Benchmarks print figures; they are never tests. Usage: scripts/bench.sh embedder|index|gateway|serve
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-}"; shift || true
case "$what" in
  embedder|index|gateway|serve) ;;
  *) echo "usage: ./strato bench embedder|index|gateway|serve" >&2; exit 2 ;;
esac
bash scripts/provision.sh --bench
cargo build --release --workspace --bins
exec "target/release/bench_$what" "$@"
