//! Inference: model manifests, ort sessions, letterbox, output decoders, NMS and the
//! shared batching worker.
//!
//! Flow for one frame: [`preprocess`] (letterbox + colour + scaling into the reused input
//! tensor) -> ORT session -> [`decode`] (format-specific) -> [`nms`] -> [`Detection`]s
//! mapped back through the [`letterbox`] to original pixels.

pub mod annotate;
pub mod bench;
pub mod decode;
pub mod detection;
pub mod detector;
pub mod eval;
pub mod letterbox;
pub mod manifest;
pub mod model;
pub mod nms;
pub mod plate;
pub mod preprocess;
pub mod providers;
pub mod registry;
pub mod runtime;
pub mod worker;

pub use detection::{BBox, Category, Detection};
pub use detector::{DetectError, Detector};
pub use manifest::Manifest;
pub use model::{ModelError, ModelFile};
