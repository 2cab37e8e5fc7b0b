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

/// A decoded analysis frame: tightly packed RGB (3 bytes a pixel, no row padding).
#[derive(Debug, Clone)]
pub struct Frame {
    pub camera_id: Arc<str>,
    /// Buffer PTS in the current pipeline's running time, nanoseconds.
    pub pts_ns: u64,
    /// Media-derived timestamp (see [`MediaTime`]).
    pub time: MediaTime,
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl Frame {
    /// RGB bytes of pixel (x, y).
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = (y as usize * self.width as usize + x as usize) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
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
