//! One camera's analysis stage after the detector: tracker + rules (the façade in
//! `rules::engine`), evidence jobs on the camera's ring, and the collector that holds
//! each event until its evidence is written. The daemon and `streetwatch replay` run
//! exactly this code, so what a replay shows is what the box does.

use crate::config::{CameraConfig, Config};
use crate::evidence::collect::EvidenceCollector;
use crate::evidence::job::{EvidenceJob, EvidenceWorker, JobResult, RingSource};
use crate::evidence::{files, retention};
use crate::infer::Detection;
use crate::ingest::{BoundedQueue, MediaTime};
use crate::rules::event::{CameraRef, DeviceRef, Event, ModelRef};
use crate::rules::zone::Zone;
use crate::rules::{CameraContext, CameraEvents, EngineError, EventsConfig};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Where finished events go: a fixed-depth queue that blocks the producer when full,
/// because an event must never be dropped (the outbox drains it to disk).
pub type EventSink = Arc<BoundedQueue<Event>>;

/// Evidence root of a config: `[events.evidence] dir` or `<state_dir>/evidence`.
pub fn evidence_dir(cfg: &Config) -> PathBuf {
    cfg.events
        .evidence
        .dir
        .clone()
        .unwrap_or_else(|| cfg.device.state_dir.join("evidence"))
}

/// The model named in events: the camera's first model with its manifest version.
pub fn model_ref(cfg: &Config, cam: &CameraConfig) -> ModelRef {
    let id = cam.analysis.models.first().cloned().unwrap_or_default();
    let version = crate::infer::Manifest::load(&cfg.inference.models_dir, &id)
        .map(|m| m.version)
        .unwrap_or_else(|_| "unknown".into());
    ModelRef { id, version }
}

/// Context the façade stamps into every event of `cam`.
pub fn camera_context(cfg: &Config, cam: &CameraConfig) -> CameraContext {
    CameraContext {
        device: DeviceRef {
            id: cfg.device.id.clone(),
            division_code: cfg.device.division_code.clone(),
            firmware_version: crate::FIRMWARE_VERSION.into(),
        },
        camera: CameraRef {
            id: cam.id.clone(),
            name: cam.name.clone(),
            gb28181_id: None,
        },
        // Validated by config::validate.
        tz: cfg
            .device
            .timezone
            .parse()
            .unwrap_or(chrono_tz::Asia::Shanghai),
        model: model_ref(cfg, cam),
    }
}

/// Tracker, rules and evidence of one camera.
pub struct CameraAnalysis {
    events: CameraEvents,
    worker: Option<EvidenceWorker>,
    collector: Arc<Mutex<EvidenceCollector>>,
    sink: EventSink,
    evidence_root: PathBuf,
    config: EventsConfig,
    state_dir: PathBuf,
    last_retention: Option<MediaTime>,
    /// The outbox, asked by retention what it may delete (opened at the first pass;
    /// `None` while there is none, e.g. in a replay).
    ledger: Option<crate::uplink::Outbox>,
}

impl CameraAnalysis {
    pub fn new(
        cfg: &Config,
        cam: &CameraConfig,
        ring: Arc<dyn RingSource>,
        sink: EventSink,
    ) -> Result<Self, EngineError> {
        let events = CameraEvents::new(
            camera_context(cfg, cam),
            cam.zones.clone(),
            cfg.events.clone(),
            &cfg.device.state_dir,
        )?;
        let collector = Arc::new(Mutex::new(EvidenceCollector::new(256)));
        let (c, s) = (collector.clone(), sink.clone());
        let worker = EvidenceWorker::spawn(
            ring,
            cfg.events.evidence.max_pending_jobs,
            move |r: JobResult| {
                if let Some(e) = r.error() {
                    tracing::warn!(event = %r.event_id, error = %e, missing = r.missing.len(), "evidence job failed");
                }
                let released = c.lock().unwrap().on_result(r);
                for ev in released {
                    s.push(ev);
                }
            },
        );
        Ok(Self {
            events,
            worker: Some(worker),
            collector,
            sink,
            evidence_root: evidence_dir(cfg),
            config: cfg.events.clone(),
            state_dir: cfg.device.state_dir.clone(),
            last_retention: None,
            ledger: None,
        })
    }

    /// Swap the camera's zones (hot reload): running stays keep their event ids.
    pub fn set_zones(&mut self, zones: Vec<Zone>, now: MediaTime) -> Result<(), EngineError> {
        let out = self
            .events
            .set_zones(zones, self.config.clone(), &self.state_dir, now)?;
        self.handle(out, now);
        Ok(())
    }

    /// Zones in force (after the last hot reload).
    pub fn zones(&self) -> &[Zone] {
        self.events.zones()
    }

    /// Confirmed tracks after the last frame.
    pub fn tracks(&self) -> impl Iterator<Item = &crate::track::Track> {
        self.events.tracks()
    }

    fn emit(&self, ev: Event) {
        let released = self.collector.lock().unwrap().on_event(ev);
        for ev in released {
            self.sink.push(ev);
        }
    }

    /// Feed one analysed frame.
    pub fn on_frame(&mut self, time: MediaTime, w: u32, h: u32, detections: &[Detection]) {
        let out = match self.events.on_frame(time, w, h, detections) {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(error = %e, "frame refused by the rules");
                return;
            }
        };
        self.handle(out, time);
    }

    fn handle(&mut self, out: crate::rules::FrameOutput, time: MediaTime) {
        for req in &out.evidence {
            let job = EvidenceJob::from_request(
                req,
                &self.evidence_root,
                self.events.zones(),
                &self.config.evidence,
            );
            let expected = job.expected();
            let released = self
                .collector
                .lock()
                .unwrap()
                .expect_files(&req.event_id, &expected);
            for ev in released {
                self.sink.push(ev);
            }
            if let Some(w) = &self.worker
                && let Err(e) = w.submit(job)
            {
                // Refused (queue full): done, its files missing, so the event is not
                // held and says what it lacks.
                let released = self.collector.lock().unwrap().on_result(JobResult::failed(
                    &req.event_id,
                    &expected,
                    &e,
                ));
                for ev in released {
                    self.sink.push(ev);
                }
            }
        }
        for id in &out.abandoned {
            self.collector.lock().unwrap().abandon(id);
            if let Err(e) = files::discard_event(&self.evidence_root, id) {
                tracing::debug!(event = %id, error = %e, "discarding candidate evidence");
            }
        }
        for ev in out.events {
            self.emit(ev);
        }
        self.retention(time);
    }

    /// Bound local evidence by age and size, at most once a media minute.
    fn retention(&mut self, now: MediaTime) {
        if self
            .last_retention
            .is_some_and(|t| now.secs_since(t) < 60.0)
        {
            return;
        }
        self.last_retention = Some(now);
        if self.ledger.is_none() {
            self.ledger = crate::uplink::Outbox::open_existing(&crate::uplink::Outbox::path_in(
                &self.state_dir,
            ))
            .unwrap_or_else(|e| {
                tracing::debug!(error = %e, "evidence retention: outbox not readable");
                None
            });
        }
        let ledger: &dyn retention::Ledger = match &self.ledger {
            Some(o) => o,
            None => &retention::NoLedger,
        };
        let ev = &self.config.evidence;
        match retention::enforce(
            &self.evidence_root,
            now,
            ev.max_age_hours * 3600.0,
            ev.max_total_mib * 1024 * 1024,
            ledger,
        ) {
            Ok(r) if !r.deleted.is_empty() => {
                tracing::info!(
                    files = r.deleted.len(),
                    bytes = r.freed_bytes,
                    "evidence retention deleted delivered evidence"
                )
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "evidence retention"),
        }
    }

    /// Run the waiting evidence jobs with what the ring holds and release every event.
    pub fn finish(mut self) {
        if let Some(w) = self.worker.take() {
            w.finish();
        }
    }

    pub fn evidence_root(&self) -> &Path {
        &self.evidence_root
    }
}
