//! Command-line interface. Each subcommand lives in its own file and only wires library
//! pieces together.

mod annotated_video;
mod bench;
mod bench_daemon;
mod check_config;
mod demo;
mod demo_scenes;
mod detect;
mod probe;
mod receive;
mod replay;
mod run;
mod serve_rtsp;
mod uplink_worker;
mod verify;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Load a config for a command that must not start half-configured: on any problem
/// print every one of them and give the exit code (2) the caller returns.
fn load_config(path: &std::path::Path) -> Result<streetwatch::config::Config, ExitCode> {
    streetwatch::config::load(path).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })
}

#[derive(Parser, Debug)]
#[command(
    name = "streetwatch",
    version,
    about = "Roadside edge box: cameras -> detectors -> city-management events"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the daemon with a config file.
    Run(run::Args),
    /// Run the daemon on the embedded default: sample videos as local RTSP cameras.
    Demo(demo::Args),
    /// Validate a config file and report every problem with its key path.
    CheckConfig {
        file: PathBuf,
        /// Also connect to every enabled camera with an `analysis_url` for a few
        /// seconds and check that its two streams pair (same picture, substream no
        /// larger than the main stream): sizes are only known once connected.
        #[arg(long)]
        probe: bool,
    },
    /// Connect to a camera and print codec, resolution, frame rate, GOP and bitrate,
    /// or exactly why it cannot be read.
    Probe(probe::Args),
    /// Serve sample videos as simulated RTSP cameras (looped, real time).
    ServeRtsp(serve_rtsp::Args),
    /// Run a detector over an image, a directory of images, a video file or an RTSP URL.
    Detect(detect::DetectArgs),
    /// Measure decode limit, inference limit and pipeline throughput on a sample file.
    Bench(bench::BenchArgs),
    /// Run files through the whole pipeline on media time and print every event.
    Replay(replay::Args),
    /// Verify an event's signature and its media files' sha256.
    Verify(verify::Args),
    /// The platform's side of MQTT or HTTP: receive a box's events and media, verify
    /// signatures and sha256, de-duplicate, store cases in SQLite and files.
    Receive(receive::Args),
    /// Run only the outbox delivery (tests, draining a backlog).
    #[command(hide = true)]
    UplinkWorker(uplink_worker::Args),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // Tools log warnings only; the daemon re-initialises from its config (first wins,
    // so the daemon commands set up logging themselves before anything logs).
    if !matches!(
        cli.command,
        Command::ServeRtsp(_) | Command::Run(_) | Command::Demo(_) | Command::UplinkWorker(_)
    ) {
        streetwatch::logging::init(&streetwatch::config::LoggingConfig {
            level: "warn".into(),
            ..Default::default()
        });
    }
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Demo(args) => demo::run(args),
        Command::CheckConfig { file, probe } => check_config::run(&file, probe),
        Command::ServeRtsp(args) => serve_rtsp::run(args),
        Command::Probe(args) => probe::run(args),
        Command::Detect(args) => detect::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Receive(args) => receive::run(args),
        Command::Replay(args) => replay::run(args),
        Command::UplinkWorker(args) => uplink_worker::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
