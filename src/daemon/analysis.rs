//! One camera's analysis stage after the detector: tracker + rules (the façade in
//! `rules::engine`), evidence jobs on the camera's ring, and the collector that holds
//! each event until its evidence is written. The daemon and `streetwatch replay` run
//! exactly this code, so what a replay shows is what the box does.

use crate::config::{CameraConfig, Config};
use crate::evidence::collect::EvidenceCollector;
use crate::evidence::job::{EvidenceJob, EvidenceWorker, JobKind, JobResult, RingSource};
use crate::evidence::photoset::{CameraCaption, PhotoSets, PictureContext};
use crate::evidence::{files, plate, retention};
use crate::infer::Detection;
use crate::ingest::{BoundedQueue, MediaTime};
use crate::rules::event::{CameraRef, DeviceRef, Event, EventKind, ModelRef};
use crate::rules::zone::{Zone, ZoneRule};
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

/// Longest wait of the analysis thread for a candidate's plate read.
const PLATE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether any zone watches for parking (plates are read for parking evidence only).
fn watches_parking(zones: &[Zone]) -> bool {
    zones.iter().any(|z| {
        z.rules
            .iter()
            .any(|r| matches!(r, ZoneRule::NoParking { .. }))
    })
}

/// Tracker, rules and evidence of one camera.
pub struct CameraAnalysis {
    events: CameraEvents,
    worker: Option<EvidenceWorker>,
    collector: Arc<Mutex<EvidenceCollector>>,
    /// Captions, plate reads and photo sets of this camera's events.
    photos: Arc<PhotoSets>,
    sink: EventSink,
    evidence_root: PathBuf,
    config: EventsConfig,
    /// For loading the plate reader when a reload adds the first no-parking zone.
    inference: crate::config::InferenceConfig,
    state_dir: PathBuf,
    last_retention: Option<MediaTime>,
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
        let ctx = camera_context(cfg, cam);
        let plates = if watches_parking(&cam.zones) {
            plate::service(&cfg.inference, &cfg.events.evidence.plates)
        } else {
            None
        };
        let photos = Arc::new(PhotoSets::new(
            Arc::new(CameraCaption::new(
                &cfg.device.id,
                &cam.id,
                &cam.name,
                ctx.tz,
            )),
            evidence_dir(cfg),
            cfg.events.evidence.jpeg_quality,
            plates,
            cam.zones.clone(),
            256,
        ));
        let (c, s, p) = (collector.clone(), sink.clone(), photos.clone());
        let worker = EvidenceWorker::spawn(
            ring,
            cfg.events.evidence.max_pending_jobs,
            move |r: JobResult| {
                if let Err(e) = &r.result {
                    tracing::warn!(event = %r.event_id, error = %e, "evidence job failed");
                }
                let mut released = c.lock().unwrap().on_result(r);
                p.complete(&mut released);
                for ev in released {
                    s.push(ev);
                }
            },
        );
        Ok(Self {
            events,
            worker: Some(worker),
            collector,
            photos,
            sink,
            evidence_root: evidence_dir(cfg),
            config: cfg.events.clone(),
            inference: cfg.inference.clone(),
            state_dir: cfg.device.state_dir.clone(),
            last_retention: None,
        })
    }

    /// Swap the camera's zones (hot reload): running stays keep their event ids.
    pub fn set_zones(&mut self, zones: Vec<Zone>, now: MediaTime) -> Result<(), EngineError> {
        let out =
            self.events
                .set_zones(zones.clone(), self.config.clone(), &self.state_dir, now)?;
        if self.photos.plates().is_none() && watches_parking(&zones) {
            self.photos.set_plates(plate::service(
                &self.inference,
                &self.config.evidence.plates,
            ));
        }
        self.photos.set_zones(zones);
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
        self.release(released);
    }

    /// Hands released phases on, with their plate and photo set filled in.
    fn release(&self, mut events: Vec<Event>) {
        self.photos.complete(&mut events);
        for ev in events {
            self.sink.push(ev);
        }
    }

    /// Feed one analysed frame.
    pub fn on_frame(&mut self, time: MediaTime, w: u32, h: u32, detections: &[Detection]) {
        // Plates agreed since the last frame: the parking rule keeps one stay per plate.
        for (id, text) in self.photos.new_plates() {
            let out = self.events.set_plate(&id, Some(&text), time);
            self.handle(out, time);
        }
        let out = match self.events.on_frame(time, w, h, detections) {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(error = %e, "frame refused by the rules");
                return;
            }
        };
        self.handle(out, time);
        // A candidate that may be a lost stay's vehicle seen again waits for its plate
        // read (a fraction of a second, and rare): deciding on whatever read happens
        // to be in would make a replay depend on the evidence thread's speed.
        for id in self.events.plate_waits() {
            if !self.photos.wait_read(&id, PLATE_WAIT) {
                tracing::warn!(event = %id, "no plate read within {PLATE_WAIT:?}; treating the vehicle as new");
            }
            let plate = self
                .photos
                .verdict(&id)
                .and_then(Result::ok)
                .map(|p| p.text);
            let out = self.events.set_plate(&id, plate.as_deref(), time);
            self.handle(out, time);
        }
    }

    fn handle(&mut self, out: crate::rules::FrameOutput, time: MediaTime) {
        for req in &out.evidence {
            let released = self.collector.lock().unwrap().expect(&req.event_id);
            self.release(released);
            let mut job = EvidenceJob::from_request(
                req,
                &self.evidence_root,
                self.events.zones(),
                &self.config.evidence,
            );
            if let JobKind::Snapshot { name, at, .. } = &job.kind {
                // Wide shots of a parked vehicle read its plate; the picture of it
                // leaving does not.
                let reads = req.kind == EventKind::IllegalParking && name != "ended";
                self.photos.begin(&req.event_id, req.kind, *at, reads);
                job.picture = Some(PictureContext {
                    camera: self.photos.camera().clone(),
                    kind: req.kind,
                    sets: self.photos.clone(),
                    plates: if reads { self.photos.plates() } else { None },
                });
            }
            if let Some(w) = &self.worker
                && let Err(e) = w.submit(job)
            {
                // Refused (queue full): count it as done so the event is not held.
                let released = self.collector.lock().unwrap().on_result(JobResult {
                    event_id: req.event_id.clone(),
                    result: Err(e),
                });
                self.release(released);
            }
        }
        for id in &out.abandoned {
            self.photos.forget(id);
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
        let ev = &self.config.evidence;
        if let Err(e) = retention::enforce(
            &self.evidence_root,
            now,
            ev.max_age_hours * 3600.0,
            ev.max_total_mib * 1024 * 1024,
        ) {
            tracing::debug!(error = %e, "evidence retention");
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
