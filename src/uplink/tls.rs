//! rustls client configuration for the broker (server verification against a CA file,
//! optional client certificate for mutual TLS), with the `ring` provider, and the
//! checks every TLS file goes through first.
//!
//! A TLS file is taken for what it claims only after it parses as such: each
//! certificate as X.509 (webpki, the parser rustls verifies peers with), the key with
//! the crypto provider that will sign with it, and a client key must be the private half
//! of its certificate. Uploads from the page are held to a stricter layout than files
//! named in the config file: nothing but PEM blocks of the expected kind and blank
//! lines. Measured before: an ELF executable with a PEM certificate appended passed as
//! a "CA certificate" because only the PEM block was looked at.

use super::UplinkError;
use super::config::TlsConfig;
use rustls::pki_types::pem::{PemObject, SectionKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

/// How much of a file besides its PEM blocks is tolerated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Uploaded through the page: PEM blocks of the expected kind and blank lines,
    /// nothing else (no binary data, no text before, between or after).
    Strict,
    /// Named in the config file by the box's administrator: text around the blocks
    /// (`openssl x509 -text` output, bundle comments) is allowed; the blocks must
    /// still parse.
    Lenient,
}

/// What a TLS file is meant to hold, for messages and the allowed PEM labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFileKind {
    Ca,
    ClientCert,
    ClientKey,
}

impl TlsFileKind {
    fn what(self) -> &'static str {
        match self {
            TlsFileKind::Ca => "the CA certificate",
            TlsFileKind::ClientCert => "the client certificate",
            TlsFileKind::ClientKey => "the client private key",
        }
    }

    fn fix(self) -> &'static str {
        match self {
            TlsFileKind::Ca | TlsFileKind::ClientCert => {
                "use the PEM file (-----BEGIN CERTIFICATE----- … -----END CERTIFICATE-----) \
                 the broker's operator gave you, with nothing before or after the blocks"
            }
            TlsFileKind::ClientKey => {
                "use the unencrypted PEM private key (-----BEGIN PRIVATE KEY-----, RSA or EC) \
                 that belongs to the client certificate, with nothing before or after it"
            }
        }
    }

    /// PEM labels this file may contain (others are refused in a strict upload).
    fn labels(self) -> &'static [&'static str] {
        match self {
            TlsFileKind::Ca | TlsFileKind::ClientCert => &["CERTIFICATE"],
            // `openssl ecparam -genkey` writes the curve's parameters before the key.
            TlsFileKind::ClientKey => &[
                "PRIVATE KEY",
                "RSA PRIVATE KEY",
                "EC PRIVATE KEY",
                "EC PARAMETERS",
            ],
        }
    }
}

fn refused(name: &str, kind: TlsFileKind, why: impl std::fmt::Display) -> UplinkError {
    UplinkError::TlsFile(format!(
        "{name} is not {}: {why}; {}",
        kind.what(),
        kind.fix()
    ))
}

/// Strict layout: valid text, only `-----BEGIN X-----`/`-----END X-----` blocks with an
/// allowed label, blank lines between them.
fn check_layout(bytes: &[u8], name: &str, kind: TlsFileKind) -> Result<(), UplinkError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        refused(
            name,
            kind,
            format!(
                "it holds binary data (byte {} is not text; a PEM file is plain text)",
                e.valid_up_to()
            ),
        )
    })?;
    if let Some(at) = text.find(|c: char| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(refused(
            name,
            kind,
            format!(
                "it holds binary data (a control character at byte {at}; a PEM file is plain text)"
            ),
        ));
    }
    let mut open: Option<&str> = None;
    for (n, line) in text.lines().enumerate() {
        let l = line.trim();
        let marker = |prefix: &str| {
            l.strip_prefix(prefix)
                .and_then(|r| r.strip_suffix("-----"))
                .map(str::to_string)
        };
        match open {
            None if l.is_empty() => {}
            None => match marker("-----BEGIN ") {
                Some(label) if kind.labels().contains(&label.as_str()) => {
                    open = kind.labels().iter().copied().find(|x| *x == label);
                }
                Some(label) => {
                    return Err(refused(
                        name,
                        kind,
                        format!("line {}: a \"{label}\" block does not belong here", n + 1),
                    ));
                }
                None => {
                    return Err(refused(
                        name,
                        kind,
                        format!("line {}: text outside the PEM blocks", n + 1),
                    ));
                }
            },
            Some(label) => {
                if let Some(end) = marker("-----END ") {
                    if end != label {
                        return Err(refused(
                            name,
                            kind,
                            format!("line {}: END {end} closes a BEGIN {label} block", n + 1),
                        ));
                    }
                    open = None;
                }
            }
        }
    }
    if let Some(label) = open {
        return Err(refused(
            name,
            kind,
            format!("the {label} block has no END line"),
        ));
    }
    Ok(())
}

/// The certificates of a CA or client certificate file, each parsed as X.509.
/// `name` labels messages (a path or "the uploaded file").
pub fn parse_certificates(
    bytes: &[u8],
    name: &str,
    kind: TlsFileKind,
    layout: Layout,
) -> Result<Vec<CertificateDer<'static>>, UplinkError> {
    if layout == Layout::Strict {
        check_layout(bytes, name, kind)?;
    }
    let mut certs = Vec::new();
    for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(bytes) {
        let (section, der) = section.map_err(|e| refused(name, kind, format!("bad PEM ({e})")))?;
        if section != SectionKind::Certificate {
            if layout == Layout::Strict {
                return Err(refused(
                    name,
                    kind,
                    "it holds a block that is not a certificate",
                ));
            }
            continue;
        }
        let der = CertificateDer::from(der);
        rustls::server::ParsedCertificate::try_from(&der).map_err(|e| {
            refused(
                name,
                kind,
                format!("certificate {} is not valid X.509 ({e})", certs.len() + 1),
            )
        })?;
        certs.push(der);
    }
    if certs.is_empty() {
        return Err(refused(
            name,
            kind,
            "it holds no PEM certificate (BEGIN CERTIFICATE)",
        ));
    }
    if kind == TlsFileKind::Ca {
        // The same parse the uplink's verifier does with these roots.
        let mut roots = rustls::RootCertStore::empty();
        for (i, c) in certs.iter().enumerate() {
            roots.add(c.clone()).map_err(|e| {
                refused(
                    name,
                    kind,
                    format!("certificate {} cannot be a trust anchor ({e})", i + 1),
                )
            })?;
        }
    }
    Ok(certs)
}

/// The private key of a client key file, loaded by the crypto provider that will sign
/// with it. Its content never appears in a message.
pub fn parse_private_key(
    bytes: &[u8],
    name: &str,
    layout: Layout,
) -> Result<PrivateKeyDer<'static>, UplinkError> {
    let kind = TlsFileKind::ClientKey;
    if layout == Layout::Strict {
        check_layout(bytes, name, kind)?;
    }
    let mut keys = Vec::new();
    for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(bytes) {
        // The PEM error names only the structure, never the key's bytes.
        let (section, der) = section.map_err(|_| refused(name, kind, "bad PEM"))?;
        if let Some(k) = PrivateKeyDer::from_pem(section, der) {
            keys.push(k);
        }
    }
    let key = match keys.len() {
        0 => {
            let encrypted = String::from_utf8_lossy(bytes).contains("ENCRYPTED PRIVATE KEY");
            return Err(refused(
                name,
                kind,
                if encrypted {
                    "the key is encrypted (decrypt it: openssl pkey -in key.pem -out plain.pem)"
                } else {
                    "it holds no PEM private key (PKCS#8, PKCS#1 or SEC1)"
                },
            ));
        }
        1 => keys.remove(0),
        n => {
            return Err(refused(
                name,
                kind,
                format!("it holds {n} private keys, not one"),
            ));
        }
    };
    provider()
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|_| {
            refused(
                name,
                kind,
                "the key cannot be loaded (unsupported or damaged)",
            )
        })?;
    Ok(key)
}

/// Whether `key` is the private half of `cert`'s public key.
pub fn check_key_matches(
    cert: &CertificateDer<'static>,
    key: &PrivateKeyDer<'static>,
    key_name: &str,
) -> Result<(), UplinkError> {
    let signing = provider()
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|_| {
            refused(
                key_name,
                TlsFileKind::ClientKey,
                "the key cannot be loaded (unsupported or damaged)",
            )
        })?;
    match rustls::sign::CertifiedKey::new(vec![cert.clone()], signing).keys_match() {
        Ok(()) => Ok(()),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(UplinkError::TlsFile(format!(
                "{key_name} does not belong to the client certificate (its public key differs); \
                 upload the private key that was made with this certificate, or the \
                 certificate that goes with this key"
            )))
        }
        Err(e) => Err(UplinkError::TlsFile(format!(
            "{key_name}: cannot compare the key with the client certificate ({e})"
        ))),
    }
}

fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

fn read(path: &Path) -> Result<Vec<u8>, UplinkError> {
    std::fs::read(path)
        .map_err(|e| UplinkError::Tls(format!("cannot read {}: {e}", path.display())))
}

/// Build the rustls client config from PEM files.
pub fn client_config(tls: &TlsConfig) -> Result<rustls::ClientConfig, UplinkError> {
    let ca_name = tls.ca_file.display().to_string();
    let ca = parse_certificates(
        &read(&tls.ca_file)?,
        &ca_name,
        TlsFileKind::Ca,
        Layout::Lenient,
    )?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in ca {
        roots
            .add(cert)
            .map_err(|e| UplinkError::Tls(format!("{ca_name}: {e}")))?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| UplinkError::Tls(e.to_string()))?
        .with_root_certificates(roots);
    match (&tls.client_cert, &tls.client_key) {
        (Some(cert), Some(key)) => {
            let chain = parse_certificates(
                &read(cert)?,
                &cert.display().to_string(),
                TlsFileKind::ClientCert,
                Layout::Lenient,
            )?;
            let key_name = key.display().to_string();
            let key_der = parse_private_key(&read(key)?, &key_name, Layout::Lenient)?;
            check_key_matches(&chain[0], &key_der, &key_name)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate and its key, PEM.
    fn pair(name: &str) -> (String, String) {
        let ck = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
        (ck.cert.pem(), ck.signing_key.serialize_pem())
    }

    #[test]
    fn a_real_certificate_passes_and_an_elf_with_one_appended_does_not() {
        let (cert, _) = pair("broker.example");
        assert_eq!(
            parse_certificates(cert.as_bytes(), "ca.pem", TlsFileKind::Ca, Layout::Strict)
                .unwrap()
                .len(),
            1
        );
        let mut elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x03\0>\0".to_vec();
        elf.extend_from_slice(b"\n");
        elf.extend_from_slice(cert.as_bytes());
        let e = parse_certificates(&elf, "ca.pem", TlsFileKind::Ca, Layout::Strict)
            .unwrap_err()
            .to_string();
        assert!(e.contains("ca.pem") && e.contains("binary data"), "{e}");
        // Text around the block: refused in an upload, accepted from the config file.
        let noted = format!("subject=CN = broker\n{cert}trailing words\n");
        let e = parse_certificates(noted.as_bytes(), "up", TlsFileKind::Ca, Layout::Strict)
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 1: text outside the PEM blocks"), "{e}");
        parse_certificates(noted.as_bytes(), "f", TlsFileKind::Ca, Layout::Lenient).unwrap();
    }

    #[test]
    fn a_pem_block_that_is_not_x509_is_refused() {
        let fake = "-----BEGIN CERTIFICATE-----\nTUlJPQ==\n-----END CERTIFICATE-----\n";
        let e = parse_certificates(fake.as_bytes(), "ca.pem", TlsFileKind::Ca, Layout::Lenient)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not valid X.509"), "{e}");
        let (_, key) = pair("x");
        let e = parse_certificates(key.as_bytes(), "ca.pem", TlsFileKind::Ca, Layout::Strict)
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not belong here"), "{e}");
        assert!(
            !e.contains(key.lines().nth(1).unwrap()),
            "no key bytes in {e}"
        );
    }

    #[test]
    fn a_key_must_parse_and_match_its_certificate() {
        let (cert, key) = pair("box");
        let (_, other_key) = pair("box");
        let chain = parse_certificates(
            cert.as_bytes(),
            "c",
            TlsFileKind::ClientCert,
            Layout::Strict,
        )
        .unwrap();
        let k = parse_private_key(key.as_bytes(), "k", Layout::Strict).unwrap();
        check_key_matches(&chain[0], &k, "k").unwrap();
        let other = parse_private_key(other_key.as_bytes(), "k2", Layout::Strict).unwrap();
        let e = check_key_matches(&chain[0], &other, "k2")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("k2 does not belong to the client certificate"),
            "{e}"
        );
        let e = parse_private_key(cert.as_bytes(), "k", Layout::Strict)
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not belong here"), "{e}");
        let two = format!("{key}{other_key}");
        assert!(parse_private_key(two.as_bytes(), "k", Layout::Strict).is_err());
    }
}
