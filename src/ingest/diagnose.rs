//! Says why a streaming camera is analysed far less often than configured.
//!
//! A camera can stream, the detector can see objects, and still no event ever comes:
//! the rules need a steady flow of analysed frames, and something between the camera
//! and the detector can starve it (a camera sending fewer frames than configured, a
//! decoder throwing broken pictures away, timestamps the rate limiter misreads, or
//! inference that cannot keep up). This watch compares the analysed rate with what the
//! configuration asks for and, when it stays below half for more than
//! [`HOLD`], names the stage where the frames went missing, from the counters each
//! stage keeps.
//!
//! Rates are box performance, so they are measured on the monotonic clock; the rules
//! keep running on media time.

use serde::Serialize;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Rates are measured over this much of the recent past.
pub const WINDOW: Duration = Duration::from_secs(10);
/// The analysed rate must stay low this long before the watch warns.
pub const HOLD: Duration = Duration::from_secs(30);
/// "Far fewer": below this share of the expected rate.
pub const SHARE: f64 = 0.5;

/// Running counters of one camera, from the stream to the detector.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counters {
    /// Encoded units received from the camera.
    pub access_units: u64,
    pub keyframes: u64,
    /// Pictures out of the decoder.
    pub decoded: u64,
    /// Pictures the rate limiter let through to the analysis queue.
    pub delivered: u64,
    /// Pictures the analysis queue dropped because inference was behind.
    pub queue_dropped: u64,
    /// Pictures the detectors analysed.
    pub analysed: u64,
}

/// Where the missing frames went (most upstream first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RateCause {
    /// The camera sends fewer frames (or keyframes) than the analysis asks for.
    CameraFrameRate,
    /// Encoded frames arrive but the decoder outputs far fewer pictures: a broken or
    /// unusual stream.
    DecoderDiscards,
    /// Pictures are decoded but the rate limiter keeps too few: their timestamps do
    /// not advance with the stream.
    Timestamps,
    /// Pictures reach the analysis queue but the detector cannot keep up.
    InferenceBehind,
    /// None of the above explains it.
    Unknown,
}

impl RateCause {
    pub fn code(self) -> &'static str {
        match self {
            RateCause::CameraFrameRate => "camera_frame_rate",
            RateCause::DecoderDiscards => "decoder_discards",
            RateCause::Timestamps => "timestamps",
            RateCause::InferenceBehind => "inference_behind",
            RateCause::Unknown => "unknown",
        }
    }

    /// What the technician can do, in English (the page has its own Chinese text).
    pub fn hint(self) -> &'static str {
        match self {
            RateCause::CameraFrameRate => {
                "the camera sends fewer frames than configured: raise its frame rate (or shorten its keyframe interval for keyframes-only analysis), or lower the analysis fps"
            }
            RateCause::DecoderDiscards => {
                "the decoder discards most frames: the stream is damaged or uses a profile the decoder cannot handle; check the camera's encoder settings"
            }
            RateCause::Timestamps => {
                "decoded frames carry timestamps that do not advance with the stream; check the camera's time and encoder settings"
            }
            RateCause::InferenceBehind => {
                "inference cannot keep up: lower the analysis fps, analyse fewer cameras or use a faster model"
            }
            RateCause::Unknown => "the cause is unclear; see the log",
        }
    }
}

/// A camera analysed at far less than its expected rate, for the page, health and logs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RateWarning {
    /// Pictures analysed per second over the last [`WINDOW`].
    pub measured_fps: f64,
    /// What the configuration asks for: the analysis fps (capped by the keyframe rate
    /// when only keyframes are analysed).
    pub expected_fps: f64,
    /// Encoded frames per second the camera sends.
    pub stream_fps: f64,
    /// Seconds the rate has been below half of the expected one.
    pub for_s: f64,
    pub cause: RateCause,
    /// English text naming the rates and the cause.
    pub message: String,
}

/// The watch of one camera; fed every status tick.
#[derive(Debug)]
pub struct AnalysisRateWatch {
    configured_fps: f64,
    keyframes_only: bool,
    /// One sample a second, at most `WINDOW` + 1 s of them.
    samples: VecDeque<(Instant, Counters)>,
    low_since: Option<Instant>,
    warning: Option<RateWarning>,
}

impl AnalysisRateWatch {
    pub fn new(configured_fps: f64, keyframes_only: bool) -> Self {
        Self {
            configured_fps,
            keyframes_only,
            samples: VecDeque::new(),
            low_since: None,
            warning: None,
        }
    }

    /// The warning in force after the last sample.
    pub fn current(&self) -> Option<&RateWarning> {
        self.warning.as_ref()
    }

    /// Forget everything (the camera stopped streaming: its status says why).
    pub fn reset(&mut self) {
        self.samples.clear();
        self.low_since = None;
        self.warning = None;
    }

    /// The warning in force after this sample, if any.
    pub fn update(&mut self, now: Instant, c: Counters) -> Option<RateWarning> {
        // Counters that went backwards belong to a restarted camera: start over.
        if self
            .samples
            .back()
            .is_some_and(|(_, b)| c.analysed < b.analysed || c.access_units < b.access_units)
        {
            self.reset();
        }
        let due = self
            .samples
            .back()
            .is_none_or(|(t, _)| now.saturating_duration_since(*t) >= Duration::from_secs(1));
        if due {
            self.samples.push_back((now, c));
        }
        while self.samples.len() > 2 && now.saturating_duration_since(self.samples[1].0) >= WINDOW {
            self.samples.pop_front();
        }
        let (t0, c0) = *self.samples.front()?;
        let span = now.saturating_duration_since(t0);
        if span < WINDOW {
            return self.warning.clone();
        }
        let secs = span.as_secs_f64();
        let rate = |a: u64, b: u64| a.saturating_sub(b) as f64 / secs;
        let stream = rate(c.access_units, c0.access_units);
        let keys = rate(c.keyframes, c0.keyframes);
        let decoded = rate(c.decoded, c0.decoded);
        let delivered = rate(c.delivered, c0.delivered);
        let dropped = rate(c.queue_dropped, c0.queue_dropped);
        let analysed = rate(c.analysed, c0.analysed);
        let expected = if self.keyframes_only {
            self.configured_fps.min(keys)
        } else {
            self.configured_fps
        };
        if expected <= 0.0 || analysed >= SHARE * expected {
            self.low_since = None;
            self.warning = None;
            return None;
        }
        let since = *self.low_since.get_or_insert(now);
        let held = now.saturating_duration_since(since);
        if held < HOLD {
            return self.warning.clone();
        }
        // The first stage that passes on less than half of what it could.
        let wanted = |upstream: f64| SHARE * expected.min(upstream);
        let cause = if !self.keyframes_only && stream < SHARE * expected {
            RateCause::CameraFrameRate
        } else if decoded < wanted(if self.keyframes_only { keys } else { stream }) {
            RateCause::DecoderDiscards
        } else if delivered < wanted(decoded) {
            RateCause::Timestamps
        } else if dropped > 0.0 && analysed < wanted(delivered) {
            RateCause::InferenceBehind
        } else {
            RateCause::Unknown
        };
        let round = |x: f64| (x * 100.0).round() / 100.0;
        let warning = RateWarning {
            measured_fps: round(analysed),
            expected_fps: round(expected),
            stream_fps: round(stream),
            for_s: held.as_secs_f64().round(),
            cause,
            message: format!(
                "analysing {analysed:.2} frames/s of the {expected:.2} expected (camera sends {stream:.2}) for {:.0} s: {}",
                held.as_secs_f64(),
                cause.hint()
            ),
        };
        self.warning = Some(warning.clone());
        Some(warning)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `secs` seconds of steady per-second rates, one sample each 500 ms; returns
    /// the last answer.
    fn run(
        w: &mut AnalysisRateWatch,
        t: &mut Instant,
        c: &mut Counters,
        secs: u64,
        per_s: [u64; 6],
    ) -> Option<RateWarning> {
        let mut last = None;
        for _ in 0..secs * 2 {
            *t += Duration::from_millis(500);
            c.access_units += per_s[0] / 2;
            c.keyframes += per_s[1] / 2;
            c.decoded += per_s[2] / 2;
            c.delivered += per_s[3] / 2;
            c.queue_dropped += per_s[4] / 2;
            c.analysed += per_s[5] / 2;
            last = w.update(*t, *c);
        }
        last
    }

    #[test]
    fn a_healthy_camera_never_warns() {
        let mut w = AnalysisRateWatch::new(4.0, false);
        let (mut t, mut c) = (Instant::now(), Counters::default());
        // 24 fps stream, 4 analysed a second.
        assert_eq!(run(&mut w, &mut t, &mut c, 120, [24, 2, 24, 4, 0, 4]), None);
    }

    #[test]
    fn a_low_rate_warns_only_after_the_hold_and_names_the_stage() {
        let mut w = AnalysisRateWatch::new(4.0, false);
        let (mut t, mut c) = (Instant::now(), Counters::default());
        // Decoded pictures at full rate, but only 1 in 4 passes the rate limiter.
        let starved = [24, 2, 24, 2, 0, 2];
        // [2 of 4] is exactly half: not "far fewer".
        assert_eq!(run(&mut w, &mut t, &mut c, 60, starved), None);
        let starved = [24, 2, 24, 0, 0, 0];
        assert_eq!(
            run(&mut w, &mut t, &mut c, 28, starved),
            None,
            "less than the hold"
        );
        let warn = run(&mut w, &mut t, &mut c, 4, starved).expect("warns after the hold");
        assert_eq!(warn.cause, RateCause::Timestamps);
        assert_eq!(warn.expected_fps, 4.0);
        assert_eq!(warn.measured_fps, 0.0);
        assert_eq!(warn.stream_fps, 24.0);
        assert!(warn.for_s >= 30.0, "{warn:?}");
        assert!(warn.message.contains("4.00 expected"), "{}", warn.message);
        // Recovers as soon as the rate is back.
        assert_eq!(run(&mut w, &mut t, &mut c, 12, [24, 2, 24, 4, 0, 4]), None);
    }

    #[test]
    fn each_stage_is_named_when_it_is_the_one_that_loses_frames() {
        let cases = [
            // camera sends 2 fps, 8 asked
            ([2, 0, 2, 2, 0, 2], 8.0, false, RateCause::CameraFrameRate),
            // decoder outputs 2 of 24
            ([24, 2, 2, 2, 0, 2], 8.0, false, RateCause::DecoderDiscards),
            // queue drops: inference behind
            ([24, 2, 24, 8, 6, 2], 8.0, false, RateCause::InferenceBehind),
            // keyframes only: 2 keyframes a second, none decoded
            ([24, 2, 0, 0, 0, 0], 1.0, true, RateCause::DecoderDiscards),
        ];
        for (rates, fps, kf, cause) in cases {
            let mut w = AnalysisRateWatch::new(fps, kf);
            let (mut t, mut c) = (Instant::now(), Counters::default());
            let warn = run(&mut w, &mut t, &mut c, 60, rates).expect("warns");
            assert_eq!(warn.cause, cause, "{rates:?}");
        }
    }

    #[test]
    fn keyframes_only_expects_the_keyframe_rate_when_it_is_below_the_fps() {
        // One keyframe every 2 s, 1 fps asked: 0.5 analysed a second is all there is.
        let mut w = AnalysisRateWatch::new(1.0, true);
        let (mut t, mut c) = (Instant::now(), Counters::default());
        let mut last = None;
        for i in 0..240u64 {
            t += Duration::from_millis(500);
            c.access_units += 12;
            if i % 4 == 0 {
                c.keyframes += 1;
                c.decoded += 1;
                c.delivered += 1;
                c.analysed += 1;
            }
            last = w.update(t, c);
        }
        assert_eq!(last, None);
    }

    #[test]
    fn a_restarted_counter_starts_the_watch_over() {
        let mut w = AnalysisRateWatch::new(4.0, false);
        let (mut t, mut c) = (Instant::now(), Counters::default());
        assert!(run(&mut w, &mut t, &mut c, 60, [24, 2, 24, 0, 0, 0]).is_some());
        let mut fresh = Counters::default();
        t += Duration::from_millis(500);
        assert_eq!(w.update(t, fresh), None);
        fresh.analysed = 1;
        assert_eq!(w.update(t + Duration::from_secs(1), fresh), None);
    }
}
