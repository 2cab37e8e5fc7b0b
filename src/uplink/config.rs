//! Uplink configuration (`[uplink]` in `streetwatch.toml`).
//!
//! Every field has a default so a box without an `[uplink]` table still starts; the
//! uplink stays idle (events still go into the outbox) until `broker` is set, so that
//! a box installed before its broker exists loses nothing.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// MQTT uplink, outbox and health settings.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UplinkConfig {
    /// Broker URL: `mqtt://host[:port]` (plain TCP, default port 1883) or
    /// `mqtts://host[:port]` (TLS, default port 8883). Empty (the default): no delivery,
    /// events stay in the outbox until a broker is configured.
    #[serde(default)]
    pub broker: String,
    /// Overrides the port in `broker`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// MQTT client id; defaults to the device id (the broker keeps our session under it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Username for password authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Password for password authentication. Never logged; `Debug` prints `***`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// TLS settings; required for `mqtts://`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
    /// MQTT keepalive in seconds (default 30): how fast the broker notices a dead box
    /// and publishes the Last Will.
    #[serde(default = "default_keepalive_s")]
    pub keepalive_s: u16,
    /// QoS 1 publishes awaiting PUBACK at once (default 8). Small, because each one can
    /// hold a media chunk in memory.
    #[serde(default = "default_inflight")]
    pub inflight: u16,
    /// Topic prefix; default `streetwatch/{device_id}`. `{device_id}` is substituted.
    #[serde(default = "default_topic_prefix")]
    pub topic_prefix: String,
    /// Media chunk size in KiB (default 256): small enough for every broker's default
    /// packet limit, large enough that a clip is tens of publishes, not thousands.
    #[serde(default = "default_chunk_kib")]
    pub chunk_kib: u32,
    /// Disk cap for outbox database + undelivered evidence, in MiB (default 2048).
    #[serde(default = "default_disk_cap_mb")]
    pub disk_cap_mb: u64,
    /// Seconds between health publishes (default 60); health is also sent on change.
    #[serde(default = "default_health_interval_s")]
    pub health_interval_s: u64,
    /// Cap of the exponential reconnect backoff in seconds (default 60).
    #[serde(default = "default_backoff_max_s")]
    pub backoff_max_s: u64,
    /// Keep media files after the broker acknowledged them (default false: the outbox
    /// deletes delivered evidence, keeping personal data no longer than needed). Kept
    /// files are bounded by `[events.evidence] max_age_hours` / `max_total_mib`.
    #[serde(default)]
    pub keep_delivered_media: bool,
    /// Days of delivered history the outbox keeps for the Events page (default 30);
    /// older fully delivered events are pruned. 0 keeps none.
    #[serde(default = "default_history_days")]
    pub history_days: u32,
    /// Most delivered event phases kept as history (default 10000), oldest pruned
    /// first. Delivered history never counts against `disk_cap_mb`; this bounds it.
    #[serde(default = "default_history_rows")]
    pub history_rows: u64,
    /// HTTP(S) push sink (`[uplink.http]`), beside or instead of the broker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpConfig>,
}

/// In which order the HTTP sink sends an event phase and its media.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaOrder {
    /// Upload every media item first, record the id the platform answers for each
    /// (`{"id": "..."}`) as `media[].remote_id`, then POST the event that names them.
    #[default]
    UploadFirst,
    /// POST the event first, then upload its media.
    EventFirst,
}

/// The HTTP(S) push sink: event JSON POSTed to `url`, media uploaded as multipart
/// form-data (or PUT to a URL template). See `docs/uplink.md`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Where each event phase is POSTed as JSON: `http://` or `https://`.
    pub url: String,
    /// Where media go as multipart form-data (one file per request); default `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_url: Option<String>,
    /// Instead of multipart: PUT each media file to this URL, with `{event_id}`,
    /// `{name}` and `{sha256}` substituted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_put_template: Option<String>,
    #[serde(default)]
    pub media_order: MediaOrder,
    /// HMAC-SHA256 key: every request carries `X-Streetwatch-Signature:
    /// t=<unix>,v1=<hex>` over `<unix>.<body>`. Never logged; bound to `url`'s host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hmac_secret: Option<String>,
    /// Sent as `Authorization: Bearer <token>`. Never logged; bound to `url`'s host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<String>,
    /// Server CA and, for mutual TLS, the client certificate and key (PEM). Without
    /// it an `https://` URL is checked against the public web PKI roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
    /// TCP + TLS connect timeout in seconds (default 10).
    #[serde(default = "default_connect_timeout_s")]
    pub connect_timeout_s: u64,
    /// Whole-request timeout in seconds (default 60: a clip upload on a slow link).
    #[serde(default = "default_request_timeout_s")]
    pub timeout_s: u64,
    /// Cap of the exponential retry backoff in seconds (default 60).
    #[serde(default = "default_backoff_max_s")]
    pub backoff_max_s: u64,
}

/// Hand-written so the secrets can never reach a log line through `{:?}`.
impl std::fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpConfig")
            .field("url", &crate::redact::redact_url(&self.url))
            .field(
                "media_url",
                &self.media_url.as_deref().map(crate::redact::redact_url),
            )
            .field("media_put_template", &self.media_put_template)
            .field("media_order", &self.media_order)
            .field("hmac_secret", &self.hmac_secret.as_ref().map(|_| "***"))
            .field("bearer_token", &self.bearer_token.as_ref().map(|_| "***"))
            .field("tls", &self.tls)
            .field("connect_timeout_s", &self.connect_timeout_s)
            .field("timeout_s", &self.timeout_s)
            .field("backoff_max_s", &self.backoff_max_s)
            .finish()
    }
}

fn default_connect_timeout_s() -> u64 {
    10
}
fn default_request_timeout_s() -> u64 {
    60
}

impl HttpConfig {
    /// A sink posting to `url` with every other setting at its default.
    pub fn new(url: impl Into<String>) -> Self {
        HttpConfig {
            url: url.into(),
            media_url: None,
            media_put_template: None,
            media_order: MediaOrder::default(),
            hmac_secret: None,
            bearer_token: None,
            tls: None,
            connect_timeout_s: default_connect_timeout_s(),
            timeout_s: default_request_timeout_s(),
            backoff_max_s: default_backoff_max_s(),
        }
    }

    /// (scheme, lower-case host, port) of `url`: what the secrets are bound to.
    pub fn endpoint(&self) -> Option<(String, String, u16)> {
        let u = url::Url::parse(self.url.trim()).ok()?;
        Some((
            u.scheme().to_string(),
            u.host_str()?.to_ascii_lowercase(),
            u.port_or_known_default()?,
        ))
    }

    /// (scheme, host, port) of every address the secrets are sent to: `url`,
    /// `media_url` and `media_put_template` (placeholders filled); `None` when one of
    /// them has no host.
    pub fn endpoints(&self) -> Option<Vec<(String, String, u16)>> {
        let mut out = vec![self.endpoint()?];
        let parse = |u: &str| {
            let u = url::Url::parse(u.trim()).ok()?;
            Some((
                u.scheme().to_string(),
                u.host_str()?.to_ascii_lowercase(),
                u.port_or_known_default()?,
            ))
        };
        if let Some(m) = &self.media_url {
            out.push(parse(m)?);
        }
        if let Some(t) = &self.media_put_template {
            let filled = t
                .replace("{event_id}", "e")
                .replace("{name}", "n")
                .replace("{sha256}", "s");
            out.push(parse(&filled)?);
        }
        Some(out)
    }

    /// Whether every address `new` sends the secrets to was already one `self` sent
    /// them to: the condition for a stored secret to stay.
    pub fn same_endpoints(&self, new: &HttpConfig) -> bool {
        match (self.endpoints(), new.endpoints()) {
            (Some(old), Some(new)) => new.iter().all(|e| old.contains(e)),
            _ => false,
        }
    }

    /// `new` omits a secret: keep the stored one only while every address it goes to
    /// (`url`, `media_url`, `media_put_template`) reaches a scheme, host and port the
    /// old settings already sent it to; the key paths of the secrets dropped otherwise.
    pub fn inherit_secrets(old: &HttpConfig, new: &mut HttpConfig) -> Vec<&'static str> {
        let same = old.same_endpoints(new);
        let mut dropped = Vec::new();
        if new.hmac_secret.is_none() && old.hmac_secret.is_some() {
            if same {
                new.hmac_secret = old.hmac_secret.clone();
            } else {
                dropped.push("uplink.http.hmac_secret");
            }
        }
        if new.bearer_token.is_none() && old.bearer_token.is_some() {
            if same {
                new.bearer_token = old.bearer_token.clone();
            } else {
                dropped.push("uplink.http.bearer_token");
            }
        }
        dropped
    }
}

/// Mutual-TLS / server-verification files (PEM).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// CA certificate(s) that signed the broker's certificate.
    pub ca_file: PathBuf,
    /// Client certificate for mutual TLS (with `client_key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<PathBuf>,
    /// Client private key for mutual TLS (PKCS#8, PKCS#1 or SEC1 PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key: Option<PathBuf>,
}

impl Default for UplinkConfig {
    fn default() -> Self {
        Self {
            broker: String::new(),
            port: None,
            client_id: None,
            username: None,
            password: None,
            tls: None,
            keepalive_s: default_keepalive_s(),
            inflight: default_inflight(),
            topic_prefix: default_topic_prefix(),
            chunk_kib: default_chunk_kib(),
            disk_cap_mb: default_disk_cap_mb(),
            health_interval_s: default_health_interval_s(),
            backoff_max_s: default_backoff_max_s(),
            keep_delivered_media: false,
            history_days: default_history_days(),
            history_rows: default_history_rows(),
            http: None,
        }
    }
}

/// Hand-written so the password can never reach a log line through `{:?}`.
impl std::fmt::Debug for UplinkConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UplinkConfig")
            .field("broker", &crate::redact::redact_url(&self.broker))
            .field("port", &self.port)
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("tls", &self.tls)
            .field("keepalive_s", &self.keepalive_s)
            .field("inflight", &self.inflight)
            .field("topic_prefix", &self.topic_prefix)
            .field("chunk_kib", &self.chunk_kib)
            .field("disk_cap_mb", &self.disk_cap_mb)
            .field("health_interval_s", &self.health_interval_s)
            .field("backoff_max_s", &self.backoff_max_s)
            .field("keep_delivered_media", &self.keep_delivered_media)
            .field("history_days", &self.history_days)
            .field("history_rows", &self.history_rows)
            .field("http", &self.http)
            .finish()
    }
}

fn default_keepalive_s() -> u16 {
    30
}
fn default_inflight() -> u16 {
    8
}
fn default_topic_prefix() -> String {
    "streetwatch/{device_id}".into()
}
fn default_chunk_kib() -> u32 {
    256
}
fn default_disk_cap_mb() -> u64 {
    2048
}
fn default_health_interval_s() -> u64 {
    60
}
fn default_backoff_max_s() -> u64 {
    60
}

/// Default of `history_days`.
pub const DEFAULT_HISTORY_DAYS: u32 = 30;
/// Default of `history_rows`.
pub const DEFAULT_HISTORY_ROWS: u64 = 10_000;

fn default_history_days() -> u32 {
    DEFAULT_HISTORY_DAYS
}
fn default_history_rows() -> u64 {
    DEFAULT_HISTORY_ROWS
}

/// Where the broker is, parsed from [`UplinkConfig::broker`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerAddr {
    pub host: String,
    pub port: u16,
    pub tls: bool,
}

impl UplinkConfig {
    /// The broker address, `None` when no broker is configured.
    pub fn broker_addr(&self) -> Result<Option<BrokerAddr>, String> {
        let url = self.broker.trim();
        if url.is_empty() {
            return Ok(None);
        }
        let (tls, rest) = if let Some(r) = url.strip_prefix("mqtts://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("mqtt://") {
            (false, r)
        } else if url.contains("://") {
            return Err("broker: scheme must be mqtt:// or mqtts://".into());
        } else {
            (self.tls.is_some(), url)
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (
                h.to_string(),
                Some(
                    p.parse::<u16>()
                        .map_err(|_| format!("broker: bad port {p:?}"))?,
                ),
            ),
            None => (rest.to_string(), None),
        };
        if host.is_empty() {
            return Err("broker: missing host".into());
        }
        let port = self.port.or(port).unwrap_or(if tls { 8883 } else { 1883 });
        Ok(Some(BrokerAddr { host, port, tls }))
    }

    /// Whether a broker is configured (the MQTT sink is on).
    pub fn mqtt_on(&self) -> bool {
        !self.broker.trim().is_empty()
    }

    /// The topic prefix with `{device_id}` substituted.
    pub fn prefix(&self, device_id: &str) -> String {
        self.topic_prefix
            .replace("{device_id}", device_id)
            .trim_end_matches('/')
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_contains_the_password() {
        let c = UplinkConfig {
            broker: "mqtt://u:hunter2@broker:1883".into(),
            username: Some("box".into()),
            password: Some("hunter2".into()),
            ..Default::default()
        };
        let s = format!("{c:?}");
        assert!(!s.contains("hunter2"), "{s}");
        assert!(s.contains("***"));
    }

    #[test]
    fn broker_url_gives_host_port_and_tls() {
        let mut c = UplinkConfig {
            broker: "mqtts://broker.example".into(),
            ..Default::default()
        };
        assert_eq!(
            c.broker_addr().unwrap().unwrap(),
            BrokerAddr {
                host: "broker.example".into(),
                port: 8883,
                tls: true
            }
        );
        c.broker = "mqtt://10.0.0.1:1884".into();
        assert_eq!(c.broker_addr().unwrap().unwrap().port, 1884);
        c.broker = "http://x".into();
        assert!(c.broker_addr().is_err());
        c.broker = String::new();
        assert_eq!(c.broker_addr().unwrap(), None);
    }

    #[test]
    fn http_debug_hides_secrets_and_secrets_follow_only_the_same_host() {
        let mut old = HttpConfig::new("https://platform.example/events");
        old.hmac_secret = Some("s3cret-hmac".into());
        old.bearer_token = Some("s3cret-token".into());
        let s = format!("{old:?}");
        assert!(!s.contains("s3cret"), "{s}");
        let mut same = HttpConfig::new("https://PLATFORM.example:443/other");
        assert!(HttpConfig::inherit_secrets(&old, &mut same).is_empty());
        assert_eq!(same.hmac_secret.as_deref(), Some("s3cret-hmac"));
        let mut moved = HttpConfig::new("https://attacker.example/events");
        assert_eq!(
            HttpConfig::inherit_secrets(&old, &mut moved),
            vec!["uplink.http.hmac_secret", "uplink.http.bearer_token"]
        );
        assert_eq!(moved.hmac_secret, None);
        assert_eq!(moved.bearer_token, None);
        // The secrets also go with every media upload: a media URL on another host
        // drops them too.
        let mut media = HttpConfig::new("https://platform.example/events");
        media.media_put_template = Some("https://attacker.example/m/{name}".into());
        assert_eq!(HttpConfig::inherit_secrets(&old, &mut media).len(), 2);
        let mut media = HttpConfig::new("https://platform.example/events");
        media.media_url = Some("https://platform.example/media".into());
        assert!(HttpConfig::inherit_secrets(&old, &mut media).is_empty());
        let t: UplinkConfig =
            toml::from_str("[http]\nurl = \"http://x/e\"\nmedia_order = \"event_first\"").unwrap();
        assert_eq!(t.http.unwrap().media_order, MediaOrder::EventFirst);
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let r: Result<UplinkConfig, _> = toml::from_str("brokr = \"mqtt://x\"");
        assert!(r.is_err());
    }

    #[test]
    fn prefix_substitutes_the_device_id() {
        assert_eq!(UplinkConfig::default().prefix("box-7"), "streetwatch/box-7");
    }
}
