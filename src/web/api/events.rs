//! Events: the list with filters, one event in detail, and its evidence files.
//!
//! Evidence is served by (event id, media name) looked up in the outbox; the request
//! never carries a path, so `..`, encoded slashes, absolute paths or another event's
//! file name find nothing.

use super::settings::{limit, query};
use super::{ApiError, Shared, blocking};
use crate::rules::event::{EventKind, Phase};
use crate::uplink::history::{EventQuery, MAX_PAGE, MediaLookup};
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Events per page when the client does not say.
const DEFAULT_PAGE: usize = 50;

/// The list's filters; the reply names them so the page offers exactly these.
const LIST_FILTERS: &[&str] = &["camera", "kind", "phase", "from", "to", "plate", "limit"];

/// Width of the row thumbnails on the Events page.
const THUMBNAIL_WIDTH: u32 = 240;
/// Largest snapshot decoded for a thumbnail (a 4K JPEG is a few MB).
const MAX_THUMBNAIL_SOURCE: u64 = 16 * 1024 * 1024;

/// A value of a fixed set (`kind`, `phase`) by its snake_case name.
fn one_of<T: DeserializeOwned>(field: &str, s: &str, allowed: &str) -> Result<T, ApiError> {
    serde_json::from_value(json!(s)).map_err(|_| {
        ApiError::field(
            field,
            format!("\"{s}\" is not a known {field}"),
            format!("use {allowed}"),
        )
    })
}

/// RFC 3339 time as media nanoseconds since the Unix epoch.
fn time_ns(field: &str, s: &str) -> Result<i64, ApiError> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
        .ok_or_else(|| {
            ApiError::field(
                field,
                format!("\"{s}\" is not an RFC 3339 time"),
                "use e.g. 2026-11-21T08:00:00+08:00",
            )
        })
}

fn is_ident(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Event ids are UUIDs; a media name is a plain file name made by the box.
fn plausible(id: &str, name: Option<&str>) -> bool {
    let id_ok = is_ident(id);
    let name_ok = name.is_none_or(|n| {
        !n.is_empty()
            && n.len() <= 128
            && !n.starts_with('.')
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    });
    id_ok && name_ok
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(e.to_string())
}

/// `GET /api/events[?camera=&kind=&phase=&from=&to=&plate=&limit=]`: newest first.
/// `plate` matches any part of a read plate (`粤G12`, `g123`; spaces and dots ignored).
pub async fn list(
    State(st): State<Shared>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q = query(raw, LIST_FILTERS)?;
    // An empty filter (the page's "all") is no filter.
    let get = |k: &str| q.get(k).map(String::as_str).filter(|s| !s.is_empty());
    let camera = match get("camera") {
        Some(c) if !is_ident(c) => {
            return Err(ApiError::field(
                "camera",
                format!("\"{c}\" is not a camera id"),
                "use the id shown on the Cameras page",
            ));
        }
        c => c.map(str::to_string),
    };
    // Looked up, never interned: a filter must not add event kinds.
    let kind = get("kind")
        .map(|s| {
            EventKind::known(s).ok_or_else(|| {
                ApiError::field(
                    "kind",
                    format!("\"{s}\" is not a known kind"),
                    "use illegal_parking, exposed_garbage, littering_act, road_damage or a kind a zone rule names",
                )
            })
        })
        .transpose()?;
    let phase = get("phase")
        .map(|s| one_of::<Phase>("phase", s, "started, updated or ended"))
        .transpose()?;
    let from_ns = get("from").map(|s| time_ns("from", s)).transpose()?;
    let to_ns = get("to").map(|s| time_ns("to", s)).transpose()?;
    if let (Some(f), Some(t)) = (from_ns, to_ns)
        && f > t
    {
        return Err(ApiError::field(
            "to",
            "the end of the time range is before its start",
            "choose a \"to\" time after \"from\"",
        ));
    }
    let plate = get("plate")
        .map(|s| {
            crate::infer::plate::syntax::normalise_query(s).ok_or_else(|| {
                ApiError::field(
                    "plate",
                    format!("\"{s}\" is not part of a plate number"),
                    "type up to 8 plate characters, e.g. 粤G12 or G12345",
                )
            })
        })
        .transpose()?;
    let query = EventQuery {
        camera,
        kind,
        phase,
        from_ns,
        to_ns,
        plate,
        limit: limit(&q, DEFAULT_PAGE, MAX_PAGE)?,
    };
    let n = query.limit;
    let events = blocking(move || st.backend.events(&query).map_err(internal)).await?;
    let filters: Vec<&str> = LIST_FILTERS
        .iter()
        .copied()
        .filter(|f| *f != "limit")
        .collect();
    Ok(Json(
        json!({"events": events, "limit": n, "filters": filters}),
    ))
}

/// `GET /api/events/{id}`: the latest phase's event, every phase's delivery, and the
/// media with a URL for those still on the box.
pub async fn one(
    State(st): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let unknown = || ApiError::NotFound(format!("no event with id \"{id}\""));
    if !plausible(&id, None) {
        return Err(unknown());
    }
    let id2 = id.clone();
    let detail = blocking(move || st.backend.event(&id2).map_err(internal))
        .await?
        .ok_or_else(unknown)?;
    let media: Vec<Value> = detail
        .media
        .iter()
        .map(|m| {
            let mut v = json!(m);
            if m.available {
                v["url"] = json!(format!("/api/events/{id}/media/{}", m.name));
            }
            v
        })
        .collect();
    let mut out = json!(detail.summary);
    out["event"] = json!(detail.event);
    out["phases"] = json!(detail.phases);
    out["media"] = json!(media);
    out["missing"] = json!(detail.missing);
    Ok(Json(out))
}

/// Content types the page may receive; anything else is offered as a download.
const SHOWN: &[&str] = &["image/jpeg", "video/mp4"];

/// `GET /api/events/{id}/media/{name}`: the file, with HTTP range support.
pub async fn media(
    State(st): State<Shared>,
    Path((id, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let unknown = || ApiError::NotFound(format!("event \"{id}\" has no media named \"{name}\""));
    if !plausible(&id, Some(&name)) {
        return Err(unknown());
    }
    let (id2, name2) = (id.clone(), name.clone());
    let found = blocking(move || st.backend.event_media(&id2, &name2).map_err(internal)).await?;
    let file = match found {
        MediaLookup::Found(f) => f,
        MediaLookup::Unknown => return Err(unknown()),
        MediaLookup::Gone => {
            return Err(ApiError::NotFound(format!(
                "media \"{name}\" of event \"{id}\" is no longer on the box: delivered evidence \
                 is deleted once the broker acknowledged it (uplink.keep_delivered_media keeps it)"
            )));
        }
    };
    let content_type = if SHOWN.contains(&file.content_type.as_str()) {
        file.content_type.clone()
    } else {
        "application/octet-stream".into()
    };
    blocking(move || {
        crate::web::media::serve(file.path, &content_type, &headers).map_err(|e| {
            // Deleted between the lookup and the open: the outbox just delivered it.
            // The path stays in the log; the client learns only that it is gone.
            tracing::debug!(error = %e, "web: evidence file vanished");
            ApiError::NotFound(format!(
                "media \"{name}\" of event \"{id}\" is no longer on the box"
            ))
        })
    })
    .await
}

/// The event's first snapshot still on the box (an overview before a crop).
fn first_picture(detail: &crate::uplink::history::EventDetail) -> Option<String> {
    use crate::rules::event::MediaKind;
    let pictures = || {
        detail
            .media
            .iter()
            .filter(|m| m.available && m.content_type == "image/jpeg")
    };
    pictures()
        .find(|m| m.kind == Some(MediaKind::Snapshot))
        .or_else(|| pictures().next())
        .map(|m| m.name.clone())
}

/// `GET /api/events/{id}/thumbnail.jpg`: the event's first snapshot, 240 px wide, for
/// the rows of the Events page.
pub async fn thumbnail(
    State(st): State<Shared>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let unknown = || ApiError::NotFound(format!("event \"{id}\" has no picture on the box"));
    if !plausible(&id, None) {
        return Err(unknown());
    }
    let id2 = id.clone();
    let jpeg = blocking(move || {
        let Some(detail) = st.backend.event(&id2).map_err(internal)? else {
            return Ok(None);
        };
        let Some(name) = first_picture(&detail) else {
            return Ok(None);
        };
        let MediaLookup::Found(file) = st.backend.event_media(&id2, &name).map_err(internal)?
        else {
            return Ok(None);
        };
        if file.bytes > MAX_THUMBNAIL_SOURCE {
            return Ok(None);
        }
        let Ok(bytes) = std::fs::read(&file.path) else {
            return Ok(None);
        };
        Ok(crate::web::backend::scale_jpeg(&bytes, THUMBNAIL_WIDTH))
    })
    .await?
    .ok_or_else(unknown)?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            // Evidence never changes under its event id.
            (header::CACHE_CONTROL, "private, max-age=3600"),
        ],
        jpeg,
    )
        .into_response())
}

/// A committed phase as the uplink publishes it: `evidence_dropped` as the outbox
/// knows it, signed with the device key (deterministic ed25519: the very signature
/// the platform got). The page never creates the key: before the uplink made one,
/// the JSON goes out unsigned.
fn published(
    p: &crate::uplink::history::PhaseBody,
    state_dir: &std::path::Path,
) -> Result<Vec<u8>, ApiError> {
    use crate::uplink::signing::{DeviceKey, KEY_FILE};
    let mut ev: crate::rules::event::Event = serde_json::from_str(&p.body).map_err(internal)?;
    ev.evidence_dropped |= p.evidence_dropped;
    if state_dir.join(KEY_FILE).is_file() {
        let key = DeviceKey::load_or_create(state_dir).map_err(internal)?;
        key.sign(&mut ev).map_err(internal)?;
    }
    serde_json::to_vec(&ev).map_err(internal)
}

/// `attachment; filename="…"` for a name the server made (ASCII, no quotes).
fn attachment(name: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
        .unwrap_or(HeaderValue::from_static("attachment"))
}

/// `GET /api/events/{id}/event.json`: the latest phase as the box signs and sends it
/// (check it with `streetwatch verify`).
pub async fn event_json(
    State(st): State<Shared>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let unknown = || ApiError::NotFound(format!("no event with id \"{id}\""));
    if !plausible(&id, None) {
        return Err(unknown());
    }
    let id2 = id.clone();
    let body = blocking(move || {
        let state_dir = st.backend.config().device.state_dir;
        match st.backend.event_phases(&id2).map_err(internal)?.last() {
            Some(p) => published(p, &state_dir).map(Some),
            None => Ok(None),
        }
    })
    .await?
    .ok_or_else(unknown)?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (
                header::CONTENT_DISPOSITION,
                attachment(&format!("event-{id}.json")),
            ),
        ],
        body,
    )
        .into_response())
}

/// `GET /api/events/{id}/case.zip`: every phase's signed JSON and every evidence file
/// still on the box, as one stored ZIP written while it is sent.
pub async fn case_zip(
    State(st): State<Shared>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    use crate::web::case::{Entry, MAX_CASE_BYTES, Source};
    let unknown = || ApiError::NotFound(format!("no event with id \"{id}\""));
    if !plausible(&id, None) {
        return Err(unknown());
    }
    let id2 = id.clone();
    let (entries, tz) = blocking(move || {
        let phases = st.backend.event_phases(&id2).map_err(internal)?;
        if phases.is_empty() {
            return Ok(None);
        }
        let state_dir = st.backend.config().device.state_dir;
        let mut entries: Vec<Entry> = phases
            .iter()
            .map(|p| {
                Ok(Entry {
                    name: format!("event-{}-{}.json", p.seq, p.phase),
                    source: Source::Bytes(published(p, &state_dir)?),
                })
            })
            .collect::<Result<_, ApiError>>()?;
        let mut total: u64 = 0;
        if let Some(detail) = st.backend.event(&id2).map_err(internal)? {
            for m in detail.media.iter().filter(|m| m.available) {
                if let MediaLookup::Found(f) = st.backend.event_media(&id2, &m.name).map_err(internal)? {
                    total += f.bytes;
                    entries.push(Entry {
                        name: format!("media/{}", m.name),
                        source: Source::File(f.path),
                    });
                }
            }
        }
        if total > MAX_CASE_BYTES {
            return Err(ApiError::field(
                "",
                format!("the case holds {total} bytes of evidence; at most {MAX_CASE_BYTES} are sent as one archive"),
                "download the files one by one",
            ));
        }
        let tz: chrono_tz::Tz = st
            .backend
            .config()
            .device
            .timezone
            .parse()
            .unwrap_or(chrono_tz::Asia::Shanghai);
        Ok(Some((entries, tz)))
    })
    .await?
    .ok_or_else(unknown)?;
    let now = chrono::Utc::now().with_timezone(&tz).naive_local();
    let mut resp = Response::new(crate::web::case::body(entries, now));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        attachment(&format!("case-{id}.zip")),
    );
    Ok(resp)
}
