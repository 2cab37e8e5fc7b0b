//! The configuration's types. Every field has a default where a sensible one exists;
//! the README's configuration reference documents each of them.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The whole box configuration (`streetwatch.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub device: DeviceConfig,
    #[serde(default)]
    pub logging: LoggingConfig,
    #[serde(default)]
    pub inference: InferenceConfig,
    #[serde(default, rename = "cameras", skip_serializing_if = "Vec::is_empty")]
    pub cameras: Vec<CameraConfig>,
    /// Rule, code-table and evidence settings (`[events]`); every field has a default,
    /// see `rules::EventsConfig`.
    #[serde(default)]
    pub events: crate::rules::EventsConfig,
    #[serde(default)]
    pub uplink: crate::uplink::UplinkConfig,
    #[serde(default)]
    pub web: crate::web::WebConfig,
}

/// Identity and place of the box; these fields end up in every event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceConfig {
    /// Stable device id, used as MQTT client id and in topics.
    pub id: String,
    /// IANA timezone used for schedules and RFC 3339 offsets.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// 6-digit administrative division code (GB/T 2260), e.g. "440802".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub division_code: Option<String>,
    /// Free text describing where the box is mounted.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub location: String,
    /// Where durable state (outbox, registry, keys) lives.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        Self {
            id: "streetwatch".into(),
            timezone: default_timezone(),
            division_code: None,
            location: String::new(),
            state_dir: default_state_dir(),
        }
    }
}

fn default_timezone() -> String {
    "Asia/Shanghai".into()
}
fn default_state_dir() -> PathBuf {
    PathBuf::from("/var/lib/streetwatch")
}

/// Log output; `RUST_LOG` overrides `level` when set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingConfig {
    #[serde(default = "default_level")]
    pub level: String,
    #[serde(default)]
    pub format: LogFormat,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            level: default_level(),
            format: LogFormat::Text,
        }
    }
}

fn default_level() -> String {
    "info".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per record, no colours: journald stores it well.
    #[default]
    Text,
    /// One JSON object per record.
    Json,
}

/// The shared inference engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InferenceConfig {
    /// Path of `libonnxruntime.so`; `STREETWATCH_ORT_LIB` overrides it. When unset the
    /// library is looked for next to the binary, in `.deps/onnxruntime/` and in
    /// `/usr/lib/streetwatch/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub library_path: Option<PathBuf>,
    /// Execution providers in order of preference; CPU is always appended last.
    #[serde(default = "default_eps")]
    pub execution_providers: Vec<String>,
    /// Options per provider in ONNX Runtime's own key names, e.g.
    /// `[inference.provider_options.cuda] device_id = 0`. Passed through unchanged so
    /// every option of the runtime version in use works; ORT names an unknown key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub provider_options: BTreeMap<String, BTreeMap<String, OptionValue>>,
    /// Intra-op threads per session.
    #[serde(default = "default_threads")]
    pub intra_threads: usize,
    /// Parallel sessions per model (each with `intra_threads`).
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// Directory holding `<model-id>/model.toml` manifests.
    #[serde(default = "default_models_dir")]
    pub models_dir: PathBuf,
    /// Directory holding model weights (`<model-id>/<file>`); setup fills it.
    #[serde(default = "default_weights_dir")]
    pub weights_dir: PathBuf,
}

impl Default for InferenceConfig {
    fn default() -> Self {
        Self {
            library_path: None,
            execution_providers: default_eps(),
            provider_options: BTreeMap::new(),
            intra_threads: default_threads(),
            workers: default_workers(),
            models_dir: default_models_dir(),
            weights_dir: default_weights_dir(),
        }
    }
}

/// A provider option as written in TOML; ONNX Runtime takes every option as a string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OptionValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

impl std::fmt::Display for OptionValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OptionValue::Bool(b) => write!(f, "{}", if *b { "1" } else { "0" }),
            OptionValue::Int(i) => write!(f, "{i}"),
            OptionValue::Float(x) => write!(f, "{x}"),
            OptionValue::Text(s) => f.write_str(s),
        }
    }
}

impl InferenceConfig {
    /// The provider options as the strings ONNX Runtime takes, keyed by lower-case name.
    pub fn provider_option_strings(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        self.provider_options
            .iter()
            .map(|(p, o)| {
                (
                    p.to_ascii_lowercase(),
                    o.iter().map(|(k, v)| (k.clone(), v.to_string())).collect(),
                )
            })
            .collect()
    }
}

fn default_eps() -> Vec<String> {
    vec!["cpu".into()]
}
fn default_threads() -> usize {
    1
}
/// Two single-thread sessions: on the 2-core reference box they analysed 82-83 fps
/// against 67-70 for one two-thread session and 47-48 for one single-thread session
/// (`streetwatch bench`, idle machine, docs/performance.md).
fn default_workers() -> usize {
    2
}
fn default_models_dir() -> PathBuf {
    PathBuf::from("models")
}
fn default_weights_dir() -> PathBuf {
    PathBuf::from(".deps/models")
}

/// One camera.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    /// Short unique id (letters, digits, `-`, `_`), used in topics and file names.
    pub id: String,
    /// Human name shown on the web page.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// `rtsp://host[:port]/path`, `rtsps://…`, or `file:///path/video.mp4` (demo, replay).
    /// Credentials go in `username`/`password`, never in the URL.
    pub url: String,
    /// Optional second stream of the same camera (its substream, e.g. 640x360) that is
    /// decoded for analysis. `url` then only feeds the encoded ring, clips, snapshots
    /// and plate crops, decoded just for the frames evidence needs. Same host as `url`
    /// (the camera's credentials go to both); same picture (aspect ratio) and no larger
    /// than the main stream, which `probe`, `check-config --probe` and the page's
    /// connection test measure. Without it the one stream does everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub enabled: bool,
    #[serde(default)]
    pub transport: Transport,
    /// rtspsrc jitterbuffer latency.
    #[serde(default = "default_latency_ms")]
    pub latency_ms: u32,
    #[serde(default)]
    pub analysis: AnalysisConfig,
    #[serde(default)]
    pub preroll: PrerollConfig,
    #[serde(default)]
    pub supervision: SupervisionConfig,
    /// Zones drawn on this camera's image and the rules in them (default none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub zones: Vec<crate::rules::zone::Zone>,
    /// The camera's ONVIF device service, for PTZ (see `ingest::onvif::ptz`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onvif: Option<crate::ingest::onvif::ptz::OnvifAccess>,
    /// PTZ presets, patrol and return home (see `ingest::onvif::ptz`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ptz: Option<crate::ingest::onvif::ptz::PtzConfig>,
    /// Tampering checks, on by default (see `rules::scene::tamper`).
    #[serde(default, skip_serializing_if = "is_default_tamper")]
    pub tamper: crate::rules::scene::tamper::TamperConfig,
}

fn is_default_tamper(t: &crate::rules::scene::tamper::TamperConfig) -> bool {
    *t == crate::rules::scene::tamper::TamperConfig::default()
}

fn yes() -> bool {
    true
}
fn is_true(b: &bool) -> bool {
    *b
}
fn default_latency_ms() -> u32 {
    200
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// RTP over the RTSP TCP connection: survives NAT and lossy 4G best.
    #[default]
    Tcp,
    Udp,
    /// Let rtspsrc try UDP first, then TCP.
    Auto,
}

/// What the analysis branch delivers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisConfig {
    /// Analysis frames per second (frames are dropped before colour conversion), or
    /// `"auto"`: the cheapest decode that serves the camera's rules (`rules::rate`).
    /// Left out it is 5, as before `"auto"` existed, so an updated box keeps decoding
    /// what its file says (README: why `"auto"` is not the default).
    #[serde(default)]
    pub fps: AnalysisFps,
    /// Decode keyframes only: delta units never reach the decoder. Only with a numeric
    /// `fps` (`"auto"` decides this itself).
    #[serde(default)]
    pub keyframes_only: bool,
    /// Scale analysis frames down to at most this width (0 = native).
    #[serde(default = "default_max_width")]
    pub max_width: u32,
    /// Depth of the frame queue towards inference (drop-oldest when full).
    #[serde(default = "default_queue_depth")]
    pub queue_depth: usize,
    /// Model ids to run on this camera.
    #[serde(default = "default_models")]
    pub models: Vec<String>,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        Self {
            fps: AnalysisFps::default(),
            keyframes_only: false,
            max_width: default_max_width(),
            queue_depth: default_queue_depth(),
            models: default_models(),
        }
    }
}

/// `analysis.fps`: a number, or `"auto"` (derived from the camera's rules).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AnalysisFps {
    Auto,
    Fixed(f64),
}

impl Default for AnalysisFps {
    /// 5 frames a second: what a file that leaves the key out has always meant.
    fn default() -> Self {
        AnalysisFps::Fixed(5.0)
    }
}

impl AnalysisFps {
    /// The configured number (None for `"auto"`).
    pub fn fixed(&self) -> Option<f64> {
        match self {
            AnalysisFps::Fixed(f) => Some(*f),
            AnalysisFps::Auto => None,
        }
    }
}

impl std::fmt::Display for AnalysisFps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AnalysisFps::Auto => f.write_str("\"auto\""),
            AnalysisFps::Fixed(v) => write!(f, "{v}"),
        }
    }
}

impl Serialize for AnalysisFps {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            AnalysisFps::Auto => s.serialize_str("auto"),
            AnalysisFps::Fixed(v) => s.serialize_f64(*v),
        }
    }
}

impl<'de> Deserialize<'de> for AnalysisFps {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = AnalysisFps;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number of frames per second or \"auto\"")
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<AnalysisFps, E> {
                Ok(AnalysisFps::Fixed(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<AnalysisFps, E> {
                Ok(AnalysisFps::Fixed(v as f64))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<AnalysisFps, E> {
                Ok(AnalysisFps::Fixed(v as f64))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<AnalysisFps, E> {
                if v == "auto" {
                    Ok(AnalysisFps::Auto)
                } else {
                    Err(E::invalid_value(serde::de::Unexpected::Str(v), &self))
                }
            }
        }
        d.deserialize_any(V)
    }
}
fn default_max_width() -> u32 {
    1280
}
fn default_queue_depth() -> usize {
    2
}
fn default_models() -> Vec<String> {
    vec!["yolox-nano".into()]
}

/// The encoded ring buffer that clips are cut from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrerollConfig {
    /// Seconds of encoded video kept (the pre-roll a clip can offer).
    #[serde(default = "default_preroll_s")]
    pub seconds: f64,
    /// Hard cap on the ring's bytes, whichever bound is hit first wins.
    #[serde(default = "default_preroll_bytes")]
    pub max_bytes: usize,
}

impl Default for PrerollConfig {
    fn default() -> Self {
        Self {
            seconds: default_preroll_s(),
            max_bytes: default_preroll_bytes(),
        }
    }
}

fn default_preroll_s() -> f64 {
    20.0
}
fn default_preroll_bytes() -> usize {
    64 * 1024 * 1024
}

/// Reconnect policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupervisionConfig {
    /// No buffer for this long counts as a disconnect.
    #[serde(default = "default_stall_s")]
    pub stall_timeout_s: f64,
    /// First backoff delay.
    #[serde(default = "default_backoff_initial_s")]
    pub backoff_initial_s: f64,
    /// Backoff cap.
    #[serde(default = "default_backoff_max_s")]
    pub backoff_max_s: f64,
}

impl Default for SupervisionConfig {
    fn default() -> Self {
        Self {
            stall_timeout_s: default_stall_s(),
            backoff_initial_s: default_backoff_initial_s(),
            backoff_max_s: default_backoff_max_s(),
        }
    }
}

fn default_stall_s() -> f64 {
    10.0
}
fn default_backoff_initial_s() -> f64 {
    1.0
}
fn default_backoff_max_s() -> f64 {
    30.0
}
