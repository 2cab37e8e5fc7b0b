//! Inference: model manifests, ort sessions, letterbox, output decoders, NMS and the
//! shared batching worker. (Filled in by the inference work.)
