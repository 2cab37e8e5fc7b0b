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
use axum::http::HeaderMap;
use axum::response::Response;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Events per page when the client does not say.
const DEFAULT_PAGE: usize = 50;

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
    let q = query(
        raw,
        &["camera", "kind", "phase", "from", "to", "plate", "limit"],
    )?;
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
    let kind = get("kind")
        .map(|s| {
            one_of::<EventKind>(
                "kind",
                s,
                "illegal_parking, exposed_garbage, littering_act or road_damage",
            )
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
    Ok(Json(json!({"events": events, "limit": n})))
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
