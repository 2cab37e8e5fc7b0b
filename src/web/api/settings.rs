//! Dashboard status, config export/import, the audit trail and recent logs.

use super::{ApiError, Peer, Shared, blocking, to_json};
use crate::config::Config;
use crate::web::auth::Session;
use crate::web::backend::{ApplyReport, LogLevel};
use crate::web::protect::{self, Notice, TlsFiles};
use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;

/// Query parameters as a map; unknown keys are refused so a typo is not ignored.
pub(super) fn query(
    raw: Option<String>,
    known: &[&str],
) -> Result<HashMap<String, String>, ApiError> {
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        if !known.contains(&k.as_ref()) {
            return Err(ApiError::field(
                &k,
                format!("unknown query parameter \"{k}\""),
                format!("use {}", known.join(", ")),
            ));
        }
        out.insert(k.into_owned(), v.into_owned());
    }
    Ok(out)
}

pub(super) fn limit(
    q: &HashMap<String, String>,
    default: usize,
    max: usize,
) -> Result<usize, ApiError> {
    match q.get("limit") {
        None => Ok(default),
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::field(
                "limit",
                format!("\"{s}\" is not a number from 1 to {max}"),
                "",
            )),
        },
    }
}

/// One stream of a camera with two, as `/api/status` shows it.
fn stream_json(s: &crate::ingest::camera::StreamState) -> Value {
    json!({
        "state": s.status.name(),
        "reason": s.status.reason().map(|x| x.code()),
        "message": s.status.reason().map(|x| x.to_string()),
        "time_source": s.time_source,
        "reconnects": s.reconnects,
    })
}

/// `GET /api/status`: every configured camera with its state and reason, analysis
/// rate and dropped frames; box health; uplink connection and outbox backlog.
pub async fn status(State(st): State<Shared>) -> Result<Json<Value>, ApiError> {
    let st2 = st.clone();
    let (config, runtime, uplink, health, key, ages, today) = blocking(move || {
        let config = st2.backend.config();
        let ages: HashMap<String, f64> = config
            .cameras
            .iter()
            .filter_map(|c| Some((c.id.clone(), st2.backend.picture_age_s(&c.id)?)))
            .collect();
        let tz = box_tz(&config);
        let today = events_today(&*st2.backend, tz);
        Ok((
            config,
            st2.backend.camera_statuses(),
            st2.backend.uplink_health(),
            // Reads /proc and may sample CPU time briefly: not on the async runtime.
            super::super::health::read(st2.started, &st2.device_state_dir),
            // The key events are signed with, so a technician can read it out to the
            // platform.
            crate::uplink::signing::read_public_key(&st2.device_state_dir),
            ages,
            today,
        ))
    })
    .await?;
    let cameras: Vec<Value> = config
        .cameras
        .iter()
        .map(|c| {
            let rt = runtime.iter().find(|r| r.id == c.id);
            let rate = crate::rules::rate::resolve(c, &config.events.tracker);
            // Keyframes too far apart for the rules: the pipeline decodes every frame.
            let fell_back = rate.keyframes_too_far_apart(rt.and_then(|r| r.gop_s));
            let mut v = json!({
                "id": c.id,
                "name": c.name,
                "enabled": c.enabled,
                "keyframes_only": rate.keyframes_only && !fell_back,
                "analysis_fps_target": rate.fps,
                // What the camera is analysed at and why (README: analysis.fps).
                "analysis_rate": {
                    "auto": rate.auto,
                    "keyframes_only": rate.keyframes_only,
                    "fps": rate.fps,
                    "keyframe_max_gap_s": rate.keyframe_max_gap_s,
                    "decided_by": rate.decided_by,
                    "keyframes_too_far_apart": fell_back,
                    "summary": rate.describe(),
                    "shortfalls": crate::rules::rate::shortfalls(c, &config.events.tracker),
                },
                "preroll_s": c.preroll.seconds,
                "picture_age_s": ages.get(&c.id).map(|a| (a * 10.0).round() / 10.0),
            });
            match rt {
                Some(r) => {
                    v["state"] = json!(r.status.name());
                    v["detail"] = json!(r.status);
                    v["reason"] = json!(r.status.reason().map(|x| x.code()));
                    // The state's own text: for a camera with two streams it says which
                    // stream failed and that analysis stopped.
                    v["message"] = match &r.status {
                        crate::ingest::CameraStatus::Backoff { message, .. }
                        | crate::ingest::CameraStatus::Failed { message, .. } => json!(message),
                        _ => json!(r.status.reason().map(|x| x.to_string())),
                    };
                    v["frames"] = json!(r.frames);
                    v["dropped"] = json!(r.dropped);
                    v["reconnects"] = json!(r.reconnects);
                    v["analysed"] = json!(r.analysed);
                    v["analysis_fps"] = json!((r.analysis_fps * 100.0).round() / 100.0);
                    v["analysis_warning"] = json!(r.analysis_warning);
                    if let Some(s) = &r.streams {
                        v["streams"] = json!({
                            "main": stream_json(&s.main),
                            "analysis": s.analysis.as_ref().map(stream_json),
                            "pairing": s.pairing.as_ref().map(|p| json!({
                                "code": p.code(), "message": p.to_string(), "zh": p.zh(),
                            })),
                            "main_stream_unavailable": s.main_stream_unavailable(),
                        });
                    }
                    v["gop_s"] = json!(r.gop_s.map(|g| (g * 100.0).round() / 100.0));
                    v["gop_frames"] = json!(r.gop_frames);
                    // Clips may start up to one GOP earlier than asked (README, ingest).
                    v["gop_exceeds_preroll"] =
                        json!(r.gop_s.is_some_and(|g| g > c.preroll.seconds));
                    if let crate::ingest::CameraStatus::Streaming {
                        fps,
                        width,
                        height,
                        codec,
                    } = &r.status
                    {
                        v["fps"] = json!(fps);
                        v["width"] = json!(width);
                        v["height"] = json!(height);
                        v["codec"] = json!(codec);
                    }
                }
                None => {
                    v["state"] = json!(if c.enabled { "stopped" } else { "disabled" });
                }
            }
            v
        })
        .collect();
    let mut health = json!(health);
    let uplink_events = uplink.as_ref().map(|u| json!(u.events));
    let (uplink, outbox) = match uplink {
        Some(u) => {
            health["models"] = json!(
                u.models
                    .iter()
                    .map(|m| json!({"id": m.id, "version": m.version}))
                    .collect::<Vec<_>>()
            );
            (
                json!({
                    "available": true,
                    "connected": u.uplink.connected,
                    "last_error_code": u.uplink.last_error.as_deref().map(super::codes::uplink_error),
                    "last_error": u.uplink.last_error,
                    "delivered": u.uplink.delivered,
                    "failed_connects": u.uplink.failed_connects,
                    // The HTTP push sink, when configured (null otherwise).
                    "http": u.uplink.http,
                }),
                json!(u.outbox),
            )
        }
        None => {
            health["models"] = json!([]);
            (
                json!({"available": false, "connected": false, "last_error": null}),
                Value::Null,
            )
        }
    };
    // Decided events waiting for the outbox and any lost (queue overflow while the
    // outbox refused): the dashboard shows a banner when either matters.
    let events = uplink_events;
    Ok(Json(json!({
        "events": events,
        "device": {
            "id": config.device.id,
            "location": config.device.location,
            "public_key": key.as_ref().map(|k| &k.0),
            "key_id": key.as_ref().map(|k| &k.1),
        },
        "time": clock(box_tz(&config)),
        "events_today": today,
        "health": health,
        "cameras": cameras,
        "uplink": uplink,
        "outbox": outbox,
    })))
}

/// The box's time zone (validated by the config checks).
pub(super) fn box_tz(config: &Config) -> chrono_tz::Tz {
    config
        .device
        .timezone
        .parse()
        .unwrap_or(chrono_tz::Asia::Shanghai)
}

/// The box's clock for the page: now with the offset, the zone and its offset, so
/// every time on every page can be shown on the box's clock (not the phone's).
pub(super) fn clock(tz: chrono_tz::Tz) -> Value {
    let now = chrono::Utc::now().with_timezone(&tz);
    json!({
        "now": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        "timezone": tz.name(),
        "offset": now.format("%:z").to_string(),
    })
}

/// Events the box recorded since midnight on its own clock (at most a page: the
/// dashboard says "200+" beyond), `None` when the outbox cannot be read.
fn events_today(backend: &dyn crate::web::WebBackend, tz: chrono_tz::Tz) -> Option<usize> {
    let now = chrono::Utc::now().with_timezone(&tz);
    let midnight = now.date_naive().and_hms_opt(0, 0, 0)?;
    use chrono::TimeZone as _;
    let from = tz.from_local_datetime(&midnight).earliest()?;
    let q = crate::uplink::history::EventQuery {
        from_ns: from.timestamp_nanos_opt(),
        limit: crate::uplink::history::MAX_PAGE,
        ..Default::default()
    };
    backend.events(&q).ok().map(|e| e.len())
}

/// The config without any secret: what export returns and what import is compared to.
fn without_secrets(mut c: Config) -> Config {
    for cam in &mut c.cameras {
        cam.password = None;
    }
    c.uplink.password = None;
    if let Some(h) = &mut c.uplink.http {
        h.hmac_secret = None;
        h.bearer_token = None;
    }
    c
}

/// `GET /api/config/export`: the whole config as TOML, secrets excluded.
pub async fn export(State(st): State<Shared>) -> Result<Response, ApiError> {
    let config = blocking(move || Ok(st.backend.config())).await?;
    let text = toml::to_string_pretty(&without_secrets(config))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/toml; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"streetwatch.toml\"",
            ),
        ],
        text,
    )
        .into_response())
}

/// `POST /api/config/import[?dry_run=true]`: a TOML config (as exported). Secrets the
/// file omits are kept for cameras with the same id and address (see [`merge_import`]);
/// file-only keys keep their running values and are listed in `ignored`. A dry run
/// returns the changes without applying them.
pub async fn import(
    State(st): State<Shared>,
    Extension(session): Extension<Session>,
    ConnectInfo(Peer(client)): ConnectInfo<Peer>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let q = query(raw, &["dry_run"])?;
    let dry_run = match q.get("dry_run").map(String::as_str) {
        None | Some("false") | Some("0") => false,
        Some("true") | Some("1") | Some("") => true,
        Some(other) => {
            return Err(ApiError::field(
                "dry_run",
                format!("\"{other}\" is not true or false"),
                "use dry_run=true to preview",
            ));
        }
    };
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::field("", "the file is not UTF-8 text", "send the TOML file"))?
        .to_string();
    let mut new = crate::config::parse_unvalidated(&text, std::path::Path::new("import"))
        .map_err(|e| ApiError::Invalid(e.problems()))?;
    if dry_run {
        let old = blocking({
            let st = st.clone();
            move || Ok(st.backend.config())
        })
        .await?;
        let notes = merge_import(&old, &mut new)?;
        let changes = crate::web::audit::diff(&to_json(&old), &to_json(&new));
        return Ok(Json(notes.reply(None, changes)));
    }
    // Answers once the daemon has applied the new config: `applied` is true only
    // when every change is in force; `reload` names what was restarted, what needs a
    // restart of the daemon and what failed.
    let (notes, changes, report) = st
        .change_config_report(&session, client, "config.import", move |old| {
            let notes = merge_import(&old, &mut new)?;
            Ok((new, notes))
        })
        .await?;
    Ok(Json(notes.reply(Some(&report), changes)))
}

/// What an import did besides the file's own values.
struct ImportNotes {
    /// File-only keys whose running values were kept.
    ignored: Vec<Notice>,
    /// Stored passwords not carried over because their camera or broker moved.
    passwords_cleared: Vec<Notice>,
}

impl ImportNotes {
    /// The answer to an import: a dry run when `report` is None, else what the
    /// running box applied.
    fn reply(self, report: Option<&ApplyReport>, changes: Vec<crate::web::Change>) -> Value {
        let mut v = json!({
            "dry_run": report.is_none(),
            "applied": report.is_some_and(|r| r.complete()),
            "changes": changes,
            "ignored": self.ignored,
            "passwords_cleared": self.passwords_cleared,
        });
        if let Some(r) = report {
            v["reload"] = json!(r);
        }
        v
    }
}

/// Turn an imported config into the one to apply, against the running `old` one:
/// file-only keys keep their running values (reported), secrets the file omits are
/// kept for a camera with the same id (or the same broker) only while its scheme, host
/// and port are unchanged, a `file://` camera source cannot be set, then every check.
fn merge_import(old: &Config, new: &mut Config) -> Result<ImportNotes, ApiError> {
    let ignored = protect::pin_file_only(old, new, TlsFiles::Keep);
    let mut passwords_cleared = Vec::new();
    for cam in &mut new.cameras {
        if cam.password.is_none()
            && let Some(prev) = old.cameras.iter().find(|c| c.id == cam.id)
        {
            passwords_cleared.extend(protect::inherit_camera_password(prev, cam));
        }
    }
    if new.uplink.password.is_none() && new.uplink.username == old.uplink.username {
        passwords_cleared.extend(protect::inherit_broker_password(
            &old.uplink,
            &mut new.uplink,
        ));
    }
    // The HTTP sink's secrets follow the same rule: kept only for the same host.
    if let (Some(o), Some(n)) = (&old.uplink.http, &mut new.uplink.http) {
        for key in crate::uplink::HttpConfig::inherit_secrets(o, n) {
            passwords_cleared.push(protect::secret_dropped(key.into()));
        }
    }
    let mut problems = protect::source_problems(old, new);
    problems.extend(crate::config::validate(new));
    if !problems.is_empty() {
        return Err(ApiError::Invalid(problems));
    }
    Ok(ImportNotes {
        ignored,
        passwords_cleared,
    })
}

/// `GET /api/audit[?limit=N]`: newest first.
pub async fn audit(
    State(st): State<Shared>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q = query(raw, &["limit"])?;
    let n = limit(&q, 100, crate::web::audit::MAX_READ)?;
    let entries = blocking(move || {
        st.audit
            .recent(n)
            .map_err(|e| ApiError::Internal(format!("cannot read the audit log: {e}")))
    })
    .await?;
    Ok(Json(json!({"entries": entries})))
}

/// `GET /api/logs[?level=warn&limit=N]`: recent log lines at `level` or more severe.
pub async fn logs(
    State(st): State<Shared>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q = query(raw, &["level", "limit", "camera"])?;
    // A camera's lines carry its id as a field (`camera=gate`).
    let camera = q
        .get("camera")
        .filter(|c| !c.is_empty())
        .map(|c| [format!("camera={c}"), format!("camera=\"{c}\"")]);
    let level = match q.get("level") {
        None => LogLevel::Info,
        Some(s) => s.parse().map_err(|_| {
            ApiError::field(
                "level",
                format!("\"{s}\" is not a log level"),
                "use error, warn, info, debug or trace",
            )
        })?,
    };
    let n = limit(&q, 200, 1000)?;
    let lines = blocking(move || Ok(st.backend.recent_logs(1000))).await?;
    let mut out: Vec<_> = lines
        .into_iter()
        .filter(|l| l.level <= level)
        .filter(|l| {
            camera.as_ref().is_none_or(|c| {
                l.message
                    .split_whitespace()
                    .any(|w| c.iter().any(|c| w.trim_end_matches(',') == c))
            })
        })
        .collect();
    let skip = out.len().saturating_sub(n);
    out.drain(..skip);
    Ok(Json(json!({"lines": out})))
}
