//! Applying the declared entities to the store, idempotently: declared entities are created or
//! updated, nothing undeclared is touched, and a user's password is re-hashed only when it
//! changed (so applying the same file twice writes nothing). An update that takes something away
//! revokes the grants policy no longer allows ([`crate::withdraw`]).

use wissel_core::InternalError;
use wissel_core::model::{ApplyReport, Provisioning, User};
use wissel_core::ports::Store;
use wissel_crypto::password;
use wissel_crypto::secret::generate_id;

use crate::config::{Declared, PasswordSpec};

/// Hashes what needs hashing (off the async runtime) and applies everything in one transaction.
pub async fn apply(
    store: &dyn Store,
    declared: &Declared,
    now: i64,
) -> Result<ApplyReport, InternalError> {
    let mut users = Vec::with_capacity(declared.users.len());
    for spec in &declared.users {
        let existing = store.find_user(&spec.username).await?;
        let password_hash = match (&spec.password, &existing) {
            (PasswordSpec::Hash(h), _) => h.clone(),
            (PasswordSpec::Plain(pw), Some(u))
                if verify(pw.clone(), u.password_hash.clone()).await? =>
            {
                u.password_hash.clone()
            }
            (PasswordSpec::Plain(pw), _) => {
                let pw = pw.clone();
                tokio::task::spawn_blocking(move || password::hash_password(&pw))
                    .await
                    .map_err(InternalError::new)?
                    .map_err(InternalError::new)?
            }
        };
        users.push(User {
            subject: existing
                .as_ref()
                .map(|u| u.subject.clone())
                .unwrap_or_else(generate_id),
            username: spec.username.clone(),
            password_hash,
            claims: spec.claims.clone(),
            groups: spec.groups.clone(),
            disabled: spec.disabled,
        });
    }
    let plan = Provisioning {
        clients: declared.clients.clone(),
        apis: declared.apis.clone(),
        links: declared.links.clone(),
        users,
        authorizations: declared.authorizations.clone(),
    };
    let report = store.apply(&plan, now).await?;
    if report.updated > 0 {
        // An update can take something away (a narrowed link, a disabled client, API or user):
        // what policy no longer allows is revoked, and a disabled user's sessions end.
        let w = crate::withdraw::withdraw_disallowed(store, now).await?;
        if w.revoked > 0 {
            tracing::info!(
                revoked = w.revoked,
                "grants that policy no longer allows revoked"
            );
        }
        for user in plan.users.iter().filter(|u| u.disabled) {
            for s in store.sessions_of(&user.subject, now).await? {
                store.end_session_by_sid(&user.subject, &s.sid).await?;
            }
        }
    }
    Ok(report)
}

async fn verify(pw: String, hash: String) -> Result<bool, InternalError> {
    tokio::task::spawn_blocking(move || password::verify_password(&pw, &hash))
        .await
        .map_err(InternalError::new)
}
