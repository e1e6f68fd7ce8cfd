//! The built-in relying party of `wissel demo` (only when `login.demo_rp` is on): a page with a
//! "log in" button that runs the authorization-code flow with PKCE against this server, as the
//! public client `demo-rp`, and shows the tokens, the ID token's claims and the UserInfo answer.
//! It talks to the server over HTTP like any relying party.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use serde::Deserialize;
use serde_json::Value;
use wissel_crypto::{pkce, secret};

use crate::browser::{self, chrome};
use crate::observe::RequestId;
use crate::pages::{self, DemoBody, DemoView};
use crate::state::AppState;

/// The demo relying party's client id.
pub const DEMO_CLIENT_ID: &str = "demo-rp";
/// Its page.
pub const DEMO_PATH: &str = "/demo/rp";
/// Its redirect URI path.
pub const DEMO_CALLBACK_PATH: &str = "/demo/rp/callback";

fn page(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    status: StatusCode,
    body: DemoBody<'_>,
) -> Response {
    pages::demo(
        status,
        &DemoView {
            chrome: chrome(state, browser::locale(state, &[], headers)),
            body,
        },
    )
}

/// GET /demo/rp
pub(super) async fn start(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Response {
    let verifier = secret::generate_secret();
    let nonce = secret::generate_id();
    let st = secret::generate_id();
    state
        .demo_pending()
        .insert(st.clone(), Arc::new((verifier.clone(), nonce.clone())));
    let s = state.settings();
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", DEMO_CLIENT_ID)
        .append_pair("redirect_uri", &s.endpoint(DEMO_CALLBACK_PATH))
        .append_pair("scope", "openid profile email offline_access")
        .append_pair("state", &st)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &pkce::s256(&verifier))
        .append_pair("code_challenge_method", "S256")
        .finish();
    let url = format!("{}?{query}", s.endpoint(super::authorize::AUTHORIZE_PATH));
    page(
        &state,
        &headers,
        StatusCode::OK,
        DemoBody::Start { login_url: &url },
    )
}

#[derive(Deserialize)]
pub(super) struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    iss: Option<String>,
}

/// GET /demo/rp/callback
pub(super) async fn callback(
    State(state): State<AppState>,
    Extension(rid): Extension<RequestId>,
    headers: axum::http::HeaderMap,
    Query(q): Query<Callback>,
) -> Response {
    let fail = |error: &str, description: &str| {
        page(
            &state,
            &headers,
            StatusCode::BAD_REQUEST,
            DemoBody::Error { error, description },
        )
    };
    if let Some(e) = &q.error {
        return fail(e, q.error_description.as_deref().unwrap_or(""));
    }
    if q.iss.as_deref() != Some(state.settings().issuer.as_str()) {
        return fail(
            "invalid_response",
            "iss is missing or not this server (RFC 9207)",
        );
    }
    let Some(pending) = q
        .state
        .as_deref()
        .and_then(|s| state.demo_pending().remove(s))
    else {
        return fail("invalid_state", "unknown or used state");
    };
    let Some(code) = q.code.as_deref() else {
        return fail("invalid_response", "no code");
    };
    let (verifier, nonce) = pending.as_ref();
    let s = state.settings();
    let resp = state
        .http()
        .post(s.endpoint(super::TOKEN_PATH))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &s.endpoint(DEMO_CALLBACK_PATH)),
            ("client_id", DEMO_CLIENT_ID),
            ("code_verifier", verifier),
        ])
        .send()
        .await;
    let tokens: Value = match resp {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(e) => {
            tracing::warn!(request_id = %rid.0, cause = %e, "demo relying party: token request failed");
            return fail("server_error", "the token request failed");
        }
    };
    if let Some(e) = tokens.get("error").and_then(Value::as_str) {
        let d = tokens
            .get("error_description")
            .and_then(Value::as_str)
            .unwrap_or("");
        return fail(e, d);
    }
    let text = |k: &str| {
        tokens
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let (access, refresh, id_token) = (
        text("access_token"),
        text("refresh_token"),
        text("id_token"),
    );
    // The ID token was just received from the token endpoint over a direct connection
    // (OpenID Connect Core §3.1.3.7: TLS server validation may stand in for the signature);
    // here only its claims are shown, and the nonce checked.
    let claims: Value = id_token
        .split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    if claims.get("nonce").and_then(Value::as_str) != Some(nonce.as_str()) {
        return fail("invalid_id_token", "the ID token's nonce does not match");
    }
    let userinfo: Value = match state
        .http()
        .get(s.endpoint(super::userinfo::USERINFO_PATH))
        .bearer_auth(&access)
        .send()
        .await
    {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
    let logout = format!(
        "{}?{}",
        s.endpoint(super::logout::LOGOUT_PATH),
        form_urlencoded::Serializer::new(String::new())
            .append_pair("id_token_hint", &id_token)
            .append_pair("post_logout_redirect_uri", &s.endpoint(DEMO_PATH))
            .finish()
    );
    page(
        &state,
        &headers,
        StatusCode::OK,
        DemoBody::Result {
            access_token: &access,
            refresh_token: (!refresh.is_empty()).then_some(refresh.as_str()),
            id_token: &id_token,
            id_claims_json: &pretty(&claims),
            userinfo_json: &pretty(&userinfo),
            logout_url: &logout,
        },
    )
}
