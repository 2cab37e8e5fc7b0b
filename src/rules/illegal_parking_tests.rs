//! Parking scenarios driven through the real tracker on synthetic detections in media
//! time.

use std::sync::Arc;

use super::*;
use crate::infer::{Category, Detection};
use crate::rules::schedule::Schedule;
use crate::rules::zone::Polygon;
use crate::track::{Tracker, TrackerConfig};

const W: u32 = 1920;
const H: u32 = 1080;

/// 2026-11-23 (a Monday) 12:00 Asia/Shanghai.
fn at(s: f64) -> MediaTime {
    MediaTime::from_secs_f64(1_795_406_400.0 + s)
}

fn schedule_of(windows: &str) -> Schedule {
    #[derive(serde::Deserialize)]
    struct W {
        schedule: Schedule,
    }
    toml::from_str::<W>(&format!("schedule = {windows}"))
        .unwrap()
        .schedule
}

fn zone(schedule: Schedule) -> Zone {
    Zone {
        id: "gate".into(),
        name: "东门".into(),
        polygon: Polygon(vec![[0.5, 0.3], [1.0, 0.3], [1.0, 1.0], [0.5, 1.0]]),
        location: String::new(),
        coordinates: None,
        grid_code: None,
        asset_id: None,
        preset: None,
        filter: Default::default(),
        rules: vec![ZoneRule::NoParking {
            merge_window_s: 0.0,
            dwell_s: 180.0,
            update_every_s: 300.0,
            leave_after_s: 60.0,
            evidence_interval_s: None,
            schedule,
        }],
    }
}

fn car(cx: f32, cy: f32) -> Detection {
    Detection {
        category: Category::new("vehicle.car"),
        class_name: "car".into(),
        class_id: 2,
        score: 0.9,
        bbox: BBox::new(cx - 100.0, cy - 60.0, cx + 100.0, cy + 60.0),
        model_id: Arc::from("test"),
    }
}

struct Run {
    tracker: Tracker,
    rule: IllegalParking,
    phases: Vec<(Phase, PhaseOutput)>,
    captures: Vec<&'static str>,
    abandoned: usize,
}

impl Run {
    fn new(zones: &[Zone]) -> Self {
        Self {
            tracker: Tracker::new(TrackerConfig::default()).unwrap(),
            rule: IllegalParking::new(
                zones,
                chrono_tz::Asia::Shanghai,
                ClipWindow {
                    pre_s: 10.0,
                    post_s: 10.0,
                },
            ),
            phases: Vec::new(),
            captures: Vec::new(),
            abandoned: 0,
        }
    }

    /// Runs from `from` to `to` seconds at `fps`; `frame(t)` gives the detections.
    fn drive(&mut self, from: f64, to: f64, fps: f64, frame: impl Fn(f64) -> Vec<Detection>) {
        self.drive_seen(from, to, fps, frame, &|_| None);
    }

    /// [`Self::drive`] where every box looks like `look` says.
    fn drive_seen(
        &mut self,
        from: f64,
        to: f64,
        fps: f64,
        frame: impl Fn(f64) -> Vec<Detection>,
        look: &dyn Fn(&BBox) -> Option<Appearance>,
    ) {
        let n = ((to - from) * fps).round() as usize;
        for i in 0..=n {
            let s = from + i as f64 / fps;
            self.tracker.update(at(s), &frame(s)).unwrap();
            let tracks: Vec<Track> = self.tracker.tracks().cloned().collect();
            for o in self.rule.on_frame_seen(at(s), &tracks, W, H, look) {
                match o {
                    RuleOutput::Phase { phase, .. } => self.phases.push((phase.phase, phase)),
                    RuleOutput::Capture {
                        request: CaptureRequest::Snapshot { name, .. },
                        ..
                    } => self.captures.push(name),
                    RuleOutput::Capture { .. } => {}
                    RuleOutput::Abandoned { .. } => self.abandoned += 1,
                }
            }
        }
    }

    fn count(&self, p: Phase) -> usize {
        self.phases.iter().filter(|(q, _)| *q == p).count()
    }
}

#[test]
fn car_parked_beyond_dwell_starts_once_at_dwell_and_ends_once_on_leaving() {
    let mut r = Run::new(&[zone(Schedule::always())]);
    r.drive(0.0, 400.0, 2.0, |_| vec![car(1400.0, 700.0)]);
    r.drive(400.5, 500.0, 2.0, |_| vec![]);
    assert_eq!(r.count(Phase::Started), 1, "{:?}", r.phases);
    assert_eq!(r.count(Phase::Ended), 1);
    let started = &r.phases.iter().find(|p| p.0 == Phase::Started).unwrap().1;
    let dwell_at = started.start.add_secs(180.0);
    assert!(started.at.secs_since(dwell_at).abs() <= 0.5, "{started:?}");
    // First stationary at the tracker's stillness time (5 s after arrival).
    assert!(started.start.secs_since(at(0.0)) < 10.0);
    let ended = &r.phases.iter().find(|p| p.0 == Phase::Ended).unwrap().1;
    let total = ended.duration_s.unwrap();
    assert!((total - ended.end.unwrap().secs_since(started.start)).abs() < 1e-6);
    assert!(total > 390.0 && total < 400.5, "{total}");
    assert_eq!(
        r.captures,
        ["first-stationary", "half-dwell", "confirmation", "ended"]
    );
}

#[test]
fn updates_follow_every_update_interval_while_the_car_stays() {
    let mut r = Run::new(&[zone(Schedule::always())]);
    r.drive(0.0, 800.0, 1.0, |_| vec![car(1400.0, 700.0)]);
    // started at ~185 s, updates at ~485 and ~785.
    assert_eq!(r.count(Phase::Updated), 2, "{:?}", r.phases);
}

#[test]
fn a_stop_shorter_than_the_dwell_raises_nothing() {
    let mut r = Run::new(&[zone(Schedule::always())]);
    r.drive(0.0, 120.0, 2.0, |_| vec![car(1400.0, 700.0)]);
    r.drive(120.5, 300.0, 2.0, |_| vec![]);
    assert!(r.phases.is_empty(), "{:?}", r.phases);
    assert_eq!(
        r.abandoned, 1,
        "the candidate is abandoned so its snapshots can go"
    );
}

#[test]
fn a_car_parked_outside_the_zone_raises_nothing() {
    let mut r = Run::new(&[zone(Schedule::always())]);
    r.drive(0.0, 400.0, 2.0, |_| vec![car(400.0, 700.0)]);
    assert!(r.phases.is_empty());
    assert!(r.captures.is_empty());
}

#[test]
fn a_car_parked_outside_the_schedule_raises_nothing() {
    // Enforced 07:00–09:00 only; the test runs at 12:00 local time.
    let schedule = schedule_of(
        r#"[{ days = ["mon","tue","wed","thu","fri","sat","sun"], start = "07:00", end = "09:00" }]"#,
    );
    let mut r = Run::new(&[zone(schedule)]);
    r.drive(0.0, 400.0, 2.0, |_| vec![car(1400.0, 700.0)]);
    assert!(r.phases.is_empty());
    // The same stay inside the schedule is reported (the schedule is what silenced it).
    let schedule = schedule_of(r#"[{ days = ["mon"], start = "11:00", end = "13:00" }]"#);
    let mut r = Run::new(&[zone(schedule)]);
    r.drive(0.0, 400.0, 2.0, |_| vec![car(1400.0, 700.0)]);
    assert_eq!(r.count(Phase::Started), 1);
}

#[test]
fn a_thirty_second_occlusion_keeps_one_event() {
    let mut r = Run::new(&[zone(Schedule::always())]);
    let occluded = |s: f64| (100.0..130.0).contains(&s) || (250.0..280.0).contains(&s);
    r.drive(0.0, 400.0, 2.0, |s| {
        if occluded(s) {
            vec![]
        } else {
            vec![car(1400.0, 700.0)]
        }
    });
    assert_eq!(r.count(Phase::Started), 1, "{:?}", r.phases);
    assert_eq!(r.count(Phase::Ended), 0);
}

#[test]
fn a_lost_track_refound_at_the_same_spot_continues_the_stay() {
    // A 100 s occlusion with a tracker that forgets stationary tracks after 20 s: the
    // refound car gets a new track id, but it is the same stay.
    let mut r = Run::new(&[zone(Schedule { windows: vec![] })]);
    r.tracker = Tracker::new(TrackerConfig {
        max_gap_stationary_s: 20.0,
        ..TrackerConfig::default()
    })
    .unwrap();
    for z in &mut r.rule.zones {
        z.leave_after_s = 150.0;
    }
    r.drive(0.0, 200.0, 2.0, |_| vec![car(1400.0, 700.0)]);
    r.drive(200.5, 300.0, 2.0, |_| vec![]);
    r.drive(300.5, 600.0, 2.0, |_| vec![car(1400.0, 700.0)]);
    assert_eq!(r.count(Phase::Started), 1, "{:?}", r.phases);
    assert_eq!(r.count(Phase::Ended), 0);
}

#[test]
fn a_different_car_later_in_the_same_spot_is_a_new_event() {
    let mut r = Run::new(&[zone(Schedule::always())]);
    r.drive(0.0, 300.0, 2.0, |_| vec![car(1400.0, 700.0)]);
    r.drive(300.5, 500.0, 2.0, |_| vec![]);
    r.drive(500.5, 800.0, 2.0, |_| vec![car(1400.0, 700.0)]);
    assert_eq!(r.count(Phase::Started), 2, "{:?}", r.phases);
    assert_eq!(r.count(Phase::Ended), 1);
}

#[test]
fn moving_traffic_through_the_zone_raises_nothing() {
    let mut r = Run::new(&[zone(Schedule::always())]);
    // A car every 20 s crossing the zone at 200 px/s, for 10 minutes.
    r.drive(0.0, 600.0, 10.0, |s| {
        let phase = s % 20.0;
        vec![car(900.0 + 200.0 * phase as f32, 700.0)]
    });
    assert!(r.phases.is_empty(), "{:?}", r.phases);
}

#[test]
fn keyframe_rate_and_ten_fps_confirm_within_one_interval() {
    let mut slow = Run::new(&[zone(Schedule::always())]);
    slow.drive(0.0, 300.0, 1.0, |_| vec![car(1400.0, 700.0)]);
    let mut fast = Run::new(&[zone(Schedule::always())]);
    fast.drive(0.0, 300.0, 10.0, |_| vec![car(1400.0, 700.0)]);
    let s = &slow
        .phases
        .iter()
        .find(|p| p.0 == Phase::Started)
        .unwrap()
        .1;
    let f = &fast
        .phases
        .iter()
        .find(|p| p.0 == Phase::Started)
        .unwrap()
        .1;
    assert!(
        s.at.secs_since(f.at).abs() <= 1.0,
        "{:?} vs {:?}",
        s.at,
        f.at
    );
    assert_eq!(slow.count(Phase::Started), 1);
    assert_eq!(fast.count(Phase::Started), 1);
}

#[test]
fn driving_out_of_the_zone_ends_the_event_at_once() {
    let mut r = Run::new(&[zone(Schedule::always())]);
    r.drive(0.0, 250.0, 2.0, |_| vec![car(1400.0, 700.0)]);
    // Pulls out to the left, leaving the zone within 5 s.
    r.drive(250.5, 270.0, 2.0, |s| {
        vec![car(1400.0 - 80.0 * (s - 250.0) as f32, 700.0)]
    });
    let ended = r.phases.iter().find(|p| p.0 == Phase::Ended);
    assert!(ended.is_some(), "{:?}", r.phases);
    assert!(ended.unwrap().1.at.secs_since(at(250.0)) < 15.0);
}

#[test]
fn reload_keeps_running_stays_of_zones_that_still_exist() {
    let mut r = Run::new(&[zone(Schedule::always())]);
    r.drive(0.0, 100.0, 2.0, |_| vec![car(1400.0, 700.0)]);
    let out = r.rule.set_zones(&[zone(Schedule::always())], at(100.0));
    assert!(out.is_empty());
    assert_eq!(r.rule.active(), 1);
    r.drive(100.5, 300.0, 2.0, |_| vec![car(1400.0, 700.0)]);
    assert_eq!(r.count(Phase::Started), 1);
    let out = r.rule.set_zones(&[], at(300.0));
    assert!(matches!(&out[..], [RuleOutput::Phase { phase, .. }] if phase.phase == Phase::Ended));
}

#[test]
fn a_running_event_ends_when_the_schedule_window_closes() {
    // Enforced until 12:05 local; the car parks at 12:00 and stays until 12:10.
    let mut r = Run::new(&[zone(schedule_of(
        r#"[{ days = ["mon"], start = "11:00", end = "12:05" }]"#,
    ))]);
    r.drive(0.0, 600.0, 1.0, |_| vec![car(1400.0, 700.0)]);
    assert_eq!(r.count(Phase::Started), 1);
    let ended: Vec<_> = r.phases.iter().filter(|p| p.0 == Phase::Ended).collect();
    assert_eq!(ended.len(), 1, "{:?}", r.phases);
    assert!((ended[0].1.end.unwrap().secs_since(at(300.0))).abs() <= 1.0);
    // No second event for the same car after the window.
    assert_eq!(r.count(Phase::Started), 1);
}

#[test]
fn a_vehicle_seen_again_elsewhere_after_an_occlusion_rejoins_its_stay_by_plate() {
    let mut r = Run::new(&[zone(Schedule::always())]);
    r.drive(0.0, 200.0, 2.0, |_| vec![car(1400.0, 700.0)]);
    assert_eq!(r.count(Phase::Started), 1);
    let first = r.rule.stays[0].key;
    assert!(r.rule.set_plate(first, Some("粤B6K723")).is_empty());
    // Hidden 30 s, then seen 250 px further on (no overlap with its old box).
    r.drive(200.5, 230.0, 2.0, |_| vec![]);
    r.drive(230.5, 245.0, 2.0, |_| vec![car(1650.0, 700.0)]);
    assert_eq!(
        r.count(Phase::Ended),
        0,
        "the stay lost sight of it, no more: {:?}",
        r.phases
    );
    // The new candidate waits for its plate; it is the same car.
    let waits = r.rule.plate_waits();
    assert_eq!(waits.len(), 1, "{:?}", r.rule.stays);
    let out = r.rule.set_plate(waits[0], Some("粤B6K723"));
    assert!(matches!(out.as_slice(), [RuleOutput::Abandoned { key, .. }] if *key == waits[0]));
    r.drive(245.5, 400.0, 2.0, |_| vec![car(1650.0, 700.0)]);
    r.drive(400.5, 500.0, 2.0, |_| vec![]);
    assert_eq!(r.count(Phase::Started), 1, "{:?}", r.phases);
    assert_eq!(r.count(Phase::Ended), 1, "{:?}", r.phases);
    let ended = &r.phases.iter().find(|p| p.0 == Phase::Ended).unwrap().1;
    assert!(ended.duration_s.unwrap() > 390.0, "{ended:?}");
}

#[test]
fn a_different_plate_after_an_occlusion_is_a_new_stay() {
    let mut r = Run::new(&[zone(Schedule::always())]);
    r.drive(0.0, 200.0, 2.0, |_| vec![car(1400.0, 700.0)]);
    let first = r.rule.stays[0].key;
    r.rule.set_plate(first, Some("粤B6K723"));
    r.drive(200.5, 230.0, 2.0, |_| vec![]);
    r.drive(230.5, 245.0, 2.0, |_| vec![car(1650.0, 700.0)]);
    let waits = r.rule.plate_waits();
    assert_eq!(waits.len(), 1);
    assert!(r.rule.set_plate(waits[0], Some("粤A00001")).is_empty());
    r.drive(245.5, 500.0, 2.0, |_| vec![car(1650.0, 700.0)]);
    assert_eq!(r.count(Phase::Started), 2, "{:?}", r.phases);
    assert_eq!(
        r.count(Phase::Ended),
        1,
        "the first stay ended once out of sight"
    );
}

/// A flat-coloured look with all its colour in histogram bin `bin`: two different bins
/// are two different vehicles to [`Appearance::same_vehicle`].
fn flat_look(bin: usize) -> Appearance {
    let mut hist = vec![0.0; 8];
    hist[bin] = 1.0;
    Appearance {
        hist,
        thumb: vec![128; 64],
    }
}

/// A dome patrolling two presets away for 60 s and back at the bay's preset, where a
/// plated stay waits: the tracker starts afresh (as the engine resets it on a view
/// change), and the parked car now looks different (the sun moved).
fn patrol_return(r: &mut Run) -> EpisodeKey {
    let policy = ResumePolicy {
        resume_within_s: 120.0,
        patrol: vec![FIXED.into()],
        patrol_cycle_s: 120.0,
    };
    r.drive_seen(0.0, 200.0, 2.0, |_| vec![car(1400.0, 700.0)], &|_| {
        Some(flat_look(0))
    });
    assert_eq!(r.count(Phase::Started), 1, "{:?}", r.phases);
    let first = r.rule.stays[0].key;
    assert!(r.rule.set_plate(first, Some("粤B6K723")).is_empty());
    assert!(r.rule.set_view(None, at(200.5), &policy, 10.0).is_empty());
    assert!(
        r.rule
            .set_view(Some(FIXED), at(260.5), &policy, 10.0)
            .is_empty()
    );
    r.tracker = Tracker::new(TrackerConfig::default()).unwrap();
    r.drive_seen(261.0, 275.0, 2.0, |_| vec![car(1400.0, 700.0)], &|_| {
        Some(flat_look(5))
    });
    assert_eq!(
        r.count(Phase::Ended),
        0,
        "still waiting for its car: {:?}",
        r.phases
    );
    let waits = r.rule.plate_waits();
    assert_eq!(waits.len(), 1, "its look differs: the plate must tell");
    waits[0]
}

#[test]
fn a_patrol_visit_finds_its_parked_car_by_plate_when_its_look_has_changed() {
    let mut r = Run::new(&[zone(Schedule::always())]);
    let candidate = patrol_return(&mut r);
    let out = r.rule.set_plate(candidate, Some("粤B6K723"));
    assert!(
        matches!(out.as_slice(), [RuleOutput::Abandoned { key, .. }] if *key == candidate),
        "{out:?}"
    );
    r.drive_seen(275.5, 400.0, 2.0, |_| vec![car(1400.0, 700.0)], &|_| {
        Some(flat_look(5))
    });
    r.drive(400.5, 500.0, 2.0, |_| vec![]);
    assert_eq!(r.count(Phase::Started), 1, "one case: {:?}", r.phases);
    assert_eq!(r.count(Phase::Ended), 1, "{:?}", r.phases);
    assert!(
        r.captures.contains(&"visit-2"),
        "the visit that found it has its wide shot: {:?}",
        r.captures
    );
    let ended = &r.phases.iter().find(|p| p.0 == Phase::Ended).unwrap().1;
    assert_eq!(ended.end_reason, Some(EndReason::Gone), "{ended:?}");
    assert_eq!(ended.details.get("visits"), Some(&serde_json::json!(2)));
    // On a patrol the time between visits counts for the stay.
    assert!(ended.details.get("paused_s").is_none(), "{ended:?}");
}

#[test]
fn a_patrol_visit_finding_another_plate_in_the_bay_opens_a_new_case() {
    let mut r = Run::new(&[zone(Schedule::always())]);
    let candidate = patrol_return(&mut r);
    assert!(r.rule.set_plate(candidate, Some("粤A00001")).is_empty());
    r.drive_seen(275.5, 500.0, 2.0, |_| vec![car(1400.0, 700.0)], &|_| {
        Some(flat_look(5))
    });
    assert_eq!(r.count(Phase::Started), 2, "{:?}", r.phases);
    let ended: Vec<_> = r.phases.iter().filter(|p| p.0 == Phase::Ended).collect();
    assert_eq!(ended.len(), 1, "the first car's case ends: {:?}", r.phases);
    assert!(!r.captures.contains(&"visit-2"), "{:?}", r.captures);
}
