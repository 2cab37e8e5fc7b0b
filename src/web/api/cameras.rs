//! Cameras: list, add, edit, remove, and "Test connection".
//!
//! Passwords are write-only: answers carry `"password_set": true|false` and never the
//! value; an update that omits `password` keeps the stored one (`""` clears it).

use super::{ApiError, Peer, Shared, blocking, parse_json};
use crate::config::{CameraConfig, Config, Problem, Transport, check_camera_url};
use crate::ingest::pipeline::Source;
use crate::web::auth::Session;
use crate::web::protect;
use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};

/// A camera as the API shows it: no password, `password_set` instead.
pub fn view(c: &CameraConfig) -> Value {
    let mut v = serde_json::to_value(c).unwrap_or(Value::Null);
    if let Some(m) = v.as_object_mut() {
        m.remove("password");
        m.insert("password_set".into(), json!(c.password.is_some()));
        m.insert("enabled".into(), json!(c.enabled));
        m.insert("url".into(), json!(crate::redact::redact_url(&c.url)));
        m.insert("username".into(), json!(c.username));
    }
    v
}

/// What a client sent for a camera: the config fields, `password` optional.
struct CameraInput {
    camera: CameraConfig,
    /// Whether the body had a `password` key with a string value.
    password_given: bool,
}

fn parse_camera(body: &[u8]) -> Result<CameraInput, ApiError> {
    let mut v: Value = parse_json(body)?;
    let Some(m) = v.as_object_mut() else {
        return Err(ApiError::field(
            "",
            "expected a JSON object",
            "send {\"id\": …, \"url\": …}",
        ));
    };
    // Echoed back from a GET: informative only.
    m.remove("password_set");
    if m.get("password").is_some_and(Value::is_null) {
        m.remove("password");
    }
    if m.get("username").is_some_and(Value::is_null) {
        m.remove("username");
    }
    let password_given = m.contains_key("password");
    let camera: CameraConfig = serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        ApiError::field(
            if path == "." { "" } else { &path },
            e.inner().to_string(),
            "fix the field's value or type",
        )
    })?;
    Ok(CameraInput {
        camera,
        password_given,
    })
}

/// Config problems about camera `index`, with paths made relative to the camera
/// (`cameras[2].url` -> `url`), the full path kept in the hint-free `config_path` sense.
fn camera_problems(problems: Vec<Problem>, index: usize) -> ApiError {
    let prefix = format!("cameras[{index}].");
    ApiError::Invalid(
        problems
            .into_iter()
            .map(|mut p| {
                if let Some(rest) = p.path.strip_prefix(&prefix) {
                    p.path = rest.to_string();
                }
                p
            })
            .collect(),
    )
}

pub fn find(config: &Config, id: &str) -> Result<usize, ApiError> {
    config
        .cameras
        .iter()
        .position(|c| c.id == id)
        .ok_or_else(|| ApiError::NotFound(format!("no camera with id \"{id}\"")))
}

/// `GET /api/cameras`.
pub async fn list(State(st): State<Shared>) -> Result<Json<Value>, ApiError> {
    let config = blocking(move || Ok(st.backend.config())).await?;
    Ok(Json(
        json!({"cameras": config.cameras.iter().map(view).collect::<Vec<_>>()}),
    ))
}

/// `GET /api/cameras/{id}`.
pub async fn one(
    State(st): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let config = blocking(move || Ok(st.backend.config())).await?;
    let i = find(&config, &id)?;
    Ok(Json(view(&config.cameras[i])))
}

/// Apply a config edit whose problems concern camera `index`.
fn apply_camera(
    mut config: Config,
    index: usize,
    camera: CameraConfig,
) -> Result<(Config, Value), ApiError> {
    // The page points cameras at network streams only; a file source is the config
    // file's business (it opens a file on the box).
    let before = config.cameras.get(index).map(|c| c.url.as_str());
    if let Some(p) = protect::source_problem(before, &camera.url, "url") {
        return Err(ApiError::Invalid(vec![p]));
    }
    let view = view(&camera);
    if index == config.cameras.len() {
        config.cameras.push(camera);
    } else {
        config.cameras[index] = camera;
    }
    let problems = crate::config::validate(&config);
    if !problems.is_empty() {
        return Err(camera_problems(problems, index));
    }
    Ok((config, view))
}

/// `POST /api/cameras`: add a camera.
pub async fn create(
    State(st): State<Shared>,
    Extension(session): Extension<Session>,
    ConnectInfo(Peer(client)): ConnectInfo<Peer>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let input = parse_camera(&body)?;
    let id = input.camera.id.clone();
    let (view, _) = st
        .change_config(&session, client, "camera.create", move |config| {
            if config.cameras.iter().any(|c| c.id == id) {
                return Err(ApiError::Invalid(vec![Problem::new(
                    "id",
                    format!("camera id \"{id}\" already exists"),
                    "choose another id, or edit the existing camera",
                )]));
            }
            let mut cam = input.camera;
            if cam.password.as_deref() == Some("") {
                cam.password = None;
            }
            let n = config.cameras.len();
            apply_camera(config, n, cam)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// `PUT /api/cameras/{id}`: replace a camera's settings; an omitted password is kept
/// while the URL's scheme, host and port stay the same, and dropped otherwise (the
/// reply's `password_cleared` and `notices` say so).
pub async fn update(
    State(st): State<Shared>,
    Extension(session): Extension<Session>,
    ConnectInfo(Peer(client)): ConnectInfo<Peer>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    // The id may be omitted in the body; the path names the camera.
    let mut v: Value = parse_json(&body)?;
    if let Some(m) = v.as_object_mut() {
        match m.get("id") {
            None => {
                m.insert("id".into(), json!(id));
            }
            Some(sent) if sent != &json!(id) => {
                return Err(ApiError::field(
                    "id",
                    "the id in the body differs from the id in the URL",
                    "a camera cannot be renamed; remove it and add it with the new id",
                ));
            }
            Some(_) => {}
        }
    }
    let input = parse_camera(&serde_json::to_vec(&v).unwrap_or_default())?;
    let (view, _) = st
        .change_config(&session, client, "camera.update", move |config| {
            let i = find(&config, &id)?;
            let mut cam = input.camera;
            let mut notice = None;
            if !input.password_given {
                notice = protect::inherit_camera_password(&config.cameras[i], &mut cam);
            } else if cam.password.as_deref() == Some("") {
                cam.password = None;
            }
            let (config, mut view) = apply_camera(config, i, cam)?;
            view["password_cleared"] = json!(notice.is_some());
            view["notices"] = json!(notice.into_iter().collect::<Vec<_>>());
            Ok((config, view))
        })
        .await?;
    Ok(Json(view))
}

/// `DELETE /api/cameras/{id}`.
pub async fn remove(
    State(st): State<Shared>,
    Extension(session): Extension<Session>,
    ConnectInfo(Peer(client)): ConnectInfo<Peer>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    st.change_config(&session, client, "camera.delete", move |mut config| {
        let i = find(&config, &id)?;
        config.cameras.remove(i);
        Ok((config, ()))
    })
    .await?;
    Ok(Json(json!({"ok": true})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestBody {
    url: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    /// Use this camera's stored credentials for what the body omits.
    #[serde(default)]
    camera_id: Option<String>,
    #[serde(default)]
    transport: Transport,
    /// Seconds of streaming to measure, 1 to 10 (default 3).
    #[serde(default = "default_test_seconds")]
    seconds: f64,
    /// The camera's substream (`analysis_url`): tested too, with the same
    /// credentials, and checked to pair with `url`.
    #[serde(default)]
    analysis_url: Option<String>,
}

fn host_port(url: &str) -> Option<(String, Option<u16>)> {
    let u = url::Url::parse(url).ok()?;
    Some((
        u.host_str()?.to_ascii_lowercase(),
        u.port_or_known_default(),
    ))
}

fn default_test_seconds() -> f64 {
    3.0
}

/// `POST /api/cameras/test`: connect for a few seconds and report codec, resolution,
/// frame rate and GOP, or the exact failure (`unauthorized (401)`, `timeout`, …).
pub async fn test(State(st): State<Shared>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let b: TestBody = parse_json(&body)?;
    if let Err((m, h)) = check_camera_url(&b.url) {
        return Err(ApiError::field("url", m, h));
    }
    // Only network cameras: a file URL would let the page open any file on the box.
    if !(b.url.starts_with("rtsp://") || b.url.starts_with("rtsps://")) {
        return Err(ApiError::field(
            "url",
            "only rtsp:// and rtsps:// URLs can be tested",
            "enter the camera's RTSP URL",
        ));
    }
    let analysis_url = b.analysis_url.clone().filter(|u| !u.trim().is_empty());
    if let Some(sub) = &analysis_url
        && let Err((m, h)) = crate::config::check_analysis_url(&b.url, sub).and_then(|()| {
            if sub.starts_with("rtsp://") || sub.starts_with("rtsps://") {
                Ok(())
            } else {
                Err((
                    "only rtsp:// and rtsps:// URLs can be tested".into(),
                    "enter the camera's substream RTSP URL".into(),
                ))
            }
        })
    {
        return Err(ApiError::field("analysis_url", m, h));
    }
    if !(1.0..=10.0).contains(&b.seconds) {
        return Err(ApiError::field(
            "seconds",
            format!("{} is out of range", b.seconds),
            "use 1 to 10 seconds",
        ));
    }
    let Ok(_permit) = st.probe_slot.try_acquire() else {
        return Err(ApiError::Busy);
    };
    let st2 = st.clone();
    let result = blocking(move || {
        let (mut username, mut password) = (b.username, b.password);
        if let Some(id) = &b.camera_id {
            let config = st2.backend.config();
            let i = find(&config, id).map_err(|_| {
                ApiError::field("camera_id", format!("no camera with id \"{id}\""), "")
            })?;
            let stored = &config.cameras[i];
            if password.is_none() && stored.password.is_some() {
                // The stored password goes only to the camera's own address: otherwise
                // anyone with the page could point the test at their own server and
                // collect it.
                if host_port(&b.url) != host_port(&stored.url)
                    || analysis_url
                        .as_ref()
                        .is_some_and(|a| host_port(a) != host_port(&stored.url))
                {
                    return Err(ApiError::field(
                        "password",
                        "the stored password is only sent to the camera's own host and port",
                        "enter the password to test another address",
                    ));
                }
                password = stored.password.clone();
            }
            if username.is_none() {
                username = stored.username.clone();
            }
        }
        let secret = password.clone().unwrap_or_default();
        let source = |url: String| Source::Rtsp {
            url,
            username: username.clone().filter(|u| !u.is_empty()),
            password: password.clone().filter(|p| !p.is_empty()),
            transport: b.transport,
            latency_ms: 200,
        };
        let one = |r: &Result<
            (crate::ingest::probe::ProbeReport, Option<Vec<u8>>),
            crate::ingest::Reason,
        >| match r {
            Ok((r, preview)) => json!({
                "ok": true,
                "codec": r.codec,
                "width": r.width,
                "height": r.height,
                "fps": r.fps,
                "declared_fps": r.declared_fps,
                "gop_frames": r.gop_frames,
                "gop_seconds": r.gop_seconds,
                "bitrate_kbps": r.bitrate_kbps,
                "time_source": r.time_source,
                "snapshot": preview.as_ref().map(|jpeg| format!(
                    "data:image/jpeg;base64,{}",
                    base64::engine::general_purpose::STANDARD.encode(jpeg)
                )),
            }),
            Err(reason) => json!({
                "ok": false,
                "reason": reason.code(),
                "message": crate::redact::scrub(&reason.to_string(), &[&secret]),
            }),
        };
        let main = st2.backend.probe(source(b.url.clone()), b.seconds);
        let mut out = one(&main);
        if let Some(sub) = analysis_url {
            // One after the other: the page's probe slot allows one connection test.
            let sub = st2.backend.probe(source(sub), b.seconds);
            out["analysis"] = one(&sub);
            if let (Ok((m, _)), Ok((a, _))) = (&main, &sub) {
                match crate::ingest::pairing::check(m.size(), a.size()) {
                    Ok(()) => out["pairing"] = json!({"ok": true}),
                    Err(e) => {
                        out["ok"] = json!(false);
                        out["reason"] = json!("stream_pairing");
                        out["message"] = json!(e.to_string());
                        out["pairing"] = json!({
                            "ok": false, "code": e.code(), "message": e.to_string(), "zh": e.zh(),
                        });
                    }
                }
            } else if out["ok"] == true {
                // The main stream works but the substream does not.
                out["ok"] = json!(false);
                out["reason"] = out["analysis"]["reason"].clone();
                out["message"] = json!(format!(
                    "analysis stream: {}",
                    out["analysis"]["message"].as_str().unwrap_or("")
                ));
            }
        }
        Ok(out)
    })
    .await?;
    Ok(Json(result))
}
