//! Constant-velocity Kalman filter for a box `(cx, cy, w, h)`.
//!
//! With a diagonal measurement noise and process noise that does not couple the four
//! coordinates, the 8-state filter of SORT/ByteTrack splits exactly into four
//! independent 2-state (position, velocity) filters. Writing it that way needs no
//! matrix library and keeps every covariance a symmetric 2x2 we can reason about.
//!
//! The time step is the media-time delta, not a frame count, and the process noise is
//! the continuous white-noise-acceleration model, so uncertainty grows the same per
//! second whether the camera delivers 25 fps or one keyframe every two seconds.

use crate::infer::BBox;

/// Smallest box side the filter will report, so a shrinking prediction never yields an
/// empty or inverted box.
const MIN_SIDE: f64 = 1.0;

/// Noise parameters, all relative to the box size so one setting suits a distant
/// pedestrian and a nearby bus.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoiseModel {
    /// Std-dev of a measured coordinate, as a fraction of the box side.
    pub measurement: f64,
    /// Acceleration spectral density, as box sides per s² per √s.
    pub process: f64,
    /// Initial velocity std-dev, as box sides per second.
    pub initial_velocity: f64,
}

/// One coordinate: position, velocity and their covariance `[[p00, p01], [p01, p11]]`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Axis {
    x: f64,
    v: f64,
    p00: f64,
    p01: f64,
    p11: f64,
}

impl Axis {
    fn new(x: f64, pos_std: f64, vel_std: f64) -> Self {
        Self {
            x,
            v: 0.0,
            p00: pos_std * pos_std,
            p01: 0.0,
            p11: vel_std * vel_std,
        }
    }

    /// `x += v dt`; `P = F P Fᵀ + Q` with `Q = q [[dt³/3, dt²/2], [dt²/2, dt]]`.
    fn predict(&mut self, dt: f64, q: f64) {
        self.x += self.v * dt;
        let p00 = self.p00 + 2.0 * dt * self.p01 + dt * dt * self.p11;
        let p01 = self.p01 + dt * self.p11;
        self.p00 = p00 + q * dt * dt * dt / 3.0;
        self.p01 = p01 + q * dt * dt / 2.0;
        self.p11 += q * dt;
    }

    fn update(&mut self, z: f64, r: f64) {
        let s = self.p00 + r;
        if s <= 0.0 || !s.is_finite() {
            return;
        }
        let k0 = self.p00 / s;
        let k1 = self.p01 / s;
        let y = z - self.x;
        self.x += k0 * y;
        self.v += k1 * y;
        // Joseph-free symmetric form: P - K S Kᵀ.
        let (p00, p01, p11) = (self.p00, self.p01, self.p11);
        self.p00 = p00 - k0 * p00;
        self.p01 = p01 - k0 * p01;
        self.p11 = p11 - k1 * p01;
    }
}

/// Kalman state of one tracked box.
#[derive(Debug, Clone, PartialEq)]
pub struct BoxFilter {
    cx: Axis,
    cy: Axis,
    w: Axis,
    h: Axis,
    noise: NoiseModel,
}

impl BoxFilter {
    /// Starts at `bbox` with zero velocity and the configured uncertainty.
    pub fn new(bbox: &BBox, noise: NoiseModel) -> Self {
        let (cx, cy) = bbox.center();
        let w = f64::from(bbox.width()).max(MIN_SIDE);
        let h = f64::from(bbox.height()).max(MIN_SIDE);
        let pos = |side: f64| 2.0 * noise.measurement * side;
        let vel = |side: f64| noise.initial_velocity * side;
        Self {
            cx: Axis::new(f64::from(cx), pos(w), vel(w)),
            cy: Axis::new(f64::from(cy), pos(h), vel(h)),
            w: Axis::new(w, pos(w), vel(w)),
            h: Axis::new(h, pos(h), vel(h)),
            noise,
        }
    }

    fn sides(&self) -> (f64, f64) {
        (self.w.x.max(MIN_SIDE), self.h.x.max(MIN_SIDE))
    }

    /// Advances the state by `dt` seconds of media time (negative steps are ignored).
    pub fn predict(&mut self, dt: f64) {
        if !(dt.is_finite() && dt > 0.0) {
            return;
        }
        let (w, h) = self.sides();
        let qw = (self.noise.process * w).powi(2);
        let qh = (self.noise.process * h).powi(2);
        self.cx.predict(dt, qw);
        self.w.predict(dt, qw);
        self.cy.predict(dt, qh);
        self.h.predict(dt, qh);
    }

    /// Folds in a detected box.
    pub fn update(&mut self, bbox: &BBox) {
        let (w, h) = self.sides();
        let rw = (self.noise.measurement * w).powi(2);
        let rh = (self.noise.measurement * h).powi(2);
        let (cx, cy) = bbox.center();
        self.cx.update(f64::from(cx), rw);
        self.cy.update(f64::from(cy), rh);
        self.w.update(f64::from(bbox.width()).max(MIN_SIDE), rw);
        self.h.update(f64::from(bbox.height()).max(MIN_SIDE), rh);
    }

    /// Forgets all motion: a parked car does not move, so its prediction must not
    /// drift while it is hidden.
    pub fn zero_velocity(&mut self) {
        for a in [&mut self.cx, &mut self.cy, &mut self.w, &mut self.h] {
            a.v = 0.0;
            a.p01 = 0.0;
        }
    }

    /// Velocity of the centre in pixels per second.
    pub fn velocity(&self) -> (f64, f64) {
        (self.cx.v, self.cy.v)
    }

    /// The current (smoothed or predicted) box.
    pub fn bbox(&self) -> BBox {
        let (w, h) = self.sides();
        let (cx, cy) = (self.cx.x, self.cy.x);
        BBox::new(
            (cx - w / 2.0) as f32,
            (cy - h / 2.0) as f32,
            (cx + w / 2.0) as f32,
            (cy + h / 2.0) as f32,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise() -> NoiseModel {
        NoiseModel {
            measurement: 0.05,
            process: 0.5,
            initial_velocity: 0.5,
        }
    }

    fn boxed(cx: f32, cy: f32) -> BBox {
        BBox::new(cx - 50.0, cy - 30.0, cx + 50.0, cy + 30.0)
    }

    #[test]
    fn filter_learns_constant_velocity_and_predicts_ahead() {
        let mut f = BoxFilter::new(&boxed(100.0, 200.0), noise());
        let dt = 0.04;
        for i in 1..=50 {
            f.predict(dt);
            f.update(&boxed(100.0 + 125.0 * dt as f32 * i as f32, 200.0));
        }
        let (vx, vy) = f.velocity();
        assert!((vx - 125.0).abs() < 5.0, "vx {vx}");
        assert!(vy.abs() < 2.0, "vy {vy}");
        f.predict(1.0);
        let (cx, _) = f.bbox().center();
        let expected = 100.0 + 125.0 * 2.0 + 125.0;
        assert!((cx - expected).abs() < 8.0, "cx {cx} expected {expected}");
    }

    #[test]
    fn same_motion_is_learnt_at_half_a_frame_per_second() {
        let mut f = BoxFilter::new(&boxed(100.0, 200.0), noise());
        for i in 1..=10 {
            f.predict(2.0);
            f.update(&boxed(100.0 + 20.0 * i as f32, 200.0));
        }
        assert!((f.velocity().0 - 10.0).abs() < 1.0, "{:?}", f.velocity());
    }

    #[test]
    fn zeroed_velocity_keeps_the_prediction_in_place() {
        let mut f = BoxFilter::new(&boxed(100.0, 200.0), noise());
        for i in 1..=10 {
            f.predict(0.2);
            f.update(&boxed(100.0 + i as f32, 200.0));
        }
        let before = f.bbox();
        f.zero_velocity();
        f.predict(60.0);
        let after = f.bbox();
        assert!((before.center().0 - after.center().0).abs() < 1e-3);
        assert!((before.width() - after.width()).abs() < 1e-3);
    }

    #[test]
    fn non_positive_time_steps_change_nothing() {
        let mut f = BoxFilter::new(&boxed(100.0, 200.0), noise());
        let before = f.clone();
        f.predict(0.0);
        f.predict(-1.0);
        f.predict(f64::NAN);
        assert_eq!(f, before);
    }

    #[test]
    fn shrinking_prediction_never_inverts_the_box() {
        let mut f = BoxFilter::new(&BBox::new(0.0, 0.0, 10.0, 10.0), noise());
        for i in 1..=10 {
            f.predict(0.1);
            let s = 10.0 - i as f32 * 0.9;
            f.update(&BBox::new(0.0, 0.0, s, s));
        }
        f.predict(100.0);
        let b = f.bbox();
        assert!(b.width() >= 1.0 && b.height() >= 1.0, "{b:?}");
    }
}
