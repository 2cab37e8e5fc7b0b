//! Class-aware non-maximum suppression: a box only suppresses boxes of its own class, so
//! a person standing in front of a car keeps both.

use super::decode::Candidate;

/// Keep the highest-scoring boxes, dropping any box whose IoU with a kept box of the
/// same class exceeds `iou`. Result is sorted by score (ties keep input order) and holds
/// at most `max` boxes. `order` is scratch space reused between calls.
pub fn class_aware(
    candidates: &[Candidate],
    iou: f32,
    max: usize,
    order: &mut Vec<usize>,
    kept: &mut Vec<Candidate>,
) {
    order.clear();
    order.extend(0..candidates.len());
    // Stable sort so equal scores resolve the same way as numpy's stable argsort.
    order.sort_by(|&a, &b| candidates[b].score.total_cmp(&candidates[a].score));
    kept.clear();
    for &i in order.iter() {
        if kept.len() >= max {
            break;
        }
        let c = &candidates[i];
        let suppressed = kept
            .iter()
            .any(|k| k.class_id == c.class_id && k.bbox.iou(&c.bbox) > iou);
        if !suppressed {
            kept.push(*c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infer::BBox;

    fn cand(class_id: u32, score: f32, x: f32) -> Candidate {
        Candidate {
            class_id,
            score,
            bbox: BBox::new(x, 0.0, x + 10.0, 10.0),
        }
    }

    #[test]
    fn overlapping_box_of_same_class_is_suppressed_other_class_kept() {
        let c = [
            cand(0, 0.8, 0.0),
            cand(0, 0.9, 1.0),
            cand(1, 0.7, 0.0),
            cand(0, 0.5, 50.0),
        ];
        let (mut order, mut kept) = (Vec::new(), Vec::new());
        class_aware(&c, 0.45, 100, &mut order, &mut kept);
        let scores: Vec<f32> = kept.iter().map(|k| k.score).collect();
        assert_eq!(scores, vec![0.9, 0.7, 0.5]);
    }

    #[test]
    fn at_most_max_boxes_are_kept() {
        let c: Vec<_> = (0..10)
            .map(|i| cand(0, 0.1 * i as f32, 20.0 * i as f32))
            .collect();
        let (mut order, mut kept) = (Vec::new(), Vec::new());
        class_aware(&c, 0.45, 3, &mut order, &mut kept);
        assert_eq!(kept.len(), 3);
        assert!((kept[0].score - 0.9).abs() < 1e-6);
    }
}
