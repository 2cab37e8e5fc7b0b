//! The daemon commands end to end: `demo` on the embedded default, `run` with signals.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;
use support::daemon::{RunningDaemon, with_state_dir};
use support::*;

/// Largest `key=N` value on the log lines of `camera`.
fn max_field(log: &str, camera: &str, key: &str) -> u64 {
    let needle = format!(" {key}=");
    log.lines()
        .filter(|l| l.contains(&format!("camera={camera}")) && l.contains(&needle))
        .filter_map(|l| {
            l.split(&needle)
                .nth(1)?
                .split(' ')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .max()
        .unwrap_or(0)
}

#[test]
fn demo_streams_every_sample_camera_and_logs_its_status() {
    let media_dir = media("car-detection.mp4").parent().unwrap().to_path_buf();
    let out = Command::new(bin())
        .args([
            "demo",
            "--seconds",
            "10",
            "--status-every",
            "4",
            "--web",
            "127.0.0.1:0",
            "--media",
        ])
        .arg(&media_dir)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    for cam in ["car-park", "room", "bottles"] {
        assert!(
            log.lines()
                .any(|l| l.contains(&format!("camera={cam}")) && l.contains("status=streaming")),
            "camera {cam} never streamed:\n{log}"
        );
    }
    assert!(log.contains("streetwatch stopped"), "graceful stop:\n{log}");
    assert!(log.contains("technician page listening"), "{log}");
    // The detector runs: people walk into the room camera's picture.
    let detections = max_field(&log, "room", "detections");
    assert!(detections > 0, "no detections on the room camera:\n{log}");
}

#[test]
fn a_camera_whose_model_is_unavailable_says_so_and_the_others_keep_working() {
    let sim = CamSim::start(
        free_port(),
        &[("/car", media("car-detection.mp4").display().to_string())],
        None,
    );
    let config = format!(
        "[device]\nid = \"box\"\n[inference]\nmodels_dir = \"{m}\"\nweights_dir = \"{w}\"\n\
         [[cameras]]\nid = \"good\"\nurl = \"{u}\"\n\
         [[cameras]]\nid = \"bad\"\nurl = \"{u}\"\n[cameras.analysis]\nmodels = [\"no-such-model\"]\n",
        m = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("models")
            .display(),
        w = weights_dir().display(),
        u = sim.url("/car")
    );
    let mut d = RunningDaemon::start(&config, "info");
    d.wait_log(
        30,
        "bad camera should say model unavailable, good one stream",
        |l| {
            l.contains("camera=bad")
                && l.contains("model unavailable")
                && l.contains("camera=good")
                && l.contains("status=streaming")
        },
    );
    // The good camera's status lines report frames analysed; on a loaded machine the
    // first lines may come before the first frame, so wait for one (bounded).
    let analysed = wait_for(Duration::from_secs(30), || {
        let n = max_field(&d.log(), "good", "analysed");
        (n > 0).then_some(n)
    });
    d.stop();
    let log = d.log();
    assert!(
        analysed.is_some(),
        "the good camera must keep analysing:\n{log}"
    );
}

#[test]
fn run_refuses_a_bad_config_and_survives_a_bad_reload() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("streetwatch.toml");
    std::fs::write(
        &cfg,
        "[device]\nid = \"box\"\n[[cameras]]\nid = \"a\"\nurl = \"rstp://x/y\"\n",
    )
    .unwrap();
    let out = Command::new(bin())
        .args(["run", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "never start half-configured");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cameras[0].url"));

    let sim = CamSim::start(
        free_port(),
        &[("/car", media("car-detection.mp4").display().to_string())],
        None,
    );
    let good = format!(
        "[device]\nid = \"box\"\n[[cameras]]\nid = \"a\"\nurl = \"{}\"\n[cameras.analysis]\nfps = 2.0\n",
        sim.url("/car")
    );
    let mut d = RunningDaemon::start(&good, "info");
    d.wait_log(20, "camera never streamed", |l| {
        l.contains("status=streaming")
    });
    // A broken edit followed by SIGHUP must not replace the running config.
    std::fs::write(d.config_path(), "[device]\nid = \"box\"\nbogus = 1\n").unwrap();
    d.signal(libc::SIGHUP);
    d.wait_log(5, "reload not refused", |l| {
        l.contains("config reload refused")
    });
    assert!(
        d.child.try_wait().unwrap().is_none(),
        "daemon must keep running"
    );
    assert!(!d.log().contains("stopping camera (removed or changed)"));
    assert!(d.stop().success());
    assert!(d.log().contains("streetwatch stopped"));
}

/// A systemd-style notify socket the test owns.
fn notify_socket(dir: &std::path::Path) -> (std::os::unix::net::UnixDatagram, std::path::PathBuf) {
    let path = dir.join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    (sock, path)
}

fn recv_all(sock: &std::os::unix::net::UnixDatagram, for_: Duration) -> Vec<String> {
    let end = std::time::Instant::now() + for_;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while std::time::Instant::now() < end {
        if let Ok(n) = sock.recv(&mut buf) {
            out.push(String::from_utf8_lossy(&buf[..n]).to_string());
        }
    }
    out
}

fn run_under_notify(wedge: Option<&str>) -> (Vec<String>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let (sock, sock_path) = notify_socket(dir.path());
    let sim = CamSim::start(
        free_port(),
        &[("/car", media("car-detection.mp4").display().to_string())],
        None,
    );
    let cfg = dir.path().join("streetwatch.toml");
    std::fs::write(
        &cfg,
        with_state_dir(
            &format!(
                "[device]\nid = \"box\"\n[[cameras]]\nid = \"a\"\nurl = \"{}\"\n",
                sim.url("/car")
            ),
            &dir.path().join("state"),
        ),
    )
    .unwrap();
    let mut cmd = Command::new(bin());
    cmd.args(["run", "--config"])
        .arg(&cfg)
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "2000000")
        .env_remove("WATCHDOG_PID")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(w) = wedge {
        cmd.env("STREETWATCH_FAULT_WEDGE", w);
    }
    let mut child = cmd.spawn().unwrap();
    let early = recv_all(&sock, Duration::from_secs(3));
    let late = recv_all(&sock, Duration::from_secs(4));
    // SAFETY: kill(2) on the child we spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
    (early, late)
}

#[test]
fn daemon_reports_ready_status_and_watchdog_pings_while_pipelines_progress() {
    let (early, late) = run_under_notify(None);
    assert!(early.iter().any(|m| m.contains("READY=1")), "{early:?}");
    assert!(
        early
            .iter()
            .chain(&late)
            .any(|m| m.contains("STATUS=") && m.contains("cameras streaming"))
    );
    assert!(
        late.iter().filter(|m| m.contains("WATCHDOG=1")).count() >= 4,
        "{late:?}"
    );
}

#[test]
fn watchdog_pings_stop_when_a_camera_pipeline_is_wedged() {
    // Test-only fault switch: camera a's supervisor heartbeat is frozen.
    let (early, late) = run_under_notify(Some("cam-a"));
    assert!(early.iter().any(|m| m.contains("READY=1")));
    assert!(
        !late.iter().any(|m| m.contains("WATCHDOG=1")),
        "pings must stop: {late:?}"
    );
    assert!(
        late.iter().any(|m| m.contains("stalled: cam-a")),
        "{late:?}"
    );
}

#[test]
fn camera_password_never_appears_in_logs_even_at_debug_level() {
    let secret = "Pw-9f3k-NeverLogMe";
    let sim = CamSim::start(
        free_port(),
        &[("/car", media("car-detection.mp4").display().to_string())],
        Some(("admin", secret)),
    );
    // One camera with the right password, one with a wrong one (errors get logged too).
    let config = format!(
        "[device]\nid = \"box\"\n[[cameras]]\nid = \"ok\"\nurl = \"{u}\"\nusername = \"admin\"\npassword = \"{secret}\"\n\
         [[cameras]]\nid = \"bad\"\nurl = \"{u}\"\nusername = \"admin\"\npassword = \"{secret}-x\"\n",
        u = sim.url("/car")
    );
    let mut d = RunningDaemon::start(&config, "debug");
    d.wait_log(
        20,
        "expected one streaming and one unauthorized camera",
        |l| l.contains("camera=ok") && l.contains("status=streaming") && l.contains("unauthorized"),
    );
    d.stop();
    assert!(
        !d.log().contains(secret),
        "the camera password leaked into the log"
    );
}

#[test]
fn a_camera_added_on_the_technician_page_is_saved_and_starts_streaming() {
    use serde_json::{Value, json};
    let sim = CamSim::start(
        free_port(),
        &[("/car", media("car-detection.mp4").display().to_string())],
        None,
    );
    let config = format!(
        "[device]\nid = \"box\"\n[[cameras]]\nid = \"a\"\nurl = \"{}\"\n",
        sim.url("/car")
    );
    let mut d = RunningDaemon::start(&config, "info");
    d.wait_log(30, "page and camera a", |l| {
        l.contains("technician page listening")
            && l.contains("camera=a")
            && l.contains("status=streaming")
    });
    let (c, base, csrf) = d.page();
    // The page shows what the daemon loop publishes.
    wait_for(Duration::from_secs(10), || {
        let status: Value = c
            .get(format!("{base}/api/status"))
            .send()
            .ok()?
            .json()
            .ok()?;
        status
            .to_string()
            .contains("\"state\":\"streaming\"")
            .then_some(())
    })
    .expect("the page shows camera a streaming");
    let r = c
        .post(format!("{base}/api/cameras"))
        .header("X-CSRF-Token", &csrf)
        .json(&json!({"id": "b", "name": "second", "url": sim.url("/car")}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "{:?}", r.text());
    d.wait_log(30, "camera b started from the page", |l| {
        l.contains("applying the configuration saved on the technician page")
            && l.lines()
                .any(|x| x.contains("camera=b") && x.contains("status=streaming"))
    });
    let saved = std::fs::read_to_string(d.config_path()).unwrap();
    assert!(saved.contains("id = \"b\""), "{saved}");
    assert!(
        !d.log().contains("stopping camera"),
        "camera a must keep running"
    );
    // The Uplink & device page lists the model the daemon loaded, as it runs.
    let device: Value = c
        .get(format!("{base}/api/device"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let model = &device["models"][0];
    assert_eq!(model["id"], "yolox-nano", "{device}");
    assert_eq!(model["sha256"].as_str().unwrap().len(), 64, "{device}");
    assert_eq!(model["execution_providers"][0], "cpu", "{device}");
    assert_eq!(
        device["public_key"].as_str().map(str::len),
        Some(44),
        "the uplink made the device key: {device}"
    );
    d.stop();
}

#[test]
fn watchdog_pings_stop_when_an_inference_worker_hangs() {
    // Test-only fault switch: the first YOLOX worker's heartbeat is frozen, as if its
    // session run never returned.
    let (early, late) = run_under_notify(Some("infer-yolox-nano-0"));
    assert!(early.iter().any(|m| m.contains("READY=1")));
    assert!(
        !late.iter().any(|m| m.contains("WATCHDOG=1")),
        "pings must stop: {late:?}"
    );
    assert!(
        late.iter()
            .any(|m| m.contains("stalled: infer-yolox-nano-0")),
        "{late:?}"
    );
}

#[test]
fn broker_settings_saved_on_the_page_restart_the_uplink_on_the_new_broker() {
    let broker = broker::Broker::start(Some(("box", "box-pass-123")));
    let mut d = RunningDaemon::start("[device]\nid = \"box\"\n", "info");
    let (c, base, csrf) = d.page();
    let r = c
        .put(format!("{base}/api/uplink"))
        .header("X-CSRF-Token", &csrf)
        .json(&serde_json::json!({
            "broker": broker.url(), "username": "box", "password": "box-pass-123"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{:?}", r.text());
    d.wait_log(30, "the uplink reconnects to the saved broker", |l| {
        l.contains("uplink settings changed: restarting the uplink")
            && l.contains("uplink: connected to the broker")
    });
    let saved = std::fs::read_to_string(d.config_path()).unwrap();
    assert!(saved.contains(&broker.url()), "{saved}");
    assert!(!d.log().contains("box-pass-123"), "password in the log");
    d.stop();
}

#[test]
fn the_page_shows_the_live_picture_with_detections_and_a_zone_save_swaps_rules_without_restarting_the_camera()
 {
    use serde_json::{Value, json};
    let sim = CamSim::start(
        free_port(),
        &[("/car", media("car-detection.mp4").display().to_string())],
        None,
    );
    let config = format!(
        "[device]\nid = \"box\"\n[[cameras]]\nid = \"a\"\nurl = \"{}\"\n",
        sim.url("/car")
    );
    let mut d = RunningDaemon::start(&config, "info");
    d.wait_log(30, "page and camera a", |l| {
        l.contains("technician page listening")
            && l.contains("camera=a")
            && l.contains("status=streaming")
    });
    let (c, base, csrf) = d.page();
    let get = |path: &str| c.get(format!("{base}{path}")).send().unwrap();
    // The stream's own size, as the status page reports it.
    let (w, h, reconnects) = wait_for(Duration::from_secs(10), || {
        let s: Value = get("/api/status").json().ok()?;
        let cam = &s["cameras"][0];
        Some((
            cam["width"].as_u64()?,
            cam["height"].as_u64()?,
            cam["reconnects"].as_u64()?,
        ))
    })
    .expect("camera a streaming on the status page");
    let r = get("/api/cameras/a/snapshot.jpg");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    let img = image::load_from_memory(&r.bytes().unwrap()).expect("a decodable JPEG");
    assert_eq!((u64::from(img.width()), u64::from(img.height())), (w, h));
    // The clip has cars in it; the detector finds them and the tracker labels them.
    let live = wait_for(Duration::from_secs(30), || {
        let v: Value = get("/api/cameras/a/live").json().ok()?;
        let dets = v["detections"].as_array()?;
        let tracked = dets.iter().any(|d| d["track_id"].is_u64());
        (dets.iter().any(|d| d["class"] == "car") && tracked).then_some(v)
    })
    .expect("live detections with a tracked car");
    assert_eq!(
        (live["width"].as_u64(), live["height"].as_u64()),
        (Some(w), Some(h))
    );
    let b = &live["detections"][0]["bbox"];
    let (x1, x2) = (b[0].as_f64().unwrap(), b[2].as_f64().unwrap());
    assert!((0.0..x2).contains(&x1) && x2 <= 1.0, "normalised box {b}");

    let zone = json!({"zones": [{
        "id": "kerb", "name": "east kerb",
        "polygon": [[0.05, 0.5], [0.6, 0.5], [0.6, 0.95], [0.05, 0.95]],
        "rules": [{"type": "no_parking", "dwell_s": 20}]
    }]});
    let r = c
        .put(format!("{base}/api/cameras/a/zones"))
        .header("X-CSRF-Token", &csrf)
        .json(&zone)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{:?}", r.text());
    d.wait_log(15, "the zone save reaches camera a's rules", |l| {
        l.contains("camera=a") && l.contains("zones reloaded")
    });
    let saved = streetwatch::config::load(&d.config_path()).unwrap();
    assert_eq!(saved.cameras[0].zones[0].id, "kerb");
    // The stream kept running: not restarted, no reconnect, still analysed.
    let seq = get("/api/cameras/a/live").json::<Value>().unwrap()["seq"]
        .as_u64()
        .unwrap();
    wait_for(Duration::from_secs(10), || {
        let v: Value = get("/api/cameras/a/live").json().ok()?;
        (v["seq"].as_u64()? > seq).then_some(())
    })
    .expect("analysis goes on after the zone save");
    let log = d.log();
    assert!(!log.contains("stopping camera"), "{log}");
    assert_eq!(log.matches("starting camera").count(), 1, "{log}");
    let status: Value = get("/api/status").json().unwrap();
    assert_eq!(
        status["cameras"][0]["reconnects"].as_u64(),
        Some(reconnects)
    );
    // A bad zone is refused with its field named; the saved file keeps the good one.
    let r = c
        .put(format!("{base}/api/cameras/a/zones"))
        .header("X-CSRF-Token", &csrf)
        .json(&json!({"zones": [{"id": "kerb", "polygon": [[0.1, 0.1], [0.9, 0.9]]}]}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    assert_eq!(
        r.json::<Value>().unwrap()["problems"][0]["path"],
        "cameras[0].zones[0].polygon"
    );
    assert_eq!(streetwatch::config::load(&d.config_path()).unwrap(), saved);
    d.stop();
}

/// Mean brightness of `img` in a rectangle given in fractions of its size.
fn mean_brightness(img: &image::RgbImage, x0: f32, y0: f32, x1: f32, y1: f32) -> f32 {
    let (w, h) = (img.width() as f32, img.height() as f32);
    let (mut sum, mut n) = (0u64, 0u64);
    for y in (y0 * h) as u32..(y1 * h) as u32 {
        for x in (x0 * w) as u32..(x1 * w) as u32 {
            let p = img.get_pixel(x, y);
            sum += u64::from(p[0]) + u64::from(p[1]) + u64::from(p[2]);
            n += 3;
        }
    }
    sum as f32 / n as f32
}

#[test]
fn dashboard_reports_analysis_fps_uplink_and_thumbnails_with_privacy_zones_blacked_out() {
    use serde_json::Value;
    let sim = CamSim::start(
        free_port(),
        &[("/car", media("car-detection.mp4").display().to_string())],
        None,
    );
    // The top-right quarter of the picture is a neighbour's window: private.
    let config = format!(
        "[device]\nid = \"box\"\n[[cameras]]\nid = \"a\"\nurl = \"{}\"\n\
         [[cameras.zones]]\nid = \"window\"\npolygon = [[0.5, 0.0], [1.0, 0.0], [1.0, 0.5], [0.5, 0.5]]\n\
         [[cameras.zones.rules]]\ntype = \"privacy\"\n",
        sim.url("/car")
    );
    let mut d = RunningDaemon::start(&config, "info");
    d.wait_log(30, "page and camera a", |l| {
        l.contains("technician page listening")
            && l.contains("camera=a")
            && l.contains("status=streaming")
    });
    let (c, base, _) = d.page();
    let get = |path: &str| c.get(format!("{base}{path}")).send().unwrap();
    // Analysis, not just the stream, is running: frames analysed per second.
    let status = wait_for(Duration::from_secs(20), || {
        let s: Value = get("/api/status").json().ok()?;
        (s["cameras"][0]["analysis_fps"].as_f64()? > 0.0).then_some(s)
    })
    .unwrap_or_else(|| panic!("analysis fps > 0 on the status page:\n{}", d.log()));
    let cam = &status["cameras"][0];
    assert_eq!(cam["state"], "streaming");
    assert!(cam["analysed"].as_u64().unwrap() > 0);
    assert!(cam["analysis_fps"].as_f64().unwrap() <= cam["fps"].as_f64().unwrap() + 1.0);
    // No broker in this config: the uplink is there, not connected, and says why;
    // nothing is waiting in the outbox yet.
    assert_eq!(status["uplink"]["available"], true);
    assert_eq!(status["uplink"]["connected"], false);
    assert!(
        status["uplink"]["last_error"]
            .as_str()
            .unwrap()
            .contains("no broker configured"),
        "{status}"
    );
    assert_eq!(status["outbox"]["events"], 0);
    let models = status["health"]["models"].as_array().unwrap();
    assert!(
        models
            .iter()
            .any(|m| m["version"].as_str().is_some_and(|v| !v.is_empty())),
        "models with versions: {status}"
    );
    assert!(
        status["health"]["cpu"]["usage_percent"].is_f64(),
        "{status}"
    );
    let (w, h) = (
        cam["width"].as_u64().unwrap() as u32,
        cam["height"].as_u64().unwrap() as u32,
    );

    let picture = |path: &str| {
        let r = get(path);
        assert_eq!(r.status().as_u16(), 200, "{path}");
        assert_eq!(r.headers()["content-type"], "image/jpeg");
        image::load_from_memory(&r.bytes().unwrap())
            .expect("a decodable JPEG")
            .to_rgb8()
    };
    let thumb = picture("/api/cameras/a/snapshot.jpg?width=320");
    assert_eq!(thumb.width(), 320);
    assert_eq!(thumb.height(), (u64::from(h) * 320 / u64::from(w)) as u32);
    let full = picture("/api/cameras/a/snapshot.jpg");
    assert_eq!(full.dimensions(), (w, h));
    for (name, img) in [("thumbnail", &thumb), ("full picture", &full)] {
        // Inside the privacy zone (a margin off its edges for JPEG ringing): black.
        let inside = mean_brightness(img, 0.55, 0.05, 0.95, 0.45);
        assert!(inside < 6.0, "{name}: privacy zone mean {inside}");
        // The street below it is the camera's picture, not black.
        let outside = mean_brightness(img, 0.05, 0.55, 0.95, 0.95);
        assert!(outside > 30.0, "{name}: street mean {outside}");
    }
    d.stop();
}

/// The box's wall clock stepped 30 s forward (an NTP step, a technician setting the
/// time) while a parking case is open. The real daemon runs under libfaketime, whose
/// offset file the test rewrites; the monotonic clock is left alone, as the kernel
/// leaves it in a real step. The case's phase before the step carries no jump, the
/// next one carries `clock.jump` {system, +30 s}, and the daemon logs the step.
#[test]
fn a_wall_clock_step_during_an_open_case_marks_its_next_phase() {
    let dir = tempfile::tempdir().unwrap();
    let video = parking_scenario(dir.path(), 90.0);
    let sim = CamSim::start(free_port(), &[("/bay", video.display().to_string())], None);
    let broker = support::broker::Broker::start(None);
    let prefix = "streetwatch/box-clock";
    let sub = support::mqtt::Sub::start(broker.port, prefix);
    let offset = dir.path().join("faketime-offset");
    std::fs::write(&offset, "+0\n").unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let cfg = dir.path().join("streetwatch.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"[device]
id = "box-clock"
state_dir = "{state}"
[inference]
models_dir = "{models}"
weights_dir = "{weights}"
[uplink]
broker = "mqtt://127.0.0.1:{port}"
backoff_max_s = 1
health_interval_s = 1
[events.tracker]
stationary_after_s = 2.0
[[cameras]]
id = "bay"
url = "{url}"
[cameras.analysis]
fps = 2.0
[[cameras.zones]]
id = "bay-1"
polygon = [[0.0, 0.15], [0.35, 0.15], [0.35, 0.6], [0.0, 0.6]]
rules = [{{ type = "no_parking", dwell_s = 4, update_every_s = 6, leave_after_s = 30 }}]
"#,
            state = dir.path().join("state").display(),
            models = root.join("models").display(),
            weights = weights_dir().display(),
            port = broker.port,
            url = sim.url("/bay"),
        ),
    )
    .unwrap();
    let env = faketime_env(&offset);
    let env: Vec<(&str, &std::ffi::OsStr)> = env.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
    let d = RunningDaemon::spawn_env(&cfg, &dir.path().join("log"), Some("info"), &env);
    let phase = |p: &str| {
        sub.events()
            .into_iter()
            .find(|e| e["phase"] == p && e["camera"]["id"] == "bay")
    };
    sub.wait("the case started", Duration::from_secs(120), |_| {
        phase("started").is_some()
    });
    let started = phase("started").unwrap();
    assert!(
        started["clock"].is_object() && started["clock"]["jump"].is_null(),
        "no jump before the step: {:#}",
        started["clock"]
    );
    std::fs::write(&offset, "+30\n").unwrap();
    d.wait_log(30, "the daemon to log the step", |l| {
        l.contains("clock jump of +30")
    });
    let jumped = || {
        sub.events().into_iter().find(|e| {
            e["id"] == started["id"] && e["phase"] != "started" && e["clock"]["jump"].is_object()
        })
    };
    sub.wait(
        "a later phase of the case marked with the jump",
        Duration::from_secs(60),
        |_| jumped().is_some(),
    );
    let j = &jumped().unwrap()["clock"]["jump"];
    assert_eq!(j["kind"], "system", "{j:#}");
    let s = j["seconds"].as_f64().unwrap();
    assert!((s - 30.0).abs() < 1.0, "{j:#}");
    assert!(j["at"].is_string(), "{j:#}");
    // Health says it once, whichever camera found it.
    let health_jump = || {
        sub.all().into_iter().rev().find_map(|m| {
            let h: serde_json::Value = serde_json::from_slice(&m.payload).ok()?;
            (m.topic == format!("{prefix}/health") && h["clock"]["last_jump"].is_object())
                .then(|| h["clock"].clone())
        })
    };
    sub.wait("health with the jump", Duration::from_secs(30), |_| {
        health_jump().is_some()
    });
    let c = health_jump().unwrap();
    assert_eq!(c["last_jump"]["kind"], "system", "{c:#}");
    assert_eq!(c["last_jump"]["camera"], "bay", "{c:#}");
    assert!((c["last_jump"]["seconds"].as_f64().unwrap() - 30.0).abs() < 1.0);
    assert_eq!(c["jumps"], 1, "{c:#}");
}

/// `analysis.fps = "auto"` in the running daemon (issue 13): the camera starts at the
/// rate its rules resolve to (logged); a zone edit that keeps that rate reaches the
/// running rules without touching the stream, one that changes it (a littering rule
/// next to the parking rule: 5 fps instead of keyframes) reconnects the stream at the
/// new rate.
#[test]
fn an_auto_rate_camera_reconnects_only_when_a_zone_edit_changes_its_rate() {
    let sim = CamSim::start(
        free_port(),
        &[("/car", media("car-detection.mp4").display().to_string())],
        None,
    );
    let config = |rules: &str| {
        format!(
            "[device]\nid = \"box\"\n[inference]\nmodels_dir = \"{m}\"\nweights_dir = \"{w}\"\n\
             [[cameras]]\nid = \"a\"\nurl = \"{u}\"\n[cameras.analysis]\nfps = \"auto\"\n\
             [[cameras.zones]]\nid = \"bay\"\npolygon = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]\n\
             rules = [{rules}]\n",
            m = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("models")
                .display(),
            w = weights_dir().display(),
            u = sim.url("/car")
        )
    };
    let mut d = RunningDaemon::start(&config("{ type = \"no_parking\", dwell_s = 600 }"), "info");
    let state = d.dir.join("state");
    d.wait_log(30, "the camera starts on keyframes", |l| {
        l.contains("auto: keyframes only (at most 2 s apart, else 1 fps), for no_parking")
            && l.contains("status=streaming")
    });
    let applied = |d: &RunningDaemon, n: usize| {
        d.wait_log(20, "reload applied", |l| {
            l.matches("configuration applied").count() >= n
        });
        let log = d.log();
        log.lines()
            .filter(|l| l.contains("configuration applied"))
            .nth(n - 1)
            .unwrap()
            .to_string()
    };
    // Same rate: the rules change, the stream stays.
    let write =
        |text: String| std::fs::write(d.config_path(), with_state_dir(&text, &state)).unwrap();
    write(config("{ type = \"no_parking\", dwell_s = 900 }"));
    d.signal(libc::SIGHUP);
    let first = applied(&d, 1);
    assert!(first.contains("analysis:a"), "{first}");
    assert!(!d.log().contains("stopping camera (removed or changed)"));
    // A littering rule needs 5 fps: the stream reconnects at that rate.
    write(config(
        "{ type = \"no_parking\", dwell_s = 900 }, { type = \"litter_watch\" }",
    ));
    d.signal(libc::SIGHUP);
    let second = applied(&d, 2);
    assert!(second.contains("camera:a"), "{second}");
    let log = d.log();
    assert!(
        log.contains("stopping camera (removed or changed)"),
        "{log}"
    );
    assert!(
        log.contains("auto: 5 fps, for litter_watch at zones[0].rules[1]"),
        "{log}"
    );
    assert!(d.stop().success());
}
