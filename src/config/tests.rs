use super::*;

fn parse_str(s: &str) -> Result<Config, ConfigError> {
    parse(s, Path::new("test.toml"))
}

fn problems(s: &str) -> Vec<Problem> {
    parse_str(s)
        .expect_err("config should be rejected")
        .problems()
}

const GOOD: &str = r#"
[device]
id = "box-1"
division_code = "440802"

[[cameras]]
id = "gate"
url = "rtsp://10.0.0.5:554/stream1"
username = "admin"
password = "pw"
"#;

#[test]
fn a_minimal_config_parses_with_defaults() {
    let c = parse_str(GOOD).unwrap();
    assert_eq!(c.cameras[0].preroll.seconds, 20.0);
    assert_eq!(c.cameras[0].transport, Transport::Tcp);
    assert_eq!(c.device.timezone, "Asia/Shanghai");
}

#[test]
fn unknown_key_names_its_path() {
    let p = problems(&format!("{GOOD}\nfoo = 1\n"));
    assert!(p[0].path.contains("cameras[0]"), "{p:?}");
    assert!(p[0].message.contains("unknown field"), "{p:?}");
}

#[test]
fn misspelt_scheme_suggests_rtsp() {
    let p = problems(&GOOD.replace("rtsp://10", "rstp://10"));
    assert_eq!(p[0].path, "cameras[0].url");
    assert!(
        p[0].to_string().contains("did you mean \"rtsp\""),
        "{}",
        p[0]
    );
}

#[test]
fn credentials_in_url_are_refused_without_echoing_them() {
    let p = problems(&GOOD.replace("rtsp://10", "rtsp://admin:hunter2@10"));
    assert_eq!(p[0].path, "cameras[0].url");
    assert!(!p[0].to_string().contains("hunter2"));
}

#[test]
fn duplicate_camera_ids_are_refused() {
    let twice = format!("{GOOD}\n[[cameras]]\nid = \"gate\"\nurl = \"rtsp://h/x\"\n");
    let p = problems(&twice);
    assert_eq!(p[0].path, "cameras[1].id");
}

#[test]
fn bad_type_names_its_path() {
    let p = problems(&format!("{GOOD}latency_ms = \"fast\"\n"));
    assert_eq!(p[0].path, "cameras[0].latency_ms");
}

#[test]
fn save_is_atomic_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    let c = parse_str(GOOD).unwrap();
    save(&c, &path).unwrap();
    assert_eq!(load(&path).unwrap(), c);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the config holds passwords");
    let mut bad = c.clone();
    bad.cameras[0].url = "http://x".into();
    assert!(save(&bad, &path).is_err());
    assert_eq!(
        load(&path).unwrap(),
        c,
        "an invalid config must not replace the good one"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temp files left behind");
}

#[test]
fn provider_options_must_name_a_listed_known_provider() {
    let with = |body: &str| format!("{GOOD}\n[inference]\n{body}\n");
    let ok = parse_str(&with(
        "execution_providers = [\"cuda\", \"cpu\"]\n[inference.provider_options.cuda]\ndevice_id = 1\narena_extend_strategy = \"kSameAsRequested\"",
    ))
    .unwrap();
    let strings = ok.inference.provider_option_strings();
    assert_eq!(strings["cuda"]["device_id"], "1");

    let p = problems(&with(
        "execution_providers = [\"cpu\"]\n[inference.provider_options.cuda]\ndevice_id = 1",
    ));
    assert_eq!(p[0].path, "inference.provider_options.cuda");
    assert!(
        p[0].to_string()
            .contains("not in inference.execution_providers"),
        "{}",
        p[0]
    );

    let p = problems(&with(
        "execution_providers = [\"cpu\"]\n[inference.provider_options.warpdrive]\nx = 1",
    ));
    assert_eq!(p[0].path, "inference.provider_options.warpdrive");
}

#[test]
fn the_event_queue_depth_is_bounded_and_named() {
    let with = |n: &str| {
        GOOD.replace(
            "[device]",
            &format!("[events]\nqueue_depth = {n}\n\n[device]"),
        )
    };
    assert_eq!(parse_str(&with("3")).unwrap().events.queue_depth(), 3);
    assert_eq!(
        parse_str(GOOD).unwrap().events.queue_depth(),
        crate::rules::engine::DEFAULT_QUEUE_DEPTH
    );
    for bad in ["0", "65537"] {
        let p = problems(&with(bad));
        assert_eq!(p[0].path, "events.queue_depth", "{p:?}");
    }
}

#[test]
fn tampering_checks_need_a_code_row_for_camera_tampering() {
    // Both shipped tables carry the placeholder row; a table without it is refused
    // while the checks are on, accepted once they are off or the row is given.
    assert!(parse_str(GOOD).is_ok());
    let without = GOOD.replace(
        "[device]",
        "[events.categories]\ntable = \"none\"\n\n[device]",
    );
    let p = problems(&without);
    assert_eq!(p[0].path, "cameras[0].tamper.enabled", "{p:?}");
    assert!(p[0].message.contains("camera_tampering"), "{p:?}");
    assert!(parse_str(&format!("{without}\n[cameras.tamper]\nenabled = false\n")).is_ok());
    let with_row = GOOD.replace(
        "[device]",
        "[events.categories]\ntable = \"none\"\n[[events.categories.entries]]\nevent = \"camera_tampering\"\ncode = \"882\"\nname = \"视频设备异常\"\n\n[device]",
    );
    assert!(parse_str(&with_row).is_ok());
    let old = GOOD.replace(
        "[device]",
        "[events.categories]\ntable = \"gbt-30428.2-2013\"\n\n[device]",
    );
    assert!(parse_str(&old).is_ok());
}

#[test]
fn a_substream_on_the_same_camera_is_accepted_and_round_trips() {
    let c = parse_str(&format!(
        "{GOOD}analysis_url = \"rtsp://10.0.0.5:554/stream2\"\n"
    ))
    .unwrap();
    assert_eq!(
        c.cameras[0].analysis_url.as_deref(),
        Some("rtsp://10.0.0.5:554/stream2")
    );
    let text = toml::to_string(&c).unwrap();
    assert!(text.contains("analysis_url"), "{text}");
    // Without it nothing is written: configs without a substream stay as they were.
    assert!(
        !toml::to_string(&parse_str(GOOD).unwrap())
            .unwrap()
            .contains("analysis_url")
    );
}

#[test]
fn a_substream_on_another_host_or_the_same_url_is_refused_with_its_path() {
    let p = problems(&format!(
        "{GOOD}analysis_url = \"rtsp://10.0.0.9:554/stream2\"\n"
    ));
    assert_eq!(p[0].path, "cameras[0].analysis_url", "{p:?}");
    assert!(p[0].message.contains("10.0.0.9"), "{p:?}");
    assert!(p[0].hint.contains("same camera"), "{p:?}");
    let p = problems(&format!(
        "{GOOD}analysis_url = \"rtsp://10.0.0.5:554/stream1\"\n"
    ));
    assert!(p[0].message.contains("same stream"), "{p:?}");
    let p = problems(&format!("{GOOD}analysis_url = \"file:///tmp/sub.mp4\"\n"));
    assert!(p[0].message.contains("mixes"), "{p:?}");
    let p = problems(&format!("{GOOD}analysis_url = \"rtps://10.0.0.5/s2\"\n"));
    assert_eq!(p[0].path, "cameras[0].analysis_url", "{p:?}");
}

#[test]
fn analysis_fps_is_a_number_or_auto_and_survives_a_save() {
    // Left out: 5, as before "auto" existed.
    let c = parse_str(GOOD).unwrap();
    assert_eq!(c.cameras[0].analysis.fps, AnalysisFps::Fixed(5.0));
    for (text, want) in [
        ("fps = \"auto\"", AnalysisFps::Auto),
        ("fps = 2", AnalysisFps::Fixed(2.0)),
        ("fps = 0.5", AnalysisFps::Fixed(0.5)),
    ] {
        let c = parse_str(&format!("{GOOD}[cameras.analysis]\n{text}\n")).unwrap();
        assert_eq!(c.cameras[0].analysis.fps, want, "{text}");
        let again = parse_str(&toml::to_string(&c).unwrap()).unwrap();
        assert_eq!(again, c, "{text}");
    }
    let p = problems(&format!("{GOOD}[cameras.analysis]\nfps = \"fast\"\n"));
    assert_eq!(p[0].path, "cameras[0].analysis.fps", "{p:?}");
    assert!(p[0].message.contains("\"auto\""), "{p:?}");
    let p = problems(&format!(
        "{GOOD}[cameras.analysis]\nfps = \"auto\"\nkeyframes_only = true\n"
    ));
    assert_eq!(p[0].path, "cameras[0].analysis.keyframes_only", "{p:?}");
}
