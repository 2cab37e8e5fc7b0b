//! streetwatch: firmware of a roadside edge box for city management.
//!
//! Data flows one way, and the modules follow it:
//! `ingest` (cameras) -> `infer` (detectors) -> `track` -> `rules` -> `evidence` -> `uplink`,
//! with `config` feeding every stage and `web` letting a technician steer it.

pub mod clock;
pub mod config;
pub mod daemon;
pub mod draw;
pub mod evidence;
pub mod infer;
pub mod ingest;
pub mod logging;
pub mod notify;
pub mod redact;
pub mod rules;
pub mod track;
pub mod uplink;
pub mod web;

/// Firmware version reported in logs, health and events.
pub const FIRMWARE_VERSION: &str = env!("CARGO_PKG_VERSION");

pub mod camsim;

/// Initialise GStreamer once; every module that builds pipelines calls this first.
pub fn gst_init() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        gstreamer::init().expect("GStreamer failed to initialise; is libgstreamer1.0-0 installed?")
    });
}
