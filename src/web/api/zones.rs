//! Zones & rules of one camera: read and replace its zone list.
//!
//! A save is validated as part of the whole config (paths name the zone and field:
//! `cameras[0].zones[1].polygon`), written atomically, and the daemon swaps only that
//! camera's rules; its stream keeps running.

use super::cameras::find;
use super::{ApiError, Peer, Shared, blocking};
use crate::rules::zone::Zone;
use crate::web::auth::Session;
use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ZonesBody {
    zones: Vec<Zone>,
}

fn answer(camera: &str, zones: &[Zone]) -> Json<Value> {
    Json(json!({"camera": camera, "zones": zones}))
}

/// `GET /api/cameras/{id}/zones`.
pub async fn list(
    State(st): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let config = blocking(move || Ok(st.backend.config())).await?;
    let i = find(&config, &id)?;
    Ok(answer(&id, &config.cameras[i].zones))
}

/// `PUT /api/cameras/{id}/zones`: replace the camera's zones (`{"zones": […]}`).
pub async fn replace(
    State(st): State<Shared>,
    Extension(session): Extension<Session>,
    ConnectInfo(Peer(client)): ConnectInfo<Peer>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let camera = id.clone();
    let (zones, _) = st
        .change_config(&session, client, "zones.update", move |mut config| {
            let i = find(&config, &id)?;
            let de = &mut serde_json::Deserializer::from_slice(&body);
            let b: ZonesBody = serde_path_to_error::deserialize(de).map_err(|e| {
                let path = e.path().to_string();
                let path = if path == "." {
                    format!("cameras[{i}]")
                } else {
                    format!("cameras[{i}].{path}")
                };
                ApiError::field(
                    &path,
                    e.inner().to_string(),
                    "fix this value; /api/openapi.json describes the zone format",
                )
            })?;
            config.cameras[i].zones = b.zones.clone();
            // Only the zones changed; the whole config is checked so the paths are
            // the ones the config file would show.
            let problems = crate::config::validate(&config);
            if !problems.is_empty() {
                return Err(ApiError::Invalid(problems));
            }
            Ok((config, b.zones))
        })
        .await?;
    Ok(answer(&camera, &zones))
}
