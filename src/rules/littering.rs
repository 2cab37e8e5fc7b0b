//! Littering (乱扔垃圾) and exposed garbage (暴露垃圾) in litter-watch zones.
//!
//! Litter is not tracked by the vehicle/person tracker's rules but by *spots*: a litter
//! detection that matches a spot's original box (IoU ≥ [`SPOT_IOU`]) is the same object
//! lying there. Matching against the *original* box, not the latest, is what stops a
//! bag carried through the picture from dragging a spot along: a moving object leaves a
//! trail of short-lived spots, none of which persists.
//!
//! * **Exposed garbage**: a spot seen for `persist_s` → `started`; not seen for
//!   `gone_after_s` → `ended`. Overlapping spots are one location: a new spot that
//!   overlaps a reported one is absorbed by it, so one pile is one event.
//! * **Littering act**: a spot that became static (seen for `act_static_s`) which
//!   appeared within `act_distance` (in person heights) of a person's path within
//!   `act_window_s` of its first sighting, while that person has since left. It is
//!   reported as one event carrying the person's track id and a clip centred on the
//!   moment the litter appeared; the spot then raises no separate exposed-garbage
//!   event (the platform reports both under 06010, so one case per pile).
//!
//! Litter categories are `litter.*` plus the configured class names of a general
//! model (COCO `bottle`, `cup`, `handbag`…, see [`LitterConfig`]).
//!
//! Reported spots survive a restart (the façade persists them, see
//! [`crate::rules::stays`]): [`Littering::restore`] puts one back, and litter matching
//! its original box before the grace period ends continues the case; otherwise it ends
//! with reason `restart`.

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

use crate::infer::{BBox, Category, Detection};
use crate::ingest::MediaTime;
use crate::rules::event::{EndReason, EventKind, Phase};
use crate::rules::output::{
    CaptureRequest, EpisodeKey, KeySource, OpenEpisode, PhaseOutput, Resume, RuleOutput,
    SubjectInfo,
};
use crate::rules::schedule::Schedule;
use crate::rules::zone::{Zone, ZoneRule};
use crate::track::Track;

/// Littering needs the person's track to the spot where the litter appears: a walking
/// person crosses a street camera's picture in a few seconds, and the tracker matches
/// a moving box only when its frames are at most `max_gap_moving_s` apart with overlap
/// left, so 5 frames a second (exposed garbage alone would do with keyframes).
pub const ANALYSIS_NEED: crate::rules::rate::RateNeed =
    crate::rules::rate::RateNeed::Fps { fps: 5.0 };

/// IoU with a spot's original box for a detection to be the same litter.
pub const SPOT_IOU: f32 = 0.4;
/// Spots followed per camera (bounded memory).
pub const MAX_SPOTS: usize = 128;
/// Person paths remembered for littering acts.
pub const MAX_PERSONS: usize = 64;
/// Path points remembered per person.
pub const MAX_PATH_POINTS: usize = 64;
/// Seconds a person must have been out of sight to have left their litter (a few
/// missed detections of someone standing beside it are not leaving).
pub const UNSEEN_LEFT_S: f64 = 3.0;

/// Littering settings beyond the per-zone `persist_s` / `gone_after_s`
/// (`[events.litter]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LitterConfig {
    /// Class names of a general (COCO) model that count as litter when the model's
    /// manifest does not already map them to `litter.*` (default: bottle, cup,
    /// handbag, backpack, suitcase, bag).
    pub class_names: Vec<String>,
    /// Seconds a new spot must persist before a littering act is considered (default 5).
    pub act_static_s: f64,
    /// Seconds between a person passing and the litter appearing that still link
    /// them (default 20).
    pub act_window_s: f64,
    /// Distance from the person's box centre to the litter, in person heights, that
    /// counts as "dropped by" (default 1.0).
    pub act_distance: f32,
}

impl Default for LitterConfig {
    fn default() -> Self {
        Self {
            class_names: ["bottle", "cup", "handbag", "backpack", "suitcase", "bag"]
                .map(String::from)
                .to_vec(),
            act_static_s: 5.0,
            act_window_s: 20.0,
            act_distance: 1.0,
        }
    }
}

impl LitterConfig {
    /// Whether a detection is litter.
    pub fn is_litter(&self, d: &Detection) -> bool {
        d.category.is_litter() || self.class_names.contains(&d.class_name)
    }
}

#[derive(Debug, Clone)]
struct LitterZone {
    zone: Zone,
    persist_s: f64,
    gone_after_s: f64,
    schedule: Schedule,
}

#[derive(Debug, Clone)]
struct Spot {
    key: EpisodeKey,
    zone_id: String,
    origin: BBox,
    first_seen: MediaTime,
    last_seen: MediaTime,
    hits: u32,
    subject: SubjectInfo,
    /// Reported as exposed garbage or as a littering act.
    reported: Option<EventKind>,
    act_checked: bool,
    /// Restored after a restart and not seen again yet.
    restored: Option<Resume>,
}

#[derive(Debug, Clone, Copy)]
struct PathPoint {
    time: MediaTime,
    x: f32,
    y: f32,
    height: f32,
}

#[derive(Debug, Clone)]
struct PersonPath {
    track_id: u64,
    points: VecDeque<PathPoint>,
}

/// The littering engine of one camera.
#[derive(Debug)]
pub struct Littering {
    zones: Vec<LitterZone>,
    tz: Tz,
    config: LitterConfig,
    clip_pre_s: f64,
    clip_post_s: f64,
    spots: Vec<Spot>,
    persons: VecDeque<PersonPath>,
    keys: KeySource,
}

fn litter_zones(zones: &[Zone]) -> Vec<LitterZone> {
    let mut out = Vec::new();
    for z in zones {
        for r in &z.rules {
            if let ZoneRule::LitterWatch {
                persist_s,
                gone_after_s,
                schedule,
                ..
            } = r
            {
                out.push(LitterZone {
                    zone: z.clone(),
                    persist_s: *persist_s,
                    gone_after_s: *gone_after_s,
                    schedule: schedule.clone(),
                });
            }
        }
    }
    out
}

impl Littering {
    pub fn new(
        zones: &[Zone],
        tz: Tz,
        config: LitterConfig,
        clip_pre_s: f64,
        clip_post_s: f64,
    ) -> Self {
        Self {
            zones: litter_zones(zones),
            tz,
            config,
            clip_pre_s,
            clip_post_s,
            spots: Vec::new(),
            persons: VecDeque::new(),
            keys: KeySource::default(),
        }
    }

    /// Hot reload of the timezone (schedules) and clip window; spots go on.
    pub fn set_context(&mut self, tz: Tz, clip_pre_s: f64, clip_post_s: f64) {
        self.tz = tz;
        self.clip_pre_s = clip_pre_s;
        self.clip_post_s = clip_post_s;
    }

    /// Hot reload: spots in zones that still exist keep their state; the others are
    /// closed at `now`.
    pub fn set_zones(
        &mut self,
        zones: &[Zone],
        config: LitterConfig,
        now: MediaTime,
    ) -> Vec<RuleOutput> {
        self.set_zones_because(zones, config, now, EndReason::ZoneRemoved)
    }

    /// [`Self::set_zones`], closing the spots of zones no longer given with `reason`
    /// (`camera_moved` when a PTZ camera's view changed).
    pub fn set_zones_because(
        &mut self,
        zones: &[Zone],
        config: LitterConfig,
        now: MediaTime,
        reason: EndReason,
    ) -> Vec<RuleOutput> {
        self.zones = litter_zones(zones);
        self.config = config;
        let keep: Vec<String> = self.zones.iter().map(|z| z.zone.id.clone()).collect();
        let (kept, gone): (Vec<Spot>, Vec<Spot>) = self
            .spots
            .drain(..)
            .partition(|s| keep.contains(&s.zone_id));
        self.spots = kept;
        gone.into_iter()
            .filter_map(|s| close(s, now, reason))
            .collect()
    }

    /// Reported spots (and restored ones still waiting), for persistence.
    pub fn open(&self) -> Vec<OpenEpisode> {
        self.spots
            .iter()
            .filter_map(|s| {
                Some(OpenEpisode {
                    key: s.key,
                    kind: s.reported?,
                    zone_id: s.zone_id.clone(),
                    subject: s.subject.clone(),
                    anchor: s.origin,
                    start: s.first_seen,
                    last_seen: s.last_seen,
                    last_report: s.last_seen,
                    paused_s: 0.0,
                    visits: 0,
                })
            })
            .collect()
    }

    /// Puts back a reported spot (exposed garbage or littering act) persisted before a
    /// restart, waiting until `now + max(gone_after_s, min_grace_s)` for its litter;
    /// `resend_started` asks for `started` to be decided again when it is seen. None
    /// for another kind or when the camera already follows [`MAX_SPOTS`] spots.
    pub fn restore(
        &mut self,
        ep: OpenEpisode,
        now: MediaTime,
        min_grace_s: f64,
        resend_started: bool,
    ) -> Option<EpisodeKey> {
        if self.spots.len() >= MAX_SPOTS
            || !matches!(ep.kind, EventKind::ExposedGarbage | EventKind::LitteringAct)
        {
            return None;
        }
        let gone = self
            .zones
            .iter()
            .find(|z| z.zone.id == ep.zone_id)
            .map_or(0.0, |z| z.gone_after_s);
        let key = self.keys.next_key();
        self.spots.push(Spot {
            key,
            zone_id: ep.zone_id,
            origin: ep.anchor,
            first_seen: ep.start,
            last_seen: ep.last_seen,
            hits: 2,
            subject: ep.subject,
            reported: Some(ep.kind),
            act_checked: true,
            restored: Some(Resume {
                grace_until: now.add_secs(gone.max(min_grace_s)),
                resend_started,
            }),
        });
        Some(key)
    }

    /// Spots followed now.
    pub fn active(&self) -> usize {
        self.spots.len()
    }

    /// Feeds one analysed frame: raw detections (litter is matched here) and the live
    /// tracks (person paths for littering acts).
    pub fn on_frame(
        &mut self,
        now: MediaTime,
        detections: &[Detection],
        tracks: &[Track],
        frame_w: u32,
        frame_h: u32,
    ) -> Vec<RuleOutput> {
        let mut out = Vec::new();
        self.remember_persons(now, tracks);
        for d in detections.iter().filter(|d| self.config.is_litter(d)) {
            let Some(z) = self.zones.iter().find(|z| {
                z.zone.contains_box(&d.category, &d.bbox, frame_w, frame_h)
                    && z.schedule.is_active(now, self.tz)
            }) else {
                continue;
            };
            let zone_id = z.zone.id.clone();
            let subject = SubjectInfo {
                category: if d.category.is_litter() {
                    d.category.clone()
                } else {
                    Category::new(&format!("litter.{}", d.class_name))
                },
                class_name: d.class_name.clone(),
                score: d.score,
                bbox: d.bbox,
                track_id: 0,
                related_track_ids: Vec::new(),
            };
            // Same object: best IoU with an original box. A reported spot that merely
            // overlaps absorbs the detection too (one event per pile).
            let best = self
                .spots
                .iter()
                .enumerate()
                .filter(|(_, s)| s.zone_id == zone_id)
                .map(|(i, s)| {
                    (
                        i,
                        s.origin.iou(&d.bbox),
                        s.reported.is_some() && s.origin.intersection(&d.bbox) > 0.0,
                    )
                })
                .filter(|&(_, iou, overlap)| iou >= SPOT_IOU || overlap)
                .max_by(|a, b| a.1.total_cmp(&b.1));
            match best {
                Some((i, _, _)) => {
                    let s = &mut self.spots[i];
                    if s.last_seen < now {
                        s.hits += 1;
                    }
                    s.last_seen = now;
                    // The person who dropped it stays named on the case.
                    let related = std::mem::take(&mut s.subject.related_track_ids);
                    s.subject = SubjectInfo {
                        related_track_ids: related,
                        ..subject
                    };
                    if let Some(r) = s.restored.take()
                        && r.resend_started
                        && let Some(kind) = s.reported
                    {
                        // Seen again after a restart, but the platform never got
                        // `started`: decide it again with a snapshot of now.
                        out.push(RuleOutput::Capture {
                            key: s.key,
                            kind,
                            request: CaptureRequest::Snapshot {
                                name: snapshot_name(kind),
                                at: now,
                                bbox: s.subject.bbox,
                            },
                        });
                        out.push(phase(s, kind, Phase::Started, now, None, None));
                    }
                }
                None if self.spots.len() < MAX_SPOTS => {
                    let key = self.keys.next_key();
                    self.spots.push(Spot {
                        key,
                        zone_id,
                        origin: d.bbox,
                        first_seen: now,
                        last_seen: now,
                        hits: 1,
                        subject,
                        reported: None,
                        act_checked: false,
                        restored: None,
                    });
                }
                None => {}
            }
        }
        for i in 0..self.spots.len() {
            let Some(z) = self
                .zones
                .iter()
                .find(|z| z.zone.id == self.spots[i].zone_id)
            else {
                continue;
            };
            let (persist_s, act_static_s) = (z.persist_s, self.config.act_static_s);
            let s = &self.spots[i];
            if s.reported.is_some() || s.last_seen != now || s.hits < 2 {
                continue;
            }
            let age = now.secs_since(s.first_seen);
            if !s.act_checked && age >= act_static_s {
                let person = self.dropper(s, tracks, now);
                let s = &mut self.spots[i];
                // Keep looking while the person may still be walking away; after
                // the window nobody can be linked any more.
                s.act_checked = age >= act_static_s + self.config.act_window_s;
                if let Some(pid) = person {
                    s.reported = Some(EventKind::LitteringAct);
                    s.subject.related_track_ids = vec![pid];
                    out.push(RuleOutput::Capture {
                        key: s.key,
                        kind: EventKind::LitteringAct,
                        request: CaptureRequest::Snapshot {
                            name: snapshot_name(EventKind::LitteringAct),
                            at: now,
                            bbox: s.subject.bbox,
                        },
                    });
                    out.push(RuleOutput::Capture {
                        key: s.key,
                        kind: EventKind::LitteringAct,
                        request: CaptureRequest::Clip {
                            name: "clip",
                            center: s.first_seen,
                            pre_s: self.clip_pre_s,
                            post_s: self.clip_post_s,
                        },
                    });
                    out.push(phase(
                        s,
                        EventKind::LitteringAct,
                        Phase::Started,
                        now,
                        None,
                        None,
                    ));
                    continue;
                }
            }
            let s = &mut self.spots[i];
            if age >= persist_s {
                s.reported = Some(EventKind::ExposedGarbage);
                out.push(RuleOutput::Capture {
                    key: s.key,
                    kind: EventKind::ExposedGarbage,
                    request: CaptureRequest::Snapshot {
                        name: snapshot_name(EventKind::ExposedGarbage),
                        at: now,
                        bbox: s.subject.bbox,
                    },
                });
                out.push(phase(
                    s,
                    EventKind::ExposedGarbage,
                    Phase::Started,
                    now,
                    None,
                    None,
                ));
            }
        }
        // Gone spots.
        let mut i = 0;
        while i < self.spots.len() {
            let s = &self.spots[i];
            let zone = self.zones.iter().find(|z| z.zone.id == s.zone_id);
            if let Some(r) = s.restored {
                // Restored and not seen again: over once the grace period has passed,
                // at once when its zone no longer exists.
                if zone.is_none() || now > r.grace_until {
                    let s = self.spots.swap_remove(i);
                    let reason = match zone {
                        Some(_) => EndReason::Restart,
                        None => EndReason::ZoneRemoved,
                    };
                    out.extend(close(s, now, reason));
                } else {
                    i += 1;
                }
                continue;
            }
            let gone_after = zone
                .map(|z| {
                    if s.reported.is_some() {
                        z.gone_after_s
                    } else {
                        z.gone_after_s.min(z.persist_s)
                    }
                })
                .unwrap_or(0.0);
            if now.secs_since(s.last_seen) > gone_after {
                let s = self.spots.swap_remove(i);
                out.extend(close(s, now, EndReason::Gone));
            } else {
                i += 1;
            }
        }
        out
    }

    fn remember_persons(&mut self, now: MediaTime, tracks: &[Track]) {
        for t in tracks
            .iter()
            .filter(|t| t.category.is_person() && !t.is_coasting())
        {
            let (x, y) = t.bbox.center();
            let p = PathPoint {
                time: now,
                x,
                y,
                height: t.bbox.height(),
            };
            match self.persons.iter_mut().find(|p| p.track_id == t.id) {
                Some(path) => {
                    if path.points.len() >= MAX_PATH_POINTS {
                        path.points.pop_front();
                    }
                    path.points.push_back(p);
                }
                None => {
                    if self.persons.len() >= MAX_PERSONS {
                        self.persons.pop_front();
                    }
                    self.persons.push_back(PersonPath {
                        track_id: t.id,
                        points: VecDeque::from([p]),
                    });
                }
            }
        }
        // Forget paths older than any window that could still use them.
        let horizon = self.config.act_window_s + self.config.act_static_s + 60.0;
        self.persons.retain(|p| {
            p.points
                .back()
                .is_some_and(|q| now.secs_since(q.time) <= horizon)
        });
    }

    /// The person who passed the spot when it appeared and has left since.
    fn dropper(&self, s: &Spot, tracks: &[Track], now: MediaTime) -> Option<u64> {
        let (lx, ly) = s.origin.center();
        let near = |p: &PathPoint| {
            let d = ((p.x - lx).powi(2) + (p.y - ly).powi(2)).sqrt();
            d <= self.config.act_distance * p.height.max(1.0)
        };
        self.persons.iter().find_map(|path| {
            let passed = path.points.iter().any(|p| {
                p.time.secs_since(s.first_seen).abs() <= self.config.act_window_s && near(p)
            });
            if !passed {
                return None;
            }
            // Left: unseen for `UNSEEN_LEFT_S`, or seen away from the litter. A track
            // the tracker still remembers but no longer sees does not count as there:
            // a person who stood still is kept for `max_gap_stationary_s` at their
            // last box, and a close-up camera loses them near the litter as they walk
            // out. One missed detection is not leaving, though.
            let still_there = tracks.iter().any(|t| {
                t.id == path.track_id && now.secs_since(t.last_seen) < UNSEEN_LEFT_S && {
                    let (x, y) = t.bbox.center();
                    near(&PathPoint {
                        time: t.last_seen,
                        x,
                        y,
                        height: t.bbox.height(),
                    })
                }
            });
            (!still_there).then_some(path.track_id)
        })
    }
}

/// Name of the snapshot a litter case is reported with.
fn snapshot_name(kind: EventKind) -> &'static str {
    match kind {
        EventKind::LitteringAct => "litter",
        _ => "garbage",
    }
}

fn phase(
    s: &Spot,
    kind: EventKind,
    phase: Phase,
    now: MediaTime,
    end: Option<MediaTime>,
    end_reason: Option<EndReason>,
) -> RuleOutput {
    let until = end.unwrap_or(now);
    let mut details = serde_json::Map::new();
    let (ax, ay) = s.origin.center();
    details.insert("litter_center_px".into(), serde_json::json!([ax, ay]));
    RuleOutput::Phase {
        key: s.key,
        phase: PhaseOutput {
            kind,
            phase,
            zone_id: s.zone_id.clone(),
            subject: s.subject.clone(),
            start: s.first_seen,
            at: now,
            end,
            duration_s: Some(until.secs_since(s.first_seen).max(0.0)),
            details,
            event_id: None,
            end_reason,
        },
    }
}

/// A gone spot: `ended` if it was reported, nothing otherwise (unreported spots never
/// asked for evidence).
fn close(s: Spot, now: MediaTime, reason: EndReason) -> Option<RuleOutput> {
    let kind = s.reported?;
    let end = s.last_seen;
    Some(phase(&s, kind, Phase::Ended, now, Some(end), Some(reason)))
}

#[cfg(test)]
#[path = "littering_tests.rs"]
mod tests;
