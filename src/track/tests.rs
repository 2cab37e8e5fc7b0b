//! Scenario tests of the whole tracker, driven by synthetic detections in media time.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::*;
use crate::infer::{BBox, Category, Detection};
use crate::ingest::MediaTime;

fn det(category: &str, score: f32, bbox: BBox) -> Detection {
    Detection {
        category: Category::new(category),
        class_name: category.rsplit('.').next().unwrap_or(category).to_string(),
        class_id: 0,
        score,
        bbox,
        model_id: Arc::from("test"),
    }
}

/// Box of `w`x`h` centred on (`cx`, `cy`).
fn centred(cx: f32, cy: f32, w: f32, h: f32) -> BBox {
    BBox::new(cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0)
}

fn car_at(cx: f32) -> BBox {
    centred(cx, 400.0, 100.0, 60.0)
}

fn at(s: f64) -> MediaTime {
    MediaTime::from_secs_f64(1_700_000_000.0 + s)
}

fn tracker() -> Tracker {
    Tracker::new(TrackerConfig::default()).unwrap()
}

/// Deterministic noise in `[-1, 1]` (xorshift), so jitter tests are repeatable.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % 20_001) as f32 / 10_000.0 - 1.0
    }
    fn jitter(&mut self, b: BBox, px: f32) -> BBox {
        BBox::new(
            b.x1 + px * self.next(),
            b.y1 + px * self.next(),
            b.x2 + px * self.next(),
            b.y2 + px * self.next(),
        )
    }
}

/// Ids of all confirmed tracks of a family currently live.
fn ids(t: &Tracker, family: &str) -> Vec<u64> {
    t.tracks()
        .filter(|tr| category_family(&tr.category) == family)
        .map(|tr| tr.id)
        .collect()
}

/// Runs a parked-car scenario at `fps` for `secs`; `frame(t)` gives the detections.
fn run(
    t: &mut Tracker,
    fps: f64,
    secs: f64,
    mut frame: impl FnMut(f64) -> Vec<Detection>,
) -> BTreeSet<u64> {
    let mut seen = BTreeSet::new();
    let n = (secs * fps).round() as usize;
    for i in 0..=n {
        let s = i as f64 / fps;
        t.update(at(s), &frame(s)).unwrap();
        seen.extend(ids(t, "vehicle"));
    }
    seen
}

#[test]
fn constant_speed_car_keeps_one_id_across_frames() {
    let mut t = tracker();
    let seen = run(&mut t, 25.0, 4.0, |s| {
        vec![det("vehicle.car", 0.9, car_at(100.0 + 125.0 * s as f32))]
    });
    assert_eq!(seen.len(), 1, "{seen:?}");
    let tr = t.tracks().next().unwrap();
    assert_eq!(tr.hits, 101);
    assert!((tr.bbox.center().0 - 600.0).abs() < 3.0, "{:?}", tr.bbox);
    assert!(!tr.is_stationary());
}

#[test]
fn two_crossing_vehicles_keep_their_ids() {
    let mut t = tracker();
    let a = |s: f64| centred(200.0 + 150.0 * s as f32, 300.0, 100.0, 60.0);
    let b = |s: f64| centred(500.0, 50.0 + 125.0 * s as f32, 60.0, 100.0);
    let mut first: Option<(u64, u64)> = None;
    for i in 0..=100 {
        let s = i as f64 / 25.0;
        t.update(
            at(s),
            &[
                det("vehicle.car", 0.9, a(s)),
                det("vehicle.car", 0.85, b(s)),
            ],
        )
        .unwrap();
        let nearest = |target: BBox| {
            t.tracks()
                .max_by(|x, y| x.bbox.iou(&target).total_cmp(&y.bbox.iou(&target)))
                .map(|tr| tr.id)
        };
        if let (Some(ia), Some(ib)) = (nearest(a(s)), nearest(b(s))) {
            assert_ne!(ia, ib, "frame {i}");
            match first {
                None => first = Some((ia, ib)),
                Some(f) => assert_eq!(f, (ia, ib), "ids swapped at frame {i}"),
            }
        }
    }
    assert!(first.is_some());
    assert_eq!(t.tracks().count(), 2);
}

#[test]
fn person_walking_past_a_parked_car_never_takes_its_id() {
    let mut t = tracker();
    let mut car_id = None;
    for i in 0..=200 {
        let s = i as f64 / 10.0;
        let person = centred(250.0 + 10.0 * s as f32, 400.0, 40.0, 60.0);
        t.update(
            at(s),
            &[
                det("vehicle.car", 0.9, car_at(300.0)),
                det("person", 0.8, person),
            ],
        )
        .unwrap();
        if let [id] = ids(&t, "vehicle")[..] {
            assert_eq!(*car_id.get_or_insert(id), id, "frame {i}");
        }
    }
    assert_eq!(ids(&t, "person").len(), 1);
    assert_eq!(ids(&t, "vehicle").len(), 1);
    assert_eq!(
        t.track(car_id.unwrap()).unwrap().category.as_str(),
        "vehicle.car"
    );
}

#[test]
fn car_detected_as_truck_in_one_frame_keeps_its_id_and_category() {
    let mut t = tracker();
    let seen = run(&mut t, 10.0, 5.0, |s| {
        let cat = if (2.0..2.15).contains(&s) {
            "vehicle.truck"
        } else {
            "vehicle.car"
        };
        vec![det(cat, 0.8, car_at(300.0 + 20.0 * s as f32))]
    });
    assert_eq!(seen.len(), 1);
    let tr = t.tracks().next().unwrap();
    assert_eq!(tr.category.as_str(), "vehicle.car");
    assert_eq!(tr.class_name, "car");
}

/// A car drives in, parks at x = 300 from 4 s, and is hidden from 60 s to 90 s
/// (`hidden` gives what the detector reports meanwhile).
fn parked_with_occlusion(hidden: impl Fn(f64) -> Vec<Detection>) -> (Tracker, BTreeSet<u64>) {
    let mut t = tracker();
    let mut noise = Noise(7);
    let seen = run(&mut t, 5.0, 100.0, |s| {
        let x = if s < 4.0 {
            100.0 + 50.0 * s as f32
        } else {
            300.0
        };
        if (60.0..90.0).contains(&s) {
            hidden(s)
        } else {
            vec![det("vehicle.car", 0.9, noise.jitter(car_at(x), 2.0))]
        }
    });
    (t, seen)
}

#[test]
fn parked_car_keeps_its_id_through_30_s_of_missed_detections() {
    let (t, seen) = parked_with_occlusion(|s| {
        // A bus passes in front; it is a vehicle too and must get its own track.
        let bus_x = -200.0 + 40.0 * (s - 60.0) as f32;
        vec![det("vehicle.bus", 0.9, centred(bus_x, 400.0, 320.0, 140.0))]
    });
    let parked: Vec<&Track> = t.tracks().filter(|tr| tr.is_stationary()).collect();
    assert_eq!(parked.len(), 1);
    let car = parked[0];
    assert!(seen.contains(&car.id));
    // Only the car and the bus ever appeared.
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(car.category.as_str(), "vehicle.car");
    assert_eq!(car.first_seen, at(0.0));
    let since = car.stationary_since.unwrap().secs_since(at(0.0));
    assert!((3.0..=6.0).contains(&since), "stationary since {since}");
    assert!((car.bbox.center().0 - 300.0).abs() < 5.0);
}

#[test]
fn parked_car_coasts_in_place_while_hidden() {
    let mut t = tracker();
    let mut id = None;
    let mut noise = Noise(3);
    for i in 0..=500 {
        let s = i as f64 / 5.0;
        let dets = if s < 60.0 {
            vec![det("vehicle.car", 0.9, noise.jitter(car_at(300.0), 3.0))]
        } else {
            vec![]
        };
        t.update(at(s), &dets).unwrap();
        if s >= 60.0 {
            let tr = t
                .track(*id.get_or_insert_with(|| t.tracks().next().unwrap().id))
                .unwrap();
            assert!(tr.is_coasting());
            assert!(
                (tr.bbox.center().0 - 300.0).abs() < 3.0,
                "drifted at {s}: {:?}",
                tr.bbox
            );
        }
    }
}

#[test]
fn parked_car_keeps_its_id_on_low_score_detections_only() {
    let (t, seen) = parked_with_occlusion(|_| vec![det("vehicle.car", 0.3, car_at(302.0))]);
    assert_eq!(seen.len(), 1, "{seen:?}");
    let car = t.tracks().next().unwrap();
    assert!(car.is_stationary());
    assert_eq!(car.hits, 501, "low-score detections count as hits");
}

#[test]
fn partly_occluded_parked_car_is_reassociated_at_the_lower_iou() {
    let (t, seen) = parked_with_occlusion(|_| vec![]);
    assert_eq!(seen.len(), 1);
    // And after another gap, a box covering only the car's front (IoU ~0.22, below
    // match_iou but above stationary_match_iou) still matches.
    let mut t = t;
    let id = *seen.iter().next().unwrap();
    let front = BBox::new(326.0, 370.0, 348.0, 430.0);
    let iou = front.iou(&t.track(id).unwrap().bbox);
    assert!(
        iou > 0.2 && iou < TrackerConfig::default().match_iou,
        "iou {iou}"
    );
    t.update(at(140.0), &[det("vehicle.car", 0.9, front)])
        .unwrap();
    assert_eq!(t.track(id).unwrap().misses, 0);
    assert_eq!(t.tracks().count(), 1);
}

#[test]
fn different_car_in_the_same_spot_after_the_gap_gets_a_new_id() {
    let mut t = tracker();
    let mut ended_at = None;
    let mut ids_seen = Vec::new();
    for i in 0..=1150 {
        let s = i as f64 / 5.0;
        let dets = if s < 60.0 {
            vec![det("vehicle.car", 0.9, car_at(300.0))]
        } else if s >= 200.0 {
            vec![det("vehicle.car", 0.9, car_at(305.0))]
        } else {
            vec![]
        };
        let up = t.update(at(s), &dets).unwrap();
        if !up.ended.is_empty() {
            assert_eq!(up.ended.len(), 1);
            ended_at = Some(s);
        }
        for id in ids(&t, "vehicle") {
            if ids_seen.last() != Some(&id) {
                ids_seen.push(id);
            }
        }
    }
    assert_eq!(ids_seen.len(), 2, "{ids_seen:?}");
    assert_ne!(ids_seen[0], ids_seen[1]);
    let ended_at = ended_at.expect("the first car's track ended");
    assert!((179.8..=180.4).contains(&ended_at), "ended at {ended_at}");
}

#[test]
fn parked_car_keeps_one_id_for_ten_minutes_at_low_frame_rates() {
    for fps in [1.0, 0.5] {
        let mut t = tracker();
        let mut noise = Noise(11);
        let seen = run(&mut t, fps, 600.0, |s| {
            let frame = (s * fps).round() as u64;
            // Every 7th frame is missed and 200–230 s a truck hides the car.
            if frame % 7 == 3 || (200.0..230.0).contains(&s) {
                vec![]
            } else {
                vec![det("vehicle.car", 0.8, noise.jitter(car_at(300.0), 3.0))]
            }
        });
        assert_eq!(seen.len(), 1, "fps {fps}: {seen:?}");
        let car = t.tracks().next().unwrap();
        assert!(car.is_stationary(), "fps {fps}");
        assert!(car.stationary_for(at(600.0)).unwrap() > 590.0, "fps {fps}");
    }
}

#[test]
fn jittery_detections_of_a_parked_car_count_as_stationary() {
    let mut t = tracker();
    let mut noise = Noise(42);
    for i in 0..=250 {
        let s = i as f64 / 5.0;
        t.update(
            at(s),
            &[det("vehicle.car", 0.9, noise.jitter(car_at(300.0), 3.0))],
        )
        .unwrap();
        let tr = t.tracks().next();
        if s >= 8.0 {
            let tr = tr.unwrap();
            assert!(tr.is_stationary(), "not stationary at {s}");
            assert_eq!(tr.stationary_since, Some(at(0.0)), "rest restarted at {s}");
        }
    }
}

#[test]
fn moving_car_is_never_stationary() {
    for speed in [125.0f32, 30.0] {
        let mut t = tracker();
        for i in 0..=300 {
            let s = i as f64 / 5.0;
            t.update(
                at(s),
                &[det("vehicle.car", 0.9, car_at(100.0 + speed * s as f32))],
            )
            .unwrap();
            for tr in t.tracks() {
                assert!(!tr.is_stationary(), "speed {speed} stationary at {s}");
            }
        }
        assert_eq!(t.tracks().count(), 1);
    }
}

#[test]
fn moving_track_survives_a_short_gap_but_not_a_long_one() {
    for (gap, same) in [(1.0, true), (2.0, false)] {
        let mut t = tracker();
        let x = |s: f64| car_at(100.0 + 100.0 * s as f32);
        let mut ids_seen = BTreeSet::new();
        for i in 0..=100 {
            let s = i as f64 / 25.0;
            if (1.0..1.0 + gap).contains(&s) {
                t.update(at(s), &[]).unwrap();
                continue;
            }
            t.update(at(s), &[det("vehicle.car", 0.9, x(s))]).unwrap();
            ids_seen.extend(ids(&t, "vehicle"));
        }
        assert_eq!(ids_seen.len() == 1, same, "gap {gap}: {ids_seen:?}");
    }
}

#[test]
fn low_score_detections_never_start_tracks() {
    let mut t = tracker();
    for i in 0..50 {
        t.update(
            at(i as f64 * 0.2),
            &[det("vehicle.car", 0.45, car_at(300.0))],
        )
        .unwrap();
    }
    assert!(t.is_empty());
}

#[test]
fn tentative_tracks_are_reported_only_after_min_hits() {
    let cfg = TrackerConfig {
        min_hits: 3,
        ..Default::default()
    };
    let mut t = Tracker::new(cfg).unwrap();
    let d = [det("litter.bottle", 0.9, centred(50.0, 50.0, 20.0, 30.0))];
    t.update(at(0.0), &d).unwrap();
    t.update(at(0.2), &d).unwrap();
    assert_eq!(t.tracks().count(), 0);
    assert_eq!(t.len(), 1);
    t.update(at(0.4), &d).unwrap();
    assert_eq!(t.tracks().count(), 1);
}

#[test]
fn flicker_detection_dies_on_its_first_miss() {
    let mut t = tracker();
    t.update(
        at(0.0),
        &[det("person", 0.9, centred(50.0, 50.0, 20.0, 60.0))],
    )
    .unwrap();
    assert_eq!(t.len(), 1);
    let up = t.update(at(0.2), &[]).unwrap();
    assert!(t.is_empty());
    assert!(
        up.ended.is_empty(),
        "tentative tracks are not reported as ended"
    );
}

#[test]
fn max_tracks_cap_bounds_memory_under_a_flood_of_detections() {
    let cfg = TrackerConfig {
        max_tracks: 10,
        history_len: 8,
        ..Default::default()
    };
    let mut t = Tracker::new(cfg).unwrap();
    let mut noise = Noise(5);
    for i in 0..200 {
        let s = i as f64 * 0.2;
        let mut dets: Vec<Detection> = (0..50)
            .map(|_| {
                let (x, y) = (1000.0 * noise.next().abs(), 1000.0 * noise.next().abs());
                det("litter.bag", 0.9, centred(x, y, 10.0, 10.0))
            })
            .collect();
        dets.push(det("vehicle.car", 0.95, car_at(3000.0)));
        t.update(at(s), &dets).unwrap();
        assert!(t.len() <= 10, "{} tracks", t.len());
    }
    let car = t
        .tracks()
        .find(|tr| tr.category.is_vehicle())
        .expect("a tracked car is never evicted");
    assert_eq!(car.history.len(), 8);
}

#[test]
fn history_is_spaced_by_the_minimum_interval() {
    let mut t = tracker();
    for i in 0..=50 {
        let s = i as f64 / 25.0;
        t.update(
            at(s),
            &[det("vehicle.car", 0.9, car_at(100.0 + 100.0 * s as f32))],
        )
        .unwrap();
    }
    let h = &t.tracks().next().unwrap().history;
    assert_eq!(h.len(), 11, "2 s at one point per 0.2 s");
    assert!(
        h.iter()
            .zip(h.iter().skip(1))
            .all(|(a, b)| b.time.secs_since(a.time) >= 0.199)
    );
    assert!(h.back().unwrap().x > h.front().unwrap().x);
}

#[test]
fn time_going_backwards_is_rejected_without_changing_state() {
    let mut t = tracker();
    let d = [det("vehicle.car", 0.9, car_at(300.0))];
    t.update(at(1.0), &d).unwrap();
    t.update(at(1.2), &d).unwrap();
    let before: Vec<Track> = t.tracks().cloned().collect();
    let e = t.update(at(1.1), &d).unwrap_err();
    assert!(matches!(e, TrackError::TimeWentBackwards { .. }), "{e}");
    assert_eq!(t.tracks().cloned().collect::<Vec<_>>(), before);
    t.update(at(1.4), &d).unwrap();
    assert_eq!(t.tracks().next().unwrap().hits, 3);
}

#[test]
fn ids_are_never_reused_after_reset() {
    let mut t = tracker();
    let d = [det("vehicle.car", 0.9, car_at(300.0))];
    t.update(at(0.0), &d).unwrap();
    t.update(at(0.2), &d).unwrap();
    let first = t.tracks().next().unwrap().id;
    t.reset();
    assert!(t.is_empty());
    t.update(at(0.0), &d).unwrap();
    t.update(at(0.2), &d).unwrap();
    assert!(t.tracks().next().unwrap().id > first);
}

#[test]
fn non_finite_or_empty_boxes_are_ignored() {
    let mut t = tracker();
    let bad = [
        det("vehicle.car", 0.9, BBox::new(f32::NAN, 0.0, 10.0, 10.0)),
        det("vehicle.car", 0.9, BBox::new(10.0, 10.0, 10.0, 20.0)),
        det("vehicle.car", f32::NAN, car_at(300.0)),
    ];
    t.update(at(0.0), &bad).unwrap();
    assert!(t.is_empty());
}

#[test]
fn invalid_config_is_refused() {
    let cfg = TrackerConfig {
        high_score: 2.0,
        ..Default::default()
    };
    assert!(matches!(
        Tracker::new(cfg),
        Err(TrackError::InvalidConfig {
            field: "high_score",
            ..
        })
    ));
}

#[test]
fn one_missed_keyframe_does_not_drop_a_moving_track() {
    // At 0.5 fps the frame interval (2 s) exceeds max_gap_moving_s (1.5 s).
    let mut t = tracker();
    let mut ids_seen = BTreeSet::new();
    for i in 0..=10 {
        let s = i as f64 * 2.0;
        let dets = if i == 4 {
            vec![]
        } else {
            vec![det("vehicle.car", 0.9, car_at(300.0 + 5.0 * s as f32))]
        };
        t.update(at(s), &dets).unwrap();
        ids_seen.extend(ids(&t, "vehicle"));
    }
    assert_eq!(ids_seen.len(), 1, "{ids_seen:?}");
    // Two missed keyframes in a row do drop it.
    t.update(at(22.0), &[]).unwrap();
    let up = t.update(at(24.0), &[]).unwrap();
    assert_eq!(up.ended.len(), 1);
    assert!(t.is_empty());
}

#[test]
fn eviction_at_the_cap_takes_coasting_moving_tracks_before_parked_ones() {
    let cfg = TrackerConfig {
        max_tracks: 2,
        ..Default::default()
    };
    let mut t = Tracker::new(cfg).unwrap();
    // A parked car (stationary) and a moving car, both confirmed.
    for i in 0..=50 {
        let s = i as f64 * 0.2;
        t.update(
            at(s),
            &[
                det("vehicle.car", 0.9, car_at(300.0)),
                det(
                    "vehicle.car",
                    0.9,
                    centred(100.0 + 50.0 * s as f32, 100.0, 100.0, 60.0),
                ),
            ],
        )
        .unwrap();
    }
    let parked = t.tracks().find(|tr| tr.is_stationary()).unwrap().id;
    // The parked car vanishes first, then the moving one; a new object needs a slot.
    t.update(
        at(10.2),
        &[det("vehicle.car", 0.9, centred(610.0, 100.0, 100.0, 60.0))],
    )
    .unwrap();
    t.update(at(10.4), &[]).unwrap();
    let up = t
        .update(
            at(10.6),
            &[det("litter.bag", 0.9, centred(900.0, 900.0, 20.0, 20.0))],
        )
        .unwrap();
    assert_eq!(up.ended.len(), 1);
    assert!(!up.ended[0].is_stationary());
    assert!(t.track(parked).is_some());
    assert_eq!(t.len(), 2);
}

#[test]
fn parked_car_hidden_by_a_passing_car_keeps_its_id_and_rest_time() {
    let mut t = tracker();
    let mut parked = None;
    let mut passing = BTreeSet::new();
    for i in 0..=600 {
        let s = i as f64 / 10.0;
        let mut dets = Vec::new();
        // A similar car in the near lane drives past from 30 s to 40 s, hiding the
        // parked car while their boxes overlap.
        let other = centred(-200.0 + 80.0 * (s - 30.0) as f32, 410.0, 110.0, 70.0);
        let passing_now = (30.0..40.0).contains(&s);
        if passing_now {
            dets.push(det("vehicle.car", 0.9, other));
        }
        if !(passing_now && other.iou(&car_at(300.0)) > 0.0) {
            dets.push(det("vehicle.car", 0.9, car_at(300.0)));
        }
        t.update(at(s), &dets).unwrap();
        if s >= 10.0 {
            let still: Vec<&Track> = t.tracks().filter(|tr| tr.is_stationary()).collect();
            assert_eq!(still.len(), 1, "at {s}");
            assert_eq!(*parked.get_or_insert(still[0].id), still[0].id, "at {s}");
            assert_eq!(still[0].stationary_since, Some(at(0.0)), "at {s}");
        }
        if passing_now {
            passing.extend(t.tracks().filter(|tr| !tr.is_stationary()).map(|tr| tr.id));
        }
    }
    assert_eq!(
        passing.len(),
        1,
        "the passing car keeps one id: {passing:?}"
    );
}

#[test]
fn sustained_partial_occlusion_keeps_the_parking_time() {
    let mut t = tracker();
    for i in 0..=600 {
        let s = i as f64 / 10.0;
        // From 20 s to 40 s only the front third of the car is detected.
        let b = if (20.0..40.0).contains(&s) {
            BBox::new(317.0, 370.0, 350.0, 430.0)
        } else {
            car_at(300.0)
        };
        t.update(at(s), &[det("vehicle.car", 0.9, b)]).unwrap();
        if s >= 6.0 {
            let tr = t.tracks().next().unwrap();
            assert_eq!(tr.stationary_since, Some(at(0.0)), "at {s}");
        }
    }
    assert_eq!(t.tracks().count(), 1);
}

#[test]
fn parked_car_that_drives_off_keeps_its_id_and_stops_being_stationary() {
    let mut t = tracker();
    let mut ids_seen = BTreeSet::new();
    for i in 0..=400 {
        let s = i as f64 / 10.0;
        let x = if s < 30.0 {
            300.0
        } else {
            300.0 + 100.0 * (s - 30.0) as f32
        };
        t.update(at(s), &[det("vehicle.car", 0.9, car_at(x))])
            .unwrap();
        ids_seen.extend(ids(&t, "vehicle"));
        if (20.0..30.0).contains(&s) {
            assert!(t.tracks().next().unwrap().is_stationary());
        }
    }
    assert_eq!(ids_seen.len(), 1, "{ids_seen:?}");
    let tr = t.tracks().next().unwrap();
    assert!(!tr.is_stationary());
    assert!((tr.bbox.center().0 - 1300.0).abs() < 20.0, "{:?}", tr.bbox);
}
