//! What a camera sees now: its latest picture (Zones background, Live view) and its
//! latest analysis result (boxes, classes, scores, track ids).

use super::cameras::find;
use super::{ApiError, Shared, blocking};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// `GET /api/cameras/{id}/snapshot.jpg`: the latest analysis frame as JPEG.
pub async fn snapshot(
    State(st): State<Shared>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let jpeg = blocking(move || {
        find(&st.backend.config(), &id)?;
        st.backend
            .snapshot_jpeg(&id)
            .ok_or_else(|| ApiError::NoPicture(id.clone()))
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "image/jpeg")], jpeg).into_response())
}

/// `GET /api/cameras/{id}/live`: the latest analysis result; `"available": false`
/// until the camera's first analysed frame.
pub async fn live(
    State(st): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let result = blocking(move || {
        find(&st.backend.config(), &id)?;
        Ok((st.backend.live(&id), id))
    })
    .await?;
    Ok(Json(match result {
        (Some(r), id) => {
            let mut v = json!(r);
            v["camera"] = json!(id);
            v["available"] = json!(true);
            v
        }
        (None, id) => json!({"camera": id, "available": false, "detections": []}),
    }))
}
