//! The authorization-code flow end to end: a browser-like HTTP client holding cookies passes the
//! real login and consent forms; relying parties exchange codes and refresh tokens.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use reqwest::StatusCode;
use serde_json::{Value, json};
use wissel_core::ports::{Clock, SystemClock};

use super::{
    Node, ORDERS_SECRET, TestClock, WEBAPP_SECRET, http, node, start_node_as, start_node_edited,
};

/// A browser stand-in: keeps cookies per name (one origin), follows nothing by itself.
#[derive(Default)]
pub(crate) struct Browser {
    pub(crate) cookies: HashMap<String, String>,
    /// The HTTP client, when not the plain one (a node over TLS).
    pub(crate) client: Option<reqwest::Client>,
}

impl Browser {
    /// A browser that talks through `client` (one that trusts a test CA).
    pub(crate) fn over(client: reqwest::Client) -> Self {
        Self {
            cookies: HashMap::new(),
            client: Some(client),
        }
    }

    fn http(&self) -> reqwest::Client {
        self.client.clone().unwrap_or_else(http)
    }

    pub(crate) fn header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, r: &reqwest::Response) {
        for v in r.headers().get_all("set-cookie") {
            let line = v.to_str().unwrap();
            let pair = line.split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            let expired = line.contains("Max-Age=0");
            if expired || v.is_empty() {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
    }

    pub(crate) async fn get(&mut self, url: &str) -> reqwest::Response {
        let r = self
            .http()
            .get(url)
            .header("cookie", self.header())
            .send()
            .await
            .unwrap();
        self.keep(&r);
        r
    }

    pub(crate) async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let r = self
            .http()
            .post(url)
            .header("cookie", self.header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.keep(&r);
        r
    }

    /// The CSRF secret the pages put in their forms.
    pub(crate) fn csrf(&self) -> String {
        self.cookies
            .iter()
            .find(|(k, _)| k.ends_with("wissel-csrf"))
            .map(|(_, v)| v.clone())
            .unwrap()
    }
}

pub(crate) fn location(r: &reqwest::Response) -> String {
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "expected a redirect");
    r.headers()["location"].to_str().unwrap().to_owned()
}

pub(crate) fn query_of(url: &str) -> HashMap<String, String> {
    let q = url.split_once(['?', '#']).map(|(_, q)| q).unwrap_or("");
    form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub(crate) fn interaction_of(url: &str) -> String {
    query_of(url)["i"].clone()
}

/// Runs authorize → login → consent (allow) and returns the redirect to the client.
pub(crate) async fn log_in_and_consent(
    n: &Node,
    b: &mut Browser,
    query: &[(&str, &str)],
    user: (&str, &str),
) -> String {
    let url = n.url(&format!("/authorize?{}", encode(query)));
    log_in_and_consent_at(n, b, &url, user).await
}

/// Like [`log_in_and_consent`], for an authorization URL built elsewhere (by a client library).
/// When `to` is the login page, logs in there; where the browser is sent next.
pub(crate) async fn log_in_if_asked(
    n: &Node,
    b: &mut Browser,
    to: String,
    user: (&str, &str),
) -> String {
    if !to.contains("/login?") {
        return to;
    }
    let i = interaction_of(&to);
    let page = b.get(&to).await;
    assert_eq!(page.status(), StatusCode::OK);
    let csrf = b.csrf();
    let r = b
        .post(
            &n.url("/login"),
            &[
                ("i", &i),
                ("csrf", &csrf),
                ("username", user.0),
                ("password", user.1),
            ],
        )
        .await;
    location(&r)
}

pub(crate) async fn log_in_and_consent_at(
    n: &Node,
    b: &mut Browser,
    url: &str,
    user: (&str, &str),
) -> String {
    let r = b.get(url).await;
    let mut to = log_in_if_asked(n, b, location(&r), user).await;
    if to.contains("/consent?") {
        let i = interaction_of(&to);
        let page = b.get(&to).await;
        assert_eq!(page.status(), StatusCode::OK);
        let csrf = b.csrf();
        let r = b
            .post(
                &n.url("/consent"),
                &[("i", &i), ("csrf", &csrf), ("decision", "allow")],
            )
            .await;
        to = location(&r);
    }
    to
}

const VERIFIER: &str = "a-verifier-that-is-long-enough-for-rfc-7636-0123456789";

#[tokio::test]
async fn code_flow_smoke() {
    let n = node().await;
    let mut b = Browser::default();
    let challenge = wissel_crypto::pkce::s256(VERIFIER);
    let to = log_in_and_consent(
        &n,
        &mut b,
        &[
            ("response_type", "code"),
            ("client_id", "webapp"),
            ("redirect_uri", "https://webapp.example/cb"),
            ("scope", "openid profile email offline_access"),
            ("state", "s1"),
            ("nonce", "n1"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
        ("alice", "alice-password"),
    )
    .await;
    assert!(to.starts_with("https://webapp.example/cb?"), "{to}");
    let q = query_of(&to);
    assert_eq!(q["state"], "s1");
    assert_eq!(q["iss"], n.base);
    let code = &q["code"];
    let r = n
        .post(
            "/token",
            Some(("webapp", WEBAPP_SECRET)),
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", "https://webapp.example/cb"),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let t: Value = r.json().await.unwrap();
    assert!(t["id_token"].is_string(), "{t}");
    assert!(t["refresh_token"].is_string(), "{t}");
    let ui: Value = http()
        .get(n.url("/userinfo"))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ui["email"], "alice@example.org");
    let r = n
        .post(
            "/token",
            Some(("webapp", WEBAPP_SECRET)),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", t["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

// ---------------------------------------------------------------------------------------------
// Helpers of the tests below.

const CB: &str = "https://webapp.example/cb";
const ALICE: (&str, &str) = ("alice", "alice-password");
const WEBAPP: Option<(&str, &str)> = Some(("webapp", WEBAPP_SECRET));

/// `application/x-www-form-urlencoded` text of `pairs`.
pub(crate) fn encode<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))
        .finish()
}

/// A random PKCE verifier and its S256 challenge.
fn pkce() -> (String, String) {
    let verifier = wissel_crypto::secret::generate_secret();
    let challenge = wissel_crypto::pkce::s256(&verifier);
    (verifier, challenge)
}

/// A node whose clock the test moves, starting at the real time.
async fn clocked() -> (Node, Arc<TestClock>) {
    let clock = Arc::new(TestClock(AtomicI64::new(SystemClock.now())));
    let n = start_node_as(None, clock.clone(), None, false).await;
    (n, clock)
}

fn advance(clock: &TestClock, secs: i64) {
    clock.0.fetch_add(secs, Ordering::SeqCst);
}

/// One number from the node's database.
pub(crate) async fn count(n: &Node, sql: &str) -> i64 {
    use sqlx::Row;
    let q = sqlx::AssertSqlSafe(sql.to_owned());
    if n.storage.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(&n.storage).await.unwrap();
        sqlx::query(q).fetch_one(&pool).await.unwrap().get(0)
    } else {
        let pool = sqlx::PgPool::connect(&n.storage).await.unwrap();
        sqlx::query(q).fetch_one(&pool).await.unwrap().get(0)
    }
}

/// Row counts of the browser-flow tables (and the states a refused request must not reach):
/// compared before and after, they show that nothing lasting was written.
async fn flow_rows(n: &Node) -> Vec<(&'static str, i64)> {
    let mut out = Vec::new();
    for (name, sql) in [
        ("interactions", "SELECT COUNT(*) FROM interactions"),
        ("sessions", "SELECT COUNT(*) FROM sessions"),
        ("consents", "SELECT COUNT(*) FROM consents"),
        ("grants", "SELECT COUNT(*) FROM grants"),
        (
            "revoked grants",
            "SELECT COUNT(*) FROM grants WHERE revoked_at IS NOT NULL",
        ),
        ("codes", "SELECT COUNT(*) FROM auth_codes"),
        (
            "spent codes",
            "SELECT COUNT(*) FROM auth_codes WHERE consumed_at IS NOT NULL",
        ),
        ("refresh tokens", "SELECT COUNT(*) FROM refresh_tokens"),
        (
            "rotated refresh tokens",
            "SELECT COUNT(*) FROM refresh_tokens WHERE rotated_at IS NOT NULL",
        ),
        ("revocations", "SELECT COUNT(*) FROM revocations"),
    ] {
        out.push((name, count(n, sql).await));
    }
    out
}

/// The count of one row of [`flow_rows`].
fn row(rows: &[(&'static str, i64)], name: &str) -> i64 {
    rows.iter().find(|(k, _)| *k == name).unwrap().1
}

/// POSTs to the token endpoint; the status and the JSON body.
async fn token(
    n: &Node,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> (StatusCode, Value) {
    let r = n.post("/token", basic, form).await;
    let status = r.status();
    assert_eq!(r.headers()["cache-control"], "no-store");
    (status, r.json().await.unwrap())
}

/// Asserts a token endpoint error.
fn assert_token_error(got: &(StatusCode, Value), error: &str, what: &str) {
    assert_eq!(got.1["error"], error, "{what}: {}", got.1);
    let status = if error == "invalid_client" {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_REQUEST
    };
    assert_eq!(got.0, status, "{what}: {}", got.1);
    assert!(got.1.get("access_token").is_none(), "{what}");
}

/// Redeems a webapp code sent to [`CB`]; asserts success.
async fn redeem(n: &Node, code: &str, verifier: &str) -> Value {
    let got = token(
        n,
        WEBAPP,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CB),
            ("code_verifier", verifier),
        ],
    )
    .await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
    got.1
}

/// Uses a refresh token as `client`.
async fn refresh(
    n: &Node,
    client: (&str, &str),
    refresh_token: &str,
    scope: Option<&str>,
) -> (StatusCode, Value) {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    token(n, Some(client), &form).await
}

/// A webapp code for `scope` (S256 PKCE, state `st`, nonce `nn`), through whatever pages the
/// browser still needs; the code and its verifier.
async fn webapp_code(n: &Node, b: &mut Browser, scope: &str) -> (String, String) {
    webapp_code_with(n, b, scope, &[]).await
}

/// Like [`webapp_code`], with more parameters (a resource).
async fn webapp_code_with(
    n: &Node,
    b: &mut Browser,
    scope: &str,
    extra: &[(&str, &str)],
) -> (String, String) {
    let (verifier, challenge) = pkce();
    let mut query = vec![
        ("response_type", "code"),
        ("client_id", "webapp"),
        ("redirect_uri", CB),
        ("scope", scope),
        ("state", "st"),
        ("nonce", "nn"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ];
    query.extend_from_slice(extra);
    let to = log_in_and_consent(n, b, &query, ALICE).await;
    assert!(to.starts_with(&format!("{CB}?")), "{to}");
    let q = query_of(&to);
    assert_eq!(q["state"], "st");
    assert_eq!(q["iss"], n.base);
    (q["code"].clone(), verifier)
}

/// `pairs` with the value of `key` replaced (or added at the end).
fn replaced<'a>(
    pairs: &[(&'a str, &'a str)],
    key: &'a str,
    value: &'a str,
) -> Vec<(&'a str, &'a str)> {
    let mut out = pairs.to_vec();
    match out.iter_mut().find(|(k, _)| *k == key) {
        Some(p) => p.1 = value,
        None => out.push((key, value)),
    }
    out
}

/// `pairs` without `keys`.
fn without<'a>(pairs: &[(&'a str, &'a str)], keys: &[&str]) -> Vec<(&'a str, &'a str)> {
    pairs
        .iter()
        .filter(|(k, _)| !keys.contains(k))
        .copied()
        .collect()
}

/// The authorization URL of `pairs`.
fn authorize_url(n: &Node, pairs: &[(&str, &str)]) -> String {
    n.url(&format!("/authorize?{}", encode(pairs)))
}

/// The claims of a JWT, unverified (the tests that need verification use the JWKS).
fn claims_of(jwt: &str) -> Value {
    jsonwebtoken::dangerous::insecure_decode_claims(jwt).unwrap()
}

fn str_of<'a>(v: &'a Value, name: &str) -> &'a str {
    v[name]
        .as_str()
        .unwrap_or_else(|| panic!("{name} missing in {v}"))
}

/// True when the token is active at introspection by `who`.
async fn active(n: &Node, who: (&str, &str), token: &str) -> bool {
    n.introspect_as(who, token).await["active"] == true
}

/// True when a user access token (with `openid`) works at UserInfo.
async fn works(n: &Node, token: &str) -> bool {
    let r = http()
        .get(n.url("/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    r.status() == StatusCode::OK
}

/// Asserts that an access token webapp got for itself (no resource) is dead: UserInfo refuses
/// it, and introspection by webapp says inactive.
async fn assert_dead(n: &Node, token: &str, what: &str) {
    assert!(!works(n, token).await, "{what}: still works at UserInfo");
    assert!(
        !active(n, ("webapp", WEBAPP_SECRET), token).await,
        "{what}: still active at introspection"
    );
}

/// The tokens of a scope value, sorted.
fn scopes(v: &Value) -> Vec<&str> {
    let mut s: Vec<&str> = v.as_str().unwrap_or_default().split(' ').collect();
    s.sort_unstable();
    s
}

/// Asserts that a scope value holds exactly `expected` (in any order).
fn assert_scope(v: &Value, expected: &str) {
    let mut e: Vec<&str> = expected.split(' ').collect();
    e.sort_unstable();
    assert_eq!(scopes(v), e, "{v}");
}

/// Sends a raw HTTP/1.1 request, for what the HTTP client refuses to send (a URI past 64 KB);
/// the status and the head of the response.
async fn raw_request(n: &Node, request: String) -> (u16, String) {
    let addr = n.base.trim_start_matches("http://").to_owned();
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let _ = s.write_all(request.as_bytes());
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let text = String::from_utf8_lossy(&out).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let head = text.split("\r\n\r\n").next().unwrap_or("").to_owned();
        (status, head)
    })
    .await
    .unwrap()
}

/// True when the response sets a (non-empty) session cookie.
fn sets_session(r: &reqwest::Response) -> bool {
    r.headers().get_all("set-cookie").iter().any(|v| {
        let line = v.to_str().unwrap();
        line.split(';')
            .next()
            .and_then(|p| p.split_once('='))
            .is_some_and(|(k, v)| k.ends_with("wissel-session") && !v.is_empty())
    })
}

/// Asserts a page of ours refusing a request: the status, HTML, the security headers, and never
/// a redirect. Returns the body.
async fn assert_error_page(r: reqwest::Response, status: StatusCode, what: &str) -> String {
    assert_eq!(r.status(), status, "{what}");
    let h = r.headers();
    assert!(
        h.get("location").is_none(),
        "{what}: an error page never redirects"
    );
    assert!(
        h["content-type"].to_str().unwrap().starts_with("text/html"),
        "{what}"
    );
    assert_eq!(h["cache-control"], "no-store", "{what}");
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'"),
        "{what}"
    );
    assert_eq!(h["x-frame-options"], "DENY", "{what}");
    assert_eq!(h["referrer-policy"], "no-referrer", "{what}");
    let body = r.text().await.unwrap();
    assert!(body.contains("<html"), "{what}");
    body
}

/// Logs the browser in through the account page (no authorization request, no consent).
async fn log_in(n: &Node, b: &mut Browser, user: (&str, &str)) {
    let r = b.get(&n.url("/account")).await;
    let to = location(&r);
    assert!(to.contains("/login?"), "{to}");
    let page = b.get(&to).await;
    assert_eq!(page.status(), StatusCode::OK);
    let csrf = b.csrf();
    let r = b
        .post(
            &n.url("/login"),
            &[
                ("i", &interaction_of(&to)),
                ("csrf", &csrf),
                ("username", user.0),
                ("password", user.1),
            ],
        )
        .await;
    assert_eq!(location(&r), n.url("/account"));
}

/// Undoes the HTML escaping of an attribute value.
fn unescape(s: &str) -> String {
    s.replace("&#x2f;", "/")
        .replace("&#47;", "/")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The value of `attr="…"` right after `from` in `html`.
fn attr_after(html: &str, from: usize, attr: &str) -> Option<String> {
    let pat = format!("{attr}=\"");
    let start = html[from..].find(&pat)? + from + pat.len();
    let end = html[start..].find('"')? + start;
    Some(unescape(&html[start..end]))
}

/// The hidden fields of a form post page.
fn hidden_fields(html: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut at = 0;
    while let Some(i) = html[at..].find("<input type=\"hidden\"") {
        let pos = at + i;
        let tag_end = html[pos..].find('>').unwrap() + pos;
        let tag = &html[pos..=tag_end];
        if let (Some(name), Some(value)) = (attr_after(tag, 0, "name"), attr_after(tag, 0, "value"))
        {
            out.insert(name, value);
        }
        at = tag_end;
    }
    out
}

/// The ID token's claims, with the checks every ID token of alice at webapp passes.
fn assert_id_token(n: &Node, id_token: &str, access_token: &str) -> Value {
    let c = claims_of(id_token);
    assert_eq!(c["iss"], n.base, "{c}");
    assert!(!str_of(&c, "sub").is_empty());
    assert_eq!(c["aud"], "webapp", "{c}");
    assert_eq!(c["azp"], "webapp", "{c}");
    let iat = c["iat"].as_i64().unwrap();
    assert!(c["exp"].as_i64().unwrap() > iat, "{c}");
    assert!(c["auth_time"].as_i64().unwrap() <= iat, "{c}");
    assert_eq!(c["amr"], json!(["pwd"]), "{c}");
    assert!(!str_of(&c, "sid").is_empty());
    let alg = jsonwebtoken::decode_header(id_token).unwrap().alg;
    let alg = match alg {
        jsonwebtoken::Algorithm::ES256 => wissel_core::model::SigningAlg::ES256,
        jsonwebtoken::Algorithm::RS256 => wissel_core::model::SigningAlg::RS256,
        jsonwebtoken::Algorithm::EdDSA => wissel_core::model::SigningAlg::EdDSA,
        other => panic!("unexpected alg {other:?}"),
    };
    assert_eq!(
        str_of(&c, "at_hash"),
        wissel_crypto::pkce::left_half_hash(access_token, alg)
    );
    c
}

// ---------------------------------------------------------------------------------------------
// A. A real relying party.

/// The `openidconnect` crate, a real relying party, against a node over TLS: discovery, the code
/// flow with S256 through the real forms, the ID token checked against the JWKS (signature,
/// nonce, at_hash), userinfo, a refresh, and RP-initiated logout.
#[tokio::test]
async fn openidconnect_relying_party_over_tls() {
    use openidconnect::core::{
        CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
    };
    use openidconnect::{
        AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
        OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
    };

    let n = start_node_as(None, Arc::new(SystemClock), None, true).await;
    assert!(n.base.starts_with("https://"));
    let ca = reqwest::Certificate::from_pem(n.ca_pem.as_deref().unwrap().as_bytes()).unwrap();
    let rc = reqwest::Client::builder()
        .tls_certs_only([ca])
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let send = {
        let rc = rc.clone();
        move |req: openidconnect::HttpRequest| {
            let rc = rc.clone();
            async move {
                let (parts, body) = req.into_parts();
                let resp = rc
                    .request(parts.method, parts.uri.to_string())
                    .headers(parts.headers)
                    .body(body)
                    .send()
                    .await?;
                let mut b = openidconnect::http::Response::builder().status(resp.status());
                for (k, v) in resp.headers() {
                    b = b.header(k, v);
                }
                let bytes = resp.bytes().await?;
                Ok::<_, reqwest::Error>(b.body(bytes.to_vec()).unwrap())
            }
        }
    };

    let issuer = IssuerUrl::new(n.base.clone()).unwrap();
    let meta = CoreProviderMetadata::discover_async(issuer, &send)
        .await
        .unwrap();
    assert_eq!(meta.issuer().as_str(), n.base);
    assert_eq!(meta.authorization_endpoint().as_str(), n.url("/authorize"));
    let client = CoreClient::from_provider_metadata(
        meta,
        ClientId::new("webapp".into()),
        Some(ClientSecret::new(WEBAPP_SECRET.into())),
    )
    .set_redirect_uri(RedirectUrl::new(CB.into()).unwrap());

    let (challenge, pkce_verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf_state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();
    assert!(auth_url.as_str().starts_with(&n.url("/authorize?")));
    let auth_query = query_of(auth_url.as_str());
    assert_eq!(auth_query["code_challenge_method"], "S256");

    let mut b = Browser::over(rc.clone());
    let to = log_in_and_consent_at(&n, &mut b, auth_url.as_str(), ALICE).await;
    assert!(
        b.cookies.contains_key("__Host-wissel-session")
            && b.cookies.contains_key("__Host-wissel-csrf"),
        "over https the cookies carry the __Host- prefix: {:?}",
        b.cookies.keys()
    );
    assert!(to.starts_with(&format!("{CB}?")), "{to}");
    let q = query_of(&to);
    assert_eq!(&q["state"], csrf_state.secret());
    assert_eq!(q["iss"], n.base);

    let tokens = client
        .exchange_code(AuthorizationCode::new(q["code"].clone()))
        .unwrap()
        .set_pkce_verifier(pkce_verifier)
        .request_async(&send)
        .await
        .unwrap();
    let id_token = tokens.id_token().expect("an ID token");
    let verifier = client.id_token_verifier();
    let claims = id_token.claims(&verifier, &nonce).unwrap();
    assert!(
        id_token
            .claims(&verifier, &Nonce::new("another-nonce".into()))
            .is_err(),
        "the nonce is checked"
    );
    assert_eq!(claims.issuer().as_str(), n.base);
    assert_eq!(
        claims.email().map(|e| e.as_str().to_owned()),
        Some("alice@example.org".to_owned())
    );
    assert_eq!(
        claims
            .name()
            .and_then(|l| l.get(None))
            .map(|v| v.as_str().to_owned()),
        Some("Alice Example".to_owned())
    );
    assert!(claims.auth_time().is_some());
    let expected_hash = claims.access_token_hash().expect("at_hash");
    let actual_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(&actual_hash, expected_hash);
    let raw_id_token = serde_json::to_value(id_token).unwrap();
    let raw_id_token = raw_id_token.as_str().unwrap().to_owned();
    let raw = claims_of(&raw_id_token);
    assert!(raw["sid"].is_string(), "{raw}");

    let info: CoreUserInfoClaims = client
        .user_info(
            tokens.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .unwrap()
        .request_async(&send)
        .await
        .unwrap();
    assert_eq!(info.subject(), claims.subject());
    assert_eq!(
        info.email().map(|e| e.as_str().to_owned()),
        Some("alice@example.org".to_owned())
    );

    let first_refresh = tokens
        .refresh_token()
        .expect("offline_access: a refresh token");
    let refreshed = client
        .exchange_refresh_token(first_refresh)
        .unwrap()
        .request_async(&send)
        .await
        .unwrap();
    let next_refresh = refreshed.refresh_token().expect("a rotated refresh token");
    assert_ne!(next_refresh.secret(), first_refresh.secret());
    assert_ne!(
        refreshed.access_token().secret(),
        tokens.access_token().secret()
    );
    let again = refreshed.id_token().expect("an ID token on refresh");
    let again = again
        .claims(&verifier, |n: Option<&Nonce>| match n {
            None => Ok(()),
            Some(_) => Err("a refreshed ID token carries no nonce".to_owned()),
        })
        .unwrap();
    assert_eq!(again.subject(), claims.subject());
    assert_eq!(again.auth_time(), claims.auth_time());

    // RP-initiated logout with the hint of this session: no question, back to the client.
    let md: Value = rc
        .get(n.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let end_session = str_of(&md, "end_session_endpoint");
    assert_eq!(end_session, n.url("/logout"));
    let old_session = b.cookies["__Host-wissel-session"].clone();
    let logout = format!(
        "{end_session}?{}",
        encode(&[
            ("id_token_hint", raw_id_token.as_str()),
            ("post_logout_redirect_uri", "https://webapp.example/bye"),
            ("state", "bye-state"),
        ])
    );
    let r = b.get(&logout).await;
    assert_eq!(location(&r), "https://webapp.example/bye?state=bye-state");
    assert!(
        !b.cookies.contains_key("__Host-wissel-session"),
        "the session cookie is cleared"
    );
    let r = b.get(&n.url("/account")).await;
    assert!(location(&r).contains("/login?"), "logged out");
    // Not only the cookie: the session itself is gone.
    let mut replay = Browser::over(rc.clone());
    replay
        .cookies
        .insert("__Host-wissel-session".into(), old_session);
    let r = replay.get(&n.url("/account")).await;
    assert!(location(&r).contains("/login?"), "the old cookie is dead");
    // The grant had offline_access: it outlives the session.
    let after = client
        .exchange_refresh_token(next_refresh)
        .unwrap()
        .request_async(&send)
        .await;
    assert!(after.is_ok(), "an offline grant survives logout");
    n.server.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// B. Flow behaviour.

/// prompt=none, remembered consent, prompt=consent, prompt=login, max_age, and a client that
/// needs no consent; on a node whose clock the test moves.
#[tokio::test]
async fn prompts_max_age_and_remembered_consent() {
    let (n, clock) = clocked().await;
    let (_, challenge) = pkce();
    let base = vec![
        ("response_type", "code"),
        ("client_id", "webapp"),
        ("redirect_uri", CB),
        ("scope", "openid profile"),
        ("state", "s-p"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut v = base.clone();
        v.extend_from_slice(extra);
        v
    };
    let mut b = Browser::default();

    // prompt=none without a session.
    let before = flow_rows(&n).await;
    let r = b
        .get(&authorize_url(&n, &with(&[("prompt", "none")])))
        .await;
    let to = location(&r);
    assert!(to.starts_with(&format!("{CB}?")), "{to}");
    let q = query_of(&to);
    assert_eq!(q["error"], "login_required");
    assert_eq!(q["state"], "s-p");
    assert_eq!(q["iss"], n.base);
    assert!(!q.contains_key("code"));
    assert_eq!(
        flow_rows(&n).await,
        before,
        "nothing pending, nothing issued"
    );

    // prompt=none with a session but no consent.
    log_in(&n, &mut b, ALICE).await;
    let r = b
        .get(&authorize_url(&n, &with(&[("prompt", "none")])))
        .await;
    let q = query_of(&location(&r));
    assert_eq!(q["error"], "consent_required");
    assert_eq!(
        (q["state"].as_str(), q["iss"].as_str()),
        ("s-p", n.base.as_str())
    );

    // The first request shows the consent page; the consent is remembered.
    let r = b.get(&authorize_url(&n, &base)).await;
    let to = location(&r);
    assert!(to.contains("/consent?"), "{to}");
    let page = b.get(&to).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("Web App"), "{html}");
    let csrf = b.csrf();
    let r = b
        .post(
            &n.url("/consent"),
            &[
                ("i", &interaction_of(&to)),
                ("csrf", &csrf),
                ("decision", "allow"),
            ],
        )
        .await;
    assert!(query_of(&location(&r)).contains_key("code"));
    assert_eq!(count(&n, "SELECT COUNT(*) FROM consents").await, 1);

    // Remembered: straight to the client, also with prompt=none.
    for extra in [&[][..], &[("prompt", "none")][..]] {
        let r = b.get(&authorize_url(&n, &with(extra))).await;
        let to = location(&r);
        assert!(to.starts_with(&format!("{CB}?")), "{extra:?}: {to}");
        assert!(query_of(&to).contains_key("code"), "{extra:?}: {to}");
    }
    // A narrower request is covered too; a wider one is not.
    let r = b
        .get(&authorize_url(&n, &replaced(&base, "scope", "openid")))
        .await;
    assert!(query_of(&location(&r)).contains_key("code"));
    let r = b
        .get(&authorize_url(
            &n,
            &replaced(&base, "scope", "openid profile email"),
        ))
        .await;
    assert!(location(&r).contains("/consent?"));

    // prompt=consent asks again.
    let r = b
        .get(&authorize_url(&n, &with(&[("prompt", "consent")])))
        .await;
    assert!(location(&r).contains("/consent?"));

    // prompt=login asks for the password again even with a fresh session (same second).
    let r = b
        .get(&authorize_url(&n, &with(&[("prompt", "login")])))
        .await;
    let to = location(&r);
    assert!(
        to.contains("/login?"),
        "prompt=login must force a login: {to}"
    );

    // max_age: a login 2 s old is too old for max_age=1 and 0, fine for 5.
    advance(&clock, 2);
    for max_age in ["0", "1"] {
        let r = b
            .get(&authorize_url(&n, &with(&[("max_age", max_age)])))
            .await;
        let to = location(&r);
        assert!(to.contains("/login?"), "max_age={max_age}: {to}");
    }
    let r = b.get(&authorize_url(&n, &with(&[("max_age", "5")]))).await;
    assert!(query_of(&location(&r)).contains_key("code"));
    // Logging in again satisfies max_age=0; the ID token's auth_time is the new login.
    let (verifier, challenge2) = pkce();
    let q = replaced(&base, "code_challenge", &challenge2);
    let to = log_in_and_consent(&n, &mut b, &replaced(&q, "max_age", "0"), ALICE).await;
    let code = query_of(&to)["code"].clone();
    let t = redeem(&n, &code, &verifier).await;
    let c = claims_of(str_of(&t, "id_token"));
    assert_eq!(c["auth_time"].as_i64().unwrap(), clock.now());

    // trusted-app needs no consent, and gets a refresh token without offline_access.
    let (verifier, challenge) = pkce();
    let r = b
        .get(&authorize_url(
            &n,
            &[
                ("response_type", "code"),
                ("client_id", "trusted-app"),
                ("redirect_uri", "https://trusted.example/cb"),
                ("scope", "openid profile"),
                ("state", "s-t"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        ))
        .await;
    let to = location(&r);
    assert!(
        to.starts_with("https://trusted.example/cb?"),
        "no consent page: {to}"
    );
    let t = token(
        &n,
        Some(("trusted-app", WEBAPP_SECRET)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &query_of(&to)["code"]),
            ("redirect_uri", "https://trusted.example/cb"),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(t.0, StatusCode::OK, "{}", t.1);
    assert!(t.1["refresh_token"].is_string(), "{}", t.1);
    assert_eq!(
        count(
            &n,
            "SELECT COUNT(*) FROM consents WHERE client_id = 'trusted-app'"
        )
        .await,
        0
    );
    n.server.shutdown().await;
}

/// Response modes fragment and form_post; a public client redeeming with its client_id only;
/// refresh tokens only with offline_access; and what the ID token says for each scope.
#[tokio::test]
async fn response_modes_public_clients_and_id_token_claims() {
    let n = node().await;
    let mut b = Browser::default();
    // The first request consents to everything the later ones ask.
    let (code, verifier) = webapp_code(&n, &mut b, "openid profile email offline_access").await;
    let t = redeem(&n, &code, &verifier).await;
    assert!(t["refresh_token"].is_string(), "offline_access: {t}");
    let all = assert_id_token(&n, str_of(&t, "id_token"), str_of(&t, "access_token"));
    assert_eq!(all["nonce"], "nn");
    assert_eq!(all["name"], "Alice Example");
    assert_eq!(all["given_name"], "Alice");
    assert_eq!(all["email"], "alice@example.org");
    assert_eq!(all["email_verified"], true);
    let now = SystemClock.now();
    assert!((all["iat"].as_i64().unwrap() - now).abs() <= 5);
    assert!((all["auth_time"].as_i64().unwrap() - now).abs() <= 5);

    // Without offline_access (webapp is not configured for refresh tokens): none.
    for (scope, has_name, has_email) in [
        ("openid", false, false),
        ("openid profile", true, false),
        ("openid email", false, true),
    ] {
        let (code, verifier) = webapp_code(&n, &mut b, scope).await;
        let t = redeem(&n, &code, &verifier).await;
        assert!(t.get("refresh_token").is_none(), "{scope}: {t}");
        assert_scope(&t["scope"], scope);
        let c = assert_id_token(&n, str_of(&t, "id_token"), str_of(&t, "access_token"));
        assert_eq!(c["sub"], all["sub"]);
        assert_eq!(c["sid"], all["sid"], "one session");
        assert_eq!(c["auth_time"], all["auth_time"]);
        assert_eq!(c.get("name").is_some(), has_name, "{scope}: {c}");
        assert_eq!(c.get("given_name").is_some(), has_name, "{scope}: {c}");
        assert_eq!(c.get("email").is_some(), has_email, "{scope}: {c}");
        assert_eq!(c.get("email_verified").is_some(), has_email, "{scope}: {c}");
    }

    // response_mode=fragment: the code in the fragment.
    let (verifier, challenge) = pkce();
    let request = [
        ("response_type", "code"),
        ("client_id", "webapp"),
        ("redirect_uri", CB),
        ("scope", "openid"),
        ("state", "s-f"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let r = b
        .get(&authorize_url(
            &n,
            &replaced(&request, "response_mode", "fragment"),
        ))
        .await;
    let to = location(&r);
    assert!(to.starts_with(&format!("{CB}#")), "{to}");
    let (_, fragment) = to.split_once('#').unwrap();
    let f: HashMap<String, String> = form_urlencoded::parse(fragment.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    assert_eq!(
        (f["state"].as_str(), f["iss"].as_str()),
        ("s-f", n.base.as_str())
    );
    redeem(&n, &f["code"], &verifier).await;

    // response_mode=form_post: a page that posts code, state and iss to the redirect URI.
    let r = b
        .get(&authorize_url(
            &n,
            &replaced(&request, "response_mode", "form_post"),
        ))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("location").is_none());
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(r.headers()["cache-control"], "no-store");
    let html = r.text().await.unwrap();
    let form_at = html.find("<form").unwrap();
    assert_eq!(
        attr_after(&html, form_at, "method").as_deref(),
        Some("post")
    );
    assert_eq!(attr_after(&html, form_at, "action").as_deref(), Some(CB));
    let fields = hidden_fields(&html);
    assert_eq!(fields.len(), 3, "{fields:?}");
    assert_eq!(fields["state"], "s-f");
    assert_eq!(fields["iss"], n.base);
    redeem(&n, &fields["code"], &verifier).await;

    // A public client: PKCE and its client_id, no secret.
    let (verifier, challenge) = pkce();
    let to = log_in_and_consent(
        &n,
        &mut b,
        &[
            ("response_type", "code"),
            ("client_id", "public-app"),
            ("redirect_uri", "com.example.app:/cb"),
            ("scope", "openid offline_access"),
            ("state", "s-pub"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
        ALICE,
    )
    .await;
    assert!(to.starts_with("com.example.app:/cb?"), "{to}");
    let code = query_of(&to)["code"].clone();
    let t = token(
        &n,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "public-app"),
            ("code", &code),
            ("redirect_uri", "com.example.app:/cb"),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(t.0, StatusCode::OK, "{}", t.1);
    assert!(t.1["refresh_token"].is_string(), "{}", t.1);
    let c = claims_of(str_of(&t.1, "id_token"));
    assert_eq!(c["aud"], "public-app");
    // Its refresh token works with the client_id alone, too.
    let r = token(
        &n,
        None,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "public-app"),
            ("refresh_token", str_of(&t.1, "refresh_token")),
        ],
    )
    .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    n.server.shutdown().await;
}

/// UserInfo by GET and POST and its bearer errors; a resource indicator limits the access
/// token to the API and to what the user is authorized for.
#[tokio::test]
async fn userinfo_and_resource_indicators() {
    let n = node().await;
    let mut b = Browser::default();
    let (code, verifier) = webapp_code(&n, &mut b, "openid profile email").await;
    let t = redeem(&n, &code, &verifier).await;
    let at = str_of(&t, "access_token").to_owned();
    let sub = claims_of(str_of(&t, "id_token"))["sub"].clone();

    let get = http()
        .get(n.url("/userinfo"))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), StatusCode::OK);
    assert_eq!(get.headers()["cache-control"], "no-store");
    let get: Value = get.json().await.unwrap();
    assert_eq!(get["sub"], sub);
    assert_eq!(get["name"], "Alice Example");
    assert_eq!(get["email"], "alice@example.org");
    assert_eq!(get["email_verified"], true);
    let post = http()
        .post(n.url("/userinfo"))
        .form(&[("access_token", at.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), StatusCode::OK);
    assert_eq!(post.json::<Value>().await.unwrap(), get);

    // Only what the token's scope releases.
    let (code, verifier) = webapp_code(&n, &mut b, "openid").await;
    let only = redeem(&n, &code, &verifier).await;
    let v: Value = http()
        .get(n.url("/userinfo"))
        .bearer_auth(str_of(&only, "access_token"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v, json!({"sub": sub}));

    // A garbage token: 401 with the challenge.
    for r in [
        http()
            .get(n.url("/userinfo"))
            .bearer_auth("garbage")
            .send()
            .await
            .unwrap(),
        http()
            .post(n.url("/userinfo"))
            .form(&[("access_token", "garbage")])
            .send()
            .await
            .unwrap(),
    ] {
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(challenge.starts_with("Bearer "), "{challenge}");
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    }
    // No token at all: 401 with a bare challenge.
    let r = http().get(n.url("/userinfo")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    // A token without openid (a client's own token): 403 insufficient_scope.
    let cc = n.token(&[("audience", "orders-api")]).await;
    let r = http()
        .get(n.url("/userinfo"))
        .bearer_auth(str_of(&cc, "access_token"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );

    // A resource indicator: the access token is for orders-api, with what alice may have.
    let (verifier, challenge) = pkce();
    let to = log_in_and_consent(
        &n,
        &mut b,
        &[
            ("response_type", "code"),
            ("client_id", "webapp"),
            ("redirect_uri", CB),
            ("scope", "openid orders:read orders:write"),
            ("resource", "https://orders.example/"),
            ("state", "s-r"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
        ALICE,
    )
    .await;
    let t = redeem(&n, &query_of(&to)["code"], &verifier).await;
    let scope = str_of(&t, "scope").to_owned();
    assert!(scope.split(' ').any(|s| s == "orders:read"), "{scope}");
    assert!(!scope.split(' ').any(|s| s == "orders:write"), "{scope}");
    let c = claims_of(str_of(&t, "access_token"));
    assert_eq!(c["aud"], "orders-api", "{c}");
    let granted = str_of(&c, "scope");
    assert!(granted.split(' ').any(|s| s == "orders:read"), "{c}");
    assert!(!granted.split(' ').any(|s| s == "orders:write"), "{c}");
    let info = n
        .introspect_as(("orders-api", ORDERS_SECRET), str_of(&t, "access_token"))
        .await;
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(info["client_id"], "webapp", "{info}");

    // bob holds no scope of orders-api: access_denied, after his login.
    let mut bob = Browser::default();
    let before = flow_rows(&n).await;
    let (_, challenge) = pkce();
    let to = log_in_and_consent(
        &n,
        &mut bob,
        &[
            ("response_type", "code"),
            ("client_id", "webapp"),
            ("redirect_uri", CB),
            ("scope", "orders:read orders:write"),
            ("resource", "https://orders.example/"),
            ("state", "s-bob"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
        ("bob", "bob-password"),
    )
    .await;
    assert!(to.starts_with(&format!("{CB}?")), "{to}");
    let q = query_of(&to);
    assert_eq!(q["error"], "access_denied", "{to}");
    assert_eq!(
        (q["state"].as_str(), q["iss"].as_str()),
        ("s-bob", n.base.as_str())
    );
    assert!(!q.contains_key("code"));
    let after = flow_rows(&n).await;
    for name in ["consents", "grants", "codes"] {
        assert_eq!(row(&after, name), row(&before, name), "{name}");
    }
    n.server.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// C. Bad input.

/// A client or redirect URI that is not exactly right gets an error page, never a redirect; the
/// loopback rule of RFC 8252 §7.3 allows any port.
#[tokio::test]
async fn unknown_clients_and_redirect_uris_get_an_error_page() {
    let n = node().await;
    let (_, challenge) = pkce();
    let request = [
        ("response_type", "code"),
        ("client_id", "webapp"),
        ("redirect_uri", CB),
        ("scope", "openid"),
        ("state", "s-bad"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let before = flow_rows(&n).await;
    let written = n.written().await;
    for uri in [
        "https://webapp.example/cb/",
        "https://WEBAPP.example/cb",
        "https://webapp.example/CB",
        "https://webapp.example/cb?x=1",
        "https://webapp.example/cb#frag",
        "https://user@webapp.example/cb",
        "https://webapp.example:444/cb",
        "http://webapp.example/cb",
        "https://evil.example/cb",
        "https://webapp.example.evil.example/cb",
        "https://webapp.example/cb/../cb",
        "https://webapp.example/cb%2F",
        " https://webapp.example/cb",
        "https://webapp.example/bye",
        "com.example.app:/cb",
    ] {
        let r = http()
            .get(authorize_url(&n, &replaced(&request, "redirect_uri", uri)))
            .send()
            .await
            .unwrap();
        assert_error_page(r, StatusCode::BAD_REQUEST, uri).await;
    }
    // Several registered: redirect_uri is required.
    let r = http()
        .get(authorize_url(&n, &without(&request, &["redirect_uri"])))
        .send()
        .await
        .unwrap();
    assert_error_page(r, StatusCode::BAD_REQUEST, "no redirect_uri").await;
    // Unknown, missing and repeated client_id, a repeated redirect_uri, a client without the
    // code flow.
    for (what, query) in [
        (
            "unknown client",
            encode(&replaced(&request, "client_id", "nope")),
        ),
        ("missing client", encode(&without(&request, &["client_id"]))),
        (
            "repeated client",
            format!("{}&client_id=webapp", encode(&request)),
        ),
        (
            "repeated redirect_uri",
            format!(
                "{}&redirect_uri={}",
                encode(&request),
                "https%3A%2F%2Fwebapp.example%2Fcb"
            ),
        ),
        (
            "a client_credentials client",
            encode(&replaced(&request, "client_id", "backend")),
        ),
    ] {
        let r = http()
            .get(n.url(&format!("/authorize?{query}")))
            .send()
            .await
            .unwrap();
        assert_error_page(r, StatusCode::BAD_REQUEST, what).await;
    }
    // The same by POST.
    let r = http()
        .post(n.url("/authorize"))
        .form(&replaced(
            &request,
            "redirect_uri",
            "https://evil.example/cb",
        ))
        .send()
        .await
        .unwrap();
    assert_error_page(r, StatusCode::BAD_REQUEST, "POST, foreign redirect_uri").await;
    assert_eq!(
        flow_rows(&n).await,
        before,
        "nothing pending, nothing issued"
    );
    assert_eq!(n.written().await, written);

    // Loopback: any port for public-app's http://127.0.0.1/cb; the port is part of the
    // redirect, and the token request must name the same URI.
    let (verifier, challenge) = pkce();
    let loopback = "http://127.0.0.1:54321/cb";
    let query = [
        ("response_type", "code"),
        ("client_id", "public-app"),
        ("redirect_uri", loopback),
        ("scope", "openid"),
        ("state", "s-lo"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let mut b = Browser::default();
    let r = b.get(&authorize_url(&n, &query)).await;
    assert!(location(&r).starts_with(&n.url("/login?")));
    let to = log_in_and_consent(&n, &mut b, &query, ALICE).await;
    assert!(to.starts_with(&format!("{loopback}?")), "{to}");
    let code = query_of(&to)["code"].clone();
    let t = token(
        &n,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "public-app"),
            ("code", &code),
            ("redirect_uri", loopback),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(t.0, StatusCode::OK, "{}", t.1);
    // Loopback by name or with user info is not loopback.
    for uri in [
        "http://localhost:54321/cb",
        "http://127.0.0.1.evil.example:54321/cb",
        "http://user@127.0.0.1:54321/cb",
        "http://127.0.0.1:54321/cb/",
    ] {
        let r = http()
            .get(authorize_url(&n, &replaced(&query, "redirect_uri", uri)))
            .send()
            .await
            .unwrap();
        assert_error_page(r, StatusCode::BAD_REQUEST, uri).await;
    }
    n.server.shutdown().await;
}

/// The loopback rule of RFC 8252 §7.3 (any port on `http://127.0.0.1` or `[::1]`) is for native
/// apps: a public client, or one registered with `application_type = "native"`. A confidential
/// web client that registered `http://127.0.0.1/cb` gets exactly that URI and nothing else, for
/// redirects and for logout alike.
#[tokio::test]
async fn loopback_redirect_uris_take_any_port_only_for_native_apps() {
    let (_, challenge) = pkce();
    let request = |client: &'static str, uri: &'static str| {
        vec![
            ("response_type", "code"),
            ("client_id", client),
            ("redirect_uri", uri),
            ("scope", "openid"),
            ("state", "s-lo"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ]
    };
    let to_login = |n: &Node, r: &reqwest::Response, what: &str| {
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{what}");
        assert!(location(r).starts_with(&n.url("/login?")), "{what}");
    };

    // `webapp` is confidential and registers http://127.0.0.1/cb and http://127.0.0.1/bye.
    let n = node().await;
    let before = flow_rows(&n).await;
    let r = plain_get(&authorize_url(
        &n,
        &request("webapp", "http://127.0.0.1:54321/cb"),
    ))
    .await;
    assert_error_page(r, StatusCode::BAD_REQUEST, "webapp, another port").await;
    assert_eq!(flow_rows(&n).await, before, "nothing pending");
    let r = plain_get(&authorize_url(
        &n,
        &request("webapp", "http://127.0.0.1/cb"),
    ))
    .await;
    to_login(&n, &r, "webapp, the URI exactly as registered");
    let r = plain_get(&n.url(&format!(
        "/logout?{}",
        encode(&[
            ("client_id", "webapp"),
            ("post_logout_redirect_uri", "http://127.0.0.1:54321/bye"),
        ])
    )))
    .await;
    assert_error_page(r, StatusCode::BAD_REQUEST, "webapp, logout to another port").await;
    // A public client is a native app: any port.
    let r = plain_get(&authorize_url(
        &n,
        &request("public-app", "http://127.0.0.1:54321/cb"),
    ))
    .await;
    to_login(&n, &r, "public-app, another port");
    n.server.shutdown().await;

    // A confidential client registered as a native app: any port, for redirects and logout.
    let n = start_node_edited(None, Arc::new(SystemClock), None, false, |t| {
        format!(
            "{t}\n[[clients]]\nid = \"native-app\"\nsecret = \"{WEBAPP_SECRET}\"\n\
             application_type = \"native\"\ngrant_types = [\"authorization_code\"]\n\
             redirect_uris = [\"http://127.0.0.1/cb\"]\n\
             post_logout_redirect_uris = [\"http://127.0.0.1/bye\"]\n"
        )
    })
    .await;
    let r = plain_get(&authorize_url(
        &n,
        &request("native-app", "http://127.0.0.1:54321/cb"),
    ))
    .await;
    to_login(&n, &r, "native-app, another port");
    let r = plain_get(&n.url(&format!(
        "/logout?{}",
        encode(&[
            ("client_id", "native-app"),
            ("post_logout_redirect_uri", "http://127.0.0.1:54321/bye"),
        ])
    )))
    .await;
    assert_ne!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "native-app, logout to another port"
    );
    n.server.shutdown().await;
}

/// A GET without cookies.
async fn plain_get(url: &str) -> reqwest::Response {
    http().get(url).send().await.unwrap()
}

/// With the client and redirect URI right, every other problem goes back to the client with
/// its error, `iss` and (when it is valid) `state`; nothing is stored.
#[tokio::test]
async fn bad_authorization_requests_go_back_to_the_client() {
    let n = node().await;
    let mut b = Browser::default();
    // A logged-in browser: an error must not depend on a login page hiding it.
    log_in(&n, &mut b, ALICE).await;
    let (verifier, challenge) = pkce();
    let request = [
        ("response_type", "code"),
        ("client_id", "webapp"),
        ("redirect_uri", CB),
        ("scope", "openid"),
        ("state", "s-err"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let public = [
        ("response_type", "code"),
        ("client_id", "public-app"),
        ("redirect_uri", "http://127.0.0.1/cb"),
        ("scope", "openid"),
        ("state", "s-err"),
    ];
    let long_state = "s".repeat(3000);
    let long_hint = "h".repeat(3000);
    let huge_hint = "h".repeat(20 * 1024);
    let huge_state = "é".repeat(10 * 1024);
    let before = flow_rows(&n).await;
    let written = n.written().await;
    let cases: Vec<(&str, String, &str, &str, bool)> = vec![
        (
            "missing response_type",
            encode(&without(&request, &["response_type"])),
            CB,
            "invalid_request",
            true,
        ),
        (
            "response_type=token",
            encode(&replaced(&request, "response_type", "token")),
            CB,
            "unsupported_response_type",
            true,
        ),
        (
            "response_type=code id_token",
            encode(&replaced(&request, "response_type", "code id_token")),
            CB,
            "unsupported_response_type",
            true,
        ),
        (
            "unknown scope",
            encode(&replaced(&request, "scope", "openid bogus")),
            CB,
            "invalid_scope",
            true,
        ),
        (
            "an API scope without its resource",
            encode(&replaced(&request, "scope", "openid orders:read")),
            CB,
            "invalid_scope",
            true,
        ),
        (
            "missing code_challenge (confidential client)",
            encode(&without(
                &request,
                &["code_challenge", "code_challenge_method"],
            )),
            CB,
            "invalid_request",
            true,
        ),
        (
            "missing code_challenge (public client)",
            encode(&public),
            "http://127.0.0.1/cb",
            "invalid_request",
            true,
        ),
        (
            "code_challenge_method=plain",
            encode(&replaced(
                &replaced(&request, "code_challenge_method", "plain"),
                "code_challenge",
                &verifier,
            )),
            CB,
            "invalid_request",
            true,
        ),
        (
            "code_challenge without method (plain)",
            encode(&without(&request, &["code_challenge_method"])),
            CB,
            "invalid_request",
            true,
        ),
        (
            "repeated scope",
            format!("{}&scope=profile", encode(&request)),
            CB,
            "invalid_request",
            true,
        ),
        (
            "oversized state",
            encode(&replaced(&request, "state", &long_state)),
            CB,
            "invalid_request",
            false,
        ),
        (
            "request object",
            encode(&replaced(&request, "request", "eyJhbGciOiJub25lIn0.e30.")),
            CB,
            "request_not_supported",
            true,
        ),
        (
            "request_uri",
            encode(&replaced(
                &request,
                "request_uri",
                "https://webapp.example/r",
            )),
            CB,
            "request_uri_not_supported",
            true,
        ),
        (
            "unknown prompt",
            encode(&replaced(&request, "prompt", "bogus")),
            CB,
            "invalid_request",
            true,
        ),
        (
            "prompt=none login",
            encode(&replaced(&request, "prompt", "none login")),
            CB,
            "invalid_request",
            true,
        ),
        (
            "negative max_age",
            encode(&replaced(&request, "max_age", "-1")),
            CB,
            "invalid_request",
            true,
        ),
        (
            "unknown response_mode",
            encode(&replaced(&request, "response_mode", "web_message")),
            CB,
            "invalid_request",
            true,
        ),
        (
            "unknown resource",
            encode(&replaced(&request, "resource", "https://nowhere.example/")),
            CB,
            "invalid_target",
            true,
        ),
        (
            "3 KB login_hint",
            encode(&replaced(&request, "login_hint", &long_hint)),
            CB,
            "invalid_request",
            true,
        ),
        (
            "20 KB login_hint",
            encode(&replaced(&request, "login_hint", &huge_hint)),
            CB,
            "invalid_request",
            true,
        ),
        (
            "20 KB state of two-byte characters",
            encode(&replaced(&request, "state", &huge_state)),
            CB,
            "invalid_request",
            false,
        ),
    ];
    for (what, query, redirect, error, has_state) in &cases {
        let r = b.get(&n.url(&format!("/authorize?{query}"))).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{what}");
        let to = location(&r);
        assert!(to.starts_with(&format!("{redirect}?")), "{what}: {to}");
        let q = query_of(&to);
        assert_eq!(
            q.get("error").map(String::as_str),
            Some(*error),
            "{what}: {to}"
        );
        assert!(
            q.get("error_description").is_some_and(|d| !d.is_empty()),
            "{what}"
        );
        assert_eq!(q.get("iss"), Some(&n.base), "{what}: {to}");
        assert_eq!(
            q.get("state").map(String::as_str),
            has_state.then_some("s-err"),
            "{what}: {to}"
        );
        assert!(!q.contains_key("code"), "{what}");
    }
    // The same errors by POST.
    let r = b
        .post(
            &n.url("/authorize"),
            &replaced(&request, "response_type", "token"),
        )
        .await;
    assert_eq!(
        query_of(&location(&r))["error"],
        "unsupported_response_type"
    );
    // A request past the size limit: a page, no panic. By POST, the node's own limit.
    let pad = "x".repeat(100 * 1024);
    let r = http()
        .post(n.url("/authorize"))
        .form(&replaced(&request, "pad", &pad))
        .send()
        .await
        .unwrap();
    assert_error_page(r, StatusCode::BAD_REQUEST, "100 KB form").await;
    // By GET, a 100 KB URI is past what HTTP/1 parsing takes at all (64 KB): 414 from hyper,
    // before any handler, and no redirect.
    let huge = format!(
        "GET /authorize?{}&pad={pad} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        encode(&request)
    );
    let (status, head) = raw_request(&n, huge).await;
    assert_eq!(status, 414, "URI Too Long");
    assert!(!head.to_ascii_lowercase().contains("\r\nlocation:"));
    assert_eq!(
        flow_rows(&n).await,
        before,
        "nothing pending, nothing issued"
    );
    assert_eq!(n.written().await, written);
    // The node is well.
    let r = b.get(&authorize_url(&n, &request)).await;
    assert!(location(&r).contains("/consent?"));
    n.server.shutdown().await;
}

/// At the token endpoint a code needs its own PKCE verifier (no downgrade to plain, none
/// missing, none of another code) and the redirect URI of its request.
#[tokio::test]
async fn pkce_and_redirect_uri_at_the_token_endpoint() {
    let n = node().await;
    let mut b = Browser::default();
    let scope = "openid offline_access";
    // A first code (with the consent) that works, as a baseline.
    let (code, verifier) = webapp_code(&n, &mut b, scope).await;
    redeem(&n, &code, &verifier).await;

    let before = flow_rows(&n).await;
    let written = n.written().await;
    let (other_code, other_verifier) = webapp_code(&n, &mut b, scope).await;
    let exchange = |code: String, verifier: Option<String>, redirect: Option<&'static str>| {
        let n = &n;
        async move {
            let mut form = vec![
                ("grant_type", "authorization_code".to_owned()),
                ("code", code),
            ];
            if let Some(r) = redirect {
                form.push(("redirect_uri", r.to_owned()));
            }
            if let Some(v) = verifier {
                form.push(("code_verifier", v));
            }
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            token(n, WEBAPP, &form).await
        }
    };
    let mut spent = 0;
    for what in [
        "plain: the challenge as verifier",
        "no verifier",
        "a wrong verifier",
        "the verifier of another code",
        "no redirect_uri",
        "another registered redirect_uri",
        "a near-miss redirect_uri",
    ] {
        let (code, verifier) = webapp_code(&n, &mut b, scope).await;
        let challenge = wissel_crypto::pkce::s256(&verifier);
        let (verifier, redirect, error) = match what {
            "plain: the challenge as verifier" => (Some(challenge), Some(CB), "invalid_grant"),
            "no verifier" => (None, Some(CB), "invalid_grant"),
            "a wrong verifier" => (Some(pkce().0), Some(CB), "invalid_grant"),
            "the verifier of another code" => {
                (Some(other_verifier.clone()), Some(CB), "invalid_grant")
            }
            "no redirect_uri" => (Some(verifier), None, "invalid_request"),
            "another registered redirect_uri" => {
                (Some(verifier), Some("http://127.0.0.1/cb"), "invalid_grant")
            }
            _ => (
                Some(verifier),
                Some("https://webapp.example/cb/"),
                "invalid_grant",
            ),
        };
        let got = exchange(code, verifier, redirect).await;
        assert_token_error(&got, error, what);
        spent += 1;
    }
    // Every refused code is spent, and nothing else came of them.
    let after = flow_rows(&n).await;
    assert_eq!(
        row(&after, "spent codes"),
        row(&before, "spent codes") + spent
    );
    assert_eq!(
        row(&after, "refresh tokens"),
        row(&before, "refresh tokens")
    );
    assert_eq!(n.written().await, written);
    // The other code was not harmed by its verifier being tried elsewhere.
    let t = exchange(other_code, Some(other_verifier), Some(CB)).await;
    assert_eq!(t.0, StatusCode::OK, "{}", t.1);

    // A client allowed plain PKCE can use it.
    let plain_verifier = pkce().0;
    let to = log_in_and_consent(
        &n,
        &mut b,
        &[
            ("response_type", "code"),
            ("client_id", "plain-app"),
            ("redirect_uri", "https://plain.example/cb"),
            ("scope", "openid"),
            ("state", "s-plain"),
            ("code_challenge", &plain_verifier),
            ("code_challenge_method", "plain"),
        ],
        ALICE,
    )
    .await;
    assert!(to.starts_with("https://plain.example/cb?"), "{to}");
    let t = token(
        &n,
        Some(("plain-app", WEBAPP_SECRET)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &query_of(&to)["code"]),
            ("redirect_uri", "https://plain.example/cb"),
            ("code_verifier", &plain_verifier),
        ],
    )
    .await;
    assert_eq!(t.0, StatusCode::OK, "{}", t.1);
    n.server.shutdown().await;
}

/// A code works once, for its own client, within its lifetime: a replay revokes what the first
/// use got; a code tried by another client is spent; an old code is refused.
#[tokio::test]
async fn codes_work_once_for_their_client_and_expire() {
    let (n, clock) = clocked().await;
    let mut b = Browser::default();
    let scope = "openid offline_access";
    let webapp = ("webapp", WEBAPP_SECRET);

    // Replay.
    let (code, verifier) = webapp_code(&n, &mut b, scope).await;
    let first = redeem(&n, &code, &verifier).await;
    let at = str_of(&first, "access_token");
    let rt = str_of(&first, "refresh_token");
    assert!(works(&n, at).await);
    let again = token(
        &n,
        WEBAPP,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CB),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_token_error(&again, "invalid_grant", "replayed code");
    assert_dead(&n, at, "the first access token after the replay").await;
    assert_token_error(
        &refresh(&n, webapp, rt, None).await,
        "invalid_grant",
        "refresh token of a replayed code",
    );

    // The same for an access token of an API, as the API sees it at introspection.
    let orders = ("orders-api", ORDERS_SECRET);
    let (code, verifier) = webapp_code_with(
        &n,
        &mut b,
        "openid orders:read offline_access",
        &[("resource", "https://orders.example/")],
    )
    .await;
    let first = redeem(&n, &code, &verifier).await;
    let at = str_of(&first, "access_token");
    assert!(active(&n, orders, at).await);
    let again = token(
        &n,
        WEBAPP,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CB),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_token_error(&again, "invalid_grant", "replayed code (orders-api)");
    assert!(!active(&n, orders, at).await, "revoked by the replay");
    assert_token_error(
        &refresh(&n, webapp, str_of(&first, "refresh_token"), None).await,
        "invalid_grant",
        "refresh token of a replayed code (orders-api)",
    );

    // Another client's code: refused and spent.
    let (code, verifier) = webapp_code(&n, &mut b, scope).await;
    let before = flow_rows(&n).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CB),
        ("code_verifier", verifier.as_str()),
    ];
    assert_token_error(
        &token(&n, Some(("trusted-app", WEBAPP_SECRET)), &form).await,
        "invalid_grant",
        "a webapp code at trusted-app",
    );
    let after = flow_rows(&n).await;
    assert_eq!(row(&after, "spent codes"), row(&before, "spent codes") + 1);
    assert_eq!(
        row(&after, "refresh tokens"),
        row(&before, "refresh tokens")
    );
    assert_token_error(
        &token(&n, WEBAPP, &form).await,
        "invalid_grant",
        "the rightful client after another tried its code",
    );
    // An unknown client cannot even try.
    let got = token(&n, Some(("nope", WEBAPP_SECRET)), &form).await;
    assert_token_error(&got, "invalid_client", "unknown client");

    // Expiry: 60 s.
    let (code, verifier) = webapp_code(&n, &mut b, scope).await;
    advance(&clock, 61);
    let before = flow_rows(&n).await;
    let got = token(
        &n,
        WEBAPP,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CB),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_token_error(&got, "invalid_grant", "expired code");
    let after = flow_rows(&n).await;
    assert_eq!(
        row(&after, "refresh tokens"),
        row(&before, "refresh tokens")
    );
    assert_eq!(
        row(&after, "revoked grants"),
        row(&before, "revoked grants")
    );
    // Made up and malformed codes.
    for bad in ["x", "A".repeat(43).as_str(), "A".repeat(5000).as_str()] {
        let got = token(
            &n,
            WEBAPP,
            &[
                ("grant_type", "authorization_code"),
                ("code", bad),
                ("redirect_uri", CB),
                ("code_verifier", &verifier),
            ],
        )
        .await;
        assert_token_error(&got, "invalid_grant", "made-up code");
    }
    n.server.shutdown().await;
}

/// Refresh tokens rotate; a reused one revokes its family; another client cannot use (or
/// burn) one; a refresh narrows the scope, never widens it.
#[tokio::test]
async fn refresh_tokens_rotate_detect_reuse_and_only_narrow() {
    let n = node().await;
    let mut b = Browser::default();
    let webapp = ("webapp", WEBAPP_SECRET);
    let (code, verifier) = webapp_code(&n, &mut b, "openid email offline_access").await;
    let t0 = redeem(&n, &code, &verifier).await;
    let id0 = claims_of(str_of(&t0, "id_token"));
    let r1 = str_of(&t0, "refresh_token").to_owned();

    let (status, t1) = refresh(&n, webapp, &r1, None).await;
    assert_eq!(status, StatusCode::OK, "{t1}");
    let r2 = str_of(&t1, "refresh_token").to_owned();
    assert_ne!(r1, r2, "rotated");
    assert_scope(&t1["scope"], "openid email offline_access");
    let id1 = claims_of(str_of(&t1, "id_token"));
    assert_eq!(id1["sub"], id0["sub"]);
    assert_eq!(id1["auth_time"], id0["auth_time"]);
    assert_eq!(id1["sid"], id0["sid"]);
    assert!(id1.get("nonce").is_none(), "{id1}");

    // Another client: refused, and R2 is not burnt.
    let before = flow_rows(&n).await;
    assert_token_error(
        &refresh(&n, ("trusted-app", WEBAPP_SECRET), &r2, None).await,
        "invalid_grant",
        "another client's refresh token",
    );
    // Widening: refused, R2 not burnt either.
    assert_token_error(
        &refresh(&n, webapp, &r2, Some("openid email profile")).await,
        "invalid_scope",
        "widening",
    );
    assert_token_error(
        &refresh(&n, webapp, &r2, Some("openid bogus")).await,
        "invalid_scope",
        "an unknown scope",
    );
    assert_eq!(flow_rows(&n).await, before, "nothing written by refusals");

    // Narrowing: the new access token has the narrower scope.
    let (status, t2) = refresh(&n, webapp, &r2, Some("openid")).await;
    assert_eq!(status, StatusCode::OK, "{t2}");
    assert_scope(&t2["scope"], "openid");
    let at2 = str_of(&t2, "access_token").to_owned();
    assert_scope(&claims_of(&at2)["scope"], "openid");
    let info: Value = http()
        .get(n.url("/userinfo"))
        .bearer_auth(&at2)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(info.get("email").is_none(), "{info}");
    assert!(
        claims_of(str_of(&t2, "id_token")).get("email").is_none(),
        "the narrowed ID token releases no email"
    );
    let r3 = str_of(&t2, "refresh_token").to_owned();
    assert!(works(&n, &at2).await);

    // Reuse of R1 (rotated twice over) and of R2: the family is revoked.
    assert_token_error(
        &refresh(&n, webapp, &r1, None).await,
        "invalid_grant",
        "reused R1",
    );
    assert_token_error(
        &refresh(&n, webapp, &r3, None).await,
        "invalid_grant",
        "R3 after the reuse",
    );
    assert_dead(&n, &at2, "T2 after the reuse").await;
    assert_dead(&n, str_of(&t1, "access_token"), "T1 after the reuse").await;
    assert_dead(&n, str_of(&t0, "access_token"), "T0 after the reuse").await;

    // The plain reuse case: R1' → R2'; R1' again → refused; then R2' is dead too.
    let (code, verifier) = webapp_code(&n, &mut b, "openid offline_access").await;
    let t = redeem(&n, &code, &verifier).await;
    let r1 = str_of(&t, "refresh_token").to_owned();
    let (status, t) = refresh(&n, webapp, &r1, None).await;
    assert_eq!(status, StatusCode::OK, "{t}");
    let r2 = str_of(&t, "refresh_token").to_owned();
    let at2 = str_of(&t, "access_token").to_owned();
    assert_token_error(
        &refresh(&n, webapp, &r1, None).await,
        "invalid_grant",
        "R1 again",
    );
    assert_token_error(
        &refresh(&n, webapp, &r2, None).await,
        "invalid_grant",
        "R2 after",
    );
    assert_dead(&n, &at2, "the access token of R2").await;
    // The owner can use an unrelated grant's token that another client tried.
    let (code, verifier) = webapp_code(&n, &mut b, "openid offline_access").await;
    let t = redeem(&n, &code, &verifier).await;
    let r = str_of(&t, "refresh_token");
    assert_token_error(
        &refresh(&n, ("trusted-app", WEBAPP_SECRET), r, None).await,
        "invalid_grant",
        "another client's refresh token",
    );
    let (status, v) = refresh(&n, webapp, r, None).await;
    assert_eq!(status, StatusCode::OK, "the owner still can: {v}");
    n.server.shutdown().await;
}

/// The login and consent forms: CSRF, one generic message for every failed login, oversized
/// input, and the throttle after five failures, kept in the shared store.
#[tokio::test]
async fn login_and_consent_forms_refuse_bad_input() {
    let n = node().await;
    let mut b = Browser::default();
    let (_, challenge) = pkce();
    let request = [
        ("response_type", "code"),
        ("client_id", "webapp"),
        ("redirect_uri", CB),
        ("scope", "openid"),
        ("state", "s-form"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let r = b.get(&authorize_url(&n, &request)).await;
    let login_url = location(&r);
    let i = interaction_of(&login_url);
    assert_eq!(b.get(&login_url).await.status(), StatusCode::OK);
    let csrf = b.csrf();
    let before = flow_rows(&n).await;

    // CSRF: missing or wrong.
    for (what, token) in [("no csrf", None), ("wrong csrf", Some("A".repeat(43)))] {
        let mut form = vec![
            ("i", i.as_str()),
            ("username", "alice"),
            ("password", "alice-password"),
        ];
        if let Some(t) = &token {
            form.push(("csrf", t.as_str()));
        }
        let r = b.post(&n.url("/login"), &form).await;
        assert!(!sets_session(&r), "{what}");
        assert_error_page(r, StatusCode::FORBIDDEN, what).await;
    }
    assert_eq!(flow_rows(&n).await, before);

    // Failed logins: one status, one page, one message, whatever the reason.
    let attempt = |user: &'static str, password: &'static str| {
        let i = i.clone();
        let csrf = csrf.clone();
        let n = &n;
        async move {
            let r = http()
                .post(n.url("/login"))
                .header("cookie", format!("wissel-csrf={csrf}"))
                .form(&[
                    ("i", i.as_str()),
                    ("csrf", csrf.as_str()),
                    ("username", user),
                    ("password", password),
                ])
                .send()
                .await
                .unwrap();
            (r.status(), sets_session(&r), r.text().await.unwrap())
        }
    };
    let normalized =
        |body: &str, user: &str| body.replace(&format!("value=\"{user}\""), "value=\"\"");
    let (status, session, wrong_password) = attempt("alice", "wrong-password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(!session);
    assert!(
        wrong_password.contains("Wrong username or password."),
        "{wrong_password}"
    );
    assert!(
        wrong_password.contains("name=\"password\""),
        "the login form again"
    );
    assert!(!wrong_password.contains("alice-password"));
    let (status, session, unknown) = attempt("nobody", "wrong-password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(!session);
    assert_eq!(
        normalized(&unknown, "nobody"),
        normalized(&wrong_password, "alice"),
        "an unknown user and a wrong password look the same"
    );
    let (status, session, disabled) = attempt("carol", "carol-password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a disabled user");
    assert!(!session);
    assert_eq!(
        normalized(&disabled, "carol"),
        normalized(&wrong_password, "alice"),
        "a disabled user looks like a wrong password"
    );
    // A 10 KB username: refused, no panic.
    let long_user = "u".repeat(10 * 1024);
    let r = b
        .post(
            &n.url("/login"),
            &[
                ("i", i.as_str()),
                ("csrf", csrf.as_str()),
                ("username", long_user.as_str()),
                ("password", "alice-password"),
            ],
        )
        .await;
    assert!(!sets_session(&r));
    assert!(r.status().is_client_error(), "{}", r.status());
    assert!(!r.text().await.unwrap().contains(&long_user));
    let after = flow_rows(&n).await;
    assert_eq!(row(&after, "sessions"), 0);

    // The right password logs in; the consent form wants its CSRF token too.
    let r = b
        .post(
            &n.url("/login"),
            &[
                ("i", i.as_str()),
                ("csrf", csrf.as_str()),
                ("username", "alice"),
                ("password", "alice-password"),
            ],
        )
        .await;
    assert!(sets_session(&r));
    let consent_url = location(&r);
    assert!(consent_url.contains("/consent?"), "{consent_url}");
    let ci = interaction_of(&consent_url);
    assert_eq!(b.get(&consent_url).await.status(), StatusCode::OK);
    let before = flow_rows(&n).await;
    for (what, token) in [("no csrf", None), ("wrong csrf", Some("B".repeat(43)))] {
        let mut form = vec![("i", ci.as_str()), ("decision", "allow")];
        if let Some(t) = &token {
            form.push(("csrf", t.as_str()));
        }
        let r = b.post(&n.url("/consent"), &form).await;
        assert_error_page(r, StatusCode::FORBIDDEN, what).await;
    }
    assert_eq!(flow_rows(&n).await, before, "no consent, no code");
    let r = b
        .post(
            &n.url("/consent"),
            &[
                ("i", ci.as_str()),
                ("csrf", csrf.as_str()),
                ("decision", "allow"),
            ],
        )
        .await;
    assert!(query_of(&location(&r)).contains_key("code"));

    // Throttling: five failures for alice, then even the right password is refused.
    let mut t = Browser::default();
    let r = t.get(&authorize_url(&n, &request)).await;
    let to = location(&r);
    let ti = interaction_of(&to);
    t.get(&to).await;
    let tcsrf = t.csrf();
    for k in 0..5 {
        let r = t
            .post(
                &n.url("/login"),
                &[
                    ("i", ti.as_str()),
                    ("csrf", tcsrf.as_str()),
                    ("username", "alice"),
                    ("password", "not-her-password"),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "failure {k}");
    }
    assert_eq!(
        count(
            &n,
            "SELECT failures FROM login_failures WHERE key = 'account:alice'"
        )
        .await,
        5,
        "the failures are in the store, for every node to see"
    );
    let r = t
        .post(
            &n.url("/login"),
            &[
                ("i", ti.as_str()),
                ("csrf", tcsrf.as_str()),
                ("username", "alice"),
                ("password", "alice-password"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(!sets_session(&r));
    let body = r.text().await.unwrap();
    assert!(body.contains("Too many failed attempts"), "{body}");
    // The account's case does not matter to the throttle.
    let r = t
        .post(
            &n.url("/login"),
            &[
                ("i", ti.as_str()),
                ("csrf", tcsrf.as_str()),
                ("username", "ALICE"),
                ("password", "alice-password"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // bob is not throttled by alice's failures.
    let r = t
        .post(
            &n.url("/login"),
            &[
                ("i", ti.as_str()),
                ("csrf", tcsrf.as_str()),
                ("username", "bob"),
                ("password", "bob-password"),
            ],
        )
        .await;
    assert!(sets_session(&r), "{}", r.status());
    n.server.shutdown().await;
}

/// Logout never redirects anywhere unregistered and needs a genuine hint; withdrawing a
/// consent on the account page revokes the client's tokens.
#[tokio::test]
async fn logout_open_redirects_and_withdrawn_consent() {
    let n = node().await;
    let mut b = Browser::default();
    let webapp = ("webapp", WEBAPP_SECRET);
    let (code, verifier) = webapp_code(&n, &mut b, "openid offline_access").await;
    let t = redeem(&n, &code, &verifier).await;
    let id_token = str_of(&t, "id_token").to_owned();
    let at = str_of(&t, "access_token").to_owned();
    let rt = str_of(&t, "refresh_token").to_owned();

    // A hint signed by another key under the same kid, and one with a changed payload.
    let forged = {
        use wissel_core::model::SigningAlg;
        use wissel_crypto::keyring::SigningKey;
        let g = wissel_crypto::keys::generate(SigningAlg::ES256, "x").unwrap();
        let kid = jsonwebtoken::decode_header(&id_token).unwrap().kid.unwrap();
        let k = SigningKey::from_pkcs8(&kid, SigningAlg::ES256, &g.pkcs8).unwrap();
        k.sign("JWT", &claims_of(&id_token)).unwrap()
    };
    let tampered = {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let parts: Vec<&str> = id_token.split('.').collect();
        let mut c = claims_of(&id_token);
        c["aud"] = json!("trusted-app");
        let payload = b64.encode(serde_json::to_vec(&c).unwrap());
        format!("{}.{payload}.{}", parts[0], parts[2])
    };
    let bye = "https://webapp.example/bye";
    for (what, query) in [
        (
            "unregistered uri with client_id",
            vec![
                ("post_logout_redirect_uri", "https://evil.example/"),
                ("client_id", "webapp"),
                ("state", "x"),
            ],
        ),
        (
            "unregistered uri with a genuine hint",
            vec![
                ("post_logout_redirect_uri", "https://evil.example/"),
                ("id_token_hint", id_token.as_str()),
            ],
        ),
        (
            "near-miss uri",
            vec![
                ("post_logout_redirect_uri", "https://webapp.example/bye/"),
                ("client_id", "webapp"),
            ],
        ),
        (
            "another client's uri",
            vec![
                ("post_logout_redirect_uri", bye),
                ("client_id", "public-app"),
            ],
        ),
        (
            "uri without client_id or hint",
            vec![("post_logout_redirect_uri", bye)],
        ),
        (
            "forged hint",
            vec![
                ("post_logout_redirect_uri", bye),
                ("id_token_hint", forged.as_str()),
            ],
        ),
        (
            "tampered hint",
            vec![
                ("post_logout_redirect_uri", bye),
                ("id_token_hint", tampered.as_str()),
            ],
        ),
        (
            "garbage hint",
            vec![
                ("id_token_hint", "garbage"),
                ("post_logout_redirect_uri", bye),
            ],
        ),
        (
            "client_id that is not the hint's audience",
            vec![
                ("post_logout_redirect_uri", bye),
                ("id_token_hint", id_token.as_str()),
                ("client_id", "trusted-app"),
            ],
        ),
    ] {
        let r = b.get(&n.url(&format!("/logout?{}", encode(&query)))).await;
        assert_error_page(r, StatusCode::BAD_REQUEST, what).await;
        // And the session is still there.
        let r = b.get(&n.url("/account")).await;
        assert_eq!(r.status(), StatusCode::OK, "{what}: still logged in");
    }

    // The account page lists the consent; withdrawing it needs the CSRF token.
    let r = b.get(&n.url("/account")).await;
    let html = r.text().await.unwrap();
    assert!(html.contains("Web App"), "{html}");
    let csrf = b.csrf();
    let r = b
        .post(
            &n.url("/account/consents/revoke"),
            &[("client_id", "webapp"), ("csrf", "wrong")],
        )
        .await;
    assert_error_page(r, StatusCode::FORBIDDEN, "withdrawal without csrf").await;
    assert!(works(&n, &at).await);
    let r = b
        .post(
            &n.url("/account/consents/revoke"),
            &[("client_id", "webapp"), ("csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(location(&r), n.url("/account?done=consent"));
    assert_token_error(
        &refresh(&n, webapp, &rt, None).await,
        "invalid_grant",
        "refresh after the consent was withdrawn",
    );
    assert_dead(&n, &at, "the access token after the withdrawal").await;
    assert_eq!(count(&n, "SELECT COUNT(*) FROM consents").await, 0);
    // The next request asks for consent again.
    let (_, challenge) = pkce();
    let r = b
        .get(&authorize_url(
            &n,
            &[
                ("response_type", "code"),
                ("client_id", "webapp"),
                ("redirect_uri", CB),
                ("scope", "openid"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        ))
        .await;
    assert!(location(&r).contains("/consent?"));
    n.server.shutdown().await;
}

/// A client registered with another ID-token algorithm than the server's main one gets its ID
/// tokens signed by that algorithm's own key set, published in the JWKS; access tokens keep the
/// main algorithm.
#[tokio::test]
async fn id_tokens_use_the_clients_registered_algorithm() {
    let n = super::start_node_edited(None, Arc::new(SystemClock), None, false, |text| {
        text.replacen(
            "[server]",
            "[keys]\nid_token_algorithms = [\"RS256\"]\n[server]",
            1,
        )
        .replacen(
            "id = \"webapp\"\n",
            "id = \"webapp\"\nid_token_alg = \"RS256\"\n",
            1,
        )
    })
    .await;
    let meta: Value = http()
        .get(n.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        meta["id_token_signing_alg_values_supported"],
        json!(["ES256", "RS256"])
    );
    let mut b = Browser::default();
    let (code, verifier) = webapp_code(&n, &mut b, "openid profile").await;
    let t = redeem(&n, &code, &verifier).await;
    let id_token = str_of(&t, "id_token");
    let header = jsonwebtoken::decode_header(id_token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    let access_header = jsonwebtoken::decode_header(str_of(&t, "access_token")).unwrap();
    assert_eq!(access_header.alg, jsonwebtoken::Algorithm::ES256);
    let jwks: jsonwebtoken::jwk::JwkSet = http()
        .get(n.url("/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("the RS256 key is published");
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&["webapp"]);
    v.set_issuer(&[n.base.as_str()]);
    let claims = jsonwebtoken::decode::<Value>(
        id_token,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
        &v,
    )
    .unwrap()
    .claims;
    assert_eq!(claims["nonce"], "nn");
    // at_hash with the ID token's own hash (SHA-256 for RS256).
    assert_eq!(
        claims["at_hash"],
        wissel_crypto::pkce::left_half_hash(
            str_of(&t, "access_token"),
            wissel_core::model::SigningAlg::RS256
        )
    );
}

/// Behind a trusted proxy, failed logins count under the client's address from
/// `X-Forwarded-For` (its rightmost untrusted hop); from anyone else the header is ignored.
#[tokio::test]
async fn failed_logins_count_under_the_forwarded_address_of_a_trusted_proxy() {
    let n = super::start_node_edited(None, Arc::new(SystemClock), None, false, |text| {
        text.replacen(
            "[server]",
            "[login]\ntrusted_proxies = [\"127.0.0.0/8\"]\n[server]",
            1,
        )
    })
    .await;
    let mut b = Browser::default();
    let (_, challenge) = pkce();
    let url = authorize_url(
        &n,
        &[
            ("response_type", "code"),
            ("client_id", "webapp"),
            ("redirect_uri", CB),
            ("scope", "openid"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let to = location(&b.get(&url).await);
    let i = interaction_of(&to);
    let csrf = b.csrf();
    let r = http()
        .post(n.url("/login"))
        .header("cookie", b.header())
        .header("x-forwarded-for", "6.6.6.6, 203.0.113.7")
        .form(&[
            ("i", i.as_str()),
            ("csrf", csrf.as_str()),
            ("username", "alice"),
            ("password", "wrong"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let counted = |key: &str| {
        format!("SELECT COUNT(*) FROM login_failures WHERE key = '{key}' AND failures = 1")
    };
    assert_eq!(count(&n, &counted("address:203.0.113.7")).await, 1);
    assert_eq!(
        count(&n, &counted("address:6.6.6.6")).await,
        0,
        "spoofable hop ignored"
    );
    assert_eq!(count(&n, &counted("address:127.0.0.1")).await, 0);
}
