//! Every threshold of the tracker, in one serde struct so a site can tune it from
//! `streetwatch.toml` without a rebuild. Times are seconds of media time.

use serde::{Deserialize, Serialize};

use super::TrackError;

/// Tracker tuning. Defaults suit a roadside camera at 1–25 analysis fps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrackerConfig {
    /// Detections at or above this score are "high" and take part in the first
    /// association stage (ByteTrack's `track_thresh`).
    pub high_score: f32,
    /// Detections below this score are ignored entirely; those between this and
    /// `high_score` can only keep existing tracks alive (ByteTrack's second stage).
    pub low_score: f32,
    /// Minimum score for a detection to start a new track. Above `high_score` so a
    /// borderline detection never spawns a track on its own.
    pub new_track_score: f32,
    /// Matches a track needs before it is reported (1 = report at once). Tentative
    /// tracks die on their first miss, so flicker never becomes a track.
    pub min_hits: u32,
    /// Minimum IoU between a track's predicted box and a high-score detection.
    pub match_iou: f32,
    /// Minimum IoU for a low-score detection to keep a track alive; stricter than
    /// `match_iou` because low-score boxes are often the wrong object.
    pub low_score_match_iou: f32,
    /// Minimum IoU to re-associate a stationary track that has missed detections; lower
    /// than `match_iou` because a partly occluded parked car yields a smaller box.
    pub stationary_match_iou: f32,
    /// A moving track that has not been matched for this long is dropped.
    pub max_gap_moving_s: f64,
    /// A stationary track that has not been matched for this long is dropped (a parked
    /// car hidden behind a bus keeps its id for this long).
    pub max_gap_stationary_s: f64,
    /// Consecutive missed updates a track must also have before the gap drops it, so a
    /// keyframes-only camera (frame interval above `max_gap_moving_s`) does not lose a
    /// moving track to a single missed detection.
    pub min_misses_to_drop: u32,
    /// How long a track must stay within `stationary_max_displacement` of its resting
    /// point to count as stationary.
    pub stationary_after_s: f64,
    /// Largest drift of the robust (median) centre from the resting point, as a fraction
    /// of the box size (geometric mean of width and height), that still counts as still.
    pub stationary_max_displacement: f32,
    /// Number of recent detection centres whose median is the robust position; larger
    /// values ignore more jitter but react later to a car pulling away.
    pub stationary_median_window: usize,
    /// Hard cap on live tracks (tentative ones included), so a detector gone mad cannot
    /// exhaust memory.
    pub max_tracks: usize,
    /// Detections per update beyond this are ignored (lowest scores first).
    pub max_detections: usize,
    /// Points kept in each track's path history.
    pub history_len: usize,
    /// Minimum media time between two history points, so the bounded history spans a
    /// useful stretch of time at high frame rates.
    pub history_min_interval_s: f64,
    /// Kalman measurement noise: standard deviation of a detected box edge, as a
    /// fraction of the box size.
    pub measurement_noise: f64,
    /// Kalman process noise: acceleration spectral density, as a fraction of the box
    /// size per second squared (per square-root second of media time).
    pub process_noise: f64,
    /// Initial velocity uncertainty of a new track, as box sizes per second.
    pub initial_velocity_std: f64,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            high_score: 0.5,
            low_score: 0.1,
            new_track_score: 0.6,
            min_hits: 2,
            match_iou: 0.3,
            low_score_match_iou: 0.5,
            stationary_match_iou: 0.2,
            max_gap_moving_s: 1.5,
            max_gap_stationary_s: 120.0,
            min_misses_to_drop: 2,
            stationary_after_s: 5.0,
            stationary_max_displacement: 0.15,
            stationary_median_window: 5,
            max_tracks: 256,
            max_detections: 512,
            history_len: 64,
            history_min_interval_s: 0.2,
            measurement_noise: 0.05,
            process_noise: 0.5,
            initial_velocity_std: 0.5,
        }
    }
}

impl TrackerConfig {
    /// Checks ranges and orderings; the first problem found is returned.
    pub fn validate(&self) -> Result<(), TrackError> {
        let bad = |field: &'static str, reason: &str| {
            Err(TrackError::InvalidConfig {
                field,
                reason: reason.to_string(),
            })
        };
        let unit = |v: f32| v.is_finite() && (0.0..=1.0).contains(&v);
        for (field, v) in [
            ("high_score", self.high_score),
            ("low_score", self.low_score),
            ("new_track_score", self.new_track_score),
            (
                "stationary_max_displacement",
                self.stationary_max_displacement,
            ),
        ] {
            if !unit(v) {
                return bad(field, "must be within 0..=1");
            }
        }
        for (field, v) in [
            ("match_iou", self.match_iou),
            ("low_score_match_iou", self.low_score_match_iou),
            ("stationary_match_iou", self.stationary_match_iou),
        ] {
            if !(v.is_finite() && v > 0.0 && v <= 1.0) {
                return bad(field, "must be within 0 (exclusive) ..= 1");
            }
        }
        if self.low_score > self.high_score {
            return bad("low_score", "must not exceed high_score");
        }
        if self.new_track_score < self.high_score {
            return bad("new_track_score", "must be at least high_score");
        }
        for (field, v) in [
            ("max_gap_moving_s", self.max_gap_moving_s),
            ("max_gap_stationary_s", self.max_gap_stationary_s),
            ("stationary_after_s", self.stationary_after_s),
            ("history_min_interval_s", self.history_min_interval_s),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(field, "must be a finite number of seconds >= 0");
            }
        }
        if self.max_gap_stationary_s < self.max_gap_moving_s {
            return bad("max_gap_stationary_s", "must be at least max_gap_moving_s");
        }
        for (field, v) in [
            ("measurement_noise", self.measurement_noise),
            ("process_noise", self.process_noise),
            ("initial_velocity_std", self.initial_velocity_std),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return bad(field, "must be a finite number > 0");
            }
        }
        if self.min_hits == 0 {
            return bad("min_hits", "must be at least 1");
        }
        for (field, v, max) in [
            (
                "stationary_median_window",
                self.stationary_median_window,
                64,
            ),
            ("max_tracks", self.max_tracks, 10_000),
            ("max_detections", self.max_detections, 10_000),
            ("history_len", self.history_len, 10_000),
        ] {
            if v == 0 || v > max {
                return bad(field, &format!("must be within 1..={max}"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_the_documented_gaps() {
        let c = TrackerConfig::default();
        c.validate().unwrap();
        assert_eq!(c.max_gap_stationary_s, 120.0);
        assert_eq!(c.max_gap_moving_s, 1.5);
    }

    #[test]
    fn empty_toml_yields_defaults_and_partial_toml_overrides_one_field() {
        let c: TrackerConfig = toml::from_str("").unwrap();
        assert_eq!(c, TrackerConfig::default());
        let c: TrackerConfig = toml::from_str("max_gap_stationary_s = 300.0").unwrap();
        assert_eq!(c.max_gap_stationary_s, 300.0);
        assert_eq!(c.match_iou, TrackerConfig::default().match_iou);
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let e = toml::from_str::<TrackerConfig>("max_gap_s = 3.0").unwrap_err();
        assert!(e.to_string().contains("max_gap_s"), "{e}");
    }

    #[test]
    fn validation_names_the_offending_field() {
        let c = TrackerConfig {
            low_score: 0.7,
            ..Default::default()
        };
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("low_score"), "{e}");

        let c = TrackerConfig {
            max_tracks: 0,
            ..Default::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("max_tracks"));

        let c = TrackerConfig {
            max_gap_stationary_s: 1.0,
            ..Default::default()
        };
        assert!(c.validate().is_err());

        let c = TrackerConfig {
            match_iou: f32::NAN,
            ..Default::default()
        };
        assert!(c.validate().is_err());
    }

    #[test]
    fn config_round_trips_through_toml() {
        let c = TrackerConfig::default();
        let text = toml::to_string(&c).unwrap();
        assert_eq!(toml::from_str::<TrackerConfig>(&text).unwrap(), c);
    }
}
