//! Per-zone object filters: which detections count inside a zone (minimum score,
//! minimum size, classes), so a technician can keep noise (a distant blur scored 0.31,
//! a bicycle in a car lane) out of the rules and the evidence without touching the
//! model's thresholds for every camera.
//!
//! Applied by the façade right after privacy masking, before the tracker: a detection
//! whose anchor lies in one or more zones counts when at least one of those zones
//! accepts it (a zone without a filter accepts everything); one that no zone contains
//! is kept (it may walk into a zone later and the tracker needs its history).

use serde::{Deserialize, Serialize};

use super::zone::{Zone, ZoneError};
use crate::infer::Detection;

/// Class entries per filter: the categories of a general detector and then some.
pub const MAX_FILTER_CLASSES: usize = 32;

/// Which detections count in a zone. Every field is optional; an empty filter
/// accepts everything.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectFilter {
    /// Lowest detector score that counts, 0..1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_score: Option<f32>,
    /// Smallest box height that counts, as a fraction of the picture height (0.05 = 5%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_height: Option<f32>,
    /// Categories that count (`vehicle.car`, or a prefix such as `vehicle`); empty =
    /// every category.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<String>,
}

fn bad(field: &'static str, reason: &'static str) -> ZoneError {
    ZoneError::BadFilter { field, reason }
}

impl ObjectFilter {
    /// True when the filter accepts everything (nothing to write in the config).
    pub fn is_any(&self) -> bool {
        self.min_score.is_none() && self.min_height.is_none() && self.classes.is_empty()
    }

    pub fn validate(&self) -> Result<(), ZoneError> {
        if let Some(s) = self.min_score
            && !(s.is_finite() && (0.0..=1.0).contains(&s))
        {
            return Err(bad("min_score", "must be a score from 0 to 1"));
        }
        if let Some(h) = self.min_height
            && !(h.is_finite() && h > 0.0 && h <= 1.0)
        {
            return Err(bad(
                "min_height",
                "must be a fraction of the picture height above 0 and at most 1 (0.05 = 5%)",
            ));
        }
        if self.classes.len() > MAX_FILTER_CLASSES {
            return Err(bad("classes", "lists more than 32 categories"));
        }
        let name_ok = |c: &String| {
            !c.is_empty()
                && c.len() <= 64
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
        };
        if !self.classes.iter().all(name_ok) {
            return Err(bad(
                "classes",
                "holds a name that is not a category such as \"vehicle.car\" or \"litter\"",
            ));
        }
        Ok(())
    }

    /// Whether `d` counts, on a picture `frame_h` pixels high.
    pub fn accepts(&self, d: &Detection, frame_h: u32) -> bool {
        if self.min_score.is_some_and(|s| d.score < s) {
            return false;
        }
        if let Some(min) = self.min_height {
            let h = (d.bbox.y2 - d.bbox.y1) / frame_h.max(1) as f32;
            if h < min {
                return false;
            }
        }
        self.classes.is_empty() || self.classes.iter().any(|c| d.category.is_under(c))
    }
}

/// Whether the zones' filters keep `d` (see the module comment for the rule).
pub fn counts(d: &Detection, frame_w: u32, frame_h: u32, zones: &[Zone]) -> bool {
    let mut inside_any = false;
    for z in zones.iter().filter(|z| !z.is_privacy()) {
        if z.contains_box(&d.category, &d.bbox, frame_w, frame_h) {
            if z.filter.accepts(d, frame_h) {
                return true;
            }
            inside_any = true;
        }
    }
    !inside_any
}

/// Drop the detections no zone lets count.
pub fn drop_filtered(detections: &mut Vec<Detection>, frame_w: u32, frame_h: u32, zones: &[Zone]) {
    if zones.iter().any(|z| !z.filter.is_any()) {
        detections.retain(|d| counts(d, frame_w, frame_h, zones));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infer::{BBox, Category};
    use crate::rules::zone::{Polygon, ZoneRule};
    use std::sync::Arc;

    fn det(cat: &str, score: f32, y1: f32, y2: f32) -> Detection {
        Detection {
            category: Category::new(cat),
            class_name: "x".into(),
            class_id: 0,
            score,
            bbox: BBox::new(10.0, y1, 60.0, y2),
            model_id: Arc::from("m"),
        }
    }

    fn zone(filter: ObjectFilter) -> Zone {
        Zone {
            id: "z".into(),
            name: String::new(),
            polygon: Polygon(vec![[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]),
            location: String::new(),
            coordinates: None,
            grid_code: None,
            asset_id: None,
            preset: None,
            filter,
            rules: vec![ZoneRule::NoParking {
                dwell_s: 60.0,
                update_every_s: 300.0,
                leave_after_s: 60.0,
                merge_window_s: 0.0,
                evidence_interval_s: None,
                schedule: Default::default(),
            }],
        }
    }

    #[test]
    fn a_filter_drops_low_scores_small_boxes_and_other_classes_inside_its_zone_only() {
        let f = ObjectFilter {
            min_score: Some(0.5),
            min_height: Some(0.1),
            classes: vec!["vehicle".into()],
        };
        f.validate().unwrap();
        let zones = [zone(f)];
        let mut dets = vec![
            det("vehicle.car", 0.9, 20.0, 60.0),   // kept
            det("vehicle.car", 0.4, 20.0, 60.0),   // score too low
            det("vehicle.car", 0.9, 50.0, 55.0),   // 5 px of 100: too small
            det("person", 0.9, 20.0, 60.0),        // not a vehicle
            det("litter.bottle", 0.9, 20.0, 60.0), // not a vehicle either
        ];
        drop_filtered(&mut dets, 200, 100, &zones);
        assert_eq!(dets.len(), 1, "{dets:?}");
        assert_eq!(dets[0].score, 0.9);
        // Outside every zone: kept, whatever it is.
        let mut outside = vec![Detection {
            bbox: BBox::new(150.0, 10.0, 190.0, 12.0),
            ..det("person", 0.1, 0.0, 0.0)
        }];
        drop_filtered(&mut outside, 200, 100, &zones);
        assert_eq!(outside.len(), 1);
    }

    #[test]
    fn an_overlapping_zone_without_a_filter_lets_a_detection_count() {
        let strict = zone(ObjectFilter {
            min_score: Some(0.95),
            ..Default::default()
        });
        let open = Zone {
            id: "open".into(),
            ..zone(ObjectFilter::default())
        };
        let d = det("vehicle.car", 0.6, 20.0, 60.0);
        assert!(!counts(&d, 200, 100, std::slice::from_ref(&strict)));
        assert!(counts(&d, 200, 100, &[strict, open]));
    }

    #[test]
    fn bad_filters_are_refused_with_the_field_named() {
        let e = ObjectFilter {
            min_score: Some(1.5),
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        assert!(e.to_string().contains("min_score"), "{e}");
        let e = ObjectFilter {
            min_height: Some(0.0),
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        assert!(e.to_string().contains("min_height"), "{e}");
        let e = ObjectFilter {
            classes: vec!["Car!".into()],
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        assert!(e.to_string().contains("classes"), "{e}");
        assert!(ObjectFilter::default().is_any());
    }
}
