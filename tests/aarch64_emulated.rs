//! The aarch64 build, run under qemu user-mode emulation, against the x86 build on the
//! same inputs (issue 17): the same version, the same verdicts on the shipped configs,
//! the same detections on a sample frame, the same events from a parking scenario, and
//! the same stream facts from its RTSP server and probe.
//!
//! The aarch64 binary exists only after the cross build, so a plain `cargo test` leaves
//! this file out (`test = false` in Cargo.toml); scripts/checks/aarch64.sh builds the
//! binary and runs it: `STREETWATCH_AARCH64_BIN=... cargo test --test aarch64_emulated`.
//! Inputs are small on purpose (one frame; a 16 s scenario at 1 fps analysed every 2 s):
//! one YOLOX-nano inference takes ~8 s of CPU under emulation.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::*;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The cross-built binary named by STREETWATCH_AARCH64_BIN (set by the check script).
fn arm_bin() -> PathBuf {
    let p = PathBuf::from(std::env::var_os("STREETWATCH_AARCH64_BIN").expect(
        "STREETWATCH_AARCH64_BIN is not set: these tests compare the aarch64 build with the \
         x86 one; run scripts/checks/aarch64.sh, which cross-builds it and sets the variable",
    ));
    assert!(
        p.is_file(),
        "{} does not exist: run scripts/cross-aarch64.sh",
        p.display()
    );
    // ELF e_machine (offset 18, little endian) 183 = EM_AARCH64: an x86 binary here would
    // make every comparison below trivially equal.
    let head = std::fs::read(&p).unwrap();
    assert_eq!(&head[..4], b"\x7fELF", "{} is not an ELF file", p.display());
    assert_eq!(
        u16::from_le_bytes([head[18], head[19]]),
        183,
        "{} is not an AArch64 executable",
        p.display()
    );
    p
}

/// `streetwatch ARGS` of the aarch64 build under qemu (scripts/aarch64/qemu.sh sets the
/// sysroot, the aarch64 ONNX Runtime library and GStreamer's registry).
fn arm() -> Command {
    let mut c = Command::new(root().join("scripts/aarch64/qemu.sh"));
    c.arg(arm_bin());
    c
}

fn x86() -> Command {
    Command::new(bin())
}

fn run(mut c: Command, args: &[&str]) -> Output {
    let out = c
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {c:?}: {e}"));
    out
}

fn stdout_ok(c: Command, args: &[&str]) -> String {
    let desc = format!("{c:?} {args:?}");
    let out = run(c, args);
    assert!(
        out.status.success(),
        "{desc} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn version_and_the_shipped_configs_give_the_same_answers() {
    let v_arm = stdout_ok(arm(), &["--version"]);
    let v_x86 = stdout_ok(x86(), &["--version"]);
    assert_eq!(v_arm, v_x86);
    assert!(v_arm.starts_with("streetwatch "), "{v_arm}");

    let mut configs: Vec<PathBuf> = std::fs::read_dir(root().join("config"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    configs.sort();
    assert!(configs.len() >= 3, "shipped configs: {configs:?}");
    for cfg in &configs {
        let path = cfg.to_str().unwrap();
        let a = run(arm(), &["check-config", path]);
        let x = run(x86(), &["check-config", path]);
        assert_eq!(a.status.code(), x.status.code(), "exit code for {path}");
        assert_eq!(
            String::from_utf8_lossy(&a.stdout),
            String::from_utf8_lossy(&x.stdout),
            "stdout for {path}"
        );
        assert_eq!(
            String::from_utf8_lossy(&a.stderr),
            String::from_utf8_lossy(&x.stderr),
            "stderr for {path}"
        );
        assert!(
            x.status.success(),
            "{path} is a shipped config: it must pass"
        );
    }
}

/// One detection as `detect --json` prints it.
#[derive(Debug)]
struct Det {
    class: String,
    score: f64,
    b: [f64; 4],
}

fn detections(json: &str) -> Vec<Det> {
    let line: Value = serde_json::from_str(json.lines().next().expect("no JSON line")).unwrap();
    line["detections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| Det {
            class: d["class_name"].as_str().unwrap().to_string(),
            score: d["score"].as_f64().unwrap(),
            b: ["x1", "y1", "x2", "y2"].map(|k| d["bbox"][k].as_f64().unwrap()),
        })
        .collect()
}

fn iou(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let area = |r: &[f64; 4]| (r[2] - r[0]) * (r[3] - r[1]);
    inter / (area(a) + area(b) - inter)
}

#[test]
fn detect_on_a_sample_frame_finds_the_same_boxes_and_scores() {
    // The last frame of the car-park GIF: a parked car, people, a bicycle.
    let dir = tempfile::tempdir().unwrap();
    let (w, h, frames) =
        streetwatch::camsim::scenario::decode_frames(&media("person-bicycle-car-detection.gif"))
            .unwrap();
    let frame = dir.path().join("frame.png");
    image::RgbImage::from_raw(w, h, frames.last().unwrap().0.clone())
        .unwrap()
        .save(&frame)
        .unwrap();
    let frame = frame.to_str().unwrap();
    let cfg = replay_config(dir.path(), "detect", "", "models = [\"yolox-nano\"]", "");
    let cfg = cfg.to_str().unwrap();
    let args = ["detect", "--json", "--config", cfg, frame];
    let x = detections(&stdout_ok(x86(), &args));
    let a = detections(&stdout_ok(arm(), &args));
    assert!(
        x.len() >= 2,
        "the sample frame should give several detections: {x:?}"
    );
    assert_eq!(a.len(), x.len(), "x86: {x:#?}\naarch64: {a:#?}");
    for d in &x {
        let best = a
            .iter()
            .filter(|o| o.class == d.class)
            .max_by(|p, q| iou(&p.b, &d.b).total_cmp(&iou(&q.b, &d.b)))
            .unwrap_or_else(|| panic!("no {} on aarch64: {a:#?}", d.class));
        let overlap = iou(&best.b, &d.b);
        assert!(
            overlap >= 0.99,
            "{} box IoU {overlap}: x86 {d:?} aarch64 {best:?}",
            d.class
        );
        assert!(
            (best.score - d.score).abs() <= 0.01,
            "{} score: x86 {d:?} aarch64 {best:?}",
            d.class
        );
    }
}

/// An event without what differs between two runs by design: the random event id and the
/// evidence file names derived from it, the signature over them, and the clip's
/// container bytes (the muxer stamps the wall-clock creation time), and the pictures'
/// bytes: the same H.264 decodes to the same pixels on both architectures, but the
/// caption strip's anti-aliased glyphs (ab_glyph, float coverage) differ in the last
/// bits of a few edge pixels, so the JPEG does too. Their kind, size in pixels and
/// caption lines are still compared.
fn comparable(e: &Value) -> Value {
    let mut e = e.clone();
    let obj = e.as_object_mut().unwrap();
    let id = obj
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    for k in ["id", "signature"] {
        obj.remove(k);
    }
    if let Some(media) = obj.get_mut("media").and_then(Value::as_array_mut) {
        for m in media {
            let m = m.as_object_mut().unwrap();
            m.remove("name");
            m.remove("sha256");
            m.remove("bytes");
            // The caption names the event by its (random) id.
            if let Some(lines) = m.get_mut("caption").and_then(Value::as_array_mut) {
                for l in lines {
                    if let Some(t) = l.as_str().filter(|t| !id.is_empty() && t.contains(&id)) {
                        *l = Value::String(t.replace(&id, "<id>"));
                    }
                }
            }
        }
    }
    e
}

/// `a` and `b` are the same JSON, floats (scores, boxes) within 1e-3 relative: the two
/// architectures' float kernels may round differently in the last bits.
fn same_json(a: &Value, b: &Value, path: &str) -> Result<(), String> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            if (x - y).abs() <= 1e-3 * x.abs().max(y.abs()).max(1.0) {
                Ok(())
            } else {
                Err(format!("{path}: aarch64 {x}, x86 {y}"))
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Err(format!(
                    "{path}: {} items on aarch64, {} on x86",
                    x.len(),
                    y.len()
                ));
            }
            x.iter()
                .zip(y)
                .enumerate()
                .try_for_each(|(i, (x, y))| same_json(x, y, &format!("{path}[{i}]")))
        }
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter()
                .try_for_each(|k| match (x.get(k), y.get(k)) {
                    (Some(x), Some(y)) => same_json(x, y, &format!("{path}.{k}")),
                    _ => Err(format!("{path}.{k}: present on one side only")),
                })
        }
        _ if a == b => Ok(()),
        _ => Err(format!("{path}: aarch64 {a}, x86 {b}")),
    }
}

fn replay_with(c: Command, cfg: &Path, video: &Path, evidence: &Path) -> Vec<Value> {
    let camera = format!("cam={}", video.display());
    let out = stdout_ok(
        c,
        &[
            "replay",
            "--json",
            "--config",
            cfg.to_str().unwrap(),
            "--camera",
            &camera,
            "--evidence-dir",
            evidence.to_str().unwrap(),
        ],
    );
    let events: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_schema_valid(&events);
    events
}

#[test]
fn replay_of_a_short_parking_scenario_gives_the_same_events() {
    use streetwatch::camsim::scenario::{ScenarioSpec, build_scenario};
    // 16 s at 1 fps with a keyframe every 2 s: the car drives into the bay (the GIF's
    // 3.4 s), then stands. Keyframes-only analysis runs the detector every 2 s, 8 times:
    // one inference takes seconds under emulation.
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("parked-1fps.mp4");
    let spec = ScenarioSpec {
        fps: 1,
        hold_s: 12.6,
        gop_frames: 2,
        noise: 2,
        bitrate: 300_000,
    };
    build_scenario(&media("person-bicycle-car-detection.gif"), &video, &spec).unwrap();
    let cfg = replay_config(
        dir.path(),
        "parking",
        "",
        "models = [\"yolox-nano\"]\nkeyframes_only = true\nfps = 1.0",
        // The stall timeout is wall-clock time without a frame: under emulation one
        // inference takes seconds, and replay's blocking queues hold the file source
        // back meanwhile, which the default 10 s would call a dead camera.
        r#"[cameras.supervision]
stall_timeout_s = 600.0

[[cameras.zones]]
id = "bay-1"
name = "禁停区 1"
location = "停车场东侧出口"
polygon = [[0.0, 0.15], [0.35, 0.15], [0.35, 0.6], [0.0, 0.6]]
rules = [{ type = "no_parking", dwell_s = 8 }]"#,
    );
    let x = replay_with(x86(), &cfg, &video, &dir.path().join("evidence-x86"));
    let a = replay_with(arm(), &cfg, &video, &dir.path().join("evidence-arm"));
    assert!(
        x.iter()
            .any(|e| e["kind"] == "illegal_parking" && e["phase"] == "started"),
        "the scenario should give an illegal-parking event on x86: {x:#?}"
    );
    let xs = Value::Array(x.iter().map(comparable).collect());
    let as_ = Value::Array(a.iter().map(comparable).collect());
    if let Err(diff) = same_json(&as_, &xs, "events") {
        panic!("aarch64 events differ from x86, ids aside: {diff}\naarch64: {as_:#}\nx86: {xs:#}");
    }
    // The aarch64 evidence is really there and matches its own sha256.
    for e in &a {
        for m in e["media"].as_array().into_iter().flatten() {
            let path = dir
                .path()
                .join("evidence-arm")
                .join(e["id"].as_str().unwrap())
                .join(m["name"].as_str().unwrap());
            let bytes =
                std::fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
            use sha2::Digest;
            assert_eq!(
                hex::encode(sha2::Sha256::digest(&bytes)),
                m["sha256"].as_str().unwrap(),
                "{}",
                path.display()
            );
        }
    }
}

/// `probe --json` of mount `/cam` served by `server`, probed by `client`.
fn probe_facts(server: Command, client: Command, video: &Path) -> Value {
    let port = free_port();
    let _sim = CamSim::start_with(server, port, &[("/cam", video.display().to_string())], None);
    let url = format!("rtsp://127.0.0.1:{port}/cam");
    let out = stdout_ok(client, &["probe", "--json", "--seconds", "6", &url]);
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("probe printed {out}: {e}"))
}

#[test]
fn serve_rtsp_and_probe_report_the_same_stream_facts() {
    // A 4 fps scenario with a 2 s GOP: GOP and frame rate are facts the probe measures.
    let dir = tempfile::tempdir().unwrap();
    let video = parking_scenario(dir.path(), 10.0);
    let x = probe_facts(x86(), x86(), &video);
    let mut server = Command::new(root().join("scripts/aarch64/qemu.sh"));
    server.arg(arm_bin());
    let a = probe_facts(server, arm(), &video);
    for k in ["codec", "width", "height", "declared_fps", "gop_frames"] {
        assert_eq!(a[k], x[k], "{k}: aarch64 {a} x86 {x}");
    }
    assert!(
        !x["gop_frames"].is_null(),
        "the probe saw two keyframes: {x}"
    );
    let close = |k: &str, tol: f64| {
        let (av, xv) = (a[k].as_f64().unwrap(), x[k].as_f64().unwrap());
        assert!(
            (av - xv).abs() <= tol * xv,
            "{k}: aarch64 {av} x86 {xv} (tolerance {tol})"
        );
    };
    // Measured over a few seconds of real time: the emulated server paces the same file.
    close("fps", 0.15);
    close("gop_seconds", 0.15);
    close("bitrate_kbps", 0.35);
}

/// The `platform:` line the daemon logs at start (issue 17: a bring-up log names the
/// decoder and the execution providers), with the process's own prefix cut off.
fn platform_line(d: &support::daemon::RunningDaemon) -> String {
    d.wait_log(180, "the daemon's platform line", |l| {
        l.contains("platform: decoder and execution providers chosen")
    });
    let log = d.log();
    let line = log
        .lines()
        .find(|l| l.contains("platform: decoder and execution providers chosen"))
        .unwrap();
    line[line.find("platform:").unwrap()..].to_string()
}

#[test]
fn the_daemon_logs_the_same_decoder_and_providers_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let video = parking_scenario(dir.path(), 5.0);
    let config = format!(
        r#"[device]
id = "bringup-box"
division_code = "440802"

[inference]
models_dir = "{models}"
weights_dir = "{weights}"

[[cameras]]
id = "cam"
name = "Bring-up camera"
url = "file://{video}"
[cameras.analysis]
models = ["yolox-nano"]
fps = 1.0
"#,
        models = root().join("models").display(),
        weights = weights_dir().display(),
        video = video.display(),
    );
    let lines: Vec<String> = [("x86", x86()), ("aarch64", arm())]
        .into_iter()
        .map(|(name, cmd)| {
            let d_dir = dir.path().join(name);
            std::fs::create_dir_all(&d_dir).unwrap();
            let cfg = d_dir.join("streetwatch.toml");
            std::fs::write(
                &cfg,
                support::daemon::with_state_dir(&config, &d_dir.join("state")),
            )
            .unwrap();
            let d = support::daemon::RunningDaemon::spawn_with(
                cmd,
                &cfg,
                &d_dir.join("log"),
                Some("info"),
                &[],
            );
            platform_line(&d)
        })
        .collect();
    assert!(
        lines[0].contains("decoder_h264=") && lines[0].contains("providers=yolox-nano=cpu"),
        "{}",
        lines[0]
    );
    assert_eq!(lines[1], lines[0], "aarch64 (left) and x86 (right) choices");
}
