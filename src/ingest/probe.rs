//! `streetwatch probe`: connect to a camera for a few seconds and say what it sends, or
//! exactly why it cannot be read. The same code paths as the daemon, so what the
//! technician sees on the ladder is what the daemon will see.

use super::camera::{Camera, CameraSpec};
use super::frame::AccessUnit;
use super::pairing::{PairingError, StreamSize};
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
    /// Parameter sets the camera repeated inside pictures, dropped so that pictures
    /// stay whole (see [`super::nal`]); harmless, but says how the camera sends.
    pub repaired_parameter_sets: u64,
    /// Units that reached the ring without any timestamp (pictures split by the parser:
    /// should be 0).
    pub untimed_units: u64,
    /// Pixel aspect ratio (numerator, denominator), from the stream's caps.
    pub pixel_aspect_ratio: (u32, u32),
    /// How media time was made: `rtcp_ntp` when the camera sends RTCP sender reports
    /// (what aligns a camera's two streams), `arrival` otherwise.
    pub time_source: super::timeline::TimeSource,
}

impl ProbeReport {
    /// The picture size, for pairing two streams.
    pub fn size(&self) -> StreamSize {
        StreamSize {
            width: self.width,
            height: self.height,
            par: self.pixel_aspect_ratio,
        }
    }
}

/// What a probe of a camera's two streams found: each stream on its own, and whether
/// they pair (known only when both could be read).
#[derive(Debug, Clone, Serialize)]
pub struct StreamsReport {
    pub main: Result<ProbeReport, Reason>,
    pub analysis: Result<ProbeReport, Reason>,
    /// `Some(Err)` when both were read and do not pair; `None` when either failed.
    pub pairing: Option<Result<(), PairingError>>,
}

impl StreamsReport {
    /// True when both streams were read and pair.
    pub fn ok(&self) -> bool {
        matches!(self.pairing, Some(Ok(())))
    }
}

/// Probe a camera's main and analysis streams at the same time, for `seconds` each,
/// and judge their pairing (see [`super::pairing`]).
pub fn probe_streams(main: Source, analysis: Source, seconds: f64) -> StreamsReport {
    let (m, a) = std::thread::scope(|s| {
        let m = s.spawn(move || probe(main, seconds));
        let a = probe(analysis, seconds);
        (
            m.join()
                .unwrap_or(Err(Reason::Other("probe thread failed".into()))),
            a,
        )
    });
    let pairing = match (&m, &a) {
        (Ok(m), Ok(a)) => Some(super::pairing::check(m.size(), a.size())),
        _ => None,
    };
    StreamsReport {
        main: m,
        analysis: a,
        pairing,
    }
}

impl std::fmt::Display for ProbeReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "codec:       {}", self.codec)?;
        writeln!(f, "resolution:  {}x{}", self.width, self.height)?;
        if self.pixel_aspect_ratio != (1, 1) {
            writeln!(
                f,
                "pixels:      {}:{} (non-square)",
                self.pixel_aspect_ratio.0, self.pixel_aspect_ratio.1
            )?;
        }
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
        writeln!(
            f,
            "time:        {}",
            match self.time_source {
                super::timeline::TimeSource::RtcpNtp =>
                    "camera NTP time from RTCP sender reports (aligns two streams)",
                super::timeline::TimeSource::Fixed => "file timestamps",
                _ => "arrival time (no RTCP sender report received)",
            }
        )?;
        if self.repaired_parameter_sets > 0 {
            writeln!(
                f,
                "repaired:    {} parameter sets repeated inside pictures were dropped (the camera's RTP payloader repeats SPS/PPS before every slice)",
                self.repaired_parameter_sets
            )?;
        }
        if self.untimed_units > 0 {
            writeln!(
                f,
                "warning:     {} frames arrived without timestamps: the stream is split oddly; analysis may see broken pictures",
                self.untimed_units
            )?;
        }
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
        analysis_source: None,
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
        let aus = st.access_units.load(Ordering::Relaxed);
        let bytes = st.bytes.load(Ordering::Relaxed);
        match cam.status() {
            CameraStatus::Backoff { reason, .. } | CameraStatus::Failed { reason, .. } => {
                break Err(reason);
            }
            // A file plays faster than real time and ends: its rates come from media
            // time (what the ring holds), not from the wall clock.
            CameraStatus::Ended if aus > 0 => {
                let ring = cam.shared.ring.lock().unwrap();
                let span = ring.available_preroll();
                let (fps, kbps) = if span > 0.0 {
                    (
                        (ring.len() - 1) as f64 / span,
                        ring.bytes() as f64 * 8.0 / span / 1000.0,
                    )
                } else {
                    (0.0, 0.0)
                };
                drop(ring);
                break Ok(report(&cam, fps, kbps, span));
            }
            CameraStatus::Ended => break Err(Reason::EndOfStream),
            _ => {}
        }
        if stream_start.is_none() && aus > 0 {
            stream_start = Some((Instant::now(), aus, bytes));
        }
        if let Some((t0, a0, b0)) = stream_start {
            let dt = t0.elapsed().as_secs_f64();
            if dt >= seconds {
                let fps = (aus - a0) as f64 / dt;
                let kbps = (bytes - b0) as f64 * 8.0 / dt / 1000.0;
                break Ok(report(&cam, fps, kbps, dt));
            }
        }
        if Instant::now() > deadline {
            break Err(Reason::Timeout);
        }
    };
    cam.stop();
    result
}

/// The report from what `cam` received, with rates measured by the caller.
fn report(
    cam: &Camera,
    fps: f64,
    bitrate_kbps: f64,
    seconds: f64,
) -> (ProbeReport, Option<LastGop>) {
    let st = &cam.shared.stats;
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
        fps,
        declared_fps: (declared > 0).then(|| declared as f64 / 1000.0),
        gop_frames: ring.gop_frames(),
        gop_seconds: ring.gop_seconds(),
        bitrate_kbps,
        frames: st.access_units.load(Ordering::Relaxed),
        keyframes: st.keyframes.load(Ordering::Relaxed),
        seconds,
        repaired_parameter_sets: st.repaired_units.load(Ordering::Relaxed),
        untimed_units: st.untimed_units.load(Ordering::Relaxed),
        pixel_aspect_ratio: st.size().map_or((1, 1), |s| s.par),
        time_source: *st.time_source.lock().unwrap(),
    };
    (report, last_gop)
}
