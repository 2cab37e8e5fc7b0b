//! Open stays survive a restart, shown with `streetwatch replay --resume` run again on
//! the same state directory (replays restart media time with the file; the stays file
//! shifts the stored times so the second run continues the first). Videos are
//! composed at test time from the real car-park GIF (see `tests/replay_scenarios.rs`).

mod support;

use serde_json::Value;
use std::path::Path;
use streetwatch::camsim::picture::Rect;
use streetwatch::camsim::scenario::{ScenarioSpec, Segment, compose, decode_pictures};
use support::*;

/// Replays start at this wall-clock time (the `replay --start` default).
const ANCHOR_NS: i64 = 1_795_219_200_000_000_000;

const BAY: &str = "[[0.0, 0.15], [0.35, 0.15], [0.35, 0.6], [0.0, 0.6]]";

/// The bay of the GIF's last frame emptied (its region from the first frame, before
/// the car arrived), held `seconds` at 2 fps.
fn empty_bay(dir: &Path, seconds: f64) -> std::path::PathBuf {
    let frames = decode_pictures(&media("person-bicycle-car-detection.gif"), 0, u64::MAX).unwrap();
    let mut empty = frames.last().unwrap().0.clone();
    let bay = Rect::new(0, 0, 135, 118);
    empty.paste(&frames[0].0.crop(bay), bay.x, bay.y);
    let video = dir.join("empty.mp4");
    let spec = ScenarioSpec {
        fps: 2,
        hold_s: 0.0,
        gop_frames: 4,
        noise: 2,
        bitrate: 400_000,
    };
    compose(
        &video,
        &spec,
        &[Segment::Hold {
            picture: &empty,
            seconds,
        }],
    )
    .unwrap();
    video
}

/// Illegal-parking phases of one replay.
fn parking(events: &[Value]) -> Vec<&Value> {
    events
        .iter()
        .filter(|e| e["kind"] == "illegal_parking")
        .collect()
}

fn phases(events: &[&Value]) -> Vec<(String, u64)> {
    events
        .iter()
        .map(|e| {
            (
                e["phase"].as_str().unwrap().to_string(),
                e["seq"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Replays the parked car twice, then the emptied bay, all on one state directory;
/// returns the three runs' events.
fn three_runs(dir: &Path, parked: &Path, empty: &Path) -> [Vec<Value>; 3] {
    let zone = format!(
        r#"[[cameras.zones]]
id = "bay-1"
name = "禁停区 1"
polygon = {BAY}
rules = [{{ type = "no_parking", dwell_s = 20, update_every_s = 15, leave_after_s = 30 }}]"#
    );
    let cfg = replay_config(dir, "restart", "", "fps = 2.0", &zone);
    let evidence = dir.join("evidence");
    let replay = |video| replay_with(&cfg, "cam", video, &evidence, &["--resume"]);
    [replay(parked), replay(parked), replay(empty)]
}

/// The car is still parked when the first replay ends, so its case is open; the second
/// replay on the same state directory continues it (same id, next seq, no second
/// `started`, start time before the run began); a third replay of the emptied bay ends
/// it with reason `restart`. Running the whole story again in a fresh directory gives
/// the same phases at the same media times (only the ids' random bits differ).
#[test]
fn a_replay_run_again_on_the_same_state_dir_resumes_the_open_stay_then_ends_it_restart() {
    let dir = tempfile::tempdir().unwrap();
    let parked = parking_scenario(dir.path(), 40.0);
    let empty = empty_bay(dir.path(), 40.0);
    let a = dir.path().join("a");
    std::fs::create_dir_all(&a).unwrap();
    let [one, two, three] = three_runs(&a, &parked, &empty);

    let (one, two, three) = (parking(&one), parking(&two), parking(&three));
    let p1 = phases(&one);
    assert_eq!(p1.first().map(|p| p.0.as_str()), Some("started"), "{p1:?}");
    assert!(p1.iter().all(|p| p.0 != "ended"), "still parked: {p1:?}");
    let id = one[0]["id"].as_str().unwrap();
    assert!(one.iter().all(|e| e["id"] == id), "{one:#?}");
    let last = p1.last().unwrap().1;

    // Resumed: the same case, its seq continuing, never a second `started`.
    let p2 = phases(&two);
    assert!(
        !p2.is_empty(),
        "the resumed case reports while the car stays"
    );
    assert!(two.iter().all(|e| e["id"] == id), "{two:#?}");
    assert!(p2.iter().all(|p| p.0 == "updated"), "{p2:?}");
    let seqs: Vec<u64> = p2.iter().map(|p| p.1).collect();
    let want: Vec<u64> = (last + 1..=last + seqs.len() as u64).collect();
    assert_eq!(seqs, want);
    // The stay began in the first run: its start is shifted back by that run's length
    // (the parked video, ~43 s), before the second run's first frame.
    let start1 = one[0]["times"]["start_media_ns"].as_i64().unwrap();
    let start2 = two[0]["times"]["start_media_ns"].as_i64().unwrap();
    assert!(start2 < ANCHOR_NS, "{start2}");
    let shift_s = (start1 - start2) as f64 / 1e9;
    assert!((35.0..50.0).contains(&shift_s), "{shift_s}");
    let dur1 = one.last().unwrap()["duration_s"].as_f64().unwrap();
    let dur2 = two[0]["duration_s"].as_f64().unwrap();
    assert!(
        dur2 > dur1,
        "the resumed stay counts the first run: {dur1} → {dur2}"
    );

    // Not there any more: ended `restart`, same id, next seq.
    let p3 = phases(&three);
    assert_eq!(p3, [("ended".to_string(), last + seqs.len() as u64 + 1)]);
    assert_eq!(three[0]["id"], id);
    assert_eq!(three[0]["end_reason"], "restart");
    assert!(
        !a.join("state/stays/replay/cam.json").exists(),
        "nothing open is left behind"
    );

    // Deterministic: the same story in a fresh directory.
    let b = dir.path().join("b");
    std::fs::create_dir_all(&b).unwrap();
    let again = three_runs(&b, &parked, &empty);
    let norm = |runs: &[Vec<&Value>]| -> Vec<Value> {
        runs.iter()
            .flatten()
            .map(|e| {
                let mut e = (*e).clone();
                e["id"] = Value::Null;
                e["media"] = Value::Null;
                e
            })
            .collect()
    };
    let again: Vec<Vec<&Value>> = again.iter().map(|r| parking(r)).collect();
    assert_eq!(norm(&[one, two, three]), norm(&again));
}
