//! The daemon's side of the technician page: what `web::WebBackend` asks of it. The
//! web threads never touch cameras directly; they read snapshots the daemon loop
//! publishes and hand validated configs to that loop, which applies them.

use super::live::LiveBoard;
use crate::config::{self, Config, Problem};
use crate::web::{ApplyReport, CameraRuntime, LiveResult, LogLine, ModelInfo, WebBackend};
use std::path::PathBuf;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a save on the page waits for the daemon to apply it (loading a model on
/// a busy box takes seconds).
const APPLY_WAIT: Duration = Duration::from_secs(120);

/// A config saved on the page and where to send the reload's answer.
type Pending = (Config, SyncSender<ApplyReport>);

pub struct DaemonBackend {
    config: Mutex<Config>,
    /// Where the config is persisted; `None` for the demo (memory only).
    path: Option<PathBuf>,
    statuses: Mutex<Vec<CameraRuntime>>,
    models: Mutex<Vec<ModelInfo>>,
    /// A config saved by the page, waiting for the daemon loop to apply it (the page
    /// saves one at a time, under its config lock).
    pending: Mutex<Option<Pending>>,
    /// Latest picture and analysis result per camera, written by the analysis threads.
    board: Arc<LiveBoard>,
    /// Each camera's scene (PTZ, tampering, reference view), see `rules::scene::board`.
    scene: Arc<crate::rules::scene::board::SceneBoard>,
    /// Reads the running uplink's health (dashboard, `/metrics`); the daemon owns the
    /// uplink and may replace it on a reload, so the page never holds it.
    uplink_health: Mutex<Option<UplinkHealthFn>>,
}

/// The running uplink's health, `None` when there is none.
pub type UplinkHealthFn = Arc<dyn Fn() -> Option<crate::uplink::Health> + Send + Sync>;

impl DaemonBackend {
    pub fn new(config: Config, path: Option<PathBuf>) -> Self {
        Self {
            config: Mutex::new(config),
            path,
            statuses: Mutex::default(),
            models: Mutex::default(),
            pending: Mutex::default(),
            board: Arc::default(),
            scene: Arc::default(),
            uplink_health: Mutex::default(),
        }
    }

    /// Where the analysis threads publish each camera's scene for the page.
    pub fn scene_board(&self) -> Arc<crate::rules::scene::board::SceneBoard> {
        self.scene.clone()
    }

    /// Where the analysis threads publish what the Zones and Live pages show.
    pub fn live_board(&self) -> Arc<LiveBoard> {
        self.board.clone()
    }

    /// Where the dashboard and `/metrics` read uplink status and outbox backlog from.
    pub fn set_uplink_health(&self, f: UplinkHealthFn) {
        *self.uplink_health.lock().unwrap() = Some(f);
    }

    /// The daemon loop publishes camera statuses here.
    pub fn set_statuses(&self, s: Vec<CameraRuntime>) {
        *self.statuses.lock().unwrap() = s;
    }

    /// The daemon publishes the models its inference services loaded.
    pub fn set_models(&self, m: Vec<ModelInfo>) {
        *self.models.lock().unwrap() = m;
    }

    /// A config the page saved since the last call, for the daemon loop to apply,
    /// with where to send what it applied.
    pub fn take_pending(&self) -> Option<Pending> {
        self.pending.lock().unwrap().take()
    }

    /// Shutdown: a save still waiting is answered (it is on disk and applies at the
    /// next start).
    pub fn refuse_pending(&self) {
        if let Some((_, reply)) = self.pending.lock().unwrap().take() {
            let _ = reply.send(ApplyReport {
                failed: vec![
                    "the daemon is stopping; the saved config applies at its next start".into(),
                ],
                ..Default::default()
            });
        }
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

    fn apply_config(&self, c: Config) -> Result<ApplyReport, Vec<Problem>> {
        let problems = config::validate(&c);
        if !problems.is_empty() {
            return Err(problems);
        }
        if let Some(path) = &self.path {
            // Atomic: a power cut leaves the old or the new file, never a torn one.
            config::save(&c, path).map_err(|e| e.problems())?;
        }
        *self.config.lock().unwrap() = c.clone();
        let (tx, rx) = sync_channel(1);
        *self.pending.lock().unwrap() = Some((c, tx));
        // Answer once the daemon loop applied it, with what it applied.
        Ok(rx.recv_timeout(APPLY_WAIT).unwrap_or_else(|_| ApplyReport {
            failed: vec![format!(
                "the daemon did not confirm within {} s; the config is saved and will apply",
                APPLY_WAIT.as_secs()
            )],
            ..Default::default()
        }))
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

    fn snapshot_jpeg(&self, camera: &str, max_width: Option<u32>) -> Option<Vec<u8>> {
        match self.board.jpeg_scaled(camera, max_width) {
            Ok(j) => Some(j),
            Err(super::live::LiveError::NoPicture(_)) => None,
            Err(e) => {
                tracing::warn!(camera, error = %e, "snapshot for the page failed");
                None
            }
        }
    }

    fn uplink_health(&self) -> Option<crate::uplink::Health> {
        let f = self.uplink_health.lock().unwrap().clone()?;
        f()
    }

    fn live(&self, camera: &str) -> Option<LiveResult> {
        self.board.result(camera).map(|r| (*r).clone())
    }

    fn live_with_picture(&self, camera: &str) -> Option<(LiveResult, Option<Vec<u8>>)> {
        let (result, picture) = self.board.result_with_picture(camera)?;
        let picture = match picture {
            Ok(j) => Some(j),
            Err(super::live::LiveError::NoPicture(_)) => None,
            Err(e) => {
                tracing::warn!(camera, error = %e, "live picture for the page failed");
                None
            }
        };
        Some(((*result).clone(), picture))
    }

    fn picture_age_s(&self, camera: &str) -> Option<f64> {
        self.board.picture_age_s(camera)
    }

    fn metrics(&self) -> Option<String> {
        self.uplink_health()
            .map(|h| crate::uplink::render_metrics(&h))
    }

    fn scene(&self) -> Option<&crate::rules::scene::board::SceneBoard> {
        Some(&self.scene)
    }
}
