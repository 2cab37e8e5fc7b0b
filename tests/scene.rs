//! Scene integrity: tampering alarms (moved, blocked, defocused) on pictures composed
//! from the sample media, and the false-alarm rate on the sample videos themselves.
mod support;

use std::sync::{Arc, Mutex};
use std::time::Instant;
use streetwatch::camsim::scenario::decode_pictures;
use streetwatch::ingest::MediaTime;
use streetwatch::rules::output::RuleOutput;
use streetwatch::rules::scene::reference::ReferenceStore;
use streetwatch::rules::scene::tamper::{Prepared, TamperConfig, TamperMonitor};

const SAMPLES: [&str; 4] = [
    "car-detection.mp4",
    "one-by-one-person-detection.mp4",
    "bottle-detection.mp4",
    "person-bicycle-car-detection.gif",
];

/// Every sample video (busy traffic seen from above, people walking up to the
/// camera, a conveyor of moving bottles, a car park with a car parking), looped for
/// 10 minutes of media time through the tampering checks as the daemon runs them
/// (default settings: one check a second, reference set automatically after 5 s):
/// no alarm, and no check that would pause the rules. Pictures are decoded once (one
/// a second, each shown until the next) and replayed with media time running on, so
/// each loop samples other moments of the clip when its length is not a whole number
/// of seconds. What a check computes from the picture alone (grey copy, feature
/// points, texture, sharpness: `Prepared`) is computed once per distinct picture, as
/// it would come out the same on every loop; every check still matches it against
/// the reference and runs the alarm logic.
#[test]
fn sample_videos_looped_ten_minutes_raise_no_tampering_alarm() {
    const LOOP_S: f64 = 600.0;
    let t0 = Instant::now();
    let results: Vec<(String, u64, usize, usize)> = std::thread::scope(|s| {
        let handles: Vec<_> = SAMPLES
            .iter()
            .map(|name| {
                s.spawn(move || {
                    let pics: Vec<(Prepared, u32, u32, u64)> =
                        decode_pictures(&support::media(name), 1_000_000_000, u64::MAX)
                            .expect("decode the sample video")
                            .into_iter()
                            .map(|(p, d)| {
                                (
                                    Prepared::of(p.width, p.height, &p.rgb).unwrap(),
                                    p.width,
                                    p.height,
                                    d,
                                )
                            })
                            .collect();
                    let mut m =
                        TamperMonitor::new(TamperConfig::default(), ReferenceStore::in_memory());
                    let start = MediaTime::from_secs_f64(1_800_000_000.0);
                    m.set_view(Some("fixed"), start);
                    let (mut t, mut alarms, mut paused) = (0u64, 0usize, 0usize);
                    'outer: loop {
                        for (p, w, h, dur) in &pics {
                            let now = MediaTime(start.0 + t as i64);
                            let mut out = m.picture_arrived(now, *w, *h);
                            if m.wants_check(now) {
                                out.extend(m.check(now, p));
                                paused += m.pause_reason().is_some() as usize;
                            }
                            alarms += out
                                .iter()
                                .filter(|o| matches!(o, RuleOutput::Phase { .. }))
                                .count();
                            t += dur;
                            if t as f64 / 1e9 >= LOOP_S {
                                break 'outer;
                            }
                        }
                    }
                    (name.to_string(), m.checks(), alarms, paused)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (name, checks, alarms, paused) in &results {
        eprintln!(
            "false alarms: {name}: 600 s of media, {checks} checks, {alarms} tampering phases, {paused} checks pausing the rules"
        );
    }
    eprintln!("false alarms: {:.1} s wall", t0.elapsed().as_secs_f64());
    for (name, checks, alarms, paused) in &results {
        assert!(*checks >= 500, "{name}: only {checks} checks in 10 minutes");
        assert_eq!(*alarms, 0, "{name}: tampering alarms on an untouched video");
        assert_eq!(*paused, 0, "{name}: rules paused on an untouched video");
    }
}

// ---------------------------------------------------------------------------------
// Through `streetwatch replay`, on videos composed at test time from the sample media.

use serde_json::Value;
use streetwatch::camsim::picture::{Picture, Rect};
use streetwatch::camsim::scenario::{ScenarioSpec, Segment, compose};

/// Replays start at this wall-clock time (the `replay --start` default).
const ANCHOR_NS: i64 = 1_795_219_200_000_000_000;

fn secs(v: &Value) -> f64 {
    (v.as_i64().unwrap() - ANCHOR_NS) as f64 / 1e9
}

/// Media second (from the video's start) an RFC 3339 time of the replay stands for.
fn secs_rfc(v: &Value) -> f64 {
    let t = chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    (t.timestamp_nanos_opt().unwrap() - ANCHOR_NS) as f64 / 1e9
}

fn spec() -> ScenarioSpec {
    ScenarioSpec {
        fps: 2,
        hold_s: 0.0,
        gop_frames: 4,
        noise: 2,
        bitrate: 400_000,
    }
}

fn of<'a>(events: &'a [Value], kind: &str, phase: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["kind"] == kind && e["phase"] == phase)
        .collect()
}

/// (media second, phase, sub-type) of every `camera_tampering` phase, in order.
fn tampering(events: &[Value]) -> Vec<(f64, String, String)> {
    events
        .iter()
        .filter(|e| e["kind"] == "camera_tampering")
        .map(|e| {
            (
                secs_rfc(&e["times"]["reported"]),
                e["phase"].as_str().unwrap().to_string(),
                e["details"]["tamper"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect()
}

/// The car-detection sample (busy road seen from above), one picture a second, as
/// `f` changes it; 30 s.
fn road(frames: &[(Picture, u64)], f: &dyn Fn(&Picture) -> Picture) -> Vec<(Picture, u64)> {
    frames.iter().map(|(p, d)| (f(p), *d)).collect()
}

/// Tampering scenarios composed from the car-detection sample, each 30 s after 30 s
/// of the untouched video: shifted by 10 % of the width, turned by 5°, a grey card
/// over 60 % of the picture, a Gaussian blur (sigma 2 px at 384x216), and a drop to night
/// brightness (20 %) and back. Default settings (a condition holds 10 s before it is
/// reported, 5 s of normal pictures end it): moved, moved, blocked, defocused at
/// 10 s into their segments, each ended 5 s after the picture is back; the night
/// segment raises nothing. Every phase carries its picture pair.
#[test]
fn shift_rotation_card_and_blur_give_their_alarms_at_their_times_and_night_gives_none() {
    let dir = tempfile::tempdir().unwrap();
    // At sub-stream size (384x216), which keeps composing the blur cheap.
    let frames: Vec<(Picture, u64)> = decode_pictures(
        &support::media("car-detection.mp4"),
        1_000_000_000,
        u64::MAX,
    )
    .expect("decode the sample video")
    .into_iter()
    .map(|(p, d)| (p.resized(384, 216), d))
    .collect();
    let clip_s: f64 = frames.iter().map(|f| f.1 as f64 / 1e9).sum();
    assert!((29.0..=31.0).contains(&clip_s), "clip is {clip_s} s");
    let (w, h) = (frames[0].0.width, frames[0].0.height);
    let normal = road(&frames, &|p| p.clone());
    let shifted = road(&frames, &|p| p.moved(0.1 * w as f32, 0.0, 0.0, 1.0));
    let turned = road(&frames, &|p| p.moved(0.0, 0.0, 5.0, 1.0));
    let carded = road(&frames, &|p| {
        let mut c = p.clone();
        c.fill(Rect::new(0, 0, w * 6 / 10, h), [128, 128, 128]);
        c
    });
    let blurred = road(&frames, &|p| p.blurred(2.0));
    let night = road(&frames, &|p| p.brightness(0.2));
    let video = dir.path().join("tamper.mp4");
    let seg = |f| Segment::Frames {
        frames: f,
        repeat: 1,
    };
    compose(
        &video,
        &spec(),
        &[
            seg(&normal),
            seg(&shifted),
            seg(&normal),
            seg(&turned),
            seg(&normal),
            seg(&carded),
            seg(&normal),
            seg(&blurred),
            seg(&normal),
            seg(&night),
            seg(&normal),
        ],
    )
    .unwrap();
    let cfg = support::replay_config(dir.path(), "tamper", "", "fps = 1.0", "");
    let events = support::replay_events(&cfg, &video, &dir.path().join("evidence"));
    let got = tampering(&events);
    eprintln!("tampering phases: {got:?}");
    // Each segment is the clip at the 2 fps output rate (its last picture rounds up).
    let c = (clip_s * 2.0).ceil() / 2.0;
    let want = [
        (1.0 * c + 10.0, "started", "moved"),
        (2.0 * c + 5.0, "ended", "moved"),
        (3.0 * c + 10.0, "started", "moved"),
        (4.0 * c + 5.0, "ended", "moved"),
        (5.0 * c + 10.0, "started", "blocked"),
        (6.0 * c + 5.0, "ended", "blocked"),
        (7.0 * c + 10.0, "started", "defocused"),
        (8.0 * c + 5.0, "ended", "defocused"),
    ];
    assert_eq!(got.len(), want.len(), "{got:?}");
    for ((t, p, k), (wt, wp, wk)) in got.iter().zip(want) {
        assert_eq!((p.as_str(), k.as_str()), (wp, wk), "{got:?}");
        // Within 3 s: one check a second, and a check that misses the condition (a
        // car passing through the features) restarts its 10 s.
        assert!(
            (t - wt).abs() <= 3.0,
            "{k} {p} at {t:.1} s, expected {wt:.1} s: {got:?}"
        );
    }
    // Each started phase has the reference (before) and the tampered picture (after).
    for e in of(&events, "camera_tampering", "started") {
        let names: Vec<&str> = e["media"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["name"].as_str())
            .collect();
        assert!(
            names.iter().any(|n| n.starts_with("before"))
                && names.iter().any(|n| n.starts_with("after")),
            "picture pair missing: {names:?}"
        );
        assert!(e["category"]["code"].is_string(), "{e:#}");
    }
    support::assert_schema_valid(&events);
}

/// The car-park GIF: a car drives into the bay at the top left and stops.
fn gif() -> Vec<(Picture, u64)> {
    decode_pictures(
        &support::media("person-bicycle-car-detection.gif"),
        0,
        u64::MAX,
    )
    .unwrap()
}

const BAY: &str = "[[0.0, 0.15], [0.35, 0.15], [0.35, 0.6], [0.0, 0.6]]";

/// What preset 2 sees: another kerb, where the same car (a crop of the parked car
/// pasted 200 px right and 100 px down) stands in the middle of the picture; the car
/// in the top-left corner is inside bay-1's polygon, which is not in force there.
fn at_preset_2(p: &Picture) -> Picture {
    let mut out = p.clone();
    out.paste(&p.crop(Rect::new(0, 20, 125, 90)), 200, 120);
    out
}

fn ptz_replay(
    dir: &std::path::Path,
    video: &std::path::Path,
    ptz: &str,
    zones: &str,
    script: &str,
) -> Vec<Value> {
    let cfg = support::replay_config(dir, "ptz", "", "fps = 2.0", &format!("{ptz}\n{zones}"));
    let script_path = dir.join("ptz.script");
    std::fs::write(&script_path, script).unwrap();
    let sp = format!("cam={}", script_path.display());
    let events = support::replay_with(
        &cfg,
        "cam",
        video,
        &dir.join("evidence"),
        &["--ptz-script", &sp],
    );
    support::assert_schema_valid(&events);
    events
}

/// A PTZ camera whose operator turns it away twice (replay, `--ptz-script`): zones
/// per preset (bay-1 at preset 1, kerb-2 at preset 2 where the car stands after the
/// turn), `resume_within_s` = 60. The car parks at preset 1 and is watched 40 s; the
/// camera is away 30 s (3 s moving, preset 2, 3 s moving) and back: the stay resumes
/// and confirms 60 s of *watched* time after it began, 30 s later than without the
/// pause (`paused_s` 30). Then the camera goes to preset 2 for 97 s: bay-1's stay
/// ends `camera_moved` 60 s after it left, and there only kerb-2 runs (it confirms the
/// same car, which now stands in kerb-2). Preset 1's zone never decides on a picture
/// of preset 2 and nothing is decided while moving.
#[test]
fn a_stay_survives_a_short_move_away_ends_camera_moved_after_a_long_one_and_each_preset_runs_its_zones()
 {
    let dir = tempfile::tempdir().unwrap();
    let frames = gif();
    let s: f64 = frames.iter().map(|f| f.1 as f64 / 1e9).sum();
    let parked = frames.last().unwrap().0.clone();
    let away = at_preset_2(&parked);
    let video = dir.path().join("ptz.mp4");
    let hold = |picture, seconds| Segment::Hold { picture, seconds };
    compose(
        &video,
        &spec(),
        &[
            Segment::Frames {
                frames: &frames,
                repeat: 1,
            },
            hold(&parked, 40.0),
            hold(&away, 30.0),
            hold(&parked, 40.0),
            hold(&away, 100.0),
            hold(&parked, 30.0),
        ],
    )
    .unwrap();
    let script = format!(
        "0 at 1\n{} moving\n{} at 2\n{} moving\n{} at 1\n{} moving\n{} at 2\n{} at 1\n",
        s + 40.0,
        s + 43.0,
        s + 67.0,
        s + 70.0,
        s + 110.0,
        s + 113.0,
        s + 210.0
    );
    let ptz = "[cameras.ptz]\nhome = \"1\"\nresume_within_s = 60";
    let zones = format!(
        r#"[[cameras.zones]]
id = "bay-1"
preset = "1"
polygon = {BAY}
rules = [{{ type = "no_parking", dwell_s = 60, leave_after_s = 40 }}]
[[cameras.zones]]
id = "kerb-2"
preset = "2"
polygon = [[0.35, 0.35], [0.8, 0.35], [0.8, 0.9], [0.35, 0.9]]
rules = [{{ type = "no_parking", dwell_s = 40, leave_after_s = 40 }}]"#
    );
    let events = ptz_replay(dir.path(), &video, ptz, &zones, &script);
    let parking = |zone: &str, phase: &str| -> Vec<&Value> {
        of(&events, "illegal_parking", phase)
            .into_iter()
            .filter(|e| e["zone"]["id"] == zone)
            .collect()
    };
    let summary: Vec<String> = events
        .iter()
        .map(|e| {
            format!(
                "{} {} {} {:.1} {}",
                e["kind"],
                e["zone"]["id"],
                e["phase"],
                secs_rfc(&e["times"]["reported"]),
                e["end_reason"]
            )
        })
        .collect();
    eprintln!("events: {summary:#?}");
    let started = parking("bay-1", "started");
    assert_eq!(started.len(), 1, "{summary:#?}");
    let st = started[0];
    let paused = st["details"]["paused_s"].as_f64().unwrap_or(0.0);
    assert!((paused - 30.0).abs() <= 2.0, "paused {paused} s: {st:#}");
    let start = secs(&st["times"]["start_media_ns"]);
    let confirmed = secs_rfc(&st["times"]["reported"]);
    assert!(
        confirmed >= s + 70.0 && (confirmed - (start + 60.0 + paused)).abs() <= 3.0,
        "confirmed at {confirmed:.1} s (stay from {start:.1} s): {st:#}"
    );
    let ended = parking("bay-1", "ended");
    assert_eq!(ended.len(), 1, "{summary:#?}");
    assert_eq!(ended[0]["end_reason"], "camera_moved", "{:#}", ended[0]);
    assert_eq!(ended[0]["id"], st["id"]);
    let at = secs_rfc(&ended[0]["times"]["reported"]);
    assert!((at - (s + 110.0 + 60.0)).abs() <= 2.0, "ended at {at:.1} s");
    // kerb-2 only ran at preset 2: its stay confirmed during the long visit there.
    let k = parking("kerb-2", "started");
    assert_eq!(k.len(), 1, "{summary:#?}");
    let kt = secs_rfc(&k[0]["times"]["reported"]);
    assert!(
        (s + 113.0..s + 210.0).contains(&kt),
        "kerb-2 confirmed at {kt:.1} s"
    );
    // No parking phase decided while the camera moved or looked at the other preset.
    for e in of(&events, "illegal_parking", "started").iter().chain(&of(
        &events,
        "illegal_parking",
        "updated",
    )) {
        let t = secs_rfc(&e["times"]["reported"]);
        let at_2 = (s + 40.0..s + 70.0).contains(&t) || (s + 110.0..s + 210.0).contains(&t);
        assert_eq!(
            e["zone"]["id"] == "kerb-2",
            at_2,
            "{} decided at {t:.1} s",
            e["zone"]["id"]
        );
    }
    assert!(
        of(&events, "camera_tampering", "started").is_empty(),
        "{summary:#?}"
    );
}

/// Patrol (巡航) between presets 1 and 2, 20 s at each (scaled down from 2 of every
/// 6 minutes): the car parked at preset 1 is seen 20 s of every 46 s, yet its 60 s
/// stay is confirmed, on the visit after it was first seen, because the same vehicle
/// (same place, same appearance) was found again; the time between the visits
/// counts. Each later visit adds a wide shot (`visit-2.jpg`, …).
#[test]
fn a_patrol_confirms_a_stay_across_visits_with_a_wide_shot_of_each_visit() {
    let dir = tempfile::tempdir().unwrap();
    let frames = gif();
    let s: f64 = frames.iter().map(|f| f.1 as f64 / 1e9).sum();
    let parked = frames.last().unwrap().0.clone();
    let away = at_preset_2(&parked);
    let video = dir.path().join("patrol.mp4");
    let hold = |picture, seconds| Segment::Hold { picture, seconds };
    compose(
        &video,
        &spec(),
        &[
            Segment::Frames {
                frames: &frames,
                repeat: 1,
            },
            hold(&parked, 20.0),
            hold(&away, 26.0),
            hold(&parked, 20.0),
            hold(&away, 26.0),
            hold(&parked, 20.0),
        ],
    )
    .unwrap();
    let mut script = String::from("0 at 1\n");
    for t in [20.0, 66.0] {
        script += &format!(
            "{} moving\n{} at 2\n{} moving\n{} at 1\n",
            s + t,
            s + t + 3.0,
            s + t + 23.0,
            s + t + 26.0
        );
    }
    let ptz =
        "[cameras.ptz]\nhome = \"1\"\n[cameras.ptz.patrol]\npresets = [\"1\", \"2\"]\ndwell_s = 20";
    let zones = format!(
        r#"[[cameras.zones]]
id = "bay-1"
preset = "1"
polygon = {BAY}
rules = [{{ type = "no_parking", dwell_s = 60, leave_after_s = 40 }}]"#
    );
    let events = ptz_replay(dir.path(), &video, ptz, &zones, &script);
    let started = of(&events, "illegal_parking", "started");
    assert_eq!(started.len(), 1, "{events:#?}");
    let st = started[0];
    let t = secs_rfc(&st["times"]["reported"]);
    // Watched only 20 s at a time: confirmed on the second visit (s+46..s+66) once 60
    // s had passed since the stay began.
    assert!(
        (s + 46.0..s + 66.0).contains(&t),
        "confirmed at {t:.1} s: {st:#}"
    );
    assert!(
        st["details"]["paused_s"].is_null(),
        "patrol absences count: {st:#}"
    );
    let names: Vec<String> = events
        .iter()
        .filter(|e| e["id"] == st["id"])
        .flat_map(|e| e["media"].as_array().cloned().unwrap_or_default())
        .filter_map(|m| m["name"].as_str().map(str::to_string))
        .collect();
    assert!(
        names.iter().any(|n| n == "visit-2.jpg"),
        "no wide shot of the second visit: {names:?}"
    );
    assert!(
        of(&events, "illegal_parking", "ended").is_empty(),
        "{events:#?}"
    );
}

// ---------------------------------------------------------------------------------
// The PTZ controller against the simulated dome (real HTTP, signed SOAP).

use streetwatch::ingest::onvif::Credentials;
use streetwatch::ingest::onvif::ptz::{PtzClient, PtzPosition};
use streetwatch::ingest::onvif::ptz_control::{BoxMove, MoveReason, PtzController, PtzTarget};
use support::onvif::{OnvifCamera, OnvifResponder, PtzSim};

fn dome() -> OnvifCamera {
    OnvifCamera {
        username: "ptz-admin".into(),
        password: "Dome-pass-42".into(),
        name: "Sim Dome".into(),
        hardware: "SD-1".into(),
        stream_uri: "rtsp://127.0.0.1:1/dome".into(),
        clock_offset: chrono::TimeDelta::zero(),
        not_onvif: false,
    }
}

fn wait_until(what: &str, limit_s: u64, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + std::time::Duration::from_secs(limit_s);
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The controller polls the dome's position (GetStatus) and reads its presets; the
/// page's move (GotoPreset) waits until the dome stopped there. An operator then turns
/// the dome away (ContinuousMove, Stop, from another ONVIF client): the controller
/// sees it away from every preset, and after `return_after_s` without movement sends
/// it back home by itself, reporting the move (the daemon writes it to the audit log)
/// and counting it in its status. Every PTZ request carried a valid digest.
#[test]
fn the_box_returns_a_ptz_dome_home_after_an_operator_left_it_elsewhere() {
    let sim = PtzSim::new(&[("1", "东门", 0.0), ("2", "西侧路边", 0.5)], 0.0, 1.0);
    let onvif = OnvifResponder::start_ptz(dome(), sim.clone());
    let creds = || {
        Some(Credentials {
            username: "ptz-admin".into(),
            password: "Dome-pass-42".into(),
        })
    };
    let cfg: streetwatch::ingest::onvif::ptz::PtzConfig =
        toml::from_str("home = \"1\"\npoll_s = 0.2\nreturn_after_s = 2").unwrap();
    let moves: Arc<Mutex<Vec<BoxMove>>> = Arc::default();
    let m = moves.clone();
    let c = PtzController::spawn(
        PtzTarget {
            camera_id: "dome".into(),
            address: onvif.xaddr(),
            credentials: creds(),
        },
        cfg,
        Box::new(move |mv| m.lock().unwrap().push(mv.clone())),
    );
    let at = |p: &str| Some(PtzPosition::At(p.into()));
    wait_until("the first position", 20, || c.position() == at("1"));
    let h = c.handle();
    let presets = h.presets().unwrap();
    assert_eq!(
        presets.iter().map(|p| p.token.as_str()).collect::<Vec<_>>(),
        ["1", "2"]
    );
    assert_eq!(presets[1].name, "西侧路边");
    // The page's move: answered once the dome stands at preset 2; not a box move.
    h.goto("2").unwrap();
    assert_eq!(c.position(), at("2"));
    assert_eq!(sim.lock().unwrap().at().as_deref(), Some("2"));
    // ...but an operator's: after return_after_s the box sends it home.
    wait_until("the return home after the page's move", 20, || {
        moves.lock().unwrap().len() == 1 && c.position() == at("1")
    });
    // An operator turns the dome by hand, away from every preset.
    let op =
        PtzClient::connect(&onvif.xaddr(), creds(), std::time::Duration::from_secs(5)).unwrap();
    op.continuous_move(0.3, 0.0, 0.0).unwrap();
    wait_until("the controller to see the move", 10, || {
        c.position() == Some(PtzPosition::Moving)
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    op.stop().unwrap();
    wait_until("the dome standing away", 10, || {
        c.position() == Some(PtzPosition::Away)
    });
    let away_since = Instant::now();
    wait_until("the second return home", 20, || {
        moves.lock().unwrap().len() == 2 && c.position() == at("1")
    });
    assert!(
        away_since.elapsed().as_secs_f64() >= 1.0,
        "returned {:.1} s after the operator stopped, before return_after_s",
        away_since.elapsed().as_secs_f64()
    );
    let mv = moves.lock().unwrap().clone();
    assert!(
        mv.iter()
            .all(|m| m.reason == MoveReason::ReturnHome && m.preset == "1"),
        "{mv:?}"
    );
    let st = h.status();
    assert_eq!(st.box_moves, 2);
    assert!(st.connected && st.error.is_none(), "{st:?}");
    assert_eq!(sim.lock().unwrap().gotos, ["2", "1", "1"]);
    let calls = onvif.calls.lock().unwrap().clone();
    for op in [
        "GetPresets",
        "GotoPreset",
        "GetStatus",
        "ContinuousMove",
        "Stop",
    ] {
        assert!(calls.iter().any(|(o, _)| o == op), "{op} never called");
    }
    assert!(
        calls.iter().all(|(_, ok)| *ok),
        "a request without a valid digest: {calls:?}"
    );
    c.stop();
}

/// The real daemon (`streetwatch run`) with a PTZ camera: RTSP from `serve-rtsp` (its
/// picture follows the dome: `support::dome`), ONVIF from the simulated dome, which an
/// operator left at preset 2. The box finds it away
/// from home and, after `return_after_s`, sends it home by itself, writing the move to
/// the audit log; the page's scene route shows the controller and the position the
/// rules see. The page lists the presets, moves the dome (audited) and asks for a new
/// reference view; `return_after_s` later the dome is home again. Health (MQTT) names
/// the preset and the box's own moves. No move raises a tampering alarm.
#[test]
fn the_daemon_sends_a_ptz_camera_home_audits_it_and_serves_its_scene_to_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let scenes = support::dome::DomeScenes::compose(dir.path(), 90.0);
    let select = dir.path().join("dome.select");
    let sim = PtzSim::with_picture(
        &[("1", "东门", 0.0), ("2", "西侧路边", 0.5)],
        0.5,
        1.0,
        &select,
    );
    let onvif = OnvifResponder::start_ptz(dome(), sim.clone());
    let rtsp = support::dome::serve(
        "/dome",
        &scenes.source(),
        &select,
        Some(("ptz-admin", "Dome-pass-42")),
    );
    let broker = support::broker::Broker::start(None);
    let health = support::mqtt::Sub::start(broker.port, "streetwatch/box");
    let config = format!(
        "[device]\nid = \"box\"\n[inference]\nmodels_dir = \"{m}\"\nweights_dir = \"{w}\"\n\
         [uplink]\nbroker = \"{b}\"\nhealth_interval_s = 1\n\
         [[cameras]]\nid = \"dome\"\nurl = \"{u}\"\nusername = \"ptz-admin\"\npassword = \"Dome-pass-42\"\n\
         [cameras.analysis]\nfps = 1.0\n\
         [cameras.onvif]\naddress = \"{x}\"\n\
         [cameras.ptz]\nhome = \"1\"\npoll_s = 0.5\nreturn_after_s = 3\n",
        m = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("models")
            .display(),
        w = support::weights_dir().display(),
        u = rtsp.url("/dome"),
        x = onvif.xaddr(),
        b = broker.url(),
    );
    let d = support::daemon::RunningDaemon::start(&config, "info");
    let (c, base, csrf) = d.page();
    let home = |sim: &Arc<Mutex<PtzSim>>| sim.lock().unwrap().at().as_deref() == Some("1");
    wait_until("the box to send the dome home", 60, || home(&sim));
    assert_eq!(sim.lock().unwrap().gotos, ["1"]);
    let get = |path: &str| -> Value {
        let r = c.get(format!("{base}{path}")).send().unwrap();
        assert!(r.status().is_success(), "{path}: {:?}", r.text());
        r.json().unwrap()
    };
    let post = |path: &str, body: Value| {
        c.post(format!("{base}{path}"))
            .header("x-csrf-token", &csrf)
            .json(&body)
            .send()
            .unwrap()
    };
    let audit = || serde_json::to_string(&get("/api/audit")).unwrap();
    wait_until("the return home in the audit log", 10, || {
        audit().contains("ptz.return_home")
    });
    // The scene as the page sees it: controller state and the position the rules use.
    wait_until("the scene at preset 1", 30, || {
        let s = get("/api/cameras/dome/scene");
        s["ptz"]["box_moves"] == 1
            && s["scene"]["ptz"] == serde_json::json!({"state": "at", "preset": "1"})
            && s["scene"]["view"] == "1"
    });
    // Health upstream carries the scene: the preset and the box's own move.
    health.wait(
        "health with the dome's scene",
        std::time::Duration::from_secs(30),
        |msgs| {
            msgs.iter().any(|m| {
                m.topic == "streetwatch/box/health"
                    && serde_json::from_slice::<Value>(&m.payload).is_ok_and(|h| {
                        let s = &h["cameras"][0]["scene"];
                        s["box_moves"] == 1 && s["preset"] == "1" && s["last_box_move"].is_string()
                    })
            })
        },
    );
    let presets = get("/api/cameras/dome/presets");
    assert_eq!(presets["presets"][1]["name"], "西侧路边", "{presets:#}");
    let asked = std::time::Instant::now();
    let r = post(
        "/api/cameras/dome/ptz/goto",
        serde_json::json!({"preset": "2"}),
    );
    assert!(r.status().is_success(), "{:?}", r.text());
    // The answer comes `ptz.settle_s` (2 s) after the stop, the move itself taking
    // 1 s, so the zone editor's picture is the preset's, not the move's.
    assert!(
        asked.elapsed() >= std::time::Duration::from_millis(2500),
        "goto answered {:?} after the request, before the picture settled",
        asked.elapsed()
    );
    // It went there (it may be on its way home already: `return_after_s` is 3 s).
    assert_eq!(
        sim.lock().unwrap().gotos.get(1).map(String::as_str),
        Some("2")
    );
    assert!(audit().contains("ptz.goto"));
    let r = post("/api/cameras/dome/reference", serde_json::json!({}));
    assert!(r.status().is_success(), "{:?}", r.text());
    let bad = post(
        "/api/cameras/dome/ptz/goto",
        serde_json::json!({"preset": ""}),
    );
    assert_eq!(bad.status().as_u16(), 422);
    wait_until("the second return home", 30, || home(&sim));
    assert_eq!(sim.lock().unwrap().gotos, ["1", "2", "1"]);
    // Changed PTZ and tampering settings restart the camera (its slice changed): it
    // comes back with them, the dome already home is left alone, and the new return
    // time is in force.
    let edited = std::fs::read_to_string(d.config_path())
        .unwrap()
        .replace("return_after_s = 3\n", "return_after_s = 2\n")
        + "[cameras.tamper]\ncheck_fps = 2.0\n";
    std::fs::write(d.config_path(), edited).unwrap();
    d.signal(libc::SIGHUP);
    d.wait_log(20, "the dome's camera restarted by the reload", |l| {
        l.contains("stopping camera (removed or changed)") && l.contains("camera=dome")
    });
    wait_until("the scene at preset 1 after the reload", 60, || {
        let s = get("/api/cameras/dome/scene");
        s["scene"]["ptz"] == serde_json::json!({"state": "at", "preset": "1"})
            && s["scene"]["view"] == "1"
    });
    assert_eq!(
        sim.lock().unwrap().gotos,
        ["1", "2", "1"],
        "a dome already home is not moved again by the restarted controller"
    );
    let r = post(
        "/api/cameras/dome/ptz/goto",
        serde_json::json!({"preset": "2"}),
    );
    assert!(r.status().is_success(), "{:?}", r.text());
    wait_until("the return home under the new settings", 30, || {
        sim.lock().unwrap().gotos.len() == 5 && home(&sim)
    });
    assert_eq!(sim.lock().unwrap().gotos, ["1", "2", "1", "2", "1"]);
    assert!(
        !d.log().contains("config reload refused"),
        "the edited settings were refused"
    );
    let log = d.log();
    assert!(
        !log.contains("Dome-pass-42"),
        "the ONVIF password is in the log"
    );
    // The picture changed with every move (the stream follows the dome): each preset
    // is checked against its own reference view, so no move is a tampered camera.
    let tampering = get("/api/events?kind=camera_tampering");
    assert_eq!(
        tampering["events"].as_array().map_or(0, Vec::len),
        0,
        "a preset move raised a tampering alarm: {tampering:#}"
    );
}

/// The real daemon follows a dome's preset for its rules, on a stream whose picture
/// follows the dome (`serve-rtsp` switching mount driven by the simulated dome: see
/// `support::dome`): at preset 1 a car parks in the bay (the parking scenario, zone
/// `bay`, dwell 4 s) and its case starts. The page sends the dome to preset 2 (another
/// kerb, where another car stands in zone `kerb-2`) and at once back: the rules pause
/// while it moves (nothing is decided between a pause and the next resumption, by the
/// daemon's log), and back home within `resume_within_s` (12 s) the stay resumes
/// with the same event id, its next phase saying how long it was paused
/// (`details.paused_s`). The page sends the dome to preset 2 again and leaves it
/// there, and the technician sets preset 2's reference view as soon as it stopped:
/// `kerb-2` runs on preset 2's picture and confirms its own car (a case of its own:
/// the bay's car is not reported there), the bay's stay ends `camera_moved` 12 s after
/// the dome left, and after `return_after_s` (14 s) the box sends the dome home by
/// itself. No tampering alarm: each preset has its own reference view, taken once the
/// picture settled (`ptz.settle_s`; the stream's picture arrives up to a GOP after the
/// dome reports its stop: a reference taken at once was the moving picture, and preset
/// 2 raised `moved` 12 s later), and the moving picture never lasts the 10 s a
/// `moved` condition needs.
#[test]
fn the_daemon_pauses_a_stay_while_the_dome_looks_elsewhere_resumes_it_back_home_and_ends_it_camera_moved()
 {
    let t0 = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let scenes = support::dome::DomeScenes::compose(dir.path(), 120.0);
    let composed_s = t0.elapsed().as_secs_f64();
    let select = dir.path().join("dome.select");
    let sim = PtzSim::with_picture(
        &[("1", "东门", 0.0), ("2", "西侧路边", 0.5)],
        0.0,
        2.0,
        &select,
    );
    let rtsp = support::dome::serve("/dome", &scenes.source(), &select, None);
    let onvif = OnvifResponder::start_ptz(dome(), sim.clone());
    let config = format!(
        "[device]\nid = \"box\"\n[inference]\nmodels_dir = \"{m}\"\nweights_dir = \"{w}\"\n\
         [events.tracker]\nstationary_after_s = 2.0\n\
         [[cameras]]\nid = \"dome\"\nurl = \"{u}\"\nusername = \"ptz-admin\"\npassword = \"Dome-pass-42\"\n\
         [cameras.analysis]\nfps = 2.0\n\
         [cameras.onvif]\naddress = \"{x}\"\n\
         [cameras.ptz]\nhome = \"1\"\npoll_s = 0.5\nreturn_after_s = 14\nresume_within_s = 12\n\
         [[cameras.zones]]\nid = \"bay\"\npreset = \"1\"\n\
         polygon = {BAY}\n\
         rules = [{{ type = \"no_parking\", dwell_s = 4, update_every_s = 12, leave_after_s = 30 }}]\n\
         [[cameras.zones]]\nid = \"kerb-2\"\npreset = \"2\"\n\
         polygon = [[0.25, 0.5], [0.65, 0.5], [0.65, 1.0], [0.25, 1.0]]\n\
         rules = [{{ type = \"no_parking\", dwell_s = 3, leave_after_s = 30 }}]\n",
        m = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("models")
            .display(),
        w = support::weights_dir().display(),
        u = rtsp.url("/dome"),
        x = onvif.xaddr(),
    );
    let d = support::daemon::RunningDaemon::start(&config, "info");
    let (c, base, csrf) = d.page();
    let get = |path: &str| -> Value {
        let r = c.get(format!("{base}{path}")).send().unwrap();
        assert!(r.status().is_success(), "{path}: {:?}", r.text());
        r.json().unwrap()
    };
    let goto = |preset: &str| {
        let r = c
            .post(format!("{base}/api/cameras/dome/ptz/goto"))
            .header("x-csrf-token", &csrf)
            .json(&serde_json::json!({ "preset": preset }))
            .send()
            .unwrap();
        assert!(r.status().is_success(), "{:?}", r.text());
    };
    let view = || get("/api/cameras/dome/scene")["scene"]["view"].clone();
    let cases = |kind: &str| -> Vec<Value> {
        get(&format!("/api/events?kind={kind}"))["events"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    let event = |id: &str| get(&format!("/api/events/{id}"))["event"].clone();
    let zone_cases = |zone: &str| -> Vec<Value> {
        cases("illegal_parking")
            .into_iter()
            .filter(|e| event(e["id"].as_str().unwrap())["zone"]["id"] == zone)
            .collect()
    };
    // The case as decided (the page lists it once its clip is written, seconds later).
    let decided = |l: &str| l.contains("event decided") && l.contains("phase=started");
    d.wait_log(90, "the parking case at preset 1", |log| {
        log.lines().any(decided)
    });
    let log = d.log();
    let id = log
        .lines()
        .find(|l| decided(l))
        .and_then(|l| l.split("event=").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .unwrap()
        .to_string();
    // A short look at preset 2 and straight back (the page's moves return once the dome
    // stopped), long before the stay's first update.
    goto("2");
    goto("1");
    wait_until("the rules of preset 1 back in force", 20, || view() == "1");
    let resumed = || {
        zone_cases("bay")
            .iter()
            .any(|e| e["id"] == id.as_str())
            .then(|| event(&id))
            .filter(|e| e["phase"] != "started")
    };
    wait_until("the case's next phase after the return", 40, || {
        resumed().is_some()
    });
    let e = resumed().unwrap();
    assert_eq!(e["phase"], "updated", "{e:#}");
    let paused = e["details"]["paused_s"].as_f64().unwrap_or(0.0);
    assert!(
        (4.0..12.0).contains(&paused),
        "the time away (two 2 s moves and the settling back home) is paused, not dwelt: {:#}",
        e["details"]
    );
    assert_eq!(zone_cases("bay").len(), 1, "one case, resumed");
    assert!(
        d.log()
            .lines()
            .any(|l| l.contains("rules paused") && l.contains("moving")),
        "the log says the rules paused while the dome moved"
    );
    // A long one: the dome stays at preset 2 until the box brings it home.
    let left_utc = chrono::Utc::now();
    let since_left = |t: &Value| {
        let t = chrono::DateTime::parse_from_rfc3339(t.as_str().unwrap()).unwrap();
        (t.to_utc() - left_utc).as_seconds_f64()
    };
    goto("2");
    let left = Instant::now();
    // The technician takes preset 2's reference view as soon as the dome stopped there.
    let r = c
        .post(format!("{base}/api/cameras/dome/reference"))
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({}))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{:?}", r.text());
    wait_until("kerb-2's own case at preset 2", 40, || {
        !zone_cases("kerb-2").is_empty()
    });
    let kerb = event(zone_cases("kerb-2")[0]["id"].as_str().unwrap());
    assert_ne!(kerb["id"], id.as_str(), "{kerb:#}");
    // Judged on preset 2's picture: its car was first seen still after the 2 s move and
    // the settling (`ptz.settle_s`, 2 s) while the picture catches up.
    let still_after = (kerb["times"]["start_media_ns"].as_i64().unwrap()
        - left_utc.timestamp_nanos_opt().unwrap()) as f64
        / 1e9;
    assert!(
        still_after >= 3.0,
        "kerb-2's car was seen still {still_after:.1} s after the dome left: {kerb:#}"
    );
    wait_until("the bay's stay ended camera_moved", 30, || {
        event(&id)["phase"] == "ended"
    });
    let ended = event(&id);
    assert_eq!(ended["end_reason"], "camera_moved", "{ended:#}");
    // Media time is the stream's capture time, the host's clock here (less the
    // stream's latency). The dome came back only 2 s + 14 s after it left.
    let ended_after = since_left(&ended["times"]["reported"]);
    assert!(
        (11.0..15.0).contains(&ended_after),
        "the stay ended {ended_after:.1} s after the dome left, not resume_within_s (12 s)"
    );
    wait_until("the box to send the dome home", 40, || {
        sim.lock().unwrap().at().as_deref() == Some("1") && view() == "1"
    });
    let away = left.elapsed().as_secs_f64();
    assert!(
        away >= 14.0,
        "home after {away:.1} s, before return_after_s"
    );
    assert_eq!(sim.lock().unwrap().gotos, ["2", "1", "2", "1"]);
    // One case per car: the bay's (its stay ended while the dome looked elsewhere; a
    // new case for the car still there needs its dwell again, 6 s and more after the
    // return) and kerb-2's. Nothing of preset 2's picture reached the bay, nothing of
    // preset 1's reached kerb-2.
    assert_eq!(
        zone_cases("bay").len(),
        1,
        "{:#?}",
        cases("illegal_parking")
    );
    assert_eq!(
        zone_cases("kerb-2").len(),
        1,
        "{:#?}",
        cases("illegal_parking")
    );
    let tampering = cases("camera_tampering");
    assert!(
        tampering.is_empty(),
        "a preset move raised a tampering alarm: {tampering:#?}"
    );
    // Nothing was decided while the rules were paused (the analysis thread writes
    // its pauses, resumptions and decisions in order): back and forth, there and back.
    let (mut paused, mut pauses) = (false, 0);
    for l in d.log().lines() {
        if l.contains("rules paused") {
            (paused, pauses) = (true, pauses + 1);
        } else if l.contains("rules resumed") {
            paused = false;
        } else if paused && l.contains("event decided") && !l.contains("phase=ended") {
            panic!("decided while the dome moved: {l}");
        }
    }
    assert!(
        pauses >= 3,
        "{pauses} pauses for three absences from a view"
    );
    eprintln!(
        "dome daemon test: scenes composed in {composed_s:.1} s, {:.1} s in all",
        t0.elapsed().as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------
// The simulated dome's picture: a `serve-rtsp` switching mount.

/// Mean absolute difference of two RGB pictures of one size.
fn mad(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum::<u64>() as f64
        / a.len() as f64
}

/// `serve-rtsp --mount /dome=switch:a=A,b=B --select-file F`, received by the box's
/// own RTSP ingest (one client, every frame decoded): A is the parked car at preset 1,
/// B the other kerb of preset 2 (6 s and 4 s clips, looped on one timeline). Written
/// to F, `b` brings B within 2 s (a 1 s GOP: the switch waits for B's next keyframe),
/// an unknown name the first clip, `b` again B. Every decoded frame is a clean A or a
/// clean B (no picture decoded against the other clip's reference), media time runs on
/// without a gap, and the client never reconnects.
#[test]
fn a_switching_mount_changes_picture_when_told_while_its_client_stays_connected() {
    use streetwatch::config::{SupervisionConfig, Transport};
    use streetwatch::ingest::pipeline::{AnalysisSpec, Anchor, Source};
    use streetwatch::ingest::{Camera, CameraSpec, CameraStatus, Overflow, Pop};
    let t0 = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let frames = support::dome::gif_frames();
    let a = frames.last().unwrap().0.clone();
    let b = support::dome::preset_2(&frames);
    let (fa, fb) = (dir.path().join("a.mp4"), dir.path().join("b.mp4"));
    for (file, picture, repeat) in [(&fa, &a, 3), (&fb, &b, 2)] {
        let frames = support::dome::still(picture);
        let seg = Segment::Frames {
            frames: &frames,
            repeat,
        };
        compose(file, &support::dome::spec(), &[seg]).unwrap();
    }
    let apart = mad(&a.rgb, &b.rgb);
    assert!(apart > 8.0, "the two scenes differ by only {apart:.1}");
    let select = dir.path().join("select");
    std::fs::write(&select, "a").unwrap();
    let source = format!("switch:a={},b={}", fa.display(), fb.display());
    let sim = support::dome::serve("/dome", &source, &select, None);
    let cam = Camera::spawn(CameraSpec {
        id: "dome".into(),
        source: Source::Rtsp {
            url: sim.url("/dome"),
            username: None,
            password: None,
            transport: Transport::Tcp,
            latency_ms: 100,
        },
        analysis_source: None,
        analysis: Some(AnalysisSpec {
            fps: 4.0,
            keyframes_only: false,
            max_width: 0,
            keyframe_max_gap_s: None,
        }),
        preroll_seconds: 4.0,
        preroll_max_bytes: 8 << 20,
        queue_depth: 16,
        supervision: SupervisionConfig {
            stall_timeout_s: 3.0,
            backoff_initial_s: 0.5,
            backoff_max_s: 2.0,
        },
        anchor: Anchor::WallClock,
        overflow: Overflow::Block,
    });
    // (media time, which scene, nearest distance) of every frame, as it arrives.
    let mut seen: Vec<(streetwatch::ingest::MediaTime, char, f64)> = Vec::new();
    let watch = |secs: f64, seen: &mut Vec<_>| {
        let end = Instant::now() + std::time::Duration::from_secs_f64(secs);
        while Instant::now() < end {
            if let Pop::Item(f) = cam
                .frames()
                .pop_timeout(std::time::Duration::from_millis(100))
            {
                let rgb = f.to_rgb();
                let (da, db) = (mad(&rgb.data, &a.rgb), mad(&rgb.data, &b.rgb));
                let which = if da < db { 'a' } else { 'b' };
                seen.push((f.time, which, da.min(db)));
            }
        }
    };
    wait_until("the dome's stream", 30, || {
        matches!(cam.status(), CameraStatus::Streaming { .. })
    });
    watch(1.0, &mut seen);
    // Switched at a keyframe of the new clip: its first frame and all after it.
    let switch = |to: &str, want: char, seen: &mut Vec<_>| {
        std::fs::write(&select, to).unwrap();
        let from = seen.len();
        watch(3.0, seen);
        let tail: &[(streetwatch::ingest::MediaTime, char, f64)] = &seen[from..];
        let first = tail.iter().position(|s| s.1 == want);
        let Some(first) = first else {
            panic!("{to}: still the other scene 3 s later: {tail:?}");
        };
        assert!(
            first <= 10,
            "{to}: {first} frames of the old scene after the switch (a 1 s GOP allows 4 plus the stream's latency)"
        );
        assert!(
            tail[first..].iter().all(|s| s.1 == want),
            "{to}: the old scene came back: {tail:?}"
        );
    };
    switch("b", 'b', &mut seen);
    switch("no-such-clip", 'a', &mut seen);
    switch("b", 'b', &mut seen);
    eprintln!(
        "switching mount: {} frames, worst distance to its scene {:.1} (scenes {apart:.1} apart), {:.1} s",
        seen.len(),
        seen.iter().map(|s| s.2).fold(0.0, f64::max),
        t0.elapsed().as_secs_f64()
    );
    assert!(seen.len() >= 30, "only {} frames in 11 s", seen.len());
    assert!(seen[..4].iter().all(|s| s.1 == 'a'), "{seen:?}");
    for s in &seen {
        assert!(
            s.2 < apart / 2.5,
            "a frame {:.1} from its nearest scene (scenes {apart:.1} apart): not a clean picture",
            s.2
        );
    }
    for w in seen.windows(2) {
        let dt = w[1].0.secs_since(w[0].0);
        assert!((0.0..=0.6).contains(&dt), "media time stepped {dt:.2} s");
    }
    assert!(matches!(cam.status(), CameraStatus::Streaming { .. }));
    assert_eq!(cam.streams().main.reconnects, 0, "the client reconnected");
    drop(sim);
}
