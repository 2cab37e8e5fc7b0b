//! The durable outbox: every event phase and every media item is a row in SQLite (WAL,
//! `synchronous=FULL`) before it counts as produced, and it stays until the broker has
//! acknowledged it. Any process (daemon, `uplink-worker`, tests) may open the same
//! database; WAL lets one writer and many readers work side by side.
//!
//! Row states: `pending` → `published` (handed to the MQTT client) → `acknowledged`
//! (PUBACK received). Media rows also count acknowledged chunks, so a large clip resumes
//! where it stopped after a crash.
//!
//! The outbox owns the evidence files of undelivered events: nothing else deletes them
//! (retention asks it, see [`crate::evidence::retention::Ledger`]). Evidence that
//! could not be written, or had to go before delivery, is marked on its event
//! (`evidence_dropped`, `media_missing` with a reason) and counted. Delivered rows are
//! history: kept for the Events page within `history_days` / `history_rows`, then
//! pruned, and never counted against the room for undelivered events.

mod evidence;
mod prune;

pub use evidence::SweepReport;
pub use prune::PruneReport;

use super::UplinkError;
use crate::rules::event::{Event, MediaLoss, MissingMedia, Phase};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
    file_present INTEGER NOT NULL DEFAULT 1,
    drop_reason TEXT
);
CREATE INDEX IF NOT EXISTS media_event ON media (event_row);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
";

/// Columns added after the first release, with their definition: an older database
/// gets them at open.
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[("media", "drop_reason", "TEXT")];

/// Space kept free on the filesystem whatever the cap says, so SQLite can still write
/// its WAL and the daemon keeps running when the disk is nearly full: 16 MiB, or a
/// sixteenth of a small filesystem (a 16 MiB reserve would swallow a 32 MiB one).
const FS_RESERVE_BYTES: u64 = 16 << 20;

/// What the cap counts for the database's fixed part (schema, counters, indexes'
/// roots) and for each row beyond its JSON: SQLite's page and index overhead, so that
/// thousands of small undelivered events are not counted as free.
const BASE_BYTES: u64 = 64 << 10;
const EVENT_ROW_BYTES: u64 = 256;
const MEDIA_ROW_BYTES: u64 = 128;

/// An existing database without incremental vacuum is converted at open (one VACUUM)
/// when it is at most this big and the filesystem has room for the copy; a bigger
/// one keeps working without returning freed pages to the filesystem (SQLite reuses
/// them), and says so in the log.
const MIGRATE_VACUUM_MAX_BYTES: u64 = 64 << 20;

/// An event whose newest phase was delivered this long ago counts as finished for
/// evidence folder clean-up even without an `ended` phase (one-phase kinds).
const FINISHED_AFTER_MS: i64 = 3600 * 1000;

/// Fully delivered events pruned per transaction, so the database lock is held briefly.
const PRUNE_BATCH: usize = 256;

/// How long a writer waits for the database lock before giving up, in steps of
/// [`BUSY_STEP`]: short steps, so a writer gets its turn as soon as the lock is free
/// (SQLite's own busy handler sleeps up to 100 ms at a time and lets a busy writer
/// take the lock again and again in between).
const BUSY_STEP: Duration = Duration::from_millis(2);
const BUSY_STEPS: i32 = 5000;

fn busy(tries: i32) -> bool {
    if tries >= BUSY_STEPS {
        return false;
    }
    std::thread::sleep(BUSY_STEP);
    true
}

/// Longest the delivery worker holds back its bookkeeping for waiting commits.
const YIELD_MAX: Duration = Duration::from_secs(2);

/// Commits of new events in progress, per outbox file in this process. The delivery
/// worker books PUBACKs in short write transactions one after another while media
/// streams; it waits while this is non-zero, so a new event's commit is never held
/// back by a clip being uploaded (it once waited for a whole 6 MiB clip under load).
fn commit_gate(path: &Path) -> Arc<AtomicUsize> {
    static GATES: OnceLock<Mutex<HashMap<PathBuf, Arc<AtomicUsize>>>> = OnceLock::new();
    let key = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    GATES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(key)
        .or_default()
        .clone()
}

/// Holds a commit's place in [`commit_gate`] while it runs.
struct Committing(Arc<AtomicUsize>);

impl Committing {
    fn new(gate: &Arc<AtomicUsize>) -> Self {
        gate.fetch_add(1, Ordering::SeqCst);
        Committing(gate.clone())
    }
}

impl Drop for Committing {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

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

/// Evidence lost, by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReasonCounts {
    #[serde(default)]
    pub disk_full: u64,
    #[serde(default)]
    pub cap: u64,
    #[serde(default)]
    pub write_failed: u64,
}

impl ReasonCounts {
    pub fn get(&self, r: MediaLoss) -> u64 {
        match r {
            MediaLoss::DiskFull => self.disk_full,
            MediaLoss::Cap => self.cap,
            MediaLoss::WriteFailed => self.write_failed,
        }
    }

    fn slot(&mut self, r: MediaLoss) -> &mut u64 {
        match r {
            MediaLoss::DiskFull => &mut self.disk_full,
            MediaLoss::Cap => &mut self.cap,
            MediaLoss::WriteFailed => &mut self.write_failed,
        }
    }

    pub fn total(&self) -> u64 {
        self.disk_full + self.cap + self.write_failed
    }
}

/// Everything lost or cleaned up, counted since the database was created.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DropCounters {
    /// Committed media deleted (or found unreadable) before delivery, any reason.
    pub media_dropped: u64,
    pub media_dropped_bytes: u64,
    /// Undelivered events deleted whole by the disk cap (last resort).
    pub events_dropped: u64,
    /// Evidence committed events expected but that was never written (failed evidence
    /// jobs), counted when the event is committed.
    #[serde(default)]
    pub media_missing: u64,
    /// `media_dropped` + `media_missing` by reason: every media item an event names or
    /// expected that will not be delivered.
    #[serde(default)]
    pub evidence_dropped: ReasonCounts,
    /// Evidence files no outbox row named, removed at start (left by a kill between an
    /// evidence job and the commit of its event).
    #[serde(default)]
    pub orphan_files_removed: u64,
    #[serde(default)]
    pub orphan_bytes_removed: u64,
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
    pub drop_reason: Option<MediaLoss>,
    pub last_error: Option<String>,
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
    history_days: u32,
    history_rows: u64,
    /// Files to delete once the transaction that stops referencing them is committed
    /// (deleting first could lose evidence if the commit never happens).
    deletes: std::cell::RefCell<Vec<String>>,
    /// Media whose file had to be deleted before its drop could be recorded (a disk
    /// too full for even that): (media row, reason). Recorded at the next chance.
    unrecorded: std::cell::RefCell<Vec<(i64, MediaLoss)>>,
    /// New-event commits in progress on this file (see [`commit_gate`]).
    commits: Arc<AtomicUsize>,
    /// This handle books deliveries and gives way to those commits.
    yields: bool,
    /// Phases settled (delivered) since the last history prune: a burst of
    /// deliveries triggers a prune by count, not by the clock (see `prune_due`).
    settled: std::cell::Cell<u64>,
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

fn loss_of(s: Option<String>) -> Option<MediaLoss> {
    s.and_then(|s| serde_json::from_value(serde_json::Value::String(s)).ok())
}

/// What an evidence file looks like at commit.
enum FileCheck {
    Ok,
    /// Gone or not what the event says: the media cannot be delivered.
    Unusable(String),
    /// The disk refused the fsync: retry the commit later.
    NoSpace,
    Failed(String),
}

impl Outbox {
    /// The outbox file under a state directory.
    pub fn path_in(state_dir: &Path) -> PathBuf {
        state_dir.join("outbox.sqlite")
    }

    /// Open (creating if needed) the outbox at `path` with a disk cap in bytes for the
    /// undelivered events and the media they own.
    pub fn open(path: &Path, cap_bytes: u64) -> Result<Self, UplinkError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| UplinkError::Io {
                what: format!("create {}", dir.display()),
                source: e,
            })?;
        }
        let mut conn = Connection::open(path)?;
        conn.busy_handler(Some(busy))?;
        // Incremental vacuum must be chosen before the first table exists: a new
        // database gets it; an old one is converted below when that is cheap.
        let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
        if pages == 0 {
            conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
        }
        let ob = Self::setup(conn, path, cap_bytes)?;
        if pages > 0 {
            ob.migrate_auto_vacuum();
        }
        Ok(ob)
    }

    /// Open an outbox that exists, for a reader that must not create one (retention
    /// in a replay, say); `None` when there is none.
    pub fn open_existing(path: &Path) -> Result<Option<Self>, UplinkError> {
        if !path.is_file() {
            return Ok(None);
        }
        let mut conn = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_handler(Some(busy))?;
        Self::setup(conn, path, u64::MAX).map(Some)
    }

    fn setup(conn: Connection, path: &Path, cap_bytes: u64) -> Result<Self, UplinkError> {
        // WAL: readers and another process's writer do not block each other; FULL: a
        // commit that acknowledges an event is on disk before we return.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        // After a checkpoint the WAL file is cut back to this, so a burst of commits
        // does not leave a big WAL on disk for the box's lifetime.
        conn.pragma_update(None, "journal_size_limit", 4 << 20)?;
        // Checkpoint every 256 pages (1 MiB) rather than SQLite's 1000: the WAL then
        // stays near 1 MiB in use, so a checkpoint a reader holds back, or the one
        // large commit that crosses the mark, still leaves it under the 4 MiB above
        // (at 1000 pages a soak measured 4.2 MiB).
        conn.pragma_update(None, "wal_autocheckpoint", 256)?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)?;
        for (table, column, def) in ADDED_COLUMNS {
            let has: bool = conn.query_row(
                &format!("SELECT COUNT(*) > 0 FROM pragma_table_info('{table}') WHERE name = ?1"),
                [column],
                |r| r.get(0),
            )?;
            if !has {
                conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {def}"))?;
            }
        }
        Ok(Self {
            conn,
            path: path.to_path_buf(),
            cap_bytes,
            keep_delivered_media: false,
            history_days: super::config::DEFAULT_HISTORY_DAYS,
            history_rows: super::config::DEFAULT_HISTORY_ROWS,
            deletes: Default::default(),
            unrecorded: Default::default(),
            commits: commit_gate(path),
            yields: false,
            settled: std::cell::Cell::new(0),
        })
    }

    /// Make this handle the delivery worker's: its bookkeeping waits (up to 2 s) while
    /// another handle on the same file commits a new event.
    pub(crate) fn yield_to_commits(&mut self) {
        self.yields = true;
    }

    fn give_way(&self) {
        if !self.yields {
            return;
        }
        let deadline = Instant::now() + YIELD_MAX;
        while self.commits.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Convert a database made before incremental vacuum, once, when it is small
    /// enough to copy now; otherwise keep it as it is (freed pages are reused, just
    /// not given back) and say so.
    fn migrate_auto_vacuum(&self) {
        let mode: i64 = self
            .conn
            .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
            .unwrap_or(2);
        if mode != 0 {
            return;
        }
        let size = std::fs::metadata(&self.path).map_or(0, |m| m.len());
        let free = super::health::fs_space(self.dir()).map_or(0, |(f, _)| f);
        if size > MIGRATE_VACUUM_MAX_BYTES || free < 2 * size + FS_RESERVE_BYTES {
            tracing::warn!(
                bytes = size,
                fs_free = free,
                "outbox: this database predates incremental vacuum and is too big (or the disk too full) to convert now; pruned history is reused but not given back to the filesystem"
            );
            return;
        }
        let r = self
            .conn
            .execute_batch("PRAGMA auto_vacuum = INCREMENTAL; VACUUM;");
        match r {
            Ok(()) => tracing::info!(bytes = size, "outbox: converted to incremental vacuum"),
            Err(e) => {
                tracing::warn!(error = %e, "outbox: converting to incremental vacuum failed; retried at the next start")
            }
        }
    }

    /// Keep media files after delivery instead of deleting them.
    pub fn set_keep_delivered_media(&mut self, keep: bool) {
        self.keep_delivered_media = keep;
    }

    /// How much delivered history [`Outbox::prune_history`] keeps.
    pub fn set_history(&mut self, days: u32, rows: u64) {
        self.history_days = days;
        self.history_rows = rows;
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Most delivered phases kept as history (`history_rows`).
    pub fn history_limit(&self) -> u64 {
        self.history_rows
    }

    /// True once enough phases were delivered since the last prune that the
    /// history may be over `history_rows` by more than a small slack (an eighth
    /// of the limit, at least 32 rows). Checked after every broker answer, so the
    /// file's size follows the row limit however fast deliveries come.
    pub fn prune_due(&self) -> bool {
        self.settled.get() > (self.history_rows / 8).max(32)
    }

    pub fn cap_bytes(&self) -> u64 {
        self.cap_bytes
    }

    /// Commit one event phase and its media. Media files should exist at their
    /// `local_path` with the declared size; they are fsynced before their rows are
    /// written. A file that is gone (or not the size the event says) cannot be
    /// delivered: the phase is committed all the same, that media marked missing
    /// (`write_failed`) and counted, rather than hold every later event back.
    /// Returns false when this (id, phase, seq) was already in the outbox.
    pub fn enqueue(&self, event: &Event) -> Result<bool, UplinkError> {
        let mut event = event.clone();
        let mut unusable: HashMap<usize, String> = HashMap::new();
        for (i, m) in event.media.iter().enumerate() {
            let check = match &m.local_path {
                None => FileCheck::Unusable("the event names no local file".into()),
                Some(p) => fsync_file(p, m.bytes),
            };
            match check {
                FileCheck::Ok => {}
                FileCheck::Unusable(why) => {
                    unusable.insert(i, why);
                }
                FileCheck::NoSpace => {
                    let dir = self.dir().to_path_buf();
                    let free = super::health::fs_space(&dir).map_or(0, |(f, _)| f);
                    return Err(UplinkError::DiskFull { dir, free });
                }
                FileCheck::Failed(reason) => {
                    return Err(UplinkError::Media {
                        name: m.name.clone(),
                        reason,
                    });
                }
            }
        }
        for (i, why) in &unusable {
            let m = &event.media[*i];
            tracing::warn!(event = %event.id, media = %m.name, reason = %why, "evidence file unusable at commit: the event goes without it");
            event.media_missing.push(MissingMedia {
                name: m.name.clone(),
                kind: m.kind,
                reason: MediaLoss::WriteFailed,
                detail: Some(why.clone()),
            });
        }
        event.evidence_dropped |= !event.media_missing.is_empty();
        let body = serde_json::to_string(&event).map_err(UplinkError::Json)?;
        let _turn = Committing::new(&self.commits);
        // Make room first: on a nearly full disk the insert below needs the space that
        // dropping the oldest media gives back. A failure here is not fatal; the insert
        // tells whether there is room.
        if let Err(e) = self.enforce_cap() {
            tracing::warn!(error = %e, "outbox: enforcing the disk cap before a commit failed");
        }
        self.insert(&event, &body, &unusable)
            .map_err(|e| self.classify(e))
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

    fn insert(
        &self,
        event: &Event,
        body: &str,
        unusable: &HashMap<usize, String>,
    ) -> rusqlite::Result<bool> {
        // IMMEDIATE: take the write lock at once (waiting in the busy handler), rather
        // than fail on a snapshot another writer made stale.
        let tx = rusqlite::Transaction::new_unchecked(
            &self.conn,
            rusqlite::TransactionBehavior::Immediate,
        )?;
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
            for (i, m) in event.media.iter().enumerate() {
                let path = m
                    .local_path
                    .as_ref()
                    .map(|p| p.to_string_lossy().to_string())
                    .unwrap_or_default();
                let why = unusable.get(&i);
                tx.execute(
                    "INSERT INTO media (event_row, name, path, sha256, bytes, content_type,
                                        dropped, file_present, drop_reason, last_error)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    params![
                        row,
                        m.name,
                        path,
                        m.sha256,
                        m.bytes as i64,
                        m.content_type,
                        why.is_some(),
                        why.is_none(),
                        why.map(|_| MediaLoss::WriteFailed.as_str()),
                        why
                    ],
                )?;
            }
            // Evidence the event expected but never got is counted once, with the
            // phase that reports it.
            for miss in &event.media_missing {
                bump(&tx, "media_missing", 1)?;
                bump(&tx, &format!("missing.{}", miss.reason.as_str()), 1)?;
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

    /// Bytes the outbox accounts against its cap: what is not delivered yet (event
    /// JSON and row overhead, and the media files it still has to send). Delivered
    /// history does not count: it is bounded by `history_days` / `history_rows`
    /// instead, so it never crowds out an undelivered event.
    pub fn usage_bytes(&self) -> Result<u64, UplinkError> {
        let events: i64 = self.conn.query_row(
            "SELECT COALESCE(SUM(LENGTH(CAST(body AS BLOB)) + ?1), 0) FROM events WHERE done = 0",
            [EVENT_ROW_BYTES as i64],
            |r| r.get(0),
        )?;
        let media: i64 = self.conn.query_row(
            "SELECT COALESCE(SUM(?1 + CASE WHEN m.file_present = 1 AND m.state != 'acknowledged'
                                      THEN m.bytes ELSE 0 END), 0)
             FROM media m JOIN events e ON e.id = m.event_row WHERE e.done = 0",
            [MEDIA_ROW_BYTES as i64],
            |r| r.get(0),
        )?;
        Ok(BASE_BYTES + events.max(0) as u64 + media.max(0) as u64)
    }

    /// Bytes of the database file and its WAL on disk (history included).
    pub fn file_bytes(&self) -> u64 {
        let wal = PathBuf::from(format!("{}-wal", self.path.display()));
        [self.path.as_path(), wal.as_path()]
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum()
    }

    /// Delivered event phases kept as history.
    pub fn history_rows(&self) -> Result<u64, UplinkError> {
        let n: i64 =
            self.conn
                .query_row("SELECT COUNT(*) FROM events WHERE done = 1", [], |r| {
                    r.get(0)
                })?;
        Ok(n as u64)
    }

    /// Bytes the filesystem is short of its reserve (0 when there is enough room).
    fn fs_shortfall(&self) -> u64 {
        match super::health::fs_space(self.dir()) {
            Some((free, total)) => fs_reserve(total).saturating_sub(free),
            None => 0,
        }
    }

    /// Mark one media item dropped for `reason` and count it (once).
    fn record_drop(
        &self,
        c: &Connection,
        id: i64,
        reason: MediaLoss,
        why: &str,
    ) -> rusqlite::Result<()> {
        let (event_row, bytes, was): (i64, i64, bool) = match c
            .query_row(
                "SELECT event_row, bytes, dropped FROM media WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?
        {
            Some(x) => x,
            None => return Ok(()),
        };
        c.execute(
            "UPDATE media SET dropped = 1, file_present = 0, manifest_acked = 0,
             drop_reason = COALESCE(drop_reason, ?2), last_error = COALESCE(last_error, ?3)
             WHERE id = ?1",
            params![id, reason.as_str(), why],
        )?;
        c.execute(
            "UPDATE events SET evidence_dropped = 1 WHERE id = ?1",
            [event_row],
        )?;
        if !was {
            bump(c, "media_dropped", 1)?;
            bump(c, "media_dropped_bytes", bytes)?;
            bump(c, &format!("dropped.{}", reason.as_str()), 1)?;
        }
        Ok(())
    }

    /// Record drops whose files went before the database had room to say so.
    fn record_unrecorded(&self) {
        let pending: Vec<(i64, MediaLoss)> = self.unrecorded.borrow().clone();
        for (id, reason) in pending {
            let r = self.tx(|c| self.record_drop(c, id, reason, drop_text(reason)));
            if r.is_ok() {
                self.unrecorded.borrow_mut().retain(|(i, _)| *i != id);
            }
        }
    }

    /// Enforce the disk cap: drop the media of the oldest undelivered events first
    /// (marking them `evidence_dropped` with reason `cap`), then whole undelivered
    /// events as a last resort. Everything dropped is counted.
    ///
    /// A filesystem short of its reserve (filled by something else) first gives back
    /// delivered files kept by `keep_delivered_media` (no loss), then the media of
    /// undelivered events (reason `disk_full`), but never event metadata: deleting rows
    /// frees no disk space, so it would lose events for nothing. New events are then
    /// refused with [`UplinkError::DiskFull`] until space returns, and committed ones
    /// stay.
    pub fn enforce_cap(&self) -> Result<(), UplinkError> {
        self.record_unrecorded();
        loop {
            let usage = self.usage_bytes()?;
            let over_cap = usage > self.cap_bytes;
            let short = self.fs_shortfall() > 0;
            if !over_cap && !short {
                return Ok(());
            }
            if short && !over_cap && self.release_one_kept()? {
                continue;
            }
            let reason = if over_cap {
                MediaLoss::Cap
            } else {
                MediaLoss::DiskFull
            };
            let victim: Option<(i64, String, i64)> = self
                .conn
                .query_row(
                    "SELECT m.id, m.path, m.bytes FROM media m JOIN events e ON e.id = m.event_row
                     WHERE m.file_present = 1 AND m.state != 'acknowledged' AND e.done = 0
                     ORDER BY m.event_row, m.id LIMIT 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            if let Some((id, path, bytes)) = victim {
                let why = drop_text(reason);
                match self.tx(|c| self.record_drop(c, id, reason, why)) {
                    Ok(()) => {}
                    Err(UplinkError::Db(e)) if is_disk_full(&e) => {
                        // Not even room to record the drop: delete the file first so
                        // SQLite has room, then record it. Should that fail too, the
                        // drop is remembered and recorded at the next chance, so the
                        // item is never sent as if it were whole.
                        let _ = std::fs::remove_file(&path);
                        if let Err(e) = self.tx(|c| self.record_drop(c, id, reason, why)) {
                            self.unrecorded.borrow_mut().push((id, reason));
                            return Err(match e {
                                UplinkError::Db(e) => self.classify(e),
                                other => other,
                            });
                        }
                    }
                    Err(e) => return Err(e),
                }
                self.delete_later(path.clone());
                self.flush_deletes();
                tracing::warn!(
                    path,
                    bytes,
                    reason = reason.as_str(),
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

    /// Delete the oldest delivered file kept by `keep_delivered_media`; false when none.
    fn release_one_kept(&self) -> Result<bool, UplinkError> {
        let kept: Option<(i64, String)> = self
            .conn
            .query_row(
                "SELECT m.id, m.path FROM media m JOIN events e ON e.id = m.event_row
                 WHERE m.file_present = 1 AND (e.done = 1 OR m.state = 'acknowledged')
                 ORDER BY m.event_row, m.id LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((id, path)) = kept else {
            return Ok(false);
        };
        // Delivered already: delete first (it frees the space the update may need).
        let _ = std::fs::remove_file(&path);
        self.tx(|c| c.execute("UPDATE media SET file_present = 0 WHERE id = ?1", [id]))
            .map_err(|e| match e {
                UplinkError::Db(e) => self.classify(e),
                other => other,
            })?;
        tracing::info!(
            path,
            "disk nearly full: deleted delivered evidence kept on the box"
        );
        Ok(true)
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

    fn counter(&self, name: &str) -> Result<u64, UplinkError> {
        Ok(self
            .conn
            .query_row("SELECT value FROM counters WHERE name = ?1", [name], |r| {
                r.get::<_, i64>(0)
            })
            .optional()?
            .unwrap_or(0) as u64)
    }

    /// Drop counters.
    pub fn counters(&self) -> Result<DropCounters, UplinkError> {
        let mut c = DropCounters {
            media_dropped: self.counter("media_dropped")?,
            media_dropped_bytes: self.counter("media_dropped_bytes")?,
            events_dropped: self.counter("events_dropped")?,
            media_missing: self.counter("media_missing")?,
            orphan_files_removed: self.counter("orphan_files_removed")?,
            orphan_bytes_removed: self.counter("orphan_bytes_removed")?,
            ..Default::default()
        };
        for r in MediaLoss::ALL {
            *c.evidence_dropped.slot(r) = self.counter(&format!("dropped.{}", r.as_str()))?
                + self.counter(&format!("missing.{}", r.as_str()))?;
        }
        Ok(c)
    }

    /// Delivered event phases pruned as history since the database was created.
    pub fn history_pruned(&self) -> Result<u64, UplinkError> {
        self.counter("history_pruned")
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
            "SELECT id, name, path, sha256, bytes, content_type, manifest_acked, chunks_acked,
                    dropped, state, drop_reason, last_error
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
                    drop_reason: loss_of(r.get(10)?),
                    last_error: r.get(11)?,
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

    /// A media file could not be read: record why, count it, and treat it as dropped
    /// so the rest of the queue is not blocked behind it (its manifest goes again,
    /// saying so). The reason is the one the cap recorded if the cap deleted it.
    pub(crate) fn media_unreadable(&self, row: i64, error: &str) -> Result<(), UplinkError> {
        let reason = self
            .unrecorded
            .borrow()
            .iter()
            .find(|(r, _)| *r == row)
            .map_or(MediaLoss::WriteFailed, |(_, reason)| *reason);
        self.tx(|c| self.record_drop(c, row, reason, error))?;
        self.unrecorded.borrow_mut().retain(|(r, _)| *r != row);
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
            let keep = self.keep_delivered_media;
            self.settled.set(self.settled.get() + 1);
            let paths = self.tx(|c| {
                c.execute("UPDATE events SET done = 1 WHERE id = ?1", [row])?;
                if keep {
                    // Still on the box and still the outbox's: retention deletes it
                    // (by age and size) and tells the outbox.
                    return Ok(Vec::new());
                }
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
            for p in paths {
                self.delete_later(p);
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
        self.give_way();
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
            self.give_way();
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

/// The text recorded with a drop.
fn drop_text(reason: MediaLoss) -> &'static str {
    match reason {
        MediaLoss::Cap => {
            "dropped before delivery: the outbox disk cap (uplink.disk_cap_mb) was reached"
        }
        MediaLoss::DiskFull => "dropped before delivery: the disk was full",
        MediaLoss::WriteFailed => "the file could not be read",
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
fn fsync_file(path: &Path, bytes: u64) -> FileCheck {
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return FileCheck::Unusable(format!("the file is gone ({e})"));
        }
        Err(e) => return FileCheck::Failed(format!("{}: {e}", path.display())),
    };
    let len = match f.metadata() {
        Ok(m) => m.len(),
        Err(e) => return FileCheck::Failed(e.to_string()),
    };
    if len != bytes {
        return FileCheck::Unusable(format!("the file has {len} bytes, the event says {bytes}"));
    }
    let sync =
        f.sync_all().and_then(
            |()| match path.parent().filter(|d| !d.as_os_str().is_empty()) {
                Some(dir) => std::fs::File::open(dir).and_then(|d| d.sync_all()),
                None => Ok(()),
            },
        );
    match sync {
        Ok(()) => FileCheck::Ok,
        Err(e) if crate::evidence::is_no_space(&e) => FileCheck::NoSpace,
        Err(e) => FileCheck::Failed(e.to_string()),
    }
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

    /// Acknowledge everything, as the worker does on PUBACKs.
    fn deliver_all(ob: &Outbox) {
        loop {
            let batch = ob.next_batch(0, 64).unwrap();
            if batch.is_empty() {
                return;
            }
            for item in batch {
                ob.ack_event(item.row).unwrap();
                for m in item.media {
                    ob.ack_manifest(m.row).unwrap();
                    if !m.dropped {
                        ob.ack_chunk(m.row, 0, 1).unwrap();
                    }
                }
            }
        }
    }

    fn counter_sum(c: &DropCounters) -> u64 {
        c.evidence_dropped.total()
    }

    #[test]
    fn a_new_database_uses_incremental_vacuum_and_an_old_small_one_is_converted() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("o.sqlite");
        let ob = Outbox::open(&p, 1 << 30).unwrap();
        let mode: i64 = ob
            .conn
            .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, 2);
        // A database as the first release made it: no auto_vacuum, no drop_reason.
        let old = dir.path().join("old.sqlite");
        {
            let c = Connection::open(&old).unwrap();
            c.execute_batch(&SCHEMA.replace(
                "    file_present INTEGER NOT NULL DEFAULT 1,\n    drop_reason TEXT\n",
                "    file_present INTEGER NOT NULL DEFAULT 1\n",
            ))
            .unwrap();
            let cols: i64 = c
                .query_row(
                    "SELECT COUNT(*) FROM pragma_table_info('media') WHERE name = 'drop_reason'",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(cols, 0);
        }
        let ob = Outbox::open(&old, 1 << 30).unwrap();
        let mode: i64 = ob
            .conn
            .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, 2, "converted at open");
        let mut ev = sample_event("cam1", 0);
        ev.media = vec![write_media(dir.path(), "a.jpg", b"x")];
        assert!(ob.enqueue(&ev).unwrap(), "the added column works");
    }

    #[test]
    fn evidence_never_written_is_named_on_its_event_and_counted_by_reason_once() {
        let dir = tempfile::tempdir().unwrap();
        let ob = Outbox::open(&dir.path().join("o.sqlite"), 1 << 30).unwrap();
        let mut ev = sample_event("cam1", 0);
        ev.media.clear();
        ev.evidence_dropped = true;
        ev.media_missing = vec![
            MissingMedia {
                name: "clip.mp4".into(),
                kind: crate::rules::event::MediaKind::Clip,
                reason: MediaLoss::DiskFull,
                detail: None,
            },
            MissingMedia {
                name: "x.jpg".into(),
                kind: crate::rules::event::MediaKind::Snapshot,
                reason: MediaLoss::WriteFailed,
                detail: None,
            },
        ];
        assert!(ob.enqueue(&ev).unwrap());
        assert!(
            !ob.enqueue(&ev).unwrap(),
            "a duplicate is not counted again"
        );
        let c = ob.counters().unwrap();
        assert_eq!(c.media_missing, 2);
        assert_eq!(
            (
                c.evidence_dropped.disk_full,
                c.evidence_dropped.write_failed
            ),
            (1, 1)
        );
        assert_eq!(c.media_dropped, 0);
    }

    #[test]
    fn a_media_file_gone_before_the_commit_does_not_block_the_event_it_is_marked_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let ob = Outbox::open(&dir.path().join("o.sqlite"), 1 << 30).unwrap();
        let mut ev = sample_event("cam1", 0);
        let gone = write_media(dir.path(), "gone.jpg", b"abc");
        std::fs::remove_file(gone.local_path.as_ref().unwrap()).unwrap();
        ev.media = vec![gone, write_media(dir.path(), "ok.jpg", b"def")];
        assert!(ob.enqueue(&ev).unwrap());
        let batch = ob.next_batch(0, 10).unwrap();
        let body: Event = serde_json::from_str(&batch[0].body).unwrap();
        assert!(body.evidence_dropped && batch[0].evidence_dropped);
        assert_eq!(body.media_missing.len(), 1);
        assert_eq!(body.media_missing[0].name, "gone.jpg");
        assert_eq!(body.media_missing[0].reason, MediaLoss::WriteFailed);
        assert!(batch[0].media[0].dropped && !batch[0].media[1].dropped);
        let c = ob.counters().unwrap();
        assert_eq!((c.media_missing, c.evidence_dropped.write_failed), (1, 1));
        deliver_all(&ob);
        assert_eq!(
            ob.backlog().unwrap().events,
            0,
            "delivered, dropped manifest and all"
        );
    }

    #[test]
    fn the_cap_counts_only_undelivered_events_so_history_never_crowds_them_out() {
        let dir = tempfile::tempdir().unwrap();
        let ob = Outbox::open(&dir.path().join("o.sqlite"), 1 << 30).unwrap();
        let base = ob.usage_bytes().unwrap();
        drop(ob);
        // Room for about two undelivered events with their 100 kB media.
        let mut ob = Outbox::open(&dir.path().join("o.sqlite"), base + 250_000).unwrap();
        ob.set_history(30, 1_000_000);
        for i in 0..200u32 {
            let mut ev = sample_event("cam1", i);
            ev.details.insert("pad".into(), "x".repeat(4000).into());
            ev.media = vec![write_media(
                dir.path(),
                &format!("m{i}.jpg"),
                &vec![1u8; 100_000],
            )];
            ob.enqueue(&ev).unwrap();
            deliver_all(&ob);
        }
        // 200 delivered events (~1 MB of rows, 20 MB of media went through).
        assert_eq!(ob.history_rows().unwrap(), 200);
        assert_eq!(ob.usage_bytes().unwrap(), base, "history costs nothing");
        for i in 200..202u32 {
            let mut ev = sample_event("cam1", i);
            ev.media = vec![write_media(
                dir.path(),
                &format!("m{i}.jpg"),
                &vec![1u8; 100_000],
            )];
            ob.enqueue(&ev).unwrap();
        }
        let c = ob.counters().unwrap();
        assert_eq!((c.media_dropped, c.events_dropped), (0, 0), "{c:?}");
        assert!(dir.path().join("m201.jpg").exists() && dir.path().join("m200.jpg").exists());
        assert!(
            !dir.path().join("m0.jpg").exists(),
            "delivered media is deleted"
        );
    }

    #[test]
    fn history_is_pruned_to_its_row_and_day_limits_oldest_whole_events_first() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("o.sqlite");
        let mut ob = Outbox::open(&p, 1 << 30).unwrap();
        ob.set_history(30, 10);
        let mut ids = Vec::new();
        for i in 0..20u32 {
            let mut ev = sample_event("cam1", i);
            ev.media.clear();
            ob.enqueue(&ev).unwrap();
            let mut end = ev.clone();
            end.phase = Phase::Ended;
            end.seq = 1;
            ob.enqueue(&end).unwrap();
            ids.push(ev.id);
        }
        deliver_all(&ob);
        // One undelivered event, older than everything: never pruned.
        let mut pending = sample_event("cam2", 100);
        pending.media.clear();
        ob.enqueue(&pending).unwrap();
        ob.conn
            .execute(
                "UPDATE events SET created_ms = 0 WHERE event_id = ?1",
                [&pending.id],
            )
            .unwrap();
        let r = ob.prune_history().unwrap();
        assert_eq!((r.events, r.rows), (15, 30));
        assert_eq!(ob.history_rows().unwrap(), 10);
        let left: Vec<String> = ob.rows().unwrap().into_iter().map(|r| r.0).collect();
        assert!(left.contains(&pending.id));
        assert!(left.contains(&ids[19]) && left.contains(&ids[15]) && !left.contains(&ids[14]));
        assert_eq!(ob.history_pruned().unwrap(), 30);
        // The page still lists what is left, newest first.
        let list = super::super::history::list(
            &p,
            &super::super::history::EventQuery {
                limit: 100,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(list.len(), 6);
        assert!(
            super::super::history::detail(&p, &ids[0])
                .unwrap()
                .is_none()
        );
        // By age: everything delivered is older than 0 days.
        ob.set_history(0, 1_000_000);
        ob.conn
            .execute("UPDATE events SET created_ms = created_ms - 1000", [])
            .unwrap();
        ob.prune_history().unwrap();
        assert_eq!(ob.history_rows().unwrap(), 0);
        assert_eq!(ob.rows().unwrap().len(), 1, "only the undelivered event");
        let free: i64 = ob
            .conn
            .query_row("PRAGMA freelist_count", [], |r| r.get(0))
            .unwrap();
        assert_eq!(free, 0, "freed pages went back to the filesystem");
    }

    #[test]
    fn the_start_sweep_adopts_committed_files_removes_orphans_and_marks_lost_ones() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("evidence");
        let ob = Outbox::open(&dir.path().join("o.sqlite"), 1 << 30).unwrap();
        let committed = sample_event("cam1", 0);
        let folder = root.join(&committed.id);
        std::fs::create_dir_all(&folder).unwrap();
        let mut ev = committed.clone();
        let lost = write_media(&folder, "lost.jpg", b"lost");
        ev.media = vec![write_media(&folder, "a.jpg", b"aaa"), lost.clone()];
        ob.enqueue(&ev).unwrap();
        std::fs::remove_file(lost.local_path.unwrap()).unwrap();
        // A kill mid-handover: the next phase's snapshot was written, never committed;
        // a temporary file; a whole event that never got committed.
        std::fs::write(folder.join("ended.jpg"), b"orphan").unwrap();
        std::fs::write(folder.join(".ended-crop.jpg.tmp-42"), b"half").unwrap();
        let stray = sample_event("cam1", 5).id;
        std::fs::create_dir_all(root.join(&stray)).unwrap();
        std::fs::write(root.join(&stray).join("clip.mp4"), vec![0u8; 1000]).unwrap();
        std::fs::create_dir_all(root.join("not-ours")).unwrap();
        std::fs::write(root.join("not-ours/x"), b"x").unwrap();
        let r = ob.sweep_evidence_at_start(&root).unwrap();
        assert_eq!(r.adopted, 1);
        assert_eq!((r.orphans_removed, r.orphan_bytes), (3, 6 + 4 + 1000));
        assert_eq!(r.missing_marked, 1);
        assert!(folder.join("a.jpg").exists());
        assert!(!folder.join("ended.jpg").exists() && !root.join(&stray).exists());
        assert!(
            root.join("not-ours/x").exists(),
            "not an event folder: not ours"
        );
        let c = ob.counters().unwrap();
        assert_eq!((c.orphan_files_removed, c.orphan_bytes_removed), (3, 1010));
        assert_eq!((c.media_dropped, c.evidence_dropped.write_failed), (1, 1));
        // A second start finds nothing more to do.
        let again = ob.sweep_evidence_at_start(&root).unwrap();
        assert_eq!((again.orphans_removed, again.missing_marked), (0, 0));
    }

    #[test]
    fn retention_deletes_only_kept_delivered_files_and_tells_the_outbox() {
        use crate::evidence::retention::{Ledger, enforce};
        use crate::ingest::MediaTime;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("evidence");
        let mut ob = Outbox::open(&dir.path().join("o.sqlite"), 1 << 30).unwrap();
        ob.set_keep_delivered_media(true);
        let mut delivered = sample_event("cam1", 0);
        delivered.media = vec![write_media(
            &root.join(&delivered.id),
            "a.jpg",
            &[1u8; 1000],
        )];
        ob.enqueue(&delivered).unwrap();
        deliver_all(&ob);
        let mut end = delivered.clone();
        end.phase = Phase::Ended;
        end.seq = 1;
        end.media.clear();
        ob.enqueue(&end).unwrap();
        deliver_all(&ob);
        let mut pending = sample_event("cam1", 1);
        pending.media = vec![write_media(&root.join(&pending.id), "b.jpg", &[2u8; 1000])];
        ob.enqueue(&pending).unwrap();
        assert_eq!(ob.kept().unwrap().len(), 1);
        let r = enforce(
            &root,
            MediaTime::from_secs_f64(1_763_700_010.0),
            1e9,
            10,
            &ob,
        )
        .unwrap();
        assert_eq!(r.deleted.len(), 1);
        assert_eq!(r.removed_dirs, 1, "the ended event's empty folder");
        assert!(
            root.join(&pending.id).join("b.jpg").exists(),
            "undelivered: the outbox owns it"
        );
        assert!(ob.kept().unwrap().is_empty());
        assert_eq!(
            counter_sum(&ob.counters().unwrap()),
            0,
            "delivered history is no loss"
        );
        assert_eq!(
            super::super::history::media(&ob.path, &delivered.id, "a.jpg").unwrap(),
            super::super::history::MediaLookup::Gone
        );
    }
}
