//! `streetwatch probe`: connect to a camera for a few seconds and say what it sends, or
//! exactly why it cannot be read. The same code paths as the daemon, so what the
//! technician sees on the ladder is what the daemon will see.

use super::camera::{Camera, CameraSpec};
use super::frame::AccessUnit;
use super::pipeline::{Anchor, Source};
use super::queue::Overflow;
use super::status::{CameraStatus, Reason};
use crate::config::SupervisionConfig;
use serde::Serialize;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ProbeReport {
    pub codec: String,
    pub width: u32,
    pub height: u32,
    /// Frame rate measured from the units received.
    pub fps: f64,
    /// Frame rate the stream declares, when it does.
    pub declared_fps: Option<f64>,
    /// Frames between keyframes, once two keyframes were seen.
    pub gop_frames: Option<usize>,
    pub gop_seconds: Option<f64>,
    pub bitrate_kbps: f64,
    pub frames: u64,
    pub keyframes: u64,
    pub seconds: f64,
}

impl std::fmt::Display for ProbeReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "codec:       {}", self.codec)?;
        writeln!(f, "resolution:  {}x{}", self.width, self.height)?;
        match self.declared_fps {
            Some(d) => writeln!(
                f,
                "frame rate:  {:.2} fps measured ({d:.2} declared)",
                self.fps
            )?,
            None => writeln!(f, "frame rate:  {:.2} fps measured", self.fps)?,
        }
        match (self.gop_frames, self.gop_seconds) {
            (Some(n), Some(s)) => writeln!(f, "GOP:         {n} frames ({s:.2} s)")?,
            _ => writeln!(
                f,
                "GOP:         unknown (fewer than two keyframes received)"
            )?,
        }
        writeln!(f, "bitrate:     {:.0} kbit/s", self.bitrate_kbps)?;
        write!(
            f,
            "received:    {} frames, {} keyframes in {:.1} s",
            self.frames, self.keyframes, self.seconds
        )
    }
}

/// The last group of pictures a probe received (keyframe first), from which the page
/// decodes a preview of what the camera looks at.
#[derive(Debug, Clone)]
pub struct LastGop {
    pub caps: gstreamer::Caps,
    pub units: Vec<AccessUnit>,
}

/// Probe `source` for `seconds` of streaming (after it starts).
pub fn probe(source: Source, seconds: f64) -> Result<ProbeReport, Reason> {
    probe_keeping_gop(source, seconds).map(|(report, _)| report)
}

/// [`probe`], also returning the last group of pictures received (`None` when the ring
/// held no keyframe or no caps, e.g. a stream cut short).
pub fn probe_keeping_gop(
    source: Source,
    seconds: f64,
) -> Result<(ProbeReport, Option<LastGop>), Reason> {
    let spec = CameraSpec {
        id: "probe".into(),
        source,
        analysis: None,
        preroll_seconds: seconds.max(1.0) + 30.0,
        preroll_max_bytes: 256 << 20,
        queue_depth: 1,
        supervision: SupervisionConfig {
            stall_timeout_s: 10.0,
            backoff_initial_s: 3600.0,
            backoff_max_s: 3600.0,
        },
        anchor: Anchor::WallClock,
        overflow: Overflow::DropOldest,
    };
    let mut cam = Camera::spawn(spec);
    let deadline = Instant::now() + Duration::from_secs_f64(seconds + 15.0);
    let mut stream_start: Option<(Instant, u64, u64)> = None;
    let result = loop {
        std::thread::sleep(Duration::from_millis(100));
        let st = &cam.shared.stats;
        match cam.status() {
            CameraStatus::Backoff { reason, .. } | CameraStatus::Failed { reason, .. } => {
                break Err(reason);
            }
            CameraStatus::Ended => break Err(Reason::EndOfStream),
            _ => {}
        }
        let aus = st.access_units.load(Ordering::Relaxed);
        let bytes = st.bytes.load(Ordering::Relaxed);
        if stream_start.is_none() && aus > 0 {
            stream_start = Some((Instant::now(), aus, bytes));
        }
        if let Some((t0, a0, b0)) = stream_start {
            let dt = t0.elapsed().as_secs_f64();
            if dt >= seconds {
                let ring = cam.shared.ring.lock().unwrap();
                let declared = st.caps_fps_milli.load(Ordering::Relaxed);
                let caps = cam.shared.ring_caps.lock().unwrap().clone();
                let last_gop = ring
                    .newest()
                    .and_then(|n| ring.cut(n.time, n.time))
                    .zip(caps)
                    .map(|(cut, caps)| LastGop {
                        caps,
                        units: cut.units,
                    });
                let report = ProbeReport {
                    codec: st
                        .codec
                        .lock()
                        .unwrap()
                        .map(|c| c.name().to_string())
                        .unwrap_or_default(),
                    width: st.width.load(Ordering::Relaxed),
                    height: st.height.load(Ordering::Relaxed),
                    fps: (aus - a0) as f64 / dt,
                    declared_fps: (declared > 0).then(|| declared as f64 / 1000.0),
                    gop_frames: ring.gop_frames(),
                    gop_seconds: ring.gop_seconds(),
                    bitrate_kbps: (bytes - b0) as f64 * 8.0 / dt / 1000.0,
                    frames: aus,
                    keyframes: st.keyframes.load(Ordering::Relaxed),
                    seconds: dt,
                };
                break Ok((report, last_gop));
            }
        }
        if Instant::now() > deadline {
            break Err(Reason::Timeout);
        }
    };
    cam.stop();
    result
}
