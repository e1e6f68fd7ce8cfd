//! End-to-end tests: real nodes on real ports with real SQLite files (and PostgreSQL when
//! `WISSEL_TEST_POSTGRES_URL` is set), driven over HTTP by reqwest, by the `oauth2` crate as a
//! real client, and by the `wissel` binary itself.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a finding

mod admin;
mod anonymous_state;
mod browser;
mod code_flow;
mod crash;
mod exchange;
mod keys_and_pages;
mod login_throttle;
mod medmij;
mod memory;
mod outage;
mod outbound;
mod policy;
mod slow_clients;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use reqwest::StatusCode;
use serde_json::{Value, json};
use wissel::config::Config;
use wissel::server::{self, Server};
use wissel_core::model::SigningAlg;
use wissel_core::ports::{Clock, SystemClock};
use wissel_crypto::keyring::SigningKey;
use wissel_crypto::keys::{MasterKey, generate};

const BACKEND_SECRET: &str = "backend-secret-0123456789abcdef-0123456789";
const OTHER_SECRET: &str = "other-secret-0123456789abcdef-0123456789ab";
const ORDERS_SECRET: &str = "orders-secret-0123456789abcdef-0123456789a";
const BILLING_SECRET: &str = "billing-secret-0123456789abcdef-012345678";
const WEBAPP_SECRET: &str = "webapp-secret-0123456789abcdef-0123456789a";

/// A clock the test moves.
struct TestClock(AtomicI64);
impl Clock for TestClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

struct Node {
    server: Server,
    base: String,
    storage: String,
    /// The test CA that signed the server certificate, when the node serves HTTPS.
    ca_pem: Option<String>,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Tells the person running the tests that something was skipped. Written to the stderr handle
/// directly, so that the test harness's output capture does not hide it.
fn notice(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "notice: {text}");
}

fn unique(tag: &str) -> String {
    use std::sync::atomic::AtomicU32;
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{tag}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The configuration every test starts from; `{jwks}` is the private_key_jwt client's key set.
fn config_text(issuer: &str, storage: &str, jwks: &Value) -> String {
    format!(
        r#"
issuer = "{issuer}"
[server]
listen = "127.0.0.1:0"
sync_interval_ms = 100
[storage]
url = "{storage}"
[[clients]]
id = "backend"
secret = "{BACKEND_SECRET}"
grant_types = ["client_credentials"]
[[clients]]
id = "other"
auth_method = "client_secret_post"
secret = "{OTHER_SECRET}"
grant_types = ["client_credentials"]
[[clients]]
id = "signer"
auth_method = "private_key_jwt"
jwks = {jwks}
grant_types = ["client_credentials"]
[[clients]]
id = "spa"
auth_method = "none"
[[clients]]
id = "nocc"
secret = "{BACKEND_SECRET}"
grant_types = []
[[apis]]
id = "orders-api"
resources = ["https://orders.example/"]
token_format = "jwt"
secret = "{ORDERS_SECRET}"
scopes = {{ "orders:read" = "Read", "orders:write" = "Write", "orders:admin" = "Admin" }}
[[apis]]
id = "billing-api"
resources = ["https://billing.example/"]
token_format = "opaque"
auth_method = "client_secret_post"
secret = "{BILLING_SECRET}"
scopes = {{ "billing:read" = "Read" }}
access_token_lifetime_secs = 60
[[links]]
client = "backend"
api = "orders-api"
scopes = ["orders:read", "orders:write"]
attributes = {{ customer = "acme", tier = 2 }}
[[links]]
client = "backend"
api = "billing-api"
scopes = ["billing:read"]
[[links]]
client = "other"
api = "orders-api"
scopes = ["orders:read"]
[[links]]
client = "signer"
api = "orders-api"
scopes = ["orders:read"]
[[clients]]
id = "webapp"
name = "Web App"
secret = "{WEBAPP_SECRET}"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["https://webapp.example/cb", "http://127.0.0.1/cb"]
post_logout_redirect_uris = ["https://webapp.example/bye", "http://127.0.0.1/bye"]
[[clients]]
id = "public-app"
name = "Public App"
auth_method = "none"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["http://127.0.0.1/cb", "com.example.app:/cb"]
[[clients]]
id = "plain-app"
name = "Plain App"
secret = "{WEBAPP_SECRET}"
pkce = "plain_allowed"
grant_types = ["authorization_code"]
redirect_uris = ["https://plain.example/cb"]
[[clients]]
id = "trusted-app"
name = "Trusted App"
secret = "{WEBAPP_SECRET}"
require_consent = false
refresh_tokens = true
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["https://trusted.example/cb"]
[[links]]
client = "webapp"
api = "orders-api"
scopes = ["orders:read", "orders:write"]
[[users]]
username = "alice"
password = "alice-password"
claims = {{ name = "Alice Example", given_name = "Alice", email = "alice@example.org", email_verified = true }}
[[users]]
username = "bob"
password = "bob-password"
claims = {{ name = "Bob Example" }}
[[users]]
username = "carol"
password = "carol-password"
disabled = true
[[authorizations]]
user = "alice"
api = "orders-api"
scopes = ["orders:read"]
"#,
        jwks = toml_inline(jwks)
    )
}

/// A JSON value as a TOML inline value.
fn toml_inline(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let parts: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{k} = {}", toml_inline(v)))
                .collect();
            format!("{{ {} }}", parts.join(", "))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(toml_inline).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}

/// The private_key_jwt client's key, shared by all tests in this process.
fn signer_key() -> &'static (SigningKey, Value) {
    static KEY: std::sync::OnceLock<(SigningKey, Value)> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let g = generate(SigningAlg::ES256, "signer-key").unwrap();
        (
            SigningKey::from_pkcs8("signer-key", SigningAlg::ES256, &g.pkcs8).unwrap(),
            json!({ "keys": [g.public_jwk] }),
        )
    })
}

fn master() -> (String, MasterKey) {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let b64 = KEY
        .get_or_init(|| MasterKey::generate_base64().unwrap())
        .clone();
    let mk = MasterKey::from_base64(&b64).unwrap();
    (b64, mk)
}

async fn start_node(storage: Option<String>, clock: Arc<dyn Clock>) -> Node {
    start_node_as(storage, clock, None, false).await
}

/// A test CA and a server certificate for 127.0.0.1 and localhost, written to `dir`; returns the
/// CA certificate (PEM) and the `[server.tls]` table.
fn test_pki(dir: &std::path::Path) -> (String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    let table = "[server.tls]\ncert_file = \"cert.pem\"\nkey_file = \"key.pem\"\n".to_owned();
    (ca_cert.pem(), table)
}

/// Nodes of one deployment share the issuer; `issuer: None` makes it this node's own address.
async fn start_node_as(
    storage: Option<String>,
    clock: Arc<dyn Clock>,
    issuer: Option<&str>,
    tls: bool,
) -> Node {
    start_node_edited(storage, clock, issuer, tls, |t| t).await
}

/// A node whose configuration text is first passed through `edit`.
async fn start_node_edited(
    storage: Option<String>,
    clock: Arc<dyn Clock>,
    issuer: Option<&str>,
    tls: bool,
    edit: impl FnOnce(String) -> String,
) -> Node {
    let dir = std::env::temp_dir().join(unique("wissel_e2e"));
    std::fs::create_dir_all(&dir).unwrap();
    let storage =
        storage.unwrap_or_else(|| format!("sqlite://{}", dir.join("wissel.db").display()));
    let (ca_pem, tls_table) = if tls {
        let (ca, t) = test_pki(&dir);
        (Some(ca), t)
    } else {
        (None, String::new())
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let scheme = if tls { "https" } else { "http" };
    let base = format!("{scheme}://{}", listener.local_addr().unwrap());
    let text = config_text(issuer.unwrap_or(&base), &storage, &signer_key().1).replacen(
        "[storage]",
        &format!("{tls_table}[storage]"),
        1,
    );
    let config = Config::from_toml(&edit(text), &dir).unwrap();
    let server = server::start_on(&config, listener, master().1, clock)
        .await
        .unwrap();
    Node {
        server,
        base,
        storage,
        ca_pem,
        _dir: TempDir(dir),
    }
}

/// A fresh database on the test PostgreSQL server, or `None` (with a notice that `what` is
/// skipped) when `WISSEL_TEST_POSTGRES_URL` is not set.
async fn postgres_database(what: &str) -> Option<url::Url> {
    let Ok(base) = std::env::var("WISSEL_TEST_POSTGRES_URL")
        .map_err(|_| ())
        .and_then(|v| if v.is_empty() { Err(()) } else { Ok(v) })
    else {
        notice(&format!(
            "WISSEL_TEST_POSTGRES_URL is not set; {what} is skipped"
        ));
        return None;
    };
    let name = unique("wissel_e2e");
    let pool = sqlx::PgPool::connect(&base).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&pool)
        .await
        .unwrap();
    let mut url = url::Url::parse(&base).unwrap();
    url.set_path(&name);
    Some(url)
}

async fn node() -> Node {
    start_node(None, Arc::new(SystemClock)).await
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

impl Node {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POSTs a form with optional Basic credentials.
    async fn post(
        &self,
        path: &str,
        basic: Option<(&str, &str)>,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut rb = http().post(self.url(path)).form(form);
        if let Some((u, p)) = basic {
            rb = rb.basic_auth(u, Some(p));
        }
        rb.send().await.unwrap()
    }

    async fn token(&self, form: &[(&str, &str)]) -> Value {
        let mut f = vec![("grant_type", "client_credentials")];
        f.extend_from_slice(form);
        let r = self
            .post("/token", Some(("backend", BACKEND_SECRET)), &f)
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["cache-control"], "no-store");
        r.json().await.unwrap()
    }

    async fn introspect_as(&self, who: (&str, &str), token: &str) -> Value {
        let r = self
            .post("/introspect", Some(who), &[("token", token)])
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["cache-control"], "no-store");
        r.json().await.unwrap()
    }

    /// Row counts of the tables a refused request must not write.
    async fn written(&self) -> (i64, i64, i64) {
        use sqlx::Row;
        let q = "SELECT (SELECT COUNT(*) FROM access_tokens), (SELECT COUNT(*) FROM revocations), (SELECT COUNT(*) FROM used_jtis)";
        if self.storage.starts_with("sqlite") {
            let pool = sqlx::SqlitePool::connect(&self.storage).await.unwrap();
            let row = sqlx::query(q).fetch_one(&pool).await.unwrap();
            (row.get(0), row.get(1), row.get(2))
        } else {
            let pool = sqlx::PgPool::connect(&self.storage).await.unwrap();
            let row = sqlx::query(q).fetch_one(&pool).await.unwrap();
            (row.get(0), row.get(1), row.get(2))
        }
    }
}

fn assertion(claims: &Value) -> String {
    signer_key().0.sign("JWT", claims).unwrap()
}

fn assertion_claims(aud: &str, exp: i64) -> Value {
    json!({"iss": "signer", "sub": "signer", "aud": aud, "exp": exp, "iat": SystemClock.now(),
           "jti": wissel_crypto::secret::generate_id()})
}

// ---------------------------------------------------------------------------------------------

/// The `oauth2` crate, a real client, obtains a token, introspects it and revokes it, over TLS.
#[tokio::test]
async fn oauth2_crate_client_credentials_introspect_revoke_over_tls() {
    use oauth2::basic::BasicClient;
    use oauth2::{
        ClientId, ClientSecret, IntrospectionUrl, RevocationUrl, Scope, StandardRevocableToken,
        TokenIntrospectionResponse, TokenResponse, TokenUrl,
    };
    let n = start_node_as(None, Arc::new(SystemClock), None, true).await;
    assert!(n.base.starts_with("https://"));
    let ca = reqwest::Certificate::from_pem(n.ca_pem.as_deref().unwrap().as_bytes()).unwrap();
    let rc = reqwest::Client::builder()
        .tls_certs_only([ca])
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // Plain HTTP to a TLS port gets nowhere.
    let plain = http()
        .get(n.url("/healthz").replace("https://", "http://"))
        .send()
        .await;
    assert!(!plain.is_ok_and(|r| r.status().is_success()));
    let send = move |req: oauth2::HttpRequest| {
        let rc = rc.clone();
        async move {
            let (parts, body) = req.into_parts();
            let resp = rc
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await?;
            let mut b = oauth2::http::Response::builder().status(resp.status());
            for (k, v) in resp.headers() {
                b = b.header(k, v);
            }
            let bytes = resp.bytes().await?;
            Ok::<_, reqwest::Error>(b.body(bytes.to_vec()).unwrap())
        }
    };
    let client = BasicClient::new(ClientId::new("backend".into()))
        .set_client_secret(ClientSecret::new(BACKEND_SECRET.into()))
        .set_token_uri(TokenUrl::new(n.url("/token")).unwrap())
        .set_introspection_url(IntrospectionUrl::new(n.url("/introspect")).unwrap())
        .set_revocation_url(RevocationUrl::new(n.url("/revoke")).unwrap());

    let token = client
        .exchange_client_credentials()
        .add_scope(Scope::new("orders:read".into()))
        .add_scope(Scope::new("orders:admin".into()))
        .add_extra_param("audience", "orders-api")
        .request_async(&send)
        .await
        .unwrap();
    let scopes: Vec<String> = token
        .scopes()
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        scopes,
        ["orders:read"],
        "orders:admin is offered but not allowed by the link"
    );
    assert_eq!(token.expires_in(), Some(Duration::from_secs(900)));

    let info = client
        .introspect(token.access_token())
        .request_async(&send)
        .await
        .unwrap();
    assert!(info.active());
    assert_eq!(
        info.client_id().map(|c| c.to_string()),
        Some("backend".into())
    );
    assert_eq!(info.scopes().map(|s| s.len()), Some(1));

    client
        .revoke_token(StandardRevocableToken::AccessToken(
            token.access_token().clone(),
        ))
        .unwrap()
        .request_async(&send)
        .await
        .unwrap();
    let after = client
        .introspect(token.access_token())
        .request_async(&send)
        .await
        .unwrap();
    assert!(!after.active());
    n.server.shutdown().await;
}

#[tokio::test]
async fn jwt_access_tokens_follow_rfc_9068_and_verify_with_the_jwks() {
    let n = node().await;
    let t = n
        .token(&[
            ("audience", "orders-api"),
            ("scope", "orders:read orders:write"),
        ])
        .await;
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["scope"], "orders:read orders:write");
    let at = t["access_token"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(at).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
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
        .expect("signing key is published");
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    v.set_audience(&["orders-api"]);
    v.set_issuer(&[n.base.as_str()]);
    let claims =
        jsonwebtoken::decode::<Value>(at, &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(), &v)
            .unwrap()
            .claims;
    for c in [
        "iss",
        "sub",
        "aud",
        "client_id",
        "scope",
        "iat",
        "exp",
        "jti",
        "grant_id",
    ] {
        assert!(claims.get(c).is_some(), "claim {c} missing");
    }
    assert_eq!(claims["client_id"], "backend");
    n.server.shutdown().await;
}

#[tokio::test]
async fn token_format_follows_the_api_and_the_request() {
    let n = node().await;
    let opaque = n.token(&[("resource", "https://billing.example/")]).await;
    let value = opaque["access_token"].as_str().unwrap();
    assert!(!value.contains('.') && value.len() == 43, "opaque: {value}");
    assert_eq!(opaque["expires_in"], 60);
    let jwt = n
        .token(&[
            ("resource", "https://billing.example/"),
            (
                "requested_token_type",
                "urn:ietf:params:oauth:token-type:jwt",
            ),
        ])
        .await;
    assert_eq!(jwt["access_token"].as_str().unwrap().split('.').count(), 3);
    // Only the opaque one was stored.
    assert_eq!(n.written().await.0, 1);
    n.server.shutdown().await;
}

#[tokio::test]
async fn introspection_is_audience_restricted_and_carries_link_attributes() {
    let n = node().await;
    let jwt = n.token(&[("audience", "orders-api")]).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let opaque = n.token(&[("audience", "billing-api")]).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let as_api = n.introspect_as(("orders-api", ORDERS_SECRET), &jwt).await;
    assert_eq!(as_api["active"], true);
    assert_eq!(as_api["aud"], "orders-api");
    assert_eq!(as_api["customer"], "acme");
    assert_eq!(as_api["tier"], 2);
    assert_eq!(as_api["iss"], n.base);
    for m in [
        "scope",
        "client_id",
        "sub",
        "exp",
        "iat",
        "nbf",
        "jti",
        "token_type",
    ] {
        assert!(as_api.get(m).is_some(), "{m} missing");
    }
    // The owner sees it; another client and another API do not.
    assert_eq!(
        n.introspect_as(("backend", BACKEND_SECRET), &jwt).await["active"],
        true
    );
    let r = n
        .post(
            "/introspect",
            None,
            &[
                ("client_id", "other"),
                ("client_secret", OTHER_SECRET),
                ("token", &jwt),
            ],
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"active": false}));
    let r = n
        .post(
            "/introspect",
            None,
            &[
                ("client_id", "billing-api"),
                ("client_secret", BILLING_SECRET),
                ("token", &jwt),
            ],
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"active": false}));
    // Opaque tokens, looked up by digest.
    let r = n
        .post(
            "/introspect",
            None,
            &[
                ("client_id", "billing-api"),
                ("client_secret", BILLING_SECRET),
                ("token", &opaque),
            ],
        )
        .await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["active"].as_bool(), v["scope"].as_str()),
        (Some(true), Some("billing:read"))
    );
    n.server.shutdown().await;
}

/// Disabling a client ends its tokens at every node (after the configuration sync), and its
/// credentials stop working.
#[tokio::test]
async fn disabling_a_client_deactivates_its_tokens() {
    let n = node().await;
    let jwt = n.token(&[("audience", "orders-api")]).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        n.introspect_as(("orders-api", ORDERS_SECRET), &jwt).await["active"],
        true
    );
    let state = &n.server.state;
    let mut backend = (**state.registry().client("backend").unwrap()).clone();
    backend.disabled = true;
    let plan = wissel_core::model::Provisioning {
        clients: vec![backend],
        ..Default::default()
    };
    state.store().apply(&plan, state.now()).await.unwrap();
    state.sync_config().await.unwrap();
    assert_eq!(
        n.introspect_as(("orders-api", ORDERS_SECRET), &jwt).await["active"],
        false
    );
    let r = n
        .post(
            "/token",
            Some(("backend", BACKEND_SECRET)),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    n.server.shutdown().await;
}

#[tokio::test]
async fn signed_introspection_response_rfc_9701() {
    let n = node().await;
    let jwt = n.token(&[("audience", "orders-api")]).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = http()
        .post(n.url("/introspect"))
        .basic_auth("orders-api", Some(ORDERS_SECRET))
        .header("accept", "application/token-introspection+jwt")
        .form(&[("token", jwt.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["content-type"],
        "application/token-introspection+jwt"
    );
    let body = r.text().await.unwrap();
    let header = jsonwebtoken::decode_header(&body).unwrap();
    assert_eq!(header.typ.as_deref(), Some("token-introspection+jwt"));
    let jwks: jsonwebtoken::jwk::JwkSet = http()
        .get(n.url("/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key =
        jsonwebtoken::DecodingKey::from_jwk(jwks.find(header.kid.as_deref().unwrap()).unwrap())
            .unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    v.set_audience(&["orders-api"]);
    v.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Value>(&body, &key, &v)
        .unwrap()
        .claims;
    assert_eq!(claims["iss"], n.base);
    assert_eq!(claims["token_introspection"]["active"], true);
    n.server.shutdown().await;
}

#[tokio::test]
async fn expired_tokens_are_inactive() {
    let clock = Arc::new(TestClock(AtomicI64::new(SystemClock.now())));
    let n = start_node(None, clock.clone()).await;
    let opaque = n.token(&[("audience", "billing-api")]).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let jwt = n.token(&[("audience", "orders-api")]).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let owner = ("backend", BACKEND_SECRET);
    assert_eq!(n.introspect_as(owner, &opaque).await["active"], true);
    clock.0.fetch_add(61, Ordering::SeqCst);
    assert_eq!(
        n.introspect_as(owner, &opaque).await["active"],
        false,
        "opaque token past its 60 s lifetime"
    );
    assert_eq!(
        n.introspect_as(("orders-api", ORDERS_SECRET), &jwt).await["active"],
        true
    );
    clock.0.fetch_add(900, Ordering::SeqCst);
    assert_eq!(
        n.introspect_as(("orders-api", ORDERS_SECRET), &jwt).await["active"],
        false
    );
}

#[tokio::test]
async fn private_key_jwt_client_assertions() {
    let n = node().await;
    let now = SystemClock.now();
    let token_url = n.url("/token");
    let send = |a: String| {
        let n = &n;
        async move {
            let r = n
                .post(
                    "/token",
                    None,
                    &[
                        ("grant_type", "client_credentials"),
                        (
                            "client_assertion_type",
                            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                        ),
                        ("client_assertion", &a),
                    ],
                )
                .await;
            (r.status(), r.json::<Value>().await.unwrap())
        }
    };
    // Valid, with the issuer as audience (the token endpoint is not, see
    // client_assertions_name_the_issuer_as_their_only_audience).
    let good = assertion(&assertion_claims(&n.base, now + 60));
    let (s, v) = send(good.clone()).await;
    assert_eq!(s, StatusCode::OK, "{v}");

    let before = n.written().await;
    let mut refused = vec![
        ("replayed jti", good),
        (
            "wrong aud",
            assertion(&assertion_claims("https://elsewhere.example", now + 60)),
        ),
        (
            "the token endpoint as aud",
            assertion(&assertion_claims(&token_url, now + 60)),
        ),
        ("expired", assertion(&assertion_claims(&n.base, now - 1))),
        (
            "lives too long",
            assertion(&assertion_claims(&n.base, now + 3600)),
        ),
    ];
    let mut no_exp = assertion_claims(&n.base, 0);
    no_exp.as_object_mut().unwrap().remove("exp");
    refused.push(("no exp", assertion(&no_exp)));
    let mut other_iss = assertion_claims(&n.base, now + 60);
    other_iss["sub"] = json!("backend");
    refused.push(("sub is not the client", assertion(&other_iss)));
    // alg none
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    refused.push((
        "alg none",
        format!(
            "{}.{}.",
            b64(&json!({"alg": "none", "typ": "JWT"})),
            b64(&assertion_claims(&n.base, now + 60))
        ),
    ));
    // HS256 keyed with the public key (algorithm confusion)
    let public = signer_key().1["keys"][0].to_string();
    let hs = jsonwebtoken::encode(
        &jsonwebtoken::Header {
            kid: Some("signer-key".into()),
            ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256)
        },
        &assertion_claims(&n.base, now + 60),
        &jsonwebtoken::EncodingKey::from_secret(public.as_bytes()),
    )
    .unwrap();
    refused.push(("HS256 with the public key", hs));
    // Signed by a foreign key under our kid.
    let foreign = generate(SigningAlg::ES256, "signer-key").unwrap();
    let foreign = SigningKey::from_pkcs8("signer-key", SigningAlg::ES256, &foreign.pkcs8).unwrap();
    refused.push((
        "foreign key",
        foreign
            .sign("JWT", &assertion_claims(&n.base, now + 60))
            .unwrap(),
    ));
    refused.push(("garbage", "not.a.jwt".into()));

    for (what, a) in refused {
        let (s, v) = send(a).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{what}: {v}");
        assert_eq!(v["error"], "invalid_client", "{what}");
    }
    let after = n.written().await;
    assert_eq!(
        (after.0, after.1),
        (before.0, before.1),
        "refused assertions write no token"
    );
    n.server.shutdown().await;
}

/// A client-credentials request authenticated by `assertion` alone: the status and the body.
async fn with_assertion(n: &Node, assertion: &str) -> (StatusCode, Value) {
    let r = n
        .post(
            "/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", assertion),
            ],
        )
        .await;
    assert_eq!(r.headers()["cache-control"], "no-store");
    (r.status(), r.json().await.unwrap())
}

/// draft-ietf-oauth-rfc7523bis (audience injection): a client assertion names the issuer as its
/// only audience. The token endpoint's URL, or the issuer beside another audience, is refused,
/// unless the client is registered with `assertion_audience = "issuer_or_endpoint"`.
#[tokio::test]
async fn client_assertions_name_the_issuer_as_their_only_audience() {
    let now = SystemClock.now();
    let claims = |aud: Value| {
        let mut c = assertion_claims("", now + 60);
        c["aud"] = aud;
        assertion(&c)
    };
    let n = node().await;
    let issuer = json!(n.base);
    let token_url = json!(n.url("/token"));
    for (aud, what) in [
        (issuer.clone(), "the issuer"),
        (json!([n.base]), "[the issuer]"),
    ] {
        let (s, v) = with_assertion(&n, &claims(aud)).await;
        assert_eq!(s, StatusCode::OK, "{what}: {v}");
    }
    for (aud, what) in [
        (token_url.clone(), "the token endpoint"),
        (json!([n.url("/token")]), "[the token endpoint]"),
        (
            json!([n.base, "https://rp.example"]),
            "the issuer and another",
        ),
        (
            json!([n.url("/token"), n.base]),
            "the token endpoint and the issuer",
        ),
    ] {
        let (s, v) = with_assertion(&n, &claims(aud)).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{what}: {v}");
        assert_eq!(v["error"], "invalid_client", "{what}");
        assert!(
            v["error_description"].as_str().unwrap().contains("issuer"),
            "{what}: {v}"
        );
    }
    n.server.shutdown().await;

    // The compatibility switch, per client.
    let n = start_node_edited(None, Arc::new(SystemClock), None, false, |t| {
        t.replacen(
            "id = \"signer\"\n",
            "id = \"signer\"\nassertion_audience = \"issuer_or_endpoint\"\n",
            1,
        )
    })
    .await;
    for aud in [
        json!(n.base),
        json!(n.url("/token")),
        json!([n.url("/token"), "https://rp.example"]),
    ] {
        let (s, v) = with_assertion(&n, &claims(aud.clone())).await;
        assert_eq!(s, StatusCode::OK, "issuer_or_endpoint, aud {aud}: {v}");
    }
    let (s, _) = with_assertion(&n, &claims(json!("https://rp.example"))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "another audience alone");
    n.server.shutdown().await;
}

/// What a bad request is: a label, the path, Basic credentials, the form, and the expected
/// status and error code.
type Case<'a> = (
    &'a str,
    &'a str,
    Option<(&'a str, &'a str)>,
    Vec<(&'a str, &'a str)>,
    u16,
    &'a str,
);

/// `private_key_jwt` with keys published at a `jwks_uri`: fetched once, then cached.
#[tokio::test]
async fn private_key_jwt_with_a_jwks_uri() {
    let jwks = signer_key().1.clone();
    let hits = Arc::new(AtomicI64::new(0));
    let counter = hits.clone();
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let body = jwks.clone();
            async move { axum::Json(body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jwks_uri = format!("http://{}/jwks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let n = node().await;
    let state = &n.server.state;
    let mut signer = (**state.registry().client("signer").unwrap()).clone();
    signer.credentials.jwks = None;
    signer.credentials.jwks_uri = Some(jwks_uri);
    let plan = wissel_core::model::Provisioning {
        clients: vec![signer],
        ..Default::default()
    };
    state.store().apply(&plan, state.now()).await.unwrap();
    state.sync_config().await.unwrap();

    for _ in 0..2 {
        let a = assertion(&assertion_claims(&n.base, SystemClock.now() + 60));
        let r = n
            .post(
                "/token",
                None,
                &[
                    ("grant_type", "client_credentials"),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", &a),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "the JWK Set is fetched once and cached"
    );
    n.server.shutdown().await;
}

/// Basic credentials are decoded whole: an `&` in the id is part of it, so `backend&x=y` with
/// backend's secret is an unknown client (the form parser used to split the id there, and the
/// request was granted as `backend`; the fuzz properties of `client_auth` found it).
#[tokio::test]
async fn basic_credentials_with_an_ampersand_name_another_client() {
    let n = node().await;
    let r = n
        .post(
            "/token",
            Some(("backend&x=y", BACKEND_SECRET)),
            &[
                ("grant_type", "client_credentials"),
                ("audience", "orders-api"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert!(r.headers().contains_key("www-authenticate"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    n.server.shutdown().await;
}

/// Every endpoint answers bad input with the RFC error, `no-store`, and writes nothing.
#[tokio::test]
async fn bad_input_gets_the_rfc_error_and_writes_nothing() {
    let n = node().await;
    let good_jwt = n.token(&[("audience", "orders-api")]).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = n.written().await;
    let b = Some(("backend", BACKEND_SECRET));
    let cc = ("grant_type", "client_credentials");
    let big = "x".repeat(70 * 1024);
    let cases: Vec<Case> = vec![
        (
            "missing grant_type",
            "/token",
            b,
            vec![],
            400,
            "invalid_request",
        ),
        (
            "empty grant_type",
            "/token",
            b,
            vec![("grant_type", "")],
            400,
            "invalid_request",
        ),
        (
            "duplicated grant_type",
            "/token",
            b,
            vec![cc, cc],
            400,
            "invalid_request",
        ),
        (
            "duplicated scope",
            "/token",
            b,
            vec![cc, ("scope", "orders:read"), ("scope", "orders:write")],
            400,
            "invalid_request",
        ),
        (
            "wrong grant_type",
            "/token",
            b,
            vec![("grant_type", "password")],
            400,
            "unsupported_grant_type",
        ),
        (
            "no credentials",
            "/token",
            None,
            vec![cc],
            401,
            "invalid_client",
        ),
        (
            "wrong secret",
            "/token",
            Some(("backend", "wrong-secret-wrong-secret-wrong-secret-xx")),
            vec![cc],
            401,
            "invalid_client",
        ),
        (
            "unknown client",
            "/token",
            Some(("ghost", BACKEND_SECRET)),
            vec![cc],
            401,
            "invalid_client",
        ),
        (
            "Basic and body",
            "/token",
            b,
            vec![
                cc,
                ("client_id", "backend"),
                ("client_secret", BACKEND_SECRET),
            ],
            400,
            "invalid_request",
        ),
        (
            "post client using Basic",
            "/token",
            Some(("other", OTHER_SECRET)),
            vec![cc],
            401,
            "invalid_client",
        ),
        (
            "API as client",
            "/token",
            Some(("orders-api", ORDERS_SECRET)),
            vec![cc],
            401,
            "invalid_client",
        ),
        (
            "grant not allowed",
            "/token",
            Some(("nocc", BACKEND_SECRET)),
            vec![cc],
            400,
            "unauthorized_client",
        ),
        (
            "unknown audience",
            "/token",
            b,
            vec![cc, ("audience", "nope")],
            400,
            "invalid_target",
        ),
        (
            "unknown resource",
            "/token",
            b,
            vec![cc, ("resource", "https://nope.example/")],
            400,
            "invalid_target",
        ),
        (
            "relative resource",
            "/token",
            b,
            vec![cc, ("resource", "orders")],
            400,
            "invalid_target",
        ),
        (
            "audience and resource disagree",
            "/token",
            b,
            vec![
                cc,
                ("audience", "orders-api"),
                ("resource", "https://billing.example/"),
            ],
            400,
            "invalid_target",
        ),
        (
            "no API named, two linked",
            "/token",
            b,
            vec![cc],
            400,
            "invalid_target",
        ),
        (
            "scope not allowed",
            "/token",
            b,
            vec![cc, ("audience", "orders-api"), ("scope", "orders:admin")],
            400,
            "invalid_scope",
        ),
        (
            "malformed scope",
            "/token",
            b,
            vec![cc, ("audience", "orders-api"), ("scope", "a\"b")],
            400,
            "invalid_scope",
        ),
        (
            "bad requested_token_type",
            "/token",
            b,
            vec![
                cc,
                ("audience", "orders-api"),
                ("requested_token_type", "urn:x"),
            ],
            400,
            "invalid_request",
        ),
        (
            "oversized body",
            "/token",
            b,
            vec![cc, ("scope", big.as_str())],
            413,
            "invalid_request",
        ),
        (
            "introspect without token",
            "/introspect",
            Some(("orders-api", ORDERS_SECRET)),
            vec![],
            400,
            "invalid_request",
        ),
        (
            "introspect, duplicated token",
            "/introspect",
            Some(("orders-api", ORDERS_SECRET)),
            vec![("token", "a"), ("token", "b")],
            400,
            "invalid_request",
        ),
        (
            "introspect without credentials",
            "/introspect",
            None,
            vec![("token", good_jwt.as_str())],
            401,
            "invalid_client",
        ),
        (
            "introspect, wrong secret",
            "/introspect",
            Some(("orders-api", BACKEND_SECRET)),
            vec![("token", good_jwt.as_str())],
            401,
            "invalid_client",
        ),
        (
            "public client introspects",
            "/introspect",
            None,
            vec![("client_id", "spa"), ("token", good_jwt.as_str())],
            401,
            "invalid_client",
        ),
        (
            "public client asks for client credentials",
            "/token",
            None,
            vec![cc, ("client_id", "spa")],
            400,
            "unauthorized_client",
        ),
        (
            "revoke without token",
            "/revoke",
            b,
            vec![],
            400,
            "invalid_request",
        ),
        (
            "revoke without credentials",
            "/revoke",
            None,
            vec![("token", good_jwt.as_str())],
            401,
            "invalid_client",
        ),
        (
            "revoke, bad hint",
            "/revoke",
            b,
            vec![
                ("token", good_jwt.as_str()),
                ("token_type_hint", "id_token"),
            ],
            400,
            "unsupported_token_type",
        ),
        (
            "revoke as an API",
            "/revoke",
            Some(("orders-api", ORDERS_SECRET)),
            vec![("token", good_jwt.as_str())],
            400,
            "unauthorized_client",
        ),
    ];
    for (what, path, basic, form, status, error) in cases {
        let r = n.post(path, basic, &form).await;
        assert_eq!(r.status().as_u16(), status, "{what}");
        assert_eq!(
            r.headers()
                .get("cache-control")
                .map(|v| v.to_str().unwrap()),
            Some("no-store"),
            "{what}"
        );
        if status == 401 && basic.is_some() {
            assert!(
                r.headers().contains_key("www-authenticate"),
                "{what}: 401 over Basic needs WWW-Authenticate"
            );
        }
        let v: Value = r
            .json()
            .await
            .unwrap_or_else(|e| panic!("{what}: not JSON: {e}"));
        assert_eq!(v["error"], error, "{what}: {v}");
        assert!(
            v["error_description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{what}"
        );
    }

    // Wrong content types and malformed bodies.
    for (what, ct, body) in [
        (
            "json body",
            "application/json",
            "{\"grant_type\":\"client_credentials\"}".to_owned(),
        ),
        (
            "no content type",
            "",
            "grant_type=client_credentials".to_owned(),
        ),
        (
            "multipart",
            "multipart/form-data; boundary=x",
            "--x--".to_owned(),
        ),
    ] {
        let mut rb = http()
            .post(n.url("/token"))
            .basic_auth("backend", Some(BACKEND_SECRET))
            .body(body);
        if !ct.is_empty() {
            rb = rb.header("content-type", ct);
        }
        let r = rb.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{what}");
        assert_eq!(
            r.json::<Value>().await.unwrap()["error"],
            "invalid_request",
            "{what}"
        );
    }
    let r = http()
        .post(n.url("/token"))
        .header("authorization", "Basic !!!not-base64")
        .form(&[cc])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().contains_key("www-authenticate"));

    // Garbage, truncated and foreign-signed tokens: inactive at introspection, 200 at revocation.
    let foreign = {
        let g = generate(SigningAlg::ES256, "x").unwrap();
        let k = SigningKey::from_pkcs8(
            &jsonwebtoken::decode_header(&good_jwt).unwrap().kid.unwrap(),
            SigningAlg::ES256,
            &g.pkcs8,
        )
        .unwrap();
        let claims: Value = jsonwebtoken::dangerous::insecure_decode_claims(&good_jwt).unwrap();
        k.sign("at+jwt", &claims).unwrap()
    };
    let truncated = good_jwt[..good_jwt.len() - 10].to_owned();
    let opaque_like = "A".repeat(43);
    for bad in [
        "garbage",
        truncated.as_str(),
        foreign.as_str(),
        opaque_like.as_str(),
        "a.b.c",
        "....",
    ] {
        let v = n.introspect_as(("orders-api", ORDERS_SECRET), bad).await;
        assert_eq!(v, json!({"active": false}), "{bad}");
        let r = n.post("/revoke", b, &[("token", bad)]).await;
        assert_eq!(r.status(), StatusCode::OK, "{bad}");
    }
    // Another client's token: 200, and nothing revoked.
    let r = n
        .post(
            "/revoke",
            None,
            &[
                ("client_id", "other"),
                ("client_secret", OTHER_SECRET),
                ("token", &good_jwt),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        n.introspect_as(("orders-api", ORDERS_SECRET), &good_jwt)
            .await["active"],
        true
    );

    assert_eq!(
        n.written().await,
        before,
        "no refused request wrote anything"
    );

    // Unknown paths and methods.
    let r = http().get(n.url("/nope")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "not_found");
    let r = http().get(n.url("/token")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(r.json::<Value>().await.is_ok());
    n.server.shutdown().await;
}

#[tokio::test]
async fn discovery_jwks_and_operations() {
    let n = node().await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let m: Value = http()
            .get(n.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(m["issuer"], n.base);
        assert_eq!(m["token_endpoint"], n.url("/token"));
        assert_eq!(m["introspection_endpoint"], n.url("/introspect"));
        assert_eq!(m["revocation_endpoint"], n.url("/revoke"));
        assert_eq!(
            m["grant_types_supported"],
            json!([
                "authorization_code",
                "refresh_token",
                "client_credentials",
                "urn:ietf:params:oauth:grant-type:token-exchange"
            ])
        );
        assert_eq!(m["authorization_endpoint"], n.url("/authorize"));
        assert_eq!(m["userinfo_endpoint"], n.url("/userinfo"));
        assert_eq!(m["end_session_endpoint"], n.url("/logout"));
        assert_eq!(m["response_types_supported"], json!(["code"]));
        assert_eq!(m["authorization_response_iss_parameter_supported"], true);
        assert!(
            m.get("device_authorization_endpoint").is_none()
                && m.get("registration_endpoint").is_none(),
            "only what exists is listed"
        );
    }
    let jwks: Value = http()
        .get(n.url("/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "the active key and the published next key");
    for k in keys {
        assert!(
            k["kid"].is_string() && k["use"] == "sig" && k["alg"] == "ES256",
            "{k}"
        );
        assert!(k.get("d").is_none(), "no private part");
    }
    assert_eq!(
        http().get(n.url("/healthz")).send().await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        http().get(n.url("/readyz")).send().await.unwrap().status(),
        StatusCode::OK
    );
    n.token(&[("audience", "orders-api")]).await;
    let metrics = http()
        .get(n.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("wissel_http_requests_total"), "{metrics}");
    assert!(metrics.contains("wissel_http_request_duration_seconds_bucket"));
    let r = http()
        .get(n.url("/healthz"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "abc-123");
    n.server.shutdown().await;
}

#[tokio::test]
async fn key_rotation_keeps_old_tokens_valid() {
    let n = node().await;
    let old = n.token(&[("audience", "orders-api")]).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let old_kid = jsonwebtoken::decode_header(&old).unwrap().kid.unwrap();
    let state = &n.server.state;
    let s = state.settings().clone();
    wissel_http::keys::rotate(
        state.store(),
        state.master(),
        SigningAlg::EdDSA,
        &s.id_token_algs,
        &s.rotation,
        state.now(),
        true,
    )
    .await
    .unwrap();
    state.sync_config().await.unwrap();
    let new = n.token(&[("audience", "orders-api")]).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let new_kid = jsonwebtoken::decode_header(&new).unwrap().kid.unwrap();
    assert_ne!(old_kid, new_kid);
    let jwks: Value = http()
        .get(n.url("/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(
        kids.contains(&old_kid.as_str()) && kids.contains(&new_kid.as_str()) && kids.len() == 3,
        "{kids:?}"
    );
    assert_eq!(
        n.introspect_as(("orders-api", ORDERS_SECRET), &old).await["active"],
        true
    );
    assert_eq!(
        n.introspect_as(("orders-api", ORDERS_SECRET), &new).await["active"],
        true
    );
    n.server.shutdown().await;
}

/// Two nodes on one PostgreSQL: a token from one is active at the other; revoked at one, it is
/// inactive at the other within the stated bound (1 s).
#[tokio::test]
async fn two_nodes_share_one_postgresql() {
    let Some(url) = postgres_database("the two-node PostgreSQL test").await else {
        return;
    };
    let a = start_node(Some(url.to_string()), Arc::new(SystemClock)).await;
    let b = start_node_as(
        Some(url.to_string()),
        Arc::new(SystemClock),
        Some(&a.base),
        false,
    )
    .await;

    for audience in ["orders-api", "billing-api"] {
        let t = a.token(&[("audience", audience)]).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let who = if audience == "orders-api" {
            ("orders-api", ORDERS_SECRET)
        } else {
            ("backend", BACKEND_SECRET)
        };
        assert_eq!(
            b.introspect_as(who, &t).await["active"],
            true,
            "{audience}: issued at A, active at B"
        );
        let r = a
            .post(
                "/revoke",
                Some(("backend", BACKEND_SECRET)),
                &[("token", &t)],
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let revoked_at = Instant::now();
        loop {
            if b.introspect_as(who, &t).await["active"] == false {
                break;
            }
            assert!(
                revoked_at.elapsed() < Duration::from_secs(1),
                "{audience}: still active at B after 1 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    a.server.shutdown().await;
    b.server.shutdown().await;
}

/// The real binary: `check-config` names a bad key, `apply` is idempotent.
#[test]
fn binary_check_config_and_apply() {
    let dir = std::env::temp_dir().join(unique("wissel_bin"));
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = TempDir(dir.clone());
    let bin = env!("CARGO_BIN_EXE_wissel");
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "issuer = \"http://127.0.0.1:1\"\n[server]\nlisten = \"127.0.0.1:1\"\nlisen = 2\n",
    )
    .unwrap();
    let out = std::process::Command::new(bin)
        .args(["check-config", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("lisen") && err.contains("bad.toml"), "{err}");

    let good = dir.join("wissel.toml");
    std::fs::write(
        &good,
        config_text("http://127.0.0.1:1", "sqlite://wissel.db", &signer_key().1),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(bin)
            .args(args)
            .env("WISSEL_MASTER_KEY", master().0)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(run(&["check-config", good.to_str().unwrap()]).contains("valid"));
    assert!(run(&["apply", good.to_str().unwrap()]).contains("20 created, 0 updated, 0 unchanged"));
    assert!(run(&["apply", good.to_str().unwrap()]).contains("0 created, 0 updated, 20 unchanged"));
    assert!(
        dir.join("wissel.db").exists(),
        "the SQLite path is relative to the configuration file"
    );
    let out = std::process::Command::new(bin)
        .args(["check-config", good.to_str().unwrap()])
        .env("WISSEL_SERVER__LISTEN", "not-an-address")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("server.listen"));
    run(&["keys", "rotate", "--config", good.to_str().unwrap()]);
    let keys = run(&["keys", "list", "--config", good.to_str().unwrap()]);
    assert!(keys.contains("active") && keys.contains("next"), "{keys}");

    // Users: create (password from a file), refuse a taken name, change the password, disable.
    let cfg = good.to_str().unwrap();
    let pw = dir.join("pw");
    std::fs::write(&pw, "dave-password-1\n").unwrap();
    let out = run(&[
        "user",
        "create",
        "dave",
        "--config",
        cfg,
        "--password-file",
        pw.to_str().unwrap(),
        "--claim",
        "name=Dave Example",
        "--group",
        "staff",
    ]);
    assert!(
        !out.contains("dave-password-1"),
        "never print a password: {out}"
    );
    let dup = std::process::Command::new(bin)
        .args([
            "user",
            "create",
            "dave",
            "--config",
            cfg,
            "--password-file",
            pw.to_str().unwrap(),
        ])
        .env("WISSEL_MASTER_KEY", master().0)
        .output()
        .unwrap();
    assert_eq!(dup.status.code(), Some(1), "a taken username is refused");
    std::fs::write(&pw, "dave-password-2\n").unwrap();
    run(&[
        "user",
        "passwd",
        "dave",
        "--config",
        cfg,
        "--password-file",
        pw.to_str().unwrap(),
    ]);
    assert!(run(&["user", "disable", "dave", "--config", cfg]).contains("disabled"));
    assert!(run(&["user", "enable", "dave", "--config", cfg]).contains("enabled"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (hash, disabled): (String, bool) = rt.block_on(async {
        use sqlx::Row;
        let pool =
            sqlx::SqlitePool::connect(&format!("sqlite://{}", dir.join("wissel.db").display()))
                .await
                .unwrap();
        let row = sqlx::query("SELECT data FROM users WHERE username = 'dave'")
            .fetch_one(&pool)
            .await
            .unwrap();
        let doc: Value = serde_json::from_str(&row.get::<String, _>(0)).unwrap();
        (
            doc["password_hash"].as_str().unwrap().to_owned(),
            doc["disabled"].as_bool().unwrap_or(false),
        )
    });
    assert!(wissel_crypto::password::verify_password(
        "dave-password-2",
        &hash
    ));
    assert!(!disabled);
}

/// `wissel demo` serves, and its printed walk-through works when pasted into bash.
#[test]
fn demo_walkthrough_works_as_printed() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    if Command::new("curl").arg("--version").output().is_err() {
        notice("curl is not installed; the demo walk-through test is skipped");
        return;
    }
    let dir = std::env::temp_dir().join(unique("wissel_demo"));
    let _cleanup = TempDir(dir.clone());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_wissel"))
        .args([
            "demo",
            "--data-dir",
            dir.to_str().unwrap(),
            "--listen",
            &listen,
        ])
        .env_remove("WISSEL_MASTER_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = child.stdout.take().unwrap();
    let _child = Kill(child);
    let mut script = String::new();
    let mut in_script = false;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if line.starts_with("Paste these") {
            in_script = true;
        } else if line.starts_with("Stop with") {
            break;
        } else if in_script {
            script.push_str(&line);
            script.push('\n');
        }
    }
    // The reading end of the demo's stdout is closed now: the server must keep serving.
    assert!(script.contains("curl"), "no walk-through printed");
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "\"issuer\":\"http://127.0.0.1",
        "\"keys\":[",
        "\"active\":true",
        "\"customer\":\"acme\"",
        "\"scope\":\"billing:read\"",
        "200",
        "{\"active\":false}",
        "\"error\":\"invalid_target\"",
        "\"error\":\"invalid_scope\"",
        "\"status\":\"ready\"",
        "wissel_http_requests_total",
        // Step 10: token exchange, and the example API's answer from introspection.
        "Hello Alice Example: here are your orders (you may orders:read).",
        "\"setbyapi_channel\":\"web\"",
        "\"email\":\"alice@example.org\"",
        "\"client_id\":\"demo-front\"",
        "401",
    ] {
        assert!(
            text.contains(expected),
            "{expected} missing from the walk-through's output:\n{text}"
        );
    }
    // The signed introspection response is a JWT (three dot-separated parts).
    assert!(
        text.lines()
            .any(|l| l.starts_with("eyJ") && l.split('.').count() == 3),
        "{text}"
    );
    // Step 9: a person logs in at the demo's relying party with the printed password.
    let password = script
        .lines()
        .find_map(|l| l.split("Password: ").nth(1))
        .expect("the walk-through prints the demo user's password")
        .trim()
        .to_owned();
    let base = format!("http://{listen}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use code_flow::{Browser, interaction_of, location};
        let mut b = Browser::default();
        let page = b
            .get(&format!("{base}/demo/rp"))
            .await
            .text()
            .await
            .unwrap();
        let login = page
            .split("href=\"")
            .find(|p| p.contains("/authorize?"))
            .and_then(|p| p.split('"').next())
            .expect("a log-in link")
            .replace("&#38;", "&")
            .replace("&amp;", "&");
        let to = location(&b.get(&login).await);
        let i = interaction_of(&to);
        let csrf = b.csrf();
        let r = b
            .post(
                &format!("{base}/login"),
                &[
                    ("i", &i),
                    ("csrf", &csrf),
                    ("username", "alice"),
                    ("password", &password),
                ],
            )
            .await;
        assert!(location(&r).contains("/consent?"));
        let r = b
            .post(
                &format!("{base}/consent"),
                &[("i", &i), ("csrf", &csrf), ("decision", "allow")],
            )
            .await;
        let callback = location(&r);
        assert!(
            callback.starts_with(&format!("{base}/demo/rp/callback?")),
            "{callback}"
        );
        let shown = b.get(&callback).await.text().await.unwrap();
        assert!(shown.contains("id=\"demo-id-claims\""), "{shown}");
        assert!(
            shown.contains("alice@example.org"),
            "the ID token's claims are shown: {shown}"
        );
    });
}

/// The browser flow across two nodes of one PostgreSQL: the request starts at A, the login and
/// consent happen at B, the code is redeemed at B; a replay at A revokes what B issued; refresh
/// reuse across nodes revokes the family.
#[tokio::test]
async fn code_flow_across_two_nodes_on_postgresql() {
    use code_flow::{Browser, interaction_of, location, query_of};
    let Some(url) = postgres_database("the two-node code-flow test").await else {
        return;
    };
    let a = start_node(Some(url.to_string()), Arc::new(SystemClock)).await;
    let b = start_node_as(
        Some(url.to_string()),
        Arc::new(SystemClock),
        Some(&a.base),
        false,
    )
    .await;
    let at_b = |u: &str| u.replacen(&a.base, &b.base, 1);

    let verifier = "two-nodes-verifier-0123456789-0123456789-0123456789";
    let challenge = wissel_crypto::pkce::s256(verifier);
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", "webapp"),
            ("redirect_uri", "https://webapp.example/cb"),
            ("scope", "openid offline_access"),
            ("state", "st"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .finish();
    let mut browser = Browser::default();
    let to = location(&browser.get(&a.url(&format!("/authorize?{q}"))).await);
    assert!(to.contains("/login?"), "{to}");
    let i = interaction_of(&to);
    let csrf = browser.csrf();
    let r = browser
        .post(
            &b.url("/login"),
            &[
                ("i", &i),
                ("csrf", &csrf),
                ("username", "alice"),
                ("password", "alice-password"),
            ],
        )
        .await;
    let to = location(&r);
    assert!(to.contains("/consent?"), "{to}");
    assert_eq!(browser.get(&at_b(&to)).await.status(), StatusCode::OK);
    let r = browser
        .post(
            &b.url("/consent"),
            &[("i", &i), ("csrf", &csrf), ("decision", "allow")],
        )
        .await;
    let to = location(&r);
    let code = query_of(&to)["code"].clone();

    let redeem = |n: &Node| {
        let url = n.url("/token");
        let code = code.clone();
        async move {
            http()
                .post(url)
                .basic_auth("webapp", Some(WEBAPP_SECRET))
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("code", code.as_str()),
                    ("redirect_uri", "https://webapp.example/cb"),
                    ("code_verifier", verifier),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let first = redeem(&b).await;
    assert_eq!(first.status(), StatusCode::OK);
    let t: Value = first.json().await.unwrap();
    let access = t["access_token"].as_str().unwrap().to_owned();
    let r1 = t["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(
        b.introspect_as(("webapp", WEBAPP_SECRET), &access).await["active"],
        true
    );
    let replay = redeem(&a).await;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        replay.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    // B learns of the revocation within the sync interval.
    let started = Instant::now();
    while b.introspect_as(("webapp", WEBAPP_SECRET), &access).await["active"] == true {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "the replay at A must deactivate B's token"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refresh = |n: &Node, rt: String| {
        let url = n.url("/token");
        async move {
            let r = http()
                .post(url)
                .basic_auth("webapp", Some(WEBAPP_SECRET))
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", rt.as_str()),
                ])
                .send()
                .await
                .unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = refresh(&a, r1).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the family died with the replay"
    );
    assert_eq!(body["error"], "invalid_grant");
    // A second code (consent is remembered, the session is shared): refresh at B, reuse at A.
    let to = location(&browser.get(&a.url(&format!("/authorize?{q}"))).await);
    let code = query_of(&to)["code"].clone();
    let t: Value = http()
        .post(a.url("/token"))
        .basic_auth("webapp", Some(WEBAPP_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "https://webapp.example/cb"),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r1 = t["refresh_token"].as_str().unwrap().to_owned();
    let (status, body) = refresh(&b, r1.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let r2 = body["refresh_token"].as_str().unwrap().to_owned();
    let (status, body) = refresh(&a, r1).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant", "reuse of a rotated token");
    let (status, _) = refresh(&b, r2).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "reuse revoked the whole family"
    );
}
