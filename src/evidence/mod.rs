//! Evidence: the files that let an operator open a case without going to the street —
//! annotated full-resolution snapshots, a crop of the subject and a short clip — each
//! written atomically, fsynced and described by a [`MediaRef`] with its sha256.
//!
//! Modules: [`snapshot`] (decode a frame from the encoded ring, draw, black out privacy
//! zones, JPEG), [`clip`] (cut the ring and remux to MP4 without re-encoding),
//! [`job`] (evidence that completes later, once the ring holds the post-roll),
//! [`collect`] (holds events until their evidence is written, then attaches it),
//! [`retention`] (bounded local storage), [`files`] (atomic writes and digests).
//!
//! [`MediaRef`]: crate::rules::event::MediaRef

pub mod caption;
pub mod clip;
pub mod collect;
pub mod decode;
pub mod files;
pub mod job;
pub mod labels;
pub mod photoset;
pub mod plate;
pub mod retention;
pub mod snapshot;

use crate::rules::event::MediaLoss;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Pre- and post-roll of a clip, seconds of media time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClipWindowConfig {
    /// Seconds before the event moment (default 10). The clip starts on the keyframe
    /// at or before this, so it may start up to one GOP earlier.
    #[serde(default = "ten")]
    pub pre_roll_s: f64,
    /// Seconds after the event moment (default 10); the clip is written once the ring
    /// holds them.
    #[serde(default = "ten")]
    pub post_roll_s: f64,
}

fn ten() -> f64 {
    10.0
}

impl Default for ClipWindowConfig {
    fn default() -> Self {
        Self {
            pre_roll_s: 10.0,
            post_roll_s: 10.0,
        }
    }
}

/// `[events.evidence]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceConfig {
    /// Where evidence files go (default `<state_dir>/evidence` when empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// Clip window for every rule unless overridden below.
    #[serde(default)]
    pub clip: ClipWindowConfig,
    /// Clip window of illegal-parking events (default: `clip`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub illegal_parking_clip: Option<ClipWindowConfig>,
    /// Clip window of littering acts (default: `clip`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub littering_clip: Option<ClipWindowConfig>,
    /// JPEG quality of snapshots, 1–100 (default 85).
    #[serde(default = "default_quality")]
    pub jpeg_quality: u8,
    /// Also write a re-encoded clip with privacy zones blacked out (openh264), beside
    /// the untouched remuxed one (default false: re-encoding costs CPU).
    #[serde(default)]
    pub redacted_clip: bool,
    /// Delete delivered evidence kept on the box (`uplink.keep_delivered_media`) once
    /// it is older than this many hours (default 168 = 7 days). Evidence not yet
    /// delivered is never deleted by age: the outbox owns it.
    #[serde(default = "default_max_age_h")]
    pub max_age_hours: f64,
    /// Keep the evidence folder under this many MiB by deleting delivered evidence
    /// kept on the box, oldest first (default 2048). Every byte counts, but evidence
    /// not yet delivered is never deleted for it (`uplink.disk_cap_mb` bounds that).
    #[serde(default = "default_max_total_mib")]
    pub max_total_mib: u64,
    /// Evidence jobs waiting for post-roll at once per camera (default 32); more are
    /// refused rather than queued without bound.
    #[serde(default = "default_max_pending")]
    pub max_pending_jobs: usize,
    /// Licence plates of parked vehicles (`[events.evidence.plates]`).
    #[serde(default)]
    pub plates: plate::PlateConfig,
}

fn default_quality() -> u8 {
    85
}
fn default_max_age_h() -> f64 {
    168.0
}
fn default_max_total_mib() -> u64 {
    2048
}
fn default_max_pending() -> usize {
    32
}

impl Default for EvidenceConfig {
    fn default() -> Self {
        Self {
            dir: None,
            clip: ClipWindowConfig::default(),
            illegal_parking_clip: None,
            littering_clip: None,
            jpeg_quality: default_quality(),
            redacted_clip: false,
            max_age_hours: default_max_age_h(),
            max_total_mib: default_max_total_mib(),
            max_pending_jobs: default_max_pending(),
            plates: plate::PlateConfig::default(),
        }
    }
}

/// Why evidence could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    #[error("evidence file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the encoded ring holds nothing for {what}")]
    NothingInRing { what: String },
    #[error("the ring has no stream caps yet (camera not connected)")]
    NoCaps,
    #[error("GStreamer {stage}: {reason}")]
    Gst { stage: &'static str, reason: String },
    #[error("JPEG encoding: {0}")]
    Jpeg(String),
    #[error("privacy mask: {0}")]
    Privacy(#[from] crate::rules::privacy::PrivacyError),
    #[error("too many evidence jobs pending ({0}); job refused")]
    Busy(usize),
    #[error("evidence file {path}: the disk is full ({reason})")]
    DiskFull { path: PathBuf, reason: String },
    #[error("caption: {0}")]
    Font(String),
}

impl EvidenceError {
    /// Why the evidence is lost, as the event and the counters name it.
    pub fn loss(&self) -> MediaLoss {
        match self {
            EvidenceError::DiskFull { .. } => MediaLoss::DiskFull,
            EvidenceError::Io { source, .. } if is_no_space(source) => MediaLoss::DiskFull,
            EvidenceError::Busy(_) => MediaLoss::Cap,
            _ => MediaLoss::WriteFailed,
        }
    }

    /// What went wrong, without the box's file paths (it travels in the event).
    pub fn detail(&self) -> String {
        match self {
            EvidenceError::Io { source, .. } => source.to_string(),
            EvidenceError::DiskFull { reason, .. } => format!("the disk is full ({reason})"),
            other => other.to_string(),
        }
    }
}

/// ENOSPC or EDQUOT: the filesystem (or the quota) has no room.
pub fn is_no_space(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
        || e.kind() == std::io::ErrorKind::StorageFull
        || e.kind() == std::io::ErrorKind::QuotaExceeded
}
