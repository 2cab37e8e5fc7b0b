//! Loading a model: manifest, weight file, sha256, ORT session, and a check that the
//! session's tensors are what the manifest promises. Every refusal names the model and
//! the mismatch, so a technician can fix the box without reading code; the caller keeps
//! the daemon running and marks the model's cameras `model unavailable`.

use super::manifest::{Manifest, ManifestError, OutputFormat};
use super::runtime::{self, Runtime, RuntimeError};
use crate::config::InferenceConfig;
use ort::session::Session;
use ort::value::{TensorElementType, ValueType};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a model was refused.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(
        "model \"{id}\": weight file {path} is missing (run scripts/setup.sh or copy it there)"
    )]
    MissingFile { id: String, path: PathBuf },
    #[error("model \"{id}\": cannot read {path}: {reason}")]
    ReadFile {
        id: String,
        path: PathBuf,
        reason: String,
    },
    #[error("model \"{id}\": sha256 of {path} is {actual}, the manifest expects {expected}")]
    ShaMismatch {
        id: String,
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("model \"{id}\": ONNX Runtime cannot load {path}: {reason}")]
    Session {
        id: String,
        path: PathBuf,
        reason: String,
    },
    #[error("model \"{id}\": tensors do not match the manifest: {message}")]
    TensorMismatch { id: String, message: String },
    #[error(
        "model \"{id}\" is a {format} model, not an object detector; list it under the evidence settings that use it, not in a camera's analysis.models"
    )]
    NotADetector { id: String, format: String },
}

/// A verified model file ready to open sessions from.
#[derive(Debug, Clone)]
pub struct ModelFile {
    pub manifest: Arc<Manifest>,
    pub path: PathBuf,
    bytes: Arc<[u8]>,
}

/// Where weights live: `STREETWATCH_ASSETS/models` when set (tests, setup), else the
/// configured `weights_dir`.
pub fn weights_dir(cfg: &InferenceConfig) -> PathBuf {
    match std::env::var("STREETWATCH_ASSETS") {
        Ok(a) => Path::new(&a).join("models"),
        Err(_) => cfg.weights_dir.clone(),
    }
}

impl ModelFile {
    /// Read the manifest and the weights and check the sha256.
    pub fn open(models_dir: &Path, weights_dir: &Path, id: &str) -> Result<Self, ModelError> {
        let manifest = Manifest::load(models_dir, id)?;
        let path = weights_dir.join(id).join(&manifest.file);
        if !path.is_file() {
            return Err(ModelError::MissingFile {
                id: id.into(),
                path,
            });
        }
        let bytes = std::fs::read(&path).map_err(|e| ModelError::ReadFile {
            id: id.into(),
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let actual = hex::encode(Sha256::digest(&bytes));
        if !actual.eq_ignore_ascii_case(&manifest.sha256) {
            return Err(ModelError::ShaMismatch {
                id: id.into(),
                path,
                expected: manifest.sha256.clone(),
                actual,
            });
        }
        let mut manifest = manifest;
        if let Some(file) = manifest.classes.file.clone() {
            manifest.classes.names = read_class_file(
                id,
                &weights_dir.join(id).join(&file),
                manifest.classes.file_sha256.as_deref().unwrap_or_default(),
            )?;
        }
        Ok(Self {
            manifest: Arc::new(manifest),
            path,
            bytes: bytes.into(),
        })
    }

    /// Create one session with the configured providers and threads, and verify its
    /// tensors. Returns the session and the providers that registered.
    pub fn session(
        &self,
        rt: &Runtime,
        cfg: &InferenceConfig,
    ) -> Result<(Session, Vec<String>), ModelError> {
        let id = &self.manifest.id;
        let fail = |reason: String| ModelError::Session {
            id: id.clone(),
            path: self.path.clone(),
            reason,
        };
        let mut builder = Session::builder(&rt.env).map_err(|e| fail(e.to_string()))?;
        let used = rt.apply_providers(
            &mut builder,
            &cfg.execution_providers,
            &cfg.provider_option_strings(),
        )?;
        // Spinning threads burn the cores other cameras' decoders need and measurably
        // worsen p90 latency here; parallelism comes from several sessions instead.
        let session = builder
            .with_intra_threads(cfg.intra_threads.max(1))
            .map_err(|e| fail(e.to_string()))?
            .with_inter_threads(1)
            .map_err(|e| fail(e.to_string()))?
            .with_intra_op_spinning(false)
            .map_err(|e| fail(e.to_string()))?
            .with_inter_op_spinning(false)
            .map_err(|e| fail(e.to_string()))?
            .commit_from_memory(&self.bytes)
            .map_err(|e| fail(e.to_string()))?;
        verify_tensors(&self.manifest, &session).map_err(|message| ModelError::TensorMismatch {
            id: id.clone(),
            message,
        })?;
        Ok((session, used))
    }
}

/// A symbol list beside the weights (one symbol per line, trailing newline optional),
/// checked against its pinned sha256 like the weights.
fn read_class_file(id: &str, path: &Path, sha256: &str) -> Result<Vec<String>, ModelError> {
    if !path.is_file() {
        return Err(ModelError::MissingFile {
            id: id.into(),
            path: path.to_path_buf(),
        });
    }
    let bytes = std::fs::read(path).map_err(|e| ModelError::ReadFile {
        id: id.into(),
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let actual = hex::encode(Sha256::digest(&bytes));
    if !actual.eq_ignore_ascii_case(sha256) {
        return Err(ModelError::ShaMismatch {
            id: id.into(),
            path: path.to_path_buf(),
            expected: sha256.into(),
            actual,
        });
    }
    let text = String::from_utf8(bytes).map_err(|_| ModelError::ReadFile {
        id: id.into(),
        path: path.to_path_buf(),
        reason: "not UTF-8 text".into(),
    })?;
    let names: Vec<String> = text
        .lines()
        .map(|l| l.trim_end_matches('\r').to_string())
        .filter(|l| !l.is_empty())
        .collect();
    if names.is_empty() {
        return Err(ModelError::ReadFile {
            id: id.into(),
            path: path.to_path_buf(),
            reason: "the symbol list is empty".into(),
        });
    }
    Ok(names)
}

/// Initialise the runtime from config/env, reporting a missing library clearly.
pub fn runtime_from_config(cfg: &InferenceConfig) -> Result<&'static Runtime, RuntimeError> {
    runtime::check_provider_names(&cfg.execution_providers)?;
    let lib = runtime::resolve_library(cfg.library_path.as_deref())?;
    runtime::init(&lib)
}

/// Compare the session's input and outputs with the manifest.
pub fn verify_tensors(m: &Manifest, s: &Session) -> Result<(), String> {
    let inputs = s.inputs();
    let Some(input) = inputs.iter().find(|i| i.name() == m.input.name) else {
        return Err(format!(
            "no input named \"{}\" (the model has {:?})",
            m.input.name,
            inputs.iter().map(|i| i.name()).collect::<Vec<_>>()
        ));
    };
    if inputs.len() != 1 {
        return Err(format!("expected 1 input, the model has {}", inputs.len()));
    }
    let (ty, shape) = tensor_of(input.dtype(), &m.input.name)?;
    if ty != TensorElementType::Float32 {
        return Err(format!(
            "input \"{}\" is {ty:?}, expected float32",
            m.input.name
        ));
    }
    let ok = shape.len() == 4
        && shape
            .iter()
            .zip(m.input.shape.iter())
            // A dimension the model leaves dynamic may be fixed by the manifest (a
            // text recogniser's line height); a fixed one must match.
            .all(|(&got, &want)| got == want || got <= 0);
    if !ok {
        return Err(format!(
            "input \"{}\" has shape {shape:?}, the manifest says {:?}",
            m.input.name, m.input.shape
        ));
    }
    let outputs = s.outputs();
    for name in &m.output.names {
        let Some(o) = outputs.iter().find(|o| o.name() == name) else {
            return Err(format!(
                "no output named \"{name}\" (the model has {:?})",
                outputs.iter().map(|o| o.name()).collect::<Vec<_>>()
            ));
        };
        let (_, oshape) = tensor_of(o.dtype(), name)?;
        let nc = m.classes.names.len() as i64;
        let width_ok = match m.output.format {
            OutputFormat::Yolox => oshape.last().is_none_or(|&d| d <= 0 || d == 5 + nc),
            OutputFormat::Ultralytics => oshape.get(1).is_none_or(|&d| d <= 0 || d == 4 + nc),
            OutputFormat::End2end => true,
            // loc [B, N, 4], conf [B, N, 2], landms [B, N, 8]: checked by name only,
            // their sizes depend on the picture.
            OutputFormat::PlateCorners => true,
            // Blank + every symbol, and possibly trailing extras (a space class).
            OutputFormat::Ctc => oshape.last().is_none_or(|&d| d <= 0 || d > nc),
        };
        if !width_ok {
            return Err(format!(
                "output \"{name}\" has shape {oshape:?}, which does not fit {} classes in the {:?} format",
                nc, m.output.format
            ));
        }
    }
    Ok(())
}

fn tensor_of<'a>(t: &'a ValueType, name: &str) -> Result<(TensorElementType, &'a [i64]), String> {
    match (t.tensor_type(), t.tensor_shape()) {
        (Some(ty), Some(shape)) => Ok((ty, shape)),
        _ => Err(format!("\"{name}\" is not a tensor")),
    }
}
