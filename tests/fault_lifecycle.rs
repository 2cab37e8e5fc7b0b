//! The daemon's lifecycle under faults, end to end: the real `streetwatch run`, a real
//! mosquitto, a real RTSP camera (`serve-rtsp` playing a parked-car scenario built at
//! test time) and a real full disk (tmpfs; root only, reported as SKIPPED otherwise).
//!
//! Every fault test counts by key `(id, phase, seq)`: phases decided by the rules (the
//! `event decided` log lines), committed to the outbox (its database), delivered to the
//! broker, and lost (the `event lost` lines and the health counters).

mod support;

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use support::broker::Broker;
use support::daemon::RunningDaemon;
use support::fault::{Tmpfs, fill};
use support::mqtt::{Key, Sub};
use support::*;

const PREFIX: &str = "streetwatch/box";

/// `key=value` of a log line (values written with `%`, so unquoted).
fn field(line: &str, key: &str) -> Option<String> {
    let needle = format!(" {key}=");
    let rest = &line[line.find(&needle)? + needle.len()..];
    Some(rest.split(' ').next()?.trim_end_matches(',').to_string())
}

/// Keys of the log lines containing `marker`.
fn keys_in_log(log: &str, marker: &str) -> BTreeSet<Key> {
    log.lines()
        .filter(|l| l.contains(marker))
        .filter_map(|l| {
            Some((
                field(l, "event")?,
                field(l, "phase")?,
                field(l, "seq")?.parse().ok()?,
            ))
        })
        .collect()
}

/// Phases the rules decided.
fn decided(log: &str) -> BTreeSet<Key> {
    keys_in_log(log, " event decided ")
}

/// Phases counted as lost.
fn lost(log: &str) -> BTreeSet<Key> {
    keys_in_log(log, " event lost: ")
}

/// Phases committed, from the outbox database itself.
fn committed(state: &Path) -> BTreeSet<Key> {
    support::mqtt::committed_keys(state)
}

/// The box config for these tests: cameras on `url`, each `(id, dwell_s,
/// update_every_s)` with a no-parking zone around the parked car; evidence clips of
/// 2+2 s; `events` goes into `[events]`.
fn box_config(
    state: &Path,
    broker_port: u16,
    web: &str,
    url: &str,
    cameras: &[(&str, f64, f64)],
    events: &str,
) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cameras: String = cameras
        .iter()
        .map(|(id, dwell_s, update_every_s)| {
            format!(
                r#"
[[cameras]]
id = "{id}"
url = "{url}"
[cameras.analysis]
fps = 2.0
[cameras.preroll]
seconds = 20.0

[[cameras.zones]]
id = "{id}-1"
polygon = [[0.0, 0.15], [0.35, 0.15], [0.35, 0.6], [0.0, 0.6]]
rules = [{{ type = "no_parking", dwell_s = {dwell_s}, update_every_s = {update_every_s}, leave_after_s = 30 }}]
"#
            )
        })
        .collect();
    format!(
        r#"[device]
id = "box"
division_code = "440802"
state_dir = "{state}"

[inference]
models_dir = "{models}"
weights_dir = "{weights}"

[web]
listen = "{web}"

[uplink]
broker = "mqtt://127.0.0.1:{broker_port}"
keepalive_s = 5
health_interval_s = 2
backoff_max_s = 1
chunk_kib = 64

[events]
{events}

[events.evidence.clip]
pre_roll_s = 2.0
post_roll_s = 2.0
{cameras}"#,
        state = state.display(),
        models = root.join("models").display(),
        weights = weights_dir().display(),
    )
}

/// A logged-in page client on `base` (the daemon's state dir holds the setup code).
fn login(base: &str, state: &Path) -> reqwest::blocking::Client {
    let c = reqwest::blocking::Client::builder()
        .cookie_store(true)
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let code = std::fs::read_to_string(state.join("web/setup-code")).unwrap_or_default();
    let r = c
        .post(format!("{base}/api/setup"))
        .json(&serde_json::json!({"code": code.trim(), "password": "a-long-test-passphrase-42"}))
        .send()
        .unwrap();
    if !r.status().is_success() {
        let r = c
            .post(format!("{base}/api/login"))
            .json(&serde_json::json!({"password": "a-long-test-passphrase-42"}))
            .send()
            .unwrap();
        assert!(r.status().is_success(), "login: {:?}", r.text());
    }
    c
}

fn csrf(c: &reqwest::blocking::Client, base: &str) -> String {
    let r = c
        .post(format!("{base}/api/login"))
        .json(&serde_json::json!({"password": "a-long-test-passphrase-42"}))
        .send()
        .unwrap();
    r.json::<Value>().unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `GET /metrics` from the box itself (no session needed on loopback).
fn metrics(base: &str) -> String {
    reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
        .get(format!("{base}/metrics"))
        .send()
        .and_then(|r| r.text())
        .unwrap_or_default()
}

/// Value of a metric sample line starting with `series`.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series))?
        .rsplit_once(' ')?
        .1
        .parse()
        .ok()
}

fn uplink_worker(config: &Path) -> Child {
    Command::new(bin())
        .args(["uplink-worker", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// A systemd-style notify socket the test owns, read by a thread into a list.
struct NotifySocket {
    path: PathBuf,
    got: Arc<std::sync::Mutex<Vec<(Instant, String)>>>,
    stop: Arc<AtomicBool>,
}

impl NotifySocket {
    fn bind(dir: &Path) -> NotifySocket {
        let path = dir.join("notify.sock");
        let sock = UnixDatagram::bind(&path).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let got: Arc<std::sync::Mutex<Vec<(Instant, String)>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (g, s) = (got.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !s.load(Ordering::Relaxed) {
                if let Ok(n) = sock.recv(&mut buf) {
                    g.lock()
                        .unwrap()
                        .push((Instant::now(), String::from_utf8_lossy(&buf[..n]).into()));
                }
            }
        });
        NotifySocket { path, got, stop }
    }

    /// Messages received at or after `since`.
    fn since(&self, since: Instant) -> Vec<String> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _)| *t >= since)
            .map(|(_, m)| m.clone())
            .collect()
    }
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Keeps a tmpfs full: writes a new filler file every 200 ms (space the outbox gives
/// back by dropping media is taken again), until dropped.
struct KeepFull {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    dir: PathBuf,
}

impl KeepFull {
    fn start(dir: &Path) -> KeepFull {
        let stop = Arc::new(AtomicBool::new(false));
        let dir_for_drop = dir.to_path_buf();
        let (s, dir) = (stop.clone(), dir.to_path_buf());
        let thread = std::thread::spawn(move || {
            let mut i = 0;
            while !s.load(Ordering::Relaxed) {
                fill(&dir.join(format!("filler-{i}")));
                i += 1;
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        KeepFull {
            stop,
            thread: Some(thread),
            dir: dir_for_drop,
        }
    }
}

/// Dropping it gives the space back: the filler files go.
impl Drop for KeepFull {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        for e in std::fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            if e.file_name().to_string_lossy().starts_with("filler-") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// The state directory on a small tmpfs is full when the daemon starts: the outbox
/// cannot open, the uplink cannot create its key, the page cannot write its
/// certificate. The camera keeps playing a parked car, so the rules decide phases
/// during the outage. Once the space is freed, everything recovers within seconds
/// (the space watch, not a long timer) and every decided phase is committed and
/// delivered exactly once, with its media.
#[test]
fn outbox_uplink_and_page_unavailable_at_start_recover_within_seconds_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mnt) = Tmpfs::mount(&dir.path().join("state"), 16) else {
        return;
    };
    let state = mnt.0.clone();
    let filler = state.join("filler");
    assert!(fill(&filler) > 0);
    let video = parking_scenario(dir.path(), 90.0);
    let sim = CamSim::start(free_port(), &[("/bay", video.display().to_string())], None);
    let broker = Broker::start(None);
    let sub = Sub::start(broker.port, PREFIX);
    let cfg = dir.path().join("streetwatch.toml");
    std::fs::write(
        &cfg,
        // Camera `bay` reports the parked car during the outage; camera `late` sees
        // the same car with a longer dwell and reports it after recovery, with media.
        box_config(
            &state,
            broker.port,
            "127.0.0.1:0",
            &sim.url("/bay"),
            &[("bay", 4.0, 3.0), ("late", 30.0, 600.0)],
            "",
        ),
    )
    .unwrap();
    let mut d = RunningDaemon::spawn(&cfg, &dir.path().join("log"), "info");
    d.wait_log(60, "phases decided while the outbox cannot open", |l| {
        decided(l).len() >= 3
    });
    let log = d.log();
    assert!(log.contains("outbox unavailable"), "{log}");
    assert!(log.contains("uplink unavailable"), "{log}");
    assert!(log.contains("technician page unavailable"), "{log}");
    assert!(!log.contains("technician page listening"), "{log}");
    assert!(committed(&state).is_empty());
    assert!(sub.keys().is_empty());

    // Space returns: the outbox, the uplink and the page come back within seconds.
    std::fs::remove_file(&filler).unwrap();
    let freed = Instant::now();
    d.wait_log(30, "outbox open after space returned", |l| {
        l.contains("outbox open")
    });
    let outbox_after = freed.elapsed();
    sub.wait(
        "online after space returned",
        Duration::from_secs(30),
        |_| sub.status().iter().any(|s| s["state"] == "online"),
    );
    let uplink_after = freed.elapsed();
    let base = d.base_url();
    let page_after = freed.elapsed();
    eprintln!(
        "recovery after space returned: outbox {outbox_after:?}, uplink {uplink_after:?}, page {page_after:?}"
    );
    assert!(
        outbox_after < Duration::from_secs(8),
        "outbox reopened after {outbox_after:?}"
    );
    assert!(
        page_after < Duration::from_secs(15),
        "page back after {page_after:?}"
    );
    // The page works and shows nothing lost; /metrics agrees.
    let c = login(&base, &state);
    let status: Value = c
        .get(format!("{base}/api/status"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(status["events"]["lost_total"], 0, "{status}");
    assert_eq!(status["events"]["outbox_open"], true, "{status}");
    let m = metrics(&base);
    assert_eq!(metric(&m, "streetwatch_outbox_open"), Some(1.0), "{m}");
    assert!(!m.contains("streetwatch_events_lost_total{"), "{m}");

    // The second case starts with space available (its media is written), then the
    // camera goes away: nothing more is decided; what was is committed and delivered.
    let started = |l: &str| {
        keys_in_log(l, " event event=")
            .iter()
            .filter(|k| k.1 == "started")
            .count()
    };
    assert!(
        decided(&d.log())
            .iter()
            .filter(|k| k.1 == "started")
            .count()
            < 2,
        "the second case started during the outage"
    );
    d.wait_log(
        90,
        "the second case's started phase committed after recovery",
        |l| started(l) >= 2,
    );
    let mut sim = sim;
    sim.kill();
    std::thread::sleep(Duration::from_secs(3));
    wait_for(Duration::from_secs(60), || {
        let c = committed(&state);
        (!c.is_empty() && sub.keys() == c).then_some(())
    })
    .unwrap_or_else(|| panic!("delivery caught up:\n{}", d.log()));
    // Let the last PUBACKs be booked before the stop.
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        d.stop_within(20).is_some_and(|s| s.success()),
        "{}",
        d.log()
    );
    let log = d.log();
    let decided = decided(&log);
    let committed = committed(&state);
    assert!(lost(&log).is_empty(), "{log}");
    assert_eq!(
        decided.difference(&committed).collect::<Vec<_>>(),
        Vec::<&Key>::new(),
        "decided but not committed"
    );
    assert_eq!(decided, committed);
    // Each commit is announced after it: one `event` line per committed key.
    assert_eq!(keys_in_log(&log, " event event="), committed);

    // What the daemon did not deliver before it stopped, the uplink worker does.
    let mut worker = uplink_worker(&cfg);
    let delivered = wait_for(Duration::from_secs(60), || {
        (sub.keys() == committed).then_some(())
    });
    let _ = worker.kill();
    let _ = worker.wait();
    delivered.unwrap_or_else(|| {
        panic!(
            "delivered != committed: missing {:?}",
            committed.difference(&sub.keys()).collect::<Vec<_>>()
        )
    });
    let events = sub.events();
    assert_eq!(events.len(), committed.len(), "no duplicate deliveries");
    assert_schema_valid(&events);
    // Every delivered media item reassembles to the sha256 its event names.
    let mut checked = 0;
    for e in &events {
        let id = e["id"].as_str().unwrap();
        for m in e["media"].as_array().unwrap() {
            let name = m["name"].as_str().unwrap();
            let (manifest, bytes) = wait_for(Duration::from_secs(30), || sub.media(id, name))
                .unwrap_or_else(|| panic!("media {id}/{name} incomplete"));
            if manifest["evidence_dropped"] == true {
                continue;
            }
            assert_eq!(
                hex::encode(Sha256::digest(&bytes)),
                m["sha256"].as_str().unwrap(),
                "{id}/{name}"
            );
            checked += 1;
        }
    }
    eprintln!(
        "decided {} = committed {} = delivered {}; {checked} media verified",
        decided.len(),
        committed.len(),
        events.len()
    );
    assert!(
        checked > 0,
        "media written after space returned must arrive"
    );
}

/// The outbox refuses events (its disk is kept full) long enough to overflow a queue
/// of 3: analysis goes on, the watchdog keeps being fed, and every phase that could
/// not be kept is counted by camera and kind in the health JSON, `/metrics` and the
/// page. Then SIGTERM while the outbox still refuses: the daemon exits within the
/// unit's TimeoutStopSec (20 s), counting what it could not commit.
#[test]
fn a_refusing_outbox_overflows_a_small_queue_counted_by_camera_and_kind_and_sigterm_exits_in_time()
{
    let dir = tempfile::tempdir().unwrap();
    let Some(mnt) = Tmpfs::mount(&dir.path().join("state"), 24) else {
        return;
    };
    let state = mnt.0.clone();
    let video = parking_scenario(dir.path(), 90.0);
    let sim = CamSim::start(free_port(), &[("/bay", video.display().to_string())], None);
    let broker = Broker::start(None);
    let sub = Sub::start(broker.port, PREFIX);
    let notify = NotifySocket::bind(dir.path());
    let cfg = dir.path().join("streetwatch.toml");
    std::fs::write(
        &cfg,
        box_config(
            &state,
            broker.port,
            "127.0.0.1:0",
            &sim.url("/bay"),
            &[("bay", 3.0, 1.0)],
            "queue_depth = 3",
        ),
    )
    .unwrap();
    let mut d = RunningDaemon::spawn_env(
        &cfg,
        &dir.path().join("log"),
        Some("info"),
        &[
            ("NOTIFY_SOCKET", notify.path.as_os_str()),
            ("WATCHDOG_USEC", OsStr::new("4000000")),
        ],
    );
    let base = d.base_url();
    d.wait_log(60, "phases committed before the disk fills", |l| {
        keys_in_log(l, " event event=").len() >= 2
    });
    let c = login(&base, &state);
    let status = || -> Value {
        c.get(format!("{base}/api/status"))
            .send()
            .unwrap()
            .json()
            .unwrap()
    };

    // Something else fills the disk, and keeps it full.
    let full = KeepFull::start(&state);
    let refusing = Instant::now();
    let m = wait_for(Duration::from_secs(60), || {
        let m = metrics(&base);
        (metric(
            &m,
            "streetwatch_events_lost_total{camera=\"bay\",kind=\"illegal_parking\",reason=\"queue_full\"}",
        )
        .is_some_and(|n| n >= 2.0))
        .then_some(m)
    })
    .unwrap_or_else(|| panic!("no queue overflow counted:\n{}\n{}", metrics(&base), d.log()));
    assert_eq!(metric(&m, "streetwatch_outbox_refusing"), Some(1.0), "{m}");
    assert_eq!(
        metric(&m, "streetwatch_events_queue_capacity"),
        Some(3.0),
        "{m}"
    );
    assert!(
        metric(&m, "streetwatch_events_pending").unwrap() >= 1.0,
        "{m}"
    );
    // The page: lost by camera and kind, and the outbox's reason.
    let s1 = status();
    let ev = &s1["events"];
    assert!(ev["lost_total"].as_u64().unwrap() >= 2, "{s1}");
    assert_eq!(ev["lost"][0]["camera"], "bay", "{s1}");
    assert_eq!(ev["lost"][0]["kind"], "illegal_parking", "{s1}");
    assert_eq!(ev["lost"][0]["reason"], "queue_full", "{s1}");
    assert!(
        ev["outbox_error"]
            .as_str()
            .is_some_and(|e| e.contains("disk is full")),
        "{s1}"
    );
    // Analysis goes on and the watchdog is fed while the outbox refuses.
    let analysed = |s: &Value| s["cameras"][0]["analysed"].as_u64().unwrap();
    let a1 = analysed(&s1);
    let pings_from = Instant::now();
    std::thread::sleep(Duration::from_secs(5));
    let s2 = status();
    assert!(
        analysed(&s2) > a1,
        "analysis stopped: {a1} -> {}",
        analysed(&s2)
    );
    assert!(
        s2["events"]["lost_total"].as_u64() > ev["lost_total"].as_u64(),
        "phases keep being decided, and counted: {s2}"
    );
    let pings = notify
        .since(pings_from)
        .iter()
        .filter(|m| m.contains("WATCHDOG=1"))
        .count();
    assert!(
        pings >= 2,
        "watchdog pings while the outbox refuses: {pings}"
    );
    assert!(
        !notify.since(refusing).iter().any(|m| m.contains("stalled")),
        "{:?}",
        notify.since(refusing)
    );
    // The health JSON on MQTT carries the same counts.
    sub.wait("health with lost events", Duration::from_secs(20), |msgs| {
        msgs.iter()
            .filter(|m| m.topic == format!("{PREFIX}/health"))
            .filter_map(|m| serde_json::from_slice::<Value>(&m.payload).ok())
            .any(|h| {
                h["events"]["lost"].as_array().is_some_and(|l| {
                    l.iter().any(|x| {
                        x["camera"] == "bay"
                            && x["kind"] == "illegal_parking"
                            && x["count"].as_u64() > Some(0)
                    })
                })
            })
    });

    // SIGTERM while the outbox still refuses.
    let t = Instant::now();
    let exit = d.stop_within(25);
    let took = t.elapsed();
    drop(full);
    let log = d.log();
    let exit = exit.unwrap_or_else(|| panic!("did not exit on SIGTERM:\n{log}"));
    eprintln!("exit after SIGTERM with a refusing outbox: {took:?}");
    assert!(exit.success(), "{exit}:\n{log}");
    assert!(took < Duration::from_secs(20), "{took:?}");
    // Every decided phase is committed or counted as lost; none both, none neither.
    let decided = decided(&log);
    let committed = committed(&state);
    let lost = lost(&log);
    assert!(committed.is_disjoint(&lost));
    let accounted: BTreeSet<Key> = committed.union(&lost).cloned().collect();
    assert_eq!(decided, accounted);
    assert!(lost.len() >= 2);
    assert!(log.contains("decided events never committed"), "{log}");
    // Delivered phases are committed ones.
    assert!(sub.keys().is_subset(&committed));
}

/// A reload restarts exactly the parts whose settings changed and says so: by file
/// and `cmd reload-config` (timezone, division code, zone dwell, a model whose weights
/// were missing and are now there, the runtime library), then by config import on
/// the page (log level, model threads, page address, queue depth). The camera's
/// stream is never reconnected.
#[test]
fn reload_applies_each_changed_slice_without_restarting_the_rest_and_answers_with_what_it_did() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    // A weights directory without rdd-yolo11n: that model fails to load at first.
    // (STREETWATCH_ASSETS, which tests set, wins over inference.weights_dir.)
    let assets = dir.path().join("assets");
    let weights = assets.join("models");
    std::fs::create_dir_all(weights.join("yolox-nano")).unwrap();
    for f in std::fs::read_dir(weights_dir().join("yolox-nano")).unwrap() {
        let f = f.unwrap().path();
        std::os::unix::fs::symlink(&f, weights.join("yolox-nano").join(f.file_name().unwrap()))
            .unwrap();
    }
    let video = parking_scenario(dir.path(), 120.0);
    let sim = CamSim::start(free_port(), &[("/bay", video.display().to_string())], None);
    let broker = Broker::start(None);
    let sub = Sub::start(broker.port, PREFIX);
    let (p1, p2) = (free_port(), free_port());
    let cfg = dir.path().join("streetwatch.toml");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let write = |tz: &str, division: &str, dwell: f64, library: &str| {
        let text = format!(
            r#"[device]
id = "box"
timezone = "{tz}"
division_code = "{division}"
state_dir = "{state}"

[logging]
level = "info"

[inference]
{library}
models_dir = "{models}"
weights_dir = "{weights}"

[web]
listen = "127.0.0.1:{p1}"

[uplink]
broker = "mqtt://127.0.0.1:{port}"
keepalive_s = 5
backoff_max_s = 1

[[cameras]]
id = "bay"
url = "{url}"
[cameras.analysis]
fps = 1.0
models = ["yolox-nano", "rdd-yolo11n"]

[[cameras.zones]]
id = "bay-1"
polygon = [[0.0, 0.15], [0.35, 0.15], [0.35, 0.6], [0.0, 0.6]]
rules = [{{ type = "no_parking", dwell_s = {dwell}, update_every_s = 600 }}]
"#,
            state = state.display(),
            models = root.join("models").display(),
            weights = weights.display(),
            port = broker.port,
            url = sim.url("/bay"),
        );
        std::fs::write(&cfg, text).unwrap();
    };
    write("Asia/Shanghai", "440802", 3600.0, "");
    let d = RunningDaemon::spawn_env(
        &cfg,
        &dir.path().join("log"),
        None,
        &[("STREETWATCH_ASSETS", assets.as_os_str())],
    );
    let base = format!("https://127.0.0.1:{p1}");
    d.wait_log(60, "camera streaming, one model unavailable", |l| {
        l.contains("technician page listening")
            && l.contains("camera=bay")
            && l.contains("model unavailable")
            && l.contains("uplink: connected to the broker")
    });
    let c = login(&base, &state);
    let status = |c: &reqwest::blocking::Client, base: &str| -> Value {
        c.get(format!("{base}/api/status"))
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    let cam = wait_for(Duration::from_secs(30), || {
        let s = status(&c, &base);
        (s["cameras"][0]["state"] == "streaming" && s["cameras"][0]["analysed"].as_u64()? > 0)
            .then(|| s["cameras"][0].clone())
    })
    .unwrap_or_else(|| panic!("camera analysing:\n{}", d.log()));
    let reconnects = cam["reconnects"].as_u64().unwrap();
    assert!(!d.log().contains(" DEBUG "), "logging starts at info");

    // 1. By file, answered on MQTT: the missing weights are copied in, the timezone,
    // division code and dwell change, and the runtime library (restart-only).
    std::fs::create_dir_all(weights.join("rdd-yolo11n")).unwrap();
    for f in std::fs::read_dir(weights_dir().join("rdd-yolo11n")).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, weights.join("rdd-yolo11n").join(f.file_name().unwrap())).unwrap();
    }
    let lib = std::env::var("STREETWATCH_ORT_LIB")
        .unwrap_or_else(|_| "/usr/lib/streetwatch/libonnxruntime.so".into());
    write(
        "Asia/Urumqi",
        "440803",
        3.0,
        &format!("library_path = \"{lib}\""),
    );
    sub.client
        .publish(
            format!("{PREFIX}/cmd"),
            rumqttc::QoS::AtLeastOnce,
            false,
            serde_json::to_vec(&serde_json::json!({"id": "reload-1", "cmd": "reload-config"}))
                .unwrap(),
        )
        .unwrap();
    let answer = wait_for(Duration::from_secs(60), || {
        sub.all()
            .iter()
            .filter(|m| m.topic == format!("{PREFIX}/cmd/response"))
            .filter_map(|m| serde_json::from_slice::<Value>(&m.payload).ok())
            .find(|a| a["id"] == "reload-1")
    })
    .unwrap_or_else(|| panic!("no answer to reload-config:\n{}", d.log()));
    eprintln!("reload-config answer: {answer}");
    let list = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    let applied = list(&answer["applied"]);
    assert_eq!(answer["ok"], true, "{answer}");
    assert!(
        applied.contains(&"model:rdd-yolo11n".to_string()),
        "{answer}"
    );
    assert!(applied.contains(&"analysis:bay".to_string()), "{answer}");
    assert!(
        !applied.iter().any(|a| a.starts_with("camera:")),
        "{answer}"
    );
    assert!(!applied.contains(&"web".to_string()), "{answer}");
    assert!(!applied.contains(&"uplink".to_string()), "{answer}");
    assert_eq!(
        list(&answer["restart_required"]),
        ["inference.library_path"]
    );
    assert_eq!(answer["complete"], false);
    // The parked car is reported at the new dwell, stamped with the new timezone and
    // division code, by the running analysis.
    let started = wait_for(Duration::from_secs(60), || {
        sub.events()
            .into_iter()
            .find(|e| e["kind"] == "illegal_parking" && e["phase"] == "started")
    })
    .unwrap_or_else(|| panic!("no started phase after the reload:\n{}", d.log()));
    assert!(
        started["times"]["start"]
            .as_str()
            .unwrap()
            .ends_with("+06:00"),
        "Asia/Urumqi: {started}"
    );
    assert_eq!(started["device"]["division_code"], "440803", "{started}");
    let s = status(&c, &base);
    assert_eq!(s["cameras"][0]["reconnects"].as_u64(), Some(reconnects));
    assert!(
        s["health"]["models"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == "rdd-yolo11n"),
        "{s}"
    );

    // 2. Config import on the page: log level, model threads, queue depth and the
    // page's own address. The answer comes after the reload, through the old page.
    let exported = c
        .get(format!("{base}/api/config/export"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let mut edited: toml::Table = toml::from_str(&exported).unwrap();
    edited["logging"]["level"] = "debug".into();
    edited["inference"]
        .as_table_mut()
        .unwrap()
        .insert("intra_threads".into(), 2.into());
    edited["events"]
        .as_table_mut()
        .unwrap()
        .insert("queue_depth".into(), 64.into());
    edited["web"]["listen"] = format!("127.0.0.1:{p2}").into();
    let token = csrf(&c, &base);
    let r = c
        .post(format!("{base}/api/config/import"))
        .header("X-CSRF-Token", &token)
        .body(toml::to_string(&edited).unwrap())
        .send()
        .unwrap();
    let answer: Value = r.json().unwrap();
    eprintln!("import answer: {answer}");
    let applied = list(&answer["reload"]["applied"]);
    for part in [
        "logging",
        "web",
        "events.queue_depth",
        "model:yolox-nano",
        "model:rdd-yolo11n",
        "analysis:bay",
    ] {
        assert!(applied.contains(&part.to_string()), "{part}: {answer}");
    }
    assert!(
        !applied.iter().any(|a| a.starts_with("camera:")),
        "{answer}"
    );
    assert!(!applied.contains(&"uplink".to_string()), "{answer}");
    assert!(!applied.contains(&"outbox".to_string()), "{answer}");
    assert_eq!(
        answer["reload"]["failed"],
        serde_json::json!([]),
        "{answer}"
    );
    // The page moved; the old address is gone.
    let base2 = format!("https://127.0.0.1:{p2}");
    let c2 = wait_for(Duration::from_secs(20), || {
        reqwest::blocking::Client::builder()
            .cookie_store(true)
            .danger_accept_invalid_certs(true)
            .timeout(Duration::from_secs(10))
            .build()
            .ok()
            .filter(|c| {
                c.get(format!("{base2}/api/openapi.json"))
                    .send()
                    .is_ok_and(|r| r.status().is_success())
            })
    })
    .unwrap_or_else(|| panic!("page not on the new address:\n{}", d.log()));
    assert!(std::net::TcpStream::connect(("127.0.0.1", p1)).is_err());
    // The level applies at once: debug lines appear.
    d.wait_log(20, "debug lines after the import", |l| {
        l.contains(" DEBUG ")
    });
    // The stream was never reconnected, and analysis goes on with the new services.
    let c2 = {
        drop(c2);
        login(&base2, &state)
    };
    let s = status(&c2, &base2);
    let a = s["cameras"][0]["analysed"].as_u64().unwrap();
    wait_for(Duration::from_secs(20), || {
        (status(&c2, &base2)["cameras"][0]["analysed"].as_u64()? > a).then_some(())
    })
    .expect("analysis goes on after the model services were rebuilt");
    let s = status(&c2, &base2);
    assert_eq!(s["cameras"][0]["reconnects"].as_u64(), Some(reconnects));
    let log = d.log();
    assert_eq!(log.matches("starting camera").count(), 1, "{log}");
    assert!(!log.contains("stopping camera"), "{log}");
}

/// Each thread that matters is watched: when one wedges (test-only fault switch: the
/// thread blocks for good at its next heartbeat), the watchdog pings stop and the
/// status names it.
#[test]
fn watchdog_pings_stop_when_the_uplink_committer_evidence_or_web_thread_wedges() {
    let sim = CamSim::start(
        free_port(),
        &[("/car", media("car-detection.mp4").display().to_string())],
        None,
    );
    for component in ["uplink", "events", "evidence-a", "web"] {
        let dir = tempfile::tempdir().unwrap();
        let notify = NotifySocket::bind(dir.path());
        let cfg = dir.path().join("streetwatch.toml");
        std::fs::write(
            &cfg,
            support::daemon::with_state_dir(
                &format!(
                    "[device]\nid = \"box\"\n[[cameras]]\nid = \"a\"\nurl = \"{}\"\n",
                    sim.url("/car")
                ),
                &dir.path().join("state"),
            ),
        )
        .unwrap();
        let d = RunningDaemon::spawn_env(
            &cfg,
            &dir.path().join("log"),
            Some("info"),
            &[
                ("NOTIFY_SOCKET", notify.path.as_os_str()),
                ("WATCHDOG_USEC", OsStr::new("2000000")),
                ("STREETWATCH_FAULT_BLOCK", OsStr::new(component)),
            ],
        );
        let t0 = Instant::now();
        wait_for(Duration::from_secs(60), || {
            notify
                .since(t0)
                .iter()
                .any(|m| m.contains("READY=1"))
                .then_some(())
        })
        .unwrap_or_else(|| panic!("{component}: no READY:\n{}", d.log()));
        // Stale after 2 s (max age = WATCHDOG_USEC); look at the seconds after.
        std::thread::sleep(Duration::from_secs(4));
        let from = Instant::now();
        std::thread::sleep(Duration::from_secs(3));
        let late = notify.since(from);
        assert!(
            !late.is_empty(),
            "{component}: status lines must keep coming"
        );
        assert!(
            !late.iter().any(|m| m.contains("WATCHDOG=1")),
            "{component}: pings must stop: {late:?}"
        );
        assert!(
            late.iter()
                .any(|m| m.contains(&format!("stalled: {component}"))),
            "{component}: {late:?}"
        );
        assert!(
            d.log().contains("blocking this thread for good"),
            "{component}: the fault switch did not fire:\n{}",
            d.log()
        );
        // `d` is killed (SIGKILL) on drop: a wedged thread would hold a graceful stop.
    }
}
