//! Road-damage scenarios at low analysis rates, with a real SQLite registry on disk.

use std::sync::Arc;

use super::*;
use crate::infer::Category;
use crate::rules::zone::Polygon;

const W: u32 = 1280;
const H: u32 = 720;

fn at(s: f64) -> MediaTime {
    MediaTime::from_secs_f64(1_795_406_400.0 + s)
}

fn zone() -> Zone {
    Zone {
        id: "road".into(),
        name: "主路".into(),
        polygon: Polygon(vec![[0.0, 0.5], [1.0, 0.5], [1.0, 1.0], [0.0, 1.0]]),
        location: String::new(),
        coordinates: None,
        grid_code: None,
        asset_id: None,
        preset: None,
        filter: Default::default(),
        rules: vec![ZoneRule::RoadWatch {
            min_observations: 3,
            min_span_s: 120.0,
            regrow_fraction: 0.3,
            schedule: Schedule::always(),
        }],
    }
}

fn pothole(size: f32) -> Detection {
    Detection {
        category: Category::new("road_damage.pothole"),
        class_name: "pothole".into(),
        class_id: 4,
        score: 0.6,
        bbox: BBox::new(600.0, 500.0, 600.0 + size, 500.0 + size * 0.6),
        model_id: Arc::from("rdd"),
    }
}

/// One frame a minute for `minutes`, starting at `from_min`.
fn drive(rule: &mut RoadDamage, from_min: u32, minutes: u32, det: &Detection) -> Vec<PhaseOutput> {
    let mut phases = Vec::new();
    for m in from_min..from_min + minutes {
        for o in rule
            .on_frame(at(f64::from(m) * 60.0), std::slice::from_ref(det), W, H)
            .unwrap()
        {
            if let RuleOutput::Phase { phase, .. } = o {
                phases.push(phase);
            }
        }
    }
    phases
}

fn open(dir: &std::path::Path) -> RoadDamage {
    let reg = RoadRegistry::open(&crate::rules::road_registry::registry_path(dir, "cam1")).unwrap();
    RoadDamage::new(&[zone()], chrono_tz::Asia::Shanghai, reg)
}

#[test]
fn persistent_damage_is_reported_once_after_enough_spread_observations() {
    let dir = tempfile::tempdir().unwrap();
    let mut rule = open(dir.path());
    // Two observations within two minutes are not enough (span); the third at 2 min is.
    let phases = drive(&mut rule, 0, 2, &pothole(100.0));
    assert!(phases.is_empty());
    let phases = drive(&mut rule, 2, 60, &pothole(100.0));
    assert_eq!(phases.len(), 1, "{phases:?}");
    assert_eq!(phases[0].phase, Phase::Started);
    assert!(phases[0].event_id.is_some());
    assert_eq!(phases[0].details["severity"], "medium");
    assert_eq!(rule.registry().all().unwrap().len(), 1);
}

#[test]
fn a_single_bad_frame_or_a_short_burst_is_not_damage() {
    let dir = tempfile::tempdir().unwrap();
    let mut rule = open(dir.path());
    // Ten observations within one minute (span 54 s < 120 s), then nothing.
    for i in 0..10 {
        let out = rule
            .on_frame(at(f64::from(i) * 6.0), &[pothole(100.0)], W, H)
            .unwrap();
        assert!(out.is_empty());
    }
    assert!(rule.registry().all().unwrap().is_empty());
}

#[test]
fn known_damage_is_not_reported_again_after_reopening_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut rule = open(dir.path());
        assert_eq!(drive(&mut rule, 0, 10, &pothole(100.0)).len(), 1);
    }
    // A restart: fresh engine, same registry file.
    let mut rule = open(dir.path());
    let phases = drive(&mut rule, 100, 60, &pothole(100.0));
    assert!(phases.is_empty(), "{phases:?}");
    // Slightly larger (10%) is still the same damage.
    let phases = drive(&mut rule, 200, 60, &pothole(105.0));
    assert!(phases.is_empty(), "{phases:?}");
}

#[test]
fn damage_that_grew_by_the_regrow_fraction_is_reported_again() {
    let dir = tempfile::tempdir().unwrap();
    let first = {
        let mut rule = open(dir.path());
        drive(&mut rule, 0, 10, &pothole(100.0)).remove(0)
    };
    let mut rule = open(dir.path());
    // 130 px wide: area x1.69.
    let phases = drive(&mut rule, 1000, 30, &pothole(130.0));
    assert_eq!(phases.len(), 1, "{phases:?}");
    assert_eq!(
        phases[0].details["previous_event_id"],
        first.event_id.clone().unwrap()
    );
    assert_ne!(phases[0].event_id, first.event_id);
    assert_eq!(rule.registry().all().unwrap().len(), 1);
}

#[test]
fn damage_outside_road_zones_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let mut rule = open(dir.path());
    let mut d = pothole(100.0);
    d.bbox = BBox::new(600.0, 100.0, 700.0, 160.0);
    assert!(drive(&mut rule, 0, 30, &d).is_empty());
}

#[test]
fn severity_grows_with_class_urgency_and_area() {
    assert_eq!(severity("pothole", "road_damage.pothole", 0.02), "high");
    assert_eq!(severity("pothole", "road_damage.pothole", 0.001), "medium");
    assert_eq!(
        severity("longitudinal_crack", "road_damage.crack", 0.01),
        "low"
    );
    assert_eq!(
        severity("alligator_crack", "road_damage.crack", 0.03),
        "high"
    );
}
