//! The aanbieders this server serves and the scope of an access token (core.tknint.210): a
//! gegevensdienst is in the token only if the person consented to it, the aanbieder offers it
//! through this server, the client's OCL entry lists it for the interface version, and it is
//! available for the person. That is wissel's one intersection (`wissel_core::scope`), with the
//! consent as what was requested; a gegevensdienst that fails any check is left out.

use async_trait::async_trait;
use wissel_core::InternalError;
use wissel_core::scope::{ScopeSet, ScopeSources, granted_scopes};

use crate::lists::{OclClient, Zal};

/// An aanbieder (care provider) whose authorization server this is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aanbieder {
    /// Its `Zorgaanbiedernaam` (`…@medmij`).
    pub naam: String,
    /// A display name for pages; the name without `@medmij` when none is configured.
    pub display_name: String,
    /// The gegevensdiensten it offers through this server.
    pub gegevensdiensten: ScopeSet,
    /// The API (resource server) its access tokens are for, which introspects them.
    pub api: String,
}

impl Aanbieder {
    /// Its name as it appears in a scope: without `@medmij`.
    pub fn scope_name(&self) -> &str {
        self.naam.strip_suffix("@medmij").unwrap_or(&self.naam)
    }
}

/// What the ZAL says an aanbieder offers for an interface version; `None` when the ZAL does not
/// list the aanbieder or that version.
pub fn offered_on_zal(zal: &Zal, naam: &str, interface_version: &str) -> Option<ScopeSet> {
    zal.aanbieders
        .get(naam)?
        .interfaceversies
        .get(interface_version)
        .map(|d| ScopeSet::from_tokens(d.keys().cloned()))
}

/// The gegevensdiensten a client's OCL entry lists for an interface version (none on an OCL
/// that lists none).
pub fn on_ocl(client: &OclClient, interface_version: &str) -> ScopeSet {
    client
        .interfaceversies
        .get(interface_version)
        .map(|ids| ScopeSet::from_tokens(ids.iter().cloned()))
        .unwrap_or_default()
}

/// Which of an aanbieder's gegevensdiensten are available for a person: the hook for a DVA's own
/// knowledge (is there a record of this person at this aanbieder, is a service withheld).
/// Implement it and pass it to the server; [`AllOffered`] is the default.
#[async_trait]
pub trait Availability: Send + Sync + 'static {
    /// The subset of `offered` available for the person with this subject. An error is a
    /// `server_error` for the request (never a wider scope).
    async fn available(
        &self,
        subject: &str,
        aanbieder: &Aanbieder,
        offered: &ScopeSet,
    ) -> Result<ScopeSet, InternalError>;
}

/// Everything the aanbieder offers is available for everyone.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllOffered;

#[async_trait]
impl Availability for AllOffered {
    async fn available(
        &self,
        _subject: &str,
        _aanbieder: &Aanbieder,
        offered: &ScopeSet,
    ) -> Result<ScopeSet, InternalError> {
        Ok(offered.clone())
    }
}

/// The scope of an access token: consented ∩ offered ∩ on the client's OCL entry ∩ available.
pub fn granted_gegevensdiensten(
    consented: &ScopeSet,
    offered: &ScopeSet,
    ocl: &ScopeSet,
    available: &ScopeSet,
) -> ScopeSet {
    granted_scopes(ScopeSources {
        requested: Some(consented),
        offered,
        allowed: ocl,
        authorized: Some(available),
        consented: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn set(v: &[&str]) -> ScopeSet {
        ScopeSet::from_tokens(v.iter().copied())
    }

    #[test]
    fn a_gegevensdienst_failing_any_check_is_left_out() {
        let got = granted_gegevensdiensten(
            &set(&["48", "49", "51", "63"]),
            &set(&["48", "49", "51"]),
            &set(&["48", "51", "63"]),
            &set(&["48", "49", "51", "63"]),
        );
        assert_eq!(got, set(&["48", "51"]));
        assert!(
            granted_gegevensdiensten(&set(&["48"]), &set(&["48"]), &set(&[]), &set(&["48"]))
                .is_empty()
        );
    }

    fn ids() -> impl Strategy<Value = BTreeSet<String>> {
        proptest::collection::btree_set("[0-9]{1,2}", 0..8)
    }

    proptest! {
        /// Never a gegevensdienst outside any of the four sources; always every one inside all.
        #[test]
        fn exactly_the_intersection(c in ids(), o in ids(), l in ids(), a in ids()) {
            let s = |v: &BTreeSet<String>| ScopeSet::from_tokens(v.iter().cloned());
            let got = granted_gegevensdiensten(&s(&c), &s(&o), &s(&l), &s(&a));
            let want: BTreeSet<String> = c.iter()
                .filter(|x| o.contains(*x) && l.contains(*x) && a.contains(*x))
                .cloned()
                .collect();
            prop_assert_eq!(got, s(&want));
        }
    }
}
