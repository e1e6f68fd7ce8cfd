//! Signing keys: generation, the public JWK, and encryption of the private key at rest with the
//! master key (AES-256-GCM, the key id as associated data).

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use base64::Engine;
use serde_json::{Value, json};
use wissel_core::model::SigningAlg;
use zeroize::Zeroizing;

use crate::{CryptoError, b64};

/// The key that encrypts signing keys at rest: 32 bytes.
pub struct MasterKey(LessSafeKey);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(…)")
    }
}

impl MasterKey {
    /// Parses a base64 (standard or url-safe) encoding of 32 bytes; surrounding whitespace is
    /// ignored so that key files may end in a newline.
    pub fn from_base64(s: &str) -> Result<Self, CryptoError> {
        let s = s.trim();
        // The decoded key is wiped when dropped; aws-lc keeps (and cleanses) its own copy.
        let bytes = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s))
                .map_err(|_| CryptoError::MasterKey("not base64".into()))?,
        );
        if bytes.len() != 32 {
            return Err(CryptoError::MasterKey(format!(
                "{} bytes; 32 needed",
                bytes.len()
            )));
        }
        let key = UnboundKey::new(&AES_256_GCM, bytes.as_slice())
            .map_err(|_| CryptoError::MasterKey("unusable".into()))?;
        Ok(Self(LessSafeKey::new(key)))
    }

    /// A new random master key, base64.
    pub fn generate_base64() -> Result<String, CryptoError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        SystemRandom::new()
            .fill(bytes.as_mut())
            .map_err(|_| CryptoError::MasterKey("no randomness".into()))?;
        Ok(base64::engine::general_purpose::STANDARD.encode(bytes.as_ref()))
    }

    /// Encrypts `plain`, binding it to `kid`: nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, kid: &str, plain: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| CryptoError::Key("no randomness".into()))?;
        // Encrypted in place: if sealing fails, the plaintext copy is wiped on drop.
        let mut buf = Zeroizing::new(plain.to_vec());
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(kid.as_bytes()),
                &mut *buf,
            )
            .map_err(|_| CryptoError::Key("encryption failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(out)
    }

    /// Decrypts what [`MasterKey::seal`] produced for `kid`. The plaintext (a private key) is
    /// wiped from memory when the returned value is dropped.
    pub fn open(&self, kid: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if sealed.len() < NONCE_LEN {
            return Err(CryptoError::Decrypt(kid.into()));
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| CryptoError::Decrypt(kid.into()))?;
        let mut buf = Zeroizing::new(rest.to_vec());
        let len = self
            .0
            .open_in_place(nonce, Aad::from(kid.as_bytes()), buf.as_mut_slice())
            .map_err(|_| CryptoError::Decrypt(kid.into()))?
            .len();
        // The tag follows the plaintext; cut it off in place, without another copy.
        buf.truncate(len);
        Ok(buf)
    }
}

/// A freshly generated key: its PKCS#8 private key and its public JWK.
pub struct GeneratedKey {
    /// PKCS#8 DER of the private key, wiped from memory when dropped.
    pub pkcs8: Zeroizing<Vec<u8>>,
    /// The public JWK with `kid`, `use` and `alg`.
    pub public_jwk: Value,
}

/// Generates a key pair for `alg`.
pub fn generate(alg: SigningAlg, kid: &str) -> Result<GeneratedKey, CryptoError> {
    let err = |e: &dyn std::fmt::Display| CryptoError::Key(e.to_string());
    let pkcs8 = match alg {
        SigningAlg::ES256 => EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
            .and_then(|k| k.to_pkcs8v1())
            .map_err(|e| err(&e))?
            .as_ref()
            .to_vec(),
        SigningAlg::RS256 => RsaKeyPair::generate(KeySize::Rsa2048)
            .map_err(|e| err(&e))
            .and_then(|k| k.as_der().map_err(|e| err(&e)))?
            .as_ref()
            .to_vec(),
        SigningAlg::EdDSA => Ed25519KeyPair::generate()
            .and_then(|k| k.to_pkcs8())
            .map_err(|e| err(&e))?
            .as_ref()
            .to_vec(),
    };
    let pkcs8 = Zeroizing::new(pkcs8);
    let public_jwk = public_jwk(alg, kid, &pkcs8)?;
    Ok(GeneratedKey { pkcs8, public_jwk })
}

/// The public JWK of a PKCS#8 private key.
pub fn public_jwk(alg: SigningAlg, kid: &str, pkcs8: &[u8]) -> Result<Value, CryptoError> {
    let err = |e: &dyn std::fmt::Display| CryptoError::Key(e.to_string());
    let mut jwk = match alg {
        SigningAlg::ES256 => {
            let k = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
                .map_err(|e| err(&e))?;
            let point = k.public_key().as_ref();
            // Uncompressed SEC1 point: 0x04 ‖ x ‖ y.
            let (x, y) = point
                .get(1..33)
                .zip(point.get(33..65))
                .ok_or_else(|| CryptoError::Key("unexpected P-256 point".into()))?;
            json!({"kty": "EC", "crv": "P-256", "x": b64(x), "y": b64(y)})
        }
        SigningAlg::RS256 => {
            let k = RsaKeyPair::from_pkcs8(pkcs8).map_err(|e| err(&e))?;
            let pk = k.public_key();
            json!({
                "kty": "RSA",
                "n": b64(pk.modulus().big_endian_without_leading_zero()),
                "e": b64(pk.exponent().big_endian_without_leading_zero()),
            })
        }
        SigningAlg::EdDSA => {
            let k = Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|e| err(&e))?;
            json!({"kty": "OKP", "crv": "Ed25519", "x": b64(k.public_key().as_ref())})
        }
    };
    if let Some(obj) = jwk.as_object_mut() {
        obj.insert("kid".into(), Value::String(kid.into()));
        obj.insert("use".into(), Value::String("sig".into()));
        obj.insert("alg".into(), Value::String(alg.as_str().into()));
    }
    Ok(jwk)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_binds_kid() {
        let mk = MasterKey::from_base64(&MasterKey::generate_base64().unwrap()).unwrap();
        let sealed = mk.seal("k1", b"secret").unwrap();
        assert_eq!(mk.open("k1", &sealed).unwrap().as_slice(), b"secret");
        assert!(mk.open("k2", &sealed).is_err());
        let other = MasterKey::from_base64(&MasterKey::generate_base64().unwrap()).unwrap();
        assert!(other.open("k1", &sealed).is_err());
        assert!(MasterKey::from_base64("c2hvcnQ=").is_err());
    }

    /// Compiles only for values that wipe their memory when dropped.
    fn wiped_on_drop<T: zeroize::ZeroizeOnDrop>(_: &T) {}

    #[test]
    fn private_keys_in_clear_are_wiped_when_dropped() {
        let mk = MasterKey::from_base64(&MasterKey::generate_base64().unwrap()).unwrap();
        let k = generate(SigningAlg::ES256, "k1").unwrap();
        wiped_on_drop(&k.pkcs8);
        let sealed = mk.seal("k1", &k.pkcs8).unwrap();
        let opened = mk.open("k1", &sealed).unwrap();
        wiped_on_drop(&opened);
        assert_eq!(
            opened.as_slice(),
            k.pkcs8.as_slice(),
            "the tag is cut off in place"
        );
    }

    #[test]
    fn generates_every_algorithm() {
        for alg in [SigningAlg::ES256, SigningAlg::RS256, SigningAlg::EdDSA] {
            let k = generate(alg, "kid").unwrap();
            assert_eq!(k.public_jwk["alg"], alg.as_str());
            assert_eq!(k.public_jwk["use"], "sig");
            assert_eq!(k.public_jwk["kid"], "kid");
        }
    }
}
