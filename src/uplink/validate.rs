//! Checks of the `[uplink]` section that serde cannot express, in the same
//! [`Problem`] style as the rest of the config, so `check-config`, the daemon's start
//! and its reload refuse a bad uplink with the key named instead of the uplink
//! failing later, on its own thread, with only a log line.

use super::config::{TlsConfig, UplinkConfig};
use crate::config::Problem;
use std::path::Path;

/// Bounds of the numeric settings: (key, low, high, hint).
const KEEPALIVE_S: (u64, u64) = (5, 3600);
const INFLIGHT: (u64, u64) = (1, 64);
const CHUNK_KIB: (u64, u64) = (1, 16 * 1024);
const HEALTH_INTERVAL_S: (u64, u64) = (1, 3600);
const BACKOFF_MAX_S: (u64, u64) = (1, 3600);
/// Below this the outbox cannot hold even one typical clip with its snapshots.
const MIN_DISK_CAP_MB: u64 = 16;
/// Ten years of history is more than any box keeps; beyond it the number is a typo.
const HISTORY_DAYS: (u64, u64) = (0, 3650);
/// A million phases is about 3 GB of history: the most a box's state disk should hold.
const HISTORY_ROWS: (u64, u64) = (0, 1_000_000);

/// Problems with `[uplink]`, key paths prefixed with `uplink.`.
pub fn validate(c: &UplinkConfig) -> Vec<Problem> {
    let mut out = Vec::new();
    check_broker(c, &mut out);
    check_credentials(c, &mut out);
    if let Some(tls) = &c.tls {
        check_tls("uplink.tls", tls, &mut out);
    }
    if let Some(h) = &c.http {
        check_http(h, &mut out);
    }
    check_topic_prefix(&c.topic_prefix, &mut out);
    let ranges = [
        ("keepalive_s", c.keepalive_s as u64, KEEPALIVE_S, "seconds"),
        ("inflight", c.inflight as u64, INFLIGHT, "publishes"),
        ("chunk_kib", c.chunk_kib as u64, CHUNK_KIB, "KiB"),
        (
            "health_interval_s",
            c.health_interval_s,
            HEALTH_INTERVAL_S,
            "seconds",
        ),
        ("backoff_max_s", c.backoff_max_s, BACKOFF_MAX_S, "seconds"),
        ("history_days", c.history_days as u64, HISTORY_DAYS, "days"),
        ("history_rows", c.history_rows, HISTORY_ROWS, "event phases"),
    ];
    for (key, v, (lo, hi), unit) in ranges {
        if !(lo..=hi).contains(&v) {
            out.push(Problem::new(
                format!("uplink.{key}"),
                format!("{v} is out of range"),
                format!("use {lo} to {hi} {unit}"),
            ));
        }
    }
    if c.disk_cap_mb < MIN_DISK_CAP_MB {
        out.push(Problem::new(
            "uplink.disk_cap_mb",
            format!(
                "{} MiB cannot hold the outbox and one event's evidence",
                c.disk_cap_mb
            ),
            format!("use at least {MIN_DISK_CAP_MB} MiB (default 2048)"),
        ));
    } else if c.disk_cap_mb.saturating_mul(1024) < c.chunk_kib as u64 {
        out.push(Problem::new(
            "uplink.disk_cap_mb",
            "is smaller than one media chunk",
            "raise disk_cap_mb or lower chunk_kib",
        ));
    }
    if let Some(id) = &c.client_id
        && (id.trim().is_empty() || id.len() > 256 || id.chars().any(char::is_control))
    {
        out.push(Problem::new(
            "uplink.client_id",
            format!("\"{id}\" is not a usable MQTT client id"),
            "use 1-256 printable characters, or leave it out to use the device id",
        ));
    }
    out
}

fn check_broker(c: &UplinkConfig, out: &mut Vec<Problem>) {
    let url = c.broker.trim();
    if url.is_empty() {
        return;
    }
    let form = "write it as mqtt://host[:port] or mqtts://host[:port]";
    if let Some((scheme, _)) = url.split_once("://")
        && !matches!(scheme, "mqtt" | "mqtts")
    {
        let hint = match scheme {
            "tcp" | "http" | "ws" => "use mqtt:// for plain TCP".to_string(),
            "ssl" | "tls" | "https" | "wss" => "use mqtts:// for TLS".to_string(),
            _ => form.to_string(),
        };
        out.push(Problem::new(
            "uplink.broker",
            format!("scheme \"{scheme}\" is not supported"),
            hint,
        ));
        return;
    }
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    if rest.contains('@') {
        // Never echo the URL: it may carry a password.
        out.push(Problem::new(
            "uplink.broker",
            "the URL carries credentials",
            "remove user:password@ from the URL and set uplink.username / uplink.password",
        ));
        return;
    }
    if rest.trim_end_matches('/').contains('/') {
        out.push(Problem::new(
            "uplink.broker",
            format!("\"{url}\" has a path; MQTT brokers have none"),
            form,
        ));
        return;
    }
    match c.broker_addr() {
        Err(e) => out.push(Problem::new(
            "uplink.broker",
            e.trim_start_matches("broker: ").to_string(),
            form,
        )),
        Ok(Some(addr)) => {
            if addr.host.chars().any(|ch| ch.is_whitespace() || ch == '?') {
                out.push(Problem::new(
                    "uplink.broker",
                    format!("\"{}\" is not a host name", addr.host),
                    form,
                ));
            }
            if addr.port == 0 {
                let key = if c.port == Some(0) {
                    "uplink.port"
                } else {
                    "uplink.broker"
                };
                out.push(Problem::new(key, "port 0 is not a port", "use 1-65535"));
            }
            if addr.tls && c.tls.is_none() {
                out.push(Problem::new(
                    "uplink.tls.ca_file",
                    "mqtts:// needs the CA that signed the broker's certificate",
                    "set [uplink.tls] ca_file = \"/etc/streetwatch/broker-ca.pem\"",
                ));
            }
            // `[uplink.tls]` with a plain mqtt:// URL is not refused: the page uploads
            // the CA before the URL is switched to mqtts://. The uplink warns at start.
        }
        Ok(None) => {}
    }
}

fn check_credentials(c: &UplinkConfig, out: &mut Vec<Problem>) {
    if c.password.is_some() && c.username.as_deref().is_none_or(str::is_empty) {
        out.push(Problem::new(
            "uplink.password",
            "a password without a username is never sent",
            "set uplink.username too, or remove the password",
        ));
    }
    if c.username.as_deref() == Some("") {
        out.push(Problem::new(
            "uplink.username",
            "is empty",
            "set the broker account name, or remove the key",
        ));
    }
}

/// Timeouts of the HTTP sink, in seconds.
const HTTP_TIMEOUT_S: (u64, u64) = (1, 3600);

/// `url`, `media_url`: an http(s) URL with a host and no user:password@ in it.
fn check_http_url(key: &str, url: &str, out: &mut Vec<Problem>) {
    match url::Url::parse(url.trim()) {
        Err(e) => out.push(Problem::new(
            key,
            format!("\"{}\" is not a URL ({e})", crate::redact::redact_url(url)),
            "use http://host[:port]/path or https://host[:port]/path",
        )),
        Ok(u) if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() => {
            out.push(Problem::new(
                key,
                format!(
                    "\"{}\" is not an http:// or https:// URL with a host",
                    crate::redact::redact_url(url)
                ),
                "use http://host[:port]/path or https://host[:port]/path",
            ))
        }
        Ok(u) if !u.username().is_empty() || u.password().is_some() => out.push(Problem::new(
            key,
            "the URL carries a user name or password",
            "remove user:password@; use uplink.http.bearer_token or hmac_secret",
        )),
        Ok(_) => {}
    }
}

fn check_http(h: &super::config::HttpConfig, out: &mut Vec<Problem>) {
    check_http_url("uplink.http.url", &h.url, out);
    if let Some(m) = &h.media_url {
        check_http_url("uplink.http.media_url", m, out);
    }
    if h.media_url.is_some() && h.media_put_template.is_some() {
        out.push(Problem::new(
            "uplink.http.media_put_template",
            "is set together with media_url",
            "keep one: media_url (multipart POST) or media_put_template (PUT)",
        ));
    }
    if let Some(t) = &h.media_put_template {
        check_http_url(
            "uplink.http.media_put_template",
            &t.replace("{event_id}", "e")
                .replace("{name}", "n")
                .replace("{sha256}", "s"),
            out,
        );
        if !t.contains("{name}") && !t.contains("{sha256}") {
            out.push(Problem::new(
                "uplink.http.media_put_template",
                "names no {name} or {sha256}: every file of an event would go to one URL",
                "e.g. https://host/media/{event_id}/{name}",
            ));
        }
    }
    for (key, v) in [
        ("connect_timeout_s", h.connect_timeout_s),
        ("timeout_s", h.timeout_s),
        ("backoff_max_s", h.backoff_max_s),
    ] {
        let (lo, hi) = HTTP_TIMEOUT_S;
        if !(lo..=hi).contains(&v) {
            out.push(Problem::new(
                format!("uplink.http.{key}"),
                format!("{v} is out of range"),
                format!("use {lo} to {hi} seconds"),
            ));
        }
    }
    for (key, v) in [
        ("hmac_secret", &h.hmac_secret),
        ("bearer_token", &h.bearer_token),
    ] {
        if let Some(v) = v
            && (v.is_empty() || v.chars().any(char::is_control))
        {
            out.push(Problem::new(
                format!("uplink.http.{key}"),
                "is empty or holds control characters",
                "use printable characters, or leave the key out",
            ));
        }
    }
    if h.url.trim_start().starts_with("http://") && h.bearer_token.is_some() {
        tracing::warn!(
            "[uplink.http] bearer_token over plain http://: the token travels unencrypted; use https://"
        );
    }
    if let Some(tls) = &h.tls {
        check_tls("uplink.http.tls", tls, out);
    }
}

fn check_tls(at: &str, tls: &TlsConfig, out: &mut Vec<Problem>) {
    use super::tls::{Layout, TlsFileKind};
    if let Some(e) = read_tls(
        &tls.ca_file,
        "the CA certificate (PEM) that signed the broker's certificate",
    )
    .and_then(|b| {
        super::tls::parse_certificates(&b, &name(&tls.ca_file), TlsFileKind::Ca, Layout::Lenient)
            .map_err(|e| (e.to_string(), String::new()))
    })
    .err()
    {
        out.push(Problem::new(format!("{at}.ca_file"), e.0, e.1));
    }
    // Half of a mutual-TLS pair is not refused here: the page uploads the certificate
    // and the key one request at a time. The uplink refuses to connect with only one
    // of them and says so in its status and log.
    if let (Some(cert), Some(key)) = (&tls.client_cert, &tls.client_key) {
        let chain = read_tls(cert, "the box's client certificate (PEM)").and_then(|b| {
            super::tls::parse_certificates(
                &b,
                &name(cert),
                TlsFileKind::ClientCert,
                Layout::Lenient,
            )
            .map_err(|e| (e.to_string(), String::new()))
        });
        let key_der = read_tls(
            key,
            "the client certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1)",
        )
        .and_then(|b| {
            super::tls::parse_private_key(&b, &name(key), Layout::Lenient)
                .map_err(|e| (e.to_string(), String::new()))
        });
        match (chain, key_der) {
            (Ok(chain), Ok(k)) => {
                if let Err(e) = super::tls::check_key_matches(&chain[0], &k, &name(key)) {
                    out.push(Problem::new(format!("{at}.client_key"), e.to_string(), ""));
                }
            }
            (c, k) => {
                if let Err((m, h)) = c {
                    out.push(Problem::new(format!("{at}.client_cert"), m, h));
                }
                if let Err((m, h)) = k {
                    out.push(Problem::new(format!("{at}.client_key"), m, h));
                }
            }
        }
    }
}

fn name(path: &Path) -> String {
    path.display().to_string()
}

/// The file's bytes, or (message, hint) naming it. Its content is never quoted: it may
/// be a key.
fn read_tls(path: &Path, what: &str) -> Result<Vec<u8>, (String, String)> {
    std::fs::read(path).map_err(|e| {
        (
            format!("cannot read {} ({e})", path.display()),
            format!(
                "point it at {what}, readable by the streetwatch user (absolute path recommended)"
            ),
        )
    })
}

fn check_topic_prefix(prefix: &str, out: &mut Vec<Problem>) {
    let hint = "use levels of letters, digits, '-', '_' or '.', separated by '/', e.g. \"streetwatch/{device_id}\"";
    let p = prefix.replace("{device_id}", "x");
    let p = p.trim_end_matches('/');
    let bad = if p.is_empty() {
        Some("is empty".to_string())
    } else if p.contains(['+', '#']) {
        Some("contains an MQTT wildcard ('+' or '#')".into())
    } else if p.starts_with('$') {
        Some("starts with '$', which brokers reserve for their own topics".into())
    } else if p.contains(['{', '}']) {
        Some("has a placeholder other than {device_id}".into())
    } else if p.split('/').any(str::is_empty) {
        Some("has an empty level ('//' or a leading '/')".into())
    } else if p.chars().any(|c| c.is_control() || c.is_whitespace()) {
        Some("contains spaces or control characters".into())
    } else if p.len() > 512 {
        Some("is longer than 512 bytes".into())
    } else {
        None
    };
    if let Some(why) = bad {
        out.push(Problem::new(
            "uplink.topic_prefix",
            format!("\"{prefix}\" {why}"),
            hint,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(c: &UplinkConfig) -> Vec<String> {
        validate(c).into_iter().map(|p| p.path).collect()
    }

    #[test]
    fn each_bad_http_sink_setting_is_named_by_its_key_path_without_echoing_secrets() {
        use crate::uplink::config::HttpConfig;
        let with = |f: &dyn Fn(&mut HttpConfig)| {
            let mut h = HttpConfig::new("https://platform.example/events");
            f(&mut h);
            UplinkConfig {
                http: Some(h),
                ..Default::default()
            }
        };
        assert!(paths(&with(&|_| {})).is_empty());
        assert_eq!(
            paths(&with(&|h| h.url = "ftp://x/e".into())),
            ["uplink.http.url"]
        );
        let c = with(&|h| h.url = "https://user:hunter2@x/e".into());
        assert_eq!(paths(&c), ["uplink.http.url"]);
        assert!(!format!("{:?}", validate(&c)).contains("hunter2"));
        assert_eq!(
            paths(&with(&|h| h.media_url = Some("not a url".into()))),
            ["uplink.http.media_url"]
        );
        assert_eq!(
            paths(&with(
                &|h| h.media_put_template = Some("https://x/media".into())
            )),
            ["uplink.http.media_put_template"]
        );
        assert!(
            paths(&with(&|h| {
                h.media_put_template = Some("https://x/m/{event_id}/{name}".into())
            }))
            .is_empty()
        );
        assert_eq!(
            paths(&with(&|h| h.timeout_s = 0)),
            ["uplink.http.timeout_s"]
        );
        assert_eq!(
            paths(&with(&|h| h.hmac_secret = Some(String::new()))),
            ["uplink.http.hmac_secret"]
        );
        assert_eq!(
            paths(&with(&|h| {
                h.tls = Some(TlsConfig {
                    ca_file: "/nonexistent/ca.pem".into(),
                    client_cert: None,
                    client_key: None,
                })
            })),
            ["uplink.http.tls.ca_file"]
        );
    }

    #[test]
    fn defaults_and_a_plain_broker_are_accepted() {
        assert!(validate(&UplinkConfig::default()).is_empty());
        let c = UplinkConfig {
            broker: "mqtt://broker.example:1884".into(),
            username: Some("box".into()),
            password: Some("s3cret".into()),
            ..Default::default()
        };
        assert_eq!(validate(&c), vec![]);
    }

    #[test]
    fn each_bad_setting_is_named_by_its_key_path() {
        let base = UplinkConfig {
            broker: "mqtt://broker.example".into(),
            ..Default::default()
        };
        let cases: Vec<(UplinkConfig, &str)> = vec![
            (
                UplinkConfig {
                    broker: "http://broker".into(),
                    ..base.clone()
                },
                "uplink.broker",
            ),
            (
                UplinkConfig {
                    broker: "mqtt://broker:99999".into(),
                    ..base.clone()
                },
                "uplink.broker",
            ),
            (
                UplinkConfig {
                    broker: "mqtt://:1883".into(),
                    ..base.clone()
                },
                "uplink.broker",
            ),
            (
                UplinkConfig {
                    port: Some(0),
                    ..base.clone()
                },
                "uplink.port",
            ),
            (
                UplinkConfig {
                    broker: "mqtts://broker".into(),
                    ..base.clone()
                },
                "uplink.tls.ca_file",
            ),
            (
                UplinkConfig {
                    password: Some("x".into()),
                    ..base.clone()
                },
                "uplink.password",
            ),
            (
                UplinkConfig {
                    topic_prefix: "city/#".into(),
                    ..base.clone()
                },
                "uplink.topic_prefix",
            ),
            (
                UplinkConfig {
                    topic_prefix: "city//{device_id}".into(),
                    ..base.clone()
                },
                "uplink.topic_prefix",
            ),
            (
                UplinkConfig {
                    keepalive_s: 0,
                    ..base.clone()
                },
                "uplink.keepalive_s",
            ),
            (
                UplinkConfig {
                    inflight: 0,
                    ..base.clone()
                },
                "uplink.inflight",
            ),
            (
                UplinkConfig {
                    chunk_kib: 0,
                    ..base.clone()
                },
                "uplink.chunk_kib",
            ),
            (
                UplinkConfig {
                    disk_cap_mb: 1,
                    ..base.clone()
                },
                "uplink.disk_cap_mb",
            ),
            (
                UplinkConfig {
                    client_id: Some(String::new()),
                    ..base.clone()
                },
                "uplink.client_id",
            ),
            (
                UplinkConfig {
                    history_days: 36_500,
                    ..base.clone()
                },
                "uplink.history_days",
            ),
            (
                UplinkConfig {
                    history_rows: 50_000_000,
                    ..base.clone()
                },
                "uplink.history_rows",
            ),
        ];
        for (c, want) in cases {
            let got = paths(&c);
            assert_eq!(got, vec![want.to_string()], "{c:?}");
        }
    }

    #[test]
    fn credentials_in_the_broker_url_are_refused_without_echoing_them() {
        let c = UplinkConfig {
            broker: "mqtt://box:hunter2@broker".into(),
            ..Default::default()
        };
        let problems = validate(&c);
        assert_eq!(problems.len(), 1);
        assert!(!problems[0].to_string().contains("hunter2"));
    }

    #[test]
    fn tls_files_must_exist_hold_real_certificates_and_a_matching_key() {
        let dir = tempfile::tempdir().unwrap();
        let pair = |name: &str| {
            let ck = rcgen::generate_simple_self_signed(vec!["box".to_string()]).unwrap();
            let cert = dir.path().join(format!("{name}.pem"));
            let key = dir.path().join(format!("{name}.key"));
            std::fs::write(&cert, ck.cert.pem()).unwrap();
            std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
            (cert, key)
        };
        let (ca, ca_key) = pair("ca");
        let (cert, key) = pair("client");
        let mut c = UplinkConfig {
            broker: "mqtts://broker".into(),
            tls: Some(TlsConfig {
                ca_file: ca.clone(),
                client_cert: Some(cert.clone()),
                client_key: Some(key.clone()),
            }),
            ..Default::default()
        };
        assert_eq!(validate(&c), vec![]);
        c.tls.as_mut().unwrap().ca_file = dir.path().join("missing.pem");
        assert_eq!(paths(&c), ["uplink.tls.ca_file"]);
        c.tls.as_mut().unwrap().ca_file = key.clone();
        assert_eq!(paths(&c), ["uplink.tls.ca_file"]);
        let fake = dir.path().join("fake.pem");
        std::fs::write(
            &fake,
            "-----BEGIN CERTIFICATE-----\nMII=\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        c.tls.as_mut().unwrap().ca_file = fake;
        assert_eq!(
            paths(&c),
            ["uplink.tls.ca_file"],
            "a PEM label is not X.509"
        );
        c.tls.as_mut().unwrap().ca_file = ca.clone();
        c.tls.as_mut().unwrap().client_key = None;
        assert_eq!(
            paths(&c),
            Vec::<String>::new(),
            "half a pair waits for the other half"
        );
        c.tls.as_mut().unwrap().client_key = Some(ca.clone());
        assert_eq!(paths(&c), ["uplink.tls.client_key"]);
        let problem = validate(&c).remove(0).to_string();
        let body = std::fs::read_to_string(&ca).unwrap();
        assert!(!problem.contains(body.lines().nth(1).unwrap()), "{problem}");
        // Another key than the certificate's.
        c.tls.as_mut().unwrap().client_key = Some(ca_key);
        assert_eq!(paths(&c), ["uplink.tls.client_key"]);
        assert!(
            validate(&c)[0]
                .message
                .contains("does not belong to the client certificate"),
            "{:?}",
            validate(&c)
        );
    }
}
