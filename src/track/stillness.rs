//! Decides whether a tracked object stands still, robustly against detector jitter and
//! partial occlusion.
//!
//! Raw box centres jitter by a few pixels every frame, and a Kalman velocity near zero
//! is not proof of rest. We compare the median of the last few detected centres (a
//! single outlier box cannot move it) with a resting point: the mean of the first few
//! detections after the object last moved, then frozen, so a slow creep cannot drag the
//! resting point along with it. Only when the median has left the resting
//! point by more than a fraction of the object's size has it moved.
//!
//! The size is compared the same way (median against the resting box), so an object
//! driving straight away from the camera, whose centre barely moves while its box
//! shrinks, is not mistaken for a parked one.
//!
//! A parked car half hidden by a passing bus is detected as a smaller box whose centre
//! is shifted, which would look like motion. A box lying (almost) entirely inside the
//! resting box and still sharing at least two of its edges is therefore taken as a
//! partial view of the same still object: it neither counts as motion nor pulls the
//! resting point. A receding object's box shrinks on all sides, so it shares no edges.

use std::collections::VecDeque;

use crate::infer::BBox;
use crate::ingest::MediaTime;

/// Share of a detection's area that must lie inside the resting box for the detection
/// to count as a partial view of the still object.
const CONTAINED_FRACTION: f32 = 0.9;

/// How close (as a share of the displacement limit) an edge of a partial view must be
/// to the resting box's edge to count as the same edge. Tighter than the limit itself,
/// because a box shrinking on all sides (a receding object) also stays near every edge
/// for a while.
const EDGE_TOLERANCE: f32 = 0.4;

/// Stillness state of one track.
#[derive(Debug, Clone, PartialEq)]
pub struct Stillness {
    /// Recent detected centres and sizes (√area), at most `window` of them.
    recent: VecDeque<(f32, f32, f32)>,
    window: usize,
    /// Resting point: when it was first reached, the mean box of the first `window`
    /// whole detections there, and how many went into it.
    rest_since: MediaTime,
    rest_box: BBox,
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
        let mut recent = VecDeque::with_capacity(window.max(1));
        recent.push_back(sample(bbox));
        Self {
            recent,
            window: window.max(1),
            rest_since: time,
            rest_box: *bbox,
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
        self.recent.push_back(sample(bbox));
        let rest = self.rest_box.center();
        let rest_size = self.rest_box.area().sqrt().max(1.0);
        let limit = p.max_displacement * rest_size;
        let (mx, my, msize) = self.median();
        let drifted = distance((mx, my), rest) > limit
            || (msize / rest_size - 1.0).abs() > p.max_displacement;
        if drifted && !self.is_partial_view(bbox, EDGE_TOLERANCE * limit) {
            // It moved: this box is the candidate resting point.
            self.rest_since = time;
            self.rest_box = *bbox;
            self.rest_weight = 1;
            self.stationary_since = None;
            return;
        }
        let (_, _, size) = sample(bbox);
        let whole = (size / rest_size - 1.0).abs() <= p.max_displacement;
        if whole
            && distance(bbox.center(), rest) <= limit
            && (self.rest_weight as usize) < self.window
        {
            let w = self.rest_weight as f32;
            let mix = |a: f32, b: f32| (a * w + b) / (w + 1.0);
            let r = self.rest_box;
            self.rest_box = BBox::new(
                mix(r.x1, bbox.x1),
                mix(r.y1, bbox.y1),
                mix(r.x2, bbox.x2),
                mix(r.y2, bbox.y2),
            );
            self.rest_weight += 1;
        }
        if self.stationary_since.is_none() && time.secs_since(self.rest_since) >= p.after_s {
            self.stationary_since = Some(self.rest_since);
        }
    }

    /// `bbox` lies (almost) inside the resting box and shares at least two of its
    /// edges (within `tol` pixels): the still object, partly hidden.
    fn is_partial_view(&self, bbox: &BBox, tol: f32) -> bool {
        let r = &self.rest_box;
        let contained =
            bbox.area() > 0.0 && bbox.intersection(r) >= CONTAINED_FRACTION * bbox.area();
        let shared = [
            (bbox.x1, r.x1),
            (bbox.y1, r.y1),
            (bbox.x2, r.x2),
            (bbox.y2, r.y2),
        ]
        .iter()
        .filter(|(a, b)| (a - b).abs() <= tol)
        .count();
        contained && shared >= 2
    }

    fn median(&self) -> (f32, f32, f32) {
        let mut v: Vec<f32> = self.recent.iter().map(|c| c.0).collect();
        let x = median_of(&mut v);
        v.clear();
        v.extend(self.recent.iter().map(|c| c.1));
        let y = median_of(&mut v);
        v.clear();
        v.extend(self.recent.iter().map(|c| c.2));
        (x, y, median_of(&mut v))
    }
}

/// Centre and size (√area) of a box.
fn sample(b: &BBox) -> (f32, f32, f32) {
    let (x, y) = b.center();
    (x, y, b.area().sqrt())
}

fn distance(a: (f32, f32), b: (f32, f32)) -> f32 {
    ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt()
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
    fn sustained_partial_occlusion_does_not_reset_the_rest() {
        let p = params();
        let mut s = Stillness::new(MediaTime(0), &car(300.0), p.window);
        for i in 1..=50 {
            s.observe(MediaTime::from_secs_f64(i as f64 * 0.2), &car(300.0), &p);
        }
        // 20 s in which only the front third of the car is visible.
        let front = BBox::new(317.0, 100.0, 350.0, 160.0);
        for i in 51..=150 {
            s.observe(MediaTime::from_secs_f64(i as f64 * 0.2), &front, &p);
            assert_eq!(s.stationary_since(), Some(MediaTime(0)), "frame {i}");
        }
        assert!((s.rest_box.width() - 100.0).abs() < 1.0, "{:?}", s.rest_box);
    }

    #[test]
    fn object_receding_from_the_camera_is_not_stationary() {
        // Centre fixed, box shrinking on all sides by 5% a second (a car 30 m away
        // crawling off at 1.5 m/s): only the size tells.
        let p = params();
        let b = |t: f64| {
            let k = (1.0 - 0.05 * t) as f32;
            BBox::new(
                300.0 - 50.0 * k,
                130.0 - 30.0 * k,
                300.0 + 50.0 * k,
                130.0 + 30.0 * k,
            )
        };
        let mut s = Stillness::new(MediaTime(0), &b(0.0), p.window);
        for i in 1..=50 {
            let t = i as f64 * 0.2;
            s.observe(MediaTime::from_secs_f64(t), &b(t), &p);
            assert_eq!(s.stationary_since(), None, "at {t} s");
        }
    }

    #[test]
    fn a_single_oversized_box_does_not_reset_the_rest() {
        let p = params();
        let mut s = Stillness::new(MediaTime(0), &car(300.0), p.window);
        for i in 1..=50 {
            let b = if i == 30 {
                BBox::new(200.0, 50.0, 400.0, 200.0)
            } else {
                car(300.0)
            };
            s.observe(MediaTime::from_secs_f64(i as f64 * 0.2), &b, &p);
        }
        assert_eq!(s.stationary_since(), Some(MediaTime(0)));
    }

    #[test]
    fn median_handles_odd_and_even_lengths() {
        assert_eq!(median_of(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median_of(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
