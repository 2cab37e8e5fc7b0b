//! Preprocessing cost per megapixel of source frame: letterbox + bilinear resize +
//! colour order + scaling + layout into the model's input tensor.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::path::Path;
use streetwatch::infer::Manifest;
use streetwatch::infer::preprocess::Preprocessor;

fn frame(w: u32, h: u32) -> Vec<u8> {
    (0..w * h * 3).map(|i| (i * 31 % 251) as u8).collect()
}

fn bench(c: &mut Criterion) {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let mut g = c.benchmark_group("preprocess");
    for id in ["yolox-nano", "rdd-yolo11n"] {
        let m = Manifest::load(&models, id).unwrap();
        let mut p = Preprocessor::new(&m.input);
        let mut out = vec![0.0f32; p.len()];
        for (w, h) in [(1000u32, 1000u32), (1920, 1080)] {
            let rgb = frame(w, h);
            g.throughput(Throughput::Elements((w * h) as u64));
            g.bench_function(format!("{id}/{w}x{h}"), |b| {
                b.iter(|| p.run(black_box(&rgb), w, h, &mut out).unwrap())
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
