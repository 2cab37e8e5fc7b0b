//! Uplink: the durable outbox and its delivery to the city platform over MQTT.
//!
//! The daemon starts one [`Uplink`] and hands it every event phase with
//! [`Uplink::enqueue`]; once that returns `Ok`, the event is on disk and will reach the
//! broker at least once, whatever happens to the process. `streetwatch uplink-worker`
//! runs the same service on its own (used by the crash tests). See `docs/uplink.md`
//! for topics, payloads and the idempotency contract.

pub mod config;
pub mod connection_test;
pub mod health;
pub mod history;
pub mod outbox;
pub mod signing;
mod tls;
pub mod validate;
mod worker;

#[doc(hidden)]
pub mod testutil;

pub use config::{TlsConfig, UplinkConfig};
pub use health::{CameraHealth, Health, HealthProvider, ModelHealth, render_metrics};
pub use outbox::{Backlog, DropCounters, Outbox, PruneReport, ReasonCounts, SweepReport};
pub use signing::DeviceKey;

use std::path::PathBuf;
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
/// Reloads the configuration (`cmd: reload-config`).
pub type ReloadFn = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// What the daemon plugs into the uplink. Every part is optional; a missing one
/// answers its command with an error.
#[derive(Clone, Default)]
pub struct Hooks {
    pub health: Option<HealthProvider>,
    pub snapshot: Option<SnapshotFn>,
    pub reload_config: Option<ReloadFn>,
}

/// The running uplink service.
pub struct Uplink {
    outbox: Mutex<Outbox>,
    shared: Arc<worker::Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
    device_id: String,
    hooks: Hooks,
}

impl Uplink {
    /// Open the outbox and key under `config.device.state_dir` and start delivering in
    /// a background thread. Works without a broker configured (events then wait in the
    /// outbox, within the disk cap).
    pub fn start(config: &crate::config::Config, hooks: Hooks) -> Result<Uplink, UplinkError> {
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
        let outbox_path = Outbox::path_in(&state_dir);
        let mut outbox = Outbox::open(&outbox_path, cfg.disk_cap_mb.saturating_mul(1 << 20))?;
        outbox.set_keep_delivered_media(cfg.keep_delivered_media);
        outbox.set_history(cfg.history_days, cfg.history_rows);
        let shared = Arc::new(worker::Shared {
            status: Mutex::new(Default::default()),
            wake: tokio::sync::Notify::new(),
            stop: Default::default(),
            started: Instant::now(),
            disk_error: Mutex::new(None),
        });
        let ctx = worker::Ctx {
            prefix: cfg.prefix(&config.device.id),
            cfg,
            device_id: config.device.id.clone(),
            outbox_path,
            key,
            hooks: hooks.clone(),
            shared: shared.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("uplink".into())
            .spawn(move || worker::run(ctx))
            .map_err(|e| UplinkError::Io {
                what: "spawn the uplink thread".into(),
                source: e,
            })?;
        Ok(Uplink {
            outbox: Mutex::new(outbox),
            shared,
            thread: Some(thread),
            device_id: config.device.id.clone(),
            hooks,
        })
    }

    /// Commit an event phase (and its media files, which must already be written) to
    /// the outbox. When this returns `Ok` the event counts as produced.
    pub fn enqueue(&self, event: &crate::rules::event::Event) -> Result<(), UplinkError> {
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
        r?;
        self.shared.wake.notify_one();
        Ok(())
    }

    /// A current health report (the same one `…/health` carries).
    pub fn health(&self) -> Health {
        let mut h = Health {
            device_id: self.device_id.clone(),
            firmware_version: crate::FIRMWARE_VERSION.into(),
            uptime_s: self.shared.started.elapsed().as_secs_f64(),
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            ..Default::default()
        };
        let outbox = self.outbox.lock().unwrap_or_else(|p| p.into_inner());
        worker::fill_local_health(&mut h, &outbox, &self.shared);
        drop(outbox);
        if let Some(p) = &self.hooks.health {
            p(&mut h);
        }
        h
    }

    /// Connection state and the last error, for status lines.
    pub fn status(&self) -> health::UplinkHealth {
        self.shared
            .status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Stop delivering: publish `offline`, disconnect, wait up to 5 s for the thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.take() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for Uplink {
    fn drop(&mut self) {
        self.shutdown();
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
