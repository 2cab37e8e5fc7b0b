//! Output decoders: raw head tensors -> scored candidate boxes in model-input pixels.
//! Each anchor keeps only its best class (as the YOLOX and Ultralytics references do),
//! and is dropped unless that score reaches the class's threshold.

use super::detection::BBox;

/// Why an output tensor could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("output has {got} values, expected {expected} ({what})")]
    Size {
        got: usize,
        expected: usize,
        what: String,
    },
}

/// A box before NMS, in model-input pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub class_id: u32,
    pub score: f32,
    pub bbox: BBox,
}

fn best_class(scores: impl Iterator<Item = f32>) -> (usize, f32) {
    let mut best = (0, f32::NEG_INFINITY);
    for (c, s) in scores.enumerate() {
        if s > best.1 {
            best = (c, s);
        }
    }
    best
}

/// Raw YOLOX head `[N, 5 + nc]` (N = sum over strides of (W/s)*(H/s), row-major grid).
/// `thresholds[c]` is the minimum score of class c.
pub fn yolox(
    data: &[f32],
    input_w: u32,
    input_h: u32,
    strides: &[u32],
    thresholds: &[f32],
    out: &mut Vec<Candidate>,
) -> Result<(), DecodeError> {
    let nc = thresholds.len();
    let row = 5 + nc;
    let anchors: usize = strides
        .iter()
        .map(|s| (input_w / s) as usize * (input_h / s) as usize)
        .sum();
    if data.len() != anchors * row {
        return Err(DecodeError::Size {
            got: data.len(),
            expected: anchors * row,
            what: format!("{anchors} anchors x (5 + {nc} classes)"),
        });
    }
    let min_thr = thresholds.iter().copied().fold(f32::INFINITY, f32::min);
    let mut i = 0;
    for &s in strides {
        let (gw, gh) = (input_w / s, input_h / s);
        let sf = s as f32;
        for gy in 0..gh {
            for gx in 0..gw {
                let r = &data[i * row..(i + 1) * row];
                i += 1;
                let obj = r[4];
                if obj < min_thr {
                    continue;
                }
                let (c, cls) = best_class(r[5..].iter().copied());
                let score = obj * cls;
                if score < thresholds[c] {
                    continue;
                }
                let cx = (r[0] + gx as f32) * sf;
                let cy = (r[1] + gy as f32) * sf;
                let w = r[2].exp() * sf;
                let h = r[3].exp() * sf;
                out.push(Candidate {
                    class_id: c as u32,
                    score,
                    bbox: BBox::new(cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0),
                });
            }
        }
    }
    Ok(())
}

/// Ultralytics `[4 + nc, N]`: rows cx, cy, w, h (input pixels) then one row per class.
pub fn ultralytics(
    data: &[f32],
    thresholds: &[f32],
    out: &mut Vec<Candidate>,
) -> Result<(), DecodeError> {
    let nc = thresholds.len();
    if data.is_empty() || !data.len().is_multiple_of(4 + nc) {
        return Err(DecodeError::Size {
            got: data.len(),
            expected: (4 + nc) * (data.len() / (4 + nc)).max(1),
            what: format!("(4 + {nc} classes) x anchors"),
        });
    }
    let n = data.len() / (4 + nc);
    for i in 0..n {
        let (c, score) = best_class((0..nc).map(|c| data[(4 + c) * n + i]));
        if score < thresholds[c] {
            continue;
        }
        let (cx, cy, w, h) = (data[i], data[n + i], data[2 * n + i], data[3 * n + i]);
        out.push(Candidate {
            class_id: c as u32,
            score,
            bbox: BBox::new(cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0),
        });
    }
    Ok(())
}

/// End-to-end exports (NMS inside the graph): `boxes [N, 4]` x1, y1, x2, y2 in input
/// pixels, `scores [N]`, `classes [N]`. Unknown class ids are ignored.
pub fn end2end(
    boxes: &[f32],
    scores: &[f32],
    classes: &[i64],
    thresholds: &[f32],
    out: &mut Vec<Candidate>,
) -> Result<(), DecodeError> {
    let n = scores.len();
    if boxes.len() != 4 * n || classes.len() != n {
        return Err(DecodeError::Size {
            got: boxes.len(),
            expected: 4 * n,
            what: format!("boxes for {n} scores and {} classes", classes.len()),
        });
    }
    for i in 0..n {
        let c = classes[i];
        if c < 0 || c as usize >= thresholds.len() || scores[i] < thresholds[c as usize] {
            continue;
        }
        let b = &boxes[4 * i..4 * i + 4];
        out.push(Candidate {
            class_id: c as u32,
            score: scores[i],
            bbox: BBox::new(b[0], b[1], b[2], b[3]),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yolox_decodes_grid_offsets_and_log_sizes_with_stride() {
        // 16x16 input, stride 8 -> 2x2 grid; 1 class. Anchor 3 = (gx 1, gy 1).
        let mut data = vec![0.0; 4 * 6];
        data[3 * 6..4 * 6].copy_from_slice(&[0.5, 0.5, 0.0, (2.0f32).ln(), 0.9, 0.8]);
        let mut out = Vec::new();
        yolox(&data, 16, 16, &[8], &[0.5], &mut out).unwrap();
        assert_eq!(out.len(), 1);
        let c = out[0];
        assert!((c.score - 0.72).abs() < 1e-6);
        // cx = 1.5*8 = 12, cy = 12, w = 8, h = 16
        assert_eq!(c.bbox, BBox::new(8.0, 4.0, 16.0, 20.0));
    }

    #[test]
    fn yolox_rejects_a_tensor_of_the_wrong_size() {
        let mut out = Vec::new();
        assert!(yolox(&[0.0; 10], 16, 16, &[8], &[0.5], &mut out).is_err());
    }

    #[test]
    fn ultralytics_reads_transposed_rows_and_applies_class_threshold() {
        // 2 anchors, 2 classes: anchor 0 best class 1 (0.6), anchor 1 best class 0 (0.4).
        let data = [
            10.0, 50.0, // cx
            10.0, 50.0, // cy
            4.0, 8.0, // w
            6.0, 8.0, // h
            0.1, 0.4, // class 0
            0.6, 0.2, // class 1
        ];
        let mut out = Vec::new();
        ultralytics(&data, &[0.5, 0.5], &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].class_id, 1);
        assert_eq!(out[0].bbox, BBox::new(8.0, 7.0, 12.0, 13.0));
        out.clear();
        ultralytics(&data, &[0.3, 0.5], &mut out).unwrap();
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn end2end_keeps_boxes_as_given_and_skips_unknown_classes() {
        let boxes = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        let mut out = Vec::new();
        end2end(&boxes, &[0.9, 0.9], &[0, 7], &[0.5], &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].bbox, BBox::new(1.0, 2.0, 3.0, 4.0));
    }
}
