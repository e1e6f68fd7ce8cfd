//! Authorization server metadata (RFC 8414, OpenID Connect Discovery) and the JWKS. They list
//! exactly what this version implements.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{
    AUTHORIZE_PATH, INTROSPECT_PATH, JWKS_PATH, LOGOUT_PATH, REVOKE_PATH, TOKEN_PATH, USERINFO_PATH,
};
use crate::oidc::{EMAIL_CLAIMS, PROFILE_CLAIMS};
use crate::state::AppState;

const AUTH_METHODS: [&str; 3] = [
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
];
/// At the token endpoint, public clients (`none`) too.
const TOKEN_AUTH_METHODS: [&str; 4] = [
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "none",
];
const ALGS: [&str; 3] = ["ES256", "RS256", "EdDSA"];

fn cacheable(value: serde_json::Value, max_age: u32) -> Response {
    let mut r = Json(value).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        r.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    r
}

pub(super) async fn metadata(State(state): State<AppState>) -> Response {
    let s = state.settings();
    // tls_client_auth (RFC 8705) only where the listener asks for client certificates.
    let with_tls = |methods: &[&'static str]| -> Vec<&'static str> {
        let mut v = methods.to_vec();
        if s.mutual_tls {
            v.push("tls_client_auth");
        }
        v
    };
    let mut id_token_algs = vec![s.signing_alg.as_str()];
    for a in &s.id_token_algs {
        if !id_token_algs.contains(&a.as_str()) {
            id_token_algs.push(a.as_str());
        }
    }
    let claims: Vec<&str> = [
        "sub",
        "iss",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "acr",
        "amr",
        "azp",
        "at_hash",
        "sid",
    ]
    .iter()
    .chain(PROFILE_CLAIMS)
    .chain(EMAIL_CLAIMS)
    .copied()
    .collect();
    cacheable(
        json!({
            "issuer": s.issuer,
            "token_endpoint": s.endpoint(TOKEN_PATH),
            "jwks_uri": s.endpoint(JWKS_PATH),
            "introspection_endpoint": s.endpoint(INTROSPECT_PATH),
            "revocation_endpoint": s.endpoint(REVOKE_PATH),
            "authorization_endpoint": s.endpoint(AUTHORIZE_PATH),
            "userinfo_endpoint": s.endpoint(USERINFO_PATH),
            "end_session_endpoint": s.endpoint(LOGOUT_PATH),
            "grant_types_supported": [
                "authorization_code",
                "refresh_token",
                "client_credentials",
                "urn:ietf:params:oauth:grant-type:token-exchange"
            ],
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "code_challenge_methods_supported": ["S256", "plain"],
            "scopes_supported": wissel_core::model::OIDC_SCOPES,
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": id_token_algs,
            "claims_supported": claims,
            "prompt_values_supported": ["none", "login", "consent", "select_account"],
            "ui_locales_supported": ["en", "nl"],
            "claims_parameter_supported": false,
            "request_parameter_supported": false,
            "request_uri_parameter_supported": false,
            "authorization_response_iss_parameter_supported": true,
            "frontchannel_logout_supported": false,
            "backchannel_logout_supported": false,
            "token_endpoint_auth_methods_supported": with_tls(&TOKEN_AUTH_METHODS),
            "token_endpoint_auth_signing_alg_values_supported": ALGS,
            "introspection_endpoint_auth_methods_supported": with_tls(&AUTH_METHODS),
            "introspection_endpoint_auth_signing_alg_values_supported": ALGS,
            "revocation_endpoint_auth_methods_supported": with_tls(&AUTH_METHODS),
            "revocation_endpoint_auth_signing_alg_values_supported": ALGS,
            "introspection_signing_alg_values_supported": [s.signing_alg.as_str()],
            "access_token_signing_alg_values_supported": [s.signing_alg.as_str()],
        }),
        300,
    )
}

pub(super) async fn jwks(State(state): State<AppState>) -> Response {
    let mut r = cacheable(state.keys().jwks().clone(), 300);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jwk-set+json"),
    );
    r
}
