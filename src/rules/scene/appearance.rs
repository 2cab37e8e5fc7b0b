//! What a parked vehicle looks like, to tell on the next visit of a patrolling camera
//! (or after an operator moved it and back) whether the vehicle standing in the same
//! place is the same one.
//!
//! Two cheap, complementary cues from the vehicle's box: a coarse colour histogram of
//! its inner part, taken relative to its mean brightness (robust to small shifts,
//! partial occlusion and a little more or less light, blind to shape) and an 8×8 grey
//! thumbnail compared by normalised correlation (shape and shading, blind to colour,
//! insensitive to overall brightness). The same car seen again from the
//! same preset scores close to 1 on both; another car of another colour fails the
//! histogram, another car of the same colour usually fails the thumbnail.
//!
//! Limits (documented for the operator): two vehicles of the same colour and body
//! shape in the same place within one patrol cycle are taken for one; strong
//! lighting changes between visits (sun to shade) lower the scores and may end a stay
//! that continued. A plate, where a plate reader provides one, overrides both.

/// Bins per colour channel of the histogram (4 × 4 × 4 = 64 bins).
const BINS: usize = 4;
/// Score at or above which two appearances are the same vehicle.
pub const SAME_VEHICLE: f32 = 0.6;

/// A reduced RGB copy of the latest analysis frame, and the factor it was reduced by.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SmallPicture {
    pub width: u32,
    pub height: u32,
    /// Analysis-frame pixels per pixel of this picture.
    pub factor: u32,
    pub rgb: Vec<u8>,
}

/// Widest reduced copy kept for appearances.
const MAX_WIDTH: u32 = 640;

impl SmallPicture {
    /// A camera's decoded frame, sampled the same way; a YUV frame converts only the
    /// sampled pixels.
    pub fn of_frame(f: &crate::ingest::Frame) -> Option<SmallPicture> {
        use crate::ingest::PixelFormat;
        if f.format == PixelFormat::Rgb {
            return Self::of(f.width, f.height, &f.data);
        }
        let p = f.yuv420()?;
        let (w, h) = (f.width, f.height);
        let k = w.div_ceil(MAX_WIDTH).max(1);
        let (sw, sh) = (w / k, h / k);
        let mut out = Vec::new();
        p.sample_rgb(k, &mut out);
        Some(SmallPicture {
            width: sw,
            height: sh,
            factor: k,
            rgb: out,
        })
    }

    /// `rgb` tightly packed `w`×`h`, reduced by sampling to at most 640 pixels wide.
    pub fn of(w: u32, h: u32, rgb: &[u8]) -> Option<SmallPicture> {
        if rgb.len() != w as usize * h as usize * 3 || w == 0 || h == 0 {
            return None;
        }
        let k = w.div_ceil(MAX_WIDTH).max(1);
        let (sw, sh) = (w / k, h / k);
        let mut out = Vec::new();
        pixels::sample_rgb(rgb, w, h, k, &mut out);
        Some(SmallPicture {
            width: sw,
            height: sh,
            factor: k,
            rgb: out,
        })
    }
}

/// A vehicle's appearance.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Appearance {
    /// Normalised colour histogram (sums to 1).
    pub hist: Vec<f32>,
    /// 8×8 grey thumbnail of the whole box.
    pub thumb: Vec<u8>,
}

impl Appearance {
    /// The appearance of the box `(x1, y1, x2, y2)` (analysis-frame pixels) in `p`;
    /// None when the box is too small to tell anything (under 8 pixels a side in the
    /// reduced picture).
    pub fn of(p: &SmallPicture, b: (f32, f32, f32, f32)) -> Option<Appearance> {
        let k = p.factor.max(1) as f32;
        let clampx = |v: f32| (v / k).clamp(0.0, p.width as f32);
        let clampy = |v: f32| (v / k).clamp(0.0, p.height as f32);
        let (x1, y1, x2, y2) = (clampx(b.0), clampy(b.1), clampx(b.2), clampy(b.3));
        if x2 - x1 < 8.0 || y2 - y1 < 8.0 {
            return None;
        }
        let px = |x: usize, y: usize| {
            let i = (y * p.width as usize + x) * 3;
            [p.rgb[i], p.rgb[i + 1], p.rgb[i + 2]]
        };
        // Histogram of the inner 60 %: the box edge holds road and neighbours.
        let (w, h) = (x2 - x1, y2 - y1);
        let (ix1, iy1) = ((x1 + 0.2 * w) as usize, (y1 + 0.2 * h) as usize);
        let (ix2, iy2) = ((x2 - 0.2 * w) as usize, (y2 - 0.2 * h) as usize);
        let inner = |f: &mut dyn FnMut([u8; 3])| {
            for y in iy1..iy2.max(iy1 + 1) {
                for x in ix1..ix2.max(ix1 + 1) {
                    f(px(
                        x.min(p.width as usize - 1),
                        y.min(p.height as usize - 1),
                    ));
                }
            }
        };
        // Colours are taken relative to the box's mean brightness, so that the same
        // car a little darker (a cloud, evening) falls in the same bins.
        let mut lum = (0f32, 0f32);
        inner(&mut |[r, g, b]| {
            lum.0 += 0.299 * r as f32 + 0.587 * g as f32 + 0.114 * b as f32;
            lum.1 += 1.0;
        });
        let gain = (128.0 / (lum.0 / lum.1.max(1.0)).max(1.0)).clamp(0.25, 4.0);
        let mut hist = vec![0f32; BINS * BINS * BINS];
        let mut n = 0f32;
        inner(&mut |[r, g, b]| {
            let bin = |v: u8| ((v as f32 * gain).min(255.0) as usize) * BINS / 256;
            hist[(bin(r) * BINS + bin(g)) * BINS + bin(b)] += 1.0;
            n += 1.0;
        });
        hist.iter_mut().for_each(|v| *v /= n.max(1.0));
        let mut thumb = Vec::with_capacity(64);
        for ty in 0..8 {
            for tx in 0..8 {
                // Mean of the thumbnail cell, sampled on a 3×3 grid.
                let mut s = 0u32;
                for sy in 0..3 {
                    for sx in 0..3 {
                        let x = x1 + w * (tx as f32 + (sx as f32 + 0.5) / 3.0) / 8.0;
                        let y = y1 + h * (ty as f32 + (sy as f32 + 0.5) / 3.0) / 8.0;
                        let [r, g, b] = px(
                            (x as usize).min(p.width as usize - 1),
                            (y as usize).min(p.height as usize - 1),
                        );
                        s += (77 * r as u32 + 150 * g as u32 + 29 * b as u32) >> 8;
                    }
                }
                thumb.push((s / 9) as u8);
            }
        }
        Some(Appearance { hist, thumb })
    }

    /// How alike two appearances are, 0..1: the mean of the histogram intersection
    /// and the thumbnails' correlation (negative correlation counts as 0).
    pub fn similarity(&self, other: &Appearance) -> f32 {
        let inter: f32 = self
            .hist
            .iter()
            .zip(&other.hist)
            .map(|(a, b)| a.min(*b))
            .sum();
        let mean = |t: &[u8]| t.iter().map(|&v| v as f32).sum::<f32>() / t.len().max(1) as f32;
        let (ma, mb) = (mean(&self.thumb), mean(&other.thumb));
        let (mut sab, mut saa, mut sbb) = (0f32, 0f32, 0f32);
        for (a, b) in self.thumb.iter().zip(&other.thumb) {
            let (da, db) = (*a as f32 - ma, *b as f32 - mb);
            sab += da * db;
            saa += da * da;
            sbb += db * db;
        }
        // A flat thumbnail (a uniformly coloured van side) says nothing about shape:
        // the histogram alone decides.
        let ncc = if saa < 64.0 || sbb < 64.0 {
            inter
        } else {
            (sab / (saa * sbb).sqrt()).max(0.0)
        };
        0.5 * inter + 0.5 * ncc
    }

    pub fn same_vehicle(&self, other: &Appearance) -> bool {
        self.similarity(other) >= SAME_VEHICLE
    }
}

#[cfg(test)]
pub(crate) mod tests {

    /// A checkerboard-and-gradient YUV frame (odd chroma rounding included).
    pub(crate) fn yuv_frame(w: u32, h: u32) -> crate::ingest::Frame {
        use crate::ingest::{Frame, PixelFormat, Yuv, YuvMatrix};
        let format = PixelFormat::I420(Yuv {
            matrix: YuvMatrix::Bt709,
            full_range: false,
        });
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let mut data = Vec::with_capacity(Frame::expected_len(format, w, h));
        for y in 0..h {
            for x in 0..w {
                data.push(if (x / 9 + y / 7) % 2 == 0 { 200 } else { 40 });
            }
        }
        for plane in 0..2u32 {
            for y in 0..ch {
                for x in 0..cw {
                    data.push((60 + plane * 70 + x * 90 / cw + y * 20 / ch) as u8);
                }
            }
        }
        Frame {
            camera_id: std::sync::Arc::from("c"),
            pts_ns: 0,
            time: crate::ingest::MediaTime(0),
            width: w,
            height: h,
            format,
            data,
        }
    }

    /// The appearance copy of a YUV frame, converting only the sampled pixels, is the
    /// copy of its whole-frame RGB conversion.
    #[test]
    fn a_yuv_frame_gives_the_small_picture_of_its_rgb_conversion() {
        for (w, h) in [(1281u32, 721u32), (640, 360), (100, 50)] {
            let f = yuv_frame(w, h);
            let rgb = f.to_rgb();
            assert_eq!(
                SmallPicture::of_frame(&f),
                SmallPicture::of(w, h, &rgb.data),
                "{w}x{h}"
            );
        }
    }
    use super::*;

    fn picture(f: impl Fn(u32, u32) -> [u8; 3]) -> SmallPicture {
        let (w, h) = (200u32, 100u32);
        let rgb: Vec<u8> = (0..w * h).flat_map(|i| f(i % w, i / w)).collect();
        SmallPicture::of(w, h, &rgb).unwrap()
    }

    #[test]
    fn the_same_car_matches_and_another_colour_or_shape_does_not() {
        // A red car with a dark window band, on grey road.
        let red = |x: u32, y: u32| {
            if (50..150).contains(&x) && (30..80).contains(&y) {
                if y < 45 { [40, 40, 50] } else { [200, 30, 30] }
            } else {
                [110, 110, 110]
            }
        };
        let a = Appearance::of(&picture(red), (50.0, 30.0, 150.0, 80.0)).unwrap();
        // Seen again a little darker and one pixel off.
        let again = picture(|x, y| red(x.saturating_sub(1), y).map(|v| (v as f32 * 0.9) as u8));
        let b = Appearance::of(&again, (50.0, 30.0, 150.0, 80.0)).unwrap();
        assert!(a.same_vehicle(&b), "{}", a.similarity(&b));
        let blue = picture(|x, y| {
            let [r, g, b] = red(x, y);
            if r == 200 { [30, 30, 200] } else { [r, g, b] }
        });
        let c = Appearance::of(&blue, (50.0, 30.0, 150.0, 80.0)).unwrap();
        assert!(!a.same_vehicle(&c), "{}", a.similarity(&c));
        // Same colour, window band at the bottom instead of the top.
        let other_shape = picture(|x, y| {
            if (50..150).contains(&x) && (30..80).contains(&y) {
                if y >= 65 { [40, 40, 50] } else { [200, 30, 30] }
            } else {
                [110, 110, 110]
            }
        });
        let d = Appearance::of(&other_shape, (50.0, 30.0, 150.0, 80.0)).unwrap();
        assert!(!a.same_vehicle(&d), "{}", a.similarity(&d));
        assert!(Appearance::of(&picture(red), (0.0, 0.0, 5.0, 5.0)).is_none());
    }
}
