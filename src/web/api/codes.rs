//! Stable codes for what the server tells the page, so the page can say it in the
//! technician's language (i18n.js: `problem.<code>`, `uplinkerr.<code>`), with the
//! box's own (English) text kept under "details".
//!
//! Config problems are worded by the module that finds them (config, zones, uplink,
//! TLS parsing), in English, for the log and `check-config`. Rather than teach every
//! module a second language, this table recognises their fixed wording and names it;
//! the tests below build the real problems through the real checks, so a reworded
//! message fails a test instead of silently falling back to English on the page.

use crate::config::Problem;
use serde_json::{Map, Value, json};

/// A problem's code and the values its translation needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Coded {
    pub code: &'static str,
    pub params: Map<String, Value>,
}

/// Every code [`problem`] answers with; the page has a text for each (a test in
/// `web::assets` checks i18n.js).
#[cfg_attr(not(any(test, debug_assertions)), allow(dead_code))]
pub const PROBLEM_CODES: &[&str] = &[
    "analysis_auto_keyframes",
    "analysis_mixed",
    "analysis_other_host",
    "analysis_same_url",
    "broker_host",
    "broker_needs_ca",
    "broker_path",
    "broker_scheme",
    "camera_id_duplicate",
    "camera_id_invalid",
    "camera_rename",
    "client_id_invalid",
    "config_syntax",
    "config_unknown_key",
    "current_password_wrong",
    "device_id_invalid",
    "division_invalid",
    "file_not_text",
    "file_source",
    "file_too_big",
    "filter_field",
    "http_first",
    "http_media_both",
    "http_put_template",
    "http_url",
    "invalid",
    "out_of_range",
    "pairing_aspect",
    "pairing_larger",
    "password_long",
    "password_retype",
    "password_short",
    "password_without_user",
    "port_invalid",
    "query_invalid",
    "rule_field",
    "rule_kind_no_code",
    "rule_seconds",
    "schedule_invalid",
    "secret_invalid",
    "secret_retype",
    "time_invalid",
    "time_range",
    "timezone_unknown",
    "tls_binary",
    "tls_ca_first",
    "tls_invalid",
    "tls_key_mismatch",
    "unknown_key",
    "url_credentials",
    "url_invalid",
    "url_no_host",
    "url_not_rtsp",
    "url_scheme",
    "url_scheme_typo",
    "value_invalid",
    "value_missing",
    "zone_asset_id",
    "zone_coordinates",
    "zone_grid_code",
    "zone_id_duplicate",
    "zone_id_invalid",
    "zone_location_long",
    "zone_name_long",
    "zone_no_area",
    "zone_point_outside",
    "zone_point_repeated",
    "zone_self_intersecting",
    "zone_too_few_points",
    "zone_too_many_points",
    "zone_too_many_rules",
    "zones_too_many",
];

/// Every code [`uplink_error`] answers with.
#[cfg_attr(not(test), allow(dead_code))]
pub const UPLINK_ERROR_CODES: &[&str] = &[
    "no_broker",
    "connection_refused",
    "tls",
    "bad_credentials",
    "timeout",
    "unreachable",
    "outbox",
    "error",
];

/// The first `"…"`-quoted text of `s`.
fn quoted(s: &str) -> Option<String> {
    let start = s.find('"')? + 1;
    let len = s[start..].find('"')?;
    Some(s[start..start + len].to_string())
}

/// The first `` `…` ``-quoted text of `s`.
fn ticked(s: &str) -> Option<String> {
    let start = s.find('`')? + 1;
    let len = s[start..].find('`')?;
    Some(s[start..start + len].to_string())
}

/// Every whole number in `s`, in order.
fn numbers(s: &str) -> Vec<u64> {
    s.split(|c: char| !c.is_ascii_digit())
        .filter(|t| !t.is_empty())
        .filter_map(|t| t.parse().ok())
        .collect()
}

/// Every `WIDTHxHEIGHT` picture size in `s`, in order (`640x360`).
fn sizes(s: &str) -> Vec<String> {
    s.split(|c: char| !(c.is_ascii_digit() || c == 'x'))
        .filter(|t| {
            t.split_once('x').is_some_and(|(w, h)| {
                !w.is_empty()
                    && !h.is_empty()
                    && w.bytes().all(|b| b.is_ascii_digit())
                    && h.bytes().all(|b| b.is_ascii_digit())
            })
        })
        .map(str::to_string)
        .collect()
}

fn coded(code: &'static str, params: &[(&str, Value)]) -> Coded {
    debug_assert!(
        PROBLEM_CODES.contains(&code),
        "{code} missing in PROBLEM_CODES"
    );
    Coded {
        code,
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    }
}

/// The code of a config or form problem; `invalid` when the wording is not known.
pub fn problem(p: &Problem) -> Coded {
    let m = p.message.as_str();
    let q = || json!(quoted(m).unwrap_or_default());
    let n = |i: usize| json!(numbers(m).get(i).copied().unwrap_or(0));
    // Zone problems read `zone "z1": polygon has 2 points…`: look at the inner part.
    let inner = m
        .strip_prefix("zone \"")
        .and_then(|r| r.split_once("\": "))
        .map(|(_, rest)| rest)
        .unwrap_or(m);
    if p.line.is_some() && (m.contains("unknown field") || m.contains("unknown variant")) {
        return coded("config_unknown_key", &[("line", json!(p.line))]);
    }
    if p.line.is_some() {
        return coded("config_syntax", &[("line", json!(p.line))]);
    }
    if let Some(rest) = m.strip_prefix("scheme \"") {
        let scheme = rest.split('"').next().unwrap_or_default();
        let suggest = p
            .hint
            .strip_prefix("did you mean ")
            .and_then(quoted)
            .unwrap_or_default();
        return coded(
            if suggest.is_empty() {
                "url_scheme"
            } else {
                "url_scheme_typo"
            },
            &[("scheme", json!(scheme)), ("suggest", json!(suggest))],
        );
    }
    // The HTTP push sink's addresses (uplink::validate): http(s), not rtsp.
    if p.path.contains("http.")
        && (m.contains("is not a URL") || m.contains("is not an http:// or https:// URL"))
    {
        return coded("http_url", &[]);
    }
    let table: &[(&str, &str)] = &[
        ("the URL carries credentials", "url_credentials"),
        ("the URL carries a user name or password", "url_credentials"),
        ("is set together with media_url", "http_media_both"),
        ("names no {name} or {sha256}", "http_put_template"),
        ("is empty or holds control characters", "secret_invalid"),
        ("the HTTP push sink is not set up", "http_first"),
        ("the stored secret is only sent", "secret_retype"),
        ("the broker URL contains credentials", "url_credentials"),
        ("is not a URL", "url_invalid"),
        ("the URL has no host", "url_no_host"),
        ("file URL has no usable path", "url_invalid"),
        ("file://", "file_source"),
        (
            "only rtsp:// and rtsps:// URLs can be tested",
            "url_not_rtsp",
        ),
        ("the id in the body differs", "camera_rename"),
        ("is not a valid camera id", "camera_id_invalid"),
        ("is not a valid device id", "device_id_invalid"),
        ("unknown timezone", "timezone_unknown"),
        ("6-digit administrative division code", "division_invalid"),
        ("the stored password is only sent", "password_retype"),
        ("the current password is wrong", "current_password_wrong"),
        ("characters; at least", "password_short"),
        ("the password is longer than", "password_long"),
        ("mqtts:// needs the CA", "broker_needs_ca"),
        ("an mqtts:// broker needs the CA", "broker_needs_ca"),
        ("has a path; MQTT brokers have none", "broker_path"),
        ("scheme must be mqtt", "broker_scheme"),
        ("bad port", "port_invalid"),
        ("missing host", "broker_host"),
        ("is not a host name", "broker_host"),
        ("port 0 is not", "port_invalid"),
        ("is not a usable MQTT client id", "client_id_invalid"),
        (
            "a password is set but no user name",
            "password_without_user",
        ),
        ("a password without a username", "password_without_user"),
        ("upload the CA certificate first", "tls_ca_first"),
        ("bytes; at most", "file_too_big"),
        ("binary data", "tls_binary"),
        ("does not belong", "tls_key_mismatch"),
        ("does not match", "tls_key_mismatch"),
        ("not UTF-8", "file_not_text"),
        ("unknown query parameter", "query_invalid"),
        (
            "the end of the time range is before its start",
            "time_range",
        ),
        ("is not an RFC 3339 time", "time_invalid"),
        // A camera's substream (config::check_analysis_url, ingest::pairing).
        ("is the same stream as url", "analysis_same_url"),
        ("mixes a file with a network stream", "analysis_mixed"),
        ("but url at", "analysis_other_host"),
        ("aspect ratios differ", "pairing_aspect"),
        ("is larger than the main stream", "pairing_larger"),
        // config::validate: `fps = "auto"` decides keyframes only itself.
        (
            "keyframes_only cannot be combined with fps",
            "analysis_auto_keyframes",
        ),
        // config::validate's code-table check of every rule's kind.
        ("has no code in the code table", "rule_kind_no_code"),
    ];
    if let Some((_, code)) = table.iter().find(|(needle, _)| m.contains(needle)) {
        let params = match *code {
            "camera_id_invalid" | "device_id_invalid" | "timezone_unknown" | "division_invalid"
            | "url_invalid" => vec![("value", q())],
            "password_short" => vec![("n", n(0)), ("min", n(1))],
            "password_long" => vec![("max", n(0))],
            "file_too_big" => vec![("bytes", n(0)), ("max", n(1))],
            // Both texts name the substream first, then the main stream.
            "pairing_aspect" | "pairing_larger" => {
                let s = sizes(m);
                vec![
                    ("sub", json!(s.first().cloned().unwrap_or_default())),
                    ("main", json!(s.get(1).cloned().unwrap_or_default())),
                ]
            }
            "rule_kind_no_code" => {
                let taxonomy = m
                    .rsplit_once('(')
                    .map(|(_, t)| t.trim_end_matches(')'))
                    .unwrap_or_default();
                vec![("kind", q()), ("taxonomy", json!(taxonomy))]
            }
            _ => vec![],
        };
        return coded(code, &params);
    }
    if m.starts_with("duplicate camera id") || m.contains("already exists") {
        return coded("camera_id_duplicate", &[("value", q())]);
    }
    let zone_table: &[(&str, &str)] = &[
        ("a zone needs at least 3", "zone_too_few_points"),
        ("points; at most", "zone_too_many_points"),
        ("is outside the image", "zone_point_outside"),
        ("repeats the point before it", "zone_point_repeated"),
        ("cross or touch", "zone_self_intersecting"),
        ("has no area", "zone_no_area"),
        ("is used twice", "zone_id_duplicate"),
        ("zone name has", "zone_name_long"),
        ("location text has", "zone_location_long"),
        ("coordinates (", "zone_coordinates"),
        ("grid code", "zone_grid_code"),
        ("asset id", "zone_asset_id"),
        ("zones configured; at most", "zones_too_many"),
        ("rules; at most", "zone_too_many_rules"),
        ("object filter:", "filter_field"),
        ("schedule", "schedule_invalid"),
        ("must be a number of seconds", "rule_seconds"),
        ("rule: `", "rule_field"),
        ("zone id", "zone_id_invalid"),
    ];
    if let Some((_, code)) = zone_table.iter().find(|(needle, _)| inner.contains(needle)) {
        let params = match *code {
            "zone_too_few_points" | "zone_too_many_points" => {
                vec![("n", json!(numbers(inner).first()))]
            }
            "zone_point_outside" | "zone_point_repeated" => {
                vec![("index", json!(numbers(inner).first()))]
            }
            "filter_field" | "rule_seconds" | "rule_field" => {
                vec![("field", json!(ticked(inner).unwrap_or_default()))]
            }
            _ => vec![],
        };
        return coded(code, &params);
    }
    if m.contains("is out of range") || m.contains("is too small") {
        return coded("out_of_range", &[]);
    }
    // serde's own wording for a value of the wrong type or a missing field.
    if m.starts_with("invalid type") || m.starts_with("invalid value") {
        return coded("value_invalid", &[]);
    }
    if m.starts_with("missing field") {
        return coded("value_missing", &[]);
    }
    if m.starts_with("unknown variant") {
        return coded("value_invalid", &[]);
    }
    if m.starts_with("unknown field") {
        return coded("unknown_key", &[]);
    }
    if p.path.starts_with("ca") || p.path.starts_with("client_") || p.path.contains("tls") {
        return coded("tls_invalid", &[]);
    }
    coded("invalid", &[])
}

/// A problem as the API answers it: the fields of [`Problem`] plus `code` and `params`.
pub fn problem_json(p: &Problem) -> Value {
    let c = problem(p);
    let mut v = json!(p);
    v["code"] = json!(c.code);
    v["params"] = Value::Object(c.params);
    v
}

/// The code of the uplink's last error as the dashboard shows it: `no_broker`,
/// `connection_refused`, `tls`, `bad_credentials`, `timeout`, `unreachable`, `outbox`
/// or `error`.
pub fn uplink_error(message: &str) -> &'static str {
    let m = message.to_ascii_lowercase();
    if m.starts_with("no broker configured") {
        "no_broker"
    } else if m.starts_with("outbox") {
        "outbox"
    } else if m.contains("bad user") || m.contains("not authori") || m.contains("password") {
        "bad_credentials"
    } else if m.contains("tls") || m.contains("certificate") || m.contains("handshake") {
        "tls"
    } else if m.contains("refused") {
        "connection_refused"
    } else if m.contains("timeout") || m.contains("timed out") {
        "timeout"
    } else if m.contains("resolve") || m.contains("unreachable") || m.contains("dns") {
        "unreachable"
    } else {
        "error"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{self, Config};

    fn codes_of(c: &Config) -> Vec<(&'static str, String)> {
        config::validate(c)
            .iter()
            .map(|p| (problem(p).code, p.path.clone()))
            .collect()
    }

    fn base() -> Config {
        config::parse(
            "[device]\nid = \"box\"\n[[cameras]]\nid = \"a\"\nurl = \"rtsp://10.0.0.5/1\"\n",
            std::path::Path::new("t"),
        )
        .unwrap()
    }

    #[test]
    fn the_camera_problems_a_technician_meets_have_codes() {
        let mut c = base();
        c.cameras[0].url = "rstp://10.0.0.5/1".into();
        let p = config::validate(&c);
        let x = problem(&p[0]);
        assert_eq!(x.code, "url_scheme_typo", "{p:?}");
        assert_eq!(x.params["suggest"], "rtsp");
        c.cameras[0].url = "rtsp://admin:pw@10.0.0.5/1".into();
        assert_eq!(codes_of(&c)[0].0, "url_credentials");
        c.cameras[0].url = "rtsp:///1".into();
        assert!(
            ["url_no_host", "url_invalid"].contains(&codes_of(&c)[0].0),
            "{:?}",
            codes_of(&c)
        );
        let mut c = base();
        c.cameras[0].id = "bad id".into();
        assert_eq!(codes_of(&c)[0].0, "camera_id_invalid");
        let mut c = base();
        c.cameras.push(c.cameras[0].clone());
        assert!(codes_of(&c).iter().any(|x| x.0 == "camera_id_duplicate"));
        let mut c = base();
        c.device.timezone = "Mars/Base".into();
        c.device.division_code = Some("12".into());
        c.device.id = "bad box".into();
        let got: Vec<_> = codes_of(&c).into_iter().map(|x| x.0).collect();
        for want in ["timezone_unknown", "division_invalid", "device_id_invalid"] {
            assert!(got.contains(&want), "{want} in {got:?}");
        }
    }

    #[test]
    fn zone_problems_have_codes_with_their_numbers() {
        let zone = |toml: &str| {
            let text = format!(
                "[device]\nid = \"box\"\n[[cameras]]\nid = \"a\"\nurl = \"rtsp://h/1\"\n\
                 [[cameras.zones]]\nid = \"z\"\n{toml}\n"
            );
            let c = config::parse_unvalidated(&text, std::path::Path::new("t")).unwrap();
            config::validate(&c)
        };
        let p = zone("polygon = [[0.1, 0.1], [0.2, 0.2]]");
        let x = problem(&p[0]);
        assert_eq!(
            (x.code, x.params["n"].clone()),
            ("zone_too_few_points", json!(2))
        );
        let p = zone(
            "polygon = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]]\nrules = [{ type = \"no_parking\", dwell_s = -1 }]",
        );
        let x = problem(&p[0]);
        assert_eq!(x.code, "rule_seconds", "{p:?}");
        assert_eq!(x.params["field"], "dwell_s");
        let p =
            zone("polygon = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]]\nfilter = { min_score = 2.0 }");
        let x = problem(&p[0]);
        assert_eq!(
            (x.code, x.params["field"].clone()),
            ("filter_field", json!("min_score"))
        );
        assert_eq!(p[0].path, "cameras[0].zones[0].filter.min_score");
        let p = zone("polygon = [[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]]");
        assert_eq!(problem(&p[0]).code, "zone_self_intersecting");
        let p = zone("polygon = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]]\ngrid_code = \"12\"");
        assert_eq!(problem(&p[0]).code, "zone_grid_code");
    }

    #[test]
    fn substream_pairing_and_rule_code_problems_have_codes_with_their_values() {
        let at = |r: Result<(), (String, String)>| {
            let (m, h) = r.unwrap_err();
            problem(&Problem::new("analysis_url", m, h))
        };
        let url = "rtsp://10.0.0.5/main";
        let same = at(config::check_analysis_url(url, url));
        assert_eq!(same.code, "analysis_same_url");
        let other = at(config::check_analysis_url(url, "rtsp://10.0.0.9/sub"));
        assert_eq!(other.code, "analysis_other_host");
        let mixed = at(config::check_analysis_url(url, "file:///tmp/sub.mp4"));
        assert_eq!(mixed.code, "analysis_mixed");
        let mut c: config::Config =
            toml::from_str("[device]\nid = \"b\"\n[[cameras]]\nid = \"c\"\nurl = \"rtsp://10.0.0.5/x\"\n[cameras.analysis]\nfps = \"auto\"\nkeyframes_only = true\n").unwrap();
        c.device.state_dir = std::env::temp_dir();
        let auto = config::validate(&c)
            .into_iter()
            .find(|p| p.path == "cameras[0].analysis.keyframes_only")
            .expect("auto with keyframes_only is refused");
        assert_eq!(problem(&auto).code, "analysis_auto_keyframes");
        use crate::ingest::pairing::{StreamSize, check};
        let pairing = |main, sub| {
            let e = check(main, sub).unwrap_err();
            problem(&Problem::new("analysis_url", e.to_string(), ""))
        };
        let x = pairing(StreamSize::new(1920, 1080), StreamSize::new(640, 480));
        assert_eq!(x.code, "pairing_aspect");
        assert_eq!(
            (&x.params["sub"], &x.params["main"]),
            (&json!("640x480"), &json!("1920x1080"))
        );
        let x = pairing(StreamSize::new(640, 360), StreamSize::new(1920, 1080));
        assert_eq!(x.code, "pairing_larger");
        assert_eq!(
            (&x.params["sub"], &x.params["main"]),
            (&json!("1920x1080"), &json!("640x360"))
        );
        let c = config::parse_unvalidated(
            "[device]\nid = \"box\"\n[[cameras]]\nid = \"a\"\nurl = \"rtsp://h/1\"\n\
             [[cameras.zones]]\nid = \"z\"\npolygon = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]]\n\
             rules = [{ type = \"dwell\", kind = \"street_vending\", categories = [\"object.umbrella\"] }]\n",
            std::path::Path::new("t"),
        )
        .unwrap();
        let p = config::validate(&c);
        let x = problem(&p[0]);
        assert_eq!(x.code, "rule_kind_no_code", "{p:?}");
        assert_eq!(x.params["kind"], "street_vending");
        assert_eq!(x.params["taxonomy"], "GB/T 47678.5-2026");
    }

    #[test]
    fn uplink_and_password_problems_have_codes() {
        let mut c = base();
        c.uplink.broker = "mqtts://broker.example:8883".into();
        assert!(
            codes_of(&c).iter().any(|x| x.0 == "broker_needs_ca"),
            "{:?}",
            codes_of(&c)
        );
        c.uplink.broker = "mqtt://u:p@broker.example".into();
        assert!(codes_of(&c).iter().any(|x| x.0 == "url_credentials"));
        let (m, h) = crate::web::auth::check_password("short").unwrap_err();
        let x = problem(&Problem::new("password", m, h));
        assert_eq!(x.code, "password_short");
        assert_eq!(
            (x.params["n"].clone(), x.params["min"].clone()),
            (json!(5), json!(10))
        );
    }

    #[test]
    fn http_sink_problems_have_codes() {
        use crate::uplink::HttpConfig;
        let codes = |f: &dyn Fn(&mut HttpConfig)| {
            let mut c = base();
            let mut h = HttpConfig::new("https://platform.example/events");
            f(&mut h);
            c.uplink.http = Some(h);
            codes_of(&c)
        };
        let one = |f: &dyn Fn(&mut HttpConfig)| codes(f).first().map(|x| x.0);
        assert_eq!(codes(&|_| {}), vec![]);
        assert_eq!(one(&|h| h.url = "ftp://x/e".into()), Some("http_url"));
        assert_eq!(one(&|h| h.url = "not a url".into()), Some("http_url"));
        assert_eq!(
            one(&|h| h.url = "https://u:p@x/e".into()),
            Some("url_credentials")
        );
        assert_eq!(
            one(&|h| {
                h.media_url = Some("https://x/m".into());
                h.media_put_template = Some("https://x/m/{name}".into());
            }),
            Some("http_media_both")
        );
        assert_eq!(
            one(&|h| h.media_put_template = Some("https://x/m".into())),
            Some("http_put_template")
        );
        assert_eq!(
            one(&|h| h.hmac_secret = Some("a\u{7}b".into())),
            Some("secret_invalid")
        );
        assert_eq!(one(&|h| h.timeout_s = 0), Some("out_of_range"));
        assert_eq!(
            codes(&|h| h.url = "ftp://x/e".into())[0].1,
            "uplink.http.url"
        );
    }

    #[test]
    fn uplink_errors_are_classified() {
        assert_eq!(
            uplink_error("no broker configured (uplink.broker)"),
            "no_broker"
        );
        assert_eq!(
            uplink_error("connection refused: nothing listens at 127.0.0.1:1883"),
            "connection_refused"
        );
        assert_eq!(uplink_error("TLS handshake failed: unknown issuer"), "tls");
        assert_eq!(uplink_error("something odd"), "error");
    }

    #[test]
    fn unknown_wording_falls_back_to_invalid() {
        assert_eq!(
            problem(&Problem::new("x", "whatever happened", "")).code,
            "invalid"
        );
    }
}
