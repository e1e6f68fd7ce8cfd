//! One contract, two databases: every test runs against a fresh SQLite file, and against a fresh
//! PostgreSQL database when `WISSEL_TEST_POSTGRES_URL` is set (`.ci/run` sets it).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a finding

use std::collections::BTreeMap;
use std::sync::Arc;

use wissel_core::model::*;
use wissel_core::ports::{KeyStore, RegistryStore, Store, TokenStore};
use wissel_core::scope::ScopeSet;
use wissel_store::SqlStore;

struct Db {
    store: Arc<SqlStore>,
    label: String,
    _dir: Option<TempDir>,
}

/// A temporary directory removed on drop (std only, to keep the dependency list short).
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
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{tag}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

async fn sqlite() -> Db {
    let dir = std::env::temp_dir().join(unique("wissel_store"));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("test.db").display());
    let store = SqlStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    Db {
        store: Arc::new(store),
        label: "sqlite".into(),
        _dir: Some(TempDir(dir)),
    }
}

async fn postgres() -> Option<Db> {
    let Ok(base) = std::env::var("WISSEL_TEST_POSTGRES_URL")
        .map_err(|_| ())
        .and_then(|v| if v.is_empty() { Err(()) } else { Ok(v) })
    else {
        return None;
    };
    let admin = SqlStore::connect(&base)
        .await
        .unwrap_or_else(|e| panic!("WISSEL_TEST_POSTGRES_URL {base}: {e}"));
    drop(admin);
    // A database per test, so tests are independent and can run in parallel.
    let name = unique("wissel_t");
    let pool = sqlx::PgPool::connect(&base).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let mut url = url::Url::parse(&base).unwrap();
    url.set_path(&name);
    let store = SqlStore::connect(url.as_str()).await.unwrap();
    store.migrate().await.unwrap();
    Some(Db {
        store: Arc::new(store),
        label: "postgres".into(),
        _dir: None,
    })
}

async fn backends() -> Vec<Db> {
    let mut v = vec![sqlite().await];
    match postgres().await {
        Some(pg) => v.push(pg),
        None => {
            static ONCE: std::sync::Once = std::sync::Once::new();
            ONCE.call_once(|| {
                notice("WISSEL_TEST_POSTGRES_URL is not set; PostgreSQL conformance tests skipped")
            });
        }
    }
    v
}

fn creds() -> Credentials {
    Credentials {
        method: ClientAuthMethod::ClientSecretBasic,
        secret_sha256: Some(Digest([7; 32])),
        jwks: None,
        jwks_uri: None,
        assertion_alg: SigningAlg::ES256,
    }
}

fn client(id: &str) -> Client {
    Client {
        id: id.into(),
        name: id.into(),
        profile: Profile::Standard,
        credentials: creds(),
        redirect_uris: vec![],
        grant_types: vec![GrantType::ClientCredentials],
        disabled: false,
    }
}

fn api(id: &str) -> Api {
    Api {
        id: id.into(),
        name: id.into(),
        resources: vec![format!("https://{id}.example/")],
        token_format: TokenFormat::Opaque,
        credentials: Some(creds()),
        scopes: BTreeMap::from([("r".into(), "Read".into())]),
        access_token_lifetime: 900,
        disabled: false,
    }
}

fn plan() -> Provisioning {
    Provisioning {
        clients: vec![client("c1")],
        apis: vec![api("a1")],
        links: vec![Link {
            client: "c1".into(),
            api: "a1".into(),
            scopes: ScopeSet::from_tokens(["r"]),
            exchange: true,
            attributes: BTreeMap::from([("customer".into(), serde_json::json!("acme"))]),
        }],
        users: vec![User {
            subject: "s-alice".into(),
            username: "alice".into(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g".into(),
            claims: BTreeMap::new(),
            groups: vec!["staff".into()],
            disabled: false,
        }],
        authorizations: vec![Authorization {
            grantee: Grantee::Group("staff".into()),
            api: "a1".into(),
            scopes: ScopeSet::from_tokens(["r"]),
        }],
    }
}

fn token(jti: &str, exp: i64) -> AccessToken {
    AccessToken {
        jti: jti.into(),
        grant_id: format!("g-{jti}"),
        client_id: "c1".into(),
        subject: "c1".into(),
        api: "a1".into(),
        scope: ScopeSet::from_tokens(["r"]),
        issued_at: 100,
        expires_at: exp,
        format: TokenFormat::Opaque,
    }
}

#[tokio::test]
async fn migrations_are_idempotent_and_ping_works() {
    for db in backends().await {
        db.store.migrate().await.unwrap();
        db.store.ping().await.unwrap();
        assert_eq!(db.store.generation().await.unwrap(), 1, "{}", db.label);
    }
}

#[tokio::test]
async fn apply_is_idempotent_and_bumps_the_generation_only_on_change() {
    for db in backends().await {
        let s = &db.store;
        let r = s.apply(&plan(), 10).await.unwrap();
        assert_eq!(
            (r.created, r.updated, r.unchanged),
            (5, 0, 0),
            "{}",
            db.label
        );
        let g1 = s.generation().await.unwrap();
        assert!(g1 > 1);
        let again = s.apply(&plan(), 11).await.unwrap();
        assert_eq!(
            (again.created, again.updated, again.unchanged),
            (0, 0, 5),
            "{}",
            db.label
        );
        assert_eq!(
            s.generation().await.unwrap(),
            g1,
            "{}: no change, no bump",
            db.label
        );

        let mut changed = plan();
        changed.clients[0].name = "renamed".into();
        changed.users[0].subject = "ignored-new-subject".into();
        let r = s.apply(&changed, 12).await.unwrap();
        assert_eq!(r.updated, 1, "{}", db.label);
        assert!(s.generation().await.unwrap() > g1);

        let reg = s.load_registry().await.unwrap();
        assert_eq!(reg.client("c1").unwrap().name, "renamed");
        assert_eq!(reg.api_by_resource("https://a1.example/").unwrap().id, "a1");
        assert_eq!(reg.link("c1", "a1").unwrap().attributes["customer"], "acme");
        let alice = s.find_user("alice").await.unwrap().unwrap();
        assert_eq!(
            alice.subject, "s-alice",
            "{}: a user's subject is stable",
            db.label
        );
        assert!(s.find_user("bob").await.unwrap().is_none());
    }
}

#[tokio::test]
async fn create_client_refuses_taken_ids() {
    for db in backends().await {
        let s = &db.store;
        s.apply(&plan(), 1).await.unwrap();
        assert!(s.create_client(&client("new"), 2).await.unwrap());
        assert!(
            !s.create_client(&client("new"), 3).await.unwrap(),
            "{}",
            db.label
        );
        assert!(
            !s.create_client(&client("a1"), 3).await.unwrap(),
            "{}: API id",
            db.label
        );
        assert!(s.load_registry().await.unwrap().client("new").is_some());
    }
}

#[tokio::test]
async fn opaque_tokens_and_revocation() {
    for db in backends().await {
        let s = &db.store;
        let d = Digest([1; 32]);
        s.insert_access_token(&d, &token("j1", 1000)).await.unwrap();
        let (t, revoked) = s.find_access_token(&d).await.unwrap().unwrap();
        assert_eq!(t, token("j1", 1000), "{}", db.label);
        assert!(!revoked);
        assert!(
            s.find_access_token(&Digest([2; 32]))
                .await
                .unwrap()
                .is_none()
        );

        let r = Revocation {
            kind: RevocationKind::Token,
            id: "j1".into(),
            expires_at: 1000,
        };
        s.revoke(&r, Some(&d), 500).await.unwrap();
        s.revoke(&r, Some(&d), 501).await.unwrap(); // idempotent
        assert!(
            s.find_access_token(&d).await.unwrap().unwrap().1,
            "{}",
            db.label
        );
        let g = Revocation {
            kind: RevocationKind::Grant,
            id: "g-x".into(),
            expires_at: 2000,
        };
        s.revoke(&g, None, 502).await.unwrap();

        let all = s.revocations_since(0, i64::MAX).await.unwrap();
        assert_eq!(all.len(), 2, "{}", db.label);
        let first_seq = all[0].0;
        let after = s.revocations_since(first_seq, i64::MAX).await.unwrap();
        assert_eq!(
            after.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>(),
            vec![g.clone()]
        );
        let overlap = s.revocations_since(i64::MAX - 1, 500).await.unwrap();
        assert_eq!(overlap.len(), 2, "{}: recent rows are re-read", db.label);
    }
}

#[tokio::test]
async fn concurrent_token_inserts_are_all_committed() {
    for db in backends().await {
        let mut tasks = Vec::new();
        for i in 0..200u8 {
            let s = db.store.clone();
            tasks.push(tokio::spawn(async move {
                let mut d = [i; 32];
                d[31] = 0xAB;
                s.insert_access_token(&Digest(d), &token(&format!("c{i}"), 1000))
                    .await
                    .unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        for i in 0..200u8 {
            let mut d = [i; 32];
            d[31] = 0xAB;
            let (t, _) = db
                .store
                .find_access_token(&Digest(d))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(t.jti, format!("c{i}"), "{}", db.label);
        }
    }
}

#[tokio::test]
async fn jti_is_single_use_even_under_contention() {
    for db in backends().await {
        assert!(db.store.record_jti("c1", "once", 100).await.unwrap());
        assert!(
            !db.store.record_jti("c1", "once", 100).await.unwrap(),
            "{}",
            db.label
        );
        assert!(
            db.store.record_jti("c2", "once", 100).await.unwrap(),
            "{}: per issuer",
            db.label
        );
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let s = db.store.clone();
            tasks.push(tokio::spawn(async move {
                s.record_jti("c1", "race", 100).await.unwrap()
            }));
        }
        let mut wins = 0;
        for t in tasks {
            wins += usize::from(t.await.unwrap());
        }
        assert_eq!(wins, 1, "{}", db.label);
    }
}

#[tokio::test]
async fn key_transitions_are_conditional() {
    for db in backends().await {
        let s = &db.store;
        let key = SigningKeyRecord {
            kid: "k1".into(),
            alg: SigningAlg::EdDSA,
            state: KeyState::Next,
            private_key_enc: vec![1, 2, 3],
            public_jwk: serde_json::json!({"kty": "OKP"}),
            created_at: 5,
            activated_at: None,
            retired_at: None,
            publish_until: None,
        };
        let g = s.generation().await.unwrap();
        assert!(s.insert_key(&key).await.unwrap());
        let g2 = s.generation().await.unwrap();
        assert!(g2 > g);
        let second = SigningKeyRecord {
            kid: "k2".into(),
            ..key.clone()
        };
        assert!(
            !s.insert_key(&second).await.unwrap(),
            "{}: one next key at a time",
            db.label
        );
        assert_eq!(s.generation().await.unwrap(), g2);
        assert_eq!(
            s.list_keys().await.unwrap(),
            vec![key.clone()],
            "{}",
            db.label
        );
        assert!(
            s.transition_key("k1", KeyState::Next, KeyState::Active, 10, None)
                .await
                .unwrap()
        );
        assert!(
            !s.transition_key("k1", KeyState::Next, KeyState::Active, 11, None)
                .await
                .unwrap(),
            "{}",
            db.label
        );
        assert!(
            s.transition_key("k1", KeyState::Active, KeyState::Retired, 20, Some(30))
                .await
                .unwrap()
        );
        let k = &s.list_keys().await.unwrap()[0];
        assert_eq!(
            (k.state, k.activated_at, k.retired_at, k.publish_until),
            (KeyState::Retired, Some(10), Some(20), Some(30))
        );
    }
}

#[tokio::test]
async fn purge_removes_only_expired_rows_in_batches() {
    for db in backends().await {
        let s = &db.store;
        for i in 0..5u8 {
            s.insert_access_token(&Digest([i; 32]), &token(&format!("old{i}"), 50))
                .await
                .unwrap();
        }
        s.insert_access_token(&Digest([9; 32]), &token("live", 500))
            .await
            .unwrap();
        s.record_jti("c1", "old", 50).await.unwrap();
        s.revoke(
            &Revocation {
                kind: RevocationKind::Token,
                id: "old0".into(),
                expires_at: 50,
            },
            None,
            10,
        )
        .await
        .unwrap();
        let first = s.purge_expired(100, 2).await.unwrap();
        assert_eq!(first, 4, "{}: 2 tokens + 1 jti + 1 revocation", db.label);
        let mut total = first;
        loop {
            let n = s.purge_expired(100, 2).await.unwrap();
            if n == 0 {
                break;
            }
            total += n;
        }
        assert_eq!(total, 7);
        assert!(
            s.find_access_token(&Digest([9; 32]))
                .await
                .unwrap()
                .is_some(),
            "{}",
            db.label
        );
        assert!(
            s.record_jti("c1", "old", 500).await.unwrap(),
            "{}: purged jti rows free the id",
            db.label
        );
    }
}
