//! `streetwatch uplink-worker --config FILE` (hidden): only the outbox delivery, from
//! the state directory. The daemon runs the same `Uplink` in-process; this exists so
//! tests (and technicians draining a backlog) can run and kill delivery on its own.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;
use streetwatch::daemon::Control;
use streetwatch::uplink::{Hooks, Uplink};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The box configuration (TOML); only `[device]` and `[uplink]` are used.
    #[arg(long, short)]
    config: PathBuf,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let cfg = match super::load_config(&a.config) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    streetwatch::logging::init(&cfg.logging);
    let control = Control::from_signals()?;
    let uplink = Uplink::start(&cfg, Hooks::default())?;
    tracing::info!(state_dir = %cfg.device.state_dir.display(), "uplink worker running");
    while !control.stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
    }
    uplink.stop();
    Ok(ExitCode::SUCCESS)
}
