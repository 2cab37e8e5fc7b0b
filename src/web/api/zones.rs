//! Zones & rules of one camera: read and replace its zone list.
//!
//! A save is validated as part of the whole config (paths name the zone and field:
//! `cameras[0].zones[1].polygon`), written atomically, and the daemon swaps only that
//! camera's rules; its stream keeps running.

use super::cameras::find;
use super::{ApiError, Peer, Shared, blocking};
use crate::rules::category::CategoryTable;
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

/// The zones, and beside them the platform code each rule's events carry (the page
/// shows it next to the rule): `codes[zone][rule]` is a list of
/// `{"event", "code", "name", "taxonomy"}` (`code` null when the table has no row;
/// `no_parking` has two: motor and non-motor vehicles).
fn answer(camera: &str, zones: &[Zone], categories: &CategoryTable) -> Json<Value> {
    let table = categories.resolve().ok();
    let codes: Vec<Vec<Vec<Value>>> = zones
        .iter()
        .map(|z| {
            z.rules
                .iter()
                .map(|r| {
                    r.code_keys()
                        .into_iter()
                        .map(|key| {
                            let row = table.as_ref().and_then(|t| t.row(key));
                            json!({
                                "event": key,
                                "code": row.map(|e| e.code.clone()),
                                "name": row.map(|e| e.name.clone()),
                                "taxonomy": table.as_ref().map(|t| t.taxonomy.clone()),
                            })
                        })
                        .collect()
                })
                .collect()
        })
        .collect();
    Json(json!({"camera": camera, "zones": zones, "codes": codes}))
}

/// `GET /api/cameras/{id}/zones`.
pub async fn list(
    State(st): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    // Resolving the code table may read the deployment's table file.
    blocking(move || {
        let config = st.backend.config();
        let i = find(&config, &id)?;
        Ok(answer(
            &id,
            &config.cameras[i].zones,
            &config.events.categories,
        ))
    })
    .await
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
    let (answer, _) = st
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
            let a = answer(&camera, &b.zones, &config.events.categories);
            Ok((config, a))
        })
        .await?;
    Ok(answer)
}
