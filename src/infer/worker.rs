//! The shared inference service of one model: all cameras feed one bounded request
//! table served by a few worker threads (each owning a session).
//!
//! Why this shape:
//! - The queue holds at most one waiting frame per camera, so it is bounded by the number
//!   of cameras and a stalled model can never grow memory.
//! - Ingest must never wait for inference: a `Latest` camera's new frame replaces its
//!   waiting one (newest wins, the replaced frame is counted as dropped). File replay
//!   wants determinism instead, so a `Lossless` camera's submit blocks until its slot is
//!   free.
//! - Fairness: workers pick cameras round robin and a camera has at most one frame in
//!   flight, so one busy camera cannot starve the others.
//! - On this CPU several sessions at one intra-op thread each beat one session with
//!   more threads on throughput (see docs/performance.md), hence workers = sessions.
//! - A model with a dynamic batch (`shape[0] = -1` and `max_batch` > 1 in its manifest)
//!   gets the frames already waiting on other cameras batched into one session run.
//!   Both shipped models have a fixed batch of 1, so their frames run back to back.

use super::detection::Detection;
use super::detector::{DetectError, Detector};
use super::model::{self, ModelError, ModelFile};
use crate::config::InferenceConfig;
use crate::ingest::{Frame, MediaTime};
use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Why the service refused a request.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("inference service for model \"{0}\" has shut down")]
    ShutDown(String),
    #[error("cannot start an inference worker thread: {0}")]
    Spawn(String),
}

/// Something that turns a frame into detections: a [`Detector`] in production, a fake in
/// tests.
pub trait Analyser: Send + 'static {
    fn analyse(&mut self, frame: &Frame) -> Result<Vec<Detection>, DetectError>;

    /// How many frames one call of [`Analyser::analyse_batch`] may take.
    fn max_batch(&self) -> usize {
        1
    }

    /// Analyse frames of different cameras together (one session run for models with
    /// a dynamic batch); one result per frame, in order.
    fn analyse_batch(&mut self, frames: &[&Frame]) -> Vec<Result<Vec<Detection>, DetectError>> {
        frames.iter().map(|f| self.analyse(f)).collect()
    }
}

impl Analyser for Detector {
    fn analyse(&mut self, frame: &Frame) -> Result<Vec<Detection>, DetectError> {
        self.detect(frame)
    }
    fn max_batch(&self) -> usize {
        Detector::max_batch(self)
    }
    fn analyse_batch(&mut self, frames: &[&Frame]) -> Vec<Result<Vec<Detection>, DetectError>> {
        self.detect_batch(frames)
    }
}

/// How a camera's frames enter the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmitMode {
    /// Live camera: never block; a newer frame replaces a waiting one.
    Latest,
    /// File replay: block until the frame is accepted; nothing is dropped.
    Lossless,
}

/// The result for one analysed frame.
#[derive(Debug)]
pub struct Analysed {
    pub camera_id: Arc<str>,
    pub pts_ns: u64,
    pub time: MediaTime,
    pub width: u32,
    pub height: u32,
    pub detections: Result<Vec<Detection>, String>,
    /// From submit to detections.
    pub latency: Duration,
}

/// Counters of one camera.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CameraStats {
    pub camera_id: String,
    pub analysed: u64,
    /// Frames replaced by a newer one before inference reached them.
    pub dropped: u64,
    /// Results discarded because the camera's consumer did not keep up.
    pub results_dropped: u64,
}

/// Counters and latency of the whole service.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ServiceStats {
    pub model_id: String,
    pub workers: usize,
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
    pub cameras: Vec<CameraStats>,
}

struct Pending {
    /// Shared with the Live board and the camera's other models: a frame is a few
    /// MiB, so it is counted, not copied.
    frame: Arc<Frame>,
    submitted: Instant,
}

struct Slot {
    id: Arc<str>,
    mode: SubmitMode,
    pending: Option<Pending>,
    in_flight: bool,
    closed: bool,
    analysed: u64,
    dropped: u64,
    results_dropped: u64,
    out: SyncSender<Analysed>,
}

struct State {
    slots: Vec<Slot>,
    /// Next slot index the round robin looks at first.
    cursor: usize,
    shutdown: bool,
    /// Recent latencies (seconds), a bounded window for percentiles.
    latencies: VecDeque<f64>,
}

struct Shared {
    model_id: String,
    state: Mutex<State>,
    work: Condvar,
    space: Condvar,
    /// One heartbeat per worker thread once the daemon attached its watchdog registry.
    beats: Mutex<Vec<crate::notify::Heartbeat>>,
}

/// How often an idle worker wakes to prove it is alive.
const IDLE_BEAT: Duration = Duration::from_secs(1);

const LATENCY_WINDOW: usize = 2048;

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking analyser must not take every camera down with a poisoned lock.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The running service of one model.
pub struct InferenceService {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    /// Execution providers the sessions registered (empty for non-ORT analysers).
    providers: Vec<String>,
}

/// A camera's entry point into the service.
pub struct CameraHandle {
    shared: Arc<Shared>,
    index: usize,
}

impl InferenceService {
    /// Verify model `id` once and start `cfg.workers` workers, each with its own session.
    pub fn for_model(cfg: &InferenceConfig, id: &str) -> Result<Self, ModelError> {
        let rt = model::runtime_from_config(cfg)?;
        let file = ModelFile::open(&cfg.models_dir, &model::weights_dir(cfg), id)?;
        let detectors = (0..cfg.workers.max(1))
            .map(|_| Detector::new(&file, rt, cfg))
            .collect::<Result<Vec<_>, _>>()?;
        let providers = detectors[0].providers.clone();
        let mut service = Self::start(id, detectors).map_err(|e| ModelError::Session {
            id: id.into(),
            path: file.path.clone(),
            reason: e.to_string(),
        })?;
        service.providers = providers;
        Ok(service)
    }

    /// Execution providers in use, in the order ORT tries them.
    pub fn providers(&self) -> &[String] {
        &self.providers
    }

    /// Start one worker thread per analyser (each typically its own session).
    pub fn start<A: Analyser>(model_id: &str, analysers: Vec<A>) -> Result<Self, WorkerError> {
        let shared = Arc::new(Shared {
            model_id: model_id.to_string(),
            state: Mutex::new(State {
                slots: Vec::new(),
                cursor: 0,
                shutdown: false,
                latencies: VecDeque::with_capacity(LATENCY_WINDOW),
            }),
            work: Condvar::new(),
            beats: Mutex::new(Vec::new()),
            space: Condvar::new(),
        });
        let mut threads = Vec::new();
        for (i, a) in analysers.into_iter().enumerate() {
            let s = shared.clone();
            let t = std::thread::Builder::new()
                .name(format!("infer-{model_id}-{i}"))
                .spawn(move || worker_loop(&s, i, a))
                .map_err(|e| WorkerError::Spawn(e.to_string()))?;
            threads.push(t);
        }
        Ok(Self {
            shared,
            threads,
            providers: Vec::new(),
        })
    }

    /// Add a camera. Results arrive on the returned receiver, which buffers up to
    /// `result_capacity` results (a `Latest` camera's extra results are dropped and
    /// counted; a `Lossless` camera's worker waits for the consumer).
    pub fn add_camera(
        &self,
        camera_id: &str,
        mode: SubmitMode,
        result_capacity: usize,
    ) -> (CameraHandle, Receiver<Analysed>) {
        let (tx, rx) = sync_channel(result_capacity.max(1));
        let mut st = self.shared.lock();
        st.slots.push(Slot {
            id: Arc::from(camera_id),
            mode,
            pending: None,
            in_flight: false,
            closed: false,
            analysed: 0,
            dropped: 0,
            results_dropped: 0,
            out: tx,
        });
        let index = st.slots.len() - 1;
        (
            CameraHandle {
                shared: self.shared.clone(),
                index,
            },
            rx,
        )
    }

    /// Register one heartbeat per worker thread (`infer-<model>-<n>`) so the systemd
    /// watchdog stops when a worker hangs inside the runtime.
    pub fn attach_liveness(&self, liveness: &crate::notify::Liveness) {
        let mut beats = self.shared.beats.lock().unwrap_or_else(|e| e.into_inner());
        if beats.is_empty() {
            *beats = (0..self.threads.len())
                .map(|i| liveness.register(format!("infer-{}-{i}", self.shared.model_id)))
                .collect();
        }
    }

    pub fn stats(&self) -> ServiceStats {
        let st = self.shared.lock();
        let mut l: Vec<f64> = st.latencies.iter().copied().collect();
        l.sort_by(f64::total_cmp);
        ServiceStats {
            model_id: self.shared.model_id.clone(),
            workers: self.threads.len(),
            latency_p50_ms: percentile(&l, 0.50) * 1000.0,
            latency_p95_ms: percentile(&l, 0.95) * 1000.0,
            cameras: st
                .slots
                .iter()
                .map(|s| CameraStats {
                    camera_id: s.id.to_string(),
                    analysed: s.analysed,
                    dropped: s.dropped,
                    results_dropped: s.results_dropped,
                })
                .collect(),
        }
    }

    /// Stop after the frames in flight; waiting frames are discarded.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.work.notify_all();
        self.shared.space.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        // Stopped on purpose (a reload removed or rebuilt the model): its workers no
        // longer count for the watchdog. A rebuilt service that registered the same
        // names first keeps them.
        let beats =
            std::mem::take(&mut *self.shared.beats.lock().unwrap_or_else(|e| e.into_inner()));
        for b in beats {
            b.retire();
        }
    }
}

impl Drop for InferenceService {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Nearest-rank percentile of sorted seconds; 0 when empty.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

impl CameraHandle {
    /// Hand a frame to the service according to the camera's mode. `Latest` never blocks;
    /// `Lossless` waits for the camera's slot.
    pub fn submit(&self, frame: impl Into<Arc<Frame>>) -> Result<(), WorkerError> {
        let frame = frame.into();
        let mut st = self.shared.lock();
        loop {
            if st.shutdown {
                return Err(WorkerError::ShutDown(self.shared.model_id.clone()));
            }
            let slot = &mut st.slots[self.index];
            if slot.pending.is_none() || slot.mode == SubmitMode::Latest {
                if slot.pending.is_some() {
                    slot.dropped += 1;
                }
                slot.pending = Some(Pending {
                    frame,
                    submitted: Instant::now(),
                });
                drop(st);
                self.shared.work.notify_one();
                return Ok(());
            }
            st = self
                .shared
                .space
                .wait(st)
                .unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl Drop for CameraHandle {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        let slot = &mut st.slots[self.index];
        slot.closed = true;
        slot.pending = None;
    }
}

/// Take the next frame round robin: the first camera at or after the cursor with a
/// waiting frame and nothing in flight.
fn take_next(st: &mut State) -> Option<(usize, Pending)> {
    let n = st.slots.len();
    for k in 0..n {
        let i = (st.cursor + k) % n;
        let s = &mut st.slots[i];
        if !s.in_flight && !s.closed && s.pending.is_some() {
            s.in_flight = true;
            st.cursor = (i + 1) % n;
            return s.pending.take().map(|p| (i, p));
        }
    }
    None
}

fn worker_loop<A: Analyser>(shared: &Shared, index: usize, mut analyser: A) {
    let max_batch = analyser.max_batch().max(1);
    let mut jobs: Vec<(usize, Pending)> = Vec::with_capacity(max_batch);
    // A worker stuck inside a session run stops beating; an idle one still beats.
    let beat = || {
        if let Some(b) = shared
            .beats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(index)
        {
            b.bump();
        }
    };
    loop {
        beat();
        {
            let mut st = shared.lock();
            loop {
                if st.shutdown {
                    return;
                }
                if let Some(j) = take_next(&mut st) {
                    jobs.push(j);
                    break;
                }
                st = shared
                    .work
                    .wait_timeout(st, IDLE_BEAT)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
                beat();
            }
            // Batch frames that are already waiting on other cameras; never wait for
            // more (latency matters more than a full batch).
            while jobs.len() < max_batch {
                match take_next(&mut st) {
                    Some(j) => jobs.push(j),
                    None => break,
                }
            }
        }
        // A lossless camera's slot is free again: let its submitter refill it while
        // these frames run.
        shared.space.notify_all();
        let results = {
            let frames: Vec<&Frame> = jobs.iter().map(|(_, j)| &*j.frame).collect();
            analyser.analyse_batch(&frames)
        };
        for ((index, job), detections) in jobs.drain(..).zip(results) {
            finish_job(shared, index, job, detections.map_err(|e| e.to_string()));
        }
    }
}

/// Record one frame's result and hand it to its camera.
fn finish_job(
    shared: &Shared,
    index: usize,
    job: Pending,
    detections: Result<Vec<Detection>, String>,
) {
    let latency = job.submitted.elapsed();
    let f = job.frame;
    let (out, mode) = {
        let mut st = shared.lock();
        if st.latencies.len() == LATENCY_WINDOW {
            st.latencies.pop_front();
        }
        st.latencies.push_back(latency.as_secs_f64());
        let s = &mut st.slots[index];
        s.in_flight = false;
        s.analysed += 1;
        (s.out.clone(), s.mode)
    };
    // Another worker may now serve this camera's next frame.
    shared.work.notify_one();
    let result = Analysed {
        camera_id: f.camera_id.clone(),
        pts_ns: f.pts_ns,
        time: f.time,
        width: f.width,
        height: f.height,
        detections,
        latency,
    };
    match mode {
        SubmitMode::Lossless => {
            let _ = out.send(result);
        }
        SubmitMode::Latest => {
            if let Err(TrySendError::Full(_)) = out.try_send(result) {
                shared.lock().slots[index].results_dropped += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// Records which camera it saw; waits for a permit per frame when gated.
    struct Fake {
        seen: Arc<Mutex<Vec<(String, u64)>>>,
        gate: Option<Arc<Mutex<mpsc::Receiver<()>>>>,
        delay: Duration,
    }

    impl Analyser for Fake {
        fn analyse(&mut self, frame: &Frame) -> Result<Vec<Detection>, DetectError> {
            if let Some(g) = &self.gate {
                g.lock().unwrap().recv().unwrap();
            }
            std::thread::sleep(self.delay);
            self.seen
                .lock()
                .unwrap()
                .push((frame.camera_id.to_string(), frame.pts_ns));
            Ok(Vec::new())
        }
    }

    fn frame(cam: &str, n: u64) -> Frame {
        Frame {
            camera_id: Arc::from(cam),
            pts_ns: n,
            time: MediaTime(n as i64),
            width: 1,
            height: 1,
            format: crate::ingest::PixelFormat::Rgb,
            data: vec![0; 3],
        }
    }

    type Seen = Arc<Mutex<Vec<(String, u64)>>>;

    fn gated() -> (Fake, mpsc::SyncSender<()>, Seen) {
        let (tx, rx) = mpsc::sync_channel(16);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let f = Fake {
            seen: seen.clone(),
            gate: Some(Arc::new(Mutex::new(rx))),
            delay: Duration::ZERO,
        };
        (f, tx, seen)
    }

    fn wait_until(cond: impl Fn() -> bool) {
        let t = Instant::now();
        while !cond() {
            assert!(t.elapsed() < Duration::from_secs(5), "timed out");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn newest_frame_wins_and_replaced_frames_are_counted_as_dropped() {
        let (fake, gate, seen) = gated();
        let svc = InferenceService::start("m", vec![fake]).unwrap();
        let (cam, rx) = svc.add_camera("a", SubmitMode::Latest, 8);
        cam.submit(frame("a", 1)).unwrap();
        // Frame 1 is now in flight (blocked on the gate); 2..=5 replace each other.
        wait_until(|| svc.shared.lock().slots[0].in_flight);
        for n in 2..=5 {
            cam.submit(frame("a", n)).unwrap();
        }
        gate.send(()).unwrap();
        gate.send(()).unwrap();
        let got: Vec<u64> = (0..2).map(|_| rx.recv().unwrap().pts_ns).collect();
        assert_eq!(got, vec![1, 5]);
        let st = svc.stats();
        assert_eq!((st.cameras[0].analysed, st.cameras[0].dropped), (2, 3));
        assert_eq!(seen.lock().unwrap().len(), 2);
    }

    #[test]
    fn cameras_are_served_round_robin_not_lowest_index_first() {
        let (fake, gate, seen) = gated();
        let svc = InferenceService::start("m", vec![fake]).unwrap();
        let (a, _ra) = svc.add_camera("a", SubmitMode::Latest, 16);
        let (b, _rb) = svc.add_camera("b", SubmitMode::Latest, 16);
        let (c, _rc) = svc.add_camera("c", SubmitMode::Latest, 16);
        a.submit(frame("a", 1)).unwrap();
        wait_until(|| svc.shared.lock().slots[0].in_flight);
        a.submit(frame("a", 2)).unwrap();
        b.submit(frame("b", 1)).unwrap();
        c.submit(frame("c", 1)).unwrap();
        for _ in 0..4 {
            gate.send(()).unwrap();
        }
        wait_until(|| seen.lock().unwrap().len() == 4);
        let order: Vec<(String, u64)> = seen.lock().unwrap().clone();
        let want: Vec<(String, u64)> = [("a", 1), ("b", 1), ("c", 1), ("a", 2)]
            .iter()
            .map(|(c, n)| (c.to_string(), *n))
            .collect();
        assert_eq!(order, want);
    }

    #[test]
    fn a_camera_never_has_two_frames_in_flight() {
        let (fake1, gate1, _s1) = gated();
        let (fake2, gate2, _s2) = gated();
        let svc = InferenceService::start("m", vec![fake1, fake2]).unwrap();
        let (a, _ra) = svc.add_camera("a", SubmitMode::Latest, 16);
        a.submit(frame("a", 1)).unwrap();
        wait_until(|| svc.shared.lock().slots[0].in_flight);
        a.submit(frame("a", 2)).unwrap();
        // The idle second worker must leave frame 2 waiting.
        std::thread::sleep(Duration::from_millis(50));
        assert!(svc.shared.lock().slots[0].pending.is_some());
        gate1.send(()).unwrap();
        gate2.send(()).unwrap();
        gate1.send(()).unwrap();
        gate2.send(()).unwrap();
        wait_until(|| svc.stats().cameras[0].analysed == 2);
    }

    #[test]
    fn lossless_submit_blocks_and_delivers_every_frame_in_order() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let fake = Fake {
            seen: seen.clone(),
            gate: None,
            delay: Duration::from_millis(2),
        };
        let svc = InferenceService::start("m", vec![fake]).unwrap();
        let (cam, rx) = svc.add_camera("file", SubmitMode::Lossless, 4);
        let consumer = std::thread::spawn(move || {
            (0..30)
                .map(|_| rx.recv().unwrap().pts_ns)
                .collect::<Vec<_>>()
        });
        for n in 0..30 {
            cam.submit(frame("file", n)).unwrap();
        }
        assert_eq!(consumer.join().unwrap(), (0..30).collect::<Vec<_>>());
        assert_eq!(svc.stats().cameras[0].dropped, 0);
    }

    #[test]
    fn slow_inference_never_blocks_a_live_camera() {
        let fake = Fake {
            seen: Arc::new(Mutex::new(Vec::new())),
            gate: None,
            delay: Duration::from_millis(20),
        };
        let svc = InferenceService::start("m", vec![fake]).unwrap();
        let (cam, _rx) = svc.add_camera("a", SubmitMode::Latest, 1);
        let t = Instant::now();
        for n in 0..500 {
            cam.submit(frame("a", n)).unwrap();
        }
        assert!(
            t.elapsed() < Duration::from_millis(200),
            "submit took {:?}",
            t.elapsed()
        );
        assert!(svc.stats().cameras[0].dropped >= 490);
    }

    #[test]
    fn percentile_uses_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(|i| i as f64).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.95), 95.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
