//! Frame -> input tensor in one pass: bilinear letterbox resize, colour order, scaling and
//! layout are fused so each output value is written exactly once and nothing is
//! allocated per frame (sampling tables are rebuilt only when the frame size changes).

use super::letterbox::Letterbox;
use super::manifest::{ColourOrder, InputSpec, Layout, PixelRange};

/// Why a frame could not be preprocessed.
#[derive(Debug, thiserror::Error)]
pub enum PreprocessError {
    #[error("frame is {width}x{height} but carries {len} bytes (expected packed RGB, {expected})")]
    BadFrame {
        width: u32,
        height: u32,
        len: usize,
        expected: usize,
    },
    #[error("output buffer holds {len} values, the input tensor needs {expected}")]
    BadOutput { len: usize, expected: usize },
}

/// One source sample position on an axis: two neighbours and the weight of the second.
#[derive(Debug, Clone, Copy)]
struct Tap {
    i0: u32,
    i1: u32,
    w: f32,
}

/// Reusable preprocessing state for one model input.
#[derive(Debug)]
pub struct Preprocessor {
    dst_w: u32,
    dst_h: u32,
    layout: Layout,
    align: super::manifest::Align,
    /// Output channel c reads source (RGB) channel `src_ch[c]`.
    src_ch: [usize; 3],
    /// value = pixel * mul[c] + add[c] (scaling, mean and std folded together).
    mul: [f32; 3],
    add: [f32; 3],
    pad: [f32; 3],
    cached: Option<(u32, u32)>,
    lb: Letterbox,
    xs: Vec<Tap>,
    ys: Vec<Tap>,
}

impl Preprocessor {
    pub fn new(spec: &InputSpec) -> Self {
        let (h, w) = match spec.layout {
            Layout::Nchw => (spec.shape[2], spec.shape[3]),
            Layout::Nhwc => (spec.shape[1], spec.shape[2]),
        };
        let k = match spec.range {
            PixelRange::Unit => 1.0 / 255.0,
            PixelRange::Byte => 1.0,
        };
        let src_ch = match spec.colour {
            ColourOrder::Rgb => [0, 1, 2],
            ColourOrder::Bgr => [2, 1, 0],
        };
        let mut mul = [0.0; 3];
        let mut add = [0.0; 3];
        let mut pad = [0.0; 3];
        for c in 0..3 {
            mul[c] = k / spec.std[c];
            add[c] = -spec.mean[c] / spec.std[c];
            pad[c] = spec.pad_value as f32 * mul[c] + add[c];
        }
        Self {
            dst_w: w as u32,
            dst_h: h as u32,
            layout: spec.layout,
            align: spec.align,
            src_ch,
            mul,
            add,
            pad,
            cached: None,
            lb: Letterbox::fit(1, 1, w as u32, h as u32, spec.align),
            xs: Vec::new(),
            ys: Vec::new(),
        }
    }

    /// Number of f32 values one image occupies in the input tensor.
    pub fn len(&self) -> usize {
        3 * self.dst_w as usize * self.dst_h as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Write the letterboxed frame (packed RGB, `width` x `height`) into `out` and
    /// return the letterbox needed to map boxes back.
    pub fn run(
        &mut self,
        rgb: &[u8],
        width: u32,
        height: u32,
        out: &mut [f32],
    ) -> Result<Letterbox, PreprocessError> {
        let expected = width as usize * height as usize * 3;
        if rgb.len() != expected || width == 0 || height == 0 {
            return Err(PreprocessError::BadFrame {
                width,
                height,
                len: rgb.len(),
                expected,
            });
        }
        if out.len() != self.len() {
            return Err(PreprocessError::BadOutput {
                len: out.len(),
                expected: self.len(),
            });
        }
        if self.cached != Some((width, height)) {
            self.rebuild(width, height);
        }
        let lb = self.lb;
        let (dw, dh) = (self.dst_w as usize, self.dst_h as usize);
        let plane = dw * dh;
        let stride = width as usize * 3;
        let (px, py) = (lb.pad_x as usize, lb.pad_y as usize);
        let (nw, nh) = (lb.new_w as usize, lb.new_h as usize);
        let (mul, add, pad, ch) = (self.mul, self.add, self.pad, self.src_ch);
        let (xs, ys) = (&self.xs, &self.ys);
        // Bilinear sample at one horizontal tap between two source rows, then colour
        // order and scaling.
        let pixel = |r0: &[u8], r1: &[u8], wy: f32, t: Tap| -> [f32; 3] {
            let (i0, i1) = (t.i0 as usize * 3, t.i1 as usize * 3);
            let (a, b) = (&r0[i0..i0 + 3], &r0[i1..i1 + 3]);
            let (c, d) = (&r1[i0..i0 + 3], &r1[i1..i1 + 3]);
            let mut v = [0f32; 3];
            for k in 0..3 {
                let top = a[k] as f32 + (b[k] as f32 - a[k] as f32) * t.w;
                let bot = c[k] as f32 + (d[k] as f32 - c[k] as f32) * t.w;
                v[k] = top + (bot - top) * wy;
            }
            [
                v[ch[0]] * mul[0] + add[0],
                v[ch[1]] * mul[1] + add[1],
                v[ch[2]] * mul[2] + add[2],
            ]
        };
        let rows = |y: usize| -> Option<(&[u8], &[u8], f32)> {
            if y < py || y >= py + nh {
                return None;
            }
            let t = ys[y - py];
            let r0 = &rgb[t.i0 as usize * stride..][..stride];
            let r1 = &rgb[t.i1 as usize * stride..][..stride];
            Some((r0, r1, t.w))
        };
        match self.layout {
            Layout::Nchw => {
                let (p0, rest) = out.split_at_mut(plane);
                let (p1, p2) = rest.split_at_mut(plane);
                for y in 0..dh {
                    let span = y * dw..(y + 1) * dw;
                    let (o0, o1, o2) =
                        (&mut p0[span.clone()], &mut p1[span.clone()], &mut p2[span]);
                    let Some((r0, r1, wy)) = rows(y) else {
                        o0.fill(pad[0]);
                        o1.fill(pad[1]);
                        o2.fill(pad[2]);
                        continue;
                    };
                    for (o, v) in [(&mut *o0, pad[0]), (&mut *o1, pad[1]), (&mut *o2, pad[2])] {
                        o[..px].fill(v);
                        o[px + nw..].fill(v);
                    }
                    let (o0, o1, o2) = (
                        &mut o0[px..px + nw],
                        &mut o1[px..px + nw],
                        &mut o2[px..px + nw],
                    );
                    for (j, t) in xs.iter().enumerate() {
                        let v = pixel(r0, r1, wy, *t);
                        o0[j] = v[0];
                        o1[j] = v[1];
                        o2[j] = v[2];
                    }
                }
            }
            Layout::Nhwc => {
                for (y, row) in out.chunks_exact_mut(dw * 3).enumerate() {
                    let Some((r0, r1, wy)) = rows(y) else {
                        for p in row.chunks_exact_mut(3) {
                            p.copy_from_slice(&pad);
                        }
                        continue;
                    };
                    for (x, p) in row.chunks_exact_mut(3).enumerate() {
                        if x < px || x >= px + nw {
                            p.copy_from_slice(&pad);
                        } else {
                            p.copy_from_slice(&pixel(r0, r1, wy, xs[x - px]));
                        }
                    }
                }
            }
        }
        Ok(lb)
    }

    fn rebuild(&mut self, width: u32, height: u32) {
        self.lb = Letterbox::fit(width, height, self.dst_w, self.dst_h, self.align);
        fill_taps(&mut self.xs, width, self.lb.new_w);
        fill_taps(&mut self.ys, height, self.lb.new_h);
        self.cached = Some((width, height));
    }
}

/// Bilinear taps with half-pixel centres (OpenCV `INTER_LINEAR`, no antialiasing), the
/// resize both reference pipelines use.
fn fill_taps(taps: &mut Vec<Tap>, src: u32, dst: u32) {
    taps.clear();
    let ratio = src as f64 / dst as f64;
    for d in 0..dst {
        let s = ((d as f64 + 0.5) * ratio - 0.5).max(0.0);
        let i0 = (s.floor() as u32).min(src - 1);
        let i1 = (i0 + 1).min(src - 1);
        let w = if i1 == i0 {
            0.0
        } else {
            (s - i0 as f64) as f32
        };
        taps.push(Tap { i0, i1, w });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infer::manifest::{Align, InputSpec};

    fn spec(colour: ColourOrder, range: PixelRange, layout: Layout) -> InputSpec {
        InputSpec {
            name: "images".into(),
            shape: if layout == Layout::Nchw {
                [1, 3, 4, 4]
            } else {
                [1, 4, 4, 3]
            },
            layout,
            colour,
            range,
            mean: [0.0; 3],
            std: [1.0; 3],
            pad_value: 114,
            align: Align::TopLeft,
            max_batch: 1,
        }
    }

    #[test]
    fn bgr_byte_input_swaps_channels_and_pads_with_114() {
        // 4x2 frame of pure red -> 4x4 input: rows 0..2 image, rows 2..4 padding.
        let rgb: Vec<u8> = [255u8, 0, 0].repeat(8);
        let mut p = Preprocessor::new(&spec(ColourOrder::Bgr, PixelRange::Byte, Layout::Nchw));
        let mut out = vec![0.0; p.len()];
        let lb = p.run(&rgb, 4, 2, &mut out).unwrap();
        assert_eq!((lb.new_w, lb.new_h), (4, 2));
        // channel 0 is blue (0), channel 2 red (255) inside the image
        assert_eq!(out[0], 0.0);
        assert_eq!(out[2 * 16], 255.0);
        // bottom rows are padding in every channel
        assert_eq!(out[15], 114.0);
        assert_eq!(out[2 * 16 + 15], 114.0);
    }

    #[test]
    fn unit_range_nhwc_keeps_rgb_and_divides_by_255() {
        let rgb: Vec<u8> = [255u8, 0, 51].repeat(16);
        let mut p = Preprocessor::new(&spec(ColourOrder::Rgb, PixelRange::Unit, Layout::Nhwc));
        let mut out = vec![0.0; p.len()];
        p.run(&rgb, 4, 4, &mut out).unwrap();
        assert!((out[0] - 1.0).abs() < 1e-6 && out[1] == 0.0 && (out[2] - 0.2).abs() < 1e-6);
    }

    #[test]
    fn downscale_by_two_averages_neighbour_pixels() {
        // 8x8 frame with columns alternating 0 and 100 -> each output is their mean.
        let mut rgb = Vec::new();
        for _y in 0..8 {
            for x in 0..8 {
                let v = if x % 2 == 0 { 0 } else { 100 };
                rgb.extend_from_slice(&[v, v, v]);
            }
        }
        let mut p = Preprocessor::new(&spec(ColourOrder::Rgb, PixelRange::Byte, Layout::Nchw));
        let mut out = vec![0.0; p.len()];
        p.run(&rgb, 8, 8, &mut out).unwrap();
        assert!(out.iter().all(|v| (v - 50.0).abs() < 1e-4), "{out:?}");
    }

    #[test]
    fn wrong_frame_size_is_an_error_not_a_panic() {
        let mut p = Preprocessor::new(&spec(ColourOrder::Rgb, PixelRange::Byte, Layout::Nchw));
        let mut out = vec![0.0; p.len()];
        assert!(p.run(&[0u8; 10], 4, 4, &mut out).is_err());
    }
}
