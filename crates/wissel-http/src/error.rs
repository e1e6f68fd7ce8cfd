//! The one mapping from errors to HTTP responses: RFC 6749 §5.2 JSON with
//! `Cache-Control: no-store`, 401 with `WWW-Authenticate` for `invalid_client`, 503 with
//! `Retry-After` for `temporarily_unavailable` (the store is unavailable), 413 for oversized
//! bodies, 408 for bodies that do not arrive in time, JSON 404 and 405.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use wissel_core::{ErrorCode, OAuthError};

use crate::observe::Outcome;

/// Everything a handler can fail with.
#[derive(Debug)]
pub enum HttpError {
    /// A protocol error. `basic` is true when the client tried HTTP Basic authentication, so a
    /// 401 must carry `WWW-Authenticate: Basic`.
    OAuth {
        /// The error.
        error: OAuthError,
        /// The client attempted Basic authentication.
        basic: bool,
    },
    /// The body exceeds the bound.
    TooLarge,
    /// The body did not arrive within the body read timeout.
    BodyTimeout,
    /// No such path.
    NotFound,
    /// The path exists, the method does not.
    MethodNotAllowed,
}

impl From<wissel_core::InternalError> for HttpError {
    fn from(e: wissel_core::InternalError) -> Self {
        OAuthError::from(e).into()
    }
}

impl From<OAuthError> for HttpError {
    fn from(error: OAuthError) -> Self {
        Self::OAuth {
            error,
            basic: false,
        }
    }
}

/// The `Retry-After` of a `503 temporarily_unavailable` (JSON or page): the store is
/// unavailable, or a bound is reached, for now.
pub const RETRY_AFTER_SECS: &str = "2";

/// The HTTP status of an OAuth error code.
pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    }
}

fn body(status: StatusCode, code: &'static str, description: &str) -> Response {
    let mut r = (
        status,
        Json(json!({"error": code, "error_description": description})),
    )
        .into_response();
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        match self {
            Self::OAuth { error, basic } => {
                let status = status_of(error.code);
                let mut r = body(status, error.code.as_str(), &error.description);
                if status == StatusCode::SERVICE_UNAVAILABLE {
                    r.headers_mut().insert(
                        header::RETRY_AFTER,
                        HeaderValue::from_static(RETRY_AFTER_SECS),
                    );
                }
                if status == StatusCode::UNAUTHORIZED && basic {
                    r.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Basic realm=\"wissel\", charset=\"UTF-8\""),
                    );
                }
                r.extensions_mut()
                    .insert(Outcome::error(error.code.as_str(), error.internal));
                r
            }
            Self::TooLarge => {
                let mut r = body(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "invalid_request",
                    "request body is too large",
                );
                r.extensions_mut()
                    .insert(Outcome::error("invalid_request", None));
                r
            }
            Self::BodyTimeout => {
                let mut r = body(
                    StatusCode::REQUEST_TIMEOUT,
                    "invalid_request",
                    "the request body did not arrive in time",
                );
                // The rest of the body is not read: the connection cannot carry another request.
                r.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                r.extensions_mut()
                    .insert(Outcome::error("invalid_request", None));
                r
            }
            Self::NotFound => body(StatusCode::NOT_FOUND, "not_found", "no such endpoint"),
            Self::MethodNotAllowed => body(
                StatusCode::METHOD_NOT_ALLOWED,
                "invalid_request",
                "method not allowed at this endpoint",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unavailable_store_is_503_with_retry_after_and_no_store() {
        let r = HttpError::from(wissel_core::InternalError::unavailable("pool timed out"))
            .into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::RETRY_AFTER], RETRY_AFTER_SECS);
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
        let r = HttpError::from(wissel_core::InternalError::new("bug")).into_response();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(r.headers().get(header::RETRY_AFTER).is_none());
    }
}
