//! Throughput measurement of the inference path, all in one run so the numbers are
//! comparable: the decode limit (decoding alone), the inference limit (the sessions
//! alone, on a preprocessed tensor), and the whole pipeline (N simulated cameras
//! decoding a sample file into the shared service). `streetwatch bench` prints them.

use super::detector::Detector;
use super::model::{self, ModelError, ModelFile};
use super::worker::{InferenceService, SubmitMode, percentile};
use crate::config::InferenceConfig;
use crate::ingest::decode_file::{DecodeFileError, FileDecoder};
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Decode(#[from] DecodeFileError),
    #[error("benchmark: {0}")]
    Other(String),
}

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchSpec {
    pub video: String,
    pub model: String,
    pub cameras: usize,
    pub seconds: f64,
    pub keyframes_only: bool,
    /// Pace every camera at the file's frame rate instead of as fast as possible.
    pub realtime: bool,
}

/// Everything measured, in one JSON-able record.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub model: String,
    pub video: String,
    pub cameras: usize,
    pub workers: usize,
    pub intra_threads: usize,
    pub realtime: bool,
    pub keyframes_only: bool,
    pub seconds: f64,
    /// Frames/s that `cameras` parallel decoders sustain with nothing else running.
    pub decode_limit_fps: f64,
    /// Frames/s the `workers` sessions sustain on a preprocessed tensor.
    pub inference_limit_fps: f64,
    /// Analysed frames/s of the whole pipeline.
    pub achieved_fps: f64,
    /// achieved / min(decode limit, inference limit).
    pub efficiency: f64,
    /// Frames submitted by cameras and replaced before inference reached them.
    pub dropped: u64,
    pub drop_rate: f64,
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
    pub latency_p99_ms: f64,
    pub cpu_seconds_per_camera_hour: f64,
    pub peak_rss_mib: f64,
}

/// User + system CPU seconds of this process so far, and peak RSS in MiB.
pub fn cpu_and_rss() -> (f64, f64) {
    crate::ingest::cost::process_usage()
}

fn open(spec: &BenchSpec) -> Result<FileDecoder, DecodeFileError> {
    if spec.keyframes_only {
        FileDecoder::open_keyframes_only(&spec.video)
    } else {
        FileDecoder::open(&spec.video, 1)
    }
}

/// Decode the file in a loop on `spec.cameras` threads for `spec.seconds`.
pub fn decode_limit(spec: &BenchSpec) -> Result<f64, BenchError> {
    let stop = Arc::new(AtomicBool::new(false));
    let frames = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let threads: Vec<_> = (0..spec.cameras)
        .map(|_| {
            let (stop, frames, spec) = (stop.clone(), frames.clone(), spec.clone());
            std::thread::spawn(move || -> Result<(), DecodeFileError> {
                while !stop.load(Ordering::Relaxed) {
                    let mut d = open(&spec)?;
                    while let Some(_f) = d.next_frame()? {
                        frames.fetch_add(1, Ordering::Relaxed);
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                    }
                }
                Ok(())
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(spec.seconds));
    stop.store(true, Ordering::Relaxed);
    let wall = start.elapsed().as_secs_f64();
    for t in threads {
        t.join()
            .map_err(|_| BenchError::Other("decoder thread panicked".into()))??;
    }
    Ok(frames.load(Ordering::Relaxed) as f64 / wall)
}

/// Run `workers` sessions back to back on one preprocessed frame for `seconds`.
pub fn inference_limit(
    cfg: &InferenceConfig,
    model_id: &str,
    frame: &crate::ingest::Frame,
    seconds: f64,
) -> Result<f64, BenchError> {
    let rt = model::runtime_from_config(cfg).map_err(ModelError::from)?;
    let file = ModelFile::open(&cfg.models_dir, &model::weights_dir(cfg), model_id)?;
    let stop = Arc::new(AtomicBool::new(false));
    let runs = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();
    for _ in 0..cfg.workers.max(1) {
        let mut det = Detector::new(&file, rt, cfg)?;
        det.preprocess(&frame.data, frame.width, frame.height)
            .map_err(|e| BenchError::Other(e.to_string()))?;
        let (stop, runs) = (stop.clone(), runs.clone());
        threads.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if det.run_and_decode().is_err() {
                    break;
                }
                runs.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(seconds));
    stop.store(true, Ordering::Relaxed);
    let wall = start.elapsed().as_secs_f64();
    for t in threads {
        let _ = t.join();
    }
    Ok(runs.load(Ordering::Relaxed) as f64 / wall)
}

/// Pipeline counters of one run.
#[derive(Debug, Clone, Default)]
pub struct PipelineRun {
    pub analysed: u64,
    pub dropped: u64,
    pub submitted: u64,
    pub wall_s: f64,
    pub cpu_s: f64,
    pub latencies_s: Vec<f64>,
}

/// N cameras decode the file (looping) and submit to the shared service.
pub fn pipeline(cfg: &InferenceConfig, spec: &BenchSpec) -> Result<PipelineRun, BenchError> {
    let svc = InferenceService::for_model(cfg, &spec.model)?;
    let stop = Arc::new(AtomicBool::new(false));
    // Consumers drain until everything upstream has stopped, so a worker blocked on a
    // lossless camera's result channel can always finish.
    let drained = Arc::new(AtomicBool::new(false));
    let submitted = Arc::new(AtomicU64::new(0));
    let (cpu0, _) = cpu_and_rss();
    let start = Instant::now();
    let mut cams = Vec::new();
    let mut consumers = Vec::new();
    for c in 0..spec.cameras {
        let id = format!("cam{c}");
        // As fast as possible: inference throttles the decoders (blocking submit), so no
        // CPU is spent decoding frames that would be dropped. Real time: live behaviour,
        // newest frame wins.
        let mode = if spec.realtime {
            SubmitMode::Latest
        } else {
            SubmitMode::Lossless
        };
        let (handle, rx) = svc.add_camera(&id, mode, 4);
        let (cam_stop, submitted, spec) = (stop.clone(), submitted.clone(), spec.clone());
        let stop_c = drained.clone();
        let cam_id: Arc<str> = Arc::from(id.as_str());
        cams.push(std::thread::spawn(
            move || -> Result<(), DecodeFileError> {
                while !cam_stop.load(Ordering::Relaxed) {
                    let mut d = open(&spec)?;
                    let t0 = Instant::now();
                    let mut first_pts = None;
                    while let Some((_, mut f)) = d.next_frame()? {
                        if cam_stop.load(Ordering::Relaxed) {
                            break;
                        }
                        if spec.realtime {
                            let p0 = *first_pts.get_or_insert(f.pts_ns);
                            let due = Duration::from_nanos(f.pts_ns.saturating_sub(p0));
                            if let Some(wait) = due.checked_sub(t0.elapsed()) {
                                std::thread::sleep(wait);
                            }
                        }
                        f.camera_id = cam_id.clone();
                        if handle.submit(f).is_err() {
                            return Ok(());
                        }
                        submitted.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Ok(())
            },
        ));
        consumers.push(std::thread::spawn(move || {
            let mut lat = Vec::new();
            while !stop_c.load(Ordering::Relaxed) {
                if let Ok(r) = rx.recv_timeout(Duration::from_millis(50)) {
                    lat.push(r.latency.as_secs_f64());
                }
            }
            lat
        }));
    }
    std::thread::sleep(Duration::from_secs_f64(spec.seconds));
    let stats = svc.stats();
    stop.store(true, Ordering::Relaxed);
    let wall_s = start.elapsed().as_secs_f64();
    let (cpu1, _) = cpu_and_rss();
    for t in cams {
        t.join()
            .map_err(|_| BenchError::Other("camera thread panicked".into()))??;
    }
    svc.shutdown();
    drained.store(true, Ordering::Relaxed);
    let mut latencies_s = Vec::new();
    for t in consumers {
        latencies_s.extend(t.join().unwrap_or_default());
    }
    Ok(PipelineRun {
        analysed: stats.cameras.iter().map(|c| c.analysed).sum(),
        dropped: stats.cameras.iter().map(|c| c.dropped).sum(),
        submitted: submitted.load(Ordering::Relaxed),
        wall_s,
        cpu_s: cpu1 - cpu0,
        latencies_s,
    })
}

/// Run all three measurements and assemble the report.
pub fn run(cfg: &InferenceConfig, spec: &BenchSpec) -> Result<BenchReport, BenchError> {
    let frame = crate::ingest::decode_file::frame_at(&spec.video, 0)?;
    let decode = decode_limit(spec)?;
    let infer = inference_limit(cfg, &spec.model, &frame, spec.seconds)?;
    let p = pipeline(cfg, spec)?;
    let (_, rss) = cpu_and_rss();
    let mut l = p.latencies_s.clone();
    l.sort_by(f64::total_cmp);
    let achieved = p.analysed as f64 / p.wall_s;
    Ok(BenchReport {
        model: spec.model.clone(),
        video: spec.video.clone(),
        cameras: spec.cameras,
        workers: cfg.workers,
        intra_threads: cfg.intra_threads,
        realtime: spec.realtime,
        keyframes_only: spec.keyframes_only,
        seconds: spec.seconds,
        decode_limit_fps: decode,
        inference_limit_fps: infer,
        achieved_fps: achieved,
        efficiency: achieved / decode.min(infer).max(f64::MIN_POSITIVE),
        dropped: p.dropped,
        drop_rate: if p.submitted == 0 {
            0.0
        } else {
            p.dropped as f64 / p.submitted as f64
        },
        latency_p50_ms: percentile(&l, 0.50) * 1000.0,
        latency_p95_ms: percentile(&l, 0.95) * 1000.0,
        latency_p99_ms: percentile(&l, 0.99) * 1000.0,
        cpu_seconds_per_camera_hour: p.cpu_s / (spec.cameras as f64 * p.wall_s) * 3600.0,
        peak_rss_mib: rss,
    })
}

/// A small bar chart of the three throughput numbers.
pub fn svg_chart(r: &BenchReport) -> String {
    let bars = [
        ("decode limit", r.decode_limit_fps),
        ("inference limit", r.inference_limit_fps),
        ("pipeline achieved", r.achieved_fps),
    ];
    let max = bars.iter().map(|b| b.1).fold(1.0, f64::max);
    let mut s = String::from(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"520\" height=\"150\" font-family=\"sans-serif\" font-size=\"12\">\n",
    );
    s.push_str(&format!(
        "<text x=\"10\" y=\"16\">{} on {} camera(s), {} worker(s) x {} thread(s): frames/s</text>\n",
        r.model, r.cameras, r.workers, r.intra_threads
    ));
    for (i, (name, v)) in bars.iter().enumerate() {
        let y = 30 + i * 38;
        let w = (v / max * 300.0).max(1.0);
        s.push_str(&format!(
            "<text x=\"10\" y=\"{}\">{name}</text><rect x=\"130\" y=\"{y}\" width=\"{w:.0}\" height=\"24\" fill=\"#4a7ab5\"/><text x=\"{:.0}\" y=\"{}\">{v:.1}</text>\n",
            y + 16,
            135.0 + w,
            y + 16
        ));
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_scales_bars_to_the_largest_value() {
        let r = BenchReport {
            model: "m".into(),
            video: "v".into(),
            cameras: 1,
            workers: 1,
            intra_threads: 1,
            realtime: false,
            keyframes_only: false,
            seconds: 1.0,
            decode_limit_fps: 200.0,
            inference_limit_fps: 100.0,
            achieved_fps: 50.0,
            efficiency: 0.5,
            dropped: 0,
            drop_rate: 0.0,
            latency_p50_ms: 1.0,
            latency_p95_ms: 1.0,
            latency_p99_ms: 1.0,
            cpu_seconds_per_camera_hour: 1.0,
            peak_rss_mib: 1.0,
        };
        let s = svg_chart(&r);
        assert!(
            s.contains("width=\"300\"")
                && s.contains("width=\"150\"")
                && s.contains("width=\"75\""),
            "{s}"
        );
    }

    #[test]
    fn cpu_time_and_rss_are_positive() {
        let (cpu, rss) = cpu_and_rss();
        assert!(cpu > 0.0 && rss > 1.0);
    }
}
