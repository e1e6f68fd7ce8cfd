//! The JWT parsers on arbitrary input: client assertions (`verify_assertion` against a client's
//! key set) and our own access tokens (`KeyRing::verify` into the access-token claims, as
//! `tokens::resolve` does). Nothing the fuzzer makes is signed by either key, so nothing may
//! verify. The input is tried as is, and split at `.` with each part base64url-encoded, so that
//! the fuzzer reaches the header and claims parsers. Seeds: `corpus/jwt/`.
#![no_main]

use std::sync::LazyLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use wissel_core::model::{AssertionAudience, KeyState, SigningAlg, SigningKeyRecord};
use wissel_crypto::assertion::{AssertionCheck, verify_assertion};
use wissel_crypto::keyring::KeyRing;
use wissel_crypto::keys::{MasterKey, generate};
use wissel_http::tokens::{AT_JWT_TYP, JwtAccessClaims};

struct Keys {
    ring: KeyRing,
    client: jsonwebtoken::jwk::JwkSet,
}

static KEYS: LazyLock<Keys> = LazyLock::new(|| {
    let master = MasterKey::from_base64(&MasterKey::generate_base64().unwrap()).unwrap();
    let ours = generate(SigningAlg::ES256, "k1").unwrap();
    let record = SigningKeyRecord {
        kid: "k1".into(),
        alg: SigningAlg::ES256,
        state: KeyState::Active,
        private_key_enc: master.seal("k1", &ours.pkcs8).unwrap(),
        public_jwk: ours.public_jwk,
        created_at: 0,
        activated_at: Some(0),
        retired_at: None,
        publish_until: None,
    };
    let ring = KeyRing::load(&[record], &master, 0).unwrap();
    let theirs = generate(SigningAlg::ES256, "c1").unwrap();
    let client = serde_json::from_value(serde_json::json!({"keys": [theirs.public_jwk]})).unwrap();
    Keys { ring, client }
});

fn check(token: &str) {
    let keys = &*KEYS;
    let asserted = verify_assertion(
        token,
        &keys.client,
        AssertionCheck {
            client_id: "c",
            issuer: "https://id.example",
            endpoints: &["https://id.example/token"],
            audience: AssertionAudience::IssuerOrEndpoint,
            alg: SigningAlg::ES256,
            now: 1_000,
        },
    );
    assert!(asserted.is_err(), "an unsigned assertion verified");
    assert!(
        keys.ring
            .verify::<JwtAccessClaims>(token, AT_JWT_TYP)
            .is_none(),
        "an unsigned access token verified"
    );
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        check(text);
    }
    let parts: Vec<String> = data
        .splitn(3, |b| *b == b'.')
        .map(|p| URL_SAFE_NO_PAD.encode(p))
        .collect();
    check(&parts.join("."));
});
