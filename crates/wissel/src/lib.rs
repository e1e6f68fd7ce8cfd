//! The wissel binary as a library: configuration, start-up and the demo, so that tests start
//! real nodes in-process exactly as `wissel serve` does.

pub mod config;
pub mod demo;
pub mod demo_api;
pub mod listener;
pub mod provision;
pub mod server;
pub mod tls;
pub mod withdraw;

use std::path::Path;

use anyhow::Context;
use wissel_crypto::keys::MasterKey;

/// The environment variable holding the master key (base64 of 32 bytes).
pub const MASTER_KEY_ENV: &str = "WISSEL_MASTER_KEY";

/// The master key: `WISSEL_MASTER_KEY`, else the configured `keys.master_key_file`.
pub fn master_key(file: Option<&Path>) -> anyhow::Result<MasterKey> {
    // The text of the key is wiped once parsed.
    if let Ok(v) = std::env::var(MASTER_KEY_ENV).map(zeroize::Zeroizing::new) {
        return MasterKey::from_base64(&v)
            .with_context(|| format!("{MASTER_KEY_ENV} is not usable"));
    }
    let Some(path) = file else {
        anyhow::bail!(
            "no master key: set {MASTER_KEY_ENV} or keys.master_key_file (make one with `wissel keys master-key`)"
        );
    };
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path)
            .with_context(|| format!("reading master key file {}", path.display()))?,
    );
    MasterKey::from_base64(&text).with_context(|| format!("master key file {}", path.display()))
}
