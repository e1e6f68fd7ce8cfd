//! The key ring: the signing key parsed once, the verification keys of every published key, and
//! the JWKS document. Rebuilt whole when the stored keys change.

use std::collections::HashMap;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use wissel_core::model::{KeyState, SigningAlg, SigningKeyRecord};

use crate::keys::MasterKey;
use crate::{CryptoError, b64};

enum Pair {
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A private key ready to sign: parsed once, used for every token.
pub struct SigningKey {
    kid: String,
    alg: SigningAlg,
    pair: Pair,
}

impl SigningKey {
    /// Parses a PKCS#8 private key.
    pub fn from_pkcs8(kid: &str, alg: SigningAlg, pkcs8: &[u8]) -> Result<Self, CryptoError> {
        let err = |e: &dyn std::fmt::Display| CryptoError::Key(format!("{kid}: {e}"));
        let pair = match alg {
            SigningAlg::ES256 => Pair::Ec(
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
                    .map_err(|e| err(&e))?,
            ),
            SigningAlg::RS256 => Pair::Rsa(RsaKeyPair::from_pkcs8(pkcs8).map_err(|e| err(&e))?),
            SigningAlg::EdDSA => Pair::Ed(Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|e| err(&e))?),
        };
        Ok(Self {
            kid: kid.into(),
            alg,
            pair,
        })
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm.
    pub fn alg(&self) -> SigningAlg {
        self.alg
    }

    /// Signs `claims` as a compact JWS with header `{alg, typ, kid}`.
    pub fn sign<T: Serialize>(&self, typ: &str, claims: &T) -> Result<String, CryptoError> {
        let header = json!({"alg": self.alg.as_str(), "typ": typ, "kid": self.kid});
        let payload = serde_json::to_vec(claims).map_err(|e| CryptoError::Key(e.to_string()))?;
        let mut out = b64(header.to_string().as_bytes());
        out.push('.');
        out.push_str(&b64(&payload));
        let sig = self.sign_bytes(out.as_bytes())?;
        out.push('.');
        out.push_str(&b64(&sig));
        Ok(out)
    }

    fn sign_bytes(&self, msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let fail = |_| CryptoError::Key("signing failed".into());
        match &self.pair {
            Pair::Ec(k) => Ok(k
                .sign(&SystemRandom::new(), msg)
                .map_err(fail)?
                .as_ref()
                .to_vec()),
            Pair::Ed(k) => Ok(k.sign(msg).as_ref().to_vec()),
            Pair::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    msg,
                    &mut sig,
                )
                .map_err(fail)?;
                Ok(sig)
            }
        }
    }
}

fn jwt_alg(alg: SigningAlg) -> Algorithm {
    match alg {
        SigningAlg::ES256 => Algorithm::ES256,
        SigningAlg::RS256 => Algorithm::RS256,
        SigningAlg::EdDSA => Algorithm::EdDSA,
    }
}

/// A validation that checks the signature and algorithm only; time and audience are checked by
/// the caller against the `Clock`.
pub(crate) fn signature_only(alg: Algorithm) -> Validation {
    let mut v = Validation::new(alg);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    v
}

struct Verifier {
    key: DecodingKey,
    validation: Validation,
}

/// Every key wissel publishes, the one it signs with, and the JWKS.
pub struct KeyRing {
    active: Option<SigningKey>,
    /// The signing key of each additional ID-token algorithm.
    extra: HashMap<SigningAlg, SigningKey>,
    verifiers: HashMap<String, Verifier>,
    jwks: Value,
}

impl KeyRing {
    /// Builds the ring from stored keys: decrypts the active key, and publishes `next`, `active`
    /// and `retired` keys whose publication has not ended at `now`.
    pub fn load(
        records: &[SigningKeyRecord],
        master: &MasterKey,
        now: i64,
    ) -> Result<Self, CryptoError> {
        Self::load_with(records, master, now, &[])
    }

    /// Like [`KeyRing::load`], with additional algorithms whose keys sign only ID tokens (for
    /// clients registered with another algorithm than the main one). Keys of those algorithms
    /// form their own sets; every other key belongs to the main set, whose newest active key
    /// signs everything else.
    pub fn load_with(
        records: &[SigningKeyRecord],
        master: &MasterKey,
        now: i64,
        extra_algs: &[SigningAlg],
    ) -> Result<Self, CryptoError> {
        let mut active: Option<(i64, SigningKey)> = None;
        let mut extra: HashMap<SigningAlg, (i64, SigningKey)> = HashMap::new();
        let mut verifiers = HashMap::new();
        let mut published = Vec::new();
        for r in records {
            if r.state == KeyState::Retired && r.publish_until.is_some_and(|t| t <= now) {
                continue;
            }
            // During a promotion two keys are briefly active: the most recently activated signs.
            let since = r.activated_at.unwrap_or(r.created_at);
            if r.state == KeyState::Active {
                let slot = if extra_algs.contains(&r.alg) {
                    extra.get(&r.alg)
                } else {
                    active.as_ref()
                };
                if slot.is_none_or(|(t, _)| since >= *t) {
                    let pkcs8 = master.open(&r.kid, &r.private_key_enc)?;
                    let key = (since, SigningKey::from_pkcs8(&r.kid, r.alg, &pkcs8)?);
                    if extra_algs.contains(&r.alg) {
                        extra.insert(r.alg, key);
                    } else {
                        active = Some(key);
                    }
                }
            }
            let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(r.public_jwk.clone())
                .map_err(|e| CryptoError::Key(format!("{}: {e}", r.kid)))?;
            let key = DecodingKey::from_jwk(&jwk)
                .map_err(|e| CryptoError::Key(format!("{}: {e}", r.kid)))?;
            verifiers.insert(
                r.kid.clone(),
                Verifier {
                    key,
                    validation: signature_only(jwt_alg(r.alg)),
                },
            );
            published.push(r.public_jwk.clone());
        }
        Ok(Self {
            active: active.map(|(_, k)| k),
            extra: extra.into_iter().map(|(alg, (_, k))| (alg, k)).collect(),
            verifiers,
            jwks: json!({ "keys": published }),
        })
    }

    /// The signing key, if one is active.
    pub fn active(&self) -> Option<&SigningKey> {
        self.active.as_ref()
    }

    /// Signs with the active key.
    pub fn sign<T: Serialize>(&self, typ: &str, claims: &T) -> Result<String, CryptoError> {
        self.active
            .as_ref()
            .ok_or_else(|| CryptoError::Key("no active signing key".into()))?
            .sign(typ, claims)
    }

    /// The key that signs with `alg`: the main signing key when it has that algorithm, else the
    /// additional key of that algorithm.
    pub fn signer_for(&self, alg: SigningAlg) -> Option<&SigningKey> {
        match &self.active {
            Some(k) if k.alg == alg => Some(k),
            _ => self.extra.get(&alg),
        }
    }

    /// The ids of every key that verifies (every published key).
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.verifiers.keys().map(String::as_str)
    }

    /// Whether a key with this id verifies.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.verifiers.contains_key(kid)
    }

    /// The JWKS document.
    pub fn jwks(&self) -> &Value {
        &self.jwks
    }

    /// Verifies a JWT signed by one of our published keys with header `typ`, returning its
    /// claims. `None` for anything else: garbage, unknown `kid`, another algorithm than the key's,
    /// another `typ`, a bad signature. Time claims are the caller's to check.
    pub fn verify<T: DeserializeOwned>(&self, token: &str, typ: &str) -> Option<T> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        let verifier = self.verifiers.get(header.kid.as_deref()?)?;
        if header.typ.as_deref() != Some(typ) {
            return None;
        }
        jsonwebtoken::decode::<T>(token, &verifier.key, &verifier.validation)
            .ok()
            .map(|d| d.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{MasterKey, generate};

    #[test]
    fn additional_algorithms_sign_only_when_asked() {
        let mk = MasterKey::from_base64(&MasterKey::generate_base64().unwrap()).unwrap();
        let mut main = record(&mk, "main", SigningAlg::ES256, KeyState::Active);
        main.activated_at = Some(1);
        let mut rsa = record(&mk, "rsa", SigningAlg::RS256, KeyState::Active);
        // Newer than the main key: without the extra set it would take over signing.
        rsa.activated_at = Some(5);
        let ring = KeyRing::load_with(&[main.clone(), rsa.clone()], &mk, 10, &[SigningAlg::RS256])
            .unwrap();
        assert_eq!(ring.active().unwrap().kid(), "main");
        assert_eq!(ring.signer_for(SigningAlg::ES256).unwrap().kid(), "main");
        assert_eq!(ring.signer_for(SigningAlg::RS256).unwrap().kid(), "rsa");
        assert!(ring.signer_for(SigningAlg::EdDSA).is_none());
        let t = ring
            .signer_for(SigningAlg::RS256)
            .unwrap()
            .sign("JWT", &serde_json::json!({"sub": "x"}))
            .unwrap();
        assert_eq!(
            ring.verify::<serde_json::Value>(&t, "JWT").unwrap()["sub"],
            "x",
            "published and verifiable"
        );
        let single = KeyRing::load(&[main, rsa], &mk, 10).unwrap();
        assert_eq!(
            single.active().unwrap().kid(),
            "rsa",
            "one set: the newest signs"
        );
    }

    fn record(mk: &MasterKey, kid: &str, alg: SigningAlg, state: KeyState) -> SigningKeyRecord {
        let g = generate(alg, kid).unwrap();
        SigningKeyRecord {
            kid: kid.into(),
            alg,
            state,
            private_key_enc: mk.seal(kid, &g.pkcs8).unwrap(),
            public_jwk: g.public_jwk,
            created_at: 0,
            activated_at: None,
            retired_at: None,
            publish_until: if state == KeyState::Retired {
                Some(100)
            } else {
                None
            },
        }
    }

    #[test]
    fn signs_and_verifies_every_algorithm() {
        let mk = MasterKey::from_base64(&MasterKey::generate_base64().unwrap()).unwrap();
        for alg in [SigningAlg::ES256, SigningAlg::RS256, SigningAlg::EdDSA] {
            let ring = KeyRing::load(&[record(&mk, "a", alg, KeyState::Active)], &mk, 0).unwrap();
            let t = ring.sign("at+jwt", &json!({"sub": "x"})).unwrap();
            let c: Value = ring.verify(&t, "at+jwt").unwrap();
            assert_eq!(c["sub"], "x");
            assert!(ring.verify::<Value>(&t, "JWT").is_none(), "typ is checked");
            let mut tampered = t.clone();
            tampered.replace_range(t.len() - 4.., "AAAA");
            assert!(ring.verify::<Value>(&tampered, "at+jwt").is_none());
        }
    }

    #[test]
    fn publishes_next_and_retired_until_their_time() {
        let mk = MasterKey::from_base64(&MasterKey::generate_base64().unwrap()).unwrap();
        let keys = [
            record(&mk, "n", SigningAlg::ES256, KeyState::Next),
            record(&mk, "a", SigningAlg::ES256, KeyState::Active),
            record(&mk, "r", SigningAlg::EdDSA, KeyState::Retired),
        ];
        let ring = KeyRing::load(&keys, &mk, 50).unwrap();
        assert_eq!(ring.jwks()["keys"].as_array().unwrap().len(), 3);
        assert_eq!(ring.active().unwrap().kid(), "a");
        let later = KeyRing::load(&keys, &mk, 100).unwrap();
        assert_eq!(later.jwks()["keys"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn foreign_signatures_fail() {
        let mk = MasterKey::from_base64(&MasterKey::generate_base64().unwrap()).unwrap();
        let ours = KeyRing::load(
            &[record(&mk, "a", SigningAlg::ES256, KeyState::Active)],
            &mk,
            0,
        )
        .unwrap();
        let theirs = KeyRing::load(
            &[record(&mk, "a", SigningAlg::ES256, KeyState::Active)],
            &mk,
            0,
        )
        .unwrap();
        let t = theirs.sign("at+jwt", &json!({"sub": "x"})).unwrap();
        assert!(ours.verify::<Value>(&t, "at+jwt").is_none());
        assert!(ours.verify::<Value>("garbage", "at+jwt").is_none());
        assert!(ours.verify::<Value>("", "at+jwt").is_none());
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// What resolves a presented access token (`KeyRing::verify`) accepts only what we
        /// signed, unchanged, with the `typ` asked for: one changed character, arbitrary text
        /// and JWT-shaped junk all give `None`, never a panic.
        #[test]
        fn only_our_unchanged_tokens_verify(
            alg in prop_oneof![Just(SigningAlg::ES256), Just(SigningAlg::EdDSA)],
            at in any::<prop::sample::Index>(),
            to in "[A-Za-z0-9_.-]",
            junk in "\\PC{0,200}",
            parts in proptest::collection::vec("[A-Za-z0-9_-]{0,60}", 0..5),
        ) {
            let mk = MasterKey::from_base64(&MasterKey::generate_base64().unwrap()).unwrap();
            let ring = KeyRing::load(&[record(&mk, "a", alg, KeyState::Active)], &mk, 0).unwrap();
            let t = ring.sign("at+jwt", &json!({"sub": "x", "scope": "a b"})).unwrap();
            prop_assert!(ring.verify::<Value>(&t, "at+jwt").is_some());
            let i = at.index(t.len());
            let mut tampered = t.clone();
            tampered.replace_range(i..=i, &to);
            if tampered != t {
                prop_assert!(ring.verify::<Value>(&tampered, "at+jwt").is_none(), "at {}", i);
            }
            prop_assert!(ring.verify::<Value>(&junk, "at+jwt").is_none());
            prop_assert!(ring.verify::<Value>(&parts.join("."), "at+jwt").is_none());
        }
    }
}
