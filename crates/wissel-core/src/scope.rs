//! Scopes and the one intersection that decides every token's scope (DESIGN.md §2).

use std::collections::BTreeSet;
use std::fmt;

use crate::OAuthError;

/// A set of scope tokens, parsed strictly (RFC 6749 §3.3: `%x21 / %x23-5B / %x5D-7E`, separated by
/// single spaces). Ordered, so that the rendered string is stable.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct ScopeSet(BTreeSet<String>);

/// Longest scope parameter accepted, in bytes.
pub const MAX_SCOPE_LEN: usize = 4096;

impl ScopeSet {
    /// The empty set.
    pub fn new() -> Self {
        Self(BTreeSet::new())
    }

    /// Parses a `scope` parameter. Empty tokens (double or edge spaces) and characters outside
    /// the RFC grammar are refused.
    pub fn parse(raw: &str) -> Result<Self, OAuthError> {
        if raw.len() > MAX_SCOPE_LEN {
            return Err(OAuthError::invalid_scope("scope parameter is too long"));
        }
        let mut set = BTreeSet::new();
        for token in raw.split(' ') {
            if !is_scope_token(token) {
                return Err(OAuthError::invalid_scope(
                    "scope must be scope tokens separated by single spaces (RFC 6749 §3.3)",
                ));
            }
            set.insert(token.to_owned());
        }
        Ok(Self(set))
    }

    /// Builds a set from tokens that are already known to be valid (configuration is validated
    /// with [`is_scope_token`] before this is called).
    pub fn from_tokens<I: IntoIterator<Item = S>, S: Into<String>>(tokens: I) -> Self {
        Self(tokens.into_iter().map(Into::into).collect())
    }

    /// True when no scope is in the set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True when `scope` is in the set.
    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    /// The scopes in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// The scopes present in both sets.
    pub fn intersect(&self, other: &ScopeSet) -> ScopeSet {
        Self(self.0.intersection(&other.0).cloned().collect())
    }

    /// True when every scope of `self` is in `other`.
    pub fn is_subset(&self, other: &ScopeSet) -> bool {
        self.0.is_subset(&other.0)
    }

    /// Adds a scope.
    pub fn insert(&mut self, scope: impl Into<String>) {
        self.0.insert(scope.into());
    }

    /// The union of both sets.
    pub fn union(&self, other: &ScopeSet) -> ScopeSet {
        Self(self.0.union(&other.0).cloned().collect())
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for s in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(s)?;
            first = false;
        }
        Ok(())
    }
}

/// True when `token` is a non-empty RFC 6749 `scope-token`.
pub fn is_scope_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// The sources of one grant's scope. `None` means "this source does not apply to this grant"
/// (for example, client credentials have no user); `requested: None` means "all that the other
/// sources allow" (an absent `scope` parameter).
#[derive(Debug, Clone, Copy)]
pub struct ScopeSources<'a> {
    /// What the request asked for; `None` when the `scope` parameter was absent.
    pub requested: Option<&'a ScopeSet>,
    /// What the API offers.
    pub offered: &'a ScopeSet,
    /// What the client–API link allows.
    pub allowed: &'a ScopeSet,
    /// What the user (directly or through groups) is authorised for, when a user is involved.
    pub authorized: Option<&'a ScopeSet>,
    /// What the user consented to, when consent applies.
    pub consented: Option<&'a ScopeSet>,
}

/// `granted = requested ∩ offered ∩ allowed ∩ authorized ∩ consented` — the single place where
/// scope policy lives. A scope is granted only if every applicable source allows it.
pub fn granted_scopes(src: ScopeSources<'_>) -> ScopeSet {
    let mut granted = src.offered.intersect(src.allowed);
    if let Some(requested) = src.requested {
        granted = granted.intersect(requested);
    }
    if let Some(authorized) = src.authorized {
        granted = granted.intersect(authorized);
    }
    if let Some(consented) = src.consented {
        granted = granted.intersect(consented);
    }
    granted
}

/// One of the sources of [`ScopeSources`], named for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ScopeSource {
    /// The request's `scope` parameter.
    Requested,
    /// The API's offered scopes.
    Offered,
    /// The client–API link.
    Allowed,
    /// The user's authorizations (their own and their groups').
    Authorized,
    /// The user's consent.
    Consented,
}

impl ScopeSource {
    /// The field name of [`ScopeSources`].
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Offered => "offered",
            Self::Allowed => "allowed",
            Self::Authorized => "authorized",
            Self::Consented => "consented",
        }
    }
    /// Who stands behind the source, for people: the request, the API, the link, the user, the
    /// consent.
    pub fn owner(self) -> &'static str {
        match self {
            Self::Requested => "the request",
            Self::Offered => "the API",
            Self::Allowed => "the link",
            Self::Authorized => "the user",
            Self::Consented => "the consent",
        }
    }
}

/// Why one scope is granted or not: the applicable sources that do not hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The scope.
    pub scope: String,
    /// The sources that refuse it, in the order of [`ScopeSource`]; empty when it is granted.
    pub refused_by: Vec<ScopeSource>,
}

impl Verdict {
    /// True when no source refuses the scope.
    pub fn granted(&self) -> bool {
        self.refused_by.is_empty()
    }
}

/// The reasons behind [`granted_scopes`], scope by scope: for every scope that any source names
/// (in order), the applicable sources that refuse it. A source that does not apply (`None`)
/// refuses nothing, as in [`granted_scopes`]; the scopes with no refusal are exactly the ones it
/// grants (a property test holds the two together). For reports only: a grant's scope still
/// comes from [`granted_scopes`].
pub fn explain(src: ScopeSources<'_>) -> Vec<Verdict> {
    let sources = [
        (ScopeSource::Requested, src.requested),
        (ScopeSource::Offered, Some(src.offered)),
        (ScopeSource::Allowed, Some(src.allowed)),
        (ScopeSource::Authorized, src.authorized),
        (ScopeSource::Consented, src.consented),
    ];
    let mut candidates = BTreeSet::new();
    for set in sources.iter().filter_map(|(_, set)| *set) {
        candidates.extend(set.iter());
    }
    candidates
        .into_iter()
        .map(|scope| Verdict {
            scope: scope.to_owned(),
            refused_by: sources
                .iter()
                .filter(|(_, set)| set.is_some_and(|s| !s.contains(scope)))
                .map(|(source, _)| *source)
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn set() -> impl Strategy<Value = ScopeSet> {
        proptest::collection::btree_set("[a-d]", 0..5).prop_map(ScopeSet)
    }

    proptest! {
        #[test]
        fn never_up_scopes(req in proptest::option::of(set()), off in set(), all in set(),
                           auth in proptest::option::of(set()), cons in proptest::option::of(set())) {
            let g = granted_scopes(ScopeSources {
                requested: req.as_ref(), offered: &off, allowed: &all,
                authorized: auth.as_ref(), consented: cons.as_ref(),
            });
            prop_assert!(g.is_subset(&off));
            prop_assert!(g.is_subset(&all));
            if let Some(r) = &req { prop_assert!(g.is_subset(r)); }
            if let Some(a) = &auth { prop_assert!(g.is_subset(a)); }
            if let Some(c) = &cons { prop_assert!(g.is_subset(c)); }
        }

        #[test]
        fn grants_everything_every_source_allows(req in proptest::option::of(set()), off in set(),
                           all in set(), auth in proptest::option::of(set())) {
            let g = granted_scopes(ScopeSources {
                requested: req.as_ref(), offered: &off, allowed: &all,
                authorized: auth.as_ref(), consented: None,
            });
            for s in ["a", "b", "c", "d"] {
                let everywhere = off.contains(s) && all.contains(s)
                    && req.as_ref().is_none_or(|r| r.contains(s))
                    && auth.as_ref().is_none_or(|a| a.contains(s));
                prop_assert_eq!(g.contains(s), everywhere);
            }
        }

        #[test]
        fn explain_grants_exactly_what_granted_scopes_grants(req in proptest::option::of(set()),
                           off in set(), all in set(), auth in proptest::option::of(set()),
                           cons in proptest::option::of(set())) {
            let src = ScopeSources {
                requested: req.as_ref(), offered: &off, allowed: &all,
                authorized: auth.as_ref(), consented: cons.as_ref(),
            };
            let verdicts = explain(src);
            let granted = ScopeSet::from_tokens(
                verdicts.iter().filter(|v| v.granted()).map(|v| v.scope.clone()));
            prop_assert_eq!(granted, granted_scopes(src));
            // Every scope any source names is explained once, in order, and each refusal is
            // an applicable source that lacks the scope.
            let mut named = off.union(&all);
            for s in [&req, &auth, &cons].into_iter().flatten() { named = named.union(s); }
            let explained: Vec<&str> = verdicts.iter().map(|v| v.scope.as_str()).collect();
            prop_assert_eq!(explained, named.iter().collect::<Vec<_>>());
            for v in &verdicts {
                let lacks = |set: Option<&ScopeSet>| set.is_some_and(|s| !s.contains(&v.scope));
                let expected: Vec<ScopeSource> = [
                    (ScopeSource::Requested, lacks(req.as_ref())),
                    (ScopeSource::Offered, lacks(Some(&off))),
                    (ScopeSource::Allowed, lacks(Some(&all))),
                    (ScopeSource::Authorized, lacks(auth.as_ref())),
                    (ScopeSource::Consented, lacks(cons.as_ref())),
                ].into_iter().filter(|(_, l)| *l).map(|(s, _)| s).collect();
                prop_assert_eq!(&v.refused_by, &expected);
            }
        }

        #[test]
        fn parse_round_trips(s in set()) {
            prop_assume!(!s.is_empty());
            prop_assert_eq!(ScopeSet::parse(&s.to_string()).unwrap(), s);
        }

        #[test]
        fn parse_never_panics(raw in "\\PC{0,64}") {
            let _ = ScopeSet::parse(&raw);
        }
    }

    #[test]
    fn parse_is_strict() {
        assert!(ScopeSet::parse("a b").is_ok());
        for bad in ["", " a", "a ", "a  b", "a\tb", "a\"b", "a\\b", "é"] {
            assert!(ScopeSet::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn absent_request_means_all_allowed() {
        let off = ScopeSet::from_tokens(["r", "w", "x"]);
        let all = ScopeSet::from_tokens(["r", "w"]);
        let g = granted_scopes(ScopeSources {
            requested: None,
            offered: &off,
            allowed: &all,
            authorized: None,
            consented: None,
        });
        assert_eq!(g.to_string(), "r w");
    }

    #[test]
    fn explain_names_every_refusing_source() {
        let req = ScopeSet::from_tokens(["r", "w", "z"]);
        let off = ScopeSet::from_tokens(["r", "w", "x"]);
        let all = ScopeSet::from_tokens(["r", "x"]);
        let auth = ScopeSet::from_tokens(["r", "w"]);
        let v = explain(ScopeSources {
            requested: Some(&req),
            offered: &off,
            allowed: &all,
            authorized: Some(&auth),
            consented: None,
        });
        let by: Vec<(&str, Vec<&str>)> = v
            .iter()
            .map(|v| {
                (
                    v.scope.as_str(),
                    v.refused_by.iter().map(|s| s.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            by,
            vec![
                ("r", vec![]),
                ("w", vec!["allowed"]),
                ("x", vec!["requested", "authorized"]),
                ("z", vec!["offered", "allowed", "authorized"]),
            ]
        );
    }
}
