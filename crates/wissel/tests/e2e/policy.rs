//! Policy holds over time (DESIGN.md §2; issue 10, items 1–5 and 14): what a token, a refresh
//! and a remembered consent carry is decided by today's policy, never copied from earlier.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use wissel_core::model::{Authorization, Grantee, Provisioning};
use wissel_core::ports::{Clock, RegistryStore, SystemClock, TokenStore};
use wissel_core::scope::ScopeSet;
use wissel_store::SqlStore;

use super::code_flow::{Browser, encode, location, log_in_and_consent, query_of};
use super::exchange::{ACCESS, EXCHANGE, exchange_node, user_token};
use super::{
    Node, ORDERS_SECRET, TempDir, WEBAPP_SECRET, config_text, http, master, signer_key,
    start_node_edited, unique,
};

const CB: &str = "https://webapp.example/cb";
const WEBAPP: (&str, &str) = ("webapp", WEBAPP_SECRET);
const ALICE: (&str, &str) = ("alice", "alice-password");

/// A second API whose scope has the same name as one of orders-api's, linked to webapp, with
/// alice authorized; alice may also write orders; a client whose tokens live a minute.
fn policy_config() -> String {
    format!(
        r#"
[[apis]]
id = "files-api"
name = "Files"
resources = ["https://files.example/"]
token_format = "jwt"
secret = "{ORDERS_SECRET}"
scopes = {{ "orders:read" = "Read files" }}
[[links]]
client = "webapp"
api = "files-api"
scopes = ["orders:read"]
[[authorizations]]
user = "alice"
api = "files-api"
scopes = ["orders:read"]
[[clients]]
id = "shortlived"
secret = "{WEBAPP_SECRET}"
grant_types = ["authorization_code"]
redirect_uris = ["https://short.example/cb"]
[clients.lifetimes]
access_token_secs = 60
"#
    )
}

async fn policy_node() -> Node {
    start_node_edited(None, Arc::new(SystemClock), None, false, |t| {
        t.replacen(
            "user = \"alice\"\napi = \"orders-api\"\nscopes = [\"orders:read\"]",
            "user = \"alice\"\napi = \"orders-api\"\nscopes = [\"orders:read\", \"orders:write\"]",
            1,
        ) + &policy_config()
    })
    .await
}

/// The node's store, as an operator's command opens it.
async fn store_of(n: &Node) -> SqlStore {
    SqlStore::connect(&n.storage).await.unwrap()
}

fn pkce() -> (String, String) {
    let verifier = wissel_crypto::secret::generate_secret();
    let challenge = wissel_crypto::pkce::s256(&verifier);
    (verifier, challenge)
}

/// The authorization query of webapp for `scope` at `resource`, with its PKCE verifier.
fn webapp_query(scope: &str, resource: &str) -> (Vec<(&'static str, String)>, String) {
    let (verifier, challenge) = pkce();
    let q = vec![
        ("response_type", "code".to_owned()),
        ("client_id", "webapp".to_owned()),
        ("redirect_uri", CB.to_owned()),
        ("scope", scope.to_owned()),
        ("resource", resource.to_owned()),
        ("state", "st".to_owned()),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256".to_owned()),
    ];
    (q, verifier)
}

/// Redeems a webapp code: the status and body.
async fn redeem(n: &Node, client: (&str, &str), code: &str, verifier: &str) -> (StatusCode, Value) {
    let r = n
        .post(
            "/token",
            Some(client),
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", CB),
                ("code_verifier", verifier),
            ],
        )
        .await;
    (r.status(), r.json().await.unwrap())
}

/// Runs the code flow for webapp as alice and redeems the code.
async fn webapp_tokens(n: &Node, b: &mut Browser, scope: &str, resource: &str) -> Value {
    let (q, verifier) = webapp_query(scope, resource);
    let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let to = log_in_and_consent(n, b, &q, ALICE).await;
    let code = query_of(&to)["code"].clone();
    let (status, body) = redeem(n, WEBAPP, &code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn refresh(n: &Node, token: &str) -> (StatusCode, Value) {
    let r = n
        .post(
            "/token",
            Some(WEBAPP),
            &[("grant_type", "refresh_token"), ("refresh_token", token)],
        )
        .await;
    assert_eq!(r.headers()["cache-control"], "no-store");
    (r.status(), r.json().await.unwrap())
}

fn scope_of(v: &Value) -> Vec<&str> {
    let mut s: Vec<&str> = v["scope"].as_str().unwrap_or_default().split(' ').collect();
    s.sort_unstable();
    s
}

/// Polls `check` until it holds or two seconds pass (the node follows the store within its
/// sync interval, 100 ms in these tests).
async fn within_sync<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{what}: not within 2 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn active_at_orders(n: &Node, token: &str) -> bool {
    n.introspect_as(("orders-api", ORDERS_SECRET), token).await["active"] == true
}

/// Item 1: a refresh recomputes its scope against today's link, API and authorizations. A
/// narrowed authorization narrows the next refresh (and the older access token, which carries
/// more, stops being active); a removed one, through `wissel authz revoke`, revokes the grant.
#[tokio::test]
async fn refresh_follows_todays_policy_not_the_grants() {
    let n = policy_node().await;
    let store = store_of(&n).await;
    let mut b = Browser::default();
    let t = webapp_tokens(
        &n,
        &mut b,
        "openid offline_access orders:read orders:write",
        "https://orders.example/",
    )
    .await;
    assert_eq!(
        scope_of(&t),
        ["offline_access", "openid", "orders:read", "orders:write"]
    );
    let first_access = t["access_token"].as_str().unwrap().to_owned();
    assert!(active_at_orders(&n, &first_access).await);

    // alice may no longer write orders.
    let now = SystemClock.now();
    store
        .put_authorization(
            &Authorization {
                grantee: Grantee::User("alice".into()),
                api: "orders-api".into(),
                scopes: ScopeSet::from_tokens(["orders:read"]),
            },
            now,
        )
        .await
        .unwrap();
    let (status, narrowed) = refresh(&n, t["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{narrowed}");
    assert_eq!(
        scope_of(&narrowed),
        ["offline_access", "openid", "orders:read"],
        "the refresh still carries what policy took away"
    );
    within_sync("the older token with orders:write", || async {
        !active_at_orders(&n, &first_access).await
    })
    .await;
    let second_access = narrowed["access_token"].as_str().unwrap().to_owned();
    assert!(active_at_orders(&n, &second_access).await);
    // Giving the scope back does not widen the family again.
    store
        .put_authorization(
            &Authorization {
                grantee: Grantee::User("alice".into()),
                api: "orders-api".into(),
                scopes: ScopeSet::from_tokens(["orders:read", "orders:write"]),
            },
            SystemClock.now(),
        )
        .await
        .unwrap();
    let (status, again) = refresh(&n, narrowed["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(
        scope_of(&again),
        ["offline_access", "openid", "orders:read"]
    );

    // The operator removes alice's authorization from the command line: the grant is revoked.
    let dir = std::env::temp_dir().join(unique("wissel_policy_cli"));
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = TempDir(dir.clone());
    let cfg = dir.join("wissel.toml");
    std::fs::write(&cfg, config_text(&n.base, &n.storage, &signer_key().1)).unwrap();
    let cfg = cfg.to_str().unwrap().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_wissel"))
            .args([
                "authz",
                "revoke",
                "-c",
                &cfg,
                "--user",
                "alice",
                "--api",
                "orders-api",
            ])
            .env("WISSEL_MASTER_KEY", master().0)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("1 grant(s)"), "{stdout}");
    let (status, gone) = refresh(&n, again["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{gone}");
    assert_eq!(gone["error"], "invalid_grant", "{gone}");
    let third = again["access_token"].as_str().unwrap().to_owned();
    within_sync("the access token of a revoked grant", || async {
        !active_at_orders(&n, &third).await
    })
    .await;
    n.server.shutdown().await;
}

/// Item 1, the other sources: a removed link and a disabled user (applied from the file) end
/// what they allowed, through the same sweep.
#[tokio::test]
async fn a_removed_link_or_a_disabled_user_revokes_what_they_allowed() {
    let n = policy_node().await;
    let store = store_of(&n).await;
    let mut b = Browser::default();
    let t = webapp_tokens(
        &n,
        &mut b,
        "openid offline_access orders:read",
        "https://files.example/",
    )
    .await;
    assert!(
        store
            .delete_link("webapp", "files-api", SystemClock.now())
            .await
            .unwrap()
    );
    let w = wissel::withdraw::withdraw_disallowed(&store, SystemClock.now())
        .await
        .unwrap();
    assert_eq!(w.revoked, 1, "{w:?}");
    let (status, body) = refresh(&n, t["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );

    // Another grant; then alice is disabled in the applied file.
    let own = webapp_tokens(
        &n,
        &mut b,
        "openid offline_access orders:read",
        "https://orders.example/",
    )
    .await;
    let mut alice = store.find_user("alice").await.unwrap().unwrap();
    alice.disabled = true;
    let plan = Provisioning {
        users: vec![alice],
        ..Default::default()
    };
    let report = store.apply(&plan, SystemClock.now()).await.unwrap();
    assert_eq!(report.updated, 1);
    wissel::withdraw::withdraw_disallowed(&store, SystemClock.now())
        .await
        .unwrap();
    let (status, body) = refresh(&n, own["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );
    n.server.shutdown().await;
}

/// Item 2: consent to `orders:read` on orders-api does not cover `orders:read` on files-api.
#[tokio::test]
async fn consent_to_one_api_does_not_cover_another() {
    let n = policy_node().await;
    let mut b = Browser::default();
    webapp_tokens(&n, &mut b, "openid orders:read", "https://orders.example/").await;
    // The same scope name at another API: the consent page, not a code.
    let (q, _) = webapp_query("openid orders:read", "https://files.example/");
    let r = b.get(&n.url(&format!("/authorize?{}", encode(&q)))).await;
    let to = location(&r);
    assert!(
        to.contains("/consent?"),
        "consent to orders-api covered files-api: {to}"
    );
    // The same API again: remembered.
    let (q, _) = webapp_query("openid orders:read", "https://orders.example/");
    let r = b.get(&n.url(&format!("/authorize?{}", encode(&q)))).await;
    let to = location(&r);
    assert!(to.starts_with(CB), "{to}");
    // The account page names the API of each consent.
    let page = b.get(&n.url("/account")).await.text().await.unwrap();
    assert!(page.contains("name=\"api\" value=\"orders-api\""), "{page}");
    n.server.shutdown().await;
}

/// Item 3: a disabled client's tokens are refused everywhere a token is accepted: introspection,
/// UserInfo, and as the subject of a token exchange by an API's client.
#[tokio::test]
async fn a_disabled_clients_tokens_are_refused_everywhere() {
    let n = exchange_node(Arc::new(SystemClock)).await;
    let front = ("front", "front-secret-0123456789abcdef-0123456789ab");
    let t = user_token(
        &n,
        front,
        "https://front.example/cb",
        ("dave", "dave-password"),
        "openid profile",
    )
    .await;
    let own = t["access_token"].as_str().unwrap().to_owned();
    // front exchanges dave's token for cases-api; cases-svc (the API's client) could exchange
    // that one further.
    let r = n
        .post(
            "/token",
            Some(front),
            &[
                ("grant_type", EXCHANGE),
                ("subject_token", &own),
                ("subject_token_type", ACCESS),
                ("audience", "cases-api"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let cases: Value = r.json().await.unwrap();
    let cases = cases["access_token"].as_str().unwrap().to_owned();
    let base = n.base.clone();
    let userinfo = |token: String| {
        let url = format!("{base}/userinfo");
        async move {
            http()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(userinfo(own.clone()).await, StatusCode::OK);

    let store = store_of(&n).await;
    let registry = store.load_registry().await.unwrap();
    let mut client = (**registry.client("front").unwrap()).clone();
    client.disabled = true;
    store
        .apply(
            &Provisioning {
                clients: vec![client],
                ..Default::default()
            },
            SystemClock.now(),
        )
        .await
        .unwrap();
    within_sync("UserInfo with a disabled client's token", || async {
        userinfo(own.clone()).await == StatusCode::UNAUTHORIZED
    })
    .await;
    let r = n
        .post(
            "/token",
            Some(("cases-svc", "cases-svc-secret-0123456789abcdef-01234567")),
            &[
                ("grant_type", EXCHANGE),
                ("subject_token", &cases),
                ("subject_token_type", ACCESS),
                ("audience", "archive-api"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant", "{body}");
    n.server.shutdown().await;
}

/// Item 4: a code replayed by a client whose tokens live a minute revokes the grant for as long
/// as the code's own client's tokens can live. Item 14: the account page marks the consent
/// under which nothing is granted any more.
#[tokio::test]
async fn a_replay_revocation_outlives_the_victims_tokens() {
    let n = policy_node().await;
    let mut b = Browser::default();
    let (q, verifier) = webapp_query("openid orders:read", "https://orders.example/");
    let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let to = log_in_and_consent(&n, &mut b, &q, ALICE).await;
    let code = query_of(&to)["code"].clone();
    let (status, first) = redeem(&n, WEBAPP, &code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let page = b.get(&n.url("/account")).await.text().await.unwrap();
    assert!(!page.contains("consent-unused"), "{page}");
    // The replay comes from another client, whose tokens live 60 s.
    let (status, replay) = redeem(&n, ("shortlived", WEBAPP_SECRET), &code, &verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{replay}");
    let store = store_of(&n).await;
    let claims: Value =
        jsonwebtoken::dangerous::insecure_decode_claims(first["access_token"].as_str().unwrap())
            .unwrap();
    let lives = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    let since = SystemClock.now() - 5;
    let revocations = store.revocations_since(0, since).await.unwrap();
    let grant = claims["grant_id"].as_str().unwrap();
    let (_, r) = revocations
        .iter()
        .find(|(_, r)| r.id == grant)
        .expect("the grant's revocation");
    assert!(
        r.expires_at >= since + lives,
        "the revocation ends at {} but the victim's token lives until {}",
        r.expires_at,
        since + lives
    );
    assert!(!active_at_orders(&n, first["access_token"].as_str().unwrap()).await);
    let page = b.get(&n.url("/account")).await.text().await.unwrap();
    assert!(page.contains("consent-unused"), "{page}");
    n.server.shutdown().await;
}

/// Item 5: UserInfo accepts only a token whose audience is the client itself.
#[tokio::test]
async fn userinfo_refuses_a_token_for_an_api() {
    let n = policy_node().await;
    let mut b = Browser::default();
    let t = webapp_tokens(&n, &mut b, "openid orders:read", "https://orders.example/").await;
    let r = http()
        .get(n.url("/userinfo"))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.contains("invalid_token"), "{challenge}");
    n.server.shutdown().await;
}
