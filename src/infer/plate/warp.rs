//! Perspective geometry for plates: the homography between four point pairs, and a
//! warp that samples a quadrilateral of a picture into an upright rectangle (plate
//! rectification), or a rectangle into a quadrilateral (pasting a rendered plate in
//! simulations).
//!
//! A plate seen from a pole-mounted camera is a trapezoid, often rotated; the
//! recogniser reads an upright text line. Four corners fix the perspective exactly,
//! which a box alone cannot.

/// A 3x3 homography, row-major, mapping (x, y, 1) to (x', y', w').
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Homography(pub [f64; 9]);

impl Homography {
    /// The homography mapping each `from[i]` onto `to[i]`; `None` when three of the
    /// points are collinear (no perspective maps them).
    pub fn from_points(from: &[[f32; 2]; 4], to: &[[f32; 2]; 4]) -> Option<Self> {
        // h33 = 1; two equations per point pair, 8 unknowns.
        let mut a = [[0.0f64; 9]; 8];
        for i in 0..4 {
            let (x, y) = (f64::from(from[i][0]), f64::from(from[i][1]));
            let (u, v) = (f64::from(to[i][0]), f64::from(to[i][1]));
            a[2 * i] = [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, u];
            a[2 * i + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, v];
        }
        let h = solve8(&mut a)?;
        Some(Self([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], 1.0]))
    }

    /// Maps a point; `None` at infinity.
    pub fn apply(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        let h = &self.0;
        let w = h[6] * x + h[7] * y + h[8];
        if w.abs() < 1e-12 {
            return None;
        }
        Some((
            (h[0] * x + h[1] * y + h[2]) / w,
            (h[3] * x + h[4] * y + h[5]) / w,
        ))
    }

    /// The composition `self ∘ other` (apply `other` first).
    pub fn then_after(&self, other: &Homography) -> Homography {
        let (a, b) = (&self.0, &other.0);
        let mut m = [0.0; 9];
        for r in 0..3 {
            for c in 0..3 {
                m[r * 3 + c] = (0..3).map(|k| a[r * 3 + k] * b[k * 3 + c]).sum();
            }
        }
        Homography(m)
    }
}

/// Gaussian elimination with partial pivoting on an 8x9 augmented matrix.
fn solve8(a: &mut [[f64; 9]; 8]) -> Option<[f64; 8]> {
    for col in 0..8 {
        let pivot = (col..8).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-10 {
            return None;
        }
        a.swap(col, pivot);
        for row in 0..8 {
            if row != col {
                let f = a[row][col] / a[col][col];
                if f != 0.0 {
                    let pivot_row = a[col];
                    for (v, p) in a[row].iter_mut().zip(pivot_row.iter()).skip(col) {
                        *v -= f * p;
                    }
                }
            }
        }
    }
    let mut x = [0.0; 8];
    for (i, xi) in x.iter_mut().enumerate() {
        *xi = a[i][8] / a[i][i];
    }
    Some(x)
}

/// A borrowed, tightly packed RGB picture.
#[derive(Debug, Clone, Copy)]
pub struct RgbView<'a> {
    pub data: &'a [u8],
    pub width: u32,
    pub height: u32,
}

impl RgbView<'_> {
    /// Bilinear sample at (x, y) in pixel-centre coordinates (pixel i covers i..i+1,
    /// its centre is i + 0.5); outside the picture the nearest edge pixel is used.
    pub fn sample(&self, x: f64, y: f64) -> [f32; 3] {
        let (w, h) = (self.width as i64, self.height as i64);
        let fx = (x - 0.5).clamp(0.0, (w - 1) as f64);
        let fy = (y - 0.5).clamp(0.0, (h - 1) as f64);
        let (x0, y0) = (fx.floor() as i64, fy.floor() as i64);
        let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
        let (tx, ty) = ((fx - x0 as f64) as f32, (fy - y0 as f64) as f32);
        let px = |x: i64, y: i64| {
            let i = ((y * w + x) * 3) as usize;
            [
                f32::from(self.data[i]),
                f32::from(self.data[i + 1]),
                f32::from(self.data[i + 2]),
            ]
        };
        let (a, b, c, d) = (px(x0, y0), px(x1, y0), px(x0, y1), px(x1, y1));
        let mut out = [0.0; 3];
        for k in 0..3 {
            let top = a[k] + (b[k] - a[k]) * tx;
            let bottom = c[k] + (d[k] - c[k]) * tx;
            out[k] = top + (bottom - top) * ty;
        }
        out
    }
}

/// Samples `src` into a `w` x `h` RGB picture: output pixel (u, v) shows `src` at
/// `to_src(u + 0.5, v + 0.5)`. Where one output pixel covers several source pixels
/// (a big plate read small) it averages a k x k grid of samples, so the text does not
/// alias.
pub fn warp(src: &RgbView<'_>, to_src: &Homography, w: u32, h: u32) -> Vec<u8> {
    // Source pixels per output pixel, measured at the centre.
    let (cx, cy) = (f64::from(w) / 2.0, f64::from(h) / 2.0);
    let span = match (
        to_src.apply(cx, cy),
        to_src.apply(cx + 1.0, cy),
        to_src.apply(cx, cy + 1.0),
    ) {
        (Some(c), Some(r), Some(d)) => {
            let sx = ((r.0 - c.0).powi(2) + (r.1 - c.1).powi(2)).sqrt();
            let sy = ((d.0 - c.0).powi(2) + (d.1 - c.1).powi(2)).sqrt();
            sx.max(sy)
        }
        _ => 1.0,
    };
    let k = (span.ceil() as u32).clamp(1, 4);
    let step = 1.0 / f64::from(k);
    let mut out = Vec::with_capacity((w * h * 3) as usize);
    for v in 0..h {
        for u in 0..w {
            let mut acc = [0.0f32; 3];
            for j in 0..k {
                for i in 0..k {
                    let x = f64::from(u) + (f64::from(i) + 0.5) * step;
                    let y = f64::from(v) + (f64::from(j) + 0.5) * step;
                    let (sx, sy) = to_src.apply(x, y).unwrap_or((-1.0, -1.0));
                    let p = src.sample(sx, sy);
                    for c in 0..3 {
                        acc[c] += p[c];
                    }
                }
            }
            let n = (k * k) as f32;
            for a in acc {
                out.push((a / n).round().clamp(0.0, 255.0) as u8);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_homography_maps_the_four_points_and_inverts() {
        let from = [[0.0, 0.0], [100.0, 0.0], [100.0, 30.0], [0.0, 30.0]];
        let to = [[10.0, 20.0], [120.0, 30.0], [118.0, 70.0], [8.0, 55.0]];
        let h = Homography::from_points(&from, &to).unwrap();
        for (f, t) in from.iter().zip(&to) {
            let (x, y) = h.apply(f64::from(f[0]), f64::from(f[1])).unwrap();
            assert!((x - f64::from(t[0])).abs() < 1e-6 && (y - f64::from(t[1])).abs() < 1e-6);
        }
        let back = Homography::from_points(&to, &from).unwrap();
        let (x, y) = back.then_after(&h).apply(50.0, 15.0).unwrap();
        assert!((x - 50.0).abs() < 1e-6 && (y - 15.0).abs() < 1e-6);
    }

    #[test]
    fn collinear_points_have_no_homography() {
        let from = [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [3.0, 3.0]];
        let to = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]];
        assert!(Homography::from_points(&from, &to).is_none());
    }

    #[test]
    fn warping_a_quadrant_reproduces_its_colour() {
        // Left half red, right half blue; warp the right half into 8x8.
        let (w, h) = (20u32, 10u32);
        let data: Vec<u8> = (0..w * h)
            .flat_map(|i| if i % w < 10 { [255, 0, 0] } else { [0, 0, 255] })
            .collect();
        let src = RgbView {
            data: &data,
            width: w,
            height: h,
        };
        let rect = [[0.0, 0.0], [8.0, 0.0], [8.0, 8.0], [0.0, 8.0]];
        let quad = [[11.0, 1.0], [19.0, 1.0], [19.0, 9.0], [11.0, 9.0]];
        let to_src = Homography::from_points(&rect, &quad).unwrap();
        let out = warp(&src, &to_src, 8, 8);
        assert!(out.chunks(3).all(|p| p == [0, 0, 255]), "{out:?}");
    }
}
