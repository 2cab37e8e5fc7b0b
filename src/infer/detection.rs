//! The typed output of every detector.

use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// An axis-aligned box in original frame pixels (x1, y1 top-left; x2, y2 bottom-right).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct BBox {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
}

impl BBox {
    pub fn new(x1: f32, y1: f32, x2: f32, y2: f32) -> Self {
        Self { x1, y1, x2, y2 }
    }
    pub fn width(&self) -> f32 {
        (self.x2 - self.x1).max(0.0)
    }
    pub fn height(&self) -> f32 {
        (self.y2 - self.y1).max(0.0)
    }
    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }
    pub fn center(&self) -> (f32, f32) {
        ((self.x1 + self.x2) / 2.0, (self.y1 + self.y2) / 2.0)
    }
    /// Bottom-centre: where a vehicle or a person touches the ground.
    pub fn bottom_center(&self) -> (f32, f32) {
        ((self.x1 + self.x2) / 2.0, self.y2)
    }
    pub fn intersection(&self, o: &BBox) -> f32 {
        let w = (self.x2.min(o.x2) - self.x1.max(o.x1)).max(0.0);
        let h = (self.y2.min(o.y2) - self.y1.max(o.y1)).max(0.0);
        w * h
    }
    pub fn iou(&self, o: &BBox) -> f32 {
        let inter = self.intersection(o);
        let union = self.area() + o.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }
}

/// A streetwatch category such as `vehicle.car`, `person`, `litter.bottle`,
/// `road_damage.pothole` or `road_damage.crack.longitudinal`. Rules select on the
/// prefix, so a new model only needs a manifest mapping, not code.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Category(pub Arc<str>);

impl Category {
    pub fn new(s: &str) -> Self {
        Self(Arc::from(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// True when this category is `prefix` or below it (`vehicle` matches `vehicle.car`).
    pub fn is_under(&self, prefix: &str) -> bool {
        let s = self.as_str();
        s == prefix || (s.starts_with(prefix) && s.as_bytes().get(prefix.len()) == Some(&b'.'))
    }
    pub fn is_vehicle(&self) -> bool {
        self.is_under("vehicle")
    }
    pub fn is_person(&self) -> bool {
        self.is_under("person")
    }
    pub fn is_litter(&self) -> bool {
        self.is_under("litter")
    }
    pub fn is_road_damage(&self) -> bool {
        self.is_under("road_damage")
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One detected object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    pub category: Category,
    /// The model's own class name (e.g. `car`, `pothole`).
    pub class_name: String,
    pub class_id: u32,
    pub score: f32,
    /// Box in original frame pixels.
    pub bbox: BBox,
    pub model_id: Arc<str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_prefix_matching_respects_dot_boundaries() {
        assert!(Category::new("vehicle.car").is_vehicle());
        assert!(Category::new("road_damage.crack.transverse").is_under("road_damage.crack"));
        assert!(!Category::new("vehicles").is_vehicle());
        assert!(!Category::new("person").is_vehicle());
    }

    #[test]
    fn iou_of_identical_boxes_is_one_and_disjoint_zero() {
        let a = BBox::new(0.0, 0.0, 10.0, 10.0);
        assert!((a.iou(&a) - 1.0).abs() < 1e-6);
        assert_eq!(a.iou(&BBox::new(20.0, 20.0, 30.0, 30.0)), 0.0);
        assert!((a.iou(&BBox::new(5.0, 0.0, 15.0, 10.0)) - 1.0 / 3.0).abs() < 1e-6);
    }
}
