//! Cryptography for wissel: signing keys (generation, encryption at rest, rotation), a JWS
//! signer over pre-parsed keys, verification of our own tokens and of client assertions,
//! server-generated secrets and user password digests.

pub mod assertion;
pub mod keyring;
pub mod keys;
pub mod password;
pub mod pkce;
pub mod rotation;
pub mod secret;

/// A cryptographic failure that is not the caller's fault.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// Key material could not be generated, parsed or used.
    #[error("key error: {0}")]
    Key(String),
    /// The master key is missing or malformed.
    #[error("master key: {0}")]
    MasterKey(String),
    /// A stored key could not be decrypted with the master key.
    #[error("cannot decrypt signing key {0}: wrong master key?")]
    Decrypt(String),
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
