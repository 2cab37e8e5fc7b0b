//! Frames per second from a running counter, for the dashboard's analysis rate.
//!
//! This is box performance (how much the box keeps up), so it is measured on the
//! monotonic clock; the rules never see it and keep running on media time.

use std::time::{Duration, Instant};

/// The rate is recomputed once per window; shorter windows make it jumpy at the low
/// analysis rates (0.5–2 fps) keyframe-only cameras run at.
const WINDOW: Duration = Duration::from_secs(2);

/// Rate of a monotonically increasing counter over the last completed window.
#[derive(Debug, Clone)]
pub struct RateMeter {
    since: Instant,
    count_then: u64,
    rate: f64,
}

impl RateMeter {
    pub fn new(now: Instant, count: u64) -> Self {
        Self {
            since: now,
            count_then: count,
            rate: 0.0,
        }
    }

    /// Feed the counter's value at `now`; returns the current rate per second.
    pub fn update(&mut self, now: Instant, count: u64) -> f64 {
        let elapsed = now.saturating_duration_since(self.since);
        if elapsed >= WINDOW {
            // A counter that went backwards (a restarted camera) restarts the window.
            self.rate = count.saturating_sub(self.count_then) as f64 / elapsed.as_secs_f64();
            self.since = now;
            self.count_then = count;
        }
        self.rate
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_is_counted_per_completed_window() {
        let t0 = Instant::now();
        let mut m = RateMeter::new(t0, 100);
        assert_eq!(
            m.update(t0 + Duration::from_secs(1), 110),
            0.0,
            "window not complete"
        );
        assert_eq!(m.update(t0 + Duration::from_secs(2), 120), 10.0);
        // Held between windows.
        assert_eq!(m.update(t0 + Duration::from_millis(3500), 200), 10.0);
        assert_eq!(m.update(t0 + Duration::from_secs(4), 121), 0.5);
        assert_eq!(m.update(t0 + Duration::from_secs(6), 121), 0.0, "stalled");
        assert_eq!(
            m.update(t0 + Duration::from_secs(8), 3),
            0.0,
            "counter reset"
        );
        assert_eq!(m.rate(), 0.0);
    }
}
