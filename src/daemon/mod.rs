//! The daemon: starts the box's long-running parts, keeps them running and applies
//! config reloads to exactly the parts whose settings changed.
//!
//! Parts and the slice of the config each is built from (see [`reload`]):
//! - logging (`[logging]`), re-applied in place;
//! - the outbox (`device.state_dir`, the disk policy of `[uplink]`), opened before
//!   any camera starts; decided events wait in a bounded queue while it cannot open
//!   or write ([`sink`], [`committer`]);
//! - the MQTT uplink (`[uplink]` without `[uplink.http]`, device id), the HTTP sink
//!   (`[uplink.http]`), the technician page (`[web]`);
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
mod status;
pub mod stays;
pub mod telemetry;
pub mod web;

use crate::config::{self, Config};
use crate::notify::{Liveness, Notifier, WatchdogConfig, WatchdogHandle};
use crate::uplink::Hooks;
use crate::web::ApplyReport;
pub use camera::AnalysisCounters;
use camera::{CameraEnv, CameraPart};
use committer::{Committer, CommitterCtx, DeliverySlot, HttpSlot, StoreSlot};
use lifecycle::Slot;
use models::Models;
use parts::{
    HttpPart, HttpSlice, OutboxPart, OutboxSlice, PartsEnv, UplinkPart, UplinkSlice, WebPart,
    WebSlice,
};
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

/// Time the committer gets at shutdown (from the SIGTERM) to put waiting events into
/// the outbox before what is left is counted as lost. With the uplink's goodbye (5 s
/// at most) and the page (2 s) this stays inside the unit's `TimeoutStopSec=20s`.
const SHUTDOWN_COMMIT: Duration = Duration::from_secs(10);

/// Reconcile the evidence folder with the outbox once, before any camera starts (so
/// no event can be waiting in memory for its commit): files of committed events are
/// adopted, orphans a kill left behind are removed and counted. A failure (no outbox
/// yet, a full disk) is logged; the next start tries again.
fn sweep_evidence(config: &Config) {
    let cap = config.uplink.disk_cap_mb.saturating_mul(1 << 20);
    let r = crate::uplink::Outbox::open(
        &crate::uplink::Outbox::path_in(&config.device.state_dir),
        cap,
    )
    .and_then(|o| o.sweep_evidence_at_start(&analysis::evidence_dir(config)));
    if let Err(e) = r {
        tracing::warn!(error = %e, "evidence sweep at start skipped");
    }
}

/// The running daemon.
pub struct Daemon {
    config_path: Option<PathBuf>,
    config: Config,
    env: PartsEnv,
    outbox: Slot<OutboxPart>,
    uplink: Slot<UplinkPart>,
    http: Slot<HttpPart>,
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
        let http: HttpSlot = Arc::default();
        let telemetry = Arc::new(Telemetry::default());
        *telemetry.device_id.lock().unwrap() = config.device.id.clone();
        let health = Arc::new(HealthSources {
            telemetry: telemetry.clone(),
            sink: sink.clone(),
            store: store.clone(),
            delivery: delivery.clone(),
            http: http.clone(),
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
            http: http.clone(),
            heartbeat: liveness.register("events"),
            state_dir: state_dir.clone(),
        });
        let env = PartsEnv {
            store,
            delivery,
            http,
            liveness: liveness.clone(),
            backend: backend.clone(),
            hooks,
        };
        let camera_env = CameraEnv {
            liveness: liveness.clone(),
            sink: sink.clone(),
            board: backend.live_board(),
            scene: backend.scene_board(),
        };
        let mut d = Daemon {
            config_path,
            outbox: Slot::new(OutboxSlice::of(&config)),
            uplink: Slot::new(UplinkSlice::of(&config)),
            http: Slot::new(HttpSlice::of(&config)),
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
        // Evidence left by the last run is adopted or removed before anything can
        // write new evidence; then the outbox before any camera: events are durable
        // from the first one.
        sweep_evidence(&config);
        let now = Instant::now();
        d.outbox.tick(&d.env, now, None);
        d.uplink.tick(&d.env, now, None);
        d.http.tick(&d.env, now, None);
        d.publish_part_errors();
        d.apply_cameras_and_models(&config, &mut ApplyReport::default());
        d.log_platform_choice();
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

    // --- platform bring-up log (issue 17) ---
    /// One INFO line at start for a first bring-up on a board (docs/deployment.md): the
    /// video decoder GStreamer ranks first here for H.264 and H.265 (the one each camera
    /// then uses, unless the stream's caps rule it out), and each loaded model's execution
    /// providers, in the order ONNX Runtime tries them (CPU last).
    fn log_platform_choice(&self) {
        crate::gst_init();
        let decoder = |media: &str| {
            crate::ingest::pipeline::best_decoder(&gstreamer::Caps::new_empty_simple(media))
                .map(|f| gstreamer::prelude::GstObjectExt::name(&f).to_string())
                .unwrap_or_else(|| "none".into())
        };
        let mut providers: Vec<String> = self
            .models
            .services()
            .map(|svc| format!("{}={}", svc.stats().model_id, svc.providers().join(",")))
            .collect();
        if providers.is_empty() {
            providers.push("none (no model loaded)".into());
        }
        tracing::info!(
            decoder_h264 = %decoder("video/x-h264"),
            decoder_h265 = %decoder("video/x-h265"),
            providers = %providers.join(" "),
            "platform: decoder and execution providers chosen"
        );
    }
    // --- end platform bring-up log ---

    /// Try again the parts that could not start, at once when disk space returns.
    fn tick_parts(&mut self) {
        let now = Instant::now();
        let waiting = self.outbox.waiting()
            || self.uplink.waiting()
            || self.http.waiting()
            || self.web.waiting();
        if !waiting {
            return;
        }
        let free = self.space.free(now);
        self.outbox.tick(&self.env, now, free);
        self.uplink.tick(&self.env, now, free);
        self.http.tick(&self.env, now, free);
        self.web.tick(&self.env, now, free);
        self.publish_part_errors();
    }

    /// Why the outbox or the uplink is down, for health.
    fn publish_part_errors(&self) {
        *self.telemetry.outbox_error.lock().unwrap() = self.outbox.error().map(String::from);
        *self.telemetry.uplink_error.lock().unwrap() = self.uplink.error().map(String::from);
        *self.telemetry.http_error.lock().unwrap() = self.http.error().map(String::from);
    }

    /// Where the technician page listens (the real port when the config said 0);
    /// `None` when it did not start.
    pub fn web_addr(&self) -> Option<std::net::SocketAddr> {
        self.web.running().map(|w| w.local_addr())
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
        let http = std::mem::replace(&mut self.http, Slot::new(HttpSlice::of(&self.config)));
        http.shutdown(&self.env);
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
