//! Why a request is refused, and the RFC 6750 response that says so.

use axum::{
    body::Body,
    http::{HeaderValue, Response, StatusCode, header},
    response::IntoResponse,
};
use jsonwebtoken::Algorithm;

/// Why a request's bearer token was not accepted. Carries no token values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// The request carries no bearer token.
    #[error("no bearer token")]
    Missing,
    /// The `Authorization` header is not a well-formed bearer credential.
    #[error("malformed Authorization header")]
    Malformed,
    /// The token is not active, expired, badly signed, or not meant for this API.
    #[error("invalid access token")]
    Invalid,
    /// The token is valid but lacks a required scope (the scopes required, space-separated).
    #[error("insufficient scope: {0} required")]
    InsufficientScope(String),
    /// The token could not be checked: the authorization server is unreachable, failed, or refused
    /// this API's own credentials (a misconfiguration). The detail is for logs, not for clients.
    #[error("token validation unavailable: {0}")]
    Unavailable(String),
}

impl ValidationError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Missing | Self::Malformed | Self::Invalid => StatusCode::UNAUTHORIZED,
            Self::InsufficientScope(_) => StatusCode::FORBIDDEN,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The response to answer with: the status, an RFC 6750 §3 `WWW-Authenticate` challenge (with
    /// `realm` when given; no error attribute when the token is missing), a small JSON body with the
    /// error code, and `Cache-Control: no-store`.
    pub fn to_response(&self, realm: Option<&str>) -> Response<Body> {
        let code = match self {
            Self::Missing => None,
            Self::Malformed | Self::Invalid => Some("invalid_token"),
            Self::InsufficientScope(_) => Some("insufficient_scope"),
            Self::Unavailable(_) => Some("temporarily_unavailable"),
        };
        let body = code.map_or_else(Body::empty, |code| {
            Body::from(serde_json::json!({ "error": code }).to_string())
        });
        let mut response = Response::new(body);
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if code.is_some() {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        if !matches!(self, Self::Unavailable(_)) {
            let mut params = Vec::new();
            if let Some(realm) = realm {
                params.push(format!("realm={}", quoted(realm)));
            }
            if let Some(code) = code {
                params.push(format!("error={}", quoted(code)));
            }
            if let Self::InsufficientScope(scope) = self {
                params.push(format!("scope={}", quoted(scope)));
            }
            let challenge = if params.is_empty() {
                "Bearer".to_owned()
            } else {
                format!("Bearer {}", params.join(", "))
            };
            // A realm with control characters cannot go into a header: challenge without it then.
            let value = HeaderValue::from_str(&challenge)
                .unwrap_or_else(|_| HeaderValue::from_static("Bearer"));
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// Answers without a realm; [`crate::BearerLayer`] names one.
impl IntoResponse for ValidationError {
    fn into_response(self) -> Response<Body> {
        self.to_response(None)
    }
}

/// An RFC 9110 quoted-string.
fn quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Logs why a token was refused (at debug: refusals are routine) and refuses it.
pub(crate) fn invalid(reason: &str) -> ValidationError {
    tracing::debug!(reason, "access token refused");
    ValidationError::Invalid
}

/// Logs why validation is unavailable (a warning: someone must act) and says so.
pub(crate) fn unavailable(detail: impl Into<String>) -> ValidationError {
    let detail = detail.into();
    tracing::warn!(%detail, "token validation unavailable");
    ValidationError::Unavailable(detail)
}

/// Why a validator could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The API's private key for `private_key_jwt` is not usable.
    #[error("client key: {0}")]
    Key(String),
    /// An algorithm that must not be used for this purpose (symmetric, or not supported).
    #[error("algorithm {0:?} is not allowed here")]
    Algorithm(Algorithm),
    /// No algorithm is allowed at all.
    #[error("no algorithm allowed")]
    NoAlgorithm,
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Http(String),
    /// The discovery document could not be read or does not describe the issuer.
    #[error("discovery: {0}")]
    Discovery(String),
}
