//! The TLS side of serving HTTPS: the rustls (aws-lc-rs) acceptor that `listener::serve` runs
//! each connection's handshake through, so that the handshake timeout stays in our hands and the
//! client certificate reaches the handlers (mutual TLS for `tls_client_auth` and the MedMij
//! profile). TLS 1.2 and 1.3 (preferred, rustls negotiates the highest), no False Start (rustls
//! has none).
//!
//! With trusted client CAs configured, the server asks every client for a certificate but does
//! not require one (a browser at the authorization endpoint has none); a certificate that is
//! presented must chain to a trusted CA and be valid now, or the handshake fails. Which
//! endpoints need a certificate, and for which name, is the handlers' business.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// A TLS acceptor from PEM files: the certificate chain (leaf first) and its private key, and
/// the CAs whose client certificates are accepted.
pub fn acceptor(
    cert_file: &Path,
    key_file: &Path,
    client_ca_file: Option<&Path>,
) -> anyhow::Result<TlsAcceptor> {
    let certs = CertificateDer::pem_file_iter(cert_file)
        .with_context(|| format!("reading {}", cert_file.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing {}", cert_file.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "{} holds no certificate",
        cert_file.display()
    );
    let key = PrivateKeyDer::from_pem_file(key_file)
        .with_context(|| format!("reading {}", key_file.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = match client_ca_file {
        None => builder.with_no_client_auth(),
        Some(ca_file) => {
            let mut roots = rustls::RootCertStore::empty();
            for ca in CertificateDer::pem_file_iter(ca_file)
                .with_context(|| format!("reading {}", ca_file.display()))?
            {
                let ca = ca.with_context(|| format!("parsing {}", ca_file.display()))?;
                roots.add(ca).with_context(|| {
                    format!("{}: not a usable CA certificate", ca_file.display())
                })?;
            }
            anyhow::ensure!(
                !roots.is_empty(),
                "{} holds no certificate",
                ca_file.display()
            );
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .allow_unauthenticated()
            .build()
            .context("the client CA certificates are unusable")?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .context("the TLS certificate and key do not match")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
