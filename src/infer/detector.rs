//! One model session with its reusable buffers: frame in, typed detections out.
//! A detector is used by one thread at a time (ORT's Rust session needs `&mut` to run);
//! parallelism comes from several detectors over the same verified model file.

use super::decode::{self, Candidate, DecodeError};
use super::detection::{Category, Detection};
use super::letterbox::Letterbox;
use super::manifest::{Manifest, OutputFormat};
use super::model::{self, ModelError, ModelFile};
use super::nms;
use super::preprocess::{PreprocessError, Preprocessor};
use super::runtime::Runtime;
use crate::config::InferenceConfig;
use crate::ingest::Frame;
use ort::session::Session;
use ort::value::TensorRef;
use std::sync::Arc;

/// Why one frame could not be analysed (the model itself stays usable).
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error(transparent)]
    Preprocess(#[from] PreprocessError),
    #[error("model \"{id}\": inference failed: {reason}")]
    Run { id: String, reason: String },
    #[error("model \"{id}\": {source}")]
    Decode { id: String, source: DecodeError },
}

/// A ready-to-run model.
pub struct Detector {
    manifest: Arc<Manifest>,
    model_id: Arc<str>,
    session: Session,
    /// Providers that registered for this session, ending with `cpu`.
    pub providers: Vec<String>,
    pre: Preprocessor,
    input: Vec<f32>,
    input_shape: Vec<i64>,
    thresholds: Vec<f32>,
    categories: Vec<Option<Category>>,
    cands: Vec<Candidate>,
    order: Vec<usize>,
    kept: Vec<Candidate>,
    classes_scratch: Vec<i64>,
}

impl Detector {
    /// Load model `id` with everything from config/env (runtime, manifest, weights).
    pub fn load(cfg: &InferenceConfig, id: &str) -> Result<Self, ModelError> {
        let rt = model::runtime_from_config(cfg)?;
        let file = ModelFile::open(&cfg.models_dir, &model::weights_dir(cfg), id)?;
        Self::new(&file, rt, cfg)
    }

    /// Open a new session on an already verified model file.
    pub fn new(file: &ModelFile, rt: &Runtime, cfg: &InferenceConfig) -> Result<Self, ModelError> {
        let (session, providers) = file.session(rt, cfg)?;
        let m = file.manifest.clone();
        let pre = Preprocessor::new(&m.input);
        let nc = m.classes.names.len();
        let categories: Vec<Option<Category>> = (0..nc).map(|c| m.category_of(c)).collect();
        // Classes without a category can never pass: an infinite threshold drops them
        // in the decoder before they cost NMS time.
        let thresholds = categories
            .iter()
            .map(|c| c.as_ref().map_or(f32::INFINITY, |c| m.threshold_for(c)))
            .collect();
        Ok(Self {
            model_id: Arc::from(m.id.as_str()),
            input: vec![0.0; pre.len()],
            input_shape: m.input.shape.iter().map(|&d| d.max(1)).collect(),
            pre,
            manifest: m,
            session,
            providers,
            thresholds,
            categories,
            cands: Vec::with_capacity(1024),
            order: Vec::with_capacity(1024),
            kept: Vec::with_capacity(300),
            classes_scratch: Vec::new(),
        })
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Detect objects in a decoded frame; boxes come back in the frame's pixels.
    pub fn detect(&mut self, frame: &Frame) -> Result<Vec<Detection>, DetectError> {
        self.detect_rgb(&frame.data, frame.width, frame.height)
    }

    /// Detect objects in packed RGB pixels.
    pub fn detect_rgb(
        &mut self,
        rgb: &[u8],
        width: u32,
        height: u32,
    ) -> Result<Vec<Detection>, DetectError> {
        let lb = self.preprocess(rgb, width, height)?;
        self.run_and_decode()?;
        Ok(self.finish(&lb))
    }

    /// Fill the input tensor from a frame (exposed for benchmarks).
    pub fn preprocess(
        &mut self,
        rgb: &[u8],
        width: u32,
        height: u32,
    ) -> Result<Letterbox, DetectError> {
        Ok(self.pre.run(rgb, width, height, &mut self.input)?)
    }

    /// Run the session on the current input tensor and decode + NMS its outputs into
    /// the candidate buffers (exposed for benchmarks: the bare inference limit).
    pub fn run_and_decode(&mut self) -> Result<(), DetectError> {
        let Self {
            manifest: m,
            session,
            input,
            input_shape,
            thresholds,
            cands,
            order,
            kept,
            classes_scratch,
            ..
        } = self;
        let id = || m.id.clone();
        let run_err = |e: ort::Error| DetectError::Run {
            id: m.id.clone(),
            reason: e.to_string(),
        };
        let tensor =
            TensorRef::from_array_view((input_shape.clone(), &input[..])).map_err(run_err)?;
        let outputs = session
            .run(ort::inputs![m.input.name.as_str() => tensor])
            .map_err(run_err)?;
        let f32_out = |name: &str| -> Result<&[f32], DetectError> {
            outputs
                .get(name)
                .ok_or_else(|| DetectError::Run {
                    id: m.id.clone(),
                    reason: format!("output \"{name}\" missing"),
                })?
                .try_extract_tensor::<f32>()
                .map(|(_, d)| d)
                .map_err(run_err)
        };
        cands.clear();
        let dec = match m.output.format {
            OutputFormat::Yolox => {
                let (_, h, w) = m.input_chw();
                decode::yolox(
                    f32_out(&m.output.names[0])?,
                    w as u32,
                    h as u32,
                    &m.output.strides,
                    thresholds,
                    cands,
                )
            }
            OutputFormat::Ultralytics => {
                decode::ultralytics(f32_out(&m.output.names[0])?, thresholds, cands)
            }
            OutputFormat::End2end => {
                let boxes = f32_out(&m.output.names[0])?;
                let scores = f32_out(&m.output.names[1])?;
                let cls =
                    outputs
                        .get(m.output.names[2].as_str())
                        .ok_or_else(|| DetectError::Run {
                            id: id(),
                            reason: format!("output \"{}\" missing", m.output.names[2]),
                        })?;
                classes_scratch.clear();
                if let Ok((_, d)) = cls.try_extract_tensor::<i64>() {
                    classes_scratch.extend_from_slice(d);
                } else if let Ok((_, d)) = cls.try_extract_tensor::<i32>() {
                    classes_scratch.extend(d.iter().map(|&c| c as i64));
                } else {
                    let (_, d) = cls.try_extract_tensor::<f32>().map_err(run_err)?;
                    classes_scratch.extend(d.iter().map(|&c| c.round() as i64));
                }
                decode::end2end(boxes, scores, classes_scratch, thresholds, cands)
            }
        };
        dec.map_err(|source| DetectError::Decode { id: id(), source })?;
        nms::class_aware(
            cands,
            m.output.nms_iou,
            m.output.max_detections,
            order,
            kept,
        );
        Ok(())
    }

    /// Turn the kept candidates into typed detections in frame pixels.
    fn finish(&self, lb: &Letterbox) -> Vec<Detection> {
        self.kept
            .iter()
            .filter_map(|c| {
                let category = self.categories.get(c.class_id as usize)?.clone()?;
                Some(Detection {
                    category,
                    class_name: self.manifest.classes.names[c.class_id as usize].clone(),
                    class_id: c.class_id,
                    score: c.score,
                    bbox: lb.to_source(c.bbox),
                    model_id: self.model_id.clone(),
                })
            })
            .collect()
    }
}
