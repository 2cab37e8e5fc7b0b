//! The device certificate (the accept loop is in `listener.rs`).
//!
//! A street box has no DNS name a public CA would sign, so it makes its own
//! self-signed certificate on first start and keeps it: the technician compares the
//! SHA-256 fingerprint in the browser with the one in the journal (or on the box's
//! label) once, and it stays the same across restarts and firmware updates.

use super::WebError;
use super::files::write_private;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The certificate the page is served with.
pub struct DeviceCert {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    /// SHA-256 of the leaf certificate, `AB:CD:…`, as browsers show it.
    pub fingerprint: String,
}

impl DeviceCert {
    /// Load `cert`/`key`, or generate both when neither exists.
    pub fn load_or_create(cert: &Path, key: &Path, names: &[String]) -> Result<Self, WebError> {
        let err = |path: &Path, e: String| WebError::Certificate {
            path: path.to_path_buf(),
            message: e,
        };
        if !cert.exists() && !key.exists() {
            let ck = rcgen::generate_simple_self_signed(names.to_vec())
                .map_err(|e| err(cert, e.to_string()))?;
            write_private(key, ck.signing_key.serialize_pem().as_bytes())
                .map_err(|e| err(key, e.to_string()))?;
            write_private(cert, ck.cert.pem().as_bytes()).map_err(|e| err(cert, e.to_string()))?;
            tracing::info!(cert = %cert.display(), "web: generated a self-signed device certificate");
        }
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .map_err(|e| err(cert, e.to_string()))?
            .collect::<Result<_, _>>()
            .map_err(|e| err(cert, e.to_string()))?;
        let leaf = chain
            .first()
            .ok_or_else(|| err(cert, "no certificate in the file".into()))?;
        let fingerprint = fingerprint(leaf);
        let key = PrivateKeyDer::from_pem_file(key).map_err(|e| err(key, e.to_string()))?;
        Ok(Self {
            chain,
            key,
            fingerprint,
        })
    }

    pub fn server_config(&self) -> Result<rustls::ServerConfig, WebError> {
        let tls = |e: rustls::Error| WebError::Certificate {
            path: PathBuf::new(),
            message: e.to_string(),
        };
        // An explicit provider: the process-wide default panics when two crates
        // enable different ones.
        let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(tls)?
        .with_no_client_auth()
        .with_single_cert(self.chain.clone(), self.key.clone_key())
        .map_err(tls)?;
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(cfg)
    }
}

/// `AB:CD:…` SHA-256 of a DER certificate.
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}
