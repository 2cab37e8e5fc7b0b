//! The durable outbox: every event phase and every media item is a row in SQLite (WAL,
//! `synchronous=FULL`) before it counts as produced, and it stays until the broker has
//! acknowledged it. Any process (daemon, `uplink-worker`, tests) may open the same
//! database; WAL lets one writer and many readers work side by side.
//!
//! Row states: `pending` → `published` (handed to the MQTT client) → `acknowledged`
//! (PUBACK received). Media rows also count acknowledged chunks, so a large clip resumes
//! where it stopped after a crash.

use super::UplinkError;
use crate::rules::event::{Event, Phase};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    phase TEXT NOT NULL,
    seq INTEGER NOT NULL,
    camera TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    evidence_dropped INTEGER NOT NULL DEFAULT 0,
    done INTEGER NOT NULL DEFAULT 0,
    UNIQUE (event_id, phase, seq)
);
CREATE INDEX IF NOT EXISTS events_open ON events (done, id);
CREATE TABLE IF NOT EXISTS media (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_row INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    manifest_acked INTEGER NOT NULL DEFAULT 0,
    chunks_acked INTEGER NOT NULL DEFAULT 0,
    dropped INTEGER NOT NULL DEFAULT 0,
    file_present INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS media_event ON media (event_row);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
";

/// Space kept free on the filesystem whatever the cap says, so SQLite can still write
/// its WAL and the daemon keeps running when the disk is nearly full: 16 MiB, or a
/// sixteenth of a small filesystem (a 16 MiB reserve would swallow a 32 MiB one).
const FS_RESERVE_BYTES: u64 = 16 << 20;

fn fs_reserve(total: u64) -> u64 {
    FS_RESERVE_BYTES.min(total / 16)
}

/// SQLite's "database or disk is full", or the OS's ENOSPC underneath it.
fn is_disk_full(e: &rusqlite::Error) -> bool {
    match e {
        rusqlite::Error::SqliteFailure(f, _) => {
            f.code == rusqlite::ErrorCode::DiskFull
                || (f.code == rusqlite::ErrorCode::SystemIoFailure
                    && f.extended_code == rusqlite::ffi::SQLITE_IOERR_WRITE)
        }
        _ => false,
    }
}

/// What the outbox holds that the broker has not acknowledged yet.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Backlog {
    /// Event phases not fully delivered (JSON or any of their media).
    pub events: u64,
    /// Undelivered media bytes plus event JSON bytes.
    pub bytes: u64,
    /// Age of the oldest undelivered event phase in seconds.
    pub oldest_age_s: Option<f64>,
}

/// What the disk cap forced the outbox to delete, since the database was created.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DropCounters {
    pub media_dropped: u64,
    pub media_dropped_bytes: u64,
    pub events_dropped: u64,
}

/// One media item of a work item.
#[derive(Debug, Clone)]
pub(crate) struct MediaItem {
    pub row: i64,
    pub name: String,
    pub path: PathBuf,
    pub sha256: String,
    pub bytes: u64,
    pub content_type: String,
    pub manifest_acked: bool,
    pub chunks_acked: u64,
    pub dropped: bool,
    pub acknowledged: bool,
}

/// One undelivered event phase with its media, as the worker sees it.
#[derive(Debug, Clone)]
pub(crate) struct WorkItem {
    pub row: i64,
    pub event_id: String,
    pub body: String,
    pub event_acked: bool,
    pub evidence_dropped: bool,
    pub media: Vec<MediaItem>,
}

/// Handle on the outbox database.
pub struct Outbox {
    conn: Connection,
    path: PathBuf,
    cap_bytes: u64,
    keep_delivered_media: bool,
    /// Files to delete once the transaction that stops referencing them is committed
    /// (deleting first could lose evidence if the commit never happens).
    deletes: std::cell::RefCell<Vec<String>>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn phase_str(p: Phase) -> &'static str {
    match p {
        Phase::Started => "started",
        Phase::Updated => "updated",
        Phase::Ended => "ended",
    }
}

impl Outbox {
    /// The outbox file under a state directory.
    pub fn path_in(state_dir: &Path) -> PathBuf {
        state_dir.join("outbox.sqlite")
    }

    /// Open (creating if needed) the outbox at `path` with a disk cap in bytes for the
    /// database plus the undelivered media it owns.
    pub fn open(path: &Path, cap_bytes: u64) -> Result<Self, UplinkError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| UplinkError::Io {
                what: format!("create {}", dir.display()),
                source: e,
            })?;
        }
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        // WAL: readers and another process's writer do not block each other; FULL: a
        // commit that acknowledges an event is on disk before we return.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            conn,
            path: path.to_path_buf(),
            cap_bytes,
            keep_delivered_media: false,
            deletes: Default::default(),
        })
    }

    /// Keep media files after delivery instead of deleting them.
    pub fn set_keep_delivered_media(&mut self, keep: bool) {
        self.keep_delivered_media = keep;
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn cap_bytes(&self) -> u64 {
        self.cap_bytes
    }

    /// Commit one event phase and its media. Media files must exist at their
    /// `local_path` with the declared size; they are fsynced before their rows are
    /// written. Returns false when this (id, phase, seq) was already in the outbox.
    pub fn enqueue(&self, event: &Event) -> Result<bool, UplinkError> {
        for m in &event.media {
            let path = m.local_path.as_ref().ok_or_else(|| UplinkError::Media {
                name: m.name.clone(),
                reason: "no local_path".into(),
            })?;
            fsync_file(path, m.bytes).map_err(|reason| UplinkError::Media {
                name: m.name.clone(),
                reason,
            })?;
        }
        let body = serde_json::to_string(event).map_err(UplinkError::Json)?;
        // Make room first: on a nearly full disk the insert below needs the space that
        // dropping the oldest media gives back. A failure here is not fatal; the insert
        // tells whether there is room.
        if let Err(e) = self.enforce_cap() {
            tracing::warn!(error = %e, "outbox: enforcing the disk cap before a commit failed");
        }
        self.insert(event, &body).map_err(|e| self.classify(e))
    }

    /// A database error, turned into [`UplinkError::DiskFull`] when the disk is full.
    fn classify(&self, e: rusqlite::Error) -> UplinkError {
        if is_disk_full(&e) {
            let dir = self.dir().to_path_buf();
            let free = super::health::fs_space(&dir).map_or(0, |(f, _)| f);
            UplinkError::DiskFull { dir, free }
        } else {
            UplinkError::Db(e)
        }
    }

    fn dir(&self) -> &Path {
        self.path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
    }

    fn insert(&self, event: &Event, body: &str) -> rusqlite::Result<bool> {
        let tx = self.conn.unchecked_transaction()?;
        let inserted = tx.execute(
            "INSERT OR IGNORE INTO events (event_id, phase, seq, camera, created_ms, body, evidence_dropped)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                event.id,
                phase_str(event.phase),
                event.seq,
                event.camera.id,
                now_ms(),
                body,
                event.evidence_dropped
            ],
        )?;
        if inserted == 1 {
            let row = tx.last_insert_rowid();
            for m in &event.media {
                let path = m.local_path.as_ref().expect("checked above");
                tx.execute(
                    "INSERT INTO media (event_row, name, path, sha256, bytes, content_type)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        row,
                        m.name,
                        path.to_string_lossy(),
                        m.sha256,
                        m.bytes as i64,
                        m.content_type
                    ],
                )?;
            }
        }
        tx.commit()?;
        if inserted == 1
            && let Err(e) = self.enforce_cap()
        {
            // The event is committed; the next commit or the worker tries again.
            tracing::warn!(error = %e, "outbox: enforcing the disk cap failed");
        }
        Ok(inserted == 1)
    }

    /// Bytes the outbox accounts against its cap: live database pages plus the media
    /// files it still owns.
    pub fn usage_bytes(&self) -> Result<u64, UplinkError> {
        let page_size: i64 = self.conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        let pages: i64 = self.conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
        let free: i64 = self
            .conn
            .query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
        let media: i64 = self.conn.query_row(
            "SELECT COALESCE(SUM(bytes), 0) FROM media WHERE file_present = 1",
            [],
            |r| r.get(0),
        )?;
        Ok(((pages - free).max(0) * page_size) as u64 + media as u64)
    }

    /// Bytes the filesystem is short of its reserve (0 when there is enough room).
    fn fs_shortfall(&self) -> u64 {
        match super::health::fs_space(self.dir()) {
            Some((free, total)) => fs_reserve(total).saturating_sub(free),
            None => 0,
        }
    }

    /// Enforce the disk cap: drop the media of the oldest undelivered events first
    /// (marking them `evidence_dropped`), then whole undelivered events as a last
    /// resort. Everything dropped is counted.
    ///
    /// A filesystem short of its reserve (filled by something else) also drops media,
    /// which gives space back, but never event metadata: deleting rows frees no disk
    /// space, so it would lose events for nothing. New events are then refused with
    /// [`UplinkError::DiskFull`] until space returns, and committed ones stay.
    pub fn enforce_cap(&self) -> Result<(), UplinkError> {
        loop {
            let usage = self.usage_bytes()?;
            let over_cap = usage > self.cap_bytes;
            if !over_cap && self.fs_shortfall() == 0 {
                return Ok(());
            }
            let victim: Option<(i64, i64, String, i64)> = self
                .conn
                .query_row(
                    "SELECT m.id, m.event_row, m.path, m.bytes FROM media m
                     WHERE m.file_present = 1 AND m.state != 'acknowledged'
                     ORDER BY m.event_row, m.id LIMIT 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?;
            if let Some((id, event_row, path, bytes)) = victim {
                let drop_row = |c: &Connection| {
                    c.execute(
                        "UPDATE media SET dropped = 1, file_present = 0, manifest_acked = 0,
                         last_error = 'dropped: disk cap reached' WHERE id = ?1",
                        [id],
                    )?;
                    c.execute(
                        "UPDATE events SET evidence_dropped = 1 WHERE id = ?1",
                        [event_row],
                    )?;
                    bump(c, "media_dropped", 1)?;
                    bump(c, "media_dropped_bytes", bytes)
                };
                match self.tx(drop_row) {
                    Ok(()) => {}
                    Err(UplinkError::Db(e)) if is_disk_full(&e) => {
                        // Not even room to record the drop: delete the file first so
                        // SQLite has room, then record it. Should the process die in
                        // between, the worker finds the file gone and drops the item
                        // as unreadable, so it is not left undeliverable.
                        let _ = std::fs::remove_file(&path);
                        self.tx(drop_row).map_err(|e| match e {
                            UplinkError::Db(e) => self.classify(e),
                            other => other,
                        })?;
                    }
                    Err(e) => return Err(e),
                }
                self.delete_later(path.clone());
                self.flush_deletes();
                tracing::warn!(
                    path,
                    bytes,
                    "outbox over its disk cap or the disk nearly full: dropped undelivered media"
                );
                continue;
            }
            if !over_cap {
                return Ok(());
            }
            let oldest: Option<i64> = self
                .conn
                .query_row(
                    "SELECT id FROM events WHERE done = 0 ORDER BY id LIMIT 1",
                    [],
                    |r| r.get(0),
                )
                .optional()?;
            match oldest {
                Some(id) => {
                    self.tx(|c| {
                        c.execute("DELETE FROM media WHERE event_row = ?1", [id])?;
                        c.execute("DELETE FROM events WHERE id = ?1", [id])?;
                        bump(c, "events_dropped", 1)
                    })?;
                    tracing::warn!(
                        "outbox over its disk cap with no media left: dropped the oldest undelivered event"
                    );
                }
                None => return Ok(()),
            }
        }
    }

    /// What is still to deliver.
    pub fn backlog(&self) -> Result<Backlog, UplinkError> {
        let (events, json_bytes, oldest): (i64, i64, Option<i64>) = self.conn.query_row(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(CAST(body AS BLOB))), 0), MIN(created_ms) FROM events WHERE done = 0",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let media: i64 = self.conn.query_row(
            "SELECT COALESCE(SUM(bytes), 0) FROM media
             WHERE state != 'acknowledged' AND dropped = 0",
            [],
            |r| r.get(0),
        )?;
        Ok(Backlog {
            events: events as u64,
            bytes: (json_bytes + media) as u64,
            oldest_age_s: oldest.map(|t| ((now_ms() - t).max(0) as f64) / 1000.0),
        })
    }

    /// Drop counters.
    pub fn counters(&self) -> Result<DropCounters, UplinkError> {
        let get = |name: &str| -> Result<u64, UplinkError> {
            Ok(self
                .conn
                .query_row("SELECT value FROM counters WHERE name = ?1", [name], |r| {
                    r.get::<_, i64>(0)
                })
                .optional()?
                .unwrap_or(0) as u64)
        };
        Ok(DropCounters {
            media_dropped: get("media_dropped")?,
            media_dropped_bytes: get("media_dropped_bytes")?,
            events_dropped: get("events_dropped")?,
        })
    }

    /// Oldest undelivered event phases, in outbox order, with their media.
    pub(crate) fn next_batch(
        &self,
        after_row: i64,
        limit: usize,
    ) -> Result<Vec<WorkItem>, UplinkError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, event_id, body, state, evidence_dropped FROM events
             WHERE done = 0 AND id > ?1 ORDER BY id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![after_row, limit as i64], |r| {
            Ok(WorkItem {
                row: r.get(0)?,
                event_id: r.get(1)?,
                body: r.get(2)?,
                event_acked: r.get::<_, String>(3)? == "acknowledged",
                evidence_dropped: r.get(4)?,
                media: Vec::new(),
            })
        })?;
        let mut items = rows.collect::<Result<Vec<_>, _>>()?;
        let mut mstmt = self.conn.prepare_cached(
            "SELECT id, name, path, sha256, bytes, content_type, manifest_acked, chunks_acked, dropped, state
             FROM media WHERE event_row = ?1 ORDER BY id",
        )?;
        for item in &mut items {
            let media = mstmt.query_map([item.row], |r| {
                Ok(MediaItem {
                    row: r.get(0)?,
                    name: r.get(1)?,
                    path: PathBuf::from(r.get::<_, String>(2)?),
                    sha256: r.get(3)?,
                    bytes: r.get::<_, i64>(4)? as u64,
                    content_type: r.get(5)?,
                    manifest_acked: r.get(6)?,
                    chunks_acked: r.get::<_, i64>(7)? as u64,
                    dropped: r.get(8)?,
                    acknowledged: r.get::<_, String>(9)? == "acknowledged",
                })
            })?;
            item.media = media.collect::<Result<Vec<_>, _>>()?;
        }
        Ok(items)
    }

    pub(crate) fn mark_event_published(&self, row: i64) -> Result<(), UplinkError> {
        self.conn.execute(
            "UPDATE events SET state = 'published', attempts = attempts + 1
             WHERE id = ?1 AND state != 'acknowledged'",
            [row],
        )?;
        Ok(())
    }

    pub(crate) fn ack_event(&self, row: i64) -> Result<(), UplinkError> {
        self.conn.execute(
            "UPDATE events SET state = 'acknowledged', last_error = NULL WHERE id = ?1",
            [row],
        )?;
        self.check_done(row)
    }

    pub(crate) fn mark_media_published(&self, row: i64) -> Result<(), UplinkError> {
        self.conn.execute(
            "UPDATE media SET state = 'published', attempts = attempts + 1
             WHERE id = ?1 AND state != 'acknowledged'",
            [row],
        )?;
        Ok(())
    }

    /// The manifest of a media item was acknowledged; a dropped item is then complete.
    pub(crate) fn ack_manifest(&self, row: i64) -> Result<(), UplinkError> {
        self.conn.execute(
            "UPDATE media SET manifest_acked = 1,
             state = CASE WHEN dropped = 1 OR bytes = 0 THEN 'acknowledged' ELSE state END
             WHERE id = ?1",
            [row],
        )?;
        self.check_done_for_media(row)
    }

    /// Chunk `index` (of `total`) was acknowledged. PUBACKs arrive in order, so the
    /// acknowledged chunks are always a prefix.
    pub(crate) fn ack_chunk(&self, row: i64, index: u64, total: u64) -> Result<(), UplinkError> {
        let last = index + 1 >= total;
        self.conn.execute(
            "UPDATE media SET chunks_acked = MAX(chunks_acked, ?2),
             state = CASE WHEN ?3 THEN 'acknowledged' ELSE state END WHERE id = ?1",
            params![row, (index + 1) as i64, last],
        )?;
        if last {
            self.check_done_for_media(row)?;
        }
        Ok(())
    }

    /// A media file could not be read: record why and treat it as dropped so the
    /// rest of the queue is not blocked behind it.
    pub(crate) fn media_unreadable(&self, row: i64, error: &str) -> Result<(), UplinkError> {
        self.conn.execute(
            "UPDATE media SET dropped = 1, file_present = 0, manifest_acked = 0, last_error = ?2 WHERE id = ?1",
            params![row, error],
        )?;
        Ok(())
    }

    fn check_done_for_media(&self, media_row: i64) -> Result<(), UplinkError> {
        let event_row: Option<i64> = self
            .conn
            .query_row(
                "SELECT event_row FROM media WHERE id = ?1",
                [media_row],
                |r| r.get(0),
            )
            .optional()?;
        match event_row {
            Some(r) => self.check_done(r),
            None => Ok(()),
        }
    }

    /// Mark an event row done when it and all its media are acknowledged.
    pub(crate) fn settle(&self, row: i64) -> Result<(), UplinkError> {
        self.check_done(row)
    }

    fn check_done(&self, row: i64) -> Result<(), UplinkError> {
        let open: i64 = self.conn.query_row(
            "SELECT (SELECT COUNT(*) FROM events WHERE id = ?1 AND state != 'acknowledged')
                  + (SELECT COUNT(*) FROM media WHERE event_row = ?1 AND state != 'acknowledged')",
            [row],
            |r| r.get(0),
        )?;
        if open == 0 {
            let paths = self.tx(|c| {
                c.execute("UPDATE events SET done = 1 WHERE id = ?1", [row])?;
                let mut stmt =
                    c.prepare("SELECT path FROM media WHERE event_row = ?1 AND file_present = 1")?;
                let paths = stmt
                    .query_map([row], |r| r.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()?;
                c.execute(
                    "UPDATE media SET file_present = 0 WHERE event_row = ?1",
                    [row],
                )?;
                Ok(paths)
            })?;
            if !self.keep_delivered_media {
                for p in paths {
                    self.delete_later(p);
                }
            }
            self.flush_deletes();
        }
        Ok(())
    }

    /// Run `f` in a transaction, or inside the caller's when one is open (the worker
    /// books a burst of PUBACKs in one commit: one fsync instead of one per ack).
    fn tx<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, UplinkError> {
        if !self.conn.is_autocommit() {
            return Ok(f(&self.conn)?);
        }
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        match f(&self.conn) {
            Ok(v) => {
                self.conn.execute_batch("COMMIT")?;
                Ok(v)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e.into())
            }
        }
    }

    /// Start a batch: every booking until [`Outbox::end_batch`] commits at once.
    pub(crate) fn begin_batch(&self) -> Result<(), UplinkError> {
        if self.conn.is_autocommit() {
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
        }
        Ok(())
    }

    /// Commit a batch (then delete the files it released).
    pub(crate) fn end_batch(&self) -> Result<(), UplinkError> {
        if !self.conn.is_autocommit()
            && let Err(e) = self.conn.execute_batch("COMMIT")
        {
            // E.g. a full disk: give the bookings up (they are re-sent later, which
            // the at-least-once contract allows) rather than keep a transaction open.
            let _ = self.conn.execute_batch("ROLLBACK");
            self.deletes.borrow_mut().clear();
            return Err(e.into());
        }
        self.flush_deletes();
        Ok(())
    }

    fn delete_later(&self, path: String) {
        self.deletes.borrow_mut().push(path);
    }

    /// Delete released files, only while no transaction is open.
    fn flush_deletes(&self) {
        if !self.conn.is_autocommit() {
            return;
        }
        for p in self.deletes.borrow_mut().drain(..) {
            let _ = std::fs::remove_file(p);
        }
    }

    /// Record the last delivery error on the oldest open row (shown by technicians'
    /// tools; the worker also reports it in health and logs).
    pub(crate) fn note_error(&self, error: &str) -> Result<(), UplinkError> {
        self.conn.execute(
            "UPDATE events SET last_error = ?1 WHERE id = (SELECT MIN(id) FROM events WHERE done = 0)",
            [error],
        )?;
        Ok(())
    }

    /// Which `(phase, seq)` of each of `event_ids` the outbox at `path` holds, read
    /// through a read-only connection (the rules' stays ask this at start, see
    /// `rules::stays`). No database yet: nothing is committed.
    pub fn committed_phases(
        path: &Path,
        event_ids: &[String],
    ) -> Result<std::collections::HashMap<String, Vec<(Phase, u32)>>, UplinkError> {
        let mut out = std::collections::HashMap::new();
        if event_ids.is_empty() || !path.exists() {
            return Ok(out);
        }
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let mut stmt = conn.prepare("SELECT phase, seq FROM events WHERE event_id = ?1")?;
        for id in event_ids {
            let rows =
                stmt.query_map([id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?)))?;
            let mut keys = Vec::new();
            for row in rows {
                let (phase, seq) = row?;
                let phase = match phase.as_str() {
                    "started" => Phase::Started,
                    "updated" => Phase::Updated,
                    _ => Phase::Ended,
                };
                keys.push((phase, seq));
            }
            out.insert(id.clone(), keys);
        }
        Ok(out)
    }

    /// Per-row view for tests and diagnostics: (event_id, phase, state, attempts).
    pub fn rows(&self) -> Result<Vec<(String, String, String, u32)>, UplinkError> {
        let mut stmt = self
            .conn
            .prepare("SELECT event_id, phase, state, attempts FROM events ORDER BY id")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

fn bump(c: &Connection, name: &str, by: i64) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO counters (name, value) VALUES (?1, ?2)
         ON CONFLICT(name) DO UPDATE SET value = value + ?2",
        params![name, by],
    )?;
    Ok(())
}

/// fsync a media file (and its directory, so its name survives a power cut too) and
/// check it has the size the event declares.
fn fsync_file(path: &Path, bytes: u64) -> Result<(), String> {
    let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let len = f.metadata().map_err(|e| e.to_string())?.len();
    if len != bytes {
        return Err(format!(
            "{} has {len} bytes, the event says {bytes}",
            path.display()
        ));
    }
    f.sync_all().map_err(|e| e.to_string())?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{sample_event, write_media};
    use super::*;

    #[test]
    fn enqueue_is_idempotent_per_id_phase_and_seq() {
        let dir = tempfile::tempdir().unwrap();
        let ob = Outbox::open(&dir.path().join("o.sqlite"), 1 << 30).unwrap();
        let mut ev = sample_event("cam1", 0);
        ev.media.clear();
        assert!(ob.enqueue(&ev).unwrap());
        assert!(!ob.enqueue(&ev).unwrap());
        assert_eq!(ob.backlog().unwrap().events, 1);
    }

    #[test]
    fn committed_events_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("o.sqlite");
        {
            let ob = Outbox::open(&p, 1 << 30).unwrap();
            let mut ev = sample_event("cam1", 0);
            ev.media = vec![write_media(dir.path(), "a.jpg", &[1u8; 1000])];
            ob.enqueue(&ev).unwrap();
        }
        let ob = Outbox::open(&p, 1 << 30).unwrap();
        let batch = ob.next_batch(0, 10).unwrap();
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].media.len(), 1);
        assert_eq!(
            ob.backlog().unwrap().bytes as usize,
            1000 + batch[0].body.len()
        );
    }

    #[test]
    fn enqueue_refuses_media_whose_file_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let ob = Outbox::open(&dir.path().join("o.sqlite"), 1 << 30).unwrap();
        let mut ev = sample_event("cam1", 0);
        let mut m = write_media(dir.path(), "a.jpg", &[1u8; 10]);
        m.local_path = Some(dir.path().join("nope.jpg"));
        ev.media = vec![m];
        assert!(matches!(ob.enqueue(&ev), Err(UplinkError::Media { .. })));
        assert_eq!(ob.backlog().unwrap().events, 0);
    }

    #[test]
    fn disk_cap_drops_oldest_media_first_then_oldest_events() {
        let dir = tempfile::tempdir().unwrap();
        // The empty database takes a few pages; leave room for ~2 media of 100 kB.
        let ob = Outbox::open(&dir.path().join("o.sqlite"), 1 << 30).unwrap();
        let base = ob.usage_bytes().unwrap();
        drop(ob);
        let ob = Outbox::open(&dir.path().join("o.sqlite"), base + 250_000).unwrap();
        let mut paths = Vec::new();
        for i in 0..3 {
            let mut ev = sample_event("cam1", i);
            let m = write_media(dir.path(), &format!("m{i}.jpg"), &vec![i as u8; 100_000]);
            paths.push(m.local_path.clone().unwrap());
            ev.media = vec![m];
            ob.enqueue(&ev).unwrap();
        }
        assert!(!paths[0].exists(), "oldest media must go first");
        assert!(paths[1].exists() && paths[2].exists());
        let c = ob.counters().unwrap();
        assert_eq!(
            (c.media_dropped, c.media_dropped_bytes, c.events_dropped),
            (1, 100_000, 0)
        );
        let batch = ob.next_batch(0, 10).unwrap();
        assert_eq!(batch.len(), 3, "metadata is kept");
        assert!(batch[0].evidence_dropped && !batch[1].evidence_dropped);

        // A cap below the bare metadata: events go too, oldest first, and are counted.
        drop(ob);
        let ob = Outbox::open(&dir.path().join("o.sqlite"), 1).unwrap();
        ob.enforce_cap().unwrap();
        let c = ob.counters().unwrap();
        assert_eq!(c.media_dropped, 3);
        assert_eq!(c.events_dropped, 3);
    }
}
