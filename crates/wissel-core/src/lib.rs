//! The domain of wissel: model, policy and flows. No I/O: storage, time, signing and auditing are
//! ports (traits in [`ports`]) that the outer crates implement.

pub mod civil;
pub mod error;
pub mod flows;
pub mod grant;
pub mod model;
pub mod ports;
pub mod scope;

pub use error::{ErrorCode, InternalError, OAuthError};
