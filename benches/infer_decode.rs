//! Output decoding + class-aware NMS per 1000 candidates that pass the threshold.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use streetwatch::infer::decode::{self, Candidate};
use streetwatch::infer::nms;

/// Deterministic pseudo-random values in 0..1.
fn rng(seed: &mut u64) -> f32 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (*seed >> 40) as f32 / (1u64 << 24) as f32
}

fn yolox_tensor(passing: usize) -> Vec<f32> {
    let (nc, anchors) = (80usize, 3549usize);
    let mut s = 1;
    let mut d = vec![0.0f32; anchors * (5 + nc)];
    for a in 0..anchors {
        let r = &mut d[a * (5 + nc)..(a + 1) * (5 + nc)];
        r[0] = rng(&mut s);
        r[1] = rng(&mut s);
        r[2] = rng(&mut s) * 2.0;
        r[3] = rng(&mut s) * 2.0;
        r[4] = if a < passing { 0.95 } else { 0.01 };
        r[5 + (a % 5)] = 0.9;
    }
    d
}

fn ultralytics_tensor(passing: usize) -> Vec<f32> {
    let (nc, n) = (7usize, 8400usize);
    let mut s = 2;
    let mut d = vec![0.0f32; (4 + nc) * n];
    for i in 0..n {
        d[i] = rng(&mut s) * 640.0;
        d[n + i] = rng(&mut s) * 640.0;
        d[2 * n + i] = 10.0 + rng(&mut s) * 100.0;
        d[3 * n + i] = 10.0 + rng(&mut s) * 100.0;
        d[(4 + i % nc) * n + i] = if i < passing { 0.9 } else { 0.01 };
    }
    d
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode+nms");
    g.throughput(Throughput::Elements(1000));
    let mut cands: Vec<Candidate> = Vec::with_capacity(4096);
    let (mut order, mut kept) = (Vec::new(), Vec::new());

    let y = yolox_tensor(1000);
    let thr80 = vec![0.3f32; 80];
    g.bench_function("yolox/1000", |b| {
        b.iter(|| {
            cands.clear();
            decode::yolox(black_box(&y), 416, 416, &[8, 16, 32], &thr80, &mut cands).unwrap();
            nms::class_aware(&cands, 0.45, 300, &mut order, &mut kept);
            kept.len()
        })
    });

    let u = ultralytics_tensor(1000);
    let thr7 = vec![0.25f32; 7];
    g.bench_function("ultralytics/1000", |b| {
        b.iter(|| {
            cands.clear();
            decode::ultralytics(black_box(&u), &thr7, &mut cands).unwrap();
            nms::class_aware(&cands, 0.7, 300, &mut order, &mut kept);
            kept.len()
        })
    });

    let mut s = 3;
    let boxes: Vec<f32> = (0..4000)
        .map(|i| {
            if i % 4 < 2 {
                rng(&mut s) * 500.0
            } else {
                500.0 + rng(&mut s) * 100.0
            }
        })
        .collect();
    let scores: Vec<f32> = (0..1000).map(|_| 0.5 + rng(&mut s) / 2.0).collect();
    let classes: Vec<i64> = (0..1000).map(|i| i % 7).collect();
    g.bench_function("end2end/1000", |b| {
        b.iter(|| {
            cands.clear();
            decode::end2end(black_box(&boxes), &scores, &classes, &thr7, &mut cands).unwrap();
            nms::class_aware(&cands, 0.7, 300, &mut order, &mut kept);
            kept.len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
