//! Disk faults against the real daemon: the state disk fills up, evidence retention is
//! under pressure while the broker is away, the daemon is killed between writing
//! evidence and committing its event, and the outbox lives for years. Each test
//! counts by key what the box produced (committed outbox rows and the evidence they
//! name) against what reached a real mosquitto, and checks that every piece of
//! evidence that did not arrive is marked on its event with a reason and counted in
//! health and `/metrics`.

mod support;

use rusqlite::{Connection, OpenFlags};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::broker::Broker;
use support::daemon::RunningDaemon;
use support::fault::{Tmpfs, fill};
use support::mqtt::{Key, Sub, key_of};
use support::{CamSim, free_port, wait_for};

const PREFIX: &str = "streetwatch/box-fault";

/// The daemon's config: one camera on the parking scenario with a 4 s dwell, so a stay
/// is confirmed every loop of the video (about every 15 s), each with three snapshots
/// and their crops, a clip and an `ended` snapshot; the broker on `port` (which may be
/// down).
fn config(dir: &Path, state: &Path, port: u16, url: &str, evidence: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = format!(
        r#"[device]
id = "box-fault"
state_dir = "{state}"

[inference]
models_dir = "{models}"
weights_dir = "{weights}"

[web]
listen = "127.0.0.1:0"

[uplink]
broker = "mqtt://127.0.0.1:{port}"
keepalive_s = 5
health_interval_s = 2
backoff_max_s = 1
chunk_kib = 64

[events.evidence]
{evidence}

[events.evidence.clip]
pre_roll_s = 2.0
post_roll_s = 2.0

[[cameras]]
id = "bay"
name = "Car park bay"
url = "{url}"
[cameras.analysis]
fps = 2.0
[cameras.preroll]
seconds = 20.0

[[cameras.zones]]
id = "bay-1"
name = "禁停区 1"
location = "停车场东侧出口"
polygon = [[0.0, 0.15], [0.35, 0.15], [0.35, 0.6], [0.0, 0.6]]
rules = [{{ type = "no_parking", dwell_s = 4, leave_after_s = 2 }}]
"#,
        state = state.display(),
        models = root.join("models").display(),
        weights = support::weights_dir().display(),
    );
    let p = dir.join("streetwatch.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// What the outbox committed: every phase key, the evidence each names (with its
/// sha256) and the evidence it says was never written.
#[derive(Debug, Default)]
struct Committed {
    keys: BTreeSet<Key>,
    /// (event id, name) -> sha256
    media: BTreeMap<(String, String), String>,
    /// (event id, name) -> reason, for evidence never written (not in `media`).
    never_written: BTreeMap<(String, String), String>,
    /// `media_missing` entries at commit: never written, or gone by then.
    missing_at_commit: u64,
}

fn committed(state: &Path) -> Committed {
    let db = Connection::open_with_flags(
        state.join("outbox.sqlite"),
        OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut stmt = db.prepare("SELECT body FROM events ORDER BY id").unwrap();
    let bodies: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut c = Committed::default();
    for b in bodies {
        let ev: Value = serde_json::from_str(&b).unwrap();
        assert!(c.keys.insert(key_of(&ev)), "a key committed twice");
        let id = ev["id"].as_str().unwrap().to_string();
        for m in ev["media"].as_array().unwrap() {
            let k = (id.clone(), m["name"].as_str().unwrap().to_string());
            let dup = c
                .media
                .insert(k.clone(), m["sha256"].as_str().unwrap().into());
            assert!(dup.is_none(), "{k:?} named by two phases");
        }
        for m in ev["media_missing"].as_array().into_iter().flatten() {
            c.missing_at_commit += 1;
            let k = (id.clone(), m["name"].as_str().unwrap().to_string());
            if !c.media.contains_key(&k) {
                c.never_written
                    .insert(k, m["reason"].as_str().unwrap().to_string());
            }
        }
    }
    c
}

fn committed_count(state: &Path) -> usize {
    let Ok(db) = Connection::open_with_flags(
        state.join("outbox.sqlite"),
        OpenFlags::SQLITE_OPEN_READ_ONLY,
    ) else {
        return 0;
    };
    db.query_row(
        "SELECT COUNT(*) FROM events e WHERE EXISTS (SELECT 1 FROM media m WHERE m.event_row = e.id)",
        [],
        |r| r.get::<_, i64>(0),
    )
    .unwrap_or(0) as usize
}

/// How each committed piece of evidence ended at the broker.
#[derive(Debug, Default)]
struct Outcome {
    delivered: usize,
    /// (event id, name) -> reason, for evidence announced as dropped.
    lost: BTreeMap<(String, String), String>,
}

/// Wait until the broker has every committed key and the manifest (and, unless it is
/// marked dropped, every chunk) of every committed media item; then check each.
fn delivered(sub: &Sub, c: &Committed, daemon: &RunningDaemon) -> Outcome {
    let complete = || {
        let keys = sub.keys();
        (c.keys.is_subset(&keys)
            && c.media
                .keys()
                .all(|(id, name)| sub.media(id, name).is_some()))
        .then_some(())
    };
    wait_for(Duration::from_secs(90), complete).unwrap_or_else(|| {
        let keys = sub.keys();
        let missing: Vec<_> = c.keys.difference(&keys).collect();
        let media: Vec<_> = c
            .media
            .keys()
            .filter(|(id, n)| sub.media(id, n).is_none())
            .collect();
        panic!(
            "not delivered: keys {missing:?}, media {media:?}\nlog:\n{}",
            daemon.log()
        )
    });
    let events = sub.events();
    let keys: Vec<Key> = events.iter().map(key_of).collect();
    let distinct: BTreeSet<Key> = keys.iter().cloned().collect();
    assert_eq!(keys.len(), distinct.len(), "a key was delivered twice");
    assert_eq!(distinct, c.keys, "delivered keys == committed keys");
    support::assert_schema_valid(&events);
    let mut out = Outcome::default();
    for ((id, name), sha) in &c.media {
        let (manifest, bytes) = sub.media(id, name).unwrap();
        if manifest["evidence_dropped"] == true {
            let reason = manifest["dropped_reason"].as_str().unwrap_or_default();
            assert!(
                matches!(reason, "disk_full" | "cap" | "write_failed"),
                "{manifest}"
            );
            out.lost.insert((id.clone(), name.clone()), reason.into());
        } else {
            assert_eq!(&hex::encode(Sha256::digest(&bytes)), sha, "{id}/{name}");
            out.delivered += 1;
        }
    }
    // The platform learns of every loss from the signed event itself too, unless the
    // event went out before its media had to go (then the manifest says it).
    for ev in &events {
        let id = ev["id"].as_str().unwrap();
        for m in ev["media_missing"].as_array().into_iter().flatten() {
            let k = (id.to_string(), m["name"].as_str().unwrap().to_string());
            assert!(
                out.lost.contains_key(&k) || c.never_written.contains_key(&k),
                "{k:?} named missing but delivered"
            );
        }
    }
    out
}

/// The newest health report on MQTT once its counters satisfy `ok`.
fn health_where(sub: &Sub, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let topic = format!("{PREFIX}/health");
    wait_for(Duration::from_secs(20), || {
        sub.all()
            .iter()
            .rev()
            .filter(|m| m.topic == topic)
            .map(|m| serde_json::from_slice::<Value>(&m.payload).unwrap())
            .next()
            .filter(|h| ok(h))
    })
    .unwrap_or_else(|| {
        let last = sub
            .all()
            .iter()
            .rev()
            .find(|m| m.topic == topic)
            .map(|m| String::from_utf8_lossy(&m.payload).to_string());
        panic!("health never showed {what}; last: {last:?}")
    })
}

/// `/metrics` of the running daemon (from 127.0.0.1: no session needed).
fn metrics(daemon: &RunningDaemon) -> String {
    let base = daemon.base_url();
    reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap()
        .get(format!("{base}/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap()
}

fn metric(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse::<f64>().ok())
        .unwrap_or_else(|| panic!("{series} not in /metrics:\n{text}")) as u64
}

fn reason_total(h: &Value) -> u64 {
    ["disk_full", "cap", "write_failed"]
        .iter()
        .map(|r| h["dropped"]["evidence_dropped"][r].as_u64().unwrap_or(0))
        .sum()
}

/// Everything that did not arrive is counted: the health counters by reason add up
/// to the evidence announced dropped plus the evidence never written, and `/metrics`
/// says the same.
fn assert_losses_counted(sub: &Sub, daemon: &RunningDaemon, c: &Committed, out: &Outcome) {
    let mut by_reason: BTreeMap<String, u64> = BTreeMap::new();
    for r in out.lost.values().chain(c.never_written.values()) {
        *by_reason.entry(r.clone()).or_default() += 1;
    }
    let lost = (out.lost.len() + c.never_written.len()) as u64;
    let h = health_where(sub, "the losses counted", |h| {
        reason_total(h) == lost && h["dropped"]["events_dropped"].as_u64() == Some(0)
    });
    for (r, n) in &by_reason {
        assert_eq!(
            h["dropped"]["evidence_dropped"][r].as_u64(),
            Some(*n),
            "{h:#}"
        );
    }
    assert_eq!(
        h["dropped"]["media_missing"].as_u64(),
        Some(c.missing_at_commit),
        "{h:#}"
    );
    let text = metrics(daemon);
    for r in ["disk_full", "cap", "write_failed"] {
        assert_eq!(
            metric(
                &text,
                &format!("streetwatch_evidence_dropped_total{{reason=\"{r}\"}}")
            ),
            by_reason.get(r).copied().unwrap_or(0),
            "{r}"
        );
    }
}

/// One line for the test log (the figures the README's guarantees table quotes).
fn report(what: &str, c: &Committed, out: &Outcome) {
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    for r in out.lost.values().chain(c.never_written.values()) {
        *reasons.entry(r).or_default() += 1;
    }
    eprintln!(
        "{what}: {} phases committed, all delivered once; {} media committed: {} delivered whole, {} dropped before delivery; {} never written; losses by reason {reasons:?}, all counted",
        c.keys.len(),
        c.media.len(),
        out.delivered,
        out.lost.len(),
        c.never_written.len()
    );
}

// ------------------------------------------------------------------------- tests

/// The state disk (a 40 MiB tmpfs) fills up for 25 s while the broker is away,
/// then space returns and so does the broker. Evidence that could not be written or
/// had to be given back is named on its event with reason `disk_full` and counted;
/// everything else arrives whole; every committed phase arrives exactly once.
#[test]
fn disk_full_for_a_while_then_freed_every_committed_key_arrives_once_and_every_lost_file_is_counted()
 {
    let dir = tempfile::tempdir().unwrap();
    let Some(mnt) = Tmpfs::mount(&dir.path().join("state"), 40) else {
        return;
    };
    let state = mnt.0.clone();
    let video = support::parking_scenario(dir.path(), 12.0);
    let mut sim = CamSim::start(free_port(), &[("/bay", video.display().to_string())], None);
    let port = free_port();
    let cfg = config(dir.path(), &state, port, &sim.url("/bay"), "");
    let log = dir.path().join("daemon.log");
    let mut daemon = RunningDaemon::spawn(&cfg, &log, "info");
    wait_for(Duration::from_secs(90), || {
        (committed_count(&state) >= 2).then_some(())
    })
    .unwrap_or_else(|| panic!("no event with evidence committed:\n{}", daemon.log()));

    // Something else fills the disk and keeps it full for 25 s: evidence jobs meet
    // ENOSPC, the outbox gives back the oldest undelivered evidence, and refuses new
    // phases once nothing is left to give (they wait in memory).
    let fill_until = Instant::now() + Duration::from_secs(25);
    let mut k = 0;
    while Instant::now() < fill_until {
        fill(&state.join(format!("filler-{k}")));
        k += 1;
        std::thread::sleep(Duration::from_millis(300));
    }
    for i in 0..k {
        std::fs::remove_file(state.join(format!("filler-{i}"))).unwrap();
    }
    // Space is back: new evidence is written again; then the broker returns.
    let before = committed_count(&state);
    wait_for(Duration::from_secs(60), || {
        (committed_count(&state) > before).then_some(())
    })
    .unwrap_or_else(|| panic!("nothing committed once space returned:\n{}", daemon.log()));
    let broker = Broker::start_on(port);
    let sub = Sub::start(broker.port, PREFIX);
    std::thread::sleep(Duration::from_secs(5));
    // Stop the camera and the daemon cleanly (every decided phase is committed), then
    // let a fresh start deliver the rest.
    let st = daemon.stop_within(30).expect("stops on SIGTERM");
    assert!(st.success(), "{}", daemon.log());
    sim.kill();
    let c = committed(&state);
    let daemon = RunningDaemon::spawn(&cfg, &dir.path().join("daemon-2.log"), "info");
    let out = delivered(&sub, &c, &daemon);
    let lost = out.lost.len() + c.never_written.len();
    report("disk full", &c, &out);
    assert_eq!(out.delivered + out.lost.len(), c.media.len());
    assert!(
        out.lost
            .values()
            .chain(c.never_written.values())
            .any(|r| r == "disk_full"),
        "the full disk cost no evidence: the fault was not exercised ({lost} lost)"
    );
    assert_losses_counted(&sub, &daemon, &c, &out);
}

/// `[events.evidence] max_total_mib = 1` with the broker away: the evidence folder is
/// far over its limit, but all of it waits for delivery, so retention deletes none of
/// it (it used to delete the oldest folders, uncounted). The daemon is restarted
/// mid-outage so retention runs at once over a full folder. When the broker returns,
/// every committed phase and every file arrives whole.
#[test]
fn retention_pressure_with_the_broker_down_deletes_no_undelivered_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let video = support::parking_scenario(dir.path(), 8.0);
    let mut sim = CamSim::start(free_port(), &[("/bay", video.display().to_string())], None);
    let port = free_port();
    // Longer clips (10 s) and finer snapshots, so a few events pass the limit.
    let cfg = config(
        dir.path(),
        &state,
        port,
        &sim.url("/bay"),
        "max_total_mib = 1\njpeg_quality = 100\nillegal_parking_clip = { pre_roll_s = 8.0, post_roll_s = 2.0 }",
    );
    let mut daemon = RunningDaemon::spawn(&cfg, &dir.path().join("daemon-1.log"), "info");
    // Committed (so owned by the outbox) evidence on disk.
    let evidence_bytes = || -> u64 {
        if committed_count(&state) == 0 {
            return 0;
        }
        committed(&state)
            .media
            .keys()
            .map(|(id, name)| state.join("evidence").join(id).join(name))
            .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
            .sum()
    };
    wait_for(Duration::from_secs(120), || {
        (evidence_bytes() > 1 << 20).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "evidence never passed 1 MiB ({} bytes):\n{}",
            evidence_bytes(),
            daemon.log()
        )
    });
    assert!(daemon.stop_within(30).expect("stops").success());
    // The evidence of committed, undelivered events (files of candidates that never
    // became events are orphans, removed at the restart).
    let files_before: Vec<PathBuf> = committed(&state)
        .media
        .keys()
        .map(|(id, name)| state.join("evidence").join(id).join(name))
        .collect();
    let bytes_before: u64 = files_before
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert!(
        bytes_before > 1 << 20,
        "{bytes_before} bytes: not over the limit"
    );
    // Restarted with the folder over its limit: retention runs after the first
    // analysed frame.
    let mut daemon = RunningDaemon::spawn(&cfg, &dir.path().join("daemon-2.log"), "info");
    let (page, base, _) = daemon.page();
    daemon.wait_analysed(&page, &base, 3, 60);
    for f in &files_before {
        assert!(f.exists(), "{} deleted while undelivered", f.display());
    }
    let broker = Broker::start_on(port);
    let sub = Sub::start(broker.port, PREFIX);
    std::thread::sleep(Duration::from_secs(3));
    assert!(daemon.stop_within(30).expect("stops").success());
    sim.kill();
    let c = committed(&state);
    let daemon = RunningDaemon::spawn(&cfg, &dir.path().join("daemon-3.log"), "info");
    let out = delivered(&sub, &c, &daemon);
    report("retention pressure", &c, &out);
    eprintln!(
        "retention pressure: {} kB of undelivered evidence against a 1024 kB limit, none deleted",
        bytes_before / 1024
    );
    assert!(out.lost.is_empty(), "{:?}", out.lost);
    assert_eq!(out.delivered, c.media.len());
    assert_losses_counted(&sub, &daemon, &c, &out);
}

/// A kill between writing evidence and committing its event leaves files no outbox
/// row names. The daemon is SIGKILLed with its broker away, and such files are
/// planted beside the real ones (a whole uncommitted event's folder, a next phase's
/// snapshot in a committed event's folder, a half-written temporary file). At the
/// next start they are removed, counted and logged, while every committed file is
/// adopted and delivered whole.
#[test]
fn orphaned_evidence_is_removed_and_counted_at_start_and_committed_evidence_is_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let video = support::parking_scenario(dir.path(), 8.0);
    let mut sim = CamSim::start(free_port(), &[("/bay", video.display().to_string())], None);
    let port = free_port();
    let cfg = config(dir.path(), &state, port, &sim.url("/bay"), "");
    let mut daemon = RunningDaemon::spawn(&cfg, &dir.path().join("daemon-1.log"), "info");
    wait_for(Duration::from_secs(90), || {
        (committed_count(&state) >= 1).then_some(())
    })
    .unwrap_or_else(|| panic!("no event committed:\n{}", daemon.log()));
    daemon.kill();
    sim.kill();
    let c = committed(&state);
    let evidence = state.join("evidence");
    // What a kill mid-handover leaves behind.
    let (committed_id, _) = c.media.keys().next().unwrap().clone();
    let uncommitted = streetwatch::rules::event::new_event_id(streetwatch::ingest::MediaTime(
        1_900_000_000_000_000_000,
    ));
    let planted = [
        evidence.join(&uncommitted).join("confirmation.jpg"),
        evidence.join(&uncommitted).join("clip.mp4"),
        evidence.join(&committed_id).join("ended.jpg"),
        evidence
            .join(&committed_id)
            .join(".ended-crop.jpg.tmp-4242"),
    ];
    std::fs::create_dir_all(evidence.join(&uncommitted)).unwrap();
    for (i, p) in planted.iter().enumerate() {
        std::fs::write(p, vec![i as u8; 1000 * (i + 1)]).unwrap();
    }
    let real_orphans = walk(&evidence)
        .into_iter()
        .filter(|p| !planted.contains(p))
        .filter(|p| {
            let id = p
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .to_string();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            !c.media.contains_key(&(id, name))
        })
        .count();
    let broker = Broker::start_on(port);
    let sub = Sub::start(broker.port, PREFIX);
    let daemon = RunningDaemon::spawn(&cfg, &dir.path().join("daemon-2.log"), "info");
    daemon.wait_log(60, "the evidence sweep", |l| {
        l.contains("evidence sweep at start")
    });
    let removed = planted.len() + real_orphans;
    let line = daemon
        .log()
        .lines()
        .find(|l| l.contains("evidence sweep at start"))
        .unwrap()
        .to_string();
    assert!(
        line.contains(&format!("orphans_removed={removed}")),
        "{line} (expected {removed})"
    );
    assert!(daemon.log().contains("removed an orphan file"));
    for p in &planted {
        assert!(!p.exists(), "{} survived", p.display());
    }
    let out = delivered(&sub, &c, &daemon);
    report("orphans", &c, &out);
    eprintln!(
        "orphans: {removed} removed at start ({} planted, {real_orphans} left by the kill), counted",
        planted.len()
    );
    assert_eq!(
        out.delivered,
        c.media.len(),
        "every adopted file arrives whole"
    );
    let h = health_where(&sub, "the orphans counted", |h| {
        h["dropped"]["orphan_files_removed"].as_u64() == Some(removed as u64)
    });
    assert!(h["dropped"]["orphan_bytes_removed"].as_u64().unwrap() >= 10_000);
    assert_eq!(
        metric(
            &metrics(&daemon),
            "streetwatch_evidence_orphans_removed_total"
        ),
        removed as u64
    );
    assert_losses_counted(&sub, &daemon, &c, &out);
}

/// Every file under `dir`, recursively.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// A box's life in a minute: 2000 events with their media committed and delivered
/// (in-process `Uplink`, real mosquitto) through an outbox capped at 4 MiB, each event
/// ~9 kB of JSON, so the delivered history (~18 MB) is far bigger than the cap. The
/// history is pruned to `history_rows`, the database file stays bounded, and no
/// undelivered event or file is ever dropped to make room for delivered history.
#[test]
fn a_long_life_of_events_keeps_the_outbox_bounded_and_history_never_costs_undelivered_events() {
    use streetwatch::uplink::testutil::{sample_event, write_media};
    use streetwatch::uplink::{Hooks, Outbox, Uplink, history};
    const EVENTS: u32 = 2000;
    const BATCH: u32 = 50;
    const HISTORY_ROWS: u64 = 200;
    let broker = Broker::start(None);
    let sub = Sub::start(broker.port, "streetwatch/box-soak");
    let state = tempfile::tempdir().unwrap();
    let media = tempfile::tempdir().unwrap();
    let mut c = streetwatch::config::Config::default();
    c.device.id = "box-soak".into();
    c.device.state_dir = state.path().to_path_buf();
    c.uplink.broker = broker.url();
    c.uplink.disk_cap_mb = 4;
    c.uplink.history_rows = HISTORY_ROWS;
    c.uplink.chunk_kib = 64;
    c.uplink.inflight = 16;
    let up = Uplink::start(&c, Hooks::default()).unwrap();
    let path = Outbox::path_in(state.path());
    let file = |suffix: &str| {
        std::fs::metadata(format!("{}{suffix}", path.display())).map_or(0, |m| m.len())
    };

    let started = Instant::now();
    let (mut peak_db, mut peak_wal) = (0, 0);
    let mut last_id = String::new();
    for batch in 0..EVENTS / BATCH {
        for i in batch * BATCH..(batch + 1) * BATCH {
            let mut ev = sample_event(if i % 2 == 0 { "cam1" } else { "cam2" }, i);
            ev.details.insert("pad".into(), "细".repeat(2700).into());
            let noise: Vec<u8> = (0..16_384u32)
                .map(|k| (k.wrapping_mul(i + 7) >> 3) as u8)
                .collect();
            ev.media = vec![write_media(
                &media.path().join(&ev.id),
                "snapshot-1.jpg",
                &noise,
            )];
            up.enqueue(&ev).unwrap();
            last_id = ev.id.clone();
        }
        wait_for(Duration::from_secs(60), || {
            (up.health().outbox.events == 0).then_some(())
        })
        .unwrap_or_else(|| panic!("batch {batch} not delivered: {:?}", up.health().outbox));
        peak_db = peak_db.max(file(""));
        peak_wal = peak_wal.max(file("-wal"));
    }
    // The last prune may be up to a housekeeping period behind.
    wait_for(Duration::from_secs(20), || {
        (up.health().disk.history_rows <= HISTORY_ROWS).then_some(())
    })
    .unwrap_or_else(|| panic!("history not pruned: {:?}", up.health().disk));
    let h = up.health();
    eprintln!(
        "soak: {EVENTS} events in {:.0} s; history {} rows ({} pruned); outbox db {} kB now, {} kB at most, WAL {} kB at most; drops {:?}",
        started.elapsed().as_secs_f64(),
        h.disk.history_rows,
        h.disk.history_pruned,
        file("") / 1024,
        peak_db / 1024,
        peak_wal / 1024,
        h.dropped
    );
    assert_eq!(
        h.dropped,
        Default::default(),
        "nothing dropped, nothing missing"
    );
    assert!(h.disk.history_pruned >= (EVENTS as u64) - HISTORY_ROWS - BATCH as u64);
    // ~9 kB per row: unpruned, the history alone would be ~18 MB. Pruned, the file
    // holds history_rows plus the 32 deliveries that trigger the next prune (by
    // count, not by the clock, so a slow machine cannot grow it further);
    // the WAL is checkpointed every 1 MiB and cut back to 4 MiB after each
    // checkpoint, so even a checkpoint held back by a reader stays under 4 MiB.
    assert!(peak_db < 4 << 20, "outbox database reached {peak_db} bytes");
    assert!(
        peak_wal <= (4 << 20) + (64 << 10),
        "WAL reached {peak_wal} bytes"
    );
    let keys = sub.keys();
    assert_eq!(keys.len(), EVENTS as usize, "every event delivered");
    assert_eq!(sub.events().len(), EVENTS as usize, "each once");
    // The Events page lists the remaining history, newest first.
    let page = history::list(
        &path,
        &history::EventQuery {
            limit: 50,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(page.len(), 50);
    assert_eq!(page[0].id, last_id);
    assert!(
        page.iter()
            .all(|e| e.delivery == history::Delivery::Delivered)
    );
    up.stop();
}
