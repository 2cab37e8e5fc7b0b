//! Decides whether a tracked object stands still, robustly against detector jitter.
//!
//! Raw box centres jitter by a few pixels every frame, and a Kalman velocity near zero
//! is not proof of rest. We instead take the median of the last few detected centres
//! (a single outlier box cannot move it), and compare it with a resting point: the
//! running mean of those medians since the object last moved. The object is stationary
//! once it has stayed within a fraction of its own size of that point for long enough.

use std::collections::VecDeque;

use crate::infer::BBox;
use crate::ingest::MediaTime;

/// Running means stop growing their weight here, so the resting point can still
/// follow a very slow creep instead of being pinned forever by old samples.
const MAX_REST_WEIGHT: u32 = 50;

/// Stillness state of one track.
#[derive(Debug, Clone, PartialEq)]
pub struct Stillness {
    /// Recent detected centres, at most `window` of them.
    recent: VecDeque<(f32, f32)>,
    window: usize,
    /// Resting point: when it was first reached, its running-mean position and weight.
    rest_since: MediaTime,
    rest_pos: (f32, f32),
    rest_weight: u32,
    stationary_since: Option<MediaTime>,
}

/// Thresholds of the stillness test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StillnessParams {
    pub after_s: f64,
    pub max_displacement: f32,
    pub window: usize,
}

impl Stillness {
    /// Starts with the first detection as the resting point.
    pub fn new(time: MediaTime, bbox: &BBox, window: usize) -> Self {
        let c = bbox.center();
        let mut recent = VecDeque::with_capacity(window.max(1));
        recent.push_back(c);
        Self {
            recent,
            window: window.max(1),
            rest_since: time,
            rest_pos: c,
            rest_weight: 1,
            stationary_since: None,
        }
    }

    /// Since when the object has been still, once it counts as stationary.
    pub fn stationary_since(&self) -> Option<MediaTime> {
        self.stationary_since
    }

    /// Feeds one detected box.
    pub fn observe(&mut self, time: MediaTime, bbox: &BBox, p: &StillnessParams) {
        if self.recent.len() >= self.window {
            self.recent.pop_front();
        }
        self.recent.push_back(bbox.center());
        let pos = self.median();
        let size = (bbox.width() * bbox.height()).sqrt().max(1.0);
        let dist = ((pos.0 - self.rest_pos.0).powi(2) + (pos.1 - self.rest_pos.1).powi(2)).sqrt();
        if dist > p.max_displacement * size {
            // It moved: the new position is the candidate resting point.
            self.rest_since = time;
            self.rest_pos = pos;
            self.rest_weight = 1;
            self.stationary_since = None;
            return;
        }
        let w = self.rest_weight as f32;
        self.rest_pos = (
            (self.rest_pos.0 * w + pos.0) / (w + 1.0),
            (self.rest_pos.1 * w + pos.1) / (w + 1.0),
        );
        self.rest_weight = (self.rest_weight + 1).min(MAX_REST_WEIGHT);
        if self.stationary_since.is_none() && time.secs_since(self.rest_since) >= p.after_s {
            self.stationary_since = Some(self.rest_since);
        }
    }

    fn median(&self) -> (f32, f32) {
        let mut xs: Vec<f32> = self.recent.iter().map(|c| c.0).collect();
        let mut ys: Vec<f32> = self.recent.iter().map(|c| c.1).collect();
        (median_of(&mut xs), median_of(&mut ys))
    }
}

/// Median of a non-empty slice (mean of the middle pair for even lengths).
fn median_of(v: &mut [f32]) -> f32 {
    v.sort_unstable_by(f32::total_cmp);
    let n = v.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> StillnessParams {
        StillnessParams {
            after_s: 5.0,
            max_displacement: 0.15,
            window: 5,
        }
    }

    fn car(cx: f32) -> BBox {
        BBox::new(cx - 50.0, 100.0, cx + 50.0, 160.0)
    }

    #[test]
    fn object_at_rest_becomes_stationary_after_the_configured_time() {
        let p = params();
        let mut s = Stillness::new(MediaTime::from_secs_f64(0.0), &car(300.0), p.window);
        for i in 1..=24 {
            s.observe(MediaTime::from_secs_f64(i as f64 * 0.2), &car(300.0), &p);
        }
        assert_eq!(s.stationary_since(), None, "4.8 s is not enough");
        s.observe(MediaTime::from_secs_f64(5.0), &car(300.0), &p);
        assert_eq!(s.stationary_since(), Some(MediaTime::from_secs_f64(0.0)));
    }

    #[test]
    fn a_single_outlier_box_does_not_reset_the_rest() {
        let p = params();
        let mut s = Stillness::new(MediaTime(0), &car(300.0), p.window);
        for i in 1..=50 {
            let x = if i == 20 { 400.0 } else { 300.0 };
            s.observe(MediaTime::from_secs_f64(i as f64 * 0.2), &car(x), &p);
        }
        assert_eq!(s.stationary_since(), Some(MediaTime(0)));
    }

    #[test]
    fn slow_creep_never_counts_as_stationary() {
        let p = params();
        let mut s = Stillness::new(MediaTime(0), &car(0.0), p.window);
        // 0.2 box widths per second.
        for i in 1..=300 {
            let t = i as f64 * 0.2;
            s.observe(MediaTime::from_secs_f64(t), &car(20.0 * t as f32), &p);
            assert_eq!(s.stationary_since(), None, "at {t} s");
        }
    }

    #[test]
    fn moving_off_clears_stationary() {
        let p = params();
        let mut s = Stillness::new(MediaTime(0), &car(300.0), p.window);
        for i in 1..=50 {
            s.observe(MediaTime::from_secs_f64(i as f64 * 0.2), &car(300.0), &p);
        }
        assert!(s.stationary_since().is_some());
        for i in 1..=10 {
            let t = 10.0 + i as f64 * 0.2;
            s.observe(
                MediaTime::from_secs_f64(t),
                &car(300.0 + 30.0 * i as f32),
                &p,
            );
        }
        assert_eq!(s.stationary_since(), None);
    }

    #[test]
    fn median_handles_odd_and_even_lengths() {
        assert_eq!(median_of(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median_of(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
