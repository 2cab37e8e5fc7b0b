//! Macro benchmark: decode cost per camera, full decoding vs keyframes-only, on the
//! sample videos, through the real ingest pipeline. Prints a table and JSON lines
//! (`target/bench-decode.json`). Run with `cargo bench --bench decode`.

use std::path::PathBuf;
use streetwatch::ingest::cost::{DecodeCost, measure};

fn media_dir() -> PathBuf {
    std::env::var_os("STREETWATCH_ASSETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".deps"))
        .join("media")
}

fn main() {
    // `cargo test --benches` runs bench targets with no arguments except --bench-less
    // flags; only measure when asked to benchmark.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let videos = [
        "car-detection.mp4",
        "one-by-one-person-detection.mp4",
        "bottle-detection.mp4",
    ];
    let mut json = Vec::new();
    println!(
        "{:<34} {:>6} {:>8} {:>9} {:>13} {:>13} {:>10}",
        "video", "mode", "decoded", "cpu s", "frames/cpu-s", "cpu-s/media-s", "cpu ratio"
    );
    for v in videos {
        let path = media_dir().join(v);
        if !path.is_file() {
            eprintln!("skipping {v}: not found (run make setup)");
            continue;
        }
        // Warm up caches and plugin loading once.
        let _ = measure(&path, true);
        let full = best_of(3, || measure(&path, false));
        let kf = best_of(3, || measure(&path, true));
        let ratio = kf.cpu_per_media_second() / full.cpu_per_media_second();
        for (mode, c) in [("full", &full), ("kf", &kf)] {
            println!(
                "{:<34} {:>6} {:>8} {:>9.3} {:>13.0} {:>13.4} {:>10}",
                v,
                mode,
                c.frames_decoded,
                c.cpu_seconds,
                c.frames_per_cpu_second(),
                c.cpu_per_media_second(),
                if mode == "kf" {
                    format!("{ratio:.3}")
                } else {
                    String::new()
                }
            );
        }
        json.push(serde_json::json!({"video": v, "full": full, "keyframes_only": kf, "cpu_ratio_kf_over_full": ratio}));
    }
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-decode.json");
    let _ = std::fs::write(&out, serde_json::to_string_pretty(&json).unwrap());
    println!("wrote {}", out.display());
}

/// The run with the least CPU time: noise on a shared machine only ever adds time.
fn best_of(n: usize, f: impl Fn() -> DecodeCost) -> DecodeCost {
    (0..n)
        .map(|_| f())
        .min_by(|a, b| a.cpu_seconds.total_cmp(&b.cpu_seconds))
        .unwrap()
}
