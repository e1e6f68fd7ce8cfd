//! The policy sweep (DESIGN.md §2, "policy holds over time"): after a change that can take
//! something away — a link removed or narrowed, an authorization revoked or narrowed, an API's
//! scope removed, a client, API or user disabled, from the command line or an applied file —
//! every live grant that today's policy no longer allows is revoked
//! ([`wissel_core::flows::standing::grant_stands`]).
//!
//! A revocation goes through the store, so its refresh tokens stop at once and every node drops
//! its access tokens within `server.sync_interval_ms`. A grant that still allows something is
//! left; its next refresh is narrowed to what is allowed, and its access tokens that carry a
//! scope no longer allowed are refused wherever they are presented (`tokens::resolve`).

use std::collections::HashMap;

use wissel_core::InternalError;
use wissel_core::flows::code::longest_access_lifetime;
use wissel_core::flows::standing::grant_stands;
use wissel_core::model::{Revocation, RevocationKind, User};
use wissel_core::ports::Store;
use wissel_core::scope::ScopeSet;

/// How many grants the sweep reads at once.
const PAGE: i64 = 500;

/// What a sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Withdrawn {
    /// Live grants looked at.
    pub checked: usize,
    /// Grants revoked.
    pub revoked: usize,
}

/// Revokes every live grant that today's policy (the store's registry, users and
/// authorizations) no longer allows. Grants of clients the store does not hold (MedMij PGOs,
/// which come from the lists) are left to their own rules.
pub async fn withdraw_disallowed(store: &dyn Store, now: i64) -> Result<Withdrawn, InternalError> {
    let registry = store.load_registry().await?;
    let mut users: HashMap<String, Option<User>> = HashMap::new();
    let mut authorized: HashMap<(String, String), Option<ScopeSet>> = HashMap::new();
    let mut done = Withdrawn::default();
    let mut after = String::new();
    loop {
        let page = store.live_grants_after(&after, PAGE, now).await?;
        let Some(last) = page.last() else {
            break;
        };
        after = last.id.clone();
        for grant in &page {
            done.checked += 1;
            let Some(client) = registry.client(&grant.client_id) else {
                continue;
            };
            if !users.contains_key(&grant.subject) {
                let user = store.user_by_subject(&grant.subject).await?;
                users.insert(grant.subject.clone(), user);
            }
            let user = users.get(&grant.subject).and_then(Option::as_ref);
            let scopes = match (user, grant.api.as_deref()) {
                (Some(u), Some(api)) => {
                    let key = (grant.subject.clone(), api.to_owned());
                    if !authorized.contains_key(&key) {
                        let s = store.authorized_scopes(&u.username, &u.groups, api).await?;
                        authorized.insert(key.clone(), s);
                    }
                    authorized.get(&key).and_then(Option::as_ref)
                }
                _ => None,
            };
            if grant_stands(&registry, grant, user, scopes) {
                continue;
            }
            let revocation = Revocation {
                kind: RevocationKind::Grant,
                id: grant.id.clone(),
                expires_at: now.saturating_add(longest_access_lifetime(&registry, client)),
            };
            if store.revoke_grant(&revocation, now).await? {
                done.revoked += 1;
                tracing::info!(
                    target: "wissel::audit",
                    kind = "grant_withdrawn",
                    grant = %grant.id,
                    client = %grant.client_id,
                    api = grant.api.as_deref().unwrap_or_default(),
                    "policy no longer allows the grant; revoked"
                );
            }
        }
        if page.len() < PAGE as usize {
            break;
        }
    }
    Ok(done)
}
