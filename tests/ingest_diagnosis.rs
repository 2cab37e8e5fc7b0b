//! Issue 11 item 9: a stream that yields detections but never events.
//!
//! A 4 fps x264 stream (`key-int-max=8 tune=zerolatency`) served over RTSP made `probe`
//! report "GOP 1 frames (10.15 s)" and the daemon produce no event although the car was
//! in every frame. The cause: x264 zerolatency cuts each picture into slices, and a
//! GStreamer payloader with `config-interval=-1` (serve-rtsp's, and many GStreamer-based
//! cameras') repeats SPS/PPS in front of every IDR *slice*; the H.264 parser then
//! splits each keyframe into two access units, the second without a timestamp. The
//! ring took it for a keyframe at the connection's start and the decoder got half
//! pictures, so the detector saw garbage where the car stood.
//!
//! These tests build that very stream at test time and check the repair on the
//! receiving side (a GStreamer RTSP server that still repeats the parameter sets), the
//! fixed simulator (`serve-rtsp`), the daemon's parking event, and the dashboard's
//! warning when analysis gets far fewer frames than configured.

mod support;

use gstreamer::glib;
use gstreamer_rtsp_server as rtsp;
use gstreamer_rtsp_server::prelude::*;
use serde_json::Value;
use std::collections::HashMap;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use streetwatch::config::{SupervisionConfig, Transport};
use streetwatch::ingest::pipeline::{AnalysisSpec, Anchor, Source};
use streetwatch::ingest::{Camera, CameraSpec, Overflow, Pop};
use support::broker::Broker;
use support::daemon::RunningDaemon;
use support::mqtt::{Sub, committed_keys};
use support::*;

/// A GStreamer RTSP server like the ones in GStreamer-based cameras: it plays `file`
/// through `rtph264pay config-interval=-1`, which repeats SPS/PPS before every IDR
/// slice. Runs until dropped.
struct GstCamera {
    port: u16,
    main_loop: glib::MainLoop,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl GstCamera {
    fn start(file: &std::path::Path) -> GstCamera {
        streetwatch::gst_init();
        let server = rtsp::RTSPServer::new();
        server.set_address("127.0.0.1");
        server.set_service("0");
        let factory = rtsp::RTSPMediaFactory::new();
        factory.set_launch(&format!(
            "( filesrc location=\"{}\" ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=-1 )",
            file.display()
        ));
        factory.set_shared(true);
        server.mount_points().unwrap().add_factory("/cam", factory);
        let ctx = glib::MainContext::new();
        let main_loop = glib::MainLoop::new(Some(&ctx), false);
        let id = server.attach(Some(&ctx)).unwrap();
        let port = server.bound_port() as u16;
        let ml = main_loop.clone();
        let thread = std::thread::spawn(move || {
            ctx.with_thread_default(|| ml.run()).unwrap();
            if let Some(src) = ctx.find_source_by_id(&id) {
                src.destroy();
            }
            drop(server);
        });
        GstCamera {
            port,
            main_loop,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("rtsp://127.0.0.1:{}/cam", self.port)
    }
}

impl Drop for GstCamera {
    fn drop(&mut self) {
        self.main_loop.quit();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `streetwatch probe --json` of `url` for `seconds`.
fn probe_json(url: &str, seconds: u32) -> Value {
    let out = Command::new(bin())
        .args(["probe", "--json", "--seconds", &seconds.to_string(), url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "probe {url}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The stream as the camera sends it: 4 whole pictures a second, a keyframe every 8.
fn assert_gop_of_8_frames_in_2_s(report: &Value) {
    assert_eq!(report["gop_frames"], 8, "{report:#}");
    let gop_s = report["gop_seconds"].as_f64().unwrap();
    assert!((gop_s - 2.0).abs() < 0.1, "GOP {gop_s} s: {report:#}");
    // Split pictures arrive as extra units (4.5 "frames" a second).
    let fps = report["fps"].as_f64().unwrap();
    assert!((3.6..=4.35).contains(&fps), "{report:#}");
    assert_eq!(report["untimed_units"], 0, "{report:#}");
}

/// Mean absolute difference per channel value between two RGB pictures of one size.
fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as i32 - *y as i32).unsigned_abs() as u64)
        .sum::<u64>() as f64
        / a.len() as f64
}

#[test]
fn a_camera_that_repeats_parameter_sets_between_slices_is_repaired_whole_pictures_right_gop() {
    let dir = tempfile::tempdir().unwrap();
    let video = x264_zerolatency_scenario(dir.path(), 30.0);
    let cam = GstCamera::start(&video);

    // What the technician sees on the ladder: the real GOP, not "1 frames (10 s)", and
    // that the camera's parameter sets were repaired.
    let report = probe_json(&cam.url(), 6);
    assert_gop_of_8_frames_in_2_s(&report);
    // The file itself, probed in media time: the same facts.
    let file = probe_json(&video.display().to_string(), 5);
    assert_gop_of_8_frames_in_2_s(&file);
    assert_eq!(file["repaired_parameter_sets"], 0, "{file:#}");
    assert!(
        report["repaired_parameter_sets"].as_u64().unwrap() >= 2,
        "{report:#}"
    );

    // What analysis gets: every picture whole, each once, in time order.
    let spec = CameraSpec {
        id: "x264".into(),
        source: Source::Rtsp {
            url: cam.url(),
            username: None,
            password: None,
            transport: Transport::Tcp,
            latency_ms: 100,
        },
        analysis_source: None,
        analysis: Some(AnalysisSpec {
            fps: 4.0,
            keyframes_only: false,
            keyframe_max_gap_s: None,
            max_width: 0,
        }),
        preroll_seconds: 10.0,
        preroll_max_bytes: 32 << 20,
        queue_depth: 64,
        supervision: SupervisionConfig::default(),
        anchor: Anchor::WallClock,
        overflow: Overflow::Block,
    };
    let camera = Camera::spawn(spec);
    // The parked car as the scenario holds it (the GIF's last frame).
    let (w, h, gif) =
        streetwatch::camsim::scenario::decode_frames(&media("person-bicycle-car-detection.gif"))
            .unwrap();
    let parked = &gif.last().unwrap().0;
    let mut pts: Vec<u64> = Vec::new();
    let mut worst: f64 = 0.0;
    let end = Instant::now() + Duration::from_secs(12);
    while Instant::now() < end {
        match camera.frames().pop_timeout(Duration::from_millis(200)) {
            Pop::Item(f) => {
                assert_eq!((f.width, f.height), (w, h));
                // The car drives in during the clip's first 3.4 s; from 5 s on it is
                // parked, whenever the media started.
                if pts
                    .first()
                    .is_some_and(|&p0| f.pts_ns >= p0 + 5_000_000_000)
                {
                    // The camera's frames are YUV; the GIF's are RGB.
                    worst = worst.max(mean_abs_diff(&f.to_rgb().data, parked));
                }
                pts.push(f.pts_ns);
            }
            Pop::Timeout => {}
            Pop::Closed => panic!("camera ended: {}", camera.status()),
        }
    }
    let st = &camera.shared.stats;
    let (aus, keys) = (
        st.access_units.load(Ordering::Relaxed),
        st.keyframes.load(Ordering::Relaxed),
    );
    assert!(
        st.repaired_units.load(Ordering::Relaxed) >= 2,
        "the server should repeat parameter sets between slices (otherwise this test proves nothing)"
    );
    assert_eq!(st.untimed_units.load(Ordering::Relaxed), 0);
    assert!(aus >= 30, "{aus} units in 12 s");
    assert!(
        (aus as f64 / keys as f64 - 8.0).abs() < 1.5,
        "{aus} units, {keys} keyframes: one keyframe every 8 frames"
    );
    assert!(
        st.frames_decoded.load(Ordering::Relaxed) <= aus,
        "the decoder made more pictures than units arrived (half pictures)"
    );
    assert!(pts.len() >= 30, "{} frames", pts.len());
    assert!(
        pts.windows(2).all(|p| p[1] > p[0]),
        "a picture came twice or out of order: {pts:?}"
    );
    // Broken pictures (green garbage over the car) differ by ~100 levels.
    assert!(
        worst < 12.0,
        "a frame differs from the parked car by {worst:.1} levels on average"
    );
}

#[test]
fn the_daemon_reports_parking_from_an_x264_zerolatency_camera_and_warns_of_a_starved_analysis() {
    let dir = tempfile::tempdir().unwrap();
    let video = x264_zerolatency_scenario(dir.path(), 90.0);
    let sim = CamSim::start(free_port(), &[("/x264", video.display().to_string())], None);
    assert_gop_of_8_frames_in_2_s(&probe_json(&sim.url("/x264"), 5));

    let broker = Broker::start(None);
    let sub = Sub::start(broker.port, "streetwatch/box-x264");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    // "bay" asks for 2 of the camera's 4 frames a second; "greedy" asks for 12 of them,
    // which the camera cannot give: the page must say so, with the rates and the cause.
    let config = format!(
        r#"[device]
id = "box-x264"
division_code = "440802"

[inference]
models_dir = "{models}"
weights_dir = "{weights}"

[uplink]
broker = "{broker}"
keepalive_s = 5
backoff_max_s = 2

[events.evidence.clip]
pre_roll_s = 4.0
post_roll_s = 4.0

[[cameras]]
id = "bay"
name = "Car park bay"
url = "{url}"
[cameras.analysis]
fps = 2.0

[[cameras.zones]]
id = "bay-1"
name = "禁停区 1"
location = "停车场东侧出口"
polygon = [[0.0, 0.15], [0.35, 0.15], [0.35, 0.6], [0.0, 0.6]]
rules = [{{ type = "no_parking", dwell_s = 20 }}]

[[cameras]]
id = "greedy"
name = "Greedy"
url = "{url}"
[cameras.analysis]
fps = 12.0
"#,
        models = root.join("models").display(),
        weights = weights_dir().display(),
        broker = broker.url(),
        url = sim.url("/x264"),
    );
    let mut daemon = RunningDaemon::start(&config, "info");
    let state = daemon.dir.join("state");
    let (client, base, _) = daemon.page();
    let status = || -> HashMap<String, Value> {
        let body: Value = client
            .get(format!("{base}/api/status"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        body["cameras"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["id"].as_str().unwrap().to_string(), c.clone()))
            .collect()
    };

    // The stay is decided after 20 s of media time, committed, and delivered.
    let started = wait_for(Duration::from_secs(120), || {
        sub.events()
            .into_iter()
            .find(|e| e["kind"] == "illegal_parking" && e["phase"] == "started")
    })
    .unwrap_or_else(|| {
        panic!(
            "no illegal_parking event from the x264 camera in 120 s; status {:#?}\nlog:\n{}",
            status(),
            daemon.log()
        )
    });
    assert_eq!(started["camera"]["id"], "bay");
    assert_schema_valid(std::slice::from_ref(&started));
    let committed = committed_keys(&state);
    assert!(
        committed.contains(&support::mqtt::key_of(&started)),
        "delivered {:?} but committed {committed:?}",
        support::mqtt::key_of(&started)
    );

    // The greedy camera: far below its 12 fps for over 30 s, because the camera sends 4.
    let warn = wait_for(Duration::from_secs(90), || {
        let s = status();
        let w = s["greedy"]["analysis_warning"].clone();
        (!w.is_null()).then_some((w, s))
    });
    let (warn, s) = warn.unwrap_or_else(|| panic!("no analysis warning: {:#?}", status()));
    assert_eq!(warn["cause"], "camera_frame_rate", "{warn:#}");
    assert_eq!(warn["expected_fps"], 12.0, "{warn:#}");
    let stream = warn["stream_fps"].as_f64().unwrap();
    assert!((3.0..=5.0).contains(&stream), "{warn:#}");
    assert!(warn["measured_fps"].as_f64().unwrap() <= 5.0, "{warn:#}");
    assert!(warn["for_s"].as_f64().unwrap() >= 30.0, "{warn:#}");
    // The bay camera gets what it asks for: no warning.
    assert!(s["bay"]["analysis_warning"].is_null(), "{:#}", s["bay"]);
    assert!(
        daemon
            .log()
            .contains("analysis gets far fewer frames than configured"),
        "the warning is logged"
    );
    let st = daemon.stop_within(20).expect("daemon stops on SIGTERM");
    assert!(st.success(), "daemon exit {st}:\n{}", daemon.log());
}
