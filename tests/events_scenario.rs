//! End to end without the live detector: a scenario video made from the real car-park
//! GIF (the car drives into a bay, then the last frame is held with light noise) is fed
//! through an encoded ring; the façade gets the parked car's detections at keyframe
//! rate (synthetic boxes standing in for the detector, which is another module's job),
//! and the evidence worker writes the snapshots and the clip from that ring.

mod support;

use std::sync::{Arc, Mutex, mpsc};

use streetwatch::camsim::load_clip;
use streetwatch::evidence::EvidenceConfig;
use streetwatch::evidence::collect::EvidenceCollector;
use streetwatch::evidence::files::sha256_file;
use streetwatch::evidence::job::{EvidenceJob, EvidenceWorker, MemoryRing};
use streetwatch::infer::{BBox, Category, Detection};
use streetwatch::ingest::{AccessUnit, EncodedRing, MediaTime};
use streetwatch::rules::event::{CameraRef, DeviceRef, MediaKind, ModelRef, Phase};
use streetwatch::rules::zone::{Polygon, Zone, ZoneRule};
use streetwatch::rules::{CameraContext, CameraEvents, EventsConfig};

const T0: f64 = 1_795_406_400.0;

#[test]
fn a_car_held_in_a_no_parking_bay_yields_one_event_with_snapshots_and_a_clip_from_the_ring() {
    let dir = tempfile::tempdir().unwrap();
    let video = support::parking_scenario(dir.path(), 100.0);
    let clip = load_clip(&video).unwrap();

    let zone = Zone {
        id: "bay".into(),
        name: "消防通道".into(),
        polygon: Polygon(vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]),
        location: "测试停车场".into(),
        coordinates: None,
        grid_code: None,
        asset_id: None,
        preset: None,
        filter: Default::default(),
        rules: vec![ZoneRule::NoParking {
            merge_window_s: 0.0,
            dwell_s: 60.0,
            update_every_s: 300.0,
            leave_after_s: 30.0,
            evidence_interval_s: None,
            schedule: Default::default(),
        }],
    };
    let ctx = CameraContext {
        device: DeviceRef {
            id: "box".into(),
            division_code: None,
            firmware_version: "test".into(),
        },
        camera: CameraRef {
            id: "cam".into(),
            name: String::new(),
            gb28181_id: None,
        },
        tz: chrono_tz::Asia::Shanghai,
        model: ModelRef {
            id: "synthetic".into(),
            version: "0".into(),
        },
    };
    let mut config = EventsConfig::default();
    config.evidence.clip.pre_roll_s = 6.0;
    config.evidence.clip.post_roll_s = 6.0;
    let mut events =
        CameraEvents::new(ctx, vec![zone.clone()], config.clone(), dir.path()).unwrap();

    let ring = Arc::new(MemoryRing {
        ring: Mutex::new(EncodedRing::new(20.0, 64 << 20)),
        caps: clip.caps.clone(),
    });
    let (tx, rx) = mpsc::channel();
    let worker = EvidenceWorker::spawn(ring.clone(), 16, move |r| {
        let _ = tx.send(r);
    });
    let root = dir.path().join("evidence");
    let car = Detection {
        category: Category::new("vehicle.car"),
        class_name: "car".into(),
        class_id: 2,
        score: 0.9,
        // Where the car stands in the held last GIF frame (480x270, top left).
        bbox: BBox::new(0.0, 33.0, 90.0, 98.0),
        model_id: Arc::from("synthetic"),
    };
    let mut out_events = Vec::new();
    let mut requests = 0;
    for u in &clip.units {
        let time = MediaTime::from_secs_f64(T0 + u.pts as f64 / 1e9);
        ring.ring.lock().unwrap().push(AccessUnit {
            pts_ns: u.pts,
            dts_ns: Some(u.dts),
            duration_ns: Some(250_000_000),
            time,
            keyframe: u.keyframe,
            data: Arc::from(u.data.map_readable().unwrap().as_slice()),
        });
        // A replay about 50x faster than real time: the evidence worker (polling every
        // 200 ms) sees every 20 s ring span several times over.
        std::thread::sleep(std::time::Duration::from_millis(5));
        // Keyframes-only analysis (every 2 s); the car is parked once the GIF ends.
        if u.keyframe {
            let dets = if u.pts as f64 / 1e9 > 3.3 {
                vec![car.clone()]
            } else {
                vec![]
            };
            let o = events.on_frame(time, 480, 270, &dets).unwrap();
            for r in &o.evidence {
                worker
                    .submit(EvidenceJob::from_request(
                        r,
                        &root,
                        std::slice::from_ref(&zone),
                        &EvidenceConfig::default(),
                    ))
                    .unwrap();
                requests += 1;
            }
            out_events.extend(o.events);
        }
    }
    worker.finish();
    let results: Vec<_> = rx.try_iter().collect();
    // The collector holds the started phase until all four jobs reported.
    let mut collector = EvidenceCollector::new(16);
    for _ in 0..requests {
        collector.expect(&out_events[0].id);
    }
    let mut released = collector.on_event(out_events[0].clone());
    assert!(released.is_empty());
    for r in &results {
        assert!(r.missing.is_empty(), "{:?}", r.missing);
        released.extend(collector.on_result(streetwatch::evidence::job::JobResult {
            event_id: r.event_id.clone(),
            media: r.media.clone(),
            missing: vec![],
        }));
    }
    assert_eq!(released.len(), 1);
    assert_eq!(released[0].media.len(), 7, "3 snapshots, 3 crops, 1 clip");
    assert_eq!(out_events.len(), 1, "{out_events:?}");
    let ev = &out_events[0];
    assert_eq!(ev.phase, Phase::Started);
    assert_eq!(ev.category.code, "09009");
    assert_eq!(requests, 4, "three snapshots and a clip");
    assert_eq!(results.len(), 4);
    let media: Vec<_> = results
        .into_iter()
        .flat_map(|r| {
            assert_eq!(r.event_id, ev.id);
            r.media
        })
        .collect();
    for m in &media {
        assert_eq!(
            m.sha256,
            sha256_file(m.local_path.as_ref().unwrap()).unwrap()
        );
    }
    let names: Vec<_> = media.iter().map(|m| m.name.as_str()).collect();
    for n in [
        "first-stationary.jpg",
        "half-dwell.jpg",
        "confirmation.jpg",
        "confirmation-crop.jpg",
        "clip.mp4",
    ] {
        assert!(names.contains(&n), "{names:?}");
    }
    let snap = media.iter().find(|m| m.name == "confirmation.jpg").unwrap();
    assert_eq!((snap.width, snap.height), (Some(480), Some(270)));
    let clip_ref = media.iter().find(|m| m.kind == MediaKind::Clip).unwrap();
    let span = (clip_ref.end_media_ns.unwrap() - clip_ref.start_media_ns.unwrap()) as f64 / 1e9;
    assert!((12.0..=14.5).contains(&span), "clip spans {span} s");
}
