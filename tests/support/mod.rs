//! Shared helpers for integration tests: asset paths and real simulated cameras
//! (the project's own `streetwatch serve-rtsp`, a gst-rtsp-server on 127.0.0.1).
#![allow(dead_code)]

pub mod broker;
pub mod daemon;
pub mod dome;
pub mod fault;
pub mod http_script;
pub mod mqtt;
pub mod onvif;
pub mod skip;

pub use skip::skip;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_streetwatch")
}

fn assets() -> PathBuf {
    std::env::var_os("STREETWATCH_ASSETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".deps"))
}

/// A sample video from the assets that `make setup` provides.
pub fn media(name: &str) -> PathBuf {
    let p = assets().join("media").join(name);
    assert!(
        p.is_file(),
        "{} is missing: run `make setup` (it copies the sample media into .deps/media)",
        p.display()
    );
    p
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A simulated RTSP camera server in its own process, so a test can SIGKILL it.
pub struct CamSim {
    child: Child,
    pub port: u16,
}

impl CamSim {
    /// Serve `mounts` (`("/cam", path)`) on `port`, optionally with credentials.
    pub fn start(port: u16, mounts: &[(&str, String)], creds: Option<(&str, &str)>) -> CamSim {
        Self::start_with(Command::new(bin()), port, mounts, creds)
    }

    /// The same with another `streetwatch` command line (e.g. the aarch64 build under
    /// qemu: `Command::new("scripts/aarch64/qemu.sh").arg(binary)`).
    pub fn start_with(
        cmd: Command,
        port: u16,
        mounts: &[(&str, String)],
        creds: Option<(&str, &str)>,
    ) -> CamSim {
        Self::start_args(cmd, port, mounts, creds, &[])
    }

    /// As [`CamSim::start`], looping on the system's monotonic clock (`--clock-aligned`):
    /// two of these serving frames of one scene show the same picture at the same
    /// instant, like a camera's main stream and substream.
    pub fn start_aligned(port: u16, mounts: &[(&str, String)]) -> CamSim {
        Self::start_args(
            Command::new(bin()),
            port,
            mounts,
            None,
            &["--clock-aligned"],
        )
    }

    /// As [`CamSim::start_aligned`], with laps starting at `epoch_ns` of the monotonic
    /// clock plus whole laps (`--clock-epoch-ns`).
    pub fn start_aligned_at(port: u16, mounts: &[(&str, String)], epoch_ns: u64) -> CamSim {
        let epoch = epoch_ns.to_string();
        Self::start_args(
            Command::new(bin()),
            port,
            mounts,
            None,
            &["--clock-aligned", "--clock-epoch-ns", &epoch],
        )
    }

    pub fn start_args(
        mut cmd: Command,
        port: u16,
        mounts: &[(&str, String)],
        creds: Option<(&str, &str)>,
        extra: &[&str],
    ) -> CamSim {
        cmd.args(["serve-rtsp", "--port", &port.to_string()]);
        cmd.args(extra);
        for (m, src) in mounts {
            cmd.arg("--mount").arg(format!("{m}={src}"));
        }
        if let Some((u, p)) = creds {
            cmd.args(["--user", u, "--password", p]);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start serve-rtsp");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::sync_channel(mounts.len());
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("serving ") && tx.send(line).is_err() {
                    break;
                }
            }
        });
        for _ in mounts {
            rx.recv_timeout(Duration::from_secs(30))
                .expect("serve-rtsp did not start");
        }
        CamSim { child, port }
    }

    pub fn url(&self, mount: &str) -> String {
        format!("rtsp://127.0.0.1:{}{}", self.port, mount)
    }

    /// SIGKILL, like a camera losing power.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for CamSim {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Poll `f` every 50 ms until it returns Some or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Where `make setup` puts the model weights (`.deps/models`).
pub fn weights_dir() -> PathBuf {
    assets().join("models")
}

/// A replay config: one camera `cam` (`analysis` is the body of its
/// `[cameras.analysis]`, `zones` its `[[cameras.zones]]` blocks), state under
/// `dir/state`; `extra` is TOML placed before the camera (e.g. `[events.litter]`).
pub fn replay_config(
    dir: &std::path::Path,
    name: &str,
    extra: &str,
    analysis: &str,
    zones: &str,
) -> PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = format!(
        r#"[device]
id = "scenario-box"
division_code = "440802"
state_dir = "{state}"

[inference]
models_dir = "{models}"
weights_dir = "{weights}"

{extra}

[[cameras]]
id = "cam"
name = "Scenario camera"
url = "file:///dev/null"
[cameras.analysis]
{analysis}

{zones}
"#,
        state = dir.join("state").display(),
        models = root.join("models").display(),
        weights = weights_dir().display(),
    );
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(&p, text).unwrap();
    p
}

/// The parking scenario most tests share: the car-park GIF (a real car drives into a
/// bay and stops), then its last frame held `hold_s` seconds with light sensor noise,
/// H.264 at 4 fps with a 2 s GOP, written to `dir/parked.mp4` at test time.
pub fn parking_scenario(dir: &std::path::Path, hold_s: f64) -> PathBuf {
    parking_scenario_at(dir, hold_s, 4)
}

/// [`parking_scenario`] at `fps` frames a second, still with a 2 s GOP.
pub fn parking_scenario_at(dir: &std::path::Path, hold_s: f64, fps: u32) -> PathBuf {
    use streetwatch::camsim::scenario::{ScenarioSpec, build_scenario};
    let video = dir.join("parked.mp4");
    let spec = ScenarioSpec {
        fps,
        hold_s,
        gop_frames: 2 * fps,
        noise: 2,
        bitrate: 400_000,
    };
    build_scenario(&media("person-bicycle-car-detection.gif"), &video, &spec).unwrap();
    video
}

/// The parking scenario of [`parking_scenario`] re-encoded the way many IP cameras
/// send H.264: x264 with `tune=zerolatency` (sliced threads: several slices a picture,
/// no B-frames) and a keyframe every 8 frames (2 s at 4 fps), written to
/// `dir/parked-x264.mp4` at test time with GStreamer.
pub fn x264_zerolatency_scenario(dir: &std::path::Path, hold_s: f64) -> PathBuf {
    let source = parking_scenario(dir, hold_s);
    let out = dir.join("parked-x264.mp4");
    streetwatch::gst_init();
    assert!(
        gstreamer::ElementFactory::find("x264enc").is_some(),
        "GStreamer element x264enc is missing: install gstreamer1.0-plugins-ugly (make setup)"
    );
    run_to_eos(
        &format!(
            "filesrc location=\"{}\" ! qtdemux ! h264parse ! avdec_h264 ! videoconvert \
             ! x264enc key-int-max=8 tune=zerolatency bitrate=400 ! h264parse ! mp4mux \
             ! filesink location=\"{}\"",
            source.display(),
            out.display()
        ),
        120,
        "x264 encoding",
    );
    out
}

/// Every event must match the committed JSON Schema.
pub fn assert_schema_valid(events: &[serde_json::Value]) {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/event-v1.schema.json"),
    )
    .unwrap();
    let schema = jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap();
    for e in events {
        let errors: Vec<String> = schema.iter_errors(e).map(|e| e.to_string()).collect();
        assert!(
            errors.is_empty(),
            "event does not match the schema: {errors:?}\n{e:#}"
        );
    }
}

/// `streetwatch replay --json` of `video` as camera `cam`; every printed event must
/// match the committed JSON Schema.
pub fn replay_events(
    cfg: &std::path::Path,
    video: &std::path::Path,
    evidence: &std::path::Path,
) -> Vec<serde_json::Value> {
    replay_camera(cfg, "cam", video, evidence)
}

/// [`replay_events`] for a config whose camera is called `camera`.
pub fn replay_camera(
    cfg: &std::path::Path,
    camera: &str,
    video: &std::path::Path,
    evidence: &std::path::Path,
) -> Vec<serde_json::Value> {
    replay_with(cfg, camera, video, evidence, &[])
}

/// [`replay_camera`] with extra `replay` arguments (e.g. `--resume`).
pub fn replay_with(
    cfg: &std::path::Path,
    camera: &str,
    video: &std::path::Path,
    evidence: &std::path::Path,
    extra: &[&str],
) -> Vec<serde_json::Value> {
    let mut cmd = Command::new(bin());
    cmd.args(["replay", "--json"])
        .args(extra)
        .arg("--config")
        .arg(cfg)
        .arg("--camera")
        .arg(format!("{camera}={}", video.display()))
        .arg("--evidence-dir")
        .arg(evidence);
    let events = json_lines(&mut cmd);
    assert_schema_valid(&events);
    events
}

/// Runs a `streetwatch ... --json` command that must succeed and returns its output,
/// one JSON value per line (`detect` prints one per kept frame, `replay` one per
/// event).
pub fn json_lines(cmd: &mut Command) -> Vec<serde_json::Value> {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Environment that runs a process under libfaketime (Debian `faketime`, installed by
/// `make setup`) with its wall-clock offset read from `offset_file` (e.g. `+0`, then
/// `+30` to step it 30 s forward), re-read at most every second; the monotonic clock
/// is left alone, as a real clock step leaves it.
pub fn faketime_env(offset_file: &std::path::Path) -> Vec<(&'static str, std::ffi::OsString)> {
    let lib = std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("faketime/libfaketime.so.1"))
        .find(|p| p.exists())
        .expect("libfaketime is missing: run `make setup` (Debian package faketime)");
    vec![
        ("LD_PRELOAD", lib.into_os_string()),
        (
            "FAKETIME_TIMESTAMP_FILE",
            offset_file.as_os_str().to_owned(),
        ),
        ("FAKETIME_CACHE_DURATION", "1".into()),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1".into()),
    ]
}

/// `src` scaled to `size` and encoded as the scenario is (openh264, 8-frame GOP, no
/// scene-change keyframes): every frame and timestamp kept.
pub fn rescale(src: &std::path::Path, out: &std::path::Path, size: (u32, u32), bitrate: u32) {
    run_to_eos(
        &format!(
            "filesrc location=\"{}\" ! decodebin ! videoscale ! videoconvert \
             ! video/x-raw,format=I420,width={},height={},pixel-aspect-ratio=1/1 \
             ! openh264enc gop-size=8 bitrate={bitrate} scene-change-detection=false \
             ! h264parse ! mp4mux faststart=true ! filesink location=\"{}\"",
            src.display(),
            size.0,
            size.1,
            out.display()
        ),
        300,
        &format!("rescaling {} to {size:?}", src.display()),
    );
}

/// Runs a `gst-launch`-style pipeline until end of stream; panics naming `what` on an
/// error or after `limit_s`.
pub fn run_to_eos(description: &str, limit_s: u64, what: &str) {
    use gstreamer::prelude::*;
    streetwatch::gst_init();
    let pipeline = gstreamer::parse::launch(description).unwrap();
    pipeline.set_state(gstreamer::State::Playing).unwrap();
    let msg = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(
            gstreamer::ClockTime::from_seconds(limit_s),
            &[gstreamer::MessageType::Eos, gstreamer::MessageType::Error],
        )
        .unwrap_or_else(|| panic!("{what} did not finish in {limit_s} s"));
    let _ = pipeline.set_state(gstreamer::State::Null);
    if let gstreamer::MessageView::Error(e) = msg.view() {
        panic!("{what} failed: {} ({:?})", e.error(), e.debug());
    }
}
