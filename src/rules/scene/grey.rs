//! Small grey pictures for the scene checks: an analysis frame reduced by an integer
//! box filter to about 256–320 pixels wide, and the cheap measures taken on it
//! (per-cell texture, sharpness).
//!
//! Everything here is plain integer/float loops over a few tens of thousands of
//! pixels, so one check costs a few milliseconds even on a small ARM core; the checks
//! run at most a few times a second.

// Pixel loops index several parallel arrays by position: clearer (and much faster in
// unoptimised test builds) than zipped iterators.
#![allow(clippy::needless_range_loop)]

/// Widest grey picture the checks use: frames are reduced by the smallest integer
/// factor that brings them to this width or below.
pub const MAX_WIDTH: u32 = 320;

/// An 8-bit grey picture, rows top to bottom, no padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grey {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl Grey {
    pub fn new(width: u32, height: u32, data: Vec<u8>) -> Option<Self> {
        (data.len() == width as usize * height as usize).then_some(Self {
            width,
            height,
            data,
        })
    }

    #[inline]
    pub fn at(&self, x: u32, y: u32) -> u8 {
        self.data[y as usize * self.width as usize + x as usize]
    }

    /// The reduction factor that brings `width` to at most [`MAX_WIDTH`].
    pub fn factor_for(width: u32) -> u32 {
        width.div_ceil(MAX_WIDTH).max(1)
    }

    /// Tightly packed RGB reduced to grey, one pixel per `k`×`k` block (k from
    /// [`Self::factor_for`]): the mean green level of the block's central 2×2 pixels
    /// (all of it when k = 1). Green carries most of the luma and needs no
    /// multiplications; four samples keep the cost independent of the frame size
    /// while still averaging away single-pixel noise. Partial blocks at the right and
    /// bottom edges are dropped. `None` when the buffer does not match the size or the
    /// picture is too small.
    pub fn from_rgb(width: u32, height: u32, rgb: &[u8]) -> Option<Self> {
        Self::from_samples(width, height, rgb, 3, 1)
    }

    /// The same from a luma plane (a YUV frame's Y, tightly packed): cameras deliver
    /// YUV, whose Y stands in for green at no cost.
    pub fn from_luma(width: u32, height: u32, y: &[u8]) -> Option<Self> {
        Self::from_samples(width, height, y, 1, 0)
    }

    /// One sample per pixel at `off` in every `px` bytes (green of RGB: 3, 1).
    fn from_samples(width: u32, height: u32, d: &[u8], px: usize, off: usize) -> Option<Self> {
        if d.len() != width as usize * height as usize * px {
            return None;
        }
        let k = Self::factor_for(width) as usize;
        let (w, h) = (width as usize / k, height as usize / k);
        if w < 32 || h < 32 {
            return None;
        }
        // The loop is in the `pixels` crate, optimised even in debug builds.
        let data = pixels::luma::reduce(d, width, px, off, k, w, h);
        Some(Self {
            width: w as u32,
            height: h as u32,
            data,
        })
    }

    /// Mean grey level.
    pub fn mean(&self) -> f32 {
        if self.data.is_empty() {
            return 0.0;
        }
        self.data.iter().map(|&v| v as u64).sum::<u64>() as f32 / self.data.len() as f32
    }

    /// The grey level below which `q` (0..1) of the pixels lie.
    pub fn percentile(&self, q: f32) -> u8 {
        let mut hist = [0u32; 256];
        for &v in &self.data {
            hist[v as usize] += 1;
        }
        let target = (q.clamp(0.0, 1.0) * self.data.len() as f32) as u32;
        let mut acc = 0;
        for (v, c) in hist.iter().enumerate() {
            acc += c;
            if acc > target {
                return v as u8;
            }
        }
        255
    }

    /// Contrast stretched so the 2nd and 98th percentiles become 0 and 255: features
    /// found on it do not depend on a global gain (dusk, IR mode, auto exposure).
    pub fn stretched(&self) -> Grey {
        let lo = self.percentile(0.02) as i32;
        let hi = self.percentile(0.98) as i32;
        let span = (hi - lo).max(8);
        let lut: Vec<u8> = (0..256)
            .map(|v| (((v - lo) * 255) / span).clamp(0, 255) as u8)
            .collect();
        Grey {
            width: self.width,
            height: self.height,
            data: self.data.iter().map(|&v| lut[v as usize]).collect(),
        }
    }

    /// 3×3 binomial blur (1-2-1), borders copied: BRIEF tests on it are stable under
    /// sensor noise and compression.
    pub fn blurred(&self) -> Grey {
        let (w, h) = (self.width as usize, self.height as usize);
        let mut tmp = self.data.clone();
        for y in 0..h {
            let r = &self.data[y * w..(y + 1) * w];
            for x in 1..w - 1 {
                tmp[y * w + x] =
                    ((r[x - 1] as u16 + 2 * r[x] as u16 + r[x + 1] as u16 + 2) / 4) as u8;
            }
        }
        let mut out = tmp.clone();
        for y in 1..h - 1 {
            for x in 0..w {
                let v = tmp[(y - 1) * w + x] as u16
                    + 2 * tmp[y * w + x] as u16
                    + tmp[(y + 1) * w + x] as u16;
                out[y * w + x] = ((v + 2) / 4) as u8;
            }
        }
        Grey {
            width: self.width,
            height: self.height,
            data: out,
        }
    }

    /// Picture data as an 8-bit grey PNG (the stored reference view).
    pub fn to_png(&self) -> Option<Vec<u8>> {
        let img = image::GrayImage::from_raw(self.width, self.height, self.data.clone())?;
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).ok()?;
        Some(out.into_inner())
    }

    /// Reads a grey PNG written by [`Self::to_png`].
    pub fn from_png(bytes: &[u8]) -> Option<Grey> {
        let img = image::load_from_memory_with_format(bytes, image::ImageFormat::Png)
            .ok()?
            .into_luma8();
        let (w, h) = img.dimensions();
        Grey::new(w, h, img.into_raw())
    }
}

/// Cells across and down for the texture map.
pub const CELLS_X: usize = 16;
pub const CELLS_Y: usize = 9;

/// What the blocked check compares: brightness and per-cell mean and spread of the
/// grey picture.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Texture {
    /// Mean grey level of the whole picture.
    pub mean: f32,
    /// 95th percentile of the grey level (is there any light at all?).
    pub p95: f32,
    /// Mean absolute gradient (|dx| + |dy|, halved) of the whole picture.
    pub grad: f32,
    /// Per cell (row-major, [`CELLS_X`]×[`CELLS_Y`]): mean level.
    pub cell_mean: Vec<f32>,
    /// Per cell: standard deviation of the level.
    pub cell_std: Vec<f32>,
}

fn cell_index(w: usize, h: usize) -> (Vec<usize>, Vec<usize>) {
    (
        (0..w).map(|x| (x * CELLS_X / w).min(CELLS_X - 1)).collect(),
        (0..h)
            .map(|y| (y * CELLS_Y / h).min(CELLS_Y - 1) * CELLS_X)
            .collect(),
    )
}

impl Texture {
    pub fn of(g: &Grey) -> Texture {
        let (w, h) = (g.width as usize, g.height as usize);
        let d = &g.data;
        let (col, row_cell) = cell_index(w, h);
        let mut sum = vec![0u64; CELLS_X * CELLS_Y];
        let mut sq = vec![0u64; CELLS_X * CELLS_Y];
        let mut n = vec![0u32; CELLS_X * CELLS_Y];
        let mut grad = 0u64;
        for y in 0..h {
            let row = y * w;
            let rc = row_cell[y];
            for x in 0..w {
                let v = d[row + x] as u64;
                let i = rc + col[x];
                sum[i] += v;
                sq[i] += v * v;
                n[i] += 1;
                if x + 1 < w && y + 1 < h {
                    grad += (d[row + x + 1] as i32 - v as i32).unsigned_abs() as u64
                        + (d[row + w + x] as i32 - v as i32).unsigned_abs() as u64;
                }
            }
        }
        let cell_mean: Vec<f32> = sum
            .iter()
            .zip(&n)
            .map(|(&s, &c)| (s as f64 / c.max(1) as f64) as f32)
            .collect();
        let cell_std = sq
            .iter()
            .zip(&n)
            .zip(&cell_mean)
            .map(|((&q, &c), &m)| {
                ((q as f64 / c.max(1) as f64 - (m as f64).powi(2)).max(0.0)).sqrt() as f32
            })
            .collect();
        Texture {
            mean: g.mean(),
            p95: g.percentile(0.95) as f32,
            grad: (grad as f64 / 2.0 / ((w - 1) * (h - 1)).max(1) as f64) as f32,
            cell_mean,
            cell_std,
        }
    }
}

/// Per cell, the normalised cross-correlation of `cur` with `reference` (both the same
/// size): 1 for the same structure whatever the brightness, about 0 for a uniform
/// card or an unrelated picture. Cells flat in either picture give 0.
pub fn cell_correlation(reference: &Grey, rt: &Texture, cur: &Grey, ct: &Texture) -> Vec<f32> {
    let (w, h) = (cur.width as usize, cur.height as usize);
    let (col, row_cell) = cell_index(w, h);
    let mut cross = vec![0f64; CELLS_X * CELLS_Y];
    let mut n = vec![0u32; CELLS_X * CELLS_Y];
    for y in 0..h {
        let row = y * w;
        let rc = row_cell[y];
        for x in 0..w {
            let i = rc + col[x];
            cross[i] += reference.data[row + x] as f64 * cur.data[row + x] as f64;
            n[i] += 1;
        }
    }
    (0..CELLS_X * CELLS_Y)
        .map(|i| {
            let (sr, sc) = (rt.cell_std[i] as f64, ct.cell_std[i] as f64);
            if sr < 0.5 || sc < 0.5 {
                return 0.0;
            }
            let cov =
                cross[i] / n[i].max(1) as f64 - rt.cell_mean[i] as f64 * ct.cell_mean[i] as f64;
            (cov / (sr * sc)) as f32
        })
        .collect()
}

/// Sharpness of a frame at its own resolution: variance of the Laplacian over the
/// variance of the green level, on every third row. A gain change scales both alike; blur
/// removes the fine detail the Laplacian sees long before it changes the picture's
/// overall contrast, so a defocused lens drops this to a small fraction (σ = 1.5 px:
/// 2–17 % on the sample videos) while traffic and day/night keep it within about
/// 0.35–2.2 times the reference's. Measured at full resolution because the reduced
/// grey picture no longer holds the detail blur removes.
pub fn sharpness(width: u32, height: u32, rgb: &[u8]) -> f32 {
    sharpness_of(width, height, rgb, 3, 1)
}

/// [`sharpness`] of a luma plane (a YUV frame's Y, tightly packed).
pub fn sharpness_luma(width: u32, height: u32, y: &[u8]) -> f32 {
    sharpness_of(width, height, y, 1, 0)
}

/// One sample per pixel at `off` in every `px` bytes (the loop is in the `pixels`
/// crate, optimised even in debug builds).
fn sharpness_of(width: u32, height: u32, d: &[u8], px: usize, off: usize) -> f32 {
    pixels::luma::sharpness(width, height, d, px, off)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rgb(w: u32, h: u32, f: impl Fn(u32, u32) -> u8) -> Vec<u8> {
        let mut v = Vec::new();
        for y in 0..h {
            for x in 0..w {
                let g = f(x, y);
                v.extend([g, g, g]);
            }
        }
        v
    }

    #[test]
    fn frames_are_reduced_by_an_integer_factor_to_at_most_320_wide() {
        let g = Grey::from_rgb(768, 432, &rgb(768, 432, |x, _| (x % 256) as u8)).unwrap();
        assert_eq!((g.width, g.height), (256, 144));
        // The centre 2x2 of each 3x3 block: x+1 and x+2.
        assert_eq!(g.at(0, 0), 1);
        assert_eq!(g.at(10, 5), 31);
        let g = Grey::from_rgb(1920, 1080, &rgb(1920, 1080, |_, _| 7)).unwrap();
        assert_eq!((g.width, g.height), (320, 180));
        assert_eq!(g.at(100, 100), 7);
        assert!(Grey::from_rgb(10, 10, &[0; 12]).is_none());
    }

    #[test]
    fn sharpness_is_gain_invariant_and_blur_lowers_it() {
        let (w, h) = (384, 216);
        let sharp = rgb(w, h, |x, y| if (x / 8 + y / 8) % 2 == 0 { 200 } else { 40 });
        let dark: Vec<u8> = sharp.iter().map(|v| v / 4).collect();
        let s = sharpness(w, h, &sharp);
        assert!((s - sharpness(w, h, &dark)).abs() / s < 0.1);
        let g = Grey::new(w, h, sharp.chunks(3).map(|c| c[0]).collect()).unwrap();
        let mut b = g.clone();
        for _ in 0..4 {
            b = b.blurred();
        }
        let blurred: Vec<u8> = b.data.iter().flat_map(|&v| [v, v, v]).collect();
        assert!(sharpness(w, h, &blurred) < 0.2 * s);
        // The same structure correlates whatever the gain; a flat card does not.
        let gd = Grey::new(w, h, dark.chunks(3).map(|c| c[0]).collect()).unwrap();
        let (t, td) = (Texture::of(&g), Texture::of(&gd));
        assert!(cell_correlation(&g, &t, &gd, &td).iter().all(|&c| c > 0.95));
        let flat = Grey::new(w, h, vec![128; (w * h) as usize]).unwrap();
        let tf = Texture::of(&flat);
        assert!(
            cell_correlation(&g, &t, &flat, &tf)
                .iter()
                .all(|&c| c == 0.0)
        );
        assert_eq!(t.cell_std.len(), CELLS_X * CELLS_Y);
    }

    #[test]
    fn png_round_trip() {
        let g = Grey::new(40, 33, (0..40 * 33).map(|i| (i % 251) as u8).collect()).unwrap();
        assert_eq!(Grey::from_png(&g.to_png().unwrap()).unwrap(), g);
    }
}
