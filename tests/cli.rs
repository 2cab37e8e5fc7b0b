//! The technician-facing commands: `check-config` and `probe`.

mod support;

use std::process::Command;
use support::*;

fn check_config(text: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("streetwatch.toml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(bin())
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

const GOOD: &str = r#"
[device]
id = "box-1"

[[cameras]]
id = "gate"
url = "rtsp://10.0.0.5/stream1"

[[cameras]]
id = "lane"
url = "rtsp://10.0.0.6/stream1"
"#;

#[test]
fn check_config_accepts_a_good_file() {
    let (code, text) = check_config(GOOD);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("OK"));
}

/// `analysis.fps`: `"auto"` resolves from the rules, an explicit rate below a rule's
/// need is a warning naming the key path and the rule (the file still runs as written),
/// and `"auto"` with `keyframes_only` is refused.
#[test]
fn check_config_reports_the_resolved_analysis_rate_and_warns_of_a_rate_below_a_rule() {
    let zones = r#"
[[cameras.zones]]
id = "bay"
polygon = [[0.0, 0.0], [0.5, 0.0], [0.5, 0.5]]
rules = [{ type = "no_parking" }]
[[cameras.zones]]
id = "corner"
polygon = [[0.5, 0.5], [1.0, 0.5], [1.0, 1.0]]
rules = [{ type = "litter_watch" }]
"#;
    let camera = |analysis: &str, zones: &str| {
        format!(
            "[device]\nid = \"box-1\"\n[[cameras]]\nid = \"gate\"\nurl = \"rtsp://10.0.0.5/s\"\n[cameras.analysis]\n{analysis}\n{zones}"
        )
    };
    let parking_only = zones.split("[[cameras.zones]]").nth(1).unwrap();
    let (code, text) = check_config(&camera(
        "fps = \"auto\"",
        &format!("[[cameras.zones]]{parking_only}"),
    ));
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("cameras[0].analysis: auto: keyframes only (at most 2 s apart, else 1 fps), for no_parking at zones[0].rules[0]"),
        "{text}"
    );
    let (code, text) = check_config(&camera("fps = \"auto\"", zones));
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("cameras[0].analysis: auto: 5 fps, for litter_watch at zones[1].rules[0]"),
        "{text}"
    );
    let (code, text) = check_config(&camera("fps = 2", zones));
    assert_eq!(code, 0, "a warning, not a refusal: {text}");
    assert!(
        text.contains("warning: cameras[0].analysis.fps: 2 frames per second is below what rule cameras[0].zones[1].rules[0] (litter_watch) needs (5 per second); set fps = \"auto\" or at least 5"),
        "{text}"
    );
    assert!(
        !text.contains("no_parking) needs"),
        "2 fps serves parking: {text}"
    );
    let (code, text) = check_config(&camera("keyframes_only = true", zones));
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("warning: cameras[0].analysis.keyframes_only: keyframes only cannot serve rule cameras[0].zones[1].rules[0] (litter_watch)"),
        "{text}"
    );
    let (code, text) = check_config(&camera("fps = \"auto\"\nkeyframes_only = true", zones));
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("cameras[0].analysis.keyframes_only: keyframes_only cannot be combined with fps = \"auto\""),
        "{text}"
    );
    let (code, text) = check_config(&camera("fps = \"fast\"", ""));
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("cameras[0].analysis.fps"), "{text}");
}

#[test]
fn check_config_rejects_broken_files_naming_the_key_path() {
    let cases = [
        (
            "unknown key",
            GOOD.replace("id = \"lane\"", "id = \"lane\"\ncolour = \"red\""),
            "cameras[1]",
        ),
        (
            "bad type",
            GOOD.replace("id = \"lane\"", "id = \"lane\"\nlatency_ms = \"fast\""),
            "cameras[1].latency_ms",
        ),
        (
            "bad scheme",
            GOOD.replace("rtsp://10.0.0.6", "rstp://10.0.0.6"),
            "cameras[1].url",
        ),
        (
            "duplicate id",
            GOOD.replace("\"lane\"", "\"gate\""),
            "cameras[1].id",
        ),
        (
            "bad section",
            GOOD.replace(
                "[device]\nid = \"box-1\"",
                "[device]\nid = \"box-1\"\ntimezone = \"Mars/Olympus\"",
            ),
            "device.timezone",
        ),
    ];
    for (what, text, path) in cases {
        let (code, out) = check_config(&text);
        assert_ne!(code, 0, "{what}: should fail");
        assert!(
            out.contains(path),
            "{what}: message should name {path}: {out}"
        );
    }
    let (code, out) = check_config(&GOOD.replace("rtsp://10.0.0.6", "rstp://10.0.0.6"));
    assert_ne!(code, 0);
    assert!(out.contains("did you mean \"rtsp\""), "{out}");
}

#[test]
fn check_config_refuses_a_bad_uplink_section_naming_the_key_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let real = rcgen::generate_simple_self_signed(vec!["broker.example".to_string()]).unwrap();
    std::fs::write(&ca, real.cert.pem()).unwrap();
    let fake = dir.path().join("fake.pem");
    std::fs::write(
        &fake,
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let good = format!(
        "{GOOD}\n[uplink]\nbroker = \"mqtts://broker.example\"\nusername = \"box-1\"\npassword = \"pw-secret-1\"\n[uplink.tls]\nca_file = \"{}\"\n",
        ca.display()
    );
    let (code, out) = check_config(&good);
    assert_eq!(code, 0, "{out}");
    let missing = dir.path().join("nope.pem").display().to_string();
    let cases = [
        (
            "scheme",
            good.replace("mqtts://broker.example", "https://broker.example"),
            "uplink.broker",
            "mqtts://",
        ),
        (
            "port",
            good.replace("mqtts://broker.example", "mqtts://broker.example:70000"),
            "uplink.broker",
            "mqtt://host[:port]",
        ),
        (
            "CA file missing",
            good.replace(&ca.display().to_string(), &missing),
            "uplink.tls.ca_file",
            "cannot read",
        ),
        (
            "a PEM label around bytes that are not a certificate",
            good.replace(&ca.display().to_string(), &fake.display().to_string()),
            "uplink.tls.ca_file",
            "not valid X.509",
        ),
        (
            "mqtts without TLS",
            good.split("[uplink.tls]").next().unwrap().to_string(),
            "uplink.tls.ca_file",
            "ca_file",
        ),
        (
            "client key that is a certificate",
            good.replace(
                "[uplink.tls]\n",
                &format!(
                    "[uplink.tls]\nclient_cert = \"{0}\"\nclient_key = \"{0}\"\n",
                    ca.display()
                ),
            ),
            "uplink.tls.client_key",
            "holds no PEM private key",
        ),
        (
            "password without username",
            good.replace("username = \"box-1\"\n", ""),
            "uplink.password",
            "uplink.username",
        ),
        (
            "topic wildcard",
            good.replace(
                "[uplink.tls]",
                "topic_prefix = \"city/+/box\"\n[uplink.tls]",
            ),
            "uplink.topic_prefix",
            "wildcard",
        ),
        (
            "keepalive",
            good.replace("[uplink.tls]", "keepalive_s = 0\n[uplink.tls]"),
            "uplink.keepalive_s",
            "use 5 to 3600",
        ),
        (
            "disk cap",
            good.replace("[uplink.tls]", "disk_cap_mb = 2\n[uplink.tls]"),
            "uplink.disk_cap_mb",
            "at least 16",
        ),
    ];
    for (what, text, path, fix) in cases {
        let (code, out) = check_config(&text);
        assert_eq!(code, 2, "{what}: should be refused: {out}");
        assert!(
            out.contains(&format!("{path}:")) && out.contains(fix),
            "{what}: should name {path} and say \"{fix}\": {out}"
        );
        assert!(
            !out.contains("pw-secret-1"),
            "{what}: password echoed: {out}"
        );
    }
}

#[test]
fn check_config_on_a_missing_file_fails_clearly() {
    let out = Command::new(bin())
        .args(["check-config", "/nonexistent/streetwatch.toml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent/streetwatch.toml") && err.contains("cannot read"),
        "{err}"
    );
}

fn probe(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(bin())
        .arg("probe")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn probe_reports_stream_facts_and_exact_failures() {
    let sim = CamSim::start(
        free_port(),
        &[("/car", media("car-detection.mp4").display().to_string())],
        Some(("admin", "s3cret-pw")),
    );
    let (ok, out, err) = probe(&[
        "--seconds",
        "11",
        "--user",
        "admin",
        "--password",
        "s3cret-pw",
        &sim.url("/car"),
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("H.264") && out.contains("768x432"), "{out}");
    assert!(out.contains("GOP:         60 frames"), "{out}");
    let (ok, _, err) = probe(&[
        "--seconds",
        "2",
        "--user",
        "admin",
        "--password",
        "wrong-pw",
        &sim.url("/car"),
    ]);
    assert!(!ok);
    assert!(err.contains("unauthorized (401)"), "{err}");
    assert!(
        !err.contains("wrong-pw"),
        "secrets must never be printed: {err}"
    );
    // Credentials given in the URL are used but never echoed.
    let url = sim.url("/car").replace("rtsp://", "rtsp://admin:bad-pw@");
    let (ok, out, err) = probe(&["--seconds", "2", &url]);
    assert!(!ok);
    assert!(!err.contains("bad-pw") && !out.contains("bad-pw"), "{err}");
    let (ok, _, err) = probe(&[
        "--seconds",
        "2",
        "--user",
        "admin",
        "--password",
        "s3cret-pw",
        &sim.url("/missing"),
    ]);
    assert!(!ok);
    assert!(err.contains("not found (404)"), "{err}");
    let (ok, _, err) = probe(&[
        "--seconds",
        "2",
        &format!("rtsp://127.0.0.1:{}/x", free_port()),
    ]);
    assert!(!ok);
    assert!(err.contains("connection refused"), "{err}");
    let (ok, _, err) = probe(&["rstp://10.0.0.1/x"]);
    assert!(!ok);
    assert!(err.contains("did you mean \"rtsp\""), "{err}");
}

#[test]
fn shipped_example_and_default_configs_pass_check_config() {
    for f in [
        "config/example.toml",
        "config/demo.toml",
        "config/streetwatch.toml",
    ] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(f);
        let out = Command::new(bin())
            .arg("check-config")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{f}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
