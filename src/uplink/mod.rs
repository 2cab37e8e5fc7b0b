//! Uplink: the durable outbox and its delivery to the city platform over MQTT.
//!
//! Two halves with separate lifecycles, so that an event is durable whatever the
//! broker, TLS or key state is:
//! - [`Store`]: the outbox database under the state directory. The daemon opens it
//!   before any camera starts; [`Store::commit`] puts an event phase on disk, after
//!   which it reaches the broker at least once, whatever happens to the process.
//! - [`Delivery`]: the device key, TLS and the MQTT worker thread that drains the
//!   outbox (through its own connection to the same database). It may fail to start
//!   (a bad TLS file, a full disk where the key must be created) or be restarted on a
//!   reload without touching what is committed.
//! - [`HttpDelivery`]: the HTTP(S) push sink (`[uplink.http]`) alone, which the
//!   daemon runs as a part of its own so that a change of either sink's settings
//!   restarts only that sink ([`Delivery`] starts it too for the callers below).
//!
//! [`Uplink`] bundles both for callers that want them together (`streetwatch
//! uplink-worker`, tests). See `docs/uplink.md` for topics, payloads and the
//! idempotency contract.

pub mod config;
pub mod connection_test;
pub mod health;
pub mod history;
pub mod http;
pub mod outbox;
pub mod signing;
pub mod tls;
pub mod validate;
mod worker;

#[doc(hidden)]
pub mod testutil;

pub use config::{HttpConfig, MediaOrder, TlsConfig, UplinkConfig};
pub use health::{
    CameraHealth, ClockHealth, EventLoss, EventsHealth, Health, HealthProvider, ModelHealth,
    SceneHealth, StreamsHealth, render_metrics,
};
pub use outbox::{
    Backlog, DropCounters, HttpCounts, Outbox, PruneReport, ReasonCounts, Sinks, SweepReport,
};
pub use signing::DeviceKey;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Why an uplink operation failed.
#[derive(Debug, thiserror::Error)]
pub enum UplinkError {
    #[error("outbox database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("event JSON: {0}")]
    Json(serde_json::Error),
    #[error("media {name}: {reason}")]
    Media { name: String, reason: String },
    #[error("device key {path}: {source}")]
    Key {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("uplink TLS: {0}")]
    Tls(String),
    /// A TLS file (upload or `[uplink.tls]` file) that is not what it claims to be;
    /// the message names the file and the fix.
    #[error("{0}")]
    TlsFile(String),
    #[error("uplink config: {0}")]
    Config(String),
    #[error(
        "outbox in {dir}: the disk is full ({free} bytes free); free space on that filesystem \
         (old evidence, logs, other files) or move device.state_dir to a larger one. The \
         event is not stored yet and is retried; events already stored are kept"
    )]
    DiskFull { dir: PathBuf, free: u64 },
}

/// A camera picture returned by the snapshot callback.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// Takes a snapshot of the named camera (`cmd: snapshot`). Called on the uplink
/// thread: it should return within a second or two.
pub type SnapshotFn = Arc<dyn Fn(&str) -> Result<Snapshot, String> + Send + Sync>;
/// Asks for a config reload (`cmd: reload-config`). Called on the uplink thread with
/// the command's `id`; it must not wait for the reload. `Ok` means the request was
/// taken: the daemon answers on `…/cmd/response` itself, with what was applied, once
/// the reload is done ([`Delivery::respond`]). `Err` is answered at once.
pub type ReloadFn = Arc<dyn Fn(serde_json::Value) -> Result<(), String> + Send + Sync>;

/// What the daemon plugs into the uplink. Every part is optional; a missing one
/// answers its command with an error.
#[derive(Clone, Default)]
pub struct Hooks {
    pub health: Option<HealthProvider>,
    pub snapshot: Option<SnapshotFn>,
    pub reload_config: Option<ReloadFn>,
    /// Where the delivery thread registers as component `uplink` and bumps on every
    /// turn of its loop, so the systemd watchdog notices a wedged uplink.
    pub liveness: Option<crate::notify::Liveness>,
}

/// The durable half: the outbox database. Needs only a writable state directory: no
/// broker, key or TLS file is looked at.
pub struct Store {
    outbox: Mutex<Outbox>,
    /// Health state of the store alone (its refused-commit error); never handed to a
    /// delivery thread.
    shared: worker::Shared,
}

impl Store {
    /// Open (creating if needed) the outbox under `state_dir` with the disk cap and
    /// media policy of `cfg`.
    pub fn open(state_dir: &Path, cfg: &UplinkConfig) -> Result<Store, UplinkError> {
        Self::open_for(state_dir, cfg, Sinks::of(cfg))
    }

    /// [`Store::open`], owing new commits to `sinks` (which may differ from what
    /// `cfg` says: the daemon passes the outbox part of its config only).
    pub fn open_for(
        state_dir: &Path,
        cfg: &UplinkConfig,
        sinks: Sinks,
    ) -> Result<Store, UplinkError> {
        let mut outbox = Outbox::open(
            &Outbox::path_in(state_dir),
            cfg.disk_cap_mb.saturating_mul(1 << 20),
        )?;
        outbox.set_keep_delivered_media(cfg.keep_delivered_media);
        outbox.set_history(cfg.history_days, cfg.history_rows);
        outbox.set_sinks(sinks)?;
        Ok(Store {
            outbox: Mutex::new(outbox),
            shared: worker::Shared::new(),
        })
    }

    /// Commit an event phase (and its media files, which must already be written).
    /// When this returns `Ok` the event counts as produced: it is on disk.
    pub fn commit(&self, event: &crate::rules::event::Event) -> Result<(), UplinkError> {
        let r = self
            .outbox
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .enqueue(event);
        // Health shows a refused commit (a full disk) until one succeeds again.
        *self
            .shared
            .disk_error
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = r.as_ref().err().map(|e| e.to_string());
        r.map(|_| ())
    }

    /// Why the last commit was refused; `None` once one succeeds.
    pub fn error(&self) -> Option<String> {
        self.shared
            .disk_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// A health report with the outbox, disk, memory and board figures filled in (the
    /// uplink connection part is left at its default: not connected).
    pub fn health(&self, device_id: &str) -> Health {
        let mut h = Health {
            device_id: device_id.to_string(),
            firmware_version: crate::FIRMWARE_VERSION.into(),
            uptime_s: self.shared.started.elapsed().as_secs_f64(),
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            ..Default::default()
        };
        let outbox = self.outbox.lock().unwrap_or_else(|p| p.into_inner());
        worker::fill_local_health(&mut h, &outbox, &self.shared);
        h
    }

    /// The database file.
    pub fn path(&self) -> PathBuf {
        self.outbox
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .path()
            .to_path_buf()
    }
}

/// The delivery half: key, TLS, the MQTT worker thread and, with `[uplink.http]`,
/// the HTTP sink's thread (each with its own state per outbox row).
pub struct Delivery {
    shared: Arc<worker::Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
    http: Option<http::HttpSink>,
}

impl Delivery {
    /// Load (or create) the device key under `config.device.state_dir` and start
    /// delivering the outbox found there in a background thread. Without a broker
    /// configured it only keeps the outbox within its disk cap.
    pub fn start(config: &crate::config::Config, hooks: Hooks) -> Result<Delivery, UplinkError> {
        let state_dir = config.device.state_dir.clone();
        let cfg = config.uplink.clone();
        if let Some(addr) = cfg.broker_addr().map_err(UplinkError::Config)?
            && !addr.tls
            && cfg.tls.is_some()
        {
            // Allowed so the page can upload the CA before switching the URL to
            // mqtts://, but the technician must know the link is not encrypted yet.
            tracing::warn!(
                broker = %cfg.broker,
                "[uplink.tls] is set but the broker URL is plain mqtt://: the connection is NOT encrypted; use mqtts:// to use the TLS files"
            );
        }
        let key = Arc::new(DeviceKey::load_or_create(&state_dir)?);
        // The HTTP sink first: it never fails to start (a bad TLS file or an
        // unreachable server shows in its health and is retried), and the MQTT
        // worker below must not be left running should its own spawn fail.
        let http = match &cfg.http {
            Some(h) => Some(http::HttpSink::start(
                h.clone(),
                http::OutboxSettings {
                    path: Outbox::path_in(&state_dir),
                    keep_delivered_media: cfg.keep_delivered_media,
                    history_days: cfg.history_days,
                    history_rows: cfg.history_rows,
                },
                key.clone(),
                hooks.liveness.as_ref(),
            )?),
            None => None,
        };
        let shared = Arc::new(worker::Shared::new());
        // Registered only once nothing can fail any more but the spawn itself.
        let heartbeat = hooks.liveness.as_ref().map(|l| l.register("uplink"));
        let spare = heartbeat.clone();
        let ctx = worker::Ctx {
            heartbeat,
            prefix: cfg.prefix(&config.device.id),
            cfg,
            device_id: config.device.id.clone(),
            outbox_path: Outbox::path_in(&state_dir),
            key,
            hooks,
            shared: shared.clone(),
            http_status: http.as_ref().map(|h| h.status_handle()),
        };
        let thread = std::thread::Builder::new()
            .name("uplink".into())
            .spawn(move || worker::run(ctx))
            .map_err(|e| {
                if let Some(h) = spare {
                    h.retire();
                }
                UplinkError::Io {
                    what: "spawn the uplink thread".into(),
                    source: e,
                }
            })?;
        Ok(Delivery {
            shared,
            thread: Some(thread),
            http,
        })
    }

    /// New rows were committed: look at the outbox now rather than at the next tick.
    pub fn wake(&self) {
        self.shared.wake.notify_one();
        if let Some(h) = &self.http {
            h.wake();
        }
    }

    /// Connection state and the last error, for status lines (the HTTP sink's in
    /// `http`).
    pub fn status(&self) -> health::UplinkHealth {
        let mut s = self
            .shared
            .status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        s.http = self.http.as_ref().map(|h| h.status());
        s
    }

    /// Publish `payload` on `…/cmd/response` once connected (answers to commands the
    /// daemon completes later, e.g. `reload-config`). A few are kept while offline;
    /// beyond that the oldest is dropped (and logged).
    pub fn respond(&self, payload: Vec<u8>) {
        let mut q = self
            .shared
            .responses
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if q.len() >= worker::MAX_PENDING_RESPONSES {
            q.pop_front();
            tracing::warn!(
                "uplink: too many command answers waiting for the broker; dropped the oldest"
            );
        }
        q.push_back(payload);
        drop(q);
        self.shared.wake.notify_one();
    }

    /// Remember why the outbox refused a commit, for the health report this thread
    /// publishes.
    fn note_disk_error(&self, error: Option<String>) {
        *self
            .shared
            .disk_error
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = error;
    }

    /// Stop delivering: publish `offline`, disconnect, wait up to 5 s for the thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(h) = self.http.take() {
            h.stop();
        }
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.take() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if t.is_finished() {
                let _ = t.join();
            } else {
                tracing::warn!("uplink: the delivery thread did not stop within 5 s; leaving it");
            }
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The HTTP sink on its own: the daemon runs it as a part of its own, built from
/// `[uplink.http]` alone, so a change there restarts only this (the MQTT connection
/// stays up) and a change of the broker settings leaves it alone. It registers with
/// the watchdog as `uplink-http`.
pub struct HttpDelivery(http::HttpSink);

impl HttpDelivery {
    /// Load (or create) the device key under `config.device.state_dir` and start the
    /// sink's thread; `Ok(None)` when `[uplink.http]` is not configured.
    pub fn start(
        config: &crate::config::Config,
        liveness: Option<&crate::notify::Liveness>,
    ) -> Result<Option<HttpDelivery>, UplinkError> {
        let Some(h) = &config.uplink.http else {
            return Ok(None);
        };
        let state_dir = &config.device.state_dir;
        let key = Arc::new(DeviceKey::load_or_create(state_dir)?);
        let cfg = &config.uplink;
        http::HttpSink::start(
            h.clone(),
            http::OutboxSettings {
                path: Outbox::path_in(state_dir),
                keep_delivered_media: cfg.keep_delivered_media,
                history_days: cfg.history_days,
                history_rows: cfg.history_rows,
            },
            key,
            liveness,
        )
        .map(|s| Some(HttpDelivery(s)))
    }

    /// New rows were committed.
    pub fn wake(&self) {
        self.0.wake();
    }

    /// The sink's health (`uplink.http` of the report).
    pub fn status(&self) -> health::HttpSinkHealth {
        self.0.status()
    }

    /// Stop; the request in flight is abandoned and sent again later with the same
    /// idempotency key.
    pub fn stop(self) {
        self.0.stop();
    }
}

/// Store and delivery together, started and stopped as one.
pub struct Uplink {
    store: Store,
    delivery: Delivery,
    device_id: String,
    hooks: Hooks,
}

impl Uplink {
    /// Open the outbox and key under `config.device.state_dir` and start delivering in
    /// a background thread. Works without a broker configured (events then wait in the
    /// outbox, within the disk cap).
    pub fn start(config: &crate::config::Config, hooks: Hooks) -> Result<Uplink, UplinkError> {
        let store = Store::open(&config.device.state_dir, &config.uplink)?;
        let delivery = Delivery::start(config, hooks.clone())?;
        Ok(Uplink {
            store,
            delivery,
            device_id: config.device.id.clone(),
            hooks,
        })
    }

    /// Commit an event phase (and its media files, which must already be written) to
    /// the outbox. When this returns `Ok` the event counts as produced.
    pub fn enqueue(&self, event: &crate::rules::event::Event) -> Result<(), UplinkError> {
        let r = self.store.commit(event);
        self.delivery.note_disk_error(self.store.error());
        r?;
        self.delivery.wake();
        Ok(())
    }

    /// A current health report (the same one `…/health` carries).
    pub fn health(&self) -> Health {
        let mut h = self.store.health(&self.device_id);
        h.uplink = self.delivery.status();
        if let Some(p) = &self.hooks.health {
            p(&mut h);
        }
        h
    }

    /// Connection state and the last error, for status lines.
    pub fn status(&self) -> health::UplinkHealth {
        self.delivery.status()
    }

    /// Answer a command later (see [`Delivery::respond`]).
    pub fn respond(&self, payload: Vec<u8>) {
        self.delivery.respond(payload);
    }

    /// Stop delivering: publish `offline`, disconnect, wait up to 5 s for the thread.
    pub fn stop(self) {
        self.delivery.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uplink_can_be_shared_between_the_daemon_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Uplink>();
    }

    #[test]
    fn the_store_commits_whatever_the_broker_key_or_tls_state_is() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = crate::config::Config::default();
        config.device.state_dir = dir.path().to_path_buf();
        config.uplink.broker = "http://not-a-broker".into();
        assert!(Delivery::start(&config, Hooks::default()).is_err());
        let store = Store::open(dir.path(), &config.uplink).unwrap();
        let mut ev = testutil::sample_event("cam1", 0);
        ev.media.clear();
        store.commit(&ev).unwrap();
        assert_eq!(store.health("box").outbox.events, 1);
        assert_eq!(store.error(), None);
        assert!(
            !dir.path().join("device-key.ed25519").exists(),
            "the store needs no key"
        );
    }

    #[test]
    fn enqueue_without_a_broker_keeps_events_in_the_outbox_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = crate::config::Config::default();
        config.device.state_dir = dir.path().to_path_buf();
        let up = Uplink::start(&config, Hooks::default()).unwrap();
        let mut ev = testutil::sample_event("cam1", 0);
        ev.media.clear();
        up.enqueue(&ev).unwrap();
        up.stop();
        let up = Uplink::start(&config, Hooks::default()).unwrap();
        assert_eq!(up.health().outbox.events, 1);
        assert!(!up.status().connected);
        up.stop();
    }
}
