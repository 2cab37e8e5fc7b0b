//! Simulated cameras: an RTSP server (gst-rtsp-server) that serves sample videos in an
//! endless loop, in real time, on 127.0.0.1. `streetwatch demo` and the tests use it in
//! place of street cameras; technicians can use `streetwatch serve-rtsp` to check a
//! box without a camera.

mod clip;
pub mod picture;
pub mod plate;
pub mod plate_eval;
pub mod scenario;
mod server;

pub use clip::{Clip, ClipUnit, load_clip};
pub use server::{CamServer, CamServerOptions, MountSource};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CamsimError {
    #[error("sample video {path}: {reason}")]
    Clip { path: PathBuf, reason: String },
    #[error("sample video {path}: unsupported codec {caps}; use an H.264 or H.265 file")]
    UnsupportedCodec { path: PathBuf, caps: String },
    #[error("RTSP test server: {0}")]
    Server(String),
}
