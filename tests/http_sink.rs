//! The HTTP(S) push sink against the real daemon (`streetwatch run`) with a real RTSP
//! camera (`serve-rtsp`, the parking scenario looped: a car parks in a no-parking bay,
//! phases every few seconds of media time), the reference receiver
//! (`streetwatch receive --http`) as the independent platform, and a real mosquitto.
//! Everything is counted by key: `(id, phase, seq)` committed to the outbox against
//! what arrived.
//!
//! The broker outage is kept short in real time (frozen for ~8 s): the daemon's rules
//! run on media time, so what matters there is that phases are produced and committed
//! while the sink is away. The receiver's outage is the 2 minutes of issue 16 in wall
//! time, long enough for the HTTP sink's backoff to reach its cap and stay there: the
//! requests it made meanwhile are counted against what the cap allows.

mod support;

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::broker::Broker;
use support::daemon::RunningDaemon;
use support::http_script::ScriptedServer;
use support::mqtt::{Key, Sub, committed_keys};
use support::{CamSim, bin, free_port, wait_for, weights_dir};

const SECRET: &str = "a-shared-hmac-secret-for-tests";
/// The receiver's outage in the outage test: issue 16's 2 minutes, in wall time.
const OUTAGE_S: u64 = 120;
/// `[uplink.http] backoff_max_s` in the outage test.
const HTTP_BACKOFF_MAX_S: u64 = 8;

/// `streetwatch receive --http` on `port`, storing into `out`; killed on drop.
struct Receiver {
    child: Child,
    out: PathBuf,
    log: PathBuf,
}

impl Receiver {
    fn start(port: u16, out: &Path, secret_file: Option<&Path>) -> Receiver {
        std::fs::create_dir_all(out).unwrap();
        let log = out.join("receive.log");
        let mut cmd = Command::new(bin());
        cmd.args(["receive", "--http", &format!("127.0.0.1:{port}")])
            .arg("--out")
            .arg(out.join("cases"));
        if let Some(f) = secret_file {
            cmd.arg("--hmac-secret-file").arg(f);
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = cmd
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let rx = Receiver {
            child,
            out: out.to_path_buf(),
            log,
        };
        wait_for(Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port))
                .ok()
                .map(|_| ())
        })
        .unwrap_or_else(|| panic!("receiver did not listen: {}", rx.log()));
        rx
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn db(&self) -> PathBuf {
        self.out.join("cases").join("cases.sqlite")
    }

    /// Rows of the receiver's database (empty while it does not exist yet).
    fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        let Ok(c) = rusqlite::Connection::open_with_flags(
            self.db(),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        ) else {
            return Vec::new();
        };
        let _ = c.busy_timeout(Duration::from_secs(5));
        let Ok(mut stmt) = c.prepare(sql) else {
            return Vec::new();
        };
        let n = stmt.column_count();
        stmt.query_map([], |r| {
            (0..n)
                .map(|i| {
                    r.get::<_, rusqlite::types::Value>(i).map(|v| match v {
                        rusqlite::types::Value::Integer(i) => i.to_string(),
                        rusqlite::types::Value::Text(t) => t,
                        other => format!("{other:?}"),
                    })
                })
                .collect()
        })
        .map(|rows| rows.filter_map(Result::ok).collect())
        .unwrap_or_default()
    }

    fn keys(&self) -> BTreeSet<Key> {
        self.rows("SELECT event_id, phase, seq FROM events")
            .into_iter()
            .map(|r| (r[0].clone(), r[1].clone(), r[2].parse().unwrap()))
            .collect()
    }

    fn counter(&self, name: &str) -> u64 {
        self.rows(&format!("SELECT value FROM counters WHERE name = '{name}'"))
            .first()
            .map_or(0, |r| r[0].parse().unwrap())
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The box: one camera on `url` watching the bay (dwell 4 s, an `updated` every 3 s,
/// short clips), `[uplink]` from `uplink` (TOML lines, `[uplink.http]` included).
fn box_config(dir: &Path, url: &str, uplink: &str) -> PathBuf {
    box_config_with(
        dir,
        url,
        uplink,
        10.0,
        r#"{ type = "no_parking", dwell_s = 4, update_every_s = 3, leave_after_s = 4 }"#,
    )
}

/// [`box_config`] with the camera's pre-roll seconds and its zone's rule (TOML).
fn box_config_with(dir: &Path, url: &str, uplink: &str, preroll_s: f64, rule: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = format!(
        r#"[device]
id = "box-http"
division_code = "440802"
state_dir = "{state}"

[inference]
models_dir = "{models}"
weights_dir = "{weights}"

[web]
listen = "127.0.0.1:0"

{uplink}

[events.tracker]
stationary_after_s = 2.0

[events.evidence.clip]
pre_roll_s = 2.0
post_roll_s = 2.0

[[cameras]]
id = "bay"
url = "{url}"
[cameras.analysis]
fps = 2.0
[cameras.preroll]
seconds = {preroll_s}

[[cameras.zones]]
id = "bay-1"
name = "禁停区"
polygon = [[0.0, 0.15], [0.35, 0.15], [0.35, 0.6], [0.0, 0.6]]
rules = [{rule}]
"#,
        state = dir.join("state").display(),
        models = root.join("models").display(),
        weights = weights_dir().display(),
    );
    let p = dir.join("streetwatch.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// Per-row HTTP state of the outbox: (key, http_state, attempts, status, error).
#[allow(clippy::type_complexity)]
fn http_rows(state: &Path) -> Vec<(Key, Option<String>, u32, Option<u16>, Option<String>)> {
    if !state.join("outbox.sqlite").exists() {
        return Vec::new();
    }
    let c = rusqlite::Connection::open_with_flags(
        state.join("outbox.sqlite"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE,
    )
    .unwrap();
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    // The file exists a moment before its schema (or the HTTP columns) does.
    let Ok(mut st) = c.prepare(
        "SELECT event_id, phase, seq, http_state, http_attempts, http_status, http_error
         FROM events ORDER BY id",
    ) else {
        return Vec::new();
    };
    st.query_map([], |r| {
        Ok((
            (r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64),
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
        ))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// MQTT state of every outbox row (`events.mqtt`: 2 once the broker acknowledged it).
fn mqtt_states(state: &Path) -> Vec<i64> {
    if !state.join("outbox.sqlite").exists() {
        return Vec::new();
    }
    let c = rusqlite::Connection::open_with_flags(
        state.join("outbox.sqlite"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE,
    )
    .unwrap();
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    let Ok(mut st) = c.prepare("SELECT mqtt FROM events") else {
        return Vec::new();
    };
    st.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(&format!("{series} ")))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// One box feeding a real broker and the reference receiver at once, through:
/// a frozen broker (HTTP keeps delivering), the receiver down for 2 minutes (MQTT keeps
/// delivering, the HTTP backlog grows, the page shows the sink unreachable, and the
/// sink retries no more often than its capped backoff allows), a SIGKILL of the daemon
/// while that backlog drains, a restart. In the end both sinks have every committed key, the receiver stored each
/// once with the HMAC verified and every file's sha256 right, and each outbox row is
/// delivered for both sinks.
#[test]
fn http_and_mqtt_each_get_every_key_once_through_outages_and_a_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let video = support::parking_scenario(dir.path(), 40.0);
    let mut sim = CamSim::start(free_port(), &[("/bay", video.display().to_string())], None);
    let broker = Broker::start(None);
    let sub = Sub::start(broker.port, "streetwatch/box-http");
    let secret = dir.path().join("hmac.secret");
    std::fs::write(&secret, format!("{SECRET}\n")).unwrap();
    let rx_port = free_port();
    let rx_dir = dir.path().join("rx");
    let mut rx = Receiver::start(rx_port, &rx_dir, Some(&secret));
    let cfg = box_config(
        dir.path(),
        &sim.url("/bay"),
        &format!(
            r#"[uplink]
broker = "mqtt://127.0.0.1:{}"
keepalive_s = 5
backoff_max_s = 1
chunk_kib = 64
health_interval_s = 2

[uplink.http]
url = "http://127.0.0.1:{rx_port}/streetwatch/events"
media_url = "http://127.0.0.1:{rx_port}/streetwatch/media"
hmac_secret = "{SECRET}"
backoff_max_s = {HTTP_BACKOFF_MAX_S}
connect_timeout_s = 2
timeout_s = 10"#,
            broker.port
        ),
    );
    let state = dir.path().join("state");
    let log = dir.path().join("daemon.log");
    let mut daemon = RunningDaemon::spawn(&cfg, &log, "info");
    let (page, base, _) = daemon.page();
    let http_status = || -> Value {
        let st: Value = page
            .get(format!("{base}/api/status"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        st["uplink"]["http"].clone()
    };

    // 1. Both sinks up: the first phase reaches the receiver.
    wait_for(Duration::from_secs(60), || {
        (!rx.keys().is_empty()).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "nothing reached the receiver\n{}\n{}",
            rx.log(),
            daemon.log()
        )
    });

    // 2. The broker stops answering: HTTP keeps delivering new phases.
    broker.signal(libc::SIGSTOP);
    let before = rx.keys().len();
    let grew = wait_for(Duration::from_secs(30), || {
        (rx.keys().len() >= before + 2).then_some(())
    });
    broker.signal(libc::SIGCONT);
    assert!(
        grew.is_some(),
        "HTTP stopped with the broker: {before} then {}\n{}",
        rx.keys().len(),
        daemon.log()
    );

    // 3. The receiver goes away for 2 minutes of wall time: phases are committed
    //    meanwhile and MQTT keeps delivering them; the HTTP sink retries the head of
    //    its backlog with capped exponential backoff (1, 2, 4, 8, 8, ... s).
    rx.kill();
    let during = committed_keys(&state).len();
    let attempts = || http_rows(&state).iter().map(|r| r.2 as u64).sum::<u64>();
    let attempts_before = attempts();
    let outage = std::time::Instant::now();
    // The page shows the sink down while it is away.
    let down = wait_for(Duration::from_secs(60), || {
        let h = http_status();
        (h["reachable"] == false && h["last_error"].is_string() && h["retries"].as_u64()? >= 2)
            .then_some(h)
    })
    .unwrap_or_else(|| {
        panic!(
            "the page never showed the HTTP sink down: {:#}",
            http_status()
        )
    });
    wait_for(Duration::from_secs(OUTAGE_S + 60), || {
        (committed_keys(&state).len() >= during + 3
            && outage.elapsed() >= Duration::from_secs(OUTAGE_S))
        .then_some(())
    })
    .unwrap_or_else(|| panic!("no phases produced during the outage\n{}", daemon.log()));
    let tries = attempts() - attempts_before;
    let away = outage.elapsed().as_secs_f64();
    let end = http_status();
    assert_eq!(end["reachable"], false, "{end:#}");
    // The backoff doubles from 1 s up to the cap: the first steps take 1+2+4 s, then
    // one try per cap. Each try is one request (a refused connection), booked on the
    // row it was for before it is sent. Two tries of slack for the ends of the window.
    let cap = HTTP_BACKOFF_MAX_S as f64;
    let most = (away / cap).ceil() as u64 + 3 + 2;
    let least = ((away - 7.0) / cap * 0.5).floor() as u64;
    eprintln!(
        "outage of {away:.0} s: {tries} HTTP tries (cap {cap} s: at most {most}, at least {least}); health retries {}",
        end["retries"]
    );
    assert!(
        tries <= most,
        "the HTTP sink hammered the platform: {tries} tries in {away:.0} s with backoff_max_s = {cap}\n{}",
        daemon.log()
    );
    assert!(
        tries >= least,
        "the HTTP sink stopped retrying: {tries} tries in {away:.0} s (down: {down:#})"
    );
    let backlog = http_rows(&state)
        .iter()
        .filter(|r| r.1.as_deref() == Some("pending"))
        .count();
    assert!(backlog >= 3, "HTTP backlog during the outage: {backlog}");

    // 4. The receiver returns; the daemon is SIGKILLed as soon as the first phase of
    //    that backlog arrives (the rest still on its way), then restarted on the same
    //    state.
    let had = rx.keys().len();
    let rx = Receiver::start(rx_port, &rx_dir, Some(&secret));
    // Polled every 5 ms: the backlog drains in a fraction of a second once the
    // sink's next try (at most one backoff cap away) finds the receiver.
    let deadline = std::time::Instant::now() + Duration::from_secs(HTTP_BACKOFF_MAX_S + 20);
    while rx.keys().len() == had && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    daemon.kill();
    let pending_at_kill = http_rows(&state)
        .iter()
        .filter(|r| r.1.as_deref() == Some("pending"))
        .count();
    let before_restart = committed_keys(&state).len();
    let mut daemon = RunningDaemon::spawn(&cfg, &log, "info");
    // The restarted daemon produces again (the parked car's case goes on)...
    wait_for(Duration::from_secs(40), || {
        (committed_keys(&state).len() > before_restart).then_some(())
    })
    .unwrap_or_else(|| panic!("nothing produced after the restart\n{}", daemon.log()));
    // ...then no more phases: the camera goes, the outbox drains.
    sim.kill();

    let settled = wait_for(Duration::from_secs(120), || {
        let committed = committed_keys(&state);
        let done = http_rows(&state)
            .iter()
            .all(|r| r.1.as_deref() == Some("delivered"))
            && mqtt_states(&state).iter().all(|m| *m == 2);
        (done && rx.keys() == committed && sub.keys() == committed).then_some(committed)
    });
    let committed = settled.unwrap_or_else(|| {
        let committed = committed_keys(&state);
        panic!(
            "not every key reached both sinks\ncommitted {}: {committed:?}\nhttp {}: missing {:?}\nmqtt {}: missing {:?}\nrows {:?}\n{}",
            committed.len(),
            rx.keys().len(),
            committed.difference(&rx.keys()).collect::<Vec<_>>(),
            sub.keys().len(),
            committed.difference(&sub.keys()).collect::<Vec<_>>(),
            http_rows(&state),
            daemon.log()
        )
    });
    eprintln!(
        "committed {} phases; HTTP pending at the SIGKILL: {pending_at_kill}; receiver duplicates {}",
        committed.len(),
        rx.counter("duplicates")
    );
    assert!(committed.len() >= 5, "{committed:?}");
    // Every request carried a valid HMAC signature.
    assert_eq!(rx.counter("unauthorized"), 0, "{}", rx.log());
    // Every media file an arrived phase names (and did not report missing) arrived
    // with the right sha256, and the event names the id the receiver answered.
    let mut files = 0;
    let mut received = Vec::new();
    for (id, phase, seq) in &committed {
        let p = rx_dir
            .join("cases")
            .join(id)
            .join(format!("{phase}-{seq}.json"));
        let ev: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        received.push(ev.clone());
        let missing: BTreeSet<&str> = ev["media_missing"]
            .as_array()
            .map(|a| a.iter().filter_map(|m| m["name"].as_str()).collect())
            .unwrap_or_default();
        for m in ev["media"].as_array().unwrap() {
            let name = m["name"].as_str().unwrap();
            if missing.contains(name) {
                continue;
            }
            let state = rx.rows(&format!(
                "SELECT state, sha256 FROM media WHERE event_id = '{id}' AND name = '{name}'"
            ));
            assert_eq!(
                state.first().map(|r| r[0].as_str()),
                Some("ok"),
                "{id}/{name}: {state:?}"
            );
            assert_eq!(state[0][1], m["sha256"].as_str().unwrap(), "{id}/{name}");
            assert_eq!(m["remote_id"], format!("{id}/{name}"), "{id}/{name}");
            files += 1;
        }
    }
    assert!(files > 0, "no media were checked");
    // What arrived over HTTP is the v1 payload (with `remote_id`).
    support::assert_schema_valid(&received);
    // The health the box publishes over MQTT has the HTTP sink's section.
    let http_health = wait_for(Duration::from_secs(10), || {
        sub.all()
            .iter()
            .filter(|m| m.topic.ends_with("/health"))
            .filter_map(|m| serde_json::from_slice::<Value>(&m.payload).ok())
            .find(|h| h["uplink"]["http"]["outbox"]["delivered_total"].as_u64() >= Some(1))
    });
    assert!(
        http_health.is_some(),
        "no health with uplink.http over MQTT"
    );
    let st = daemon.stop_within(20).expect("daemon stops on SIGTERM");
    assert!(st.success(), "daemon exit {st}");
}

/// `event_first` with each file PUT to a URL template: the `started` phase and its
/// files reach the receiver (sha256 right, no `remote_id`). Then (a reload) a platform
/// that answers 400: each phase is refused once (one request, never retried), recorded
/// with the answer's body, counted in health and /metrics and shown by the Events API.
/// Then the receiver with the wrong HMAC secret: 401 refusals, recorded the same way,
/// and the receiver stores none of them.
#[test]
fn refusals_are_recorded_with_their_body_never_retried_and_shown() {
    let dir = tempfile::tempdir().unwrap();
    let video = support::parking_scenario(dir.path(), 40.0);
    let sim = CamSim::start(free_port(), &[("/bay", video.display().to_string())], None);
    let platform = ScriptedServer::start(400, r#"{"error":"unknown category code 9999"}"#);
    let secret = dir.path().join("hmac.secret");
    std::fs::write(&secret, SECRET).unwrap();
    let rx_port = free_port();
    let rx = Receiver::start(rx_port, &dir.path().join("rx"), Some(&secret));
    let uplink = |url: &str, secret: &str, extra: &str| {
        format!(
            r#"[uplink]

[uplink.http]
url = "{url}"
hmac_secret = "{secret}"
backoff_max_s = 1
timeout_s = 10
{extra}"#
        )
    };
    let rx_url = format!("http://127.0.0.1:{rx_port}/events");
    let cfg = box_config(
        dir.path(),
        &sim.url("/bay"),
        &uplink(
            &rx_url,
            SECRET,
            &format!(
                "media_order = \"event_first\"\nmedia_put_template = \"http://127.0.0.1:{rx_port}/media/{{event_id}}/{{name}}\""
            ),
        ),
    );
    let state = dir.path().join("state");
    let mut daemon = RunningDaemon::spawn(&cfg, &dir.path().join("daemon.log"), "info");

    // 1. event_first + PUT: the started phase and every one of its files.
    let started = wait_for(Duration::from_secs(60), || {
        let ok = rx.rows("SELECT name FROM media WHERE state = 'ok'");
        let started = rx
            .keys()
            .into_iter()
            .find(|k| k.1 == "started" && k.2 == 0)?;
        (!ok.is_empty()).then_some(started)
    })
    .unwrap_or_else(|| {
        panic!(
            "no started phase with media\n{}\n{}",
            rx.log(),
            daemon.log()
        )
    });
    let ev: Value = serde_json::from_slice(
        &std::fs::read(
            dir.path()
                .join("rx/cases")
                .join(&started.0)
                .join("started-0.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let names: Vec<&str> = ev["media"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert!(!names.is_empty());
    assert!(ev["media"][0].get("remote_id").is_none(), "{ev:#}");
    wait_for(Duration::from_secs(20), || {
        (rx.rows("SELECT name FROM media WHERE state = 'ok'").len() >= names.len()).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "{names:?} vs {:?}",
            rx.rows("SELECT name, state FROM media")
        )
    });
    let bad = rx.rows("SELECT event_id, name, state FROM media WHERE state != 'ok'");
    assert!(bad.is_empty(), "{bad:?}");

    // 2. A platform answering 400.
    box_config(
        dir.path(),
        &sim.url("/bay"),
        &uplink(&platform.url(), SECRET, ""),
    );
    daemon.signal(libc::SIGHUP);
    let refused = |status: u16| {
        http_rows(&state)
            .into_iter()
            .filter(|r| r.1.as_deref() == Some("refused") && r.3 == Some(status))
            .collect::<Vec<_>>()
    };
    wait_for(Duration::from_secs(60), || {
        (refused(400).len() >= 2).then_some(())
    })
    .unwrap_or_else(|| panic!("no refusal recorded\n{}", daemon.log()));
    // A few more seconds: nothing refused is tried again.
    std::thread::sleep(Duration::from_secs(4));
    let rows = refused(400);
    for r in &rows {
        assert_eq!(r.2, 1, "a refused phase was retried: {r:?}");
        assert_eq!(
            r.4.as_deref(),
            Some(r#"{"error":"unknown category code 9999"}"#)
        );
    }
    assert_eq!(
        platform.count(),
        refused(400).len(),
        "one request per refused phase: {:?}",
        platform.requests.lock().unwrap()
    );
    // Health, /metrics and the Events API show it.
    let (c, base, _) = daemon.page();
    let status: Value = c
        .get(format!("{base}/api/status"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let http = &status["uplink"]["http"];
    assert!(http["outbox"]["refused"].as_u64().unwrap() >= 2, "{http:#}");
    assert!(
        http["last_refusal"]
            .as_str()
            .unwrap()
            .starts_with("HTTP 400: {\"error\":\"unknown category code 9999\"}"),
        "{http:#}"
    );
    let metrics = c
        .get(format!("{base}/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(metric(&metrics, "streetwatch_http_refused_total").unwrap() >= 2.0);
    let events: Value = c
        .get(format!("{base}/api/events"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let shown = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["http_refusal"]["status"] == 400)
        .unwrap_or_else(|| panic!("{events:#}"));
    assert_eq!(
        shown["http_refusal"]["body"],
        r#"{"error":"unknown category code 9999"}"#
    );
    assert_eq!(shown["delivery"], "refused");

    // 3. The wrong secret against the receiver: 401, recorded, none stored.
    box_config(
        dir.path(),
        &sim.url("/bay"),
        &uplink(&rx_url, "not-the-shared-secret", ""),
    );
    daemon.signal(libc::SIGHUP);
    wait_for(Duration::from_secs(60), || {
        (!refused(401).is_empty()).then_some(())
    })
    .unwrap_or_else(|| panic!("no 401 recorded\n{}\n{}", rx.log(), daemon.log()));
    for r in refused(401) {
        assert_eq!(r.2, 1, "{r:?}");
        assert!(r.4.as_deref().unwrap().contains("bad signature"), "{r:?}");
    }
    assert!(rx.counter("unauthorized") >= 1);
    for r in refused(400).iter().chain(refused(401).iter()) {
        assert!(
            !rx.keys().contains(&r.0),
            "a refused phase was stored: {r:?}"
        );
    }
    let st = daemon.stop_within(20).expect("daemon stops on SIGTERM");
    assert!(st.success(), "daemon exit {st}");
}

/// Files of the outbox's media rows still on disk, with their sizes.
fn outbox_files(state: &Path) -> Vec<(PathBuf, u64)> {
    if !state.join("outbox.sqlite").exists() {
        return Vec::new();
    }
    let c = rusqlite::Connection::open_with_flags(
        state.join("outbox.sqlite"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE,
    )
    .unwrap();
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    let Ok(mut st) = c.prepare("SELECT path FROM media WHERE file_present = 1") else {
        return Vec::new();
    };
    st.query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .filter_map(Result::ok)
        .map(PathBuf::from)
        .filter_map(|p| std::fs::metadata(&p).ok().map(|m| (p, m.len())))
        .collect()
}

/// Retention under pressure while MQTT has everything and the HTTP platform is away:
/// `[events.evidence] max_total_mib = 1`, every phase acknowledged by the broker, none
/// taken by the platform. The daemon is restarted with the folder over its limit, so
/// retention runs at once: it deletes none of it (a row is finished only when every
/// sink it is owed to has it). When the receiver comes up, every committed phase and
/// every file reach it, sha256 checked by the receiver. The camera is the one of the
/// MQTT retention test (`fault_disk`): a stay confirmed every loop of the video, 10 s
/// clips, JPEG quality 100.
#[test]
fn evidence_the_platform_has_not_taken_survives_retention_while_mqtt_has_it_all() {
    let dir = tempfile::tempdir().unwrap();
    let video = support::parking_scenario(dir.path(), 8.0);
    let sim = CamSim::start(free_port(), &[("/bay", video.display().to_string())], None);
    let broker = Broker::start(None);
    let sub = Sub::start(broker.port, "streetwatch/box-http");
    let rx_port = free_port();
    let state = dir.path().join("state");
    let cfg = box_config_with(
        dir.path(),
        &sim.url("/bay"),
        &format!(
            r#"[uplink]
broker = "mqtt://127.0.0.1:{}"
keepalive_s = 5
backoff_max_s = 1
chunk_kib = 64

[uplink.http]
url = "http://127.0.0.1:{rx_port}/streetwatch/events"
backoff_max_s = 1
connect_timeout_s = 2

[events.evidence]
max_total_mib = 1
jpeg_quality = 100
illegal_parking_clip = {{ pre_roll_s = 8.0, post_roll_s = 2.0 }}"#,
            broker.port
        ),
        20.0,
        r#"{ type = "no_parking", dwell_s = 4, leave_after_s = 2 }"#,
    );
    let mut daemon = RunningDaemon::spawn(&cfg, &dir.path().join("daemon-1.log"), "info");
    let bytes = |files: &[(PathBuf, u64)]| files.iter().map(|f| f.1).sum::<u64>();
    wait_for(Duration::from_secs(150), || {
        let acked = mqtt_states(&state);
        (bytes(&outbox_files(&state)) > 1 << 20
            && !acked.is_empty()
            && acked.iter().all(|s| *s == 2))
        .then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "evidence never passed 1 MiB with every phase at the broker ({} bytes):\n{}",
            bytes(&outbox_files(&state)),
            daemon.log()
        )
    });
    assert!(daemon.stop_within(30).expect("stops").success());
    let files = outbox_files(&state);
    assert!(bytes(&files) > 1 << 20, "{} bytes", bytes(&files));
    assert!(
        mqtt_states(&state).iter().all(|s| *s == 2),
        "the broker has every phase"
    );
    // Restarted over the limit: retention runs after the first analysed frame.
    let daemon = RunningDaemon::spawn(&cfg, &dir.path().join("daemon-2.log"), "info");
    let (page, base, _) = daemon.page();
    daemon.wait_analysed(&page, &base, 3, 60);
    for (f, _) in &files {
        assert!(
            f.exists(),
            "{} deleted before the platform took it",
            f.display()
        );
    }
    // The platform comes up: everything committed reaches it, each file verified.
    let rx = Receiver::start(rx_port, &dir.path().join("rx"), None);
    let committed = committed_keys(&state);
    wait_for(Duration::from_secs(90), || {
        let ok = rx.rows("SELECT COUNT(*) FROM media WHERE state = 'ok'");
        let ok: usize = ok.first().map_or(0, |r| r[0].parse().unwrap());
        (committed.is_subset(&rx.keys()) && ok >= files.len()).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "the platform got {} of {} phases\n{}\n{}",
            rx.keys().len(),
            committed.len(),
            rx.log(),
            daemon.log()
        )
    });
    assert!(committed.is_subset(&sub.keys()), "MQTT has every phase too");
    eprintln!(
        "retention with the platform away: {} kB of evidence the broker had against a 1024 kB limit, none deleted; {} phases and {} files then reached the platform",
        bytes(&files) / 1024,
        committed.len(),
        files.len()
    );
}

/// How many log lines of `daemon` contain `what`.
fn log_count(daemon: &RunningDaemon, what: &str) -> usize {
    daemon.log().lines().filter(|l| l.contains(what)).count()
}

/// The `applied=` list of the last "configuration applied" log line.
fn last_applied(daemon: &RunningDaemon) -> String {
    daemon
        .log()
        .lines()
        .rev()
        .find(|l| l.contains("configuration applied"))
        .and_then(|l| l.split("applied=").nth(1))
        .map(|r| {
            r.split(" restart_required=")
                .next()
                .unwrap_or(r)
                .to_string()
        })
        .unwrap_or_default()
}

/// MQTT and HTTP are separate parts of the daemon. While both deliver, a SIGHUP with
/// a broken `[uplink.http]` (an `ftp://` URL) is refused and both sinks run on; one that
/// changes only `[uplink.http]` restarts the HTTP sink alone: the broker sees no new
/// connection (no second `online` status, one "connected" log line) and the reload
/// reports `uplink-http` only. Then one that changes only the MQTT settings restarts
/// the MQTT uplink alone (a second `online`) and leaves the HTTP sink running. In the
/// end every committed key reached the broker once and the receiver once.
#[test]
fn a_reload_of_one_sink_restarts_only_that_sink() {
    let dir = tempfile::tempdir().unwrap();
    let video = support::parking_scenario(dir.path(), 40.0);
    let mut sim = CamSim::start(free_port(), &[("/bay", video.display().to_string())], None);
    let broker = Broker::start(None);
    let sub = Sub::start(broker.port, "streetwatch/box-http");
    let rx_port = free_port();
    let rx = Receiver::start(rx_port, &dir.path().join("rx"), None);
    let uplink = |health_s: u32, http_timeout_s: u32| {
        format!(
            r#"[uplink]
broker = "mqtt://127.0.0.1:{}"
keepalive_s = 5
backoff_max_s = 1
chunk_kib = 64
health_interval_s = {health_s}

[uplink.http]
url = "http://127.0.0.1:{rx_port}/streetwatch/events"
backoff_max_s = 1
connect_timeout_s = 2
timeout_s = {http_timeout_s}"#,
            broker.port
        )
    };
    let cfg = box_config(dir.path(), &sim.url("/bay"), &uplink(2, 10));
    let state = dir.path().join("state");
    let mut daemon = RunningDaemon::spawn(&cfg, &dir.path().join("daemon.log"), "info");
    let online = || {
        sub.status()
            .iter()
            .filter(|s| s["state"] == "online")
            .count()
    };
    let both = |n: usize| {
        wait_for(Duration::from_secs(60), || {
            (rx.keys().len() >= n && sub.keys().len() >= n).then_some(())
        })
        .unwrap_or_else(|| {
            panic!(
                "{n} keys did not reach both sinks (http {}, mqtt {})\n{}",
                rx.keys().len(),
                sub.keys().len(),
                daemon.log()
            )
        })
    };
    both(1);
    assert_eq!(online(), 1, "{:?}", sub.status());
    assert_eq!(log_count(&daemon, "uplink: connected to the broker"), 1);
    assert_eq!(log_count(&daemon, "uplink-http: delivering"), 1);

    // 0. A broken [uplink.http] is refused as a whole: both sinks run on untouched.
    box_config(
        dir.path(),
        &sim.url("/bay"),
        &uplink(2, 10).replace("url = \"http://", "url = \"ftp://"),
    );
    daemon.signal(libc::SIGHUP);
    daemon.wait_log(30, "the broken reload refused", |l| {
        l.contains("config reload refused") && l.contains("uplink.http.url")
    });
    let n = committed_keys(&state).len();
    both(n + 1);
    assert_eq!(online(), 1, "{:?}", sub.status());
    assert_eq!(log_count(&daemon, "uplink-http: delivering"), 1);

    // 1. Only [uplink.http] changes.
    box_config(dir.path(), &sim.url("/bay"), &uplink(2, 11));
    daemon.signal(libc::SIGHUP);
    daemon.wait_log(30, "the HTTP sink restarted", |l| {
        l.lines()
            .filter(|l| l.contains("uplink-http: delivering"))
            .count()
            == 2
    });
    daemon.wait_log(30, "the first reload applied", |l| {
        l.matches("configuration applied").count() == 1
    });
    assert_eq!(last_applied(&daemon), "uplink-http", "{}", daemon.log());
    let n = committed_keys(&state).len();
    both(n + 2);
    assert_eq!(
        online(),
        1,
        "MQTT reconnected for an HTTP change: {:?}",
        sub.status()
    );
    assert_eq!(
        log_count(&daemon, "uplink: connected to the broker"),
        1,
        "{}",
        daemon.log()
    );

    // 2. Only the MQTT settings change.
    box_config(dir.path(), &sim.url("/bay"), &uplink(3, 11));
    daemon.signal(libc::SIGHUP);
    wait_for(Duration::from_secs(30), || (online() == 2).then_some(()))
        .unwrap_or_else(|| panic!("MQTT did not reconnect\n{}", daemon.log()));
    daemon.wait_log(30, "the second reload applied", |l| {
        l.matches("configuration applied").count() == 2
    });
    assert_eq!(last_applied(&daemon), "uplink", "{}", daemon.log());
    let n = committed_keys(&state).len();
    both(n + 1);
    assert_eq!(
        log_count(&daemon, "uplink-http: delivering"),
        2,
        "the HTTP sink restarted for an MQTT change\n{}",
        daemon.log()
    );

    // Every committed key reached each sink once.
    sim.kill();
    let committed = wait_for(Duration::from_secs(60), || {
        let committed = committed_keys(&state);
        let done = http_rows(&state)
            .iter()
            .all(|r| r.1.as_deref() == Some("delivered"))
            && mqtt_states(&state).iter().all(|m| *m == 2);
        (done && rx.keys() == committed && sub.keys() == committed).then_some(committed)
    })
    .unwrap_or_else(|| {
        let committed = committed_keys(&state);
        panic!(
            "not every key reached both sinks: http missing {:?}, mqtt missing {:?}\n{}",
            committed.difference(&rx.keys()).collect::<Vec<_>>(),
            committed.difference(&sub.keys()).collect::<Vec<_>>(),
            daemon.log()
        )
    });
    let events: Vec<Key> = sub.events().iter().map(support::mqtt::key_of).collect();
    assert_eq!(
        events.len(),
        committed.len(),
        "a key reached the broker twice"
    );
    let stored = rx.rows("SELECT COUNT(*) FROM events");
    assert_eq!(stored[0][0], committed.len().to_string());
    eprintln!(
        "reloads: {} phases, each once at the broker and the receiver (receiver duplicates answered: {}); MQTT connections: {}",
        committed.len(),
        rx.counter("duplicates"),
        online()
    );
    let st = daemon.stop_within(20).expect("daemon stops on SIGTERM");
    assert!(st.success(), "daemon exit {st}");
}

/// Committed phases that name at least one media file (0 while the outbox does not
/// exist yet).
fn committed_with_media(state: &Path) -> usize {
    outbox_count(
        state,
        "SELECT COUNT(*) FROM events e WHERE EXISTS (SELECT 1 FROM media m WHERE m.event_row = e.id)",
    )
}

/// Files on disk the broker acknowledged but the HTTP sink has not delivered.
fn broker_only_files(state: &Path) -> usize {
    outbox_count(
        state,
        "SELECT COUNT(*) FROM media WHERE state = 'acknowledged' AND http_done = 0 AND file_present = 1",
    )
}

/// A `SELECT COUNT(*)` over the outbox, read-only (0 while it does not exist yet).
fn outbox_count(state: &Path, sql: &str) -> usize {
    rusqlite::Connection::open_with_flags(
        state.join("outbox.sqlite"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .and_then(|db| db.query_row(sql, [], |r| r.get::<_, i64>(0)))
    .unwrap_or(0) as usize
}

/// `/metrics` of the running daemon (from 127.0.0.1: no session needed).
fn page_metrics(daemon: &RunningDaemon) -> String {
    reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap()
        .get(format!("{}/metrics", daemon.base_url()))
        .send()
        .unwrap()
        .text()
        .unwrap()
}

/// The state disk (a 40 MiB tmpfs) fills up for 24 s with the HTTP sink as the only
/// sink: the platform (the reference receiver) is down for the first half and back
/// for the second, while the disk stays full and the camera keeps producing. Then
/// space returns: the running daemon commits and delivers again. After a clean stop
/// and a restart, every committed phase has reached the receiver exactly once; each
/// file it names arrived with its sha256 right or is named in the event's
/// `media_missing` with its reason (never deleted silently), and those losses add up
/// to what `/metrics` counts by reason.
#[test]
fn disk_full_with_the_http_sink_every_committed_key_arrives_once_and_every_lost_file_is_counted() {
    disk_full_case(false);
}

/// [`disk_full_with_the_http_sink_every_committed_key_arrives_once_and_every_lost_file_is_counted`]
/// with a broker up throughout beside the HTTP sink and `keep_delivered_media = true`:
/// on the full disk the outbox first deletes delivered files it keeps, and a file the
/// broker has but the platform has not taken is not one of them. Every file the log
/// says was deleted as kept evidence reached the receiver whole; no file the platform
/// lacks went unreadable (`write_failed`); the broker too got every phase once.
#[test]
fn disk_full_with_http_and_mqtt_deletes_no_kept_file_the_platform_has_not_taken() {
    disk_full_case(true);
}

fn disk_full_case(with_mqtt: bool) {
    let dir = tempfile::tempdir().unwrap();
    let Some(mnt) = support::fault::Tmpfs::mount(&dir.path().join("state"), 40) else {
        return;
    };
    let state = mnt.0.clone();
    let video = support::parking_scenario(dir.path(), 12.0);
    let mut sim = CamSim::start(free_port(), &[("/bay", video.display().to_string())], None);
    let rx_port = free_port();
    let rx_dir = dir.path().join("rx");
    let broker = with_mqtt.then(|| Broker::start(None));
    let sub = broker
        .as_ref()
        .map(|b| Sub::start(b.port, "streetwatch/box-http"));
    let mqtt = match &broker {
        Some(b) => format!(
            "broker = \"mqtt://127.0.0.1:{}\"\nkeepalive_s = 5\nbackoff_max_s = 1\nchunk_kib = 64\nkeep_delivered_media = true",
            b.port
        ),
        None => String::new(),
    };
    let cfg = box_config_with(
        dir.path(),
        &sim.url("/bay"),
        &format!(
            r#"[uplink]
{mqtt}

[uplink.http]
url = "http://127.0.0.1:{rx_port}/streetwatch/events"
media_url = "http://127.0.0.1:{rx_port}/streetwatch/media"
backoff_max_s = 1
connect_timeout_s = 2
timeout_s = 10"#
        ),
        20.0,
        r#"{ type = "no_parking", dwell_s = 4, leave_after_s = 2 }"#,
    );
    let mut daemon = RunningDaemon::spawn(&cfg, &dir.path().join("daemon-1.log"), "info");
    // With the broker: until files the broker acknowledged, which the platform (down)
    // has not taken, lie on disk: the files the full disk must not take for "kept".
    wait_for(Duration::from_secs(90), || {
        (committed_with_media(&state) >= 2 && (!with_mqtt || broker_only_files(&state) >= 1))
            .then_some(())
    })
    .unwrap_or_else(|| panic!("no event with evidence committed:\n{}", daemon.log()));
    let broker_only = broker_only_files(&state);

    // Something else fills the disk and keeps it full; halfway the platform returns.
    let start = std::time::Instant::now();
    let mut rx = None;
    let mut k = 0;
    while start.elapsed() < Duration::from_secs(24) {
        support::fault::fill(&state.join(format!("filler-{k}")));
        k += 1;
        if rx.is_none() && start.elapsed() >= Duration::from_secs(12) {
            rx = Some(Receiver::start(rx_port, &rx_dir, None));
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let rx = rx.unwrap();
    for i in 0..k {
        std::fs::remove_file(state.join(format!("filler-{i}"))).unwrap();
    }
    // Space is back: the running daemon commits and delivers again.
    let before = committed_with_media(&state);
    let had = rx.keys().len();
    wait_for(Duration::from_secs(60), || {
        (committed_with_media(&state) > before && rx.keys().len() > had).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "nothing committed and delivered once space returned:\n{}",
            daemon.log()
        )
    });
    let st = daemon.stop_within(30).expect("stops on SIGTERM");
    assert!(st.success(), "{}", daemon.log());
    sim.kill();
    let committed = committed_keys(&state);
    let daemon = RunningDaemon::spawn(&cfg, &dir.path().join("daemon-2.log"), "info");
    wait_for(Duration::from_secs(90), || {
        let done = http_rows(&state)
            .iter()
            .all(|r| r.1.as_deref() == Some("delivered"));
        (done && rx.keys() == committed).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "not every committed phase reached the platform: missing {:?}\nrows {:?}\n{}",
            committed.difference(&rx.keys()).collect::<Vec<_>>(),
            http_rows(&state),
            daemon.log()
        )
    });
    let stored = rx.rows("SELECT COUNT(*) FROM events");
    assert_eq!(
        stored[0][0],
        committed.len().to_string(),
        "stored once each"
    );
    if let Some(sub) = &sub {
        wait_for(Duration::from_secs(60), || {
            (sub.keys() == committed && mqtt_states(&state).iter().all(|m| *m == 2)).then_some(())
        })
        .unwrap_or_else(|| {
            panic!(
                "the broker lacks {:?}\n{}",
                committed.difference(&sub.keys()).collect::<Vec<_>>(),
                daemon.log()
            )
        });
        assert_eq!(
            sub.events().len(),
            committed.len(),
            "a key reached the broker twice"
        );
    }
    // Each file: arrived whole, or named missing with its reason.
    let mut whole = 0;
    let mut lost: std::collections::BTreeMap<(String, String), String> = Default::default();
    for (id, phase, seq) in &committed {
        let p = rx_dir
            .join("cases")
            .join(id)
            .join(format!("{phase}-{seq}.json"));
        let ev: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        let missing: std::collections::BTreeMap<String, String> = ev["media_missing"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| {
                (
                    m["name"].as_str().unwrap().to_string(),
                    m["reason"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        for (name, reason) in &missing {
            assert!(
                matches!(reason.as_str(), "disk_full" | "cap" | "write_failed"),
                "{id}/{name}: {reason}"
            );
            lost.insert((id.clone(), name.clone()), reason.clone());
        }
        for m in ev["media"].as_array().unwrap() {
            let name = m["name"].as_str().unwrap();
            if missing.contains_key(name) {
                continue;
            }
            let row = rx.rows(&format!(
                "SELECT state, sha256 FROM media WHERE event_id = '{id}' AND name = '{name}'"
            ));
            assert_eq!(
                row.first().map(|r| r[0].as_str()),
                Some("ok"),
                "{id}/{name}: {row:?}"
            );
            assert_eq!(row[0][1], m["sha256"].as_str().unwrap(), "{id}/{name}");
            whole += 1;
        }
    }
    assert!(
        lost.values().any(|r| r == "disk_full"),
        "the full disk cost no evidence: the fault was not exercised ({lost:?})"
    );
    // Kept (delivered) evidence given back on the full disk: only files the platform
    // has whole. A file deleted as "delivered" while the platform still lacked it would
    // have gone unreadable for the sink (`write_failed`).
    let mut released = 0;
    for line in std::fs::read_to_string(dir.path().join("daemon-1.log"))
        .unwrap()
        .lines()
        .filter(|l| l.contains("deleted delivered evidence kept on the box"))
    {
        let path = line
            .split("path=")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap()
            .trim_matches('"');
        let p = Path::new(path);
        let id = p.parent().unwrap().file_name().unwrap().to_string_lossy();
        let name = p.file_name().unwrap().to_string_lossy();
        let row = rx.rows(&format!(
            "SELECT state FROM media WHERE event_id = '{id}' AND name = '{name}'"
        ));
        assert_eq!(
            row.first().map(|r| r[0].as_str()),
            Some("ok"),
            "{path} deleted as delivered evidence before the platform had it"
        );
        released += 1;
    }
    if with_mqtt {
        assert!(
            !lost.values().any(|r| r == "write_failed"),
            "a file went unreadable: {lost:?}"
        );
    }
    // Counted: /metrics by reason, nothing decided was lost.
    let text = page_metrics(&daemon);
    for r in ["disk_full", "cap", "write_failed"] {
        let series = format!("streetwatch_evidence_dropped_total{{reason=\"{r}\"}}");
        let n = lost.values().filter(|x| *x == r).count();
        assert_eq!(metric(&text, &series), Some(n as f64), "{series}\n{text}");
    }
    assert_eq!(
        metric(&text, "streetwatch_events_dropped_total"),
        Some(0.0),
        "{text}"
    );
    eprintln!(
        "disk full ({}): {} phases committed, each stored once by the platform; {whole} files arrived whole, {} named missing with their reason and counted ({:?}); {released} delivered files released as kept evidence; {broker_only} files only the broker had when the disk filled",
        if with_mqtt { "HTTP + MQTT" } else { "HTTP" },
        committed.len(),
        lost.len(),
        lost.values().fold(
            std::collections::BTreeMap::<&str, usize>::new(),
            |mut m, r| {
                *m.entry(r.as_str()).or_default() += 1;
                m
            }
        )
    );
}
