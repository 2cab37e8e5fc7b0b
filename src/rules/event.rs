//! The typed city-management event: what the rules produce, what the outbox stores and
//! what the platform receives (schema `streetwatch.event/v1`).
//!
//! One event id (UUIDv7, so ids sort by creation time) covers a whole occurrence: a car
//! parked for an hour is one event with phases `started`, `updated`… and `ended`, and
//! (id, phase, seq) is the idempotency key a receiver de-duplicates on.

use crate::infer::BBox;
use crate::ingest::MediaTime;
use crate::rules::zone::GeoPoint;
use serde::{Deserialize, Serialize};

/// Schema identifier carried in every event.
pub const EVENT_SCHEMA: &str = "streetwatch.event/v1";

/// What an event is about. The built-in kinds have their own rules (littering acts,
/// the road-damage registry, the scene's tampering checks); every other kind is a
/// free-text id an integrator gives a generic rule in configuration (`street_vending`,
/// `crowd`…), carried in the JSON as it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    /// 机动车乱停放 (motor vehicle) or 非机动车乱停放 (bicycles, motorcycles).
    IllegalParking,
    /// 暴露垃圾: litter lying in a watched zone.
    ExposedGarbage,
    /// 乱扔垃圾: a person dropped litter that stayed.
    LitteringAct,
    /// 道路破损: potholes and cracks.
    RoadDamage,
    /// The camera itself: moved, blocked, defocused or without a signal
    /// (`details.tamper`); while it lasts the camera's other rules pause.
    CameraTampering,
    /// A kind named in configuration (see [`EventKind::named`]).
    Custom(&'static str),
}

/// Why a kind id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "event kind \"{0}\" is invalid; use 1-64 lower-case letters, digits or '_' starting with a letter, e.g. \"street_vending\""
)]
pub struct BadKind(pub String);

/// Most distinct custom kind ids a process interns (configuration names a handful).
const MAX_KINDS: usize = 4096;
/// The custom kind ids interned so far.
static KIND_NAMES: std::sync::OnceLock<std::sync::Mutex<Vec<&'static str>>> =
    std::sync::OnceLock::new();

impl EventKind {
    /// The built-in kinds.
    pub const BUILT_IN: [EventKind; 5] = [
        EventKind::IllegalParking,
        EventKind::ExposedGarbage,
        EventKind::LitteringAct,
        EventKind::RoadDamage,
        EventKind::CameraTampering,
    ];

    /// The kind with id `s`: a built-in one, or a custom kind. Custom ids are interned
    /// once per process (a kind is `Copy`, so rules and counters key on it freely);
    /// configuration names a handful, and past [`MAX_KINDS`] new names are refused.
    pub fn named(s: &str) -> Result<EventKind, BadKind> {
        if let Some(k) = Self::BUILT_IN.iter().find(|k| k.as_str() == s) {
            return Ok(*k);
        }
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.as_bytes()[0].is_ascii_lowercase()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !ok {
            return Err(BadKind(s.to_string()));
        }
        let mut names = KIND_NAMES
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(n) = names.iter().find(|n| **n == s) {
            return Ok(EventKind::Custom(n));
        }
        if names.len() >= MAX_KINDS {
            return Err(BadKind(s.to_string()));
        }
        // Leaked on purpose: bounded by MAX_KINDS short strings for the process life.
        let n: &'static str = Box::leak(s.to_string().into_boxed_str());
        names.push(n);
        Ok(EventKind::Custom(n))
    }

    /// The kind with id `s` when it is built in or already named (by configuration or
    /// a stored event); never adds one, so ids from outside (a page filter) cannot
    /// fill the table that configured kinds need.
    pub fn known(s: &str) -> Option<EventKind> {
        if let Some(k) = Self::BUILT_IN.iter().find(|k| k.as_str() == s) {
            return Some(*k);
        }
        let names = KIND_NAMES.get()?.lock().unwrap_or_else(|p| p.into_inner());
        names
            .iter()
            .find(|n| **n == s)
            .map(|n| EventKind::Custom(n))
    }

    /// The id as it appears in the JSON, e.g. "illegal_parking", "street_vending".
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::IllegalParking => "illegal_parking",
            EventKind::ExposedGarbage => "exposed_garbage",
            EventKind::LitteringAct => "littering_act",
            EventKind::RoadDamage => "road_damage",
            EventKind::CameraTampering => "camera_tampering",
            EventKind::Custom(s) => s,
        }
    }

    pub fn is_custom(self) -> bool {
        matches!(self, EventKind::Custom(_))
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EventKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        EventKind::named(&s).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Started,
    Updated,
    Ended,
}

/// Why an occurrence ended: carried by `ended` phases (`end_reason`), so a receiver can
/// tell a vehicle that drove off from a case the box had to close for its own reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The subject is gone: the vehicle drove off or was not seen for `leave_after_s`,
    /// the litter was not seen for `gone_after_s`.
    Gone,
    /// The zone's schedule window closed while the subject was still there.
    ScheduleEnded,
    /// The zone (or its rule) was removed by a configuration change.
    ZoneRemoved,
    /// The box restarted and the subject was not seen again in place within the grace
    /// period (or the box was down too long to tell it is the same one).
    Restart,
    /// The camera was removed from the configuration or disabled.
    CameraRemoved,
    /// The camera moved (a PTZ camera sent elsewhere, a camera turned or covered) and
    /// did not come back to the same view in time, or the vehicle was no longer there
    /// when it did.
    CameraMoved,
    /// `camera_tampering` only: the technician set a new reference view, accepting
    /// what the camera shows now.
    ReferenceUpdated,
}

/// 事项 (a matter/event) or 部件 (an asset): their 5-digit codes collide, so every code
/// carries its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CodeKind {
    Matter,
    Asset,
}

/// Platform category (GB/T 47678.5-2026 by default; configurable per deployment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryCode {
    /// 5 digits: 2-digit big class + 3-digit small class, e.g. "09009".
    pub code: String,
    /// 11 characters: administrative division + code, e.g. "44080209009", when the
    /// division is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_code: Option<String>,
    pub kind: CodeKind,
    /// Name in the standard, e.g. "机动车乱停放".
    pub name: String,
    /// e.g. "GB/T 47678.5-2026".
    pub taxonomy: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceRef {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub division_code: Option<String>,
    pub firmware_version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CameraRef {
    pub id: String,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub name: String,
    /// GB/T 28181 device id, when the site uses one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub gb28181_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoneRef {
    pub id: String,
    pub name: String,
    /// 事发位置.
    pub location: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub coordinates: Option<GeoPoint>,
    /// 15-digit unit grid code.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub grid_code: Option<String>,
    /// 17-digit asset id (部件标识码).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub asset_id: Option<String>,
}

/// The object the event is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subject {
    /// streetwatch category, e.g. `vehicle.car`.
    pub category: String,
    pub class_name: String,
    pub score: f32,
    /// Box in full-resolution frame pixels.
    pub bbox: BBox,
    /// Box normalised to 0..1 (survives resolution changes).
    pub bbox_norm: BBox,
    pub track_id: u64,
    /// Related tracks, e.g. the person who dropped the litter.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub related_track_ids: Vec<u64>,
    /// Illegal parking of a motor vehicle: the licence plate read from the main-stream
    /// pictures (`Some(Some(_))`), or `null` (`Some(None)`, then `plate_unread` says
    /// why); absent for other events or with plate reading off.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub plate: Option<Option<PlateInfo>>,
    /// Why `plate` is null.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plate_unread: Option<PlateUnread>,
}

/// A licence plate read off the evidence pictures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlateInfo {
    /// e.g. "粤G12345", or "粤GD12345" for a green new-energy plate.
    pub text: String,
    /// Mean character confidence of the best agreeing read (0..1).
    pub confidence: f32,
    pub colour: crate::infer::plate::PlateColour,
    /// The plate's box in main-stream (full-resolution) pixels.
    pub bbox: BBox,
    /// Its corners (top-left, top-right, bottom-right, bottom-left), same pixels.
    pub corners: [[f32; 2]; 4],
    /// The plate's width in pixels (mean of its top and bottom edges).
    pub width_px: f32,
    /// Frames whose read agreed on `text`.
    pub reads: u32,
    /// Frames read in all.
    pub frames: u32,
}

/// Why no plate could be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlateUnreadReason {
    /// No plate on the vehicle in any frame (seen from the side, covered, no plate).
    NoPlateVisible,
    /// The plate (or, when none was found, the vehicle) is too small in the picture:
    /// `width_px` against `min_width_px`.
    TooSmall,
    /// Plates were found, but no read reached `min_confidence`.
    LowConfidence,
    /// The plate models could not be loaded (`detail` says why).
    ReaderUnavailable,
}

/// The details of a missing plate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlateUnread {
    pub reason: PlateUnreadReason,
    /// Frames read in all.
    pub frames: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width_px: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_width_px: Option<f32>,
    /// The best read that did not count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_confidence: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The photo set of an illegal-parking case (GA/T 832 practice), by media name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhotoSet {
    /// Wide shots from the main stream in time order: first seen stationary, then
    /// confirmation.
    pub wide: Vec<String>,
    /// Seconds between the first and the last wide shot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_s: Option<f64>,
    /// The zone's `evidence_interval_s` (its dwell when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_interval_s: Option<f64>,
    /// The plate close-up, when a plate was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plate_closeup: Option<String>,
    /// One 2x2 picture: the two wide shots, the close-up and an information panel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub composite: Option<String>,
}

/// Serde for `Option<Option<T>>`: absent = `None`, `null` = `Some(None)`.
mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, T: Serialize>(
        v: &Option<Option<T>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(inner) => inner.serialize(s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// When, in media time (ns since epoch) and as RFC 3339 text with the box's offset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventTimes {
    pub start_media_ns: i64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub end_media_ns: Option<i64>,
    /// Discovery time (start), e.g. "2026-11-21T08:00:00+08:00".
    pub start: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub end: Option<String>,
    /// When this phase was produced (media time of the confirming frame).
    pub reported: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Snapshot,
    Crop,
    Clip,
}

/// Why evidence will not reach the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaLoss {
    /// The filesystem was full: the file could not be written, or was given back to
    /// make room.
    DiskFull,
    /// A bound was reached: the outbox disk cap (`uplink.disk_cap_mb`) or the limit of
    /// evidence jobs waiting at once.
    Cap,
    /// The file could not be produced or read back (no video for that moment, an
    /// encoder error, the file vanished).
    WriteFailed,
}

impl MediaLoss {
    /// The reason as it appears in the JSON, health and `/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaLoss::DiskFull => "disk_full",
            MediaLoss::Cap => "cap",
            MediaLoss::WriteFailed => "write_failed",
        }
    }

    pub const ALL: [MediaLoss; 3] = [MediaLoss::DiskFull, MediaLoss::Cap, MediaLoss::WriteFailed];
}

/// Evidence an event expected, or names in `media`, that will not be delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MissingMedia {
    /// The file name the evidence has (or would have had) in this event.
    pub name: String,
    pub kind: MediaKind,
    pub reason: MediaLoss,
    /// What went wrong, for people (e.g. "No space left on device (os error 28)").
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub detail: Option<String>,
}

/// One evidence file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaRef {
    /// Unique within the event, e.g. "snapshot-1.jpg", "clip.mp4".
    pub name: String,
    pub kind: MediaKind,
    pub content_type: String,
    pub bytes: u64,
    pub sha256: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub height: Option<u32>,
    /// Media time the snapshot shows, or the clip's real start.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub start_media_ns: Option<i64>,
    /// Clip's real end.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub end_media_ns: Option<i64>,
    /// Clip only: true when the GOP or the ring made the pre-roll shorter than asked.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub preroll_short: bool,
    /// Clip only: privacy zones overlap the picture; this clip is not redacted.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub privacy_unredacted: bool,
    /// Which stream of a camera with two streams this file was cut from: `main`
    /// (`url`, full resolution) or `analysis` (`analysis_url`, the substream: only
    /// while the main stream was unavailable). Absent for a camera with one stream.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub stream: Option<crate::ingest::camera::StreamRole>,
    /// Pictures: rows at the bottom that hold the burned-in caption strip (below the
    /// camera's picture, never over it).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub caption_px: Option<u32>,
    /// Pictures: the caption strip's text, line by line.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub caption: Vec<String>,
    /// Local path on the box (not part of the signed payload sent upstream).
    #[serde(skip)]
    pub local_path: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRef {
    pub id: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Description {
    pub zh: String,
    pub en: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signature {
    /// "ed25519".
    pub alg: String,
    /// Hex sha256 of the public key, first 16 characters.
    pub key_id: String,
    /// Base64 signature over the canonical JSON of the event without this field.
    pub value: String,
}

/// The box's clock state carried by an event: evidence is only as good as its time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClockInfo {
    /// The system clock is NTP-synchronised (kernel state from `adjtimex`).
    pub synchronised: bool,
    /// Offset the NTP discipline is still correcting, milliseconds, when known.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub offset_ms: Option<f64>,
    /// The kernel's maximum error estimate, milliseconds, when known.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub max_error_ms: Option<f64>,
    /// The largest clock jump (2 s or more) during this occurrence so far, found by
    /// comparing media time and the wall clock with the monotonic clock.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub jump: Option<ClockJumpInfo>,
}

/// A clock jump during an occurrence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClockJumpInfo {
    /// `media`: media time moved against the monotonic clock (re-anchored after a
    /// reconnect on a changed wall clock, or the camera's clock jumped); `system`: the
    /// box's wall clock was stepped.
    pub kind: String,
    /// Signed size, seconds (positive: forward).
    pub seconds: f64,
    /// Media time just before the jump, RFC 3339.
    pub at: String,
}

/// A city-management event, one phase of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Always [`EVENT_SCHEMA`].
    pub schema: String,
    /// UUIDv7, stable across the phases of one occurrence.
    pub id: String,
    pub kind: EventKind,
    pub phase: Phase,
    /// 0 for `started`, counting up for each `updated`, last for `ended`.
    pub seq: u32,
    pub category: CategoryCode,
    /// Always "video_ai" (视频AI发现).
    pub source: String,
    pub device: DeviceRef,
    pub camera: CameraRef,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub zone: Option<ZoneRef>,
    pub times: EventTimes,
    pub subject: Subject,
    /// Seconds the situation has lasted (parking dwell, litter presence).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub duration_s: Option<f64>,
    /// `ended` only: why the occurrence ended.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub end_reason: Option<EndReason>,
    pub description: Description,
    pub model: ModelRef,
    #[serde(default)]
    pub media: Vec<MediaRef>,
    /// Illegal parking: which media form the photo set.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub photo_set: Option<PhotoSet>,
    /// Some evidence of this event will not be delivered: it could not be written, or
    /// had to be deleted before delivery. `media_missing` says which and why.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub evidence_dropped: bool,
    /// The evidence behind `evidence_dropped`: files that were expected but never
    /// written (not in `media`), and files in `media` deleted before delivery (their
    /// manifest then says `evidence_dropped` and carries no chunks).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub media_missing: Vec<MissingMedia>,
    /// A camera with two streams had its main stream down: this phase's evidence
    /// was cut from the analysis stream (media `stream: "analysis"`, lower
    /// resolution) instead.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub main_stream_unavailable: bool,
    /// The box's clock when the phase was produced (absent in replays, whose times
    /// come from the file).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub clock: Option<ClockInfo>,
    /// Rule-specific facts (e.g. severity, area, growth) as a small typed map.
    #[serde(skip_serializing_if = "serde_json::Map::is_empty", default)]
    pub details: serde_json::Map<String, serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub signature: Option<Signature>,
}

/// A new UUIDv7 whose timestamp is the media time, so replays are reproducible in
/// ordering (the random part still differs per run).
pub fn new_event_id(at: MediaTime) -> String {
    let ms = (at.0 / 1_000_000).max(0) as u64;
    let ts =
        uuid::Timestamp::from_unix(uuid::NoContext, ms / 1000, ((ms % 1000) * 1_000_000) as u32);
    uuid::Uuid::new_v7(ts).to_string()
}

/// RFC 3339 with the box's UTC offset, e.g. "2026-11-21T08:00:00.000+08:00".
pub fn rfc3339(at: MediaTime, tz: chrono_tz::Tz) -> String {
    at.to_utc()
        .with_timezone(&tz)
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_kinds_are_named_by_configuration_and_only_looked_up_from_outside() {
        assert_eq!(
            EventKind::named("illegal_parking"),
            Ok(EventKind::IllegalParking)
        );
        assert!(EventKind::named("Street Vending").is_err());
        assert!(EventKind::named("9lives").is_err());
        assert_eq!(EventKind::known("kind_nobody_configured"), None);
        assert_eq!(
            EventKind::known("kind_nobody_configured"),
            None,
            "not added"
        );
        let k = EventKind::named("street_vending_test").unwrap();
        assert_eq!(k.as_str(), "street_vending_test");
        assert_eq!(EventKind::known("street_vending_test"), Some(k));
        assert_eq!(serde_json::to_value(k).unwrap(), "street_vending_test");
        let back: EventKind =
            serde_json::from_value(serde_json::json!("street_vending_test")).unwrap();
        assert_eq!(back, k);
    }

    #[test]
    fn event_ids_are_uuid_v7_ordered_by_media_time() {
        let a = new_event_id(MediaTime::from_secs_f64(1_700_000_000.0));
        let b = new_event_id(MediaTime::from_secs_f64(1_700_000_001.0));
        assert_eq!(uuid::Uuid::parse_str(&a).unwrap().get_version_num(), 7);
        assert!(a < b);
    }

    #[test]
    fn times_carry_the_box_offset() {
        let s = rfc3339(MediaTime::from_secs_f64(0.0), chrono_tz::Asia::Shanghai);
        assert_eq!(s, "1970-01-01T08:00:00.000+08:00");
    }
}
