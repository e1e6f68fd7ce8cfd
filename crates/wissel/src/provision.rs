//! Applying the declared entities to the store, idempotently: declared entities are created or
//! updated, nothing undeclared is touched, and a user's password is re-hashed only when it
//! changed (so applying the same file twice writes nothing). An update that takes something away
//! revokes the grants policy no longer allows ([`crate::withdraw`]).

use wissel_core::InternalError;
use wissel_core::model::{ApplyReport, Provisioning, User};
use wissel_core::ports::Store;
use wissel_crypto::password::{self, HashMemory};
use wissel_crypto::secret::generate_id;

use crate::config::{Declared, PasswordSpec};

/// Hashes what needs hashing (off the async runtime) and applies everything in one transaction.
pub async fn apply(
    store: &dyn Store,
    declared: &Declared,
    now: i64,
) -> Result<ApplyReport, InternalError> {
    let mut users = Vec::with_capacity(declared.users.len());
    // One Argon2 working memory for every user of the file: allocating 19 MiB per user would
    // leave hundreds of MiB in the allocator's arenas after a start with many users.
    let mut memory = HashMemory::new();
    for spec in &declared.users {
        let existing = store.find_user(&spec.username).await?;
        let password_hash = match (&spec.password, &existing) {
            (PasswordSpec::Hash(h), _) => h.clone(),
            (PasswordSpec::Plain(pw), Some(u))
                if {
                    let (pw, hash) = (pw.clone(), u.password_hash.clone());
                    in_memory(&mut memory, move |m| {
                        password::verify_password_with(&pw, &hash, m)
                    })
                    .await?
                } =>
            {
                u.password_hash.clone()
            }
            (PasswordSpec::Plain(pw), _) => {
                let pw = pw.clone();
                in_memory(&mut memory, move |m| password::hash_password_with(&pw, m))
                    .await?
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

/// Runs `f` on a blocking thread with `memory`, which comes back afterwards.
async fn in_memory<T: Send + 'static>(
    memory: &mut HashMemory,
    f: impl FnOnce(&mut HashMemory) -> T + Send + 'static,
) -> Result<T, InternalError> {
    let mut lent = std::mem::take(memory);
    let (out, lent) = tokio::task::spawn_blocking(move || {
        let out = f(&mut lent);
        (out, lent)
    })
    .await
    .map_err(InternalError::new)?;
    *memory = lent;
    Ok(out)
}
