//! The HTTP face of wissel: axum routes, the OAuth form parser, client authentication, the one
//! error-to-response mapping, observability layers, and the state every node keeps (registry
//! snapshot, key ring, revoked set, verified-token cache) in sync with the store.
//!
//! Depends on the ports of `wissel-core`, never on `wissel-store`.

pub mod browser;
pub mod client_auth;
pub mod error;
pub mod fetch;
pub mod form;
pub mod keys;
pub mod medmij;
pub mod observe;
pub mod oidc;
pub mod pages;
pub mod routes;
pub mod state;
pub mod tokens;

pub use routes::router;
pub use state::{AppState, Settings};
