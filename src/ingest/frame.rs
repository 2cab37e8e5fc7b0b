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

// The YUV colorimetry and its coefficients live with the conversion loops in the
// `pixels` crate (compiled optimised even in debug builds, see crates/pixels).
pub use pixels::{Yuv, YuvCoefficients, YuvMatrix};

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

    /// The frame as a checked YUV 4:2:0 picture; None for RGB or a length that does
    /// not match the size.
    pub fn yuv420(&self) -> Option<pixels::Yuv420<'_>> {
        let (chroma, yuv) = match self.format {
            PixelFormat::Rgb => return None,
            PixelFormat::I420(p) => (pixels::Chroma::I420, p),
            PixelFormat::Nv12(p) => (pixels::Chroma::Nv12, p),
        };
        pixels::Yuv420::new(self.width, self.height, chroma, yuv, &self.data)
    }

    /// RGB bytes of pixel (x, y). Panics outside the frame or on a YUV frame whose
    /// length does not match its size.
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        if self.format == PixelFormat::Rgb {
            let i = (y as usize * self.width as usize + x as usize) * 3;
            return [self.data[i], self.data[i + 1], self.data[i + 2]];
        }
        assert!(
            x < self.width && y < self.height,
            "pixel ({x}, {y}) outside the frame"
        );
        self.yuv420()
            .expect("YUV frame of the wrong length")
            .pixel(x, y)
    }

    /// The frame as packed RGB: itself when it already is, else converted (each pixel
    /// with the chroma sample covering it). For the page's picture and for tools; the
    /// detector reads YUV without converting the whole frame. A YUV frame whose length
    /// does not match its size gives an empty RGB frame.
    pub fn to_rgb(&self) -> std::borrow::Cow<'_, Frame> {
        if self.format == PixelFormat::Rgb {
            return std::borrow::Cow::Borrowed(self);
        }
        let mut data = Vec::new();
        if let Some(p) = self.yuv420() {
            p.to_rgb(&mut data);
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

    /// The row-wise conversion and `pixel` both give exactly the reference formula
    /// for every pixel, odd sizes (chroma rounds up), both layouts, both matrices and ranges.
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
                        // The reference: the chroma sample covering the pixel, the
                        // matrix in floats, rounded then clamped.
                        let (wu, hu) = (w as usize, h as usize);
                        let (cw, ch) = (wu.div_ceil(2), hu.div_ceil(2));
                        for y in 0..h {
                            for x in 0..w {
                                let (xu, yu) = (x as usize, y as usize);
                                let c = (yu / 2) * cw + xu / 2;
                                let (u, v) = match format {
                                    PixelFormat::Nv12(_) => {
                                        (f.data[wu * hu + 2 * c], f.data[wu * hu + 2 * c + 1])
                                    }
                                    _ => (f.data[wu * hu + c], f.data[wu * hu + cw * ch + c]),
                                };
                                let l = f.data[yu * wu + xu];
                                let want = yuv
                                    .coefficients()
                                    .rgb(l as f32, u as f32, v as f32)
                                    .map(|c| c.round().clamp(0.0, 255.0) as u8);
                                let i = ((y * w + x) * 3) as usize;
                                let at = format!("{format:?} {w}x{h} at ({x},{y})");
                                assert_eq!(rgb.data[i..i + 3], want, "{at}");
                                assert_eq!(f.pixel(x, y), want, "{at}");
                            }
                        }
                        assert_eq!(f.rgb_bytes().len(), (w * h * 3) as usize);
                    }
                }
            }
        }
    }
}
