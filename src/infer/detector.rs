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
        if !file.manifest.output.format.is_detector() {
            return Err(ModelError::NotADetector {
                id: file.manifest.id.clone(),
                format: format!("{:?}", file.manifest.output.format),
            });
        }
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
        let lb = self.pre.run_frame(frame, &mut self.input)?;
        self.run_and_decode()?;
        Ok(self.finish(&lb))
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
        self.run_batch(1, |_, _| {})
    }

    /// Largest number of frames [`Detector::detect_batch`] runs in one session call:
    /// the manifest's `max_batch` when the model has a dynamic batch, else 1.
    pub fn max_batch(&self) -> usize {
        if self.manifest.input.shape[0] < 0 {
            self.manifest.input.max_batch.max(1) as usize
        } else {
            1
        }
    }

    /// Detect objects in several frames (from different cameras) with one session run.
    /// Falls back to one run per frame when the model has a fixed batch.
    pub fn detect_batch(&mut self, frames: &[&Frame]) -> Vec<Result<Vec<Detection>, DetectError>> {
        if frames.len() <= 1 || self.max_batch() < frames.len() {
            return frames.iter().map(|f| self.detect(f)).collect();
        }
        let per = self.pre.len();
        self.input.resize(per * frames.len(), 0.0);
        let mut boxes = Vec::with_capacity(frames.len());
        for (i, f) in frames.iter().enumerate() {
            let slot = &mut self.input[i * per..(i + 1) * per];
            match self.pre.run_frame(f, slot) {
                Ok(lb) => boxes.push(lb),
                Err(_) => {
                    // One bad frame must not fail the others: run them one by one.
                    self.input.truncate(per);
                    return frames.iter().map(|f| self.detect(f)).collect();
                }
            }
        }
        let mut out: Vec<Vec<Detection>> = Vec::with_capacity(frames.len());
        let (categories, names, model_id) = (
            self.categories.clone(),
            self.manifest.classes.names.clone(),
            self.model_id.clone(),
        );
        let result = self.run_batch(frames.len(), |i, kept| {
            out.push(to_detections(
                kept,
                &boxes[i],
                &categories,
                &names,
                &model_id,
            ));
        });
        self.input.truncate(per);
        match result {
            Ok(()) => out.into_iter().map(Ok).collect(),
            Err(e) => {
                let msg = e.to_string();
                (0..frames.len())
                    .map(|_| {
                        Err(DetectError::Run {
                            id: model_id.to_string(),
                            reason: msg.clone(),
                        })
                    })
                    .collect()
            }
        }
    }

    /// Run the session on the first `n` images of the input tensor; decode + NMS each
    /// image's slice of the outputs and hand its kept candidates to `per_image`.
    fn run_batch(
        &mut self,
        n: usize,
        mut per_image: impl FnMut(usize, &[Candidate]),
    ) -> Result<(), DetectError> {
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
        let mut shape = input_shape.clone();
        shape[0] = n as i64;
        let tensor = TensorRef::from_array_view((shape, &input[..])).map_err(run_err)?;
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
        if m.output.format == OutputFormat::End2end {
            let cls = outputs
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
        }
        for i in 0..n {
            cands.clear();
            let dec = match m.output.format {
                OutputFormat::Yolox => {
                    let (_, h, w) = m.input_chw();
                    let all = f32_out(&m.output.names[0])?;
                    let part = batch_part(all, i, n);
                    decode::yolox(
                        part,
                        w as u32,
                        h as u32,
                        &m.output.strides,
                        thresholds,
                        cands,
                    )
                }
                OutputFormat::Ultralytics => {
                    let all = f32_out(&m.output.names[0])?;
                    let part = batch_part(all, i, n);
                    decode::ultralytics(part, thresholds, cands)
                }
                // Refused in `Detector::new`.
                OutputFormat::PlateCorners | OutputFormat::Ctc => Ok(()),
                OutputFormat::End2end => {
                    let boxes = f32_out(&m.output.names[0])?;
                    let scores = f32_out(&m.output.names[1])?;
                    decode::end2end(
                        batch_part(boxes, i, n),
                        batch_part(scores, i, n),
                        batch_part(classes_scratch, i, n),
                        thresholds,
                        cands,
                    )
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
            per_image(i, kept);
        }
        Ok(())
    }

    /// Turn the kept candidates into typed detections in frame pixels.
    fn finish(&self, lb: &Letterbox) -> Vec<Detection> {
        to_detections(
            &self.kept,
            lb,
            &self.categories,
            &self.manifest.classes.names,
            &self.model_id,
        )
    }
}

/// Image `i`'s part of a batched output: every output's first dimension is the batch,
/// so image i owns the i-th of `n` equal slices.
fn batch_part<T>(all: &[T], i: usize, n: usize) -> &[T] {
    let per = all.len() / n;
    &all[i * per..(i + 1) * per]
}

fn to_detections(
    kept: &[Candidate],
    lb: &Letterbox,
    categories: &[Option<Category>],
    names: &[String],
    model_id: &Arc<str>,
) -> Vec<Detection> {
    kept.iter()
        .filter_map(|c| {
            let category = categories.get(c.class_id as usize)?.clone()?;
            Some(Detection {
                category,
                class_name: names[c.class_id as usize].clone(),
                class_id: c.class_id,
                score: c.score,
                bbox: lb.to_source(c.bbox),
                model_id: model_id.clone(),
            })
        })
        .collect()
}
