//! Encoded ring buffer: push (with eviction) and cut, the two operations on the ingest
//! hot path and the evidence path.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;
use streetwatch::ingest::{AccessUnit, EncodedRing, MediaTime};

fn units(n: u64, gop: u64, size: usize) -> Vec<AccessUnit> {
    let payload: Arc<[u8]> = Arc::from(vec![0u8; size]);
    (0..n)
        .map(|i| AccessUnit {
            pts_ns: i * 40_000_000,
            dts_ns: None,
            duration_ns: Some(40_000_000),
            time: MediaTime((i * 40_000_000) as i64),
            keyframe: i % gop == 0,
            data: payload.clone(),
        })
        .collect()
}

fn ring(c: &mut Criterion) {
    // 25 fps, GOP 50, ~4 Mbit/s (20 KB units): a typical 1080p street camera.
    let stream = units(25 * 60, 50, 20_000);
    let mut g = c.benchmark_group("ring");
    g.throughput(Throughput::Elements(stream.len() as u64));
    g.bench_function("push_60s_of_25fps_with_20s_preroll", |b| {
        b.iter(|| {
            let mut r = EncodedRing::new(20.0, 256 << 20);
            for u in &stream {
                r.push(u.clone());
            }
            black_box(r.len())
        })
    });
    let mut r = EncodedRing::new(20.0, 256 << 20);
    for u in &stream {
        r.push(u.clone());
    }
    g.throughput(Throughput::Elements(1));
    g.bench_function("cut_20s_clip_from_full_ring", |b| {
        b.iter(|| {
            black_box(
                r.cut(
                    MediaTime::from_secs_f64(45.0),
                    MediaTime::from_secs_f64(59.0),
                )
                .unwrap()
                .units
                .len(),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, ring);
criterion_main!(benches);
