//! RGB pictures for composing scenario frames from real material: cut a crop out of
//! one real frame, paste it into another, cover a region, zoom into part of a photo.
//!
//! Scenarios need events that sample footage does not contain (a bottle left where a
//! person walked, a parked car hidden by an obstacle). They are made by compositing
//! real pixels, so the detector still sees real objects; what was composited is for
//! each test to say in its doc comment.

use std::path::Path;

use super::CamsimError;

/// A tightly packed 8-bit RGB picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picture {
    pub width: u32,
    pub height: u32,
    /// `width * height * 3` bytes, rows top to bottom.
    pub rgb: Vec<u8>,
}

/// A rectangle in pixels: left, top, width, height.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

impl Rect {
    pub fn new(x: u32, y: u32, w: u32, h: u32) -> Self {
        Self { x, y, w, h }
    }
}

impl Picture {
    /// Wraps tightly packed RGB; `None` if the length does not match the size.
    pub fn from_rgb(width: u32, height: u32, rgb: Vec<u8>) -> Option<Self> {
        (rgb.len() == width as usize * height as usize * 3).then_some(Self { width, height, rgb })
    }

    /// Loads a JPEG or PNG still (e.g. a road photo from the RDD sample).
    pub fn load(path: &Path) -> Result<Self, CamsimError> {
        let img = image::open(path)
            .map_err(|e| CamsimError::Clip {
                path: path.to_path_buf(),
                reason: format!("cannot read the picture: {e}"),
            })?
            .into_rgb8();
        let (width, height) = img.dimensions();
        Ok(Self {
            width,
            height,
            rgb: img.into_raw(),
        })
    }

    /// The part of the picture inside `r`, clipped to the picture.
    pub fn crop(&self, r: Rect) -> Picture {
        let x0 = r.x.min(self.width);
        let y0 = r.y.min(self.height);
        let x1 = (r.x + r.w).min(self.width);
        let y1 = (r.y + r.h).min(self.height);
        let (w, h) = (x1 - x0, y1 - y0);
        let mut rgb = Vec::with_capacity(w as usize * h as usize * 3);
        for y in y0..y1 {
            let start = (y as usize * self.width as usize + x0 as usize) * 3;
            rgb.extend_from_slice(&self.rgb[start..start + w as usize * 3]);
        }
        Picture {
            width: w,
            height: h,
            rgb,
        }
    }

    /// Copies `other` onto this picture with its top left at (`x`, `y`); what falls
    /// outside is cut off.
    pub fn paste(&mut self, other: &Picture, x: u32, y: u32) {
        let w = other.width.min(self.width.saturating_sub(x)) as usize;
        for row in 0..other.height.min(self.height.saturating_sub(y)) as usize {
            let src = row * other.width as usize * 3;
            let dst = ((y as usize + row) * self.width as usize + x as usize) * 3;
            self.rgb[dst..dst + w * 3].copy_from_slice(&other.rgb[src..src + w * 3]);
        }
    }

    /// Paints `r` in one colour (an obstacle, a parked van's flank).
    pub fn fill(&mut self, r: Rect, colour: [u8; 3]) {
        let x1 = (r.x + r.w).min(self.width);
        for y in r.y..(r.y + r.h).min(self.height) {
            for x in r.x.min(x1)..x1 {
                let i = (y as usize * self.width as usize + x as usize) * 3;
                self.rgb[i..i + 3].copy_from_slice(&colour);
            }
        }
    }

    /// Scaled to `width` x `height` with bilinear filtering: e.g. a zoom into part of
    /// a photo, which makes everything in it larger.
    pub fn resized(&self, width: u32, height: u32) -> Picture {
        let img = image::RgbImage::from_raw(self.width, self.height, self.rgb.clone())
            .expect("a Picture's buffer matches its size");
        let out = image::imageops::resize(&img, width, height, image::imageops::Triangle);
        Picture {
            width,
            height,
            rgb: out.into_raw(),
        }
    }

    /// What the camera sees after turning by `deg` degrees (clockwise) about the
    /// centre, zooming by `zoom` and shifting by (`dx`, `dy`) pixels: every output
    /// pixel is read (bilinear) from where the old view had it. Where the old view has
    /// nothing, its edge pixels are repeated, as a wider scene would continue them.
    pub fn moved(&self, dx: f32, dy: f32, deg: f32, zoom: f32) -> Picture {
        let (w, h) = (self.width as usize, self.height as usize);
        let (c, s) = (deg.to_radians().cos(), deg.to_radians().sin());
        let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
        let zoom = zoom.max(0.01);
        let mut rgb = vec![0u8; w * h * 3];
        for y in 0..h {
            for x in 0..w {
                // Inverse of: p' = zoom * R * (p - c) + c + d.
                let (px, py) = ((x as f32 - cx - dx) / zoom, (y as f32 - cy - dy) / zoom);
                let sx = (c * px + s * py + cx).clamp(0.0, (w - 1) as f32);
                let sy = (-s * px + c * py + cy).clamp(0.0, (h - 1) as f32);
                let (x0, y0) = (sx.floor() as usize, sy.floor() as usize);
                let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
                let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
                for ch in 0..3 {
                    let v = |xx: usize, yy: usize| self.rgb[(yy * w + xx) * 3 + ch] as f32;
                    let top = v(x0, y0) * (1.0 - fx) + v(x1, y0) * fx;
                    let bottom = v(x0, y1) * (1.0 - fx) + v(x1, y1) * fx;
                    rgb[(y * w + x) * 3 + ch] = (top * (1.0 - fy) + bottom * fy).round() as u8;
                }
            }
        }
        Picture {
            width: self.width,
            height: self.height,
            rgb,
        }
    }

    /// Gaussian blur with standard deviation `sigma` pixels (a defocused lens).
    pub fn blurred(&self, sigma: f32) -> Picture {
        let r = (sigma * 3.0).ceil().max(1.0) as isize;
        let k: Vec<f32> = (-r..=r)
            .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
            .collect();
        let norm: f32 = k.iter().sum();
        let (w, h) = (self.width as isize, self.height as isize);
        let pass = |src: &[u8], horizontal: bool| -> Vec<u8> {
            let mut out = vec![0u8; src.len()];
            for y in 0..h {
                for x in 0..w {
                    for ch in 0..3 {
                        let mut acc = 0.0;
                        for (j, kv) in k.iter().enumerate() {
                            let o = j as isize - r;
                            let (xx, yy) = if horizontal {
                                ((x + o).clamp(0, w - 1), y)
                            } else {
                                (x, (y + o).clamp(0, h - 1))
                            };
                            acc += kv * src[((yy * w + xx) * 3) as usize + ch] as f32;
                        }
                        out[((y * w + x) * 3) as usize + ch] = (acc / norm).round() as u8;
                    }
                }
            }
            out
        };
        let once = pass(&self.rgb, true);
        Picture {
            width: self.width,
            height: self.height,
            rgb: pass(&once, false),
        }
    }

    /// Every channel multiplied by `gain` (dusk, night exposure, a headlight flare).
    pub fn brightness(&self, gain: f32) -> Picture {
        Picture {
            width: self.width,
            height: self.height,
            rgb: self
                .rgb
                .iter()
                .map(|&v| (v as f32 * gain).round().clamp(0.0, 255.0) as u8)
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: u32, h: u32) -> Picture {
        let rgb = (0..w * h)
            .flat_map(|i| [(i % w) as u8, (i / w) as u8, 7])
            .collect();
        Picture::from_rgb(w, h, rgb).unwrap()
    }

    fn px(p: &Picture, x: u32, y: u32) -> [u8; 3] {
        let i = (y * p.width + x) as usize * 3;
        [p.rgb[i], p.rgb[i + 1], p.rgb[i + 2]]
    }

    #[test]
    fn a_moved_view_shifts_its_pixels_and_repeats_the_edge() {
        let src = gradient(20, 10);
        let m = src.moved(3.0, 0.0, 0.0, 1.0);
        assert_eq!(px(&m, 10, 4), px(&src, 7, 4));
        assert_eq!(px(&m, 1, 4), px(&src, 0, 4), "edge repeated");
        let same = src.moved(0.0, 0.0, 0.0, 1.0);
        assert_eq!(same, src);
        let dark = src.brightness(0.5);
        assert_eq!(px(&dark, 10, 4), [5, 2, 4]);
        let flat = Picture::from_rgb(9, 9, vec![90; 243]).unwrap();
        assert_eq!(flat.blurred(1.5), flat);
    }

    #[test]
    fn a_crop_pasted_elsewhere_carries_its_pixels_and_is_cut_at_the_border() {
        let src = gradient(20, 10);
        let crop = src.crop(Rect::new(15, 5, 10, 10));
        assert_eq!((crop.width, crop.height), (5, 5), "clipped to the picture");
        let mut dst = gradient(8, 8);
        dst.paste(&crop, 6, 6);
        assert_eq!(px(&dst, 6, 6), [15, 5, 7]);
        assert_eq!(px(&dst, 7, 7), [16, 6, 7]);
        assert_eq!(px(&dst, 5, 5), [5, 5, 7], "outside the paste untouched");
    }

    #[test]
    fn fill_paints_only_inside_the_rectangle_and_the_picture() {
        let mut p = gradient(6, 6);
        p.fill(Rect::new(4, 4, 10, 10), [1, 2, 3]);
        assert_eq!(px(&p, 5, 5), [1, 2, 3]);
        assert_eq!(px(&p, 3, 5), [3, 5, 7]);
    }

    #[test]
    fn resizing_scales_content_with_the_picture() {
        let mut p = Picture::from_rgb(4, 4, vec![0; 48]).unwrap();
        p.fill(Rect::new(0, 0, 2, 4), [200, 200, 200]);
        let big = p.resized(8, 8);
        assert_eq!((big.width, big.height, big.rgb.len()), (8, 8, 192));
        assert_eq!(px(&big, 1, 4), [200, 200, 200]);
        assert_eq!(px(&big, 6, 4), [0, 0, 0]);
    }

    #[test]
    fn a_buffer_of_the_wrong_length_is_refused() {
        assert!(Picture::from_rgb(2, 2, vec![0; 11]).is_none());
    }
}
