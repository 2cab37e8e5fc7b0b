//! Precision/recall of detections against YOLO-format labels (`cls cx cy w h`,
//! normalised), class-aware at an IoU threshold. Used to check the road-damage path
//! end to end and to compare the Rust pipeline with the Python reference.

use super::detection::{BBox, Detection};
use serde::Serialize;
use std::path::Path;

/// Why labels could not be read.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("label file {path}: {reason}")]
    Labels { path: String, reason: String },
}

/// One ground-truth box in image pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroundTruth {
    pub class_id: u32,
    pub bbox: BBox,
}

/// Read a YOLO label file for an image of `width` x `height`. A missing file means no
/// objects; a file without a trailing newline is fine.
pub fn read_yolo_labels(
    path: &Path,
    width: u32,
    height: u32,
) -> Result<Vec<GroundTruth>, EvalError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(EvalError::Labels {
                path: path.display().to_string(),
                reason: e.to_string(),
            });
        }
    };
    let (w, h) = (width as f32, height as f32);
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.is_empty() {
            continue;
        }
        let bad = || EvalError::Labels {
            path: path.display().to_string(),
            reason: format!("line {}: expected `cls cx cy w h`", n + 1),
        };
        if parts.len() != 5 {
            return Err(bad());
        }
        let class_id: u32 = parts[0].parse().map_err(|_| bad())?;
        let v: Vec<f32> = parts[1..]
            .iter()
            .map(|p| p.parse::<f32>())
            .collect::<Result<_, _>>()
            .map_err(|_| bad())?;
        let (cx, cy, bw, bh) = (v[0], v[1], v[2], v[3]);
        out.push(GroundTruth {
            class_id,
            bbox: BBox::new(
                (cx - bw / 2.0) * w,
                (cy - bh / 2.0) * h,
                (cx + bw / 2.0) * w,
                (cy + bh / 2.0) * h,
            ),
        });
    }
    Ok(out)
}

/// True/false positives and misses for one class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Counts {
    pub tp: u32,
    pub fp: u32,
    pub fn_: u32,
}

impl Counts {
    pub fn precision(&self) -> f64 {
        if self.tp + self.fp == 0 {
            0.0
        } else {
            self.tp as f64 / (self.tp + self.fp) as f64
        }
    }
    pub fn recall(&self) -> f64 {
        if self.tp + self.fn_ == 0 {
            0.0
        } else {
            self.tp as f64 / (self.tp + self.fn_) as f64
        }
    }
}

/// Accumulates counts over a data set.
#[derive(Debug, Clone)]
pub struct Evaluator {
    pub iou: f32,
    pub per_class: Vec<Counts>,
}

impl Evaluator {
    pub fn new(num_classes: usize, iou: f32) -> Self {
        Self {
            iou,
            per_class: vec![Counts::default(); num_classes],
        }
    }

    /// Greedy class-aware matching for one image: best-scoring detections first, each
    /// takes the unmatched ground truth of its class with the highest IoU >= threshold.
    pub fn add_image(&mut self, dets: &[Detection], gts: &[GroundTruth]) {
        let mut order: Vec<&Detection> = dets.iter().collect();
        order.sort_by(|a, b| b.score.total_cmp(&a.score));
        let mut used = vec![false; gts.len()];
        for d in order {
            let mut best = (self.iou, None);
            for (j, g) in gts.iter().enumerate() {
                if used[j] || g.class_id != d.class_id {
                    continue;
                }
                let v = d.bbox.iou(&g.bbox);
                if v >= best.0 {
                    best = (v, Some(j));
                }
            }
            let Some(c) = self.per_class.get_mut(d.class_id as usize) else {
                continue;
            };
            match best.1 {
                Some(j) => {
                    used[j] = true;
                    c.tp += 1;
                }
                None => c.fp += 1,
            }
        }
        for (j, g) in gts.iter().enumerate() {
            if !used[j]
                && let Some(c) = self.per_class.get_mut(g.class_id as usize)
            {
                c.fn_ += 1;
            }
        }
    }

    /// Counts summed over classes (micro average).
    pub fn overall(&self) -> Counts {
        self.per_class
            .iter()
            .fold(Counts::default(), |a, c| Counts {
                tp: a.tp + c.tp,
                fp: a.fp + c.fp,
                fn_: a.fn_ + c.fn_,
            })
    }

    /// A printable table: one row per class, then the overall row.
    pub fn report(&self, class_names: &[String]) -> String {
        let mut s = format!(
            "{:<20} {:>9} {:>7} {:>5} {:>5} {:>5}\n",
            "class", "precision", "recall", "tp", "fp", "fn"
        );
        let rows = self
            .per_class
            .iter()
            .enumerate()
            .map(|(i, c)| {
                (
                    class_names.get(i).cloned().unwrap_or_else(|| i.to_string()),
                    *c,
                )
            })
            .chain(std::iter::once(("overall".to_string(), self.overall())));
        for (name, c) in rows {
            s.push_str(&format!(
                "{name:<20} {:>9.3} {:>7.3} {:>5} {:>5} {:>5}\n",
                c.precision(),
                c.recall(),
                c.tp,
                c.fp,
                c.fn_
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infer::Category;
    use std::sync::Arc;

    fn det(class_id: u32, score: f32, b: BBox) -> Detection {
        Detection {
            category: Category::new("x"),
            class_name: String::new(),
            class_id,
            score,
            bbox: b,
            model_id: Arc::from("m"),
        }
    }

    #[test]
    fn a_box_matches_only_ground_truth_of_its_class_once() {
        let g = BBox::new(0.0, 0.0, 10.0, 10.0);
        let gts = [GroundTruth {
            class_id: 1,
            bbox: g,
        }];
        let mut e = Evaluator::new(2, 0.5);
        e.add_image(&[det(1, 0.9, g), det(1, 0.8, g), det(0, 0.7, g)], &gts);
        assert_eq!(
            e.per_class[1],
            Counts {
                tp: 1,
                fp: 1,
                fn_: 0
            }
        );
        assert_eq!(
            e.per_class[0],
            Counts {
                tp: 0,
                fp: 1,
                fn_: 0
            }
        );
        assert!((e.overall().precision() - 1.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn labels_without_trailing_newline_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        std::fs::write(&p, "2 0.5 0.5 0.2 0.4\n6 0.1 0.1 0.1 0.1").unwrap();
        let l = read_yolo_labels(&p, 100, 50).unwrap();
        assert_eq!(l.len(), 2);
        assert!(
            l[0].bbox.iou(&BBox::new(40.0, 15.0, 60.0, 35.0)) > 0.9999,
            "{:?}",
            l[0].bbox
        );
        assert!(
            read_yolo_labels(&dir.path().join("none.txt"), 1, 1)
                .unwrap()
                .is_empty()
        );
    }
}
