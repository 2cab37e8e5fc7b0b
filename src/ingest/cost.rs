//! Decode cost of a camera, measured rather than guessed: run a file through the real
//! ingest pipeline as fast as it goes and read the process CPU time. Used by the decode
//! benchmark (`cargo bench --bench decode`) to compare full decoding with keyframes-only.

use super::camera::{Camera, CameraSpec};
use super::pipeline::{AnalysisSpec, Anchor, Source};
use super::queue::{Overflow, Pop};
use crate::config::SupervisionConfig;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, serde::Serialize)]
pub struct DecodeCost {
    pub keyframes_only: bool,
    pub frames_decoded: u64,
    pub access_units: u64,
    pub media_seconds: f64,
    pub cpu_seconds: f64,
    pub wall_seconds: f64,
}

impl DecodeCost {
    /// Frames decoded per CPU-second.
    pub fn frames_per_cpu_second(&self) -> f64 {
        self.frames_decoded as f64 / self.cpu_seconds.max(1e-9)
    }
    /// CPU-seconds spent per second of video: the fraction of a core one camera costs.
    pub fn cpu_per_media_second(&self) -> f64 {
        self.cpu_seconds / self.media_seconds.max(1e-9)
    }
}

/// CPU time (user + system) of this process so far.
pub fn process_cpu_seconds() -> f64 {
    process_usage().0
}

/// CPU seconds (user + system) and peak RSS in MiB of this process so far.
pub fn process_usage() -> (f64, f64) {
    // SAFETY: rusage is plain old data, so all-zero is a valid value, and getrusage
    // only writes into the struct we pass.
    let (rc, ru) = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        (libc::getrusage(libc::RUSAGE_SELF, &mut ru), ru)
    };
    if rc != 0 {
        return (0.0, 0.0);
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (
        tv(ru.ru_utime) + tv(ru.ru_stime),
        ru.ru_maxrss as f64 / 1024.0,
    )
}

/// Decode `path` once through the ingest pipeline (analysis at up to 1000 fps, so no
/// frame is dropped by rate) and measure it.
pub fn measure(path: &Path, keyframes_only: bool) -> DecodeCost {
    let spec = CameraSpec {
        id: "cost".into(),
        source: Source::File {
            path: path.to_path_buf(),
        },
        analysis_source: None,
        analysis: Some(AnalysisSpec {
            fps: 1000.0,
            keyframes_only,
            keyframe_max_gap_s: None,
            max_width: 0,
        }),
        preroll_seconds: 1.0,
        preroll_max_bytes: 8 << 20,
        queue_depth: 4,
        supervision: SupervisionConfig::default(),
        anchor: Anchor::Fixed(0),
        overflow: Overflow::Block,
    };
    let cpu0 = process_cpu_seconds();
    let t0 = Instant::now();
    let cam = Camera::spawn(spec);
    let (mut first, mut last) = (None, None);
    while let Pop::Item(f) = cam.frames().pop_timeout(Duration::from_secs(60)) {
        first.get_or_insert(f.time);
        last = Some(f.time);
    }
    let st = &cam.shared.stats;
    let frames_decoded = st.frames_decoded.load(Ordering::Relaxed);
    let access_units = st.access_units.load(Ordering::Relaxed);
    let fps = st.caps_fps_milli.load(Ordering::Relaxed) as f64 / 1000.0;
    drop(cam);
    let media_seconds = if fps > 0.0 {
        access_units as f64 / fps
    } else {
        match (first, last) {
            (Some(a), Some(b)) => b.secs_since(a),
            _ => 0.0,
        }
    };
    DecodeCost {
        keyframes_only,
        frames_decoded,
        access_units,
        media_seconds,
        cpu_seconds: process_cpu_seconds() - cpu0,
        wall_seconds: t0.elapsed().as_secs_f64(),
    }
}
