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
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Mutex;

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

/// The daemon's side of the web page. Every method is called from a blocking thread
/// (never on the async runtime), so implementations may take locks or do I/O.
pub trait WebBackend: Send + Sync + 'static {
    /// The running configuration, with secrets (the web layer masks them).
    fn config(&self) -> Config;
    /// Validate, persist atomically and apply `config`. On any problem nothing changes
    /// (the last good config stays on disk and running) and the problems are returned.
    fn apply_config(&self, config: Config) -> Result<(), Vec<Problem>>;
    /// Status of every running camera.
    fn camera_statuses(&self) -> Vec<CameraRuntime>;
    /// Connect to `source` for about `seconds` and report what it sends.
    fn probe(&self, source: Source, seconds: f64) -> Result<ProbeReport, Reason> {
        crate::ingest::probe::probe(source, seconds)
    }
    /// The most recent log records, oldest first, at most `limit`.
    fn recent_logs(&self, limit: usize) -> Vec<LogLine>;
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
}

/// A backend without a daemon: the config lives in memory (and, with a path, on disk
/// through [`config::save`]); statuses and logs are whatever the owner pushes. Used by
/// tests and usable for a page-only demo.
pub struct SimpleBackend {
    config: Mutex<Config>,
    path: Option<PathBuf>,
    statuses: Mutex<Vec<CameraRuntime>>,
    logs: Mutex<VecDeque<LogLine>>,
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
            models: Mutex::default(),
        }
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

    fn apply_config(&self, new: Config) -> Result<(), Vec<Problem>> {
        let mut current = self.config.lock().unwrap();
        let problems = config::validate(&new);
        if !problems.is_empty() {
            return Err(problems);
        }
        if let Some(path) = &self.path {
            config::save(&new, path).map_err(|e| e.problems())?;
        }
        *current = new;
        Ok(())
    }

    fn camera_statuses(&self) -> Vec<CameraRuntime> {
        self.statuses.lock().unwrap().clone()
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
}
