//! One camera's analysis stage after the detector: tracker + rules (the façade in
//! `rules::engine`), evidence jobs on the camera's ring, and the collector that holds
//! each event until its evidence is written. The daemon and `streetwatch replay` run
//! exactly this code, so what a replay shows is what the box does.

use super::losses::{kind_str, phase_str};
use crate::config::{CameraConfig, Config};
use crate::evidence::collect::EvidenceCollector;
use crate::evidence::job::{EvidenceJob, EvidenceWorker, JobKind, JobResult, RingSource};
use crate::evidence::photoset::{CameraCaption, PhotoSets, PictureContext};
use crate::evidence::{files, plate, retention};
use crate::infer::Detection;
use crate::ingest::Frame;
use crate::ingest::MediaTime;
use crate::ingest::onvif::ptz::PtzPosition;
use crate::ingest::onvif::ptz_control::{BoxMove, MoveReason, PtzController, PtzTarget};
use crate::notify::Liveness;
use crate::rules::event::{CameraRef, DeviceRef, Event, EventKind, ModelRef};
use crate::rules::scene::board::SceneBoard;
use crate::rules::scene::reference::ReferenceStore;
use crate::rules::scene::script::PtzScript;
use crate::rules::scene::view::SceneSettings;
use crate::rules::zone::{Zone, ZoneRule};
use crate::rules::{CameraContext, CameraEvents, EngineError, EventsConfig};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Where finished events go (see [`super::sink`]): the daemon's never blocks and
/// counts overflow; the replay tool's blocks and loses nothing.
pub use super::sink::EventSink;

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
    camera_id: String,
    events: CameraEvents,
    /// The camera's open cases on disk, so they survive a restart (None: a replay
    /// that starts afresh).
    stays: Option<super::stays::StayStore>,
    worker: Option<EvidenceWorker>,
    collector: Arc<Mutex<EvidenceCollector>>,
    /// Captions, plate reads and photo sets of this camera's events.
    photos: Arc<PhotoSets>,
    sink: EventSink,
    ring: Arc<dyn RingSource>,
    /// Where the evidence worker registers for the watchdog (the daemon's; none in
    /// a replay).
    liveness: Option<Liveness>,
    evidence_root: PathBuf,
    config: EventsConfig,
    /// For loading the plate reader when a reload adds the first no-parking zone.
    inference: crate::config::InferenceConfig,
    state_dir: PathBuf,
    last_retention: Option<MediaTime>,
    scene: SceneHook,
    /// The outbox, asked by retention what it may delete (opened at the first pass;
    /// `None` while there is none, e.g. in a replay).
    ledger: Option<crate::uplink::Outbox>,
    /// Live (the daemon): events carry the box's clock state. A replay's times come
    /// from the file, so its events carry none.
    live: bool,
    tz: chrono_tz::Tz,
}

/// Where the camera's PTZ position comes from and where its scene is published.
#[derive(Default)]
struct SceneHook {
    camera_id: String,
    /// The page's view of the scene (daemon only).
    board: Option<Arc<SceneBoard>>,
    /// The daemon's ONVIF controller of a PTZ camera.
    ptz: Option<PtzController>,
    /// Replay: positions over media time, from the first frame's time.
    script: Option<(PtzScript, Option<MediaTime>)>,
    position: Option<PtzPosition>,
    last_publish: Option<MediaTime>,
    reference_set: Option<String>,
    /// The last picture's media time and when it came, by the box's clock.
    last_picture: Option<(MediaTime, std::time::Instant)>,
}

/// Publishes a camera's scene at most this often (media seconds).
const PUBLISH_EVERY_S: f64 = 1.0;

impl CameraAnalysis {
    /// The daemon's analysis of `cam`: open cases of the last run are restored (see
    /// `daemon::stays`).
    pub fn new(
        cfg: &Config,
        cam: &CameraConfig,
        ring: Arc<dyn RingSource>,
        sink: EventSink,
    ) -> Result<Self, EngineError> {
        Self::start(cfg, cam, ring, sink, None)
    }

    /// [`CameraAnalysis::new`] whose evidence thread is watched (`evidence-<camera>`).
    pub fn start(
        cfg: &Config,
        cam: &CameraConfig,
        ring: Arc<dyn RingSource>,
        sink: EventSink,
        liveness: Option<&Liveness>,
    ) -> Result<Self, EngineError> {
        Self::build(
            cfg,
            cam,
            ring,
            sink,
            Some(super::stays::RestartMode::Daemon),
            liveness,
        )
    }

    /// [`CameraAnalysis::new`] for `streetwatch replay`: with `resume`, the cases left
    /// open by the previous resumed replay of this camera continue (media time restarts
    /// with the file; every phase was printed before that run ended), and this run's
    /// open cases are left for the next; without, every run starts afresh.
    pub fn for_replay(
        cfg: &Config,
        cam: &CameraConfig,
        ring: Arc<dyn RingSource>,
        sink: EventSink,
        resume: bool,
    ) -> Result<Self, EngineError> {
        let mode = resume.then_some(super::stays::RestartMode::Replay);
        Self::build(cfg, cam, ring, sink, mode, None)
    }

    fn build(
        cfg: &Config,
        cam: &CameraConfig,
        ring: Arc<dyn RingSource>,
        sink: EventSink,
        mode: Option<super::stays::RestartMode>,
        liveness: Option<&Liveness>,
    ) -> Result<Self, EngineError> {
        let mut events = CameraEvents::new(
            camera_context(cfg, cam),
            cam.zones.clone(),
            cfg.events.clone(),
            &cfg.device.state_dir,
        )?;
        // The daemon keeps reference views across restarts; a replay starts afresh.
        let store = match mode {
            Some(super::stays::RestartMode::Daemon) => {
                ReferenceStore::on_disk(&cfg.device.state_dir, &cam.id)
            }
            _ => ReferenceStore::in_memory(),
        };
        events.set_scene(
            SceneSettings {
                tamper: cam.tamper.fitted(cam.preroll.seconds),
                ptz: cam.ptz.clone(),
            },
            store,
        );
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
        let liveness = liveness.cloned();
        let worker = spawn_evidence(
            &cam.id,
            &ring,
            cfg.events.evidence.max_pending_jobs,
            liveness.as_ref(),
            &collector,
            &photos,
            &sink,
        );
        let stays = mode.map(|m| super::stays::StayStore::new(&cfg.device.state_dir, &cam.id, m));
        let resend = stays
            .as_ref()
            .map(|s| s.restore(&mut events))
            .unwrap_or_default();
        let a = Self {
            camera_id: cam.id.clone(),
            events,
            stays,
            worker: Some(worker),
            collector,
            photos,
            sink,
            ring,
            liveness,
            evidence_root: evidence_dir(cfg),
            config: cfg.events.clone(),
            inference: cfg.inference.clone(),
            state_dir: cfg.device.state_dir.clone(),
            last_retention: None,
            scene: SceneHook {
                camera_id: cam.id.clone(),
                ..SceneHook::default()
            },
            ledger: None,
            live: matches!(mode, Some(super::stays::RestartMode::Daemon)),
            tz: camera_context(cfg, cam).tz,
        };
        // Closing phases of the last run that never reached the outbox.
        for ev in resend {
            a.emit(ev);
        }
        Ok(a)
    }

    /// Publishes this camera's scene on `board` (the page) and, for a PTZ camera with
    /// `[cameras.onvif]`, starts its ONVIF controller (position polls, patrol, return
    /// home). Moves the box makes on its own are written to the page's audit log.
    pub fn attach_scene(&mut self, cfg: &Config, cam: &CameraConfig, board: Arc<SceneBoard>) {
        if let (Some(ptz), Some(onvif)) = (&cam.ptz, &cam.onvif) {
            let credentials =
                onvif
                    .username
                    .clone()
                    .or_else(|| cam.username.clone())
                    .map(|username| crate::ingest::onvif::Credentials {
                        username,
                        password: cam.password.clone().unwrap_or_default(),
                    });
            let audit_dir = cfg
                .web
                .state_dir
                .clone()
                .unwrap_or_else(|| cfg.device.state_dir.join("web"));
            let camera = cam.id.clone();
            let on_move = Box::new(move |m: &BoxMove| {
                // Patrol steps are counted in the status, not audited one by one (a
                // patrol moves every few minutes, all day).
                if m.reason == MoveReason::Patrol {
                    return;
                }
                let entry = crate::web::AuditEntry {
                    time: m.time.clone(),
                    user: "streetwatch".into(),
                    client: "box".into(),
                    action: "ptz.return_home".into(),
                    changes: vec![crate::web::Change {
                        path: format!("cameras[{camera}].ptz.position"),
                        old: None,
                        new: Some(serde_json::json!(m.preset)),
                    }],
                };
                if let Err(e) = crate::web::append_audit(&audit_dir, &entry) {
                    tracing::warn!(camera = %camera, error = %e, "ptz: cannot write the audit log");
                }
            });
            let c = PtzController::spawn(
                PtzTarget {
                    camera_id: cam.id.clone(),
                    address: onvif.address.clone(),
                    credentials,
                },
                ptz.clone(),
                on_move,
            );
            board.set_ptz(&cam.id, Some(c.handle()));
            self.scene.ptz = Some(c);
        }
        self.scene.board = Some(board);
    }

    /// Replay: the PTZ camera's positions over media time (seconds from the first
    /// frame).
    pub fn set_ptz_script(&mut self, script: PtzScript) {
        self.scene.script = Some((script, None));
    }

    /// A decoded frame of the camera (before inference): PTZ position, tampering
    /// checks, and the picture kept for vehicle appearances.
    pub fn on_picture(&mut self, frame: &Frame) {
        let now = frame.time;
        self.scene.last_picture = Some((now, std::time::Instant::now()));
        let position = match (&mut self.scene.script, &self.scene.ptz) {
            (Some((script, start)), _) => {
                let t0 = *start.get_or_insert(now);
                script.at(now.secs_since(t0)).cloned()
            }
            (None, Some(c)) => c.position(),
            (None, None) => None,
        };
        if let Some(p) = position
            && self.scene.position.as_ref() != Some(&p)
        {
            self.scene.position = Some(p.clone());
            let out = self.events.set_ptz(p, now);
            self.handle(out, now);
        }
        if let Some(b) = &self.scene.board
            && b.take_reference_request(&self.scene.camera_id)
        {
            self.events.request_reference();
        }
        let out = self.events.on_decoded(frame);
        self.handle(out, now);
        self.publish(now);
    }

    /// No frame for a while (the daemon asks on every empty wait): after the
    /// camera's `signal_lost_s` without a picture, by the box's clock, the signal
    /// counts as lost. Media time goes on from the last picture's.
    pub fn on_idle(&mut self) {
        let Some((media, wall)) = self.scene.last_picture else {
            return;
        };
        let now = media.add_secs(wall.elapsed().as_secs_f64());
        let out = self.events.on_idle(now);
        if !out.events.is_empty() || !out.evidence.is_empty() {
            self.handle(out, now);
        }
        self.publish(now);
    }

    fn publish(&mut self, now: MediaTime) {
        let Some(board) = self.scene.board.clone() else {
            return;
        };
        if self
            .scene
            .last_publish
            .is_some_and(|t| (now.secs_since(t)).abs() < PUBLISH_EVERY_S)
        {
            return;
        }
        self.scene.last_publish = Some(now);
        let status = self.events.scene_status();
        if status.tamper.reference_set != self.scene.reference_set {
            self.scene.reference_set = status.tamper.reference_set.clone();
            let png = status
                .tamper
                .view
                .clone()
                .and_then(|v| self.events.reference_png(&v).map(|p| (v, p)));
            board.set_reference(&self.scene.camera_id, png);
        }
        board.publish(&self.scene.camera_id, status);
    }

    /// Apply a new config to the running analysis (hot reload): `[events]`, the
    /// device's timezone, division code and id, the camera's name, zones and model
    /// version reach the rules at once; open stays keep their event ids. The stream is
    /// not touched.
    pub fn reconfigure(
        &mut self,
        cfg: &Config,
        cam: &CameraConfig,
        now: MediaTime,
    ) -> Result<(), EngineError> {
        let out = self.events.reconfigure(
            camera_context(cfg, cam),
            cam.zones.clone(),
            cfg.events.clone(),
            &cfg.device.state_dir,
            cfg.device.state_dir != self.state_dir,
            now,
        )?;
        if cfg.events.evidence.max_pending_jobs != self.config.evidence.max_pending_jobs {
            // The worker's queue depth is fixed at spawn: run what waits, then swap.
            if let Some(w) = self.worker.take() {
                w.finish();
            }
            self.worker = Some(spawn_evidence(
                &cam.id,
                &self.ring,
                cfg.events.evidence.max_pending_jobs,
                self.liveness.as_ref(),
                &self.collector,
                &self.photos,
                &self.sink,
            ));
        }
        self.evidence_root = evidence_dir(cfg);
        self.config = cfg.events.clone();
        self.state_dir = cfg.device.state_dir.clone();
        self.tz = camera_context(cfg, cam).tz;
        self.handle(out, now);
        Ok(())
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
        self.events.zones_in_force()
    }

    /// Confirmed tracks after the last frame.
    pub fn tracks(&self) -> impl Iterator<Item = &crate::track::Track> {
        self.events.tracks()
    }

    /// What the rules cannot know: the subject's box in main-stream pixels for a
    /// camera with two streams (the rules see the analysis stream; boxes map through
    /// normalised coordinates), and the box's clock state on a live camera.
    fn stamp(&self, ev: &mut Event) {
        if self.ring.role().is_some()
            && let Some((w, h)) = self.ring.size()
        {
            let n = ev.subject.bbox_norm;
            let (w, h) = (w as f32, h as f32);
            ev.subject.bbox = crate::infer::BBox::new(n.x1 * w, n.y1 * h, n.x2 * w, n.y2 * h);
        }
        if self.live {
            ev.clock = Some(clock_info(
                crate::clock::ntp_state(),
                self.ring
                    .clock_jump_since(MediaTime(ev.times.start_media_ns)),
                self.tz,
            ));
        }
    }

    fn emit(&self, mut ev: Event) {
        self.stamp(&mut ev);
        // Decided: from here on the phase is either committed or counted as lost.
        tracing::info!(
            event = %ev.id,
            kind = %kind_str(ev.kind),
            phase = %phase_str(ev.phase),
            seq = ev.seq,
            camera = %ev.camera.id,
            "event decided"
        );
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
            let mut job = EvidenceJob::from_request(
                req,
                &self.evidence_root,
                self.events.zones_in_force(),
                &self.config.evidence,
            );
            let expected = job.expected();
            tracing::debug!(event = %req.event_id, files = ?expected.iter().map(|e| &e.0).collect::<Vec<_>>(), "evidence requested");
            let released = self
                .collector
                .lock()
                .unwrap()
                .expect_files(&req.event_id, &expected);
            self.release(released);
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
                // Refused (queue full): done, its files missing, so the event is not
                // held and says what it lacks.
                let released = self.collector.lock().unwrap().on_result(JobResult::failed(
                    &req.event_id,
                    &expected,
                    &e,
                ));
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
        if let Some(s) = &self.stays {
            s.save(&mut self.events, false);
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
        if let Some(c) = self.scene.ptz.take() {
            c.stop();
        }
        if let Some(b) = &self.scene.board {
            b.set_ptz(&self.scene.camera_id, None);
            b.forget(&self.scene.camera_id);
        }
        if let Some(w) = self.worker.take() {
            w.finish();
        }
        // Cases still open are resumed (or closed) by the next start.
        if let Some(s) = &self.stays {
            s.save(&mut self.events, true);
        }
    }

    pub fn evidence_root(&self) -> &Path {
        &self.evidence_root
    }

    pub fn camera_id(&self) -> &str {
        &self.camera_id
    }
}

/// The clock state an event carries.
pub fn clock_info(
    ntp: crate::clock::NtpState,
    jump: Option<crate::ingest::timeline::ClockJump>,
    tz: chrono_tz::Tz,
) -> crate::rules::event::ClockInfo {
    crate::rules::event::ClockInfo {
        synchronised: ntp.synchronised,
        offset_ms: ntp.offset_ms,
        max_error_ms: ntp.max_error_ms,
        jump: jump.map(|j| crate::rules::event::ClockJumpInfo {
            kind: match j.kind {
                crate::ingest::timeline::JumpKind::Media => "media",
                crate::ingest::timeline::JumpKind::System => "system",
            }
            .into(),
            seconds: (j.seconds * 1000.0).round() / 1000.0,
            at: crate::rules::event::rfc3339(j.before, tz),
        }),
    }
}

/// The evidence thread of a camera: its results release held events into `sink`.
fn spawn_evidence(
    camera: &str,
    ring: &Arc<dyn RingSource>,
    max_pending: usize,
    liveness: Option<&Liveness>,
    collector: &Arc<Mutex<EvidenceCollector>>,
    photos: &Arc<PhotoSets>,
    sink: &EventSink,
) -> EvidenceWorker {
    let (c, s, p) = (collector.clone(), sink.clone(), photos.clone());
    EvidenceWorker::spawn_with_heartbeat(
        ring.clone(),
        max_pending,
        liveness.map(|l| l.register(format!("evidence-{camera}"))),
        move |r: JobResult| {
            if let Some(e) = r.error() {
                tracing::warn!(event = %r.event_id, error = %e, missing = r.missing.len(), "evidence job failed");
            }
            let mut released = c.lock().unwrap().on_result(r);
            p.complete(&mut released);
            for ev in released {
                s.push(ev);
            }
        },
    )
}
