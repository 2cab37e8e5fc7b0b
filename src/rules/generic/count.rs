//! `count`: at least `min_count` matching objects in the zone for `for_s` (人群聚集,
//! a row of parked bicycles). One case per zone and rule while the count holds:
//! `started` with a snapshot of the group (the union of their boxes) and a clip,
//! `updated` every `update_every_s` with the current count, `ended` once the count
//! stayed below `min_count` for `clear_after_s`. Details carry `count`, `max_count`
//! and `min_count`; related track ids name the objects counted.
//!
//! Only objects the detector sees in the frame count (a coasting track is an object
//! not seen now), so a count is what the picture shows.

use chrono_tz::Tz;

use super::Matcher;
use crate::infer::{BBox, Category};
use crate::ingest::MediaTime;
use crate::rules::event::{EndReason, Phase};
use crate::rules::illegal_parking::ClipWindow;
use crate::rules::output::{
    CaptureRequest, EpisodeKey, KeySource, OpenEpisode, PhaseOutput, RuleOutput, SubjectInfo,
};
use crate::rules::schedule::Schedule;
use crate::rules::zone::{Zone, ZoneRule};
use crate::track::Track;

/// A count holds for `for_s` (half a minute) but counts moving objects (people,
/// vehicles) frame by frame: one frame a second, so a crowd is counted on pictures of
/// moving people that are not seconds apart.
pub const ANALYSIS_NEED: crate::rules::rate::RateNeed =
    crate::rules::rate::RateNeed::Fps { fps: 1.0 };

/// Track ids named on a count event.
const MAX_RELATED: usize = 64;

#[derive(Debug, Clone)]
struct Rule {
    zone: Zone,
    matcher: Matcher,
    min_count: u32,
    for_s: f64,
    clear_after_s: f64,
    update_every_s: f64,
    schedule: Schedule,
    state: Option<Group>,
}

/// A group at or above the count (a candidate until confirmed).
#[derive(Debug, Clone)]
struct Group {
    key: EpisodeKey,
    since: MediaTime,
    below_since: Option<MediaTime>,
    confirmed: bool,
    last_report: MediaTime,
    max_count: u32,
    count: u32,
    subject: SubjectInfo,
    last_seen: MediaTime,
}

/// The `count` rules of one camera.
#[derive(Debug)]
pub struct GenericCount {
    rules: Vec<Rule>,
    tz: Tz,
    clip: ClipWindow,
    keys: KeySource,
}

fn rules_of(zones: &[Zone]) -> Vec<Rule> {
    let mut out = Vec::new();
    for z in zones {
        for r in &z.rules {
            if let ZoneRule::Count {
                kind,
                categories,
                min_count,
                for_s,
                clear_after_s,
                update_every_s,
                schedule,
                ..
            } = r
                && let Some(matcher) = Matcher::new(kind, categories)
            {
                out.push(Rule {
                    zone: z.clone(),
                    matcher,
                    min_count: *min_count,
                    for_s: *for_s,
                    clear_after_s: *clear_after_s,
                    update_every_s: *update_every_s,
                    schedule: schedule.clone(),
                    state: None,
                });
            }
        }
    }
    out
}

impl GenericCount {
    pub fn new(zones: &[Zone], tz: Tz, clip: ClipWindow) -> Self {
        Self {
            rules: rules_of(zones),
            tz,
            clip,
            keys: KeySource::default(),
        }
    }

    pub fn set_context(&mut self, tz: Tz, clip: ClipWindow) {
        self.tz = tz;
        self.clip = clip;
    }

    /// Hot reload: a group of a rule that still exists (zone id and kind) goes on
    /// with the new parameters; the others are closed (`zone_removed`).
    pub fn set_zones(&mut self, zones: &[Zone], now: MediaTime) -> Vec<RuleOutput> {
        self.set_zones_because(zones, now, EndReason::ZoneRemoved)
    }

    /// [`Self::set_zones`], ending the groups of rules no longer given with `reason`
    /// (`camera_moved` when a PTZ camera's view changed).
    pub fn set_zones_because(
        &mut self,
        zones: &[Zone],
        now: MediaTime,
        reason: EndReason,
    ) -> Vec<RuleOutput> {
        let mut new = rules_of(zones);
        let mut out = Vec::new();
        for old in std::mem::take(&mut self.rules) {
            let Some(g) = old.state.clone() else { continue };
            match new
                .iter_mut()
                .find(|r| r.zone.id == old.zone.id && r.matcher.kind == old.matcher.kind)
            {
                Some(r) => r.state = Some(g),
                None => out.push(end(&old, g, now, now, reason)),
            }
        }
        self.rules = new;
        out
    }

    /// Confirmed groups, for persistence (a restart ends them: `restart`).
    pub fn open(&self) -> Vec<OpenEpisode> {
        self.rules
            .iter()
            .filter_map(|r| {
                let g = r.state.as_ref().filter(|g| g.confirmed)?;
                Some(OpenEpisode {
                    key: g.key,
                    kind: r.matcher.kind,
                    zone_id: r.zone.id.clone(),
                    subject: g.subject.clone(),
                    anchor: g.subject.bbox,
                    start: g.since,
                    last_seen: g.last_seen,
                    last_report: g.last_report,
                    paused_s: 0.0,
                    visits: 0,
                })
            })
            .collect()
    }

    pub fn on_frame(
        &mut self,
        now: MediaTime,
        tracks: &[Track],
        frame_w: u32,
        frame_h: u32,
    ) -> Vec<RuleOutput> {
        let mut out = Vec::new();
        for ri in 0..self.rules.len() {
            let r = &self.rules[ri];
            let on = r.schedule.is_active(now, self.tz);
            let members: Vec<&Track> = tracks
                .iter()
                .filter(|t| {
                    on && !t.is_coasting()
                        && r.matcher.matches(&t.category)
                        && r.zone.contains_box(&t.category, &t.bbox, frame_w, frame_h)
                })
                .collect();
            let n = members.len() as u32;
            let enough = n >= r.min_count;
            let subject = if enough {
                Some(group_subject(&members))
            } else {
                None
            };
            let (for_s, clear, update_every) = (r.for_s, r.clear_after_s, r.update_every_s);
            let kind = r.matcher.kind;
            let zone_id = r.zone.id.clone();
            let rule = &mut self.rules[ri];
            match (&mut rule.state, subject) {
                (None, None) => {}
                (None, Some(subject)) => {
                    rule.state = Some(Group {
                        key: self.keys.next_key(),
                        since: now,
                        below_since: None,
                        confirmed: false,
                        last_report: now,
                        max_count: n,
                        count: n,
                        subject,
                        last_seen: now,
                    });
                }
                (Some(g), Some(subject)) => {
                    g.below_since = None;
                    g.count = n;
                    g.max_count = g.max_count.max(n);
                    g.subject = subject;
                    g.last_seen = now;
                    if !g.confirmed && now.secs_since(g.since) >= for_s {
                        g.confirmed = true;
                        g.last_report = now;
                        out.push(capture(kind, g, "confirmation", now));
                        out.push(RuleOutput::Capture {
                            key: g.key,
                            kind,
                            request: CaptureRequest::Clip {
                                name: "clip",
                                center: now,
                                pre_s: self.clip.pre_s,
                                post_s: self.clip.post_s,
                            },
                        });
                        out.push(phase(
                            kind,
                            &zone_id,
                            rule.min_count,
                            g,
                            Phase::Started,
                            now,
                            None,
                            None,
                        ));
                    } else if g.confirmed && now.secs_since(g.last_report) >= update_every {
                        g.last_report = now;
                        out.push(phase(
                            kind,
                            &zone_id,
                            rule.min_count,
                            g,
                            Phase::Updated,
                            now,
                            None,
                            None,
                        ));
                    }
                }
                (Some(g), None) => {
                    g.count = n;
                    let below = *g.below_since.get_or_insert(now);
                    let reason = if on {
                        EndReason::Gone
                    } else {
                        EndReason::ScheduleEnded
                    };
                    if !on || now.secs_since(below) >= clear {
                        let g = rule.state.take().expect("matched Some");
                        if g.confirmed {
                            out.push(capture(kind, &g, "ended", now));
                        }
                        out.push(end(rule, g, below, now, reason));
                    }
                }
            }
        }
        out
    }
}

/// The group as one subject: the union of the boxes, the most frequent class, the
/// highest score, the members' track ids.
fn group_subject(members: &[&Track]) -> SubjectInfo {
    let mut b = members[0].last_detection_bbox;
    for t in members {
        let o = t.last_detection_bbox;
        b = BBox::new(
            b.x1.min(o.x1),
            b.y1.min(o.y1),
            b.x2.max(o.x2),
            b.y2.max(o.y2),
        );
    }
    let mut classes: Vec<(&str, &Category, usize)> = Vec::new();
    for t in members {
        match classes.iter_mut().find(|c| c.0 == t.class_name) {
            Some(c) => c.2 += 1,
            None => classes.push((&t.class_name, &t.category, 1)),
        }
    }
    let (class, category, _) = classes
        .iter()
        .max_by_key(|c| c.2)
        .copied()
        .expect("non-empty");
    let mut ids: Vec<u64> = members.iter().map(|t| t.id).collect();
    ids.sort_unstable();
    ids.truncate(MAX_RELATED);
    SubjectInfo {
        category: category.clone(),
        class_name: class.to_string(),
        score: members.iter().map(|t| t.score).fold(0.0, f32::max),
        bbox: b,
        track_id: 0,
        related_track_ids: ids,
    }
}

fn capture(
    kind: crate::rules::event::EventKind,
    g: &Group,
    name: &'static str,
    now: MediaTime,
) -> RuleOutput {
    RuleOutput::Capture {
        key: g.key,
        kind,
        request: CaptureRequest::Snapshot {
            name,
            at: now,
            bbox: g.subject.bbox,
        },
    }
}

#[allow(clippy::too_many_arguments)]
fn phase(
    kind: crate::rules::event::EventKind,
    zone: &str,
    min_count: u32,
    g: &Group,
    phase: Phase,
    now: MediaTime,
    end: Option<MediaTime>,
    end_reason: Option<EndReason>,
) -> RuleOutput {
    let until = end.unwrap_or(now);
    let mut details = serde_json::Map::new();
    details.insert("count".into(), g.count.into());
    details.insert("max_count".into(), g.max_count.into());
    details.insert("min_count".into(), min_count.into());
    RuleOutput::Phase {
        key: g.key,
        phase: PhaseOutput {
            kind,
            phase,
            zone_id: zone.to_string(),
            subject: g.subject.clone(),
            start: g.since,
            at: now,
            end,
            duration_s: Some(until.secs_since(g.since).max(0.0)),
            details,
            event_id: None,
            end_reason,
        },
    }
}

fn end(rule: &Rule, g: Group, end: MediaTime, now: MediaTime, reason: EndReason) -> RuleOutput {
    if g.confirmed {
        phase(
            rule.matcher.kind,
            &rule.zone.id,
            rule.min_count,
            &g,
            Phase::Ended,
            now,
            Some(end),
            Some(reason),
        )
    } else {
        RuleOutput::Abandoned {
            key: g.key,
            kind: rule.matcher.kind,
        }
    }
}
