//! The ONNX Runtime library and environment, and execution-provider selection.
//!
//! The library is loaded explicitly with `ort::init_from` because an implicit load panics
//! when the file is missing; a box without its runtime must say so and keep serving its
//! web page. ORT allows one environment per process, so it lives in a process-wide cell.

use super::providers::{self, ProviderOptions};
use ort::environment::Environment;
use ort::session::builder::SessionBuilder;
use std::collections::BTreeMap;
use std::ffi::{CStr, c_char, c_int};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// Why the runtime or an execution provider could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(
        "ONNX Runtime library not found (looked at {}); set inference.library_path or STREETWATCH_ORT_LIB, or run scripts/setup.sh",
        .tried.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    LibraryNotFound { tried: Vec<PathBuf> },
    #[error("cannot load ONNX Runtime library {path}: {reason}")]
    LibraryLoad { path: PathBuf, reason: String },
    #[error("cannot create the ONNX Runtime environment: {0}")]
    Environment(String),
    #[error("unknown execution provider \"{name}\"; known: {known}")]
    UnknownProvider { name: String, known: String },
}

/// Execution providers streetwatch knows, with ONNX Runtime's name for each. The order
/// of this table is irrelevant: the config's list gives the preference.
pub const PROVIDERS: &[(&str, &str)] = &[
    ("cpu", "CPUExecutionProvider"),
    ("cuda", "CUDAExecutionProvider"),
    ("tensorrt", "TensorrtExecutionProvider"),
    ("openvino", "OpenVINOExecutionProvider"),
    ("acl", "ACLExecutionProvider"),
    ("armnn", "ArmNNExecutionProvider"),
    ("cann", "CANNExecutionProvider"),
    ("qnn", "QNNExecutionProvider"),
    ("rknpu", "RknpuExecutionProvider"),
    ("nnapi", "NnapiExecutionProvider"),
    ("xnnpack", "XnnpackExecutionProvider"),
    ("coreml", "CoreMLExecutionProvider"),
    ("directml", "DmlExecutionProvider"),
    ("migraphx", "MIGraphXExecutionProvider"),
    ("rocm", "ROCMExecutionProvider"),
    ("tvm", "TvmExecutionProvider"),
    ("vitis", "VitisAIExecutionProvider"),
];

/// The loaded runtime: the environment plus what the library can do.
pub struct Runtime {
    pub env: Environment,
    pub library: PathBuf,
    /// ONNX Runtime names of the providers compiled into the library.
    pub available: Vec<String>,
    /// Providers already reported as skipped, so each is logged once per process.
    logged_skips: Mutex<Vec<String>>,
}

static RUNTIME: OnceLock<Runtime> = OnceLock::new();
static INIT: Mutex<()> = Mutex::new(());

/// Where the library is looked for: explicit path (config), `STREETWATCH_ORT_LIB`,
/// then next to the binary, `.deps/onnxruntime/`, `/usr/lib/streetwatch/`.
pub fn resolve_library(configured: Option<&Path>) -> Result<PathBuf, RuntimeError> {
    let mut tried = Vec::new();
    if let Ok(p) = std::env::var("STREETWATCH_ORT_LIB") {
        // The environment wins over the config file so a technician can test a library
        // without editing the box's config.
        return Ok(PathBuf::from(p));
    }
    if let Some(p) = configured {
        return Ok(p.to_path_buf());
    }
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        dirs.push(dir);
    }
    dirs.push(PathBuf::from(".deps/onnxruntime"));
    dirs.push(PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/.deps/onnxruntime"
    )));
    dirs.push(PathBuf::from("/usr/lib/streetwatch"));
    for dir in dirs {
        if let Ok(rd) = std::fs::read_dir(&dir) {
            let mut names: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("libonnxruntime.so"))
                })
                .collect();
            names.sort();
            if let Some(p) = names.pop() {
                return Ok(p);
            }
        }
        tried.push(dir.join("libonnxruntime.so*"));
    }
    Err(RuntimeError::LibraryNotFound { tried })
}

/// Load the library (once per process) and create the environment.
///
/// A second call returns the first runtime whatever path it is given: ONNX Runtime
/// cannot be unloaded or loaded twice in one process.
pub fn init(library: &Path) -> Result<&'static Runtime, RuntimeError> {
    // Checked before the cached runtime so a wrong path is reported even when another
    // library is already loaded.
    if !library.is_file() {
        return Err(RuntimeError::LibraryLoad {
            path: library.to_path_buf(),
            reason: "no such file".into(),
        });
    }
    let _guard = INIT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let builder = ort::init_from(library).map_err(|e| RuntimeError::LibraryLoad {
        path: library.to_path_buf(),
        reason: e.to_string(),
    })?;
    let env = builder
        .with_name("streetwatch")
        .with_telemetry(false)
        .build()
        .map_err(|e| RuntimeError::Environment(e.to_string()))?;
    let available = available_providers();
    tracing::info!(library = %library.display(), providers = ?available, "ONNX Runtime loaded");
    Ok(RUNTIME.get_or_init(|| Runtime {
        env,
        library: library.to_path_buf(),
        available,
        logged_skips: Mutex::new(Vec::new()),
    }))
}

/// Check config provider names before any model is loaded.
pub fn check_provider_names(names: &[String]) -> Result<(), RuntimeError> {
    for n in names {
        if lookup(n).is_none() {
            return Err(RuntimeError::UnknownProvider {
                name: n.clone(),
                known: PROVIDERS
                    .iter()
                    .map(|(k, _)| *k)
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    Ok(())
}

fn lookup(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    PROVIDERS.iter().find(|(k, _)| *k == lower).map(|(_, v)| *v)
}

impl Runtime {
    /// Register the first usable providers from `preference` on `builder` (all that
    /// register, in order: ORT assigns each node to the first provider that takes it).
    /// CPU needs no registration and is always the last resort. Returns the names of the
    /// providers that registered, ending with `cpu`.
    pub fn apply_providers(
        &self,
        builder: &mut SessionBuilder,
        preference: &[String],
        options: &BTreeMap<String, ProviderOptions>,
    ) -> Result<Vec<String>, RuntimeError> {
        check_provider_names(preference)?;
        let none = ProviderOptions::new();
        let mut used = Vec::new();
        for name in preference {
            let name = name.to_ascii_lowercase();
            if name == "cpu" {
                continue;
            }
            let opts = options.get(&name).unwrap_or(&none);
            match self.try_register(builder, &name, opts) {
                Ok(()) => used.push(name),
                Err(reason) => self.log_skip_once(&name, &reason),
            }
        }
        used.push("cpu".into());
        Ok(used)
    }

    fn try_register(
        &self,
        builder: &mut SessionBuilder,
        name: &str,
        options: &ProviderOptions,
    ) -> Result<(), String> {
        let ort_name = lookup(name).unwrap_or_default();
        if !self.available.iter().any(|a| a == ort_name) {
            return Err(format!(
                "not compiled into {} (it offers {})",
                self.library.display(),
                self.available.join(", ")
            ));
        }
        let route = providers::registration(name)
            .ok_or_else(|| format!("no registration route for \"{name}\""))?;
        providers::register(builder, route, options, &self.library)
    }

    fn log_skip_once(&self, name: &str, reason: &str) {
        let mut logged = self.logged_skips.lock().unwrap_or_else(|e| e.into_inner());
        if !logged.iter().any(|n| n == name) {
            tracing::warn!(provider = name, %reason, "execution provider unavailable, trying the next");
            logged.push(name.to_string());
        }
    }
}

/// Turn an ORT status into `Err(message)`, releasing it.
pub(crate) fn status_to_result(status: ort::sys::OrtStatusPtr) -> Result<(), String> {
    if status.0.is_null() {
        return Ok(());
    }
    // SAFETY: a non-null status returned by ORT is valid until released; the message is
    // copied out before `ReleaseStatus` frees it, and it is released exactly once.
    unsafe {
        let msg = CStr::from_ptr((ort::api().GetErrorMessage)(status.0))
            .to_string_lossy()
            .into_owned();
        (ort::api().ReleaseStatus)(status.0);
        Err(msg)
    }
}

/// ONNX Runtime names of the providers compiled into the loaded library.
fn available_providers() -> Vec<String> {
    let mut list: *mut *mut c_char = std::ptr::null_mut();
    let mut n: c_int = 0;
    // SAFETY: ORT fills `list` with `n` NUL-terminated strings that stay valid until
    // `ReleaseAvailableProviders`; we copy them before releasing with the same count.
    unsafe {
        if status_to_result((ort::api().GetAvailableProviders)(&mut list, &mut n)).is_err()
            || list.is_null()
        {
            return Vec::new();
        }
        let out = (0..n as usize)
            .map(|i| CStr::from_ptr(*list.add(i)).to_string_lossy().into_owned())
            .collect();
        let _ = status_to_result((ort::api().ReleaseAvailableProviders)(list, n));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_provider_name_is_refused_with_the_known_list() {
        let err = check_provider_names(&["cpu".into(), "warpdrive".into()]).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("\"warpdrive\"") && msg.contains("openvino"),
            "{msg}"
        );
        assert!(check_provider_names(&["CUDA".into(), "cpu".into()]).is_ok());
    }
}
