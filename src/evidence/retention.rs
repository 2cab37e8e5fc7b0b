//! Bounded local evidence, without ever deleting evidence behind the outbox's back.
//!
//! The evidence folder holds three kinds of files:
//! * files of events not yet delivered: the outbox owns them and bounds them with
//!   `uplink.disk_cap_mb` (it drops the oldest, marked and counted, when it must);
//! * files being written, or written for an event still waiting for its commit: no
//!   outbox row names them yet;
//! * delivered files the outbox keeps (`uplink.keep_delivered_media = true`).
//!
//! Retention deletes only the last kind, oldest first, while any is older than
//! `max_age_hours` or the whole folder exceeds `max_total_mib`: one accounting (every
//! byte under the folder counts against the limit) in which delivered history gives way
//! to evidence still waiting for delivery. Files no outbox row names are never touched
//! here; those left by a crash are removed at the next start (see
//! `uplink::Outbox::sweep_evidence_at_start`), when nothing can be in flight.
//!
//! Age is judged in media time from the folder name: event ids are UUIDv7 whose
//! timestamp is the media time of the event (see `rules::event::new_event_id`), so no
//! wall clock or file mtime is involved and a replay ages evidence like a live run.
//! Folders whose names are not UUIDv7 are left alone (not ours).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::EvidenceError;
use crate::ingest::MediaTime;

/// A delivered evidence file the outbox keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct KeptFile {
    /// The outbox's handle on the file (its media row).
    pub row: i64,
    pub event_id: String,
    pub path: PathBuf,
    pub bytes: u64,
}

/// What retention asks the outbox, which owns undelivered evidence.
pub trait Ledger {
    /// Delivered files the outbox keeps, oldest event first.
    fn kept(&self) -> Result<Vec<KeptFile>, String>;
    /// Retention deleted these kept files.
    fn forget(&self, files: &[KeptFile]) -> Result<(), String>;
    /// Of `event_ids`, those whose every phase is delivered and for which no more
    /// evidence will come: their empty folders may go.
    fn finished(&self, event_ids: &[String]) -> Result<HashSet<String>, String>;
}

/// No outbox (a replay): nothing is known to be delivered, so nothing is deleted.
pub struct NoLedger;

impl Ledger for NoLedger {
    fn kept(&self) -> Result<Vec<KeptFile>, String> {
        Ok(Vec::new())
    }
    fn forget(&self, _: &[KeptFile]) -> Result<(), String> {
        Ok(())
    }
    fn finished(&self, _: &[String]) -> Result<HashSet<String>, String> {
        Ok(HashSet::new())
    }
}

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RetentionReport {
    /// Kept delivered files deleted.
    pub deleted: Vec<PathBuf>,
    pub freed_bytes: u64,
    /// Bytes left under the folder.
    pub kept_bytes: u64,
    /// Of those, bytes retention may not delete: evidence waiting for delivery or
    /// still being written.
    pub held_bytes: u64,
    /// Empty folders of finished events removed.
    pub removed_dirs: usize,
}

/// The media time in an event folder's name, when it is one of ours (UUIDv7).
pub fn event_dir_time(name: &str) -> Option<MediaTime> {
    let id = uuid::Uuid::parse_str(name).ok()?;
    if id.get_version_num() != 7 {
        return None;
    }
    let (secs, nanos) = id.get_timestamp()?.to_unix();
    Some(MediaTime(
        secs as i64 * MediaTime::NS_PER_SEC + i64::from(nanos),
    ))
}

fn dir_bytes(dir: &Path) -> (u64, usize) {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.metadata().ok())
                .fold((0, 0), |(b, n), m| {
                    (b + if m.is_file() { m.len() } else { 0 }, n + 1)
                })
        })
        .unwrap_or((0, 0))
}

/// Enforces `max_age_s` (relative to `now`) and `max_total_bytes` on `root`, deleting
/// only delivered evidence the outbox keeps (see the module docs).
pub fn enforce(
    root: &Path,
    now: MediaTime,
    max_age_s: f64,
    max_total_bytes: u64,
    ledger: &dyn Ledger,
) -> Result<RetentionReport, EvidenceError> {
    let io = |source| EvidenceError::Io {
        path: root.to_path_buf(),
        source,
    };
    let rd = match std::fs::read_dir(root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RetentionReport::default()),
        Err(e) => return Err(io(e)),
    };
    let mut dirs: Vec<(String, MediaTime)> = Vec::new();
    let mut total: u64 = 0;
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(t) = event_dir_time(&name) else {
            continue;
        };
        if !e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            continue;
        }
        total += dir_bytes(&e.path()).0;
        dirs.push((name, t));
    }
    let mut report = RetentionReport::default();
    let outbox = |e: String| EvidenceError::Io {
        path: root.to_path_buf(),
        source: std::io::Error::other(format!("asking the outbox: {e}")),
    };
    let kept = ledger.kept().map_err(outbox)?;
    let mut gone = Vec::new();
    for f in kept {
        let too_old = event_dir_time(&f.event_id).is_some_and(|t| now.secs_since(t) > max_age_s);
        if !(too_old || total > max_total_bytes) {
            continue;
        }
        match std::fs::remove_file(&f.path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(EvidenceError::Io {
                    path: f.path.clone(),
                    source,
                });
            }
        }
        total = total.saturating_sub(f.bytes);
        report.freed_bytes += f.bytes;
        report.deleted.push(f.path.clone());
        gone.push(f);
    }
    if !gone.is_empty() {
        ledger.forget(&gone).map_err(outbox)?;
    }
    // Empty folders: those of finished events go now, any other once it is older than
    // the age limit (an event that never was, or whose outbox rows were pruned).
    let empty: Vec<(String, MediaTime)> = dirs
        .into_iter()
        .filter(|(name, _)| dir_bytes(&root.join(name)).1 == 0)
        .collect();
    if !empty.is_empty() {
        let ids: Vec<String> = empty.iter().map(|(n, _)| n.clone()).collect();
        let finished = ledger.finished(&ids).map_err(outbox)?;
        for (name, t) in empty {
            if finished.contains(&name) || now.secs_since(t) > max_age_s {
                // remove_dir refuses a folder that is no longer empty.
                if std::fs::remove_dir(root.join(&name)).is_ok() {
                    report.removed_dirs += 1;
                }
            }
        }
    }
    report.kept_bytes = total;
    let deletable: u64 = ledger.kept().map_err(outbox)?.iter().map(|f| f.bytes).sum();
    report.held_bytes = total.saturating_sub(deletable);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::event::new_event_id;
    use std::cell::RefCell;

    /// A ledger over a fixed list: `kept` files are delivered, `finished` events done.
    #[derive(Default)]
    struct Fake {
        kept: RefCell<Vec<KeptFile>>,
        finished: HashSet<String>,
    }

    impl Ledger for Fake {
        fn kept(&self) -> Result<Vec<KeptFile>, String> {
            Ok(self.kept.borrow().clone())
        }
        fn forget(&self, files: &[KeptFile]) -> Result<(), String> {
            self.kept.borrow_mut().retain(|k| !files.contains(k));
            Ok(())
        }
        fn finished(&self, ids: &[String]) -> Result<HashSet<String>, String> {
            Ok(ids
                .iter()
                .filter(|i| self.finished.contains(*i))
                .cloned()
                .collect())
        }
    }

    fn event(root: &Path, at_s: f64, bytes: usize) -> (String, PathBuf) {
        let id = new_event_id(MediaTime::from_secs_f64(at_s));
        std::fs::create_dir_all(root.join(&id)).unwrap();
        let p = root.join(&id).join("a.jpg");
        std::fs::write(&p, vec![0u8; bytes]).unwrap();
        (id, p)
    }

    fn kept(ledger: &Fake, id: &str, path: &Path, bytes: u64) {
        let row = ledger.kept.borrow().len() as i64;
        ledger.kept.borrow_mut().push(KeptFile {
            row,
            event_id: id.into(),
            path: path.into(),
            bytes,
        });
    }

    #[test]
    fn delivered_files_older_than_the_age_limit_are_deleted_and_the_rest_kept() {
        let d = tempfile::tempdir().unwrap();
        let (old, old_p) = event(d.path(), 1_000.0, 10);
        let (new, new_p) = event(d.path(), 90_000.0, 10);
        let (pending, pending_p) = event(d.path(), 500.0, 10);
        std::fs::create_dir_all(d.path().join("not-an-event")).unwrap();
        let ledger = Fake::default();
        kept(&ledger, &old, &old_p, 10);
        kept(&ledger, &new, &new_p, 10);
        let r = enforce(
            d.path(),
            MediaTime::from_secs_f64(100_000.0),
            86_400.0,
            u64::MAX,
            &ledger,
        )
        .unwrap();
        assert_eq!(r.deleted, [old_p]);
        assert!(new_p.exists());
        assert!(
            pending_p.exists(),
            "{pending}: not delivered, however old: the outbox owns it"
        );
        assert!(d.path().join("not-an-event").exists());
        assert_eq!(ledger.kept.borrow().len(), 1, "the outbox is told");
        assert_eq!(r.held_bytes, 10);
    }

    #[test]
    fn over_the_size_limit_delivered_files_go_oldest_first_and_undelivered_never() {
        let d = tempfile::tempdir().unwrap();
        let (a, a_p) = event(d.path(), 1_000.0, 400);
        let (_, b_p) = event(d.path(), 1_500.0, 400);
        let (c, c_p) = event(d.path(), 2_000.0, 400);
        let ledger = Fake {
            finished: [a.clone()].into(),
            ..Default::default()
        };
        kept(&ledger, &a, &a_p, 400);
        kept(&ledger, &c, &c_p, 400);
        // b is undelivered: 1200 bytes against 100 cannot fit, but b stays.
        let r = enforce(
            d.path(),
            MediaTime::from_secs_f64(3_000.0),
            1e9,
            100,
            &ledger,
        )
        .unwrap();
        assert_eq!(r.deleted, [a_p.clone(), c_p.clone()]);
        assert!(b_p.exists());
        assert_eq!((r.kept_bytes, r.held_bytes), (400, 400));
        assert_eq!(r.removed_dirs, 1, "a's folder is empty and a is finished");
        assert!(!d.path().join(&a).exists());
        assert!(
            d.path().join(&c).exists(),
            "c may still get evidence (its stay goes on)"
        );
    }

    #[test]
    fn without_an_outbox_nothing_is_deleted() {
        let d = tempfile::tempdir().unwrap();
        let (_, p) = event(d.path(), 1_000.0, 400);
        let r = enforce(d.path(), MediaTime::from_secs_f64(1e7), 1.0, 1, &NoLedger).unwrap();
        assert!(r.deleted.is_empty() && p.exists());
    }
}
