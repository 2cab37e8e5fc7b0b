//! Multi-object tracking in the ByteTrack family.
//!
//! Detections arrive per analysis frame; the tracker turns them into [`Track`]s with
//! stable ids that rules (dwell, littering, road damage) can reason about over minutes.
//! Every time is [`MediaTime`], so replays behave exactly like live streams and the
//! same code serves 25 fps and keyframes-only cameras.
//!
//! Modules: [`config`] (thresholds), [`kalman`] (box motion model), [`assign`]
//! (Hungarian IoU matching), [`stillness`] (is it parked?), [`types`] (the output) and
//! [`tracker`] (the association stages and track lifecycle).

pub mod assign;
pub mod config;
pub mod kalman;
pub mod stillness;
pub mod tracker;
pub mod types;

#[cfg(test)]
mod tests;

pub use config::TrackerConfig;
pub use tracker::{TrackUpdate, Tracker};
pub use types::{Track, TrackPoint};

use crate::infer::Category;
use crate::ingest::MediaTime;

/// Why the tracker refused a configuration or an update.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrackError {
    #[error("tracker setting `{field}` {reason}")]
    InvalidConfig { field: &'static str, reason: String },
    /// Media time must not run backwards within one stream; after a pipeline restart
    /// that re-bases time the caller should [`Tracker::reset`] instead.
    #[error(
        "media time went backwards from {last:?} to {now:?}; reset the tracker after a stream restart"
    )]
    TimeWentBackwards { last: MediaTime, now: MediaTime },
}

/// The family a category belongs to: its first dotted segment (`vehicle.truck` ->
/// `vehicle`). Tracks only match detections of the same family, so a car that the
/// detector calls a truck for one frame keeps its track, while a person walking past a
/// parked car can never steal the car's id.
pub fn category_family(category: &Category) -> &str {
    let s = category.as_str();
    s.split('.').next().unwrap_or(s)
}

#[cfg(test)]
mod family_tests {
    use super::*;

    #[test]
    fn family_is_the_first_dotted_segment() {
        assert_eq!(category_family(&Category::new("vehicle.truck")), "vehicle");
        assert_eq!(category_family(&Category::new("vehicle.car")), "vehicle");
        assert_eq!(category_family(&Category::new("person")), "person");
        assert_eq!(
            category_family(&Category::new("road_damage.crack.longitudinal")),
            "road_damage"
        );
        assert_ne!(
            category_family(&Category::new("litter.bottle")),
            category_family(&Category::new("vehicle.car"))
        );
    }
}
