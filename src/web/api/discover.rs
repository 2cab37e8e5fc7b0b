//! `POST /api/cameras/discover`: the Cameras page's **Discover** button.
//!
//! The ONVIF password in the request goes to the cameras only as a WS-Security
//! digest; it is never logged, stored or echoed, and the stream URLs returned carry no
//! credentials (the page puts the user name in its own field).

use super::{ApiError, Shared, blocking, parse_json};
use crate::ingest::onvif::{self, Credentials, Search};
use crate::web::config::MAX_PROBE_TARGETS;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;

/// Deadline of each HTTP exchange with a camera.
const CAMERA_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest accepted user name or password (ONVIF devices allow far less).
const MAX_CREDENTIAL_CHARS: usize = 128;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DiscoverBody {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    /// Unicast probe targets (`"ip:port"`) besides `[web] onvif_probe_targets`.
    #[serde(default)]
    targets: Vec<String>,
    /// Also probe the WS-Discovery multicast group (default true).
    #[serde(default = "yes")]
    multicast: bool,
    /// Seconds to collect answers, 0.5 to 5 (default 2).
    #[serde(default = "default_seconds")]
    seconds: f64,
}

fn yes() -> bool {
    true
}

fn default_seconds() -> f64 {
    2.0
}

fn search(b: DiscoverBody, configured: Vec<SocketAddr>) -> Result<Search, ApiError> {
    if !(0.5..=5.0).contains(&b.seconds) {
        return Err(ApiError::field(
            "seconds",
            format!("{} is out of range", b.seconds),
            "use 0.5 to 5 seconds",
        ));
    }
    if b.targets.len() > MAX_PROBE_TARGETS {
        return Err(ApiError::field(
            "targets",
            format!("{} addresses are too many", b.targets.len()),
            format!("send at most {MAX_PROBE_TARGETS}"),
        ));
    }
    let mut targets = configured;
    for (i, t) in b.targets.iter().enumerate() {
        match t.trim().parse::<SocketAddr>() {
            Ok(a) if a.port() != 0 && !a.ip().is_unspecified() => targets.push(a),
            _ => {
                return Err(ApiError::field(
                    &format!("targets[{i}]"),
                    format!("\"{t}\" is not an IP address with a port"),
                    "write it like 192.168.1.64:3702",
                ));
            }
        }
    }
    targets.dedup();
    if !b.multicast && targets.is_empty() {
        return Err(ApiError::field(
            "targets",
            "nothing to probe: multicast is off and no targets are given",
            "turn multicast on, or give a camera's address such as 192.168.1.64:3702",
        ));
    }
    for (name, value) in [("username", &b.username), ("password", &b.password)] {
        if value
            .as_ref()
            .is_some_and(|v| v.chars().count() > MAX_CREDENTIAL_CHARS)
        {
            return Err(ApiError::field(
                name,
                format!("longer than {MAX_CREDENTIAL_CHARS} characters"),
                "enter the camera's ONVIF credentials",
            ));
        }
    }
    let username = b.username.map(|u| u.trim().to_string()).unwrap_or_default();
    if username.is_empty() && b.password.as_deref().is_some_and(|p| !p.is_empty()) {
        return Err(ApiError::field(
            "username",
            "a password without a user name",
            "enter the ONVIF user name too",
        ));
    }
    let credentials = (!username.is_empty()).then(|| Credentials {
        username,
        password: b.password.unwrap_or_default(),
    });
    Ok(Search {
        targets,
        multicast: b.multicast,
        wait: Duration::from_secs_f64(b.seconds),
        credentials,
        timeout: CAMERA_TIMEOUT,
    })
}

/// `POST /api/cameras/discover`: probe for ONVIF cameras and list each one's RTSP
/// streams (with the given credentials), or why they could not be listed.
pub async fn discover(State(st): State<Shared>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let b: DiscoverBody = parse_json(&body)?;
    // One network search at a time, sharing the probe's slot: both are slow and the
    // page runs one or the other.
    let Ok(_permit) = st.probe_slot.try_acquire() else {
        return Err(ApiError::Busy);
    };
    let st2 = st.clone();
    let devices = blocking(move || {
        let configured = st2.backend.config().web.onvif_probe_targets;
        let search = search(b, configured)?;
        onvif::discover(&search).map_err(|e| {
            ApiError::Internal(format!(
                "ONVIF discovery failed ({e}); check the network settings"
            ))
        })
    })
    .await?;
    Ok(Json(json!({ "devices": devices })))
}
