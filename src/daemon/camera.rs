//! One camera as two parts with their own config slices:
//! - the stream ([`stream_slice`]: URL, credentials, transport, analysis rate, ring):
//!   a change reconnects the camera; so does a change of zones or `[events.tracker]`
//!   that changes the rate `analysis.fps = "auto"` resolves to (`rules::rate`);
//! - its analysis ([`AnalysisSlice`]: zones, models, `[events]`, the device's id,
//!   timezone and division code): a change reaches the running rules without touching
//!   the stream. Zones alone are swapped inside the analysis thread; anything else
//!   stops the analysis thread, reconfigures the rules (open stays keep their ids) and
//!   starts it again bound to the models' current services.

use super::analysis::{CameraAnalysis, EventSink};
use super::live::{self, LiveBoard};
use super::merge::{MergedFrame, Merger};
use super::models::Models;
use super::rate::RateMeter;
use crate::config::{CameraConfig, Config};
use crate::evidence::job::{DualRing, RingSource};
use crate::infer::worker::{Analysed, CameraHandle, SubmitMode};
use crate::ingest::{Camera, CameraSpec, MediaTime, Pop};
use crate::notify::{Heartbeat, Liveness};
use crate::rules::EventsConfig;
use crate::rules::zone::Zone;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What every camera part shares with the daemon.
pub struct CameraEnv {
    pub liveness: Liveness,
    pub sink: EventSink,
    pub board: Arc<LiveBoard>,
    /// Each camera's scene (PTZ, tampering, reference views) for the page.
    pub scene: Arc<crate::rules::scene::board::SceneBoard>,
}

/// What the stream is built from: the camera's config without what only the analysis
/// uses (name, zones, models).
pub fn stream_slice(c: &CameraConfig) -> CameraConfig {
    let mut s = c.clone();
    s.name.clear();
    s.zones.clear();
    s.analysis.models.clear();
    s
}

/// What a camera's analysis is built from, besides its zones.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalysisSlice {
    pub camera_name: String,
    /// Model ids with the generation of the service they bind to (0: not running).
    pub models: Vec<(String, u64)>,
    /// `[events]` without `queue_depth` (the daemon's queue, not the rules').
    pub events: EventsConfig,
    pub device_id: String,
    pub timezone: String,
    pub division_code: Option<String>,
    pub state_dir: PathBuf,
    pub models_dir: PathBuf,
}

impl AnalysisSlice {
    pub fn of(cfg: &Config, c: &CameraConfig, models: &Models) -> Self {
        AnalysisSlice {
            camera_name: c.name.clone(),
            models: c
                .analysis
                .models
                .iter()
                .map(|m| (m.clone(), models.generation(m)))
                .collect(),
            events: EventsConfig {
                queue_depth: None,
                ..cfg.events.clone()
            },
            device_id: cfg.device.id.clone(),
            timezone: cfg.device.timezone.clone(),
            division_code: cfg.device.division_code.clone(),
            state_dir: cfg.device.state_dir.clone(),
            models_dir: cfg.inference.models_dir.clone(),
        }
    }
}

/// What a reconcile did to a running camera.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CameraChange {
    Unchanged,
    /// Only the zones changed: swapped inside the running analysis.
    Zones,
    /// The analysis was reconfigured (and rebound to its models); stream untouched.
    Analysis,
    /// The analysis could not take the new settings; it runs on with the old ones.
    AnalysisFailed(String),
}

/// The analysis thread of a camera and what it needs to be restarted.
struct AnalysisPart {
    slice: AnalysisSlice,
    zones: Vec<Zone>,
    beat: Heartbeat,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Option<CameraAnalysis>>>,
    /// Zones waiting to be swapped in by the analysis thread.
    pending_zones: Arc<Mutex<Option<Vec<Zone>>>>,
    /// Media time (ns) of the last analysed frame: "now" for a reconfiguration.
    last_time: Arc<AtomicI64>,
    /// `model unavailable: …` for each configured model that is not running.
    model_problems: Vec<String>,
}

/// Where a camera's evidence is cut from: its main stream's ring, falling back to the
/// analysis stream's while the main stream is down (camera with two streams).
fn evidence_ring(camera: &Camera) -> Arc<dyn RingSource> {
    match camera.analysis_stream() {
        Some(sub) => Arc::new(DualRing::new(camera.shared.clone(), sub.clone())),
        None => camera.shared.clone(),
    }
}

/// A running camera: stream plus analysis.
pub struct CameraPart {
    pub config: CameraConfig,
    pub camera: Arc<Camera>,
    cam_beat: Heartbeat,
    /// The analysis stream's supervisor (camera with two streams).
    sub_beat: Option<Heartbeat>,
    analysis: AnalysisPart,
    pub counters: Arc<AnalysisCounters>,
    /// Analysed frames per second, for the dashboard.
    pub rate: RateMeter,
    /// The decode the stream was started with (see [`decode_key`]).
    decode: DecodeKey,
}

/// What the pipeline is built with from the resolved analysis rate: keyframes only,
/// frames per second, the largest keyframe gap.
type DecodeKey = (bool, u64, Option<u64>);

fn decode_key(r: &crate::rules::rate::AnalysisRate) -> DecodeKey {
    (
        r.keyframes_only,
        r.fps.to_bits(),
        r.keyframe_max_gap_s.map(f64::to_bits),
    )
}

impl CameraPart {
    pub fn start(cfg: &Config, c: &CameraConfig, env: &CameraEnv, models: &Models) -> Self {
        let decode = crate::rules::rate::resolve(c, &cfg.events.tracker);
        tracing::info!(camera = %c.id, analysis = %decode.describe(), "analysis rate");
        tracing::info!(camera = %c.id, url = %crate::redact::redact_url(&c.url), "starting camera");
        let cam_beat = env.liveness.register(format!("cam-{}", c.id));
        let sub_beat = c
            .analysis_url
            .as_ref()
            .map(|_| env.liveness.register(format!("cam-{}-analysis", c.id)));
        let camera = Arc::new(Camera::spawn_with_heartbeats(
            CameraSpec::from_config(c, decode.spec(c.analysis.max_width)),
            Some(cam_beat.clone()),
            sub_beat.clone(),
        ));
        let counters = Arc::new(AnalysisCounters::default());
        // Before the first frame reaches the board: no picture is ever served unmasked.
        env.board.set_zones(&c.id, c.zones.clone());
        let rules = match CameraAnalysis::start(
            cfg,
            c,
            evidence_ring(&camera),
            env.sink.clone(),
            Some(&env.liveness),
        ) {
            Ok(mut a) => {
                // PTZ controller, tampering state and reference views for the page.
                a.attach_scene(cfg, c, env.scene.clone());
                Some(a)
            }
            Err(e) => {
                tracing::error!(camera = %c.id, error = %e, "rules unavailable for this camera");
                None
            }
        };
        let mut analysis = AnalysisPart {
            slice: AnalysisSlice::of(cfg, c, models),
            zones: c.zones.clone(),
            beat: env.liveness.register(format!("analyse-{}", c.id)),
            stop: Arc::default(),
            thread: None,
            pending_zones: Arc::default(),
            last_time: Arc::default(),
            model_problems: Vec::new(),
        };
        analysis.spawn(c, rules, &camera, &counters, env, models);
        CameraPart {
            config: c.clone(),
            camera,
            cam_beat,
            sub_beat,
            analysis,
            counters,
            rate: RateMeter::new(Instant::now(), 0),
            decode: decode_key(&decode),
        }
    }

    /// Whether `c` can be applied without reconnecting the stream: the same stream
    /// settings, decoded at the same resolved rate.
    pub fn same_stream(&self, c: &CameraConfig, tracker: &crate::track::TrackerConfig) -> bool {
        stream_slice(c) == stream_slice(&self.config)
            && decode_key(&crate::rules::rate::resolve(c, tracker)) == self.decode
    }

    /// Apply `c` (same stream) and the rest of `cfg` to the running analysis.
    pub fn reconcile(
        &mut self,
        cfg: &Config,
        c: &CameraConfig,
        env: &CameraEnv,
        models: &Models,
    ) -> CameraChange {
        let slice = AnalysisSlice::of(cfg, c, models);
        let a = &mut self.analysis;
        let change = if slice == a.slice && c.zones == a.zones {
            CameraChange::Unchanged
        } else if slice == a.slice {
            // Only the zones: the running thread swaps them between two frames.
            *a.pending_zones.lock().unwrap_or_else(|p| p.into_inner()) = Some(c.zones.clone());
            env.board.set_zones(&c.id, c.zones.clone());
            a.zones = c.zones.clone();
            CameraChange::Zones
        } else {
            tracing::info!(camera = %c.id, "analysis settings changed: reconfiguring the rules (the stream keeps running)");
            let rules = a.stop_thread();
            let now = MediaTime(a.last_time.load(Ordering::Relaxed));
            let mut failed = None;
            let rules = match rules {
                Some(mut r) => {
                    if let Err(e) = r.reconfigure(cfg, c, now) {
                        tracing::error!(camera = %c.id, error = %e, "new analysis settings refused; keeping the old ones");
                        failed = Some(e.to_string());
                    }
                    Some(r)
                }
                // The rules could not be built before: try again with the new settings.
                None => CameraAnalysis::start(
                    cfg,
                    c,
                    evidence_ring(&self.camera),
                    env.sink.clone(),
                    Some(&env.liveness),
                )
                .map_err(|e| {
                    tracing::error!(camera = %c.id, error = %e, "rules unavailable for this camera");
                    failed = Some(e.to_string());
                })
                .ok(),
            };
            env.board.set_zones(&c.id, c.zones.clone());
            a.slice = slice;
            a.zones = c.zones.clone();
            a.spawn(c, rules, &self.camera, &self.counters, env, models);
            match failed {
                Some(e) => CameraChange::AnalysisFailed(e),
                None => CameraChange::Analysis,
            }
        };
        self.config = c.clone();
        change
    }

    /// `model unavailable: …` for each configured model that is not running.
    pub fn model_problems(&self) -> &[String] {
        &self.analysis.model_problems
    }

    /// Stop the analysis (finishing its evidence: every held event is released) and
    /// the stream.
    pub fn stop(mut self) {
        self.cam_beat.retire();
        if let Some(b) = self.sub_beat.take() {
            b.retire();
        }
        if let Some(rules) = self.analysis.stop_thread() {
            rules.finish();
        }
        self.analysis.beat.retire();
        self.camera.frames().close();
        if let Ok(mut cam) = Arc::try_unwrap(self.camera) {
            cam.stop();
        }
    }
}

impl AnalysisPart {
    /// Start the analysis thread with `rules`, bound to the current services of the
    /// camera's models.
    fn spawn(
        &mut self,
        c: &CameraConfig,
        rules: Option<CameraAnalysis>,
        camera: &Arc<Camera>,
        counters: &Arc<AnalysisCounters>,
        env: &CameraEnv,
        models: &Models,
    ) {
        let mut handles = Vec::new();
        self.model_problems.clear();
        for m in &c.analysis.models {
            match models.service(m) {
                Some((svc, _)) => handles.push(svc.add_camera(&c.id, SubmitMode::Latest, 4)),
                None => {
                    let why = models.camera_status(m).unwrap_or_default();
                    tracing::error!(camera = %c.id, model = %m, "{why}");
                    self.model_problems.push(why);
                }
            }
        }
        self.stop = Arc::default();
        let consumer = Consumer {
            camera_id: c.id.clone(),
            camera: camera.clone(),
            merger: Merger::new(handles.len()),
            handles,
            rules,
            beat: self.beat.clone(),
            stop: self.stop.clone(),
            zones_in: self.pending_zones.clone(),
            counters: counters.clone(),
            board: env.board.clone(),
            last_time: self.last_time.clone(),
        };
        self.thread = Some(
            std::thread::Builder::new()
                .name(format!("analyse-{}", c.id))
                .spawn(move || consumer.run())
                .expect("spawn the analysis thread"),
        );
    }

    /// Stop the analysis thread and take back its rules (with their open stays).
    fn stop_thread(&mut self) -> Option<CameraAnalysis> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().and_then(|t| t.join().ok()).flatten()
    }
}

/// The analysis thread: frames to the models, results to the rules and the board.
struct Consumer {
    camera_id: String,
    camera: Arc<Camera>,
    handles: Vec<(CameraHandle, Receiver<Analysed>)>,
    /// One frame from every model's results.
    merger: Merger,
    rules: Option<CameraAnalysis>,
    beat: Heartbeat,
    stop: Arc<AtomicBool>,
    zones_in: Arc<Mutex<Option<Vec<Zone>>>>,
    counters: Arc<AnalysisCounters>,
    board: Arc<LiveBoard>,
    last_time: Arc<AtomicI64>,
}

impl Consumer {
    /// Runs until stopped (or the camera's queue closes); returns the rules so a
    /// reconfiguration can keep their state.
    fn run(mut self) -> Option<CameraAnalysis> {
        // Frames go to every model's shared service; `Latest` submits never block, so
        // a slow model drops frames (counted per camera) instead of stalling ingest.
        while !self.stop.load(Ordering::SeqCst) {
            self.beat.bump();
            match self.camera.frames().pop_timeout(Duration::from_millis(200)) {
                Pop::Item(frame) => {
                    // Scene first (PTZ position, tampering): see daemon::analysis.
                    if let Some(r) = self.rules.as_mut() {
                        r.on_picture(&frame);
                    }
                    let frame = Arc::new(frame);
                    self.board.set_frame(&self.camera_id, frame.clone());
                    for (h, _) in &self.handles {
                        let _ = h.submit(frame.clone());
                    }
                }
                Pop::Timeout => {
                    if let Some(r) = self.rules.as_mut() {
                        r.on_idle();
                    }
                }
                Pop::Closed => break,
            }
            self.take_results();
            let zones = self
                .zones_in
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            if let Some(z) = zones
                && let Some(r) = self.rules.as_mut()
            {
                let now = MediaTime(self.last_time.load(Ordering::Relaxed));
                match r.set_zones(z, now) {
                    Ok(()) => tracing::info!(camera = %self.camera_id, "zones reloaded"),
                    Err(e) => {
                        tracing::error!(camera = %self.camera_id, error = %e, "zones refused; keeping the old ones")
                    }
                }
            }
        }
        self.rules
    }

    fn take_results(&mut self) {
        let mut frames = Vec::new();
        for (i, (_, rx)) in self.handles.iter().enumerate() {
            while let Ok(a) = rx.try_recv() {
                frames.extend(self.merger.add(i, a));
            }
        }
        // Several models may complete frames in one turn: the rules want them in order.
        frames.sort_by_key(|f| f.time.0);
        for f in frames {
            let time = f.time;
            self.last_time.store(time.0, Ordering::Relaxed);
            let Some(dets) = on_analysed(&self.camera_id, &self.counters, &f) else {
                continue;
            };
            if let Some(r) = self.rules.as_mut() {
                r.on_frame(time, f.width, f.height, dets);
            }
            let (zones, tracks): (&[Zone], Vec<&crate::track::Track>) = match &self.rules {
                Some(r) => (r.zones(), r.tracks().collect()),
                None => (&[][..], Vec::new()),
            };
            self.board.set_result(
                &self.camera_id,
                live::live_result(
                    self.counters.analysed.load(Ordering::Relaxed),
                    time,
                    f.width,
                    f.height,
                    dets,
                    zones,
                    &tracks,
                ),
            );
        }
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
pub(super) fn on_analysed<'a>(
    camera: &str,
    counters: &AnalysisCounters,
    frame: &'a MergedFrame,
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
