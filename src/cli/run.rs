use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use streetwatch::daemon::{Control, Daemon};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The box configuration (TOML).
    #[arg(long, short, default_value = "/etc/streetwatch/streetwatch.toml")]
    config: PathBuf,
    /// Seconds between the per-camera status lines in the log (the benchmark reads
    /// them every second).
    #[arg(long, default_value_t = 30.0, hide = true)]
    status_every: f64,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let cfg = match super::load_config(&a.config) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    streetwatch::logging::init(&cfg.logging);
    let control = Control::from_signals()?;
    let mut daemon = Daemon::start(cfg, Some(a.config));
    daemon.run(
        &control,
        Duration::from_secs_f64(a.status_every.max(0.1)),
        None,
    );
    Ok(ExitCode::SUCCESS)
}
