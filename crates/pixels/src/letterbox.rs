//! The fused letterbox: bilinear resize, colour order, scaling and layout in one pass,
//! each output value written once. The geometry (taps, padding) and the model's
//! scaling come from the main crate's `infer::preprocess`, which owns the manifest.

use crate::Yuv420;

/// One source sample position on an axis: two neighbours and the weight of the second.
#[derive(Debug, Clone, Copy)]
pub struct Tap {
    pub i0: u32,
    pub i1: u32,
    pub w: f32,
}

/// Bilinear taps with half-pixel centres (OpenCV `INTER_LINEAR`, no antialiasing), the
/// resize both reference pipelines use: `dst` output positions over `src` inputs.
pub fn fill_taps(taps: &mut Vec<Tap>, src: u32, dst: u32) {
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

/// The input tensor of one image and where the resized picture lies in it.
#[derive(Debug, Clone, Copy)]
pub struct Tensor<'a> {
    /// Input width and height.
    pub width: usize,
    pub height: usize,
    /// Planar channels (NCHW) rather than interleaved (NHWC).
    pub planar: bool,
    /// Top-left of the resized picture inside the input.
    pub pad_x: usize,
    pub pad_y: usize,
    /// One tap per column / row of the resized picture (its width and height).
    pub xs: &'a [Tap],
    pub ys: &'a [Tap],
    /// Output channel c reads source (RGB) channel `src_ch[c]`.
    pub src_ch: [usize; 3],
    /// value = pixel * mul[c] + add[c].
    pub mul: [f32; 3],
    pub add: [f32; 3],
    /// Value of the padding in each output channel.
    pub pad: [f32; 3],
}

impl Tensor<'_> {
    /// Values one image occupies.
    pub fn len(&self) -> usize {
        3 * self.width * self.height
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Letterbox packed RGB (`width` pixels a row, the length checked by the caller) into
/// `out` (`t.len()` values, checked by the caller; a mismatch panics).
pub fn fill_rgb(t: &Tensor, rgb: &[u8], width: u32, out: &mut [f32]) {
    let stride = width as usize * 3;
    fill(t, out, |x, y| {
        let i = y as usize * stride + x as usize * 3;
        [rgb[i] as f32, rgb[i + 1] as f32, rgb[i + 2] as f32]
    })
}

/// Letterbox a YUV 4:2:0 picture into `out`, converting only the source pixels the
/// resize reads (four per output pixel), each exactly as [`Yuv420::pixel`] converts
/// it, so the tensor equals that of the converted picture.
pub fn fill_yuv420(t: &Tensor, p: &Yuv420, out: &mut [f32]) {
    fill(t, out, |x, y| {
        let (l, u, v) = p.yuv(x as usize, y as usize);
        p.k.rgb_bytes(l, u, v).map(|c| c as f32)
    })
}

/// The fused resize: `px(x, y)` gives source pixel (x, y) as RGB floats. Instantiated
/// only by the two functions above, so it is compiled (optimised) in this crate.
fn fill(t: &Tensor, out: &mut [f32], px: impl Fn(u32, u32) -> [f32; 3]) {
    assert_eq!(out.len(), t.len(), "output buffer size");
    let (dw, dh) = (t.width, t.height);
    let plane = dw * dh;
    let (px0, py) = (t.pad_x, t.pad_y);
    let (nw, nh) = (t.xs.len(), t.ys.len());
    let (mul, add, pad, ch) = (t.mul, t.add, t.pad, t.src_ch);
    let (xs, ys) = (t.xs, t.ys);
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
    if t.planar {
        let (p0, rest) = out.split_at_mut(plane);
        let (p1, p2) = rest.split_at_mut(plane);
        for y in 0..dh {
            let span = y * dw..(y + 1) * dw;
            let (o0, o1, o2) = (&mut p0[span.clone()], &mut p1[span.clone()], &mut p2[span]);
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
    } else {
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
