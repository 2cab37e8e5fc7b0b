//! Semantic checks that serde cannot express. Every check yields a [`Problem`] with the
//! key path (`cameras[2].url`) and a hint the technician can act on.

use super::types::*;
use std::collections::HashSet;
use std::fmt;

/// One thing wrong with a config.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// Key path, e.g. `cameras[2].url`; empty for the whole file.
    pub path: String,
    pub message: String,
    pub hint: String,
    /// Line in the file, when the problem was found while parsing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
}

impl Problem {
    pub fn new(
        path: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
            hint: hint.into(),
            line: None,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "(file)"
        } else {
            &self.path
        };
        write!(f, "{path}: {}", self.message)?;
        if let Some(line) = self.line {
            write!(f, " (line {line})")?;
        }
        if !self.hint.is_empty() {
            write!(f, "; {}", self.hint)?;
        }
        Ok(())
    }
}

/// URL schemes a camera may use.
pub const CAMERA_SCHEMES: &[&str] = &["rtsp", "rtsps", "file"];

/// Execution provider names understood by the inference engine.
pub const EXECUTION_PROVIDERS: &[&str] = &[
    "cpu", "cuda", "tensorrt", "openvino", "acl", "armnn", "cann", "qnn", "rknpu", "nnapi",
    "xnnpack", "coreml", "directml", "migraphx", "rocm", "tvm", "vitis",
];

/// Check a parsed config; an empty list means it is good to run.
pub fn validate(c: &Config) -> Vec<Problem> {
    let mut out = Vec::new();
    check_device(&c.device, &mut out);
    check_logging(&c.logging, &mut out);
    check_inference(&c.inference, &mut out);
    out.extend(c.web.validate());
    out.extend(crate::uplink::validate::validate(&c.uplink));
    let mut ids = HashSet::new();
    for (i, cam) in c.cameras.iter().enumerate() {
        let p = format!("cameras[{i}]");
        if !ids.insert(cam.id.as_str()) {
            out.push(Problem::new(
                format!("{p}.id"),
                format!("duplicate camera id \"{}\"", cam.id),
                "every camera needs its own id",
            ));
        }
        check_camera(&p, cam, &mut out);
        for (at, e) in crate::rules::zone::zone_problems(&cam.zones) {
            out.push(Problem::new(
                format!("{p}.zones{at}"),
                e.to_string(),
                "redraw or fix the zone",
            ));
        }
    }
    if let Some(n) = c.events.queue_depth
        && !(1..=crate::rules::engine::MAX_QUEUE_DEPTH).contains(&n)
    {
        out.push(Problem::new(
            "events.queue_depth",
            format!(
                "{n} is not a queue depth from 1 to {}",
                crate::rules::engine::MAX_QUEUE_DEPTH
            ),
            "leave it out for the default (256)",
        ));
    }
    match c.events.categories.resolve() {
        Err(e) => out.push(Problem::new(
            "events.categories",
            e.to_string(),
            "fix the row or file named; codes are digits, letters or '-', e.g. \"09009\"",
        )),
        Ok(table) => check_codes(c, &table, &mut out),
    }
    out
}

/// Every rule's event kind needs a row in the code table: an event without its
/// platform code would be refused (or misfiled) upstream, so refuse the config.
fn check_codes(c: &Config, table: &crate::rules::category::CodeTable, out: &mut Vec<Problem>) {
    for (i, cam) in c.cameras.iter().enumerate() {
        // The tampering checks report `camera_tampering` events of their own.
        let tamper = crate::rules::event::EventKind::CameraTampering.as_str();
        if cam.tamper.enabled && table.row(tamper).is_none() {
            out.push(Problem::new(
                format!("cameras[{i}].tamper.enabled"),
                format!(
                    "the tampering checks report event kind \"{tamper}\", which has no code in the code table ({})",
                    table.taxonomy
                ),
                format!(
                    "add a row to [events.categories], e.g. [[events.categories.entries]] event = \"{tamper}\", code = \"…\", name = \"视频设备异常\" (or set [cameras.tamper] enabled = false)"
                ),
            ));
        }
        for (j, z) in cam.zones.iter().enumerate() {
            for (k, r) in z.rules.iter().enumerate() {
                for key in r.code_keys() {
                    if table.row(key).is_some() {
                        continue;
                    }
                    let field = if r.event_kind().is_some() { "kind" } else { "" };
                    let at = format!("cameras[{i}].zones[{j}].rules[{k}]");
                    out.push(Problem::new(
                        if field.is_empty() { at } else { format!("{at}.{field}") },
                        format!(
                            "the {} rule's event kind \"{key}\" has no code in the code table ({})",
                            r.kind(),
                            table.taxonomy
                        ),
                        format!(
                            "add a row to [events.categories], e.g. [[events.categories.entries]] event = \"{key}\", code = \"…\", name = \"…\" (or to its table file)"
                        ),
                    ));
                }
            }
        }
    }
}

fn is_ident(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn check_device(d: &DeviceConfig, out: &mut Vec<Problem>) {
    if !is_ident(&d.id) {
        out.push(Problem::new(
            "device.id",
            format!("\"{}\" is not a valid device id", d.id),
            "use 1-64 letters, digits, '-' or '_'",
        ));
    }
    if d.timezone.parse::<chrono_tz::Tz>().is_err() {
        out.push(Problem::new(
            "device.timezone",
            format!("unknown timezone \"{}\"", d.timezone),
            "use an IANA name such as \"Asia/Shanghai\"",
        ));
    }
    if let Some(code) = &d.division_code
        && (code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()))
    {
        out.push(Problem::new(
            "device.division_code",
            format!("\"{code}\" is not a 6-digit administrative division code"),
            "use the GB/T 2260 code of the district, e.g. \"440802\"",
        ));
    }
}

fn check_logging(l: &LoggingConfig, out: &mut Vec<Problem>) {
    if l.level.parse::<tracing_subscriber::EnvFilter>().is_err() {
        out.push(Problem::new(
            "logging.level",
            format!("\"{}\" is not a log level or filter", l.level),
            "use error, warn, info, debug or trace",
        ));
    }
}

fn check_inference(i: &InferenceConfig, out: &mut Vec<Problem>) {
    for (k, ep) in i.execution_providers.iter().enumerate() {
        if !EXECUTION_PROVIDERS.contains(&ep.to_ascii_lowercase().as_str()) {
            out.push(Problem::new(
                format!("inference.execution_providers[{k}]"),
                format!("unknown execution provider \"{ep}\""),
                format!("use one of {}", EXECUTION_PROVIDERS.join(", ")),
            ));
        }
    }
    let listed: Vec<String> = i
        .execution_providers
        .iter()
        .map(|e| e.to_ascii_lowercase())
        .collect();
    for name in i.provider_options.keys() {
        let lower = name.to_ascii_lowercase();
        if !EXECUTION_PROVIDERS.contains(&lower.as_str()) {
            out.push(Problem::new(
                format!("inference.provider_options.{name}"),
                format!("unknown execution provider \"{name}\""),
                format!("use one of {}", EXECUTION_PROVIDERS.join(", ")),
            ));
        } else if !listed.contains(&lower) {
            out.push(Problem::new(
                format!("inference.provider_options.{name}"),
                format!("options for \"{name}\", which is not in inference.execution_providers"),
                format!("add \"{lower}\" to inference.execution_providers or remove these options"),
            ));
        }
    }
    if i.intra_threads == 0 || i.intra_threads > 64 {
        out.push(Problem::new(
            "inference.intra_threads",
            format!("{} is out of range", i.intra_threads),
            "use 1..=64",
        ));
    }
    if i.workers == 0 || i.workers > 32 {
        out.push(Problem::new(
            "inference.workers",
            format!("{} is out of range", i.workers),
            "use 1..=32",
        ));
    }
}

fn check_camera(p: &str, cam: &CameraConfig, out: &mut Vec<Problem>) {
    if !is_ident(&cam.id) {
        out.push(Problem::new(
            format!("{p}.id"),
            format!("\"{}\" is not a valid camera id", cam.id),
            "use 1-64 letters, digits, '-' or '_'",
        ));
    }
    if let Err(problem) = check_camera_url(&cam.url) {
        out.push(Problem::new(format!("{p}.url"), problem.0, problem.1));
    }
    if let Some(sub) = &cam.analysis_url
        && let Err((message, hint)) = check_analysis_url(&cam.url, sub)
    {
        out.push(Problem::new(format!("{p}.analysis_url"), message, hint));
    }
    let a = &cam.analysis;
    match a.fps {
        AnalysisFps::Fixed(fps) if !(fps > 0.0 && fps <= 60.0) => out.push(Problem::new(
            format!("{p}.analysis.fps"),
            format!("{fps} is out of range"),
            "use a rate above 0 and at most 60 frames per second, or \"auto\"",
        )),
        AnalysisFps::Auto if a.keyframes_only => out.push(Problem::new(
            format!("{p}.analysis.keyframes_only"),
            "keyframes_only cannot be combined with fps = \"auto\"",
            "remove keyframes_only (auto decodes keyframes only where the rules allow it) or give fps a number",
        )),
        _ => {}
    }
    if a.queue_depth == 0 || a.queue_depth > 64 {
        out.push(Problem::new(
            format!("{p}.analysis.queue_depth"),
            format!("{} is out of range", a.queue_depth),
            "use 1..=64",
        ));
    }
    if a.max_width != 0 && a.max_width < 64 {
        out.push(Problem::new(
            format!("{p}.analysis.max_width"),
            format!("{} is too small", a.max_width),
            "use 0 (native) or at least 64 pixels",
        ));
    }
    let r = &cam.preroll;
    if !(r.seconds > 0.0 && r.seconds <= 600.0) {
        out.push(Problem::new(
            format!("{p}.preroll.seconds"),
            format!("{} is out of range", r.seconds),
            "use more than 0 and at most 600 seconds",
        ));
    }
    if r.max_bytes < 1024 * 1024 {
        out.push(Problem::new(
            format!("{p}.preroll.max_bytes"),
            format!("{} bytes cannot hold a useful pre-roll", r.max_bytes),
            "use at least 1048576 (1 MiB)",
        ));
    }
    let s = &cam.supervision;
    for (key, v) in [
        ("stall_timeout_s", s.stall_timeout_s),
        ("backoff_initial_s", s.backoff_initial_s),
        ("backoff_max_s", s.backoff_max_s),
    ] {
        if !(v > 0.0 && v <= 3600.0) {
            out.push(Problem::new(
                format!("{p}.supervision.{key}"),
                format!("{v} is out of range"),
                "use more than 0 and at most 3600 seconds",
            ));
        }
    }
    if s.backoff_initial_s > s.backoff_max_s {
        out.push(Problem::new(
            format!("{p}.supervision.backoff_initial_s"),
            "is larger than backoff_max_s",
            "make the first delay no larger than the cap",
        ));
    }
    check_scene(p, cam, out);
}

/// `[cameras.tamper]`, `[cameras.onvif]`, `[cameras.ptz]` and the zones' presets.
fn check_scene(p: &str, cam: &CameraConfig, out: &mut Vec<Problem>) {
    for (key, message, hint) in cam.tamper.problems(cam.preroll.seconds) {
        out.push(Problem::new(format!("{p}.tamper.{key}"), message, hint));
    }
    if let Some(o) = &cam.onvif {
        match url::Url::parse(&o.address) {
            Ok(u) if u.scheme() != "http" => out.push(Problem::new(
                format!("{p}.onvif.address"),
                format!("scheme \"{}\" is not supported", u.scheme()),
                "use the camera's http:// device service, e.g. http://192.168.1.64/onvif/device_service",
            )),
            Ok(u) if !u.username().is_empty() || u.password().is_some() => out.push(Problem::new(
                format!("{p}.onvif.address"),
                "the address carries credentials",
                "remove user:password@; the camera's username and password are used",
            )),
            Ok(u) => {
                let cam_host = url::Url::parse(&cam.url).ok().and_then(|c| c.host_str().map(str::to_string));
                if cam_host.is_some() && u.host_str().map(str::to_string) != cam_host {
                    out.push(Problem::new(
                        format!("{p}.onvif.address"),
                        format!(
                            "host {} is not the camera's host {}",
                            u.host_str().unwrap_or(""),
                            cam_host.unwrap_or_default()
                        ),
                        "ONVIF requests are signed with the camera's password, which only goes to the camera's own host; use the camera's address",
                    ));
                }
            }
            Err(e) => out.push(Problem::new(
                format!("{p}.onvif.address"),
                format!("\"{}\" is not a URL ({e})", crate::redact::redact_url(&o.address)),
                "write it as http://<camera>/onvif/device_service",
            )),
        }
    }
    match &cam.ptz {
        None => {
            for (i, z) in cam.zones.iter().enumerate() {
                if z.preset.is_some() {
                    out.push(Problem::new(
                        format!("{p}.zones[{i}].preset"),
                        "the camera has no PTZ configured",
                        "remove the preset, or add [cameras.ptz] (and [cameras.onvif]) for a PTZ camera",
                    ));
                }
            }
        }
        Some(ptz) => {
            for (key, message, hint) in ptz.problems() {
                out.push(Problem::new(format!("{p}.ptz.{key}"), message, hint));
            }
            if ptz.home.is_none() {
                for (i, z) in cam.zones.iter().enumerate() {
                    if z.preset.is_none() {
                        out.push(Problem::new(
                            format!("{p}.zones[{i}].preset"),
                            "a PTZ camera's zone needs the preset it was drawn at",
                            "draw the zone at a preset on the zones page, or set cameras.ptz.home for zones without one",
                        ));
                    }
                }
            }
        }
    }
}

/// Check a camera's `analysis_url` against its `url`; on failure returns (message,
/// hint). The substream must be a valid camera URL of the same kind (network or file)
/// and, for a network camera, on the same host: the camera's user name and password go
/// to both streams, so a second host would receive them. Sizes are only known once
/// connected (see `ingest::pairing`).
pub fn check_analysis_url(url: &str, analysis_url: &str) -> Result<(), (String, String)> {
    check_camera_url(analysis_url)?;
    if analysis_url.trim() == url.trim() {
        return Err((
            "is the same stream as url".into(),
            "give the camera's substream (e.g. its second profile), or remove analysis_url".into(),
        ));
    }
    let (Ok(main), Ok(sub)) = (url::Url::parse(url), url::Url::parse(analysis_url)) else {
        // `url` itself is reported by its own check.
        return Ok(());
    };
    if (main.scheme() == "file") != (sub.scheme() == "file") {
        return Err((
            "mixes a file with a network stream".into(),
            "use two rtsp:// streams of one camera, or two files".into(),
        ));
    }
    let host = |u: &url::Url| u.host_str().map(str::to_ascii_lowercase);
    if sub.scheme() != "file" && host(&main) != host(&sub) {
        return Err((
            format!(
                "points at host \"{}\", but url at \"{}\"",
                host(&sub).unwrap_or_default(),
                host(&main).unwrap_or_default()
            ),
            "the substream must come from the same camera (the camera's password is sent to both)"
                .into(),
        ));
    }
    Ok(())
}

/// Check a camera URL; on failure returns (message, hint).
pub fn check_camera_url(url: &str) -> Result<(), (String, String)> {
    let parsed = match url::Url::parse(url) {
        Ok(u) => u,
        Err(e) => {
            return Err((
                format!("\"{}\" is not a URL ({e})", crate::redact::redact_url(url)),
                "write it as rtsp://host[:port]/path".into(),
            ));
        }
    };
    let scheme = parsed.scheme();
    if !CAMERA_SCHEMES.contains(&scheme) {
        let hint = match closest(scheme, CAMERA_SCHEMES) {
            Some(s) => format!("did you mean \"{s}\"?"),
            None => format!("use one of {}", CAMERA_SCHEMES.join(", ")),
        };
        return Err((format!("scheme \"{scheme}\" is not supported"), hint));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err((
            "the URL carries credentials".into(),
            "remove user:password@ from the URL and set username/password instead".into(),
        ));
    }
    if scheme == "file" {
        if parsed.to_file_path().is_err() {
            return Err((
                "file URL has no usable path".into(),
                "write it as file:///absolute/path/video.mp4".into(),
            ));
        }
    } else if parsed.host_str().is_none_or(str::is_empty) {
        return Err((
            "the URL has no host".into(),
            "write it as rtsp://host[:port]/path".into(),
        ));
    }
    Ok(())
}

fn closest<'a>(word: &str, choices: &[&'a str]) -> Option<&'a str> {
    choices
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
