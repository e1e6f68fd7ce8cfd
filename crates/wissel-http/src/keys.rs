//! Applying the key rotation schedule through the store. Called by each node's maintenance loop
//! and by `wissel keys rotate`; the store's conditional transitions keep concurrent nodes safe.

use wissel_core::InternalError;
use wissel_core::model::{KeyState, SigningAlg, SigningKeyRecord};
use wissel_core::ports::Store;
use wissel_crypto::keys::{MasterKey, generate};
use wissel_crypto::rotation::{KeyAction, RotationPolicy, plan, plan_forced};
use wissel_crypto::secret::generate_id;

/// Creates a key; `false` when another node created the next key first.
async fn create(
    store: &dyn Store,
    master: &MasterKey,
    alg: SigningAlg,
    state: KeyState,
    now: i64,
) -> Result<bool, InternalError> {
    let kid = generate_id();
    if kid.is_empty() {
        return Err(InternalError::new("random source failed"));
    }
    let k = generate(alg, &kid).map_err(InternalError::new)?;
    let record = SigningKeyRecord {
        kid: kid.clone(),
        alg,
        state,
        private_key_enc: master.seal(&kid, &k.pkcs8).map_err(InternalError::new)?,
        public_jwk: k.public_jwk,
        created_at: now,
        activated_at: (state == KeyState::Active).then_some(now),
        retired_at: None,
        publish_until: None,
    };
    store.insert_key(&record).await
}

/// Runs the schedule (or, when `forced`, an immediate rotation) for the main key set (algorithm
/// `alg`, and keys of earlier main algorithms) and for the set of each additional ID-token
/// algorithm in `extra_algs`, and returns what was done.
pub async fn rotate(
    store: &dyn Store,
    master: &MasterKey,
    alg: SigningAlg,
    extra_algs: &[SigningAlg],
    policy: &RotationPolicy,
    now: i64,
    forced: bool,
) -> Result<Vec<KeyAction>, InternalError> {
    let mut done = rotate_set(store, master, alg, extra_algs, None, policy, now, forced).await?;
    for extra in extra_algs.iter().filter(|a| **a != alg) {
        done.extend(
            rotate_set(
                store,
                master,
                *extra,
                extra_algs,
                Some(*extra),
                policy,
                now,
                forced,
            )
            .await?,
        );
    }
    Ok(done)
}

/// The keys of one set: those of algorithm `only`, or (the main set) those of no additional
/// algorithm.
fn in_set(k: &SigningKeyRecord, extra_algs: &[SigningAlg], only: Option<SigningAlg>) -> bool {
    match only {
        Some(a) => k.alg == a,
        None => !extra_algs.contains(&k.alg),
    }
}

#[allow(clippy::too_many_arguments)]
async fn rotate_set(
    store: &dyn Store,
    master: &MasterKey,
    alg: SigningAlg,
    extra_algs: &[SigningAlg],
    only: Option<SigningAlg>,
    policy: &RotationPolicy,
    now: i64,
    forced: bool,
) -> Result<Vec<KeyAction>, InternalError> {
    let load = || async {
        let mut keys = store.list_keys().await?;
        keys.retain(|k| in_set(k, extra_algs, only));
        Ok::<_, InternalError>(keys)
    };
    let mut keys = load().await?;
    if forced && !keys.iter().any(|k| k.state == KeyState::Next) {
        create(store, master, alg, KeyState::Next, now).await?;
        keys = load().await?;
    }
    let actions = if forced {
        plan_forced(&keys, now, policy)
    } else {
        plan(&keys, now, policy)
    };
    let mut done = Vec::new();
    for action in actions {
        match &action {
            KeyAction::CreateActive => {
                create(store, master, alg, KeyState::Active, now).await?;
            }
            KeyAction::CreateNext => {
                if !create(store, master, alg, KeyState::Next, now).await? {
                    continue;
                }
            }
            KeyAction::Promote {
                next,
                current,
                publish_until,
            } => {
                // Activate first: for a moment two keys are active and the newest signs, so no
                // instant exists without a signing key. Another node that won the race makes the
                // transition a no-op.
                if !store
                    .transition_key(next, KeyState::Next, KeyState::Active, now, None)
                    .await?
                {
                    continue;
                }
                if let Some(cur) = current {
                    store
                        .transition_key(
                            cur,
                            KeyState::Active,
                            KeyState::Retired,
                            now,
                            Some(*publish_until),
                        )
                        .await?;
                }
            }
        }
        done.push(action);
    }
    Ok(done)
}
