//! Rule scenarios through `streetwatch replay` and the real detectors, on videos
//! composed at test time from real frames (see `camsim::scenario::compose` and
//! `camsim::picture`). Each test says what was composited; nothing here is generated
//! imagery, and no video is committed.

mod support;

use serde_json::Value;
use std::path::Path;
use streetwatch::camsim::picture::{Picture, Rect};
use streetwatch::camsim::scenario::{ScenarioSpec, Segment, compose, decode_pictures};
use support::*;

/// Replays start at this wall-clock time (the `replay --start` default), so media time
/// `t` seconds into a video is `ANCHOR_NS + t * 1e9`.
const ANCHOR_NS: i64 = 1_795_219_200_000_000_000;

fn secs_into(ns: &Value) -> f64 {
    (ns.as_i64().unwrap() - ANCHOR_NS) as f64 / 1e9
}

fn of_kind<'a>(events: &'a [Value], kind: &str, phase: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["kind"] == kind && e["phase"] == phase)
        .collect()
}

fn spec(fps: u32, gop_frames: u32) -> ScenarioSpec {
    ScenarioSpec {
        fps,
        hold_s: 0.0,
        gop_frames,
        noise: 2,
        bitrate: 400_000,
    }
}

/// Every frame of the car-park GIF (480x270): a car drives into the bay at the top
/// left and stops there (YOLOX-nano: `car` ~0.9 in the last frames).
fn gif_frames() -> Vec<(Picture, u64)> {
    decode_pictures(&media("person-bicycle-car-detection.gif"), 0, u64::MAX).unwrap()
}

/// What `model` detects on `picture` (`streetwatch detect`, the product's detector
/// path), as (class name, box) pairs.
fn detect(dir: &Path, cfg: &Path, model: &str, picture: &Picture) -> Vec<(String, [f64; 4])> {
    let png = dir.join(format!("probe-{model}.png"));
    image::RgbImage::from_raw(picture.width, picture.height, picture.rgb.clone())
        .unwrap()
        .save(&png)
        .unwrap();
    let out = std::process::Command::new(bin())
        .args(["detect", "--json", "--model", model, "--config"])
        .arg(cfg)
        .arg(&png)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    line["detections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let b = &d["bbox"];
            let v = |k: &str| b[k].as_f64().unwrap();
            (
                d["class_name"].as_str().unwrap().to_string(),
                [v("x1"), v("y1"), v("x2"), v("y2")],
            )
        })
        .collect()
}

const BAY: &str = "[[0.0, 0.15], [0.35, 0.15], [0.35, 0.6], [0.0, 0.6]]";

/// The car parks (GIF, then its last frame held 70 s: confirmed at the 60 s dwell),
/// is hidden for 30 s by a flat grey rectangle pasted over it (standing in for a van
/// stopping in front; the detector sees no vehicle there), is visible again for 20 s,
/// then is gone: the bay region of the GIF's first frame (before the car arrived; the
/// bay is empty there) pasted over the last frame, held 50 s. The stay must stay one
/// event through the occlusion (closed only after `leave_after_s` = 40 s > 30 s) and end
/// once, with the stay's total length.
///
/// Returns the video, the zone, the parked, hidden and empty pictures and the GIF's
/// length in seconds.
fn park_hide_leave(dir: &Path) -> (std::path::PathBuf, String, [Picture; 3], f64) {
    let frames = gif_frames();
    let first = &frames[0].0;
    let parked = frames.last().unwrap().0.clone();
    let mut hidden = parked.clone();
    hidden.fill(Rect::new(0, 20, 125, 95), [118, 118, 116]);
    let mut empty = parked.clone();
    let bay = Rect::new(0, 0, 135, 118);
    empty.paste(&first.crop(bay), bay.x, bay.y);
    let video = dir.join("park-hide-leave.mp4");
    compose(
        &video,
        &spec(2, 4),
        &[
            Segment::Frames {
                frames: &frames,
                repeat: 1,
            },
            Segment::Hold {
                picture: &parked,
                seconds: 70.0,
            },
            Segment::Hold {
                picture: &hidden,
                seconds: 30.0,
            },
            Segment::Hold {
                picture: &parked,
                seconds: 20.0,
            },
            Segment::Hold {
                picture: &empty,
                seconds: 50.0,
            },
        ],
    )
    .unwrap();
    let gif_s: f64 = frames.iter().map(|f| f.1 as f64 / 1e9).sum();
    let zone = format!(
        r#"[[cameras.zones]]
id = "bay-1"
name = "禁停区 1"
location = "停车场东侧出口"
polygon = {BAY}
rules = [{{ type = "no_parking", dwell_s = 60, leave_after_s = 40 }}]"#
    );
    (video, zone, [parked, hidden, empty], gif_s)
}

#[test]
fn a_parked_car_hidden_mid_stay_stays_one_event_that_ends_once_with_its_duration_when_it_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let (video, zone, [parked, hidden, empty], gif_s) = park_hide_leave(dir.path());
    let cfg = replay_config(dir.path(), "park", "", "fps = 2.0", &zone);
    // The obstacle and the emptied bay really take the car from the detector.
    let cars_in_bay = |p: &Picture| {
        detect(dir.path(), &cfg, "yolox-nano", p)
            .into_iter()
            .filter(|(c, b)| ["car", "truck", "bus"].contains(&c.as_str()) && b[0] < 168.0)
            .count()
    };
    assert_eq!(cars_in_bay(&parked), 1, "the parked car is seen");
    assert_eq!(cars_in_bay(&hidden), 0, "the obstacle hides it");
    assert_eq!(cars_in_bay(&empty), 0, "the bay is empty");
    let events = replay_events(&cfg, &video, &dir.path().join("evidence"));
    same_events_at_auto_rate(
        dir.path(),
        &video,
        "fps = 2.0",
        &zone,
        &events,
        "auto: keyframes only (at most 2 s apart, else 1 fps), for no_parking at zones[0].rules[0]",
        2.5,
    );
    let parking: Vec<&Value> = events
        .iter()
        .filter(|e| e["kind"] == "illegal_parking")
        .collect();
    let started = of_kind(&events, "illegal_parking", "started");
    let ended = of_kind(&events, "illegal_parking", "ended");
    assert_eq!(started.len(), 1, "one stay, one event: {parking:#?}");
    assert_eq!(ended.len(), 1, "{parking:#?}");
    let (s, e) = (started[0], ended[0]);
    assert_eq!(s["id"], e["id"], "start and end share the event id");
    // Confirmed before the occlusion, so the occlusion could only have split it.
    let confirmed_at = gif_s + 70.0;
    let reported = chrono::DateTime::parse_from_rfc3339(s["times"]["reported"].as_str().unwrap())
        .unwrap()
        .timestamp_nanos_opt()
        .unwrap();
    assert!((reported - ANCHOR_NS) as f64 / 1e9 < confirmed_at, "{s:#}");
    // Ended at the last sighting (when the bay emptied), with the total duration.
    let left_at = gif_s + 120.0;
    let end = secs_into(&e["times"]["end_media_ns"]);
    assert!(
        (left_at - 1.0..=left_at + 0.5).contains(&end),
        "ended at {end} s: {e:#}"
    );
    let start = secs_into(&e["times"]["start_media_ns"]);
    let duration = e["duration_s"].as_f64().unwrap();
    assert!((duration - (end - start)).abs() < 0.01, "{e:#}");
    assert!(duration > 110.0, "the stay lasted about two minutes: {e:#}");
    // The end carries a full-resolution snapshot of the frame that ended the stay.
    let media = e["media"].as_array().unwrap();
    let snap = media
        .iter()
        .find(|m| m["name"] == "ended.jpg")
        .unwrap_or_else(|| panic!("no ended snapshot: {media:#?}"));
    // The picture is the camera's 480x270; the caption strip (`caption_px` rows) is
    // added below it.
    let strip = snap["caption_px"].as_u64().unwrap_or(0);
    assert_eq!(
        (
            snap["width"].as_u64(),
            snap["height"].as_u64().map(|h| h - strip)
        ),
        (Some(480), Some(270))
    );
    let path = dir
        .path()
        .join("evidence")
        .join(e["id"].as_str().unwrap())
        .join("ended.jpg");
    let bytes = std::fs::read(&path).unwrap();
    use sha2::Digest;
    assert_eq!(hex::encode(sha2::Sha256::digest(&bytes)), snap["sha256"]);
    assert_eq!(image::load_from_memory(&bytes).unwrap().width(), 480);
}

/// The picture of `frames` on screen `t` seconds into them.
fn at(frames: &[(Picture, u64)], t: f64) -> &Picture {
    let mut end = 0.0;
    for (p, d) in frames {
        end += *d as f64 / 1e9;
        if end > t {
            return p;
        }
    }
    &frames.last().unwrap().0
}

/// A no-parking lane over the middle of car-detection.mp4 (768x432, an overhead view
/// of a car-park driving lane).
const LANE: &str = r#"[[cameras.zones]]
id = "lane"
name = "消防通道"
location = "停车场主通道"
polygon = [[0.3, 0.0], [0.7, 0.0], [0.7, 1.0], [0.3, 1.0]]
rules = [{ type = "no_parking", dwell_s = 60 }]"#;

/// car-detection.mp4 (30 s of real traffic through a car-park lane; cars pass and do
/// not stop) sampled at 2 fps and looped 20 times: ten minutes of media in which a bus
/// crosses the lane every 30 s (YOLOX-nano: `bus` 0.7-0.85; the overhead cars are
/// mostly "cell phone"), analysed at 1 fps. The control freezes the same clip on the frame where the bus
/// is in the lane (17.5 s) for 75 s, which must raise one event, so the zone, the
/// detector and the rule demonstrably see that vehicle; moving, it must raise none.
#[test]
fn ten_minutes_of_looped_moving_traffic_through_a_no_parking_lane_raise_no_parking_event() {
    let dir = tempfile::tempdir().unwrap();
    let frames = decode_pictures(&media("car-detection.mp4"), 500_000_000, u64::MAX).unwrap();
    let looped = dir.path().join("traffic-10min.mp4");
    compose(
        &looped,
        &spec(2, 4),
        &[Segment::Frames {
            frames: &frames,
            repeat: 20,
        }],
    )
    .unwrap();
    let cfg = replay_config(dir.path(), "lane", "", "fps = 1.0", LANE);
    let events = replay_events(&cfg, &looped, &dir.path().join("evidence"));
    assert!(
        events.iter().all(|e| e["kind"] != "illegal_parking"),
        "{events:#?}"
    );

    let bus_at = 17.5;
    let until = frames
        .iter()
        .scan(0.0, |t, f| {
            *t += f.1 as f64 / 1e9;
            Some(*t)
        })
        .take_while(|t| *t <= bus_at)
        .count();
    let stopped = dir.path().join("bus-stops.mp4");
    compose(
        &stopped,
        &spec(2, 4),
        &[
            Segment::Frames {
                frames: &frames[..until],
                repeat: 1,
            },
            Segment::Hold {
                picture: at(&frames, bus_at),
                seconds: 75.0,
            },
        ],
    )
    .unwrap();
    let events = replay_events(&cfg, &stopped, &dir.path().join("evidence2"));
    let started = of_kind(&events, "illegal_parking", "started");
    assert_eq!(started.len(), 1, "control: the stopped bus {events:#?}");
    assert_eq!(started[0]["subject"]["class_name"], "bus");
}

/// one-by-one-person-detection.mp4 (768x432, a real person walks into a room, stands,
/// and walks out to the right at ~19.5 s; YOLOX-nano `person` ~0.88).
fn room_frames() -> Vec<(Picture, u64)> {
    decode_pictures(
        &media("one-by-one-person-detection.mp4"),
        250_000_000,
        23_000_000_000,
    )
    .unwrap()
}

/// The bottle of bottle-detection.mp4 at frame 600 (YOLOX-nano `bottle` 0.93 there),
/// cut out with a little of its background.
fn bottle() -> Picture {
    let frames = decode_pictures(
        &media("bottle-detection.mp4"),
        20_130_000_000,
        20_150_000_000,
    )
    .unwrap();
    frames.last().unwrap().0.crop(Rect::new(500, 100, 78, 220))
}

/// Where the bottle is put down: on the floor left of where the person stood
/// (YOLOX-nano scores it `bottle` ~0.8 there).
const BOTTLE_AT: (u32, u32) = (300, 190);

const LITTER_ZONE: &str = r#"[[cameras.zones]]
id = "floor"
name = "保洁区"
location = "大厅入口"
polygon = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
rules = [{ type = "litter_watch", persist_s = 30, gone_after_s = 20 }]"#;

/// The littering scenario's video (4 fps, 2 s GOP): the room clip with the bottle on
/// the floor from 17 s, its last frame held 40 s.
fn littering_video(dir: &Path) -> std::path::PathBuf {
    let bottle = bottle();
    let mut t = 0.0;
    let frames: Vec<(Picture, u64)> = room_frames()
        .into_iter()
        .map(|(mut p, d)| {
            if t >= 17.0 {
                p.paste(&bottle, BOTTLE_AT.0, BOTTLE_AT.1);
            }
            t += d as f64 / 1e9;
            (p, d)
        })
        .collect();
    let video = dir.join("littering.mp4");
    compose(
        &video,
        &spec(4, 8),
        &[
            Segment::Frames {
                frames: &frames,
                repeat: 1,
            },
            Segment::Hold {
                picture: &frames.last().unwrap().0,
                seconds: 40.0,
            },
        ],
    )
    .unwrap();
    video
}

/// The room clip as filmed, except that from 17 s on (while the person still stands
/// there, two seconds before walking out) a real bottle crop is pasted on the floor
/// beside them; after the clip the empty room with the bottle is held for 40 s. The
/// bottle appeared next to the person's path and stayed after they left: one
/// littering act naming that person's track, and no separate exposed-garbage case.
#[test]
fn a_bottle_appearing_where_a_person_stood_and_staying_after_they_left_is_one_littering_act() {
    let dir = tempfile::tempdir().unwrap();
    let video = littering_video(dir.path());
    let cfg = replay_config(dir.path(), "litter", "", "fps = 2.0", LITTER_ZONE);
    let events = replay_events(&cfg, &video, &dir.path().join("evidence"));
    same_events_at_auto_rate(
        dir.path(),
        &video,
        "fps = 2.0",
        LITTER_ZONE,
        &events,
        "auto: 5 fps, for litter_watch at zones[0].rules[0]",
        0.6,
    );
    let acts = of_kind(&events, "littering_act", "started");
    assert_eq!(acts.len(), 1, "{events:#?}");
    let act = acts[0];
    assert_eq!(act["subject"]["class_name"], "bottle");
    assert_eq!(act["category"]["code"], "06010");
    let person = &act["subject"]["related_track_ids"];
    assert!(
        person
            .as_array()
            .is_some_and(|p| p.len() == 1 && p[0].as_u64() > Some(0)),
        "the act names the person's track: {act:#}"
    );
    // It appeared at 17 s (± one analysis interval) and the event says so.
    let start = secs_into(&act["times"]["start_media_ns"]);
    assert!(
        (17.0..=17.6).contains(&start),
        "litter first seen at {start} s"
    );
    // The clip covers the moment the bottle appeared.
    let media = act["media"].as_array().unwrap();
    let clip = media
        .iter()
        .find(|m| m["kind"] == "clip")
        .unwrap_or_else(|| panic!("no clip: {media:#?}"));
    let (from, to) = (
        secs_into(&clip["start_media_ns"]),
        secs_into(&clip["end_media_ns"]),
    );
    assert!(from < start && start < to, "clip {from}..{to} s");
    assert!(
        of_kind(&events, "exposed_garbage", "started").is_empty(),
        "one case per pile: {events:#?}"
    );
}

/// The empty room (the clip's frame at 22 s, after the person left) held 10 s, then
/// the same frame with the bottle pasted on the floor for 45 s, then without it for
/// 30 s: litter lying with nobody around is exposed garbage, reported once after
/// `persist_s` (30 s) and ended once it has been gone for `gone_after_s` (20 s).
#[test]
fn a_bottle_lying_alone_is_one_exposed_garbage_case_that_ends_when_it_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let frames = room_frames();
    let empty = at(&frames, 22.0).clone();
    let mut littered = empty.clone();
    littered.paste(&bottle(), BOTTLE_AT.0, BOTTLE_AT.1);
    let video = dir.path().join("garbage.mp4");
    compose(
        &video,
        &spec(2, 4),
        &[
            Segment::Hold {
                picture: &empty,
                seconds: 10.0,
            },
            Segment::Hold {
                picture: &littered,
                seconds: 45.0,
            },
            Segment::Hold {
                picture: &empty,
                seconds: 30.0,
            },
        ],
    )
    .unwrap();
    let cfg = replay_config(dir.path(), "garbage", "", "fps = 2.0", LITTER_ZONE);
    let events = replay_events(&cfg, &video, &dir.path().join("evidence"));
    let started = of_kind(&events, "exposed_garbage", "started");
    let ended = of_kind(&events, "exposed_garbage", "ended");
    assert_eq!(started.len(), 1, "{events:#?}");
    assert_eq!(ended.len(), 1, "{events:#?}");
    assert_eq!(started[0]["id"], ended[0]["id"]);
    assert!(of_kind(&events, "littering_act", "started").is_empty());
    let reported =
        chrono::DateTime::parse_from_rfc3339(started[0]["times"]["reported"].as_str().unwrap())
            .unwrap()
            .timestamp_nanos_opt()
            .unwrap();
    let reported = (reported - ANCHOR_NS) as f64 / 1e9;
    assert!(
        (40.0..=41.0).contains(&reported),
        "reported at {reported} s"
    );
    let end = secs_into(&ended[0]["times"]["end_media_ns"]);
    assert!((54.5..=55.5).contains(&end), "last seen at {end} s");
    let duration = ended[0]["duration_s"].as_f64().unwrap();
    assert!((44.0..=46.0).contains(&duration), "lay there {duration} s");
}

/// A real road photo from the RDD2022 sample (China_MotorBike_001794.jpg, 512x512: one
/// elongated pothole; rdd-yolo11n `pothole` ~0.85) held as a still camera.
fn road() -> Picture {
    let p = std::env::var_os("STREETWATCH_ASSETS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".deps"))
        .join("datasets/rdd2022-sample/images/China_MotorBike_001794.jpg");
    Picture::load(&p).unwrap()
}

const ROAD_ZONE: &str = r#"[[cameras.zones]]
id = "road"
name = "路面"
location = "海滨路 88 号前"
polygon = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
rules = [{ type = "road_watch", min_observations = 3, min_span_s = 60, regrow_fraction = 0.3 }]"#;

/// Road damage at one frame per 5 s. (1) The photo held 130 s: three observations over
/// 60 s report the pothole once (the second check at ~120 s finds it known). (2) The
/// same video again with the same state dir, as after a reboot: the registry persisted,
/// nothing is reported. (3) A zoom into the photo (the 420x420 square around the
/// pothole scaled to 512x512) held 130 s: a pothole cannot be made to grow on a real
/// photo, but in the picture its box is now ~1.4x larger (area) at the same place,
/// which is what the rule sees when damage grows; it is re-reported, naming the
/// earlier event.
/// `picture` held 130 s as a road camera would send it: 1 fps, a keyframe every 5 s.
fn road_video(video: &Path, picture: &Picture) {
    compose(
        video,
        &spec(1, 5),
        &[Segment::Hold {
            picture,
            seconds: 130.0,
        }],
    )
    .unwrap();
}

#[test]
fn road_damage_is_reported_once_not_again_after_a_restart_and_again_when_it_grows() {
    let dir = tempfile::tempdir().unwrap();
    let photo = road();
    let zoomed = photo
        .crop(Rect::new(40, 50, 420, 420))
        .resized(photo.width, photo.height);
    let still = dir.path().join("road.mp4");
    let grown = dir.path().join("road-grown.mp4");
    for (video, picture) in [(&still, &photo), (&grown, &zoomed)] {
        road_video(video, picture);
    }
    let cfg = replay_config(
        dir.path(),
        "road",
        "",
        "fps = 0.2\nmodels = [\"rdd-yolo11n\"]",
        ROAD_ZONE,
    );
    let first = replay_events(&cfg, &still, &dir.path().join("evidence"));
    same_events_at_auto_rate(
        dir.path(),
        &still,
        "fps = 0.2\nmodels = [\"rdd-yolo11n\"]",
        ROAD_ZONE,
        &first,
        "auto: keyframes only (at most 10 s apart, else 1 fps), for road_watch at zones[0].rules[0]",
        5.5,
    );
    assert_eq!(first.len(), 1, "{first:#?}");
    let ev = &first[0];
    assert_eq!(
        (&ev["kind"], &ev["phase"]),
        (&"road_damage".into(), &"started".into())
    );
    assert_eq!(ev["category"]["code"], "06013");
    assert_eq!(ev["subject"]["class_name"], "pothole");
    assert!(ev["details"]["severity"].is_string(), "{ev:#}");
    assert!(
        dir.path().join("state/road-damage/cam.sqlite").is_file(),
        "the registry lives in the state dir"
    );

    let again = replay_events(&cfg, &still, &dir.path().join("evidence2"));
    assert!(again.is_empty(), "known damage re-reported: {again:#?}");

    let bigger = replay_events(&cfg, &grown, &dir.path().join("evidence3"));
    assert_eq!(bigger.len(), 1, "{bigger:#?}");
    let g = &bigger[0];
    assert_eq!(g["kind"], "road_damage");
    assert_ne!(g["id"], ev["id"]);
    assert_eq!(g["details"]["previous_event_id"], ev["id"]);
    let (was, now) = (
        g["details"]["grown_from_area_fraction"].as_f64().unwrap(),
        g["details"]["area_fraction"].as_f64().unwrap(),
    );
    assert!(now >= was * 1.3, "grew from {was} to {now}");
}

/// Kind, phase and zone of each event, and when (media seconds) its subject was first
/// seen, in order.
fn outline(events: &[Value]) -> Vec<(String, String, String, f64)> {
    let mut v: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap_or_default().to_string(),
                e["phase"].as_str().unwrap_or_default().to_string(),
                e["zone"]["id"].as_str().unwrap_or_default().to_string(),
                secs_into(&e["times"]["start_media_ns"]),
            )
        })
        .collect();
    v.sort_by(|a, b| (&a.0, &a.1, &a.2).cmp(&(&b.0, &b.1, &b.2)));
    v
}

/// `analysis.fps = "auto"` (issue 13): replays `video` once more with `fps = "auto"`
/// in place of the first line of `explicit` (the test's explicit rate), checks that
/// `check-config` reports the rate the camera's rules resolve to, and that the events
/// are those the explicit rate gave (`want`): the same kinds and phases in the same
/// zones, each first seen within `tolerance` seconds (one explicit analysis interval,
/// plus a GOP for keyframes) of the other. Folded into each scenario's own test so the
/// video is composed and replayed at the explicit rate once.
fn same_events_at_auto_rate(
    dir: &Path,
    video: &Path,
    explicit: &str,
    zones: &str,
    want: &[Value],
    resolved: &str,
    tolerance: f64,
) {
    let d = dir.join("auto");
    std::fs::create_dir_all(&d).unwrap();
    let auto = explicit.replacen(explicit.lines().next().unwrap(), "fps = \"auto\"", 1);
    let cfg = replay_config(&d, "auto", "", &auto, zones);
    let out = std::process::Command::new(bin())
        .arg("check-config")
        .arg(&cfg)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("cameras[0].analysis: {resolved}")),
        "{stdout}"
    );
    let want = outline(want);
    let got = outline(&replay_events(&cfg, video, &d.join("evidence")));
    assert!(!want.is_empty(), "the explicit rate finds its events");
    let keys = |v: &[(String, String, String, f64)]| {
        v.iter()
            .map(|e| (e.0.clone(), e.1.clone(), e.2.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&got), keys(&want), "auto {got:?} explicit {want:?}");
    for (g, w) in got.iter().zip(&want) {
        assert!(
            (g.3 - w.3).abs() <= tolerance,
            "{} first seen at {} s auto, {} s explicit",
            g.0,
            g.3,
            w.3
        );
    }
}
