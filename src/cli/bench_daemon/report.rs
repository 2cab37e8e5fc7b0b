//! The benchmark's tables: side by side (daemon vs peer, ratio with its spread) and
//! capacity per mode.

use super::Mode;
use super::capacity::Capacity;
use super::measure::{Run, loadavg as load_now};
use serde::Serialize;
use std::fmt::Write;

#[derive(Debug, Serialize)]
pub struct Output {
    pub machine: String,
    pub load_before: f64,
    pub window_s: f64,
    pub repeats: usize,
    pub peer_mode: String,
    pub side_by_side: Vec<SideBySide>,
    pub capacity: Vec<Capacity>,
    pub seconds: f64,
}

#[derive(Debug, Serialize)]
pub struct SideBySide {
    pub mode: Mode,
    pub cameras: usize,
    pub daemon: Vec<Run>,
    pub peer: Vec<Run>,
    /// daemon CPU / peer CPU of each pair of alternating runs.
    pub ratios: Vec<f64>,
}

impl SideBySide {
    pub fn new(mode: Mode, cameras: usize, daemon: Vec<Run>, peer: Vec<Run>) -> Self {
        let ratios = daemon
            .iter()
            .zip(&peer)
            .map(|(d, p)| d.cpu_cores / p.cpu_cores.max(1e-9))
            .collect();
        Self {
            mode,
            cameras,
            daemon,
            peer,
            ratios,
        }
    }
}

pub fn machine() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    format!("{cores} cores, {model}")
}

pub fn loadavg() -> f64 {
    load_now()
}

/// "median (min–max)" of a sample.
fn spread(v: &[f64], digits: usize) -> String {
    if v.is_empty() {
        return "-".into();
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let med = s[s.len() / 2];
    if s.len() == 1 {
        format!("{med:.digits$}")
    } else {
        format!(
            "{med:.digits$} ({:.digits$}–{:.digits$})",
            s[0],
            s[s.len() - 1]
        )
    }
}

fn drops(runs: &[Run]) -> String {
    let d: u64 = runs.iter().map(|r| r.dropped).sum();
    let o: u64 = runs.iter().map(|r| r.offered).sum();
    format!("{d} of {o}")
}

fn latency(runs: &[Run]) -> String {
    let p99: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.latency_committed_ms.as_ref().map(|p| p.p99))
        .collect();
    let p99d: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.latency_decided_ms.as_ref().map(|p| p.p99))
        .collect();
    let n: usize = runs
        .iter()
        .filter_map(|r| r.latency_committed_ms.as_ref().map(|p| p.n))
        .sum();
    if p99.is_empty() {
        return "no events".into();
    }
    format!("{} / {} ({n} phases)", spread(&p99d, 0), spread(&p99, 0))
}

pub fn tables(o: &Output) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "streetwatch bench --daemon: {} | load {:.1} before, {:.1} after | {} s windows, {} repeat(s) | peer mode {} | {:.0} s in all\n",
        o.machine,
        o.load_before,
        load_now(),
        o.window_s,
        o.repeats,
        o.peer_mode,
        o.seconds
    );
    let _ = writeln!(
        s,
        "Side by side (same streams, alternating runs; median (min–max) of the runs)\n"
    );
    let _ = writeln!(
        s,
        "| workload | daemon cores | daemon CPU-s per camera-hour | daemon RSS MiB | daemon analysed fps | daemon drops | event latency p99 ms, decided / committed | peer cores | peer CPU-s per camera-hour | peer RSS MiB | peer analysed fps | peer drops | daemon / peer CPU |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for sb in &o.side_by_side {
        let f = |runs: &[Run], g: fn(&Run) -> f64, d: usize| {
            spread(&runs.iter().map(g).collect::<Vec<_>>(), d)
        };
        let _ = writeln!(
            s,
            "| {} x {} {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | **{}** |",
            sb.cameras,
            if sb.mode.substream {
                "640x360"
            } else {
                "1080p25"
            },
            sb.mode.name,
            f(&sb.daemon, |r| r.cpu_cores, 2),
            f(&sb.daemon, |r| r.cpu_s_per_camera_hour, 0),
            f(&sb.daemon, |r| r.rss_peak_mib, 0),
            f(&sb.daemon, |r| r.analysed_fps, 1),
            drops(&sb.daemon),
            latency(&sb.daemon),
            f(&sb.peer, |r| r.cpu_cores, 2),
            f(&sb.peer, |r| r.cpu_s_per_camera_hour, 0),
            f(&sb.peer, |r| r.rss_peak_mib, 0),
            f(&sb.peer, |r| r.analysed_fps, 1),
            drops(&sb.peer),
            spread(&sb.ratios, 2),
        );
    }
    if o.capacity.is_empty() {
        return s;
    }
    let _ = writeln!(
        s,
        "\nCapacity (daemon; fits = every camera at >= 90 % of its analysis rate, < 1 % dropped)\n"
    );
    let _ = writeln!(
        s,
        "| mode | goal | cameras that fit | first count that did not | figures at | cores | CPU-s per camera-hour | slowest camera fps (wanted) | dropped | RSS MiB (budget 150 + 12 x N) | event latency p99 ms, decided / committed | camera simulator cores |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    for c in &o.capacity {
        // The figures at the fit, or (nothing fitted) those of the smallest count tried.
        let r = c
            .at_fit
            .as_ref()
            .or_else(|| c.trials.iter().min_by_key(|t| t.cameras));
        let _ = writeln!(
            s,
            "| {}{} | {} | **{}** | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            c.mode.name,
            if c.mode.substream {
                ""
            } else {
                ", 1080p25 main stream"
            },
            c.mode.goal_cameras,
            c.fit,
            c.failed_at
                .map(|f| f.to_string())
                .unwrap_or_else(|| "-".into()),
            r.map(|r| format!(
                "{} camera(s){}",
                r.cameras,
                if c.at_fit.is_some() {
                    ""
                } else {
                    ", did not fit"
                }
            ))
            .unwrap_or_default(),
            r.map(|r| format!("{:.2}", r.cpu_cores)).unwrap_or_default(),
            r.map(|r| format!("{:.0}", r.cpu_s_per_camera_hour))
                .unwrap_or_default(),
            r.map(|r| format!(
                "{:.2} ({:.2})",
                r.analysed_fps_min_camera, r.expected_fps_per_camera
            ))
            .unwrap_or_default(),
            r.map(|r| format!("{} of {}", r.dropped, r.offered))
                .unwrap_or_default(),
            r.map(|r| format!(
                "{:.0} ({:.0})",
                r.rss_peak_mib,
                150.0 + 12.0 * r.cameras as f64
            ))
            .unwrap_or_default(),
            r.map(|r| latency(std::slice::from_ref(r)))
                .unwrap_or_default(),
            r.map(|r| format!("{:.2}", r.server_cpu_cores))
                .unwrap_or_default(),
        );
    }
    s
}
