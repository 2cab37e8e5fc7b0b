//! The plate detector's output (`plate_corners` format): RetinaFace-style regression
//! against a fixed grid of square priors. For each prior the network gives a box
//! offset (`loc`, 4), plate / not-plate probabilities (`conf`, 2) and the offsets of
//! the plate's four corners (`landms`, 8, in the order bottom-right, bottom-left,
//! top-left, top-right). Priors are regenerated for each input size (the network is
//! fully convolutional), boxes decoded with the manifest's variances, then NMS.

use super::super::BBox;

/// A plate found in the detector's input, in input pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlateBox {
    pub bbox: BBox,
    /// Corners top-left, top-right, bottom-right, bottom-left.
    pub corners: [[f32; 2]; 4],
    pub score: f32,
}

impl PlateBox {
    /// Mean length of the top and bottom edges: the plate's width in pixels
    /// whatever its rotation or perspective.
    pub fn width_px(&self) -> f32 {
        let d = |a: [f32; 2], b: [f32; 2]| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
        (d(self.corners[0], self.corners[1]) + d(self.corners[3], self.corners[2])) / 2.0
    }

    /// Mean length of the left and right edges.
    pub fn height_px(&self) -> f32 {
        let d = |a: [f32; 2], b: [f32; 2]| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
        (d(self.corners[0], self.corners[3]) + d(self.corners[1], self.corners[2])) / 2.0
    }

    /// Maps every coordinate through `f` (input pixels -> picture pixels).
    pub fn map(&self, f: impl Fn(f32, f32) -> (f32, f32)) -> PlateBox {
        let (x1, y1) = f(self.bbox.x1, self.bbox.y1);
        let (x2, y2) = f(self.bbox.x2, self.bbox.y2);
        let mut corners = self.corners;
        for c in &mut corners {
            let (x, y) = f(c[0], c[1]);
            *c = [x, y];
        }
        PlateBox {
            bbox: BBox::new(x1, y1, x2, y2),
            corners,
            score: self.score,
        }
    }
}

/// Priors `(cx, cy, w, h)` normalised to the input, in the network's output order:
/// per stride, row-major over the grid, each anchor size in turn.
pub fn priors(width: u32, height: u32, strides: &[u32], sizes: &[Vec<f32>]) -> Vec<[f32; 4]> {
    let (w, h) = (width as f32, height as f32);
    let mut out = Vec::new();
    for (s, anchor) in strides.iter().zip(sizes) {
        let (gw, gh) = (width.div_ceil(*s), height.div_ceil(*s));
        let sf = *s as f32;
        for gy in 0..gh {
            for gx in 0..gw {
                for &a in anchor {
                    out.push([
                        (gx as f32 + 0.5) * sf / w,
                        (gy as f32 + 0.5) * sf / h,
                        a / w,
                        a / h,
                    ]);
                }
            }
        }
    }
    out
}

/// Why the detector's outputs could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("plate detector output has {got} priors' worth of values, expected {expected}")]
pub struct SizeError {
    pub got: usize,
    pub expected: usize,
}

/// Decodes plates scoring at least `threshold`, best first, after NMS at `nms_iou`,
/// at most `max` of them. Coordinates are input pixels.
#[allow(clippy::too_many_arguments)]
pub fn decode(
    loc: &[f32],
    conf: &[f32],
    landms: &[f32],
    priors: &[[f32; 4]],
    variance: [f32; 2],
    input_w: u32,
    input_h: u32,
    threshold: f32,
    nms_iou: f32,
    max: usize,
) -> Result<Vec<PlateBox>, SizeError> {
    let n = priors.len();
    if loc.len() != n * 4 || conf.len() != n * 2 || landms.len() != n * 8 {
        return Err(SizeError {
            got: loc.len() / 4,
            expected: n,
        });
    }
    let (w, h) = (input_w as f32, input_h as f32);
    let mut found = Vec::new();
    for (i, p) in priors.iter().enumerate() {
        let score = conf[i * 2 + 1];
        if score < threshold {
            continue;
        }
        let l = &loc[i * 4..i * 4 + 4];
        let cx = p[0] + l[0] * variance[0] * p[2];
        let cy = p[1] + l[1] * variance[0] * p[3];
        let bw = p[2] * (l[2] * variance[1]).exp();
        let bh = p[3] * (l[3] * variance[1]).exp();
        let bbox = BBox::new(
            (cx - bw / 2.0) * w,
            (cy - bh / 2.0) * h,
            (cx + bw / 2.0) * w,
            (cy + bh / 2.0) * h,
        );
        let m = &landms[i * 8..i * 8 + 8];
        let pt = |k: usize| {
            [
                (p[0] + m[2 * k] * variance[0] * p[2]) * w,
                (p[1] + m[2 * k + 1] * variance[0] * p[3]) * h,
            ]
        };
        // Network order BR, BL, TL, TR -> TL, TR, BR, BL.
        let corners = [pt(2), pt(3), pt(0), pt(1)];
        found.push(PlateBox {
            bbox,
            corners,
            score,
        });
    }
    found.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<PlateBox> = Vec::new();
    for f in found {
        if kept.len() >= max {
            break;
        }
        if kept.iter().all(|k| k.bbox.iou(&f.bbox) <= nms_iou) {
            kept.push(f);
        }
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priors_cover_every_grid_cell_and_anchor() {
        let p = priors(64, 32, &[8, 16], &[vec![24.0, 48.0], vec![96.0]]);
        assert_eq!(p.len(), 8 * 4 * 2 + 4 * 2);
        assert_eq!(p[0], [4.0 / 64.0, 4.0 / 32.0, 24.0 / 64.0, 24.0 / 32.0]);
        assert_eq!(p[1][2], 48.0 / 64.0);
    }

    #[test]
    fn zero_offsets_decode_to_the_prior_and_nms_keeps_the_best() {
        let pri = vec![
            [0.5, 0.5, 0.25, 0.25],
            [0.5, 0.5, 0.25, 0.25],
            [0.1, 0.1, 0.1, 0.1],
        ];
        let loc = vec![0.0; 12];
        let conf = vec![0.1, 0.9, 0.2, 0.8, 0.9, 0.1];
        let mut landms = vec![0.0; 24];
        // First prior's top-left corner (network index 2) pushed left.
        landms[4] = -1.0;
        let out = decode(
            &loc,
            &conf,
            &landms,
            &pri,
            [0.1, 0.2],
            100,
            100,
            0.5,
            0.4,
            8,
        )
        .unwrap();
        assert_eq!(
            out.len(),
            1,
            "the duplicate is suppressed, the low score dropped"
        );
        let b = out[0];
        assert!((b.bbox.x1 - 37.5).abs() < 1e-3 && (b.bbox.x2 - 62.5).abs() < 1e-3);
        assert!(
            (b.corners[0][0] - (50.0 - 2.5)).abs() < 1e-3,
            "{:?}",
            b.corners
        );
        assert!((b.corners[2][0] - 50.0).abs() < 1e-3);
    }

    #[test]
    fn a_wrong_output_size_is_an_error() {
        let pri = vec![[0.5, 0.5, 0.25, 0.25]];
        assert!(
            decode(
                &[0.0; 8],
                &[0.0; 2],
                &[0.0; 8],
                &pri,
                [0.1, 0.2],
                10,
                10,
                0.5,
                0.4,
                8
            )
            .is_err()
        );
    }
}
