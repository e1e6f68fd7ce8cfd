#!/usr/bin/env bash
# The HTTP-level fuzz run (docs/security.md, "Malformed input and fuzzing"): builds wissel and
# sends 20,000 malformed requests to `wissel demo` on loopback (bench/http_fuzz.py). Fails on a
# crash, a status >= 500 other than 503, or a server that stops answering /healthz.
#
#   bash bench/http_fuzz.sh                    # debug build, 20,000 requests, seed 1
#   PROFILE=release bash bench/http_fuzz.sh    # release build
#   BIN=/tmp/wissel bash bench/http_fuzz.sh -n 2000 --seed 7
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=${PROFILE:-debug}
if [ -z "${BIN:-}" ]; then
  if [ "$PROFILE" = release ]; then cargo build --release -q -p wissel; else cargo build -q -p wissel; fi
  BIN="${CARGO_TARGET_DIR:-target}/$PROFILE/wissel"
fi
exec python3 bench/http_fuzz.py --bin "$BIN" "$@"
