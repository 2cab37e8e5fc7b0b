//! The façade end to end on synthetic detections: event assembly, ids, privacy, reload.

use std::sync::Arc;

use super::*;
use crate::infer::Category;
use crate::rules::event::CodeKind;
use crate::rules::schedule::Schedule;
use crate::rules::zone::Polygon;

const W: u32 = 1920;
const H: u32 = 1080;

fn at(s: f64) -> MediaTime {
    MediaTime::from_secs_f64(1_795_406_400.0 + s)
}

fn ctx() -> CameraContext {
    CameraContext {
        device: DeviceRef {
            id: "box-1".into(),
            division_code: Some("440802".into()),
            firmware_version: "0.1.0".into(),
        },
        camera: CameraRef {
            id: "cam1".into(),
            name: "东门".into(),
            gb28181_id: None,
        },
        tz: chrono_tz::Asia::Shanghai,
        model: ModelRef {
            id: "yolox-nano".into(),
            version: "1".into(),
        },
    }
}

fn zone(id: &str, rule: ZoneRule, poly: Vec<[f32; 2]>) -> Zone {
    Zone {
        id: id.into(),
        name: "东门".into(),
        polygon: Polygon(poly),
        location: "人民大道与海滨路交叉口东北角".into(),
        coordinates: None,
        grid_code: Some("440802001002003".into()),
        asset_id: None,
        preset: None,
        filter: Default::default(),
        rules: vec![rule],
    }
}

fn no_parking() -> Zone {
    zone(
        "gate",
        ZoneRule::NoParking {
            dwell_s: 180.0,
            update_every_s: 300.0,
            leave_after_s: 60.0,
            schedule: Schedule::always(),
        },
        vec![[0.5, 0.3], [1.0, 0.3], [1.0, 1.0], [0.5, 1.0]],
    )
}

fn car(class: &str) -> Detection {
    Detection {
        category: Category::new(&format!("vehicle.{class}")),
        class_name: class.into(),
        class_id: 2,
        score: 0.9,
        bbox: BBox::new(1300.0, 640.0, 1500.0, 760.0),
        model_id: Arc::from("yolox-nano"),
    }
}

fn run(ev: &mut CameraEvents, from: f64, to: f64, dets: &[Detection]) -> FrameOutput {
    let mut all = FrameOutput::default();
    let mut s = from;
    while s <= to {
        let o = ev.on_frame(at(s), W, H, dets).unwrap();
        all.events.extend(o.events);
        all.evidence.extend(o.evidence);
        all.abandoned.extend(o.abandoned);
        s += 1.0;
    }
    all
}

#[test]
fn a_parked_car_becomes_one_complete_event_with_stable_id_across_phases() {
    let dir = tempfile::tempdir().unwrap();
    let mut ev = CameraEvents::new(
        ctx(),
        vec![no_parking()],
        EventsConfig::default(),
        dir.path(),
    )
    .unwrap();
    let mut out = run(&mut ev, 0.0, 490.0, &[car("car")]);
    let gone = run(&mut ev, 491.0, 600.0, &[]);
    out.events.extend(gone.events);
    let phases: Vec<_> = out.events.iter().map(|e| (e.phase, e.seq)).collect();
    assert_eq!(
        phases,
        [(Phase::Started, 0), (Phase::Updated, 1), (Phase::Ended, 2)]
    );
    let id = &out.events[0].id;
    assert!(out.events.iter().all(|e| &e.id == id));
    let e = &out.events[0];
    assert_eq!(e.schema, EVENT_SCHEMA);
    assert_eq!(e.category.code, "09009");
    assert_eq!(e.category.full_code.as_deref(), Some("44080209009"));
    assert_eq!(e.category.kind, CodeKind::Matter);
    assert_eq!(
        e.zone.as_ref().unwrap().grid_code.as_deref(),
        Some("440802001002003")
    );
    assert!(e.times.start.ends_with("+08:00"), "{}", e.times.start);
    assert!(
        e.description
            .zh
            .starts_with("小汽车在禁停区「东门」停放 3 分"),
        "{}",
        e.description.zh
    );
    assert!((e.subject.bbox_norm.x1 - 1300.0 / 1920.0).abs() < 1e-6);
    // Snapshots and the clip are all filed under the event's id.
    assert!(out.evidence.iter().all(|r| &r.event_id == id));
    assert_eq!(out.evidence.len(), 4, "{:?}", out.evidence);
    assert_eq!(out.evidence[0].label, "illegal parking car 0.90");
    let ended = out.events.last().unwrap();
    assert!(ended.times.end.is_some());
    // Serialises to the documented schema.
    let json = serde_json::to_value(ended).unwrap();
    assert_eq!(json["phase"], "ended");
}

#[test]
fn a_bicycle_is_reported_as_non_motor_parking() {
    let dir = tempfile::tempdir().unwrap();
    let mut ev = CameraEvents::new(
        ctx(),
        vec![no_parking()],
        EventsConfig::default(),
        dir.path(),
    )
    .unwrap();
    let out = run(&mut ev, 0.0, 200.0, &[car("bicycle")]);
    assert_eq!(out.events.len(), 1);
    assert_eq!(out.events[0].category.code, "09010");
}

#[test]
fn detections_in_a_privacy_zone_never_reach_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    let privacy = zone(
        "home",
        ZoneRule::Privacy,
        vec![[0.6, 0.5], [0.9, 0.5], [0.9, 0.9], [0.6, 0.9]],
    );
    let mut ev = CameraEvents::new(
        ctx(),
        vec![no_parking(), privacy],
        EventsConfig::default(),
        dir.path(),
    )
    .unwrap();
    let out = run(&mut ev, 0.0, 300.0, &[car("car")]);
    assert!(out.events.is_empty());
    assert!(out.evidence.is_empty());
}

#[test]
fn a_short_stop_reports_its_candidate_evidence_as_abandoned() {
    let dir = tempfile::tempdir().unwrap();
    let mut ev = CameraEvents::new(
        ctx(),
        vec![no_parking()],
        EventsConfig::default(),
        dir.path(),
    )
    .unwrap();
    let out = run(&mut ev, 0.0, 100.0, &[car("car")]);
    let gone = run(&mut ev, 101.0, 300.0, &[]);
    assert!(out.events.is_empty() && gone.events.is_empty());
    assert_eq!(gone.abandoned.len(), 1);
    assert_eq!(gone.abandoned[0], out.evidence[0].event_id);
}

#[test]
fn reloading_the_same_zones_keeps_the_running_event_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut ev = CameraEvents::new(
        ctx(),
        vec![no_parking()],
        EventsConfig::default(),
        dir.path(),
    )
    .unwrap();
    let first = run(&mut ev, 0.0, 200.0, &[car("car")]);
    let mut z = no_parking();
    z.name = "东门（改）".into();
    let r = ev
        .set_zones(vec![z], EventsConfig::default(), dir.path(), at(200.0))
        .unwrap();
    assert!(r.events.is_empty());
    let later = run(&mut ev, 201.0, 500.0, &[car("car")]);
    assert_eq!(later.events[0].phase, Phase::Updated);
    assert_eq!(later.events[0].id, first.events[0].id);
    // Removing the zone ends the event.
    let r = ev
        .set_zones(vec![], EventsConfig::default(), dir.path(), at(501.0))
        .unwrap();
    assert_eq!(r.events.len(), 1);
    assert_eq!(r.events[0].phase, Phase::Ended);
    assert_eq!(r.events[0].id, first.events[0].id);
}

#[test]
fn invalid_zones_are_refused_on_reload_and_the_old_ones_stay() {
    let dir = tempfile::tempdir().unwrap();
    let mut ev = CameraEvents::new(
        ctx(),
        vec![no_parking()],
        EventsConfig::default(),
        dir.path(),
    )
    .unwrap();
    let mut bad = no_parking();
    bad.polygon = Polygon(vec![[0.0, 0.0], [1.0, 1.0]]);
    assert!(
        ev.set_zones(vec![bad], EventsConfig::default(), dir.path(), at(0.0))
            .is_err()
    );
    assert_eq!(ev.zones_in_force().len(), 1);
}

#[test]
fn events_config_parses_from_toml_with_defaults() {
    let c: EventsConfig =
        toml::from_str("[evidence]\nredacted_clip = true\n[litter]\nact_window_s = 30.0\n")
            .unwrap();
    assert!(c.evidence.redacted_clip);
    assert_eq!(c.evidence.clip.pre_roll_s, 10.0);
    assert_eq!(c.litter.act_window_s, 30.0);
    assert!(toml::from_str::<EventsConfig>("bogus = 1").is_err());
}

#[test]
fn road_damage_evidence_is_filed_under_the_id_the_registry_keeps() {
    let dir = tempfile::tempdir().unwrap();
    let road = zone(
        "road",
        ZoneRule::RoadWatch {
            min_observations: 3,
            min_span_s: 120.0,
            regrow_fraction: 0.3,
            schedule: Schedule::always(),
        },
        vec![[0.0, 0.5], [1.0, 0.5], [1.0, 1.0], [0.0, 1.0]],
    );
    let mut ev = CameraEvents::new(ctx(), vec![road], EventsConfig::default(), dir.path()).unwrap();
    let pothole = Detection {
        category: Category::new("road_damage.pothole"),
        class_name: "pothole".into(),
        class_id: 4,
        score: 0.5,
        bbox: BBox::new(800.0, 800.0, 1000.0, 900.0),
        model_id: Arc::from("rdd"),
    };
    let mut events = Vec::new();
    let mut evidence = Vec::new();
    for m in 0..10 {
        let o = ev
            .on_frame(
                at(f64::from(m) * 60.0),
                W,
                H,
                std::slice::from_ref(&pothole),
            )
            .unwrap();
        events.extend(o.events);
        evidence.extend(o.evidence);
    }
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].category.code, "06013");
    assert!(
        events[0].description.zh.contains("坑槽"),
        "{}",
        events[0].description.zh
    );
    assert_eq!(evidence.len(), 1);
    assert_eq!(evidence[0].event_id, events[0].id);
    // The registry file lives under the state dir.
    assert!(dir.path().join("road-damage").join("cam1.sqlite").exists());
}

#[test]
fn a_whole_config_file_with_zones_and_events_parses_and_validates() {
    let text = r#"
[device]
id = "box1"

[[cameras]]
id = "cam1"
url = "rtsp://10.0.0.2/stream1"

[[cameras.zones]]
id = "gate"
name = "东门"
polygon = [[0.5, 0.3], [1.0, 0.3], [1.0, 1.0], [0.5, 1.0]]
rules = [{ type = "no_parking", dwell_s = 120 }, { type = "litter_watch" }]

[events.evidence]
illegal_parking_clip = { pre_roll_s = 15, post_roll_s = 5 }

[[events.categories.entries]]
slot = "motor_vehicle_parking"
code = "04009"
name = "机动车乱停放"
"#;
    let c: crate::config::Config = toml::from_str(text).unwrap();
    assert!(
        crate::config::validate(&c).is_empty(),
        "{:?}",
        crate::config::validate(&c)
    );
    assert_eq!(c.cameras[0].zones.len(), 1);
    assert_eq!(
        c.events.evidence.illegal_parking_clip.unwrap().pre_roll_s,
        15.0
    );
    let mut bad = c.clone();
    bad.cameras[0].zones[0].polygon = Polygon(vec![[0.0, 0.0], [1.0, 1.0]]);
    let problems = crate::config::validate(&bad);
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].path, "cameras[0].zones[0].polygon");
}
