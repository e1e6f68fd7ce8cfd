#!/usr/bin/env bash
# Memory that stays bounded (docs/security.md "Memory", docs/benchmarks.md): the resident set of
# one wissel node on SQLite after many introspections (with /metrics never scraped) and after a
# storm of password logins. Loopback only, bounded in time; prints one table.
#
#   bash bench/memory.sh                                    # 1,000,000 introspections, 2,000 logins
#   INTROSPECTIONS=200000 LOGINS=500 bash bench/memory.sh   # a quick look
#   PROFILE=debug bash bench/memory.sh                      # the debug build (dependencies at opt-level 2)
#   BIN=/path/to/wissel bash bench/memory.sh                # a binary built before
set -euo pipefail
cd "$(dirname "$0")/.."

INTROSPECTIONS=${INTROSPECTIONS:-1000000}
LOGINS=${LOGINS:-2000}
LOGIN_THREADS=${LOGIN_THREADS:-16}
USERS=${USERS:-50}
CONCURRENCY=${CONCURRENCY:-32}
MAX_SECS=${MAX_SECS:-600}
PORT=${PORT:-18091}
PROFILE=${PROFILE:-release}
BASE="http://127.0.0.1:$PORT"

command -v oha >/dev/null || cargo install oha --locked
command -v curl >/dev/null || { echo "bench needs curl" >&2; exit 1; }
if [ -z "${BIN:-}" ]; then
  if [ "$PROFILE" = release ]; then
    cargo build --release -q -p wissel
  else
    cargo build -q -p wissel
  fi
  BIN=${CARGO_TARGET_DIR:-target}/$PROFILE/wissel
fi

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

CLIENT_SECRET=$($BIN client secret | sed -n 's/^secret *= "\(.*\)"/\1/p')
API_SECRET=$($BIN client secret | sed -n 's/^secret *= "\(.*\)"/\1/p')
cat > "$WORK/wissel.toml" <<TOML
issuer = "$BASE"
[server]
listen = "127.0.0.1:$PORT"
[storage]
url = "sqlite://wissel.db"
[log]
level = "warn"
[login]
# Every login of the storm comes from 127.0.0.1 and succeeds; nothing here should be throttled.
address_failures = 1000000
[[clients]]
id = "bench"
secret = "$CLIENT_SECRET"
grant_types = ["client_credentials", "authorization_code"]
redirect_uris = ["https://bench.example/cb"]
require_consent = false
[[apis]]
id = "jwt-api"
token_format = "jwt"
secret = "$API_SECRET"
scopes = { "read" = "Read" }
[[links]]
client = "bench"
api = "jwt-api"
scopes = ["read"]
TOML
for u in $(seq 1 "$USERS"); do
  printf '[[users]]\nusername = "user%s"\npassword = "password-%s"\n' "$u" "$u" >> "$WORK/wissel.toml"
done
export WISSEL_MASTER_KEY=$($BIN keys master-key)
"$BIN" serve --config "$WORK/wissel.toml" > "$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do curl -sf "$BASE/readyz" >/dev/null && break; sleep 0.1; done
curl -sf "$BASE/readyz" >/dev/null || { cat "$WORK/server.log"; exit 1; }

rss() { awk '/^VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$SERVER_PID/status"; }
hwm() { awk '/^VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$SERVER_PID/status"; }

echo "wissel $(git rev-parse --short HEAD 2>/dev/null || echo '?') ($PROFILE), $(date -u +%Y-%m-%d), $(nproc) cores"
echo
echo "| step | requests | seconds | RSS MiB | peak RSS MiB |"
echo "|---|---:|---:|---:|---:|"
echo "| started | 0 | 0 | $(rss) | $(hwm) |"

# Introspections of 1,000 distinct tokens; /metrics is never scraped.
for _ in $(seq 1 1000); do
  body=$(curl -s -u "bench:$CLIENT_SECRET" -d grant_type=client_credentials -d audience=jwt-api "$BASE/token")
  printf '%s\n' "$body" | sed -E 's/.*"access_token":"([^"]+)".*/token=\1/'
done > "$WORK/tokens.lines"
[ "$(grep -c '^token=ey' "$WORK/tokens.lines")" -eq 1000 ] ||
  { echo "token pool is wrong:" >&2; grep -v '^token=ey' "$WORK/tokens.lines" | head -3 >&2; exit 1; }
t0=$(date +%s)
timeout "$MAX_SECS" oha --no-tui --output-format json -n "$INTROSPECTIONS" -c "$CONCURRENCY" \
  -m POST -T application/x-www-form-urlencoded -a "jwt-api:$API_SECRET" -Z "$WORK/tokens.lines" \
  "$BASE/introspect" > "$WORK/introspect.json" || true
t1=$(date +%s)
done_n=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d.get("statusCodeDistribution",{}).get("200",0))' "$WORK/introspect.json" 2>/dev/null || echo "?")
echo "| after introspections | $done_n | $((t1 - t0)) | $(rss) | $(hwm) |"

# A storm of password logins: each one an Argon2id verification (19 MiB of working memory).
t0=$(date +%s)
ok=$(timeout "$MAX_SECS" python3 - "$BASE" "$LOGINS" "$LOGIN_THREADS" "$USERS" <<'PY' || true
import http.cookiejar, sys, threading, urllib.error, urllib.parse, urllib.request
base, total, threads, users = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
redirect = "https://bench.example/cb"

class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None

def send(op, url, data=None):
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    try:
        with op.open(urllib.request.Request(url, data=body), timeout=60) as r:
            return r.status, r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.headers

def login(n):
    jar = http.cookiejar.CookieJar()
    op = urllib.request.build_opener(NoRedirect, urllib.request.HTTPCookieProcessor(jar))
    query = urllib.parse.urlencode({"response_type": "code", "client_id": "bench",
        "redirect_uri": redirect, "scope": "openid", "state": "s",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "code_challenge_method": "S256"})
    _, h = send(op, f"{base}/authorize?{query}")
    location = h.get("Location") or ""
    i = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["i"][0]
    send(op, urllib.parse.urljoin(base + "/", location))
    csrf = next(c.value for c in jar if c.name.endswith("wissel-csrf"))
    u = n % users + 1
    _, h = send(op, f"{base}/login", {"i": i, "csrf": csrf, "username": f"user{u}", "password": f"password-{u}"})
    return (h.get("Location") or "").startswith(redirect)

lock = threading.Lock()
state = {"next": 0, "ok": 0}
def worker():
    while True:
        with lock:
            n = state["next"]
            if n >= total:
                return
            state["next"] += 1
        try:
            good = login(n)
        except Exception:
            good = False
        with lock:
            state["ok"] += good
ts = [threading.Thread(target=worker) for _ in range(threads)]
for t in ts: t.start()
for t in ts: t.join()
print(state["ok"])
PY
)
t1=$(date +%s)
echo "| after logins | ${ok:-0} of $LOGINS | $((t1 - t0)) | $(rss) | $(hwm) |"
