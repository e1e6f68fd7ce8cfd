//! The MedMij profile's rules (Afsprakenstelsel 2.2), without I/O, so that they can be tested and
//! fuzzed on their own:
//!
//! - [`lists`]: the central lists — OAuth Client List, Whitelist, Gegevensdienstnamenlijst and
//!   Zorgaanbiederslijst — parsed from their XML into typed records and validated against the
//!   rules of their XSDs;
//! - [`scope`]: the scope of an authorization request (`aanbieder` for Verzamelen,
//!   `aanbieder~gegevensdienst` for Delen);
//! - [`policy`]: the aanbieders this server serves, what a person may receive, and the scope of
//!   an access token (core.tknint.210) through wissel's one intersection.
//!
//! With the `client` feature, [`client`] is the PGO side (a client of MedMij authorization
//! servers) and [`check`] the conformance check built on it.
//!
//! What the Afsprakenstelsel leaves open, and the choice made for each, is in `docs/medmij.md`.

#[cfg(feature = "client")]
pub mod check;
#[cfg(feature = "client")]
pub mod client;
pub mod lists;
pub mod policy;
pub mod scope;
mod xml;

pub use lists::{
    Gnl, ListError, ListHeader, ListKind, Ocl, OclClient, ParsedList, Whitelist, Zal,
    Zorgaanbieder, parse_list,
};
pub use policy::{Aanbieder, AllOffered, Availability, granted_gegevensdiensten};
pub use scope::{MedmijScope, ScopeError};
