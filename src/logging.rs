//! Logging setup: `tracing` with plain lines (journald adds its own timestamps and
//! levels, so no ANSI colours) or JSON lines. `RUST_LOG` wins over the config level.
//! Recent records are also kept in a bounded ring for the web page's log view.

use crate::config::{LogFormat, LoggingConfig};
use crate::web::LogRing;
use std::sync::OnceLock;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Records the web page can show (`/api/logs`).
const RING_CAPACITY: usize = 2000;

/// The process-wide ring of recent log records.
pub fn ring() -> &'static LogRing {
    static RING: OnceLock<LogRing> = OnceLock::new();
    RING.get_or_init(|| LogRing::new(RING_CAPACITY))
}

/// Install the global subscriber. Safe to call more than once; later calls are
/// ignored, which keeps tests that start several daemons in one process simple.
pub fn init(cfg: &LoggingConfig) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&cfg.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(std::io::stderr);
    let fmt = match cfg.format {
        LogFormat::Text => fmt.boxed(),
        LogFormat::Json => fmt.json().flatten_event(true).boxed(),
    };
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(ring().layer())
        .try_init();
}
