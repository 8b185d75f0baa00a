#!/usr/bin/env bash
# Regenerates the console's screenshots in docs/console/ (shown in the README) by running its
# browser test, which takes them at each main page.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/provision.sh --browser
cargo build --release --workspace --bins
rm -rf docs/console && mkdir -p docs/console
STRATO_CONSOLE_SCREENSHOTS="$PWD/docs/console" cargo test --release -p strato-tests --test console -- --nocapture
rm -f docs/console/failure.png
ls -la docs/console
