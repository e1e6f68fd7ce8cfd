//! Validators and the layer against a fake authorization server over real HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex,
        atomic::{AtomicI64, AtomicUsize, Ordering::SeqCst},
    },
};

use aws_lc_rs::{
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair},
};
use axum::{
    Extension, Json, Router,
    body::Body,
    extract::State,
    http::{HeaderMap, Request, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Value, json};
use tower::ServiceExt;
use url::Url;
use wissel_resource::{
    BearerLayer, ClientAuth, Clock, ConfigError, IntrospectionConfig, IntrospectionValidator,
    JwksConfig, JwksValidator, Principal, ValidationError, Validator,
};

const T0: i64 = 1_750_000_000;
const API: &str = "api-1";
/// Characters that must be form-urlencoded in HTTP Basic (RFC 6749 §2.3.1).
const API_SECRET: &str = "s3cret:+/ é%&=";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

struct TestClock(AtomicI64);

impl Clock for TestClock {
    fn now(&self) -> i64 {
        self.0.load(SeqCst)
    }
}

impl TestClock {
    fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, SeqCst);
    }
}

struct EcKey {
    kid: String,
    pkcs8: Vec<u8>,
    x: String,
    y: String,
}

impl EcKey {
    fn generate(kid: &str) -> Self {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let point = pair.public_key().as_ref();
        assert_eq!(point.len(), 65);
        Self {
            kid: kid.to_owned(),
            pkcs8: pkcs8.as_ref().to_vec(),
            x: URL_SAFE_NO_PAD.encode(&point[1..33]),
            y: URL_SAFE_NO_PAD.encode(&point[33..]),
        }
    }

    fn jwk(&self) -> Value {
        json!({ "kty": "EC", "crv": "P-256", "x": self.x, "y": self.y,
                "kid": self.kid, "use": "sig", "alg": "ES256" })
    }

    fn pem(&self) -> String {
        let body = STANDARD.encode(&self.pkcs8);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            lines.join("\n")
        )
    }

    fn sign(&self, claims: &Value) -> String {
        self.sign_with(at_header(&self.kid, Algorithm::ES256), claims)
    }

    fn sign_with(&self, header: Header, claims: &Value) -> String {
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ec_der(&self.pkcs8)).unwrap()
    }
}

fn at_header(kid: &str, alg: Algorithm) -> Header {
    Header {
        typ: Some("at+jwt".into()),
        kid: Some(kid.into()),
        ..Header::new(alg)
    }
}

/// The authorization server, as far as an API sees it.
struct FakeAs {
    issuer: String,
    clock: Arc<TestClock>,
    jwks: Mutex<Vec<Value>>,
    jwks_fetches: AtomicUsize,
    introspections: AtomicUsize,
    answers: Mutex<HashMap<String, Value>>,
    client_key: Mutex<Option<DecodingKey>>,
    client_kid: Mutex<Option<String>>,
    seen_jti: Mutex<HashSet<String>>,
    methods: Mutex<Vec<&'static str>>,
}

impl FakeAs {
    async fn start() -> Arc<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fake = Arc::new(Self {
            issuer: format!("http://{}", listener.local_addr().unwrap()),
            clock: Arc::new(TestClock(AtomicI64::new(T0))),
            jwks: Mutex::default(),
            jwks_fetches: AtomicUsize::default(),
            introspections: AtomicUsize::default(),
            answers: Mutex::default(),
            client_key: Mutex::default(),
            client_kid: Mutex::default(),
            seen_jti: Mutex::default(),
            methods: Mutex::default(),
        });
        let app = Router::new()
            .route("/jwks", get(jwks))
            .route("/introspect", post(introspect))
            .route(
                "/broken",
                post(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
            )
            .route("/.well-known/openid-configuration", get(discovery))
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        fake
    }

    fn url(&self, path: &str) -> Url {
        Url::parse(&format!("{}{path}", self.issuer)).unwrap()
    }

    fn now(&self) -> i64 {
        self.clock.now()
    }

    fn answer(&self, token: &str, answer: Value) {
        self.answers
            .lock()
            .unwrap()
            .insert(token.to_owned(), answer);
    }

    /// An active answer for `token` with every kind of member, `overrides` applied.
    fn active(&self, token: &str, overrides: Value) {
        let now = self.now();
        let mut answer = json!({
            "active": true, "scope": "orders:read profile", "client_id": "app-1",
            "sub": "alice", "aud": API, "iss": self.issuer, "exp": now + 3600,
            "iat": now, "nbf": now, "jti": "jti-1", "token_type": "Bearer",
            "grant_id": "grant-1", "act": { "sub": "svc-2", "act": { "sub": "svc-1" } },
            "may_act": { "sub": "svc-3" }, "parent_grant": "grant-0",
            "name": "Alice", "email": "alice@example.org", "setbyapi_x": "42",
        });
        for (name, value) in overrides.as_object().unwrap() {
            answer[name] = value.clone();
        }
        self.answer(token, answer);
    }

    fn introspector(&self, auth: ClientAuth) -> IntrospectionValidator {
        self.introspector_at(self.url("/introspect"), auth)
    }

    fn introspector_at(&self, endpoint: Url, auth: ClientAuth) -> IntrospectionValidator {
        IntrospectionValidator::new(IntrospectionConfig::new(endpoint, API, auth))
            .unwrap()
            .with_clock(self.clock.clone())
    }

    fn jwks_validator(&self) -> JwksValidator {
        JwksValidator::new(JwksConfig::new(&self.issuer, self.url("/jwks"), API))
            .unwrap()
            .with_clock(self.clock.clone())
    }

    fn at_claims(&self) -> Value {
        let now = self.now();
        json!({
            "iss": self.issuer, "sub": "alice", "aud": API, "client_id": "app-1",
            "scope": "orders:read", "iat": now, "exp": now + 300, "jti": "at-1",
            "grant_id": "grant-1", "chain": ["app-0"], "name": "Alice",
        })
    }

    /// The API's authentication, as the server checks it; `None` is `invalid_client`.
    fn authenticate(
        &self,
        headers: &HeaderMap,
        form: &HashMap<String, String>,
    ) -> Option<&'static str> {
        if let Some(value) = headers.get(header::AUTHORIZATION) {
            let encoded = value.to_str().ok()?.strip_prefix("Basic ")?;
            let decoded = String::from_utf8(STANDARD.decode(encoded).ok()?).ok()?;
            let (id, secret) = decoded.split_once(':')?;
            let ok = form_decode(id) == API && form_decode(secret) == API_SECRET;
            return ok.then_some("client_secret_basic");
        }
        if let Some(secret) = form.get("client_secret") {
            let ok = form.get("client_id")? == API && secret == API_SECRET;
            return ok.then_some("client_secret_post");
        }
        let assertion = form.get("client_assertion")?;
        if form.get("client_assertion_type")? != JWT_BEARER || form.get("client_id")? != API {
            return None;
        }
        let key = self.client_key.lock().unwrap().clone()?;
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_issuer(&[API]);
        validation.sub = Some(API.to_owned());
        validation.set_audience(&[&self.issuer]);
        validation.set_required_spec_claims(&["iss", "sub", "aud", "exp", "iat", "jti"]);
        validation.validate_exp = false; // against the test clock, below
        let data = jsonwebtoken::decode::<Value>(assertion, &key, &validation).ok()?;
        if data.header.kid != *self.client_kid.lock().unwrap() {
            return None;
        }
        let (now, claims) = (self.now(), data.claims);
        let exp = claims["exp"].as_i64()?;
        let iat = claims["iat"].as_i64()?;
        let jti = claims["jti"].as_str()?.to_owned();
        let fresh = self.seen_jti.lock().unwrap().insert(jti);
        (fresh && iat <= now && now < exp && exp <= now + 300).then_some("private_key_jwt")
    }
}

fn form_decode(value: &str) -> String {
    url::form_urlencoded::parse(value.as_bytes())
        .next()
        .map(|(decoded, _)| decoded.into_owned())
        .unwrap_or_default()
}

async fn jwks(State(fake): State<Arc<FakeAs>>) -> Json<Value> {
    fake.jwks_fetches.fetch_add(1, SeqCst);
    Json(json!({ "keys": *fake.jwks.lock().unwrap() }))
}

async fn discovery(State(fake): State<Arc<FakeAs>>) -> Json<Value> {
    Json(json!({ "issuer": fake.issuer, "jwks_uri": fake.url("/jwks").as_str() }))
}

async fn introspect(State(fake): State<Arc<FakeAs>>, headers: HeaderMap, body: String) -> Response {
    fake.introspections.fetch_add(1, SeqCst);
    let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let Some(method) = fake.authenticate(&headers, &form) else {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": "invalid_client" })),
        )
            .into_response();
    };
    fake.methods.lock().unwrap().push(method);
    let answer = fake.answers.lock().unwrap().get(&form["token"]).cloned();
    Json(answer.unwrap_or(json!({ "active": false }))).into_response()
}

fn basic() -> ClientAuth {
    ClientAuth::SecretBasic(API_SECRET.to_owned())
}

fn calls(fake: &FakeAs) -> usize {
    fake.introspections.load(SeqCst)
}

#[tokio::test]
async fn introspection_gives_the_principal() {
    let fake = FakeAs::start().await;
    fake.active("tok-alice", json!({}));
    let principal = fake
        .introspector(basic())
        .validate("tok-alice")
        .await
        .unwrap();

    assert_eq!(principal.sub, "alice");
    assert_eq!(principal.client_id, "app-1");
    assert_eq!(principal.audience, API);
    assert_eq!(
        principal.scopes,
        ["orders:read".to_owned(), "profile".to_owned()].into()
    );
    assert!(principal.has_scope("profile") && !principal.has_scope("orders"));
    assert_eq!(principal.expires_at, T0 + 3600);
    assert_eq!(principal.issued_at, Some(T0));
    assert_eq!(principal.jti.as_deref(), Some("jti-1"));
    assert_eq!(principal.grant_id.as_deref(), Some("grant-1"));
    assert_eq!(principal.actor(), Some("svc-2"));
    let mut claims: Vec<&str> = principal.claims.keys().map(String::as_str).collect();
    claims.sort_unstable();
    assert_eq!(claims, ["email", "name", "setbyapi_x"]);
    assert_eq!(principal.claims["name"], "Alice");
    assert_eq!(*fake.methods.lock().unwrap(), ["client_secret_basic"]);
    assert_eq!(
        principal.require_scope("orders:write"),
        Err(ValidationError::InsufficientScope("orders:write".into()))
    );
}

#[tokio::test]
async fn introspection_answers_are_cached_until_the_ttl_or_the_expiry() {
    let fake = FakeAs::start().await;
    let validator = fake.introspector(basic());
    fake.active("long", json!({}));
    fake.active("short", json!({ "exp": T0 + 10 }));

    validator.validate("long").await.unwrap();
    validator.validate("long").await.unwrap();
    assert_eq!(calls(&fake), 1);
    fake.clock.advance(59);
    validator.validate("long").await.unwrap();
    assert_eq!(calls(&fake), 1);
    fake.clock.advance(1); // the 60 s TTL is up
    validator.validate("long").await.unwrap();
    assert_eq!(calls(&fake), 2);

    fake.clock.advance(-60);
    validator.validate("short").await.unwrap();
    assert_eq!(calls(&fake), 3);
    fake.clock.advance(10); // at exp: asked again, and expired by then
    assert_eq!(
        validator.validate("short").await,
        Err(ValidationError::Invalid)
    );
    assert_eq!(calls(&fake), 4);
}

#[tokio::test]
async fn inactive_tokens_are_invalid_and_remembered_briefly() {
    let fake = FakeAs::start().await;
    let validator = fake.introspector(basic());
    for _ in 0..3 {
        assert_eq!(
            validator.validate("unknown").await,
            Err(ValidationError::Invalid)
        );
    }
    assert_eq!(calls(&fake), 1);
    fake.clock.advance(5);
    assert_eq!(
        validator.validate("unknown").await,
        Err(ValidationError::Invalid)
    );
    assert_eq!(calls(&fake), 2);
}

#[tokio::test]
async fn introspection_checks_audience_expiry_and_token_type() {
    let fake = FakeAs::start().await;
    let validator = fake.introspector(basic());
    fake.active("other-api", json!({ "aud": "api-2" }));
    fake.active("several", json!({ "aud": ["api-2", API] }));
    fake.active("expired", json!({ "exp": T0 }));
    fake.active("dpop", json!({ "token_type": "DPoP" }));
    fake.active("no-sub", json!({ "sub": null }));
    for token in ["other-api", "expired", "dpop", "no-sub"] {
        assert_eq!(
            validator.validate(token).await,
            Err(ValidationError::Invalid),
            "{token}"
        );
    }
    assert_eq!(validator.validate("several").await.unwrap().audience, API);

    let mut config = IntrospectionConfig::new(fake.url("/introspect"), API, basic());
    config.expected_audience = Some("api-2".into());
    let for_api_2 = IntrospectionValidator::new(config)
        .unwrap()
        .with_clock(fake.clock.clone());
    assert_eq!(
        for_api_2.validate("other-api").await.unwrap().audience,
        "api-2"
    );
    assert_eq!(
        for_api_2.validate("expired").await,
        Err(ValidationError::Invalid)
    );
}

#[tokio::test]
async fn an_unreachable_or_failing_server_is_unavailable_and_not_cached() {
    let fake = FakeAs::start().await;
    fake.active("tok", json!({}));

    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = Url::parse(&format!(
        "http://{}/introspect",
        closed.local_addr().unwrap()
    ))
    .unwrap();
    drop(closed);
    let down = fake.introspector_at(dead.clone(), basic());
    assert!(matches!(
        down.validate("tok").await,
        Err(ValidationError::Unavailable(_))
    ));
    let keys_down = JwksValidator::new(JwksConfig::new(&fake.issuer, dead, API))
        .unwrap()
        .with_clock(fake.clock.clone());
    let token = EcKey::generate("k1").sign(&fake.at_claims());
    for _ in 0..2 {
        let result = keys_down.validate(&token).await;
        assert!(matches!(result, Err(ValidationError::Unavailable(_))));
    }

    let broken = fake.introspector_at(fake.url("/broken"), basic());
    assert!(matches!(
        broken.validate("tok").await,
        Err(ValidationError::Unavailable(_))
    ));

    let refused = fake.introspector(ClientAuth::SecretBasic("wrong".into()));
    for _ in 0..2 {
        let error = refused.validate("tok-Zx81q").await.unwrap_err();
        assert!(matches!(&error, ValidationError::Unavailable(d) if d.contains("invalid_client")));
        assert!(!error.to_string().contains("Zx81q"));
    }
    assert_eq!(calls(&fake), 2);
}

#[tokio::test]
async fn client_secret_post_authenticates() {
    let fake = FakeAs::start().await;
    fake.active("tok", json!({}));
    let validator = fake.introspector(ClientAuth::SecretPost(API_SECRET.into()));
    assert_eq!(validator.validate("tok").await.unwrap().sub, "alice");
    assert_eq!(*fake.methods.lock().unwrap(), ["client_secret_post"]);
}

#[tokio::test]
async fn private_key_jwt_sends_a_fresh_signed_assertion_each_time() {
    let fake = FakeAs::start().await;
    let key = EcKey::generate("api-key-1");
    *fake.client_key.lock().unwrap() =
        Some(DecodingKey::from_ec_components(&key.x, &key.y).unwrap());
    *fake.client_kid.lock().unwrap() = Some(key.kid.clone());
    fake.active("tok-1", json!({}));
    fake.active("tok-2", json!({ "sub": "bob" }));
    let validator = fake.introspector(ClientAuth::PrivateKeyJwt {
        pem: key.pem(),
        alg: Algorithm::ES256,
        kid: Some(key.kid.clone()),
        audience: fake.issuer.clone(),
    });

    assert_eq!(validator.validate("tok-1").await.unwrap().sub, "alice");
    assert_eq!(validator.validate("tok-2").await.unwrap().sub, "bob");
    assert_eq!(
        *fake.methods.lock().unwrap(),
        ["private_key_jwt", "private_key_jwt"]
    );
    assert_eq!(fake.seen_jti.lock().unwrap().len(), 2);

    let bad_key = |pem: &str, alg| {
        IntrospectionValidator::new(IntrospectionConfig::new(
            fake.url("/introspect"),
            API,
            ClientAuth::PrivateKeyJwt {
                pem: pem.into(),
                alg,
                kid: None,
                audience: fake.issuer.clone(),
            },
        ))
    };
    assert!(matches!(
        bad_key("not a pem", Algorithm::ES256),
        Err(ConfigError::Key(_))
    ));
    assert!(matches!(
        bad_key(&key.pem(), Algorithm::EdDSA),
        Err(ConfigError::Key(_))
    ));
    assert!(matches!(
        bad_key(&key.pem(), Algorithm::HS256),
        Err(ConfigError::Algorithm(_))
    ));
}

#[tokio::test]
async fn jwks_validates_an_at_jwt() {
    let fake = FakeAs::start().await;
    let key = EcKey::generate("k1");
    fake.jwks.lock().unwrap().push(key.jwk());
    let validator = fake.jwks_validator();

    let principal = validator
        .validate(&key.sign(&fake.at_claims()))
        .await
        .unwrap();
    assert_eq!(principal.sub, "alice");
    assert_eq!(principal.client_id, "app-1");
    assert_eq!(principal.audience, API);
    assert!(principal.has_scope("orders:read"));
    assert_eq!(principal.expires_at, T0 + 300);
    assert_eq!(principal.jti.as_deref(), Some("at-1"));
    assert_eq!(principal.actor(), None);
    assert_eq!(principal.claims.keys().collect::<Vec<_>>(), ["name"]);

    let typ = Header {
        typ: Some("application/AT+JWT".into()),
        ..at_header("k1", Algorithm::ES256)
    };
    validator
        .validate(&key.sign_with(typ, &fake.at_claims()))
        .await
        .unwrap();
    let mut claims = fake.at_claims();
    claims["exp"] = json!(T0 - 20); // within the 30 s leeway
    validator.validate(&key.sign(&claims)).await.unwrap();
    assert_eq!(fake.jwks_fetches.load(SeqCst), 1);
}

#[tokio::test]
async fn an_unknown_kid_is_fetched_at_most_once_per_interval() {
    let fake = FakeAs::start().await;
    let (k1, k2) = (EcKey::generate("k1"), EcKey::generate("k2"));
    fake.jwks.lock().unwrap().push(k1.jwk());
    let validator = fake.jwks_validator();
    let fetches = || fake.jwks_fetches.load(SeqCst);

    validator
        .validate(&k1.sign(&fake.at_claims()))
        .await
        .unwrap();
    assert_eq!(fetches(), 1);
    fake.jwks.lock().unwrap().push(k2.jwk()); // rotation: the next key is published
    fake.clock.advance(9);
    let with_k2 = k2.sign(&fake.at_claims());
    assert_eq!(
        validator.validate(&with_k2).await,
        Err(ValidationError::Invalid)
    );
    assert_eq!(fetches(), 1, "within the refresh interval");
    fake.clock.advance(1);
    validator.validate(&with_k2).await.unwrap();
    assert_eq!(fetches(), 2);
    validator.validate(&with_k2).await.unwrap();
    let with_k3 = EcKey::generate("k3").sign(&fake.at_claims());
    assert_eq!(
        validator.validate(&with_k3).await,
        Err(ValidationError::Invalid)
    );
    assert_eq!(fetches(), 2);
    fake.clock.advance(10);
    assert_eq!(
        validator.validate(&with_k3).await,
        Err(ValidationError::Invalid)
    );
    assert_eq!(fetches(), 3);

    // A withdrawn key stops being accepted once the keys are older than max_age.
    fake.jwks.lock().unwrap().retain(|jwk| jwk["kid"] == "k2");
    fake.clock.advance(3600);
    assert_eq!(
        validator.validate(&k1.sign(&fake.at_claims())).await,
        Err(ValidationError::Invalid)
    );
    validator
        .validate(&k2.sign(&fake.at_claims()))
        .await
        .unwrap();
    assert_eq!(fetches(), 4);
}

#[tokio::test]
async fn jwks_refuses_bad_tokens() {
    let fake = FakeAs::start().await;
    let key = EcKey::generate("k1");
    fake.jwks.lock().unwrap().push(key.jwk());
    let validator = fake.jwks_validator();
    let claims = fake.at_claims();
    let with = |name: &str, value: Value| {
        let mut claims = fake.at_claims();
        claims[name] = value;
        key.sign(&claims)
    };
    let b64 = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let unsigned = format!(
        "{}.{}.",
        b64(json!({ "alg": "none", "typ": "at+jwt", "kid": "k1" })),
        b64(claims.clone())
    );
    let hs256 = jsonwebtoken::encode(
        &at_header("k1", Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(b"a shared secret"),
    )
    .unwrap();
    let rs256_header = format!(
        "{}.{}.AAAA",
        b64(json!({ "alg": "RS256", "typ": "at+jwt", "kid": "k1" })),
        b64(claims.clone())
    );
    let impostor = EcKey::generate("k1").sign(&claims);
    let signed = key.sign(&claims);
    let parts: Vec<&str> = signed.split('.').collect();
    let mut changed = claims.clone();
    changed["sub"] = json!("mallory");
    let tampered = format!("{}.{}.{}", parts[0], b64(changed), parts[2]);
    let jwt_typ = key.sign_with(
        Header {
            kid: Some("k1".into()),
            ..Header::new(Algorithm::ES256)
        },
        &claims,
    );
    let no_typ = key.sign_with(
        Header {
            typ: None,
            ..at_header("k1", Algorithm::ES256)
        },
        &claims,
    );
    let no_kid = key.sign_with(
        Header {
            kid: None,
            ..at_header("k1", Algorithm::ES256)
        },
        &claims,
    );

    let cases = [
        ("alg none", unsigned),
        ("HS256", hs256),
        ("RS256 header on an EC key", rs256_header),
        ("signed by another key", impostor),
        ("tampered", tampered),
        ("typ JWT", jwt_typ),
        ("no typ", no_typ),
        ("no kid", no_kid),
        ("expired", with("exp", json!(T0 - 31))),
        ("not yet valid", with("nbf", json!(T0 + 31))),
        (
            "wrong issuer",
            with("iss", json!("https://elsewhere.example")),
        ),
        ("wrong audience", with("aud", json!("api-2"))),
        ("no audience", with("aud", Value::Null)),
        ("no client_id", with("client_id", Value::Null)),
        ("exp as a string", with("exp", json!("never"))),
        ("not a JWT", "abc".to_owned()),
    ];
    for (what, token) in cases {
        assert_eq!(
            validator.validate(&token).await,
            Err(ValidationError::Invalid),
            "{what}"
        );
    }
    let symmetric = JwksConfig {
        algorithms: vec![Algorithm::ES256, Algorithm::HS256],
        ..JwksConfig::new(&fake.issuer, fake.url("/jwks"), API)
    };
    assert!(matches!(
        JwksValidator::new(symmetric),
        Err(ConfigError::Algorithm(Algorithm::HS256))
    ));
}

#[tokio::test]
async fn discovery_finds_the_keys() {
    let fake = FakeAs::start().await;
    let key = EcKey::generate("k1");
    fake.jwks.lock().unwrap().push(key.jwk());
    let validator = JwksValidator::discover(&fake.issuer, API)
        .await
        .unwrap()
        .with_clock(fake.clock.clone());
    assert_eq!(
        validator
            .validate(&key.sign(&fake.at_claims()))
            .await
            .unwrap()
            .sub,
        "alice"
    );

    let elsewhere = format!("{}/", fake.issuer);
    assert!(matches!(
        JwksValidator::discover(&elsewhere, API).await,
        Err(ConfigError::Discovery(_))
    ));
}

async fn me(Extension(principal): Extension<Principal>) -> String {
    format!("{} via {}", principal.sub, principal.client_id)
}

async fn get_me(app: &Router, authorization: Option<&str>) -> (StatusCode, HeaderMap, String) {
    let mut request = Request::get("/me");
    if let Some(value) = authorization {
        request = request.header(header::AUTHORIZATION, value);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, 1 << 16).await.unwrap();
    (
        parts.status,
        parts.headers,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

#[tokio::test]
async fn the_layer_admits_with_a_principal_and_refuses_with_a_challenge() {
    let fake = FakeAs::start().await;
    fake.active("good", json!({}));
    fake.active("narrow", json!({ "scope": "profile" }));
    let validator = Validator::from(fake.introspector(basic()));
    let app = Router::new()
        .route("/me", get(me))
        .layer(BearerLayer::new(validator).require_scope("orders:read"));
    let challenge = |headers: &HeaderMap| {
        headers[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .to_owned()
    };

    let (status, _, body) = get_me(&app, Some("Bearer good")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "alice via app-1"));

    let (status, headers, body) = get_me(&app, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge(&headers), r#"Bearer realm="api-1""#);
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(body, "");

    for bad in ["Bearer unknown", "Bearer two words", "bearer"] {
        let (status, headers, body) = get_me(&app, Some(bad)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad}");
        assert_eq!(
            challenge(&headers),
            r#"Bearer realm="api-1", error="invalid_token""#
        );
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");
        assert_eq!(body, r#"{"error":"invalid_token"}"#);
    }

    let (status, headers, _) = get_me(&app, Some("Bearer narrow")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        challenge(&headers),
        r#"Bearer realm="api-1", error="insufficient_scope", scope="orders:read""#
    );
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
}

#[tokio::test]
async fn the_layer_answers_503_when_validation_is_unavailable() {
    let fake = FakeAs::start().await;
    let validator = fake.introspector_at(fake.url("/broken"), basic());
    let app = Router::new()
        .route("/me", get(me))
        .layer(BearerLayer::new(validator).realm("orders"));
    let (status, headers, body) = get_me(&app, Some("Bearer tok")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(!headers.contains_key(header::WWW_AUTHENTICATE));
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(body, r#"{"error":"temporarily_unavailable"}"#);

    let (_, headers, _) = get_me(&app, None).await;
    assert_eq!(
        headers[header::WWW_AUTHENTICATE],
        r#"Bearer realm="orders""#
    );
}
