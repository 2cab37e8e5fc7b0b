//! Logging setup: `tracing` with plain lines (journald adds its own timestamps and
//! levels, so no ANSI colours) or JSON lines. `RUST_LOG` wins over the config level.

use crate::config::{LogFormat, LoggingConfig};
use tracing_subscriber::EnvFilter;

/// Install the global subscriber. Safe to call once; later calls are ignored, which
/// keeps tests that start several daemons in one process simple.
pub fn init(cfg: &LoggingConfig) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&cfg.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::io::stderr);
    let _ = match cfg.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
