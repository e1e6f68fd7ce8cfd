#!/usr/bin/env python3
"""HTTP-level fuzz run (docs/security.md, "Malformed input and fuzzing").

Starts `wissel demo` on loopback, sends N malformed requests over raw sockets (random methods,
paths, header names and values, bodies and content types; truncated and oversized requests,
duplicate parameters, bad percent-encoding, huge Authorization headers, conflicting framing
headers), counts what comes back, and fails when the server crashed, answered a status >= 500
other than 503 (a deliberate limit), or stopped answering /healthz. Samples the server's RSS
before, during and after. Deterministic for a given --seed. Bounded in time: every socket has a
timeout, and the run stops at --max-seconds.

    python3 bench/http_fuzz.py --bin /tmp/wissel-e                 # 20,000 requests
    python3 bench/http_fuzz.py --bin target/debug/wissel -n 2000   # a quick look
"""

import argparse
import base64
import collections
import concurrent.futures
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

PATHS = [
    "/token", "/introspect", "/revoke", "/authorize", "/login", "/consent", "/logout",
    "/userinfo", "/account", "/account/consents/revoke", "/account/sessions/end",
    "/account/medmij/end", "/jwks", "/.well-known/openid-configuration",
    "/.well-known/oauth-authorization-server", "/healthz", "/readyz", "/metrics",
    "/demo/rp", "/demo/rp/callback", "/static/wissel.css", "/static/form_post.js",
    "/op/v1/token", "/nope", "/",
]
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE", "CONNECT",
           "get", "P\x00ST", "POST ", "X" * 300, "", "PRI"]
CONTENT_TYPES = [
    "application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=utf-8",
    "APPLICATION/X-WWW-FORM-URLENCODED", "application/json", "text/plain", "multipart/form-data",
    "multipart/form-data; boundary=x", "application/x-www-form-urlencoded;;;", "", ";", "\x7f",
    "application/x-www-form-urlencoded\x00", "a" * 5000,
]
PARAMS = ["grant_type", "client_id", "client_secret", "scope", "code", "redirect_uri",
          "refresh_token", "code_verifier", "token", "token_type_hint", "resource", "audience",
          "subject_token", "subject_token_type", "actor_token", "actor_token_type",
          "requested_token_type", "client_assertion", "client_assertion_type", "response_type",
          "state", "nonce", "prompt", "max_age", "code_challenge", "code_challenge_method",
          "response_mode", "username", "password", "csrf", "request", "request_uri", "ui_locales",
          "id_token_hint", "post_logout_redirect_uri", "login_hint", "claims"]
GRANTS = ["client_credentials", "authorization_code", "refresh_token",
          "urn:ietf:params:oauth:grant-type:token-exchange", "password", "implicit", "", "x" * 900]


def rand_text(r, n):
    alphabet = "abcXYZ019-._~%+&=;:/?#[]@!$'()*,\\\"<> \t\x00\x7f\u00e9\u4e2d\U0001f600"
    return "".join(r.choice(alphabet) for _ in range(n))


def bad_percent(r):
    return r.choice(["%", "%z", "%zz", "%G0", "%0", "%C0%AF", "%FF%FE", "%00", "%E2%82",
                     "%25%32%35", "%%%", "%u0041", "%ED%A0%80"])


def jwtish(r):
    def seg(obj):
        return base64.urlsafe_b64encode(obj.encode()).rstrip(b"=").decode()
    header = r.choice(['{"alg":"none"}', '{"alg":"HS256","kid":"x"}', '{"alg":"ES256"}',
                       '{"alg":"ES256","kid":"' + "k" * r.randint(0, 3000) + '"}',
                       '{"typ":"at+jwt","alg":"RS256","kid":1}', "not json", "{" * 500])
    claims = r.choice(['{"iss":"demo-backend","sub":"demo-backend","aud":"x","exp":1e400}',
                       '{"exp":-1,"jti":""}', "[]", '{"scope":' + '["a",' * 300 + "}",
                       rand_text(r, 50)])
    return ".".join([seg(header), seg(claims), rand_text(r, r.randint(0, 100))])


def form_body(r, secrets):
    parts = []
    for _ in range(r.choice([0, 1, 3, 8, 20, 70])):
        name = r.choice(PARAMS) if r.random() < 0.8 else rand_text(r, r.randint(0, 20))
        kind = r.random()
        if name == "grant_type" and kind < 0.7:
            value = urllib.parse.quote(r.choice(GRANTS), safe="")
        elif kind < 0.2:
            value = bad_percent(r)
        elif kind < 0.35:
            value = urllib.parse.quote(jwtish(r), safe="")
        elif kind < 0.4:
            value = "A" * r.choice([17 * 1024, 40 * 1024])
        elif kind < 0.5 and secrets:
            value = urllib.parse.quote(r.choice(list(secrets.values())), safe="")
        else:
            value = urllib.parse.quote(rand_text(r, r.randint(0, 40)), safe="")
        if r.random() < 0.1:
            value += bad_percent(r)
        parts.append(f"{name}={value}" if r.random() < 0.95 else name)
        if r.random() < 0.1:
            parts.append(parts[-1])  # a duplicate parameter
    sep = "&" if r.random() < 0.9 else r.choice([";", "&&", "&=&", "\n"])
    return sep.join(parts).encode("utf-8", "surrogatepass")


def authorization(r, secrets):
    kind = r.random()
    if kind < 0.3 and secrets:
        cid, secret = r.choice(list(secrets.items()))
        if r.random() < 0.5:
            secret = secret[:-1] + "x"
        raw = f"{cid}:{secret}"
        return "Basic " + base64.b64encode(raw.encode()).decode()
    if kind < 0.45:
        return "Basic " + base64.b64encode(os.urandom(r.randint(0, 300))).decode()
    if kind < 0.55:
        return "Basic " + rand_text(r, r.randint(0, 200))
    if kind < 0.65:
        return "Bearer " + jwtish(r)
    if kind < 0.75:
        # Huge: beyond what any client sends, near or beyond the header size limit.
        return "Basic " + "QUFB" * r.choice([2000, 8000, 30000])
    if kind < 0.85:
        return "Bearer " + "a" * r.choice([43, 8193, 20000])
    return r.choice(["", "Basic", "Basic ", "Digest x", "Basic =", "basic Og==", "Basic Og=="])


def well_framed_request(r, port, secrets):
    """A request the HTTP layer accepts, so that the hostile part reaches wissel's handlers:
    the parameters, their encoding and repetition, the credentials."""
    path = r.choice(PATHS)
    headers = [("Host", f"127.0.0.1:{port}")]
    if r.random() < 0.7:
        headers.append(("Authorization", authorization(r, secrets)))
    if r.random() < 0.6:
        method, body = "POST", form_body(r, secrets)
        headers.append(("Content-Type", r.choice(CONTENT_TYPES[:3])))
    else:
        method, body = "GET", b""
        path += "?" + form_body(r, secrets).decode("latin-1")
    headers += [("Content-Length", str(len(body))), ("Connection", "close")]
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    return head.encode("utf-8", "surrogatepass") + body, False


def build_request(r, port, secrets):
    """One malformed (or merely unusual) request, as bytes, and whether to truncate it."""
    if r.random() < 0.5:
        return well_framed_request(r, port, secrets)
    method = r.choice(METHODS) if r.random() < 0.5 else r.choice(["GET", "POST"])
    path = r.choice(PATHS)
    roll = r.random()
    if roll < 0.1:
        path += "/" + rand_text(r, r.randint(1, 30)).replace(" ", "%20")
    elif roll < 0.2:
        path += "?" + form_body(r, secrets).decode("latin-1")
    elif roll < 0.25:
        path += "?" + bad_percent(r) + "=" + bad_percent(r)
    elif roll < 0.28:
        path = "/" + "a" * r.choice([9000, 70000])
    elif roll < 0.3:
        path = r.choice(["*", "http://evil.example/token", "//token", "/../../etc/passwd",
                         "/token%00", "token", "/%2e%2e/", "/authorize?client_id=demo-rp&"
                         "client_id=x&redirect_uri=%ZZ"])
    version = r.choice(["HTTP/1.1"] * 8 + ["HTTP/1.0", "HTTP/2.0", "HTTP/9", "HTTP/1.1 x", ""])
    headers = [("Host", f"127.0.0.1:{port}")]
    if r.random() < 0.05:
        headers = []
    body = b""
    if method.upper() == "POST" or r.random() < 0.2:
        roll = r.random()
        if roll < 0.6:
            body = form_body(r, secrets)
        elif roll < 0.7:
            body = os.urandom(r.randint(0, 2000))
        elif roll < 0.75:
            body = b"a=" + b"x" * r.choice([70 * 1024, 300 * 1024])  # beyond max_body_bytes
        elif roll < 0.85:
            body = b'{"grant_type":"client_credentials"}'
        else:
            body = rand_text(r, r.randint(0, 300)).encode("utf-8", "surrogatepass")
        if r.random() < 0.9:
            headers.append(("Content-Type", r.choice(CONTENT_TYPES)))
    if r.random() < 0.5:
        headers.append(("Authorization", authorization(r, secrets)))
        if r.random() < 0.05:
            headers.append(("Authorization", authorization(r, secrets)))
    for _ in range(r.choice([0, 0, 1, 3, 150])):
        name = r.choice(["X-" + rand_text(r, 5), "Cookie", "Content-Type", "Accept-Language",
                         "X-Forwarded-For", "Origin", "Referer", "bad name", "Bad:Name", "",
                         "\x00", "Transfer-Encoding", "Expect", "Connection", "Upgrade"])
        value = r.choice([rand_text(r, r.randint(0, 50)), "chunked", "100-continue", "h2c",
                          "__Host-wissel-session=" + "a" * r.choice([10, 5000]),
                          "wissel_csrf=" + rand_text(r, 30), "x" * r.choice([100, 9000])])
        headers.append((name, value))
    truncate = False
    framing = r.random()
    if framing < 0.75:
        headers.append(("Content-Length", str(len(body))))
    elif framing < 0.8:
        headers.append(("Content-Length", str(len(body) + r.randint(1, 1000))))
        truncate = True  # the server waits for bytes that never come: we close our side
    elif framing < 0.85:
        headers.append(("Content-Length", r.choice(["-1", "abc", "1e3", " 5", "5, 6",
                                                    "99999999999999999999999"])))
    elif framing < 0.9:
        headers.append(("Transfer-Encoding", "chunked"))
        end = r.choice([b"0\r\n\r\n", b"zz\r\n", b""])
        body = (b"%x\r\n" % len(body)) + body + b"\r\n" + end
        truncate = end == b""  # an unfinished body: we close our side rather than wait
    elif framing < 0.93:
        headers.append(("Content-Length", str(len(body))))
        headers.append(("Transfer-Encoding", "chunked"))
    # else: no framing header at all
    if r.random() < 0.7:
        headers.append(("Connection", "close"))
    eol = "\r\n" if r.random() < 0.97 else "\n"
    head = f"{method} {path} {version}{eol}" + "".join(f"{k}: {v}{eol}" for k, v in headers) + eol
    data = head.encode("utf-8", "surrogatepass") + body
    if r.random() < 0.03:
        data = data[: r.randint(0, len(data))]  # cut anywhere, even in the request line
        truncate = True
    return data, truncate


def send(port, data, truncate, timeout):
    """Sends one request; returns its status code, or what happened instead."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            try:
                s.sendall(data)
                if truncate:
                    s.shutdown(socket.SHUT_WR)
            except (BrokenPipeError, ConnectionResetError, OSError):
                pass  # the server refused early (e.g. 413 before the body); read its answer
            buf = b""
            while b"\r\n" not in buf and len(buf) < 4096:
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
    except socket.timeout:
        return "timeout"
    except ConnectionResetError:
        return "reset"
    except OSError as e:
        return f"oserror:{e.errno}"
    m = re.match(rb"HTTP/1\.[01] (\d{3})", buf)
    if m:
        return int(m.group(1))
    return "closed" if not buf else "garbage"


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def healthz(port):
    return send(port, f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                      "Connection: close\r\n\r\n".encode(), False, 5)


def demo_secrets(config_text):
    """client id -> secret, from the demo's configuration file."""
    out = {}
    for block in re.split(r"\n\[\[", config_text):
        cid = re.search(r'^id = "([^"]+)"', block, re.M)
        secret = re.search(r'^secret = "([^"]+)"', block, re.M)
        if cid and secret:
            out[cid.group(1)] = secret.group(1)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--bin", default="target/debug/wissel")
    ap.add_argument("-n", "--requests", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--port", type=int, default=18190)
    ap.add_argument("--timeout", type=float, default=10.0, help="per request, seconds")
    ap.add_argument("--max-seconds", type=float, default=900.0)
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="wissel-http-fuzz-")
    log = open(os.path.join(work, "server.log"), "w")
    server = subprocess.Popen([args.bin, "demo", "--data-dir", os.path.join(work, "data"),
                               "--listen", f"127.0.0.1:{args.port}"],
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 60
        while healthz(args.port) != 200:
            if server.poll() is not None or time.time() > deadline:
                sys.exit(f"the server did not start (see {work}/server.log)")
            time.sleep(0.2)
        with open(os.path.join(work, "data", "demo.toml")) as f:
            secrets = demo_secrets(f.read())
        rss_start, _ = rss_kib(server.pid)
        counts = collections.Counter()
        samples = [rss_start]
        lock = threading.Lock()
        done = 0
        started = time.time()

        def one(i):
            r = random.Random(args.seed * 1_000_003 + i)
            data, truncate = build_request(r, args.port, secrets)
            if time.time() - started > args.max_seconds:
                return "skipped"
            outcome = send(args.port, data, truncate, args.timeout)
            if outcome == "timeout" or (isinstance(outcome, int) and outcome >= 500):
                print(f"request {i}: {outcome}: {data[:160]!r} (truncated: {truncate})",
                      file=sys.stderr)
            return outcome

        with concurrent.futures.ThreadPoolExecutor(args.workers) as pool:
            for outcome in pool.map(one, range(args.requests)):
                with lock:
                    counts[outcome] += 1
                    done += 1
                    if done % 1000 == 0:
                        samples.append(rss_kib(server.pid)[0])
        elapsed = time.time() - started
        alive = server.poll() is None
        after = healthz(args.port) if alive else "dead"
        rss_end, rss_peak = rss_kib(server.pid) if alive else (0, 0)
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
        log.close()

    statuses = sorted((k, v) for k, v in counts.items() if isinstance(k, int))
    others = sorted((k, v) for k, v in counts.items() if not isinstance(k, int))
    server_errors = sum(v for k, v in statuses if k >= 500 and k != 503)
    print(f"requests: {sum(counts.values())} in {elapsed:.1f} s "
          f"({args.workers} workers, seed {args.seed}, {args.bin})")
    print("statuses: " + ", ".join(f"{k}: {v}" for k, v in statuses))
    print("no status: " + (", ".join(f"{k}: {v}" for k, v in others) or "none"))
    print(f"5xx other than 503: {server_errors}")
    print(f"server alive: {alive}; /healthz after: {after}")
    print(f"RSS KiB: start {rss_start}, max sampled {max(samples)}, end {rss_end}, "
          f"peak (VmHWM) {rss_peak}")
    failed = server_errors > 0 or not alive or after != 200 or counts["skipped"] > 0
    if failed:
        print(f"FAILED (server log kept in {work}/server.log)")
        sys.exit(1)
    shutil.rmtree(work, ignore_errors=True)
    print("OK: 0 crashes, 0 responses >= 500 (503 aside)")


if __name__ == "__main__":
    main()
