//! Per-camera status in words a technician on a ladder understands.

use serde::Serialize;
use std::fmt;

/// Why a camera is not streaming.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "detail")]
pub enum Reason {
    Unauthorized,
    Forbidden,
    NotFound,
    ConnectionRefused,
    Timeout,
    HostNotFound(String),
    UnsupportedCodec(String),
    Stalled {
        seconds: u32,
    },
    EndOfStream,
    ModelUnavailable(String),
    /// The camera's main and analysis streams do not pair (see `ingest::pairing`).
    StreamPairing(String),
    Other(String),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Unauthorized => write!(
                f,
                "unauthorized (401): check the camera user name and password"
            ),
            Reason::Forbidden => write!(f, "forbidden (403): this user may not open the stream"),
            Reason::NotFound => write!(f, "not found (404): check the stream path in the URL"),
            Reason::ConnectionRefused => write!(
                f,
                "connection refused: nothing listens at that host and port"
            ),
            Reason::Timeout => write!(
                f,
                "timeout: the camera does not answer; check cabling, IP and firewall"
            ),
            Reason::HostNotFound(h) => write!(f, "host not found: cannot resolve \"{h}\""),
            Reason::UnsupportedCodec(c) => {
                write!(f, "unsupported codec {c}: set the camera to H.264 or H.265")
            }
            Reason::Stalled { seconds } => write!(f, "stalled: no video for {seconds} s"),
            Reason::EndOfStream => write!(f, "end of stream: the camera closed the stream"),
            Reason::ModelUnavailable(m) => write!(f, "model unavailable: {m}"),
            Reason::StreamPairing(m) => write!(f, "streams do not pair: {m}"),
            Reason::Other(s) => write!(f, "{s}"),
        }
    }
}

impl Reason {
    /// Short stable code for APIs and metrics labels.
    pub fn code(&self) -> &'static str {
        match self {
            Reason::Unauthorized => "unauthorized",
            Reason::Forbidden => "forbidden",
            Reason::NotFound => "not_found",
            Reason::ConnectionRefused => "connection_refused",
            Reason::Timeout => "timeout",
            Reason::HostNotFound(_) => "host_not_found",
            Reason::UnsupportedCodec(_) => "unsupported_codec",
            Reason::Stalled { .. } => "stalled",
            Reason::EndOfStream => "end_of_stream",
            Reason::ModelUnavailable(_) => "model_unavailable",
            Reason::StreamPairing(_) => "stream_pairing",
            Reason::Other(_) => "error",
        }
    }

    /// Map a GStreamer error (from rtspsrc, a demuxer, a decoder) to a reason.
    pub fn from_gst_error(message: &str, debug: &str) -> Reason {
        let m = message.to_ascii_lowercase();
        let d = debug.to_ascii_lowercase();
        let both = format!("{m} {d}");
        if let Some(rest) = message.strip_prefix("unsupported codec ") {
            return Reason::UnsupportedCodec(rest.to_string());
        }
        if m.contains("unauthorized") || both.contains("401") {
            Reason::Unauthorized
        } else if m.contains("forbidden") || both.contains("403") {
            Reason::Forbidden
        } else if m.contains("not found") || both.contains("404") {
            Reason::NotFound
        } else if both.contains("timeout") || both.contains("timed out") {
            Reason::Timeout
        } else if both.contains("connection refused") || both.contains("failed to connect") {
            Reason::ConnectionRefused
        } else if both.contains("not-negotiated") || both.contains("no suitable") {
            Reason::UnsupportedCodec("(no decoder for this stream)".into())
        } else {
            Reason::Other(crate::redact::scrub(message, &[]))
        }
    }
}

/// A camera's state, as shown on the dashboard and in health telemetry.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum CameraStatus {
    Connecting,
    Streaming {
        fps: f64,
        width: u32,
        height: u32,
        codec: String,
    },
    Backoff {
        reason: Reason,
        /// Human text of the reason.
        message: String,
        /// Seconds until the next attempt.
        retry_in_s: f64,
        attempt: u32,
    },
    /// A finite source (file) reached its end.
    Ended,
    /// Will not retry without a config change.
    Failed {
        reason: Reason,
        message: String,
    },
    Stopped,
}

impl CameraStatus {
    pub fn backoff(reason: Reason, retry_in_s: f64, attempt: u32) -> Self {
        CameraStatus::Backoff {
            message: reason.to_string(),
            reason,
            retry_in_s,
            attempt,
        }
    }
    pub fn failed(reason: Reason) -> Self {
        CameraStatus::Failed {
            message: reason.to_string(),
            reason,
        }
    }
    pub fn name(&self) -> &'static str {
        match self {
            CameraStatus::Connecting => "connecting",
            CameraStatus::Streaming { .. } => "streaming",
            CameraStatus::Backoff { .. } => "backoff",
            CameraStatus::Ended => "ended",
            CameraStatus::Failed { .. } => "failed",
            CameraStatus::Stopped => "stopped",
        }
    }
    pub fn reason(&self) -> Option<&Reason> {
        match self {
            CameraStatus::Backoff { reason, .. } | CameraStatus::Failed { reason, .. } => {
                Some(reason)
            }
            _ => None,
        }
    }
}

impl fmt::Display for CameraStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CameraStatus::Streaming {
                fps,
                width,
                height,
                codec,
            } => write!(f, "streaming {codec} {width}x{height} at {fps:.1} fps"),
            CameraStatus::Backoff {
                message,
                retry_in_s,
                ..
            } => write!(f, "reconnecting in {retry_in_s:.1} s: {message}"),
            CameraStatus::Failed { message, .. } => write!(f, "failed: {message}"),
            other => f.write_str(other.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtspsrc_errors_map_to_technician_reasons() {
        assert_eq!(
            Reason::from_gst_error("Unauthorized", ""),
            Reason::Unauthorized
        );
        assert_eq!(Reason::from_gst_error("Not found", ""), Reason::NotFound);
        assert_eq!(
            Reason::from_gst_error(
                "Could not open resource for reading and writing.",
                "Failed to connect. (Generic error)"
            ),
            Reason::ConnectionRefused
        );
        assert_eq!(
            Reason::from_gst_error("unsupported codec JPEG", ""),
            Reason::UnsupportedCodec("JPEG".into())
        );
    }
}
