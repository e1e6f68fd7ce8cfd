#!/usr/bin/env bash
# The load benchmark (docs/benchmarks.md): wissel on SQLite pinned to core 0, oha pinned to core 1,
# loopback only, bounded in time. For each scenario and concurrency: RUNS runs of DURATION, the
# median run by req/s is reported with its p50, p99 and error count.
#
#   bash bench/run.sh                      # 10 s x 3 runs at concurrency 16 and 64
#   DURATION=3s RUNS=1 bash bench/run.sh   # a quick look
#   ONLY='exchange|healthz' bash bench/run.sh  # only the scenarios whose name matches
#   SQLITE_SYNCHRONOUS=normal bash bench/run.sh  # storage.sqlite_synchronous (default full)
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
RUNS=${RUNS:-3}
CONCURRENCY=${CONCURRENCY:-"16 64"}
POOL=${POOL:-1000}
EXCHANGE_USERS=${EXCHANGE_USERS:-20}
PORT=${PORT:-18090}
SQLITE_SYNCHRONOUS=${SQLITE_SYNCHRONOUS:-full}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
BASE="http://127.0.0.1:$PORT"

command -v oha >/dev/null || cargo install oha --locked
command -v curl >/dev/null || { echo "bench needs curl" >&2; exit 1; }
cargo build --release -q -p wissel
BIN=target/release/wissel

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

CLIENT_SECRET=$($BIN client secret | sed -n 's/^secret *= "\(.*\)"/\1/p')
FRONT_SECRET=$($BIN client secret | sed -n 's/^secret *= "\(.*\)"/\1/p')
API_SECRET=$($BIN client secret | sed -n 's/^secret *= "\(.*\)"/\1/p')
cat > "$WORK/wissel.toml" <<TOML
issuer = "$BASE"
[server]
listen = "127.0.0.1:$PORT"
[storage]
url = "sqlite://wissel.db"
sqlite_synchronous = "$SQLITE_SYNCHRONOUS"
[log]
level = "warn"
[[clients]]
id = "bench"
secret = "$CLIENT_SECRET"
grant_types = ["client_credentials"]
[[apis]]
id = "jwt-api"
token_format = "jwt"
secret = "$API_SECRET"
scopes = { "read" = "Read", "write" = "Write" }
[[apis]]
id = "opaque-api"
token_format = "opaque"
secret = "$API_SECRET"
scopes = { "read" = "Read", "write" = "Write" }
[[links]]
client = "bench"
api = "jwt-api"
scopes = ["read", "write"]
[[links]]
client = "bench"
api = "opaque-api"
scopes = ["read", "write"]
# Token exchange: two front ends (standard: JWT subject tokens; acmidm: opaque ones), one API.
[[clients]]
id = "front"
secret = "$FRONT_SECRET"
grant_types = ["authorization_code", "token_exchange"]
redirect_uris = ["https://front.example/cb"]
require_consent = false
[[clients]]
id = "acm-front"
profile = "acmidm"
secret = "$FRONT_SECRET"
grant_types = ["authorization_code", "token_exchange"]
redirect_uris = ["https://front.example/cb"]
require_consent = false
[client_defaults.lifetimes]
access_token_secs = 3600
[[apis]]
id = "exchange-api"
token_format = "jwt"
secret = "$API_SECRET"
scopes = { "read" = "Read", "write" = "Write", "profile" = "Profile" }
claims = { profile = ["name"] }
[[links]]
client = "front"
api = "exchange-api"
scopes = ["read", "write", "profile"]
exchange = true
[[links]]
client = "acm-front"
api = "exchange-api"
scopes = ["read", "write", "profile"]
exchange = true
[[authorizations]]
group = "staff"
api = "exchange-api"
scopes = ["read", "profile"]
TOML
USERS=()
for u in $(seq 1 "$EXCHANGE_USERS"); do
  printf '[[users]]\nusername = "user%s"\npassword = "password-%s"\ngroups = ["staff"]\nclaims = { name = "User %s" }\n' "$u" "$u" "$u" >> "$WORK/wissel.toml"
  USERS+=("user$u:password-$u")
done
export WISSEL_MASTER_KEY=$($BIN keys master-key)
taskset -c "$SERVER_CPU" "$BIN" serve --config "$WORK/wissel.toml" > "$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do curl -sf "$BASE/readyz" >/dev/null && break; sleep 0.1; done
curl -sf "$BASE/readyz" >/dev/null || { cat "$WORK/server.log"; exit 1; }

echo "minting $POOL JWT and $POOL opaque tokens for the introspection pools..."
mint() {
  local body
  body=$(curl -s -u "bench:$CLIENT_SECRET" -d grant_type=client_credentials -d "audience=$1" "$BASE/token")
  printf '%s\n' "$body" | sed -E 's/.*"access_token":"([^"]+)".*/token=\1/'
}
for _ in $(seq 1 "$POOL"); do mint jwt-api; done > "$WORK/jwt.lines"
for _ in $(seq 1 "$POOL"); do mint opaque-api; done > "$WORK/opaque.lines"
[ "$(sort -u "$WORK/jwt.lines" | grep -c '^token=ey')" -eq "$POOL" ] || { echo "JWT pool is wrong" >&2; exit 1; }
[ "$(sort -u "$WORK/opaque.lines" | grep -c '^token=')" -eq "$POOL" ] || { echo "opaque pool is wrong" >&2; exit 1; }

echo "minting $POOL JWT and $POOL opaque user tokens (code flow, $EXCHANGE_USERS users) for the exchange pools..."
python3 bench/subject_tokens.py "$BASE" front "$FRONT_SECRET" https://front.example/cb "$POOL" exchange-api "${USERS[@]}" > "$WORK/exchange-jwt.lines"
python3 bench/subject_tokens.py "$BASE" acm-front "$FRONT_SECRET" https://front.example/cb "$POOL" exchange-api "${USERS[@]}" > "$WORK/exchange-opaque.lines"
sed 's/$/\&requested_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt/' "$WORK/exchange-opaque.lines" > "$WORK/exchange-opaque-to-jwt.lines"
[ "$(sort -u "$WORK/exchange-jwt.lines" | grep -c 'subject_token=ey')" -eq "$POOL" ] || { echo "JWT subject pool is wrong" >&2; exit 1; }
[ "$(sort -u "$WORK/exchange-opaque.lines" | grep -c 'subject_token=')" -eq "$POOL" ] || { echo "opaque subject pool is wrong" >&2; exit 1; }

FORM=application/x-www-form-urlencoded
run_oha() { taskset -c "$LOAD_CPU" oha --no-tui --output-format json -z "$DURATION" "$@"; }

scenario() { # name concurrency oha-args...
  local name=$1 c=$2; shift 2
  if [ -n "${ONLY:-}" ] && ! [[ "$name" =~ $ONLY ]]; then return; fi
  for r in $(seq 1 "$RUNS"); do
    run_oha -c "$c" "$@" > "$WORK/$name-$c-$r.json"
  done
  python3 - "$name" "$c" "$WORK" "$RUNS" <<'PY'
import json, sys
name, c, work, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
rows = []
for r in range(1, runs + 1):
    d = json.load(open(f"{work}/{name}-{c}-{r}.json"))
    codes = d.get("statusCodeDistribution", {})
    errs = {k: v for k, v in d.get("errorDistribution", {}).items() if "deadline" not in k}
    bad = sum(v for k, v in codes.items() if k != "200") + sum(errs.values())
    m = d["metrics"]["latency_ms"]
    rows.append((d["summary"]["requestsPerSec"], m["p50"], m["p99"], bad, codes.get("200", 0)))
rows.sort()
rps, p50, p99, bad, ok = rows[len(rows) // 2]
print(f"| {name:<22} | {c:>3} | {rps:>9.0f} | {p50:>7.2f} | {p99:>7.2f} | {bad:>6} | {ok:>9} |")
PY
}

echo
echo "wissel $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%Y-%m-%d), $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "server on CPU $SERVER_CPU, oha on CPU $LOAD_CPU, $DURATION x $RUNS runs (median by req/s), pools of $POOL tokens"
echo
echo "| scenario               |   c |     req/s | p50 ms  | p99 ms  | errors | 200s      |"
echo "|------------------------|-----|-----------|---------|---------|--------|-----------|"
for c in $CONCURRENCY; do
  # Calibration: the same protocol against /healthz (routing, middleware, a tiny JSON body), so
  # that a reader can tell a slow machine from a slow endpoint.
  scenario healthz "$c" "$BASE/healthz"
  scenario cc-jwt "$c" -m POST -T "$FORM" -a "bench:$CLIENT_SECRET" -d "grant_type=client_credentials&audience=jwt-api&scope=read" "$BASE/token"
  scenario cc-opaque "$c" -m POST -T "$FORM" -a "bench:$CLIENT_SECRET" -d "grant_type=client_credentials&audience=opaque-api&scope=read" "$BASE/token"
  scenario introspect-jwt "$c" -m POST -T "$FORM" -a "jwt-api:$API_SECRET" -Z "$WORK/jwt.lines" "$BASE/introspect"
  scenario introspect-opaque "$c" -m POST -T "$FORM" -a "opaque-api:$API_SECRET" -Z "$WORK/opaque.lines" "$BASE/introspect"
  # Token exchange: a JWT subject to a JWT (no write); an opaque subject to a JWT; an opaque
  # subject to an opaque token (the acmidm default: one write).
  scenario exchange-jwt-jwt "$c" -m POST -T "$FORM" -a "front:$FRONT_SECRET" -Z "$WORK/exchange-jwt.lines" "$BASE/token"
  scenario exchange-opaque-jwt "$c" -m POST -T "$FORM" -a "acm-front:$FRONT_SECRET" -Z "$WORK/exchange-opaque-to-jwt.lines" "$BASE/token"
  scenario exchange-opaque-opaque "$c" -m POST -T "$FORM" -a "acm-front:$FRONT_SECRET" -Z "$WORK/exchange-opaque.lines" "$BASE/token"
done
# The pools must still be active: a benchmark of {"active":false} answers would prove nothing.
# And an exchange must still succeed: 200s that were errors would show in the table anyway.
curl -s -u "front:$FRONT_SECRET" -H "Content-Type: $FORM" --data "$(head -n1 "$WORK/exchange-jwt.lines")" "$BASE/token" | grep -q '"scope":"profile read"' ||
  { echo "the exchange pool does not exchange at the end" >&2; exit 1; }
for pool in jwt opaque; do
  tok=$(head -n1 "$WORK/$pool.lines")
  curl -s -u "$pool-api:$API_SECRET" --data "$tok" "$BASE/introspect" | grep -q '"active":true' ||
    { echo "the $pool pool is not active at the end" >&2; exit 1; }
done
