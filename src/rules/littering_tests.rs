//! Litter scenarios on synthetic detections and real tracker person tracks.

use std::sync::Arc;

use super::*;
use crate::rules::zone::Polygon;
use crate::track::{Tracker, TrackerConfig};

const W: u32 = 1920;
const H: u32 = 1080;

fn at(s: f64) -> MediaTime {
    MediaTime::from_secs_f64(1_795_406_400.0 + s)
}

fn zone() -> Zone {
    Zone {
        id: "square".into(),
        name: "广场".into(),
        polygon: Polygon(vec![[0.0, 0.4], [1.0, 0.4], [1.0, 1.0], [0.0, 1.0]]),
        location: String::new(),
        coordinates: None,
        grid_code: None,
        asset_id: None,
        preset: None,
        filter: Default::default(),
        rules: vec![ZoneRule::LitterWatch {
            merge_window_s: 0.0,
            persist_s: 60.0,
            gone_after_s: 120.0,
            schedule: Schedule::always(),
        }],
    }
}

fn det(category: &str, class: &str, b: BBox) -> Detection {
    Detection {
        category: Category::new(category),
        class_name: class.into(),
        class_id: 0,
        score: 0.8,
        bbox: b,
        model_id: Arc::from("test"),
    }
}

fn bottle_at(x: f32, y: f32) -> Detection {
    det(
        "object.bottle",
        "bottle",
        BBox::new(x - 15.0, y - 30.0, x + 15.0, y + 30.0),
    )
}

fn person_at(x: f32) -> Detection {
    det(
        "person",
        "person",
        BBox::new(x - 40.0, 500.0, x + 40.0, 800.0),
    )
}

struct Run {
    tracker: Tracker,
    rule: Littering,
    phases: Vec<PhaseOutput>,
    clips: Vec<MediaTime>,
}

impl Run {
    fn new() -> Self {
        Self {
            tracker: Tracker::new(TrackerConfig::default()).unwrap(),
            rule: Littering::new(
                &[zone()],
                chrono_tz::Asia::Shanghai,
                LitterConfig::default(),
                10.0,
                10.0,
            ),
            phases: Vec::new(),
            clips: Vec::new(),
        }
    }

    fn drive(&mut self, from: f64, to: f64, fps: f64, frame: impl Fn(f64) -> Vec<Detection>) {
        let n = ((to - from) * fps).round() as usize;
        for i in 0..=n {
            let s = from + i as f64 / fps;
            let dets = frame(s);
            self.tracker.update(at(s), &dets).unwrap();
            let tracks: Vec<Track> = self.tracker.tracks().cloned().collect();
            for o in self.rule.on_frame(at(s), &dets, &tracks, W, H) {
                match o {
                    RuleOutput::Phase { phase, .. } => self.phases.push(phase),
                    RuleOutput::Capture {
                        request: CaptureRequest::Clip { center, .. },
                        ..
                    } => self.clips.push(center),
                    _ => {}
                }
            }
        }
    }

    fn of(&self, kind: EventKind, phase: Phase) -> Vec<&PhaseOutput> {
        self.phases
            .iter()
            .filter(|p| p.kind == kind && p.phase == phase)
            .collect()
    }
}

#[test]
fn litter_lying_past_persist_is_exposed_garbage_once_and_ends_when_cleaned() {
    let mut r = Run::new();
    r.drive(0.0, 200.0, 1.0, |_| vec![bottle_at(900.0, 700.0)]);
    r.drive(201.0, 400.0, 1.0, |_| vec![]);
    let started = r.of(EventKind::ExposedGarbage, Phase::Started);
    assert_eq!(started.len(), 1, "{:?}", r.phases);
    assert!((started[0].at.secs_since(at(60.0))).abs() <= 1.0);
    assert_eq!(started[0].subject.category.as_str(), "litter.bottle");
    let ended = r.of(EventKind::ExposedGarbage, Phase::Ended);
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].end, Some(at(200.0)));
    assert!(r.of(EventKind::LitteringAct, Phase::Started).is_empty());
}

#[test]
fn litter_flickering_in_detection_stays_one_event() {
    let mut r = Run::new();
    // Detected two frames out of three, with a few pixels of jitter.
    r.drive(0.0, 300.0, 1.0, |s| {
        let i = s as i64;
        if i % 3 == 2 {
            vec![]
        } else {
            vec![bottle_at(900.0 + (i % 5) as f32, 700.0)]
        }
    });
    assert_eq!(r.of(EventKind::ExposedGarbage, Phase::Started).len(), 1);
    assert!(r.of(EventKind::ExposedGarbage, Phase::Ended).is_empty());
}

#[test]
fn overlapping_litter_in_one_pile_is_one_event() {
    let mut r = Run::new();
    r.drive(0.0, 100.0, 1.0, |_| vec![bottle_at(900.0, 700.0)]);
    // A second bottle dropped on the pile later, overlapping the first.
    r.drive(101.0, 300.0, 1.0, |_| {
        vec![bottle_at(900.0, 700.0), bottle_at(920.0, 710.0)]
    });
    assert_eq!(
        r.of(EventKind::ExposedGarbage, Phase::Started).len(),
        1,
        "{:?}",
        r.phases
    );
}

#[test]
fn a_bag_carried_through_the_picture_is_not_litter() {
    let mut r = Run::new();
    // Moves 30 px/s for 5 minutes: never 60 s at one place.
    r.drive(0.0, 300.0, 2.0, |s| {
        vec![bottle_at(100.0 + 5.0 * s as f32, 700.0)]
    });
    assert!(r.phases.is_empty(), "{:?}", r.phases);
}

#[test]
fn litter_outside_the_zone_or_of_other_classes_is_ignored() {
    let mut r = Run::new();
    r.drive(0.0, 200.0, 1.0, |_| {
        vec![
            bottle_at(900.0, 200.0),
            det(
                "object.chair",
                "chair",
                BBox::new(500.0, 600.0, 560.0, 700.0),
            ),
        ]
    });
    assert!(r.phases.is_empty());
}

#[test]
fn a_person_dropping_litter_and_walking_on_is_a_littering_act_with_their_track() {
    let mut r = Run::new();
    // A person walks left to right at 100 px/s; at 8 s (x = 900) a bottle appears at
    // their feet and stays; the person walks on out of the picture.
    r.drive(0.0, 60.0, 5.0, |s| {
        let mut d = Vec::new();
        let x = 100.0 + 100.0 * s as f32;
        if x < 1900.0 {
            d.push(person_at(x));
        }
        if s >= 8.0 {
            d.push(bottle_at(900.0, 780.0));
        }
        d
    });
    r.drive(60.2, 200.0, 1.0, |_| vec![bottle_at(900.0, 780.0)]);
    r.drive(201.0, 400.0, 1.0, |_| vec![]);
    let acts = r.of(EventKind::LitteringAct, Phase::Started);
    assert_eq!(acts.len(), 1, "{:?}", r.phases);
    assert_eq!(acts[0].subject.related_track_ids.len(), 1);
    let person_id = acts[0].subject.related_track_ids[0];
    assert!(r.tracker.track(person_id).is_none() || person_id > 0);
    // The clip is centred on the moment the litter appeared.
    assert_eq!(r.clips, [at(8.0)]);
    // The same pile raises no second (exposed garbage) event, and the act ends when
    // the litter is cleaned up.
    assert!(r.of(EventKind::ExposedGarbage, Phase::Started).is_empty());
    assert_eq!(r.of(EventKind::LitteringAct, Phase::Ended).len(), 1);
}

#[test]
fn litter_next_to_a_person_who_stays_is_not_an_act() {
    let mut r = Run::new();
    // A person stands beside their bag for a minute: nobody left, no act; after
    // persist_s it is still reported as exposed garbage.
    r.drive(0.0, 90.0, 2.0, |_| {
        vec![person_at(900.0), bottle_at(950.0, 780.0)]
    });
    assert!(r.of(EventKind::LitteringAct, Phase::Started).is_empty());
    assert_eq!(r.of(EventKind::ExposedGarbage, Phase::Started).len(), 1);
}

#[test]
fn coco_class_mapping_is_configuration() {
    let c: LitterConfig = toml::from_str("class_names = [\"chair\"]").unwrap();
    assert!(c.is_litter(&det("object.chair", "chair", BBox::default())));
    assert!(!c.is_litter(&det("object.bottle", "bottle", BBox::default())));
    assert!(c.is_litter(&det("litter.bag", "plastic_bag", BBox::default())));
}

#[test]
fn a_person_who_lingers_a_little_before_walking_off_is_still_linked() {
    let mut r = Run::new();
    // Drops a bottle at 8 s, stands beside it until 18 s (past act_static_s), then
    // walks away to the right.
    r.drive(0.0, 60.0, 5.0, |s| {
        let x = if s < 8.0 {
            100.0 + 100.0 * s as f32
        } else if s < 18.0 {
            900.0
        } else {
            900.0 + 150.0 * (s - 18.0) as f32
        };
        let mut d = Vec::new();
        if x < 1900.0 {
            d.push(person_at(x));
        }
        if s >= 8.0 {
            d.push(bottle_at(900.0, 780.0));
        }
        d
    });
    assert_eq!(
        r.of(EventKind::LitteringAct, Phase::Started).len(),
        1,
        "{:?}",
        r.phases
    );
}

#[test]
fn a_person_who_stood_by_the_litter_and_vanished_close_to_it_has_left() {
    let mut r = Run::new();
    // A close-up view: the person stands at x = 900 for 12 s (the tracker marks them
    // stationary and will remember their box for minutes), a bottle appears beside
    // them at 8 s, they shift a little and are out of sight at 14 s, still within a
    // person height of the bottle.
    r.drive(0.0, 60.0, 2.0, |s| {
        let mut d = Vec::new();
        if s < 12.0 {
            d.push(person_at(900.0));
        } else if s < 14.0 {
            d.push(person_at(900.0 + 20.0 * (s - 12.0) as f32));
        }
        if s >= 8.0 {
            d.push(bottle_at(850.0, 780.0));
        }
        d
    });
    let acts = r.of(EventKind::LitteringAct, Phase::Started);
    assert_eq!(acts.len(), 1, "{:?}", r.phases);
    assert!(r.of(EventKind::ExposedGarbage, Phase::Started).is_empty());
}

#[test]
fn a_person_beside_their_litter_whom_the_detector_misses_now_and_then_has_not_left() {
    let mut r = Run::new();
    // Standing beside the bag for 90 s, but every third frame has no person detection.
    r.drive(0.0, 90.0, 2.0, |s| {
        let mut d = vec![bottle_at(950.0, 780.0)];
        if ((s * 2.0).round() as u64) % 3 != 2 {
            d.push(person_at(900.0));
        }
        d
    });
    assert!(
        r.of(EventKind::LitteringAct, Phase::Started).is_empty(),
        "{:?}",
        r.phases
    );
    assert_eq!(r.of(EventKind::ExposedGarbage, Phase::Started).len(), 1);
}
