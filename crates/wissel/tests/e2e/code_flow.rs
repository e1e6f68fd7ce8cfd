//! The authorization-code flow end to end: a browser-like HTTP client holding cookies passes the
//! real login and consent forms; relying parties exchange codes and refresh tokens.

use std::collections::HashMap;

use reqwest::StatusCode;
use serde_json::Value;

use super::{Node, WEBAPP_SECRET, http, node};

/// A browser stand-in: keeps cookies per name (one origin), follows nothing by itself.
#[derive(Default)]
pub(crate) struct Browser {
    pub(crate) cookies: HashMap<String, String>,
}

impl Browser {
    fn header(&self) -> String {
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
        let r = http()
            .get(url)
            .header("cookie", self.header())
            .send()
            .await
            .unwrap();
        self.keep(&r);
        r
    }

    pub(crate) async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let r = http()
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
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(query)
        .finish();
    let r = b.get(&n.url(&format!("/authorize?{q}"))).await;
    let mut to = location(&r);
    if to.contains("/login?") {
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
        to = location(&r);
    }
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
