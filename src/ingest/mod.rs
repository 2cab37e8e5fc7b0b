//! Camera ingest: one supervised GStreamer pipeline per camera.
//!
//! `rtspsrc` (or a file) -> depay -> repair -> parse -> tee -> { encoded ring (pre-roll),
//! decoder -> analysis frames }.

pub mod camera;
pub mod cost;
pub mod decode_file;
pub mod diagnose;
pub mod frame;
pub mod nal;
pub mod onvif;
pub mod pairing;
pub mod pipeline;
pub mod probe;
pub mod queue;
pub mod reach;
pub mod ring;
pub mod status;
pub mod timeline;

pub use camera::{Camera, CameraSpec};
pub use frame::{AccessUnit, Codec, Frame, MediaTime, PixelFormat, Yuv, YuvMatrix};
pub use queue::{BoundedQueue, Overflow, Pop};
pub use ring::{EncodedRing, RingCut};
pub use status::{CameraStatus, Reason};
