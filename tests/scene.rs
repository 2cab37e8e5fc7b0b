//! Scene integrity: tampering alarms (moved, blocked, defocused) on pictures composed
//! from the sample media, and the false-alarm rate on the sample videos themselves.
mod support;

use std::time::Instant;
use streetwatch::camsim::scenario::decode_pictures;
use streetwatch::ingest::MediaTime;
use streetwatch::rules::output::RuleOutput;
use streetwatch::rules::scene::reference::ReferenceStore;
use streetwatch::rules::scene::tamper::{Prepared, TamperConfig, TamperMonitor};

const SAMPLES: [&str; 4] = [
    "car-detection.mp4",
    "one-by-one-person-detection.mp4",
    "bottle-detection.mp4",
    "person-bicycle-car-detection.gif",
];

/// Every sample video (busy traffic seen from above, people walking up to the
/// camera, a conveyor of moving bottles, a car park with a car parking), looped for
/// 10 minutes of media time through the tampering checks as the daemon runs them
/// (default settings: one check a second, reference set automatically after 5 s):
/// no alarm, and no check that would pause the rules. Pictures are decoded once (one
/// a second, each shown until the next) and replayed with media time running on, so
/// each loop samples other moments of the clip when its length is not a whole number
/// of seconds. What a check computes from the picture alone (grey copy, feature
/// points, texture, sharpness: `Prepared`) is computed once per distinct picture, as
/// it would come out the same on every loop; every check still matches it against
/// the reference and runs the alarm logic.
#[test]
fn sample_videos_looped_ten_minutes_raise_no_tampering_alarm() {
    const LOOP_S: f64 = 600.0;
    let t0 = Instant::now();
    let results: Vec<(String, u64, usize, usize)> = std::thread::scope(|s| {
        let handles: Vec<_> = SAMPLES
            .iter()
            .map(|name| {
                s.spawn(move || {
                    let pics: Vec<(Prepared, u32, u32, u64)> =
                        decode_pictures(&support::media(name), 1_000_000_000, u64::MAX)
                            .expect("decode the sample video")
                            .into_iter()
                            .map(|(p, d)| {
                                (
                                    Prepared::of(p.width, p.height, &p.rgb).unwrap(),
                                    p.width,
                                    p.height,
                                    d,
                                )
                            })
                            .collect();
                    let mut m =
                        TamperMonitor::new(TamperConfig::default(), ReferenceStore::in_memory());
                    let start = MediaTime::from_secs_f64(1_800_000_000.0);
                    m.set_view(Some("fixed"), start);
                    let (mut t, mut alarms, mut paused) = (0u64, 0usize, 0usize);
                    'outer: loop {
                        for (p, w, h, dur) in &pics {
                            let now = MediaTime(start.0 + t as i64);
                            let mut out = m.picture_arrived(now, *w, *h);
                            if m.wants_check(now) {
                                out.extend(m.check(now, p));
                                paused += m.pause_reason().is_some() as usize;
                            }
                            alarms += out
                                .iter()
                                .filter(|o| matches!(o, RuleOutput::Phase { .. }))
                                .count();
                            t += dur;
                            if t as f64 / 1e9 >= LOOP_S {
                                break 'outer;
                            }
                        }
                    }
                    (name.to_string(), m.checks(), alarms, paused)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (name, checks, alarms, paused) in &results {
        eprintln!(
            "false alarms: {name}: 600 s of media, {checks} checks, {alarms} tampering phases, {paused} checks pausing the rules"
        );
    }
    eprintln!("false alarms: {:.1} s wall", t0.elapsed().as_secs_f64());
    for (name, checks, alarms, paused) in &results {
        assert!(*checks >= 500, "{name}: only {checks} checks in 10 minutes");
        assert_eq!(*alarms, 0, "{name}: tampering alarms on an untouched video");
        assert_eq!(*paused, 0, "{name}: rules paused on an untouched video");
    }
}
