#!/usr/bin/env bash
# Every test: provisions the cache, builds once (release, shared by all tests), runs the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/provision.sh --corpus --observe --browser --tokenizers
# Tests start the services as real processes from this one release build.
cargo build --release --workspace --bins
cargo test --release --workspace --no-fail-fast "$@"
