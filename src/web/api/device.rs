//! Uplink & device: the device's identity (id, division code, timezone, location),
//! its public signing key and loaded models; the broker settings with TLS file uploads
//! and a real "Test connection".
//!
//! The broker password is write-only (`password_set` instead); TLS files are stored
//! 0600 under the state dir and only their presence is shown.

use super::{ApiError, Peer, Shared, blocking, parse_json};
use crate::config::{Config, Problem};
use crate::uplink::config::{TlsConfig, UplinkConfig};
use crate::uplink::signing;
use crate::web::auth::Session;
use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use serde::Deserialize;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

/// Largest TLS file accepted: a CA bundle of a few dozen certificates.
pub const MAX_TLS_FILE: usize = 64 * 1024;

/// The device's public key (base64) and key id, when the key exists (the uplink
/// creates it on first start; the page never creates keys).
fn public_key(config: &Config) -> Option<(String, String)> {
    let dir = &config.device.state_dir;
    let text = std::fs::read_to_string(dir.join(signing::PUBKEY_FILE))
        .ok()
        .or_else(|| {
            dir.join(signing::KEY_FILE)
                .exists()
                .then(|| signing::DeviceKey::load_or_create(dir).ok())
                .flatten()
                .map(|k| k.public_key_b64())
        })?;
    let key = signing::parse_public_key(&text).ok()?;
    Some((text.trim().to_string(), signing::key_id(&key)))
}

fn device_view(config: &Config, models: Vec<crate::web::ModelInfo>) -> Value {
    let d = &config.device;
    let key = public_key(config);
    json!({
        "id": d.id,
        "division_code": d.division_code,
        "timezone": d.timezone,
        "location": d.location,
        "public_key": key.as_ref().map(|k| &k.0),
        "key_id": key.as_ref().map(|k| &k.1),
        "models": models,
    })
}

/// `GET /api/device`.
pub async fn get_device(State(st): State<Shared>) -> Result<Json<Value>, ApiError> {
    blocking(move || Ok(Json(device_view(&st.backend.config(), st.backend.models())))).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceInput {
    id: String,
    #[serde(default)]
    division_code: Option<String>,
    timezone: String,
    #[serde(default)]
    location: String,
}

/// Config problems of section `prefix` with paths relative to it (`device.id` -> `id`),
/// the names of the page's fields.
fn relative(problems: Vec<Problem>, prefix: &str) -> ApiError {
    ApiError::Invalid(
        problems
            .into_iter()
            .map(|mut p| {
                if let Some(rest) = p.path.strip_prefix(prefix) {
                    p.path = rest.to_string();
                }
                p
            })
            .collect(),
    )
}

/// `PUT /api/device`: id, division code, timezone and location.
pub async fn put_device(
    State(st): State<Shared>,
    Extension(session): Extension<Session>,
    ConnectInfo(Peer(client)): ConnectInfo<Peer>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let input: DeviceInput = parse_json(&body)?;
    st.change_config(&session, client, "device.update", move |mut config| {
        config.device.id = input.id.trim().to_string();
        config.device.division_code = input
            .division_code
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty());
        config.device.timezone = input.timezone.trim().to_string();
        config.device.location = input.location.trim().to_string();
        let problems = crate::config::validate(&config);
        if !problems.is_empty() {
            return Err(relative(problems, "device."));
        }
        Ok((config, ()))
    })
    .await?;
    get_device(State(st)).await
}

fn uplink_view(u: &UplinkConfig) -> Value {
    json!({
        "broker": crate::redact::redact_url(&u.broker),
        "port": u.port,
        "client_id": u.client_id,
        "username": u.username,
        "password_set": u.password.is_some(),
        "tls": {
            "ca": u.tls.is_some(),
            "client_cert": u.tls.as_ref().is_some_and(|t| t.client_cert.is_some()),
            "client_key": u.tls.as_ref().is_some_and(|t| t.client_key.is_some()),
        },
    })
}

/// `GET /api/uplink`: the broker settings, secrets as `*_set` flags.
pub async fn get_uplink(State(st): State<Shared>) -> Result<Json<Value>, ApiError> {
    let config = blocking(move || Ok(st.backend.config())).await?;
    Ok(Json(uplink_view(&config.uplink)))
}

/// Broker settings as the page sends them. `password` omitted (or null) keeps the
/// stored one; `""` clears it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UplinkInput {
    broker: String,
    #[serde(default)]
    port: Option<u16>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// `stored` with the input's settings applied, or the problems (named by field).
fn edited(stored: &UplinkConfig, input: UplinkInput) -> Result<UplinkConfig, ApiError> {
    let mut u = stored.clone();
    u.broker = input.broker.trim().to_string();
    u.port = input.port;
    u.client_id = non_empty(input.client_id);
    u.username = non_empty(input.username);
    match input.password {
        None => {}
        Some(p) if p.is_empty() => u.password = None,
        Some(p) => u.password = Some(p),
    }
    let mut problems = Vec::new();
    match u.broker_addr() {
        Err(e) => problems.push(Problem::new(
            "broker",
            e,
            "use mqtt://host[:port] or mqtts://host[:port], without user or password",
        )),
        Ok(Some(addr)) if addr.tls && u.tls.is_none() => problems.push(Problem::new(
            "broker",
            "mqtts:// needs the CA certificate that signed the broker's certificate",
            "upload the CA certificate first, or use mqtt://",
        )),
        Ok(_) => {}
    }
    if u.broker.contains('@') {
        problems.push(Problem::new(
            "broker",
            "the broker URL contains credentials",
            "enter the user name and password in their own fields",
        ));
    }
    if u.port == Some(0) {
        problems.push(Problem::new(
            "port",
            "port 0 is not valid",
            "use 1 to 65535",
        ));
    }
    if let Some(id) = &u.client_id
        && (id.len() > 64 || !id.chars().all(|c| c.is_ascii_graphic()))
    {
        problems.push(Problem::new(
            "client_id",
            format!("\"{id}\" is not a usable MQTT client id"),
            "use up to 64 letters, digits and punctuation without spaces, or leave empty for the device id",
        ));
    }
    if u.password.is_some() && u.username.is_none() {
        problems.push(Problem::new(
            "username",
            "a password is set but no user name",
            "enter the user name the broker expects",
        ));
    }
    if problems.is_empty() {
        Ok(u)
    } else {
        Err(ApiError::Invalid(problems))
    }
}

/// `PUT /api/uplink`: broker URL, port, client id, user name and (write-only) password.
/// The daemon restarts its uplink with them when it applies the saved config.
pub async fn put_uplink(
    State(st): State<Shared>,
    Extension(session): Extension<Session>,
    ConnectInfo(Peer(client)): ConnectInfo<Peer>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let input: UplinkInput = parse_json(&body)?;
    let (view, _) = st
        .change_config(&session, client, "uplink.update", move |mut config| {
            config.uplink = edited(&config.uplink, input)?;
            let view = uplink_view(&config.uplink);
            Ok((config, view))
        })
        .await?;
    Ok(Json(view))
}

/// Which TLS file an upload is.
#[derive(Clone, Copy)]
enum TlsFile {
    Ca,
    ClientCert,
    ClientKey,
}

impl TlsFile {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "ca" => TlsFile::Ca,
            "client_cert" => TlsFile::ClientCert,
            "client_key" => TlsFile::ClientKey,
            _ => return None,
        })
    }
    fn field(self) -> &'static str {
        match self {
            TlsFile::Ca => "ca",
            TlsFile::ClientCert => "client_cert",
            TlsFile::ClientKey => "client_key",
        }
    }
    /// A name per content: the file the running config references is never
    /// overwritten, so a failed save leaves the last good settings intact.
    fn file_name(self, pem: &[u8]) -> String {
        use sha2::Digest;
        let stem = match self {
            TlsFile::Ca => "ca",
            TlsFile::ClientCert => "client-cert",
            TlsFile::ClientKey => "client-key",
        };
        let digest = hex::encode(sha2::Sha256::digest(pem));
        format!("{stem}-{}.pem", &digest[..12])
    }
    /// Check the PEM is what it claims to be; the message never quotes a key.
    fn check(self, pem: &[u8]) -> Result<(), String> {
        match self {
            TlsFile::Ca | TlsFile::ClientCert => {
                let certs = rustls_pemfile::certs(&mut &pem[..])
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| "the file is not valid PEM".to_string())?;
                if certs.is_empty() {
                    return Err("the file holds no PEM certificate (BEGIN CERTIFICATE)".into());
                }
                Ok(())
            }
            TlsFile::ClientKey => match rustls_pemfile::private_key(&mut &pem[..]) {
                Ok(Some(_)) => Ok(()),
                _ => Err("the file holds no PEM private key (PKCS#8, PKCS#1 or SEC1)".into()),
            },
        }
    }
}

/// Where uploaded TLS files live: beside the outbox and the device key.
fn tls_dir(config: &Config) -> PathBuf {
    config.device.state_dir.join("uplink-tls")
}

/// `POST /api/uplink/tls/{file}` (`ca`, `client_cert` or `client_key`): a PEM file as
/// the body, at most 64 KiB; stored 0600 and referenced from `[uplink.tls]`.
pub async fn upload_tls(
    State(st): State<Shared>,
    Extension(session): Extension<Session>,
    ConnectInfo(Peer(client)): ConnectInfo<Peer>,
    Path(file): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let kind = TlsFile::parse(&file).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no TLS file \"{file}\"; use ca, client_cert or client_key"
        ))
    })?;
    let field = kind.field();
    if body.len() > MAX_TLS_FILE {
        return Err(ApiError::field(
            field,
            format!(
                "the file has {} bytes; at most {MAX_TLS_FILE} are accepted",
                body.len()
            ),
            "upload the PEM file itself (not an archive or a whole certificate store)",
        ));
    }
    kind.check(&body).map_err(|m| {
        ApiError::field(
            field,
            m,
            "upload the PEM file the broker's operator gave you",
        )
    })?;
    let (view, _) = st
        .change_config(&session, client, "uplink.tls_upload", move |mut config| {
            let dir = tls_dir(&config);
            let path = dir.join(kind.file_name(&body));
            let stored = |e: std::io::Error| {
                ApiError::Internal(format!("cannot store {}: {e}", path.display()))
            };
            let tls = match (kind, config.uplink.tls.take()) {
                (TlsFile::Ca, t) => TlsConfig {
                    ca_file: path.clone(),
                    ..t.unwrap_or(TlsConfig {
                        ca_file: path.clone(),
                        client_cert: None,
                        client_key: None,
                    })
                },
                (_, None) => {
                    return Err(ApiError::field(
                        field,
                        "upload the CA certificate first",
                        "the client certificate and key are used together with the broker's CA",
                    ));
                }
                (TlsFile::ClientCert, Some(t)) => TlsConfig {
                    client_cert: Some(path.clone()),
                    ..t
                },
                (TlsFile::ClientKey, Some(t)) => TlsConfig {
                    client_key: Some(path.clone()),
                    ..t
                },
            };
            crate::web::files::private_dir(&dir).map_err(stored)?;
            crate::web::files::write_private(&path, &body).map_err(stored)?;
            config.uplink.tls = Some(tls);
            let view = uplink_view(&config.uplink);
            Ok((config, view))
        })
        .await?;
    Ok(Json(view))
}

/// `DELETE /api/uplink/tls`: stop using TLS files (refused while the broker URL is
/// `mqtts://`). The files stay on disk until the next upload replaces them, so the
/// config the daemon still runs keeps working until it is reloaded.
pub async fn delete_tls(
    State(st): State<Shared>,
    Extension(session): Extension<Session>,
    ConnectInfo(Peer(client)): ConnectInfo<Peer>,
) -> Result<Json<Value>, ApiError> {
    let (view, _) = st
        .change_config(&session, client, "uplink.tls_remove", move |mut config| {
            if config
                .uplink
                .broker_addr()
                .ok()
                .flatten()
                .is_some_and(|a| a.tls)
            {
                return Err(ApiError::field(
                    "broker",
                    "an mqtts:// broker needs the CA certificate",
                    "switch the broker URL to mqtt:// first, or upload another CA instead",
                ));
            }
            config.uplink.tls = None;
            let view = uplink_view(&config.uplink);
            Ok((config, view))
        })
        .await?;
    Ok(Json(view))
}

/// The broker settings to try (as [`UplinkInput`]) and how long to wait.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestInput {
    broker: String,
    #[serde(default)]
    port: Option<u16>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    /// Seconds to wait for the broker, 1 to 10 (default 5).
    #[serde(default)]
    timeout_s: Option<u64>,
}

/// `POST /api/uplink/test`: connect to the broker with the given settings (what the
/// body omits comes from the saved ones) and report success or the exact failure.
pub async fn test_uplink(State(st): State<Shared>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let input: TestInput = parse_json(&body)?;
    let timeout = input.timeout_s.unwrap_or(5);
    if !(1..=10).contains(&timeout) {
        return Err(ApiError::field(
            "timeout_s",
            format!("{timeout} is out of range"),
            "use 1 to 10 seconds",
        ));
    }
    let config = blocking({
        let st = st.clone();
        move || Ok(st.backend.config())
    })
    .await?;
    let password_given = input.password.is_some();
    let settings = UplinkInput {
        broker: input.broker,
        port: input.port,
        client_id: input.client_id,
        username: input.username,
        password: input.password,
    };
    let cfg = edited(&config.uplink, settings)?;
    // The stored password goes only to the saved broker: otherwise anyone with the
    // page could point the test at their own server and collect it.
    if !password_given
        && cfg.password.is_some()
        && cfg.broker_addr().ok().flatten() != config.uplink.broker_addr().ok().flatten()
    {
        return Err(ApiError::field(
            "password",
            "the stored password is only sent to the saved broker",
            "enter the password to test another broker",
        ));
    }
    let Ok(_permit) = st.probe_slot.try_acquire() else {
        return Err(ApiError::Busy);
    };
    let secret = cfg.password.clone().unwrap_or_default();
    let result = crate::uplink::connection_test::test_connection(
        &cfg,
        &config.device.id,
        Duration::from_secs(timeout),
    )
    .await;
    Ok(Json(match result {
        Ok(()) => json!({"ok": true, "message": "connected: the broker accepted the connection"}),
        Err(f) => json!({
            "ok": false,
            "reason": f.reason,
            "message": crate::redact::scrub(&f.message, &[&secret]),
        }),
    }))
}
