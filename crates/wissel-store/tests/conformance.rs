//! One contract, two databases: every test runs against a fresh SQLite file, and against a fresh
//! PostgreSQL database when `WISSEL_TEST_POSTGRES_URL` is set (`.ci/run` sets it).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a finding

use std::collections::BTreeMap;
use std::sync::Arc;

use wissel_core::grant::*;
use wissel_core::model::*;
use wissel_core::ports::{
    GrantStore, KeyStore, MedmijStore, Missing, PutOutcome, RegistryStore, Store, TokenStore,
};
use wissel_core::scope::ScopeSet;
use wissel_store::{SqlStore, SqliteDurability};

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
        assertion_audience: Default::default(),
        tls_client_auth_san_dns: None,
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
        post_logout_redirect_uris: vec![],
        oidc_scopes: default_oidc_scopes(),
        pkce: PkceRule::default(),
        id_token_alg: SigningAlg::default(),
        refresh_tokens: false,
        require_consent: true,
        lifetimes: Lifetimes::default(),
        application_type: None,
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
        claims: Default::default(),
        client_id: None,
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
            delegation: false,
            may_act: None,
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
        derivation: Default::default(),
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
        // Another algorithm is another key set, with its own next key.
        let other_alg = SigningKeyRecord {
            kid: "k3".into(),
            alg: SigningAlg::RS256,
            ..key.clone()
        };
        assert!(
            s.insert_key(&other_alg).await.unwrap(),
            "{}: one next key per algorithm",
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
        let keys = s.list_keys().await.unwrap();
        let k = keys.iter().find(|k| k.kid == "k1").unwrap();
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

// ---- Browser flows (GrantStore) ----

fn grant(id: &str, client: &str, sid: Option<&str>, offline: bool, exp: i64) -> Grant {
    Grant {
        id: id.into(),
        client_id: client.into(),
        subject: "s-alice".into(),
        api: Some("a1".into()),
        scope: ScopeSet::from_tokens(["openid", "r"]),
        auth_time: 90,
        sid: sid.map(Into::into),
        offline,
        parent: None,
        created_at: 100,
        expires_at: exp,
        revoked_at: None,
    }
}

fn code_record(grant_id: &str, exp: i64) -> CodeRecord {
    CodeRecord {
        grant_id: grant_id.into(),
        client_id: "c1".into(),
        subject: "s-alice".into(),
        redirect_uri: "https://c1.example/cb".into(),
        redirect_uri_given: true,
        code_challenge: Some("challenge".into()),
        code_challenge_method: Some(PkceMethod::S256),
        nonce: Some("n".into()),
        scope: ScopeSet::from_tokens(["openid", "r"]),
        api: Some("a1".into()),
        auth_time: 90,
        amr: vec!["pwd".into()],
        acr: None,
        sid: Some("sid1".into()),
        issued_at: 100,
        expires_at: exp,
        medmij: None,
    }
}

fn refresh_record(grant_id: &str, exp: i64) -> RefreshRecord {
    RefreshRecord {
        grant_id: grant_id.into(),
        client_id: "c1".into(),
        subject: "s-alice".into(),
        scope: ScopeSet::from_tokens(["openid", "offline_access"]),
        api: None,
        auth_time: 90,
        amr: vec!["pwd".into()],
        acr: Some("urn:x".into()),
        sid: Some("sid1".into()),
        issued_at: 100,
        expires_at: exp,
        medmij: None,
    }
}

/// Issues grant `id` (client `c1`) with a code whose digest is `[n; 32]`.
async fn issue(s: &SqlStore, id: &str, n: u8, exp: i64) -> Digest {
    let code = Digest([n; 32]);
    s.issue_code(
        &grant(id, "c1", Some("sid1"), false, exp),
        &code,
        &code_record(id, exp),
    )
    .await
    .unwrap();
    code
}

fn session(n: u8, subject: &str, created_at: i64, exp: i64) -> Session {
    Session {
        digest: Digest([n; 32]),
        sid: format!("sid{n}"),
        subject: subject.into(),
        auth_time: created_at,
        amr: vec!["pwd".into()],
        acr: Some("urn:x".into()),
        created_at,
        last_seen: created_at,
        expires_at: exp,
    }
}

fn interaction(id: &str, exp: i64) -> Interaction {
    Interaction {
        id: id.into(),
        request: Some(AuthRequest {
            client_id: "c1".into(),
            redirect_uri: "https://c1.example/cb".into(),
            redirect_uri_given: false,
            response_mode: ResponseMode::FormPost,
            state: Some("st".into()),
            nonce: None,
            scope: ScopeSet::from_tokens(["openid"]),
            api: None,
            code_challenge: Some("ch".into()),
            code_challenge_method: Some(PkceMethod::S256),
            prompt: Prompt {
                none: false,
                login: true,
                consent: false,
            },
            max_age: Some(60),
            login_hint: None,
            ui_locales: vec!["nl".into()],
            acr_values: vec![],
            medmij: None,
        }),
        csrf: Digest([3; 32]),
        created_at: 100,
        expires_at: exp,
    }
}

fn consent(client: &str, scopes: &[&str], exp: i64) -> Consent {
    Consent {
        subject: "s-alice".into(),
        client_id: client.into(),
        api: None,
        scopes: ScopeSet::from_tokens(scopes.iter().copied()),
        granted_at: 100,
        expires_at: exp,
    }
}

#[tokio::test]
async fn a_code_is_consumed_once_even_under_contention() {
    for db in backends().await {
        let code = issue(&db.store, "g1", 1, 1000).await;
        assert_eq!(
            db.store.get_grant("g1").await.unwrap(),
            Some(grant("g1", "c1", Some("sid1"), false, 1000)),
            "{}",
            db.label
        );
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let s = db.store.clone();
            tasks.push(tokio::spawn(async move {
                s.consume_code(&code, 200).await.unwrap()
            }));
        }
        let (mut consumed, mut replayed) = (0, 0);
        for t in tasks {
            match t.await.unwrap() {
                CodeOutcome::Consumed(r) => {
                    assert_eq!(*r, code_record("g1", 1000), "{}", db.label);
                    consumed += 1;
                }
                CodeOutcome::Replayed { grant_id } => {
                    assert_eq!(grant_id, "g1", "{}", db.label);
                    replayed += 1;
                }
                CodeOutcome::NotFound => panic!("{}: an issued code was not found", db.label),
            }
        }
        assert_eq!((consumed, replayed), (1, 7), "{}", db.label);
        assert_eq!(
            db.store.consume_code(&Digest([2; 32]), 200).await.unwrap(),
            CodeOutcome::NotFound,
            "{}",
            db.label
        );
    }
}

#[tokio::test]
async fn a_refresh_token_rotates_once_even_under_contention() {
    for db in backends().await {
        let old = Digest([1; 32]);
        db.store
            .insert_refresh(&old, &refresh_record("g1", 1000))
            .await
            .unwrap();
        assert_eq!(
            db.store.find_refresh(&old).await.unwrap(),
            Some((refresh_record("g1", 1000), false)),
            "{}",
            db.label
        );
        let mut tasks = Vec::new();
        for i in 0..8u8 {
            let s = db.store.clone();
            tasks.push(tokio::spawn(async move {
                let new = Digest([0x10 + i; 32]);
                let outcome = s
                    .rotate_refresh(&old, &new, &refresh_record("g1", 2000), 200)
                    .await
                    .unwrap();
                (new, outcome)
            }));
        }
        let mut winners = Vec::new();
        for t in tasks {
            let (new, outcome) = t.await.unwrap();
            match outcome {
                RotateOutcome::Rotated => winners.push(new),
                RotateOutcome::ReuseDetected { grant_id } => {
                    assert_eq!(grant_id, "g1", "{}", db.label);
                    assert!(
                        db.store.find_refresh(&new).await.unwrap().is_none(),
                        "{}: a losing rotation stores nothing",
                        db.label
                    );
                }
                RotateOutcome::NotFound => panic!("{}: the token was not found", db.label),
            }
        }
        assert_eq!(winners.len(), 1, "{}", db.label);
        assert_eq!(
            db.store.find_refresh(&winners[0]).await.unwrap(),
            Some((refresh_record("g1", 2000), false)),
            "{}: the new token is current",
            db.label
        );
        assert!(db.store.find_refresh(&old).await.unwrap().unwrap().1);
        assert_eq!(
            db.store
                .rotate_refresh(
                    &Digest([9; 32]),
                    &Digest([8; 32]),
                    &refresh_record("g1", 2000),
                    200
                )
                .await
                .unwrap(),
            RotateOutcome::NotFound,
            "{}",
            db.label
        );
    }
}

/// A second revocation of the same grant that covers longer-lived tokens (a code replay first
/// revoked with the replaying client's short lifetime) extends the first, and every node reads
/// it again; one that ends sooner changes nothing (issue 10, item 4).
#[tokio::test]
async fn a_revocation_is_kept_until_its_longest_token_expires() {
    for db in backends().await {
        let s = &db.store;
        issue(s, "g1", 1, 5000).await;
        let revocation = |expires_at| Revocation {
            kind: RevocationKind::Grant,
            id: "g1".into(),
            expires_at,
        };
        s.revoke_grant(&revocation(400), 300).await.unwrap();
        let ends = |rows: Vec<(i64, Revocation)>| -> Vec<i64> {
            rows.into_iter().map(|(_, r)| r.expires_at).collect()
        };
        let (seq, _) = s.revocations_since(0, 0).await.unwrap()[0].clone();
        s.revoke_grant(&revocation(2000), 350).await.unwrap();
        assert_eq!(
            ends(s.revocations_since(0, 0).await.unwrap()),
            vec![2000],
            "{}: extended",
            db.label
        );
        assert_eq!(
            ends(s.revocations_since(seq, 345).await.unwrap()),
            vec![2000],
            "{}: a node that has read the first sees the extension",
            db.label
        );
        s.revoke_grant(&revocation(900), 360).await.unwrap();
        assert_eq!(
            ends(s.revocations_since(0, 0).await.unwrap()),
            vec![2000],
            "{}: never shortened",
            db.label
        );
    }
}

#[tokio::test]
async fn revoking_a_grant_removes_its_codes_and_refresh_tokens_and_is_announced() {
    for db in backends().await {
        let s = &db.store;
        let code = issue(s, "g1", 1, 1000).await;
        let refresh = Digest([5; 32]);
        s.insert_refresh(&refresh, &refresh_record("g1", 1000))
            .await
            .unwrap();
        let other = issue(s, "g2", 2, 1000).await;
        let r = Revocation {
            kind: RevocationKind::Grant,
            id: "g1".into(),
            expires_at: 1000,
        };
        assert!(s.revoke_grant(&r, 300).await.unwrap(), "{}", db.label);
        assert_eq!(
            s.consume_code(&code, 301).await.unwrap(),
            CodeOutcome::NotFound,
            "{}",
            db.label
        );
        assert!(s.find_refresh(&refresh).await.unwrap().is_none());
        assert_eq!(
            s.get_grant("g1").await.unwrap().unwrap().revoked_at,
            Some(300)
        );
        assert!(
            matches!(
                s.consume_code(&other, 301).await.unwrap(),
                CodeOutcome::Consumed(_)
            ),
            "{}: other grants are untouched",
            db.label
        );
        assert!(
            !s.revoke_grant(&r, 400).await.unwrap(),
            "{}: already revoked",
            db.label
        );
        let announced = s.revocations_since(0, i64::MAX).await.unwrap();
        assert_eq!(
            announced.into_iter().map(|(_, r)| r).collect::<Vec<_>>(),
            vec![r],
            "{}",
            db.label
        );
    }
}

#[tokio::test]
async fn live_grants_filter_by_client_and_online_session() {
    for db in backends().await {
        let s = &db.store;
        let grants = [
            grant("online", "c1", Some("sid1"), false, 1000),
            grant("offline", "c1", Some("sid1"), true, 1000),
            grant("other-client", "c2", Some("sid1"), false, 1000),
            grant("other-session", "c1", Some("sid2"), false, 1000),
            grant("expired", "c1", Some("sid1"), false, 150),
            grant("revoked", "c1", Some("sid1"), false, 1000),
        ];
        for (i, g) in grants.iter().enumerate() {
            let n = u8::try_from(i).unwrap();
            s.issue_code(g, &Digest([n; 32]), &code_record(&g.id, g.expires_at))
                .await
                .unwrap();
        }
        let r = Revocation {
            kind: RevocationKind::Grant,
            id: "revoked".into(),
            expires_at: 1000,
        };
        s.revoke_grant(&r, 120).await.unwrap();
        let ids = |v: Vec<Grant>| {
            let mut ids: Vec<String> = v.into_iter().map(|g| g.id).collect();
            ids.sort();
            ids
        };
        let now = 200;
        assert_eq!(
            ids(s.live_grants("s-alice", None, None, now).await.unwrap()),
            ["offline", "online", "other-client", "other-session"],
            "{}",
            db.label
        );
        assert_eq!(
            ids(s
                .live_grants("s-alice", Some("c1"), None, now)
                .await
                .unwrap()),
            ["offline", "online", "other-session"],
            "{}",
            db.label
        );
        assert_eq!(
            ids(s
                .live_grants("s-alice", None, Some("sid1"), now)
                .await
                .unwrap()),
            ["online", "other-client"],
            "{}",
            db.label
        );
        assert_eq!(
            ids(s
                .live_grants("s-alice", Some("c1"), Some("sid1"), now)
                .await
                .unwrap()),
            ["online"],
            "{}",
            db.label
        );
        assert!(
            s.live_grants("s-bob", None, None, now)
                .await
                .unwrap()
                .is_empty()
        );
    }
}

#[tokio::test]
async fn sessions_round_trip_expire_and_end() {
    for db in backends().await {
        let s = &db.store;
        s.create_session(&session(1, "s-alice", 100, 1000))
            .await
            .unwrap();
        s.create_session(&session(2, "s-alice", 110, 1000))
            .await
            .unwrap();
        s.create_session(&session(3, "s-alice", 120, 150))
            .await
            .unwrap();
        s.create_session(&session(4, "s-bob", 130, 1000))
            .await
            .unwrap();
        let d1 = Digest([1; 32]);
        assert_eq!(
            s.get_session(&d1, 200).await.unwrap(),
            Some(session(1, "s-alice", 100, 1000)),
            "{}",
            db.label
        );
        assert!(
            s.get_session(&Digest([3; 32]), 200)
                .await
                .unwrap()
                .is_none(),
            "{}: past its absolute end",
            db.label
        );
        s.touch_session(&d1, 300).await.unwrap();
        s.touch_session(&d1, 250).await.unwrap();
        assert_eq!(
            s.get_session(&d1, 301).await.unwrap().unwrap().last_seen,
            300,
            "{}: last use recorded, never moved back",
            db.label
        );
        let sids: Vec<String> = s
            .sessions_of("s-alice", 200)
            .await
            .unwrap()
            .into_iter()
            .map(|x| x.sid)
            .collect();
        assert_eq!(
            sids,
            ["sid2", "sid1"],
            "{}: live ones, newest first",
            db.label
        );

        assert!(
            !s.end_session_by_sid("s-bob", "sid2").await.unwrap(),
            "{}: another user's session",
            db.label
        );
        assert!(s.end_session_by_sid("s-alice", "sid2").await.unwrap());
        assert!(
            s.get_session(&Digest([2; 32]), 200)
                .await
                .unwrap()
                .is_none()
        );
        let ended = s.end_session(&d1).await.unwrap().unwrap();
        assert_eq!(
            (ended.sid.as_str(), ended.last_seen),
            ("sid1", 300),
            "{}",
            db.label
        );
        assert!(s.end_session(&d1).await.unwrap().is_none());
        assert!(s.get_session(&d1, 200).await.unwrap().is_none());
    }
}

#[tokio::test]
async fn interactions_complete_once_and_consents_round_trip() {
    for db in backends().await {
        let s = &db.store;
        s.put_interaction(&interaction("i1", 500)).await.unwrap();
        assert_eq!(
            s.get_interaction("i1", 200).await.unwrap(),
            Some(interaction("i1", 500)),
            "{}",
            db.label
        );
        assert!(
            s.get_interaction("i1", 500).await.unwrap().is_none(),
            "{}: expired",
            db.label
        );
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let s = db.store.clone();
            tasks.push(tokio::spawn(async move {
                s.take_interaction("i1").await.unwrap()
            }));
        }
        let mut taken = 0;
        for t in tasks {
            taken += usize::from(t.await.unwrap());
        }
        assert_eq!(taken, 1, "{}", db.label);
        assert!(s.get_interaction("i1", 200).await.unwrap().is_none());
        let account_login = Interaction {
            request: None,
            ..interaction("i2", 500)
        };
        s.put_interaction(&account_login).await.unwrap();
        assert_eq!(
            s.get_interaction("i2", 200).await.unwrap(),
            Some(account_login),
            "{}",
            db.label
        );

        s.put_consent(&consent("c1", &["openid"], 1000))
            .await
            .unwrap();
        s.put_consent(&consent("c1", &["openid", "r"], 2000))
            .await
            .unwrap();
        s.put_consent(&consent("c2", &["openid"], 150))
            .await
            .unwrap();
        assert_eq!(
            s.get_consent("s-alice", "c1", None, 200).await.unwrap(),
            Some(consent("c1", &["openid", "r"], 2000)),
            "{}: replaced",
            db.label
        );
        assert!(
            s.get_consent("s-alice", "c2", None, 200)
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            s.consents_of("s-alice", 200).await.unwrap(),
            vec![consent("c1", &["openid", "r"], 2000)],
            "{}",
            db.label
        );
        assert!(s.delete_consent("s-alice", "c1", None).await.unwrap());
        assert!(!s.delete_consent("s-alice", "c1", None).await.unwrap());
        assert!(
            s.get_consent("s-alice", "c1", None, 200)
                .await
                .unwrap()
                .is_none()
        );
    }
}

/// Consent to `read` on one API never covers `read` on another (issue 10, item 2): consents are
/// keyed by user, client and API.
#[tokio::test]
async fn consent_is_remembered_per_client_and_api() {
    for db in backends().await {
        let s = &db.store;
        let for_api = |api: Option<&str>, scopes: &[&str]| Consent {
            api: api.map(str::to_owned),
            ..consent("c1", scopes, 1000)
        };
        s.put_consent(&for_api(Some("orders-api"), &["openid", "read"]))
            .await
            .unwrap();
        s.put_consent(&for_api(None, &["openid"])).await.unwrap();
        assert_eq!(
            s.get_consent("s-alice", "c1", Some("orders-api"), 200)
                .await
                .unwrap(),
            Some(for_api(Some("orders-api"), &["openid", "read"])),
            "{}",
            db.label
        );
        assert!(
            s.get_consent("s-alice", "c1", Some("files-api"), 200)
                .await
                .unwrap()
                .is_none(),
            "{}: consent to orders-api covers files-api",
            db.label
        );
        assert_eq!(
            s.get_consent("s-alice", "c1", None, 200).await.unwrap(),
            Some(for_api(None, &["openid"])),
            "{}",
            db.label
        );
        assert_eq!(
            s.consents_of("s-alice", 200).await.unwrap(),
            vec![
                for_api(None, &["openid"]),
                for_api(Some("orders-api"), &["openid", "read"])
            ],
            "{}",
            db.label
        );
        assert!(
            s.delete_consent("s-alice", "c1", Some("orders-api"))
                .await
                .unwrap()
        );
        assert!(
            s.get_consent("s-alice", "c1", None, 200)
                .await
                .unwrap()
                .is_some(),
            "{}: withdrawing one API's consent keeps the others",
            db.label
        );
    }
}

/// Counts an attempt under every key, with room to spare.
async fn fail(s: &SqlStore, keys: &[String], since: i64, now: i64) {
    let budgets: Vec<AttemptBudget> = keys
        .iter()
        .map(|k| AttemptBudget {
            key: k.clone(),
            limit: 1_000,
        })
        .collect();
    assert_eq!(
        s.reserve_attempts(&budgets, since, now).await.unwrap(),
        Reservation::Granted
    );
}

/// 25 attempts on one account at once, each reserved before its password check: exactly the
/// limit (5) are granted, on SQLite and on PostgreSQL alike, and the refused ones count nowhere
/// (not on the address either). A window that is over starts again.
#[tokio::test]
async fn attempt_reservations_are_atomic_under_concurrency() {
    for db in backends().await {
        let budgets = vec![
            AttemptBudget {
                key: "account:alice".into(),
                limit: 5,
            },
            AttemptBudget {
                key: "address:192.0.2.1".into(),
                limit: 20,
            },
        ];
        let mut tasks = Vec::new();
        for _ in 0..25 {
            let s = db.store.clone();
            let budgets = budgets.clone();
            tasks.push(tokio::spawn(async move {
                s.reserve_attempts(&budgets, 0, 100).await.unwrap()
            }));
        }
        let mut granted = 0;
        for t in tasks {
            match t.await.unwrap() {
                Reservation::Granted => granted += 1,
                Reservation::Refused(i) => assert_eq!(i, 0, "{}: the account's budget", db.label),
            }
        }
        assert_eq!(granted, 5, "{}: granted attempts", db.label);
        let keys: Vec<String> = budgets.iter().map(|b| b.key.clone()).collect();
        let counts: Vec<i64> = db
            .store
            .login_failures(&keys, 0)
            .await
            .unwrap()
            .iter()
            .map(|c| c.failures)
            .collect();
        assert_eq!(
            counts,
            vec![5, 5],
            "{}: refused attempts count nowhere",
            db.label
        );
        // A success gives its reservation back; a window that is over starts again.
        db.store.release_attempts(&keys[1..]).await.unwrap();
        assert_eq!(
            db.store.reserve_attempts(&budgets, 0, 100).await.unwrap(),
            Reservation::Refused(0),
            "{}",
            db.label
        );
        assert_eq!(
            db.store.reserve_attempts(&budgets, 101, 200).await.unwrap(),
            Reservation::Granted,
            "{}: a new window",
            db.label
        );
        let counts: Vec<i64> = db
            .store
            .login_failures(&keys, 0)
            .await
            .unwrap()
            .iter()
            .map(|c| c.failures)
            .collect();
        assert_eq!(counts, vec![1, 1], "{}", db.label);
    }
}

#[tokio::test]
async fn login_failures_count_per_key_within_a_window() {
    for db in backends().await {
        let s = &db.store;
        let keys = vec!["user:alice".to_string(), "ip:192.0.2.1".to_string()];
        let mut tasks = Vec::new();
        for _ in 0..5 {
            let s = db.store.clone();
            let keys = keys.clone();
            tasks.push(tokio::spawn(async move { fail(&s, &keys, 0, 100).await }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        fail(s, &keys[..1], 50, 110).await;
        let five = FailureCount {
            failures: 5,
            window_start: 100,
        };
        let six = FailureCount {
            failures: 6,
            window_start: 100,
        };
        assert_eq!(
            s.login_failures(&keys, 100).await.unwrap(),
            vec![six, five],
            "{}: every failure counts",
            db.label
        );
        assert!(
            s.login_failures(&keys, 101).await.unwrap().is_empty(),
            "{}: windows that started before `since` are over",
            db.label
        );
        fail(s, &keys[..1], 150, 200).await;
        assert_eq!(
            s.login_failures(&keys, 0).await.unwrap(),
            vec![
                FailureCount {
                    failures: 1,
                    window_start: 200
                },
                five
            ],
            "{}: an old window starts again",
            db.label
        );
        s.clear_login_failures("user:alice").await.unwrap();
        assert_eq!(
            s.login_failures(&keys, 0).await.unwrap(),
            vec![five],
            "{}",
            db.label
        );
    }
}

#[tokio::test]
async fn users_are_created_once_updated_and_rehashed_conditionally() {
    for db in backends().await {
        let s = &db.store;
        let mut p = plan();
        p.authorizations.extend([
            Authorization {
                grantee: Grantee::User("alice".into()),
                api: "a1".into(),
                scopes: ScopeSet::from_tokens(["w"]),
            },
            Authorization {
                grantee: Grantee::Group("others".into()),
                api: "a1".into(),
                scopes: ScopeSet::from_tokens(["x"]),
            },
            Authorization {
                grantee: Grantee::User("bob".into()),
                api: "a1".into(),
                scopes: ScopeSet::from_tokens(["y"]),
            },
            Authorization {
                grantee: Grantee::Group("staff".into()),
                api: "a2".into(),
                scopes: ScopeSet::from_tokens(["z"]),
            },
        ]);
        s.apply(&p, 10).await.unwrap();
        let staff = ["staff".to_string()];
        assert_eq!(
            s.authorized_scopes("alice", &staff, "a1")
                .await
                .unwrap()
                .unwrap(),
            ScopeSet::from_tokens(["r", "w"]),
            "{}: own and group authorizations",
            db.label
        );
        assert_eq!(
            s.authorized_scopes("alice", &[], "a1")
                .await
                .unwrap()
                .unwrap(),
            ScopeSet::from_tokens(["w"])
        );
        assert_eq!(
            s.authorized_scopes("carol", &staff, "a2")
                .await
                .unwrap()
                .unwrap(),
            ScopeSet::from_tokens(["z"])
        );
        assert!(
            s.authorized_scopes("carol", &[], "a1")
                .await
                .unwrap()
                .is_none()
        );

        let alice = s.user_by_subject("s-alice").await.unwrap().unwrap();
        assert_eq!(alice.username, "alice", "{}", db.label);
        let bob = User {
            subject: "s-bob".into(),
            username: "bob".into(),
            ..alice.clone()
        };
        assert!(s.create_user(&bob, 20).await.unwrap(), "{}", db.label);
        let taken_name = User {
            subject: "s-other".into(),
            ..bob.clone()
        };
        assert!(
            !s.create_user(&taken_name, 21).await.unwrap(),
            "{}",
            db.label
        );
        let taken_subject = User {
            username: "other".into(),
            ..bob.clone()
        };
        assert!(!s.create_user(&taken_subject, 21).await.unwrap());
        assert!(s.user_by_subject("s-other").await.unwrap().is_none());
        assert!(s.find_user("other").await.unwrap().is_none());

        let renamed = User {
            username: "robert".into(),
            groups: vec!["others".into()],
            ..bob.clone()
        };
        assert!(s.update_user(&renamed, 22).await.unwrap());
        assert_eq!(s.find_user("robert").await.unwrap(), Some(renamed.clone()));
        assert!(s.find_user("bob").await.unwrap().is_none(), "{}", db.label);
        let ghost = User {
            subject: "s-ghost".into(),
            username: "ghost".into(),
            ..bob.clone()
        };
        assert!(!s.update_user(&ghost, 22).await.unwrap());

        let old = bob.password_hash.clone();
        assert!(!s.rehash_password("s-bob", "stale", "new").await.unwrap());
        assert!(s.rehash_password("s-bob", &old, "new").await.unwrap());
        let after = s.user_by_subject("s-bob").await.unwrap().unwrap();
        assert_eq!(
            after,
            User {
                password_hash: "new".into(),
                ..renamed
            },
            "{}: only the hash changed",
            db.label
        );
        assert!(
            !s.rehash_password("s-bob", &old, "newer").await.unwrap(),
            "{}: a changed password is never undone",
            db.label
        );
        assert!(!s.rehash_password("s-ghost", &old, "new").await.unwrap());
    }
}

#[tokio::test]
async fn purge_removes_expired_browser_flow_rows() {
    for db in backends().await {
        let s = &db.store;
        // Expired at 100: one row of each kind (the grant, its code and the refresh token count
        // separately).
        let old_code = issue(s, "old", 1, 50).await;
        s.insert_refresh(&Digest([2; 32]), &refresh_record("old", 50))
            .await
            .unwrap();
        s.put_interaction(&interaction("old", 50)).await.unwrap();
        s.create_session(&session(3, "s-alice", 10, 50))
            .await
            .unwrap();
        s.put_consent(&consent("c1", &["openid"], 50))
            .await
            .unwrap();
        fail(s, &["old".to_string()], 0, 100 - 86_400 - 1).await;
        // Live at 100.
        let live_code = issue(s, "live", 11, 500).await;
        s.insert_refresh(&Digest([12; 32]), &refresh_record("live", 500))
            .await
            .unwrap();
        s.put_interaction(&interaction("live", 500)).await.unwrap();
        s.create_session(&session(13, "s-alice", 10, 500))
            .await
            .unwrap();
        s.put_consent(&consent("c2", &["openid"], 500))
            .await
            .unwrap();
        fail(s, &["recent".to_string()], 0, 100 - 3600).await;

        let mut total = 0;
        loop {
            let n = s.purge_expired(100, 1).await.unwrap();
            if n == 0 {
                break;
            }
            total += n;
        }
        assert_eq!(total, 7, "{}", db.label);
        assert!(s.get_grant("old").await.unwrap().is_none(), "{}", db.label);
        assert_eq!(
            s.consume_code(&old_code, 100).await.unwrap(),
            CodeOutcome::NotFound
        );
        assert!(s.find_refresh(&Digest([2; 32])).await.unwrap().is_none());
        assert!(s.take_interaction("live").await.unwrap());
        assert!(!s.take_interaction("old").await.unwrap(), "{}", db.label);
        assert!(!s.end_session_by_sid("s-alice", "sid3").await.unwrap());
        assert!(s.end_session_by_sid("s-alice", "sid13").await.unwrap());
        assert!(!s.delete_consent("s-alice", "c1", None).await.unwrap());
        assert!(s.delete_consent("s-alice", "c2", None).await.unwrap());
        let keys = ["old".to_string(), "recent".to_string()];
        assert_eq!(
            s.login_failures(&keys, i64::MIN).await.unwrap(),
            vec![FailureCount {
                failures: 1,
                window_start: 100 - 3600
            }],
            "{}",
            db.label
        );
        assert!(s.get_grant("live").await.unwrap().is_some());
        assert!(matches!(
            s.consume_code(&live_code, 100).await.unwrap(),
            CodeOutcome::Consumed(_)
        ));
        assert!(s.find_refresh(&Digest([12; 32])).await.unwrap().is_some());
    }
}

#[tokio::test]
async fn links_and_authorizations_are_put_and_deleted_one_at_a_time() {
    for db in backends().await {
        let s = &db.store;
        let l = &db.label;
        let mut p = plan();
        p.apis.push(api("a2"));
        s.apply(&p, 1).await.unwrap();
        assert!(s.create_client(&client("c2"), 1).await.unwrap());
        let generation = || async { s.generation().await.unwrap() };

        // Links: created, unchanged (no bump), replaced; the registry follows.
        let mut link = Link {
            client: "c2".into(),
            api: "a2".into(),
            scopes: ScopeSet::from_tokens(["r"]),
            exchange: false,
            delegation: false,
            may_act: None,
            attributes: BTreeMap::new(),
        };
        let g = generation().await;
        assert_eq!(
            s.put_link(&link, 2).await.unwrap(),
            PutOutcome::Created,
            "{l}"
        );
        assert!(
            generation().await > g,
            "{l}: a new link bumps the generation"
        );
        let g = generation().await;
        assert_eq!(
            s.put_link(&link, 3).await.unwrap(),
            PutOutcome::Unchanged,
            "{l}"
        );
        assert_eq!(generation().await, g, "{l}: no change, no bump");
        link.exchange = true;
        link.delegation = true;
        link.may_act = Some("agent".into());
        link.attributes.insert("tier".into(), serde_json::json!(2));
        assert_eq!(
            s.put_link(&link, 4).await.unwrap(),
            PutOutcome::Replaced,
            "{l}"
        );
        assert!(
            generation().await > g,
            "{l}: a replaced link bumps the generation"
        );
        let reg = s.load_registry().await.unwrap();
        assert_eq!(reg.link("c2", "a2").map(|x| x.as_ref()), Some(&link), "{l}");
        assert_eq!(reg.generation, generation().await);

        // A link needs its client and its API; nothing is written otherwise.
        let g = generation().await;
        for (client, api, missing) in [
            ("nobody", "a2", Missing::Client),
            ("a1", "a2", Missing::Client), // an API is not a client
            ("c2", "nothing", Missing::Api),
        ] {
            let mut bad = link.clone();
            bad.client = client.into();
            bad.api = api.into();
            assert_eq!(
                s.put_link(&bad, 5).await.unwrap(),
                PutOutcome::Missing(missing),
                "{l}: {client} → {api}"
            );
        }
        assert_eq!(generation().await, g, "{l}: refused puts write nothing");

        // Removal, once.
        assert!(s.delete_link("c2", "a2", 6).await.unwrap(), "{l}");
        assert!(
            generation().await > g,
            "{l}: a removal bumps the generation"
        );
        let g = generation().await;
        assert!(!s.delete_link("c2", "a2", 7).await.unwrap(), "{l}");
        assert_eq!(generation().await, g, "{l}: nothing removed, no bump");
        let reg = s.load_registry().await.unwrap();
        assert!(reg.link("c2", "a2").is_none(), "{l}");
        assert!(reg.link("c1", "a1").is_some(), "{l}: other links stay");

        // Authorizations: the plan holds group staff → a1 {r}.
        let alice = |scopes: &[&str]| Authorization {
            grantee: Grantee::User("alice".into()),
            api: "a1".into(),
            scopes: ScopeSet::from_tokens(scopes.iter().copied()),
        };
        let g = generation().await;
        assert_eq!(
            s.put_authorization(&alice(&["w"]), 8).await.unwrap(),
            PutOutcome::Created,
            "{l}"
        );
        assert!(generation().await > g, "{l}");
        let g = generation().await;
        assert_eq!(
            s.put_authorization(&alice(&["w"]), 9).await.unwrap(),
            PutOutcome::Unchanged,
            "{l}"
        );
        assert_eq!(generation().await, g, "{l}");
        assert_eq!(
            s.put_authorization(&alice(&["x", "w"]), 10).await.unwrap(),
            PutOutcome::Replaced,
            "{l}"
        );
        assert!(generation().await > g, "{l}");
        let staff = ["staff".to_string()];
        assert_eq!(
            s.authorized_scopes("alice", &staff, "a1").await.unwrap(),
            Some(ScopeSet::from_tokens(["r", "w", "x"])),
            "{l}: replaced, united with the group's"
        );

        // An authorization needs its API, and for a user the user; a group needs nothing.
        let g = generation().await;
        let mut bad = alice(&["r"]);
        bad.api = "nothing".into();
        assert_eq!(
            s.put_authorization(&bad, 11).await.unwrap(),
            PutOutcome::Missing(Missing::Api),
            "{l}"
        );
        let mut bad = alice(&["r"]);
        bad.grantee = Grantee::User("nobody".into());
        assert_eq!(
            s.put_authorization(&bad, 11).await.unwrap(),
            PutOutcome::Missing(Missing::User),
            "{l}"
        );
        assert_eq!(generation().await, g, "{l}: refused puts write nothing");
        let ops = Authorization {
            grantee: Grantee::Group("ops".into()),
            api: "a2".into(),
            scopes: ScopeSet::from_tokens(["r"]),
        };
        assert_eq!(
            s.put_authorization(&ops, 12).await.unwrap(),
            PutOutcome::Created,
            "{l}"
        );

        // Listed by API, users before groups.
        let all = s.list_authorizations(None).await.unwrap();
        let keys: Vec<(&str, &Grantee)> =
            all.iter().map(|a| (a.api.as_str(), &a.grantee)).collect();
        assert_eq!(
            keys,
            vec![
                ("a1", &Grantee::User("alice".into())),
                ("a1", &Grantee::Group("staff".into())),
                ("a2", &Grantee::Group("ops".into())),
            ],
            "{l}"
        );
        assert_eq!(all[0], alice(&["w", "x"]), "{l}");
        assert_eq!(
            s.list_authorizations(Some("a2")).await.unwrap(),
            vec![ops],
            "{l}"
        );
        assert!(
            s.list_authorizations(Some("nothing"))
                .await
                .unwrap()
                .is_empty()
        );

        // Revocation, once.
        let g = generation().await;
        let user = Grantee::User("alice".into());
        assert!(
            s.delete_authorization(&user, "a1", 13).await.unwrap(),
            "{l}"
        );
        assert!(generation().await > g, "{l}");
        let g = generation().await;
        assert!(
            !s.delete_authorization(&user, "a1", 14).await.unwrap(),
            "{l}"
        );
        assert_eq!(generation().await, g, "{l}");
        assert_eq!(
            s.authorized_scopes("alice", &staff, "a1").await.unwrap(),
            Some(ScopeSet::from_tokens(["r"])),
            "{l}: the group's remains"
        );
        assert_eq!(s.authorized_scopes("alice", &[], "a1").await.unwrap(), None);

        // `apply` bumps the generation for a changed authorization too.
        let mut p2 = p.clone();
        p2.authorizations[0].scopes = ScopeSet::from_tokens(["r", "w"]);
        let g = generation().await;
        s.apply(&p2, 15).await.unwrap();
        assert!(
            generation().await > g,
            "{l}: an applied authorization change bumps the generation"
        );
    }
}

// --- MedMij -------------------------------------------------------------------------------

fn stored_list(kind: &str, volgnummer: i64, doc: &str) -> StoredList {
    StoredList {
        kind: kind.into(),
        volgnummer,
        tijdstempel: "2026-11-30T08:00:00Z".into(),
        document: doc.as_bytes().to_vec(),
        loaded_at: 1000,
    }
}

/// A list's last valid copy never goes back to a lower Volgnummer; the same one may be stored
/// again; kinds are independent.
#[tokio::test]
async fn medmij_lists_never_go_back() {
    for db in backends().await {
        let s = &db.store;
        assert!(s.medmij_list("ocl").await.unwrap().is_none());
        assert!(
            s.put_medmij_list(&stored_list("ocl", 41, "a"))
                .await
                .unwrap()
        );
        assert!(
            s.put_medmij_list(&stored_list("ocl", 41, "b"))
                .await
                .unwrap(),
            "{}: equal",
            db.label
        );
        assert!(
            !s.put_medmij_list(&stored_list("ocl", 40, "c"))
                .await
                .unwrap(),
            "{}: lower",
            db.label
        );
        assert!(
            s.put_medmij_list(&stored_list("whitelist", 3, "w"))
                .await
                .unwrap()
        );
        let got = s.medmij_list("ocl").await.unwrap().unwrap();
        assert_eq!(
            (got.volgnummer, got.document.as_slice()),
            (41, &b"b"[..]),
            "{}",
            db.label
        );
        assert!(
            s.put_medmij_list(&stored_list("ocl", 42, "d"))
                .await
                .unwrap()
        );
        assert_eq!(s.medmij_list("ocl").await.unwrap().unwrap().document, b"d");
        assert_eq!(
            s.medmij_list("whitelist")
                .await
                .unwrap()
                .unwrap()
                .volgnummer,
            3
        );
    }
}

/// A value can be reserved once: a second reservation of the same digest is a collision, also
/// when eight callers race; expired reservations are purged.
#[tokio::test]
async fn issued_values_are_unique() {
    for db in backends().await {
        let s = &db.store;
        let d = Digest([7; 32]);
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                s.reserve_issued(&d, "code", 500).await.unwrap()
            }));
        }
        let mut won = 0;
        for t in tasks {
            won += usize::from(t.await.unwrap());
        }
        assert_eq!(won, 1, "{}: exactly one reservation", db.label);
        assert!(
            !s.reserve_issued(&d, "access_token", 500).await.unwrap(),
            "{}: across kinds",
            db.label
        );
        assert!(
            s.reserve_issued(&Digest([8; 32]), "code", 50)
                .await
                .unwrap()
        );
        let mut purged = 0;
        loop {
            let n = s.purge_expired(100, 10).await.unwrap();
            if n == 0 {
                break;
            }
            purged += n;
        }
        assert_eq!(purged, 1, "{}", db.label);
        assert!(
            s.reserve_issued(&Digest([8; 32]), "code", 500)
                .await
                .unwrap(),
            "{}: purged",
            db.label
        );
        assert!(!s.reserve_issued(&d, "code", 500).await.unwrap());
    }
}

fn medmij_consent(id: &str, subject: &str, expires_at: i64) -> MedmijConsent {
    MedmijConsent {
        id: id.into(),
        subject: subject.into(),
        client_id: "pgo.example.nl".into(),
        aanbieder: "umcx@medmij".into(),
        gegevensdiensten: ScopeSet::parse("48 49").unwrap(),
        grant_id: format!("g-{id}"),
        granted_at: 10,
        expires_at,
        ended_at: None,
    }
}

/// Consents are listed per person while live; one ends once, only by its own person.
#[tokio::test]
async fn medmij_consents_end_once() {
    for db in backends().await {
        let s = &db.store;
        s.put_medmij_consent(&medmij_consent("c1", "p1", 500))
            .await
            .unwrap();
        s.put_medmij_consent(&medmij_consent("c2", "p1", 500))
            .await
            .unwrap();
        s.put_medmij_consent(&medmij_consent("c3", "p1", 50))
            .await
            .unwrap();
        s.put_medmij_consent(&medmij_consent("c4", "p2", 500))
            .await
            .unwrap();
        let live = s.medmij_consents_of("p1", 100).await.unwrap();
        let ids: Vec<&str> = live.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            ["c1", "c2"],
            "{}: expired ones are not listed",
            db.label
        );
        assert_eq!(live[0].gegevensdiensten, ScopeSet::parse("48 49").unwrap());
        assert!(
            s.end_medmij_consent("p2", "c1", 100)
                .await
                .unwrap()
                .is_none(),
            "{}: another person's",
            db.label
        );
        let ended = s
            .end_medmij_consent("p1", "c1", 100)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (ended.grant_id.as_str(), ended.ended_at),
            ("g-c1", Some(100))
        );
        assert!(
            s.end_medmij_consent("p1", "c1", 101)
                .await
                .unwrap()
                .is_none(),
            "{}: once",
            db.label
        );
        assert!(
            s.end_medmij_consent("p1", "c3", 100)
                .await
                .unwrap()
                .is_none(),
            "{}: expired",
            db.label
        );
        let ids: Vec<String> = s
            .medmij_consents_of("p1", 100)
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(ids, ["c2"]);
    }
}

/// A database that holds a lock past the statement deadline makes a store call fail within that
/// deadline as *unavailable* (which the HTTP layer answers `503 temporarily_unavailable`), not
/// as an internal failure, and not after a long wait: SQLite's `busy_timeout` and PostgreSQL's
/// `lock_timeout` follow `statement_timeout`. The store works again once the lock is gone.
#[tokio::test]
async fn a_locked_database_is_unavailable_within_the_statement_deadline() {
    use sqlx::Connection;
    use std::time::{Duration, Instant};
    use wissel_store::StoreLimits;
    let limits = StoreLimits {
        acquire_timeout: Duration::from_millis(300),
        statement_timeout: Duration::from_millis(300),
    };
    let check = |label: &str, r: Result<(), wissel_core::InternalError>, took: Duration| {
        let e = r.expect_err(label);
        assert!(e.is_unavailable(), "{label}: {e} is not an unavailability");
        assert!(
            took < limits.call_deadline() + Duration::from_millis(500),
            "{label}: took {took:?}"
        );
    };

    // SQLite: another connection holds the write lock.
    let dir = std::env::temp_dir().join(unique("wissel_store"));
    std::fs::create_dir_all(&dir).unwrap();
    let _dir = TempDir(dir.clone());
    let url = format!("sqlite://{}", dir.join("test.db").display());
    let store = SqlStore::connect_with(&url, limits, SqliteDurability::Full)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let mut locker = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut locker)
        .await
        .unwrap();
    let started = Instant::now();
    let r = store.put_interaction(&interaction("locked", 500)).await;
    check("sqlite", r, started.elapsed());
    sqlx::query("ROLLBACK").execute(&mut locker).await.unwrap();
    store
        .put_interaction(&interaction("unlocked", 500))
        .await
        .unwrap();
    store.close().await;

    // PostgreSQL: another session holds the table's lock.
    let Ok(base) = std::env::var("WISSEL_TEST_POSTGRES_URL") else {
        notice("WISSEL_TEST_POSTGRES_URL is not set; the PostgreSQL half is skipped");
        return;
    };
    if base.is_empty() {
        return;
    }
    let name = unique("wissel_t");
    let admin = sqlx::PgPool::connect(&base).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .unwrap();
    let mut url = url::Url::parse(&base).unwrap();
    url.set_path(&name);
    let store = SqlStore::connect_with(url.as_str(), limits, SqliteDurability::Full)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let mut locker = sqlx::PgConnection::connect(url.as_str()).await.unwrap();
    sqlx::query("BEGIN").execute(&mut locker).await.unwrap();
    sqlx::query("LOCK TABLE interactions IN ACCESS EXCLUSIVE MODE")
        .execute(&mut locker)
        .await
        .unwrap();
    let started = Instant::now();
    let r = store.put_interaction(&interaction("locked", 500)).await;
    check("postgres", r, started.elapsed());
    sqlx::query("ROLLBACK").execute(&mut locker).await.unwrap();
    store
        .put_interaction(&interaction("unlocked", 500))
        .await
        .unwrap();
    store.close().await;
}
