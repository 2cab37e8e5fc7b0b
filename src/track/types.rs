//! What the tracker hands to rules.

use std::collections::VecDeque;

use serde::Serialize;

use crate::infer::{BBox, Category};
use crate::ingest::MediaTime;

/// One point of a track's path: the smoothed box centre at a media time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TrackPoint {
    pub time: MediaTime,
    pub x: f32,
    pub y: f32,
}

/// A tracked object as rules see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Track {
    /// Stable for the object's whole life; never reused by this tracker.
    pub id: u64,
    /// The category most often (score-weighted) detected for this object.
    pub category: Category,
    /// The model's class name belonging to `category`.
    pub class_name: String,
    /// Kalman-smoothed box (predicted while the object is not detected).
    pub bbox: BBox,
    /// The box of the last detection matched to this track, for evidence crops.
    pub last_detection_bbox: BBox,
    /// Score of the last matched detection.
    pub score: f32,
    pub first_seen: MediaTime,
    /// Time of the last matched detection.
    pub last_seen: MediaTime,
    /// When the object came to rest, once it has stayed still long enough.
    pub stationary_since: Option<MediaTime>,
    /// Detections matched so far.
    pub hits: u32,
    /// Consecutive updates without a matched detection (0 = seen in the last frame).
    pub misses: u32,
    /// Recent path, oldest first, bounded by `TrackerConfig::history_len`.
    pub history: VecDeque<TrackPoint>,
}

impl Track {
    /// True once the object has stayed still for `stationary_after_s`.
    pub fn is_stationary(&self) -> bool {
        self.stationary_since.is_some()
    }

    /// True when the last update had no detection for this track (occluded, missed).
    pub fn is_coasting(&self) -> bool {
        self.misses > 0
    }

    /// Seconds the object has been stationary at `now`, if it is.
    pub fn stationary_for(&self, now: MediaTime) -> Option<f64> {
        self.stationary_since.map(|s| now.secs_since(s).max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stationary_duration_is_measured_from_rest_in_media_time() {
        let mut t = Track {
            id: 1,
            category: Category::new("vehicle.car"),
            class_name: "car".into(),
            bbox: BBox::default(),
            last_detection_bbox: BBox::default(),
            score: 0.9,
            first_seen: MediaTime(0),
            last_seen: MediaTime(0),
            stationary_since: None,
            hits: 1,
            misses: 0,
            history: VecDeque::new(),
        };
        assert!(!t.is_stationary());
        assert_eq!(t.stationary_for(MediaTime::from_secs_f64(9.0)), None);
        t.stationary_since = Some(MediaTime::from_secs_f64(4.0));
        assert!(t.is_stationary());
        assert_eq!(t.stationary_for(MediaTime::from_secs_f64(9.0)), Some(5.0));
        assert!(!t.is_coasting());
    }
}
