//! What a camera sees now: its latest picture (Zones background, Live view) and its
//! latest analysis result (boxes, classes, scores, track ids).

use super::cameras::find;
use super::{ApiError, Shared, blocking};
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};

/// Widest thumbnail `?width=` asks for; wider requests are refused so a typo cannot
/// make the box encode huge pictures (the full frame needs no `width`).
pub const MAX_THUMBNAIL_WIDTH: u32 = 1920;

/// The `width` query parameter (other parameters, such as a cache buster `t`, are
/// ignored).
fn width(raw: Option<String>) -> Result<Option<u32>, ApiError> {
    let lo = crate::web::MIN_THUMBNAIL_WIDTH;
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "width")
        .map(|(_, v)| match v.parse::<u32>() {
            Ok(w) if (lo..=MAX_THUMBNAIL_WIDTH).contains(&w) => Ok(w),
            _ => Err(ApiError::field(
                "width",
                format!("\"{v}\" is not a width from {lo} to {MAX_THUMBNAIL_WIDTH} pixels"),
                "leave width out for the full picture",
            )),
        })
        .transpose()
}

/// `GET /api/cameras/{id}/snapshot.jpg[?width=N]`: the latest analysis frame as JPEG,
/// privacy zones blacked out; with `width`, scaled down to at most N pixels wide (the
/// dashboard's thumbnails).
pub async fn snapshot(
    State(st): State<Shared>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let max_width = width(raw)?;
    let jpeg = blocking(move || {
        find(&st.backend.config(), &id)?;
        st.backend
            .snapshot_jpeg(&id, max_width)
            .ok_or_else(|| ApiError::NoPicture(id.clone()))
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "image/jpeg")], jpeg).into_response())
}

/// `GET /api/cameras/{id}/live[?picture=true]`: the latest analysis result;
/// `"available": false` until the camera's first analysed frame. With `picture`, the
/// JPEG of the very frame the result was computed on comes in the same answer (a
/// `data:` URL, `null` when that frame is no longer held), so the boxes the page draws
/// on it line up however fast the scene moves.
pub async fn live(
    State(st): State<Shared>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q = super::settings::query(raw, &["picture", "t"])?;
    let with_picture = match q.get("picture").map(String::as_str) {
        None | Some("false") | Some("0") => false,
        Some("true") | Some("1") | Some("") => true,
        Some(other) => {
            return Err(ApiError::field(
                "picture",
                format!("\"{other}\" is not true or false"),
                "use picture=true",
            ));
        }
    };
    let result = blocking(move || {
        find(&st.backend.config(), &id)?;
        let r = if with_picture {
            st.backend.live_with_picture(&id)
        } else {
            st.backend.live(&id).map(|r| (r, None))
        };
        Ok((r, id))
    })
    .await?;
    Ok(Json(match result {
        (Some((r, picture)), id) => {
            let mut v = json!(r);
            v["camera"] = json!(id);
            v["available"] = json!(true);
            if with_picture {
                v["picture"] = json!(picture.map(|jpeg| format!(
                    "data:image/jpeg;base64,{}",
                    base64::engine::general_purpose::STANDARD.encode(jpeg)
                )));
            }
            v
        }
        (None, id) => json!({"camera": id, "available": false, "detections": []}),
    }))
}
