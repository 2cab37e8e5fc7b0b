//! The outbox's side of the evidence folder: the start-up sweep that adopts the
//! files committed rows name and removes orphans, and the [`Ledger`] evidence
//! retention asks before deleting anything.

use super::{FINISHED_AFTER_MS, MediaLoss, Outbox, UplinkError, bump, now_ms};
use crate::evidence::retention::{KeptFile, Ledger};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// What [`Outbox::sweep_evidence_at_start`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SweepReport {
    /// Files a committed row names: kept (delivered or delivered later).
    pub adopted: u64,
    /// Files no row names, removed (counted in [`DropCounters::orphan_files_removed`]).
    pub orphans_removed: u64,
    pub orphan_bytes: u64,
    /// Files the outbox had released (delivered or dropped) but a kill left on disk.
    pub released_removed: u64,
    /// Undelivered media whose file was gone, now marked dropped and counted.
    pub missing_marked: u64,
    pub dirs_removed: u64,
}

impl Outbox {
    /// At start, before any camera runs (so nothing can be waiting in memory for its
    /// commit): reconcile the evidence folder `root` with the outbox.
    /// * A file a committed row names is adopted: it is delivered (or kept) as usual.
    /// * A file no row names is an orphan, left by a kill between an evidence job and
    ///   the commit of its event, or a half-written temporary file: removed, counted
    ///   (`orphan_files_removed`) and logged.
    /// * A file the outbox had already released (delivered, or dropped) but a kill
    ///   left behind is removed.
    /// * An undelivered row whose file is gone is marked dropped (`write_failed`) and
    ///   counted, so its event says so instead of waiting for a file that never comes.
    ///
    /// Only folders named like event ids (UUIDv7) are looked at.
    pub fn sweep_evidence_at_start(&self, root: &Path) -> Result<SweepReport, UplinkError> {
        let mut report = SweepReport::default();
        // (event folder, file name) -> file still owned by the outbox.
        let mut known: HashMap<(String, String), bool> = HashMap::new();
        {
            let mut stmt = self
                .conn
                .prepare("SELECT path, file_present FROM media WHERE path != ''")?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            for (path, present) in rows {
                if let Some(k) = folder_and_name(Path::new(&path)) {
                    let e = known.entry(k).or_insert(false);
                    *e |= present;
                }
            }
        }
        let io = |what: &Path, source| UplinkError::Io {
            what: format!("evidence sweep {}", what.display()),
            source,
        };
        let dirs = match std::fs::read_dir(root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(report),
            Err(e) => return Err(io(root, e)),
        };
        for d in dirs.flatten() {
            let folder = d.file_name().to_string_lossy().to_string();
            if crate::evidence::retention::event_dir_time(&folder).is_none()
                || !d.file_type().is_ok_and(|t| t.is_dir())
            {
                continue;
            }
            let files = match std::fs::read_dir(d.path()) {
                Ok(rd) => rd,
                Err(e) => {
                    tracing::warn!(dir = %d.path().display(), error = %e, "evidence sweep: cannot read folder");
                    continue;
                }
            };
            for f in files.flatten() {
                let name = f.file_name().to_string_lossy().to_string();
                let path = f.path();
                match known.get(&(folder.clone(), name.clone())) {
                    Some(true) => report.adopted += 1,
                    Some(false) => {
                        if std::fs::remove_file(&path).is_ok() {
                            report.released_removed += 1;
                        }
                    }
                    None => {
                        let meta = f.metadata().ok();
                        let bytes = meta.as_ref().map_or(0, |m| m.len());
                        let removed = if meta.is_some_and(|m| m.is_dir()) {
                            std::fs::remove_dir_all(&path)
                        } else {
                            std::fs::remove_file(&path)
                        };
                        match removed {
                            Ok(()) => {
                                tracing::warn!(file = %path.display(), bytes, "evidence sweep: removed an orphan file no committed event names (left by a kill before its event was committed)");
                                report.orphans_removed += 1;
                                report.orphan_bytes += bytes;
                            }
                            Err(e) => {
                                tracing::warn!(file = %path.display(), error = %e, "evidence sweep: cannot remove an orphan file")
                            }
                        }
                    }
                }
            }
            if std::fs::remove_dir(d.path()).is_ok() {
                report.dirs_removed += 1;
            }
        }
        // Rows that still expect a file that is not there (or not whole).
        let present: Vec<(i64, String, i64, bool)> = {
            let mut stmt = self.conn.prepare(
                "SELECT m.id, m.path, m.bytes, e.done FROM media m JOIN events e ON e.id = m.event_row
                 WHERE m.file_present = 1",
            )?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<Result<Vec<_>, _>>()?
        };
        for (id, path, bytes, done) in present {
            let ok = std::fs::metadata(&path).is_ok_and(|m| m.len() == bytes as u64);
            if ok {
                continue;
            }
            if done {
                self.tx(|c| c.execute("UPDATE media SET file_present = 0 WHERE id = ?1", [id]))?;
            } else {
                tracing::warn!(file = %path, "evidence sweep: an undelivered event's file is gone; its event is marked evidence_dropped");
                self.tx(|c| {
                    self.record_drop(
                        c,
                        id,
                        MediaLoss::WriteFailed,
                        "the file was gone when the box started",
                    )
                })?;
                report.missing_marked += 1;
            }
        }
        if report.orphans_removed > 0 {
            self.tx(|c| {
                bump(c, "orphan_files_removed", report.orphans_removed as i64)?;
                bump(c, "orphan_bytes_removed", report.orphan_bytes as i64)
            })?;
        }
        tracing::info!(
            adopted = report.adopted,
            orphans_removed = report.orphans_removed,
            orphan_bytes = report.orphan_bytes,
            released_removed = report.released_removed,
            missing_marked = report.missing_marked,
            dirs_removed = report.dirs_removed,
            "evidence sweep at start"
        );
        Ok(report)
    }
}

/// `(event folder, file name)` of an evidence path `<root>/<event id>/<name>`.
fn folder_and_name(p: &Path) -> Option<(String, String)> {
    let name = p.file_name()?.to_string_lossy().to_string();
    let folder = p.parent()?.file_name()?.to_string_lossy().to_string();
    Some((folder, name))
}

/// Retention asks the outbox which evidence it may delete.
impl Ledger for Outbox {
    fn kept(&self) -> Result<Vec<KeptFile>, String> {
        let run = || -> rusqlite::Result<Vec<KeptFile>> {
            let mut stmt = self.conn.prepare_cached(
                "SELECT m.id, e.event_id, m.path, m.bytes FROM media m JOIN events e ON e.id = m.event_row
                 WHERE m.file_present = 1 AND e.done = 1 ORDER BY m.event_row, m.id",
            )?;
            stmt.query_map([], |r| {
                Ok(KeptFile {
                    row: r.get(0)?,
                    event_id: r.get(1)?,
                    path: PathBuf::from(r.get::<_, String>(2)?),
                    bytes: r.get::<_, i64>(3)? as u64,
                })
            })?
            .collect()
        };
        run().map_err(|e| e.to_string())
    }

    fn forget(&self, files: &[KeptFile]) -> Result<(), String> {
        self.tx(|c| {
            for f in files {
                c.execute("UPDATE media SET file_present = 0 WHERE id = ?1", [f.row])?;
            }
            Ok(())
        })
        .map_err(|e| e.to_string())
    }

    fn finished(&self, event_ids: &[String]) -> Result<HashSet<String>, String> {
        let run = || -> rusqlite::Result<HashSet<String>> {
            let mut stmt = self.conn.prepare_cached(
                "SELECT MIN(done), MAX(phase = 'ended'), MAX(created_ms) FROM events WHERE event_id = ?1",
            )?;
            let recent = now_ms() - FINISHED_AFTER_MS;
            let mut out = HashSet::new();
            for id in event_ids {
                let (done, ended, newest): (Option<bool>, Option<bool>, Option<i64>) =
                    stmt.query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                if done == Some(true) && (ended == Some(true) || newest.is_some_and(|t| t < recent))
                {
                    out.insert(id.clone());
                }
            }
            Ok(out)
        };
        run().map_err(|e| e.to_string())
    }
}
