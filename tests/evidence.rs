//! Evidence with real video: clips cut from an encoded ring filled from the sample
//! `car-detection.mp4` (H.264, 768x432, 12.5 fps), snapshots decoded from the ring,
//! privacy masking, digests, the post-roll wait, and the scenario generator.
//!
//! Needs the sample media (`make setup`, or `STREETWATCH_ASSETS=/path/to/mirror`).

mod support;

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use streetwatch::camsim::load_clip;
use streetwatch::camsim::scenario::{ScenarioSpec, build_scenario, decode_frames};
use streetwatch::evidence::clip::{write_clip, write_redacted_clip};
use streetwatch::evidence::files::sha256_file;
use streetwatch::evidence::job::{EvidenceJob, EvidenceWorker, JobKind, MemoryRing};
use streetwatch::infer::BBox;
use streetwatch::ingest::{AccessUnit, EncodedRing, MediaTime};
use streetwatch::rules::event::MediaKind;
use streetwatch::rules::zone::{Polygon, Zone, ZoneRule};

/// Media time of the first unit.
const T0: f64 = 1_795_406_400.0;

fn t(s: f64) -> MediaTime {
    MediaTime::from_secs_f64(T0 + s)
}

/// The sample clip as access units on media time, plus its caps.
fn units(name: &str) -> (Vec<AccessUnit>, gstreamer::Caps) {
    let clip = load_clip(&support::media(name)).unwrap();
    let frame = 80_000_000u64;
    let units = clip
        .units
        .iter()
        .map(|u| AccessUnit {
            pts_ns: u.pts,
            dts_ns: Some(u.dts),
            duration_ns: Some(frame),
            time: MediaTime(t(0.0).0 + u.pts as i64),
            keyframe: u.keyframe,
            data: Arc::from(u.data.map_readable().unwrap().as_slice()),
        })
        .collect();
    (units, clip.caps)
}

fn ring_of(units: &[AccessUnit]) -> EncodedRing {
    let mut r = EncodedRing::new(120.0, 256 << 20);
    for u in units {
        r.push(u.clone());
    }
    r
}

/// Duration in seconds that gst-discoverer-1.0 reports.
fn discovered_duration(path: &Path) -> f64 {
    let out = Command::new("gst-discoverer-1.0")
        .arg(path)
        .output()
        .expect("gst-discoverer-1.0 runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("Duration:"))
        .unwrap_or_else(|| panic!("{text}"));
    // "Duration: 0:00:10.240000000"
    let v = line.split_once(':').unwrap().1.trim();
    let mut parts = v.split(':');
    let h: f64 = parts.next().unwrap().parse().unwrap();
    let m: f64 = parts.next().unwrap().parse().unwrap();
    let s: f64 = parts.next().unwrap().parse().unwrap();
    h * 3600.0 + m * 60.0 + s
}

fn gop_seconds(units: &[AccessUnit]) -> f64 {
    let k: Vec<_> = units
        .iter()
        .filter(|u| u.keyframe)
        .map(|u| u.time)
        .collect();
    k.windows(2)
        .map(|w| w[1].secs_since(w[0]))
        .fold(0.0, f64::max)
}

fn privacy_zone() -> Zone {
    Zone {
        id: "home".into(),
        name: String::new(),
        polygon: Polygon(vec![[0.0, 0.0], [0.3, 0.0], [0.3, 0.3], [0.0, 0.3]]),
        location: String::new(),
        coordinates: None,
        grid_code: None,
        asset_id: None,
        preset: None,
        filter: Default::default(),
        rules: vec![ZoneRule::Privacy],
    }
}

#[test]
fn clip_cut_from_the_ring_starts_on_a_keyframe_lasts_as_asked_and_decodes_fully() {
    let (units, caps) = units("car-detection.mp4");
    let gop = gop_seconds(&units);
    let ring = ring_of(&units);
    let cut = ring.cut(t(10.0), t(20.0)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let m = write_clip(dir.path(), "clip.mp4", &caps, &cut, false).unwrap();
    let path = m.local_path.clone().unwrap();
    assert_eq!(m.kind, MediaKind::Clip);
    assert_eq!(m.sha256, sha256_file(&path).unwrap());
    assert_eq!(m.bytes, std::fs::metadata(&path).unwrap().len());
    assert!(!m.privacy_unredacted && !m.preroll_short);
    // Starts at or before the asked start, by less than one GOP.
    let start = MediaTime(m.start_media_ns.unwrap());
    assert!(
        start <= t(10.0) && t(10.0).secs_since(start) < gop + 1e-3,
        "start {start:?}, gop {gop}"
    );
    // The file's duration matches the reported span and the request within a GOP.
    let reported = (m.end_media_ns.unwrap() - m.start_media_ns.unwrap()) as f64 / 1e9;
    let dur = discovered_duration(&path);
    assert!(
        (dur - reported).abs() < 0.2,
        "file {dur} s vs reported {reported} s"
    );
    assert!((dur - 10.0).abs() <= gop + 0.2, "file {dur} s, gop {gop}");
    // It starts on a keyframe and every frame decodes.
    let again = load_clip(&path).unwrap();
    assert!(again.units[0].keyframe);
    let (w, h, frames) = decode_frames(&path).unwrap();
    assert_eq!((w, h), (768, 432));
    assert_eq!(frames.len(), cut.units.len());
}

#[test]
fn a_clip_asked_from_before_the_ring_is_flagged_preroll_short() {
    let (units, caps) = units("car-detection.mp4");
    let ring = ring_of(&units[100..]);
    let cut = ring.cut(t(0.0), t(15.0)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let m = write_clip(dir.path(), "clip.mp4", &caps, &cut, true).unwrap();
    assert!(m.preroll_short);
    assert!(
        m.privacy_unredacted,
        "privacy zones exist and the clip is not re-encoded"
    );
}

#[test]
fn snapshot_decodes_at_full_resolution_with_privacy_zone_black_and_digests_matching() {
    let (units, caps) = units("car-detection.mp4");
    let source = MemoryRing {
        ring: Mutex::new(ring_of(&units)),
        caps,
    };
    let dir = tempfile::tempdir().unwrap();
    let job = EvidenceJob {
        event_id: "e1".into(),
        kind: JobKind::Snapshot {
            name: "confirmation".into(),
            at: t(12.0),
            // Analysis frames at half resolution: boxes are scaled up.
            subject: BBox::new(200.0, 100.0, 300.0, 180.0),
            label: "CAR 09009".into(),
            context: vec![(BBox::new(50.0, 150.0, 90.0, 200.0), "person".into())],
            analysis_w: 384,
            analysis_h: 216,
        },
        dir: dir.path().join("e1"),
        zones: vec![privacy_zone()],
        jpeg_quality: 90,
        redacted_clip: false,
        captured: None,
        captured_fallback: None,
        picture: None,
    };
    let media = job.run(&source).unwrap();
    assert_eq!(media.len(), 2);
    for m in &media {
        let path = m.local_path.clone().unwrap();
        assert_eq!(m.sha256, sha256_file(&path).unwrap());
        let img = image::open(&path).unwrap().to_rgb8();
        assert_eq!((Some(img.width()), Some(img.height())), (m.width, m.height));
    }
    // To look at the pictures: STREETWATCH_KEEP_EVIDENCE=/some/dir.
    if let Some(keep) = std::env::var_os("STREETWATCH_KEEP_EVIDENCE") {
        for m in &media {
            std::fs::copy(
                m.local_path.as_ref().unwrap(),
                Path::new(&keep).join(&m.name),
            )
            .unwrap();
        }
    }
    let full = image::open(media[0].local_path.as_ref().unwrap())
        .unwrap()
        .to_rgb8();
    assert_eq!((full.width(), full.height()), (768, 432));
    // Privacy zone (top-left 30%) is black, well inside its border.
    for (x, y) in [(20, 20), (100, 60), (200, 110)] {
        let p = full.get_pixel(x, y).0;
        assert!(p.iter().all(|&c| c < 12), "pixel ({x},{y}) = {p:?}");
    }
    // The subject's box (scaled x2: 400..600, 200..360) is drawn red.
    let p = full.get_pixel(401, 280).0;
    assert!(p[0] > 150 && p[1] < 90 && p[2] < 90, "{p:?}");
    // The crop is the subject with margin: 200x160 plus 20% each side.
    assert_eq!((media[1].width, media[1].height), (Some(280), Some(224)));
}

#[test]
fn a_clip_job_waits_in_media_time_for_the_post_roll() {
    let (units, caps) = units("car-detection.mp4");
    let upto = units.iter().position(|u| u.time > t(15.0)).unwrap();
    let source = Arc::new(MemoryRing {
        ring: Mutex::new(ring_of(&units[..upto])),
        caps,
    });
    let dir = tempfile::tempdir().unwrap();
    let (tx, rx) = mpsc::channel();
    let worker = EvidenceWorker::spawn(source.clone(), 4, move |r| {
        let _ = tx.send(r);
    });
    worker
        .submit(EvidenceJob {
            event_id: "e2".into(),
            kind: JobKind::Clip {
                name: "clip".into(),
                from: t(8.0),
                to: t(20.0),
            },
            dir: dir.path().join("e2"),
            zones: vec![],
            jpeg_quality: 85,
            redacted_clip: false,
            captured: None,
            captured_fallback: None,
            picture: None,
        })
        .unwrap();
    assert!(
        rx.recv_timeout(Duration::from_millis(800)).is_err(),
        "ran before the ring had the post-roll"
    );
    {
        let mut r = source.ring.lock().unwrap();
        for u in &units[upto..] {
            r.push(u.clone());
        }
    }
    let done = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("job ran once the post-roll arrived");
    assert!(done.missing.is_empty(), "{:?}", done.missing);
    let media = done.media;
    assert_eq!(done.event_id, "e2");
    assert!(MediaTime(media[0].end_media_ns.unwrap()) >= t(20.0));
    worker.finish();
}

#[test]
fn the_redacted_clip_is_re_encoded_with_the_privacy_zone_black() {
    let (units, caps) = units("car-detection.mp4");
    let ring = ring_of(&units);
    let cut = ring.cut(t(5.0), t(9.0)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let m = write_redacted_clip(
        dir.path(),
        "clip-redacted.mp4",
        &caps,
        &cut,
        &[privacy_zone()],
    )
    .unwrap();
    assert!(!m.privacy_unredacted);
    let path = m.local_path.unwrap();
    assert_eq!(m.sha256, sha256_file(&path).unwrap());
    let (w, h, frames) = decode_frames(&path).unwrap();
    assert_eq!((w, h), (768, 432));
    assert!(frames.len() >= cut.units.len() - 1);
    for (f, _) in &frames {
        for (x, y) in [(20usize, 20usize), (150, 80)] {
            let i = (y * w as usize + x) * 3;
            assert!(f[i..i + 3].iter().all(|&c| c < 24), "{:?}", &f[i..i + 3]);
        }
    }
}

#[test]
fn scenario_from_the_car_park_gif_has_the_asked_duration_and_gop() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("parked.mp4");
    let spec = ScenarioSpec {
        fps: 12,
        hold_s: 20.0,
        gop_frames: 24,
        noise: 3,
        bitrate: 500_000,
    };
    let n = build_scenario(
        &support::media("person-bicycle-car-detection.gif"),
        &out,
        &spec,
    )
    .unwrap();
    // 41 GIF frames at 80 ms = 3.28 s, then 20 s held.
    let expected = 3.28 + 20.0;
    assert!(((n as f64 / 12.0) - expected).abs() < 0.2, "{n} frames");
    let dur = discovered_duration(&out);
    assert!((dur - expected).abs() < 0.3, "duration {dur}");
    let clip = load_clip(&out).unwrap();
    assert_eq!(clip.units.len() as u64, n);
    let keys: Vec<usize> = clip
        .units
        .iter()
        .enumerate()
        .filter(|(_, u)| u.keyframe)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(keys[0], 0);
    assert!(keys.windows(2).all(|w| w[1] - w[0] == 24), "{keys:?}");
}
