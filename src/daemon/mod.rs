//! The daemon: starts the box's long-running parts, keeps them running and applies
//! config reloads to exactly the parts whose settings changed.
//!
//! Parts and the slice of the config each is built from (see [`reload`]):
//! - logging (`[logging]`), re-applied in place;
//! - the outbox (`device.state_dir`, the disk policy of `[uplink]`), opened before
//!   any camera starts; decided events wait in a bounded queue while it cannot open
//!   or write ([`sink`], [`committer`]);
//! - the uplink (`[uplink]`, device id), the technician page (`[web]`);
//! - one inference service per model (`[inference]`) ([`models`]);
//! - per camera, its stream and its analysis ([`camera`]).
//!
//! SIGTERM/SIGINT stop gracefully, SIGHUP reloads the config file.

pub mod analysis;
pub mod camera;
pub mod committer;
pub mod lifecycle;
pub mod live;
pub mod losses;
pub mod merge;
pub mod models;
pub mod parts;
pub mod rate;
pub mod reload;
pub mod retry;
pub mod sink;
pub mod telemetry;
pub mod web;

use crate::config::{self, Config};
use crate::ingest::CameraStatus;
use crate::notify::{Liveness, Notifier, WatchdogConfig, WatchdogHandle};
use crate::uplink::Hooks;
use crate::web::ApplyReport;
use camera::{CameraEnv, CameraPart};
use committer::{Committer, CommitterCtx, DeliverySlot, StoreSlot};
use lifecycle::Slot;
use models::Models;
use parts::{OutboxPart, OutboxSlice, PartsEnv, UplinkPart, UplinkSlice, WebPart, WebSlice};
use retry::SpaceWatch;
use sink::EventSink;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use telemetry::{HealthSources, Telemetry};

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
}

/// Process-wide stop/reload flags, set from signal handlers.
#[derive(Clone, Default)]
pub struct Control {
    pub stop: Arc<AtomicBool>,
    pub reload: Arc<AtomicBool>,
}

impl Control {
    /// Route SIGTERM/SIGINT to `stop` and SIGHUP to `reload`.
    pub fn from_signals() -> Result<Self, DaemonError> {
        let c = Control::default();
        for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
            signal_hook::flag::register(sig, c.stop.clone()).map_err(DaemonError::Signals)?;
        }
        signal_hook::flag::register(signal_hook::consts::SIGHUP, c.reload.clone())
            .map_err(DaemonError::Signals)?;
        Ok(c)
    }
}

/// What the analysis thread of a camera has done, for status lines and health.
#[derive(Default, Debug)]
pub struct AnalysisCounters {
    pub analysed: std::sync::atomic::AtomicU64,
    pub detections: std::sync::atomic::AtomicU64,
    pub errors: std::sync::atomic::AtomicU64,
}

/// Count one analysed frame (every model's results); its detections when inference
/// succeeded on every model.
fn on_analysed<'a>(
    camera: &str,
    counters: &AnalysisCounters,
    frame: &'a merge::MergedFrame,
) -> Option<&'a Vec<crate::infer::Detection>> {
    counters.analysed.fetch_add(1, Ordering::Relaxed);
    if let Some(e) = frame.errors.first() {
        if counters.errors.fetch_add(1, Ordering::Relaxed) == 0 {
            tracing::error!(camera, error = %e, "inference failed");
        }
        return None;
    }
    counters
        .detections
        .fetch_add(frame.detections.len() as u64, Ordering::Relaxed);
    tracing::trace!(camera, detections = frame.detections.len(), "analysed");
    Some(&frame.detections)
}

/// Time the committer gets at shutdown (from the SIGTERM) to put waiting events into
/// the outbox before what is left is counted as lost. With the uplink's goodbye (5 s
/// at most) and the page (2 s) this stays inside the unit's `TimeoutStopSec=20s`.
const SHUTDOWN_COMMIT: Duration = Duration::from_secs(10);

/// The running daemon.
pub struct Daemon {
    config_path: Option<PathBuf>,
    config: Config,
    env: PartsEnv,
    outbox: Slot<OutboxPart>,
    uplink: Slot<UplinkPart>,
    web: Slot<WebPart>,
    models: Models,
    cameras: BTreeMap<String, CameraPart>,
    camera_env: CameraEnv,
    sink: EventSink,
    committer: Option<Committer>,
    telemetry: Arc<Telemetry>,
    /// The state directory the committer watches for free space.
    state_dir: Arc<Mutex<PathBuf>>,
    space: SpaceWatch,
    /// `cmd reload-config` requests (their ids), answered after the reload.
    commands: reload::Commands,
    liveness: Liveness,
    notifier: Option<Notifier>,
    summary: Arc<Mutex<String>>,
    watchdog: Option<WatchdogHandle>,
}

impl Daemon {
    pub fn start(config: Config, config_path: Option<PathBuf>) -> Self {
        tracing::info!(
            device = %config.device.id,
            firmware = crate::FIRMWARE_VERSION,
            cameras = config.cameras.len(),
            "streetwatch starting"
        );
        let liveness = Liveness::new();
        let losses = Arc::new(losses::Losses::default());
        let sink = EventSink::bounded(config.events.queue_depth(), losses);
        let store: StoreSlot = Arc::default();
        let delivery: DeliverySlot = Arc::default();
        let telemetry = Arc::new(Telemetry::default());
        *telemetry.device_id.lock().unwrap() = config.device.id.clone();
        let health = Arc::new(HealthSources {
            telemetry: telemetry.clone(),
            sink: sink.clone(),
            store: store.clone(),
            delivery: delivery.clone(),
            started: Instant::now(),
        });
        let backend = Arc::new(web::DaemonBackend::new(config.clone(), config_path.clone()));
        {
            let health = health.clone();
            backend.set_uplink_health(Arc::new(move || Some(health.report())));
        }
        let commands = reload::Commands::default();
        let board = backend.live_board();
        let hooks = Hooks {
            health: Some(health.provider()),
            snapshot: Some(Arc::new(move |camera: &str| {
                Ok(crate::uplink::Snapshot {
                    content_type: "image/jpeg".into(),
                    bytes: board.jpeg(camera).map_err(|e| e.to_string())?,
                })
            })),
            reload_config: Some(commands.hook()),
            liveness: None,
        };
        let state_dir = Arc::new(Mutex::new(config.device.state_dir.clone()));
        // The committer first: it takes decided events from the first camera on and
        // holds them (bounded) until the outbox opens.
        let committer = Committer::spawn(CommitterCtx {
            sink: sink.clone(),
            store: store.clone(),
            delivery: delivery.clone(),
            heartbeat: liveness.register("events"),
            state_dir: state_dir.clone(),
        });
        let env = PartsEnv {
            store,
            delivery,
            liveness: liveness.clone(),
            backend: backend.clone(),
            hooks,
        };
        let camera_env = CameraEnv {
            liveness: liveness.clone(),
            sink: sink.clone(),
            board: backend.live_board(),
        };
        let mut d = Daemon {
            config_path,
            outbox: Slot::new(OutboxSlice::of(&config)),
            uplink: Slot::new(UplinkSlice::of(&config)),
            web: Slot::new(WebSlice::of(&config)),
            config: Config::default(),
            env,
            models: Models::default(),
            cameras: BTreeMap::new(),
            camera_env,
            sink,
            committer: Some(committer),
            telemetry,
            space: SpaceWatch::new(&config.device.state_dir),
            state_dir,
            commands,
            liveness,
            notifier: Notifier::from_env(),
            summary: Default::default(),
            watchdog: None,
        };
        // The outbox before any camera: events are durable from the first one.
        let now = Instant::now();
        d.outbox.tick(&d.env, now, None);
        d.uplink.tick(&d.env, now, None);
        d.publish_part_errors();
        d.apply_cameras_and_models(&config, &mut ApplyReport::default());
        d.config = config;
        d.web.tick(&d.env, now, None);
        d.update_summary();
        if let Some(n) = d.notifier.clone() {
            // READY only once the config is loaded and every stage is up.
            let _ = n.ready();
            let max_age = n
                .watchdog_timeout()
                .map(|t| t.clamp(Duration::from_secs(2), Duration::from_secs(20)))
                .unwrap_or(Duration::from_secs(20));
            let summary = d.summary.clone();
            d.watchdog = crate::notify::spawn_watchdog_with(
                n,
                d.liveness.clone(),
                WatchdogConfig {
                    period: None,
                    max_age,
                },
                move || summary.lock().unwrap().clone(),
            )
            .map_err(|e| tracing::warn!(error = %e, "cannot start the watchdog thread"))
            .ok();
        }
        d
    }

    /// Try again the parts that could not start, at once when disk space returns.
    fn tick_parts(&mut self) {
        let now = Instant::now();
        let waiting = self.outbox.waiting() || self.uplink.waiting() || self.web.waiting();
        if !waiting {
            return;
        }
        let free = self.space.free(now);
        self.outbox.tick(&self.env, now, free);
        self.uplink.tick(&self.env, now, free);
        self.web.tick(&self.env, now, free);
        self.publish_part_errors();
    }

    /// Why the outbox or the uplink is down, for health.
    fn publish_part_errors(&self) {
        *self.telemetry.outbox_error.lock().unwrap() = self.outbox.error().map(String::from);
        *self.telemetry.uplink_error.lock().unwrap() = self.uplink.error().map(String::from);
    }

    /// Refresh what health reports: per camera and per model.
    fn update_telemetry(&self) {
        let cams = self
            .cameras
            .iter()
            .map(|(id, t)| {
                let st = &t.camera.shared.stats;
                let last = st.last_buffer_ms.load(Ordering::Relaxed);
                let status = t.camera.status();
                crate::uplink::CameraHealth {
                    id: id.clone(),
                    status: match t.model_problems().first() {
                        Some(p) => p.clone(),
                        None => status.to_string(),
                    },
                    fps: match status {
                        CameraStatus::Streaming { fps, .. } => fps,
                        _ => 0.0,
                    },
                    last_frame_age_s: (last > 0).then(|| {
                        crate::ingest::pipeline::now_ms().saturating_sub(last) as f64 / 1000.0
                    }),
                    dropped_frames: t.camera.frames().dropped(),
                }
            })
            .collect();
        *self.telemetry.cameras.lock().unwrap() = cams;
        let (models, loaded): (Vec<_>, Vec<_>) = self
            .models
            .services()
            .map(|svc| {
                let s = svc.stats();
                let manifest =
                    crate::infer::Manifest::load(&self.config.inference.models_dir, &s.model_id)
                        .ok();
                let version = manifest.as_ref().map(|m| m.version.clone());
                let info = crate::web::ModelInfo {
                    id: s.model_id.clone(),
                    version: version.clone().unwrap_or_default(),
                    sha256: manifest.map(|m| m.sha256).unwrap_or_default(),
                    execution_providers: svc.providers().to_vec(),
                };
                let health = crate::uplink::ModelHealth {
                    version: version.unwrap_or_default(),
                    id: s.model_id,
                    latency_p50_ms: s.latency_p50_ms,
                    latency_p95_ms: s.latency_p95_ms,
                };
                (health, info)
            })
            .unzip();
        *self.telemetry.models.lock().unwrap() = models;
        self.env.backend.set_models(loaded);
    }

    /// One line for systemd's STATUS=: how many cameras stream, and any event trouble.
    fn update_summary(&self) {
        let total = self.cameras.len();
        let streaming = self
            .cameras
            .values()
            .filter(|t| matches!(t.camera.status(), CameraStatus::Streaming { .. }))
            .count();
        let mut s = format!("{streaming}/{total} cameras streaming");
        let waiting = self.sink.len();
        if waiting > 0 {
            s.push_str(&format!(", {waiting} events waiting for the outbox"));
        }
        let lost = self.sink.losses().total();
        if lost > 0 {
            s.push_str(&format!(", {lost} events lost"));
        }
        *self.summary.lock().unwrap() = s;
    }

    /// Bring models and cameras in line with `config` (unchanged cameras keep
    /// running, untouched).
    fn apply_cameras_and_models(&mut self, config: &Config, report: &mut ApplyReport) {
        // Models first: a camera's analysis binds to its models' services.
        let needed = config
            .cameras
            .iter()
            .filter(|c| c.enabled)
            .flat_map(|c| c.analysis.models.iter().cloned())
            .collect();
        for change in self
            .models
            .reconcile(&config.inference, &needed, &self.liveness)
        {
            match change {
                models::ModelChange::Started(id) => report.applied.push(format!("model:{id}")),
                models::ModelChange::Stopped(id) => {
                    report.applied.push(format!("model:{id} (stopped)"))
                }
                models::ModelChange::Failed { id, reason } => {
                    report.failed.push(format!("model:{id}: {reason}"))
                }
            }
        }
        let wanted: BTreeMap<String, config::CameraConfig> = config
            .cameras
            .iter()
            .filter(|c| c.enabled)
            .map(|c| (c.id.clone(), c.clone()))
            .collect();
        let ids: Vec<String> = self.cameras.keys().cloned().collect();
        for id in ids {
            let restart = match wanted.get(&id) {
                Some(w) => !self.cameras[&id].same_stream(w),
                None => true,
            };
            if restart {
                tracing::info!(camera = %id, "stopping camera (removed or changed)");
                self.cameras.remove(&id).unwrap().stop();
                self.camera_env.board.forget(&id);
                if !wanted.contains_key(&id) {
                    report.applied.push(format!("camera:{id} (stopped)"));
                }
                continue;
            }
            let part = self.cameras.get_mut(&id).unwrap();
            match part.reconcile(config, &wanted[&id], &self.camera_env, &self.models) {
                camera::CameraChange::Unchanged => {}
                camera::CameraChange::Zones | camera::CameraChange::Analysis => {
                    report.applied.push(format!("analysis:{id}"))
                }
                camera::CameraChange::AnalysisFailed(e) => {
                    report.failed.push(format!("analysis:{id}: {e}"))
                }
            }
        }
        for (id, c) in wanted {
            if !self.cameras.contains_key(&id) {
                let part = CameraPart::start(config, &c, &self.camera_env, &self.models);
                self.cameras.insert(id.clone(), part);
                report.applied.push(format!("camera:{id}"));
            }
        }
    }

    /// Apply `new` to the running parts; returns what was applied and whether the page
    /// must restart (done by the caller after answering, since the answer may be going
    /// out through the page itself).
    fn apply(&mut self, new: Config) -> (ApplyReport, bool) {
        let old = self.config.clone();
        let mut report = ApplyReport {
            restart_required: reload::restart_only(&old, &new),
            ..Default::default()
        };
        if let Some(item) = reload::apply_logging(&old.logging, &new.logging, &mut report) {
            tracing::debug!(part = %item, "logging re-applied");
        }
        if new.events.queue_depth() != old.events.queue_depth() {
            self.sink.set_capacity(new.events.queue_depth());
            report.applied.push("events.queue_depth".into());
        }
        *self.state_dir.lock().unwrap() = new.device.state_dir.clone();
        self.space.set_dir(&new.device.state_dir);
        *self.telemetry.device_id.lock().unwrap() = new.device.id.clone();
        reload::outcome(
            &mut report,
            "outbox",
            self.outbox.reconcile(OutboxSlice::of(&new), &self.env),
        );
        reload::outcome(
            &mut report,
            "uplink",
            self.uplink.reconcile(UplinkSlice::of(&new), &self.env),
        );
        self.publish_part_errors();
        self.apply_cameras_and_models(&new, &mut report);
        let web_changed = WebSlice::of(&new) != WebSlice::of(&old) || self.web.waiting();
        if web_changed {
            report.applied.push("web".into());
        }
        self.env.backend.set_running(new.clone());
        self.config = new;
        self.update_telemetry();
        tracing::info!(
            applied = %report.applied.join(", "),
            restart_required = %report.restart_required.join(", "),
            failed = %report.failed.join("; "),
            "configuration applied"
        );
        tracing::debug!(report = ?report, "reload report");
        (report, web_changed)
    }

    /// Restart the page with the running config's `[web]` (after a reload answered).
    fn restart_web(&mut self) {
        if let lifecycle::Outcome::Failed(e) =
            self.web.reconcile(WebSlice::of(&self.config), &self.env)
        {
            tracing::error!(error = %e, "technician page: the new settings did not start; retrying");
        }
    }

    /// Re-read the config file and apply it. A bad file is reported and the running
    /// config kept.
    fn reload_from_file(&mut self) -> Result<(ApplyReport, bool), String> {
        let Some(path) = self.config_path.clone() else {
            return Err("this daemon runs without a config file (demo)".into());
        };
        match config::load(&path) {
            Ok(c) => {
                tracing::info!(path = %path.display(), "config reloaded");
                Ok(self.apply(c))
            }
            Err(e) => {
                tracing::error!(error = %e, "config reload refused; keeping the running config");
                Err(e.to_string())
            }
        }
    }

    /// Handle SIGHUP, `cmd reload-config` and a config saved on the page.
    fn handle_reloads(&mut self, control: &Control) {
        let mut web_restart = false;
        if control.reload.swap(false, Ordering::SeqCst)
            && let Ok((_, web)) = self.reload_from_file()
        {
            web_restart |= web;
        }
        for id in self.commands.take() {
            let result = self.reload_from_file();
            if let Ok((_, web)) = &result {
                web_restart |= web;
            }
            let answer = reload::command_answer(id, &result);
            match self
                .env
                .delivery
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
            {
                Some(d) => d.respond(answer),
                None => {
                    tracing::warn!("reload-config done, but the uplink is not running to answer")
                }
            }
        }
        if let Some((c, reply)) = self.env.backend.take_pending() {
            tracing::info!("applying the configuration saved on the technician page");
            let (report, web) = self.apply(c);
            web_restart |= web;
            // The page waits for this answer; it goes out before the page restarts.
            let _ = reply.send(report);
        }
        if web_restart {
            // Give the answer a moment to leave through the page being restarted
            // (its graceful shutdown waits for requests in flight anyway).
            std::thread::sleep(Duration::from_millis(100));
            self.restart_web();
        }
    }

    /// One line per camera, for the journal.
    pub fn log_status(&self) {
        for (id, t) in &self.cameras {
            let st = &t.camera.shared.stats;
            tracing::info!(
                camera = %id,
                status = %t.camera.status(),
                frames = st.frames_delivered.load(Ordering::Relaxed),
                dropped = t.camera.frames().dropped(),
                analysed = t.counters.analysed.load(Ordering::Relaxed),
                detections = t.counters.detections.load(Ordering::Relaxed),
                reconnects = st.reconnects.load(Ordering::Relaxed),
                models = %if t.model_problems().is_empty() { "ok".to_string() } else { t.model_problems().join("; ") },
                "camera"
            );
        }
        let lost = self.sink.losses().total();
        if !self.sink.is_empty() || lost > 0 {
            tracing::warn!(
                waiting = self.sink.len(),
                capacity = self.sink.capacity(),
                lost,
                "decided events waiting for the outbox"
            );
        }
    }

    pub fn camera_statuses(&self) -> Vec<(String, crate::ingest::CameraStatus)> {
        self.cameras
            .iter()
            .map(|(id, t)| (id.clone(), t.camera.status()))
            .collect()
    }

    /// What the dashboard shows per camera.
    fn publish_statuses(&mut self) {
        let now = Instant::now();
        self.env.backend.set_statuses(
            self.cameras
                .iter_mut()
                .map(|(id, t)| {
                    let analysed = t.counters.analysed.load(Ordering::Relaxed);
                    crate::web::CameraRuntime {
                        id: id.clone(),
                        status: t.camera.status(),
                        frames: t
                            .camera
                            .shared
                            .stats
                            .frames_delivered
                            .load(Ordering::Relaxed),
                        dropped: t.camera.frames().dropped(),
                        reconnects: t.camera.shared.stats.reconnects.load(Ordering::Relaxed),
                        analysed,
                        analysis_fps: t.rate.update(now, analysed),
                    }
                })
                .collect(),
        );
    }

    /// Run until `control.stop` is set (or `max` elapses).
    pub fn run(&mut self, control: &Control, status_every: Duration, max: Option<Duration>) {
        let started = Instant::now();
        let mut last_status = Instant::now();
        // The dashboard shows model versions from the telemetry before the first
        // status line is due.
        self.update_telemetry();
        while !control.stop.load(Ordering::SeqCst) {
            if max.is_some_and(|m| started.elapsed() >= m) {
                break;
            }
            self.tick_parts();
            self.handle_reloads(control);
            self.update_summary();
            self.publish_statuses();
            if last_status.elapsed() >= status_every {
                self.update_telemetry();
                self.log_status();
                last_status = Instant::now();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.log_status();
        self.shutdown();
    }

    pub fn shutdown(&mut self) {
        let started = Instant::now();
        if let Some(n) = &self.notifier {
            let _ = n.stopping();
        }
        if let Some(w) = self.watchdog.take() {
            w.stop();
        }
        // Requests waiting for a reload answer get one.
        self.env.backend.refuse_pending();
        let web = std::mem::replace(&mut self.web, Slot::new(WebSlice::of(&self.config)));
        web.shutdown(&self.env);
        tracing::info!("stopping cameras");
        for (_, t) in std::mem::take(&mut self.cameras) {
            t.stop();
        }
        // Cameras released their held events; the committer puts what waits into the
        // outbox until the deadline and counts the rest.
        if let Some(c) = self.committer.take() {
            c.finish((started + SHUTDOWN_COMMIT).max(Instant::now() + Duration::from_secs(1)));
        }
        let uplink = std::mem::replace(&mut self.uplink, Slot::new(UplinkSlice::of(&self.config)));
        uplink.shutdown(&self.env);
        let outbox = std::mem::replace(&mut self.outbox, Slot::new(OutboxSlice::of(&self.config)));
        outbox.shutdown(&self.env);
        for svc in self.models.services() {
            let s = svc.stats();
            tracing::info!(model = %s.model_id, p50_ms = s.latency_p50_ms, p95_ms = s.latency_p95_ms, "inference latency");
        }
        self.models.shutdown();
        let lost = self.sink.losses().total();
        if lost > 0 {
            tracing::error!(
                lost,
                "streetwatch stopped; decided events never committed (counted by camera and kind in health): {lost}"
            );
        } else {
            tracing::info!("streetwatch stopped");
        }
    }
}
