//! `Authorization: Basic` parsing on arbitrary header values, and on arbitrary bytes behind a
//! valid base64 layer (so that the fuzzer reaches the `id:secret` and percent-decoding rules).
//! Seeds: `corpus/basic_auth/`.
#![no_main]

use base64::Engine;
use libfuzzer_sys::fuzz_target;
use wissel_http::client_auth::parse_basic;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some((id, _)) = parse_basic(text) {
            assert!(!id.is_empty());
        }
    }
    let wrapped = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(data)
    );
    if let Some((id, secret)) = parse_basic(&wrapped) {
        assert!(!id.is_empty());
        // Decoding never grows a value: `%XX` is three bytes for one, `+` one for one.
        assert!(id.len() + secret.len() < data.len());
    }
});
