//! The daemon: wires configured cameras to the analysis stages, reports status, and
//! reacts to signals (SIGTERM/SIGINT stop gracefully, SIGHUP reloads the config).

pub mod analysis;
pub mod live;
pub mod rate;
pub mod stays;
pub mod web;

use crate::config::{self, Config};
use crate::infer::registry::ModelRegistry;
use crate::infer::worker::{Analysed, CameraHandle, SubmitMode};
use crate::ingest::{Camera, CameraSpec, CameraStatus, MediaTime, Pop};
use crate::notify::{Heartbeat, Liveness, Notifier, WatchdogConfig, WatchdogHandle};
use crate::uplink::{Hooks, Uplink};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

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

/// One running camera and the thread that consumes its analysis frames.
struct CameraTask {
    config: config::CameraConfig,
    camera: Arc<Camera>,
    consumer: Option<JoinHandle<()>>,
    heartbeats: Vec<Heartbeat>,
    /// `model unavailable: …` for each configured model that did not load.
    model_problems: Vec<String>,
    analysis: Arc<AnalysisCounters>,
    /// Zones waiting to be swapped in by the analysis thread (hot reload).
    pending_zones: Arc<std::sync::Mutex<Option<Vec<crate::rules::zone::Zone>>>>,
    /// Analysed frames per second, for the dashboard.
    analysis_rate: rate::RateMeter,
}

/// What the analysis thread of a camera has done, for status lines and health.
#[derive(Default, Debug)]
pub struct AnalysisCounters {
    pub analysed: std::sync::atomic::AtomicU64,
    pub detections: std::sync::atomic::AtomicU64,
    pub errors: std::sync::atomic::AtomicU64,
}

impl CameraTask {
    fn start(
        c: &config::CameraConfig,
        cfg: &Config,
        liveness: &Liveness,
        models: &ModelRegistry,
        sink: &analysis::EventSink,
        board: &Arc<live::LiveBoard>,
        scene: &Arc<crate::rules::scene::board::SceneBoard>,
    ) -> Self {
        let cam_beat = liveness.register(format!("cam-{}", c.id));
        let analyse_beat = liveness.register(format!("analyse-{}", c.id));
        let camera = Arc::new(Camera::spawn_with_heartbeat(
            CameraSpec::from_config(c),
            Some(cam_beat.clone()),
        ));
        let cam = camera.clone();
        let beat = analyse_beat.clone();
        let mut model_problems = Vec::new();
        let mut handles: Vec<(CameraHandle, std::sync::mpsc::Receiver<Analysed>)> = Vec::new();
        for m in &c.analysis.models {
            match models.service(m) {
                Some(svc) => handles.push(svc.add_camera(&c.id, SubmitMode::Latest, 4)),
                None => {
                    let why = models.camera_status(m).unwrap_or_default();
                    tracing::error!(camera = %c.id, model = %m, "{why}");
                    model_problems.push(why);
                }
            }
        }
        let analysis = Arc::new(AnalysisCounters::default());
        let counters = analysis.clone();
        let camera_id = c.id.clone();
        let mut rules = match analysis::CameraAnalysis::new(
            cfg,
            c,
            camera.shared.clone(),
            sink.clone(),
        ) {
            Ok(mut a) => {
                // PTZ controller, tampering state and reference views for the page.
                a.attach_scene(cfg, c, scene.clone());
                Some(a)
            }
            Err(e) => {
                tracing::error!(camera = %c.id, error = %e, "rules unavailable for this camera");
                None
            }
        };
        let pending_zones: Arc<std::sync::Mutex<Option<Vec<crate::rules::zone::Zone>>>> =
            Default::default();
        let zones_in = pending_zones.clone();
        // Before the first frame reaches the board: no picture is ever served unmasked.
        board.set_zones(&c.id, c.zones.clone());
        let board = board.clone();
        // Frames go to every model's shared service; `Latest` submits never block, so a
        // slow model drops frames (counted per camera) instead of stalling ingest.
        let consumer = std::thread::Builder::new()
            .name(format!("analyse-{}", c.id))
            .spawn(move || {
                let mut last_time = MediaTime(0);
                loop {
                    beat.bump();
                    match cam.frames().pop_timeout(Duration::from_millis(200)) {
                        Pop::Item(frame) => {
                            // Scene first (PTZ position, tampering): see daemon::analysis.
                            if let Some(r) = rules.as_mut() {
                                r.on_picture(&frame);
                            }
                            board.set_frame(&camera_id, Arc::new(frame.clone()));
                            for (h, _) in &handles {
                                let _ = h.submit(frame.clone());
                            }
                        }
                        Pop::Timeout => {
                            if let Some(r) = rules.as_mut() {
                                r.on_idle();
                            }
                        }
                        Pop::Closed => break,
                    }
                    for (_, rx) in &handles {
                        while let Ok(a) = rx.try_recv() {
                            let time = a.time;
                            last_time = time;
                            let Some(dets) = on_analysed(&camera_id, &counters, a.detections.as_ref()) else {
                                continue;
                            };
                            if let Some(r) = rules.as_mut() {
                                r.on_frame(time, a.width, a.height, dets);
                            }
                            let (zones, tracks): (&[crate::rules::zone::Zone], Vec<&crate::track::Track>) = match &rules {
                                Some(r) => (r.zones(), r.tracks().collect()),
                                None => (&[][..], Vec::new()),
                            };
                            board.set_result(
                                &camera_id,
                                live::live_result(
                                    counters.analysed.load(Ordering::Relaxed),
                                    time,
                                    a.width,
                                    a.height,
                                    dets,
                                    zones,
                                    &tracks,
                                ),
                            );
                        }
                    }
                    if let Some(z) = zones_in.lock().unwrap().take()
                        && let Some(r) = rules.as_mut()
                    {
                        let now = last_time;
                        match r.set_zones(z, now) {
                            Ok(()) => tracing::info!(camera = %camera_id, "zones reloaded"),
                            Err(e) => tracing::error!(camera = %camera_id, error = %e, "zones refused; keeping the old ones"),
                        }
                    }
                }
                if let Some(r) = rules {
                    r.finish();
                }
            })
            .expect("spawn consumer");
        Self {
            config: c.clone(),
            camera,
            consumer: Some(consumer),
            heartbeats: vec![cam_beat, analyse_beat],
            model_problems,
            analysis,
            pending_zones,
            analysis_rate: rate::RateMeter::new(Instant::now(), 0),
        }
    }

    fn stop(mut self) {
        // Ending on purpose: these components no longer count for the watchdog.
        for h in std::mem::take(&mut self.heartbeats) {
            h.retire();
        }
        // Closing the queue ends the consumer; the camera stops when its last Arc drops.
        self.camera.frames().close();
        if let Some(t) = self.consumer.take() {
            let _ = t.join();
        }
        if let Ok(mut cam) = Arc::try_unwrap(self.camera) {
            cam.stop();
        }
    }
}

/// Count one analysed frame; its detections when inference succeeded.
fn on_analysed<'a>(
    camera: &str,
    counters: &AnalysisCounters,
    detections: Result<&'a Vec<crate::infer::Detection>, &String>,
) -> Option<&'a Vec<crate::infer::Detection>> {
    counters.analysed.fetch_add(1, Ordering::Relaxed);
    match detections {
        Ok(d) => {
            counters
                .detections
                .fetch_add(d.len() as u64, Ordering::Relaxed);
            tracing::trace!(camera, detections = d.len(), "analysed");
            Some(d)
        }
        Err(e) => {
            if counters.errors.fetch_add(1, Ordering::Relaxed) == 0 {
                tracing::error!(camera, error = %e, "inference failed");
            }
            None
        }
    }
}

/// First delay before the daemon retries an uplink that could not start (doubling up
/// to a minute, so a lasting cause does not flood the journal).
const UPLINK_RETRY: Duration = Duration::from_secs(5);

/// The running uplink, replaced when `[uplink]` changes on a reload. The forwarder
/// holds the read lock only while committing one event, so a swap waits for at most
/// one commit and never runs two uplinks on the same outbox.
type UplinkSlot = Arc<std::sync::RwLock<Option<Uplink>>>;

/// Moves finished events from the in-process queue into the durable outbox. An event
/// the outbox refuses (disk trouble) is retried, never dropped: the queue behind it
/// fills and blocks the analysis threads rather than lose evidence.
fn spawn_event_forwarder(sink: analysis::EventSink, uplink: UplinkSlot) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name("events".into())
        .spawn(move || {
            loop {
                let ev = match sink.pop_timeout(Duration::from_millis(500)) {
                    Pop::Item(ev) => ev,
                    Pop::Timeout => continue,
                    Pop::Closed => break,
                };
                tracing::info!(
                    event = %ev.id,
                    kind = ?ev.kind,
                    phase = ?ev.phase,
                    camera = %ev.camera.id,
                    media = ev.media.len(),
                    description = %ev.description.en,
                    "event"
                );
                let mut delay = Duration::from_millis(200);
                loop {
                    let r = match uplink.read().unwrap_or_else(|p| p.into_inner()).as_ref() {
                        Some(up) => up.enqueue(&ev),
                        None => break,
                    };
                    let Err(e) = r else { break };
                    tracing::error!(event = %ev.id, error = %e, retry_in_ms = delay.as_millis() as u64, "outbox refused the event; retrying");
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
            }
        })
        .expect("spawn event forwarder")
}

/// What the uplink's health reports and snapshot commands read, refreshed by the
/// daemon loop and the analysis threads.
#[derive(Default)]
struct Telemetry {
    cameras: std::sync::Mutex<Vec<crate::uplink::CameraHealth>>,
    models: std::sync::Mutex<Vec<crate::uplink::ModelHealth>>,
}

/// The running daemon.
pub struct Daemon {
    config_path: Option<PathBuf>,
    config: Config,
    cameras: BTreeMap<String, CameraTask>,
    models: ModelRegistry,
    events: analysis::EventSink,
    event_logger: Option<JoinHandle<()>>,
    uplink: UplinkSlot,
    telemetry: Arc<Telemetry>,
    reload_requested: Arc<AtomicBool>,
    web_backend: Arc<web::DaemonBackend>,
    web: Option<crate::web::WebHandle>,
    liveness: Liveness,
    notifier: Option<Notifier>,
    summary: Arc<std::sync::Mutex<String>>,
    watchdog: Option<WatchdogHandle>,
}

impl Daemon {
    pub fn start(config: Config, config_path: Option<PathBuf>) -> Self {
        let config_path_for_web = config_path.clone();
        tracing::info!(
            device = %config.device.id,
            firmware = crate::FIRMWARE_VERSION,
            cameras = config.cameras.len(),
            "streetwatch starting"
        );
        let mut d = Daemon {
            config_path,
            config: Config::default(),
            cameras: BTreeMap::new(),
            models: ModelRegistry::load(&config.inference, std::iter::empty()),
            events: Arc::new(crate::ingest::BoundedQueue::new(
                256,
                crate::ingest::Overflow::Block,
            )),
            event_logger: None,
            uplink: Arc::default(),
            telemetry: Arc::default(),
            reload_requested: Arc::default(),
            web_backend: Arc::new(web::DaemonBackend::new(config.clone(), config_path_for_web)),
            web: None,
            liveness: Liveness::new(),
            notifier: Notifier::from_env(),
            summary: Default::default(),
            watchdog: None,
        };
        *d.uplink.write().unwrap_or_else(|p| p.into_inner()) = d.start_uplink(&config);
        let slot = d.uplink.clone();
        d.web_backend.set_uplink_health(Arc::new(move || {
            let up = slot.read().unwrap_or_else(|p| p.into_inner());
            up.as_ref().map(|u| u.health())
        }));
        d.event_logger = Some(spawn_event_forwarder(d.events.clone(), d.uplink.clone()));
        d.apply(config.clone());
        d.web = d.start_web(&config);
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

    /// The technician page. A page that cannot start (port taken, bad certificate) is
    /// logged and the daemon keeps analysing: cameras matter more than the page.
    fn start_web(&self, config: &Config) -> Option<crate::web::WebHandle> {
        let backend: Arc<dyn crate::web::WebBackend> = self.web_backend.clone();
        match crate::web::WebServer::start(config.web.clone(), backend) {
            // The web module logs its URL and certificate fingerprint itself.
            Ok(h) => Some(h),
            Err(e) => {
                tracing::error!(error = %e, "technician page unavailable");
                None
            }
        }
    }

    /// The outbox and MQTT delivery. Without a broker configured events still go into
    /// the outbox; only a broken outbox (unwritable state dir) leaves events logged only.
    fn start_uplink(&self, config: &Config) -> Option<Uplink> {
        let t = self.telemetry.clone();
        let health: crate::uplink::HealthProvider =
            Arc::new(move |h: &mut crate::uplink::Health| {
                h.cameras = t.cameras.lock().unwrap().clone();
                h.models = t.models.lock().unwrap().clone();
            });
        let board = self.web_backend.live_board();
        let snapshot: crate::uplink::SnapshotFn = Arc::new(move |camera: &str| {
            Ok(crate::uplink::Snapshot {
                content_type: "image/jpeg".into(),
                bytes: board.jpeg(camera).map_err(|e| e.to_string())?,
            })
        });
        let flag = self.reload_requested.clone();
        let reload: crate::uplink::ReloadFn = Arc::new(move || {
            flag.store(true, Ordering::SeqCst);
            Ok(())
        });
        match Uplink::start(
            config,
            Hooks {
                health: Some(health),
                snapshot: Some(snapshot),
                reload_config: Some(reload),
            },
        ) {
            Ok(u) => Some(u),
            Err(e) => {
                tracing::error!(error = %e, "uplink unavailable: events are logged but not stored or delivered");
                None
            }
        }
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
                    status: match t.model_problems.first() {
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
        self.web_backend.set_models(loaded);
    }

    /// One line for systemd's STATUS=: how many cameras stream.
    fn update_summary(&self) {
        let total = self.cameras.len();
        let streaming = self
            .cameras
            .values()
            .filter(|t| matches!(t.camera.status(), CameraStatus::Streaming { .. }))
            .count();
        *self.summary.lock().unwrap() = format!("{streaming}/{total} cameras streaming");
    }

    /// Bring running cameras in line with `config`: unchanged cameras keep running.
    fn apply(&mut self, config: Config) {
        // Models first: a camera's analysis thread binds to its models' services.
        let needed: Vec<String> = config
            .cameras
            .iter()
            .filter(|c| c.enabled)
            .flat_map(|c| c.analysis.models.iter().cloned())
            .collect();
        self.models
            .ensure(&config.inference, needed.iter().map(String::as_str));
        for svc in self.models.services() {
            svc.attach_liveness(&self.liveness);
        }
        let wanted: BTreeMap<String, config::CameraConfig> = config
            .cameras
            .iter()
            .filter(|c| c.enabled)
            .map(|c| (c.id.clone(), c.clone()))
            .collect();
        let ids: Vec<String> = self.cameras.keys().cloned().collect();
        let without_zones = |c: &config::CameraConfig| config::CameraConfig {
            zones: Vec::new(),
            ..c.clone()
        };
        for id in ids {
            let task = &self.cameras[&id];
            match wanted.get(&id) {
                Some(w) if *w == task.config => {}
                // Only the zones changed: swap the rules, keep the stream running.
                Some(w) if without_zones(w) == without_zones(&task.config) => {
                    *task.pending_zones.lock().unwrap() = Some(w.zones.clone());
                    self.web_backend
                        .live_board()
                        .set_zones(&id, w.zones.clone());
                    self.cameras.get_mut(&id).unwrap().config = w.clone();
                }
                _ => {
                    tracing::info!(camera = %id, "stopping camera (removed or changed)");
                    self.cameras.remove(&id).unwrap().stop();
                    self.web_backend.live_board().forget(&id);
                }
            }
        }
        for (id, c) in wanted {
            if !self.cameras.contains_key(&id) {
                tracing::info!(camera = %id, url = %crate::redact::redact_url(&c.url), "starting camera");
                let task = CameraTask::start(
                    &c,
                    &config,
                    &self.liveness,
                    &self.models,
                    &self.events,
                    &self.web_backend.live_board(),
                    &self.web_backend.scene_board(),
                );
                self.cameras.insert(id, task);
            }
        }
        // Removed cameras have stopped (and saved their open cases): close them.
        stays::close_removed_cameras(&config, |e| {
            self.events.push(e);
        });
        self.config = config;
    }

    /// A new `[uplink]` (or device id / state directory, which name its topics and
    /// outbox) takes effect at once: the old uplink says goodbye and a new one starts
    /// from the same outbox, so nothing committed is lost in between.
    fn restart_uplink_if_changed(&mut self, new: &Config) {
        let old = &self.config;
        if new.uplink == old.uplink
            && new.device.id == old.device.id
            && new.device.state_dir == old.device.state_dir
        {
            return;
        }
        tracing::info!("uplink settings changed: restarting the uplink");
        let mut slot = self.uplink.write().unwrap_or_else(|p| p.into_inner());
        if let Some(u) = slot.take() {
            u.stop();
        }
        *slot = self.start_uplink(new);
    }

    /// An uplink that could not start (a full disk or an unwritable state directory at
    /// boot) is tried again, so the box recovers once the cause is fixed without a
    /// restart; meanwhile events are only logged.
    /// Returns whether an uplink runs now.
    fn start_uplink_if_missing(&self) -> bool {
        let mut slot = self.uplink.write().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = self.start_uplink(&self.config);
            if slot.is_some() {
                tracing::info!("uplink started");
            }
        }
        slot.is_some()
    }

    /// Re-read the config file; a bad file is reported and the running config kept.
    pub fn reload(&mut self) {
        let Some(path) = self.config_path.clone() else {
            return;
        };
        match config::load(&path) {
            Ok(c) => {
                tracing::info!(path = %path.display(), "config reloaded");
                self.web_backend.set_running(c.clone());
                self.restart_uplink_if_changed(&c);
                self.apply(c);
            }
            Err(e) => {
                tracing::error!(error = %e, "config reload refused; keeping the running config")
            }
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
                analysed = t.analysis.analysed.load(Ordering::Relaxed),
                detections = t.analysis.detections.load(Ordering::Relaxed),
                reconnects = st.reconnects.load(Ordering::Relaxed),
                models = %if t.model_problems.is_empty() { "ok".to_string() } else { t.model_problems.join("; ") },
                "camera"
            );
        }
    }

    pub fn camera_statuses(&self) -> Vec<(String, crate::ingest::CameraStatus)> {
        self.cameras
            .iter()
            .map(|(id, t)| (id.clone(), t.camera.status()))
            .collect()
    }

    /// Run until `control.stop` is set (or `max` elapses).
    pub fn run(&mut self, control: &Control, status_every: Duration, max: Option<Duration>) {
        let started = Instant::now();
        let mut last_status = Instant::now();
        let mut last_uplink_try = Instant::now();
        let mut uplink_retry = UPLINK_RETRY;
        // The dashboard shows model versions from the telemetry before the first
        // status line is due.
        self.update_telemetry();
        while !control.stop.load(Ordering::SeqCst) {
            if max.is_some_and(|m| started.elapsed() >= m) {
                break;
            }
            if last_uplink_try.elapsed() >= uplink_retry {
                last_uplink_try = Instant::now();
                uplink_retry = if self.start_uplink_if_missing() {
                    UPLINK_RETRY
                } else {
                    (uplink_retry * 2).min(Duration::from_secs(60))
                };
            }
            if control.reload.swap(false, Ordering::SeqCst)
                | self.reload_requested.swap(false, Ordering::SeqCst)
            {
                self.reload();
            }
            if let Some(c) = self.web_backend.take_pending() {
                tracing::info!("applying the configuration saved on the technician page");
                self.restart_uplink_if_changed(&c);
                self.apply(c);
                self.update_telemetry();
            }
            self.update_summary();
            let now = Instant::now();
            self.web_backend.set_statuses(
                self.cameras
                    .iter_mut()
                    .map(|(id, t)| crate::web::CameraRuntime {
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
                        analysed: t.analysis.analysed.load(Ordering::Relaxed),
                        analysis_fps: t
                            .analysis_rate
                            .update(now, t.analysis.analysed.load(Ordering::Relaxed)),
                    })
                    .collect(),
            );
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
        if let Some(n) = &self.notifier {
            let _ = n.stopping();
        }
        if let Some(w) = self.watchdog.take() {
            w.stop();
        }
        if let Some(w) = self.web.take() {
            w.shutdown();
        }
        tracing::info!("stopping cameras");
        for (_, t) in std::mem::take(&mut self.cameras) {
            t.stop();
        }
        // Cameras finished their evidence; let the forwarder put the last events in the
        // outbox, then close it.
        self.events.close();
        if let Some(t) = self.event_logger.take() {
            let _ = t.join();
        }
        if let Some(u) = self
            .uplink
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            u.stop();
        }
        for svc in self.models.services() {
            let s = svc.stats();
            tracing::info!(model = %s.model_id, p50_ms = s.latency_p50_ms, p95_ms = s.latency_p95_ms, "inference latency");
        }
        tracing::info!("streetwatch stopped");
    }
}
