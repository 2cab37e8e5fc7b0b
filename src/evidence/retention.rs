//! Bounded local evidence: delete whole event folders, oldest first, while any is older
//! than the age limit or the total exceeds the size limit.
//!
//! Age is judged in media time from the folder name: event ids are UUIDv7 whose
//! timestamp is the media time of the event (see `rules::event::new_event_id`), so no
//! wall clock or file mtime is involved and a replay ages evidence like a live run.
//! Folders whose names are not UUIDv7 are left alone (not ours).

use std::path::{Path, PathBuf};

use super::EvidenceError;
use crate::ingest::MediaTime;

/// What one pass deleted.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RetentionReport {
    pub deleted: Vec<String>,
    pub freed_bytes: u64,
    pub kept_bytes: u64,
}

fn uuid_v7_time(name: &str) -> Option<MediaTime> {
    let id = uuid::Uuid::parse_str(name).ok()?;
    if id.get_version_num() != 7 {
        return None;
    }
    let (secs, nanos) = id.get_timestamp()?.to_unix();
    Some(MediaTime(
        secs as i64 * MediaTime::NS_PER_SEC + i64::from(nanos),
    ))
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Enforces `max_age_s` (relative to `now`) and `max_total_bytes` on `root`.
pub fn enforce(
    root: &Path,
    now: MediaTime,
    max_age_s: f64,
    max_total_bytes: u64,
) -> Result<RetentionReport, EvidenceError> {
    let io = |source| EvidenceError::Io {
        path: root.to_path_buf(),
        source,
    };
    let mut entries: Vec<(MediaTime, String, PathBuf, u64)> = Vec::new();
    let rd = match std::fs::read_dir(root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RetentionReport::default()),
        Err(e) => return Err(io(e)),
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(t) = uuid_v7_time(&name) else {
            continue;
        };
        if !e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            continue;
        }
        let bytes = dir_bytes(&e.path());
        entries.push((t, name, e.path(), bytes));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    let mut total: u64 = entries.iter().map(|e| e.3).sum();
    let mut report = RetentionReport::default();
    for (t, name, path, bytes) in entries {
        let too_old = now.secs_since(t) > max_age_s;
        if !(too_old || total > max_total_bytes) {
            break;
        }
        std::fs::remove_dir_all(&path).map_err(|source| EvidenceError::Io {
            path: path.clone(),
            source,
        })?;
        total -= bytes;
        report.freed_bytes += bytes;
        report.deleted.push(name);
    }
    report.kept_bytes = total;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::event::new_event_id;

    fn event(root: &Path, at_s: f64, bytes: usize) -> String {
        let id = new_event_id(MediaTime::from_secs_f64(at_s));
        std::fs::create_dir_all(root.join(&id)).unwrap();
        std::fs::write(root.join(&id).join("a.jpg"), vec![0u8; bytes]).unwrap();
        id
    }

    #[test]
    fn events_older_than_the_age_limit_are_deleted_and_newer_kept() {
        let d = tempfile::tempdir().unwrap();
        let old = event(d.path(), 1_000.0, 10);
        let new = event(d.path(), 90_000.0, 10);
        std::fs::create_dir_all(d.path().join("not-an-event")).unwrap();
        let r = enforce(
            d.path(),
            MediaTime::from_secs_f64(100_000.0),
            86_400.0,
            u64::MAX,
        )
        .unwrap();
        assert_eq!(r.deleted, [old]);
        assert!(d.path().join(&new).exists());
        assert!(d.path().join("not-an-event").exists());
    }

    #[test]
    fn over_the_size_limit_the_oldest_events_go_first_until_it_fits() {
        let d = tempfile::tempdir().unwrap();
        let a = event(d.path(), 1_000.0, 400);
        let b = event(d.path(), 2_000.0, 400);
        let c = event(d.path(), 3_000.0, 400);
        let r = enforce(d.path(), MediaTime::from_secs_f64(3_000.0), 1e9, 900).unwrap();
        assert_eq!(r.deleted, [a]);
        assert_eq!(r.kept_bytes, 800);
        assert!(d.path().join(&b).exists() && d.path().join(&c).exists());
    }
}
