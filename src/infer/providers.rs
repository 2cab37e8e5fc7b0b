//! Registering execution providers with their options.
//!
//! ONNX Runtime has three ways in, depending on the provider, and `ort` only exposes the
//! typed ones behind cargo features that would tie the build to one accelerator. The box
//! image is the same for every board (the library decides what is there), so streetwatch
//! talks to the C API directly:
//!
//! - **by name** (OpenVINO, QNN, XNNPACK, CoreML, VitisAI): `SessionOptionsAppendExecutionProvider`
//!   with string key/value options;
//! - **options struct** (CUDA, TensorRT, CANN): `Create*ProviderOptions`, then
//!   `Update*ProviderOptions` with the same string pairs, append, release;
//! - **exported function** (ACL, ArmNN, RKNPU, NNAPI, TVM): a C symbol that only exists in
//!   libraries built with that provider, looked up in the loaded library with `dlsym`.
//!
//! Option keys and values are passed through unchanged (ORT's own names, e.g. CUDA
//! `device_id`, `gpu_mem_limit`; TensorRT `trt_fp16_enable`, `trt_engine_cache_path`;
//! CANN `device_id`, `precision_mode`), so every option ORT documents for the version in
//! use works without a streetwatch release; ORT rejects an unknown key with a message
//! that names it, and that message is what the log shows.

use std::collections::BTreeMap;
use std::ffi::{CString, c_char, c_int};
use std::path::Path;

use ort::AsPointer;
use ort::session::builder::SessionBuilder;

/// String options for one provider, in ORT's own key names.
pub type ProviderOptions = BTreeMap<String, String>;

/// How a provider is registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// `SessionOptionsAppendExecutionProvider` with this short name.
    ByName(&'static str),
    /// `Create/Update/Release*ProviderOptions` + `SessionOptionsAppendExecutionProvider_*`.
    OptionsStruct(OptionsStruct),
    /// A C function exported by provider-enabled builds of the library.
    Exported(Exported),
    /// Known, but its registration needs a C struct layout streetwatch does not build
    /// (ROCm and MIGraphX: removed or deprecated upstream; DirectML: Windows only).
    Unsupported(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionsStruct {
    Cuda,
    TensorRt,
    Cann,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exported {
    /// `OrtSessionOptionsAppendExecutionProvider_ACL(options, int enable_fast_math)`.
    Acl,
    /// `OrtSessionOptionsAppendExecutionProvider_ArmNN(options, int use_arena)`.
    ArmNn,
    /// `OrtSessionOptionsAppendExecutionProvider_RKNPU(options)`.
    Rknpu,
    /// `OrtSessionOptionsAppendExecutionProvider_Nnapi(options, uint32 flags)`.
    Nnapi,
    /// `OrtSessionOptionsAppendExecutionProvider_Tvm(options, const char *settings)`.
    Tvm,
}

/// The registration route of a streetwatch provider name (lower case).
pub fn registration(name: &str) -> Option<Registration> {
    use Registration::*;
    Some(match name {
        "openvino" => ByName("OpenVINO"),
        "qnn" => ByName("QNN"),
        "xnnpack" => ByName("XNNPACK"),
        "coreml" => ByName("CoreML"),
        "vitis" => ByName("VitisAI"),
        "cuda" => OptionsStruct(self::OptionsStruct::Cuda),
        "tensorrt" => OptionsStruct(self::OptionsStruct::TensorRt),
        "cann" => OptionsStruct(self::OptionsStruct::Cann),
        "acl" => Exported(self::Exported::Acl),
        "armnn" => Exported(self::Exported::ArmNn),
        "rknpu" => Exported(self::Exported::Rknpu),
        "nnapi" => Exported(self::Exported::Nnapi),
        "tvm" => Exported(self::Exported::Tvm),
        "rocm" => Unsupported("ROCm was removed from ONNX Runtime; use migraphx builds or cpu"),
        "migraphx" => Unsupported("MIGraphX needs a C options struct streetwatch does not build"),
        "directml" => Unsupported("DirectML exists only on Windows"),
        _ => return None,
    })
}

/// Options as NUL-terminated C strings, kept alive for the duration of one call.
struct CPairs {
    keys: Vec<CString>,
    values: Vec<CString>,
}

impl CPairs {
    fn new(options: &ProviderOptions) -> Result<Self, String> {
        let mut keys = Vec::with_capacity(options.len());
        let mut values = Vec::with_capacity(options.len());
        for (k, v) in options {
            keys.push(
                CString::new(k.as_str())
                    .map_err(|_| format!("option \"{k}\" contains a NUL byte"))?,
            );
            values.push(
                CString::new(v.as_str())
                    .map_err(|_| format!("option \"{k}\" has a value with a NUL byte"))?,
            );
        }
        Ok(Self { keys, values })
    }

    fn key_ptrs(&self) -> Vec<*const c_char> {
        self.keys.iter().map(|c| c.as_ptr()).collect()
    }

    fn value_ptrs(&self) -> Vec<*const c_char> {
        self.values.iter().map(|c| c.as_ptr()).collect()
    }
}

/// Register `route` on `builder`. `library` is the loaded ONNX Runtime file, needed for
/// exported-function providers.
pub fn register(
    builder: &mut SessionBuilder,
    route: Registration,
    options: &ProviderOptions,
    library: &Path,
) -> Result<(), String> {
    match route {
        Registration::ByName(short) => by_name(builder, short, options),
        Registration::OptionsStruct(kind) => options_struct(builder, kind, options),
        Registration::Exported(kind) => exported(builder, kind, options, library),
        Registration::Unsupported(why) => Err(why.to_string()),
    }
}

fn by_name(
    builder: &mut SessionBuilder,
    short: &str,
    options: &ProviderOptions,
) -> Result<(), String> {
    let name = CString::new(short).map_err(|e| e.to_string())?;
    let pairs = CPairs::new(options)?;
    let (keys, values) = (pairs.key_ptrs(), pairs.value_ptrs());
    // SAFETY: the builder's pointer is a live OrtSessionOptions owned by `builder`; the
    // name and every key/value are NUL-terminated strings owned by `name`/`pairs`, which
    // outlive the call, and the count matches both arrays.
    let status = unsafe {
        (ort::api().SessionOptionsAppendExecutionProvider)(
            builder.ptr_mut(),
            name.as_ptr(),
            keys.as_ptr(),
            values.as_ptr(),
            keys.len(),
        )
    };
    super::runtime::status_to_result(status)
}

fn options_struct(
    builder: &mut SessionBuilder,
    kind: OptionsStruct,
    options: &ProviderOptions,
) -> Result<(), String> {
    let pairs = CPairs::new(options)?;
    let (keys, values) = (pairs.key_ptrs(), pairs.value_ptrs());
    let api = ort::api();
    let status = super::runtime::status_to_result;
    // SAFETY (all three arms): `Create*` hands back an options object we own until the
    // matching `Release*`, which runs exactly once on every path after a successful
    // create; `Update*` reads `keys.len()` NUL-terminated key/value strings that live in
    // `pairs` for the whole block; the builder pointer is a live OrtSessionOptions and
    // ORT copies the provider options during the append, so releasing afterwards is
    // what its documentation asks for.
    unsafe {
        match kind {
            OptionsStruct::Cuda => {
                let mut o = std::ptr::null_mut();
                status((api.CreateCUDAProviderOptions)(&mut o))?;
                let r = status((api.UpdateCUDAProviderOptions)(
                    o,
                    keys.as_ptr(),
                    values.as_ptr(),
                    keys.len(),
                ))
                .and_then(|()| {
                    status((api.SessionOptionsAppendExecutionProvider_CUDA_V2)(
                        builder.ptr_mut(),
                        o,
                    ))
                });
                (api.ReleaseCUDAProviderOptions)(o);
                r
            }
            OptionsStruct::TensorRt => {
                let mut o = std::ptr::null_mut();
                status((api.CreateTensorRTProviderOptions)(&mut o))?;
                let r = status((api.UpdateTensorRTProviderOptions)(
                    o,
                    keys.as_ptr(),
                    values.as_ptr(),
                    keys.len(),
                ))
                .and_then(|()| {
                    status((api.SessionOptionsAppendExecutionProvider_TensorRT_V2)(
                        builder.ptr_mut(),
                        o,
                    ))
                });
                (api.ReleaseTensorRTProviderOptions)(o);
                r
            }
            OptionsStruct::Cann => {
                let mut o = std::ptr::null_mut();
                status((api.CreateCANNProviderOptions)(&mut o))?;
                let r = status((api.UpdateCANNProviderOptions)(
                    o,
                    keys.as_ptr(),
                    values.as_ptr(),
                    keys.len(),
                ))
                .and_then(|()| {
                    status((api.SessionOptionsAppendExecutionProvider_CANN)(
                        builder.ptr_mut(),
                        o,
                    ))
                });
                (api.ReleaseCANNProviderOptions)(o);
                r
            }
        }
    }
}

/// Parse an integer option of an exported-function provider, with its default.
fn int_option(options: &ProviderOptions, key: &str, default: i64) -> Result<i64, String> {
    match options.get(key) {
        None => Ok(default),
        Some(v) => match v.as_str() {
            "true" => Ok(1),
            "false" => Ok(0),
            v => v.parse().map_err(|_| {
                format!("option \"{key}\" must be an integer or true/false, not \"{v}\"")
            }),
        },
    }
}

/// Refuse keys an exported-function provider does not take, so a typo is not ignored.
fn only_keys(options: &ProviderOptions, allowed: &[&str]) -> Result<(), String> {
    match options.keys().find(|k| !allowed.contains(&k.as_str())) {
        None => Ok(()),
        Some(k) if allowed.is_empty() => Err(format!(
            "option \"{k}\" is not known; this provider takes no options"
        )),
        Some(k) => Err(format!(
            "option \"{k}\" is not known; use {}",
            allowed.join(", ")
        )),
    }
}

fn missing(symbol: &str, library: &Path) -> String {
    format!(
        "{} does not export {symbol}: it was built without this provider; install the vendor's ONNX Runtime build for this board",
        library.display()
    )
}

type AppendNoArg = unsafe extern "C" fn(*mut ort::sys::OrtSessionOptions) -> ort::sys::OrtStatusPtr;
type AppendInt =
    unsafe extern "C" fn(*mut ort::sys::OrtSessionOptions, c_int) -> ort::sys::OrtStatusPtr;
type AppendU32 =
    unsafe extern "C" fn(*mut ort::sys::OrtSessionOptions, u32) -> ort::sys::OrtStatusPtr;
type AppendStr =
    unsafe extern "C" fn(*mut ort::sys::OrtSessionOptions, *const c_char) -> ort::sys::OrtStatusPtr;

fn exported(
    builder: &mut SessionBuilder,
    kind: Exported,
    options: &ProviderOptions,
    library: &Path,
) -> Result<(), String> {
    let symbol: &[u8] = match kind {
        Exported::Acl => b"OrtSessionOptionsAppendExecutionProvider_ACL",
        Exported::ArmNn => b"OrtSessionOptionsAppendExecutionProvider_ArmNN",
        Exported::Rknpu => b"OrtSessionOptionsAppendExecutionProvider_RKNPU",
        Exported::Nnapi => b"OrtSessionOptionsAppendExecutionProvider_Nnapi",
        Exported::Tvm => b"OrtSessionOptionsAppendExecutionProvider_Tvm",
    };
    let shown = String::from_utf8_lossy(symbol).into_owned();
    // SAFETY: opening the library that `ort::init_from` already loaded only takes another
    // reference to the same mapping (dlopen is reference counted) and runs no
    // initialisers a second time; the handle is dropped at the end of this function,
    // while ORT's own reference keeps the code mapped.
    let lib = unsafe { libloading::Library::new(library) }
        .map_err(|e| format!("cannot open {}: {e}", library.display()))?;
    let ptr = builder.ptr_mut();
    // SAFETY (each arm): the symbol is looked up by its exact exported name, and the
    // function type matches the C prototype in ONNX Runtime's provider factory header for
    // that provider (see the variant docs); it is called with a live OrtSessionOptions
    // and by-value scalars or a NUL-terminated string that outlives the call.
    let status = unsafe {
        match kind {
            Exported::Acl => {
                only_keys(options, &["enable_fast_math"])?;
                let fast = int_option(options, "enable_fast_math", 0)? as c_int;
                let f = lib
                    .get::<AppendInt>(symbol)
                    .map_err(|_| missing(&shown, library))?;
                f(ptr, fast)
            }
            Exported::ArmNn => {
                only_keys(options, &["use_arena"])?;
                let arena = int_option(options, "use_arena", 1)? as c_int;
                let f = lib
                    .get::<AppendInt>(symbol)
                    .map_err(|_| missing(&shown, library))?;
                f(ptr, arena)
            }
            Exported::Rknpu => {
                only_keys(options, &[])?;
                let f = lib
                    .get::<AppendNoArg>(symbol)
                    .map_err(|_| missing(&shown, library))?;
                f(ptr)
            }
            Exported::Nnapi => {
                only_keys(options, &["flags"])?;
                let flags = u32::try_from(int_option(options, "flags", 0)?)
                    .map_err(|_| "option \"flags\" must fit in 32 bits".to_string())?;
                let f = lib
                    .get::<AppendU32>(symbol)
                    .map_err(|_| missing(&shown, library))?;
                f(ptr, flags)
            }
            Exported::Tvm => {
                only_keys(options, &["settings"])?;
                let settings =
                    CString::new(options.get("settings").map(String::as_str).unwrap_or(""))
                        .map_err(|_| "option \"settings\" contains a NUL byte".to_string())?;
                let f = lib
                    .get::<AppendStr>(symbol)
                    .map_err(|_| missing(&shown, library))?;
                f(ptr, settings.as_ptr())
            }
        }
    };
    super::runtime::status_to_result(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_provider_has_a_registration_route() {
        for (name, _) in super::super::runtime::PROVIDERS {
            if *name == "cpu" {
                continue;
            }
            assert!(
                registration(name).is_some(),
                "{name} has no registration route"
            );
        }
        assert_eq!(registration("warpdrive"), None);
    }

    #[test]
    fn exported_provider_options_are_checked_before_anything_is_loaded() {
        let mut o = ProviderOptions::new();
        o.insert("enable_fastmath".into(), "1".into());
        let err = only_keys(&o, &["enable_fast_math"]).unwrap_err();
        assert!(
            err.contains("\"enable_fastmath\"") && err.contains("enable_fast_math"),
            "{err}"
        );
        o.clear();
        o.insert("flags".into(), "often".into());
        let err = int_option(&o, "flags", 0).unwrap_err();
        assert!(err.contains("\"flags\"") && err.contains("often"), "{err}");
        o.insert("flags".into(), "true".into());
        assert_eq!(int_option(&o, "flags", 0).unwrap(), 1);
    }

    #[test]
    fn an_option_with_a_nul_byte_is_refused_by_name() {
        let mut o = ProviderOptions::new();
        o.insert("device_id".into(), "0\0".into());
        let err = CPairs::new(&o).err().unwrap();
        assert!(err.contains("\"device_id\""), "{err}");
    }
}
