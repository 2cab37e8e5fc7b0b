//! Uplink & device: the device's identity (id, division code, timezone, location),
//! its public signing key and loaded models; the broker settings with TLS file uploads
//! and a real "Test connection"; the HTTP push sink (`[uplink.http]`) beside or
//! instead of the broker, with its own TLS file uploads (`?sink=http`).
//!
//! The broker password and the sink's HMAC secret and bearer token are write-only
//! (`*_set` instead) and never follow a changed address; TLS files are stored 0600
//! under the state dir and only their presence is shown.

use super::{ApiError, Peer, Shared, blocking, parse_json};
use crate::config::{Config, Problem};
use crate::uplink::config::{HttpConfig, MediaOrder, TlsConfig, UplinkConfig};
use crate::uplink::signing;
use crate::uplink::tls::{self, Layout, TlsFileKind};
use crate::web::auth::Session;
use crate::web::protect::{self, Notice};
use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use serde::Deserialize;
use serde_json::{Value, json};
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
        "tls": tls_flags(u.tls.as_ref()),
        // The HTTP push sink; secrets as `*_set` flags, TLS files as presence only.
        "http": u.http.as_ref().map(http_view),
        "sinks": {"mqtt": u.mqtt_on(), "http": u.http.is_some()},
    })
}

fn tls_flags(t: Option<&TlsConfig>) -> Value {
    json!({
        "ca": t.is_some(),
        "client_cert": t.is_some_and(|t| t.client_cert.is_some()),
        "client_key": t.is_some_and(|t| t.client_key.is_some()),
    })
}

fn http_view(h: &HttpConfig) -> Value {
    let mtls = h
        .tls
        .as_ref()
        .is_some_and(|t| t.client_cert.is_some() && t.client_key.is_some());
    let auth: Vec<&str> = [
        (h.hmac_secret.is_some(), "hmac"),
        (h.bearer_token.is_some(), "bearer"),
        (mtls, "mtls"),
    ]
    .into_iter()
    .filter_map(|(on, kind)| on.then_some(kind))
    .collect();
    json!({
        "url": crate::redact::redact_url(&h.url),
        "media_url": h.media_url.as_deref().map(crate::redact::redact_url),
        "media_put_template": h.media_put_template,
        "media_order": h.media_order,
        "auth": auth,
        "hmac_secret_set": h.hmac_secret.is_some(),
        "bearer_token_set": h.bearer_token.is_some(),
        "connect_timeout_s": h.connect_timeout_s,
        "timeout_s": h.timeout_s,
        "backoff_max_s": h.backoff_max_s,
        "tls": tls_flags(h.tls.as_ref()),
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
    /// The HTTP push sink: omitted keeps it as saved, `null` removes it, an object
    /// sets it.
    #[serde(default, deserialize_with = "present")]
    http: Option<Option<HttpInput>>,
}

/// A field that is present (even as `null`) is `Some`: tells "remove" from "keep".
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// HTTP sink settings as the page sends them. A secret omitted (or null) is kept while
/// every address it is sent to stays the same (otherwise it is dropped and the answer
/// says so); `""` clears it. Omitted timeouts keep their saved (or default) values.
/// The TLS files come from the upload route only.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpInput {
    url: String,
    #[serde(default)]
    media_url: Option<String>,
    #[serde(default)]
    media_put_template: Option<String>,
    #[serde(default)]
    media_order: Option<MediaOrder>,
    #[serde(default)]
    hmac_secret: Option<String>,
    #[serde(default)]
    bearer_token: Option<String>,
    #[serde(default)]
    connect_timeout_s: Option<u64>,
    #[serde(default)]
    timeout_s: Option<u64>,
    #[serde(default)]
    backoff_max_s: Option<u64>,
}

/// The sink `input` describes, on top of the saved one (its TLS files, its timeouts);
/// the secrets the input omits stay only for the same addresses. Returns the keys of
/// the secrets dropped because an address changed.
fn edited_http(stored: Option<&HttpConfig>, input: HttpInput) -> (HttpConfig, Vec<&'static str>) {
    let mut h = stored
        .cloned()
        .unwrap_or_else(|| HttpConfig::new(String::new()));
    h.url = input.url.trim().to_string();
    h.media_url = non_empty(input.media_url);
    h.media_put_template = non_empty(input.media_put_template);
    if let Some(o) = input.media_order {
        h.media_order = o;
    }
    if let Some(v) = input.connect_timeout_s {
        h.connect_timeout_s = v;
    }
    if let Some(v) = input.timeout_s {
        h.timeout_s = v;
    }
    if let Some(v) = input.backoff_max_s {
        h.backoff_max_s = v;
    }
    let omitted_hmac = input.hmac_secret.is_none();
    let omitted_token = input.bearer_token.is_none();
    h.hmac_secret = input.hmac_secret.filter(|v| !v.is_empty());
    h.bearer_token = input.bearer_token.filter(|v| !v.is_empty());
    let mut dropped = Vec::new();
    if let Some(old) = stored {
        let same = old.same_endpoints(&h);
        for (omitted, key, ours, theirs) in [
            (
                omitted_hmac,
                "uplink.http.hmac_secret",
                &mut h.hmac_secret,
                &old.hmac_secret,
            ),
            (
                omitted_token,
                "uplink.http.bearer_token",
                &mut h.bearer_token,
                &old.bearer_token,
            ),
        ] {
            if omitted && theirs.is_some() {
                if same {
                    ours.clone_from(theirs);
                } else {
                    dropped.push(key);
                }
            }
        }
    }
    (h, dropped)
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// `stored` with the input's settings applied, or the problems (named by field).
fn edited(
    stored: &UplinkConfig,
    input: UplinkInput,
) -> Result<(UplinkConfig, Vec<&'static str>), ApiError> {
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
    let mut dropped = Vec::new();
    match input.http {
        None => {}
        Some(None) => u.http = None,
        Some(Some(h)) => {
            let (h, d) = edited_http(stored.http.as_ref(), h);
            u.http = Some(h);
            dropped = d;
        }
    }
    // The sink's settings are checked by the same code as `check-config`, named by
    // their key path (`uplink.http.url`); the page finds the field by it.
    if u.http.is_some() {
        problems.extend(
            crate::uplink::validate::validate(&u)
                .into_iter()
                .filter(|p| p.path.starts_with("uplink.http.")),
        );
    }
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
        Ok((u, dropped))
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
    let password_given = input.password.is_some();
    let (view, _) = st
        .change_config(&session, client, "uplink.update", move |mut config| {
            let (mut u, dropped) = edited(&config.uplink, input)?;
            // An omitted password stays only while the broker stays the same.
            let notice = if password_given {
                None
            } else {
                protect::inherit_broker_password(&config.uplink, &mut u)
            };
            // The HTTP sink's secrets likewise never follow a changed address.
            for key in &dropped {
                tracing::warn!(
                    key,
                    "uplink: the HTTP push address changed; the stored secret was cleared"
                );
            }
            let notices: Vec<Notice> = notice
                .iter()
                .cloned()
                .chain(
                    dropped
                        .iter()
                        .map(|k| protect::secret_dropped(k.to_string())),
                )
                .collect();
            config.uplink = u;
            let mut view = uplink_view(&config.uplink);
            view["password_cleared"] = json!(notice.is_some());
            view["secrets_cleared"] = json!(dropped);
            view["notices"] = json!(notices);
            Ok((config, view))
        })
        .await?;
    Ok(Json(view))
}

/// Which connection an uploaded TLS file is for: the broker (`[uplink.tls]`, the
/// default) or the HTTP push sink (`?sink=http`, `[uplink.http.tls]`). Either way the
/// file is stored under a name the daemon chooses: nothing the page sends is a path.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TlsSink {
    Mqtt,
    Http,
}

impl TlsSink {
    fn parse(query: Option<&str>) -> Result<Self, ApiError> {
        match query.unwrap_or_default() {
            "" | "sink=mqtt" => Ok(TlsSink::Mqtt),
            "sink=http" => Ok(TlsSink::Http),
            other => Err(ApiError::field(
                "sink",
                format!("unknown query parameter \"{other}\""),
                "use ?sink=http for the HTTP push sink, or nothing for the broker",
            )),
        }
    }

    /// The sink's TLS settings, taken out of `config` (put back with [`Self::put`]).
    fn take(self, config: &mut Config) -> Result<Option<TlsConfig>, ApiError> {
        match self {
            TlsSink::Mqtt => Ok(config.uplink.tls.take()),
            TlsSink::Http => match config.uplink.http.as_mut() {
                Some(h) => Ok(h.tls.take()),
                None => Err(ApiError::field(
                    "http.url",
                    "the HTTP push sink is not set up",
                    "save the HTTP push URL first, then upload its certificates",
                )),
            },
        }
    }

    fn put(self, config: &mut Config, tls: Option<TlsConfig>) {
        match self {
            TlsSink::Mqtt => config.uplink.tls = tls,
            TlsSink::Http => {
                if let Some(h) = config.uplink.http.as_mut() {
                    h.tls = tls;
                }
            }
        }
    }
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
    fn kind(self) -> TlsFileKind {
        match self {
            TlsFile::Ca => TlsFileKind::Ca,
            TlsFile::ClientCert => TlsFileKind::ClientCert,
            TlsFile::ClientKey => TlsFileKind::ClientKey,
        }
    }
    /// Parse the upload as what it claims to be (X.509 certificates or one private
    /// key, nothing else in the file); the message never quotes a key.
    fn check(self, pem: &[u8]) -> Result<(), String> {
        let name = format!("the uploaded {} file", self.field());
        match self {
            TlsFile::Ca | TlsFile::ClientCert => {
                tls::parse_certificates(pem, &name, self.kind(), Layout::Strict).map(|_| ())
            }
            TlsFile::ClientKey => tls::parse_private_key(pem, &name, Layout::Strict).map(|_| ()),
        }
        .map_err(|e| e.to_string())
    }
}

/// The stored client certificate's leaf, or the stored key, for the pair check. A file
/// named in the config file may carry text around its blocks.
fn stored_leaf(path: &std::path::Path) -> Option<rustls::pki_types::CertificateDer<'static>> {
    let bytes = std::fs::read(path).ok()?;
    let name = path.display().to_string();
    tls::parse_certificates(&bytes, &name, TlsFileKind::ClientCert, Layout::Lenient)
        .ok()?
        .into_iter()
        .next()
}

fn stored_key(path: &std::path::Path) -> Option<rustls::pki_types::PrivateKeyDer<'static>> {
    let bytes = std::fs::read(path).ok()?;
    tls::parse_private_key(&bytes, &path.display().to_string(), Layout::Lenient).ok()
}

fn stale_key_dropped() -> Notice {
    Notice {
        key: "uplink.tls.client_key".into(),
        zh: "已保存的客户端私钥与新证书不匹配，已移除；请上传该证书对应的私钥".into(),
        en: "the stored client key does not belong to the new certificate and was removed; \
             upload the certificate's own private key"
            .into(),
    }
}

/// `POST /api/uplink/tls/{file}` (`ca`, `client_cert` or `client_key`): a PEM file as
/// the body, at most 64 KiB; stored 0600 and referenced from `[uplink.tls]`.
pub async fn upload_tls(
    State(st): State<Shared>,
    Extension(session): Extension<Session>,
    ConnectInfo(Peer(client)): ConnectInfo<Peer>,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let sink = TlsSink::parse(query.as_deref())?;
    let kind = TlsFile::parse(&file).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no TLS file \"{file}\"; use ca, client_cert or client_key"
        ))
    })?;
    // The page's field: `ca` for the broker, `http.tls.ca` for the HTTP sink.
    let field: &'static str = match sink {
        TlsSink::Mqtt => kind.field(),
        TlsSink::Http => match kind {
            TlsFile::Ca => "http.tls.ca",
            TlsFile::ClientCert => "http.tls.client_cert",
            TlsFile::ClientKey => "http.tls.client_key",
        },
    };
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
            let dir = protect::tls_upload_dir(&config.device.state_dir);
            let path = dir.join(kind.file_name(&body));
            let mut notices = Vec::new();
            // A client key must be the private half of the client certificate. A key
            // that does not match is refused; a new certificate that does not match the
            // stored key replaces the pair's certificate and drops the stale key.
            let slot = sink.take(&mut config)?;
            let current = slot.as_ref();
            match kind {
                TlsFile::ClientKey => {
                    if let Some(leaf) = current
                        .and_then(|t| t.client_cert.as_deref())
                        .and_then(stored_leaf)
                    {
                        let key = tls::parse_private_key(
                            &body,
                            "the uploaded client_key file",
                            Layout::Strict,
                        )
                        .map_err(|e| ApiError::field(field, e.to_string(), ""))?;
                        tls::check_key_matches(&leaf, &key, "the uploaded client_key file")
                            .map_err(|e| ApiError::field(field, e.to_string(), ""))?;
                    }
                }
                TlsFile::ClientCert => {
                    if let Some(key) = current
                        .and_then(|t| t.client_key.as_deref())
                        .and_then(stored_key)
                    {
                        let leaf = tls::parse_certificates(
                            &body,
                            "the uploaded client_cert file",
                            TlsFileKind::ClientCert,
                            Layout::Strict,
                        )
                        .map_err(|e| ApiError::field(field, e.to_string(), ""))?
                        .remove(0);
                        if tls::check_key_matches(&leaf, &key, "the stored client key").is_err() {
                            notices.push(stale_key_dropped());
                        }
                    }
                }
                TlsFile::Ca => {}
            }
            let stored = |e: std::io::Error| {
                ApiError::Internal(format!("cannot store {}: {e}", path.display()))
            };
            let tls = match (kind, slot) {
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
                    client_key: if notices.is_empty() {
                        t.client_key
                    } else {
                        None
                    },
                    ..t
                },
                (TlsFile::ClientKey, Some(t)) => TlsConfig {
                    client_key: Some(path.clone()),
                    ..t
                },
            };
            crate::web::files::private_dir(&dir).map_err(stored)?;
            crate::web::files::write_private(&path, &body).map_err(stored)?;
            sink.put(&mut config, Some(tls));
            let mut view = uplink_view(&config.uplink);
            view["notices"] = json!(notices);
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
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let sink = TlsSink::parse(query.as_deref())?;
    let (view, _) = st
        .change_config(&session, client, "uplink.tls_remove", move |mut config| {
            if sink == TlsSink::Http {
                // Without its own CA an https:// sink checks the public web PKI roots.
                sink.take(&mut config)?;
                let view = uplink_view(&config.uplink);
                return Ok((config, view));
            }
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
        http: None,
    };
    let (cfg, _) = edited(&config.uplink, settings)?;
    // The stored password goes only to the saved broker: otherwise anyone with the
    // page could point the test at their own server and collect it.
    if !password_given && cfg.password.is_some() && !protect::same_broker(&cfg, &config.uplink) {
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

/// `POST /api/uplink/http/test`: one `HEAD` to the HTTP push URL with the given sink
/// settings (what the body omits comes from the saved sink; the saved secrets only to
/// the saved addresses) and its auth, reporting the answer or the exact failure.
pub async fn test_http(State(st): State<Shared>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let input: HttpInput = parse_json(&body)?;
    let config = blocking({
        let st = st.clone();
        move || Ok(st.backend.config())
    })
    .await?;
    let (h, dropped) = edited_http(config.uplink.http.as_ref(), input);
    let probe = UplinkConfig {
        http: Some(h.clone()),
        ..UplinkConfig::default()
    };
    let problems: Vec<Problem> = crate::uplink::validate::validate(&probe)
        .into_iter()
        .filter(|p| p.path.starts_with("uplink.http."))
        .collect();
    if !problems.is_empty() {
        return Err(ApiError::Invalid(problems));
    }
    // Like the broker password: anyone with the page could otherwise point the test at
    // their own server and collect the stored secret.
    if let Some(key) = dropped.first() {
        return Err(ApiError::field(
            key,
            "the stored secret is only sent to the saved push addresses",
            "enter the secret to test another address",
        ));
    }
    let Ok(_permit) = st.probe_slot.try_acquire() else {
        return Err(ApiError::Busy);
    };
    let secrets: Vec<String> = [&h.hmac_secret, &h.bearer_token]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let result = crate::uplink::connection_test::test_http(&h, Duration::from_secs(5)).await;
    Ok(Json(match result {
        Ok(a) => json!({"ok": true, "status": a.status,
            "message": format!("the platform answered HTTP {}", a.status)}),
        Err(f) => json!({
            "ok": false,
            "reason": f.reason,
            "message": crate::redact::scrub(&f.message, &secrets),
        }),
    }))
}
