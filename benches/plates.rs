//! Plate reading accuracy on rendered plates (the README's plate table):
//!
//!     cargo bench --bench plates [-- --per-width N --widths 40,60,90 --recogniser clp-rec]
//!
//! Cars come from the sample media (found by YOLOX-nano), plates are rendered in the
//! standard layouts with the CJK font, pasted with perspective, blurred, noised and
//! JPEG-compressed (src/camsim/plate_eval.rs). Prints a Markdown table and writes
//! target/bench-plates.json.

use std::path::PathBuf;

use streetwatch::camsim::plate::PlateStyle;
use streetwatch::camsim::plate_eval::{Degrade, car_crops, sweep, table};
use streetwatch::config::InferenceConfig;
use streetwatch::evidence::plate::PlateConfig;
use streetwatch::infer::Detector;
use streetwatch::infer::plate::PlateReader;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let assets = std::env::var_os("STREETWATCH_ASSETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".deps"));
    let cfg = InferenceConfig {
        models_dir: root.join("models"),
        weights_dir: assets.join("models"),
        ..InferenceConfig::default()
    };
    let per_width: usize = arg("--per-width")
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let widths: Vec<u32> = arg("--widths")
        .unwrap_or_else(|| "40,50,60,70,80,90,110,140,200".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let policy = PlateConfig::default();
    let recogniser = arg("--recogniser").unwrap_or(policy.recogniser.clone());
    let reader = PlateReader::load(&cfg, &policy.detector, &recogniser)
        .unwrap_or_else(|e| panic!("plate models (run make setup): {e}"));
    let mut det = Detector::load(&cfg, "yolox-nano").expect("yolox-nano (run make setup)");
    let mut cars = Vec::new();
    for v in ["person-bicycle-car-detection.gif", "car-detection.mp4"] {
        cars.extend(
            car_crops(&mut det, &assets.join("media").join(v), 0.2, 6).expect("sample media"),
        );
    }
    let t0 = std::time::Instant::now();
    let rows = sweep(
        &reader,
        &cars,
        &widths,
        &[PlateStyle::Blue, PlateStyle::Green],
        per_width,
        &Degrade::default(),
        &policy,
        2026,
    )
    .expect("sweep");
    println!(
        "plate reading, {} + {recogniser}, {} car pictures, {per_width} plates per row ({:.0} s)\n",
        policy.detector,
        cars.len(),
        t0.elapsed().as_secs_f64()
    );
    println!("{}", table(&rows));
    let out = root.join("target/bench-plates.json");
    let json = serde_json::json!({
        "detector": policy.detector, "recogniser": recogniser, "cars": cars.len(),
        "degrade": Degrade::default(), "min_width_px": policy.min_width_px,
        "min_confidence": policy.min_confidence, "rows": rows,
    });
    let _ = std::fs::write(&out, serde_json::to_string_pretty(&json).unwrap());
    println!("written {}", out.display());
}
