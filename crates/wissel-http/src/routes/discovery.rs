//! Authorization server metadata (RFC 8414, OpenID Connect Discovery) and the JWKS. They list
//! exactly what this version implements.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{INTROSPECT_PATH, JWKS_PATH, REVOKE_PATH, TOKEN_PATH};
use crate::state::AppState;

const AUTH_METHODS: [&str; 3] = [
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
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
    cacheable(
        json!({
            "issuer": s.issuer,
            "token_endpoint": s.endpoint(TOKEN_PATH),
            "jwks_uri": s.endpoint(JWKS_PATH),
            "introspection_endpoint": s.endpoint(INTROSPECT_PATH),
            "revocation_endpoint": s.endpoint(REVOKE_PATH),
            "grant_types_supported": ["client_credentials"],
            "response_types_supported": [],
            "token_endpoint_auth_methods_supported": AUTH_METHODS,
            "token_endpoint_auth_signing_alg_values_supported": ALGS,
            "introspection_endpoint_auth_methods_supported": AUTH_METHODS,
            "introspection_endpoint_auth_signing_alg_values_supported": ALGS,
            "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
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
