//! One module per grant and per endpoint. Each takes typed input and the registry snapshot and
//! returns a decision; the HTTP crate extracts, authenticates and mints around it.

pub mod authorize;
pub mod client_credentials;
pub mod code;
pub mod exchange;
pub mod introspect;
pub mod revoke;
pub mod standing;
pub mod target;
