//! Logging setup: `tracing` with plain lines (journald adds its own timestamps and
//! levels, so no ANSI colours) or JSON lines. `RUST_LOG` wins over the config level.
//! Recent records are also kept in a bounded ring for the web page's log view.
//!
//! The level filter and the output format sit behind `tracing_subscriber::reload`
//! layers, so a config reload re-applies `[logging]` ([`apply`]) without a restart.

use crate::config::{LogFormat, LoggingConfig};
use crate::web::LogRing;
use std::sync::{Mutex, OnceLock};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, reload};

/// Records the web page can show (`/api/logs`).
const RING_CAPACITY: usize = 2000;

/// The process-wide ring of recent log records.
pub fn ring() -> &'static LogRing {
    static RING: OnceLock<LogRing> = OnceLock::new();
    RING.get_or_init(|| LogRing::new(RING_CAPACITY))
}

/// The subscriber below the format layer: the registry and the reloadable filter.
type Filtered = tracing_subscriber::layer::Layered<reload::Layer<EnvFilter, Registry>, Registry>;
type FmtLayer = Box<dyn Layer<Filtered> + Send + Sync>;

/// Handles to change the installed subscriber, and what it runs with now.
struct Installed {
    filter: reload::Handle<EnvFilter, Registry>,
    fmt: reload::Handle<FmtLayer, Filtered>,
    current: LoggingConfig,
}

static INSTALLED: Mutex<Option<Installed>> = Mutex::new(None);

/// The filter for `cfg`: `RUST_LOG` when set (a technician's override), else the
/// configured level.
fn filter(cfg: &LoggingConfig) -> EnvFilter {
    EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&cfg.level))
        .unwrap_or_else(|_| EnvFilter::new("info"))
}

fn fmt_layer(format: LogFormat) -> FmtLayer {
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => fmt.boxed(),
        LogFormat::Json => fmt.json().flatten_event(true).boxed(),
    }
}

/// Install the global subscriber. Safe to call more than once; later calls are
/// ignored, which keeps tests that start several daemons in one process simple.
pub fn init(cfg: &LoggingConfig) {
    let mut installed = INSTALLED.lock().unwrap_or_else(|p| p.into_inner());
    if installed.is_some() {
        return;
    }
    let (filter, filter_handle) = reload::Layer::new(filter(cfg));
    let (fmt, fmt_handle) = reload::Layer::new(fmt_layer(cfg.format));
    if tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(ring().layer())
        .try_init()
        .is_ok()
    {
        *installed = Some(Installed {
            filter: filter_handle,
            fmt: fmt_handle,
            current: cfg.clone(),
        });
    }
}

/// What a reload of `[logging]` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The new level and format are in force.
    Applied,
    /// Nothing changed.
    Unchanged,
    /// The level is overridden by `RUST_LOG` (the format was applied).
    LevelOverridden,
}

/// Re-apply `[logging]` to the running process (level and format).
pub fn apply(cfg: &LoggingConfig) -> Result<Applied, String> {
    let mut installed = INSTALLED.lock().unwrap_or_else(|p| p.into_inner());
    let Some(i) = installed.as_mut() else {
        return Err("logging was not set up by this process".into());
    };
    if i.current == *cfg {
        return Ok(Applied::Unchanged);
    }
    if cfg.format != i.current.format {
        i.fmt
            .reload(fmt_layer(cfg.format))
            .map_err(|e| format!("logging.format: {e}"))?;
    }
    let level_changed = cfg.level != i.current.level;
    if level_changed {
        i.filter
            .reload(filter(cfg))
            .map_err(|e| format!("logging.level: {e}"))?;
    }
    i.current = cfg.clone();
    Ok(if level_changed && std::env::var_os("RUST_LOG").is_some() {
        Applied::LevelOverridden
    } else {
        Applied::Applied
    })
}
