//! The per-camera façade: tracker + the three rule engines + event assembly.
//!
//! The analysis thread calls [`CameraEvents::on_frame`] with each analysed frame's
//! detections; it gets back complete [`Event`]s (ids, RFC 3339 times, zone, subject,
//! category code, description) and the evidence to capture for them. Privacy zones are
//! applied first, so no rule ever sees a detection anchored in one. Nothing here blocks
//! or touches the disk except the road-damage registry (a few small SQLite writes per
//! report); open cases are handed out for persistence ([`CameraEvents::take_stays`])
//! and taken back after a restart ([`CameraEvents::restore_stays`]), see
//! [`crate::rules::stays`].

use std::collections::{HashMap, VecDeque};
use std::path::Path;

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::infer::{BBox, Detection};
use crate::ingest::onvif::ptz::PtzPosition;
use crate::ingest::{Frame, MediaTime};
use crate::rules::category::{
    CategoryTable, CodeTable, count_description, dwell_description, garbage_description,
    littering_description, parking_description, road_description, tamper_description,
};
use crate::rules::event::{
    CameraRef, Description, DeviceRef, EVENT_SCHEMA, EndReason, Event, EventKind, EventTimes,
    ModelRef, Phase, Subject, ZoneRef, new_event_id, rfc3339,
};
use crate::rules::generic::{GenericCount, GenericDwell};
use crate::rules::illegal_parking::{ClipWindow, IllegalParking, is_non_motor};
use crate::rules::littering::{LitterConfig, Littering};
use crate::rules::object_filter::drop_filtered;
use crate::rules::output::{CaptureRequest, EpisodeKey, PhaseOutput, RuleOutput};
use crate::rules::privacy::drop_private;
use crate::rules::road_damage::RoadDamage;
use crate::rules::road_registry::{RegistryError, RoadRegistry, registry_path};
use crate::rules::scene::appearance::{Appearance, SmallPicture};
use crate::rules::scene::reference::ReferenceStore;
use crate::rules::scene::tamper::{Prepared, TamperMonitor, TamperStatus};
use crate::rules::scene::view::SceneSettings;
use crate::rules::stays::{self, Committed, MediaClock, StayRecord, StaysFile};
use crate::rules::zone::{Zone, ZoneError, ZoneRule, validate_zones};
use crate::track::{TrackError, Tracker, TrackerConfig};

/// Detections of other objects carried with a snapshot request (for thin boxes).
pub const MAX_CONTEXT_BOXES: usize = 64;
/// Open episodes (candidates and running events) per camera.
pub const MAX_EPISODES: usize = 1024;

/// `[events]`: rule settings shared by all cameras (zones are per camera).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EventsConfig {
    /// Platform code table (default GB/T 47678.5-2026).
    #[serde(default)]
    pub categories: CategoryTable,
    /// Litter classes and littering-act thresholds.
    #[serde(default)]
    pub litter: LitterConfig,
    /// Evidence files, clip windows and local retention.
    #[serde(default)]
    pub evidence: crate::evidence::EvidenceConfig,
    /// Tracker tuning (defaults suit 1–25 analysis fps).
    #[serde(default)]
    pub tracker: TrackerConfig,
    /// Decided event phases the daemon holds in memory while the outbox cannot take
    /// them (e.g. a full disk), 1–65536 (default [`DEFAULT_QUEUE_DEPTH`]). Only beyond
    /// this are phases lost, and then counted per camera and kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_depth: Option<usize>,
}

/// `[events] queue_depth` when not set.
pub const DEFAULT_QUEUE_DEPTH: usize = 256;
/// Largest `[events] queue_depth` (a phase with its media list is a few KiB).
pub const MAX_QUEUE_DEPTH: usize = 65536;

impl EventsConfig {
    /// `queue_depth` or its default.
    pub fn queue_depth(&self) -> usize {
        self.queue_depth.unwrap_or(DEFAULT_QUEUE_DEPTH)
    }
}

/// Why the façade refused a configuration or a frame.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Track(#[from] TrackError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Zone(#[from] ZoneError),
    #[error(transparent)]
    Category(#[from] crate::rules::category::CategoryError),
}

/// A closed case held back for its rule's merge window: a new occurrence of the same
/// kind in the same zone overlapping it continues it (`updated`, `repeat_count`);
/// otherwise its `ended` phase goes out when the window has passed. Persisted with
/// the closing phases, so a restart sends it rather than leave the case open.
#[derive(Debug, Clone)]
struct Held {
    kind: EventKind,
    zone_id: String,
    bbox: BBox,
    /// The `ended` phase, complete, sent when the window passes.
    ended: Event,
    deadline: MediaTime,
    episode: Episode,
}

/// Cases held for a merge window at once per camera (the oldest goes out first).
const MAX_HELD: usize = 256;

/// Who and what the events of this camera name.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraContext {
    pub device: DeviceRef,
    pub camera: CameraRef,
    pub tz: Tz,
    pub model: ModelRef,
}

/// Evidence to capture for an event (or a candidate that may become one).
#[derive(Debug, Clone, PartialEq)]
pub struct EvidenceRequest {
    pub event_id: String,
    pub kind: EventKind,
    pub capture: CaptureRequest,
    /// Prefix of the file names (`r2-` for a repeat merged into a case), so names
    /// stay unique within an event.
    pub prefix: String,
    /// Analysis frame size the boxes are in.
    pub frame_w: u32,
    pub frame_h: u32,
    /// Label drawn on the subject's box.
    pub label: String,
    /// Other detections of the frame (drawn thinner), at most [`MAX_CONTEXT_BOXES`].
    pub context: Vec<(BBox, String)>,
}

/// What one analysed frame produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrameOutput {
    pub events: Vec<Event>,
    pub evidence: Vec<EvidenceRequest>,
    /// Event ids of candidates that never became events: evidence already captured
    /// for them may be deleted.
    pub abandoned: Vec<String>,
}

#[derive(Debug, Clone)]
struct Episode {
    id: String,
    next_seq: u32,
    /// The decided `started` phase (media stripped), persisted with the open case.
    started: Option<Event>,
    /// A start found `started` in the outbox (false: decided, commit not confirmed).
    started_committed: bool,
    /// Restored with a `started` that never reached the outbox: it is decided again
    /// when the object comes back, or sent as stored before the case's next phase.
    resend: bool,
    /// Occurrences merged into this case (1, then 2 after the first repeat…).
    repeats: u32,
}

impl Episode {
    fn new(id: String) -> Self {
        Self {
            id,
            next_seq: 0,
            started: None,
            started_committed: false,
            resend: false,
            repeats: 1,
        }
    }

    /// File-name prefix of the evidence of a repeat (`r2-confirmation.jpg`), so names
    /// stay unique within the case.
    fn prefix(&self) -> String {
        if self.repeats > 1 {
            format!("r{}-", self.repeats)
        } else {
            String::new()
        }
    }
}

/// Cases read from the stays file, put back at the first analysed frame: its media
/// time starts their grace period (and, for replays, says how far to shift them).
#[derive(Debug)]
struct PendingRestore {
    clock: MediaClock,
    saved_media: MediaTime,
    stays: Vec<(StayRecord, bool)>,
}

/// Kinds whose cases have several phases and so are persisted across restarts.
fn persisted(kind: EventKind) -> bool {
    matches!(
        kind,
        EventKind::IllegalParking
            | EventKind::ExposedGarbage
            | EventKind::LitteringAct
            | EventKind::CameraTampering
            | EventKind::Custom(_)
    )
}

/// What the page shows about a camera's scene: where it looks, whether the rules
/// run, and the tampering checks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SceneStatus {
    /// PTZ position last reported (None: a camera without PTZ, or no status yet).
    pub ptz: Option<PtzPosition>,
    /// The view whose zones are in force; None while the rules are paused.
    pub view: Option<String>,
    /// Why the rules are paused (`moving`, `away`, `tampering: blocked`…).
    pub paused: Option<String>,
    /// Media time (RFC 3339) the rules paused at.
    pub paused_since: Option<String>,
    pub tamper: TamperStatus,
}

/// Seconds between two reduced copies kept for vehicle appearances.
const APPEARANCE_PICTURE_S: f64 = 0.5;

/// Tracker, rules and event assembly for one camera.
#[derive(Debug)]
pub struct CameraEvents {
    ctx: CameraContext,
    config: EventsConfig,
    zones: Vec<Zone>,
    tracker: Tracker,
    parking: IllegalParking,
    littering: Littering,
    road: Option<RoadDamage>,
    dwell: GenericDwell,
    count: GenericCount,
    /// The resolved code table of `config.categories`.
    codes: CodeTable,
    /// Closed cases waiting out their merge window.
    held: VecDeque<Held>,
    episodes: HashMap<(EventKind, EpisodeKey), Episode>,
    pending: Option<PendingRestore>,
    /// Phases of closed cases whose commit is not confirmed yet (media stripped).
    closing: VecDeque<Event>,
    /// Open cases changed since the last [`CameraEvents::take_stays`].
    stays_dirty: bool,
    last_time: Option<MediaTime>,
    last_save: Option<MediaTime>,
    /// PTZ settings and tampering thresholds (see [`crate::rules::scene`]).
    scene: SceneSettings,
    tamper: TamperMonitor,
    /// Where the PTZ camera is, as last reported.
    position: Option<PtzPosition>,
    /// The preset the camera stopped at and when that was learnt, while its picture
    /// settles (`ptz.settle_s`): the view comes into force after it.
    settling: Option<(String, MediaTime)>,
    /// The view in force: None while paused (moving, away, tampering).
    view: Option<String>,
    paused_since: Option<MediaTime>,
    /// The zones in force (all of them for a camera without PTZ).
    view_zones: Vec<Zone>,
    /// A reduced copy of a recent frame, for vehicle appearances.
    picture: Option<(SmallPicture, MediaTime)>,
}

fn clip_of(
    c: Option<crate::evidence::ClipWindowConfig>,
    d: crate::evidence::ClipWindowConfig,
) -> ClipWindow {
    let c = c.unwrap_or(d);
    ClipWindow {
        pre_s: c.pre_roll_s,
        post_s: c.post_roll_s,
    }
}

fn has_road(zones: &[Zone]) -> bool {
    zones.iter().any(|z| {
        z.rules
            .iter()
            .any(|r| matches!(r, ZoneRule::RoadWatch { .. }))
    })
}

impl CameraEvents {
    /// Builds the engines for one camera. The road-damage registry is opened (under
    /// `state_dir/road-damage/`) only when a zone has a `road_watch` rule.
    pub fn new(
        ctx: CameraContext,
        zones: Vec<Zone>,
        config: EventsConfig,
        state_dir: &Path,
    ) -> Result<Self, EngineError> {
        validate_zones(&zones)?;
        let codes = config.categories.resolve()?;
        let ev = &config.evidence;
        let parking =
            IllegalParking::new(&zones, ctx.tz, clip_of(ev.illegal_parking_clip, ev.clip));
        let generic_clip = clip_of(None, ev.clip);
        let dwell = GenericDwell::new(&zones, ctx.tz, generic_clip);
        let count = GenericCount::new(&zones, ctx.tz, generic_clip);
        let lc = clip_of(ev.littering_clip, ev.clip);
        let littering = Littering::new(&zones, ctx.tz, config.litter.clone(), lc.pre_s, lc.post_s);
        let zones_clone = zones.clone();
        let road = if has_road(&zones) {
            let reg = RoadRegistry::open(&registry_path(state_dir, &ctx.camera.id))?;
            Some(RoadDamage::new(&zones, ctx.tz, reg))
        } else {
            None
        };
        Ok(Self {
            tracker: Tracker::new(config.tracker.clone())?,
            ctx,
            config,
            zones,
            parking,
            littering,
            road,
            dwell,
            count,
            codes,
            held: VecDeque::new(),
            episodes: HashMap::new(),
            pending: None,
            closing: VecDeque::new(),
            stays_dirty: false,
            last_time: None,
            last_save: None,
            scene: SceneSettings::default(),
            tamper: TamperMonitor::new(Default::default(), ReferenceStore::in_memory()),
            position: None,
            settling: None,
            view: Some(crate::rules::scene::view::FIXED.into()),
            paused_since: None,
            view_zones: zones_clone,
            picture: None,
        })
    }

    /// The camera's scene: PTZ presets (zones per preset, patrol, resume limit) and
    /// tampering thresholds, with where its reference views are kept. Call before
    /// the first frame.
    pub fn set_scene(&mut self, scene: SceneSettings, store: ReferenceStore) {
        self.parking.set_scene(&scene);
        self.tamper = TamperMonitor::new(scene.tamper.clone(), store);
        self.scene = scene;
        self.view = self.scene.view_of(self.position.as_ref());
        self.view_zones = match &self.view {
            Some(v) => self.scene.zones_of(&self.zones, v),
            None => Vec::new(),
        };
        if self.scene.ptz.is_some() {
            // Littering, road damage and the generic rules only ever hold the zones
            // in force.
            let lz = self.view_zones.clone();
            let now = self.last_time.unwrap_or(MediaTime(0));
            let _ = self
                .littering
                .set_zones(&lz, self.config.litter.clone(), now);
            let _ = self.dwell.set_zones(&lz, now);
            let _ = self.count.set_zones(&lz, now);
            if let Some(r) = &mut self.road {
                r.set_zones(&lz);
            }
        }
        let _ = self.parking.set_view(
            self.view.as_deref(),
            self.last_time.unwrap_or(MediaTime(0)),
            &self.scene.resume_policy(),
            0.0,
        );
    }

    /// New tampering thresholds (hot reload); conditions in progress continue.
    pub fn set_tamper_config(&mut self, cfg: crate::rules::scene::tamper::TamperConfig) {
        self.scene.tamper = cfg.clone();
        self.tamper.set_config(cfg);
    }

    /// Where the PTZ camera is now (ONVIF status in the daemon, the script in
    /// replay). A change of view pauses, resumes or switches the rules.
    pub fn set_ptz(&mut self, position: PtzPosition, now: MediaTime) -> FrameOutput {
        // Stopped at a preset after a move: the pictures still on their way show the
        // move. The first position ever reported is where the camera already stood.
        self.settling = match (&position, &self.position) {
            (PtzPosition::At(p), Some(before)) if *before != position => Some((p.clone(), now)),
            (PtzPosition::At(_), _) => self.settling.take(),
            _ => None,
        };
        self.position = Some(position);
        let mut out = FrameOutput::default();
        self.update_view(now, Vec::new(), &mut out);
        out
    }

    /// A decoded frame (every frame may be offered): the tampering checks run on at
    /// most `check_fps` of them, and a reduced copy is kept for vehicle appearances.
    pub fn on_picture(&mut self, now: MediaTime, w: u32, h: u32, rgb: &[u8]) -> FrameOutput {
        self.on_picture_of(
            now,
            w,
            h,
            || Prepared::of(w, h, rgb),
            || SmallPicture::of(w, h, rgb),
        )
    }

    /// [`Self::on_picture`] for a camera's decoded frame: a YUV frame is read as it is
    /// (its Y plane for the checks, only the sampled pixels converted for the
    /// appearance copy), never converted whole.
    pub fn on_decoded(&mut self, frame: &Frame) -> FrameOutput {
        self.on_picture_of(
            frame.time,
            frame.width,
            frame.height,
            || Prepared::of_frame(frame),
            || SmallPicture::of_frame(frame),
        )
    }

    fn on_picture_of(
        &mut self,
        now: MediaTime,
        w: u32,
        h: u32,
        prepared: impl FnOnce() -> Option<Prepared>,
        small: impl FnOnce() -> Option<SmallPicture>,
    ) -> FrameOutput {
        let mut outs = self.tamper.picture_arrived(now, w, h);
        if self.tamper.wants_check(now)
            && let Some(p) = prepared()
        {
            outs.extend(self.tamper.check(now, &p));
        }
        if self
            .picture
            .as_ref()
            .is_none_or(|(_, t)| now.secs_since(*t) >= APPEARANCE_PICTURE_S)
            && let Some(p) = small()
        {
            self.picture = Some((p, now));
        }
        outs.extend(self.tamper.expire(now));
        let mut out = FrameOutput::default();
        self.update_view_sized(now, w, h, outs, &mut out);
        out
    }

    /// No frame for a while (`now` from the box's clock): a lost signal is reported
    /// after the camera's `signal_lost_s`.
    pub fn on_idle(&mut self, now: MediaTime) -> FrameOutput {
        let outs = self.tamper.on_idle(now);
        let mut out = FrameOutput::default();
        self.update_view(now, outs, &mut out);
        out
    }

    /// The technician asked for a new reference view: the next checked picture of
    /// the view the camera stands at (a PTZ camera still settling at a preset: once its
    /// picture settled there).
    pub fn request_reference(&mut self) {
        match self.scene.view_of(self.position.as_ref()) {
            Some(v) => self.tamper.request_reference_of(&v),
            None => self.tamper.request_reference(),
        }
    }

    /// The reference picture of `view` (grey PNG), if one was set.
    pub fn reference_png(&mut self, view: &str) -> Option<Vec<u8>> {
        self.tamper.reference_of(view).and_then(|r| r.grey.to_png())
    }

    pub fn scene_status(&self) -> SceneStatus {
        let paused = match (&self.view, self.tamper.pause_reason()) {
            (Some(_), _) => None,
            (None, Some(t)) => Some(format!("tampering: {t}")),
            (None, None) => Some(
                match &self.position {
                    Some(PtzPosition::Moving) => "moving",
                    Some(PtzPosition::At(_)) if self.settling.is_some() => "settling",
                    Some(PtzPosition::At(_)) => "preset without zones",
                    _ => "away from every preset",
                }
                .to_string(),
            ),
        };
        SceneStatus {
            ptz: self.position.clone(),
            view: self.view.clone(),
            paused,
            paused_since: self.paused_since.map(|t| t.to_utc().to_rfc3339()),
            tamper: self.tamper.status(),
        }
    }

    /// Whether the rules run now (a view is in force).
    pub fn active(&self) -> bool {
        self.view.is_some()
    }

    /// Whether the camera stopped at its preset less than `ptz.settle_s` ago.
    fn settling_at(&self, now: MediaTime) -> bool {
        let settle_s = self.scene.ptz.as_ref().map_or(0.0, |p| p.settle_s);
        self.settling
            .as_ref()
            .is_some_and(|(_, since)| now.secs_since(*since) < settle_s)
    }

    fn update_view(&mut self, now: MediaTime, outs: Vec<RuleOutput>, out: &mut FrameOutput) {
        let (w, h) = self.tamper_frame();
        self.update_view_sized(now, w, h, outs, out);
    }

    fn tamper_frame(&self) -> (u32, u32) {
        self.tamper.frame()
    }

    /// Re-evaluates the view (PTZ position, tampering) and switches the rules.
    fn update_view_sized(
        &mut self,
        now: MediaTime,
        w: u32,
        h: u32,
        mut outs: Vec<RuleOutput>,
        out: &mut FrameOutput,
    ) {
        if self.settling.is_some() && !self.settling_at(now) {
            self.settling = None;
        }
        let position_view = self
            .scene
            .view_of(self.position.as_ref())
            .filter(|_| self.settling.is_none());
        outs.extend(self.tamper.set_view(position_view.as_deref(), now));
        let view = match self.tamper.pause_reason() {
            Some(_) => None,
            None => position_view,
        };
        // A view with no zone at all still runs (nothing to decide); a PTZ preset
        // without zones is simply quiet.
        if view != self.view {
            let status = self.scene_status();
            match &view {
                None => tracing::info!(
                    camera = %self.ctx.camera.id,
                    reason = status.paused.as_deref().unwrap_or("moving"),
                    "rules paused"
                ),
                Some(v) => tracing::info!(camera = %self.ctx.camera.id, view = %v, "rules resumed"),
            }
            // Tracks from another view (or a moving picture) mean nothing here.
            self.tracker.reset();
            let policy = self.scene.resume_policy();
            let grace = self.config.tracker.stationary_after_s + stays::RESUME_MARGIN_S;
            outs.extend(self.parking.set_view(view.as_deref(), now, &policy, grace));
            if let Some(v) = &view {
                let zones = self.scene.zones_of(&self.zones, v);
                if self.scene.ptz.is_some() && zones != self.view_zones {
                    outs.extend(self.littering.set_zones_because(
                        &zones,
                        self.config.litter.clone(),
                        now,
                        EndReason::CameraMoved,
                    ));
                    outs.extend(
                        self.dwell
                            .set_zones_because(&zones, now, EndReason::CameraMoved),
                    );
                    outs.extend(
                        self.count
                            .set_zones_because(&zones, now, EndReason::CameraMoved),
                    );
                    if let Some(r) = &mut self.road {
                        r.set_zones(&zones);
                    }
                }
                self.view_zones = zones;
                self.paused_since = None;
            } else {
                self.paused_since.get_or_insert(now);
            }
            self.view = view;
            self.stays_dirty = true;
        }
        outs.extend(self.parking.expire(now, &self.scene.resume_policy()));
        if !outs.is_empty() {
            self.assemble(now, w, h, &[], outs, out);
        }
    }

    /// Takes back the open cases of a stays file written before a restart, reconciled
    /// with what the destination holds (`committed`, asked per event id). They are put
    /// back at the first analysed frame and wait a grace period for their objects.
    /// Returns the closing phases the destination lacks, to be sent again now.
    pub fn restore_stays(
        &mut self,
        file: StaysFile,
        clock: MediaClock,
        committed: &dyn Fn(&str) -> Committed,
    ) -> Vec<Event> {
        let r = stays::reconcile(file, committed);
        for e in &r.resend {
            self.remember_closing(e.clone());
        }
        self.stays_dirty = true;
        self.pending = Some(PendingRestore {
            clock,
            saved_media: r.saved_media,
            stays: r.stays,
        });
        r.resend
    }

    /// Puts the restored cases back into their rules at the first frame (`now`).
    fn apply_pending(&mut self, now: MediaTime, out: &mut FrameOutput) {
        let Some(p) = self.pending.take() else {
            return;
        };
        let shift = match p.clock {
            MediaClock::Wall => 0,
            MediaClock::Restarts => now.0.saturating_sub(p.saved_media.0),
        };
        let min_grace = self.config.tracker.stationary_after_s + stays::RESUME_MARGIN_S;
        for (mut rec, resend) in p.stays {
            rec.shift(shift, now);
            let ep = rec.episode();
            // After a long outage the object in place may be another one.
            let fresh = now.secs_since(ep.last_seen) <= stays::RESUME_MAX_GAP_S;
            let key = match rec.kind {
                _ if !fresh => None,
                EventKind::IllegalParking => self.parking.restore(ep, now, min_grace, resend),
                EventKind::ExposedGarbage | EventKind::LitteringAct => {
                    self.littering.restore(ep, now, min_grace, resend)
                }
                EventKind::Custom(_) => self.dwell.restore(ep, now, min_grace, resend),
                EventKind::RoadDamage => None,
                EventKind::CameraTampering => self.tamper.restore(&ep, now, min_grace),
            };
            match key {
                Some(key) => {
                    let ep = Episode {
                        next_seq: rec.next_seq,
                        started: Some(rec.started),
                        started_committed: rec.started_committed,
                        resend,
                        ..Episode::new(rec.id)
                    };
                    self.episodes.insert((rec.kind, key), ep);
                }
                None => {
                    // Cannot wait for its object: closed now.
                    let mut seq = rec.next_seq;
                    if resend {
                        let e = stays::resent_started(&rec.started);
                        self.remember_closing(e.clone());
                        out.events.push(e);
                        seq = seq.max(1);
                    }
                    let e = stays::ended_from(&rec, seq, now, EndReason::Restart, self.ctx.tz);
                    self.remember_closing(e.clone());
                    out.events.push(e);
                }
            }
        }
        self.stays_dirty = true;
    }

    fn remember_closing(&mut self, e: Event) {
        if self.closing.len() >= stays::MAX_CLOSING
            && let Some(old) = self.closing.pop_front()
        {
            tracing::warn!(
                event = %old.id,
                "too many closing phases waiting for their commit; forgetting the oldest"
            );
        }
        self.closing.push_back(stays::strip(&e));
    }

    /// The open cases (and closing phases) to persist, when they changed since the
    /// last call or [`stays::REFRESH_S`] passed with cases open; None otherwise or
    /// before the first frame.
    pub fn take_stays(&mut self) -> Option<StaysFile> {
        let now = self.last_time?;
        let refresh = self
            .last_save
            .is_some_and(|t| now.secs_since(t) >= stays::REFRESH_S)
            && self.episodes.values().any(|e| e.started.is_some());
        if !self.stays_dirty && !refresh {
            return None;
        }
        self.stays_dirty = false;
        self.last_save = Some(now);
        Some(self.stays_file())
    }

    /// Everything to persist now (open cases, cases still waiting to be restored,
    /// closing phases).
    pub fn stays_file(&self) -> StaysFile {
        let saved = self
            .last_time
            .or(self.pending.as_ref().map(|p| p.saved_media))
            .unwrap_or(MediaTime(0));
        let mut f = StaysFile::new(&self.ctx.camera.id, saved);
        let open = [
            self.parking.open(),
            self.littering.open(),
            self.dwell.open(),
            self.count.open(),
            self.tamper.open(),
        ];
        for ep in open.iter().flatten() {
            if let Some(e) = self.episodes.get(&(ep.kind, ep.key))
                && let Some(st) = &e.started
            {
                f.stays.push(StayRecord::new(
                    ep,
                    &e.id,
                    e.next_seq,
                    st,
                    e.started_committed,
                ));
            }
        }
        if let Some(p) = &self.pending {
            f.stays.extend(p.stays.iter().map(|(r, _)| r.clone()));
        }
        f.closing = self.closing.iter().cloned().collect();
        // A case held for its merge window is closed as far as a restart goes: its
        // `ended` is sent then.
        f.closing
            .extend(self.held.iter().map(|h| stays::strip(&h.ended)));
        f
    }

    /// The resolved code table in force.
    pub fn codes(&self) -> &CodeTable {
        &self.codes
    }

    /// Event ids of the closing phases still waiting for a confirmed commit.
    pub fn closing_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.closing.iter().map(|e| e.id.clone()).collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// Forgets the closing phases `committed` says reached the destination (called
    /// just before writing the file, so this does not mark it changed).
    pub fn prune_closing(&mut self, committed: &dyn Fn(&str) -> Committed) {
        self.closing
            .retain(|e| !stays::is_committed(e, &committed(&e.id)));
    }

    /// The zones in force now (a PTZ camera: the current preset's; while paused, the
    /// last preset's, for privacy masks).
    pub fn zones_in_force(&self) -> &[Zone] {
        &self.view_zones
    }

    /// Every zone of the camera, of all presets.
    pub fn all_zones(&self) -> &[Zone] {
        &self.zones
    }

    /// The tracker's confirmed tracks after the last frame (the Live page labels boxes
    /// with their ids).
    pub fn tracks(&self) -> impl Iterator<Item = &crate::track::Track> {
        self.tracker.tracks()
    }

    /// Hot reload of zones (and rule settings): validated first, then swapped. Running
    /// stays, litter spots and damage candidates of zones whose id still exists keep
    /// their state and event ids; those of removed zones are closed (their `ended`
    /// phases come back here). The tracker is kept unless its settings changed.
    pub fn set_zones(
        &mut self,
        zones: Vec<Zone>,
        config: EventsConfig,
        state_dir: &Path,
        now: MediaTime,
    ) -> Result<FrameOutput, EngineError> {
        validate_zones(&zones)?;
        let codes = config.categories.resolve()?;
        if config.tracker != self.config.tracker {
            self.tracker = Tracker::new(config.tracker.clone())?;
        }
        let mut outs = self.parking.set_zones(&zones, now);
        // Littering, road damage and the generic rules hold only the zones in force.
        let in_force = match (&self.scene.ptz, &self.view) {
            (None, _) => zones.clone(),
            (Some(_), Some(v)) => self.scene.zones_of(&zones, v),
            (Some(_), None) => self.scene.zones_of(&zones, ""),
        };
        outs.extend(
            self.littering
                .set_zones(&in_force, config.litter.clone(), now),
        );
        outs.extend(self.dwell.set_zones(&in_force, now));
        outs.extend(self.count.set_zones(&in_force, now));
        match (&mut self.road, has_road(&in_force)) {
            (Some(r), true) => r.set_zones(&in_force),
            (None, true) => {
                let reg = RoadRegistry::open(&registry_path(state_dir, &self.ctx.camera.id))?;
                self.road = Some(RoadDamage::new(&in_force, self.ctx.tz, reg));
            }
            (_, false) => self.road = None,
        }
        // Closing phases name the zone as it was configured before the swap.
        let mut out = FrameOutput::default();
        self.assemble(now, 0, 0, &[], outs, &mut out);
        if self.view.is_some() || self.scene.ptz.is_none() {
            self.view_zones = in_force;
        }
        self.zones = zones;
        self.config = config;
        self.codes = codes;
        // Held cases whose rule (or zone) no longer merges go out now.
        self.release_held(now, true, &mut out);
        Ok(out)
    }

    /// Hot reload of everything a running camera's rules depend on: the context
    /// stamped into events (device id, division code, camera name, model version),
    /// the timezone, `[events]` (clip windows included) and the zones. Open stays keep
    /// their state and event ids as in [`Self::set_zones`]; only a changed state
    /// directory reopens the road-damage registry.
    pub fn reconfigure(
        &mut self,
        ctx: CameraContext,
        zones: Vec<Zone>,
        config: EventsConfig,
        state_dir: &Path,
        state_dir_changed: bool,
        now: MediaTime,
    ) -> Result<FrameOutput, EngineError> {
        validate_zones(&zones)?;
        config.categories.validate()?;
        let ev = &config.evidence;
        self.parking
            .set_context(ctx.tz, clip_of(ev.illegal_parking_clip, ev.clip));
        self.dwell.set_context(ctx.tz, clip_of(None, ev.clip));
        self.count.set_context(ctx.tz, clip_of(None, ev.clip));
        let lc = clip_of(ev.littering_clip, ev.clip);
        self.littering.set_context(ctx.tz, lc.pre_s, lc.post_s);
        if let Some(r) = &mut self.road {
            r.set_tz(ctx.tz);
        }
        if state_dir_changed {
            self.road = None;
        }
        self.ctx = ctx;
        self.set_zones(zones, config, state_dir, now)
    }

    /// Feeds one analysed frame (its media time, size and detections).
    ///
    /// Media time must not run backwards ([`EngineError::Track`]); after a stream
    /// restart that re-bases time, call [`Self::reset_tracker`] first.
    pub fn on_frame(
        &mut self,
        time: MediaTime,
        frame_w: u32,
        frame_h: u32,
        detections: &[Detection],
    ) -> Result<FrameOutput, EngineError> {
        let mut out = FrameOutput::default();
        if self.view.is_none() {
            // Paused (moving, away from every preset, tampering): nothing is decided
            // on this picture, and the tracker does not see it.
            self.last_time = Some(time);
            self.apply_pending(time, &mut out);
            return Ok(out);
        }
        let mut dets = detections.to_vec();
        drop_private(&mut dets, frame_w, frame_h, &self.view_zones);
        // Per-zone object filters keep noise out of the rules and the evidence.
        drop_filtered(&mut dets, frame_w, frame_h, &self.view_zones);
        self.tracker.update(time, &dets)?;
        self.last_time = Some(time);
        self.apply_pending(time, &mut out);
        let tracks: Vec<_> = self.tracker.tracks().cloned().collect();
        let pic = self.picture.as_ref().map(|(p, _)| p);
        let look = |b: &BBox| pic.and_then(|p| Appearance::of(p, (b.x1, b.y1, b.x2, b.y2)));
        let mut outs = self
            .parking
            .on_frame_seen(time, &tracks, frame_w, frame_h, &look);
        outs.extend(
            self.littering
                .on_frame(time, &dets, &tracks, frame_w, frame_h),
        );
        if let Some(road) = &mut self.road {
            outs.extend(road.on_frame(time, &dets, frame_w, frame_h)?);
        }
        outs.extend(self.dwell.on_frame(time, &tracks, frame_w, frame_h));
        outs.extend(self.count.on_frame(time, &tracks, frame_w, frame_h));
        self.assemble(time, frame_w, frame_h, &dets, outs, &mut out);
        self.release_held(time, false, &mut out);
        Ok(out)
    }

    /// Parking candidates (event ids) whose confirmation waits for their plate read
    /// (see `IllegalParking::plate_waits`): the caller waits for the read and answers
    /// with [`Self::set_plate`].
    pub fn plate_waits(&self) -> Vec<String> {
        let keys = self.parking.plate_waits();
        self.episodes
            .iter()
            .filter(|((kind, key), _)| *kind == EventKind::IllegalParking && keys.contains(key))
            .map(|(_, e)| e.id.clone())
            .collect()
    }

    /// A plate agreed for event (or candidate) `event_id` by its evidence pictures, or
    /// `None` when its read found none: the parking rule keeps one stay per plate
    /// across occlusions, so this may abandon a duplicate candidate.
    pub fn set_plate(
        &mut self,
        event_id: &str,
        plate: Option<&str>,
        now: MediaTime,
    ) -> FrameOutput {
        let mut out = FrameOutput::default();
        let key = self
            .episodes
            .iter()
            .find(|((kind, _), e)| *kind == EventKind::IllegalParking && e.id == event_id)
            .map(|((_, key), _)| *key);
        if let Some(key) = key {
            let outs = self.parking.set_plate(key, plate);
            self.assemble(now, 0, 0, &[], outs, &mut out);
        }
        out
    }

    /// After a stream restart that re-based media time.
    pub fn reset_tracker(&mut self) {
        self.tracker.reset();
    }

    fn episode(
        &mut self,
        kind: EventKind,
        key: EpisodeKey,
        at: MediaTime,
        fixed: Option<&str>,
    ) -> &mut Episode {
        if self.episodes.len() >= MAX_EPISODES && !self.episodes.contains_key(&(kind, key)) {
            // Should not happen (every rule bounds its own state); forget the oldest
            // ids rather than grow without bound.
            if let Some(k) = self.episodes.keys().min_by_key(|k| k.1).copied() {
                self.episodes.remove(&k);
            }
        }
        self.episodes
            .entry((kind, key))
            .or_insert_with(|| Episode::new(fixed.map_or_else(|| new_event_id(at), str::to_string)))
    }

    /// The merge window of `kind`'s rule in zone `zone_id` (0: off).
    fn merge_window(&self, kind: EventKind, zone_id: &str) -> f64 {
        let Some(z) = self.zones.iter().find(|z| z.id == zone_id) else {
            return 0.0;
        };
        z.rules
            .iter()
            .filter(|r| match kind {
                EventKind::IllegalParking => matches!(r, ZoneRule::NoParking { .. }),
                EventKind::ExposedGarbage | EventKind::LitteringAct => {
                    matches!(r, ZoneRule::LitterWatch { .. })
                }
                EventKind::RoadDamage | EventKind::CameraTampering => false,
                EventKind::Custom(k) => r.event_kind() == Some(k),
            })
            .map(ZoneRule::merge_window_s)
            .fold(0.0, f64::max)
    }

    /// Sends the `ended` of held cases whose window has passed (or, after a reload,
    /// whose rule no longer merges).
    fn release_held(&mut self, now: MediaTime, reloaded: bool, out: &mut FrameOutput) {
        let mut i = 0;
        while i < self.held.len() {
            let h = &self.held[i];
            let gone = reloaded && self.merge_window(h.kind, &h.zone_id) <= 0.0;
            if now >= h.deadline || gone {
                let h = self.held.remove(i).expect("index checked");
                if persisted(h.kind) {
                    self.remember_closing(h.ended.clone());
                    self.stays_dirty = true;
                }
                out.events.push(h.ended);
            } else {
                i += 1;
            }
        }
    }

    /// A held case a new `started` of `kind` in `zone_id` about `bbox` continues.
    fn take_held(&mut self, kind: EventKind, zone_id: &str, bbox: &BBox) -> Option<Held> {
        let i = self.held.iter().position(|h| {
            h.kind == kind && h.zone_id == zone_id && h.bbox.intersection(bbox) > 0.0
        })?;
        self.held.remove(i)
    }

    fn assemble(
        &mut self,
        now: MediaTime,
        w: u32,
        h: u32,
        dets: &[Detection],
        outs: Vec<RuleOutput>,
        out: &mut FrameOutput,
    ) {
        // A new occurrence within its rule's merge window continues the held case:
        // its episode takes the case's id (before its evidence is filed) and its
        // `started` becomes an `updated` with `repeat_count`.
        let mut merged: Vec<(EventKind, EpisodeKey)> = Vec::new();
        for o in &outs {
            if let RuleOutput::Phase { key, phase } = o
                && phase.phase == Phase::Started
                && phase.event_id.is_none()
                && self
                    .episodes
                    .get(&(phase.kind, *key))
                    .is_none_or(|e| e.started.is_none())
                && let Some(held) = self.take_held(phase.kind, &phase.zone_id, &phase.subject.bbox)
            {
                let mut ep = held.episode;
                ep.repeats += 1;
                tracing::info!(
                    event = %ep.id,
                    kind = %phase.kind,
                    zone = %phase.zone_id,
                    repeat_count = ep.repeats,
                    "a repeat within the merge window continues the case"
                );
                if let Some(old) = self.episodes.insert((phase.kind, *key), ep) {
                    // Evidence taken for the candidate before it was known to be a
                    // repeat: not part of the case (its names would collide).
                    out.abandoned.push(old.id);
                }
                merged.push((phase.kind, *key));
                self.stays_dirty = true;
            }
        }
        // Rules that choose their own ids (road damage) may ask for evidence before
        // the phase that carries the id: file that evidence under the same id.
        for o in &outs {
            if let RuleOutput::Phase { key, phase } = o
                && let Some(id) = &phase.event_id
            {
                self.episode(phase.kind, *key, phase.start, Some(id));
            }
        }
        for o in outs {
            match o {
                RuleOutput::Capture { key, kind, request } => {
                    let ep = self.episode(kind, key, now, None);
                    let (id, prefix) = (ep.id.clone(), ep.prefix());
                    let bbox = match &request {
                        CaptureRequest::Snapshot { bbox, .. } => Some(*bbox),
                        CaptureRequest::Clip { .. } => None,
                    };
                    // Other detections travel with their category; the evidence side
                    // draws only those a rule of the subject's zone acts on, labelled
                    // in Chinese (`evidence::labels`).
                    let context = dets
                        .iter()
                        .filter(|d| bbox.is_none_or(|b| d.bbox.iou(&b) < 0.9))
                        .take(MAX_CONTEXT_BOXES)
                        .map(|d| (d.bbox, d.category.as_str().to_string()))
                        .collect();
                    // The subject's own detection names its category and score on the
                    // label, e.g. "违停 小汽车 0.91".
                    let own = bbox.and_then(|b| {
                        dets.iter()
                            .filter(|d| d.bbox.iou(&b) >= 0.5)
                            .max_by(|x, y| x.bbox.iou(&b).total_cmp(&y.bbox.iou(&b)))
                    });
                    let label = crate::evidence::labels::subject_label(
                        kind,
                        own.map(|d| d.category.as_str()),
                        own.map(|d| d.score),
                    );
                    out.evidence.push(EvidenceRequest {
                        event_id: id,
                        kind,
                        capture: request,
                        prefix,
                        frame_w: w,
                        frame_h: h,
                        label,
                        context,
                    });
                }
                RuleOutput::Abandoned { key, kind } => {
                    if let Some(e) = self.episodes.remove(&(kind, key)) {
                        if e.repeats > 1 {
                            // A repeat's candidate never confirmed: the case itself
                            // is over; its evidence (r2-…) stays with it. Only
                            // reachable for rules that confirm after their start.
                            continue;
                        }
                        out.abandoned.push(e.id);
                    }
                }
                RuleOutput::Phase { key, mut phase } => {
                    let k = (phase.kind, key);
                    let repeat = merged.contains(&k);
                    if repeat {
                        phase.phase = Phase::Updated;
                    }
                    let window = if phase.phase == Phase::Ended
                        && phase.end_reason == Some(EndReason::Gone)
                    {
                        self.merge_window(phase.kind, &phase.zone_id)
                    } else {
                        0.0
                    };
                    let ep = self.episode(phase.kind, key, phase.start, phase.event_id.as_deref());
                    let mut resent = None;
                    let seq = if phase.phase == Phase::Started {
                        // Always 0, also when a restored case decides it again.
                        ep.resend = false;
                        ep.next_seq = ep.next_seq.max(1);
                        0
                    } else {
                        if ep.resend {
                            // Restored without its `started` reaching the outbox, and
                            // not decided again: send the stored one first.
                            ep.resend = false;
                            resent = ep.started.as_ref().map(stays::resent_started);
                            ep.next_seq = ep.next_seq.max(1);
                        }
                        ep.next_seq += 1;
                        ep.next_seq - 1
                    };
                    let id = ep.id.clone();
                    let repeats = ep.repeats;
                    let episode = (window > 0.0).then(|| ep.clone());
                    if phase.phase == Phase::Ended || phase.kind == EventKind::RoadDamage {
                        self.episodes.remove(&k);
                    }
                    let mut ev = self.build(id, seq, &phase, w, h);
                    if repeats > 1 {
                        ev.details
                            .insert("repeat_count".into(), serde_json::Value::from(repeats));
                    }
                    if let Some(r) = resent {
                        if phase.phase == Phase::Ended {
                            self.remember_closing(r.clone());
                        }
                        out.events.push(r);
                    }
                    if let Some(mut episode) = episode {
                        // Held for the merge window; the case's next phase (a repeat's
                        // `updated`) takes this seq if it comes.
                        episode.next_seq = seq;
                        if self.held.len() >= MAX_HELD
                            && let Some(old) = self.held.pop_front()
                        {
                            if persisted(old.kind) {
                                self.remember_closing(old.ended.clone());
                            }
                            out.events.push(old.ended);
                        }
                        let end = phase.end.unwrap_or(phase.at);
                        self.held.push_back(Held {
                            kind: phase.kind,
                            zone_id: phase.zone_id.clone(),
                            bbox: phase.subject.bbox,
                            ended: ev,
                            deadline: end.add_secs(window),
                            episode,
                        });
                        self.stays_dirty = true;
                        continue;
                    }
                    if persisted(phase.kind) {
                        match phase.phase {
                            Phase::Started => {
                                if let Some(ep) = self.episodes.get_mut(&k) {
                                    ep.started = Some(stays::strip(&ev));
                                    ep.started_committed = false;
                                }
                            }
                            Phase::Updated => {}
                            Phase::Ended => self.remember_closing(ev.clone()),
                        }
                        self.stays_dirty = true;
                    }
                    out.events.push(ev);
                }
            }
        }
    }

    fn build(&self, id: String, seq: u32, p: &PhaseOutput, w: u32, h: u32) -> Event {
        let zone = self.zones.iter().find(|z| z.id == p.zone_id);
        let zone_name = zone.map_or(p.zone_id.as_str(), |z| {
            if z.name.is_empty() {
                z.id.as_str()
            } else {
                z.name.as_str()
            }
        });
        let s = &p.subject;
        let cat = s.category.as_str();
        let non_motor = is_non_motor(&s.category, &s.class_name);
        let category =
            self.codes
                .code_for(p.kind, non_motor, self.ctx.device.division_code.as_deref());
        let secs = p.duration_s.unwrap_or(0.0);
        let (zh, en) = describe(
            p.kind,
            &category.name,
            &s.class_name,
            cat,
            zone_name,
            secs,
            &p.details,
        );
        let (fw, fh) = (w.max(1) as f32, h.max(1) as f32);
        let tz = self.ctx.tz;
        Event {
            schema: EVENT_SCHEMA.into(),
            id,
            kind: p.kind,
            phase: p.phase,
            seq,
            category,
            source: "video_ai".into(),
            device: self.ctx.device.clone(),
            camera: self.ctx.camera.clone(),
            zone: zone.map(|z| ZoneRef {
                id: z.id.clone(),
                name: z.name.clone(),
                location: z.location.clone(),
                coordinates: z.coordinates,
                grid_code: z.grid_code.clone(),
                asset_id: z.asset_id.clone(),
            }),
            times: EventTimes {
                start_media_ns: p.start.0,
                end_media_ns: p.end.map(|e| e.0),
                start: rfc3339(p.start, tz),
                end: p.end.map(|e| rfc3339(e, tz)),
                reported: rfc3339(p.at, tz),
            },
            subject: Subject {
                category: cat.to_string(),
                class_name: s.class_name.clone(),
                score: s.score,
                bbox: s.bbox,
                bbox_norm: BBox::new(
                    (s.bbox.x1 / fw).clamp(0.0, 1.0),
                    (s.bbox.y1 / fh).clamp(0.0, 1.0),
                    (s.bbox.x2 / fw).clamp(0.0, 1.0),
                    (s.bbox.y2 / fh).clamp(0.0, 1.0),
                ),
                track_id: s.track_id,
                related_track_ids: s.related_track_ids.clone(),
                plate: None,
                plate_unread: None,
            },
            duration_s: p.duration_s,
            end_reason: p.end_reason,
            description: Description { zh, en },
            model: self.ctx.model.clone(),
            media: Vec::new(),
            photo_set: None,
            evidence_dropped: false,
            media_missing: Vec::new(),
            main_stream_unavailable: false,
            clock: None,
            details: p.details.clone(),
            signature: None,
        }
    }
}

/// The event's description (Chinese and English) from its kind, subject, zone name,
/// duration and details.
pub(crate) fn describe(
    kind: EventKind,
    code_name: &str,
    class_name: &str,
    category: &str,
    zone_name: &str,
    secs: f64,
    details: &serde_json::Map<String, serde_json::Value>,
) -> (String, String) {
    match kind {
        EventKind::IllegalParking => parking_description(class_name, category, zone_name, secs),
        EventKind::ExposedGarbage => garbage_description(class_name, category, zone_name, secs),
        EventKind::LitteringAct => littering_description(class_name, category, zone_name),
        EventKind::RoadDamage => road_description(
            class_name,
            category,
            zone_name,
            details
                .get("severity")
                .and_then(|v| v.as_str())
                .unwrap_or("low"),
        ),
        EventKind::CameraTampering => tamper_description(
            details.get("tamper").and_then(|v| v.as_str()).unwrap_or(""),
            secs,
        ),
        EventKind::Custom(_) => match details.get("count").and_then(|v| v.as_u64()) {
            Some(n) => count_description(code_name, class_name, category, zone_name, n, secs),
            None => dwell_description(code_name, class_name, category, zone_name, secs),
        },
    }
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
