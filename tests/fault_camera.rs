//! Issue 11 fault suite: a camera that flaps 20 times, against the real daemon.
//!
//! Two cameras, each its own `serve-rtsp` process: "steady" plays the parking scenario
//! (a car drives into a bay and stays), "flap" shows the same car already parked. The
//! flapping camera's server is SIGKILLed and started again 20 times at varying
//! intervals, like a camera losing power. Each cycle the test checks that the daemon
//! noticed (its reconnect counter) and streams again, that the steady camera never
//! stopped delivering frames, and samples the daemon's RSS. Events go through a real
//! mosquitto; at the end every committed phase is delivered once, by key, with its
//! media intact, and the car parked through all the flaps is one case, not one per
//! reconnect.

mod support;

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use streetwatch::camsim::picture::Picture;
use streetwatch::camsim::scenario::{ScenarioSpec, Segment, compose, decode_frames};
use support::broker::Broker;
use support::daemon::RunningDaemon;
use support::mqtt::{Key, Sub, committed_keys, key_of};
use support::*;

const DEVICE: &str = "box-flap";
/// Flaps per run; `STREETWATCH_FLAP_CYCLES` raises it for a soak run by hand.
fn cycles() -> usize {
    std::env::var("STREETWATCH_FLAP_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
        .max(WARMUP + 1)
}
/// Cycles before RSS is taken as warmed up (allocator pools, decoder and model buffers).
const WARMUP: usize = 5;
const RSS_GROWTH_KIB: u64 = 32 << 10;

/// The car-park GIF's last frame (the car parked in the bay) held `seconds` with light
/// sensor noise: a camera that shows the parked car from its first frame.
fn parked_from_start(dir: &Path, seconds: f64) -> PathBuf {
    let (w, h, frames) = decode_frames(&media("person-bicycle-car-detection.gif")).unwrap();
    let parked = Picture::from_rgb(w, h, frames.into_iter().last().unwrap().0).unwrap();
    let out = dir.join("parked-from-start.mp4");
    let spec = ScenarioSpec {
        fps: 4,
        hold_s: seconds,
        gop_frames: 8,
        noise: 2,
        bitrate: 400_000,
    };
    compose(
        &out,
        &spec,
        &[Segment::Hold {
            picture: &parked,
            seconds,
        }],
    )
    .unwrap();
    out
}

/// Down and up times of each cycle, in ms: varied, but the same every run.
fn intervals() -> Vec<(u64, u64)> {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut next = |lo: u64, hi: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        lo + seed % (hi - lo + 1)
    };
    (0..cycles())
        .map(|_| (next(500, 4000), next(1500, 4000)))
        .collect()
}

#[test]
fn a_camera_flapping_20_times_reconnects_each_time_the_other_has_no_gap_rss_is_bounded_no_event_lost()
 {
    let dir = tempfile::tempdir().unwrap();
    let steady_video = parking_scenario(dir.path(), 60.0);
    let flap_video = parked_from_start(dir.path(), 40.0);
    let steady = CamSim::start(
        free_port(),
        &[("/steady", steady_video.display().to_string())],
        None,
    );
    let flap_port = free_port();
    let mut flap = CamSim::start(
        flap_port,
        &[("/flap", flap_video.display().to_string())],
        None,
    );
    let broker = Broker::start(None);
    let sub = Sub::start(broker.port, &format!("streetwatch/{DEVICE}"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let zone = r#"
[[cameras.zones]]
id = "bay-1"
name = "禁停区 1"
location = "停车场东侧出口"
polygon = [[0.0, 0.15], [0.35, 0.15], [0.35, 0.6], [0.0, 0.6]]
rules = [{ type = "no_parking", dwell_s = 20 }]
"#;
    let camera = |id: &str, url: String| {
        format!(
            "[[cameras]]\nid = \"{id}\"\nname = \"{id}\"\nurl = \"{url}\"\n\
             [cameras.analysis]\nfps = 2.0\n\
             [cameras.supervision]\nstall_timeout_s = 5.0\nbackoff_initial_s = 0.5\nbackoff_max_s = 2.0\n{zone}"
        )
    };
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
chunk_kib = 32

[events.evidence.clip]
pre_roll_s = 4.0
post_roll_s = 4.0

{steady}
{flap}
"#,
        models = root.join("models").display(),
        weights = weights_dir().display(),
        broker = broker.url(),
        steady = camera("steady", steady.url("/steady")),
        flap = camera("flap", flap.url("/flap")),
    );
    let mut daemon = RunningDaemon::start(&config, "info");
    let state = daemon.dir.join("state");
    let (client, base, _) = daemon.page();
    let status = || -> HashMap<String, Value> {
        let body: Value = client
            .get(format!("{base}/api/status"))
            .send()
            .and_then(|r| r.json())
            .unwrap_or(Value::Null);
        body["cameras"]
            .as_array()
            .map(|cams| {
                cams.iter()
                    .map(|c| (c["id"].as_str().unwrap_or("").to_string(), c.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let num = |s: &HashMap<String, Value>, cam: &str, key: &str| s[cam][key].as_u64().unwrap_or(0);

    // Both cameras stream before the first flap.
    wait_for(Duration::from_secs(60), || {
        let s = status();
        (s.len() == 2
            && ["steady", "flap"]
                .iter()
                .all(|c| s[*c]["state"] == "streaming" && num(&s, c, "frames") > 0))
        .then_some(())
    })
    .unwrap_or_else(|| panic!("cameras not streaming: {:#?}\n{}", status(), daemon.log()));

    // The steady camera is watched on every poll: streaming, never reconnecting, and its
    // analysis frames (2 a second) never stalling for more than 3 s.
    struct Steady {
        frames: u64,
        since: Instant,
        worst_gap: Duration,
    }
    let mut steady_watch = Steady {
        frames: 0,
        since: Instant::now(),
        worst_gap: Duration::ZERO,
    };
    let mut poll = |what: &str| -> HashMap<String, Value> {
        let s = status();
        let st = &s["steady"];
        assert_eq!(
            st["state"], "streaming",
            "steady camera during {what}: {st:#}"
        );
        assert_eq!(st["reconnects"], 0, "steady camera during {what}: {st:#}");
        let f = num(&s, "steady", "frames");
        if f > steady_watch.frames {
            steady_watch.frames = f;
            steady_watch.since = Instant::now();
        }
        let gap = steady_watch.since.elapsed();
        steady_watch.worst_gap = steady_watch.worst_gap.max(gap);
        assert!(
            gap < Duration::from_secs(3),
            "steady camera delivered no frame for {gap:?} during {what}"
        );
        s
    };
    let poll_until = |poll: &mut dyn FnMut(&str) -> HashMap<String, Value>,
                      what: &str,
                      secs: u64,
                      ok: &dyn Fn(&HashMap<String, Value>) -> bool| {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = poll(what);
            if ok(&s) {
                return s;
            }
            assert!(Instant::now() < end, "{what} within {secs} s: {s:#?}");
            std::thread::sleep(Duration::from_millis(250));
        }
    };
    let idle = |poll: &mut dyn FnMut(&str) -> HashMap<String, Value>, what: &str, ms: u64| {
        let end = Instant::now() + Duration::from_millis(ms);
        while Instant::now() < end {
            poll(what);
            std::thread::sleep(Duration::from_millis(250));
        }
    };

    let plan = intervals();
    let mut rss = Vec::new();
    let started = Instant::now();
    for (i, &(down_ms, up_ms)) in plan.iter().enumerate() {
        let what = format!("flap {}", i + 1);
        let before = poll(&what);
        let reconnects = num(&before, "flap", "reconnects");
        flap.kill();
        // The daemon notices the dead server (reconnect counter) ...
        poll_until(
            &mut poll,
            &format!("{what}: disconnect noticed"),
            15,
            &|s| num(s, "flap", "reconnects") > reconnects,
        );
        idle(&mut poll, &what, down_ms);
        flap = CamSim::start(
            flap_port,
            &[("/flap", flap_video.display().to_string())],
            None,
        );
        let frames = num(&poll(&what), "flap", "frames");
        // ... and streams again once the camera is back.
        poll_until(&mut poll, &format!("{what}: streaming again"), 20, &|s| {
            s["flap"]["state"] == "streaming" && num(s, "flap", "frames") > frames
        });
        idle(&mut poll, &what, up_ms);
        rss.push(daemon.rss_kib().expect("daemon alive"));
    }
    let flapping = started.elapsed();
    let end = poll("the end");
    assert!(
        num(&end, "flap", "reconnects") >= plan.len() as u64,
        "{:#}",
        end["flap"]
    );

    // Memory: after warm-up, flaps do not grow the daemon.
    let baseline = rss[WARMUP - 1];
    let peak = *rss[WARMUP..].iter().max().unwrap();
    eprintln!(
        "flap x{} in {flapping:?}; RSS KiB per cycle: {rss:?}; baseline {baseline}, peak {peak}, \
         steady camera's worst frame gap {:?}",
        plan.len(),
        steady_watch.worst_gap
    );
    assert!(
        peak <= baseline + RSS_GROWTH_KIB,
        "RSS grew from {baseline} KiB to {peak} KiB over {} flaps: {rss:?}",
        plan.len() - WARMUP
    );

    // Events: every committed phase delivered, once, with its media; none lost.
    let complete = |e: &Value| {
        e["media"].as_array().is_none_or(|m| {
            m.iter().all(|m| {
                sub.media(e["id"].as_str().unwrap(), m["name"].as_str().unwrap())
                    .is_some()
            })
        })
    };
    wait_for(Duration::from_secs(60), || {
        let committed = committed_keys(&state);
        let events = sub.events();
        let delivered: BTreeSet<Key> = events.iter().map(key_of).collect();
        (!committed.is_empty() && committed.is_subset(&delivered) && events.iter().all(complete))
            .then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "committed {:?}\ndelivered {:?}\nlog:\n{}",
            committed_keys(&state),
            sub.keys(),
            daemon.log()
        )
    });
    let committed = committed_keys(&state);
    let events = sub.events();
    let mut count: BTreeMap<Key, usize> = BTreeMap::new();
    for e in &events {
        *count.entry(key_of(e)).or_default() += 1;
    }
    let dups: Vec<_> = count.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dups.is_empty(), "delivered more than once: {dups:?}");
    let delivered: BTreeSet<Key> = count.keys().cloned().collect();
    assert!(
        delivered.is_subset(&committed),
        "delivered but never committed: {:?}",
        delivered.difference(&committed).collect::<Vec<_>>()
    );
    for e in &events {
        for m in e["media"].as_array().into_iter().flatten() {
            let name = m["name"].as_str().unwrap();
            let (_, bytes) = sub.media(e["id"].as_str().unwrap(), name).unwrap();
            assert_eq!(
                hex::encode(Sha256::digest(&bytes)),
                m["sha256"].as_str().unwrap(),
                "{} {name}",
                e["id"]
            );
        }
    }
    // The car parked through all 20 flaps is one case: one `started`, not one a flap.
    let started_ids = |cam: &str| -> BTreeSet<String> {
        events
            .iter()
            .filter(|e| e["camera"]["id"] == cam && e["phase"] == "started")
            .map(|e| e["id"].as_str().unwrap().to_string())
            .collect()
    };
    eprintln!(
        "committed = delivered = {} phases; started: steady {}, flap {}",
        committed.len(),
        started_ids("steady").len(),
        started_ids("flap").len()
    );
    assert_eq!(
        started_ids("flap").len(),
        1,
        "the parked car on the flapping camera: {:#?}",
        events
            .iter()
            .filter(|e| e["camera"]["id"] == "flap")
            .map(key_of)
            .collect::<Vec<_>>()
    );
    assert!(
        !started_ids("steady").is_empty(),
        "no event from the steady camera"
    );
    let st = daemon.stop_within(20).expect("daemon stops on SIGTERM");
    assert!(st.success(), "daemon exit {st}:\n{}", daemon.log());
}
