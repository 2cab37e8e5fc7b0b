//! The daemon's health report: one function fills the daemon's part (cameras, models,
//! decided events waiting or lost, why the outbox refuses) for both the report the
//! uplink publishes on `…/health` and the one the page and `/metrics` read. The
//! page's report exists even while neither the outbox nor the uplink runs, so a loss
//! is visible exactly when it matters.

use super::committer::{DeliverySlot, HttpSlot, StoreSlot};
use super::sink::EventSink;
use crate::uplink::health::UplinkHealth;
use crate::uplink::{CameraHealth, EventsHealth, Health, HealthProvider, ModelHealth};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What the daemon loop refreshes for health.
#[derive(Default)]
pub struct Telemetry {
    pub cameras: Mutex<Vec<CameraHealth>>,
    pub models: Mutex<Vec<ModelHealth>>,
    /// Why the outbox could not be opened (while it is not open).
    pub outbox_error: Mutex<Option<String>>,
    /// Why the uplink could not start (while it is not running).
    pub uplink_error: Mutex<Option<String>>,
    /// Why the HTTP sink could not start (while it is not running).
    pub http_error: Mutex<Option<String>>,
    pub device_id: Mutex<String>,
}

/// Everything a health report is read from.
pub struct HealthSources {
    pub telemetry: Arc<Telemetry>,
    pub sink: EventSink,
    pub store: StoreSlot,
    pub delivery: DeliverySlot,
    pub http: HttpSlot,
    pub started: Instant,
}

fn get<T: Clone>(m: &Mutex<T>) -> T {
    m.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

impl HealthSources {
    /// The daemon's part of any report.
    pub fn fill(&self, h: &mut Health) {
        h.cameras = get(&self.telemetry.cameras);
        // The HTTP sink is a part of its own: its section comes from it (or says why
        // it is not running).
        if let Some(s) = self.http.read().unwrap_or_else(|p| p.into_inner()).as_ref() {
            h.uplink.http = Some(s.status());
        } else if let Some(e) = get(&self.telemetry.http_error) {
            h.uplink.http = Some(crate::uplink::health::HttpSinkHealth {
                last_error: Some(e),
                ..Default::default()
            });
        }
        h.models = get(&self.telemetry.models);
        let store = self.store.read().unwrap_or_else(|p| p.into_inner()).clone();
        let outbox_error = match &store {
            Some(s) => s.error(),
            None => get(&self.telemetry.outbox_error)
                .or_else(|| Some("the outbox is not open yet".into())),
        };
        let losses = self.sink.losses();
        h.events = EventsHealth {
            pending: self.sink.len() as u64,
            capacity: self.sink.capacity() as u64,
            outbox_open: store.is_some(),
            outbox_error: outbox_error.clone(),
            lost_total: losses.total(),
            lost: losses.snapshot(),
        };
        // What `disk.error` always meant: why the outbox refuses events now.
        h.disk.error = outbox_error;
    }

    /// The uplink's hook: its published report gets the daemon's part.
    pub fn provider(self: &Arc<Self>) -> HealthProvider {
        let me = self.clone();
        Arc::new(move |h: &mut Health| me.fill(h))
    }

    /// A full report for the page and `/metrics`, whatever runs.
    pub fn report(&self) -> Health {
        let device_id = get(&self.telemetry.device_id);
        let store = self.store.read().unwrap_or_else(|p| p.into_inner()).clone();
        let mut h = match &store {
            Some(s) => s.health(&device_id),
            None => Health {
                device_id,
                firmware_version: crate::FIRMWARE_VERSION.into(),
                time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                memory: crate::uplink::health::memory(),
                cpu_temp_c: crate::uplink::health::cpu_temperature(),
                firmware_slot: crate::uplink::health::firmware_slot(),
                ..Default::default()
            },
        };
        h.uptime_s = self.started.elapsed().as_secs_f64();
        h.uplink = match self
            .delivery
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            Some(d) => d.status(),
            None => UplinkHealth {
                connected: false,
                last_error: Some(
                    get(&self.telemetry.uplink_error)
                        .unwrap_or_else(|| "the uplink is not running".into()),
                ),
                ..Default::default()
            },
        };
        self.fill(&mut h);
        h
    }
}
