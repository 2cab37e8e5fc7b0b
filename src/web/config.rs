//! `[web]`: where and how the technician's page is served.
//!
//! Defaults are safe for a box on a street cabinet's LAN: HTTPS on every interface with
//! a self-signed device certificate. Plain HTTP exists for the local demo only and is
//! refused unless the address is loopback, so a password never crosses a network in
//! clear text.

use crate::config::Problem;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The `[web]` section of `streetwatch.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// Address and port to listen on. Default `0.0.0.0:8443`.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Serve HTTPS. Default `true`; `false` is accepted only on a loopback address.
    #[serde(default = "default_tls")]
    pub tls: bool,
    /// Seconds a login stays valid (also the cookie's Max-Age). Default 28800 (8 h).
    #[serde(default = "default_session_lifetime_s")]
    pub session_lifetime_s: u64,
    /// Directory for the web page's own state (device certificate, admin password
    /// hash, setup code, audit log). Default: `<device.state_dir>/web`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<PathBuf>,
    /// PEM certificate to serve. Default: `<web state dir>/device-cert.pem`, generated
    /// (self-signed) on first start when missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_path: Option<PathBuf>,
    /// PEM private key of `cert_path`, mode 0600. Default: `<web state dir>/device-key.pem`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_path: Option<PathBuf>,
    /// Extra WS-Discovery probe addresses (`"10.2.0.255:3702"`, a camera's
    /// `"ip:3702"`) for the page's Discover button. The multicast probe only reaches
    /// the box's own network segment; cameras behind a router are found through these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub onvif_probe_targets: Vec<SocketAddr>,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            tls: default_tls(),
            session_lifetime_s: default_session_lifetime_s(),
            state_dir: None,
            cert_path: None,
            key_path: None,
            onvif_probe_targets: Vec::new(),
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 8443))
}
fn default_tls() -> bool {
    true
}
fn default_session_lifetime_s() -> u64 {
    8 * 3600
}

impl WebConfig {
    /// The web state directory, given the device's state directory.
    pub fn state_dir_under(&self, device_state_dir: &Path) -> PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(|| device_state_dir.join("web"))
    }

    /// Problems with this section, paths prefixed with `web.`.
    pub fn validate(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        if !self.tls && !self.listen.ip().is_loopback() {
            out.push(Problem::new(
                "web.tls",
                format!(
                    "plain HTTP on {} would send the admin password in clear text",
                    self.listen
                ),
                "keep tls = true, or listen on 127.0.0.1 for a local demo",
            ));
        }
        if !(60..=7 * 24 * 3600).contains(&self.session_lifetime_s) {
            out.push(Problem::new(
                "web.session_lifetime_s",
                format!("{} s is out of range", self.session_lifetime_s),
                "use 60 to 604800 seconds (one minute to one week)",
            ));
        }
        if self.cert_path.is_some() != self.key_path.is_some() {
            out.push(Problem::new(
                "web.cert_path",
                "cert_path and key_path must be set together",
                "set both, or neither to use the generated device certificate",
            ));
        }
        if self.onvif_probe_targets.len() > MAX_PROBE_TARGETS {
            out.push(Problem::new(
                "web.onvif_probe_targets",
                format!("{} addresses are too many", self.onvif_probe_targets.len()),
                format!("list at most {MAX_PROBE_TARGETS}; use a subnet's broadcast address to reach a whole subnet"),
            ));
        }
        for (i, t) in self.onvif_probe_targets.iter().enumerate() {
            if t.port() == 0 || t.ip().is_unspecified() {
                out.push(Problem::new(
                    format!("web.onvif_probe_targets[{i}]"),
                    format!("{t} is not a reachable address"),
                    "use the camera's (or subnet broadcast) IP and port 3702, e.g. \"10.2.0.255:3702\"",
                ));
            }
        }
        out
    }
}

/// Unicast WS-Discovery targets accepted in the config or one request.
pub const MAX_PROBE_TARGETS: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_https_on_8443_for_eight_hours() {
        let c: WebConfig = toml::from_str("").unwrap();
        assert_eq!(c.listen.to_string(), "0.0.0.0:8443");
        assert!(c.tls);
        assert_eq!(c.session_lifetime_s, 28800);
        assert!(c.validate().is_empty());
    }

    #[test]
    fn plain_http_off_loopback_is_a_problem_at_web_tls() {
        let c: WebConfig = toml::from_str("listen = \"0.0.0.0:8080\"\ntls = false").unwrap();
        let p = c.validate();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].path, "web.tls");
        let ok: WebConfig = toml::from_str("listen = \"127.0.0.1:8080\"\ntls = false").unwrap();
        assert!(ok.validate().is_empty());
    }

    #[test]
    fn onvif_probe_targets_must_be_reachable_addresses() {
        let c: WebConfig =
            toml::from_str("onvif_probe_targets = [\"10.2.0.255:3702\", \"0.0.0.0:3702\"]")
                .unwrap();
        let p = c.validate();
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].path, "web.onvif_probe_targets[1]");
        assert!(toml::from_str::<WebConfig>("onvif_probe_targets = [\"camera\"]").is_err());
    }

    #[test]
    fn unknown_keys_are_rejected() {
        assert!(toml::from_str::<WebConfig>("lisen = \"0.0.0.0:1\"").is_err());
    }
}
