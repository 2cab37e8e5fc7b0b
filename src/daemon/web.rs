//! The daemon's side of the technician page: what `web::WebBackend` asks of it. The
//! web threads never touch cameras directly; they read snapshots the daemon loop
//! publishes and hand validated configs to that loop, which applies them.

use crate::config::{self, Config, Problem};
use crate::web::{CameraRuntime, LogLine, ModelInfo, WebBackend};
use std::path::PathBuf;
use std::sync::Mutex;

pub struct DaemonBackend {
    config: Mutex<Config>,
    /// Where the config is persisted; `None` for the demo (memory only).
    path: Option<PathBuf>,
    statuses: Mutex<Vec<CameraRuntime>>,
    models: Mutex<Vec<ModelInfo>>,
    /// A config saved by the page, waiting for the daemon loop to apply it.
    pending: Mutex<Option<Config>>,
}

impl DaemonBackend {
    pub fn new(config: Config, path: Option<PathBuf>) -> Self {
        Self {
            config: Mutex::new(config),
            path,
            statuses: Mutex::default(),
            models: Mutex::default(),
            pending: Mutex::default(),
        }
    }

    /// The daemon loop publishes camera statuses here.
    pub fn set_statuses(&self, s: Vec<CameraRuntime>) {
        *self.statuses.lock().unwrap() = s;
    }

    /// The daemon publishes the models its inference services loaded.
    pub fn set_models(&self, m: Vec<ModelInfo>) {
        *self.models.lock().unwrap() = m;
    }

    /// A config the page saved since the last call, for the daemon loop to apply.
    pub fn take_pending(&self) -> Option<Config> {
        self.pending.lock().unwrap().take()
    }

    /// The daemon reloaded from disk (SIGHUP): the page shows what runs.
    pub fn set_running(&self, c: Config) {
        *self.config.lock().unwrap() = c;
    }
}

impl WebBackend for DaemonBackend {
    fn config(&self) -> Config {
        self.config.lock().unwrap().clone()
    }

    fn apply_config(&self, c: Config) -> Result<(), Vec<Problem>> {
        let problems = config::validate(&c);
        if !problems.is_empty() {
            return Err(problems);
        }
        if let Some(path) = &self.path {
            // Atomic: a power cut leaves the old or the new file, never a torn one.
            config::save(&c, path).map_err(|e| e.problems())?;
        }
        *self.config.lock().unwrap() = c.clone();
        *self.pending.lock().unwrap() = Some(c);
        Ok(())
    }

    fn camera_statuses(&self) -> Vec<CameraRuntime> {
        self.statuses.lock().unwrap().clone()
    }

    fn models(&self) -> Vec<ModelInfo> {
        self.models.lock().unwrap().clone()
    }

    fn recent_logs(&self, limit: usize) -> Vec<LogLine> {
        crate::logging::ring().recent(limit)
    }
}
