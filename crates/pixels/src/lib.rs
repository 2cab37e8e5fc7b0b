//! The pixel loops of streetwatch: YUV 4:2:0 to RGB, the fused letterbox that fills a
//! model's input tensor, and the luma statistics of the scene checks.
//!
//! WHY a crate of its own: the tests run the debug build, where the main crate is
//! compiled at opt-level 0 and a 1280x720 YUV->RGB conversion took 117 ms (the replay
//! tests ran twice as long as with GStreamer's `videoconvert`). The workspace's
//! Cargo.toml compiles this crate at opt-level 2 in the dev profile too. Everything the
//! main crate calls here is a NON-generic function over slices: a generic function (or
//! a closure argument) would be instantiated, and so compiled, in the caller's crate
//! at the caller's opt-level. Generic helpers used inside the crate are instantiated
//! here and are optimised.
//!
//! No dependencies, no allocation except where a function returns a picture.

/// How YUV maps to RGB (from the stream's colorimetry, as `videoconvert` reads it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Yuv {
    pub matrix: YuvMatrix,
    /// 0..255 instead of the usual 16..235 (16..240 chroma).
    pub full_range: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YuvMatrix {
    Bt601,
    Bt709,
}

impl Yuv {
    /// Coefficients of `rgb = y * ky + oy + u * (0, gu, bu) + v * (rv, gv, 0)` with
    /// u and v centred on 0 (the caller subtracts 128).
    pub fn coefficients(self) -> YuvCoefficients {
        let (kr, kb) = match self.matrix {
            YuvMatrix::Bt601 => (0.299f32, 0.114f32),
            YuvMatrix::Bt709 => (0.2126, 0.0722),
        };
        let kg = 1.0 - kr - kb;
        let (ky, oy, kc) = if self.full_range {
            (1.0, 0.0, 1.0)
        } else {
            (255.0 / 219.0, -16.0 * 255.0 / 219.0, 255.0 / 224.0)
        };
        YuvCoefficients {
            ky,
            oy,
            rv: 2.0 * (1.0 - kr) * kc,
            gu: -2.0 * kb * (1.0 - kb) / kg * kc,
            gv: -2.0 * kr * (1.0 - kr) / kg * kc,
            bu: 2.0 * (1.0 - kb) * kc,
        }
    }
}

/// See [`Yuv::coefficients`].
#[derive(Debug, Clone, Copy)]
pub struct YuvCoefficients {
    pub ky: f32,
    pub oy: f32,
    pub rv: f32,
    pub gu: f32,
    pub gv: f32,
    pub bu: f32,
}

impl YuvCoefficients {
    /// RGB (unclamped floats) of one sample; `u`, `v` not yet centred.
    #[inline(always)]
    pub fn rgb(&self, y: f32, u: f32, v: f32) -> [f32; 3] {
        let (u, v) = (u - 128.0, v - 128.0);
        let l = y * self.ky + self.oy;
        [
            l + self.rv * v,
            l + self.gu * u + self.gv * v,
            l + self.bu * u,
        ]
    }

    /// RGB bytes of one sample: clamped, then rounded half up (equals `round()` then
    /// clamp for every value, without the libm call).
    #[inline(always)]
    fn rgb_bytes(&self, y: u8, u: u8, v: u8) -> [u8; 3] {
        self.rgb(y as f32, u as f32, v as f32).map(byte)
    }
}

#[inline(always)]
fn byte(v: f32) -> u8 {
    (v.clamp(0.0, 255.0) + 0.5) as u8
}

/// Where a 4:2:0 frame keeps its chroma.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chroma {
    /// Planar U, then planar V, each ceil(w/2) x ceil(h/2).
    I420,
    /// Interleaved U/V pairs, ceil(w/2) pairs a row, ceil(h/2) rows.
    Nv12,
}

/// A borrowed, tightly packed YUV 4:2:0 picture whose length has been checked.
#[derive(Debug, Clone, Copy)]
pub struct Yuv420<'a> {
    width: usize,
    height: usize,
    chroma: Chroma,
    k: YuvCoefficients,
    luma: &'a [u8],
    /// I420: U then V planes; NV12: the interleaved plane.
    uv: &'a [u8],
}

/// Bytes a tightly packed YUV 4:2:0 picture of this size holds.
pub fn yuv420_len(width: u32, height: u32) -> usize {
    let (w, h) = (width as usize, height as usize);
    w * h + 2 * w.div_ceil(2) * h.div_ceil(2)
}

impl<'a> Yuv420<'a> {
    /// None when `data` is not exactly [`yuv420_len`] bytes or the picture is empty.
    pub fn new(width: u32, height: u32, chroma: Chroma, yuv: Yuv, data: &'a [u8]) -> Option<Self> {
        if width == 0 || height == 0 || data.len() != yuv420_len(width, height) {
            return None;
        }
        let (w, h) = (width as usize, height as usize);
        let (luma, uv) = data.split_at(w * h);
        Some(Self {
            width: w,
            height: h,
            chroma,
            k: yuv.coefficients(),
            luma,
            uv,
        })
    }

    /// Y, U, V of pixel (x, y): the chroma sample covering it.
    #[inline(always)]
    fn yuv(&self, x: usize, y: usize) -> (u8, u8, u8) {
        let cw = self.width.div_ceil(2);
        let c = (y / 2) * cw + x / 2;
        let l = self.luma[y * self.width + x];
        match self.chroma {
            Chroma::Nv12 => (l, self.uv[2 * c], self.uv[2 * c + 1]),
            Chroma::I420 => {
                let plane = cw * self.height.div_ceil(2);
                (l, self.uv[c], self.uv[plane + c])
            }
        }
    }

    /// RGB bytes of pixel (x, y).
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let (l, u, v) = self.yuv(x as usize, y as usize);
        self.k.rgb_bytes(l, u, v)
    }

    /// The whole picture as packed RGB, appended to `out` (each pixel exactly as
    /// [`Self::pixel`] converts it).
    pub fn to_rgb(&self, out: &mut Vec<u8>) {
        let (w, h) = (self.width, self.height);
        out.reserve(w * h * 3);
        let cw = w.div_ceil(2);
        let (u_plane, v_plane) = match self.chroma {
            Chroma::I420 => self.uv.split_at(cw * h.div_ceil(2)),
            Chroma::Nv12 => (self.uv, self.uv),
        };
        for y in 0..h {
            let row = &self.luma[y * w..(y + 1) * w];
            let c = (y / 2) * cw;
            for (x, &l) in row.iter().enumerate() {
                let (u, v) = match self.chroma {
                    Chroma::Nv12 => (u_plane[2 * (c + x / 2)], u_plane[2 * (c + x / 2) + 1]),
                    Chroma::I420 => (u_plane[c + x / 2], v_plane[c + x / 2]),
                };
                out.extend_from_slice(&self.k.rgb_bytes(l, u, v));
            }
        }
    }

    /// Every `k`-th pixel of every `k`-th row (from the top-left; partial blocks at
    /// the right and bottom dropped), packed RGB appended to `out`.
    pub fn sample_rgb(&self, k: u32, out: &mut Vec<u8>) {
        let k = k.max(1) as usize;
        let (sw, sh) = (self.width / k, self.height / k);
        out.reserve(sw * sh * 3);
        for y in 0..sh {
            for x in 0..sw {
                let (l, u, v) = self.yuv(x * k, y * k);
                out.extend_from_slice(&self.k.rgb_bytes(l, u, v));
            }
        }
    }
}

/// Every `k`-th pixel of every `k`-th row of packed RGB (`width` pixels a row),
/// appended to `out`, like [`Yuv420::sample_rgb`]. The caller checks the length.
pub fn sample_rgb(rgb: &[u8], width: u32, height: u32, k: u32, out: &mut Vec<u8>) {
    let (w, k) = (width as usize, k.max(1) as usize);
    let (sw, sh) = (w / k, height as usize / k);
    out.reserve(sw * sh * 3);
    for y in 0..sh {
        let row = y * k * w * 3;
        for x in 0..sw {
            let i = row + x * k * 3;
            out.extend_from_slice(&rgb[i..i + 3]);
        }
    }
}

pub mod letterbox;
pub mod luma;
