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
    /// Sample video file.
    #[arg(long)]
    pub video: String,
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
        video: args.video.clone(),
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
