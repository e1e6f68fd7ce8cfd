//! Bearer token validation for APIs (resource servers) that accept access tokens issued by wissel.
//!
//! Two ways to validate, behind one [`Validator`]:
//!
//! - [`IntrospectionValidator`] asks the authorization server (RFC 7662), authenticating as the API
//!   itself, and caches each answer under the token's SHA-256 digest: an active token until its
//!   `exp` or the cache TTL, whichever comes first; an inactive one for a few seconds.
//! - [`JwksValidator`] verifies JWT access tokens (RFC 9068) against the server's published keys,
//!   fetched lazily and refetched (rate-limited) when a token names a key it has not seen yet.
//!
//! Use it as a tower layer ([`BearerLayer`], which puts the [`Principal`] into the request's
//! extensions) or call [`Validator::authenticate`] yourself. Failures map to RFC 6750 responses
//! ([`ValidationError::to_response`]). Token values never appear in errors or logs.
//!
//! ```rust,ignore
//! use axum::{Extension, Router, routing::get};
//! use wissel_resource::{BearerLayer, ClientAuth, IntrospectionConfig, IntrospectionValidator, Principal};
//!
//! let config = IntrospectionConfig::new(
//!     "https://login.example.org/introspect".parse()?,
//!     "orders-api",
//!     ClientAuth::SecretBasic(std::env::var("ORDERS_API_SECRET")?),
//! );
//! let validator = IntrospectionValidator::new(config)?;
//! // or: let validator = JwksValidator::discover("https://login.example.org", "orders-api").await?;
//!
//! let app = Router::new()
//!     .route("/orders", get(|Extension(who): Extension<Principal>| async move { who.sub }))
//!     .layer(BearerLayer::new(validator).require_scope("orders:read"));
//! ```
#![warn(missing_docs)]

mod assertion;
mod bearer;
mod error;
mod fetch;
mod introspection;
mod jwks;
mod layer;
mod principal;

pub use bearer::{MAX_TOKEN_LEN, bearer_token};
pub use error::{ConfigError, ValidationError};
pub use introspection::{ClientAuth, IntrospectionConfig, IntrospectionValidator};
pub use jsonwebtoken::Algorithm;
pub use jwks::{JwksConfig, JwksValidator};
pub use layer::{BearerLayer, BearerService};
pub use principal::Principal;
pub use wissel_core::ports::{Clock, SystemClock};

use std::time::Duration;

use axum::http::HeaderMap;

/// Validates bearer tokens one way or the other; cheap to clone (the caches are shared).
#[derive(Clone, Debug)]
pub enum Validator {
    /// Ask the authorization server (RFC 7662).
    Introspection(IntrospectionValidator),
    /// Verify JWT access tokens (RFC 9068) against the published keys.
    Jwks(JwksValidator),
}

impl Validator {
    /// Validates a token and returns whom it speaks for.
    pub async fn validate(&self, token: &str) -> Result<Principal, ValidationError> {
        match self {
            Self::Introspection(v) => v.validate(token).await,
            Self::Jwks(v) => v.validate(token).await,
        }
    }

    /// Reads the bearer token from `Authorization` (strictly, see [`bearer_token`]) and validates it.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, ValidationError> {
        self.validate(bearer_token(headers)?).await
    }

    /// The audience tokens must carry: the API's identifier.
    pub fn audience(&self) -> &str {
        match self {
            Self::Introspection(v) => v.audience(),
            Self::Jwks(v) => v.audience(),
        }
    }
}

impl From<IntrospectionValidator> for Validator {
    fn from(v: IntrospectionValidator) -> Self {
        Self::Introspection(v)
    }
}

impl From<JwksValidator> for Validator {
    fn from(v: JwksValidator) -> Self {
        Self::Jwks(v)
    }
}

/// Whole seconds, rounded up (the clock counts seconds; a sub-second setting is not zero).
pub(crate) fn seconds(duration: Duration) -> i64 {
    let whole = duration
        .as_secs()
        .saturating_add(u64::from(duration.subsec_nanos() > 0));
    i64::try_from(whole).unwrap_or(i64::MAX)
}
