//! Road damage (道路破损): potholes and cracks that persist.
//!
//! Designed for very low analysis rates (a frame a minute is plenty: damage does not
//! move). A *candidate* collects detections that overlap it; once it has
//! `min_observations` separate observations spanning `min_span_s`, it is checked
//! against the camera's persistent [`RoadRegistry`]: unknown damage is reported and
//! recorded; known damage is re-reported only when its area grew by `regrow_fraction`;
//! otherwise nothing is sent. The candidate then starts collecting again, which is how
//! growth is noticed later. Events have only a `started` phase: damage does not end on
//! its own, the platform closes the case after repair.
//!
//! Severity comes from class and area (fraction of the image): see [`severity`].

use chrono_tz::Tz;

use crate::infer::{BBox, Detection};
use crate::ingest::MediaTime;
use crate::rules::event::{EventKind, Phase, new_event_id};
use crate::rules::output::{CaptureRequest, KeySource, PhaseOutput, RuleOutput, SubjectInfo};
use crate::rules::road_registry::{RegistryError, RoadRegistry};
use crate::rules::schedule::Schedule;
use crate::rules::zone::{Zone, ZoneRule};

/// Road damage does not move: `min_observations` sightings over `min_span_s` (minutes)
/// are as well taken from keyframes at any GOP a camera is set to (up to 10 s).
pub const ANALYSIS_NEED: crate::rules::rate::RateNeed =
    crate::rules::rate::RateNeed::Keyframes { max_gap_s: 10.0 };

/// Overlap (intersection over the smaller box) that makes two sightings one damage.
pub const SAME_DAMAGE_OVERLAP: f32 = 0.3;
/// Candidates followed per camera.
pub const MAX_CANDIDATES: usize = 128;
/// A candidate not observed for this long is forgotten (seconds, at least; see
/// [`RoadDamage::on_frame`]).
pub const CANDIDATE_IDLE_S: f64 = 3600.0;

/// Intersection over the smaller area: a crack seen whole once and partly once is one
/// crack, which IoU would miss.
pub fn overlap(a: &BBox, b: &BBox) -> f32 {
    let small = a.area().min(b.area());
    if small <= 0.0 {
        0.0
    } else {
        a.intersection(b) / small
    }
}

/// "high", "medium" or "low" from the class and the damaged area as a fraction of the
/// image: potholes are the most urgent (a wheel can drop into them), alligator
/// cracking next, linear cracks and patches least.
pub fn severity(class_name: &str, category: &str, area_fraction: f64) -> &'static str {
    let c = if class_name.is_empty() {
        category
    } else {
        class_name
    };
    if c.contains("pothole") {
        if area_fraction >= 0.01 {
            "high"
        } else {
            "medium"
        }
    } else if c.contains("alligator") {
        if area_fraction >= 0.02 {
            "high"
        } else {
            "medium"
        }
    } else if c.contains("crack") {
        if area_fraction >= 0.05 {
            "medium"
        } else {
            "low"
        }
    } else {
        "low"
    }
}

#[derive(Debug, Clone)]
struct RoadZone {
    zone: Zone,
    min_observations: u32,
    min_span_s: f64,
    regrow_fraction: f64,
    schedule: Schedule,
}

#[derive(Debug, Clone)]
struct Candidate {
    zone_id: String,
    /// Latest box, normalised.
    norm: BBox,
    observations: u32,
    first_obs: MediaTime,
    last_obs: MediaTime,
    area_sum: f64,
    subject: SubjectInfo,
}

/// The road-damage engine of one camera.
#[derive(Debug)]
pub struct RoadDamage {
    zones: Vec<RoadZone>,
    tz: Tz,
    registry: RoadRegistry,
    candidates: Vec<Candidate>,
    keys: KeySource,
}

fn road_zones(zones: &[Zone]) -> Vec<RoadZone> {
    let mut out = Vec::new();
    for z in zones {
        for r in &z.rules {
            if let ZoneRule::RoadWatch {
                min_observations,
                min_span_s,
                regrow_fraction,
                schedule,
            } = r
            {
                out.push(RoadZone {
                    zone: z.clone(),
                    min_observations: *min_observations,
                    min_span_s: *min_span_s,
                    regrow_fraction: *regrow_fraction,
                    schedule: schedule.clone(),
                });
            }
        }
    }
    out
}

fn normalise(b: &BBox, w: u32, h: u32) -> BBox {
    let (w, h) = (w.max(1) as f32, h.max(1) as f32);
    BBox::new(
        (b.x1 / w).clamp(0.0, 1.0),
        (b.y1 / h).clamp(0.0, 1.0),
        (b.x2 / w).clamp(0.0, 1.0),
        (b.y2 / h).clamp(0.0, 1.0),
    )
}

impl RoadDamage {
    pub fn new(zones: &[Zone], tz: Tz, registry: RoadRegistry) -> Self {
        Self {
            zones: road_zones(zones),
            tz,
            registry,
            candidates: Vec::new(),
            keys: KeySource::default(),
        }
    }

    /// Hot reload of the timezone (schedules); candidates go on.
    pub fn set_tz(&mut self, tz: Tz) {
        self.tz = tz;
    }

    /// Hot reload: candidates of zones that still exist keep their observations.
    pub fn set_zones(&mut self, zones: &[Zone]) {
        self.zones = road_zones(zones);
        let keep: Vec<String> = self.zones.iter().map(|z| z.zone.id.clone()).collect();
        self.candidates.retain(|c| keep.contains(&c.zone_id));
    }

    pub fn registry(&self) -> &RoadRegistry {
        &self.registry
    }

    /// Feeds one analysed frame's detections.
    pub fn on_frame(
        &mut self,
        now: MediaTime,
        detections: &[Detection],
        frame_w: u32,
        frame_h: u32,
    ) -> Result<Vec<RuleOutput>, RegistryError> {
        let mut out = Vec::new();
        for d in detections.iter().filter(|d| d.category.is_road_damage()) {
            let Some(z) = self.zones.iter().find(|z| {
                z.zone.contains_box(&d.category, &d.bbox, frame_w, frame_h)
                    && z.schedule.is_active(now, self.tz)
            }) else {
                continue;
            };
            let norm = normalise(&d.bbox, frame_w, frame_h);
            let subject = SubjectInfo {
                category: d.category.clone(),
                class_name: d.class_name.clone(),
                score: d.score,
                bbox: d.bbox,
                track_id: 0,
                related_track_ids: Vec::new(),
            };
            let zone_id = z.zone.id.clone();
            let best = self
                .candidates
                .iter()
                .enumerate()
                .filter(|(_, c)| c.zone_id == zone_id)
                .map(|(i, c)| (i, overlap(&c.norm, &norm)))
                .filter(|&(_, o)| o >= SAME_DAMAGE_OVERLAP)
                .max_by(|a, b| a.1.total_cmp(&b.1));
            match best {
                Some((i, _)) => {
                    let c = &mut self.candidates[i];
                    if c.last_obs < now {
                        c.observations += 1;
                        c.area_sum += f64::from(norm.area());
                    }
                    c.last_obs = now;
                    c.norm = norm;
                    c.subject = subject;
                }
                None if self.candidates.len() < MAX_CANDIDATES => {
                    self.candidates.push(Candidate {
                        zone_id,
                        norm,
                        observations: 1,
                        first_obs: now,
                        last_obs: now,
                        area_sum: f64::from(norm.area()),
                        subject,
                    });
                }
                None => {}
            }
        }
        for i in 0..self.candidates.len() {
            let c = &self.candidates[i];
            let Some(z) = self.zones.iter().find(|z| z.zone.id == c.zone_id) else {
                continue;
            };
            if c.last_obs != now
                || c.observations < z.min_observations
                || now.secs_since(c.first_obs) < z.min_span_s
            {
                continue;
            }
            let area = c.area_sum / f64::from(c.observations.max(1));
            let regrow = z.regrow_fraction;
            let known = self.registry.all()?;
            let hit = known
                .iter()
                .filter(|k| overlap(&k.bbox, &c.norm) >= SAME_DAMAGE_OVERLAP)
                .max_by(|a, b| overlap(&a.bbox, &c.norm).total_cmp(&overlap(&b.bbox, &c.norm)));
            let mut details = serde_json::Map::new();
            let sev = severity(&c.subject.class_name, c.subject.category.as_str(), area);
            details.insert("severity".into(), sev.into());
            details.insert("area_fraction".into(), area.into());
            details.insert("observations".into(), c.observations.into());
            let report = match hit {
                None => {
                    let id = new_event_id(now);
                    self.registry
                        .insert(c.norm, area, c.subject.category.as_str(), &id, now)?;
                    Some(id)
                }
                Some(k) if area >= k.area * (1.0 + regrow) => {
                    let id = new_event_id(now);
                    details.insert("grown_from_area_fraction".into(), k.area.into());
                    details.insert("previous_event_id".into(), k.event_id.clone().into());
                    self.registry.update(k.id, c.norm, area, &id, now)?;
                    Some(id)
                }
                Some(_) => None,
            };
            let c = &mut self.candidates[i];
            if let Some(event_id) = report {
                // A fresh episode key per report: a re-report is a new event.
                let key = self.keys.next_key();
                out.push(RuleOutput::Capture {
                    key,
                    kind: EventKind::RoadDamage,
                    request: CaptureRequest::Snapshot {
                        name: "damage",
                        at: now,
                        bbox: c.subject.bbox,
                    },
                });
                out.push(RuleOutput::Phase {
                    key,
                    phase: PhaseOutput {
                        kind: EventKind::RoadDamage,
                        phase: Phase::Started,
                        zone_id: c.zone_id.clone(),
                        subject: c.subject.clone(),
                        start: c.first_obs,
                        at: now,
                        end: None,
                        duration_s: None,
                        details,
                        event_id: Some(event_id),
                        end_reason: None,
                    },
                });
            }
            // Start collecting again: growth is judged on fresh observations.
            c.observations = 0;
            c.area_sum = 0.0;
            c.first_obs = now;
        }
        let idle = self
            .zones
            .iter()
            .map(|z| z.min_span_s * 10.0)
            .fold(CANDIDATE_IDLE_S, f64::max);
        self.candidates
            .retain(|c| now.secs_since(c.last_obs) <= idle);
        Ok(out)
    }
}

#[cfg(test)]
#[path = "road_damage_tests.rs"]
mod tests;
