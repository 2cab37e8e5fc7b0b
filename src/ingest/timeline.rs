//! Stream time of a camera: how each unit's media time is made, and the jumps of the
//! clocks behind it.
//!
//! **Alignment.** A camera with two streams (main + analysis substream) sends them on
//! two RTSP sessions. Each connection anchors media time on the box's wall clock at its
//! first buffer, plus the buffer's PTS: good enough alone, but the two streams arrive
//! with different delays (the main stream's encoder and bitrate are heavier), so the
//! same instant would get two media times. Where the camera sends RTCP sender reports,
//! every unit carries the camera's NTP time of capture (`rtspsrc
//! add-reference-timestamp-meta`), the same clock for both streams. A
//! [`CameraTimeline`] shared by the camera's streams maps camera NTP time to media time
//! with one offset (measured once: box wall clock minus camera NTP, at the first unit
//! that carries it), so one instant has one media time in both streams whatever the
//! camera's clock says. Without sender reports a stream falls back to PTS plus the
//! offset measured at its first buffer.
//!
//! **Jumps.** A [`JumpDetector`] compares, at every unit a live analysis stream
//! delivers, media time and the wall clock with the monotonic clock: within a
//! connection all three advance together, so a change of their difference by
//! [`JUMP_THRESHOLD_S`] or more is a jump (the wall clock was stepped, a reconnect
//! re-anchored media time on a changed wall clock, or the camera's clock jumped).
//! Jumps go to a bounded [`JumpLog`] the analysis reads when it stamps an event.

use super::frame::MediaTime;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// A clock jump of at least this many seconds is marked on events.
pub const JUMP_THRESHOLD_S: f64 = 2.0;

/// Jumps a [`JumpLog`] keeps (oldest forgotten first): events only look back over
/// their own occurrence, and more than a handful of jumps in one stay says enough.
pub const JUMP_LOG_CAPACITY: usize = 32;

/// Seconds between the Unix epoch and the NTP epoch (1900-01-01).
const NTP_UNIX_OFFSET_S: i64 = 2_208_988_800;

/// Camera NTP time (ns since 1900, as `timestamp/x-ntp` reference metas carry it) as
/// ns since the Unix epoch.
pub fn ntp_to_unix_ns(ntp_ns: u64) -> i64 {
    ntp_ns as i64 - NTP_UNIX_OFFSET_S * 1_000_000_000
}

/// How a stream's media time is made right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TimeSource {
    /// Not streaming yet.
    #[default]
    None,
    /// Box wall clock at the first buffer plus PTS (no sender reports seen yet).
    Arrival,
    /// The camera's NTP time from RTCP sender reports, on the camera's timeline.
    RtcpNtp,
    /// A file or replay: a fixed anchor plus PTS.
    Fixed,
}

/// The mapping from a camera's NTP clock to media time, shared by its streams.
#[derive(Debug, Default)]
pub struct CameraTimeline {
    /// Media time minus camera NTP time (ns), once measured.
    offset: Mutex<Option<i64>>,
    /// Times the offset was measured again because camera and box clocks moved apart
    /// by [`JUMP_THRESHOLD_S`] or more.
    pub remeasured: AtomicU64,
}

impl CameraTimeline {
    /// Media time of a unit the camera stamped `ntp_unix_ns`, which arrived at
    /// `arrival` (box wall clock anchor plus PTS). The first call measures the offset;
    /// later calls keep it while camera and box clocks agree with it within the jump
    /// threshold, and measure it again when they do not (a jump, counted).
    pub fn media_time(&self, ntp_unix_ns: i64, arrival: MediaTime) -> MediaTime {
        let mut off = self.offset.lock().unwrap_or_else(|p| p.into_inner());
        let measured = arrival.0 - ntp_unix_ns;
        let o = match *off {
            Some(o) if (o - measured).abs() < (JUMP_THRESHOLD_S * 1e9) as i64 => o,
            Some(_) => {
                self.remeasured.fetch_add(1, Ordering::Relaxed);
                measured
            }
            None => measured,
        };
        *off = Some(o);
        MediaTime(ntp_unix_ns + o)
    }
}

/// Which clock jumped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JumpKind {
    /// Media time moved against the monotonic clock: re-anchored on a changed wall
    /// clock at a reconnect, or the camera's clock (RTCP sender reports) jumped.
    Media,
    /// The box's wall clock was stepped (an NTP step after boot, a manual change).
    System,
}

/// One detected jump.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ClockJump {
    pub kind: JumpKind,
    /// Signed size in seconds (positive: the clock moved forward).
    pub seconds: f64,
    /// Media time of the last unit before the jump (on the old timeline).
    pub before: MediaTime,
    /// Media time of the first unit after it.
    pub after: MediaTime,
}

/// Finds jumps in a stream of (media, monotonic, wall) samples taken together.
#[derive(Debug, Default, Clone)]
pub struct JumpDetector {
    /// (media - monotonic, wall - monotonic, media) of the previous sample, ns.
    last: Option<(i64, i64, MediaTime)>,
}

impl JumpDetector {
    /// Feed one sample: media time of a unit, and the monotonic and wall clocks read
    /// when it arrived (ns; any fixed origin for the monotonic one). Returns the jumps
    /// found since the previous sample (media first).
    pub fn observe(&mut self, media: MediaTime, mono_ns: i64, wall_ns: i64) -> Vec<ClockJump> {
        let now = (media.0 - mono_ns, wall_ns - mono_ns, media);
        let mut out = Vec::new();
        if let Some((media_off, wall_off, before)) = self.last {
            let threshold = (JUMP_THRESHOLD_S * 1e9) as i64;
            let dm = now.0 - media_off;
            if dm.abs() >= threshold {
                out.push(ClockJump {
                    kind: JumpKind::Media,
                    seconds: dm as f64 / 1e9,
                    before,
                    after: media,
                });
            }
            let dw = now.1 - wall_off;
            if dw.abs() >= threshold {
                out.push(ClockJump {
                    kind: JumpKind::System,
                    seconds: dw as f64 / 1e9,
                    before,
                    after: media,
                });
            }
        }
        self.last = Some(now);
        out
    }

    /// Forget the previous sample (a replay restart, a test).
    pub fn reset(&mut self) {
        self.last = None;
    }
}

/// The jumps of one camera, bounded, read by its analysis.
#[derive(Debug, Default)]
pub struct JumpLog {
    jumps: Mutex<VecDeque<ClockJump>>,
}

impl JumpLog {
    pub fn record(&self, jump: ClockJump) {
        let mut j = self.jumps.lock().unwrap_or_else(|p| p.into_inner());
        if j.len() == JUMP_LOG_CAPACITY {
            j.pop_front();
        }
        j.push_back(jump);
    }

    /// The largest jump since media time `start` (on the timeline before the jump),
    /// i.e. during an occurrence that started then.
    pub fn largest_since(&self, start: MediaTime) -> Option<ClockJump> {
        self.jumps
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|j| j.before >= start)
            .copied()
            .max_by(|a, b| a.seconds.abs().total_cmp(&b.seconds.abs()))
    }

    pub fn len(&self) -> usize {
        self.jumps.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    /// A live stream at 4 fps: media, monotonic and wall clocks advance together.
    fn feed(
        d: &mut JumpDetector,
        from: i64,
        n: i64,
        media_off: i64,
        wall_off: i64,
    ) -> Vec<ClockJump> {
        let mut out = Vec::new();
        for i in from..from + n {
            let mono = i * S / 4;
            out.extend(d.observe(MediaTime(mono + media_off), mono, mono + wall_off));
        }
        out
    }

    #[test]
    fn clocks_that_advance_together_never_jump_even_with_jitter() {
        let mut d = JumpDetector::default();
        assert!(feed(&mut d, 0, 100, 1_700_000_000 * S, 1_700_000_000 * S).is_empty());
        // Arrival jitter and a slow drift stay far below the threshold.
        let mut out = Vec::new();
        for i in 100..400i64 {
            let mono = i * S / 4;
            let jitter = (i % 7) * 30_000_000;
            out.extend(d.observe(
                MediaTime(mono + 1_700_000_000 * S + jitter + i * 1_000_000),
                mono,
                mono + 1_700_000_000 * S,
            ));
        }
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn a_media_time_step_of_two_seconds_or_more_is_found_with_its_sign() {
        let mut d = JumpDetector::default();
        let base = 1_700_000_000 * S;
        assert!(feed(&mut d, 0, 20, base, base).is_empty());
        // A reconnect re-anchored media time 3.5 s back.
        let j = feed(&mut d, 20, 20, base - 3_500_000_000, base);
        assert_eq!(j.len(), 1, "{j:?}");
        assert_eq!(j[0].kind, JumpKind::Media);
        assert!((j[0].seconds + 3.5).abs() < 1e-6, "{j:?}");
        assert_eq!(j[0].before, MediaTime(19 * S / 4 + base));
        // 1.9 s is below the threshold.
        assert!(feed(&mut d, 40, 5, base - 1_600_000_000, base).is_empty());
    }

    #[test]
    fn a_stepped_wall_clock_is_a_system_jump() {
        let mut d = JumpDetector::default();
        let base = 1_700_000_000 * S;
        feed(&mut d, 0, 10, base, base);
        let j = feed(&mut d, 10, 10, base, base + 60 * S);
        assert_eq!(j.len(), 1);
        assert_eq!(j[0].kind, JumpKind::System);
        assert!((j[0].seconds - 60.0).abs() < 1e-6);
    }

    #[test]
    fn the_log_is_bounded_and_answers_for_one_occurrence() {
        let log = JumpLog::default();
        let jump = |at: i64, s: f64| ClockJump {
            kind: JumpKind::Media,
            seconds: s,
            before: MediaTime(at),
            after: MediaTime(at + (s * 1e9) as i64),
        };
        log.record(jump(10 * S, 2.5));
        log.record(jump(20 * S, -4.0));
        log.record(jump(30 * S, 3.0));
        assert_eq!(log.largest_since(MediaTime(15 * S)).unwrap().seconds, -4.0);
        assert_eq!(log.largest_since(MediaTime(25 * S)).unwrap().seconds, 3.0);
        assert!(log.largest_since(MediaTime(31 * S)).is_none());
        for i in 0..100 {
            log.record(jump(100 * S + i, 2.0));
        }
        assert_eq!(log.len(), JUMP_LOG_CAPACITY);
    }

    #[test]
    fn both_streams_of_a_camera_get_one_media_time_for_one_camera_instant() {
        let t = CameraTimeline::default();
        let capture = 1_800_000_000 * S;
        // The substream arrives 30 ms after capture, the main stream 800 ms after.
        let sub = t.media_time(capture, MediaTime(capture + 30_000_000 + 5 * S));
        let main = t.media_time(capture, MediaTime(capture + 800_000_000 + 5 * S));
        assert_eq!(sub, main);
        // The camera's clock is 5 s behind the box's: media time stays on the box's.
        assert_eq!(sub, MediaTime(capture + 5 * S + 30_000_000));
        assert_eq!(t.remeasured.load(Ordering::Relaxed), 0);
        // The camera's clock jumps an hour: measured again, counted.
        let later = capture + 3600 * S;
        let m = t.media_time(later + 10 * S, MediaTime(capture + 10 * S + 5 * S));
        assert_eq!(m, MediaTime(capture + 15 * S));
        assert_eq!(t.remeasured.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn ntp_times_convert_to_the_unix_epoch() {
        // 2026-12-06 (from a gst-rtsp-server sender report) in NTP seconds.
        let ntp = 4_005_536_597u64 * 1_000_000_000;
        assert_eq!(ntp_to_unix_ns(ntp), 1_796_547_797 * S);
    }
}
