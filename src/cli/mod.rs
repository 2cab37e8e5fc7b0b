//! Command-line interface. Each subcommand lives in its own file and only wires library
//! pieces together.

mod annotated_video;
mod bench;
mod check_config;
mod detect;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

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
    /// Validate a config file and report every problem with its key path.
    CheckConfig { file: PathBuf },
    /// Run a detector over an image, a directory of images, a video file or an RTSP URL.
    Detect(detect::DetectArgs),
    /// Measure decode limit, inference limit and pipeline throughput on a sample file.
    Bench(bench::BenchArgs),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::CheckConfig { file } => check_config::run(&file),
        Command::Detect(args) => detect::run(args),
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
