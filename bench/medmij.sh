#!/usr/bin/env bash
# The MedMij part of the load benchmark (docs/benchmarks.md, core.tknint.206): wissel on SQLite
# over HTTPS with client certificates, pinned to core 0; the driver (bench/medmij_load.py) on
# core 1, over loopback. Mints COUNT codes through the authorization interface, then sends each
# token request once and each refresh once, and prints the latencies.
#
#   bash bench/medmij.sh                       # 2000 codes, concurrency 16
#   COUNT=300 CONCURRENCY=4 bash bench/medmij.sh
set -euo pipefail
cd "$(dirname "$0")/.."

COUNT=${COUNT:-2000}
CONCURRENCY=${CONCURRENCY:-16}
PORT=${PORT:-18443}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
BASE="https://127.0.0.1:$PORT"
command -v openssl >/dev/null || { echo "bench needs openssl" >&2; exit 1; }
cargo build --release -q -p wissel
BIN=$PWD/target/release/wissel

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"

# A CA, the server's certificate for 127.0.0.1, the PGO's for pgo.wissel.test.
ec() { openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "$@" 2>/dev/null; }
ec -x509 -keyout ca.key -out ca.pem -days 2 -subj "/CN=wissel bench CA" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign,cRLSign
issue() { # name subjectAltName extendedKeyUsage
  ec -keyout "$1.key" -out "$1.csr" -subj "/CN=$1"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$1.pem" -days 2 \
    -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=%s\n' "$2" "$3") 2>/dev/null
}
issue server IP:127.0.0.1 serverAuth
issue pgo DNS:pgo.wissel.test clientAuth

FIXTURES=$OLDPWD/crates/wissel-medmij/fixtures
FHIR_SECRET=$($BIN client secret | sed -n 's/^secret *= "\(.*\)"/\1/p')
cat > wissel.toml <<TOML
issuer = "$BASE"
[server]
listen = "127.0.0.1:$PORT"
[server.tls]
cert_file = "server.pem"
key_file = "server.key"
client_ca_file = "ca.pem"
[storage]
url = "sqlite://wissel.db"
[log]
level = "warn"
[[apis]]
id = "umcwissel-fhir"
token_format = "opaque"
secret = "$FHIR_SECRET"
[[users]]
username = "person"
password = "person-password"
[medmij]
code_secs = 600
[medmij.lists]
ocl = "$FIXTURES/ocl.xml"
whitelist = "$FIXTURES/whitelist.xml"
gnl = "$FIXTURES/gnl.xml"
zal = "$FIXTURES/zal.xml"
[medmij.chain_log]
file = "chain.jsonl"
[[medmij.aanbieders]]
naam = "umcwissel@medmij"
api = "umcwissel-fhir"
TOML
export WISSEL_MASTER_KEY=$($BIN keys master-key)
taskset -c "$SERVER_CPU" "$BIN" serve --config wissel.toml > server.log 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do curl -sf --cacert ca.pem "$BASE/readyz" >/dev/null && break; sleep 0.1; done
curl -sf --cacert ca.pem "$BASE/readyz" >/dev/null || { cat server.log; exit 1; }

echo "wissel $(git -C "$OLDPWD" rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%Y-%m-%d), $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "server on CPU $SERVER_CPU, driver on CPU $LOAD_CPU, $COUNT codes and refresh tokens, each used once"
echo
taskset -c "$LOAD_CPU" python3 "$OLDPWD/bench/medmij_load.py" "$BASE" ca.pem pgo.pem pgo.key "$COUNT" "$CONCURRENCY" person:person-password
echo
echo "chain events written: $(wc -l < chain.jsonl)"
