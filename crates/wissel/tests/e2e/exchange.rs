//! Token exchange (RFC 8693) end to end: users log in through the real code flow, front ends
//! trade their access tokens for API tokens, APIs introspect them; each check of the policy fails
//! on its own with its own error; chains, delegation and revocation down the chain.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use reqwest::StatusCode;
use serde_json::{Value, json};
use wissel_core::ports::{Clock, SystemClock};

use super::code_flow::{Browser, log_in_and_consent, query_of};
use super::{Node, TestClock, http, start_node_edited};

const FRONT_SECRET: &str = "front-secret-0123456789abcdef-0123456789ab";
const CASES_SECRET: &str = "cases-secret-0123456789abcdef-0123456789ab";
const CASES_SVC_SECRET: &str = "cases-svc-secret-0123456789abcdef-01234567";
const ARCHIVE_SECRET: &str = "archive-secret-0123456789abcdef-0123456789";
const FRONT: (&str, &str) = ("front", FRONT_SECRET);
const ACM: (&str, &str) = ("acm-front", FRONT_SECRET);
const UNTRUSTED: (&str, &str) = ("untrusted", FRONT_SECRET);
const CASES: (&str, &str) = ("cases-api", CASES_SECRET);
const CASES_SVC: (&str, &str) = ("cases-svc", CASES_SVC_SECRET);
const ARCHIVE: (&str, &str) = ("archive-api", ARCHIVE_SECRET);
const DAVE: (&str, &str) = ("dave", "dave-password");
const ALICE: (&str, &str) = ("alice", "alice-password");
const BOB: (&str, &str) = ("bob", "bob-password");
pub(crate) const ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";
const JWT_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";
pub(crate) const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// The clients, APIs, links, users and authorizations of these tests, added to the base config.
pub(crate) fn exchange_config() -> String {
    format!(
        r#"
[[clients]]
id = "front"
name = "Front End"
secret = "{FRONT_SECRET}"
grant_types = ["authorization_code", "refresh_token", "token_exchange"]
redirect_uris = ["https://front.example/cb"]
[[clients]]
id = "acm-front"
name = "ACM Front End"
profile = "acmidm"
secret = "{FRONT_SECRET}"
grant_types = ["authorization_code", "token_exchange"]
redirect_uris = ["https://acm.example/cb"]
[[clients]]
id = "untrusted"
name = "Untrusted"
secret = "{FRONT_SECRET}"
grant_types = ["authorization_code", "token_exchange"]
redirect_uris = ["https://untrusted.example/cb"]
[[clients]]
id = "cases-svc"
secret = "{CASES_SVC_SECRET}"
grant_types = ["client_credentials", "token_exchange"]
[[apis]]
id = "cases-api"
name = "Cases"
resources = ["https://cases.example/"]
token_format = "jwt"
secret = "{CASES_SECRET}"
client = "cases-svc"
scopes = {{ "cases:read" = "Read cases", "cases:write" = "Write cases", "cases:admin" = "Administer", "profile" = "Who you are" }}
claims = {{ "profile" = ["name", "email", "department", "preferred_username"], "cases:admin" = ["groups"] }}
[[apis]]
id = "archive-api"
name = "Archive"
resources = ["https://archive.example/"]
token_format = "opaque"
secret = "{ARCHIVE_SECRET}"
scopes = {{ "archive:read" = "Read the archive", "archive:write" = "Write the archive" }}
claims = {{ "archive:read" = ["name"] }}
[[links]]
client = "front"
api = "cases-api"
scopes = ["cases:read", "cases:write", "profile"]
exchange = true
may_act = "cases-svc"
attributes = {{ setbyapi_unit = "north" }}
[[links]]
client = "acm-front"
api = "cases-api"
scopes = ["cases:read", "profile"]
exchange = true
[[links]]
client = "untrusted"
api = "cases-api"
scopes = ["cases:read"]
[[links]]
client = "cases-svc"
api = "archive-api"
scopes = ["archive:read", "archive:write"]
exchange = true
delegation = true
[[users]]
username = "dave"
password = "dave-password"
groups = ["archivists"]
claims = {{ name = "Dave Example", email = "dave@example.org", department = "Records" }}
[[authorizations]]
user = "dave"
api = "cases-api"
scopes = ["cases:read", "cases:write", "cases:admin", "profile"]
[[authorizations]]
group = "archivists"
api = "archive-api"
scopes = ["archive:read"]
[[authorizations]]
user = "alice"
api = "cases-api"
scopes = ["cases:read", "profile"]
"#
    )
}

pub(crate) async fn exchange_node(clock: Arc<dyn Clock>) -> Node {
    start_node_edited(None, clock, None, false, |t| t + &exchange_config()).await
}

/// The user's access token for `client` (no resource), through the real login and consent.
pub(crate) async fn user_token(
    n: &Node,
    client: (&str, &str),
    cb: &str,
    user: (&str, &str),
    scope: &str,
) -> Value {
    user_token_by(n, client, cb, user, scope, true).await
}

/// [`user_token`], the client authenticating with Basic or in the form.
async fn user_token_by(
    n: &Node,
    client: (&str, &str),
    cb: &str,
    user: (&str, &str),
    scope: &str,
    basic: bool,
) -> Value {
    let mut b = Browser::default();
    let verifier = wissel_crypto::secret::generate_secret();
    let challenge = wissel_crypto::pkce::s256(&verifier);
    let to = log_in_and_consent(
        n,
        &mut b,
        &[
            ("response_type", "code"),
            ("client_id", client.0),
            ("redirect_uri", cb),
            ("scope", scope),
            ("state", "st"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
        user,
    )
    .await;
    let q = query_of(&to);
    let code = q.get("code").unwrap_or_else(|| panic!("no code: {to}"));
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", cb),
        ("code_verifier", &verifier),
    ];
    if !basic {
        form.extend([("client_id", client.0), ("client_secret", client.1)]);
    }
    let r = n.post("/token", basic.then_some(client), &form).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

/// Like [`user_token`], for a client that authenticates in the form (`client_secret_post`).
async fn user_token_post(
    n: &Node,
    client: (&str, &str),
    cb: &str,
    user: (&str, &str),
    scope: &str,
) -> Value {
    user_token_by(n, client, cb, user, scope, false).await
}

async fn front_token(n: &Node, user: (&str, &str)) -> String {
    let t = user_token(
        n,
        FRONT,
        "https://front.example/cb",
        user,
        "openid profile offline_access",
    )
    .await;
    t["access_token"].as_str().unwrap().to_owned()
}

/// A token exchange by `client`: the status and the body.
async fn exchange(
    n: &Node,
    client: (&str, &str),
    subject: &str,
    extra: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut form = vec![
        ("grant_type", EXCHANGE),
        ("subject_token", subject),
        ("subject_token_type", ACCESS),
    ];
    form.extend_from_slice(extra);
    post_token(n, client, &form).await
}

/// A token request by `client` with exactly this form: the status and the body.
async fn post_token(n: &Node, client: (&str, &str), form: &[(&str, &str)]) -> (StatusCode, Value) {
    let r = n.post("/token", Some(client), form).await;
    let status = r.status();
    assert_eq!(r.headers()["cache-control"], "no-store");
    (status, r.json().await.unwrap())
}

/// A token request that authenticates in the form (or not at all).
async fn post_token_unauthenticated(n: &Node, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let r = n.post("/token", None, form).await;
    let status = r.status();
    assert_eq!(r.headers()["cache-control"], "no-store");
    (status, r.json().await.unwrap())
}

fn assert_error(got: &(StatusCode, Value), error: &str, what: &str) {
    assert_eq!(got.1["error"], error, "{what}: {}", got.1);
    let status = if error == "invalid_client" {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_REQUEST
    };
    assert_eq!(got.0, status, "{what}");
    assert!(got.1.get("access_token").is_none(), "{what}");
    assert!(
        got.1["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{what}: no description"
    );
}

fn ok(got: (StatusCode, Value)) -> Value {
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
    got.1
}

/// The tokens of a scope string, sorted.
fn scope_of(v: &Value) -> Vec<String> {
    let mut s: Vec<String> = v
        .as_str()
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    s.sort();
    s
}

/// A client-credentials token of `client` for `api`.
async fn cc_token(n: &Node, client: (&str, &str), api: &str) -> String {
    let r = n
        .post(
            "/token",
            Some(client),
            &[("grant_type", "client_credentials"), ("audience", api)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    v["access_token"].as_str().unwrap().to_owned()
}

/// An API for `cases-api` built on wissel-resource, on its own port: `/by-introspection` and
/// `/by-jwks` answer with the validated principal. Returns its base URL and a count of answers.
async fn resource_api(n: &Node) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use wissel_resource::{
        BearerLayer, ClientAuth, IntrospectionConfig, IntrospectionValidator, JwksValidator,
        Principal,
    };
    let introspection = IntrospectionValidator::new(IntrospectionConfig::new(
        url::Url::parse(&n.url("/introspect")).unwrap(),
        "cases-api",
        ClientAuth::SecretBasic(CASES_SECRET.into()),
    ))
    .unwrap();
    let jwks = JwksValidator::discover(&n.base, "cases-api").await.unwrap();
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = calls.clone();
    let answer = move |axum::Extension(p): axum::Extension<Principal>| {
        let counted = counted.clone();
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            axum::Json(p)
        }
    };
    let app = axum::Router::new()
        .route("/by-introspection", axum::routing::get(answer.clone()))
        .route_layer(BearerLayer::new(introspection).require_scope("cases:read"))
        .merge(
            axum::Router::new()
                .route("/by-jwks", axum::routing::get(answer))
                .route_layer(BearerLayer::new(jwks)),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, calls)
}

async fn call(base: &str, path: &str, token: &str) -> (StatusCode, Value) {
    let r = http()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn tokens_rows_sql() -> &'static str {
    "SELECT COUNT(*) FROM access_tokens"
}

async fn opaque_rows(n: &Node) -> i64 {
    let pool = sqlx::SqlitePool::connect(&n.storage).await.unwrap();
    let (c,): (i64,) = sqlx::query_as(tokens_rows_sql())
        .fetch_one(&pool)
        .await
        .unwrap();
    c
}

// ---------------------------------------------------------------------------------------------

/// The seed's six steps: log in (code flow), exchange, call the API with the new token, the API
/// introspects it and learns the user's API scopes and claims.
#[tokio::test]
async fn the_six_steps_of_the_seed() {
    let n = exchange_node(Arc::new(SystemClock)).await;
    // 1. The front end holds the user's access token (its own audience).
    let subject = front_token(&n, DAVE).await;
    // The subject token cannot be used at the API: its audience is the front end.
    assert_eq!(n.introspect_as(CASES, &subject).await["active"], false);
    // 2. Exchange: no scope asked, so everything the API, the link and the user allow.
    let got = ok(exchange(&n, FRONT, &subject, &[("audience", "cases-api")]).await);
    assert_eq!(got["issued_token_type"], ACCESS);
    assert_eq!(got["token_type"], "Bearer");
    assert!(got.get("refresh_token").is_none(), "no refresh token");
    assert_eq!(
        scope_of(&got["scope"]),
        ["cases:read", "cases:write", "profile"],
        "cases:admin is the user's but not on the link"
    );
    let exp_in = got["expires_in"].as_i64().unwrap();
    assert!(exp_in > 0 && exp_in <= 600, "{exp_in}");
    let api_token = got["access_token"].as_str().unwrap();
    // 3–5. The API introspects it.
    let seen = n.introspect_as(CASES, api_token).await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(
        scope_of(&seen["scope"]),
        ["cases:read", "cases:write", "profile"]
    );
    assert_eq!(seen["client_id"], "front");
    assert_eq!(seen["aud"], "cases-api");
    assert_eq!(seen["name"], "Dave Example", "released by profile");
    assert_eq!(seen["email"], "dave@example.org");
    assert_eq!(seen["department"], "Records");
    assert_eq!(seen["preferred_username"], "dave");
    assert!(seen.get("groups").is_none(), "cases:admin was not granted");
    assert_eq!(seen["setbyapi_unit"], "north", "the link's attributes");
    assert_eq!(seen["may_act"], json!({"sub": "cases-svc"}));
    assert!(seen["parent_grant"].is_string());
    assert!(seen.get("act").is_none());
    // The subject of both tokens is the same user.
    let own = n.introspect_as(FRONT, &subject).await;
    assert_eq!(seen["sub"], own["sub"]);
    assert_eq!(seen["parent_grant"], own["grant_id"]);
    // It never outlives the subject token.
    assert!(seen["exp"].as_i64().unwrap() <= own["exp"].as_i64().unwrap());
    // Another API, or another client, sees nothing.
    assert_eq!(n.introspect_as(ARCHIVE, api_token).await["active"], false);
    assert_eq!(
        n.introspect_as(("untrusted", FRONT_SECRET), api_token)
            .await["active"],
        false
    );
    // The requesting client may introspect it.
    assert_eq!(n.introspect_as(FRONT, api_token).await["active"], true);

    // Steps 3–6 through an API built on wissel-resource: by introspection, and by the JWKS.
    let (api, calls) = resource_api(&n).await;
    let answer = call(&api, "/by-introspection", api_token).await;
    assert_eq!(answer.0, StatusCode::OK, "{}", answer.1);
    assert_eq!(answer.1["sub"], own["sub"]);
    assert_eq!(answer.1["client_id"], "front");
    assert_eq!(answer.1["claims"]["name"], "Dave Example");
    assert_eq!(answer.1["claims"]["setbyapi_unit"], "north");
    assert!(
        answer.1["scopes"]
            .as_array()
            .unwrap()
            .contains(&json!("cases:write"))
    );
    let answer = call(&api, "/by-jwks", api_token).await;
    assert_eq!(answer.0, StatusCode::OK, "{}", answer.1);
    assert_eq!(
        answer.1["claims"]["department"], "Records",
        "claims travel in the JWT"
    );
    // The user's own token is refused by the API; so is garbage.
    assert_eq!(
        call(&api, "/by-introspection", &subject).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&api, "/by-jwks", &subject).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&api, "/by-jwks", "nope").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert!(calls.load(Ordering::SeqCst) >= 2, "the handlers ran");

    // With scope and resource, and a JWT on request.
    let got = ok(exchange(
        &n,
        FRONT,
        &subject,
        &[
            ("resource", "https://cases.example/"),
            ("audience", "cases-api"),
            ("scope", "cases:read"),
            ("requested_token_type", JWT_TYPE),
        ],
    )
    .await);
    assert_eq!(got["issued_token_type"], JWT_TYPE);
    assert_eq!(got["scope"], "cases:read");
    let claims: Value =
        jsonwebtoken::dangerous::insecure_decode_claims(got["access_token"].as_str().unwrap())
            .unwrap();
    assert_eq!(claims["aud"], "cases-api");
    assert_eq!(claims["client_id"], "front");
    assert_eq!(claims["sub"], own["sub"]);
    assert!(claims.get("name").is_none(), "profile was not granted");
}

/// Check 1: the client authenticates (`invalid_client`), with any method; a replayed client
/// assertion is refused; a public client cannot exchange.
#[tokio::test]
async fn check_1_the_client_authenticates() {
    let n = exchange_node(Arc::new(SystemClock)).await;
    let subject = front_token(&n, DAVE).await;
    let before = opaque_rows(&n).await;
    let got = exchange(
        &n,
        ("front", "wrong-secret"),
        &subject,
        &[("audience", "cases-api")],
    )
    .await;
    assert_error(&got, "invalid_client", "wrong secret");
    // A public client is not allowed the grant at all.
    let r = http()
        .post(n.url("/token"))
        .form(&[
            ("grant_type", EXCHANGE),
            ("subject_token", &subject),
            ("subject_token_type", ACCESS),
            ("audience", "cases-api"),
            ("client_id", "public-app"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized_client", "{body}");
    // A replayed private_key_jwt assertion: the first gets past authentication (and is then
    // refused the grant: signer may not exchange here), the replay does not get past it.
    // `every_client_authentication_method_can_exchange` replays one after a real exchange.
    let assertion = super::assertion(&super::assertion_claims(&n.base, SystemClock.now() + 60));
    let form = [
        ("grant_type", EXCHANGE),
        ("subject_token", subject.as_str()),
        ("subject_token_type", ACCESS),
        ("audience", "cases-api"),
        ("client_id", "signer"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion.as_str()),
    ];
    let first: Value = http()
        .post(n.url("/token"))
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        first["error"], "unauthorized_client",
        "signer may not exchange: {first}"
    );
    let replay = http()
        .post(n.url("/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    let replay: Value = replay.json().await.unwrap();
    assert_eq!(replay["error"], "invalid_client", "{replay}");
    assert_eq!(
        opaque_rows(&n).await,
        before,
        "nothing written by a refusal"
    );
}

/// Check 2: the subject token is active, ours, unrevoked and issued to this client
/// (`invalid_grant`); a `subject_token_type` of an ID token or a refresh token is
/// `invalid_request`.
#[tokio::test]
async fn check_2_the_subject_token() {
    let clock = Arc::new(TestClock(AtomicI64::new(SystemClock.now())));
    let n = exchange_node(clock.clone()).await;
    let full = user_token(
        &n,
        FRONT,
        "https://front.example/cb",
        DAVE,
        "openid profile offline_access",
    )
    .await;
    let subject = full["access_token"].as_str().unwrap();
    let aud = [("audience", "cases-api")];
    // Another client's token.
    let webapp = user_token(
        &n,
        ("webapp", super::WEBAPP_SECRET),
        "https://webapp.example/cb",
        ALICE,
        "openid",
    )
    .await;
    let foreign = webapp["access_token"].as_str().unwrap();
    assert_error(
        &exchange(&n, FRONT, foreign, &aud).await,
        "invalid_grant",
        "a subject token of another client",
    );
    // Forged: a flipped signature, a foreign key, alg none, garbage.
    let mut parts: Vec<String> = subject.split('.').map(str::to_owned).collect();
    parts[2] = parts[2].chars().rev().collect();
    let flipped = parts.join(".");
    let claims: Value = jsonwebtoken::dangerous::insecure_decode_claims(subject).unwrap();
    let mut other_iss = claims.clone();
    other_iss["iss"] = json!("https://evil.example");
    let foreign_signed = super::signer_key().0.sign("at+jwt", &other_iss).unwrap();
    let same_claims_foreign_key = super::signer_key().0.sign("at+jwt", &claims).unwrap();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let none = format!(
        "{}.{}.",
        b64.encode(br#"{"alg":"none","typ":"at+jwt"}"#),
        b64.encode(claims.to_string())
    );
    for (bad, what) in [
        (flipped.as_str(), "bad signature"),
        (foreign_signed.as_str(), "another issuer"),
        (same_claims_foreign_key.as_str(), "a foreign key"),
        (none.as_str(), "alg none"),
        ("not-a-token", "garbage"),
    ] {
        assert_error(&exchange(&n, FRONT, bad, &aud).await, "invalid_grant", what);
    }
    // An ID token or a refresh token announced as an access token is not one (and is answered
    // like any other value that is not, see exchange_errors_do_not_tell_whose_token_a_value_is);
    // announced by its own type, the request is malformed.
    let id_token = full["id_token"].as_str().unwrap();
    let refresh = full["refresh_token"].as_str().unwrap();
    for (value, what) in [
        (id_token, "an ID token announced as an access token"),
        (refresh, "a refresh token announced as an access token"),
    ] {
        assert_error(
            &exchange(&n, FRONT, value, &aud).await,
            "invalid_grant",
            what,
        );
    }
    for (value, ty, what) in [
        (
            id_token,
            "urn:ietf:params:oauth:token-type:id_token",
            "an ID token",
        ),
        (
            refresh,
            "urn:ietf:params:oauth:token-type:refresh_token",
            "a refresh token",
        ),
        (subject, "urn:example:other", "an unknown type"),
    ] {
        let got = post_token(
            &n,
            FRONT,
            &[
                ("grant_type", EXCHANGE),
                ("subject_token", value),
                ("subject_token_type", ty),
                ("audience", "cases-api"),
            ],
        )
        .await;
        assert_error(&got, "invalid_request", what);
    }
    // Missing and duplicated parameters.
    let got = post_token(
        &n,
        FRONT,
        &[
            ("grant_type", EXCHANGE),
            ("subject_token", subject),
            ("audience", "cases-api"),
        ],
    )
    .await;
    assert_error(&got, "invalid_request", "no type");
    let got = post_token(
        &n,
        FRONT,
        &[
            ("grant_type", EXCHANGE),
            ("subject_token", subject),
            ("subject_token", subject),
            ("subject_token_type", ACCESS),
            ("audience", "cases-api"),
        ],
    )
    .await;
    assert_error(&got, "invalid_request", "duplicate subject_token");
    // The token works; then it is revoked and does not.
    ok(exchange(&n, FRONT, subject, &aud).await);
    let r = n.post("/revoke", Some(FRONT), &[("token", subject)]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_error(
        &exchange(&n, FRONT, subject, &aud).await,
        "invalid_grant",
        "a revoked subject token",
    );
    // Expired.
    let fresh = front_token(&n, DAVE).await;
    ok(exchange(&n, FRONT, &fresh, &aud).await);
    clock.0.fetch_add(601, Ordering::SeqCst);
    assert_error(
        &exchange(&n, FRONT, &fresh, &aud).await,
        "invalid_grant",
        "an expired subject token",
    );
}

/// A token exchange is no oracle (DESIGN.md §8): every subject token that is not an active
/// access token issued to the caller — garbage, forged, another issuer's, revoked, expired, an
/// ID token, the caller's own refresh token, another client's live refresh token or live access
/// token — gets the very same answer, so a client cannot learn what a value is to someone else.
/// The same holds for actor tokens.
#[tokio::test]
async fn exchange_errors_do_not_tell_whose_token_a_value_is() {
    let clock = Arc::new(TestClock(AtomicI64::new(SystemClock.now())));
    let n = exchange_node(clock.clone()).await;
    let aud = [("audience", "cases-api")];
    let mine = user_token(
        &n,
        FRONT,
        "https://front.example/cb",
        DAVE,
        "openid profile offline_access",
    )
    .await;
    let theirs = user_token(
        &n,
        ("webapp", super::WEBAPP_SECRET),
        "https://webapp.example/cb",
        ALICE,
        "openid offline_access",
    )
    .await;
    let field = |v: &Value, k: &str| v[k].as_str().unwrap().to_owned();
    let claims: Value =
        jsonwebtoken::dangerous::insecure_decode_claims(field(&mine, "access_token")).unwrap();
    let mut other_iss = claims.clone();
    other_iss["iss"] = json!("https://evil.example");
    let revoked = front_token(&n, DAVE).await;
    let r = n.post("/revoke", Some(FRONT), &[("token", &revoked)]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let expiring = front_token(&n, DAVE).await;
    let backend_cc = cc_token(&n, ("backend", super::BACKEND_SECRET), "orders-api").await;

    let reference = exchange(&n, FRONT, "not-a-token", &aud).await;
    assert_error(&reference, "invalid_grant", "garbage");
    let mut cases = vec![
        (
            field(&theirs, "access_token"),
            "another client's live access token",
        ),
        (
            field(&theirs, "refresh_token"),
            "another client's live refresh token",
        ),
        (
            backend_cc.clone(),
            "another client's client-credentials token",
        ),
        (
            field(&mine, "refresh_token"),
            "the caller's own refresh token",
        ),
        (field(&mine, "id_token"), "the caller's own ID token"),
        (field(&theirs, "id_token"), "another client's ID token"),
        (
            super::signer_key().0.sign("at+jwt", &other_iss).unwrap(),
            "another issuer's token",
        ),
        (revoked.clone(), "a revoked token"),
        (
            wissel_crypto::secret::generate_secret(),
            "an unknown opaque value",
        ),
    ];
    for (value, what) in &cases {
        let got = exchange(&n, FRONT, value, &aud).await;
        assert_eq!(got, reference, "{what}: the answer must not differ");
    }
    // The subject token the caller holds still works, then expires like any other.
    ok(exchange(&n, FRONT, &expiring, &aud).await);
    clock.0.fetch_add(601, Ordering::SeqCst);
    cases.push((expiring, "an expired token"));
    let got = exchange(&n, FRONT, &cases.last().unwrap().0, &aud).await;
    assert_eq!(
        got, reference,
        "an expired token: the answer must not differ"
    );
    clock.0.fetch_sub(601, Ordering::SeqCst);

    // Actor tokens: another client's live token is answered like garbage.
    let cases_token = field(
        &ok(exchange(&n, FRONT, &field(&mine, "access_token"), &aud).await),
        "access_token",
    );
    let with_actor = |actor: String| {
        let n = &n;
        let cases_token = cases_token.clone();
        async move {
            post_token(
                n,
                CASES_SVC,
                &[
                    ("grant_type", EXCHANGE),
                    ("subject_token", &cases_token),
                    ("subject_token_type", ACCESS),
                    ("audience", "archive-api"),
                    ("actor_token", &actor),
                    ("actor_token_type", ACCESS),
                ],
            )
            .await
        }
    };
    let garbage = with_actor("not-a-token".into()).await;
    assert_error(&garbage, "invalid_request", "a garbage actor token");
    for (actor, what) in [
        (backend_cc, "another client's live actor token"),
        (
            field(&theirs, "refresh_token"),
            "another client's refresh token as actor",
        ),
    ] {
        assert_eq!(
            with_actor(actor).await,
            garbage,
            "{what}: the answer must not differ"
        );
    }
    n.server.shutdown().await;
}

/// Check 3: the target API exists (`invalid_target`); audience and resource must agree.
#[tokio::test]
async fn check_3_the_target_api() {
    let n = exchange_node(Arc::new(SystemClock)).await;
    let subject = front_token(&n, DAVE).await;
    for (extra, what) in [
        (vec![("audience", "no-such-api")], "an unknown API"),
        (
            vec![("resource", "https://nowhere.example/")],
            "an unknown resource",
        ),
        (
            vec![
                ("audience", "cases-api"),
                ("resource", "https://archive.example/"),
            ],
            "audience and resource disagree",
        ),
        (vec![("resource", "not a uri")], "a malformed resource"),
    ] {
        assert_error(
            &exchange(&n, FRONT, &subject, &extra).await,
            "invalid_target",
            what,
        );
    }
    assert_error(
        &exchange(&n, FRONT, &subject, &[]).await,
        "invalid_request",
        "no target named",
    );
    // A malformed request is invalid_request, whatever else is wrong with it.
    assert_error(
        &exchange(
            &n,
            FRONT,
            &subject,
            &[
                ("audience", "no-such-api"),
                (
                    "requested_token_type",
                    "urn:ietf:params:oauth:token-type:id_token",
                ),
            ],
        )
        .await,
        "invalid_request",
        "an unsupported requested_token_type",
    );
}

/// Check 4: the API trusts the client for exchange (`unauthorized_client`); an actor token needs
/// the link's delegation permission (`invalid_request`).
#[tokio::test]
async fn check_4_the_api_trusts_the_client() {
    let n = exchange_node(Arc::new(SystemClock)).await;
    let t = user_token(
        &n,
        UNTRUSTED,
        "https://untrusted.example/cb",
        DAVE,
        "openid",
    )
    .await;
    let subject = t["access_token"].as_str().unwrap();
    assert_error(
        &exchange(&n, UNTRUSTED, subject, &[("audience", "cases-api")]).await,
        "unauthorized_client",
        "linked without exchange trust",
    );
    assert_error(
        &exchange(&n, UNTRUSTED, subject, &[("audience", "archive-api")]).await,
        "unauthorized_client",
        "not linked at all",
    );
    // An actor token without the permission.
    let subject = front_token(&n, DAVE).await;
    assert_error(
        &exchange(
            &n,
            FRONT,
            &subject,
            &[
                ("audience", "cases-api"),
                ("actor_token", &subject),
                ("actor_token_type", ACCESS),
            ],
        )
        .await,
        "invalid_request",
        "an actor token without delegation",
    );
}

/// Check 5: the user is authorised for the API (`invalid_grant`, saying so).
#[tokio::test]
async fn check_5_the_user_is_authorized() {
    let n = exchange_node(Arc::new(SystemClock)).await;
    let subject = front_token(&n, BOB).await;
    let got = exchange(&n, FRONT, &subject, &[("audience", "cases-api")]).await;
    assert_error(&got, "invalid_grant", "a user without authorization");
    assert!(
        got.1["error_description"]
            .as_str()
            .unwrap()
            .contains("not authorized"),
        "{}",
        got.1
    );
}

/// Check 6: scopes beyond the user's or the link's (`invalid_scope`); never more than the
/// intersection.
#[tokio::test]
async fn check_6_the_scope_intersection() {
    let n = exchange_node(Arc::new(SystemClock)).await;
    let alice = front_token(&n, ALICE).await;
    assert_error(
        &exchange(
            &n,
            FRONT,
            &alice,
            &[("audience", "cases-api"), ("scope", "cases:write")],
        )
        .await,
        "invalid_scope",
        "a scope the link allows but the user does not hold",
    );
    let dave = front_token(&n, DAVE).await;
    assert_error(
        &exchange(
            &n,
            FRONT,
            &dave,
            &[("audience", "cases-api"), ("scope", "cases:admin")],
        )
        .await,
        "invalid_scope",
        "a scope the user holds but the link does not allow",
    );
    assert_error(
        &exchange(
            &n,
            FRONT,
            &dave,
            &[("audience", "cases-api"), ("scope", "bad\"scope")],
        )
        .await,
        "invalid_scope",
        "a malformed scope",
    );
    // A mixed request is narrowed to the intersection.
    let got = ok(exchange(
        &n,
        FRONT,
        &alice,
        &[
            ("audience", "cases-api"),
            ("scope", "cases:read cases:write cases:admin"),
        ],
    )
    .await);
    assert_eq!(got["scope"], "cases:read");
}

/// The checks run in the order of docs/token-exchange.md: a request that fails two of them gets
/// the error of the earlier one. And the subject token's issuer, type and lifetime bind the
/// exchange.
#[tokio::test]
async fn the_checks_run_in_their_order() {
    let clock = Arc::new(TestClock(AtomicI64::new(SystemClock.now())));
    let n = exchange_node(clock.clone()).await;
    let nowhere = [("audience", "no-such-api")];
    // 2 before 3: another client's token, and an unknown API.
    let webapp = user_token(
        &n,
        ("webapp", super::WEBAPP_SECRET),
        "https://webapp.example/cb",
        ALICE,
        "openid",
    )
    .await;
    assert_error(
        &exchange(
            &n,
            FRONT,
            webapp["access_token"].as_str().unwrap(),
            &nowhere,
        )
        .await,
        "invalid_grant",
        "checks 2 and 3 fail: 2 answers",
    );
    // 3 before 4: an unknown API, asked by a client that no API trusts.
    let bob_untrusted = user_token(&n, UNTRUSTED, "https://untrusted.example/cb", BOB, "openid")
        .await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_error(
        &exchange(&n, UNTRUSTED, &bob_untrusted, &nowhere).await,
        "invalid_target",
        "checks 3 and 4 fail: 3 answers",
    );
    // 4 before 5: an untrusted client, for a user without authorization.
    assert_error(
        &exchange(&n, UNTRUSTED, &bob_untrusted, &[("audience", "cases-api")]).await,
        "unauthorized_client",
        "checks 4 and 5 fail: 4 answers",
    );
    // 5 before 6: a user without authorization, asking a scope the link does not allow.
    let bob = front_token(&n, BOB).await;
    let got = exchange(
        &n,
        FRONT,
        &bob,
        &[("audience", "cases-api"), ("scope", "cases:admin")],
    )
    .await;
    assert_error(&got, "invalid_grant", "checks 5 and 6 fail: 5 answers");
    assert!(
        got.1["error_description"]
            .as_str()
            .unwrap()
            .contains("not authorized")
    );

    // A token signed with this server's own key but naming another issuer is not ours.
    let dave = front_token(&n, DAVE).await;
    let mut claims: Value = jsonwebtoken::dangerous::insecure_decode_claims(&dave).unwrap();
    claims["iss"] = json!("https://evil.example");
    let other_issuer = n.server.state.keys().sign("at+jwt", &claims).unwrap();
    assert_error(
        &exchange(&n, FRONT, &other_issuer, &[("audience", "cases-api")]).await,
        "invalid_grant",
        "our signature, another issuer",
    );
    // `subject_token_type=…:jwt`: a JWT access token is accepted; an opaque token is not a JWT.
    let jwt_typed = post_token(
        &n,
        FRONT,
        &[
            ("grant_type", EXCHANGE),
            ("subject_token", &dave),
            ("subject_token_type", JWT_TYPE),
            ("audience", "cases-api"),
        ],
    )
    .await;
    ok(jwt_typed);
    let acm = user_token(&n, ACM, "https://acm.example/cb", DAVE, "openid").await;
    let opaque = acm["access_token"].as_str().unwrap();
    assert!(!opaque.contains('.'));
    let got = post_token(
        &n,
        ACM,
        &[
            ("grant_type", EXCHANGE),
            ("subject_token", opaque),
            ("subject_token_type", JWT_TYPE),
            ("audience", "cases-api"),
        ],
    )
    .await;
    assert_error(
        &got,
        "invalid_request",
        "an opaque token announced as a JWT",
    );

    // The new token never outlives its subject: 500 s into the subject's 600, the API's 900 s
    // lifetime is cut to what the subject has left, for JWT and opaque tokens alike.
    let subject_exp = n.introspect_as(FRONT, &dave).await["exp"].as_i64().unwrap();
    let acm_exp = n.introspect_as(ACM, opaque).await["exp"].as_i64().unwrap();
    clock.0.fetch_add(500, Ordering::SeqCst);
    let got = ok(exchange(&n, FRONT, &dave, &[("audience", "cases-api")]).await);
    let left = got["expires_in"].as_i64().unwrap();
    assert!((1..=100).contains(&left), "expires_in {left}");
    let seen = n
        .introspect_as(CASES, got["access_token"].as_str().unwrap())
        .await;
    assert_eq!(seen["exp"].as_i64().unwrap(), subject_exp);
    assert!(seen["iat"].as_i64().unwrap() >= clock.now());
    let got = ok(exchange(&n, ACM, opaque, &[("audience", "cases-api")]).await);
    assert!(!got["access_token"].as_str().unwrap().contains('.'));
    assert!(got["expires_in"].as_i64().unwrap() <= 100);
    let seen = n
        .introspect_as(CASES, got["access_token"].as_str().unwrap())
        .await;
    assert_eq!(seen["exp"].as_i64().unwrap(), acm_exp);
    // And past the subject's end, nothing it gave remains.
    clock.0.fetch_add(101, Ordering::SeqCst);
    assert_eq!(
        n.introspect_as(CASES, got["access_token"].as_str().unwrap())
            .await["active"],
        false
    );
}

/// Client authentication at the exchange, by every method: `client_secret_post` for a front end,
/// `private_key_jwt` for an API's own client further down the chain, whose assertion cannot be
/// replayed.
#[tokio::test]
async fn every_client_authentication_method_can_exchange() {
    let n = start_node_edited(None, Arc::new(SystemClock), None, false, |t| {
        // signer (private_key_jwt) may exchange too.
        let from = "grant_types = [\"client_credentials\"]\n[[clients]]\nid = \"spa\"";
        assert!(t.contains(from));
        let t = t.replacen(
            from,
            "grant_types = [\"client_credentials\", \"token_exchange\"]\n[[clients]]\nid = \"spa\"",
            1,
        );
        let x = exchange_config()
            .replacen(
                "id = \"front\"\nname = \"Front End\"",
                "id = \"front\"\nname = \"Front End\"\nauth_method = \"client_secret_post\"",
                1,
            )
            .replacen("client = \"cases-svc\"", "client = \"signer\"", 1);
        format!(
            "{t}{x}[[links]]\nclient = \"signer\"\napi = \"archive-api\"\nscopes = [\"archive:read\"]\nexchange = true\n"
        )
    })
    .await;
    // The front end authenticates in the form, at the code redemption and at the exchange.
    let subject = user_token_post(&n, FRONT, "https://front.example/cb", DAVE, "openid")
        .await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let got = ok(post_token_unauthenticated(
        &n,
        &[
            ("grant_type", EXCHANGE),
            ("subject_token", &subject),
            ("subject_token_type", ACCESS),
            ("audience", "cases-api"),
            ("client_id", "front"),
            ("client_secret", FRONT_SECRET),
        ],
    )
    .await);
    let cases_token = got["access_token"].as_str().unwrap().to_owned();
    // Basic is not the registered method any more.
    assert_error(
        &exchange(&n, FRONT, &subject, &[("audience", "cases-api")]).await,
        "invalid_client",
        "Basic for a client_secret_post client",
    );
    // cases-api acts as signer, which authenticates with a private_key_jwt assertion.
    let assertion = super::assertion(&super::assertion_claims(&n.base, SystemClock.now() + 60));
    let form = [
        ("grant_type", EXCHANGE),
        ("subject_token", cases_token.as_str()),
        ("subject_token_type", ACCESS),
        ("audience", "archive-api"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion.as_str()),
    ];
    let got = ok(post_token_unauthenticated(&n, &form).await);
    let archive_token = got["access_token"].as_str().unwrap();
    let seen = n.introspect_as(ARCHIVE, archive_token).await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["client_id"], "signer");
    assert_eq!(seen["scope"], "archive:read");
    let before = opaque_rows(&n).await;
    let replay = post_token_unauthenticated(&n, &form).await;
    assert_error(&replay, "invalid_client", "a replayed client assertion");
    assert_eq!(opaque_rows(&n).await, before, "the replay wrote nothing");
}

/// Delegation down a chain: each actor is nested inside the next (RFC 8693 §4.1), introspection
/// shows the whole `act`, and a subject token's `may_act` admits only the actor it names.
#[tokio::test]
async fn delegation_nests_act_and_honours_may_act() {
    let n = start_node_edited(None, Arc::new(SystemClock), None, false, |t| {
        let x = exchange_config().replacen(
            "id = \"archive-api\"",
            "id = \"archive-api\"\nclient = \"archive-svc\"",
            1,
        );
        format!(
            r#"{t}{x}
[[clients]]
id = "archive-svc"
secret = "{ARCHIVE_SECRET}"
grant_types = ["client_credentials", "token_exchange"]
[[apis]]
id = "vault-api"
token_format = "jwt"
secret = "{ARCHIVE_SECRET}"
scopes = {{ "vault:read" = "Read the vault" }}
[[links]]
client = "archive-svc"
api = "vault-api"
scopes = ["vault:read"]
exchange = true
delegation = true
[[authorizations]]
group = "archivists"
api = "vault-api"
scopes = ["vault:read"]
"#
        )
    })
    .await;
    const ARCHIVE_SVC: (&str, &str) = ("archive-svc", ARCHIVE_SECRET);
    let vault: (&str, &str) = ("vault-api", ARCHIVE_SECRET);
    let subject = front_token(&n, DAVE).await;
    let cases = ok(exchange(&n, FRONT, &subject, &[("audience", "cases-api")]).await);
    let cases_token = cases["access_token"].as_str().unwrap();
    // may_act names cases-svc: an actor token issued to cases-svc but for the user is refused.
    let plain = ok(exchange(&n, CASES_SVC, cases_token, &[("audience", "archive-api")]).await);
    let users_token = plain["access_token"].as_str().unwrap();
    let got = exchange(
        &n,
        CASES_SVC,
        cases_token,
        &[
            ("audience", "archive-api"),
            ("actor_token", users_token),
            ("actor_token_type", ACCESS),
        ],
    )
    .await;
    assert_error(
        &got,
        "invalid_request",
        "an actor that may_act does not name",
    );
    assert!(
        got.1["error_description"]
            .as_str()
            .unwrap()
            .contains("may_act")
    );
    // cases-svc acts, as may_act allows.
    let actor = cc_token(&n, CASES_SVC, "archive-api").await;
    let first = ok(exchange(
        &n,
        CASES_SVC,
        cases_token,
        &[
            ("audience", "archive-api"),
            ("actor_token", &actor),
            ("actor_token_type", ACCESS),
        ],
    )
    .await);
    let archive_token = first["access_token"].as_str().unwrap();
    assert_eq!(
        n.introspect_as(ARCHIVE, archive_token).await["act"],
        json!({"sub": "cases-svc"})
    );
    // archive-svc acts next: the earlier actor is nested inside.
    let actor = cc_token(&n, ARCHIVE_SVC, "vault-api").await;
    let second = ok(exchange(
        &n,
        ARCHIVE_SVC,
        archive_token,
        &[
            ("audience", "vault-api"),
            ("actor_token", &actor),
            ("actor_token_type", ACCESS),
        ],
    )
    .await);
    let vault_token = second["access_token"].as_str().unwrap();
    let seen = n.introspect_as(vault, vault_token).await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(
        seen["act"],
        json!({"sub": "archive-svc", "act": {"sub": "cases-svc"}})
    );
    assert_eq!(seen["scope"], "vault:read");
    let claims: Value = jsonwebtoken::dangerous::insecure_decode_claims(vault_token).unwrap();
    assert_eq!(claims["act"], seen["act"], "the JWT carries the same act");
    // Without an actor token, the subject's own act travels on.
    let third = ok(exchange(&n, ARCHIVE_SVC, archive_token, &[("audience", "vault-api")]).await);
    assert_eq!(
        n.introspect_as(vault, third["access_token"].as_str().unwrap())
            .await["act"],
        json!({"sub": "cases-svc"})
    );
}

/// Chains and delegation: the API's own client exchanges the token it received for one to a
/// further API, with itself as the actor; revoking the root grant revokes the whole chain.
#[tokio::test]
async fn chains_delegation_and_revocation_down_the_chain() {
    let n = exchange_node(Arc::new(SystemClock)).await;
    let full = user_token(
        &n,
        FRONT,
        "https://front.example/cb",
        DAVE,
        "openid profile offline_access",
    )
    .await;
    let subject = full["access_token"].as_str().unwrap();
    let refresh = full["refresh_token"].as_str().unwrap();
    let first = ok(exchange(&n, FRONT, subject, &[("audience", "cases-api")]).await);
    let cases_token = first["access_token"].as_str().unwrap();
    // The API's client exchanges it further, plainly.
    let plain = ok(exchange(&n, CASES_SVC, cases_token, &[("audience", "archive-api")]).await);
    let archive_token = plain["access_token"].as_str().unwrap();
    let seen = n.introspect_as(ARCHIVE, archive_token).await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["client_id"], "cases-svc");
    assert_eq!(seen["scope"], "archive:read", "through dave's group");
    assert_eq!(seen["name"], "Dave Example");
    assert!(seen.get("act").is_none());
    // With an actor token: cases-svc acts for the user, as the subject's may_act allows.
    let actor = cc_token(&n, CASES_SVC, "archive-api").await;
    let delegated = ok(exchange(
        &n,
        CASES_SVC,
        cases_token,
        &[
            ("audience", "archive-api"),
            ("actor_token", &actor),
            ("actor_token_type", ACCESS),
        ],
    )
    .await);
    let delegated_token = delegated["access_token"].as_str().unwrap();
    let seen = n.introspect_as(ARCHIVE, delegated_token).await;
    assert_eq!(seen["act"], json!({"sub": "cases-svc"}), "{seen}");
    // An actor token of another client is refused.
    let foreign_actor = cc_token(&n, ("backend", super::BACKEND_SECRET), "orders-api").await;
    assert_error(
        &exchange(
            &n,
            CASES_SVC,
            cases_token,
            &[
                ("audience", "archive-api"),
                ("actor_token", &foreign_actor),
                ("actor_token_type", ACCESS),
            ],
        )
        .await,
        "invalid_request",
        "an actor token issued to another client",
    );
    // The intermediate is not trusted by orders-api.
    assert_error(
        &exchange(&n, CASES_SVC, cases_token, &[("audience", "orders-api")]).await,
        "unauthorized_client",
        "a further exchange to an API that does not trust the intermediate",
    );
    // Another client cannot exchange the cases token.
    assert_error(
        &exchange(&n, UNTRUSTED, cases_token, &[("audience", "cases-api")]).await,
        "invalid_grant",
        "a token for an API this client does not act as",
    );
    // Revoking a middle link (the cases token) revokes what was derived from it, not its parent.
    let second = ok(exchange(&n, FRONT, subject, &[("audience", "cases-api")]).await);
    let second_token = second["access_token"].as_str().unwrap();
    let derived = ok(exchange(&n, CASES_SVC, second_token, &[("audience", "archive-api")]).await);
    let derived_token = derived["access_token"].as_str().unwrap();
    let r = n
        .post("/revoke", Some(FRONT), &[("token", second_token)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(n.introspect_as(CASES, second_token).await["active"], false);
    assert_eq!(
        n.introspect_as(ARCHIVE, derived_token).await["active"],
        false
    );
    assert_eq!(n.introspect_as(CASES, cases_token).await["active"], true);
    // Revoking the root grant (the refresh token's) revokes the whole chain.
    let r = n.post("/revoke", Some(FRONT), &[("token", refresh)]).await;
    assert_eq!(r.status(), StatusCode::OK);
    for (who, t, what) in [
        (FRONT, subject, "the subject token"),
        (CASES, cases_token, "the first exchange"),
        (ARCHIVE, archive_token, "the second exchange"),
        (ARCHIVE, delegated_token, "the delegated exchange"),
    ] {
        assert_eq!(
            n.introspect_as(who, t).await["active"],
            false,
            "{what} outlived its root grant"
        );
    }
    assert_error(
        &exchange(&n, CASES_SVC, cases_token, &[("audience", "archive-api")]).await,
        "invalid_grant",
        "a token of a revoked chain",
    );
}

/// The acmidm profile: opaque tokens by default, a JWT on request, a signed `jwt` member in
/// introspection, 30 s codes, and the `/op/v1/*` paths.
#[tokio::test]
async fn acmidm_profile() {
    let clock = Arc::new(TestClock(AtomicI64::new(SystemClock.now())));
    let n = start_node_edited(None, clock.clone(), None, false, |t| {
        (t + &exchange_config()).replacen(
            "sync_interval_ms = 100",
            "sync_interval_ms = 100\nacmidm_path_aliases = true",
            1,
        )
    })
    .await;
    let t = user_token(&n, ACM, "https://acm.example/cb", DAVE, "openid profile").await;
    let subject = t["access_token"].as_str().unwrap();
    assert!(
        !subject.contains('.'),
        "acmidm: the client's own token is opaque"
    );
    let got = ok(exchange(&n, ACM, subject, &[("audience", "cases-api")]).await);
    let opaque = got["access_token"].as_str().unwrap();
    assert!(
        !opaque.contains('.'),
        "opaque by default, though cases-api says jwt"
    );
    assert_eq!(got["issued_token_type"], ACCESS);
    let seen = n.introspect_as(CASES, opaque).await;
    assert_eq!(seen["active"], true);
    let jwt = seen["jwt"].as_str().expect("the signed jwt member");
    let header = jsonwebtoken::decode_header(jwt).unwrap();
    assert_eq!(header.typ.as_deref(), Some("token-introspection+jwt"));
    let copy: Value = jsonwebtoken::dangerous::insecure_decode_claims(jwt).unwrap();
    assert_eq!(copy["sub"], seen["sub"]);
    assert_eq!(copy["scope"], seen["scope"]);
    // The signed copy is not an access token.
    assert_eq!(n.introspect_as(CASES, jwt).await["active"], false);
    let got = ok(exchange(
        &n,
        ACM,
        subject,
        &[
            ("audience", "cases-api"),
            ("requested_token_type", JWT_TYPE),
        ],
    )
    .await);
    assert_eq!(got["issued_token_type"], JWT_TYPE);
    assert!(got["access_token"].as_str().unwrap().contains('.'));
    // /op/v1 aliases; the signed copy verifies with the key published at /op/v1/keys.
    let r = http().get(n.url("/op/v1/keys")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let jwks: jsonwebtoken::jwk::JwkSet = r.json().await.unwrap();
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("kid published");
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.validate_aud = false;
    v.required_spec_claims.clear();
    let verified =
        jsonwebtoken::decode::<Value>(jwt, &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(), &v)
            .expect("the jwt member is signed by the server");
    assert_eq!(verified.claims["sub"], seen["sub"]);
    let r = http()
        .get(n.url("/op/v1/userinfo"))
        .bearer_auth(subject)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let info: Value = r.json().await.unwrap();
    assert_eq!(info["sub"], seen["sub"]);
    let r = http()
        .get(n.url(
            "/op/v1/auth?response_type=code&client_id=acm-front&redirect_uri=https%3A%2F%2Facm.example%2Fcb&scope=openid&state=s&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        ))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .contains("/login?")
    );
    let r = http().get(n.url("/op/v1/logout")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the logout confirmation page");
    let r = n
        .post("/op/v1/introspect", Some(CASES), &[("token", opaque)])
        .await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["active"], true);
    let r = n
        .post(
            "/op/v1/token",
            Some(ACM),
            &[
                ("grant_type", EXCHANGE),
                ("subject_token", subject),
                ("subject_token_type", ACCESS),
                ("audience", "cases-api"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // 30 s codes: a code older than that is refused.
    let mut b = Browser::default();
    let verifier = wissel_crypto::secret::generate_secret();
    let challenge = wissel_crypto::pkce::s256(&verifier);
    let to = log_in_and_consent(
        &n,
        &mut b,
        &[
            ("response_type", "code"),
            ("client_id", "acm-front"),
            ("redirect_uri", "https://acm.example/cb"),
            ("scope", "openid"),
            ("state", "st"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
        DAVE,
    )
    .await;
    let code = query_of(&to)["code"].clone();
    clock.0.fetch_add(31, Ordering::SeqCst);
    let r = n
        .post(
            "/op/v1/token",
            Some(ACM),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "https://acm.example/cb"),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant", "{body}");
}

/// Two nodes on one PostgreSQL: a chain built across both, and a revocation of its root at one
/// node deactivates every derived token at the other within the sync interval.
#[tokio::test]
async fn revocation_runs_down_the_chain_on_every_node() {
    let Some(url) = super::postgres_database("the two-node chain revocation test").await else {
        return;
    };
    let a = start_node_edited(
        Some(url.to_string()),
        Arc::new(SystemClock),
        None,
        false,
        |t| t + &exchange_config(),
    )
    .await;
    let b = start_node_edited(
        Some(url.to_string()),
        Arc::new(SystemClock),
        Some(&a.base),
        false,
        |t| t + &exchange_config(),
    )
    .await;
    let full = user_token(
        &a,
        FRONT,
        "https://front.example/cb",
        DAVE,
        "openid profile offline_access",
    )
    .await;
    let subject = full["access_token"].as_str().unwrap();
    // The first exchange at B, the second (by the API's client) at A, an opaque one.
    let first = ok(exchange(&b, FRONT, subject, &[("audience", "cases-api")]).await);
    let cases_token = first["access_token"].as_str().unwrap();
    let second = ok(exchange(&a, CASES_SVC, cases_token, &[("audience", "archive-api")]).await);
    let archive_token = second["access_token"].as_str().unwrap();
    assert!(
        !archive_token.contains('.'),
        "archive-api tokens are opaque"
    );
    for n in [&a, &b] {
        assert_eq!(n.introspect_as(CASES, cases_token).await["active"], true);
        assert_eq!(
            n.introspect_as(ARCHIVE, archive_token).await["active"],
            true
        );
    }
    // Revoke the root grant at A (through its refresh token); B follows.
    let r = a
        .post(
            "/revoke",
            Some(FRONT),
            &[("token", full["refresh_token"].as_str().unwrap())],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let started = std::time::Instant::now();
    loop {
        let cases = b.introspect_as(CASES, cases_token).await["active"] == false;
        let archive = b.introspect_as(ARCHIVE, archive_token).await["active"] == false;
        if cases && archive {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "node B still accepts tokens of a revoked chain"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_error(
        &exchange(&b, CASES_SVC, cases_token, &[("audience", "archive-api")]).await,
        "invalid_grant",
        "a further exchange from a revoked chain at the other node",
    );
}
