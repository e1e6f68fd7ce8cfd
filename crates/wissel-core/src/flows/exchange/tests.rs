use super::*;
use crate::ErrorCode;
use crate::model::{ClientAuthMethod, Credentials, GrantType, SigningAlg};
use proptest::prelude::*;

fn client(id: &str) -> Client {
    Client::new(
        id,
        id,
        Credentials {
            method: ClientAuthMethod::ClientSecretBasic,
            secret_sha256: None,
            jwks: None,
            jwks_uri: None,
            assertion_alg: SigningAlg::ES256,
            assertion_audience: Default::default(),
            tls_client_auth_san_dns: None,
        },
        vec![GrantType::AuthorizationCode, GrantType::TokenExchange],
    )
}

fn api(id: &str, scopes: &[&str]) -> Api {
    Api {
        id: id.into(),
        name: id.into(),
        resources: vec![format!("https://{id}.example/")],
        token_format: TokenFormat::Jwt,
        credentials: None,
        scopes: scopes
            .iter()
            .map(|s| (s.to_string(), String::new()))
            .collect(),
        access_token_lifetime: 600,
        disabled: false,
        claims: BTreeMap::from([("profile".into(), vec!["name".into(), "groups".into()])]),
        client_id: Some("api-svc".into()),
    }
}

fn link(client: &str, api: &str, scopes: &[&str], exchange: bool) -> Link {
    Link {
        client: client.into(),
        api: api.into(),
        scopes: ScopeSet::from_tokens(scopes.iter().copied()),
        exchange,
        delegation: false,
        may_act: None,
        attributes: BTreeMap::new(),
    }
}

fn registry() -> Registry {
    Registry::new(
        1,
        vec![client("front"), client("other"), client("api-svc")],
        vec![
            api("api", &["read", "write", "profile"]),
            api("api2", &["x"]),
        ],
        vec![
            link("front", "api", &["read", "write", "profile"], true),
            link("other", "api", &["read"], false),
        ],
    )
}

fn user_token(client: &str) -> AccessToken {
    AccessToken {
        jti: "j".into(),
        grant_id: "root".into(),
        client_id: client.into(),
        subject: "u-1".into(),
        api: client.into(),
        scope: ScopeSet::from_tokens(["openid"]),
        issued_at: 0,
        expires_at: 300,
        format: TokenFormat::Jwt,
        derivation: Derivation::default(),
    }
}

fn user() -> Arc<User> {
    Arc::new(User {
        subject: "u-1".into(),
        username: "alice".into(),
        password_hash: String::new(),
        claims: BTreeMap::from([
            ("name".into(), json!("Alice")),
            ("email".into(), json!("a@x")),
        ]),
        groups: vec!["staff".into()],
        disabled: false,
    })
}

fn exchange<'a>(
    c: &'a Client,
    a: &'a Api,
    l: &'a Link,
    s: &'a AccessToken,
    requested: Option<&'a ScopeSet>,
) -> Exchange<'a> {
    Exchange {
        client: c,
        api: a,
        link: l,
        subject: s,
        act: None,
        requested,
        requested_token_type: None,
        now: 100,
        jti: "new".into(),
        grant_id: "child".into(),
    }
}

#[test]
fn token_types() {
    assert_eq!(
        check_token_type("subject_token_type", Some(token_type::ACCESS_TOKEN)).unwrap(),
        Announced::AccessToken
    );
    assert_eq!(
        check_token_type("subject_token_type", Some(token_type::JWT)).unwrap(),
        Announced::Jwt
    );
    for bad in [Some(ID_TOKEN), Some(REFRESH_TOKEN), Some("urn:x"), None] {
        let e = check_token_type("subject_token_type", bad).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest, "{bad:?}");
    }
}

#[test]
fn subject_must_be_issued_to_the_client() {
    let r = registry();
    check_subject(&r, &client("front"), &user_token("front")).unwrap();
    let e = check_subject(&r, &client("other"), &user_token("front")).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidGrant);
    // A token for the API counts as issued to the client the API acts as.
    let mut for_api = user_token("front");
    for_api.api = "api".into();
    check_subject(&r, &client("api-svc"), &for_api).unwrap();
    assert!(check_subject(&r, &client("other"), &for_api).is_err());
    let mut long = user_token("front");
    long.derivation.chain = (0..MAX_CHAIN).map(|i| i.to_string()).collect();
    assert_eq!(
        check_subject(&r, &client("front"), &long).unwrap_err().code,
        ErrorCode::InvalidGrant
    );
}

/// Another client's live token is answered exactly like a value that is nothing of ours; only
/// the log-only cause differs.
#[test]
fn another_clients_token_is_answered_like_any_unusable_value() {
    let r = registry();
    let e = check_subject(&r, &client("other"), &user_token("front")).unwrap_err();
    let nothing = unusable("subject_token", Unusable::NotActive);
    assert_eq!(
        (e.code, &e.description),
        (nothing.code, &nothing.description)
    );
    assert_ne!(e.internal, nothing.internal, "the log tells them apart");
    let reasons = [
        Unusable::NotActive,
        Unusable::IdToken,
        Unusable::RefreshToken,
        Unusable::OtherClient,
    ];
    for reason in reasons {
        let e = unusable("subject_token", reason);
        assert_eq!(
            (e.code, &e.description),
            (nothing.code, &nothing.description)
        );
    }
    // Actor tokens: `invalid_request`, one description too.
    let mut l = link("front", "api", &["read"], true);
    l.delegation = true;
    let mut foreign = user_token("other");
    foreign.subject = "other".into();
    let e = check_actor(&client("front"), &l, &user_token("front"), &foreign).unwrap_err();
    let nothing = as_actor_refusal(unusable("actor_token", Unusable::NotActive));
    assert_eq!(
        (e.code, &e.description),
        (ErrorCode::InvalidRequest, &nothing.description)
    );
}

#[test]
fn target_and_trust() {
    let r = registry();
    assert_eq!(target(&r, &["api".into()], &[]).unwrap().id, "api");
    assert_eq!(
        target(&r, &["api".into()], &["https://api.example/".into()])
            .unwrap()
            .id,
        "api"
    );
    for (aud, res, code) in [
        (vec![], vec![], ErrorCode::InvalidRequest),
        (vec!["nope".to_string()], vec![], ErrorCode::InvalidTarget),
        (
            vec![],
            vec!["https://nope/".to_string()],
            ErrorCode::InvalidTarget,
        ),
        (
            vec!["api".to_string()],
            vec!["https://api2.example/".to_string()],
            ErrorCode::InvalidTarget,
        ),
    ] {
        assert_eq!(target(&r, &aud, &res).unwrap_err().code, code);
    }
    let a = r.api("api").unwrap().clone();
    trust(&r, &client("front"), &a).unwrap();
    for c in ["other", "api-svc"] {
        assert_eq!(
            trust(&r, &client(c), &a).unwrap_err().code,
            ErrorCode::UnauthorizedClient
        );
    }
}

#[test]
fn decide_intersects_and_caps_lifetime() {
    let (c, a, l, s) = (
        client("front"),
        api("api", &["read", "write", "profile"]),
        link("front", "api", &["read", "profile"], true),
        user_token("front"),
    );
    let access = UserAccess {
        user: Some(user()),
        authorized: Some(ScopeSet::from_tokens(["read", "write", "profile"])),
    };
    let issued = decide(exchange(&c, &a, &l, &s, None), &access).unwrap();
    let t = issued.token;
    assert_eq!(t.scope.to_string(), "profile read");
    assert_eq!(t.subject, "u-1");
    assert_eq!(t.client_id, "front");
    assert_eq!(t.api, "api");
    assert_eq!(t.expires_at, 300, "never outlives the subject token");
    assert_eq!(t.derivation.chain, vec!["root".to_string()]);
    assert_eq!(t.derivation.parent(), Some("root"));
    assert_eq!(t.derivation.claims["name"], json!("Alice"));
    assert_eq!(t.derivation.claims["groups"], json!(["staff"]));
    assert!(
        !t.derivation.claims.contains_key("email"),
        "not released by any scope"
    );
    assert_eq!(issued.issued_token_type, token_type::ACCESS_TOKEN);

    let no_user = UserAccess {
        user: None,
        authorized: access.authorized.clone(),
    };
    assert_eq!(
        decide(exchange(&c, &a, &l, &s, None), &no_user)
            .unwrap_err()
            .code,
        ErrorCode::InvalidGrant
    );
    let unauthorized = UserAccess {
        user: Some(user()),
        authorized: None,
    };
    let e = decide(exchange(&c, &a, &l, &s, None), &unauthorized).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidGrant);
    assert!(e.description.contains("not authorized"));
    let want = ScopeSet::from_tokens(["write"]);
    assert_eq!(
        decide(exchange(&c, &a, &l, &s, Some(&want)), &access)
            .unwrap_err()
            .code,
        ErrorCode::InvalidScope,
        "write is not on the link"
    );
}

#[test]
fn formats_and_issued_types() {
    let (mut c, a, l, s) = (
        client("front"),
        api("api", &["read"]),
        link("front", "api", &["read"], true),
        user_token("front"),
    );
    let access = UserAccess {
        user: Some(user()),
        authorized: Some(ScopeSet::from_tokens(["read"])),
    };
    let mut x = exchange(&c, &a, &l, &s, None);
    x.requested_token_type = Some(token_type::JWT);
    let i = decide(x, &access).unwrap();
    assert_eq!(
        (i.token.format, i.issued_token_type),
        (TokenFormat::Jwt, token_type::JWT)
    );
    c.profile = Profile::Acmidm;
    let i = decide(exchange(&c, &a, &l, &s, None), &access).unwrap();
    assert_eq!(
        i.token.format,
        TokenFormat::Opaque,
        "acmidm: opaque by default"
    );
    let mut x = exchange(&c, &a, &l, &s, None);
    x.requested_token_type = Some(ID_TOKEN);
    assert_eq!(
        decide(x, &access).unwrap_err().code,
        ErrorCode::InvalidRequest
    );
}

#[test]
fn delegation() {
    let c = client("front");
    let mut l = link("front", "api", &["read"], true);
    let subject = user_token("front");
    let mut actor = user_token("front");
    actor.subject = "front".into();
    assert_eq!(
        check_actor(&c, &l, &subject, &actor).unwrap_err().code,
        ErrorCode::InvalidRequest,
        "no delegation on the link"
    );
    l.delegation = true;
    assert_eq!(
        check_actor(&c, &l, &subject, &actor).unwrap(),
        json!({"sub": "front"})
    );
    let mut foreign = actor.clone();
    foreign.client_id = "other".into();
    assert!(check_actor(&c, &l, &subject, &foreign).is_err());
    // Nested: the subject already had an actor.
    let mut delegated = subject.clone();
    delegated.derivation.act = Some(json!({"sub": "first"}));
    assert_eq!(
        check_actor(&c, &l, &delegated, &actor).unwrap(),
        json!({"sub": "front", "act": {"sub": "first"}})
    );
    // may_act names who may act.
    delegated.derivation.may_act = Some(json!({"sub": "someone-else"}));
    assert!(check_actor(&c, &l, &delegated, &actor).is_err());
    delegated.derivation.may_act = Some(json!({"sub": "front"}));
    assert!(check_actor(&c, &l, &delegated, &actor).is_ok());
}

fn set() -> impl Strategy<Value = ScopeSet> {
    proptest::collection::btree_set("[a-e]", 0..6).prop_map(ScopeSet::from_tokens)
}

proptest! {
    /// No issued token ever carries a scope outside requested ∩ API ∩ link ∩ user; and it
    /// carries every scope all four allow.
    #[test]
    fn exchanged_scope_is_the_intersection(
        requested in proptest::option::of(set()), offered in set(), linked in set(),
        held in proptest::option::of(set()),
    ) {
        let c = client("front");
        let mut a = api("api", &[]);
        a.scopes = offered.iter().map(|s| (s.to_owned(), String::new())).collect();
        let mut l = link("front", "api", &[], true);
        l.scopes = linked.clone();
        let s = user_token("front");
        let access = UserAccess { user: Some(user()), authorized: held.clone() };
        let result = decide(exchange(&c, &a, &l, &s, requested.as_ref()), &access);
        let mut want = offered.intersect(&linked);
        if let Some(r) = &requested { want = want.intersect(r); }
        match (&held, result) {
            (None, r) => prop_assert_eq!(r.unwrap_err().code, ErrorCode::InvalidGrant),
            (Some(h), r) => {
                let want = want.intersect(h);
                match r {
                    Ok(issued) => {
                        prop_assert!(!want.is_empty());
                        prop_assert_eq!(issued.token.scope, want);
                    }
                    Err(e) => {
                        prop_assert!(want.is_empty());
                        prop_assert_eq!(e.code, ErrorCode::InvalidScope);
                    }
                }
            }
        }
    }
}
