//! The typed units that leave ingest: analysis frames (decoded) and access units (encoded).

use std::sync::Arc;

/// A point in media time: nanoseconds since the Unix epoch, derived from the stream
/// (wall clock sampled once when the stream starts, plus the buffer's PTS). Rules only
/// ever compare these, so a file replays a 10-minute scenario in seconds and the same
/// way every run.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct MediaTime(pub i64);

impl MediaTime {
    pub const NS_PER_SEC: i64 = 1_000_000_000;

    pub fn from_secs_f64(s: f64) -> Self {
        Self((s * Self::NS_PER_SEC as f64).round() as i64)
    }
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / Self::NS_PER_SEC as f64
    }
    /// Seconds from `earlier` to `self` (negative if `earlier` is later).
    pub fn secs_since(self, earlier: MediaTime) -> f64 {
        (self.0 - earlier.0) as f64 / Self::NS_PER_SEC as f64
    }
    pub fn add_secs(self, s: f64) -> Self {
        Self(self.0 + (s * Self::NS_PER_SEC as f64).round() as i64)
    }
    /// As a UTC date-time, for RFC 3339 rendering.
    pub fn to_utc(self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp_nanos(self.0)
    }
}

/// A decoded analysis frame. Live cameras deliver the decoder's own YUV 4:2:0 (no
/// colour conversion in the pipeline: the detector's letterbox reads YUV directly);
/// files decoded for tools and tests deliver packed RGB. Either way the planes are
/// tightly packed (no row padding).
#[derive(Debug, Clone)]
pub struct Frame {
    pub camera_id: Arc<str>,
    /// Buffer PTS in the current pipeline's running time, nanoseconds.
    pub pts_ns: u64,
    /// Media-derived timestamp (see [`MediaTime`]).
    pub time: MediaTime,
    pub width: u32,
    pub height: u32,
    /// How `data` is laid out.
    pub format: PixelFormat,
    pub data: Vec<u8>,
}

/// Layout of a [`Frame`]'s bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PixelFormat {
    /// Packed RGB, 3 bytes a pixel.
    #[default]
    Rgb,
    /// Planar Y, then U, then V; each chroma plane ceil(w/2) x ceil(h/2).
    I420(Yuv),
    /// Planar Y, then interleaved U/V pairs, ceil(w/2) pairs a row, ceil(h/2) rows.
    Nv12(Yuv),
}

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
}

impl Frame {
    /// Bytes a frame of this size and format holds.
    pub fn expected_len(format: PixelFormat, width: u32, height: u32) -> usize {
        let (w, h) = (width as usize, height as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        match format {
            PixelFormat::Rgb => w * h * 3,
            PixelFormat::I420(_) | PixelFormat::Nv12(_) => w * h + 2 * cw * ch,
        }
    }

    /// Y, U and V of pixel (x, y) (the chroma sample covering it); None for RGB.
    fn yuv_at(&self, x: u32, y: u32) -> Option<(u8, u8, u8, Yuv)> {
        let (w, h) = (self.width as usize, self.height as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let (x, y) = (x as usize, y as usize);
        let luma = self.data[y * w + x];
        let c = (y / 2) * cw + x / 2;
        match self.format {
            PixelFormat::Rgb => None,
            PixelFormat::I420(p) => Some((
                luma,
                self.data[w * h + c],
                self.data[w * h + cw * ch + c],
                p,
            )),
            PixelFormat::Nv12(p) => Some((
                luma,
                self.data[w * h + 2 * c],
                self.data[w * h + 2 * c + 1],
                p,
            )),
        }
    }

    /// RGB bytes of pixel (x, y).
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        match self.yuv_at(x, y) {
            None => {
                let i = (y as usize * self.width as usize + x as usize) * 3;
                [self.data[i], self.data[i + 1], self.data[i + 2]]
            }
            Some((l, u, v, p)) => {
                let c = p.coefficients().rgb(l as f32, u as f32, v as f32);
                c.map(|x| x.round().clamp(0.0, 255.0) as u8)
            }
        }
    }

    /// The frame as packed RGB: itself when it already is, else converted (each pixel
    /// with the chroma sample covering it). For the page's picture and for tools; the
    /// detector reads YUV without converting the whole frame.
    pub fn to_rgb(&self) -> std::borrow::Cow<'_, Frame> {
        if self.format == PixelFormat::Rgb {
            return std::borrow::Cow::Borrowed(self);
        }
        let (w, h) = (self.width as usize, self.height as usize);
        let mut data = Vec::with_capacity(w * h * 3);
        let yuv = match self.format {
            PixelFormat::I420(p) | PixelFormat::Nv12(p) => Some(p),
            PixelFormat::Rgb => None,
        };
        if let Some(p) = yuv
            && self.data.len() == Self::expected_len(self.format, self.width, self.height)
        {
            // Row by row with the coefficients computed once: the scene checks
            // convert a whole frame up to twice a second per camera.
            let k = p.coefficients();
            let cw = w.div_ceil(2);
            let (luma, chroma) = self.data.split_at(w * h);
            let clamp = |v: f32| (v + 0.5).clamp(0.0, 255.0) as u8;
            for y in 0..h {
                let row = &luma[y * w..(y + 1) * w];
                let c = (y / 2) * cw;
                for (x, &l) in row.iter().enumerate() {
                    let (u, v) = match self.format {
                        PixelFormat::Nv12(_) => {
                            (chroma[2 * (c + x / 2)], chroma[2 * (c + x / 2) + 1])
                        }
                        _ => (chroma[c + x / 2], chroma[cw * h.div_ceil(2) + c + x / 2]),
                    };
                    let [r, g, b] = k.rgb(l as f32, u as f32, v as f32);
                    data.extend_from_slice(&[clamp(r), clamp(g), clamp(b)]);
                }
            }
        }
        std::borrow::Cow::Owned(Frame {
            camera_id: self.camera_id.clone(),
            format: PixelFormat::Rgb,
            data,
            ..*self
        })
    }
}

impl Frame {
    /// The frame's pixels as packed RGB bytes (see [`Frame::to_rgb`]).
    pub fn rgb_bytes(&self) -> std::borrow::Cow<'_, [u8]> {
        match self.to_rgb() {
            std::borrow::Cow::Borrowed(f) => std::borrow::Cow::Borrowed(&f.data[..]),
            std::borrow::Cow::Owned(f) => std::borrow::Cow::Owned(f.data),
        }
    }
}

/// Video codec of a camera's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    H264,
    H265,
}

impl Codec {
    pub fn name(self) -> &'static str {
        match self {
            Codec::H264 => "H.264",
            Codec::H265 => "H.265",
        }
    }
}

/// One encoded access unit as it left the parser (byte-stream, AU-aligned).
#[derive(Debug, Clone)]
pub struct AccessUnit {
    pub pts_ns: u64,
    pub dts_ns: Option<u64>,
    pub duration_ns: Option<u64>,
    pub time: MediaTime,
    pub keyframe: bool,
    pub data: Arc<[u8]>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The row-wise conversion gives exactly what `pixel` gives for every pixel,
    /// odd sizes (chroma rounds up), both layouts, both matrices and ranges.
    #[test]
    fn to_rgb_equals_pixel_by_pixel_conversion() {
        for (w, h) in [(37u32, 23u32), (2, 2), (1, 3)] {
            for matrix in [YuvMatrix::Bt601, YuvMatrix::Bt709] {
                for full_range in [false, true] {
                    let yuv = Yuv { matrix, full_range };
                    for format in [PixelFormat::I420(yuv), PixelFormat::Nv12(yuv)] {
                        let n = Frame::expected_len(format, w, h);
                        let f = Frame {
                            camera_id: Arc::from("c"),
                            pts_ns: 0,
                            time: MediaTime(0),
                            width: w,
                            height: h,
                            format,
                            data: (0..n).map(|i| (i * 97 % 256) as u8).collect(),
                        };
                        let rgb = f.to_rgb();
                        assert_eq!(rgb.format, PixelFormat::Rgb);
                        assert_eq!(rgb.data.len(), (w * h * 3) as usize);
                        for y in 0..h {
                            for x in 0..w {
                                let i = ((y * w + x) * 3) as usize;
                                assert_eq!(
                                    rgb.data[i..i + 3],
                                    f.pixel(x, y),
                                    "{format:?} {w}x{h} at ({x},{y})"
                                );
                            }
                        }
                        assert_eq!(f.rgb_bytes().len(), (w * h * 3) as usize);
                    }
                }
            }
        }
    }
}
