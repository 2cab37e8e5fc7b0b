//! `streetwatch bench`: decode limit, inference limit and pipeline throughput in one run.

use anyhow::{Context, Result};
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;
use streetwatch::config::{self, InferenceConfig};
use streetwatch::infer::bench::{self, BenchReport, BenchSpec};

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Simulated cameras, each decoding the sample file in a loop.
    #[arg(long, default_value_t = 1)]
    pub cameras: usize,
    /// Sample video file (with --daemon: default the car sample in the assets).
    #[arg(long, required_unless_present = "daemon")]
    pub video: Option<String>,
    /// Decode keyframes only (delta units never reach the decoder).
    #[arg(long)]
    pub keyframes_only: bool,
    #[arg(long, default_value = "yolox-nano")]
    pub model: String,
    /// Seconds per measurement phase.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Pace cameras at the file's frame rate and find how many fit before frames drop
    /// (tries 1..=cameras).
    #[arg(long)]
    pub realtime: bool,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Override inference.workers (parallel sessions).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Override inference.intra_threads.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Write bench.json and bench.svg into this directory.
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
    /// Config file whose `[inference]` section is used.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Benchmark the real daemon (`streetwatch run` on simulated RTSP cameras) side by
    /// side with the peer Python/OpenCV pipeline, then find the capacity per mode.
    /// Run from the repository root; writes bench-daemon.json/.md into --out-dir
    /// (default target/bench).
    #[arg(long)]
    pub daemon: bool,
    /// --daemon: seconds measured per run, after warm-up.
    #[arg(long, default_value_t = 20.0)]
    pub window: f64,
    /// --daemon: alternating daemon/peer runs per side-by-side workload.
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// --daemon: only the 5 fps side by side, capacity checked at each goal only.
    #[arg(long)]
    pub quick: bool,
    /// --daemon: skip the capacity search.
    #[arg(long)]
    pub no_capacity: bool,
    /// --daemon: skip the peer.
    #[arg(long)]
    pub no_peer: bool,
    /// --daemon: run only the modes whose name contains this text (repeatable), e.g.
    /// `--mode auto` for the `fps = "auto"` cameras; a mode's whole name (`--mode "5
    /// fps"`) selects that mode alone. The side by side runs only if its 5 fps (or
    /// keyframes) mode is among them.
    #[arg(long = "mode")]
    pub modes: Vec<String>,
    /// --daemon: how the peer reads frames: `read` decodes and converts every frame to
    /// BGR, `grab` converts only the frames it analyses.
    #[arg(long, default_value = "read")]
    pub peer_mode: String,
}

#[derive(Serialize)]
struct Output {
    #[serde(flatten)]
    report: BenchReport,
    /// Realtime mode: the most cameras that ran with under 1 % dropped frames.
    #[serde(skip_serializing_if = "Option::is_none")]
    realtime_cameras_fit: Option<usize>,
}

pub fn run(args: BenchArgs) -> Result<ExitCode> {
    if args.daemon {
        return run_daemon(&args);
    }
    // Warnings only by default (a skipped execution provider says why); RUST_LOG wins.
    streetwatch::logging::init(&config::LoggingConfig {
        level: "warn".into(),
        ..Default::default()
    });
    let mut cfg: InferenceConfig = match &args.config {
        Some(p) => config::load(p)?.inference,
        None => InferenceConfig::default(),
    };
    if let Some(w) = args.workers {
        cfg.workers = w;
    }
    if let Some(t) = args.threads {
        cfg.intra_threads = t;
    }
    let spec = BenchSpec {
        video: args.video.clone().unwrap_or_default(),
        model: args.model.clone(),
        cameras: args.cameras.max(1),
        seconds: args.seconds,
        keyframes_only: args.keyframes_only,
        realtime: args.realtime,
    };
    let report = bench::run(&cfg, &spec)?;
    let mut fit = None;
    if args.realtime {
        let mut best = 0;
        for n in 1..=spec.cameras {
            let trial = BenchSpec {
                cameras: n,
                ..spec.clone()
            };
            let p = bench::pipeline(&cfg, &trial)?;
            let rate = p.dropped as f64 / p.submitted.max(1) as f64;
            eprintln!("realtime: {n} camera(s): {:.1} % dropped", rate * 100.0);
            if rate < 0.01 {
                best = n;
            } else {
                break;
            }
        }
        fit = Some(best);
    }
    let out = Output {
        report,
        realtime_cameras_fit: fit,
    };
    let json = serde_json::to_string_pretty(&out)?;
    if let Some(dir) = &args.out_dir {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("bench.json"), &json).context("writing bench.json")?;
        std::fs::write(dir.join("bench.svg"), bench::svg_chart(&out.report))
            .context("writing bench.svg")?;
    }
    if args.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        let r = &out.report;
        println!(
            "model {} | {} camera(s) | {} worker(s) x {} thread(s) | {} s per phase",
            r.model, r.cameras, r.workers, r.intra_threads, r.seconds
        );
        println!("decode limit       {:>8.1} frames/s", r.decode_limit_fps);
        println!("inference limit    {:>8.1} frames/s", r.inference_limit_fps);
        println!(
            "pipeline achieved  {:>8.1} frames/s (efficiency {:.2})",
            r.achieved_fps, r.efficiency
        );
        println!(
            "dropped            {:>8} ({:.1} %)",
            r.dropped,
            r.drop_rate * 100.0
        );
        println!(
            "latency p50/p95/p99 {:.1} / {:.1} / {:.1} ms",
            r.latency_p50_ms, r.latency_p95_ms, r.latency_p99_ms
        );
        println!(
            "CPU per camera-hour {:>7.0} s",
            r.cpu_seconds_per_camera_hour
        );
        println!("peak RSS           {:>8.0} MiB", r.peak_rss_mib);
        if let Some(n) = out.realtime_cameras_fit {
            println!("realtime: {n} camera(s) fit without dropping frames");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn run_daemon(args: &BenchArgs) -> Result<ExitCode> {
    let video = match &args.video {
        Some(v) => PathBuf::from(v),
        None => std::env::var_os("STREETWATCH_ASSETS")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(".deps"))
            .join("media/car-detection.mp4"),
    };
    if args.peer_mode != "read" && args.peer_mode != "grab" {
        anyhow::bail!("--peer-mode must be read or grab");
    }
    super::bench_daemon::run(super::bench_daemon::DaemonBench {
        video,
        out_dir: args
            .out_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("target/bench")),
        window_s: if args.quick {
            args.window.min(12.0)
        } else {
            args.window
        },
        settle_s: 5.0,
        repeats: args.repeats.max(1),
        cameras: if args.cameras > 1 { args.cameras } else { 4 },
        peer: !args.no_peer,
        capacity: !args.no_capacity,
        quick: args.quick,
        peer_mode: args.peer_mode.clone(),
        modes: args.modes.clone(),
    })
}
