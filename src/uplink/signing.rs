//! Evidence signing: a per-device ed25519 key and a deterministic canonical JSON form
//! of an event, so the platform can prove an event and its media came from this box
//! unaltered.
//!
//! Canonical form (what is signed): the event JSON object **without** its `signature`
//! member, re-serialised with object keys sorted by their UTF-8 bytes (recursively), no
//! insignificant whitespace, strings escaped as serde_json does (only `"`, `\` and
//! control characters; everything else literal UTF-8), numbers in their shortest
//! round-trip form (integers as integers). The media list is part of it, so the
//! signature covers every media file's sha256 and size.

use super::UplinkError;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::Path;

/// File name of the device key under the state directory (hex seed, mode 0600).
pub const KEY_FILE: &str = "device-key.ed25519";
/// File name of the public key beside it (base64), for technicians and `verify`.
pub const PUBKEY_FILE: &str = "device-key.pub";

/// The box's signing identity.
pub struct DeviceKey {
    key: SigningKey,
}

/// Never prints the secret.
impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeviceKey({})", self.key_id())
    }
}

impl DeviceKey {
    /// Load the key from `state_dir`, generating it on first start.
    pub fn load_or_create(state_dir: &Path) -> Result<Self, UplinkError> {
        let path = state_dir.join(KEY_FILE);
        let io = |source| UplinkError::Key {
            path: path.clone(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let seed = hex::decode(text.trim())
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .ok_or_else(|| io(std::io::Error::other("not a 32-byte hex ed25519 seed")))?;
                Ok(Self {
                    key: SigningKey::from_bytes(&seed),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(state_dir).map_err(io)?;
                let key = SigningKey::generate(&mut rand_core::OsRng);
                crate::config::write_atomic_mode(
                    &path,
                    hex::encode(key.to_bytes()).as_bytes(),
                    0o600,
                )
                .map_err(io)?;
                let me = Self { key };
                let _ = crate::config::write_atomic(
                    &state_dir.join(PUBKEY_FILE),
                    format!("{}\n", me.public_key_b64()).as_bytes(),
                );
                Ok(me)
            }
            Err(e) => Err(io(e)),
        }
    }

    /// A key from a fixed seed (tests and benches).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self {
            key: SigningKey::from_bytes(&seed),
        }
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// Public key, base64 of the 32 raw bytes (published on `…/status`).
    pub fn public_key_b64(&self) -> String {
        B64.encode(self.key.verifying_key().to_bytes())
    }

    /// First 16 hex characters of sha256(public key).
    pub fn key_id(&self) -> String {
        key_id(&self.key.verifying_key())
    }

    /// Sign `event` in place (replacing any previous signature).
    pub fn sign(&self, event: &mut crate::rules::event::Event) -> Result<(), UplinkError> {
        event.signature = None;
        let text = serde_json::to_string(event).map_err(UplinkError::Json)?;
        let value: Value = serde_json::from_str(&text).map_err(UplinkError::Json)?;
        let sig = self.key.sign(canonical_json(&value).as_bytes());
        event.signature = Some(crate::rules::event::Signature {
            alg: "ed25519".into(),
            key_id: self.key_id(),
            value: B64.encode(sig.to_bytes()),
        });
        Ok(())
    }
}

/// Key id of a public key: first 16 hex characters of its sha256.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(Sha256::digest(key.to_bytes()))[..16].to_string()
}

/// The device's public key (base64) and key id from `state_dir`, for display (the web
/// page); `None` before the uplink first started there.
pub fn read_public_key(state_dir: &Path) -> Option<(String, String)> {
    let text = std::fs::read_to_string(state_dir.join(PUBKEY_FILE)).ok()?;
    let key = parse_public_key(&text).ok()?;
    Some((B64.encode(key.to_bytes()), key_id(&key)))
}

/// Parse a base64 (or hex) raw ed25519 public key.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, String> {
    let t = text.trim();
    let bytes = B64
        .decode(t)
        .ok()
        .filter(|b| b.len() == 32)
        .or_else(|| hex::decode(t).ok())
        .ok_or("public key is neither base64 nor hex")?;
    let arr: [u8; 32] = bytes
        .try_into()
        .map_err(|_| "public key must be 32 bytes")?;
    VerifyingKey::from_bytes(&arr).map_err(|e| format!("invalid ed25519 public key: {e}"))
}

/// Why an event's signature does not hold.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum VerifyError {
    #[error("event has no signature")]
    Unsigned,
    #[error("unsupported signature algorithm {0:?}")]
    Algorithm(String),
    #[error("signature key id {found} does not match the public key ({expected})")]
    KeyId { found: String, expected: String },
    #[error("signature is not valid base64 ed25519")]
    Malformed,
    #[error("signature does not match the event content (altered or wrong key)")]
    Mismatch,
}

/// Verify the signature of an event given as parsed JSON (as received).
pub fn verify_value(event: &Value, key: &VerifyingKey) -> Result<(), VerifyError> {
    let mut v = event.clone();
    let sig = v
        .as_object_mut()
        .and_then(|o| o.remove("signature"))
        .ok_or(VerifyError::Unsigned)?;
    let alg = sig.get("alg").and_then(Value::as_str).unwrap_or_default();
    if alg != "ed25519" {
        return Err(VerifyError::Algorithm(alg.into()));
    }
    let kid = sig
        .get("key_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let expected = key_id(key);
    if kid != expected {
        return Err(VerifyError::KeyId {
            found: kid.into(),
            expected,
        });
    }
    let raw = sig
        .get("value")
        .and_then(Value::as_str)
        .and_then(|s| B64.decode(s).ok())
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
        .ok_or(VerifyError::Malformed)?;
    let sig = ed25519_dalek::Signature::from_bytes(&raw);
    key.verify(canonical_json(&v).as_bytes(), &sig)
        .map_err(|_| VerifyError::Mismatch)
}

/// The canonical JSON text of `v` (see the module docs).
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).expect("string serialises"));
                out.push(':');
                write_canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&serde_json::to_string(other).expect("scalar serialises")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_recursively_without_whitespace() {
        let v = json!({"b": 1, "a": {"z": [1, 2.5, "x\"y"], "m": null}, "é": true});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"m":null,"z":[1,2.5,"x\"y"]},"b":1,"é":true}"#
        );
    }

    #[test]
    fn key_is_created_once_with_mode_0600_and_reloaded_identically() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let k1 = DeviceKey::load_or_create(dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let k2 = DeviceKey::load_or_create(dir.path()).unwrap();
        assert_eq!(k1.public_key_b64(), k2.public_key_b64());
        let pubfile = std::fs::read_to_string(dir.path().join(PUBKEY_FILE)).unwrap();
        assert_eq!(parse_public_key(&pubfile).unwrap(), k1.verifying_key());
        assert!(!format!("{k1:?}").contains(&hex::encode(k1.key.to_bytes())));
    }

    #[test]
    fn signature_verifies_and_breaks_on_any_change() {
        let key = DeviceKey::from_seed([7; 32]);
        let mut ev = super::super::testutil::sample_event("cam1", 0);
        key.sign(&mut ev).unwrap();
        let wire: Value = serde_json::from_str(&serde_json::to_string(&ev).unwrap()).unwrap();
        verify_value(&wire, &key.verifying_key()).unwrap();
        let mut tampered = wire.clone();
        tampered["media"][0]["sha256"] = json!("00".repeat(32));
        assert_eq!(
            verify_value(&tampered, &key.verifying_key()),
            Err(VerifyError::Mismatch)
        );
        let other = DeviceKey::from_seed([8; 32]);
        assert!(matches!(
            verify_value(&wire, &other.verifying_key()),
            Err(VerifyError::KeyId { .. })
        ));
        // Key order and whitespace of the received text do not matter.
        let pretty: Value =
            serde_json::from_str(&serde_json::to_string_pretty(&wire).unwrap()).unwrap();
        verify_value(&pretty, &key.verifying_key()).unwrap();
    }
}
