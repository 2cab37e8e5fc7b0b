//! The JSON API: shared state, the error shape every endpoint answers with, the
//! session/CSRF/Origin guards and the route table (which the OpenAPI test reads).

mod account;
mod cameras;
pub(crate) mod codes;
mod device;
mod discover;
mod events;
mod live;
mod metrics;
mod scene;
mod settings;
mod zones;

use super::assets;
use super::audit::{AuditEntry, AuditLog, Change};
use super::auth::{Credentials, HashGate, InFlight, RateLimiter, Session, Sessions};
use super::backend::{ApplyReport, WebBackend};
use super::config::WebConfig;
use super::protect::{self, TlsFiles};
use crate::config::{Config, Problem};
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post, put};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest request body (a config import is a few KiB; this leaves room for 100 cameras).
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Session cookie name.
pub const COOKIE: &str = "sw_session";
/// Header carrying the session's CSRF token on state-changing requests.
pub const CSRF_HEADER: &str = "x-csrf-token";

pub struct AppState {
    pub backend: Arc<dyn WebBackend>,
    pub creds: Credentials,
    pub sessions: Sessions,
    pub limiter: RateLimiter,
    /// The process-wide bound on password hashing (login, setup, password change).
    pub hashing: HashGate,
    /// Client addresses with a password request in progress (one at a time each).
    pub auth_inflight: InFlight,
    pub audit: AuditLog,
    pub tls: bool,
    pub started: Instant,
    /// The device state dir, for the disk gauge.
    pub device_state_dir: PathBuf,
    /// Serialises read-modify-write of the config so two edits never lose one another.
    pub config_lock: tokio::sync::Mutex<()>,
    /// One camera probe at a time: each runs a GStreamer pipeline.
    pub probe_slot: tokio::sync::Semaphore,
}

pub type Shared = Arc<AppState>;

/// The client's address, for rate limiting and the audit log. A local type so it can
/// be taken from both the plain and the TLS listener (axum only knows its own).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

macro_rules! peer_from {
    ($listener:ty) => {
        impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, $listener>>
            for Peer
        {
            fn connect_info(stream: axum::serve::IncomingStream<'_, $listener>) -> Self {
                Peer(*stream.remote_addr())
            }
        }
    };
}
peer_from!(super::listener::GuardedListener);

impl AppState {
    pub fn new(
        backend: Arc<dyn WebBackend>,
        creds: Credentials,
        cfg: &WebConfig,
        dir: &Path,
        device_state_dir: PathBuf,
    ) -> Self {
        Self {
            backend,
            creds,
            sessions: Sessions::new(Duration::from_secs(cfg.session_lifetime_s)),
            limiter: RateLimiter::default(),
            hashing: HashGate::default(),
            auth_inflight: InFlight::default(),
            audit: AuditLog::new(dir),
            tls: cfg.tls,
            started: Instant::now(),
            device_state_dir,
            config_lock: tokio::sync::Mutex::new(()),
            probe_slot: tokio::sync::Semaphore::new(1),
        }
    }

    /// Write an audit record; a failing audit log fails the request (an unrecorded
    /// change must not be acknowledged as done).
    pub fn record(
        &self,
        user: &str,
        client: SocketAddr,
        action: &str,
        changes: Vec<Change>,
    ) -> Result<(), ApiError> {
        self.audit
            .append(&AuditEntry {
                time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                user: user.into(),
                client: client.ip().to_string(),
                action: action.into(),
                changes,
            })
            .map_err(|e| ApiError::Internal(format!("cannot write the audit log: {e}")))
    }

    /// Read-modify-validate-apply the config under the lock, audit the diff. `edit`
    /// returns the new config (or an API error); nothing changes on any error.
    pub async fn change_config<T: Send + 'static>(
        self: &Arc<Self>,
        session: &Session,
        client: SocketAddr,
        action: &str,
        edit: impl FnOnce(Config) -> Result<(Config, T), ApiError> + Send + 'static,
    ) -> Result<(T, Vec<Change>), ApiError> {
        let (out, changes, _) = self
            .change_config_report(session, client, action, edit)
            .await?;
        Ok((out, changes))
    }

    /// [`Self::change_config`] that also returns what the running box applied (it
    /// answers once the daemon has applied the new config).
    pub async fn change_config_report<T: Send + 'static>(
        self: &Arc<Self>,
        session: &Session,
        client: SocketAddr,
        action: &str,
        edit: impl FnOnce(Config) -> Result<(Config, T), ApiError> + Send + 'static,
    ) -> Result<(T, Vec<Change>, ApplyReport), ApiError> {
        let _guard = self.config_lock.lock().await;
        let st = self.clone();
        // The TLS upload and removal are the only saves that may change the uplink's
        // TLS files, and only to files the daemon wrote itself.
        let tls = if matches!(action, "uplink.tls_upload" | "uplink.tls_remove") {
            TlsFiles::Managed
        } else {
            TlsFiles::Keep
        };
        let action_name = action.to_string();
        let (out, changes, report) = blocking(move || {
            let action = action_name.as_str();
            let old = st.backend.config();
            let (mut new, out) = edit(old.clone())?;
            // Whatever the handler did, keys that load code or choose file locations
            // keep their running values (import reports them itself, before this).
            let pinned = protect::pin_file_only(&old, &mut new, tls);
            if !pinned.is_empty() {
                let keys: Vec<&str> = pinned.iter().map(|n| n.key.as_str()).collect();
                tracing::warn!(action, keys = ?keys, "web: a save tried to change file-only keys; the running values were kept");
            }
            let problems = protect::source_problems(&old, &new);
            if !problems.is_empty() {
                return Err(ApiError::Invalid(problems));
            }
            let changes = super::audit::diff(&to_json(&old), &to_json(&new));
            let report = st.backend.apply_config(new).map_err(ApiError::Invalid)?;
            Ok((out, changes, report))
        })
        .await?;
        self.record(&session.user, client, action, changes.clone())?;
        tracing::info!(user = %session.user, action, changes = changes.len(), "web: configuration changed");
        Ok((out, changes, report))
    }
}

pub fn to_json(c: &Config) -> Value {
    serde_json::to_value(c).unwrap_or(Value::Null)
}

/// Run blocking work (argon2, config I/O, GStreamer) off the async workers.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
}

/// Every error the API answers with: `{"error": code, "message": text, "problems": […]}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("log in first")]
    Unauthenticated { setup_required: bool },
    #[error("missing or wrong X-CSRF-Token header; reload the page")]
    Csrf,
    #[error("request from another origin refused")]
    Origin,
    #[error("wrong password")]
    BadCredentials,
    #[error("wrong setup code")]
    BadSetupCode,
    #[error("the admin password is already set; log in instead")]
    SetupDone,
    #[error("the admin password is not set yet; enter the setup code first")]
    SetupRequired,
    #[error("too many failed attempts; try again in {0} s")]
    RateLimited(u64),
    /// Password hashing is at its bound, or this address already has a login,
    /// setup or password change running.
    #[error("another password check is running; try again in a second")]
    AuthBusy,
    #[error("{}", .0.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<Problem>),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("another connection test is running; try again when it has finished")]
    Busy,
    #[error("camera \"{0}\" has no picture yet; wait until it streams (see the status page)")]
    NoPicture(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// One invalid field.
    pub fn field(path: &str, message: impl Into<String>, hint: impl Into<String>) -> Self {
        ApiError::Invalid(vec![Problem::new(path, message, hint)])
    }

    fn status_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Unauthenticated { .. } => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            ApiError::Csrf => (StatusCode::FORBIDDEN, "csrf"),
            ApiError::Origin => (StatusCode::FORBIDDEN, "origin"),
            ApiError::BadCredentials => (StatusCode::UNAUTHORIZED, "bad_credentials"),
            ApiError::BadSetupCode => (StatusCode::UNAUTHORIZED, "bad_setup_code"),
            ApiError::SetupDone => (StatusCode::CONFLICT, "setup_done"),
            ApiError::SetupRequired => (StatusCode::CONFLICT, "setup_required"),
            ApiError::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::AuthBusy => (StatusCode::TOO_MANY_REQUESTS, "auth_busy"),
            ApiError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Busy => (StatusCode::TOO_MANY_REQUESTS, "busy"),
            ApiError::NoPicture(_) => (StatusCode::SERVICE_UNAVAILABLE, "no_picture"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_code();
        if let ApiError::Internal(m) = &self {
            tracing::error!(error = %m, "web: request failed");
        }
        let mut body = json!({"error": code, "message": self.to_string()});
        match &self {
            // Each problem with its code, which the page words in its own language.
            ApiError::Invalid(problems) => {
                body["problems"] =
                    json!(problems.iter().map(codes::problem_json).collect::<Vec<_>>())
            }
            ApiError::Unauthenticated { setup_required } => {
                body["setup_required"] = json!(setup_required)
            }
            _ => {}
        }
        let retry_after = match self {
            ApiError::RateLimited(s) => Some(s),
            ApiError::AuthBusy => Some(1),
            _ => None,
        };
        if let Some(s) = retry_after {
            // The page words its own message from the code and this (i18n.js).
            body["retry_after_s"] = json!(s);
        }
        let mut resp = (status, axum::Json(body)).into_response();
        if let Some(s) = retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        resp
    }
}

/// Parse a JSON body; a bad field is reported with its path (`analysis.fps`).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let mut path = if path == "." { String::new() } else { path };
        // A missing field is reported at its parent; the page shows it at the field.
        let inner = e.inner().to_string();
        if let Some(name) = inner
            .strip_prefix("missing field `")
            .and_then(|r| r.split('`').next())
        {
            path = if path.is_empty() {
                name.to_string()
            } else {
                format!("{path}.{name}")
            };
        }
        ApiError::field(
            &path,
            e.inner().to_string(),
            "send a JSON object with the documented fields (see /api/openapi.json)",
        )
    })
}

/// Value of the session cookie, if any.
pub fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            kv.trim()
                .strip_prefix(&format!("{COOKIE}="))
                .map(str::to_string)
        })
}

/// `Set-Cookie` for a new session (HttpOnly, SameSite=Strict, Secure over HTTPS).
pub fn session_cookie(token: &str, max_age: Duration, tls: bool) -> HeaderValue {
    let secure = if tls { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        max_age.as_secs()
    ))
    .expect("token is base64url")
}

pub fn clear_cookie(tls: bool) -> HeaderValue {
    session_cookie("", Duration::ZERO, tls)
}

fn is_safe(m: &Method) -> bool {
    matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Refuse state-changing requests that a browser marks as coming from another site:
/// `Origin` must be this server, and `Sec-Fetch-Site` (when sent) same-origin.
async fn origin_guard(State(st): State<Shared>, req: Request, next: Next) -> Response {
    if !is_safe(req.method()) {
        let h = req.headers();
        if let Some(site) = h.get("sec-fetch-site").and_then(|v| v.to_str().ok())
            && site != "same-origin"
            && site != "none"
        {
            return ApiError::Origin.into_response();
        }
        if let Some(origin) = h.get(header::ORIGIN) {
            let host = h
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let scheme = if st.tls { "https" } else { "http" };
            if origin.to_str().ok() != Some(&format!("{scheme}://{host}")) {
                return ApiError::Origin.into_response();
            }
        }
    }
    next.run(req).await
}

/// Every protected route: a live session, and on state-changing methods its CSRF token
/// in `X-CSRF-Token`.
async fn session_guard(State(st): State<Shared>, mut req: Request, next: Next) -> Response {
    let Some(session) = session_token(req.headers()).and_then(|t| st.sessions.get(&t)) else {
        return ApiError::Unauthenticated {
            setup_required: st.creds.setup_required(),
        }
        .into_response();
    };
    if !is_safe(req.method()) {
        let sent = req
            .headers()
            .get(CSRF_HEADER)
            .map(|v| v.as_bytes())
            .unwrap_or(b"");
        if !super::auth::constant_time_eq(sent, session.csrf.as_bytes()) {
            return ApiError::Csrf.into_response();
        }
    }
    req.extensions_mut().insert(session);
    next.run(req).await
}

async fn security_headers(req: Request, next: Next) -> Response {
    let is_api = req.uri().path().starts_with("/api/");
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
        ),
    );
    if is_api {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such page or API route".into())
}

/// Builds the router and remembers each (method, path) it serves.
struct Routes {
    public: Router<Shared>,
    protected: Router<Shared>,
    served: Vec<(&'static str, &'static str)>,
}

impl Routes {
    fn public(mut self, method: &'static str, path: &'static str, r: MethodRouter<Shared>) -> Self {
        self.public = self.public.route(path, r);
        self.served.push((method, path));
        self
    }
    fn protected(
        mut self,
        method: &'static str,
        path: &'static str,
        r: MethodRouter<Shared>,
    ) -> Self {
        self.protected = self.protected.route(path, r);
        self.served.push((method, path));
        self
    }
}

fn routes() -> Routes {
    Routes {
        public: Router::new(),
        protected: Router::new(),
        served: Vec::new(),
    }
    .public("get", "/", get(assets::index))
    .public("get", "/assets/{file}", get(assets::file))
    .public("get", "/favicon.ico", get(assets::favicon))
    .public("get", "/api/openapi.json", get(openapi))
    .public("post", "/api/setup", post(account::setup))
    .public("post", "/api/login", post(account::login))
    .protected("post", "/api/logout", post(account::logout))
    .protected("post", "/api/password", post(account::change_password))
    .protected("get", "/api/session", get(account::session))
    .protected("get", "/api/status", get(settings::status))
    .protected("get", "/api/cameras", get(cameras::list))
    .protected("post", "/api/cameras", post(cameras::create))
    .protected("get", "/api/cameras/{id}", get(cameras::one))
    .protected("put", "/api/cameras/{id}", put(cameras::update))
    .protected("delete", "/api/cameras/{id}", delete(cameras::remove))
    .protected("post", "/api/cameras/test", post(cameras::test))
    .protected("get", "/api/cameras/{id}/zones", get(zones::list))
    .protected("put", "/api/cameras/{id}/zones", put(zones::replace))
    .protected("get", "/api/cameras/{id}/snapshot.jpg", get(live::snapshot))
    .protected("get", "/api/cameras/{id}/live", get(live::live))
    .protected("get", "/api/cameras/{id}/scene", get(scene::status))
    .protected("get", "/api/cameras/{id}/presets", get(scene::presets))
    .protected("post", "/api/cameras/{id}/ptz/goto", post(scene::goto))
    .protected(
        "post",
        "/api/cameras/{id}/reference",
        post(scene::set_reference),
    )
    .protected(
        "get",
        "/api/cameras/{id}/reference.png",
        get(scene::reference_png),
    )
    .protected("post", "/api/cameras/discover", post(discover::discover))
    .protected("get", "/api/config/export", get(settings::export))
    .protected("post", "/api/config/import", post(settings::import))
    .protected("get", "/api/audit", get(settings::audit))
    .protected("get", "/api/logs", get(settings::logs))
    .public("get", "/metrics", get(metrics::metrics))
    .protected("get", "/api/events", get(events::list))
    .protected("get", "/api/events/{id}", get(events::one))
    .protected("get", "/api/events/{id}/media/{name}", get(events::media))
    .protected(
        "get",
        "/api/events/{id}/thumbnail.jpg",
        get(events::thumbnail),
    )
    .protected(
        "get",
        "/api/events/{id}/event.json",
        get(events::event_json),
    )
    .protected("get", "/api/events/{id}/case.zip", get(events::case_zip))
    .protected("get", "/api/device", get(device::get_device))
    .protected("put", "/api/device", put(device::put_device))
    .protected("get", "/api/uplink", get(device::get_uplink))
    .protected("put", "/api/uplink", put(device::put_uplink))
    .protected("delete", "/api/uplink/tls", delete(device::delete_tls))
    .protected("post", "/api/uplink/tls/{file}", post(device::upload_tls))
    .protected("post", "/api/uplink/test", post(device::test_uplink))
    .protected("post", "/api/uplink/http/test", post(device::test_http))
}

/// Every (method, path) the router serves, lower-case method, axum/OpenAPI path syntax.
pub fn served_routes() -> Vec<(String, String)> {
    routes()
        .served
        .into_iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect()
}

pub fn router(state: Shared) -> Router {
    let r = routes();
    let protected = r
        .protected
        .route_layer(middleware::from_fn_with_state(state.clone(), session_guard));
    r.public
        .merge(protected)
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), origin_guard))
        .layer(middleware::from_fn(security_headers))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(super::OPENAPI_JSON),
    )
        .into_response()
}
