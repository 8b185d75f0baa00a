#!/usr/bin/env bash
# Makes the dev overlay's Secret files with random values (deploy/k8s/overlays/dev/secrets/ is
# git-ignored: no token is ever committed). The overlay's secretGenerator reads them.
#   scripts/deploy/dev-secrets.sh [DIR] && kubectl apply -k deploy/k8s/overlays/dev
# DIR (default deploy/k8s/overlays/dev/secrets) gets, mode 0600:
#   service-token   64 hex chars, no trailing newline (it becomes STRATO_SERVICE_TOKEN, a header)
#   api-tokens.txt  the gateway's tokens file: one token for every account, one for `demo` only
# Existing files are kept (delete them to rotate the tokens; the Secret's name changes with its
# content, so `kubectl apply -k` rolls the pods). Prints the paths, never the tokens.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
DIR=${1:-$REPO/deploy/k8s/overlays/dev/secrets}
rand() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
umask 077
mkdir -p "$DIR"

if [ ! -s "$DIR/service-token" ]; then
  rand > "$DIR/service-token.tmp"
  mv "$DIR/service-token.tmp" "$DIR/service-token"
  echo "[dev-secrets] wrote $DIR/service-token"
else
  echo "[dev-secrets] kept $DIR/service-token"
fi

if [ ! -s "$DIR/api-tokens.txt" ]; then
  {
    echo "# Strato gateway API tokens (dev): one a line, TOKEN (every account) or TOKEN accounts=acc1,acc2"
    echo "$(rand)"
    echo "$(rand) accounts=demo"
  } > "$DIR/api-tokens.txt.tmp"
  mv "$DIR/api-tokens.txt.tmp" "$DIR/api-tokens.txt"
  echo "[dev-secrets] wrote $DIR/api-tokens.txt (use a token: Authorization: Bearer <token>)"
else
  echo "[dev-secrets] kept $DIR/api-tokens.txt"
fi
