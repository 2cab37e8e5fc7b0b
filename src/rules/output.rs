//! What every rule engine returns per analysed frame: event phases and evidence to
//! capture. Rules know nothing about event ids, devices or JSON; the per-camera
//! [`crate::rules::engine::CameraEvents`] turns these into complete [`Event`]s, so each
//! rule stays a small state machine that tests can drive on media time alone.
//!
//! [`Event`]: crate::rules::event::Event

use crate::infer::{BBox, Category};
use crate::ingest::MediaTime;
use crate::rules::event::{EndReason, EventKind, Phase};

/// Identifies one occurrence (one stay, one litter spot, one damage) within one rule
/// instance. The façade maps it to a stable event id.
pub type EpisodeKey = u64;

/// The object an output is about, as the rule saw it last.
#[derive(Debug, Clone, PartialEq)]
pub struct SubjectInfo {
    pub category: Category,
    pub class_name: String,
    pub score: f32,
    /// Box in analysis-frame pixels.
    pub bbox: BBox,
    /// Track id, or 0 for untracked subjects (litter spots, road damage).
    pub track_id: u64,
    /// Related tracks, e.g. the person who dropped the litter.
    pub related_track_ids: Vec<u64>,
}

/// Evidence to take for an episode. Times are media times; snapshots are asked for
/// at the moment they should show (always "now" or earlier, never the future), clips
/// around a centre time with pre- and post-roll.
#[derive(Debug, Clone, PartialEq)]
pub enum CaptureRequest {
    /// One full-resolution picture of the subject, named e.g. `first-stationary`.
    Snapshot {
        name: &'static str,
        at: MediaTime,
        /// Subject box at that time, in analysis-frame pixels.
        bbox: BBox,
    },
    /// A clip from `center - pre_s` to `center + post_s`.
    Clip {
        name: &'static str,
        center: MediaTime,
        pre_s: f64,
        post_s: f64,
    },
}

/// One event phase produced by a rule.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseOutput {
    pub kind: EventKind,
    pub phase: Phase,
    pub zone_id: String,
    pub subject: SubjectInfo,
    /// When the situation began (first seen stationary, litter first seen…).
    pub start: MediaTime,
    /// The frame that produced this phase.
    pub at: MediaTime,
    /// When it ended (`ended` only).
    pub end: Option<MediaTime>,
    /// Seconds it has lasted so far (or in total, for `ended`).
    pub duration_s: Option<f64>,
    /// Rule-specific facts (severity, area, growth…).
    pub details: serde_json::Map<String, serde_json::Value>,
    /// Event id chosen by the rule itself, for rules that persist ids across restarts
    /// (road damage); `None` lets the façade assign one.
    pub event_id: Option<String>,
    /// `ended` only: why it ended.
    pub end_reason: Option<EndReason>,
}

/// A reported occurrence that is still open (a confirmed parking stay, a reported
/// litter spot): what the façade persists so the case survives a restart (see
/// [`crate::rules::stays`]), and what a rule takes back on restore.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenEpisode {
    /// The rule's key (ignored on restore: the rule hands out a new one).
    pub key: EpisodeKey,
    pub kind: EventKind,
    pub zone_id: String,
    pub subject: SubjectInfo,
    /// The box a returning object must overlap to be the same one: the parked
    /// vehicle's tracked box, the litter spot's original box.
    pub anchor: BBox,
    /// When the situation began (first stationary, litter first seen).
    pub start: MediaTime,
    pub last_seen: MediaTime,
    /// Media time of the last `started`/`updated` phase.
    pub last_report: MediaTime,
    /// Seconds the camera looked elsewhere (PTZ, tampering) that do not count for the
    /// dwell; kept so a restart does not fold them back in.
    pub paused_s: f64,
    /// Later patrol visits that found the object again.
    pub visits: u32,
}

/// How a restored episode waits for its object after a restart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resume {
    /// The object must be seen again in place before this media time, or the episode
    /// ends with [`EndReason::Restart`].
    pub grace_until: MediaTime,
    /// The `started` phase was decided but never committed before the restart: when
    /// the object is seen again the rule decides `started` anew (fresh evidence, same
    /// event id, seq 0).
    pub resend_started: bool,
}

/// Everything a rule can say about one episode in one frame.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleOutput {
    /// An event phase.
    Phase { key: EpisodeKey, phase: PhaseOutput },
    /// Evidence to take now for the episode, which may not be an event yet (parking
    /// snapshots are taken at first stillness and half dwell, before confirmation).
    Capture {
        key: EpisodeKey,
        kind: EventKind,
        request: CaptureRequest,
    },
    /// The candidate never became an event; evidence taken for it may be discarded.
    Abandoned { key: EpisodeKey, kind: EventKind },
}

impl RuleOutput {
    pub fn key(&self) -> EpisodeKey {
        match self {
            RuleOutput::Phase { key, .. }
            | RuleOutput::Capture { key, .. }
            | RuleOutput::Abandoned { key, .. } => *key,
        }
    }
}

/// Hands out episode keys, unique per rule instance for the process lifetime.
#[derive(Debug, Default, Clone)]
pub struct KeySource(u64);

impl KeySource {
    pub fn next_key(&mut self) -> EpisodeKey {
        self.0 += 1;
        self.0
    }
}
