//! A camera's scene on the page: where a PTZ camera looks and its presets (to draw
//! zones per preset), whether its rules run, its tampering state, and its reference
//! view (shown, and set again by the technician after a deliberate change).
//!
//! The analysis threads publish all of it on the scene board
//! ([`crate::rules::scene::board`]); the page only reads it and leaves requests there.
//! PTZ commands go through the camera's controller queue, so a slow camera holds one
//! blocking worker for at most a command's deadline.

use super::cameras::find;
use super::{ApiError, Peer, Shared, blocking, parse_json};
use crate::web::Change;
use crate::web::auth::Session;
use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

/// The camera's PTZ controller, or why there is none.
fn ptz_of(
    st: &Shared,
    id: &str,
) -> Result<std::sync::Arc<crate::ingest::onvif::ptz_control::PtzHandle>, ApiError> {
    let config = st.backend.config();
    let i = find(&config, id)?;
    let c = &config.cameras[i];
    if c.ptz.is_none() || c.onvif.is_none() {
        return Err(ApiError::field(
            &format!("cameras[{i}].ptz"),
            format!("camera \"{id}\" is not set up as a PTZ camera"),
            "add [cameras.onvif] (device service address) and [cameras.ptz] to the camera",
        ));
    }
    st.backend
        .scene()
        .and_then(|b| b.ptz(id))
        .ok_or_else(|| ApiError::NoPicture(id.to_string()))
}

/// `GET /api/cameras/{id}/scene`: PTZ position and controller state, the view in
/// force, why the rules pause, the tampering checks; `"available": false` until the
/// camera's analysis runs.
pub async fn status(
    State(st): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        find(&st.backend.config(), &id)?;
        let board = st.backend.scene();
        let status = board.and_then(|b| b.status(&id));
        let ptz = board.and_then(|b| b.ptz(&id)).map(|h| h.status());
        let reference = board.and_then(|b| b.reference(&id)).map(|(view, _)| view);
        Ok(Json(json!({
            "camera": id,
            "available": status.is_some(),
            "scene": status,
            "ptz": ptz,
            "reference_view": reference,
        })))
    })
    .await
}

/// `GET /api/cameras/{id}/presets`: the presets, read again from the camera.
pub async fn presets(
    State(st): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let h = ptz_of(&st, &id)?;
        let presets = h.presets().map_err(|e| {
            ApiError::field(
                "presets",
                e,
                "check the camera's ONVIF address, user and password, then try again",
            )
        })?;
        Ok(Json(json!({"camera": id, "presets": presets})))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GotoBody {
    preset: String,
}

/// `POST /api/cameras/{id}/ptz/goto` `{"preset": token}`: moves the camera there and
/// answers once it has stopped and `ptz.settle_s` of pictures have come since (the
/// zone editor then takes the picture: the camera reports its stop before its stream
/// shows it, and a picture taken at once is the move's). Audited; counts as an
/// operator's move (the patrol pauses, the return clock starts).
pub async fn goto(
    State(st): State<Shared>,
    Extension(session): Extension<Session>,
    ConnectInfo(Peer(client)): ConnectInfo<Peer>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let b: GotoBody = parse_json(&body)?;
    if !crate::ingest::onvif::ptz::valid_token(&b.preset) {
        return Err(ApiError::field(
            "preset",
            "is not a preset token",
            "pick a preset from the camera's list",
        ));
    }
    blocking(move || {
        let h = ptz_of(&st, &id)?;
        h.goto(&b.preset)
            .map_err(|e| ApiError::field("preset", e, "check the camera, then try again"))?;
        let settle_s = {
            let config = st.backend.config();
            find(&config, &id)
                .ok()
                .and_then(|i| config.cameras[i].ptz.as_ref().map(|p| p.settle_s))
                .unwrap_or(0.0)
        };
        std::thread::sleep(std::time::Duration::from_secs_f64(
            settle_s.clamp(0.0, 30.0),
        ));
        st.record(
            &session.user,
            client,
            "ptz.goto",
            vec![Change {
                path: format!("cameras[{id}].ptz.position"),
                old: None,
                new: Some(json!(b.preset)),
            }],
        )?;
        Ok(Json(json!({"camera": id, "preset": b.preset})))
    })
    .await
}

/// `POST /api/cameras/{id}/reference`: the next checked picture of the camera's
/// current view becomes its reference (after a deliberate change of view). Audited.
pub async fn set_reference(
    State(st): State<Shared>,
    Extension(session): Extension<Session>,
    ConnectInfo(Peer(client)): ConnectInfo<Peer>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        find(&st.backend.config(), &id)?;
        let asked = st.backend.scene().is_some_and(|b| b.request_reference(&id));
        if !asked {
            return Err(ApiError::NoPicture(id));
        }
        st.record(
            &session.user,
            client,
            "scene.reference",
            vec![Change {
                path: format!("cameras[{id}].tamper.reference"),
                old: None,
                new: Some(json!("next picture")),
            }],
        )?;
        Ok(Json(json!({"camera": id, "requested": true})))
    })
    .await
}

/// `GET /api/cameras/{id}/reference.png`: the reference picture of the view the
/// camera is at (small, grey).
pub async fn reference_png(
    State(st): State<Shared>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let png = blocking(move || {
        find(&st.backend.config(), &id)?;
        st.backend
            .scene()
            .and_then(|b| b.reference(&id))
            .map(|(_, p)| p)
            .ok_or_else(|| ApiError::NotFound(format!("camera \"{id}\" has no reference view yet")))
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png.as_ref().clone()).into_response())
}
