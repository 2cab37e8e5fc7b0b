//! A supervised camera: its own thread that connects, watches the pipeline in short
//! slices, and reconnects forever with capped exponential backoff and jitter.
//!
//! A camera with an `analysis_url` runs two such supervisors, one per stream, each on
//! its own terms: the main stream feeds only the encoded ring (clips, snapshots), the
//! analysis stream (the substream) is decoded for analysis and keeps a small ring of
//! its own that evidence falls back to while the main stream is down. A dead analysis
//! stream stops analysis (the camera's state says so); a dead main stream does not.
//! The two share a timeline (see [`super::timeline`]) so one instant has one media
//! time in both, and the analysis supervisor withholds frames while the streams do not
//! pair (see [`super::pairing`]).
//!
//! `rtspsrc` on GStreamer 1.22 reports a dead server as EOS over TCP, as an error over
//! UDP, and a hung server as nothing at all for ~26 s; so EOS, errors and "no buffer
//! for `stall_timeout`" are all treated as a disconnect. Each camera runs isolated:
//! nothing here is shared with other cameras, so one failing camera never stalls another.

use super::Frame;
use super::diagnose::{AnalysisRateWatch, Counters, RateWarning};
use super::pairing::PairingError;
use super::pipeline::{self, AnalysisSpec, Anchor, CameraShared, Source, now_ms};
use super::queue::{BoundedQueue, Overflow};
use super::reach::precheck;
use super::ring::EncodedRing;
use super::status::{CameraStatus, Reason};
use super::timeline::TimeSource;
use crate::config::{CameraConfig, SupervisionConfig};
use gstreamer as gst;
use gstreamer::prelude::*;
use rand::Rng;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Everything needed to run one camera.
#[derive(Debug, Clone)]
pub struct CameraSpec {
    pub id: String,
    /// The main stream: the encoded ring, and analysis too unless `analysis_source`.
    pub source: Source,
    /// The camera's substream, decoded for analysis (`analysis_url`).
    pub analysis_source: Option<Source>,
    pub analysis: Option<AnalysisSpec>,
    pub preroll_seconds: f64,
    pub preroll_max_bytes: usize,
    pub queue_depth: usize,
    pub supervision: SupervisionConfig,
    pub anchor: Anchor,
    pub overflow: Overflow,
}

impl CameraSpec {
    /// A live camera from config (drop-oldest queue, wall-clock anchored media time),
    /// analysed as `analysis` says: the rate is the rules' business (`fps = "auto"`,
    /// `rules::rate::resolve`), so the caller resolves it.
    pub fn from_config(c: &CameraConfig, analysis: AnalysisSpec) -> Self {
        let source_of = |url: &str| match url::Url::parse(url) {
            Ok(u) if u.scheme() == "file" => Source::File {
                path: u.to_file_path().unwrap_or_default(),
            },
            _ => Source::Rtsp {
                url: url.to_string(),
                username: c.username.clone(),
                password: c.password.clone(),
                transport: c.transport,
                latency_ms: c.latency_ms,
            },
        };
        Self {
            id: c.id.clone(),
            source: source_of(&c.url),
            analysis_source: c.analysis_url.as_deref().map(source_of),
            analysis: Some(analysis),
            preroll_seconds: c.preroll.seconds,
            preroll_max_bytes: c.preroll.max_bytes,
            queue_depth: c.analysis.queue_depth,
            supervision: c.supervision.clone(),
            anchor: Anchor::WallClock,
            overflow: Overflow::DropOldest,
        }
    }
}

/// Which of a camera's streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamRole {
    /// `url`: the encoded ring, clips, snapshots and plate crops.
    Main,
    /// `analysis_url`: the substream decoded for analysis.
    Analysis,
}

/// One stream of a camera as health and the dashboard show it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StreamState {
    pub role: StreamRole,
    pub status: CameraStatus,
    /// How its media time is made (camera NTP time once sender reports arrive).
    pub time_source: TimeSource,
    pub reconnects: u64,
}

/// Both streams of a camera and whether they pair.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Streams {
    pub main: StreamState,
    /// `None` for a camera with one stream.
    pub analysis: Option<StreamState>,
    /// Set while the two streams do not pair: analysis is stopped.
    pub pairing: Option<PairingError>,
}

impl Streams {
    /// A camera with two streams whose main stream is down: analysis runs on, evidence
    /// comes from the analysis stream and is marked `main_stream_unavailable`.
    pub fn main_stream_unavailable(&self) -> bool {
        self.analysis.is_some() && !matches!(self.main.status, CameraStatus::Streaming { .. })
    }
}

/// The pairing verdict the analysis stream's supervisor publishes.
type SharedPairing = Arc<Mutex<Option<PairingError>>>;

/// One running supervisor.
struct StreamHandle {
    shared: Arc<CameraShared>,
    status: Arc<Mutex<CameraStatus>>,
    thread: Option<JoinHandle<()>>,
}

/// The running camera. Dropping it stops the thread.
pub struct Camera {
    /// The main stream: its encoded ring is what evidence is cut from.
    pub shared: Arc<CameraShared>,
    status: Arc<Mutex<CameraStatus>>,
    /// The analysis stream of a camera with two streams.
    analysis_stream: Option<StreamHandle>,
    /// Why the two streams do not pair, while they do not.
    pairing: SharedPairing,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// Milliseconds (process clock) of the supervisor's last loop turn: the watchdog
    /// checks it to tell a wedged supervisor from a camera that is merely offline.
    pub heartbeat_ms: Arc<std::sync::atomic::AtomicU64>,
    /// Whether analysis gets the frames it is configured for (None without analysis).
    rate_watch: Option<Mutex<AnalysisRateWatch>>,
}

impl Camera {
    pub fn spawn(spec: CameraSpec) -> Camera {
        Self::spawn_with_heartbeats(spec, None, None)
    }

    /// As [`Camera::spawn`], bumping `heartbeat` whenever the supervisor makes progress
    /// (a loop turn while streaming, or a backoff slice), for the systemd watchdog.
    pub fn spawn_with_heartbeat(
        spec: CameraSpec,
        heartbeat: Option<crate::notify::Heartbeat>,
    ) -> Camera {
        Self::spawn_with_heartbeats(spec, heartbeat, None)
    }

    /// As [`Camera::spawn_with_heartbeat`]; a camera with two streams bumps
    /// `analysis_heartbeat` from its analysis stream's supervisor (each supervisor has
    /// its own, so the watchdog sees either one wedge).
    pub fn spawn_with_heartbeats(
        spec: CameraSpec,
        heartbeat: Option<crate::notify::Heartbeat>,
        analysis_heartbeat: Option<crate::notify::Heartbeat>,
    ) -> Camera {
        let dual = spec.analysis_source.is_some();
        let timeline = Arc::new(super::timeline::CameraTimeline::default());
        let live = matches!(spec.anchor, Anchor::WallClock);
        let new_shared = |source: &Source, frames: usize, analysed: bool| {
            let s = CameraShared::new(
                Arc::from(spec.id.as_str()),
                EncodedRing::new(spec.preroll_seconds, spec.preroll_max_bytes),
                Arc::new(BoundedQueue::new(frames, spec.overflow)),
                spec.anchor,
            )
            .with_timeline(timeline.clone());
            // Jumps are looked for on the stream analysis runs on, when it is live.
            if analysed && live && !source.is_file() {
                Arc::new(s.detect_jumps())
            } else {
                Arc::new(s)
            }
        };
        // With two streams the main one is never decoded for analysis: its frame queue
        // stays empty.
        let shared = new_shared(
            &spec.source,
            if dual { 1 } else { spec.queue_depth.max(1) },
            !dual,
        );
        let status = Arc::new(Mutex::new(CameraStatus::Connecting));
        let stop = Arc::new(AtomicBool::new(false));
        let heartbeat_ms = Arc::new(std::sync::atomic::AtomicU64::new(now_ms()));
        let rate_watch = spec
            .analysis
            .as_ref()
            .map(|a| Mutex::new(AnalysisRateWatch::new(a.fps, a.keyframes_only)));
        let pairing: SharedPairing = Arc::default();
        let analysis_stream = spec.analysis_source.clone().map(|source| {
            let sub = new_shared(&source, spec.queue_depth.max(1), true);
            let status = Arc::new(Mutex::new(CameraStatus::Connecting));
            let sup = Supervisor {
                spec: CameraSpec {
                    source,
                    analysis_source: None,
                    ..spec.clone()
                },
                role: Some(StreamRole::Analysis),
                shared: sub.clone(),
                status: status.clone(),
                stop: stop.clone(),
                heartbeat_ms: Arc::new(std::sync::atomic::AtomicU64::new(now_ms())),
                heartbeat: analysis_heartbeat,
                pair_with: Some((shared.clone(), pairing.clone())),
            };
            let thread = std::thread::Builder::new()
                .name(format!("cam-{}-sub", sup.spec.id))
                .spawn(move || sup.run())
                .expect("spawn camera thread");
            StreamHandle {
                shared: sub,
                status,
                thread: Some(thread),
            }
        });
        let sup = Supervisor {
            spec: CameraSpec {
                analysis: if dual { None } else { spec.analysis.clone() },
                analysis_source: None,
                ..spec
            },
            role: dual.then_some(StreamRole::Main),
            shared: shared.clone(),
            status: status.clone(),
            stop: stop.clone(),
            heartbeat_ms: heartbeat_ms.clone(),
            heartbeat,
            pair_with: None,
        };
        let thread = std::thread::Builder::new()
            .name(format!("cam-{}", sup.spec.id))
            .spawn(move || sup.run())
            .expect("spawn camera thread");
        Camera {
            shared,
            status,
            analysis_stream,
            pairing,
            stop,
            thread: Some(thread),
            heartbeat_ms,
            rate_watch,
        }
    }

    /// The stream analysis frames come from: the analysis stream of a camera with two,
    /// the one stream otherwise.
    pub fn analysis_shared(&self) -> &Arc<CameraShared> {
        self.analysis_stream
            .as_ref()
            .map_or(&self.shared, |s| &s.shared)
    }

    /// The analysis stream of a camera with two streams.
    pub fn analysis_stream(&self) -> Option<&Arc<CameraShared>> {
        self.analysis_stream.as_ref().map(|s| &s.shared)
    }

    /// Whether the camera has a separate analysis stream.
    pub fn is_dual(&self) -> bool {
        self.analysis_stream.is_some()
    }

    /// Why the camera's two streams do not pair, while they do not.
    pub fn pairing_error(&self) -> Option<PairingError> {
        self.pairing.lock().unwrap().clone()
    }

    /// Each stream's state, and whether they pair.
    pub fn streams(&self) -> Streams {
        let state = |role, shared: &CameraShared, status: &Mutex<CameraStatus>| StreamState {
            role,
            status: status.lock().unwrap().clone(),
            time_source: *shared.stats.time_source.lock().unwrap(),
            reconnects: shared.stats.reconnects.load(Ordering::Relaxed),
        };
        Streams {
            main: state(StreamRole::Main, &self.shared, &self.status),
            analysis: self
                .analysis_stream
                .as_ref()
                .map(|s| state(StreamRole::Analysis, &s.shared, &s.status)),
            pairing: self.pairing_error(),
        }
    }

    /// Whether analysis gets far fewer frames than configured, and why (see
    /// [`super::diagnose`]). `analysed` is the detectors' running count for this
    /// camera; call it every status tick (it samples once a second). Logs a warning
    /// when the condition starts and a note when it ends.
    pub fn analysis_warning(&self, analysed: u64) -> Option<RateWarning> {
        let mut watch = self.rate_watch.as_ref()?.lock().unwrap();
        let was = watch.current().is_some();
        if !matches!(self.status(), CameraStatus::Streaming { .. }) {
            // Not streaming: the camera's status already says why.
            watch.reset();
            return None;
        }
        let an = self.analysis_shared();
        let st = &an.stats;
        let now = watch.update(
            Instant::now(),
            Counters {
                access_units: st.access_units.load(Ordering::Relaxed),
                keyframes: st.keyframes.load(Ordering::Relaxed),
                decoded: st.frames_decoded.load(Ordering::Relaxed),
                delivered: st.frames_delivered.load(Ordering::Relaxed),
                queue_dropped: an.frames.dropped(),
                analysed,
            },
        );
        match (&now, was) {
            (Some(w), false) => tracing::warn!(
                camera = %self.id(),
                measured_fps = w.measured_fps,
                expected_fps = w.expected_fps,
                stream_fps = w.stream_fps,
                cause = w.cause.code(),
                "analysis gets far fewer frames than configured: {}",
                w.message
            ),
            (None, true) => {
                tracing::info!(camera = %self.id(), "analysis rate is back to the configured rate")
            }
            _ => {}
        }
        now
    }

    pub fn id(&self) -> &str {
        &self.shared.camera_id
    }
    /// The camera's state. With two streams it is the analysis stream's (analysis
    /// depends on it; the message says which stream), `failed` while the streams do
    /// not pair, and `streaming` with the main stream's picture while both stream. A
    /// main stream that is down does not stop analysis: [`Camera::streams`] says so.
    pub fn status(&self) -> CameraStatus {
        let main = self.status.lock().unwrap().clone();
        let Some(sub) = &self.analysis_stream else {
            return main;
        };
        if let Some(e) = self.pairing_error() {
            return CameraStatus::failed(Reason::StreamPairing(e.to_string()));
        }
        let sub = sub.status.lock().unwrap().clone();
        let stopped = |m: &str| format!("analysis stream: {m} (analysis stopped)");
        match sub {
            CameraStatus::Streaming { .. } if matches!(main, CameraStatus::Streaming { .. }) => {
                main
            }
            CameraStatus::Backoff {
                reason,
                message,
                retry_in_s,
                attempt,
            } => CameraStatus::Backoff {
                message: stopped(&message),
                reason,
                retry_in_s,
                attempt,
            },
            CameraStatus::Failed { reason, message } => CameraStatus::Failed {
                message: stopped(&message),
                reason,
            },
            other => other,
        }
    }
    pub fn frames(&self) -> &Arc<BoundedQueue<Frame>> {
        &self.analysis_shared().frames
    }
    /// Stop and wait for the camera's threads.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.shared.frames.close();
        if let Some(s) = &self.analysis_stream {
            s.shared.frames.close();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(t) = self.analysis_stream.as_mut().and_then(|s| s.thread.take()) {
            let _ = t.join();
        }
    }
}

impl Drop for Camera {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Supervisor {
    spec: CameraSpec,
    /// Which stream of a camera with two (None: the camera's only stream).
    role: Option<StreamRole>,
    shared: Arc<CameraShared>,
    status: Arc<Mutex<CameraStatus>>,
    stop: Arc<AtomicBool>,
    heartbeat_ms: Arc<std::sync::atomic::AtomicU64>,
    heartbeat: Option<crate::notify::Heartbeat>,
    /// The analysis stream's supervisor judges the pairing against the main stream's
    /// size and publishes it.
    pair_with: Option<(Arc<CameraShared>, SharedPairing)>,
}

/// How a connection ended.
enum Ended {
    Stop,
    Finished,
    Disconnected { reason: Reason, streamed: bool },
}

const SLICE: Duration = Duration::from_millis(200);

impl Supervisor {
    fn set(&self, s: CameraStatus) {
        let mut cur = self.status.lock().unwrap();
        if cur.name() != s.name() || cur.reason() != s.reason() {
            let stream = match self.role {
                None => "",
                Some(StreamRole::Main) => "main",
                Some(StreamRole::Analysis) => "analysis",
            };
            match &s {
                CameraStatus::Backoff { .. } | CameraStatus::Failed { .. } => {
                    tracing::warn!(camera = %self.spec.id, stream, source = %self.spec.source.display(), status = %s, "camera status")
                }
                _ => {
                    tracing::info!(camera = %self.spec.id, stream, source = %self.spec.source.display(), status = %s, "camera status")
                }
            }
        }
        self.shared.online.store(
            matches!(s, CameraStatus::Streaming { .. }),
            Ordering::Relaxed,
        );
        *cur = s;
    }

    /// Judge the pairing with the main stream once both sizes are known (the main
    /// stream's stays known while it is down), publish it, and withhold analysis
    /// frames while it is wrong.
    fn judge_pairing(&self) {
        let Some((main, out)) = &self.pair_with else {
            return;
        };
        let verdict = match (main.stats.size(), self.shared.stats.size()) {
            (Some(m), Some(s)) => super::pairing::check(m, s).err(),
            _ => None,
        };
        self.shared
            .withhold_frames
            .store(verdict.is_some(), Ordering::Relaxed);
        let mut cur = out.lock().unwrap();
        if *cur != verdict {
            match &verdict {
                Some(e) => {
                    tracing::error!(camera = %self.spec.id, code = e.code(), "streams do not pair, analysis stopped: {e}")
                }
                None => tracing::info!(camera = %self.spec.id, "the camera's two streams pair"),
            }
            *cur = verdict;
        }
    }

    fn beat(&self) {
        self.heartbeat_ms.store(now_ms(), Ordering::Relaxed);
        if let Some(h) = &self.heartbeat {
            h.bump();
        }
    }

    fn run(self) {
        let mut attempt: u32 = 0;
        loop {
            if self.stop.load(Ordering::SeqCst) {
                break;
            }
            self.set(CameraStatus::Connecting);
            match self.connect_once() {
                Ended::Stop => break,
                Ended::Finished => {
                    self.set(CameraStatus::Ended);
                    self.shared.frames.close();
                    return;
                }
                Ended::Disconnected { reason, streamed } => {
                    self.shared.stats.reconnects.fetch_add(1, Ordering::Relaxed);
                    if streamed {
                        attempt = 0;
                    }
                    if self.spec.source.is_file() {
                        // A file cannot get better by retrying.
                        self.set(CameraStatus::failed(reason));
                        self.shared.frames.close();
                        return;
                    }
                    let delay = backoff_delay(&self.spec.supervision, attempt);
                    attempt = attempt.saturating_add(1);
                    self.set(CameraStatus::backoff(reason, delay.as_secs_f64(), attempt));
                    if !self.sleep(delay) {
                        break;
                    }
                }
            }
        }
        self.set(CameraStatus::Stopped);
    }

    /// Sleep in slices, beating the heartbeat; false if asked to stop.
    fn sleep(&self, d: Duration) -> bool {
        let end = Instant::now() + d;
        while Instant::now() < end {
            if self.stop.load(Ordering::SeqCst) {
                return false;
            }
            self.beat();
            std::thread::sleep(SLICE.min(end.saturating_duration_since(Instant::now())));
        }
        true
    }

    fn connect_once(&self) -> Ended {
        self.beat();
        if let Source::Rtsp { url, .. } = &self.spec.source
            && let Err(reason) = precheck(url, Duration::from_secs(5))
        {
            return Ended::Disconnected {
                reason,
                streamed: false,
            };
        }
        if let Source::File { path } = &self.spec.source
            && !path.is_file()
        {
            return Ended::Disconnected {
                reason: Reason::Other(format!("file {} not found", path.display())),
                streamed: false,
            };
        }
        self.shared.ring.lock().unwrap().clear();
        *self.shared.ring_caps.lock().unwrap() = None;
        let conn =
            match pipeline::connect(&self.spec.source, self.spec.analysis.as_ref(), &self.shared) {
                Ok(c) => c,
                Err(e) => {
                    return Ended::Disconnected {
                        reason: Reason::Other(e.to_string()),
                        streamed: false,
                    };
                }
            };
        let bus = conn.pipeline.bus().expect("pipeline has a bus");
        let started = now_ms();
        let stall_ms = (self.spec.supervision.stall_timeout_s * 1000.0) as u64;
        let aus_at_start = self.shared.stats.access_units.load(Ordering::Relaxed);
        let mut rate = RateMeter::default();
        let mut warned_gop = false;
        loop {
            self.beat();
            if self.stop.load(Ordering::SeqCst) {
                return Ended::Stop;
            }
            let streamed = self.shared.stats.access_units.load(Ordering::Relaxed) > aus_at_start;
            if let Some(msg) = bus.timed_pop_filtered(
                gst::ClockTime::from_nseconds(SLICE.as_nanos() as u64),
                &[
                    gst::MessageType::Error,
                    gst::MessageType::Eos,
                    gst::MessageType::Warning,
                ],
            ) {
                match msg.view() {
                    gst::MessageView::Error(e) => {
                        let dbg_text = e.debug().map(|d| d.to_string()).unwrap_or_default();
                        let reason = Reason::from_gst_error(&e.error().to_string(), &dbg_text);
                        tracing::debug!(camera = %self.spec.id, error = %crate::redact::scrub(&dbg_text, &[]), "pipeline error");
                        return Ended::Disconnected { reason, streamed };
                    }
                    gst::MessageView::Eos(_) => {
                        if self.spec.source.is_file() {
                            return Ended::Finished;
                        }
                        return Ended::Disconnected {
                            reason: Reason::EndOfStream,
                            streamed,
                        };
                    }
                    gst::MessageView::Warning(w) => {
                        tracing::debug!(camera = %self.spec.id, warning = %crate::redact::scrub(&w.error().to_string(), &[]), "pipeline warning");
                    }
                    _ => {}
                }
            }
            let last = self
                .shared
                .stats
                .last_buffer_ms
                .load(Ordering::Relaxed)
                .max(started);
            if now_ms().saturating_sub(last) > stall_ms {
                return Ended::Disconnected {
                    reason: Reason::Stalled {
                        seconds: self.spec.supervision.stall_timeout_s.round() as u32,
                    },
                    streamed,
                };
            }
            if streamed {
                self.judge_pairing();
                let aus = self.shared.stats.access_units.load(Ordering::Relaxed);
                let fps = rate.update(aus);
                let st = &self.shared.stats;
                let codec = st
                    .codec
                    .lock()
                    .unwrap()
                    .map(|c| c.name().to_string())
                    .unwrap_or_default();
                self.set(CameraStatus::Streaming {
                    fps,
                    width: st.width.load(Ordering::Relaxed),
                    height: st.height.load(Ordering::Relaxed),
                    codec,
                });
                let ring = self.shared.ring.lock().unwrap();
                if !warned_gop && ring.gop_exceeds_preroll() {
                    warned_gop = true;
                    tracing::warn!(
                        camera = %self.spec.id,
                        gop_s = ring.gop_seconds().unwrap_or_default(),
                        preroll_s = self.spec.preroll_seconds,
                        "camera GOP is longer than the requested pre-roll: clips may start up to one GOP early; set the camera's I-frame interval lower"
                    );
                }
            }
        }
    }
}

/// Measures a counter's rate over a sliding window of ~2 s.
#[derive(Default)]
struct RateMeter {
    samples: std::collections::VecDeque<(Instant, u64)>,
}

impl RateMeter {
    fn update(&mut self, count: u64) -> f64 {
        let now = Instant::now();
        self.samples.push_back((now, count));
        while self.samples.len() > 2
            && now.duration_since(self.samples[0].0) > Duration::from_secs(2)
        {
            self.samples.pop_front();
        }
        let (t0, c0) = self.samples[0];
        let dt = now.duration_since(t0).as_secs_f64();
        if dt < 0.1 {
            0.0
        } else {
            (count - c0) as f64 / dt
        }
    }
}

/// Delay before reconnect attempt `attempt` (0-based): exponential, capped, with ±25 %
/// jitter so a street of boxes does not reconnect in lockstep after a power cut.
pub fn backoff_delay(s: &SupervisionConfig, attempt: u32) -> Duration {
    let base = s.backoff_initial_s * 2f64.powi(attempt.min(20) as i32);
    let capped = base.min(s.backoff_max_s);
    let jitter = rand::rng().random_range(0.75..=1.25);
    Duration::from_secs_f64((capped * jitter).min(s.backoff_max_s).max(0.05))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let s = SupervisionConfig {
            stall_timeout_s: 10.0,
            backoff_initial_s: 1.0,
            backoff_max_s: 30.0,
        };
        let d0 = backoff_delay(&s, 0).as_secs_f64();
        assert!((0.75..=1.25).contains(&d0), "{d0}");
        let d3 = backoff_delay(&s, 3).as_secs_f64();
        assert!((6.0..=10.0).contains(&d3), "{d3}");
        for a in 5..40 {
            assert!(backoff_delay(&s, a).as_secs_f64() <= 30.0);
        }
    }
}
