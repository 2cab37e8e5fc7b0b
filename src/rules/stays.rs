//! Open stays that survive a restart: `<state_dir>/stays/<camera>.json`.
//!
//! A parked car or a litter pile is one case on the platform, `started` … `ended`. A
//! process that forgets its open cases at a restart leaves every one of them open on
//! the platform forever and reopens the same car under a new id after the dwell. So
//! the façade ([`crate::rules::engine::CameraEvents`]) keeps, per camera, one small
//! JSON file of its open cases (confirmed parking stays, reported litter spots), and
//! on start each one is either resumed or closed:
//!
//! * **Resumed** when the same object is seen again in place (same zone, overlapping
//!   the stored box: IoU ≥ `REBIND_IOU` for vehicles of the same family, the spot's
//!   original box for litter) within a grace period after the first analysed frame:
//!   the case keeps its event id and its phases continue their `seq`.
//! * **Closed** otherwise, with `ended` and `end_reason: "restart"` (or
//!   `"zone_removed"` when its zone is gone, `"camera_removed"` when its camera is).
//!
//! **Time.** Rules run on media time, and media time restarts with the process: a
//! live camera's is wall-clock anchored (so stored times compare as they are,
//! [`MediaClock::Wall`]), a replay's starts again at the file's start
//! ([`MediaClock::Restarts`]: stored times are shifted so the last saved frame is the
//! new run's first, which keeps replays deterministic). Each file records the media
//! time and the wall time of its last write. A live stay is resumed only when the box
//! was down less than [`RESUME_MAX_GAP_S`] (measured from the stay's last stored
//! sighting; the file is refreshed every [`REFRESH_S`] while cases are open): after a
//! longer outage the car in the bay may well be another one.
//!
//! **Decided but never committed.** A phase leaves the rules before the outbox commits
//! it (the collector holds `started` until its clip's post-roll is written), so a kill
//! can lose a `started` the file already names. On start the file is reconciled with
//! what the outbox holds ([`Committed`]): a case whose `started` never reached it is
//! decided again when its object is seen again (fresh evidence, same id, seq 0), and
//! when it is not, its stored `started` is sent (without media: the evidence died with
//! the process; `details.resent_after_restart = true`) just before its `ended`. So the
//! platform never gets an `updated`/`ended` for a case it has no `started` for, and a
//! decided case is never silently dropped. `ended` phases whose commit is not known
//! yet stay in the file (`closing`) and are sent again at the next start if the outbox
//! lacks them; the outbox ignores a key it already has, so nothing is doubled.
//!
//! The file is written atomically (temp, fsync, rename, dir fsync) when a case starts,
//! updates or ends, and at most every [`REFRESH_S`] otherwise; it is bounded by the
//! rules' own bounds (≤ 384 open cases, ≤ [`MAX_CLOSING`] closing phases, ~2 KiB each).

use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::infer::{BBox, Category};
use crate::ingest::MediaTime;
use crate::rules::event::{EndReason, Event, EventKind, Phase, rfc3339};
use crate::rules::output::{OpenEpisode, SubjectInfo};

/// Format version written into every file.
pub const STAYS_VERSION: u32 = 1;
/// Closing phases remembered until their commit is confirmed (oldest forgotten first).
pub const MAX_CLOSING: usize = 256;
/// Open cases kept in one file: the parking and litter rules' own bounds.
pub const MAX_OPEN: usize =
    crate::rules::illegal_parking::MAX_STAYS + crate::rules::littering::MAX_SPOTS;
/// A file larger than this is not read (it cannot be one of ours).
pub const MAX_FILE_BYTES: u64 = 4 << 20;
/// Longest outage (seconds between a live stay's last stored sighting and the first
/// frame after the restart) after which the object in place still continues the case.
pub const RESUME_MAX_GAP_S: f64 = 900.0;
/// While cases are open the file is rewritten at least this often (media seconds), so
/// the stored last sightings are recent.
pub const REFRESH_S: f64 = 60.0;
/// Grace period beyond the tracker's stillness time: a restored stay waits at least
/// `stationary_after_s + RESUME_MARGIN_S` for its vehicle to be tracked as still again.
pub const RESUME_MARGIN_S: f64 = 15.0;

/// Why a stays file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StaysError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a stays file ({reason})")]
    Format { path: PathBuf, reason: String },
}

/// How media time relates across a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaClock {
    /// Live cameras: media time is wall-clock anchored; stored times compare as they are.
    Wall,
    /// Replays: media time starts again with the file; stored times are shifted so the
    /// last saved frame is the new run's first.
    Restarts,
}

/// What the destination holds of an event id's phases, asked once per id on start.
#[derive(Debug, Clone, PartialEq)]
pub enum Committed {
    /// Everything decided was handed over (a replay prints every phase before it ends).
    All,
    /// These `(phase, seq)` and no others are in the outbox.
    Keys(Vec<(Phase, u32)>),
    /// Cannot tell (outbox unreadable): nothing is assumed committed; phases sent again
    /// keep their key, so the outbox de-duplicates them.
    Unknown,
}

/// One open case as persisted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StayRecord {
    pub kind: EventKind,
    /// The event id the case keeps across restarts.
    pub id: String,
    /// `seq` of the case's next phase.
    pub next_seq: u32,
    pub zone_id: String,
    pub category: String,
    pub class_name: String,
    pub score: f32,
    /// Subject box (last detection), analysis-frame pixels.
    pub bbox: BBox,
    pub track_id: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub related_track_ids: Vec<u64>,
    /// The box a returning object must overlap (tracked box / spot's original box).
    pub anchor: BBox,
    /// First still / first seen, media ns.
    pub start_media_ns: i64,
    pub last_seen_media_ns: i64,
    pub last_report_media_ns: i64,
    /// True once a start found `started` in the outbox; false while its commit is not
    /// confirmed (decided in the last run).
    #[serde(default)]
    pub started_committed: bool,
    /// Seconds of pauses not counted in the dwell ([`OpenEpisode::paused_s`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub paused_s: f64,
    /// Later patrol visits that found the object again.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub visits: u32,
    /// The decided `started` phase, media stripped: sent again if it never reached the
    /// outbox, and the template of a closing `ended` when the camera is gone.
    pub started: Event,
}

impl StayRecord {
    /// The record of an open episode with its event id, next seq and `started` phase.
    pub fn new(
        ep: &OpenEpisode,
        id: &str,
        next_seq: u32,
        started: &Event,
        committed: bool,
    ) -> Self {
        Self {
            kind: ep.kind,
            id: id.to_string(),
            next_seq,
            zone_id: ep.zone_id.clone(),
            category: ep.subject.category.as_str().to_string(),
            class_name: ep.subject.class_name.clone(),
            score: ep.subject.score,
            bbox: ep.subject.bbox,
            track_id: ep.subject.track_id,
            related_track_ids: ep.subject.related_track_ids.clone(),
            anchor: ep.anchor,
            start_media_ns: ep.start.0,
            last_seen_media_ns: ep.last_seen.0,
            last_report_media_ns: ep.last_report.0,
            started_committed: committed,
            paused_s: ep.paused_s,
            visits: ep.visits,
            started: strip(started),
        }
    }

    /// Moves the stored media times by `shift_ns` (replays, see [`MediaClock`]), never
    /// later than `now` (a clock set back must not put a case in the future).
    pub fn shift(&mut self, shift_ns: i64, now: MediaTime) {
        for t in [
            &mut self.start_media_ns,
            &mut self.last_seen_media_ns,
            &mut self.last_report_media_ns,
        ] {
            *t = t.saturating_add(shift_ns).min(now.0);
        }
    }

    /// The episode a rule takes back.
    pub fn episode(&self) -> OpenEpisode {
        let t = MediaTime;
        OpenEpisode {
            key: 0,
            kind: self.kind,
            zone_id: self.zone_id.clone(),
            subject: SubjectInfo {
                category: Category::new(&self.category),
                class_name: self.class_name.clone(),
                score: self.score,
                bbox: self.bbox,
                track_id: self.track_id,
                related_track_ids: self.related_track_ids.clone(),
            },
            anchor: self.anchor,
            start: t(self.start_media_ns),
            last_seen: t(self.last_seen_media_ns),
            last_report: t(self.last_report_media_ns),
            paused_s: self.paused_s,
            visits: self.visits,
        }
    }

    /// Applies what the outbox holds of this case; true when its `started` must be
    /// decided (or sent) again.
    fn reconcile(&mut self, c: &Committed) -> bool {
        match c {
            Committed::All => {
                self.started_committed = true;
                false
            }
            Committed::Unknown => !self.started_committed,
            Committed::Keys(keys) => {
                // Phases of one id are committed in order: any row means `started`
                // got there.
                if !keys.is_empty() {
                    self.started_committed = true;
                }
                // Continue after the last committed phase: a phase decided but lost at
                // the kill never reached anyone, so its seq is free again. Without
                // rows (pruned history) keep counting from the file.
                match keys.iter().map(|k| k.1).max() {
                    Some(m) => self.next_seq = m + 1,
                    None if !self.started_committed => self.next_seq = 0,
                    None => {}
                }
                !self.started_committed
            }
        }
    }
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}

/// Everything persisted for one camera.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StaysFile {
    pub version: u32,
    pub camera: String,
    /// Media time of the last analysed frame when written.
    pub saved_media_ns: i64,
    /// Wall clock (Unix ms) when written, for people reading the file.
    pub saved_wall_ms: i64,
    #[serde(default)]
    pub stays: Vec<StayRecord>,
    /// Phases of closed cases whose commit is not confirmed yet (media stripped).
    #[serde(default)]
    pub closing: Vec<Event>,
}

impl StaysFile {
    pub fn new(camera: &str, saved_media: MediaTime) -> Self {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        Self {
            version: STAYS_VERSION,
            camera: camera.to_string(),
            saved_media_ns: saved_media.0,
            saved_wall_ms: wall,
            stays: Vec::new(),
            closing: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.stays.is_empty() && self.closing.is_empty()
    }

    /// Every event id the file names (open cases and closing phases).
    pub fn event_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .stays
            .iter()
            .map(|s| s.id.clone())
            .chain(self.closing.iter().map(|e| e.id.clone()))
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }
}

/// A file reconciled with the outbox: open cases (with whether `started` must be
/// decided again) and the closing phases the outbox lacks (to send again).
#[derive(Debug, Clone, PartialEq)]
pub struct Reconciled {
    pub saved_media: MediaTime,
    pub stays: Vec<(StayRecord, bool)>,
    pub resend: Vec<Event>,
}

/// Reconciles `file` with `committed` (asked per event id).
pub fn reconcile(file: StaysFile, committed: &dyn Fn(&str) -> Committed) -> Reconciled {
    let stays = file
        .stays
        .into_iter()
        .map(|mut s| {
            let resend = s.reconcile(&committed(&s.id));
            (s, resend)
        })
        .collect();
    let resend = file
        .closing
        .into_iter()
        .filter(|e| !is_committed(e, &committed(&e.id)))
        .collect();
    Reconciled {
        saved_media: MediaTime(file.saved_media_ns),
        stays,
        resend,
    }
}

/// Whether `e`'s key is among what the destination holds.
pub fn is_committed(e: &Event, c: &Committed) -> bool {
    match c {
        Committed::All => true,
        Committed::Unknown => false,
        Committed::Keys(k) => k.contains(&(e.phase, e.seq)),
    }
}

/// Closes every case of a reconciled file without frames (its camera is gone): the
/// phases to send, in order: each case's stored `started` when it never reached the
/// outbox, then its `ended` at its last stored sighting, reported `at`; then the
/// closing phases the outbox lacks.
pub fn close_all(r: Reconciled, at: MediaTime, reason: EndReason, tz: Tz) -> Vec<Event> {
    let mut out = Vec::new();
    for (s, resend) in r.stays {
        let mut seq = s.next_seq;
        if resend {
            out.push(resent_started(&s.started));
            seq = seq.max(1);
        }
        out.push(ended_from(&s, seq, at, reason, tz));
    }
    out.extend(r.resend);
    out
}

/// A phase as persisted: no media (its files belong to the outbox or died with the
/// process) and no signature (the uplink signs what it sends).
pub fn strip(e: &Event) -> Event {
    Event {
        media: Vec::new(),
        signature: None,
        ..e.clone()
    }
}

/// The stored `started` of a case, sent after a restart because the outbox never got
/// it: same key, no media, marked `details.resent_after_restart`.
pub fn resent_started(started: &Event) -> Event {
    let mut e = strip(started);
    e.details
        .insert("resent_after_restart".into(), serde_json::Value::Bool(true));
    e
}

/// The `ended` phase of a persisted case, built without a frame: it ended at its last
/// stored sighting, reported at `at`.
pub fn ended_from(s: &StayRecord, seq: u32, at: MediaTime, reason: EndReason, tz: Tz) -> Event {
    let end = MediaTime(s.last_seen_media_ns.max(s.start_media_ns));
    let start = MediaTime(s.start_media_ns);
    let secs = end.secs_since(start).max(0.0);
    let mut e = strip(&s.started);
    e.phase = Phase::Ended;
    e.seq = seq;
    e.times.end_media_ns = Some(end.0);
    e.times.end = Some(rfc3339(end, tz));
    e.times.reported = rfc3339(at.max(end), tz);
    e.duration_s = Some(secs);
    e.end_reason = Some(reason);
    let zone = e
        .zone
        .as_ref()
        .map(|z| {
            if z.name.is_empty() {
                z.id.clone()
            } else {
                z.name.clone()
            }
        })
        .unwrap_or_else(|| s.zone_id.clone());
    let code_name = e.category.name.clone();
    let (zh, en) = crate::rules::engine::describe(
        e.kind,
        &code_name,
        &e.subject.class_name,
        &e.subject.category,
        &zone,
        secs,
        &e.details,
    );
    e.description.zh = zh;
    e.description.en = en;
    e
}

/// `<state_dir>/stays/<camera>.json`.
pub fn stays_path(state_dir: &Path, camera_id: &str) -> PathBuf {
    stays_dir(state_dir).join(format!("{camera_id}.json"))
}

/// `<state_dir>/stays`.
pub fn stays_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("stays")
}

/// Reads a stays file; None when there is none.
pub fn load(path: &Path) -> Result<Option<StaysFile>, StaysError> {
    let io = |source| StaysError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let bad = |reason: String| StaysError::Format {
        path: path.to_path_buf(),
        reason,
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(bad(format!("{} bytes", meta.len())));
    }
    let text = std::fs::read(path).map_err(io)?;
    let mut f: StaysFile = serde_json::from_slice(&text).map_err(|e| bad(e.to_string()))?;
    if f.version != STAYS_VERSION {
        return Err(bad(format!("version {}", f.version)));
    }
    f.stays.truncate(MAX_OPEN);
    let extra = f.closing.len().saturating_sub(MAX_CLOSING);
    f.closing.drain(..extra);
    Ok(Some(f))
}

/// Writes `file` atomically (temp, fsync, rename, dir fsync); an empty one is removed.
pub fn save(path: &Path, file: &StaysFile) -> Result<(), StaysError> {
    let io = |source| StaysError::Io {
        path: path.to_path_buf(),
        source,
    };
    if file.is_empty() {
        return match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(e)),
            _ => Ok(()),
        };
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let bytes = serde_json::to_vec(file).map_err(|e| StaysError::Format {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    crate::config::write_atomic(path, &bytes).map_err(io)
}

/// Stays files under `state_dir` (for closing those of removed cameras).
pub fn list(state_dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(stays_dir(state_dir)) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    v.sort();
    v
}

#[cfg(test)]
#[path = "stays_tests.rs"]
mod tests;
