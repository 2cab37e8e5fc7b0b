//! `dwell` and `presence`: one case per matching object in the zone.
//!
//! `dwell`: the object must be stationary (the tracker's stationary memory, as for
//! parking) and stay so for `dwell_s`; `presence`: seen in the zone for `min_s` (0:
//! at once), moving or not. `started` at confirmation with a snapshot and a clip,
//! `updated` every `update_every_s`, `ended` (with a snapshot of that frame) when the
//! object is gone for `leave_after_s`, leaves the zone, or the schedule closes.
//!
//! A lost track is rebound like a parked car's: a new track of the same rule at the
//! same spot (IoU ≥ [`REBIND_IOU`]) continues the case. Confirmed cases are persisted
//! by the façade and can be restored after a restart ([`GenericDwell::restore`]).

use chrono_tz::Tz;

use super::Matcher;
use crate::infer::BBox;
use crate::ingest::MediaTime;
use crate::rules::event::{EndReason, EventKind, Phase};
use crate::rules::illegal_parking::ClipWindow;
use crate::rules::output::{
    CaptureRequest, EpisodeKey, KeySource, OpenEpisode, PhaseOutput, Resume, RuleOutput,
    SubjectInfo,
};
use crate::rules::schedule::Schedule;
use crate::rules::zone::{Zone, ZoneRule};
use crate::track::Track;

/// A generic dwell rests on the same stationary test as parking, so it needs the same.
pub fn analysis_need(tracker: &crate::track::TrackerConfig) -> crate::rules::rate::RateNeed {
    crate::rules::illegal_parking::analysis_need(tracker)
}

/// `presence` may fire on an object that only passes (`min_s` defaults to 0): one
/// frame a second sees anything that stays in the zone for a second.
pub const PRESENCE_ANALYSIS_NEED: crate::rules::rate::RateNeed =
    crate::rules::rate::RateNeed::Fps { fps: 1.0 };

/// IoU with a case's last box above which a new track continues it.
pub const REBIND_IOU: f32 = 0.5;
/// Cases (candidates included) followed at once per camera.
pub const MAX_STAYS: usize = 256;
/// Track id of a restored case until an object is bound to it (tracks start at 1).
const NO_TRACK: u64 = 0;

#[derive(Debug, Clone)]
struct Rule {
    zone: Zone,
    matcher: Matcher,
    /// `dwell` (stationary for `threshold_s`) or `presence` (seen for `threshold_s`).
    stationary: bool,
    threshold_s: f64,
    update_every_s: f64,
    leave_after_s: f64,
    schedule: Schedule,
}

#[derive(Debug, Clone)]
struct Stay {
    key: EpisodeKey,
    rule: usize,
    track_id: u64,
    first: MediaTime,
    last_seen: MediaTime,
    bbox: BBox,
    subject: SubjectInfo,
    confirmed: bool,
    last_report: MediaTime,
    touched: bool,
    restored: Option<Resume>,
}

/// The `dwell` and `presence` rules of one camera.
#[derive(Debug)]
pub struct GenericDwell {
    rules: Vec<Rule>,
    tz: Tz,
    clip: ClipWindow,
    stays: Vec<Stay>,
    keys: KeySource,
}

fn rules_of(zones: &[Zone]) -> Vec<Rule> {
    let mut out = Vec::new();
    for z in zones {
        for r in &z.rules {
            let (kind, cats, stationary, threshold_s, update_every_s, leave_after_s, schedule) =
                match r {
                    ZoneRule::Dwell {
                        kind,
                        categories,
                        dwell_s,
                        update_every_s,
                        leave_after_s,
                        schedule,
                        ..
                    } => (
                        kind,
                        categories,
                        true,
                        *dwell_s,
                        *update_every_s,
                        *leave_after_s,
                        schedule,
                    ),
                    ZoneRule::Presence {
                        kind,
                        categories,
                        min_s,
                        update_every_s,
                        leave_after_s,
                        schedule,
                        ..
                    } => (
                        kind,
                        categories,
                        false,
                        *min_s,
                        *update_every_s,
                        *leave_after_s,
                        schedule,
                    ),
                    _ => continue,
                };
            let Some(matcher) = Matcher::new(kind, cats) else {
                continue;
            };
            out.push(Rule {
                zone: z.clone(),
                matcher,
                stationary,
                threshold_s,
                update_every_s,
                leave_after_s,
                schedule: schedule.clone(),
            });
        }
    }
    out
}

impl GenericDwell {
    pub fn new(zones: &[Zone], tz: Tz, clip: ClipWindow) -> Self {
        Self {
            rules: rules_of(zones),
            tz,
            clip,
            stays: Vec::new(),
            keys: KeySource::default(),
        }
    }

    pub fn set_context(&mut self, tz: Tz, clip: ClipWindow) {
        self.tz = tz;
        self.clip = clip;
    }

    /// Hot reload: cases of rules that still exist (same zone id and kind) go on, the
    /// others are closed (`zone_removed`).
    pub fn set_zones(&mut self, zones: &[Zone], now: MediaTime) -> Vec<RuleOutput> {
        self.set_zones_because(zones, now, EndReason::ZoneRemoved)
    }

    /// [`Self::set_zones`], closing the cases of rules no longer given with `reason`
    /// (`camera_moved` when a PTZ camera's view changed).
    pub fn set_zones_because(
        &mut self,
        zones: &[Zone],
        now: MediaTime,
        reason: EndReason,
    ) -> Vec<RuleOutput> {
        let old = std::mem::replace(&mut self.rules, rules_of(zones));
        let mut out = Vec::new();
        let mut kept = Vec::new();
        for mut s in self.stays.drain(..) {
            let (zid, kind) = (&old[s.rule].zone.id, old[s.rule].matcher.kind);
            match self
                .rules
                .iter()
                .position(|r| r.zone.id == *zid && r.matcher.kind == kind)
            {
                Some(i) => {
                    s.rule = i;
                    kept.push(s);
                }
                None => out.push(close(&old, s, now, now, reason)),
            }
        }
        self.stays = kept;
        out
    }

    pub fn active(&self) -> usize {
        self.stays.len()
    }

    /// Confirmed cases, for persistence.
    pub fn open(&self) -> Vec<OpenEpisode> {
        self.stays
            .iter()
            .filter(|s| s.confirmed)
            .map(|s| OpenEpisode {
                key: s.key,
                kind: self.rules[s.rule].matcher.kind,
                zone_id: self.rules[s.rule].zone.id.clone(),
                subject: s.subject.clone(),
                anchor: s.bbox,
                start: s.first,
                last_seen: s.last_seen,
                last_report: s.last_report,
                paused_s: 0.0,
                visits: 0,
            })
            .collect()
    }

    /// Puts back a confirmed case persisted before a restart, waiting until
    /// `now + max(leave_after_s, min_grace_s)` for an object of its rule in place.
    /// None when no rule of that kind exists in that zone any more, or at the bound.
    pub fn restore(
        &mut self,
        ep: OpenEpisode,
        now: MediaTime,
        min_grace_s: f64,
        resend_started: bool,
    ) -> Option<EpisodeKey> {
        let rule = self
            .rules
            .iter()
            .position(|r| r.zone.id == ep.zone_id && r.matcher.kind == ep.kind)?;
        if self.stays.len() >= MAX_STAYS {
            return None;
        }
        let key = self.keys.next_key();
        let grace = self.rules[rule].leave_after_s.max(min_grace_s);
        self.stays.push(Stay {
            key,
            rule,
            track_id: NO_TRACK,
            first: ep.start,
            last_seen: ep.last_seen,
            bbox: ep.anchor,
            subject: SubjectInfo {
                track_id: NO_TRACK,
                ..ep.subject
            },
            confirmed: true,
            last_report: ep.last_report,
            touched: false,
            restored: Some(Resume {
                grace_until: now.add_secs(grace),
                resend_started,
            }),
        });
        Some(key)
    }

    /// Feeds one analysed frame: the tracker's confirmed tracks at `now`.
    pub fn on_frame(
        &mut self,
        now: MediaTime,
        tracks: &[Track],
        frame_w: u32,
        frame_h: u32,
    ) -> Vec<RuleOutput> {
        let mut out = Vec::new();
        if self.rules.is_empty() && self.stays.is_empty() {
            return out;
        }
        for s in &mut self.stays {
            s.touched = false;
        }
        for ri in 0..self.rules.len() {
            for t in tracks {
                let r = &self.rules[ri];
                if !r.matcher.matches(&t.category) {
                    continue;
                }
                let in_zone = r.zone.contains_box(&t.category, &t.bbox, frame_w, frame_h);
                let on = r.schedule.is_active(now, self.tz);
                let ok = in_zone && on && (!r.stationary || t.stationary_since.is_some());
                let existing = self
                    .stays
                    .iter()
                    .position(|s| s.rule == ri && s.track_id == t.id);
                if !ok {
                    if let Some(i) = existing {
                        let s = self.stays.swap_remove(i);
                        let end = if t.is_coasting() { t.last_seen } else { now };
                        let reason = if in_zone && !on {
                            EndReason::ScheduleEnded
                        } else {
                            EndReason::Gone
                        };
                        close_on_frame(&self.rules, s, end, now, reason, &mut out);
                    }
                    continue;
                }
                if existing.is_none() && t.is_coasting() {
                    continue;
                }
                let idx = existing.or_else(|| {
                    self.stays.iter().position(|s| {
                        s.rule == ri
                            && !tracks
                                .iter()
                                .any(|o| o.id == s.track_id && !o.is_coasting())
                            && s.bbox.iou(&t.bbox) >= REBIND_IOU
                    })
                });
                let subject = SubjectInfo {
                    category: t.category.clone(),
                    class_name: t.class_name.clone(),
                    score: t.score,
                    bbox: t.last_detection_bbox,
                    track_id: t.id,
                    related_track_ids: Vec::new(),
                };
                let i = match idx {
                    Some(i) => i,
                    None => {
                        if self.stays.len() >= MAX_STAYS {
                            continue;
                        }
                        let first = match (r.stationary, t.stationary_since) {
                            (true, Some(since)) => since.max(t.first_seen),
                            _ => now,
                        };
                        self.stays.push(Stay {
                            key: self.keys.next_key(),
                            rule: ri,
                            track_id: t.id,
                            first,
                            last_seen: t.last_seen,
                            bbox: t.bbox,
                            subject: subject.clone(),
                            confirmed: false,
                            last_report: now,
                            touched: true,
                            restored: None,
                        });
                        self.stays.len() - 1
                    }
                };
                let (threshold, update_every, leave) = (
                    self.rules[ri].threshold_s,
                    self.rules[ri].update_every_s,
                    self.rules[ri].leave_after_s,
                );
                let kind = self.rules[ri].matcher.kind;
                let s = &mut self.stays[i];
                s.touched = true;
                s.track_id = t.id;
                if !t.is_coasting() {
                    s.last_seen = t.last_seen;
                    s.bbox = t.bbox;
                    s.subject = subject;
                }
                if t.is_coasting() && now.secs_since(t.last_seen) > leave {
                    let s = self.stays.swap_remove(i);
                    close_on_frame(&self.rules, s, t.last_seen, now, EndReason::Gone, &mut out);
                    continue;
                }
                if let Some(r) = s.restored.take()
                    && r.resend_started
                {
                    s.last_report = now;
                    confirm(kind, &self.rules[ri].zone.id, s, now, self.clip, &mut out);
                }
                let held = s.last_seen.secs_since(s.first);
                if !s.confirmed && held >= threshold && !t.is_coasting() {
                    s.confirmed = true;
                    s.last_report = now;
                    confirm(kind, &self.rules[ri].zone.id, s, now, self.clip, &mut out);
                } else if s.confirmed && now.secs_since(s.last_report) >= update_every {
                    s.last_report = now;
                    out.push(phase(
                        kind,
                        &self.rules[ri].zone.id,
                        s,
                        Phase::Updated,
                        now,
                        None,
                        None,
                    ));
                }
            }
        }
        // Cases whose object is gone from the tracker (or restored and not seen).
        let mut i = 0;
        while i < self.stays.len() {
            let s = &self.stays[i];
            let leave = self.rules[s.rule].leave_after_s;
            let over = match s.restored {
                Some(r) => now > r.grace_until,
                None => !s.touched && now.secs_since(s.last_seen) > leave,
            };
            if !over {
                i += 1;
                continue;
            }
            let s = self.stays.swap_remove(i);
            let (end, reason) = match s.restored {
                Some(_) => (s.last_seen, EndReason::Restart),
                None => (s.last_seen, EndReason::Gone),
            };
            if s.restored.is_some_and(|r| r.resend_started) {
                out.push(close(&self.rules, s, end, now, reason));
            } else {
                close_on_frame(&self.rules, s, end, now, reason, &mut out);
            }
        }
        out
    }
}

fn confirm(
    kind: EventKind,
    zone: &str,
    s: &Stay,
    now: MediaTime,
    clip: ClipWindow,
    out: &mut Vec<RuleOutput>,
) {
    out.push(RuleOutput::Capture {
        key: s.key,
        kind,
        request: CaptureRequest::Snapshot {
            name: "confirmation",
            at: now,
            bbox: s.subject.bbox,
        },
    });
    out.push(RuleOutput::Capture {
        key: s.key,
        kind,
        request: CaptureRequest::Clip {
            name: "clip",
            center: now,
            pre_s: clip.pre_s,
            post_s: clip.post_s,
        },
    });
    out.push(phase(kind, zone, s, Phase::Started, now, None, None));
}

fn phase(
    kind: EventKind,
    zone: &str,
    s: &Stay,
    phase: Phase,
    now: MediaTime,
    end: Option<MediaTime>,
    end_reason: Option<EndReason>,
) -> RuleOutput {
    let until = end.unwrap_or(now);
    RuleOutput::Phase {
        key: s.key,
        phase: PhaseOutput {
            kind,
            phase,
            zone_id: zone.to_string(),
            subject: s.subject.clone(),
            start: s.first,
            at: now,
            end,
            duration_s: Some(until.secs_since(s.first).max(0.0)),
            details: serde_json::Map::new(),
            event_id: None,
            end_reason,
        },
    }
}

fn close_on_frame(
    rules: &[Rule],
    s: Stay,
    end: MediaTime,
    now: MediaTime,
    reason: EndReason,
    out: &mut Vec<RuleOutput>,
) {
    if s.confirmed {
        out.push(RuleOutput::Capture {
            key: s.key,
            kind: rules[s.rule].matcher.kind,
            request: CaptureRequest::Snapshot {
                name: "ended",
                at: now,
                bbox: s.subject.bbox,
            },
        });
    }
    out.push(close(rules, s, end, now, reason));
}

fn close(rules: &[Rule], s: Stay, end: MediaTime, now: MediaTime, reason: EndReason) -> RuleOutput {
    let kind = rules[s.rule].matcher.kind;
    if s.confirmed {
        phase(
            kind,
            &rules[s.rule].zone.id,
            &s,
            Phase::Ended,
            now,
            Some(end),
            Some(reason),
        )
    } else {
        RuleOutput::Abandoned { key: s.key, kind }
    }
}
