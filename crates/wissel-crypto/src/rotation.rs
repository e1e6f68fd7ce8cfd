//! When to create, activate and retire signing keys. Pure: the caller applies the actions
//! through the store, whose conditional transitions make concurrent nodes safe.

use wissel_core::model::{KeyState, SigningKeyRecord};

/// The rotation schedule.
#[derive(Debug, Clone, Copy)]
pub struct RotationPolicy {
    /// Rotate the active key after this many seconds; 0 turns scheduled rotation off.
    pub rotate_after: i64,
    /// A new key is published this long before it may sign, so that verifiers that cache the
    /// JWKS know it first.
    pub publish_before: i64,
    /// A retired key stays published this long: at least the longest token lifetime.
    pub keep_retired: i64,
}

/// One step of the schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyAction {
    /// No key exists yet: create one and let it sign at once (no token can predate it).
    CreateActive,
    /// Create the next key and publish it.
    CreateNext,
    /// Let `next` sign and retire `current`, keeping it published until `publish_until`.
    Promote {
        /// The key that starts signing.
        next: String,
        /// The key that stops signing.
        current: Option<String>,
        /// When the retired key leaves the JWKS.
        publish_until: i64,
    },
}

fn find(keys: &[SigningKeyRecord], state: KeyState) -> Option<&SigningKeyRecord> {
    keys.iter()
        .filter(|k| k.state == state)
        .max_by_key(|k| k.created_at)
}

/// What the schedule asks for at `now`.
pub fn plan(keys: &[SigningKeyRecord], now: i64, policy: &RotationPolicy) -> Vec<KeyAction> {
    let active = find(keys, KeyState::Active);
    let next = find(keys, KeyState::Next);
    match (active, next) {
        (None, None) => vec![KeyAction::CreateActive, KeyAction::CreateNext],
        (None, Some(n)) => vec![promote(n, None, now, policy)],
        (Some(_), None) => vec![KeyAction::CreateNext],
        (Some(a), Some(n)) => {
            let due = policy.rotate_after > 0
                && now.saturating_sub(a.activated_at.unwrap_or(a.created_at))
                    >= policy.rotate_after;
            let known = now.saturating_sub(n.created_at) >= policy.publish_before;
            if due && known {
                vec![promote(n, Some(a), now, policy), KeyAction::CreateNext]
            } else {
                vec![]
            }
        }
    }
}

/// An operator's `keys rotate`: promote the next key now, then publish a new next key. When no
/// next key exists yet, one is created first (the caller plans again to promote it).
pub fn plan_forced(keys: &[SigningKeyRecord], now: i64, policy: &RotationPolicy) -> Vec<KeyAction> {
    let active = find(keys, KeyState::Active);
    match find(keys, KeyState::Next) {
        Some(n) => vec![promote(n, active, now, policy), KeyAction::CreateNext],
        None if active.is_none() => vec![KeyAction::CreateActive, KeyAction::CreateNext],
        None => vec![KeyAction::CreateNext],
    }
}

fn promote(
    n: &SigningKeyRecord,
    a: Option<&SigningKeyRecord>,
    now: i64,
    p: &RotationPolicy,
) -> KeyAction {
    KeyAction::Promote {
        next: n.kid.clone(),
        current: a.map(|a| a.kid.clone()),
        publish_until: now.saturating_add(p.keep_retired),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wissel_core::model::SigningAlg;

    fn key(kid: &str, state: KeyState, created: i64) -> SigningKeyRecord {
        SigningKeyRecord {
            kid: kid.into(),
            alg: SigningAlg::ES256,
            state,
            private_key_enc: vec![],
            public_jwk: serde_json::Value::Null,
            created_at: created,
            activated_at: (state == KeyState::Active).then_some(created),
            retired_at: None,
            publish_until: None,
        }
    }
    const P: RotationPolicy = RotationPolicy {
        rotate_after: 1000,
        publish_before: 100,
        keep_retired: 50,
    };

    #[test]
    fn bootstraps_then_publishes_next() {
        assert_eq!(
            plan(&[], 0, &P),
            vec![KeyAction::CreateActive, KeyAction::CreateNext]
        );
        assert_eq!(
            plan(&[key("a", KeyState::Active, 0)], 1, &P),
            vec![KeyAction::CreateNext]
        );
    }

    #[test]
    fn promotes_only_when_due_and_published_long_enough() {
        let keys = [key("a", KeyState::Active, 0), key("n", KeyState::Next, 950)];
        assert!(plan(&keys, 999, &P).is_empty(), "not due");
        assert!(plan(&keys, 1000, &P).is_empty(), "next published only 50 s");
        assert_eq!(
            plan(&keys, 1050, &P),
            vec![
                KeyAction::Promote {
                    next: "n".into(),
                    current: Some("a".into()),
                    publish_until: 1100
                },
                KeyAction::CreateNext
            ]
        );
    }

    #[test]
    fn forced_rotation_promotes_at_once() {
        let keys = [key("a", KeyState::Active, 0), key("n", KeyState::Next, 5)];
        assert_eq!(
            plan_forced(&keys, 6, &P)[0],
            KeyAction::Promote {
                next: "n".into(),
                current: Some("a".into()),
                publish_until: 56
            }
        );
        let off = RotationPolicy {
            rotate_after: 0,
            ..P
        };
        assert!(plan(&keys, 1_000_000, &off).is_empty());
    }
}
