//! The per-camera façade: tracker + the three rule engines + event assembly.
//!
//! The analysis thread calls [`CameraEvents::on_frame`] with each analysed frame's
//! detections; it gets back complete [`Event`]s (ids, RFC 3339 times, zone, subject,
//! category code, description) and the evidence to capture for them. Privacy zones are
//! applied first, so no rule ever sees a detection anchored in one. Nothing here blocks
//! or touches the disk except the road-damage registry (a few small SQLite writes per
//! report).

use std::collections::HashMap;
use std::path::Path;

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::infer::{BBox, Detection};
use crate::ingest::MediaTime;
use crate::rules::category::{
    CategoryTable, CodeSlot, garbage_description, littering_description, parking_description,
    road_description,
};
use crate::rules::event::{
    CameraRef, Description, DeviceRef, EVENT_SCHEMA, Event, EventKind, EventTimes, ModelRef, Phase,
    Subject, ZoneRef, new_event_id, rfc3339,
};
use crate::rules::illegal_parking::{ClipWindow, IllegalParking, is_non_motor};
use crate::rules::littering::{LitterConfig, Littering};
use crate::rules::output::{CaptureRequest, EpisodeKey, PhaseOutput, RuleOutput};
use crate::rules::privacy::drop_private;
use crate::rules::road_damage::RoadDamage;
use crate::rules::road_registry::{RegistryError, RoadRegistry, registry_path};
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
}

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
    episodes: HashMap<(EventKind, EpisodeKey), Episode>,
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
        config.categories.validate()?;
        let ev = &config.evidence;
        let parking =
            IllegalParking::new(&zones, ctx.tz, clip_of(ev.illegal_parking_clip, ev.clip));
        let lc = clip_of(ev.littering_clip, ev.clip);
        let littering = Littering::new(&zones, ctx.tz, config.litter.clone(), lc.pre_s, lc.post_s);
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
            episodes: HashMap::new(),
        })
    }

    pub fn zones(&self) -> &[Zone] {
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
        config.categories.validate()?;
        if config.tracker != self.config.tracker {
            self.tracker = Tracker::new(config.tracker.clone())?;
        }
        let mut outs = self.parking.set_zones(&zones, now);
        outs.extend(self.littering.set_zones(&zones, config.litter.clone(), now));
        match (&mut self.road, has_road(&zones)) {
            (Some(r), true) => r.set_zones(&zones),
            (None, true) => {
                let reg = RoadRegistry::open(&registry_path(state_dir, &self.ctx.camera.id))?;
                self.road = Some(RoadDamage::new(&zones, self.ctx.tz, reg));
            }
            (_, false) => self.road = None,
        }
        // Closing phases name the zone as it was configured before the swap.
        let mut out = FrameOutput::default();
        self.assemble(now, 0, 0, &[], outs, &mut out);
        self.zones = zones;
        self.config = config;
        Ok(out)
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
        let mut dets = detections.to_vec();
        drop_private(&mut dets, frame_w, frame_h, &self.zones);
        self.tracker.update(time, &dets)?;
        let tracks: Vec<_> = self.tracker.tracks().cloned().collect();
        let mut outs = self.parking.on_frame(time, &tracks, frame_w, frame_h);
        outs.extend(
            self.littering
                .on_frame(time, &dets, &tracks, frame_w, frame_h),
        );
        if let Some(road) = &mut self.road {
            outs.extend(road.on_frame(time, &dets, frame_w, frame_h)?);
        }
        let mut out = FrameOutput::default();
        self.assemble(time, frame_w, frame_h, &dets, outs, &mut out);
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
        self.episodes.entry((kind, key)).or_insert_with(|| Episode {
            id: fixed.map_or_else(|| new_event_id(at), str::to_string),
            next_seq: 0,
        })
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
                    let id = self.episode(kind, key, now, None).id.clone();
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
                        frame_w: w,
                        frame_h: h,
                        label,
                        context,
                    });
                }
                RuleOutput::Abandoned { key, kind } => {
                    if let Some(e) = self.episodes.remove(&(kind, key)) {
                        out.abandoned.push(e.id);
                    }
                }
                RuleOutput::Phase { key, phase } => {
                    let ep = self.episode(phase.kind, key, phase.start, phase.event_id.as_deref());
                    let (id, seq) = (ep.id.clone(), ep.next_seq);
                    ep.next_seq += 1;
                    if phase.phase == Phase::Ended || phase.kind == EventKind::RoadDamage {
                        self.episodes.remove(&(phase.kind, key));
                    }
                    let ev = self.build(id, seq, &phase, w, h);
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
        let slot = match p.kind {
            EventKind::IllegalParking if is_non_motor(&s.category, &s.class_name) => {
                CodeSlot::NonMotorParking
            }
            EventKind::IllegalParking => CodeSlot::MotorVehicleParking,
            EventKind::ExposedGarbage => CodeSlot::ExposedGarbage,
            EventKind::LitteringAct => CodeSlot::LitteringAct,
            EventKind::RoadDamage => CodeSlot::RoadDamage,
        };
        let secs = p.duration_s.unwrap_or(0.0);
        let (zh, en) = match p.kind {
            EventKind::IllegalParking => parking_description(&s.class_name, cat, zone_name, secs),
            EventKind::ExposedGarbage => garbage_description(&s.class_name, cat, zone_name, secs),
            EventKind::LitteringAct => littering_description(&s.class_name, cat, zone_name),
            EventKind::RoadDamage => road_description(
                &s.class_name,
                cat,
                zone_name,
                p.details
                    .get("severity")
                    .and_then(|v| v.as_str())
                    .unwrap_or("low"),
            ),
        };
        let (fw, fh) = (w.max(1) as f32, h.max(1) as f32);
        let tz = self.ctx.tz;
        Event {
            schema: EVENT_SCHEMA.into(),
            id,
            kind: p.kind,
            phase: p.phase,
            seq,
            category: self
                .config
                .categories
                .code(slot, self.ctx.device.division_code.as_deref()),
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
            description: Description { zh, en },
            model: self.ctx.model.clone(),
            media: Vec::new(),
            photo_set: None,
            evidence_dropped: false,
            details: p.details.clone(),
            signature: None,
        }
    }
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
