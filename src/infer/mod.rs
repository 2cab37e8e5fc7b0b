//! Inference: model manifests, ort sessions, letterbox, output decoders, NMS and the
//! shared batching worker.

pub mod detection;

pub use detection::{BBox, Category, Detection};
