//! Whether a camera's two streams can be paired: boxes found on the analysis stream
//! (the substream) are carried to the main stream through normalised coordinates, so
//! both must show the same picture. Two things make that false, and both are refused:
//!
//! - the display aspect ratios differ (one stream is cropped or letterboxed), beyond
//!   [`ASPECT_TOLERANCE`] (encoders round sizes to multiples of 8 or 16: 1920x1088 is
//!   still 16:9);
//! - the substream is larger than the main stream (the two URLs are swapped: evidence
//!   would come from the small one).
//!
//! Sizes are only known once a stream is connected, so this runs where streams are
//! measured: `probe`, `check-config --probe`, the page's connection test, and the
//! daemon (which then reports the camera's state with the reason and stops analysis).

use serde::Serialize;

/// Largest relative difference of the two display aspect ratios still accepted.
pub const ASPECT_TOLERANCE: f64 = 0.03;

/// One stream's picture size, with its pixel aspect ratio (1/1 for square pixels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StreamSize {
    pub width: u32,
    pub height: u32,
    /// Pixel aspect ratio numerator and denominator (from the caps; 1/1 when absent).
    pub par: (u32, u32),
}

impl StreamSize {
    pub fn new(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            par: (1, 1),
        }
    }

    /// Display aspect ratio: width over height, corrected for non-square pixels.
    pub fn aspect(&self) -> f64 {
        let (n, d) = (self.par.0.max(1) as f64, self.par.1.max(1) as f64);
        self.width as f64 * n / (self.height.max(1) as f64 * d)
    }
}

impl std::fmt::Display for StreamSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

/// Why two streams cannot be paired.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum PairingError {
    #[error(
        "the analysis stream {sub} ({sub_aspect:.3}:1) does not show the same picture as the main stream {main} ({main_aspect:.3}:1): aspect ratios differ; set the camera's substream to the main stream's aspect ratio (e.g. 640x360 for 1920x1080)"
    )]
    AspectMismatch {
        main: StreamSize,
        sub: StreamSize,
        main_aspect: f64,
        sub_aspect: f64,
    },
    #[error(
        "the analysis stream {sub} is larger than the main stream {main}: the two URLs are probably swapped; url is the main (largest) stream, analysis_url the substream"
    )]
    SubstreamLarger { main: StreamSize, sub: StreamSize },
}

impl PairingError {
    /// Stable code for APIs and the page's translations.
    pub fn code(&self) -> &'static str {
        match self {
            PairingError::AspectMismatch { .. } => "aspect_mismatch",
            PairingError::SubstreamLarger { .. } => "substream_larger",
        }
    }

    /// The same in Chinese, for the technician page.
    pub fn zh(&self) -> String {
        match self {
            PairingError::AspectMismatch { main, sub, .. } => format!(
                "分析码流 {sub} 与主码流 {main} 的画面宽高比不同，检测框无法对应到主码流；请把摄像机子码流设为与主码流相同的宽高比（如主码流 1920x1080 时子码流用 640x360）"
            ),
            PairingError::SubstreamLarger { main, sub } => format!(
                "分析码流 {sub} 比主码流 {main} 还大，两个地址可能填反了：主码流地址填最大的码流，分析码流地址填子码流"
            ),
        }
    }
}

/// Check that `sub` can serve as the analysis stream of `main`.
pub fn check(main: StreamSize, sub: StreamSize) -> Result<(), PairingError> {
    if sub.width > main.width || sub.height > main.height {
        return Err(PairingError::SubstreamLarger { main, sub });
    }
    let (a, b) = (main.aspect(), sub.aspect());
    if (a - b).abs() / a.max(f64::EPSILON) > ASPECT_TOLERANCE {
        return Err(PairingError::AspectMismatch {
            main,
            sub,
            main_aspect: a,
            sub_aspect: b,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_picture_at_a_lower_resolution_pairs() {
        let main = StreamSize::new(1920, 1080);
        assert_eq!(check(main, StreamSize::new(640, 360)), Ok(()));
        assert_eq!(check(main, StreamSize::new(1280, 720)), Ok(()));
        // Encoders pad to macroblocks: 1088 rows are still 16:9.
        assert_eq!(
            check(StreamSize::new(1920, 1088), StreamSize::new(640, 360)),
            Ok(())
        );
        // Same size is allowed (a camera with two equal profiles).
        assert_eq!(check(main, main), Ok(()));
    }

    #[test]
    fn another_aspect_ratio_is_refused_with_both_sizes() {
        let e = check(StreamSize::new(1920, 1080), StreamSize::new(640, 480)).unwrap_err();
        assert_eq!(e.code(), "aspect_mismatch");
        let text = e.to_string();
        assert!(
            text.contains("640x480") && text.contains("1920x1080"),
            "{text}"
        );
        assert!(e.zh().contains("宽高比"), "{}", e.zh());
        // D1 substreams with non-square pixels that display at 16:9 pair.
        let d1 = StreamSize {
            width: 704,
            height: 576,
            par: (64, 45),
        };
        assert_eq!(check(StreamSize::new(1920, 1080), d1), Ok(()));
    }

    #[test]
    fn a_substream_larger_than_the_main_stream_is_refused() {
        let e = check(StreamSize::new(640, 360), StreamSize::new(1920, 1080)).unwrap_err();
        assert_eq!(e.code(), "substream_larger");
        assert!(e.to_string().contains("swapped"), "{e}");
        assert!(e.zh().contains("填反"), "{}", e.zh());
    }
}
