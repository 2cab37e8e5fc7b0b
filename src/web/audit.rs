//! The append-only audit log: who changed what, when, from where. JSON lines in the web
//! state dir, mode 0600; secrets are masked before they are written, so the log can be
//! handed to a support engineer as is.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Keys whose values are secrets wherever they appear in the config.
pub const SECRET_KEYS: &[&str] = &["password", "secret", "token", "private_key", "psk"];

pub fn is_secret_key(key: &str) -> bool {
    SECRET_KEYS
        .iter()
        .any(|s| key == *s || key.ends_with(&format!("_{s}")))
}

/// One changed value between two configs; secrets read `"***"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Key path in the config's notation, e.g. `cameras[1].url`.
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// RFC 3339 UTC.
    pub time: String,
    pub user: String,
    pub client: String,
    /// What was done, e.g. `camera.update`, `config.import`, `setup`, `login.failed`.
    pub action: String,
    pub changes: Vec<Change>,
}

/// Records kept in memory per read; the API never returns more.
pub const MAX_READ: usize = 500;
/// Bytes read from the end of the file when listing: bounded whatever the file's size.
const TAIL_BYTES: u64 = 512 * 1024;

pub struct AuditLog {
    path: PathBuf,
    lock: Mutex<()>,
}

impl AuditLog {
    pub fn new(dir: &Path) -> Self {
        Self {
            path: dir.join("audit.jsonl"),
            lock: Mutex::new(()),
        }
    }

    #[cfg(test)]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append `entry` as one line and fsync it: an acknowledged change is on record.
    pub fn append(&self, entry: &AuditEntry) -> std::io::Result<()> {
        let _g = self.lock.lock().unwrap();
        let mut line = serde_json::to_string(entry).map_err(std::io::Error::other)?;
        line.push('\n');
        let mut f = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&self.path)?;
        f.write_all(line.as_bytes())?;
        f.sync_data()
    }

    /// The last `limit` records, newest first.
    pub fn recent(&self, limit: usize) -> std::io::Result<Vec<AuditEntry>> {
        let _g = self.lock.lock().unwrap();
        let mut f = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let len = f.metadata()?.len();
        let start = len.saturating_sub(TAIL_BYTES);
        f.seek(SeekFrom::Start(start))?;
        let mut text = String::new();
        f.take(TAIL_BYTES).read_to_string(&mut text)?;
        let mut lines: Vec<&str> = text.lines().collect();
        if start > 0 && !lines.is_empty() {
            lines.remove(0); // cut in the middle
        }
        Ok(lines
            .iter()
            .rev()
            .filter_map(|l| serde_json::from_str(l).ok())
            .take(limit.min(MAX_READ))
            .collect())
    }
}

/// Replace every secret value in `v` (by key name) with `"***"`.
pub fn mask_secrets(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                if is_secret_key(k) && !val.is_null() {
                    *val = Value::String("***".into());
                } else {
                    mask_secrets(val);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_secrets),
        _ => {}
    }
}

/// Every leaf that differs between `old` and `new`, secrets masked. Arrays of objects
/// with an `id` (cameras) are matched by id, so removing the first camera reads as one
/// removal rather than every camera changing.
pub fn diff(old: &Value, new: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    diff_into("", old, new, false, &mut out);
    out
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn masked(v: &Value, secret: bool) -> Value {
    let mut v = v.clone();
    if secret {
        return Value::String("***".into());
    }
    mask_secrets(&mut v);
    v
}

fn diff_into(path: &str, old: &Value, new: &Value, secret: bool, out: &mut Vec<Change>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = join(path, k);
                let s = secret || is_secret_key(k);
                // An empty list is left out of the file: compare it as an empty list,
                // so removing the last camera reads as `cameras[id]` removed.
                let empty = Value::Array(Vec::new());
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => diff_into(&p, x, y, s, out),
                    (Some(x @ Value::Array(_)), None) => diff_into(&p, x, &empty, s, out),
                    (None, Some(y @ Value::Array(_))) => diff_into(&p, &empty, y, s, out),
                    (Some(x), None) => out.push(Change {
                        path: p,
                        old: Some(masked(x, s)),
                        new: None,
                    }),
                    (None, Some(y)) => out.push(Change {
                        path: p,
                        old: None,
                        new: Some(masked(y, s)),
                    }),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if by_id(a) && by_id(b) => {
            let id = |v: &Value| v.get("id").and_then(Value::as_str).map(str::to_string);
            for (i, x) in a.iter().enumerate() {
                let xid = id(x);
                match b.iter().find(|y| id(y) == xid) {
                    Some(y) => diff_into(&format!("{path}[{}]", xid.unwrap()), x, y, secret, out),
                    None => out.push(Change {
                        path: format!("{path}[{}]", xid.unwrap_or_else(|| i.to_string())),
                        old: Some(masked(x, secret)),
                        new: None,
                    }),
                }
            }
            for y in b {
                let yid = id(y);
                if !a.iter().any(|x| id(x) == yid) {
                    out.push(Change {
                        path: format!("{path}[{}]", yid.unwrap()),
                        old: None,
                        new: Some(masked(y, secret)),
                    });
                }
            }
        }
        (x, y) if x != y => out.push(Change {
            path: path.to_string(),
            old: Some(masked(x, secret)),
            new: Some(masked(y, secret)),
        }),
        _ => {}
    }
}

fn by_id(items: &[Value]) -> bool {
    items
        .iter()
        .all(|v| v.get("id").and_then(Value::as_str).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diff_masks_secrets_and_matches_cameras_by_id() {
        let old = json!({"cameras": [
            {"id": "a", "url": "rtsp://h/1", "password": "old-secret"},
            {"id": "b", "url": "rtsp://h/2"}]});
        let new = json!({"cameras": [
            {"id": "b", "url": "rtsp://h/2"},
            {"id": "a", "url": "rtsp://h/9", "password": "new-secret"},
            {"id": "c", "url": "rtsp://h/3", "password": "c-secret"}]});
        let d = diff(&old, &new);
        let text = serde_json::to_string(&d).unwrap();
        assert!(!text.contains("secret\""), "{text}");
        assert!(!text.contains("old-secret") && !text.contains("new-secret"));
        let paths: Vec<&str> = d.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(
            paths,
            ["cameras[a].password", "cameras[a].url", "cameras[c]"]
        );
    }

    #[test]
    fn audit_log_appends_and_lists_newest_first_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::new(dir.path());
        for i in 0..3 {
            log.append(&AuditEntry {
                time: "t".into(),
                user: "admin".into(),
                client: "127.0.0.1".into(),
                action: format!("a{i}"),
                changes: vec![],
            })
            .unwrap();
        }
        let r = log.recent(2).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].action, "a2");
        assert_eq!(super::super::files::mode(log.path()).unwrap(), 0o600);
    }
}
