"""Mints a pool of distinct user access tokens through the real authorization-code flow, for the
token-exchange scenarios of bench/run.sh: each user logs in once (one Argon2 verification), and
every further token is one authorization request (answered from the SSO session, no consent for a
first-party client) plus one code redemption. Prints one oha body line per token.

    python3 bench/subject_tokens.py BASE CLIENT SECRET REDIRECT_URI COUNT AUDIENCE USER:PASSWORD...
"""

import base64
import hashlib
import http.cookiejar
import json
import re
import secrets
import sys
import urllib.error
import urllib.parse
import urllib.request

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def opener():
    jar = http.cookiejar.CookieJar()
    return urllib.request.build_opener(NoRedirect, urllib.request.HTTPCookieProcessor(jar)), jar


def send(op, url, data=None, headers=None):
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, headers=headers or {})
    try:
        with op.open(req) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def main():
    base, client, secret, redirect, count, audience = sys.argv[1:7]
    users = [u.split(":", 1) for u in sys.argv[7:]]
    count = int(count)
    basic = "Basic " + base64.b64encode(f"{client}:{secret}".encode()).decode()
    per_user = -(-count // len(users))
    made = 0
    for username, password in users:
        op, jar = opener()
        for n in range(per_user):
            if made == count:
                break
            verifier = secrets.token_urlsafe(48)
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            query = urllib.parse.urlencode({
                "response_type": "code", "client_id": client, "redirect_uri": redirect,
                "scope": "openid", "state": "s", "code_challenge": challenge,
                "code_challenge_method": "S256",
            })
            status, headers, _ = send(op, f"{base}/authorize?{query}")
            location = headers.get("Location") or headers.get("location")
            if "/login?" in location:
                i = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["i"][0]
                send(op, urllib.parse.urljoin(base + "/", location))
                csrf = next(c.value for c in jar if c.name.endswith("wissel-csrf"))
                status, headers, _ = send(op, f"{base}/login", {
                    "i": i, "csrf": csrf, "username": username, "password": password})
                location = headers.get("Location") or headers.get("location")
            if not location.startswith(redirect):
                sys.exit(f"no code for {username}: {status} {location}")
            code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["code"][0]
            status, _, body = send(op, f"{base}/token", {
                "grant_type": "authorization_code", "code": code, "redirect_uri": redirect,
                "code_verifier": verifier}, {"Authorization": basic})
            if status != 200:
                sys.exit(f"code redemption failed: {status} {body}")
            token = json.loads(body)["access_token"]
            print(urllib.parse.urlencode({
                "grant_type": EXCHANGE, "subject_token": token, "subject_token_type": ACCESS,
                "audience": audience}))
            made += 1
    if made != count:
        sys.exit(f"made {made} of {count} tokens")


if __name__ == "__main__":
    main()
