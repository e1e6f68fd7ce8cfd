//! The MedMij profile end to end over real mutual TLS: a PGO (the `wissel-medmij` client, with a
//! certificate for its hostname) runs the authorization request, the person logs in and gives a
//! long-lasting consent, the PGO redeems the code and refreshes, the person ends the consent;
//! and every way the token interface can be asked wrongly. The conformance check runs against
//! wissel (every rule passes) and against a test double that breaks the rules.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};
use reqwest::StatusCode;
use serde_json::Value;
use wissel::config::Config;
use wissel::server::{self, Hooks};
use wissel_core::ports::SystemClock;
use wissel_medmij::check::{self, CodeSource, Outcome};
use wissel_medmij::client::{ClientError, PgoClient, PgoConfig};

use super::code_flow::{Browser, interaction_of, location, log_in_if_asked, query_of};
use super::{Node, TempDir, config_text, master, signer_key, unique};

pub(crate) const PGO: &str = "pgo.wissel.test";
const OTHER_PGO: &str = "other-pgo.wissel.test";
pub(crate) const PGO_CB: &str = "https://pgo.wissel.test/medmij/cb";
const FHIR_SECRET: &str = "fhir-secret-0123456789abcdef-0123456789abc";
const FHIR: (&str, &str) = ("umcwissel-fhir", FHIR_SECRET);
const ALICE: (&str, &str) = ("alice", "alice-password");
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../wissel-medmij/fixtures");

/// The test PKI: one CA for the server and the PGOs' certificates, and a stranger's CA.
pub(crate) struct Pki {
    ca: Issuer<'static, KeyPair>,
    ca_pem: String,
}

impl Pki {
    pub(crate) fn new() -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // Distinct names for the CA and what it signs (OpenSSL, in curl, tells them apart so).
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "wissel test CA");
        let cert = params.self_signed(&key).unwrap();
        Self {
            ca_pem: cert.pem(),
            ca: Issuer::new(params, key),
        }
    }

    /// A certificate for `names` signed by this CA, as PEM (chain, then key).
    fn issue(&self, names: &[&str], client: bool, expired: bool) -> String {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, names[0]);
        params.extended_key_usages = vec![if client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let cert = params.signed_by(&key, &self.ca).unwrap();
        format!("{}{}", cert.pem(), key.serialize_pem())
    }

    /// A PGO node's client certificate and key.
    pub(crate) fn client(&self, host: &str) -> Vec<u8> {
        self.issue(&[host], true, false).into_bytes()
    }
}

fn write_server_files(pki: &Pki, dir: &Path) -> String {
    let pem = pki.issue(&["127.0.0.1", "localhost"], false, false);
    let split = pem.find("-----BEGIN PRIVATE KEY-----").unwrap();
    std::fs::write(dir.join("cert.pem"), &pem[..split]).unwrap();
    std::fs::write(dir.join("key.pem"), &pem[split..]).unwrap();
    std::fs::write(dir.join("client-ca.pem"), &pki.ca_pem).unwrap();
    "[server.tls]\ncert_file = \"cert.pem\"\nkey_file = \"key.pem\"\nclient_ca_file = \"client-ca.pem\"\n"
        .to_owned()
}

/// The lists (copied, so that a test can change them), the aanbieder and its API.
fn medmij_config(dir: &Path) -> String {
    for l in ["ocl", "whitelist", "gnl", "zal"] {
        std::fs::copy(format!("{FIXTURES}/{l}.xml"), dir.join(format!("{l}.xml"))).unwrap();
    }
    format!(
        r#"
[[apis]]
id = "umcwissel-fhir"
name = "UMC Wissel FHIR"
token_format = "opaque"
secret = "{FHIR_SECRET}"
[medmij]
server_hostname = "dva.wissel.test"
[medmij.lists]
ocl = "ocl.xml"
whitelist = "whitelist.xml"
gnl = "gnl.xml"
zal = "zal.xml"
[medmij.chain_log]
file = "chain.jsonl"
flush_interval_secs = 1
[[medmij.aanbieders]]
naam = "umcwissel@medmij"
display_name = "UMC Wissel"
api = "umcwissel-fhir"
"#
    )
}

/// A node serving HTTPS with client certificates, the MedMij profile on.
pub(crate) async fn medmij_node(
    pki: &Pki,
    edit: impl FnOnce(String) -> String,
    hooks: Hooks,
) -> Node {
    let dir = std::env::temp_dir().join(unique("wissel_medmij"));
    std::fs::create_dir_all(&dir).unwrap();
    let storage = format!("sqlite://{}", dir.join("wissel.db").display());
    let tls = write_server_files(pki, &dir);
    // The node's own certificate, for `[medmij.fetch]`.
    std::fs::write(dir.join("fetch.pem"), pki.client("dva.wissel.test")).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("https://{}", listener.local_addr().unwrap());
    let text = config_text(&base, &storage, &signer_key().1).replacen(
        "[storage]",
        &format!("{tls}[storage]"),
        1,
    ) + &medmij_config(&dir);
    let text = edit(text);
    // Also as a file, for the `wissel medmij` commands.
    std::fs::write(dir.join("wissel.toml"), &text).unwrap();
    let config = Config::from_toml(&text, &dir).unwrap_or_else(|e| panic!("{e}"));
    let server = server::start_with(&config, listener, master().1, Arc::new(SystemClock), hooks)
        .await
        .unwrap();
    Node {
        server,
        base,
        storage,
        ca_pem: Some(pki.ca_pem.clone()),
        _dir: TempDir(dir),
    }
}

impl Node {
    /// An HTTPS client that trusts the test CA, with `identity` as its client certificate.
    fn tls_client(&self, identity: Option<&[u8]>) -> reqwest::Client {
        let ca =
            reqwest::Certificate::from_pem(self.ca_pem.as_deref().unwrap().as_bytes()).unwrap();
        let mut b = reqwest::Client::builder()
            .tls_certs_only([ca])
            .redirect(reqwest::redirect::Policy::none());
        if let Some(id) = identity {
            b = b.identity(reqwest::Identity::from_pem(id).unwrap());
        }
        b.build().unwrap()
    }

    /// The PGO `host`, presenting `identity`.
    pub(crate) fn pgo(&self, host: &str, identity: Option<Vec<u8>>) -> PgoClient {
        PgoClient::new(PgoConfig {
            client_id: host.to_owned(),
            redirect_uri: format!("https://{host}/medmij/cb"),
            authorization_endpoint: url::Url::parse(&self.url("/authorize")).unwrap(),
            token_endpoint: url::Url::parse(&self.url("/token")).unwrap(),
            identity_pem: identity,
            roots_pem: self.ca_pem.as_ref().map(|p| p.clone().into_bytes()),
        })
        .unwrap()
    }
}

/// The person's side: log in (when needed) and answer the MedMij consent page; returns the
/// redirect to the PGO. `lasting`: a long-lasting consent for `days`.
async fn person_consents(
    n: &Node,
    b: &mut Browser,
    url: &str,
    user: (&str, &str),
    lasting: Option<u32>,
) -> String {
    let r = b.get(url).await;
    let to = log_in_if_asked(n, b, location(&r), user).await;
    assert!(to.contains("/consent?"), "{to}");
    let i = interaction_of(&to);
    let page = b.get(&to).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("De Test PGO") || html.contains("Een Andere PGO"),
        "the PGO by its OCL name"
    );
    let csrf = b.csrf();
    let days = lasting.map(|d| d.to_string()).unwrap_or_default();
    let mut form = vec![
        ("i", i.as_str()),
        ("csrf", csrf.as_str()),
        ("decision", "allow"),
    ];
    match lasting {
        Some(_) => form.extend([("duration", "lasting"), ("days", days.as_str())]),
        None => form.push(("duration", "once")),
    }
    let r = b.post(&n.url("/consent"), &form).await;
    location(&r)
}

fn browser(n: &Node) -> Browser {
    Browser::over(n.tls_client(None))
}

async fn introspect(n: &Node, token: &str) -> Value {
    let r = n
        .tls_client(None)
        .post(n.url("/introspect"))
        .basic_auth(FHIR.0, Some(FHIR.1))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

fn chain_events(n: &Node) -> Vec<Value> {
    let path = n._dir.0.join("chain.jsonl");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn wait_for_events(n: &Node, kind: &str, session: &str) -> Vec<Value> {
    for _ in 0..50 {
        let events: Vec<Value> = chain_events(n)
            .into_iter()
            .filter(|e| e["event"]["session_id"] == session)
            .collect();
        if events.iter().any(|e| e["event"]["type"] == kind) {
            return events;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no {kind} event for {session}: {:?}", chain_events(n));
}

// ---------------------------------------------------------------------------------------------

/// The whole flow: authorization request, login, consent, token, refresh, the end of the
/// consent. The OCL entry of the PGO lacks 51, which the aanbieder offers: the scope is 48 49.
#[tokio::test]
async fn the_pgo_flow_over_mutual_tls() {
    let pki = Pki::new();
    let n = medmij_node(&pki, |t| t, Hooks::default()).await;
    let pgo = n.pgo(PGO, Some(pki.client(PGO)));
    let ready: Value = n
        .tls_client(None)
        .get(n.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["medmij"]["lists"]["ocl"]["volgnummer"], 41);

    let pending = pgo.authorization_request("umcwissel").unwrap();
    let mut b = browser(&n);
    let redirect = person_consents(&n, &mut b, &pending.url, ALICE, Some(30)).await;
    assert!(redirect.starts_with(PGO_CB), "{redirect}");
    let q = query_of(&redirect);
    assert_eq!(q["state"], pending.state);
    let correlation = pending.correlation_id.clone();
    let code = q["code"].clone();
    let tokens = pgo.redeem(pending, &redirect).await.unwrap();
    assert_eq!(tokens.token_type, "Bearer");
    assert_eq!(tokens.expires_in, 900);
    assert_eq!(
        tokens.scope, "48 49",
        "consented 48 49 51; the OCL entry lists 48 49 63"
    );
    assert_eq!(
        tokens.access_token.len(),
        43,
        "opaque: nothing but a reference"
    );
    let refresh = tokens
        .refresh_token
        .clone()
        .expect("a long-lasting consent gives a refresh token");
    let seen = introspect(&n, &tokens.access_token).await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["scope"], "48 49");
    assert_eq!(seen["client_id"], PGO);
    assert_eq!(seen["aanbieder"], "umcwissel@medmij");
    // The chain log has the flow under the authorization request's correlation id.
    let events = wait_for_events(&n, "send_token_response", &correlation).await;
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"]["type"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"receive_authorization_request")
            && kinds.contains(&"receive_token_request"),
        "{kinds:?}"
    );
    assert!(
        events
            .iter()
            .all(|e| e["event"]["location"] == "dva.wissel.test")
    );
    assert!(
        !std::fs::read_to_string(n._dir.0.join("chain.jsonl"))
            .unwrap()
            .contains(&code),
        "no code in the log"
    );

    // Refresh: no redirect_uri, a new correlation id; a new pair.
    let next = pgo.refresh(&refresh).await.unwrap();
    assert_eq!((next.scope.as_str(), next.expires_in), ("48 49", 900));
    let next_refresh = next.refresh_token.clone().unwrap();
    assert_ne!(next_refresh, refresh);
    assert_ne!(next.access_token, tokens.access_token);

    // The person ends the consent on the account page.
    let page = b.get(&n.url("/account")).await;
    let html = page.text().await.unwrap();
    let at = html
        .find("/account/medmij/end?id=")
        .expect("the consent is listed");
    let id: String = html[at + "/account/medmij/end?id=".len()..]
        .chars()
        .take_while(|c| *c != '"')
        .collect();
    assert!(
        html.contains("De Test PGO") && html.contains("Basisgegevens zorg"),
        "{html}"
    );
    let confirm = b.get(&n.url(&format!("/account/medmij/end?id={id}"))).await;
    assert_eq!(confirm.status(), StatusCode::OK);
    let csrf = b.csrf();
    let r = b
        .post(
            &n.url("/account/medmij/end"),
            &[("csrf", &csrf), ("id", &id)],
        )
        .await;
    assert!(location(&r).ends_with("/account?done=medmij"));
    match pgo.refresh(&next_refresh).await {
        Err(ClientError::Token {
            status: 400, error, ..
        }) => assert_eq!(error, "invalid_grant"),
        other => panic!("a refresh after the end of the consent: {other:?}"),
    }
    assert_eq!(
        introspect(&n, &next.access_token).await["active"],
        false,
        "its access tokens end too"
    );
    let html = b.get(&n.url("/account")).await.text().await.unwrap();
    assert!(
        !html.contains("/account/medmij/end?id="),
        "no longer listed"
    );

    // A one-time consent: a token, no refresh token.
    let pending = pgo.authorization_request("umcwissel~49").unwrap();
    let redirect = person_consents(&n, &mut b, &pending.url, ALICE, None).await;
    let once = pgo.redeem(pending, &redirect).await.unwrap();
    assert_eq!(once.scope, "49", "Delen: the one gegevensdienst");
    assert!(once.refresh_token.is_none());
    n.server.shutdown().await;
}

/// The token request, every way wrong: certificates, headers, codes, redirect URIs.
#[tokio::test]
async fn the_token_interface_refuses_what_it_must() {
    let pki = Pki::new();
    let n = medmij_node(&pki, |t| t, Hooks::default()).await;
    let pgo = n.pgo(PGO, Some(pki.client(PGO)));
    let mut b = browser(&n);
    // A fresh code, with its correlation id.
    async fn fresh(n: &Node, pgo: &PgoClient, b: &mut Browser) -> (String, String) {
        let pending = pgo.authorization_request("umcwissel").unwrap();
        let redirect = person_consents(n, b, &pending.url, ALICE, Some(10)).await;
        (
            pgo.code_of(&pending, &redirect).unwrap(),
            pending.correlation_id,
        )
    }
    let form = |code: &str| {
        vec![
            ("grant_type".to_owned(), "authorization_code".to_owned()),
            ("code".to_owned(), code.to_owned()),
            ("client_id".to_owned(), PGO.to_owned()),
            ("redirect_uri".to_owned(), PGO_CB.to_owned()),
        ]
    };
    async fn send(
        c: &PgoClient,
        form: &[(String, String)],
        cid: Option<&str>,
        rid: Option<&str>,
    ) -> (u16, Value) {
        let f: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let a = c.token_request(&f, cid, rid).await.unwrap();
        assert_eq!(a.cache_control.as_deref(), Some("no-store"), "{}", a.body);
        (a.status, a.body)
    }
    let rid = || wissel_medmij::client::new_trace_id();
    let expect = |got: (u16, Value), status: u16, error: &str, what: &str| {
        assert_eq!(
            (got.0, got.1["error"].as_str().unwrap_or_default()),
            (status, error),
            "{what}: {}",
            got.1
        );
        assert!(
            got.1["error_description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{what}"
        );
    };

    // Certificates: none; another host's; a host on the OCL but not the Whitelist; on the
    // Whitelist but not the OCL; an expired one; one from a stranger's CA.
    let (code, cid) = fresh(&n, &pgo, &mut b).await;
    expect(
        send(&n.pgo(PGO, None), &form(&code), Some(&cid), Some(&rid())).await,
        401,
        "invalid_client",
        "no certificate",
    );
    expect(
        send(
            &n.pgo(PGO, Some(pki.client(OTHER_PGO))),
            &form(&code),
            Some(&cid),
            Some(&rid()),
        )
        .await,
        401,
        "invalid_client",
        "another host's certificate",
    );
    for host in ["unlisted-pgo.wissel.test", "not-a-client.wissel.test"] {
        let c = n.pgo(host, Some(pki.client(host)));
        let mut f = form(&code);
        f[2].1 = host.to_owned();
        expect(
            send(&c, &f, Some(&cid), Some(&rid())).await,
            401,
            "invalid_client",
            host,
        );
    }
    let expired = pki.issue(&[PGO], true, true).into_bytes();
    let e = n
        .pgo(PGO, Some(expired))
        .token_request(
            &[("grant_type", "authorization_code")],
            Some(&cid),
            Some(&rid()),
        )
        .await;
    assert!(
        matches!(e, Err(ClientError::Transport(_))),
        "an expired certificate fails the handshake: {e:?}"
    );
    let stranger = Pki::new().client(PGO);
    let e = n
        .pgo(PGO, Some(stranger))
        .token_request(
            &[("grant_type", "authorization_code")],
            Some(&cid),
            Some(&rid()),
        )
        .await;
    assert!(
        matches!(e, Err(ClientError::Transport(_))),
        "an untrusted certificate fails the handshake: {e:?}"
    );
    // None of that spent the code: it still works, once.
    let ok = send(&pgo, &form(&code), Some(&cid), Some(&rid())).await;
    assert_eq!(ok.0, 200, "{}", ok.1);
    let first_refresh = ok.1["refresh_token"].as_str().unwrap().to_owned();
    // The second presentation: refused, and what the first gave is revoked.
    expect(
        send(&pgo, &form(&code), Some(&cid), Some(&rid())).await,
        400,
        "invalid_grant",
        "a code twice",
    );
    assert_eq!(
        introspect(&n, ok.1["access_token"].as_str().unwrap()).await["active"],
        false
    );
    expect(
        send(
            &pgo,
            &[
                ("grant_type".into(), "refresh_token".into()),
                ("refresh_token".into(), first_refresh),
                ("client_id".into(), PGO.into()),
            ],
            Some(&rid()),
            Some(&rid()),
        )
        .await,
        400,
        "invalid_grant",
        "the first exchange's refresh token after a replay",
    );

    // Headers: missing, malformed; a correlation id that is not the authorization request's.
    let (code, cid) = fresh(&n, &pgo, &mut b).await;
    expect(
        send(&pgo, &form(&code), Some(&cid), None).await,
        400,
        "invalid_request",
        "no MedMij-Request-ID",
    );
    expect(
        send(&pgo, &form(&code), None, Some(&rid())).await,
        400,
        "invalid_request",
        "no X-Correlation-ID",
    );
    expect(
        send(&pgo, &form(&code), Some("c0e7b545"), Some(&rid())).await,
        400,
        "invalid_request",
        "a malformed X-Correlation-ID",
    );
    expect(
        send(
            &pgo,
            &form(&code),
            Some(&cid),
            Some("{57510be1-73e6-4a75-9db8-ee005cced48f}"),
        )
        .await,
        400,
        "invalid_request",
        "a malformed MedMij-Request-ID",
    );
    // Refused for its headers, the code was not presented: with another correlation id it is
    // refused, and spent.
    expect(
        send(&pgo, &form(&code), Some(&rid()), Some(&rid())).await,
        400,
        "invalid_grant",
        "another correlation id",
    );
    expect(
        send(&pgo, &form(&code), Some(&cid), Some(&rid())).await,
        400,
        "invalid_grant",
        "spent by the refused attempt",
    );

    // redirect_uri: missing, different, double-encoded; each spends the code.
    let encoded: String = url::form_urlencoded::byte_serialize(PGO_CB.as_bytes()).collect();
    for (what, value) in [
        ("missing", None),
        (
            "different",
            Some("https://pgo.wissel.test/other".to_owned()),
        ),
        ("double-encoded", Some(encoded)),
    ] {
        let (code, cid) = fresh(&n, &pgo, &mut b).await;
        let mut f = form(&code);
        f.pop();
        if let Some(v) = value {
            f.push(("redirect_uri".into(), v));
        }
        let got = send(&pgo, &f, Some(&cid), Some(&rid())).await;
        expect(
            got,
            400,
            if what == "missing" {
                "invalid_request"
            } else {
                "invalid_grant"
            },
            what,
        );
        expect(
            send(&pgo, &form(&code), Some(&cid), Some(&rid())).await,
            400,
            "invalid_grant",
            "spent",
        );
    }

    // Unknown parameters are ignored; unsupported grants are refused.
    let (code, cid) = fresh(&n, &pgo, &mut b).await;
    let mut f = form(&code);
    f.push(("vendor_extension".into(), "ignored".into()));
    f.push(("scope".into(), "anything".into()));
    let got = send(&pgo, &f, Some(&cid), Some(&rid())).await;
    assert_eq!(got.0, 200, "{}", got.1);
    assert_eq!(
        got.1["scope"], "48 49",
        "a scope parameter does not change the scope"
    );
    expect(
        send(
            &pgo,
            &[
                ("grant_type".into(), "client_credentials".into()),
                ("client_id".into(), PGO.into()),
            ],
            Some(&rid()),
            Some(&rid()),
        )
        .await,
        400,
        "unauthorized_client",
        "client credentials",
    );
    expect(
        send(
            &pgo,
            &[
                ("grant_type".into(), "authorization_code".into()),
                ("client_id".into(), PGO.into()),
                ("redirect_uri".into(), PGO_CB.into()),
            ],
            Some(&rid()),
            Some(&rid()),
        )
        .await,
        400,
        "invalid_request",
        "no code",
    );
    // Other clients are not MedMij's, even with an X-Correlation-ID from a gateway.
    let r = n
        .tls_client(None)
        .post(n.url("/token"))
        .basic_auth("backend", Some(super::BACKEND_SECRET))
        .header("X-Correlation-ID", rid())
        .form(&[
            ("grant_type", "client_credentials"),
            ("audience", "orders-api"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "a standard client beside the profile"
    );
    // Every refusal is in the chain log as token_request_error.
    let errors = chain_events(&n)
        .into_iter()
        .filter(|e| e["event"]["type"] == "token_request_error")
        .count();
    assert!(errors >= 12, "{errors}");
    n.server.shutdown().await;
}

/// core.tknint.200's example sends the parameters in the query string: accepted when
/// `medmij.token_query_parameters` is on (and only then), with the body's, never twice.
/// RFC 6749 §5.2: a grant wissel implements but this client may not use is
/// `unauthorized_client`; only a grant type wissel does not implement at all is
/// `unsupported_grant_type`. For a MedMij PGO (which may use the code and refresh grants only) as
/// for a standard client.
#[tokio::test]
async fn a_grant_the_client_may_not_use_is_unauthorized_client() {
    let pki = Pki::new();
    let n = medmij_node(&pki, |t| t, Hooks::default()).await;
    let pgo = n.pgo(PGO, Some(pki.client(PGO)));
    let rid = || wissel_medmij::client::new_trace_id();
    for (grant, error) in [
        ("client_credentials", "unauthorized_client"),
        (wissel_core::model::TOKEN_EXCHANGE, "unauthorized_client"),
        ("password", "unsupported_grant_type"),
        (
            "urn:ietf:params:oauth:grant-type:device_code",
            "unsupported_grant_type",
        ),
    ] {
        let a = pgo
            .token_request(
                &[("grant_type", grant), ("client_id", PGO)],
                Some(&rid()),
                Some(&rid()),
            )
            .await
            .unwrap();
        assert_eq!(
            (a.status, a.body["error"].as_str().unwrap_or_default()),
            (400, error),
            "a PGO asking for {grant}: {}",
            a.body
        );
        assert_eq!(a.cache_control.as_deref(), Some("no-store"), "{grant}");
    }
    // The same rule for the standard clients beside the profile.
    let c = n.tls_client(None);
    for (who, grant, error) in [
        (
            ("backend", super::BACKEND_SECRET),
            "authorization_code",
            "unauthorized_client",
        ),
        (
            ("backend", super::BACKEND_SECRET),
            "refresh_token",
            "unauthorized_client",
        ),
        (
            ("webapp", super::WEBAPP_SECRET),
            "client_credentials",
            "unauthorized_client",
        ),
        (
            ("backend", super::BACKEND_SECRET),
            "password",
            "unsupported_grant_type",
        ),
    ] {
        let r = c
            .post(n.url("/token"))
            .basic_auth(who.0, Some(who.1))
            .form(&[("grant_type", grant)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{} {grant}", who.0);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"], error, "{} asking for {grant}: {v}", who.0);
    }
    n.server.shutdown().await;
}

#[tokio::test]
async fn token_parameters_in_the_query_when_configured() {
    let pki = Pki::new();
    for on in [true, false] {
        let n = medmij_node(
            &pki,
            |t| {
                if on {
                    t.replacen("[medmij]\n", "[medmij]\ntoken_query_parameters = true\n", 1)
                } else {
                    t
                }
            },
            Hooks::default(),
        )
        .await;
        let pgo = n.pgo(PGO, Some(pki.client(PGO)));
        let pending = pgo.authorization_request("umcwissel").unwrap();
        let mut b = browser(&n);
        let redirect = person_consents(&n, &mut b, &pending.url, ALICE, None).await;
        let code = pgo.code_of(&pending, &redirect).unwrap();
        let client = n.tls_client(Some(&pki.client(PGO)));
        let url = url::Url::parse_with_params(
            &n.url("/token"),
            &[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("client_id", PGO),
                ("redirect_uri", PGO_CB),
            ],
        )
        .unwrap();
        let send = |body: Option<&'static str>| {
            let mut r = client
                .post(url.clone())
                .header("X-Correlation-ID", &pending.correlation_id)
                .header("MedMij-Request-ID", wissel_medmij::client::new_trace_id());
            if let Some(b) = body {
                r = r
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(b);
            }
            r.send()
        };
        // A parameter in both the query and the body is repeated (without query parameters,
        // the body alone names no client).
        let twice = send(Some("grant_type=authorization_code")).await.unwrap();
        let (status, body) = (twice.status(), twice.json::<Value>().await.unwrap());
        let expected = if on {
            "invalid_request"
        } else {
            "invalid_client"
        };
        assert_eq!(body["error"], expected, "{status} {body}");
        let r = send(None).await.unwrap();
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        if on {
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(body["scope"], "48 49");
        } else {
            assert_eq!(
                (status, body["error"].as_str()),
                (StatusCode::BAD_REQUEST, Some("invalid_request")),
                "{body}"
            );
        }
        // Discovery names tls_client_auth: this listener asks for certificates.
        let meta: Value = n
            .tls_client(None)
            .get(n.url("/.well-known/oauth-authorization-server"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            meta["token_endpoint_auth_methods_supported"]
                .as_array()
                .unwrap()
                .contains(&Value::from("tls_client_auth"))
        );
        n.server.shutdown().await;
    }
}

/// The authorization interface: a bad client or redirect URI is a page with the trace and
/// session ids (no redirect); every other error goes back to the PGO.
#[tokio::test]
async fn the_authorization_interface_refuses_what_it_must() {
    let pki = Pki::new();
    let n = medmij_node(&pki, |t| t, Hooks::default()).await;
    let c = n.tls_client(None);
    let rid = wissel_medmij::client::new_trace_id();
    let cid = wissel_medmij::client::new_trace_id();
    let q = |pairs: &[(&str, &str)]| {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            s.append_pair(k, v);
        }
        n.url(&format!("/authorize?{}", s.finish()))
    };
    let good = |over: &[(&'static str, &'static str)]| -> Vec<(&'static str, String)> {
        let mut v: Vec<(&'static str, String)> = vec![
            ("response_type", "code".into()),
            ("client_id", PGO.into()),
            ("redirect_uri", PGO_CB.into()),
            ("scope", "umcwissel".into()),
            ("state", "st-1".into()),
            ("MedMij-Request-ID", rid.clone()),
            ("X-Correlation-ID", cid.clone()),
        ];
        for (k, val) in over {
            v.retain(|(n, _)| n != k);
            if !val.is_empty() {
                v.push((k, (*val).into()));
            }
        }
        v
    };
    let url_of =
        |v: &[(&str, String)]| q(&v.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>());
    for (over, what) in [
        (
            vec![("client_id", "unlisted-pgo.wissel.test")],
            "on the OCL, not on the Whitelist",
        ),
        (
            vec![("client_id", "not-a-client.wissel.test")],
            "on the Whitelist, not on the OCL",
        ),
        (vec![("client_id", "")], "no client_id"),
        (
            vec![("redirect_uri", "https://evil.example.nl/cb")],
            "another host",
        ),
        (
            vec![("redirect_uri", "http://pgo.wissel.test/medmij/cb")],
            "not https",
        ),
        (
            vec![("redirect_uri", "https://pgo.wissel.test/cb?x=1")],
            "a query",
        ),
        (vec![("redirect_uri", "")], "no redirect_uri"),
    ] {
        let r = c.get(url_of(&good(&over))).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{what}");
        assert!(
            r.headers().get("location").is_none(),
            "{what}: never a redirect"
        );
        let html = r.text().await.unwrap();
        assert!(
            html.contains(&rid) && html.contains(&cid),
            "{what}: the trace and session ids"
        );
    }
    for (over, error, what) in [
        (vec![("scope", "")], "invalid_scope", "no scope"),
        (
            vec![("scope", "onbekendeaanbieder")],
            "invalid_scope",
            "an aanbieder not served here",
        ),
        (
            vec![("scope", "umcwissel~63")],
            "invalid_scope",
            "a gegevensdienst the aanbieder does not offer",
        ),
        (
            vec![("scope", "umcwissel huisartsandere")],
            "invalid_scope",
            "two scopes",
        ),
        (vec![("state", "")], "invalid_request", "no state"),
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
            "response_type token",
        ),
        (
            vec![("MedMij-Request-ID", "nope")],
            "invalid_request",
            "a malformed MedMij-Request-ID",
        ),
    ] {
        let r = c.get(url_of(&good(&over))).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{what}");
        let to = r.headers()["location"].to_str().unwrap().to_owned();
        assert!(to.starts_with(PGO_CB), "{what}: {to}");
        assert_eq!(query_of(&to)["error"], error, "{what}");
    }
    // Unknown parameters are ignored: the request goes to the login page.
    let mut v = good(&[]);
    v.push(("vendor_extension", "x".into()));
    let r = c.get(url_of(&v)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .contains("/login?")
    );
    let events = wait_for_events(&n, "send_authorization_request_error", &cid).await;
    for kind in [
        "receive_authorization_request",
        "authorization_request_error",
        "show_authorization_request_error_page",
    ] {
        assert!(events.iter().any(|e| e["event"]["type"] == kind), "{kind}");
    }
    assert!(
        events
            .iter()
            .all(|e| e["event"]["trace_id"] == rid.as_str() || e["event"]["trace_id"].is_null())
    );
    n.server.shutdown().await;
}

/// Every code and token is checked unique against all issued before: a generator that repeats
/// itself is caught, and a fresh value is drawn.
#[tokio::test]
async fn a_repeated_value_is_never_issued_twice() {
    let pki = Pki::new();
    let fixed = "Fixed00000000000000000000000000000000000000".to_owned();
    let draws = Arc::new(AtomicUsize::new(0));
    let counted = draws.clone();
    let secrets: wissel_http::medmij::SecretSource = Arc::new(move || {
        // Every other draw is the same value.
        if counted.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) {
            fixed.clone()
        } else {
            wissel_crypto::secret::generate_secret()
        }
    });
    let n = medmij_node(
        &pki,
        |t| t,
        Hooks {
            secrets: Some(secrets),
            ..Hooks::default()
        },
    )
    .await;
    let pgo = n.pgo(PGO, Some(pki.client(PGO)));
    let mut b = browser(&n);
    let mut seen = std::collections::HashSet::new();
    for _ in 0..2 {
        let pending = pgo.authorization_request("umcwissel").unwrap();
        let redirect = person_consents(&n, &mut b, &pending.url, ALICE, Some(5)).await;
        let code = pgo.code_of(&pending, &redirect).unwrap();
        let t = pgo.redeem(pending, &redirect).await.unwrap();
        for v in [code, t.access_token, t.refresh_token.unwrap()] {
            assert!(seen.insert(v), "a value was issued twice");
        }
    }
    assert_eq!(seen.len(), 6);
    assert!(
        seen.contains("Fixed00000000000000000000000000000000000000"),
        "the first draw was used once"
    );
    // Code, refresh token, access token, twice: every second draw collided and was drawn again.
    assert_eq!(
        draws.load(Ordering::SeqCst),
        10,
        "four collisions, each drawn again"
    );
    n.server.shutdown().await;
}

/// The lists: a list that is malformed, truncated, in another namespace or older than the one
/// in force is refused at refresh, and the last good list stays.
#[tokio::test]
async fn the_last_good_list_stays() {
    let pki = Pki::new();
    let n = medmij_node(&pki, |t| t, Hooks::default()).await;
    let dir = n._dir.0.clone();
    let good = std::fs::read_to_string(dir.join("ocl.xml")).unwrap();
    let state = &n.server.state;
    for (bad, what) in [
        (good[..good.len() / 2].to_owned(), "truncated"),
        (good.replace("/release3/", "/other/"), "another namespace"),
        (
            good.replace("<Volgnummer>41<", "<Volgnummer>40<"),
            "a lower Volgnummer",
        ),
        (
            good.replace("<Hostname>pgo.wissel.test", "<Hostname>PGO"),
            "malformed",
        ),
    ] {
        std::fs::write(dir.join("ocl.xml"), bad).unwrap();
        let report = state.refresh_medmij_lists().await.unwrap();
        let (_, outcome) = report
            .iter()
            .find(|(k, _)| *k == wissel_medmij::ListKind::Ocl)
            .unwrap();
        assert!(
            matches!(outcome, wissel_http::medmij::lists::Refreshed::Failed(_)),
            "{what}: {outcome:?}"
        );
        let lists = state.medmij().unwrap().lists();
        assert_eq!(lists.ocl.as_ref().unwrap().header.volgnummer, 41, "{what}");
        assert!(
            lists.clients.contains_key(PGO),
            "{what}: the clients of the good list"
        );
    }
    // A newer list without the PGO: it is no longer a client.
    std::fs::write(
        dir.join("ocl.xml"),
        good.replace("<Volgnummer>41<", "<Volgnummer>42<")
            .replace("<Hostname>pgo.wissel.test", "<Hostname>gone.wissel.test"),
    )
    .unwrap();
    state.refresh_medmij_lists().await.unwrap();
    assert!(!state.medmij().unwrap().lists().clients.contains_key(PGO));
    let pgo = n.pgo(PGO, Some(pki.client(PGO)));
    let a = pgo
        .token_request(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "x"),
                ("client_id", PGO),
            ],
            Some(&wissel_medmij::client::new_trace_id()),
            Some(&wissel_medmij::client::new_trace_id()),
        )
        .await
        .unwrap();
    assert_eq!(
        (a.status, a.body["error"].as_str()),
        (401, Some("invalid_client")),
        "off the OCL: {}",
        a.body
    );
    let metrics = n
        .tls_client(None)
        .get(n.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("wissel_medmij_list_age_seconds{list=\"ocl\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("wissel_medmij_list_refresh_failures_total"));
    n.server.shutdown().await;
}

/// The lists fetched from a URL over mutual TLS, as from the Stelselnode: the node presents its
/// `[medmij.fetch]` certificate; a list server that refuses it leaves the last good list.
#[tokio::test]
async fn lists_are_fetched_over_mutual_tls() {
    use axum::response::IntoResponse;
    let pki = Pki::new();
    // The list server: serves the fixtures only to a client with a certificate.
    let dir = std::env::temp_dir().join(unique("wissel_stelselnode"));
    std::fs::create_dir_all(&dir).unwrap();
    write_server_files(&pki, &dir);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("https://{}", listener.local_addr().unwrap());
    let served = Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    let app =
        axum::Router::new().route(
            "/{list}",
            axum::routing::get(
                move |axum::extract::Path(list): axum::extract::Path<String>,
                      cert: Option<
                    axum::Extension<Arc<wissel_http::client_auth::PeerCertificate>>,
                >| {
                    let count = count.clone();
                    async move {
                        let Some(cert) = cert else {
                            return (StatusCode::FORBIDDEN, String::new()).into_response();
                        };
                        assert!(cert.has_dns_name("dva.wissel.test"));
                        count.fetch_add(1, Ordering::SeqCst);
                        let name = list.trim_end_matches(".xml");
                        std::fs::read_to_string(format!("{FIXTURES}/{name}.xml"))
                            .map(|x| x.replace("<Volgnummer>41<", "<Volgnummer>50<"))
                            .unwrap_or_default()
                            .into_response()
                    }
                },
            ),
        );
    let acceptor = wissel::tls::acceptor(
        &dir.join("cert.pem"),
        &dir.join("key.pem"),
        Some(&dir.join("client-ca.pem")),
    )
    .unwrap();
    let (stop, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(wissel::listener::serve(
        listener,
        Some(acceptor),
        app,
        wissel::listener::ConnectionLimits::default(),
        rx,
    ));
    let n = medmij_node(
        &pki,
        |t| {
            t.replace("ocl = \"ocl.xml\"", &format!("ocl = \"{base}/ocl.xml\""))
                + "[medmij.fetch]\ncert_file = \"fetch.pem\"\nkey_file = \"fetch.pem\"\nca_file = \"client-ca.pem\"\n"
        },
        Hooks::default(),
    )
    .await;
    let lists = n.server.state.medmij().unwrap().lists();
    assert_eq!(
        lists.ocl.as_ref().unwrap().header.volgnummer,
        50,
        "fetched at start"
    );
    assert!(served.load(Ordering::SeqCst) >= 1);
    // The list server goes away: the last good list stays.
    let _ = stop.send(true);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let report = n.server.state.refresh_medmij_lists().await.unwrap();
    let (_, ocl) = report
        .iter()
        .find(|(k, _)| *k == wissel_medmij::ListKind::Ocl)
        .unwrap();
    assert!(
        matches!(ocl, wissel_http::medmij::lists::Refreshed::Failed(_)),
        "{ocl:?}"
    );
    assert_eq!(
        n.server
            .state
            .medmij()
            .unwrap()
            .lists()
            .ocl
            .as_ref()
            .unwrap()
            .header
            .volgnummer,
        50
    );
    n.server.shutdown().await;
}

// --- The conformance check -------------------------------------------------------------------

/// Codes from wissel: the person logs in and consents in a browser session.
struct PersonAtWissel<'a> {
    node: &'a Node,
    browser: Mutex<Option<Browser>>,
}

#[async_trait::async_trait]
impl CodeSource for PersonAtWissel<'_> {
    async fn redirect_for(&self, url: &str, lasting: bool) -> Result<String, String> {
        let mut b = self
            .browser
            .lock()
            .unwrap()
            .take()
            .unwrap_or_else(|| browser(self.node));
        let to = person_consents(self.node, &mut b, url, ALICE, lasting.then_some(7)).await;
        *self.browser.lock().unwrap() = Some(b);
        Ok(to)
    }
}

/// A token endpoint that breaks the rules: it accepts a code again and again, ignores the
/// redirect URI and the headers, says tokens live an hour, and names the wrong errors.
async fn nonconforming_double(pki: &Pki) -> (String, tokio::sync::watch::Sender<bool>) {
    use axum::routing::{get, post};
    let dir = std::env::temp_dir().join(unique("wissel_double"));
    std::fs::create_dir_all(&dir).unwrap();
    write_server_files(pki, &dir);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("https://{}", listener.local_addr().unwrap());
    let authorize = |q: axum::extract::Query<std::collections::HashMap<String, String>>| async move {
        let to = format!(
            "{}?code=double-code&state={}",
            q.0["redirect_uri"], q.0["state"]
        );
        (StatusCode::SEE_OTHER, [("location", to)])
    };
    let token = |body: String| async move {
        let f: std::collections::HashMap<String, String> =
            url::form_urlencoded::parse(body.as_bytes())
                .into_owned()
                .collect();
        match f.get("grant_type").map(String::as_str) {
            Some("authorization_code") if f.contains_key("code") && f["code"] == "double-code" => axum::Json(serde_json::json!({
                "access_token": "always-the-same", "token_type": "Bearer", "expires_in": 3600, "scope": "48 49"
            }))
            .into_response(),
            _ => (StatusCode::BAD_REQUEST, axum::Json(serde_json::json!({"error": "invalid_request"}))).into_response(),
        }
    };
    use axum::response::IntoResponse;
    let app = axum::Router::new()
        .route("/authorize", get(authorize))
        .route("/token", post(token));
    let acceptor =
        wissel::tls::acceptor(&dir.join("cert.pem"), &dir.join("key.pem"), None).unwrap();
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(wissel::listener::serve(
        listener,
        Some(acceptor),
        app,
        wissel::listener::ConnectionLimits::default(),
        rx,
    ));
    (base, tx)
}

struct RedirectAtOnce(reqwest::Client);

#[async_trait::async_trait]
impl CodeSource for RedirectAtOnce {
    async fn redirect_for(&self, url: &str, _lasting: bool) -> Result<String, String> {
        let r = self.0.get(url).send().await.map_err(|e| e.to_string())?;
        Ok(r.headers()["location"].to_str().unwrap().to_owned())
    }
}

#[tokio::test]
async fn the_conformance_check_passes_wissel_and_catches_a_double() {
    let pki = Pki::new();
    let n = medmij_node(&pki, |t| t, Hooks::default()).await;
    let pgo = n.pgo(PGO, Some(pki.client(PGO)));
    let source = PersonAtWissel {
        node: &n,
        browser: Mutex::new(None),
    };
    let results = check::run(&pgo, "umcwissel", &source, &n.tls_client(None)).await;
    let (table, ok) = check::table(&results);
    assert!(ok, "{table}");
    assert!(
        results.iter().all(|r| r.outcome == Outcome::Pass),
        "{table}"
    );
    for rule in [
        "core.tknint.200",
        "core.tknint.201",
        "core.tknint.204",
        "core.tknint.205",
        "core.tknint.206",
        "core.tknint.207",
        "core.tknint.208",
        "core.tknint.209",
        "core.tls",
    ] {
        assert!(results.iter().any(|r| r.rule == rule), "{rule} is checked");
    }

    let (double, stop) = nonconforming_double(&pki).await;
    let bad = PgoClient::new(PgoConfig {
        client_id: PGO.into(),
        redirect_uri: PGO_CB.into(),
        authorization_endpoint: url::Url::parse(&format!("{double}/authorize")).unwrap(),
        token_endpoint: url::Url::parse(&format!("{double}/token")).unwrap(),
        identity_pem: Some(pki.client(PGO)),
        roots_pem: Some(pki.ca_pem.clone().into_bytes()),
    })
    .unwrap();
    let results = check::run(
        &bad,
        "umcwissel",
        &RedirectAtOnce(n.tls_client(None)),
        &n.tls_client(None),
    )
    .await;
    let (table, ok) = check::table(&results);
    assert!(!ok, "{table}");
    let failed = |rule: &str| {
        results
            .iter()
            .any(|r| r.rule == rule && matches!(r.outcome, Outcome::Fail(_)))
    };
    for rule in [
        "core.tknint.201",
        "core.tknint.204",
        "core.tknint.205",
        "core.tknint.207",
        "core.tls",
        "uniqueness",
    ] {
        assert!(failed(rule), "{rule} fails against the double:\n{table}");
    }
    let _ = stop.send(true);
    n.server.shutdown().await;
}

// --- The command line --------------------------------------------------------------------------

/// Answers an authorization request as a person with curl: log in, consent; prints the redirect.
const AUTHORIZE_SCRIPT: &str = r#"#!/usr/bin/env bash
set -euo pipefail
url=$1 duration=$2
jar=$(mktemp)
trap 'rm -f "$jar"' EXIT
c() { curl -sS --cacert "$MEDMIJ_TEST_CA" -b "$jar" -c "$jar" "$@"; }
loc() { c -o /dev/null -w '%{redirect_url}' "$@"; }
csrf() { awk '$6 ~ /wissel-csrf$/ {print $7}' "$jar"; }
to=$(loc "$url")
if [[ $to == */login\?* ]]; then
  c -o /dev/null "$to"
  to=$(loc --data-urlencode "i=${to##*i=}" --data-urlencode "csrf=$(csrf)" \
    --data-urlencode username=alice --data-urlencode password=alice-password "${to%%/login*}/login")
fi
c -o /dev/null "$to"
if [[ $duration == lasting ]]; then d=(--data-urlencode duration=lasting --data-urlencode days=7); else d=(--data-urlencode duration=once); fi
loc --data-urlencode "i=${to##*i=}" --data-urlencode "csrf=$(csrf)" --data-urlencode decision=allow "${d[@]}" "${to%%/consent*}/consent"
echo
"#;

/// The binary, run off the test's runtime: the node it talks to runs on that runtime.
async fn wissel_cli(dir: &Path, args: &[&str]) -> std::process::Output {
    let (dir, args) = (
        dir.to_owned(),
        args.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
    );
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_wissel"))
            .args(&args)
            .current_dir(&dir)
            .env("WISSEL_MASTER_KEY", master().0)
            .env("MEDMIJ_TEST_CA", dir.join("client-ca.pem"))
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

async fn cli_ok(dir: &Path, args: &[&str]) -> String {
    let out = wissel_cli(dir, args).await;
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `wissel medmij lists import|show`, the PGO commands, and `wissel medmij check` with a
/// script that answers the authorization requests.
#[tokio::test]
async fn the_command_line() {
    let pki = Pki::new();
    let n = medmij_node(&pki, |t| t, Hooks::default()).await;
    let dir = n._dir.0.clone();
    let config = dir.join("wissel.toml");
    let config = config.to_str().unwrap();
    // The lists the node stored at start.
    let shown = cli_ok(&dir, &["medmij", "lists", "show", "--config", config]).await;
    let ocl_line = shown.lines().find(|l| l.starts_with("ocl ")).unwrap();
    assert!(
        ocl_line.contains(" 41 ") && ocl_line.contains("2026-11-30T08:00:00+01:00"),
        "{shown}"
    );
    // Import a newer OCL; an older one is refused; the node takes the newer at its refresh.
    let ocl = std::fs::read_to_string(dir.join("ocl.xml")).unwrap();
    std::fs::write(
        dir.join("newer.xml"),
        ocl.replace("<Volgnummer>41<", "<Volgnummer>43<"),
    )
    .unwrap();
    std::fs::write(
        dir.join("older.xml"),
        ocl.replace("<Volgnummer>41<", "<Volgnummer>42<"),
    )
    .unwrap();
    std::fs::write(dir.join("broken.xml"), &ocl[..100]).unwrap();
    let out = cli_ok(
        &dir,
        &[
            "medmij",
            "lists",
            "import",
            "--config",
            config,
            "--kind",
            "ocl",
            "newer.xml",
        ],
    )
    .await;
    assert!(out.contains("Volgnummer 43"), "{out}");
    for (file, why) in [("older.xml", "lower"), ("broken.xml", "not well-formed")] {
        let out = wissel_cli(
            &dir,
            &[
                "medmij", "lists", "import", "--config", config, "--kind", "ocl", file,
            ],
        )
        .await;
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(why),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    n.server.state.refresh_medmij_lists().await.unwrap();
    assert_eq!(
        n.server
            .state
            .medmij()
            .unwrap()
            .lists()
            .ocl
            .as_ref()
            .unwrap()
            .header
            .volgnummer,
        43
    );

    // The PGO side: authorize, the person consents, redeem once, refresh.
    std::fs::write(dir.join("pgo.pem"), pki.client(PGO)).unwrap();
    let pgo_args = [
        "--as",
        n.base.as_str(),
        "--client-id",
        PGO,
        "--redirect-uri",
        PGO_CB,
    ];
    let identity = [
        "--cert",
        "pgo.pem",
        "--key",
        "pgo.pem",
        "--ca",
        "client-ca.pem",
    ];
    let mut args = vec!["medmij", "pgo", "authorize"];
    args.extend(pgo_args);
    args.extend(["--scope", "umcwissel", "--state-file", "pending.json"]);
    let url = cli_ok(&dir, &args).await.trim().to_owned();
    assert!(
        url.contains("X-Correlation-ID=") && url.contains("state="),
        "{url}"
    );
    let mut b = browser(&n);
    let redirect = person_consents(&n, &mut b, &url, ALICE, Some(3)).await;
    let mut args = vec![
        "medmij",
        "pgo",
        "redeem",
        "--state-file",
        "pending.json",
        "--redirect",
        redirect.as_str(),
    ];
    args.extend(identity);
    let tokens: Value = serde_json::from_str(&cli_ok(&dir, &args).await).unwrap();
    assert_eq!(
        (tokens["scope"].as_str(), tokens["expires_in"].as_i64()),
        (Some("48 49"), Some(900))
    );
    let again = wissel_cli(&dir, &args).await;
    assert!(!again.status.success(), "a code is offered once");
    assert!(String::from_utf8_lossy(&again.stderr).contains("no pending authorization"));
    let mut args = vec!["medmij", "pgo", "refresh"];
    args.extend(pgo_args);
    args.extend(identity);
    args.extend(["--refresh-token", tokens["refresh_token"].as_str().unwrap()]);
    let refreshed: Value = serde_json::from_str(&cli_ok(&dir, &args).await).unwrap();
    assert_eq!(refreshed["scope"], "48 49");

    // The conformance check, answered by a script (with curl).
    if std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_err()
    {
        super::notice("curl is not installed; wissel medmij check --authorize-with is not run");
        n.server.shutdown().await;
        return;
    }
    let script = dir.join("authorize.sh");
    std::fs::write(&script, AUTHORIZE_SCRIPT).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut args = vec!["medmij", "check"];
    args.extend(pgo_args);
    args.extend(identity);
    args.extend([
        "--scope",
        "umcwissel",
        "--authorize-with",
        script.to_str().unwrap(),
    ]);
    let table = cli_ok(&dir, &args).await;
    assert!(
        !table.contains("FAIL") && table.lines().filter(|l| l.contains(" pass ")).count() >= 15,
        "{table}"
    );
    n.server.shutdown().await;
}
