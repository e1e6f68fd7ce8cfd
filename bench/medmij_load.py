"""The MedMij part of the load benchmark (docs/benchmarks.md, core.tknint.206): mints pools of
authorization codes through the real authorization interface (one login, then an authorization
request and a long-lasting consent per code), then sends each code's token request once, and each
refresh token's refresh once, over mutual TLS with the MedMij headers, from CONCURRENCY threads on
keep-alive connections, and prints the latencies.

oha cannot drive this: it picks request bodies at random, with replacement, and MedMij codes and
refresh tokens work once (a second use is refused and revokes what the first gave).

    python3 bench/medmij_load.py BASE CA CERT KEY COUNT CONCURRENCY USER:PASSWORD
"""

import http.client
import http.cookiejar
import json
import ssl
import statistics
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

PGO = "pgo.wissel.test"
CB = "https://pgo.wissel.test/medmij/cb"
SCOPE = "umcwissel"
CORRELATION = str(uuid.uuid4())  # one flow id for the whole pool, sent again with every code


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def browser(ca):
    ctx = ssl.create_default_context(cafile=ca)
    jar = http.cookiejar.CookieJar()
    op = urllib.request.build_opener(
        NoRedirect, urllib.request.HTTPSHandler(context=ctx), urllib.request.HTTPCookieProcessor(jar))
    return op, jar


def send(op, url, data=None):
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    try:
        with op.open(urllib.request.Request(url, data=body)) as r:
            return r.status, r.headers.get("Location"), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Location"), e.read()


def mint_codes(base, ca, user, password, count):
    op, jar = browser(ca)
    csrf = lambda: next(c.value for c in jar if c.name.endswith("wissel-csrf"))
    codes = []
    for _ in range(count):
        query = urllib.parse.urlencode({
            "response_type": "code", "client_id": PGO, "redirect_uri": CB, "scope": SCOPE,
            "state": "bench", "MedMij-Request-ID": str(uuid.uuid4()), "X-Correlation-ID": CORRELATION})
        status, to, _ = send(op, f"{base}/authorize?{query}")
        if to and "/login?" in to:
            i = urllib.parse.parse_qs(urllib.parse.urlsplit(to).query)["i"][0]
            send(op, to)
            status, to, _ = send(op, f"{base}/login", {"i": i, "csrf": csrf(), "username": user, "password": password})
        if not to or "/consent?" not in to:
            sys.exit(f"no consent page: {status} {to}")
        i = urllib.parse.parse_qs(urllib.parse.urlsplit(to).query)["i"][0]
        status, to, _ = send(op, f"{base}/consent", {
            "i": i, "csrf": csrf(), "decision": "allow", "duration": "lasting", "days": "30"})
        if not to or not to.startswith(CB):
            sys.exit(f"no code: {status} {to}")
        codes.append(urllib.parse.parse_qs(urllib.parse.urlsplit(to).query)["code"][0])
    return codes


def drive(base, ca, cert, key, forms, concurrency, correlation):
    """Sends each form once; returns (latencies in ms, statuses, bodies, seconds)."""
    host, port = urllib.parse.urlsplit(base).hostname, urllib.parse.urlsplit(base).port
    ctx = ssl.create_default_context(cafile=ca)
    ctx.load_cert_chain(cert, key)
    lock = threading.Lock()
    todo = list(forms)
    latencies, statuses, bodies = [], [], []

    def worker():
        conn = http.client.HTTPSConnection(host, port, context=ctx)
        while True:
            with lock:
                if not todo:
                    break
                form = todo.pop()
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "MedMij-Request-ID": str(uuid.uuid4()),
                "X-Correlation-ID": correlation or str(uuid.uuid4()),
            }
            started = time.perf_counter()
            conn.request("POST", "/token", urllib.parse.urlencode(form), headers)
            r = conn.getresponse()
            body = r.read()
            took = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(took)
                statuses.append(r.status)
                bodies.append(body)
        conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, statuses, bodies, time.perf_counter() - started


def row(name, concurrency, latencies, statuses, seconds):
    q = statistics.quantiles(latencies, n=100)
    bad = sum(1 for s in statuses if s != 200)
    print(f"| {name:<22} | {concurrency:>3} | {len(latencies) / seconds:>9.0f} | {q[49]:>7.2f} | {q[98]:>7.2f} | "
          f"{max(latencies):>7.2f} | {bad:>6} | {len(latencies):>9} |")


def main():
    base, ca, cert, key, count, concurrency, user = sys.argv[1:8]
    count, concurrency = int(count), int(concurrency)
    username, password = user.split(":", 1)
    print(f"minting {count} codes through the authorization interface...", file=sys.stderr)
    codes = mint_codes(base, ca, username, password, count)
    forms = [{"grant_type": "authorization_code", "code": c, "client_id": PGO, "redirect_uri": CB} for c in codes]
    latencies, statuses, bodies, seconds = drive(base, ca, cert, key, forms, concurrency, CORRELATION)
    print("| scenario               |   c |     req/s | p50 ms  | p99 ms  | max ms  | errors | requests  |")
    print("|------------------------|-----|-----------|---------|---------|---------|--------|-----------|")
    row("medmij-code", concurrency, latencies, statuses, seconds)
    refresh = [{"grant_type": "refresh_token", "refresh_token": json.loads(b)["refresh_token"], "client_id": PGO}
               for b, s in zip(bodies, statuses) if s == 200]
    latencies, statuses, bodies, seconds = drive(base, ca, cert, key, refresh, concurrency, None)
    row("medmij-refresh", concurrency, latencies, statuses, seconds)
    scopes = {json.loads(b).get("scope") for b, s in zip(bodies, statuses) if s == 200}
    if scopes != {"48 49"}:
        sys.exit(f"unexpected scopes: {scopes}")


if __name__ == "__main__":
    main()
