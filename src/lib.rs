//! streetwatch: firmware of a roadside edge box for city management.
//!
//! Data flows one way, and the modules follow it:
//! `ingest` (cameras) -> `infer` (detectors) -> `track` -> `rules` -> `evidence` -> `uplink`,
//! with `config` feeding every stage and `web` letting a technician steer it.

pub mod config;
pub mod infer;
pub mod ingest;
pub mod logging;
pub mod notify;
pub mod redact;

/// Firmware version reported in logs, health and events.
pub const FIRMWARE_VERSION: &str = env!("CARGO_PKG_VERSION");
