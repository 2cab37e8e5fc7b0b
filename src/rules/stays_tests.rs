//! Persist, restore, resume and end open stays, through the per-camera façade on
//! synthetic detections: one `CameraEvents` plays the run before the restart, a fresh
//! one (as a restarted process builds it) the run after.

use std::sync::Arc;

use super::*;
use crate::infer::Detection;
use crate::rules::engine::{CameraContext, CameraEvents, EventsConfig, FrameOutput};
use crate::rules::event::{CameraRef, DeviceRef, ModelRef};
use crate::rules::output::CaptureRequest;
use crate::rules::schedule::Schedule;
use crate::rules::zone::{Polygon, Zone, ZoneRule};

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

fn zone(id: &str, rule: ZoneRule) -> Zone {
    Zone {
        id: id.into(),
        name: "东门".into(),
        polygon: Polygon(vec![[0.5, 0.3], [1.0, 0.3], [1.0, 1.0], [0.5, 1.0]]),
        location: "人民大道".into(),
        coordinates: None,
        grid_code: None,
        asset_id: None,
        preset: None,
        rules: vec![rule],
        filter: Default::default(),
    }
}

/// dwell 180 s, updates every 300 s, leave after 60 s.
fn no_parking() -> Zone {
    zone(
        "gate",
        ZoneRule::NoParking {
            merge_window_s: 0.0,
            evidence_interval_s: None,
            dwell_s: 180.0,
            update_every_s: 300.0,
            leave_after_s: 60.0,
            schedule: Schedule::always(),
        },
    )
}

/// persist 60 s, gone after 120 s.
fn litter_watch() -> Zone {
    zone(
        "square",
        ZoneRule::LitterWatch {
            merge_window_s: 0.0,
            persist_s: 60.0,
            gone_after_s: 120.0,
            schedule: Schedule::always(),
        },
    )
}

fn det(category: &str, class: &str, b: BBox) -> Detection {
    Detection {
        category: Category::new(category),
        class_name: class.into(),
        class_id: 0,
        score: 0.9,
        bbox: b,
        model_id: Arc::from("m"),
    }
}

fn car() -> Detection {
    det(
        "vehicle.car",
        "car",
        BBox::new(1300.0, 640.0, 1500.0, 760.0),
    )
}

fn bicycle() -> Detection {
    det(
        "vehicle.bicycle",
        "bicycle",
        BBox::new(1300.0, 640.0, 1500.0, 760.0),
    )
}

fn bottle() -> Detection {
    det(
        "object.bottle",
        "bottle",
        BBox::new(1400.0, 800.0, 1440.0, 880.0),
    )
}

fn engine(zones: Vec<Zone>, dir: &Path) -> CameraEvents {
    CameraEvents::new(ctx(), zones, EventsConfig::default(), dir).unwrap()
}

/// Frames every second from `from` to `to` (inclusive) with `dets`.
fn run(ev: &mut CameraEvents, from: f64, to: f64, dets: &[Detection]) -> FrameOutput {
    let mut all = FrameOutput::default();
    let mut s = from;
    while s <= to + 1e-9 {
        let o = ev.on_frame(at(s), W, H, dets).unwrap();
        all.events.extend(o.events);
        all.evidence.extend(o.evidence);
        all.abandoned.extend(o.abandoned);
        s += 1.0;
    }
    all
}

fn keys(out: &FrameOutput) -> Vec<(Phase, u32)> {
    out.events.iter().map(|e| (e.phase, e.seq)).collect()
}

fn snapshots(out: &FrameOutput) -> Vec<&'static str> {
    out.evidence
        .iter()
        .filter_map(|r| match r.capture {
            CaptureRequest::Snapshot { name, .. } => Some(name),
            CaptureRequest::Clip { .. } => None,
        })
        .collect()
}

/// A car parked 200 s: `started` decided at the 180 s dwell; returns the engine, the
/// started phase and the file a kill at 200 s would leave.
fn parked_then_killed(dir: &Path) -> (Event, StaysFile) {
    let mut ev = engine(vec![no_parking()], dir);
    let out = run(&mut ev, 0.0, 200.0, &[car()]);
    assert_eq!(keys(&out), [(Phase::Started, 0)]);
    let file = ev.take_stays().expect("a started stay changes the file");
    (out.events[0].clone(), file)
}

fn all(_: &str) -> Committed {
    Committed::All
}

fn only(keys: Vec<(Phase, u32)>) -> impl Fn(&str) -> Committed {
    move |_| Committed::Keys(keys.clone())
}

#[test]
fn a_confirmed_stay_is_persisted_with_its_id_seq_zone_box_and_started_phase() {
    let dir = tempfile::tempdir().unwrap();
    let (started, file) = parked_then_killed(dir.path());
    assert_eq!(file.camera, "cam1");
    assert_eq!(file.saved_media_ns, at(200.0).0);
    let [s] = &file.stays[..] else {
        panic!("{file:#?}")
    };
    assert_eq!(
        (s.kind, s.id.as_str()),
        (EventKind::IllegalParking, started.id.as_str())
    );
    assert_eq!(s.next_seq, 1);
    assert_eq!(s.zone_id, "gate");
    assert_eq!(
        (s.category.as_str(), s.class_name.as_str()),
        ("vehicle.car", "car")
    );
    assert!(s.anchor.iou(&car().bbox) > 0.9, "{:?}", s.anchor);
    assert_eq!(s.start_media_ns, started.times.start_media_ns);
    assert!(!s.started_committed, "its commit is not known yet");
    assert!(s.started.media.is_empty());
    assert_eq!((s.started.phase, s.started.seq), (Phase::Started, 0));
    // Only changes write: the next frames change nothing.
    let mut ev = engine(vec![no_parking()], dir.path());
    run(&mut ev, 0.0, 10.0, &[car()]);
    assert!(ev.take_stays().is_none(), "a candidate is not persisted");
    // Round trip through the file, atomically replaced; an empty state removes it.
    let path = stays_path(dir.path(), "cam1");
    save(&path, &file).unwrap();
    assert_eq!(load(&path).unwrap(), Some(file.clone()));
    save(&path, &StaysFile::new("cam1", at(0.0))).unwrap();
    assert!(!path.exists());
    assert_eq!(load(&path).unwrap(), None);
}

#[test]
fn a_restored_stay_whose_car_is_still_there_keeps_its_id_and_continues_its_seq() {
    let dir = tempfile::tempdir().unwrap();
    let (started, file) = parked_then_killed(dir.path());
    let mut ev = engine(vec![no_parking()], dir.path());
    assert!(ev.restore_stays(file, MediaClock::Wall, &all).is_empty());
    // Down 20 s; the car is still there: it must not open a second case (the old
    // behaviour: a new id after another 180 s dwell).
    let mut out = run(&mut ev, 220.0, 600.0, &[car()]);
    assert!(
        out.events.iter().all(|e| e.id == started.id),
        "{:#?}",
        out.events
    );
    assert_eq!(keys(&out), [(Phase::Updated, 1)], "{:#?}", out.events);
    // The update comes on schedule from the decided `started` (185 s + 300 s).
    let upd = &out.events[0];
    let secs = (upd.times.start_media_ns - at(0.0).0) as f64 / 1e9;
    assert_eq!(
        upd.times.start_media_ns, started.times.start_media_ns,
        "{secs}"
    );
    assert!(snapshots(&out).is_empty(), "{:?}", snapshots(&out));
    let gone = run(&mut ev, 601.0, 700.0, &[]);
    out.events.extend(gone.events.clone());
    assert_eq!(keys(&gone), [(Phase::Ended, 2)]);
    let ended = &gone.events[0];
    assert_eq!(ended.id, started.id);
    assert_eq!(ended.end_reason, Some(EndReason::Gone));
    // Its duration counts the whole stay, the restart included.
    assert!(ended.duration_s.unwrap() > 590.0, "{:?}", ended.duration_s);
    // Ended: nothing open any more, and the file says so.
    let f = ev.take_stays().unwrap();
    assert!(f.stays.is_empty());
    assert_eq!(f.closing.len(), 1, "the ended phase waits for its commit");
}

#[test]
fn time_paused_and_patrol_visits_before_a_restart_are_kept_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let (started, mut file) = parked_then_killed(dir.path());
    // Files written before these fields existed still load (nothing paused).
    assert_eq!((file.stays[0].paused_s, file.stays[0].visits), (0.0, 0));
    let json = serde_json::to_string(&file).unwrap();
    assert!(!json.contains("paused_s"), "{json}");
    // The camera had looked elsewhere 42 s and found the car on 2 later visits.
    file.stays[0].paused_s = 42.0;
    file.stays[0].visits = 2;
    let path = stays_path(dir.path(), "cam1");
    save(&path, &file).unwrap();
    let file = load(&path).unwrap().unwrap();
    assert_eq!((file.stays[0].paused_s, file.stays[0].visits), (42.0, 2));
    let mut ev = engine(vec![no_parking()], dir.path());
    assert!(ev.restore_stays(file, MediaClock::Wall, &all).is_empty());
    let out = run(&mut ev, 220.0, 600.0, &[car()]);
    assert_eq!(keys(&out), [(Phase::Updated, 1)], "{:#?}", out.events);
    let upd = &out.events[0];
    assert_eq!(upd.id, started.id);
    assert_eq!(upd.details.get("paused_s"), Some(&serde_json::json!(42.0)));
    assert_eq!(upd.details.get("visits"), Some(&serde_json::json!(3)));
    // And they are written again with the case.
    let again = ev.stays_file();
    assert_eq!((again.stays[0].paused_s, again.stays[0].visits), (42.0, 2));
}

#[test]
fn a_restored_stay_whose_car_is_gone_ends_with_reason_restart_after_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let (started, file) = parked_then_killed(dir.path());
    let mut ev = engine(vec![no_parking()], dir.path());
    ev.restore_stays(file.clone(), MediaClock::Wall, &all);
    // Grace: max(leave_after_s 60, stationary 5 + 15) = 60 s from the first frame.
    let quiet = run(&mut ev, 230.0, 289.0, &[]);
    assert!(quiet.events.is_empty(), "{:#?}", quiet.events);
    let out = run(&mut ev, 290.0, 300.0, &[]);
    assert_eq!(keys(&out), [(Phase::Ended, 1)]);
    let e = &out.events[0];
    assert_eq!(e.id, started.id);
    assert_eq!(e.end_reason, Some(EndReason::Restart));
    // Ended at its last stored sighting, with a snapshot of the empty bay.
    assert_eq!(e.times.end_media_ns, Some(file.stays[0].last_seen_media_ns));
    assert_eq!(snapshots(&out), ["ended"]);
    assert_eq!(out.evidence[0].event_id, started.id);
    let json = serde_json::to_value(e).unwrap();
    assert_eq!(json["end_reason"], "restart");
    // A car arriving later in the same bay is a new case.
    let later = run(&mut ev, 301.0, 500.0, &[car()]);
    assert_eq!(keys(&later), [(Phase::Started, 0)]);
    assert_ne!(later.events[0].id, started.id);
}

#[test]
fn another_vehicle_family_in_the_bay_does_not_resume_the_case() {
    let dir = tempfile::tempdir().unwrap();
    let (started, file) = parked_then_killed(dir.path());
    let mut ev = engine(vec![no_parking()], dir.path());
    ev.restore_stays(file, MediaClock::Wall, &all);
    let out = run(&mut ev, 220.0, 300.0, &[bicycle()]);
    assert_eq!(keys(&out), [(Phase::Ended, 1)], "{:#?}", out.events);
    assert_eq!(out.events[0].id, started.id);
    assert_eq!(out.events[0].end_reason, Some(EndReason::Restart));
}

#[test]
fn a_started_lost_before_its_commit_is_decided_again_with_fresh_evidence_when_resumed() {
    let dir = tempfile::tempdir().unwrap();
    let (started, file) = parked_then_killed(dir.path());
    let mut ev = engine(vec![no_parking()], dir.path());
    // The outbox has nothing of this id: the kill came while the clip was written.
    ev.restore_stays(file, MediaClock::Wall, &only(vec![]));
    let out = run(&mut ev, 220.0, 240.0, &[car()]);
    assert_eq!(keys(&out), [(Phase::Started, 0)], "{:#?}", out.events);
    let again = &out.events[0];
    assert_eq!(again.id, started.id);
    assert_eq!(again.times.start_media_ns, started.times.start_media_ns);
    assert!(!again.details.contains_key("resent_after_restart"));
    assert_eq!(snapshots(&out), ["confirmation"]);
    assert!(out.evidence.iter().all(|r| r.event_id == started.id));
    assert!(
        out.evidence
            .iter()
            .any(|r| matches!(r.capture, CaptureRequest::Clip { .. }))
    );
    // Then it goes on as any case: updated seq 1, ended seq 2.
    let rest = run(&mut ev, 241.0, 700.0, &[car()]);
    assert_eq!(keys(&rest), [(Phase::Updated, 1)]);
    let end = run(&mut ev, 701.0, 800.0, &[]);
    assert_eq!(keys(&end), [(Phase::Ended, 2)]);
}

#[test]
fn a_started_lost_before_its_commit_is_sent_as_stored_before_ended_when_not_resumed() {
    let dir = tempfile::tempdir().unwrap();
    let (started, file) = parked_then_killed(dir.path());
    let mut ev = engine(vec![no_parking()], dir.path());
    ev.restore_stays(file, MediaClock::Wall, &only(vec![]));
    let out = run(&mut ev, 220.0, 300.0, &[]);
    assert_eq!(
        keys(&out),
        [(Phase::Started, 0), (Phase::Ended, 1)],
        "{:#?}",
        out.events
    );
    let (s, e) = (&out.events[0], &out.events[1]);
    assert_eq!(
        (s.id.as_str(), e.id.as_str()),
        (started.id.as_str(), started.id.as_str())
    );
    assert_eq!(s.times, started.times, "the decided started, as it was");
    assert_eq!(s.details["resent_after_restart"], true);
    assert_eq!(e.end_reason, Some(EndReason::Restart));
    // No snapshot: it would be attached to the re-sent started.
    assert!(out.evidence.is_empty());
    // Both wait in the file until a start finds them committed.
    let f = ev.take_stays().unwrap();
    assert_eq!(
        f.closing
            .iter()
            .map(|e| (e.phase, e.seq))
            .collect::<Vec<_>>(),
        [(Phase::Started, 0), (Phase::Ended, 1)]
    );
}

#[test]
fn the_next_seq_continues_after_the_last_committed_phase() {
    let dir = tempfile::tempdir().unwrap();
    let mut ev = engine(vec![no_parking()], dir.path());
    let out = run(&mut ev, 0.0, 800.0, &[car()]);
    // started 0 at 185 s, updated 1 at 485 s, updated 2 at 785 s.
    assert_eq!(
        keys(&out),
        [
            (Phase::Started, 0),
            (Phase::Updated, 1),
            (Phase::Updated, 2)
        ]
    );
    let file = ev.take_stays().unwrap();
    assert_eq!(file.stays[0].next_seq, 3);
    // Killed before `updated 2` was committed: that seq is free again, so the
    // platform sees 0, 1, 2 with no gap.
    let mut after = engine(vec![no_parking()], dir.path());
    let c = only(vec![(Phase::Started, 0), (Phase::Updated, 1)]);
    after.restore_stays(file.clone(), MediaClock::Wall, &c);
    // (The lost update was due at 780 s; the next one 300 s later.)
    let out = run(&mut after, 810.0, 1100.0, &[car()]);
    assert_eq!(keys(&out), [(Phase::Updated, 2)], "{:#?}", out.events);
    // Outbox unreadable: keep counting from the file (a gap, never a reused key), and
    // the stored started is decided again (the outbox ignores a key it has).
    let mut unknown = engine(vec![no_parking()], dir.path());
    unknown.restore_stays(file, MediaClock::Wall, &|_: &str| Committed::Unknown);
    let out = run(&mut unknown, 810.0, 900.0, &[car()]);
    assert_eq!(keys(&out), [(Phase::Started, 0)]);
    let out = run(&mut unknown, 901.0, 1200.0, &[car()]);
    assert_eq!(keys(&out), [(Phase::Updated, 3)]);
}

#[test]
fn a_stay_is_not_resumed_after_a_long_outage_or_when_its_zone_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let (started, file) = parked_then_killed(dir.path());
    // Down for an hour: the car in the bay may be another one.
    let mut ev = engine(vec![no_parking()], dir.path());
    ev.restore_stays(file.clone(), MediaClock::Wall, &all);
    let out = run(&mut ev, 3800.0, 3800.0, &[car()]);
    assert_eq!(keys(&out), [(Phase::Ended, 1)]);
    assert_eq!(out.events[0].id, started.id);
    assert_eq!(out.events[0].end_reason, Some(EndReason::Restart));
    // The zone was removed from the config while the box was down.
    let other = zone(
        "other",
        ZoneRule::NoParking {
            merge_window_s: 0.0,
            evidence_interval_s: None,
            dwell_s: 180.0,
            update_every_s: 300.0,
            leave_after_s: 60.0,
            schedule: Schedule::always(),
        },
    );
    let mut ev = engine(vec![other], dir.path());
    ev.restore_stays(file, MediaClock::Wall, &all);
    let out = run(&mut ev, 220.0, 220.0, &[car()]);
    assert_eq!(keys(&out), [(Phase::Ended, 1)]);
    assert_eq!(out.events[0].end_reason, Some(EndReason::ZoneRemoved));
}

#[test]
fn closing_phases_wait_in_the_file_and_are_sent_again_only_when_the_outbox_lacks_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut ev = engine(vec![no_parking()], dir.path());
    let mut out = run(&mut ev, 0.0, 200.0, &[car()]);
    out.events.extend(run(&mut ev, 201.0, 300.0, &[]).events);
    assert_eq!(keys(&out), [(Phase::Started, 0), (Phase::Ended, 1)]);
    let file = ev.take_stays().unwrap();
    assert!(file.stays.is_empty());
    assert_eq!(file.closing.len(), 1);
    // Committed before the kill: forgotten.
    let mut a = engine(vec![no_parking()], dir.path());
    let c = only(vec![(Phase::Started, 0), (Phase::Ended, 1)]);
    assert!(
        a.restore_stays(file.clone(), MediaClock::Wall, &c)
            .is_empty()
    );
    run(&mut a, 400.0, 400.0, &[]);
    let mut f = a.take_stays().unwrap();
    a.prune_closing(&c);
    f.closing.retain(|e| !is_committed(e, &c(&e.id)));
    assert!(f.is_empty(), "{f:#?}");
    // Lost at the kill: sent again, with its key and reason.
    let mut b = engine(vec![no_parking()], dir.path());
    let again = b.restore_stays(file, MediaClock::Wall, &only(vec![(Phase::Started, 0)]));
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].phase, again[0].seq), (Phase::Ended, 1));
    assert_eq!(again[0].end_reason, Some(EndReason::Gone));
}

#[test]
fn a_replay_run_again_continues_its_stays_on_shifted_media_time() {
    let dir = tempfile::tempdir().unwrap();
    let (started, file) = parked_then_killed(dir.path());
    // A replay starts again at the same media time; the stay continues as if the new
    // run followed the last saved frame (200 s) at once.
    let mut ev = engine(vec![no_parking()], dir.path());
    ev.restore_stays(file.clone(), MediaClock::Restarts, &all);
    let out = run(&mut ev, 0.0, 400.0, &[car()]);
    assert_eq!(keys(&out), [(Phase::Updated, 1)], "{:#?}", out.events);
    let u = &out.events[0];
    assert_eq!(u.id, started.id);
    // Every stored time moves by the same shift: the start stays before the second
    // run's first frame, and the update comes 300 s after the confirmation.
    let shift = at(0.0).0 - at(200.0).0;
    assert_eq!(u.times.start_media_ns, started.times.start_media_ns + shift);
    let due = MediaTime(file.stays[0].last_report_media_ns + shift).add_secs(300.0);
    assert_eq!(u.times.reported, rfc3339(due, chrono_tz::Asia::Shanghai));
    // The same input twice gives the same phases at the same times.
    let mut again = engine(vec![no_parking()], dir.path());
    again.restore_stays(file, MediaClock::Restarts, &all);
    let out2 = run(&mut again, 0.0, 400.0, &[car()]);
    assert_eq!(
        serde_json::to_value(&out.events).unwrap(),
        serde_json::to_value(&out2.events).unwrap()
    );
}

#[test]
fn exposed_garbage_is_resumed_when_the_litter_is_still_there_and_ended_restart_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let mut ev = engine(vec![litter_watch()], dir.path());
    let out = run(&mut ev, 0.0, 70.0, &[bottle()]);
    assert_eq!(keys(&out), [(Phase::Started, 0)]);
    let started = out.events[0].clone();
    assert_eq!(started.kind, EventKind::ExposedGarbage);
    let file = ev.take_stays().unwrap();
    assert_eq!(file.stays.len(), 1);
    assert_eq!(file.stays[0].kind, EventKind::ExposedGarbage);
    // Still there after the restart: the same case, ended once it is cleared.
    let mut a = engine(vec![litter_watch()], dir.path());
    a.restore_stays(file.clone(), MediaClock::Wall, &all);
    let stay = run(&mut a, 90.0, 300.0, &[bottle()]);
    assert!(stay.events.is_empty(), "{:#?}", stay.events);
    let gone = run(&mut a, 301.0, 450.0, &[]);
    assert_eq!(keys(&gone), [(Phase::Ended, 1)]);
    assert_eq!(gone.events[0].id, started.id);
    assert_eq!(gone.events[0].end_reason, Some(EndReason::Gone));
    // Cleared while the box was down: ended `restart` after the grace (120 s).
    let mut b = engine(vec![litter_watch()], dir.path());
    b.restore_stays(file.clone(), MediaClock::Wall, &all);
    let quiet = run(&mut b, 90.0, 210.0, &[]);
    assert!(quiet.events.is_empty());
    let end = run(&mut b, 211.0, 215.0, &[]);
    assert_eq!(keys(&end), [(Phase::Ended, 1)]);
    assert_eq!(end.events[0].id, started.id);
    assert_eq!(end.events[0].end_reason, Some(EndReason::Restart));
    // Its started never committed and the litter is still there: reported again, same
    // id, with a fresh snapshot.
    let mut c = engine(vec![litter_watch()], dir.path());
    c.restore_stays(file, MediaClock::Wall, &only(vec![]));
    let again = run(&mut c, 90.0, 95.0, &[bottle()]);
    assert_eq!(keys(&again), [(Phase::Started, 0)]);
    assert_eq!(again.events[0].id, started.id);
    assert_eq!(snapshots(&again), ["garbage"]);
}

#[test]
fn the_cases_of_a_removed_camera_are_closed_without_frames() {
    let dir = tempfile::tempdir().unwrap();
    let (started, file) = parked_then_killed(dir.path());
    let tz = chrono_tz::Asia::Shanghai;
    // Started committed: one `ended` with reason camera_removed at the last sighting.
    let c = only(vec![(Phase::Started, 0)]);
    let out = close_all(
        reconcile(file.clone(), &c),
        at(500.0),
        EndReason::CameraRemoved,
        tz,
    );
    assert_eq!(out.len(), 1);
    let e = &out[0];
    assert_eq!(
        (e.id.as_str(), e.phase, e.seq),
        (started.id.as_str(), Phase::Ended, 1)
    );
    assert_eq!(e.end_reason, Some(EndReason::CameraRemoved));
    assert_eq!(e.times.end_media_ns, Some(file.stays[0].last_seen_media_ns));
    assert!(
        e.times.reported.starts_with("2026-11-23T12:08:20"),
        "{}",
        e.times.reported
    );
    let rec = &file.stays[0];
    let secs = (rec.last_seen_media_ns - rec.start_media_ns) as f64 / 1e9;
    assert_eq!(e.duration_s, Some(secs));
    assert!(secs > 190.0, "{secs}");
    assert!(e.description.en.contains("min") || e.description.en.contains('s'));
    assert_ne!(
        e.description, started.description,
        "the duration is re-described"
    );
    // Started lost at the kill: sent as stored first.
    let out = close_all(
        reconcile(file, &only(vec![])),
        at(500.0),
        EndReason::CameraRemoved,
        tz,
    );
    assert_eq!(
        out.iter().map(|e| (e.phase, e.seq)).collect::<Vec<_>>(),
        [(Phase::Started, 0), (Phase::Ended, 1)]
    );
}

#[test]
fn a_damaged_or_foreign_file_is_refused_not_misread() {
    let dir = tempfile::tempdir().unwrap();
    let path = stays_path(dir.path(), "cam1");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, b"{\"version\": 1, \"camera\": ").unwrap();
    assert!(matches!(load(&path), Err(StaysError::Format { .. })));
    std::fs::write(
        &path,
        br#"{"version": 9, "camera": "cam1", "saved_media_ns": 0, "saved_wall_ms": 0}"#,
    )
    .unwrap();
    let e = load(&path).unwrap_err().to_string();
    assert!(e.contains("version 9"), "{e}");
}

/// A generic `dwell` rule of kind `street_vending` (codes from GB/T 30428.2).
fn vending() -> Zone {
    zone(
        "stall",
        ZoneRule::Dwell {
            kind: "street_vending".into(),
            categories: vec!["object.umbrella".into()],
            dwell_s: 60.0,
            update_every_s: 300.0,
            leave_after_s: 60.0,
            merge_window_s: 0.0,
            schedule: Schedule::always(),
        },
    )
}

fn umbrella() -> Detection {
    det(
        "object.umbrella",
        "umbrella",
        BBox::new(1300.0, 500.0, 1500.0, 700.0),
    )
}

fn vending_engine(dir: &Path) -> CameraEvents {
    let config: EventsConfig =
        toml::from_str("[categories]\ntable = \"gbt-30428.2-2013\"\n").unwrap();
    CameraEvents::new(ctx(), vec![vending()], config, dir).unwrap()
}

#[test]
fn a_generic_dwell_case_is_resumed_after_a_restart_with_its_id_and_seq() {
    let dir = tempfile::tempdir().unwrap();
    let mut ev = vending_engine(dir.path());
    let out = run(&mut ev, 0.0, 100.0, &[umbrella()]);
    assert_eq!(keys(&out), [(Phase::Started, 0)]);
    let started = out.events[0].clone();
    assert_eq!(started.kind.as_str(), "street_vending");
    let file = ev.take_stays().expect("a started case is persisted");
    assert_eq!(file.stays.len(), 1);
    assert_eq!(file.stays[0].kind.as_str(), "street_vending");
    // The file round-trips the configured kind.
    let path = stays_path(dir.path(), "cam1");
    save(&path, &file).unwrap();
    let file = load(&path).unwrap().unwrap();
    // Restarted 20 s later; the stall is still there: the same case goes on.
    let mut ev = vending_engine(dir.path());
    assert!(ev.restore_stays(file, MediaClock::Wall, &all).is_empty());
    let mut out = run(&mut ev, 120.0, 200.0, &[umbrella()]);
    out.events.extend(run(&mut ev, 201.0, 300.0, &[]).events);
    assert_eq!(keys(&out), [(Phase::Ended, 1)], "{:#?}", out.events);
    assert_eq!(out.events[0].id, started.id);
    assert_eq!(out.events[0].end_reason, Some(EndReason::Gone));
    assert_eq!(out.events[0].category.code, "0501");
}
