//! One analysed frame from several models: a camera may run a vehicle detector and a
//! road-damage model on the same frames. Their results arrive separately (each model
//! has its own service and may skip frames when it falls behind), but the tracker and
//! the rules must see one frame with every detection, or a car would vanish from every
//! other update. Results are grouped by media time and released once every model has
//! reported that frame; a frame some model skipped is dropped when a later frame
//! completes (each model reports in time order, so it will not come any more).

use crate::infer::Detection;
use crate::infer::worker::Analysed;
use crate::ingest::MediaTime;
use std::collections::BTreeMap;

/// Frames waiting for the other models' results; bounded so a model that stops
/// answering cannot grow memory (the oldest goes first).
const MAX_WAITING: usize = 16;

/// A frame with the results of every model.
#[derive(Debug, Clone, PartialEq)]
pub struct MergedFrame {
    pub time: MediaTime,
    pub width: u32,
    pub height: u32,
    pub detections: Vec<Detection>,
    /// Inference errors of this frame (one per failing model).
    pub errors: Vec<String>,
}

#[derive(Debug)]
struct Waiting {
    frame: MergedFrame,
    /// Bit i: model i reported.
    seen: u64,
}

/// Groups the results of `models` models by frame.
#[derive(Debug)]
pub struct Merger {
    models: usize,
    waiting: BTreeMap<i64, Waiting>,
}

impl Merger {
    pub fn new(models: usize) -> Self {
        Merger {
            models: models.clamp(1, 64),
            waiting: BTreeMap::new(),
        }
    }

    /// Add model `index`'s result; returns the frames now complete, oldest first.
    pub fn add(&mut self, index: usize, a: Analysed) -> Vec<MergedFrame> {
        let t = a.time.0;
        let w = self.waiting.entry(t).or_insert_with(|| Waiting {
            frame: MergedFrame {
                time: a.time,
                width: a.width,
                height: a.height,
                detections: Vec::new(),
                errors: Vec::new(),
            },
            seen: 0,
        });
        w.seen |= 1 << index.min(63);
        match a.detections {
            Ok(d) => w.frame.detections.extend(d),
            Err(e) => w.frame.errors.push(e),
        }
        let all = if self.models >= 64 {
            u64::MAX
        } else {
            (1u64 << self.models) - 1
        };
        let mut out = Vec::new();
        if w.seen & all == all {
            // Older frames still waiting were skipped by some model: drop them.
            let newer = self.waiting.split_off(&(t + 1));
            let mut done = std::mem::replace(&mut self.waiting, newer);
            if let Some(w) = done.remove(&t) {
                out.push(w.frame);
            }
        }
        while self.waiting.len() > MAX_WAITING {
            self.waiting.pop_first();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    fn result(t: i64, class: &str) -> Analysed {
        Analysed {
            camera_id: Arc::from("cam"),
            pts_ns: t as u64,
            time: MediaTime(t),
            width: 640,
            height: 360,
            detections: Ok(vec![Detection {
                category: crate::infer::Category::new("vehicle.car"),
                class_name: class.into(),
                class_id: 0,
                score: 0.9,
                bbox: crate::infer::BBox::new(0.0, 0.0, 10.0, 10.0),
                model_id: Arc::from(class),
            }]),
            latency: Duration::ZERO,
        }
    }

    #[test]
    fn one_model_releases_every_frame_at_once() {
        let mut m = Merger::new(1);
        assert_eq!(m.add(0, result(1, "car")).len(), 1);
        assert_eq!(m.add(0, result(2, "car")).len(), 1);
    }

    #[test]
    fn two_models_release_a_frame_once_both_reported_with_all_detections() {
        let mut m = Merger::new(2);
        assert!(m.add(0, result(1, "car")).is_empty());
        assert!(m.add(0, result(2, "car")).is_empty());
        let f = m.add(1, result(1, "pothole"));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].time, MediaTime(1));
        let classes: Vec<&str> = f[0]
            .detections
            .iter()
            .map(|d| d.class_name.as_str())
            .collect();
        assert_eq!(classes, ["car", "pothole"]);
        // The slow model skipped frame 2 and reports 3: frame 2 is dropped, 3 goes.
        assert!(m.add(1, result(3, "pothole")).is_empty());
        let f = m.add(0, result(3, "car"));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].time, MediaTime(3));
        assert!(m.waiting.is_empty());
    }

    #[test]
    fn a_silent_model_cannot_grow_memory() {
        let mut m = Merger::new(2);
        for t in 0..100 {
            assert!(m.add(0, result(t, "car")).is_empty());
        }
        assert_eq!(m.waiting.len(), MAX_WAITING);
    }
}
