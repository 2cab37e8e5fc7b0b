//! The outbox, the MQTT uplink, the HTTP sink and the technician page as
//! [`Component`]s, each built from its own config slice. The outbox is independent of
//! the sinks: it needs only a writable state directory, so events are committed
//! whatever the broker, TLS or key state is. The two sinks are separate parts: a
//! change of `[uplink.http]` restarts only the HTTP sink (the MQTT connection stays
//! up), a change of the broker settings only the MQTT uplink.

use super::committer::{DeliverySlot, HttpSlot, StoreSlot};
use super::lifecycle::Component;
use super::web::DaemonBackend;
use crate::config::Config;
use crate::notify::Liveness;
use crate::uplink::{Delivery, Hooks, HttpConfig, HttpDelivery, Sinks, Store, UplinkConfig};
use crate::web::{WebConfig, WebHandle, WebServer};
use std::path::PathBuf;
use std::sync::Arc;

/// What the parts share with the rest of the daemon.
pub struct PartsEnv {
    /// Where the open outbox is published for the committer.
    pub store: StoreSlot,
    /// Where the running delivery is published (woken after commits, asked for
    /// status, answers commands).
    pub delivery: DeliverySlot,
    /// Where the running HTTP sink is published (woken after commits, asked for
    /// status).
    pub http: HttpSlot,
    pub liveness: Liveness,
    pub backend: Arc<DaemonBackend>,
    /// Health, snapshot and reload hooks of the uplink.
    pub hooks: Hooks,
}

/// The outbox: `device.state_dir` and the disk policy of `[uplink]`.
pub struct OutboxPart;

#[derive(Debug, Clone, PartialEq)]
pub struct OutboxSlice {
    pub state_dir: PathBuf,
    pub disk_cap_mb: u64,
    pub keep_delivered_media: bool,
    /// Which sinks new commits are owed to (broker, `[uplink.http]`).
    pub sinks: Sinks,
}

impl OutboxSlice {
    pub fn of(c: &Config) -> Self {
        OutboxSlice {
            state_dir: c.device.state_dir.clone(),
            disk_cap_mb: c.uplink.disk_cap_mb,
            keep_delivered_media: c.uplink.keep_delivered_media,
            sinks: Sinks::of(&c.uplink),
        }
    }
}

impl Component for OutboxPart {
    type Slice = OutboxSlice;
    type Env = PartsEnv;
    const NAME: &'static str = "outbox";

    fn start(s: &OutboxSlice, env: &PartsEnv) -> Result<Self, String> {
        let cfg = UplinkConfig {
            disk_cap_mb: s.disk_cap_mb,
            keep_delivered_media: s.keep_delivered_media,
            ..Default::default()
        };
        let store = Store::open_for(&s.state_dir, &cfg, s.sinks).map_err(|e| {
            format!(
                "outbox unavailable in {}: {e}; decided events wait in memory until it opens",
                s.state_dir.display()
            )
        })?;
        tracing::info!(path = %store.path().display(), "outbox open");
        *env.store.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(store));
        Ok(OutboxPart)
    }

    fn stop(self, env: &PartsEnv) {
        // The committer may hold a clone for one commit; the database closes after it.
        env.store.write().unwrap_or_else(|p| p.into_inner()).take();
    }
}

/// MQTT delivery: `[uplink]` without `[uplink.http]`, the device id (topics, client
/// id) and the state directory (key, outbox).
pub struct UplinkPart;

#[derive(Debug, Clone, PartialEq)]
pub struct UplinkSlice {
    pub uplink: UplinkConfig,
    pub device_id: String,
    pub state_dir: PathBuf,
}

impl UplinkSlice {
    pub fn of(c: &Config) -> Self {
        UplinkSlice {
            // The HTTP sink is its own part ([`HttpPart`]).
            uplink: UplinkConfig {
                http: None,
                ..c.uplink.clone()
            },
            device_id: c.device.id.clone(),
            state_dir: c.device.state_dir.clone(),
        }
    }
}

impl Component for UplinkPart {
    type Slice = UplinkSlice;
    type Env = PartsEnv;
    const NAME: &'static str = "uplink";

    fn start(s: &UplinkSlice, env: &PartsEnv) -> Result<Self, String> {
        let mut c = Config::default();
        c.device.id = s.device_id.clone();
        c.device.state_dir = s.state_dir.clone();
        c.uplink = s.uplink.clone();
        let hooks = Hooks {
            liveness: Some(env.liveness.clone()),
            ..env.hooks.clone()
        };
        let d = Delivery::start(&c, hooks).map_err(|e| format!("uplink unavailable: {e}"))?;
        *env.delivery.write().unwrap_or_else(|p| p.into_inner()) = Some(d);
        Ok(UplinkPart)
    }

    fn stop(self, env: &PartsEnv) {
        // Taken out under the lock, stopped outside it: the page's health reads must
        // not wait for the goodbye to the broker.
        let d = env
            .delivery
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(d) = d {
            d.stop();
        }
    }
}

/// The HTTP push sink: `[uplink.http]`, the outbox policy it settles rows with
/// (`keep_delivered_media`, history) and the state directory (key, outbox). Absent
/// `[uplink.http]`, the part runs with nothing to do.
pub struct HttpPart;

#[derive(Debug, Clone, PartialEq)]
pub struct HttpSlice {
    pub http: Option<HttpConfig>,
    pub keep_delivered_media: bool,
    pub history_days: u32,
    pub history_rows: u64,
    pub state_dir: PathBuf,
}

impl HttpSlice {
    pub fn of(c: &Config) -> Self {
        HttpSlice {
            http: c.uplink.http.clone(),
            keep_delivered_media: c.uplink.keep_delivered_media,
            history_days: c.uplink.history_days,
            history_rows: c.uplink.history_rows,
            state_dir: c.device.state_dir.clone(),
        }
    }
}

impl Component for HttpPart {
    type Slice = HttpSlice;
    type Env = PartsEnv;
    const NAME: &'static str = "uplink-http";

    fn start(s: &HttpSlice, env: &PartsEnv) -> Result<Self, String> {
        let mut c = Config::default();
        c.device.state_dir = s.state_dir.clone();
        c.uplink.http = s.http.clone();
        c.uplink.keep_delivered_media = s.keep_delivered_media;
        c.uplink.history_days = s.history_days;
        c.uplink.history_rows = s.history_rows;
        let h = HttpDelivery::start(&c, Some(&env.liveness))
            .map_err(|e| format!("HTTP sink unavailable: {e}"))?;
        *env.http.write().unwrap_or_else(|p| p.into_inner()) = h;
        Ok(HttpPart)
    }

    fn stop(self, env: &PartsEnv) {
        let h = env.http.write().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(h) = h {
            h.stop();
        }
    }
}

/// The technician page: `[web]` and the state directory (certificate, password).
pub struct WebPart(WebHandle);

impl WebPart {
    /// Where the page listens (the real port when the config said 0).
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.0.local_addr()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct WebSlice {
    pub web: WebConfig,
    pub state_dir: PathBuf,
}

impl WebSlice {
    pub fn of(c: &Config) -> Self {
        WebSlice {
            web: c.web.clone(),
            state_dir: c.device.state_dir.clone(),
        }
    }
}

impl Component for WebPart {
    type Slice = WebSlice;
    type Env = PartsEnv;
    const NAME: &'static str = "web";

    fn start(s: &WebSlice, env: &PartsEnv) -> Result<Self, String> {
        let backend: Arc<dyn crate::web::WebBackend> = env.backend.clone();
        // The web module logs its URL and certificate fingerprint itself.
        WebServer::start_with_liveness(
            s.web.clone(),
            backend,
            Some((env.liveness.clone(), "web".into())),
        )
        .map(WebPart)
        .map_err(|e| format!("technician page unavailable: {e}"))
    }

    fn stop(self, _env: &PartsEnv) {
        self.0.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_sink_is_built_from_its_own_settings_only() {
        let mqtt = Config::default();
        let mut both = mqtt.clone();
        both.uplink.http =
            Some(toml::from_str(r#"url = "http://127.0.0.1:9/streetwatch/events""#).unwrap());
        // Adding (or changing) [uplink.http] leaves the MQTT part's slice alone...
        assert_eq!(UplinkSlice::of(&mqtt), UplinkSlice::of(&both));
        assert_ne!(HttpSlice::of(&mqtt), HttpSlice::of(&both));
        let mut other_http = both.clone();
        other_http.uplink.http.as_mut().unwrap().timeout_s += 1;
        assert_eq!(UplinkSlice::of(&both), UplinkSlice::of(&other_http));
        assert_ne!(HttpSlice::of(&both), HttpSlice::of(&other_http));
        // ...and a broker change leaves the HTTP part's.
        let mut other_broker = both.clone();
        other_broker.uplink.broker = "mqtt://127.0.0.1:1883".into();
        other_broker.uplink.health_interval_s += 1;
        assert_ne!(UplinkSlice::of(&both), UplinkSlice::of(&other_broker));
        assert_eq!(HttpSlice::of(&both), HttpSlice::of(&other_broker));
    }
}
