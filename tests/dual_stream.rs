//! Issue 12 part 1 (two streams per camera) and part 4 (clock integrity), against real
//! components: `serve-rtsp` cameras, GStreamer, the real daemon, mosquitto.
//!
//! The scenario is built at test time from the car-park scene: the same frames as a
//! 1920x1080 main stream and a 640x360 substream, served by two `serve-rtsp` processes
//! looping on the system's monotonic clock (`--clock-aligned`), so at any instant both
//! show the same picture, as a camera's two encoders do. While the parked car is held,
//! every frame carries a magenta marker at one of 16 known positions along the top
//! edge, moving one position a frame: which position a picture shows says which frame
//! (which instant) it is, in either stream.

mod support;

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use streetwatch::camsim::picture::{Picture, Rect};
use streetwatch::camsim::scenario::{ScenarioSpec, Segment, compose, decode_frames};
use streetwatch::config::{SupervisionConfig, Transport};
use streetwatch::evidence::decode::frame_at;
use streetwatch::evidence::job::{ALIGN_SLACK, RingSource};
use streetwatch::ingest::pipeline::{AnalysisSpec, Anchor, Source};
use streetwatch::ingest::timeline::TimeSource;
use streetwatch::ingest::{Camera, CameraSpec, CameraStatus, Overflow, Pop};
use support::broker::Broker;
use support::daemon::RunningDaemon;
use support::mqtt::Sub;
use support::*;

const MAIN: (u32, u32) = (1920, 1080);
const SUBSTREAM: (u32, u32) = (640, 360);
/// The car-park GIF's width: markers are drawn in its pixels, before either stream is
/// scaled from it.
const SOURCE_W: u32 = 480;
/// Marker positions: one frame each, then again.
const MARKS: u32 = 16;
/// Seconds the parked car is held, with the marker, after the drive-in: one lap of
/// both streams is the drive-in plus this.
const HOLD_S: f64 = 60.0;

/// Marker `k` in the source's pixels: a 24 px square in the top band.
fn marker(k: u32) -> Rect {
    Rect::new(15 + 28 * k, 8, 24, 24)
}

/// The dual-stream scenario, built once per test binary and shared by its tests.
struct Scenario {
    main: PathBuf,
    sub: PathBuf,
    /// The length of one lap (ns).
    lap_ns: u64,
}

static SCENARIO: OnceLock<Scenario> = OnceLock::new();

/// The car-park GIF then its last frame held [`HOLD_S`] with the moving marker, drawn
/// at the GIF's own size (480x270), encoded once, then scaled by GStreamer into the
/// main stream and the substream: the same frames and timestamps in both.
fn scenario() -> &'static Scenario {
    SCENARIO.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dual_stream");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (w, h, frames) = decode_frames(&media("person-bicycle-car-detection.gif")).unwrap();
        assert_eq!(
            w, SOURCE_W,
            "the markers are drawn for a {SOURCE_W} px source"
        );
        let drive: Vec<(Picture, u64)> = frames
            .into_iter()
            .map(|(rgb, d)| (Picture::from_rgb(w, h, rgb).unwrap(), d))
            .collect();
        let parked = &drive.last().unwrap().0;
        let frame_ns = 250_000_000u64;
        let held: Vec<(Picture, u64)> = (0..MARKS)
            .map(|k| {
                let mut p = parked.clone();
                p.fill(marker(k), [255, 0, 255]);
                (p, frame_ns)
            })
            .collect();
        let laps = ((HOLD_S * 4.0) as u32).div_ceil(MARKS);
        let scene = dir.join("scene.mp4");
        let spec = ScenarioSpec {
            fps: 4,
            hold_s: 0.0,
            gop_frames: 8,
            noise: 2,
            bitrate: 2_000_000,
        };
        let n = compose(
            &scene,
            &spec,
            &[
                Segment::Frames {
                    frames: &drive,
                    repeat: 1,
                },
                Segment::Frames {
                    frames: &held,
                    repeat: laps,
                },
            ],
        )
        .unwrap();
        let (main, sub) = (dir.join("main.mp4"), dir.join("sub.mp4"));
        std::thread::scope(|s| {
            s.spawn(|| rescale(&scene, &main, MAIN, 4_000_000));
            rescale(&scene, &sub, SUBSTREAM, 500_000);
        });
        Scenario {
            main,
            sub,
            lap_ns: n * frame_ns,
        }
    })
}

/// The system's monotonic clock (ns), which `serve-rtsp --clock-aligned` loops on.
fn monotonic_ns() -> u64 {
    // SAFETY: `ts` is a valid, exclusively borrowed timespec; CLOCK_MONOTONIC exists.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The marker's box in a picture, normalised (x1, y1, x2, y2); None without one.
/// The marker is the slot most covered by magenta (at least half of it): a few
/// magenta pixels an encoder leaves behind where the marker was earlier must not widen
/// the box: openh264 leaves such traces at 1920x1080 (ffmpeg decoding the main stream
/// file itself finds them in 105 of its 254 frames, never in the substream's).
fn find_marker(w: u32, h: u32, rgb: &[u8]) -> Option<[f64; 4]> {
    let scale = f64::from(w) / f64::from(SOURCE_W);
    let magenta = |x: u32, y: u32| {
        let i = ((y * w + x) * 3) as usize;
        rgb[i] > 170 && rgb[i + 1] < 110 && rgb[i + 2] > 170
    };
    let slot = |k: u32| {
        let m = marker(k);
        let px = |v: u32| ((f64::from(v) * scale).round() as u32).min(w);
        let py = |v: u32| ((f64::from(v) * scale).round() as u32).min(h);
        let (sx1, sy1, sx2, sy2) = (px(m.x), py(m.y), px(m.x + m.w), py(m.y + m.h));
        let (mut x1, mut y1, mut x2, mut y2, mut n) = (u32::MAX, u32::MAX, 0, 0, 0u64);
        for y in sy1..sy2 {
            for x in sx1..sx2 {
                if magenta(x, y) {
                    (x1, y1, x2, y2) = (x1.min(x), y1.min(y), x2.max(x + 1), y2.max(y + 1));
                    n += 1;
                }
            }
        }
        (n, [x1, y1, x2, y2])
    };
    let (n, [x1, y1, x2, y2]) = (0..MARKS).map(slot).max_by_key(|(n, _)| *n)?;
    // At least half of a 24 px (source) square scaled to this picture.
    let side = 24.0 * scale;
    (n as f64 >= side * side / 2.0).then(|| {
        [
            f64::from(x1) / f64::from(w),
            f64::from(y1) / f64::from(h),
            f64::from(x2) / f64::from(w),
            f64::from(y2) / f64::from(h),
        ]
    })
}

fn iou(a: [f64; 4], b: [f64; 4]) -> f64 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let area = |r: [f64; 4]| (r[2] - r[0]) * (r[3] - r[1]);
    inter / (area(a) + area(b) - inter)
}

fn rtsp(url: String) -> Source {
    Source::Rtsp {
        url,
        username: None,
        password: None,
        transport: Transport::Tcp,
        latency_ms: 100,
    }
}

fn dual_spec(main: String, sub: String) -> CameraSpec {
    CameraSpec {
        id: "dual".into(),
        source: rtsp(main),
        analysis_source: Some(rtsp(sub)),
        analysis: Some(AnalysisSpec {
            fps: 4.0,
            keyframes_only: false,
            keyframe_max_gap_s: None,
            max_width: 0,
        }),
        preroll_seconds: 10.0,
        preroll_max_bytes: 64 << 20,
        queue_depth: 8,
        supervision: SupervisionConfig {
            stall_timeout_s: 5.0,
            backoff_initial_s: 0.5,
            backoff_max_s: 2.0,
        },
        anchor: Anchor::WallClock,
        overflow: Overflow::DropOldest,
    }
}

/// The pipeline pieces evidence uses, in process: analysis frames come from the
/// substream; for each, the main stream's ring is cut at the frame's media time and
/// decoded as a snapshot would be. Both streams must run on the camera's NTP time
/// (RTCP sender reports), every snapshot must be 1920x1080 and show the same marker
/// position (the same instant), and the marker's box found on the substream, carried
/// to the main stream through normalised coordinates, must cover it there.
#[test]
fn the_snapshot_a_box_points_at_is_the_same_moment_in_both_streams() {
    let sc = scenario();
    let msrv = CamSim::start_aligned(free_port(), &[("/main", sc.main.display().to_string())]);
    let ssrv = CamSim::start_aligned(free_port(), &[("/sub", sc.sub.display().to_string())]);
    let cam = Camera::spawn(dual_spec(msrv.url("/main"), ssrv.url("/sub")));
    assert!(cam.is_dual());
    wait_for(Duration::from_secs(60), || {
        let s = cam.streams();
        let a = s.analysis.as_ref().unwrap();
        (matches!(s.main.status, CameraStatus::Streaming { .. })
            && matches!(a.status, CameraStatus::Streaming { .. })
            && s.main.time_source == TimeSource::RtcpNtp
            && a.time_source == TimeSource::RtcpNtp)
            .then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "both streams should stream on the camera's NTP time: {:#?}",
            cam.streams()
        )
    });
    assert_eq!(cam.pairing_error(), None);
    let main_ring = cam.shared.clone();
    let (mut compared, mut mismatched) = (0, Vec::new());
    let end = Instant::now() + Duration::from_secs(90);
    while compared < 12 {
        assert!(
            Instant::now() < end,
            "only {compared} marked frames compared in 90 s"
        );
        let f = match cam.frames().pop_timeout(Duration::from_secs(5)) {
            Pop::Item(f) => f,
            Pop::Timeout => continue,
            Pop::Closed => panic!("camera stopped"),
        };
        assert_eq!(
            (f.width, f.height),
            SUBSTREAM,
            "analysis runs on the substream"
        );
        // Cameras deliver YUV analysis frames; the marker search reads RGB.
        let Some(sub_box) = find_marker(f.width, f.height, &f.to_rgb().data) else {
            continue; // The drive-in, before the marked hold.
        };
        let needed = f.time.add_secs(ALIGN_SLACK.as_secs_f64() + 0.3);
        wait_for(Duration::from_secs(10), || {
            main_ring.newest().filter(|n| *n >= needed)
        })
        .expect("the main stream reaches the analysed moment");
        let cut = main_ring
            .cut(f.time, f.time.add_secs(ALIGN_SLACK.as_secs_f64()))
            .expect("the main ring holds the analysed moment");
        let snap = frame_at(&main_ring.caps().unwrap(), &cut.units, f.time).unwrap();
        assert_eq!(
            (snap.width, snap.height),
            MAIN,
            "snapshots come from the main stream"
        );
        assert!(
            snap.time.secs_since(f.time).abs() < 0.05,
            "the snapshot is stamped {:.3} s from the analysed frame",
            snap.time.secs_since(f.time)
        );
        let main_box = find_marker(snap.width, snap.height, &snap.data);
        compared += 1;
        match main_box {
            Some(m) if iou(m, sub_box) > 0.7 => {}
            other => mismatched.push((sub_box, other)),
        }
    }
    assert!(
        mismatched.is_empty(),
        "{} of {compared} snapshots show another instant than the analysed frame (substream box, main box): {mismatched:?}",
        mismatched.len()
    );
}

/// A substream larger than the main stream (the URLs swapped) is refused by `probe`
/// and `check-config --probe` with the reason (and key path), and a camera configured
/// so reports it as its state and withholds analysis frames.
#[test]
fn a_wrong_pairing_is_refused_by_probe_and_is_the_cameras_state() {
    let dir = tempfile::tempdir().unwrap();
    let sc = scenario();
    let srv = CamSim::start_aligned(
        free_port(),
        &[
            ("/main", sc.main.display().to_string()),
            ("/sub", sc.sub.display().to_string()),
        ],
    );
    let probe = |main: &str, sub: &str| {
        std::process::Command::new(bin())
            .args(["probe", main, "--analysis-url", sub, "--seconds", "2"])
            .output()
            .unwrap()
    };
    let ok = probe(&srv.url("/main"), &srv.url("/sub"));
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let (main_size, sub_size) = (
        format!("{}x{}", MAIN.0, MAIN.1),
        format!("{}x{}", SUBSTREAM.0, SUBSTREAM.1),
    );
    assert!(
        text.contains(&main_size) && text.contains(&sub_size),
        "{text}"
    );
    assert!(text.contains("pairing:     ok"), "{text}");
    let swapped = probe(&srv.url("/sub"), &srv.url("/main"));
    let err = String::from_utf8_lossy(&swapped.stderr);
    assert_eq!(swapped.status.code(), Some(3), "{err}");
    assert!(
        err.contains(&format!("{sub_size} is larger"))
            || err.contains(&format!("{main_size} is larger")),
        "{err}"
    );
    assert!(err.contains("swapped"), "{err}");

    // check-config --probe connects and names the key path.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = dir.path().join("swapped.toml");
    std::fs::write(
        &config,
        format!(
            "[device]\nid = \"pairing-box\"\ndivision_code = \"440802\"\nstate_dir = \"{state}\"\n\n\
             [inference]\nmodels_dir = \"{models}\"\nweights_dir = \"{weights}\"\n\n\
             [[cameras]]\nid = \"cam\"\nurl = \"{main}\"\nanalysis_url = \"{sub}\"\n",
            state = dir.path().join("state").display(),
            models = root.join("models").display(),
            weights = weights_dir().display(),
            main = srv.url("/sub"),
            sub = srv.url("/main"),
        ),
    )
    .unwrap();
    let cc = std::process::Command::new(bin())
        .arg("check-config")
        .arg(&config)
        .arg("--probe")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&cc.stderr);
    assert_eq!(cc.status.code(), Some(2), "{err}");
    assert!(
        err.contains("cameras[0].analysis_url") && err.contains("swapped"),
        "{err}"
    );

    let cam = Camera::spawn(dual_spec(srv.url("/sub"), srv.url("/main")));
    let st = wait_for(Duration::from_secs(60), || {
        let s = cam.status();
        (s.reason().map(|r| r.code()) == Some("stream_pairing")).then_some(s)
    })
    .unwrap_or_else(|| panic!("no pairing state: {:?}", cam.status()));
    assert!(
        st.to_string().contains("larger than the main stream"),
        "{st}"
    );
    assert_eq!(cam.pairing_error().unwrap().code(), "substream_larger");
    // No box found on the wrong stream reaches analysis.
    std::thread::sleep(Duration::from_secs(2));
    while let Pop::Item(_) = cam.frames().pop_timeout(Duration::from_millis(10)) {}
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        matches!(
            cam.frames().pop_timeout(Duration::from_millis(500)),
            Pop::Timeout
        ),
        "analysis frames flow while the streams do not pair"
    );
}

fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

fn jpeg_size(b: &[u8]) -> (u32, u32) {
    let img = image::load_from_memory(b).unwrap();
    (img.width(), img.height())
}

/// The real daemon with a camera of two streams. The parked car's first-stationary
/// snapshot is cut from the main stream (1920x1080); then the main stream's server is
/// SIGKILLed mid-stay: analysis runs on, and the stay is still confirmed and delivered,
/// its later photos cut from the substream (640x360, `stream: analysis`) and the event
/// marked `main_stream_unavailable`. Every event carries the box's clock state, health
/// shows the clock and both streams. Finally the substream dies: the camera's state
/// says analysis stopped and why, while the main stream is back.
#[test]
fn main_stream_dies_mid_stay_the_event_goes_out_marked_with_substream_photos() {
    const DEVICE: &str = "box-dual";
    let sc = scenario();
    let (main, sub) = (sc.main.display().to_string(), sc.sub.display().to_string());
    // A lap starts now: the stay (start-up, first still, dwell, the clip's post-roll)
    // fits in it with no wait for the loop's restart.
    let epoch = monotonic_ns();
    assert!(sc.lap_ns as f64 > 55e9, "a lap holds the stay");
    let main_port = free_port();
    let mut msrv = CamSim::start_aligned_at(main_port, &[("/main", main.clone())], epoch);
    let mut ssrv = CamSim::start_aligned_at(free_port(), &[("/sub", sub)], epoch);
    let broker = Broker::start(None);
    let mqtt = Sub::start(broker.port, &format!("streetwatch/{DEVICE}"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = format!(
        r#"[device]
id = "{DEVICE}"
division_code = "440802"

[inference]
models_dir = "{models}"
weights_dir = "{weights}"

[uplink]
broker = "{broker}"
keepalive_s = 5
backoff_max_s = 2
chunk_kib = 64

[events.evidence.clip]
pre_roll_s = 2.0
post_roll_s = 2.0

[[cameras]]
id = "dual"
name = "双码流摄像机"
url = "{main_url}"
analysis_url = "{sub_url}"
[cameras.analysis]
fps = 2.0
[cameras.supervision]
stall_timeout_s = 4.0
backoff_initial_s = 0.5
backoff_max_s = 2.0

[[cameras.zones]]
id = "bay-1"
name = "禁停区 1"
location = "停车场东侧出口"
polygon = [[0.0, 0.15], [0.35, 0.15], [0.35, 0.6], [0.0, 0.6]]
rules = [{{ type = "no_parking", dwell_s = 16 }}]
"#,
        models = root.join("models").display(),
        weights = weights_dir().display(),
        broker = broker.url(),
        main_url = msrv.url("/main"),
        sub_url = ssrv.url("/sub"),
    );
    let mut daemon = RunningDaemon::start(&config, "info,streetwatch::daemon::analysis=debug");
    // The first photo of the stay is requested while both streams run; once it had
    // time to be cut, the main stream's camera loses power.
    daemon.wait_log(120, "first-stationary snapshot requested", |l| {
        l.contains("evidence requested") && l.contains("first-stationary.jpg")
    });
    std::thread::sleep(Duration::from_secs(3));
    msrv.kill();
    let (client, base, _) = daemon.page();
    let status = || -> Value {
        client
            .get(format!("{base}/api/status"))
            .send()
            .and_then(|r| r.json())
            .unwrap_or(Value::Null)
    };
    let cam = |s: &Value| s["cameras"][0].clone();
    let s = wait_for(Duration::from_secs(30), || {
        let s = status();
        (cam(&s)["streams"]["main_stream_unavailable"] == true).then_some(s)
    })
    .unwrap_or_else(|| panic!("main stream loss not shown: {:#}", status()));
    let c = cam(&s);
    assert_eq!(c["streams"]["analysis"]["state"], "streaming", "{c:#}");
    assert_ne!(c["streams"]["main"]["state"], "streaming", "{c:#}");
    assert!(s["health"]["clock"]["synchronised"].is_boolean(), "{s:#}");

    // The stay is confirmed on the substream alone and delivered.
    mqtt.wait("the started phase", Duration::from_secs(120), |_| {
        mqtt.events().iter().any(|e| e["phase"] == "started")
    });
    let ev = mqtt
        .events()
        .into_iter()
        .find(|e| e["phase"] == "started")
        .unwrap();
    support::assert_schema_valid(std::slice::from_ref(&ev));
    let id = ev["id"].as_str().unwrap().to_string();
    assert_eq!(ev["main_stream_unavailable"], true, "{ev:#}");
    assert!(ev["clock"]["synchronised"].is_boolean(), "{ev:#}");
    // The subject's box is in main-stream pixels: its normalised box times 1920x1080.
    let (b, n) = (&ev["subject"]["bbox"], &ev["subject"]["bbox_norm"]);
    for (k, full) in [
        ("x1", f64::from(MAIN.0)),
        ("y1", f64::from(MAIN.1)),
        ("x2", f64::from(MAIN.0)),
        ("y2", f64::from(MAIN.1)),
    ] {
        let (px, norm) = (b[k].as_f64().unwrap(), n[k].as_f64().unwrap());
        assert!((px - norm * full).abs() < 1.0, "bbox {b} vs bbox_norm {n}");
    }
    let media = ev["media"].as_array().unwrap();
    let entry = |name: &str| {
        media
            .iter()
            .find(|m| m["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {ev:#}"))
            .clone()
    };
    let check = |name: &str, stream: &str, size: (u32, u32)| {
        let m = entry(name);
        assert_eq!(m["stream"], stream, "{name}: {m:#}");
        let (manifest, bytes) = wait_for(Duration::from_secs(60), || mqtt.media(&id, name))
            .unwrap_or_else(|| panic!("{name} not delivered"));
        assert_eq!(sha256_hex(&bytes), m["sha256"], "{name}: {manifest:#}");
        if name.ends_with(".jpg") && !name.contains("crop") {
            let (w, h) = jpeg_size(&bytes);
            assert_eq!(w, size.0, "{name} width");
            assert!(h >= size.1, "{name} height {h}");
        }
    };
    // Before the loss: the main stream, full resolution, with its crop.
    check("first-stationary.jpg", "main", MAIN);
    check("first-stationary-crop.jpg", "main", MAIN);
    // After: the substream, marked.
    check("confirmation.jpg", "analysis", SUBSTREAM);
    check("confirmation-crop.jpg", "analysis", SUBSTREAM);
    check("clip.mp4", "analysis", SUBSTREAM);

    // The main stream comes back; then the substream dies: analysis stops, and the
    // camera's state says which stream and why.
    msrv = CamSim::start_aligned_at(main_port, &[("/main", main)], epoch);
    wait_for(Duration::from_secs(60), || {
        (cam(&status())["streams"]["main"]["state"] == "streaming").then_some(())
    })
    .unwrap_or_else(|| panic!("main stream not back: {:#}", status()));
    ssrv.kill();
    let s = wait_for(Duration::from_secs(30), || {
        let s = status();
        (cam(&s)["streams"]["analysis"]["state"] != "streaming" && cam(&s)["state"] != "streaming")
            .then_some(s)
    })
    .unwrap_or_else(|| panic!("substream loss not shown: {:#}", status()));
    let c = cam(&s);
    assert!(
        c["message"]
            .as_str()
            .is_some_and(|m| m.contains("analysis stream") && m.contains("analysis stopped")),
        "{c:#}"
    );
    assert_eq!(c["streams"]["main"]["state"], "streaming", "{c:#}");
    drop(msrv);
    assert!(daemon.stop_within(20).is_some(), "daemon did not stop");
}
