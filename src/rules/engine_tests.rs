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
            merge_window_s: 0.0,
            dwell_s: 180.0,
            update_every_s: 300.0,
            leave_after_s: 60.0,
            evidence_interval_s: None,
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
    assert_eq!(out.evidence[0].label, "违停 小汽车 0.90");
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

// ---- generic rules, deployment code tables and merge windows ----

fn object(class: &str, category: &str, bbox: BBox) -> Detection {
    Detection {
        category: Category::new(category),
        class_name: class.into(),
        class_id: 0,
        score: 0.8,
        bbox,
        model_id: Arc::from("yolox-nano"),
    }
}

/// The right half of the frame (as `no_parking`).
fn right_half() -> Vec<[f32; 2]> {
    vec![[0.5, 0.3], [1.0, 0.3], [1.0, 1.0], [0.5, 1.0]]
}

fn vending_zone(merge_window_s: f64) -> Zone {
    zone(
        "stall",
        ZoneRule::Dwell {
            kind: "street_vending".into(),
            categories: vec!["object.umbrella".into(), "object.dining_table".into()],
            dwell_s: 60.0,
            update_every_s: 300.0,
            leave_after_s: 30.0,
            merge_window_s,
            schedule: Schedule::always(),
        },
        right_half(),
    )
}

/// A deployment's own row for the generic kinds, as an integrator writes it.
fn platform_codes() -> EventsConfig {
    toml::from_str(
        r#"
[categories]
table = "gbt-30428.2-2013"
[[categories.entries]]
event = "crowd"
code = "602"
name = "人群聚集"
"#,
    )
    .unwrap()
}

fn umbrella() -> Detection {
    object(
        "umbrella",
        "object.umbrella",
        BBox::new(1300.0, 500.0, 1500.0, 700.0),
    )
}

#[test]
fn a_held_umbrella_is_one_dwell_case_with_the_configured_kind_and_code() {
    let dir = tempfile::tempdir().unwrap();
    let mut ev =
        CameraEvents::new(ctx(), vec![vending_zone(0.0)], platform_codes(), dir.path()).unwrap();
    // A person standing beside it does not match the rule's categories.
    let person = object("person", "person", BBox::new(1600.0, 500.0, 1660.0, 700.0));
    let mut out = run(&mut ev, 0.0, 120.0, &[umbrella(), person]);
    out.events.extend(run(&mut ev, 121.0, 200.0, &[]).events);
    let phases: Vec<_> = out.events.iter().map(|e| (e.phase, e.seq)).collect();
    assert_eq!(
        phases,
        [(Phase::Started, 0), (Phase::Ended, 1)],
        "{phases:?}"
    );
    let e = &out.events[0];
    assert_eq!(e.kind.as_str(), "street_vending");
    assert_eq!(e.category.code, "0501", "{:?}", e.category);
    assert_eq!(e.category.taxonomy, "GB/T 30428.2-2013");
    assert!(e.description.zh.contains("遮阳伞"), "{}", e.description.zh);
    let json = serde_json::to_value(e).unwrap();
    assert_eq!(json["kind"], "street_vending");
    assert!(out.evidence.iter().all(|r| r.event_id == e.id));
    assert!(!out.evidence.is_empty());
}

#[test]
fn a_crowd_is_one_count_case_carrying_the_count() {
    let dir = tempfile::tempdir().unwrap();
    let square = zone(
        "square",
        ZoneRule::Count {
            kind: "crowd".into(),
            categories: vec!["person".into()],
            min_count: 5,
            for_s: 20.0,
            clear_after_s: 10.0,
            update_every_s: 600.0,
            merge_window_s: 0.0,
            schedule: Schedule::always(),
        },
        right_half(),
    );
    let mut ev = CameraEvents::new(ctx(), vec![square], platform_codes(), dir.path()).unwrap();
    let people = |n: usize| -> Vec<Detection> {
        (0..n)
            .map(|i| {
                let x = 1000.0 + 150.0 * i as f32;
                object("person", "person", BBox::new(x, 500.0, x + 60.0, 700.0))
            })
            .collect()
    };
    // Four is not a crowd; six for 60 s is, once; then they disperse.
    let mut out = run(&mut ev, 0.0, 60.0, &people(4));
    assert!(out.events.is_empty(), "{:?}", out.events);
    out.events
        .extend(run(&mut ev, 61.0, 120.0, &people(6)).events);
    out.events
        .extend(run(&mut ev, 121.0, 180.0, &people(1)).events);
    let phases: Vec<_> = out.events.iter().map(|e| e.phase).collect();
    assert_eq!(phases, [Phase::Started, Phase::Ended], "{phases:?}");
    let e = &out.events[0];
    assert_eq!(e.kind.as_str(), "crowd");
    assert_eq!(e.category.code, "602");
    assert_eq!(e.details["count"], 6);
}

/// The umbrella stands for `stand` seconds from `from`, then goes.
fn stall(ev: &mut CameraEvents, from: f64, stand: f64, gone: f64) -> Vec<Event> {
    let mut events = run(ev, from, from + stand, &[umbrella()]).events;
    events.extend(run(ev, from + stand + 1.0, from + stand + gone, &[]).events);
    events
}

#[test]
fn a_repeat_within_the_merge_window_continues_the_case_with_a_repeat_count() {
    let dir = tempfile::tempdir().unwrap();
    let mut ev = CameraEvents::new(
        ctx(),
        vec![vending_zone(600.0)],
        platform_codes(),
        dir.path(),
    )
    .unwrap();
    // Set out for 100 s, packed up (gone after 30 s), back 30 s after it ended.
    let mut events = stall(&mut ev, 0.0, 100.0, 60.0);
    events.extend(stall(&mut ev, 161.0, 100.0, 60.0));
    // …and nothing more for longer than the window: the case closes.
    events.extend(run(&mut ev, 322.0, 1000.0, &[]).events);
    let phases: Vec<_> = events.iter().map(|e| (e.phase, e.seq)).collect();
    assert_eq!(
        phases,
        [(Phase::Started, 0), (Phase::Updated, 1), (Phase::Ended, 2)],
        "{phases:?}"
    );
    assert!(events.iter().all(|e| e.id == events[0].id), "one case");
    assert_eq!(events[1].details["repeat_count"], 2);
    assert_eq!(events[2].details["repeat_count"], 2);
}

#[test]
fn repeats_further_apart_than_the_merge_window_are_separate_cases() {
    let dir = tempfile::tempdir().unwrap();
    let mut ev = CameraEvents::new(
        ctx(),
        vec![vending_zone(600.0)],
        platform_codes(),
        dir.path(),
    )
    .unwrap();
    let mut events = stall(&mut ev, 0.0, 100.0, 60.0);
    // 30 minutes later.
    events.extend(run(&mut ev, 161.0, 1960.0, &[]).events);
    events.extend(stall(&mut ev, 1961.0, 100.0, 60.0));
    events.extend(run(&mut ev, 2122.0, 2800.0, &[]).events);
    let phases: Vec<_> = events.iter().map(|e| (e.phase, e.seq)).collect();
    assert_eq!(
        phases,
        [
            (Phase::Started, 0),
            (Phase::Ended, 1),
            (Phase::Started, 0),
            (Phase::Ended, 1)
        ],
        "{phases:?}"
    );
    assert_ne!(events[0].id, events[2].id, "two cases");
    assert!(
        events
            .iter()
            .all(|e| e.details.get("repeat_count").is_none())
    );
}

/// A PTZ camera's generic rules run only at their zone's preset, as parking does: the
/// umbrella at preset 1 is a case of `stall` there, which ends `camera_moved` when
/// the camera turns to preset 2, where only `stall-2` (same polygon) decides.
#[test]
fn generic_rules_run_only_in_the_zones_of_the_preset_the_camera_stands_at() {
    use crate::ingest::onvif::ptz::PtzPosition;
    use crate::rules::scene::reference::ReferenceStore;
    use crate::rules::scene::view::SceneSettings;
    let dir = tempfile::tempdir().unwrap();
    let mut one = vending_zone(0.0);
    one.preset = Some("1".into());
    let mut two = vending_zone(0.0);
    two.id = "stall-2".into();
    two.preset = Some("2".into());
    let mut ev = CameraEvents::new(ctx(), vec![one, two], platform_codes(), dir.path()).unwrap();
    ev.set_scene(
        SceneSettings {
            tamper: Default::default(),
            ptz: Some(toml::from_str("home = \"1\"").unwrap()),
        },
        ReferenceStore::in_memory(),
    );
    let mut events = run(&mut ev, 0.0, 70.0, &[umbrella()]).events;
    events.extend(ev.set_ptz(PtzPosition::At("2".into()), at(71.0)).events);
    events.extend(run(&mut ev, 72.0, 150.0, &[umbrella()]).events);
    let got: Vec<_> = events
        .iter()
        .map(|e| (e.zone.as_ref().unwrap().id.as_str(), e.phase, e.end_reason))
        .collect();
    assert_eq!(
        got,
        [
            ("stall", Phase::Started, None),
            ("stall", Phase::Ended, Some(EndReason::CameraMoved)),
            ("stall-2", Phase::Started, None),
        ],
        "{got:?}"
    );
}

/// A PTZ camera that stopped at a preset after a move keeps its rules paused for
/// `ptz.settle_s` of pictures, `settling` (its position arrives before its picture
/// does); the first position it ever reports is in force at once. A reference view
/// asked for meanwhile is taken once the picture settled, at that preset only.
#[test]
fn a_preset_comes_into_force_once_its_picture_settled() {
    use crate::ingest::onvif::ptz::PtzPosition;
    use crate::rules::scene::reference::ReferenceStore;
    use crate::rules::scene::view::SceneSettings;
    let dir = tempfile::tempdir().unwrap();
    let mut two = vending_zone(0.0);
    two.preset = Some("2".into());
    let mut ev = CameraEvents::new(ctx(), vec![two], platform_codes(), dir.path()).unwrap();
    ev.set_scene(
        SceneSettings {
            tamper: Default::default(),
            ptz: Some(toml::from_str("home = \"1\"\nsettle_s = 3").unwrap()),
        },
        ReferenceStore::in_memory(),
    );
    let grey = vec![90u8; 64 * 36 * 3];
    let picture = |ev: &mut CameraEvents, s: f64| {
        let _ = ev.on_picture(at(s), 64, 36, &grey);
        ev.scene_status()
    };
    let _ = ev.set_ptz(PtzPosition::At("1".into()), at(0.0));
    assert_eq!(picture(&mut ev, 0.5).view.as_deref(), Some("1"));
    let _ = ev.set_ptz(PtzPosition::Moving, at(1.0));
    assert_eq!(picture(&mut ev, 1.5).paused.as_deref(), Some("moving"));
    let _ = ev.set_ptz(PtzPosition::At("2".into()), at(3.0));
    // The technician asks for preset 2's reference as soon as the dome stopped.
    ev.request_reference();
    for s in [3.0, 4.0, 5.5] {
        let st = picture(&mut ev, s);
        assert_eq!(
            (st.view, st.paused.as_deref()),
            (None, Some("settling")),
            "{s}"
        );
    }
    assert!(ev.reference_png("2").is_none(), "taken while settling");
    let st = picture(&mut ev, 6.0);
    assert_eq!((st.view.as_deref(), st.paused), (Some("2"), None));
    let _ = picture(&mut ev, 6.5);
    assert!(ev.reference_png("2").is_some(), "taken once settled");
    // Asked for at preset 2 again, but the dome leaves before the picture settled: the
    // request is not taken at preset 1 (none there yet: the automatic one waits 5 s).
    let _ = ev.set_ptz(PtzPosition::Moving, at(7.0));
    let _ = ev.set_ptz(PtzPosition::At("2".into()), at(8.0));
    ev.request_reference();
    let _ = picture(&mut ev, 8.5);
    let _ = ev.set_ptz(PtzPosition::Moving, at(9.0));
    let _ = ev.set_ptz(PtzPosition::At("1".into()), at(10.0));
    for s in [10.0, 11.0, 12.0, 13.0, 14.0] {
        let _ = picture(&mut ev, s);
    }
    assert_eq!(ev.scene_status().view.as_deref(), Some("1"));
    assert!(
        ev.reference_png("1").is_none(),
        "preset 2's request taken at 1"
    );
}
