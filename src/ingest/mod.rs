//! Camera ingest: one supervised GStreamer pipeline per camera.
//!
//! `rtspsrc` (or a file) -> depay -> parse -> tee -> { encoded ring (pre-roll),
//! decoder -> analysis frames }.

pub mod decode_file;
pub mod frame;

pub use frame::{AccessUnit, Codec, Frame, MediaTime};
