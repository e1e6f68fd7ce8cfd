//! The API's client assertion for `private_key_jwt` (RFC 7523 §2.2), signed over a key parsed once.

use aws_lc_rs::{
    rand::{SecureRandom, SystemRandom},
    signature::{
        ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
    },
};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use jsonwebtoken::Algorithm;
use serde_json::json;

use crate::{ConfigError, ValidationError, error::unavailable};

/// How long an assertion is valid: short, as it is used at once.
const LIFETIME: i64 = 60;

/// Signs client assertions with the API's private key.
pub(crate) struct AssertionSigner {
    key: SigningKey,
    alg: Algorithm,
    kid: Option<String>,
    rng: SystemRandom,
}

enum SigningKey {
    Ecdsa(EcdsaKeyPair),
    Rsa(RsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

impl AssertionSigner {
    /// Parses a PKCS#8 PEM private key for `alg` (ES256, RS256 or EdDSA).
    pub(crate) fn from_pem(
        pem: &str,
        alg: Algorithm,
        kid: Option<String>,
    ) -> Result<Self, ConfigError> {
        let der = pkcs8_der(pem)?;
        let rejected =
            |e: aws_lc_rs::error::KeyRejected| ConfigError::Key(format!("not a {alg:?} key: {e}"));
        let key = match alg {
            Algorithm::ES256 => SigningKey::Ecdsa(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
                    .map_err(rejected)?,
            ),
            Algorithm::RS256 => SigningKey::Rsa(RsaKeyPair::from_pkcs8(&der).map_err(rejected)?),
            Algorithm::EdDSA => {
                SigningKey::Ed25519(Ed25519KeyPair::from_pkcs8(&der).map_err(rejected)?)
            }
            other => return Err(ConfigError::Algorithm(other)),
        };
        Ok(Self {
            key,
            alg,
            kid,
            rng: SystemRandom::new(),
        })
    }

    /// A fresh assertion: `iss` = `sub` = the client id, `aud` the authorization server, a random
    /// single-use `jti`, valid for a minute from `now`.
    pub(crate) fn sign(
        &self,
        client_id: &str,
        audience: &str,
        now: i64,
    ) -> Result<String, ValidationError> {
        let mut jti = [0u8; 16];
        self.rng
            .fill(&mut jti)
            .map_err(|_| unavailable("no randomness for the client assertion"))?;
        let mut header = json!({ "alg": self.alg, "typ": "JWT" });
        if let Some(kid) = &self.kid {
            header["kid"] = json!(kid);
        }
        let claims = json!({
            "iss": client_id,
            "sub": client_id,
            "aud": audience,
            "iat": now,
            "exp": now + LIFETIME,
            "jti": URL_SAFE_NO_PAD.encode(jti),
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let failed = |_| unavailable("signing the client assertion failed");
        let signature = match &self.key {
            SigningKey::Ecdsa(key) => key
                .sign(&self.rng, signing_input.as_bytes())
                .map_err(failed)?
                .as_ref()
                .to_vec(),
            SigningKey::Rsa(key) => {
                let mut signature = vec![0; key.public_modulus_len()];
                key.sign(
                    &RSA_PKCS1_SHA256,
                    &self.rng,
                    signing_input.as_bytes(),
                    &mut signature,
                )
                .map_err(failed)?;
                signature
            }
            SigningKey::Ed25519(key) => key.sign(signing_input.as_bytes()).as_ref().to_vec(),
        };
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}

/// The DER inside a `-----BEGIN PRIVATE KEY-----` PEM block.
fn pkcs8_der(pem: &str) -> Result<Vec<u8>, ConfigError> {
    const BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
    const END: &str = "-----END PRIVATE KEY-----";
    let body = pem
        .split_once(BEGIN)
        .and_then(|(_, rest)| rest.split_once(END))
        .map(|(body, _)| body)
        .ok_or_else(|| ConfigError::Key(format!("expected a PKCS#8 PEM block ({BEGIN})")))?;
    let base64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD
        .decode(base64)
        .map_err(|e| ConfigError::Key(format!("PEM body: {e}")))
}
