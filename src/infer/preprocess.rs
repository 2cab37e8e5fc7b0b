//! Frame -> input tensor in one pass: bilinear letterbox resize, colour order, scaling and
//! layout are fused so each output value is written exactly once and nothing is
//! allocated per frame (sampling tables are rebuilt only when the frame size changes).

use super::letterbox::Letterbox;
use super::manifest::{ColourOrder, InputSpec, Layout, PixelRange};
use crate::ingest::{Frame, PixelFormat};

/// Why a frame could not be preprocessed.
#[derive(Debug, thiserror::Error)]
pub enum PreprocessError {
    #[error("frame is {width}x{height} but carries {len} bytes (expected {expected})")]
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
        let stride = width as usize * 3;
        self.fill(width, height, out, |x, y| {
            let i = y as usize * stride + x as usize * 3;
            [rgb[i] as f32, rgb[i + 1] as f32, rgb[i + 2] as f32]
        })
    }

    /// Like [`Preprocessor::run`] for a frame in any [`PixelFormat`]. YUV 4:2:0 frames
    /// are converted only at the source pixels the resize reads (four per output
    /// pixel, about a tenth of a 1080p frame's pixels), each exactly as
    /// [`Frame::to_rgb`] converts it (the chroma sample covering the pixel, rounded
    /// and clamped to bytes), so the tensor equals that of the converted frame while
    /// the frame itself is never converted.
    pub fn run_frame(&mut self, f: &Frame, out: &mut [f32]) -> Result<Letterbox, PreprocessError> {
        let (w, h) = (f.width as usize, f.height as usize);
        let (yuv, nv12) = match f.format {
            PixelFormat::Rgb => return self.run(&f.data, f.width, f.height, out),
            PixelFormat::I420(p) => (p, false),
            PixelFormat::Nv12(p) => (p, true),
        };
        let expected = Frame::expected_len(f.format, f.width, f.height);
        if f.data.len() != expected || w == 0 || h == 0 {
            return Err(PreprocessError::BadFrame {
                width: f.width,
                height: f.height,
                len: f.data.len(),
                expected,
            });
        }
        let k = yuv.coefficients();
        let cw = w.div_ceil(2);
        let (luma, chroma) = f.data.split_at(w * h);
        let (u_plane, v_plane) = chroma.split_at(cw * h.div_ceil(2));
        self.fill(f.width, f.height, out, |x, y| {
            let (x, y) = (x as usize, y as usize);
            let c = (y / 2) * cw + x / 2;
            let (u, v) = if nv12 {
                (chroma[2 * c], chroma[2 * c + 1])
            } else {
                (u_plane[c], v_plane[c])
            };
            // Clamped, then rounded half up: equals round() then clamp for these
            // non-negative values, without the libm call (roundf was 4 % of the
            // daemon's profile at 5 fps).
            k.rgb(luma[y * w + x] as f32, u as f32, v as f32)
                .map(|c| ((c.clamp(0.0, 255.0) + 0.5) as u32) as f32)
        })
    }

    /// The fused resize: `px(x, y)` gives source pixel (x, y) as RGB floats.
    fn fill(
        &mut self,
        width: u32,
        height: u32,
        out: &mut [f32],
        px: impl Fn(u32, u32) -> [f32; 3],
    ) -> Result<Letterbox, PreprocessError> {
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
        let (px0, py) = (lb.pad_x as usize, lb.pad_y as usize);
        let (nw, nh) = (lb.new_w as usize, lb.new_h as usize);
        let (mul, add, pad, ch) = (self.mul, self.add, self.pad, self.src_ch);
        let (xs, ys) = (&self.xs, &self.ys);
        // Bilinear sample at one horizontal tap between two source rows, then colour
        // order and scaling.
        let pixel = |ty: Tap, t: Tap| -> [f32; 3] {
            let (a, b) = (px(t.i0, ty.i0), px(t.i1, ty.i0));
            let (c, d) = (px(t.i0, ty.i1), px(t.i1, ty.i1));
            let mut v = [0f32; 3];
            for k in 0..3 {
                let top = a[k] + (b[k] - a[k]) * t.w;
                let bot = c[k] + (d[k] - c[k]) * t.w;
                v[k] = top + (bot - top) * ty.w;
            }
            [
                v[ch[0]] * mul[0] + add[0],
                v[ch[1]] * mul[1] + add[1],
                v[ch[2]] * mul[2] + add[2],
            ]
        };
        let rows = |y: usize| -> Option<Tap> {
            if y < py || y >= py + nh {
                return None;
            }
            Some(ys[y - py])
        };
        match self.layout {
            Layout::Nchw => {
                let (p0, rest) = out.split_at_mut(plane);
                let (p1, p2) = rest.split_at_mut(plane);
                for y in 0..dh {
                    let span = y * dw..(y + 1) * dw;
                    let (o0, o1, o2) =
                        (&mut p0[span.clone()], &mut p1[span.clone()], &mut p2[span]);
                    let Some(ty) = rows(y) else {
                        o0.fill(pad[0]);
                        o1.fill(pad[1]);
                        o2.fill(pad[2]);
                        continue;
                    };
                    for (o, v) in [(&mut *o0, pad[0]), (&mut *o1, pad[1]), (&mut *o2, pad[2])] {
                        o[..px0].fill(v);
                        o[px0 + nw..].fill(v);
                    }
                    let (o0, o1, o2) = (
                        &mut o0[px0..px0 + nw],
                        &mut o1[px0..px0 + nw],
                        &mut o2[px0..px0 + nw],
                    );
                    for (j, t) in xs.iter().enumerate() {
                        let v = pixel(ty, *t);
                        o0[j] = v[0];
                        o1[j] = v[1];
                        o2[j] = v[2];
                    }
                }
            }
            Layout::Nhwc => {
                for (y, row) in out.chunks_exact_mut(dw * 3).enumerate() {
                    let Some(ty) = rows(y) else {
                        for p in row.chunks_exact_mut(3) {
                            p.copy_from_slice(&pad);
                        }
                        continue;
                    };
                    for (x, p) in row.chunks_exact_mut(3).enumerate() {
                        if x < px0 || x >= px0 + nw {
                            p.copy_from_slice(&pad);
                        } else {
                            p.copy_from_slice(&pixel(ty, xs[x - px0]));
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

    /// A YUV 4:2:0 frame of pseudo-random samples (odd size: chroma rounds up).
    fn yuv_frame(format: PixelFormat, width: u32, height: u32, seed: u32) -> Frame {
        let mut x = seed.wrapping_mul(2654435761).max(1);
        let mut data = vec![0u8; Frame::expected_len(format, width, height)];
        for b in &mut data {
            // xorshift: deterministic, enough for a conversion test.
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *b = (x >> 8) as u8;
        }
        Frame {
            camera_id: std::sync::Arc::from("c"),
            pts_ns: 0,
            time: crate::ingest::MediaTime(0),
            width,
            height,
            format,
            data,
        }
    }

    /// The fused YUV path against the old one (convert the whole frame to RGB, then
    /// letterbox): every tensor value within 1 LSB, for both layouts, both YUV layouts,
    /// both matrices and ranges, down- and up-scaling.
    #[test]
    fn yuv_frames_give_the_tensor_of_their_rgb_conversion_within_one_lsb() {
        use crate::ingest::{Yuv, YuvMatrix};
        let mut worst = 0f32;
        let mut cases = 0;
        for (i, &(w, h)) in [(37u32, 23u32), (640, 360), (3, 2)].iter().enumerate() {
            for matrix in [YuvMatrix::Bt601, YuvMatrix::Bt709] {
                for full_range in [false, true] {
                    let yuv = Yuv { matrix, full_range };
                    for format in [PixelFormat::I420(yuv), PixelFormat::Nv12(yuv)] {
                        for layout in [Layout::Nchw, Layout::Nhwc] {
                            let mut sp = spec(ColourOrder::Bgr, PixelRange::Byte, layout);
                            sp.shape = if layout == Layout::Nchw {
                                [1, 3, 64, 48]
                            } else {
                                [1, 64, 48, 3]
                            };
                            let f = yuv_frame(format, w, h, i as u32 + 7);
                            let rgb = f.to_rgb();
                            assert_eq!(rgb.data.len(), (w * h * 3) as usize);
                            let mut p = Preprocessor::new(&sp);
                            let (mut a, mut b) = (vec![0.0; p.len()], vec![0.0; p.len()]);
                            let la = p.run_frame(&f, &mut a).unwrap();
                            let lb = p.run(&rgb.data, w, h, &mut b).unwrap();
                            assert_eq!((la.new_w, la.new_h), (lb.new_w, lb.new_h));
                            for (x, y) in a.iter().zip(&b) {
                                worst = worst.max((x - y).abs());
                            }
                            cases += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(cases, 48);
        assert!(worst <= 1.0, "largest difference {worst} LSB");
    }

    /// Known colours: limited-range black/white, and BT.709 / BT.601 red.
    #[test]
    fn yuv_conversion_matches_the_standard_matrices() {
        use crate::ingest::{Yuv, YuvMatrix};
        let lim = |matrix| Yuv {
            matrix,
            full_range: false,
        };
        let rgb = |p: Yuv, y: u8, u: u8, v: u8| {
            p.coefficients()
                .rgb(y as f32, u as f32, v as f32)
                .map(|c| c.round().clamp(0.0, 255.0) as u8)
        };
        let k709 = lim(YuvMatrix::Bt709);
        assert_eq!(rgb(k709, 16, 128, 128), [0, 0, 0]);
        assert_eq!(rgb(k709, 235, 128, 128), [255, 255, 255]);
        // Red in BT.709 limited range is (63, 102, 240); in BT.601 (81, 90, 240).
        let r = rgb(k709, 63, 102, 240);
        assert!(r[0] >= 253 && r[1] <= 2 && r[2] <= 2, "{r:?}");
        let r = rgb(lim(YuvMatrix::Bt601), 81, 90, 240);
        assert!(r[0] >= 253 && r[1] <= 2 && r[2] <= 2, "{r:?}");
    }

    #[test]
    fn short_yuv_frame_is_an_error_not_a_panic() {
        use crate::ingest::{Yuv, YuvMatrix};
        let yuv = Yuv {
            matrix: YuvMatrix::Bt709,
            full_range: false,
        };
        let mut f = yuv_frame(PixelFormat::Nv12(yuv), 8, 8, 1);
        f.data.truncate(70);
        let mut p = Preprocessor::new(&spec(ColourOrder::Rgb, PixelRange::Byte, Layout::Nchw));
        let mut out = vec![0.0; p.len()];
        assert!(p.run_frame(&f, &mut out).is_err());
    }
}
