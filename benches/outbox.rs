//! Outbox throughput: commit only (SQLite WAL, synchronous=FULL), and commit + publish
//! + PUBACK against a local mosquitto on 127.0.0.1 (skipped when mosquitto is absent).
//!
//! `cargo bench --bench outbox` (numbers in docs/uplink.md).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use streetwatch::uplink::testutil::sample_event;
use streetwatch::uplink::{Hooks, Outbox, Uplink};

fn event(i: u32) -> streetwatch::rules::event::Event {
    let mut e = sample_event(if i.is_multiple_of(2) { "cam1" } else { "cam2" }, i);
    e.media.clear();
    e
}

fn commit(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let ob = Outbox::open(&dir.path().join("o.sqlite"), 1 << 34).unwrap();
    let mut g = c.benchmark_group("outbox");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    let mut n = 0u32;
    g.bench_function("commit", |b| {
        b.iter(|| {
            n += 1;
            ob.enqueue(&event(n)).unwrap()
        })
    });
    g.finish();
}

fn commit_publish(c: &mut Criterion) {
    if !std::path::Path::new("/usr/sbin/mosquitto").exists() {
        eprintln!("mosquitto not installed: skipping commit+publish");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = dir.path().join("m.conf");
    std::fs::write(
        &conf,
        format!("user root\nlistener {port} 127.0.0.1\nallow_anonymous true\nlog_dest none\n"),
    )
    .unwrap();
    let mut broker = Command::new("/usr/sbin/mosquitto")
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut cfg = streetwatch::config::Config::default();
    cfg.device.id = "bench".into();
    cfg.device.state_dir = dir.path().join("state");
    cfg.uplink.broker = format!("mqtt://127.0.0.1:{port}");
    let up = Uplink::start(&cfg, Hooks::default()).unwrap();
    while !up.status().connected {
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut g = c.benchmark_group("outbox");
    const BATCH: u64 = 200;
    g.throughput(Throughput::Elements(BATCH));
    g.sample_size(10);
    let mut n = 0u32;
    g.bench_function("commit_publish_ack_200", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                for _ in 0..BATCH {
                    n += 1;
                    up.enqueue(&event(n)).unwrap();
                }
                while up.health().outbox.events > 0 {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            start.elapsed()
        })
    });
    g.finish();
    up.stop();
    let _ = broker.kill();
    let _ = broker.wait();
}

criterion_group!(benches, commit, commit_publish);
criterion_main!(benches);
