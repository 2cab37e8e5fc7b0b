//! What the web page needs from the rest of the box, as a trait the daemon implements,
//! so the web module never reaches into the daemon's internals (and tests can run the
//! page without cameras).

use crate::config::{self, Config, Problem};
use crate::ingest::pipeline::Source;
use crate::ingest::probe::ProbeReport;
use crate::ingest::{CameraStatus, Reason};
use crate::uplink::history::{
    self, EventDetail, EventQuery, EventSummary, HistoryError, MediaLookup,
};
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Mutex;

/// Width of the connection test's preview picture, in pixels.
pub const PREVIEW_MAX_WIDTH: u32 = 640;
/// Narrowest thumbnail served; below this a picture tells a technician nothing.
pub const MIN_THUMBNAIL_WIDTH: u32 = 32;

/// One running camera as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CameraRuntime {
    pub id: String,
    pub status: CameraStatus,
    /// Analysis frames delivered since start.
    pub frames: u64,
    /// Analysis frames dropped because inference was behind.
    pub dropped: u64,
    pub reconnects: u64,
    /// Frames the detectors have analysed since start.
    pub analysed: u64,
    /// Frames analysed per second recently (not the stream's fps: analysis may run at
    /// keyframes only or fall behind).
    pub analysis_fps: f64,
    /// Set while analysis has had far fewer frames than configured for a while, with
    /// the likely cause (see [`crate::ingest::diagnose`]).
    pub analysis_warning: Option<crate::ingest::diagnose::RateWarning>,
    /// A camera with two streams: each stream's state and whether they pair.
    pub streams: Option<crate::ingest::camera::Streams>,
    /// The camera's GOP as measured from the stream (seconds between the last two
    /// keyframes and frames in it); `None` before two keyframes arrived.
    pub gop_s: Option<f64>,
    pub gop_frames: Option<usize>,
}

/// Log severity, most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl std::str::FromStr for LogLevel {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "error" => LogLevel::Error,
            "warn" | "warning" => LogLevel::Warn,
            "info" => LogLevel::Info,
            "debug" => LogLevel::Debug,
            "trace" => LogLevel::Trace,
            _ => return Err(()),
        })
    }
}

/// One recent log record (already free of secrets: the daemon redacts before logging).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogLine {
    /// RFC 3339.
    pub time: String,
    pub level: LogLevel,
    pub target: String,
    pub message: String,
}

/// One detection as the Live page draws it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveDetection {
    /// The model's class name (`car`).
    pub class: String,
    /// The project category (`vehicle.car`).
    pub category: String,
    pub score: f32,
    /// `[x1, y1, x2, y2]` as fractions of the frame's width and height (0..1), so the
    /// page can draw it on a picture of any size.
    pub bbox: [f32; 4],
    /// The tracker's id once the object is a confirmed track.
    pub track_id: Option<u64>,
    /// Left out of the rules by a zone's object filter (score, size or class).
    pub filtered: bool,
}

/// A camera's latest analysis result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveResult {
    /// Size of the analysed frame in pixels.
    pub width: u32,
    pub height: u32,
    /// Media timestamp of the analysed frame (RFC 3339, UTC), from the stream, not the
    /// box's clock.
    pub media_time: String,
    /// The same, in nanoseconds since the Unix epoch: the key that pairs this result
    /// with the picture it was computed on.
    pub media_time_ns: i64,
    /// Analysed frames so far; changes with every new result.
    pub seq: u64,
    /// Detections outside privacy zones.
    pub detections: Vec<LiveDetection>,
}

/// A model the inference service loaded, as the Uplink & device page lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelInfo {
    pub id: String,
    pub version: String,
    /// Lower-case hex sha256 of the weight file (checked against the manifest at load).
    pub sha256: String,
    /// Execution providers the session registered, in order of preference
    /// (e.g. `["CPUExecutionProvider"]`).
    pub execution_providers: Vec<String>,
}

/// What a saved configuration changed in the running box, answered once the daemon
/// has applied it (`POST /api/config/import`, `cmd reload-config`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ApplyReport {
    /// Parts restarted or reconfigured with the new settings, e.g. `logging`, `web`,
    /// `outbox`, `uplink`, `model:yolox-nano`, `camera:gate` (stream restarted),
    /// `analysis:gate` (rules rebuilt, stream kept), `events.queue_depth`.
    pub applied: Vec<String>,
    /// Settings that take effect only when the daemon restarts (config keys).
    pub restart_required: Vec<String>,
    /// Parts that could not start with the new settings, with the reason; the daemon
    /// keeps retrying them.
    pub failed: Vec<String>,
}

impl ApplyReport {
    /// Everything that changed is in force now.
    pub fn complete(&self) -> bool {
        self.restart_required.is_empty() && self.failed.is_empty()
    }
}

/// The daemon's side of the web page. Every method is called from a blocking thread
/// (never on the async runtime), so implementations may take locks or do I/O.
pub trait WebBackend: Send + Sync + 'static {
    /// The running configuration, with secrets (the web layer masks them).
    fn config(&self) -> Config;
    /// Validate, persist atomically and apply `config`. On any problem nothing changes
    /// (the last good config stays on disk and running) and the problems are returned.
    /// Returns once the running box applied it, with what took effect.
    fn apply_config(&self, config: Config) -> Result<ApplyReport, Vec<Problem>>;
    /// Status of every running camera.
    fn camera_statuses(&self) -> Vec<CameraRuntime>;
    /// Connect to `source` for about `seconds` and report what it sends, with a JPEG
    /// preview of the last picture when one could be decoded.
    fn probe(
        &self,
        source: Source,
        seconds: f64,
    ) -> Result<(ProbeReport, Option<Vec<u8>>), Reason> {
        let (report, gop) = crate::ingest::probe::probe_keeping_gop(source, seconds)?;
        // A preview that cannot be decoded is no reason to fail a working connection.
        let preview = gop.and_then(|g| {
            crate::evidence::snapshot::preview_jpeg(&g.caps, &g.units, PREVIEW_MAX_WIDTH, 80)
                .map_err(|e| tracing::warn!(error = %e, "web: no preview for the connection test"))
                .ok()
        });
        Ok((report, preview))
    }
    /// The most recent log records, oldest first, at most `limit`.
    fn recent_logs(&self, limit: usize) -> Vec<LogLine>;
    /// The camera's latest picture as JPEG with its privacy zones blacked out, at the
    /// analysis resolution or scaled down to at most `max_width` pixels wide (aspect
    /// kept, never enlarged); `None` before its first frame.
    fn snapshot_jpeg(&self, camera: &str, max_width: Option<u32>) -> Option<Vec<u8>>;
    /// The uplink's latest health report (connection, outbox backlog, models with
    /// versions); `None` when this process has no uplink.
    fn uplink_health(&self) -> Option<crate::uplink::Health> {
        None
    }
    /// The camera's latest analysis result; `None` before its first one.
    fn live(&self, camera: &str) -> Option<LiveResult>;
    /// The latest analysis result with the picture (JPEG, privacy zones black) of the
    /// very frame it was computed on, so boxes drawn on it line up however fast the
    /// scene moves; the picture is `None` when that frame is no longer held.
    fn live_with_picture(&self, camera: &str) -> Option<(LiveResult, Option<Vec<u8>>)> {
        // Without a daemon there is no frame history: the latest picture stands in.
        self.live(camera)
            .map(|r| (r, self.snapshot_jpeg(camera, None)))
    }
    /// Seconds since the camera's latest picture arrived (box clock); `None` before
    /// the first one.
    fn picture_age_s(&self, _camera: &str) -> Option<f64> {
        None
    }
    /// Prometheus text of the uplink's health (`GET /metrics`); `None` without one.
    fn metrics(&self) -> Option<String> {
        None
    }
    /// Models loaded for inference.
    fn models(&self) -> Vec<ModelInfo>;
    /// The outbox database the Events page reads (the uplink's, under the state dir).
    fn outbox_path(&self) -> PathBuf {
        crate::uplink::Outbox::path_in(&self.config().device.state_dir)
    }
    /// Events the box recorded, newest first.
    fn events(&self, query: &EventQuery) -> Result<Vec<EventSummary>, HistoryError> {
        history::list(&self.outbox_path(), query)
    }
    /// One event with its phases and media; `None` when unknown.
    fn event(&self, id: &str) -> Result<Option<EventDetail>, HistoryError> {
        history::detail(&self.outbox_path(), id)
    }
    /// The evidence file `name` of event `id`, found through the outbox only.
    fn event_media(&self, id: &str, name: &str) -> Result<MediaLookup, HistoryError> {
        history::media(&self.outbox_path(), id, name)
    }
    /// Each running camera's scene (PTZ position and presets, tampering state,
    /// reference views); `None` without a daemon.
    fn scene(&self) -> Option<&crate::rules::scene::board::SceneBoard> {
        None
    }
    /// Every phase of event `id` as committed (the signed JSON sent upstream), oldest
    /// first; empty when unknown.
    fn event_phases(&self, id: &str) -> Result<Vec<history::PhaseBody>, HistoryError> {
        history::phase_bodies(&self.outbox_path(), id)
    }
}

/// A backend without a daemon: the config lives in memory (and, with a path, on disk
/// through [`config::save`]); statuses and logs are whatever the owner pushes. Used by
/// tests and usable for a page-only demo.
pub struct SimpleBackend {
    config: Mutex<Config>,
    path: Option<PathBuf>,
    statuses: Mutex<Vec<CameraRuntime>>,
    logs: Mutex<VecDeque<LogLine>>,
    /// One picture and one result per camera, replaced on every push.
    snapshots: Mutex<HashMap<String, Vec<u8>>>,
    live: Mutex<HashMap<String, LiveResult>>,
    metrics: Mutex<Option<String>>,
    uplink: Mutex<Option<crate::uplink::Health>>,
    models: Mutex<Vec<ModelInfo>>,
}

/// Log records a [`SimpleBackend`] keeps.
const SIMPLE_LOG_CAPACITY: usize = 1000;

impl SimpleBackend {
    pub fn new(config: Config, path: Option<PathBuf>) -> Self {
        Self {
            config: Mutex::new(config),
            path,
            statuses: Mutex::default(),
            logs: Mutex::default(),
            snapshots: Mutex::default(),
            live: Mutex::default(),
            metrics: Mutex::default(),
            uplink: Mutex::default(),
            models: Mutex::default(),
        }
    }

    /// The report [`WebBackend::uplink_health`] returns.
    pub fn set_uplink_health(&self, health: crate::uplink::Health) {
        *self.uplink.lock().unwrap() = Some(health);
    }

    /// The picture [`WebBackend::snapshot_jpeg`] returns for `camera` (taken as is:
    /// no privacy masking here; scaled on request).
    pub fn set_snapshot(&self, camera: &str, jpeg: Vec<u8>) {
        self.snapshots.lock().unwrap().insert(camera.into(), jpeg);
    }

    /// The result [`WebBackend::live`] returns for `camera`.
    pub fn set_live(&self, camera: &str, result: LiveResult) {
        self.live.lock().unwrap().insert(camera.into(), result);
    }

    /// What `GET /metrics` serves.
    pub fn set_metrics(&self, text: Option<String>) {
        *self.metrics.lock().unwrap() = text;
    }

    pub fn set_statuses(&self, statuses: Vec<CameraRuntime>) {
        *self.statuses.lock().unwrap() = statuses;
    }

    pub fn set_models(&self, models: Vec<ModelInfo>) {
        *self.models.lock().unwrap() = models;
    }

    pub fn push_log(&self, level: LogLevel, target: &str, message: &str) {
        let mut logs = self.logs.lock().unwrap();
        if logs.len() == SIMPLE_LOG_CAPACITY {
            logs.pop_front();
        }
        logs.push_back(LogLine {
            time: chrono::Utc::now().to_rfc3339(),
            level,
            target: target.into(),
            message: message.into(),
        });
    }
}

impl WebBackend for SimpleBackend {
    fn config(&self) -> Config {
        self.config.lock().unwrap().clone()
    }

    fn apply_config(&self, new: Config) -> Result<ApplyReport, Vec<Problem>> {
        let mut current = self.config.lock().unwrap();
        let problems = config::validate(&new);
        if !problems.is_empty() {
            return Err(problems);
        }
        if let Some(path) = &self.path {
            config::save(&new, path).map_err(|e| e.problems())?;
        }
        *current = new;
        // Nothing runs here: the saved config is all there is to apply.
        Ok(ApplyReport::default())
    }

    fn camera_statuses(&self) -> Vec<CameraRuntime> {
        self.statuses.lock().unwrap().clone()
    }

    fn metrics(&self) -> Option<String> {
        self.metrics.lock().unwrap().clone()
    }

    fn models(&self) -> Vec<ModelInfo> {
        self.models.lock().unwrap().clone()
    }

    fn recent_logs(&self, limit: usize) -> Vec<LogLine> {
        let logs = self.logs.lock().unwrap();
        logs.iter()
            .skip(logs.len().saturating_sub(limit))
            .cloned()
            .collect()
    }

    fn snapshot_jpeg(&self, camera: &str, max_width: Option<u32>) -> Option<Vec<u8>> {
        let jpeg = self.snapshots.lock().unwrap().get(camera).cloned()?;
        match max_width {
            None => Some(jpeg),
            Some(w) => scale_jpeg(&jpeg, w),
        }
    }

    fn uplink_health(&self) -> Option<crate::uplink::Health> {
        self.uplink.lock().unwrap().clone()
    }

    fn live(&self, camera: &str) -> Option<LiveResult> {
        self.live.lock().unwrap().get(camera).cloned()
    }
}

/// `jpeg` scaled down to at most `max_width` wide; `None` when it does not decode.
pub(crate) fn scale_jpeg(jpeg: &[u8], max_width: u32) -> Option<Vec<u8>> {
    let img = image::load_from_memory(jpeg).ok()?.to_rgb8();
    if max_width >= img.width() {
        return Some(jpeg.to_vec());
    }
    let h = ((u64::from(img.height()) * u64::from(max_width)) / u64::from(img.width())).max(1);
    let small = image::imageops::resize(
        &img,
        max_width.max(1),
        h as u32,
        image::imageops::FilterType::Triangle,
    );
    let mut out = std::io::Cursor::new(Vec::new());
    small.write_to(&mut out, image::ImageFormat::Jpeg).ok()?;
    Some(out.into_inner())
}
