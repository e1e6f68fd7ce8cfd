//! The scope of a MedMij authorization request (core.authint.200; `medmij.md` §4): one scope,
//! the aanbieder's name without `@medmij` for Verzamelen (`umcharderwijk`), or that name, `~` and
//! a gegevensdienst id for Delen (`umcharderwijk~53`). Nothing else is accepted: no second scope
//! token, and none of the extensions' tokens (Abonneren, Vertegenwoordiging) that wissel does not
//! implement.

use crate::lists::is_gegevensdienst_id;

/// A parsed MedMij scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MedmijScope {
    /// The aanbieder's name as it appears in the scope (without `@medmij`).
    pub aanbieder: String,
    /// The one gegevensdienst of a Delen request; `None` for Verzamelen.
    pub gegevensdienst: Option<String>,
}

impl MedmijScope {
    /// The aanbieder's `Zorgaanbiedernaam` (`…@medmij`).
    pub fn zorgaanbiedernaam(&self) -> String {
        format!("{}@medmij", self.aanbieder)
    }
}

/// Why a scope was refused; each renders as the `error_description` of `invalid_scope`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// No scope at all.
    #[error("scope is required: the aanbieder's name, or aanbieder~gegevensdienst")]
    Missing,
    /// More than one token.
    #[error("scope must be one aanbieder (Verzamelen) or aanbieder~gegevensdienst (Delen)")]
    NotOne,
    /// The aanbieder part is not a name.
    #[error("the aanbieder in scope must be lower-case letters (its name without @medmij)")]
    BadAanbieder,
    /// The gegevensdienst part is not an id.
    #[error("the gegevensdienst in scope must be an id of 1 to 30 characters")]
    BadGegevensdienst,
}

/// Parses a scope parameter.
pub fn parse(raw: Option<&str>) -> Result<MedmijScope, ScopeError> {
    let raw = raw.ok_or(ScopeError::Missing)?;
    if raw.is_empty() {
        return Err(ScopeError::Missing);
    }
    if raw.contains([' ', '\t', '\n', '\r']) {
        return Err(ScopeError::NotOne);
    }
    let (aanbieder, gegevensdienst) = match raw.split_once('~') {
        Some((a, g)) => (a, Some(g)),
        None => (raw, None),
    };
    // The Zorgaanbiedernaam is 10–57 characters with `@medmij` (7): 3–50 letters here.
    if !(3..=50).contains(&aanbieder.len()) || !aanbieder.bytes().all(|b| b.is_ascii_lowercase()) {
        return Err(ScopeError::BadAanbieder);
    }
    if let Some(g) = gegevensdienst
        && !is_gegevensdienst_id(g)
    {
        return Err(ScopeError::BadGegevensdienst);
    }
    Ok(MedmijScope {
        aanbieder: aanbieder.to_owned(),
        gegevensdienst: gegevensdienst.map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn verzamelen_and_delen() {
        assert_eq!(
            parse(Some("eenofanderezorgaanbieder")),
            Ok(MedmijScope {
                aanbieder: "eenofanderezorgaanbieder".into(),
                gegevensdienst: None
            })
        );
        let delen = parse(Some("eenofanderezorgaanbieder~53")).unwrap_or_else(|e| {
            unreachable!("{e}");
        });
        assert_eq!(delen.gegevensdienst.as_deref(), Some("53"));
        assert_eq!(delen.zorgaanbiedernaam(), "eenofanderezorgaanbieder@medmij");
    }

    #[test]
    fn everything_else_is_refused() {
        for (raw, err) in [
            (None, ScopeError::Missing),
            (Some(""), ScopeError::Missing),
            (Some("umcx umcy"), ScopeError::NotOne),
            (Some("subscribe~30/umcx~4"), ScopeError::BadGegevensdienst),
            (Some("umcx@medmij"), ScopeError::BadAanbieder),
            (Some("UMCX"), ScopeError::BadAanbieder),
            (Some("ab"), ScopeError::BadAanbieder),
            (Some("umcx~"), ScopeError::BadGegevensdienst),
            (Some("umcx~4~5"), ScopeError::BadGegevensdienst),
        ] {
            assert_eq!(parse(raw), Err(err), "{raw:?}");
        }
    }

    proptest! {
        /// Whatever the input, parsing never panics, and what it accepts renders back to the
        /// same scope.
        #[test]
        fn accepted_scopes_round_trip(raw in "\\PC{0,80}") {
            if let Ok(s) = parse(Some(&raw)) {
                let back = match &s.gegevensdienst {
                    Some(g) => format!("{}~{g}", s.aanbieder),
                    None => s.aanbieder.clone(),
                };
                prop_assert_eq!(back, raw);
            }
        }
    }
}
