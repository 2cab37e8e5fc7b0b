//! What a page user may not change, whatever the save path (camera and uplink forms,
//! TLS uploads, config import):
//!
//! - **File-only keys.** Settings that load code (the ONNX Runtime library, execution
//!   providers and their options, which name provider libraries and cache files) or
//!   choose filesystem locations (state, evidence, model and web directories,
//!   certificate and key paths, the uplink's TLS files). They come from the config
//!   file on the box alone: a save keeps the running values and says which keys it
//!   ignored. Measured before: an ELF uploaded as a "CA certificate" was then named in
//!   an imported `inference.library_path` and would have been loaded at the next start.
//! - **Local sources.** A camera URL other than `rtsp://`/`rtsps://` (`file://`) opens a
//!   file on the box; the page may keep one the config file set, never set one.
//! - **Secrets bound to their address.** A stored camera or broker password is kept
//!   by a save that omits it only while scheme, host and port stay the same; otherwise
//!   it is dropped (and the reply says so), so nobody can point a camera or the uplink
//!   at their own server and collect the password.

use crate::config::{CameraConfig, Config, Problem};
use crate::uplink::{TlsConfig, UplinkConfig};
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Something a save did differently from what was asked, for the reply and the page:
/// the key path and a sentence in Chinese and in English.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    pub key: String,
    pub zh: String,
    pub en: String,
}

/// The file-only keys, as documented (README, docs/deployment.md). `uplink.tls` also
/// covers its three files; `inference.provider_options` every provider's options.
pub const FILE_ONLY_KEYS: &[&str] = &[
    "device.state_dir",
    "inference.library_path",
    "inference.execution_providers",
    "inference.provider_options",
    "inference.models_dir",
    "inference.weights_dir",
    "events.evidence.dir",
    "uplink.tls",
    "uplink.http.tls",
    "web.state_dir",
    "web.cert_path",
    "web.key_path",
];

fn ignored(key: String) -> Notice {
    Notice {
        zh: format!(
            "{key} 只能在设备上的配置文件中设置（它决定加载的程序或文件位置），已保留当前值"
        ),
        en: format!(
            "{key} is set in the config file on the box only (it loads code or chooses a \
             file location); the running value was kept"
        ),
        key,
    }
}

/// How a save may touch `[uplink.tls]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFiles {
    /// Keep the running value (every save but the TLS upload and removal).
    Keep,
    /// The TLS upload/removal handlers: the files may change, but only to files the
    /// daemon itself wrote under `<state_dir>/uplink-tls/`, or to none.
    Managed,
}

/// Where uploaded TLS files are stored: beside the outbox and the device key.
pub fn tls_upload_dir(state_dir: &Path) -> std::path::PathBuf {
    state_dir.join("uplink-tls")
}

/// Put the running value of every file-only key back into `new`; one [`Notice`] per
/// key that differed.
pub fn pin_file_only(old: &Config, new: &mut Config, tls: TlsFiles) -> Vec<Notice> {
    let mut notices = Vec::new();
    macro_rules! pin {
        ($key:literal, $($field:ident).+) => {
            if new.$($field).+ != old.$($field).+ {
                new.$($field).+ = old.$($field).+.clone();
                notices.push(ignored($key.to_string()));
            }
        };
    }
    pin!("device.state_dir", device.state_dir);
    pin!("inference.library_path", inference.library_path);
    pin!(
        "inference.execution_providers",
        inference.execution_providers
    );
    pin!("inference.models_dir", inference.models_dir);
    pin!("inference.weights_dir", inference.weights_dir);
    pin!("events.evidence.dir", events.evidence.dir);
    pin!("web.state_dir", web.state_dir);
    pin!("web.cert_path", web.cert_path);
    pin!("web.key_path", web.key_path);
    // Provider options are named one by one (`…provider_options.qnn.backend_path`), so
    // the technician sees exactly which of them stayed.
    if new.inference.provider_options != old.inference.provider_options {
        let (o, n) = (
            &old.inference.provider_options,
            &new.inference.provider_options,
        );
        let providers: BTreeSet<&String> = o.keys().chain(n.keys()).collect();
        for p in providers {
            let (a, b) = (o.get(p), n.get(p));
            let keys: BTreeSet<&String> = a
                .into_iter()
                .flat_map(|m| m.keys())
                .chain(b.into_iter().flat_map(|m| m.keys()))
                .collect();
            for k in keys {
                if a.and_then(|m| m.get(k)) != b.and_then(|m| m.get(k)) {
                    notices.push(ignored(format!("inference.provider_options.{p}.{k}")));
                }
            }
        }
        new.inference.provider_options = o.clone();
    }
    let managed = tls_upload_dir(&old.device.state_dir);
    // The HTTP sink's TLS files: the config file on the box names them, or the TLS
    // routes store them under the managed directory (a save that drops the whole
    // `[uplink.http]` drops them with it).
    let old_http_tls = old.uplink.http.as_ref().and_then(|h| h.tls.clone());
    if let Some(h) = &mut new.uplink.http
        && h.tls != old_http_tls
        && !(tls == TlsFiles::Managed
            && only_managed(old_http_tls.as_ref(), h.tls.as_ref(), &managed))
    {
        h.tls = old_http_tls;
        notices.push(ignored("uplink.http.tls".into()));
    }
    let (a, b) = (old.uplink.tls.as_ref(), new.uplink.tls.as_ref());
    // On the TLS routes a file may be removed or replaced by one the daemon wrote.
    let tls_ok = tls == TlsFiles::Managed && only_managed(a, b, &managed);
    if a != b && !tls_ok {
        for (name, before, after) in tls_files(a, b) {
            if before != after {
                notices.push(ignored(format!("uplink.tls.{name}")));
            }
        }
        new.uplink.tls = old.uplink.tls.clone();
    }
    notices
}

type TlsFilePair<'a> = (&'static str, Option<&'a PathBuf>, Option<&'a PathBuf>);

/// Each TLS file of `a` beside the same file of `b`.
fn tls_files<'a>(a: Option<&'a TlsConfig>, b: Option<&'a TlsConfig>) -> [TlsFilePair<'a>; 3] {
    [
        ("ca_file", a.map(|t| &t.ca_file), b.map(|t| &t.ca_file)),
        (
            "client_cert",
            a.and_then(|t| t.client_cert.as_ref()),
            b.and_then(|t| t.client_cert.as_ref()),
        ),
        (
            "client_key",
            a.and_then(|t| t.client_key.as_ref()),
            b.and_then(|t| t.client_key.as_ref()),
        ),
    ]
}

/// Whether every file that differs between `a` and `b` is gone or one the daemon wrote
/// into `managed`.
fn only_managed(a: Option<&TlsConfig>, b: Option<&TlsConfig>, managed: &Path) -> bool {
    tls_files(a, b).iter().all(|(_, before, after)| {
        before == after || after.is_none_or(|p| p.parent() == Some(managed))
    })
}

/// Schemes of network cameras: the only sources a page user may point a camera at.
const NETWORK_SCHEMES: &[&str] = &["rtsp", "rtsps"];

fn scheme(url: &str) -> Option<String> {
    url.split_once("://").map(|(s, _)| s.to_ascii_lowercase())
}

/// A camera source the page may not set: a URL that is not `rtsp://`/`rtsps://`
/// (today `file://`, which opens a file on the box) and differs from the running URL.
/// `path` is the key path to report (`url` on the camera form, `cameras[2].url` on import).
pub fn source_problem(old_url: Option<&str>, new_url: &str, path: &str) -> Option<Problem> {
    if old_url == Some(new_url)
        || scheme(new_url).is_some_and(|s| NETWORK_SCHEMES.contains(&s.as_str()))
    {
        return None;
    }
    Some(Problem::new(
        path,
        "本机文件源（file://）只能在设备上的配置文件中设置 / a file:// source is set in \
         the config file on the box only",
        "use the camera's rtsp:// or rtsps:// URL",
    ))
}

/// [`source_problem`] for every camera of `new`, compared with the same id in `old`.
pub fn source_problems(old: &Config, new: &Config) -> Vec<Problem> {
    new.cameras
        .iter()
        .enumerate()
        .filter_map(|(i, cam)| {
            let before = old.cameras.iter().find(|c| c.id == cam.id);
            source_problem(
                before.map(|c| c.url.as_str()),
                &cam.url,
                &format!("cameras[{i}].url"),
            )
        })
        .collect()
}

/// Scheme, host (lower case) and port (the scheme's default when absent) of a
/// network URL; `None` when it has no host.
fn endpoint(url: &str) -> Option<(String, String, Option<u16>)> {
    let u = url::Url::parse(url.trim()).ok()?;
    let host = u.host_str().filter(|h| !h.is_empty())?.to_ascii_lowercase();
    let default = match u.scheme() {
        "rtsp" => Some(554),
        "rtsps" => Some(322),
        _ => u.port_or_known_default(),
    };
    Some((u.scheme().to_string(), host, u.port().or(default)))
}

/// Whether two camera URLs reach the same server (scheme, host and port).
pub fn same_camera_endpoint(a: &str, b: &str) -> bool {
    match (endpoint(a), endpoint(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// Whether two uplink settings reach the same broker (TLS or not, host, port).
pub fn same_broker(a: &UplinkConfig, b: &UplinkConfig) -> bool {
    let norm = |u: &UplinkConfig| {
        u.broker_addr()
            .ok()
            .flatten()
            .map(|a| (a.tls, a.host.to_ascii_lowercase(), a.port))
    };
    matches!((norm(a), norm(b)), (Some(x), Some(y)) if x == y)
}

/// A stored secret (HTTP sink HMAC secret or bearer token) dropped because its URL
/// now points elsewhere.
pub fn secret_dropped(key: String) -> Notice {
    let what = if key.ends_with("bearer_token") {
        "访问令牌"
    } else {
        "HMAC 签名密钥"
    };
    Notice {
        zh: format!(
            "HTTP 推送地址（协议、主机或端口）已改变，已保存的{what}已清除（密钥不会发往新地址），请重新填写"
        ),
        en: format!(
            "{key}: the push URL's scheme, host or port changed, so the stored secret was \
             cleared; set it again"
        ),
        key,
    }
}

fn password_dropped(key: String) -> Notice {
    Notice {
        zh: format!("{key}：地址（协议、主机或端口）已改变，原密码已清除，请重新输入密码"),
        en: format!(
            "{key}: the address (scheme, host or port) changed, so the stored password was \
             cleared; enter the password again"
        ),
        key,
    }
}

/// `new` omits its password: take the stored one from `old` only if the camera still
/// points at the same server. A notice when a stored password was dropped.
pub fn inherit_camera_password(old: &CameraConfig, new: &mut CameraConfig) -> Option<Notice> {
    old.password.as_ref()?;
    if same_camera_endpoint(&old.url, &new.url) {
        new.password = old.password.clone();
        None
    } else {
        new.password = None;
        Some(password_dropped(format!("cameras[{}].password", new.id)))
    }
}

/// `new` omits the broker password: take the stored one only for the same broker.
pub fn inherit_broker_password(old: &UplinkConfig, new: &mut UplinkConfig) -> Option<Notice> {
    old.password.as_ref()?;
    if same_broker(old, new) {
        new.password = old.password.clone();
        None
    } else {
        new.password = None;
        Some(password_dropped("uplink.password".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OptionValue;
    use crate::uplink::config::TlsConfig;
    use std::path::PathBuf;

    fn camera(url: &str, password: Option<&str>) -> CameraConfig {
        toml::from_str::<CameraConfig>(&format!("id = \"gate\"\nurl = \"{url}\"")).map_or_else(
            |e| panic!("{e}"),
            |mut c| {
                c.password = password.map(str::to_string);
                c
            },
        )
    }

    #[test]
    fn every_path_like_key_of_the_config_is_file_only() {
        // A new key that names a file or directory must join FILE_ONLY_KEYS (and the
        // pin above); this walks the serialised config with every optional path set.
        let mut c = Config::default();
        c.inference.library_path = Some("/x".into());
        c.events.evidence.dir = Some("/x".into());
        c.web.state_dir = Some("/x".into());
        c.web.cert_path = Some("/x".into());
        c.web.key_path = Some("/x".into());
        c.uplink.tls = Some(TlsConfig {
            ca_file: "/x".into(),
            client_cert: Some("/x".into()),
            client_key: Some("/x".into()),
        });
        let mut http = crate::uplink::HttpConfig::new("https://x/e");
        http.tls = c.uplink.tls.clone();
        c.uplink.http = Some(http);
        fn walk(v: &serde_json::Value, at: String, out: &mut Vec<String>) {
            if let Some(m) = v.as_object() {
                for (k, v) in m {
                    walk(
                        v,
                        if at.is_empty() {
                            k.clone()
                        } else {
                            format!("{at}.{k}")
                        },
                        out,
                    );
                }
            } else {
                out.push(at);
            }
        }
        let mut keys = Vec::new();
        walk(&serde_json::to_value(&c).unwrap(), String::new(), &mut keys);
        let pathy = |k: &str| {
            let last = k.rsplit('.').next().unwrap();
            last.ends_with("_dir")
                || last.ends_with("_path")
                || last.ends_with("_file")
                || last == "dir"
                || last == "path"
                || last.ends_with("cert")
                || last.ends_with("key")
        };
        for k in keys.iter().filter(|k| pathy(k)) {
            assert!(
                FILE_ONLY_KEYS
                    .iter()
                    .any(|f| k == f || k.starts_with(&format!("{f}."))),
                "{k} looks like a path but is not file-only"
            );
        }
        assert!(
            keys.contains(&"uplink.tls.client_key".to_string()),
            "{keys:?}"
        );
    }

    #[test]
    fn file_only_keys_keep_their_running_values_and_are_named() {
        let old = Config::default();
        let mut new = old.clone();
        new.inference.library_path = Some("/var/lib/streetwatch/uplink-tls/ca-1.pem".into());
        new.inference.models_dir = "/tmp/m".into();
        new.inference.provider_options.insert(
            "qnn".into(),
            [(
                "backend_path".to_string(),
                OptionValue::Text("/tmp/x.so".into()),
            )]
            .into(),
        );
        new.web.cert_path = Some("/tmp/c".into());
        new.web.key_path = Some("/tmp/k".into());
        new.device.state_dir = "/tmp".into();
        new.device.location = "north gate".into();
        let notes = pin_file_only(&old, &mut new, TlsFiles::Keep);
        let keys: Vec<&str> = notes.iter().map(|n| n.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "device.state_dir",
                "inference.library_path",
                "inference.models_dir",
                "web.cert_path",
                "web.key_path",
                "inference.provider_options.qnn.backend_path"
            ]
        );
        assert!(notes[1].zh.contains("配置文件") && notes[1].en.contains("config file"));
        let mut expect = old.clone();
        expect.device.location = "north gate".into();
        assert_eq!(new, expect, "only the file-only keys went back");
    }

    #[test]
    fn tls_files_change_only_to_daemon_written_files_and_only_on_the_tls_routes() {
        let old = Config::default();
        let dir = tls_upload_dir(&old.device.state_dir);
        let managed = TlsConfig {
            ca_file: dir.join("ca-0123.pem"),
            client_cert: None,
            client_key: None,
        };
        let mut new = old.clone();
        new.uplink.tls = Some(managed.clone());
        assert!(pin_file_only(&old, &mut new, TlsFiles::Managed).is_empty());
        assert_eq!(new.uplink.tls, Some(managed.clone()));
        let mut new = old.clone();
        new.uplink.tls = Some(managed);
        assert_eq!(
            pin_file_only(&old, &mut new, TlsFiles::Keep)[0].key,
            "uplink.tls.ca_file"
        );
        assert_eq!(new.uplink.tls, None);
        let mut new = old.clone();
        new.uplink.tls = Some(TlsConfig {
            ca_file: PathBuf::from("/usr/lib/x.so"),
            client_cert: None,
            client_key: None,
        });
        assert_eq!(pin_file_only(&old, &mut new, TlsFiles::Managed).len(), 1);
        assert_eq!(new.uplink.tls, None);
    }

    #[test]
    fn a_file_source_can_be_kept_but_not_set() {
        assert!(source_problem(None, "rtsp://cam/1", "url").is_none());
        assert!(source_problem(Some("file:///v.mp4"), "file:///v.mp4", "url").is_none());
        let p = source_problem(Some("rtsp://cam/1"), "file:///etc/shadow", "url").unwrap();
        assert_eq!(p.path, "url");
        assert!(source_problem(None, "FILE:///x", "url").is_some());
    }

    #[test]
    fn a_camera_password_follows_only_the_same_scheme_host_and_port() {
        let old = camera("rtsp://10.0.0.5/main", Some("s3cret"));
        for (url, kept) in [
            ("rtsp://10.0.0.5:554/sub", true),
            ("rtsp://10.0.0.5/main?x=1", true),
            ("rtsp://10.0.0.5:8554/main", false),
            ("rtsp://10.0.0.6/main", false),
            ("rtsps://10.0.0.5/main", false),
            ("rtsp://evil.example/main", false),
        ] {
            let mut new = camera(url, None);
            let notice = inherit_camera_password(&old, &mut new);
            assert_eq!(new.password.is_some(), kept, "{url}");
            assert_eq!(notice.is_none(), kept, "{url}");
        }
        let mut new = camera("rtsp://10.0.0.6/main", None);
        let n = inherit_camera_password(&old, &mut new).unwrap();
        assert_eq!(n.key, "cameras[gate].password");
        assert!(n.zh.contains("重新输入密码"), "{}", n.zh);
    }

    #[test]
    fn a_broker_password_follows_only_the_same_broker() {
        let old = UplinkConfig {
            broker: "mqtt://Broker.example:1883".into(),
            username: Some("box".into()),
            password: Some("s3cret".into()),
            ..Default::default()
        };
        for (broker, port, kept) in [
            ("mqtt://broker.example", None, true),
            ("mqtt://broker.example:1884", None, false),
            ("mqtt://broker.example", Some(1884), false),
            ("mqtts://broker.example:1883", None, false),
            ("mqtt://other.example", None, false),
        ] {
            let mut new = UplinkConfig {
                broker: broker.into(),
                port,
                password: None,
                ..old.clone()
            };
            inherit_broker_password(&old, &mut new);
            assert_eq!(new.password.is_some(), kept, "{broker} {port:?}");
        }
    }
}
