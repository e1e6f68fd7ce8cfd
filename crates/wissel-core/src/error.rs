//! The one error type of the protocol: an RFC 6749 §5.2 error code with a description.

use std::borrow::Cow;
use std::fmt;

/// The error codes wissel answers with (RFC 6749 §5.2, RFC 7009 §2.2.1, RFC 8707 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The request is missing a parameter, repeats one, or is otherwise malformed.
    InvalidRequest,
    /// Client authentication failed.
    InvalidClient,
    /// The grant or token presented is invalid, expired or revoked.
    InvalidGrant,
    /// The client may not use this grant type.
    UnauthorizedClient,
    /// The grant type is not supported.
    UnsupportedGrantType,
    /// The requested scope is invalid or nothing remains after the intersection.
    InvalidScope,
    /// The requested audience or resource is unknown or not allowed (RFC 8707).
    InvalidTarget,
    /// The server cannot revoke this type of token (RFC 7009).
    UnsupportedTokenType,
    /// The server failed; details are logged, never returned.
    ServerError,
    /// The server is temporarily unable to answer (for example the database is down).
    TemporarilyUnavailable,
    /// The user or the server refused the request (RFC 6749 §4.1.2.1).
    AccessDenied,
    /// The response type is not supported (RFC 6749 §4.1.2.1).
    UnsupportedResponseType,
    /// `prompt=none`, and the user must log in (OpenID Connect Core §3.1.2.6).
    LoginRequired,
    /// `prompt=none`, and the user must consent.
    ConsentRequired,
    /// The `request` parameter is not supported.
    RequestNotSupported,
    /// The `request_uri` parameter is not supported.
    RequestUriNotSupported,
    /// A bearer token is missing, expired or revoked (RFC 6750 §3.1).
    InvalidToken,
    /// A bearer token lacks the scope the resource needs (RFC 6750 §3.1).
    InsufficientScope,
}

impl ErrorCode {
    /// The code as it appears in the `error` member.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidTarget => "invalid_target",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
        }
    }
}

/// An OAuth protocol error: what the client is told. Internal causes travel separately in
/// [`InternalError`] and are never shown to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// The RFC error code.
    pub code: ErrorCode,
    /// A human-readable description (`error_description`); never contains secrets.
    pub description: Cow<'static, str>,
    /// For the log only, never shown: the cause of a `server_error`, or what a client error must
    /// not tell the client (why a token was refused, when saying it would reveal what the token
    /// is to someone else).
    pub internal: Option<String>,
}

impl OAuthError {
    /// An error with a code and a description.
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            description: description.into(),
            internal: None,
        }
    }
    /// `invalid_request`.
    pub fn invalid_request(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, d)
    }
    /// `invalid_client`.
    pub fn invalid_client(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidClient, d)
    }
    /// `invalid_grant`.
    pub fn invalid_grant(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidGrant, d)
    }
    /// `invalid_scope`.
    pub fn invalid_scope(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidScope, d)
    }
    /// `invalid_target`.
    pub fn invalid_target(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidTarget, d)
    }
    /// `unauthorized_client`.
    pub fn unauthorized_client(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::UnauthorizedClient, d)
    }
    /// The same error, with `cause` for the log (see [`OAuthError::internal`]).
    pub fn logged_as(mut self, cause: impl Into<String>) -> Self {
        self.internal = Some(cause.into());
        self
    }
    /// `temporarily_unavailable` (503 with `Retry-After`) with an internal cause that is
    /// logged, not returned: the server cannot answer now, for example its database is down.
    pub fn temporarily_unavailable(cause: impl fmt::Display) -> Self {
        Self {
            code: ErrorCode::TemporarilyUnavailable,
            description: Cow::Borrowed(
                "the server is temporarily unable to handle the request; try again shortly",
            ),
            internal: Some(cause.to_string()),
        }
    }
    /// `server_error` with an internal cause that is logged, not returned.
    pub fn server_error(cause: impl fmt::Display) -> Self {
        Self {
            code: ErrorCode::ServerError,
            description: Cow::Borrowed("the server could not complete the request"),
            internal: Some(cause.to_string()),
        }
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.description)
    }
}

impl std::error::Error for OAuthError {}

/// A failure of a port (storage, signing): never the client's fault. The second field says
/// whether it is an *unavailability* (the database is down, hung, or over its deadline): such a
/// failure passes, and the client is told to come back (`503 temporarily_unavailable`), where
/// any other failure is a `500 server_error`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InternalError(pub String, bool);

impl InternalError {
    /// Wraps any displayable cause: a failure that will not pass by itself.
    pub fn new(cause: impl fmt::Display) -> Self {
        Self(cause.to_string(), false)
    }
    /// A port that is unavailable for now (a database that cannot be reached, or did not answer
    /// within its deadline): the request may succeed when repeated a little later.
    pub fn unavailable(cause: impl fmt::Display) -> Self {
        Self(cause.to_string(), true)
    }
    /// True for an unavailability (see [`InternalError::unavailable`]).
    pub fn is_unavailable(&self) -> bool {
        self.1
    }
}

impl From<InternalError> for OAuthError {
    fn from(e: InternalError) -> Self {
        if e.is_unavailable() {
            OAuthError::temporarily_unavailable(e.0)
        } else {
            OAuthError::server_error(e.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unavailable_port_is_temporarily_unavailable_and_any_other_failure_a_server_error() {
        let e = OAuthError::from(InternalError::unavailable(
            "database unavailable: pool timed out",
        ));
        assert_eq!(e.code, ErrorCode::TemporarilyUnavailable);
        assert!(!e.description.contains("database"), "{}", e.description);
        assert_eq!(
            e.internal.as_deref(),
            Some("database unavailable: pool timed out")
        );
        let e = OAuthError::from(InternalError::new("database: constraint failed"));
        assert_eq!(e.code, ErrorCode::ServerError);
    }
}
