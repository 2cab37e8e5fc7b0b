//! The technician's web page: an HTTPS server with a JSON API and an embedded
//! single-page app (no CDN, no build step).
//!
//! The server runs its own small tokio runtime on its own threads, so the daemon (plain
//! threads) starts it with [`WebServer::start`] and stops it with [`WebHandle::shutdown`].
//! Everything it needs from the daemon goes through [`WebBackend`].

mod api;
mod assets;
mod audit;
mod auth;
mod backend;
mod case;
mod config;
mod files;
mod health;
mod listener;
mod logs;
mod media;
mod protect;
mod tls;

pub use api::served_routes;
pub use audit::{AuditEntry, Change};

/// Appends `entry` to the audit log in the page's state directory `dir` (for actions
/// the box takes on its own, e.g. a PTZ camera sent back home).
pub fn append_audit(dir: &std::path::Path, entry: &AuditEntry) -> std::io::Result<()> {
    audit::AuditLog::new(dir).append(entry)
}
pub use backend::{
    ApplyReport, CameraRuntime, LiveDetection, LiveResult, LogLevel, LogLine, MIN_THUMBNAIL_WIDTH,
    ModelInfo, SimpleBackend, WebBackend,
};
pub use config::WebConfig;
pub use logs::{LogRing, LogRingLayer};
pub use protect::FILE_ONLY_KEYS;
pub use tls::fingerprint;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

/// How long a stopping server lets requests in flight finish.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// The OpenAPI 3 document of every route, also served at `/api/openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

/// Why the web server could not start.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error(
        "web: refusing plain HTTP on {0}: passwords would cross the network in clear text; \
         set web.tls = true or listen on 127.0.0.1"
    )]
    PlainHttpOffLoopback(SocketAddr),
    #[error("web: invalid [web] settings: {}", .0.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; "))]
    Config(Vec<crate::config::Problem>),
    #[error("web: cannot listen on {addr} ({source}); is another program using the port?")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("web: device certificate {path}: {message}")]
    Certificate { path: PathBuf, message: String },
    #[error("web: state file {path}: {source}")]
    State {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("web: cannot start the server runtime ({0})")]
    Runtime(std::io::Error),
}

/// Starts the web server.
pub struct WebServer;

impl WebServer {
    /// Bind, load or create the device certificate and the admin credential, and serve
    /// on background threads until the handle is shut down or dropped.
    pub fn start(cfg: WebConfig, backend: Arc<dyn WebBackend>) -> Result<WebHandle, WebError> {
        Self::start_with_liveness(cfg, backend, None)
    }

    /// [`WebServer::start`] that registers the component `name` in `liveness` once the
    /// server runs and bumps it every second from a task on the server's runtime, so
    /// the systemd watchdog notices a wedged server (its worker threads stuck). It is
    /// retired when the server stops.
    pub fn start_with_liveness(
        cfg: WebConfig,
        backend: Arc<dyn WebBackend>,
        liveness: Option<(crate::notify::Liveness, String)>,
    ) -> Result<WebHandle, WebError> {
        if !cfg.tls && !cfg.listen.ip().is_loopback() {
            return Err(WebError::PlainHttpOffLoopback(cfg.listen));
        }
        let problems = cfg.validate();
        if !problems.is_empty() {
            return Err(WebError::Config(problems));
        }
        let device = backend.config().device;
        let dir = cfg.state_dir_under(&device.state_dir);
        files::private_dir(&dir).map_err(|source| WebError::State {
            path: dir.clone(),
            source,
        })?;
        let cert = if cfg.tls {
            let cert_path = cfg
                .cert_path
                .clone()
                .unwrap_or_else(|| dir.join("device-cert.pem"));
            let key_path = cfg
                .key_path
                .clone()
                .unwrap_or_else(|| dir.join("device-key.pem"));
            let names = vec![
                "localhost".to_string(),
                format!("{}.local", device.id),
                "127.0.0.1".to_string(),
            ];
            let cert = tls::DeviceCert::load_or_create(&cert_path, &key_path, &names)?;
            tracing::info!(
                fingerprint = %cert.fingerprint,
                "web: device certificate SHA-256 fingerprint (compare it with the browser's)"
            );
            Some(cert)
        } else {
            tracing::warn!(listen = %cfg.listen, "web: plain HTTP (loopback only, demo)");
            None
        };
        let fingerprint = cert.as_ref().map(|c| c.fingerprint.clone());
        let server_tls = cert.as_ref().map(|c| c.server_config()).transpose()?;
        let state = Arc::new(api::AppState::new(
            backend,
            auth::Credentials::open(&dir)?,
            &cfg,
            &dir,
            device.state_dir.clone(),
        ));
        let std_listener =
            std::net::TcpListener::bind(cfg.listen).map_err(|source| WebError::Bind {
                addr: cfg.listen,
                source,
            })?;
        let bind_err = |source| WebError::Bind {
            addr: cfg.listen,
            source,
        };
        std_listener.set_nonblocking(true).map_err(bind_err)?;
        let addr = std_listener.local_addr().map_err(bind_err)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("web")
            .enable_all()
            .build()
            .map_err(WebError::Runtime)?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("web-server".into())
            .spawn(move || {
                let heartbeat = liveness.map(|(l, name)| l.register(name));
                if let Some(h) = heartbeat.clone() {
                    runtime.spawn(async move {
                        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
                        loop {
                            tick.tick().await;
                            h.bump();
                        }
                    });
                }
                runtime.block_on(async move {
                    let app = api::router(state).into_make_service_with_connect_info::<api::Peer>();
                    // Graceful, but bounded: a request still running after
                    // SHUTDOWN_GRACE (one waiting for a reload that waits for this
                    // shutdown) must not hold the daemon's reload or stop.
                    let (stopping_tx, mut stopping_rx) = tokio::sync::watch::channel(false);
                    let stop = async move {
                        let _ = stop_rx.await;
                        let _ = stopping_tx.send(true);
                    };
                    let grace = async move {
                        let _ = stopping_rx.wait_for(|s| *s).await;
                        tokio::time::sleep(SHUTDOWN_GRACE).await;
                    };
                    let tcp = match tokio::net::TcpListener::from_std(std_listener) {
                        Ok(t) => t,
                        Err(e) => {
                            tracing::error!(error = %e, "web: cannot use the listener");
                            return;
                        }
                    };
                    // One accept loop for HTTPS and the loopback demo's plain HTTP, with
                    // the per-address and total connection caps (listener.rs).
                    let serve = async {
                        match listener::GuardedListener::new(tcp, server_tls) {
                            Ok(l) => axum::serve(l, app).with_graceful_shutdown(stop).await,
                            Err(e) => Err(e),
                        }
                    };
                    let result = tokio::select! {
                        r = serve => r,
                        _ = grace => {
                            tracing::warn!("web: requests still running {} s after the stop; closing them", SHUTDOWN_GRACE.as_secs());
                            Ok(())
                        }
                    };
                    if let Err(e) = result {
                        tracing::error!(error = %e, "web: server stopped");
                    }
                });
                // Open connections (keep-alive) must not hold the daemon's shutdown.
                runtime.shutdown_timeout(std::time::Duration::from_secs(2));
                if let Some(h) = heartbeat {
                    h.retire();
                }
            })
            .map_err(WebError::Runtime)?;
        tracing::info!(
            url = %format!("{}://{addr}/", if fingerprint.is_some() { "https" } else { "http" }),
            "web: technician page listening"
        );
        Ok(WebHandle {
            addr,
            fingerprint,
            state_dir: dir,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }
}

/// A running web server; dropping it stops the server.
pub struct WebHandle {
    addr: SocketAddr,
    fingerprint: Option<String>,
    state_dir: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl WebHandle {
    /// The bound address (the real port when the config said port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// SHA-256 fingerprint of the served certificate; `None` for plain HTTP.
    pub fn fingerprint(&self) -> Option<&str> {
        self.fingerprint.as_deref()
    }

    /// Where the certificate, password hash, setup code and audit log live.
    pub fn state_dir(&self) -> &std::path::Path {
        &self.state_dir
    }

    /// The one-time setup code file (exists until the admin password is set).
    pub fn setup_code_path(&self) -> PathBuf {
        self.state_dir.join("setup-code")
    }

    /// Stop accepting, finish requests in flight (2 s at most) and join the threads.
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for WebHandle {
    fn drop(&mut self) {
        self.stop_now();
    }
}
