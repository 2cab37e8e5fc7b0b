//! rustls client configuration for the broker (server verification against a CA file,
//! optional client certificate for mutual TLS), with the `ring` provider.

use super::UplinkError;
use super::config::TlsConfig;
use std::path::Path;
use std::sync::Arc;

fn read(path: &Path) -> Result<Vec<u8>, UplinkError> {
    std::fs::read(path)
        .map_err(|e| UplinkError::Tls(format!("cannot read {}: {e}", path.display())))
}

/// Build the rustls client config from PEM files.
pub fn client_config(tls: &TlsConfig) -> Result<rustls::ClientConfig, UplinkError> {
    let mut roots = rustls::RootCertStore::empty();
    let ca = read(&tls.ca_file)?;
    for cert in rustls_pemfile::certs(&mut ca.as_slice()) {
        let cert = cert.map_err(|e| UplinkError::Tls(format!("{}: {e}", tls.ca_file.display())))?;
        roots
            .add(cert)
            .map_err(|e| UplinkError::Tls(format!("{}: {e}", tls.ca_file.display())))?;
    }
    if roots.is_empty() {
        return Err(UplinkError::Tls(format!(
            "{} holds no PEM certificate",
            tls.ca_file.display()
        )));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| UplinkError::Tls(e.to_string()))?
        .with_root_certificates(roots);
    match (&tls.client_cert, &tls.client_key) {
        (Some(cert), Some(key)) => {
            let cert_pem = read(cert)?;
            let chain = rustls_pemfile::certs(&mut cert_pem.as_slice())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| UplinkError::Tls(format!("{}: {e}", cert.display())))?;
            let key_pem = read(key)?;
            // The key file's content is never put into an error message.
            let key_der = rustls_pemfile::private_key(&mut key_pem.as_slice())
                .map_err(|_| UplinkError::Tls(format!("{}: not a PEM private key", key.display())))?
                .ok_or_else(|| {
                    UplinkError::Tls(format!("{}: no private key found", key.display()))
                })?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| UplinkError::Tls(format!("client certificate/key: {e}")))
        }
        (None, None) => Ok(builder.with_no_client_auth()),
        _ => Err(UplinkError::Tls(
            "uplink.tls: client_cert and client_key go together".into(),
        )),
    }
}
