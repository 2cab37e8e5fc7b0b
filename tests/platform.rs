//! Issue 16: a new city-management category by configuration alone (generic rules,
//! the platform's own code table), through the real binary and the real detector.

mod support;

use std::process::Command;

use serde_json::Value;
use support::*;

fn check_config(path: &std::path::Path) -> (i32, String) {
    let out = Command::new(bin())
        .arg("check-config")
        .arg(path)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

/// A config whose first zone has a `count` rule of kind `crowd` and a `dwell` rule of
/// kind `street_vending`; `categories` is the body of `[events.categories]`.
fn generic_config(dir: &std::path::Path, categories: &str) -> std::path::PathBuf {
    let text = format!(
        r#"[device]
id = "box-1"

[events.categories]
{categories}

[[cameras]]
id = "square"
url = "rtsp://10.0.0.5/stream1"

[[cameras.zones]]
id = "plaza"
polygon = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]
[[cameras.zones.rules]]
type = "dwell"
kind = "street_vending"
categories = ["object.umbrella", "object.dining_table"]
[[cameras.zones.rules]]
type = "count"
kind = "crowd"
categories = ["person"]
min_count = 8
"#
    );
    let p = dir.join("streetwatch.toml");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn check_config_refuses_a_rule_whose_kind_has_no_code_naming_the_key_path() {
    let dir = tempfile::tempdir().unwrap();
    // GB/T 30428.2 has street vending (0501) but no crowd code.
    let cfg = generic_config(dir.path(), "table = \"gbt-30428.2-2013\"");
    let (code, out) = check_config(&cfg);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("cameras[0].zones[0].rules[1].kind"),
        "names the key: {out}"
    );
    assert!(out.contains("\"crowd\""), "names the kind: {out}");
    assert!(
        !out.contains("rules[0]"),
        "street_vending has a code there: {out}"
    );
    // The default GB/T 47678.5-2026 table knows neither.
    let cfg = generic_config(dir.path(), "");
    let (code, out) = check_config(&cfg);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("cameras[0].zones[0].rules[0].kind"), "{out}");
    assert!(out.contains("cameras[0].zones[0].rules[1].kind"), "{out}");
    // A deployment's own CSV table (a Shenzhen-style renumbering) fixes both.
    let csv = dir.path().join("codes.csv");
    std::fs::write(
        &csv,
        "# district platform codes\nevent,code,name\nstreet_vending,602,占道经营\ncrowd,603,\"人群聚集\"\n",
    )
    .unwrap();
    let cfg = generic_config(dir.path(), &format!("file = \"{}\"", csv.display()));
    let (code, out) = check_config(&cfg);
    assert_eq!(code, 0, "{out}");
    // A broken table file is named with its problem.
    std::fs::write(&csv, "event,code\nstreet_vending,602\n").unwrap();
    let (code, out) = check_config(&cfg);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("events.categories"), "{out}");
    assert!(out.contains("codes.csv"), "{out}");
}

/// The top-left bay of the parking scenario (as tests/replay.rs).
const BAY: &str = "[[0.0, 0.15], [0.35, 0.15], [0.35, 0.6], [0.0, 0.6]]";

/// The parking scenario of `support::parking_scenario` at 2 fps (still a 2 s GOP): the
/// rules here need no more frames than that.
fn parked_car(dir: &std::path::Path, hold_s: f64) -> std::path::PathBuf {
    support::parking_scenario_at(dir, hold_s, 2)
}

#[test]
fn a_held_object_in_a_generic_zone_gives_one_dwell_case_and_one_count_case_with_the_platform_codes()
{
    let dir = tempfile::tempdir().unwrap();
    // The dwell case comes 30 s after the car stops (~33 s), its clip 10 s later.
    let video = parked_car(dir.path(), 50.0);
    let csv = dir.path().join("codes.csv");
    // A deployment's own codes for kinds no shipped table has.
    std::fs::write(
        &csv,
        "event,code,name\nroadside_occupation,605,占道停放\nvehicle_count,606,车辆聚集\n",
    )
    .unwrap();
    let extra = format!("[events.categories]\nfile = \"{}\"\n", csv.display());
    let zones = format!(
        r#"[[cameras.zones]]
id = "bay-1"
name = "东侧出口"
polygon = {BAY}
[[cameras.zones.rules]]
type = "dwell"
kind = "roadside_occupation"
categories = ["vehicle.*"]
dwell_s = 30
[[cameras.zones.rules]]
type = "count"
kind = "vehicle_count"
categories = ["vehicle"]
min_count = 1
for_s = 15
"#
    );
    let cfg = replay_config(dir.path(), "generic", &extra, "fps = 1.0", &zones);
    let (code, out) = check_config(&cfg);
    assert_eq!(code, 0, "{out}");
    let events = replay_events(&cfg, &video, &dir.path().join("evidence"));
    let started = |kind: &str| -> Vec<&Value> {
        events
            .iter()
            .filter(|e| e["phase"] == "started" && e["kind"] == kind)
            .collect()
    };
    let dwell = started("roadside_occupation");
    assert_eq!(dwell.len(), 1, "one dwell case: {events:#?}");
    let e = dwell[0];
    assert_eq!(e["category"]["code"], "605");
    assert_eq!(e["category"]["name"], "占道停放");
    assert_eq!(e["category"]["full_code"], "440802605");
    assert_eq!(e["subject"]["category"], "vehicle.car");
    assert!(
        e["description"]["zh"]
            .as_str()
            .unwrap()
            .starts_with("「东侧出口」占道停放"),
        "{}",
        e["description"]["zh"]
    );
    let media = e["media"].as_array().unwrap();
    assert!(media.iter().any(|m| m["kind"] == "clip"), "{media:#?}");
    assert!(media.iter().any(|m| m["kind"] == "snapshot"), "{media:#?}");
    let count = started("vehicle_count");
    assert_eq!(count.len(), 1, "one count case: {events:#?}");
    assert_eq!(count[0]["category"]["code"], "606");
    assert!(count[0]["details"]["count"].as_u64().unwrap() >= 1);
    // No built-in rule ran: the zone has none.
    assert!(events.iter().all(|e| e["kind"] != "illegal_parking"));
}

/// A fruit stall set up on the street: a pile of oranges (OpenCV's sample picture,
/// from Debian's `opencv-doc`; `scripts/assets.tsv`) pasted at the kerb of the car
/// sample's traffic, every frame, for 60 s, then gone. The zone's
/// `dwell` rule of kind `street_vending` (the GB/T 30428.2 table's 0501) lists the
/// fruit classes YOLOX-nano knows; the cars driving past are not its categories.
#[test]
fn a_fruit_stall_on_the_street_gives_one_street_vending_case_with_its_code() {
    use streetwatch::camsim::picture::{Picture, Rect};
    use streetwatch::camsim::scenario::{ScenarioSpec, Segment, compose, decode_pictures};
    let dir = tempfile::tempdir().unwrap();
    let traffic =
        decode_pictures(&media("car-detection.mp4"), 450_000_000, 30_000_000_000).unwrap();
    assert!(
        traffic.len() >= 40,
        "30 s of traffic at 2 fps: {}",
        traffic.len()
    );
    // The fruit itself, without most of the studio backdrop, 150 px on the kerb.
    let fruit = |name: &str| -> Picture {
        let p = Picture::load(&media(&format!("fruit/{name}"))).unwrap();
        let (w, h) = (p.width, p.height);
        p.crop(Rect::new(w / 10, h / 10, w * 8 / 10, h * 8 / 10))
            .resized(150, 150)
    };
    let orange = fruit("orange.jpg");
    let with_stall: Vec<(Picture, u64)> = traffic
        .iter()
        .map(|(p, d)| {
            let mut p = p.clone();
            p.paste(&orange, 60, 262);
            (p, *d)
        })
        .collect();
    let video = dir.path().join("stall.mp4");
    let spec = ScenarioSpec {
        fps: 2,
        hold_s: 0.0,
        gop_frames: 4,
        noise: 2,
        bitrate: 600_000,
    };
    let before = &traffic[..12];
    compose(
        &video,
        &spec,
        &[
            Segment::Frames {
                frames: before,
                repeat: 1,
            },
            Segment::Frames {
                frames: &with_stall,
                repeat: 2,
            },
            Segment::Frames {
                frames: &traffic,
                repeat: 1,
            },
        ],
    )
    .unwrap();
    let zones = r#"[[cameras.zones]]
id = "kerb"
name = "人行道路口"
polygon = [[0.0, 0.55], [0.5, 0.55], [0.5, 1.0], [0.0, 1.0]]
[[cameras.zones.rules]]
type = "dwell"
kind = "street_vending"
categories = ["object.orange", "object.apple", "object.banana"]
dwell_s = 30
leave_after_s = 8
merge_window_s = 0
"#;
    let extra = "[events.categories]\ntable = \"gbt-30428.2-2013\"\n";
    let cfg = replay_config(dir.path(), "stall", extra, "fps = 2.0", zones);
    let (code, out) = check_config(&cfg);
    assert_eq!(code, 0, "{out}");
    let events = replay_events(&cfg, &video, &dir.path().join("evidence"));
    // The road is flat asphalt where no car is: a tampering reference taken with
    // cars on it read their leaving as a grey card (`blocked`); it must not.
    assert!(
        events.iter().all(|e| e["kind"] != "camera_tampering"),
        "no tampering alarm on passing traffic: {events:#?}"
    );
    let phases: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e["phase"] != "updated")
        .map(|e| (e["kind"].as_str().unwrap(), e["phase"].as_str().unwrap()))
        .collect();
    assert_eq!(
        phases,
        [("street_vending", "started"), ("street_vending", "ended")],
        "one case: {events:#?}"
    );
    let e = &events[0];
    assert_eq!(e["category"]["code"], "0501", "{:#}", e["category"]);
    let subject = e["subject"]["category"].as_str().unwrap();
    assert!(
        ["object.orange", "object.apple"].contains(&subject),
        "the fruit is the subject: {subject}"
    );
    // Reported once the stall stood 30 s: it appears 6 s in (12 pictures at 2 fps),
    // so about 36 s into the video (replays start at `replay --start`'s default).
    const ANCHOR_NS: i64 = 1_795_219_200_000_000_000;
    let reported = chrono::DateTime::parse_from_rfc3339(e["times"]["reported"].as_str().unwrap())
        .unwrap()
        .timestamp_nanos_opt()
        .unwrap();
    let at = (reported - ANCHOR_NS) as f64 / 1e9;
    assert!(
        (35.0..=42.0).contains(&at),
        "reported at media {at:.1} s: {e:#}"
    );
    assert!(
        e["media"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["kind"] == "clip"),
        "{:#}",
        e["media"]
    );
    assert!(
        e["description"]["zh"]
            .as_str()
            .unwrap()
            .contains("人行道路口"),
        "{}",
        e["description"]["zh"]
    );
}

/// The empty street and the same street with a crowd in it, composited from real
/// frames: people who walk through the street one by one
/// (`one-by-one-person-detection.mp4`) cut out of three moments and pasted side by
/// side into the empty street. Built once per test binary (a detector pass over the
/// clip and a decode) and shared by the crowd tests.
fn crowd_pictures() -> &'static (
    streetwatch::camsim::picture::Picture,
    streetwatch::camsim::picture::Picture,
) {
    use streetwatch::camsim::picture::{Picture, Rect};
    use streetwatch::camsim::scenario::decode_pictures;
    static PICTURES: std::sync::OnceLock<(Picture, Picture)> = std::sync::OnceLock::new();
    PICTURES.get_or_init(|| {
        let source = media("one-by-one-person-detection.mp4");
        // Where the detector sees one person, every 2 s of the clip.
        let lines = support::json_lines(
            Command::new(bin())
                .args(["detect", "--json", "--every", "20"])
                .arg(&source),
        );
        // Decoding below counts from the first frame; detect reports stream timestamps.
        let first_pts = lines[0]["pts_ns"].as_u64().unwrap();
        let people: Vec<(u64, Value)> = lines
            .into_iter()
            .filter(|f| f["detections"].as_array().unwrap().len() == 1)
            .filter(|f| f["detections"][0]["category"] == "person")
            .map(|f| {
                let t = f["pts_ns"].as_u64().unwrap() - first_pts;
                (t, f["detections"][0]["bbox"].clone())
            })
            .collect();
        assert!(people.len() >= 3, "the clip shows people: {people:?}");
        // Three moments far apart: three different passers-by.
        let picks = [0, people.len() / 2, people.len() - 1].map(|i| people[i].clone());
        // One picture per 2 s (the frames detect saw: the clip is 10 fps, RGB is 1 MB a
        // frame) up to the last pick.
        let until = picks.iter().map(|p| p.0).max().unwrap() + 1_000_000_000;
        let frames = decode_pictures(&source, 1_950_000_000, until).unwrap();
        let at = |ns: u64| -> &Picture {
            let mut t = 0;
            for (p, d) in &frames {
                if t + d > ns {
                    return p;
                }
                t += d;
            }
            &frames.last().unwrap().0
        };
        // The street before anyone comes.
        let empty = frames[0].0.clone();
        let mut crowd = empty.clone();
        let slot = empty.width / 3;
        for (i, (ns, b)) in picks.iter().enumerate() {
            let f = |k: &str| b[k].as_f64().unwrap().max(0.0) as u32;
            let (x1, y1) = (f("x1"), f("y1"));
            let w = (f("x2") - x1).min(slot - 4).min(empty.width - x1);
            let h = (f("y2") - y1).min(empty.height - y1);
            let person = at(*ns).crop(Rect::new(x1, y1, w, h));
            crowd.paste(&person, i as u32 * slot + (slot - w) / 2, y1);
        }
        (empty, crowd)
    })
}

/// The crowd of [`crowd_pictures`] over time: `plan` lists the stretches (crowd or
/// empty street, seconds), H.264 at 2 fps with a 2 s GOP, written to `dir/<name>.mp4`.
fn crowd_scenario(dir: &std::path::Path, name: &str, plan: &[(bool, f64)]) -> std::path::PathBuf {
    use streetwatch::camsim::scenario::{ScenarioSpec, Segment, compose};
    let (empty, crowd) = crowd_pictures();
    let video = dir.join(format!("{name}.mp4"));
    let spec = ScenarioSpec {
        fps: 2,
        hold_s: 0.0,
        gop_frames: 4,
        noise: 2,
        bitrate: 400_000,
    };
    let segments: Vec<Segment> = plan
        .iter()
        .map(|&(people, seconds)| Segment::Hold {
            picture: if people { crowd } else { empty },
            seconds,
        })
        .collect();
    compose(&video, &spec, &segments).unwrap();
    video
}

#[test]
fn a_crowd_scene_gives_one_count_case() {
    let dir = tempfile::tempdir().unwrap();
    let video = crowd_scenario(
        dir.path(),
        "crowd",
        &[(false, 2.0), (true, 20.0), (false, 10.0)],
    );
    let extra = "[events.categories]\n[[events.categories.entries]]\nevent = \"crowd\"\ncode = \"602\"\nname = \"人群聚集\"\n";
    let zones = r#"[[cameras.zones]]
id = "street"
name = "步行街"
polygon = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
[[cameras.zones.rules]]
type = "count"
kind = "crowd"
categories = ["person"]
min_count = 3
for_s = 8
clear_after_s = 4
# Off, so the ended goes out at once (the default 300 s would hold it past the clip).
merge_window_s = 0
"#;
    let cfg = replay_config(dir.path(), "crowd", extra, "fps = 1.0", zones);
    let events = replay_events(&cfg, &video, &dir.path().join("evidence"));
    let phases: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e["kind"].as_str().unwrap(), e["phase"].as_str().unwrap()))
        .collect();
    assert_eq!(
        phases,
        [("crowd", "started"), ("crowd", "ended")],
        "one case: {events:#?}"
    );
    let e = &events[0];
    assert_eq!(e["category"]["code"], "602");
    assert_eq!(e["details"]["count"], 3, "{e:#}");
    assert!(
        e["description"]["zh"]
            .as_str()
            .unwrap()
            .contains("人群聚集"),
        "{}",
        e["description"]["zh"]
    );
    assert!(
        e["media"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["kind"] == "clip")
    );
    assert_eq!(events[1]["end_reason"], "gone");
}

#[test]
fn crowds_back_within_the_merge_window_continue_the_case_and_later_ones_are_new_cases() {
    let dir = tempfile::tempdir().unwrap();
    // The window counts from when a crowd went (the `ended`'s end), and a crowd is a
    // case 8 s after it forms. Crowd A; gone 6 s (A ends 4 s in); back, B's `started`
    // comes ~14 s after A went (within the 20 s window); gone 30 s (B's ended is held
    // until 20 s, then sent); back, C's `started` ~38 s after B went (past the window:
    // a new case); gone 26 s (C's ended sent at 20 s).
    let video = crowd_scenario(
        dir.path(),
        "crowds",
        &[
            (false, 2.0),
            (true, 14.0),
            (false, 6.0),
            (true, 14.0),
            (false, 30.0),
            (true, 14.0),
            (false, 26.0),
        ],
    );
    let extra = "[events.categories]\n[[events.categories.entries]]\nevent = \"crowd\"\ncode = \"602\"\nname = \"人群聚集\"\n";
    let zones = r#"[[cameras.zones]]
id = "street"
polygon = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
[[cameras.zones.rules]]
type = "count"
kind = "crowd"
categories = ["person"]
min_count = 3
for_s = 8
clear_after_s = 4
merge_window_s = 20
"#;
    let cfg = replay_config(dir.path(), "crowds", extra, "fps = 1.0", zones);
    let events = replay_events(&cfg, &video, &dir.path().join("evidence"));
    let phases: Vec<(&str, u64, Option<u64>)> = events
        .iter()
        .map(|e| {
            (
                e["phase"].as_str().unwrap(),
                e["seq"].as_u64().unwrap(),
                e["details"]["repeat_count"].as_u64(),
            )
        })
        .collect();
    assert_eq!(
        phases,
        [
            ("started", 0, None),
            ("updated", 1, Some(2)),
            ("ended", 2, Some(2)),
            ("started", 0, None),
            ("ended", 1, None),
        ],
        "{events:#?}"
    );
    assert!(events[..3].iter().all(|e| e["id"] == events[0]["id"]));
    assert_eq!(events[3]["id"], events[4]["id"]);
    assert_ne!(events[0]["id"], events[3]["id"]);
    // The repeat's evidence is filed beside the first occurrence's, named apart.
    let names: Vec<&str> = events[1]["media"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert!(names.iter().any(|n| n.starts_with("r2-")), "{names:?}");
}

/// Rows of the receiver's database.
fn receiver_rows(db: &std::path::Path, sql: &str) -> Vec<Vec<String>> {
    let Ok(c) =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return Vec::new();
    };
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

#[test]
fn the_reference_receiver_stores_each_phase_once_with_signature_and_media_verified() {
    use streetwatch::uplink::testutil::{sample_event, write_media};
    use streetwatch::uplink::{Hooks, Uplink};
    use support::broker::Broker;
    let broker = Broker::start(None);
    let state = tempfile::tempdir().unwrap();
    let media = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut c = streetwatch::config::Config::default();
    c.device.id = "box-rx".into();
    c.device.state_dir = state.path().to_path_buf();
    c.uplink.broker = broker.url();
    c.uplink.health_interval_s = 1;
    c.uplink.backoff_max_s = 2;
    c.uplink.keepalive_s = 5;
    c.uplink.chunk_kib = 64;
    let up = Uplink::start(&c, Hooks::default()).unwrap();
    let log = out.path().join("receive.log");
    /// Killed when the test ends, passed or not.
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let rx = Command::new(bin())
        .args([
            "receive",
            "--mqtt",
            &broker.url(),
            "--prefix",
            "streetwatch/box-rx",
        ])
        .arg("--out")
        .arg(out.path().join("cases"))
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(out.path().join("receive.err")).unwrap())
        .spawn()
        .unwrap();
    let rx = Kill(rx);
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    // The retained status reaches it once it is subscribed: from then on nothing is
    // missed.
    wait_for(std::time::Duration::from_secs(20), || {
        read_log().contains("status: trusting").then_some(())
    })
    .unwrap_or_else(|| panic!("receiver never subscribed: {}", read_log()));
    let clip: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut a = sample_event("cam1", 0);
    a.media = vec![
        write_media(media.path(), "snapshot-1.jpg", b"jpeg bytes"),
        write_media(media.path(), "clip.mp4", &clip),
    ];
    let mut b = sample_event("cam2", 1);
    b.media.clear();
    up.enqueue(&a).unwrap();
    up.enqueue(&b).unwrap();
    let db = out.path().join("cases").join("cases.sqlite");
    let done = wait_for(std::time::Duration::from_secs(30), || {
        let e = receiver_rows(&db, "SELECT event_id FROM events");
        let m = receiver_rows(&db, "SELECT name FROM media");
        (e.len() == 2 && m.len() == 2).then_some(())
    });
    assert!(
        done.is_some(),
        "{}\n{:?}",
        read_log(),
        receiver_rows(&db, "SELECT event_id, name, state FROM media")
    );
    // A platform-side duplicate and a forged phase.
    let first: Value = serde_json::from_slice(
        &std::fs::read(out.path().join("cases").join(&a.id).join("started-0.json")).unwrap(),
    )
    .unwrap();
    let mut forged = first.clone();
    forged["seq"] = 7.into();
    forged["phase"] = "ended".into();
    let mut o = rumqttc::MqttOptions::new("forger", "127.0.0.1", broker.port);
    o.set_keep_alive(std::time::Duration::from_secs(5));
    let (client, mut conn) = rumqttc::Client::new(o, 8);
    for v in [&first, &forged] {
        client
            .publish(
                "streetwatch/box-rx/events",
                rumqttc::QoS::AtLeastOnce,
                false,
                serde_json::to_vec(v).unwrap(),
            )
            .unwrap();
    }
    let mut acks = 0;
    for ev in conn.iter() {
        if let Ok(rumqttc::Event::Incoming(rumqttc::Incoming::PubAck(_))) = ev {
            acks += 1;
            if acks == 2 {
                break;
            }
        }
        ev.unwrap();
    }
    let _ = client.disconnect();
    let forged_row = wait_for(std::time::Duration::from_secs(10), || {
        receiver_rows(&db, "SELECT signature FROM events WHERE seq = 7")
            .pop()
            .map(|r| r[0].clone())
    })
    .unwrap_or_else(|| panic!("{}", read_log()));
    assert!(forged_row.starts_with("FAILED"), "{forged_row}");
    drop(rx);
    up.stop();
    // Each genuine phase once, signature verified; the duplicate counted, not stored.
    let mut events = receiver_rows(
        &db,
        "SELECT event_id, phase, seq, signature FROM events WHERE seq != 7 ORDER BY event_id",
    );
    events.sort();
    let mut want = vec![
        vec![a.id.clone(), "started".into(), "0".into(), "ok".into()],
        vec![b.id.clone(), "started".into(), "0".into(), "ok".into()],
    ];
    want.sort();
    assert_eq!(events, want, "{}", read_log());
    assert_eq!(
        receiver_rows(&db, "SELECT value FROM counters WHERE name = 'duplicates'"),
        [["1".to_string()]]
    );
    // Media reassembled from its chunks, byte for byte, sha256 checked.
    let media_rows = receiver_rows(
        &db,
        "SELECT name, bytes, sha256, state FROM media ORDER BY name",
    );
    assert_eq!(media_rows.len(), 2, "{media_rows:?}");
    for (row, m) in media_rows.iter().zip([&a.media[1], &a.media[0]]) {
        assert_eq!(row[0], m.name);
        assert_eq!(row[2], m.sha256);
        assert_eq!(row[3], "ok");
    }
    let got = std::fs::read(out.path().join("cases").join(&a.id).join("clip.mp4")).unwrap();
    assert_eq!(got, clip);
}
