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

// The loops themselves are in the `pixels` crate, compiled optimised even in debug
// builds (crates/pixels); this module owns the manifest's meaning and the checks.
use pixels::letterbox::{Tap, Tensor, fill_rgb, fill_taps, fill_yuv420};

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
        let lb = self.prepare(width, height, out)?;
        fill_rgb(&self.tensor(), rgb, width, out);
        Ok(lb)
    }

    /// Like [`Preprocessor::run`] for a frame in any [`PixelFormat`]. YUV 4:2:0 frames
    /// are converted only at the source pixels the resize reads (four per output
    /// pixel, about a tenth of a 1080p frame's pixels), each exactly as
    /// [`Frame::to_rgb`] converts it (the chroma sample covering the pixel, rounded
    /// and clamped to bytes), so the tensor equals that of the converted frame while
    /// the frame itself is never converted.
    pub fn run_frame(&mut self, f: &Frame, out: &mut [f32]) -> Result<Letterbox, PreprocessError> {
        if f.format == PixelFormat::Rgb {
            return self.run(&f.data, f.width, f.height, out);
        }
        let Some(p) = f.yuv420() else {
            return Err(PreprocessError::BadFrame {
                width: f.width,
                height: f.height,
                len: f.data.len(),
                expected: Frame::expected_len(f.format, f.width, f.height),
            });
        };
        let lb = self.prepare(f.width, f.height, out)?;
        fill_yuv420(&self.tensor(), &p, out);
        Ok(lb)
    }

    /// Checks the output's size and rebuilds the sampling tables for a new frame size.
    fn prepare(
        &mut self,
        width: u32,
        height: u32,
        out: &[f32],
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
        Ok(self.lb)
    }

    /// What the fill needs, borrowed from the cached tables.
    fn tensor(&self) -> Tensor<'_> {
        Tensor {
            width: self.dst_w as usize,
            height: self.dst_h as usize,
            planar: self.layout == Layout::Nchw,
            pad_x: self.lb.pad_x as usize,
            pad_y: self.lb.pad_y as usize,
            xs: &self.xs,
            ys: &self.ys,
            src_ch: self.src_ch,
            mul: self.mul,
            add: self.add,
            pad: self.pad,
        }
    }

    fn rebuild(&mut self, width: u32, height: u32) {
        self.lb = Letterbox::fit(width, height, self.dst_w, self.dst_h, self.align);
        fill_taps(&mut self.xs, width, self.lb.new_w);
        fill_taps(&mut self.ys, height, self.lb.new_h);
        self.cached = Some((width, height));
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
