//! Illegal parking (违停, 机动车/非机动车乱停放): a vehicle whose anchor stands still
//! in a no-parking zone for the zone's dwell.
//!
//! One *stay* is one event: `started` at confirmation (carrying the time the vehicle
//! was first seen stationary), `updated` every `update_every_s`, `ended` when the
//! vehicle drives away or has not been seen for `leave_after_s`. The tracker already
//! keeps a parked car's id through occlusions (`max_gap_stationary_s`); when it still
//! loses it, a new stationary track at the same spot (IoU ≥ [`REBIND_IOU`]) before the
//! stay has ended is the same stay, so a passing bus never causes a second event. A car
//! arriving after the stay ended is a new event.
//!
//! Evidence, as enforcement practice expects: a snapshot when the vehicle is first seen
//! stationary, one at half the dwell and one at confirmation (plus a clip around the
//! confirmation); the `ended` phase carries a snapshot of the frame that ended the stay. They are requested when they happen, because by confirmation the
//! encoded ring no longer holds the first moments of a 3-minute stay.
//!
//! While the camera looks elsewhere (a PTZ camera at another preset, moving, or a
//! tampering alarm) the stays of zones not in force are *suspended*: paused time does
//! not count for their dwell. Back at the same view within `resume_within_s`, a
//! suspended stay waits (like a restored one, below) for a stationary vehicle of the
//! same family, overlapping its last box (IoU ≥ [`REBIND_IOU`]) and looking the same
//! (colour histogram and thumbnail, [`crate::rules::scene::appearance`]); otherwise it
//! ends with `camera_moved`. On a patrol the time between two visits does count (the
//! same vehicle at both visits is the time-separated evidence), each visit that finds
//! it adds a wide shot (`visit-N`), and one not found on the next visit ends `gone`.
//!
//! Confirmed stays survive a restart (the façade persists them, see
//! [`crate::rules::stays`]): [`IllegalParking::restore`] puts one back waiting for its
//! vehicle, and a stationary vehicle of the same family (motor / non-motor) in the
//! same zone overlapping the stored box (IoU ≥ [`REBIND_IOU`]) before the grace period
//! ends continues it; otherwise it ends with reason `restart`.
//!
//! Photo set (GA/T 832): the first wide shot shows the moment the vehicle was first
//! seen stationary (looked back up to [`FIRST_SHOT_LOOKBACK_S`] in the ring), and
//! confirmation waits until the zone's `evidence_interval_s` has passed since it, so
//! the two wide shots are always at least that far apart.
//!
//! Plates: the evidence side reads the plate off the main-stream pictures and hands it
//! back ([`IllegalParking::set_plate`]). A new candidate whose plate is that of a stay
//! in the same zone that lost sight of its vehicle is that stay seen again (after an
//! occlusion the box may have moved beyond [`REBIND_IOU`]): the stay takes the
//! candidate's track and the candidate is abandoned. So that the answer never depends
//! on how fast the evidence thread is (a replay runs far ahead of it), a candidate
//! opened while a plated stay of its zone is out of sight is not confirmed before its
//! own plate is known ([`IllegalParking::plate_waits`]); the caller waits for the read.

use chrono_tz::Tz;

use crate::infer::{BBox, Category};
use crate::ingest::MediaTime;
use crate::rules::event::{EndReason, EventKind, Phase};
use crate::rules::output::{
    CaptureRequest, EpisodeKey, KeySource, OpenEpisode, PhaseOutput, Resume, RuleOutput,
    SubjectInfo,
};
use crate::rules::scene::appearance::Appearance;
use crate::rules::scene::view::{FIXED, ResumePolicy, SceneSettings};
use crate::rules::schedule::Schedule;
use crate::rules::zone::{Zone, ZoneRule};
use crate::track::Track;

/// The slowest input parking decides on: keyframes, while they come at most 2 s apart
/// and at most `stationary_after_s / 2` apart, so the tracker's stillness test sees at
/// least three positions before it calls a vehicle stationary and a moving car is
/// still matched frame to frame (`max_gap_moving_s` with `min_misses_to_drop`). The
/// dwell (minutes) and `leave_after_s` (a minute) are far longer. Plates are read off
/// the main stream's evidence pictures, not the analysis frames. The replay scenarios
/// (tests/replay_scenarios.rs, a 2 s GOP) give the same events at this rate.
pub fn analysis_need(tracker: &crate::track::TrackerConfig) -> crate::rules::rate::RateNeed {
    crate::rules::rate::RateNeed::Keyframes {
        max_gap_s: (tracker.stationary_after_s / 2.0).clamp(0.2, 2.0),
    }
}

/// IoU with a stay's last box above which a new stationary track continues that stay.
pub const REBIND_IOU: f32 = 0.5;
/// Seconds out of sight (and at least [`REAPPEAR_FRAMES`] analysis intervals) after
/// which a vehicle seen again elsewhere (box IoU below [`REBIND_IOU`]) is a
/// re-appearance, not the parked vehicle driving off: the tracker may give it its old
/// track, but the stay only loses sight of it (see [`IllegalParking::set_plate`]).
pub const REAPPEAR_GAP_S: f64 = 3.0;
pub const REAPPEAR_FRAMES: f64 = 3.0;
/// How far back the first wide shot may look for the moment the vehicle became still
/// (the tracker's stillness window; well inside the ring's pre-roll).
pub const FIRST_SHOT_LOOKBACK_S: f64 = 10.0;
/// Stays followed at once per camera; beyond it new candidates are ignored (bounded
/// memory even if a detector goes mad).
pub const MAX_STAYS: usize = 256;

/// Classes reported as non-motor vehicles (非机动车, code 09010).
const NON_MOTOR: &[&str] = &["bicycle", "motorcycle", "motorbike", "e_bike", "tricycle"];

/// Whether a vehicle category/class is a non-motor vehicle.
pub fn is_non_motor(category: &Category, class_name: &str) -> bool {
    let last = category.as_str().rsplit('.').next().unwrap_or("");
    NON_MOTOR.contains(&last) || NON_MOTOR.contains(&class_name)
}

/// Clip window asked for around the confirmation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClipWindow {
    pub pre_s: f64,
    pub post_s: f64,
}

#[derive(Debug, Clone)]
struct ParkingZone {
    zone: Zone,
    /// The view the zone is in force in (see [`crate::rules::scene::view`]).
    view: Option<String>,
    dwell_s: f64,
    update_every_s: f64,
    leave_after_s: f64,
    /// Least seconds between the first wide shot and confirmation.
    evidence_interval_s: f64,
    schedule: Schedule,
}

#[derive(Debug, Clone)]
struct Stay {
    key: EpisodeKey,
    track_id: u64,
    zone_id: String,
    first_still: MediaTime,
    /// When the first wide shot was asked for.
    first_shot: MediaTime,
    /// When the stay was opened (its first frame).
    opened: MediaTime,
    /// The plate the evidence side agreed on, once known.
    plate: Option<String>,
    /// Not confirmed before its plate read has come back (it may be a lost stay's
    /// vehicle seen again).
    plate_wait: bool,
    last_seen: MediaTime,
    bbox: BBox,
    subject: SubjectInfo,
    half_captured: bool,
    confirmed: bool,
    last_report: MediaTime,
    /// Seen in the current frame (bookkeeping within one `on_frame`).
    touched: bool,
    /// Restored after a restart (or resumed after a pause) and not seen again yet.
    restored: Option<Resume>,
    /// Seconds of pauses that do not count for the dwell.
    paused_s: f64,
    /// Suspended since: its zone is not in force (the camera looks elsewhere).
    suspended: Option<MediaTime>,
    /// Resumed after a pause, waiting for its vehicle: `Some(true)` on a patrol visit.
    resuming: Option<bool>,
    /// What the vehicle looks like, refreshed while it is seen.
    appearance: Option<(Appearance, MediaTime)>,
    /// Later patrol visits (or returns) that found the vehicle again.
    visits: u32,
}

/// Seconds between refreshes of a stay's appearance.
const APPEARANCE_EVERY_S: f64 = 10.0;

/// Names of the wide shots of later visits (static: evidence names are fixed
/// strings); visits beyond the table add no more shots.
const VISIT_SHOTS: [&str; 16] = [
    "visit-2", "visit-3", "visit-4", "visit-5", "visit-6", "visit-7", "visit-8", "visit-9",
    "visit-10", "visit-11", "visit-12", "visit-13", "visit-14", "visit-15", "visit-16", "visit-17",
];

impl Stay {
    // One argument per field a new stay is born with; the rest start empty.
    #[allow(clippy::too_many_arguments)]
    fn new(
        key: EpisodeKey,
        track_id: u64,
        zone_id: String,
        first_still: MediaTime,
        last_seen: MediaTime,
        bbox: BBox,
        subject: SubjectInfo,
        now: MediaTime,
    ) -> Stay {
        Stay {
            key,
            track_id,
            zone_id,
            first_still,
            first_shot: first_still,
            opened: now,
            plate: None,
            plate_wait: false,
            last_seen,
            bbox,
            subject,
            half_captured: false,
            confirmed: false,
            last_report: now,
            touched: true,
            restored: None,
            paused_s: 0.0,
            suspended: None,
            resuming: None,
            appearance: None,
            visits: 0,
        }
    }
}

/// Track id of a restored stay until a vehicle is bound to it: the tracker numbers
/// tracks from 1, so no live track ever matches it.
const NO_TRACK: u64 = 0;

/// Whether a track may continue a restored stay: the same family of vehicle (motor or
/// non-motor: they are different platform codes; car/truck confusion is fine).
fn same_family(s: &SubjectInfo, t: &Track) -> bool {
    is_non_motor(&s.category, &s.class_name) == is_non_motor(&t.category, &t.class_name)
}

/// The illegal-parking engine of one camera.
#[derive(Debug)]
pub struct IllegalParking {
    zones: Vec<ParkingZone>,
    tz: Tz,
    clip: ClipWindow,
    stays: Vec<Stay>,
    keys: KeySource,
    /// The previous analysed frame (the analysis interval, for re-appearances).
    last_frame: Option<MediaTime>,
    /// Tracks detached from their stay as re-appearances, with when.
    reappeared: Vec<(u64, MediaTime)>,
    scene: SceneSettings,
    /// The view in force; None while paused.
    view: Option<String>,
}

fn parking_zones(zones: &[Zone], scene: &SceneSettings) -> Vec<ParkingZone> {
    let mut out = Vec::new();
    for z in zones {
        for r in &z.rules {
            if let ZoneRule::NoParking {
                dwell_s,
                update_every_s,
                leave_after_s,
                evidence_interval_s,
                schedule,
                ..
            } = r
            {
                out.push(ParkingZone {
                    view: scene.zone_view(z).map(str::to_string),
                    zone: z.clone(),
                    dwell_s: *dwell_s,
                    update_every_s: *update_every_s,
                    leave_after_s: *leave_after_s,
                    evidence_interval_s: evidence_interval_s.unwrap_or(*dwell_s),
                    schedule: schedule.clone(),
                });
            }
        }
    }
    out
}

impl IllegalParking {
    pub fn new(zones: &[Zone], tz: Tz, clip: ClipWindow) -> Self {
        let scene = SceneSettings::default();
        Self {
            zones: parking_zones(zones, &scene),
            tz,
            clip,
            stays: Vec::new(),
            keys: KeySource::default(),
            last_frame: None,
            reappeared: Vec::new(),
            scene,
            view: Some(FIXED.into()),
        }
    }

    /// The camera's scene settings (PTZ presets, home): which zone is in force in
    /// which view.
    pub fn set_scene(&mut self, scene: &SceneSettings) {
        self.scene = scene.clone();
        for z in &mut self.zones {
            z.view = scene.zone_view(&z.zone).map(str::to_string);
        }
    }

    fn zone_view(&self, zone_id: &str) -> Option<&str> {
        self.zones
            .iter()
            .find(|z| z.zone.id == zone_id)
            .and_then(|z| z.view.as_deref())
    }

    /// The camera's view changed (`None`: paused). Stays of zones leaving the view are
    /// suspended; suspended stays of the new view wait `min_grace_s` (at least their
    /// zone's `leave_after_s`) for their vehicle, or end.
    pub fn set_view(
        &mut self,
        view: Option<&str>,
        now: MediaTime,
        policy: &ResumePolicy,
        min_grace_s: f64,
    ) -> Vec<RuleOutput> {
        self.view = view.map(str::to_string);
        let out = self.expire(now, policy);
        for i in 0..self.stays.len() {
            let zv = self.zone_view(&self.stays[i].zone_id).map(str::to_string);
            let leave = self
                .zones
                .iter()
                .find(|z| z.zone.id == self.stays[i].zone_id)
                .map_or(0.0, |z| z.leave_after_s);
            let s = &mut self.stays[i];
            let in_view = view.is_some() && zv.as_deref() == view;
            match (in_view, s.suspended) {
                (false, None) => {
                    s.suspended = Some(now);
                    s.track_id = NO_TRACK;
                    s.subject.track_id = NO_TRACK;
                }
                (true, Some(since)) => {
                    let absent = now.secs_since(since).max(0.0);
                    let patrol = policy.absence_counts(view.unwrap_or(""), absent);
                    if !patrol {
                        s.paused_s += absent;
                    }
                    s.suspended = None;
                    s.resuming = Some(patrol);
                    s.restored = Some(Resume {
                        grace_until: now.add_secs(leave.max(min_grace_s)),
                        resend_started: s.restored.is_some_and(|r| r.resend_started),
                    });
                }
                _ => {}
            }
        }
        out
    }

    /// Suspended stays that waited longer than the policy allows end (`camera_moved`).
    pub fn expire(&mut self, now: MediaTime, policy: &ResumePolicy) -> Vec<RuleOutput> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.stays.len() {
            let s = &self.stays[i];
            let limit = policy.limit_s(self.zone_view(&s.zone_id).unwrap_or(""));
            if let Some(since) = s.suspended
                && now.secs_since(since) > limit
            {
                let s = self.stays.swap_remove(i);
                let end = s.last_seen;
                out.push(close(s, end, now, EndReason::CameraMoved));
            } else {
                i += 1;
            }
        }
        out
    }

    /// Hot reload of the timezone (schedules) and clip window; running stays go on.
    pub fn set_context(&mut self, tz: Tz, clip: ClipWindow) {
        self.tz = tz;
        self.clip = clip;
    }

    /// Hot reload: new zone parameters apply at once; stays in zones that still exist
    /// (same id, still `no_parking`) keep running, the others are closed (`ended` for
    /// confirmed stays, `Abandoned` for candidates) at `now`.
    pub fn set_zones(&mut self, zones: &[Zone], now: MediaTime) -> Vec<RuleOutput> {
        self.zones = parking_zones(zones, &self.scene);
        let mut out = Vec::new();
        let keep: Vec<String> = self.zones.iter().map(|z| z.zone.id.clone()).collect();
        let (kept, gone): (Vec<Stay>, Vec<Stay>) = self
            .stays
            .drain(..)
            .partition(|s| keep.contains(&s.zone_id));
        self.stays = kept;
        for s in gone {
            out.push(close(s, now, now, EndReason::ZoneRemoved));
        }
        out
    }

    /// Confirmed stays (and restored ones still waiting), for persistence.
    pub fn open(&self) -> Vec<OpenEpisode> {
        self.stays
            .iter()
            .filter(|s| s.confirmed)
            .map(|s| OpenEpisode {
                key: s.key,
                kind: EventKind::IllegalParking,
                zone_id: s.zone_id.clone(),
                subject: s.subject.clone(),
                anchor: s.bbox,
                start: s.first_still,
                last_seen: s.last_seen,
                last_report: s.last_report,
                paused_s: s.paused_s,
                visits: s.visits,
            })
            .collect()
    }

    /// Puts back a confirmed stay persisted before a restart, waiting until
    /// `now + max(leave_after_s, min_grace_s)` for its vehicle; `resend_started` asks
    /// for `started` to be decided again when it comes back. None when the camera
    /// already follows [`MAX_STAYS`] stays.
    pub fn restore(
        &mut self,
        ep: OpenEpisode,
        now: MediaTime,
        min_grace_s: f64,
        resend_started: bool,
    ) -> Option<EpisodeKey> {
        if self.stays.len() >= MAX_STAYS {
            return None;
        }
        let leave = self
            .zones
            .iter()
            .find(|z| z.zone.id == ep.zone_id)
            .map_or(0.0, |z| z.leave_after_s);
        let key = self.keys.next_key();
        let mut s = Stay::new(
            key,
            NO_TRACK,
            ep.zone_id,
            ep.start,
            ep.last_seen,
            ep.anchor,
            SubjectInfo {
                track_id: NO_TRACK,
                ..ep.subject
            },
            ep.last_report,
        );
        // The photo set's first wide shot was taken before the restart; the plate is
        // read again from the pictures taken after it.
        s.opened = ep.start;
        s.paused_s = ep.paused_s;
        s.visits = ep.visits;
        s.half_captured = true;
        s.confirmed = true;
        s.touched = false;
        s.restored = Some(Resume {
            grace_until: now.add_secs(leave.max(min_grace_s)),
            resend_started,
        });
        self.stays.push(s);
        Some(key)
    }

    /// Stays currently followed (candidates and confirmed).
    pub fn active(&self) -> usize {
        self.stays.len()
    }

    /// Candidates whose confirmation waits for their plate read.
    pub fn plate_waits(&self) -> Vec<EpisodeKey> {
        self.stays
            .iter()
            .filter(|s| s.plate_wait)
            .map(|s| s.key)
            .collect()
    }

    /// The plate the evidence side agreed on for stay `key` (`None`: its read is done
    /// and found none). A candidate carrying the plate of an older stay in the same
    /// zone whose vehicle has not been seen since the candidate appeared is that
    /// vehicle again: the older stay takes over the candidate's track and the candidate
    /// is abandoned (its evidence discarded).
    pub fn set_plate(&mut self, key: EpisodeKey, plate: Option<&str>) -> Vec<RuleOutput> {
        let Some(i) = self.stays.iter().position(|s| s.key == key) else {
            return Vec::new();
        };
        self.stays[i].plate_wait = false;
        let Some(plate) = plate else {
            return Vec::new();
        };
        self.stays[i].plate = Some(plate.to_string());
        let s = &self.stays[i];
        let older = self.stays.iter().position(|o| {
            o.key != s.key
                && o.zone_id == s.zone_id
                && o.plate.as_deref() == Some(plate)
                && o.opened < s.opened
                && o.last_seen <= s.opened
        });
        // Two plates seen at once, or the newer one already an event: nothing to join.
        let (Some(o), false) = (older, s.confirmed) else {
            return Vec::new();
        };
        let newer = self.stays.swap_remove(i);
        let o = if o == self.stays.len() { i } else { o };
        let old = &mut self.stays[o];
        old.track_id = newer.track_id;
        old.bbox = newer.bbox;
        old.subject = newer.subject;
        old.last_seen = old.last_seen.max(newer.last_seen);
        old.touched = newer.touched;
        vec![RuleOutput::Abandoned {
            key: newer.key,
            kind: EventKind::IllegalParking,
        }]
    }

    /// Feeds one analysed frame: the tracker's live confirmed tracks at `now`.
    pub fn on_frame(
        &mut self,
        now: MediaTime,
        tracks: &[Track],
        frame_w: u32,
        frame_h: u32,
    ) -> Vec<RuleOutput> {
        self.on_frame_seen(now, tracks, frame_w, frame_h, &|_| None)
    }

    /// [`Self::on_frame`] with `look`, the appearance of a box in this frame (None
    /// when no picture is at hand), to tell a returning vehicle from another one.
    pub fn on_frame_seen(
        &mut self,
        now: MediaTime,
        tracks: &[Track],
        frame_w: u32,
        frame_h: u32,
        look: &dyn Fn(&BBox) -> Option<Appearance>,
    ) -> Vec<RuleOutput> {
        let mut out = Vec::new();
        if self.view.is_none() {
            return out;
        }
        for s in &mut self.stays {
            s.touched = false;
        }
        let interval = self.last_frame.map_or(0.0, |l| now.secs_since(l));
        self.last_frame = Some(now);
        let reappear_gap = REAPPEAR_GAP_S.max(REAPPEAR_FRAMES * interval);
        let view = self.view.clone();
        for t in tracks.iter().filter(|t| t.category.is_vehicle()) {
            let zone_idx = self.zones.iter().position(|z| {
                z.view == view
                    && z.zone.contains_box(&t.category, &t.bbox, frame_w, frame_h)
                    && z.schedule.is_active(now, self.tz)
            });
            let existing = self.stays.iter().position(|s| s.track_id == t.id);
            // Its vehicle's track found again after an occlusion at another spot (the
            // tracker may match a re-appearing vehicle to its old track): the stay has
            // lost sight of it (track 0) and ends after `leave_after_s` unless its plate
            // is seen again; what the track shows from now on is a vehicle that only
            // just arrived there.
            if let Some(i) = existing
                && !t.is_coasting()
                && now.secs_since(self.stays[i].last_seen) > reappear_gap
                && self.stays[i].bbox.iou(&t.last_detection_bbox) < REBIND_IOU
            {
                self.stays[i].track_id = 0;
                if self.reappeared.len() < MAX_STAYS {
                    self.reappeared.push((t.id, now));
                }
                continue;
            }
            let (Some(zi), Some(since)) = (zone_idx, t.stationary_since) else {
                // Moving, out of every zone, or outside the schedule: the stay (if any)
                // is over now.
                if let Some(i) = existing {
                    let s = self.stays.swap_remove(i);
                    let end = if t.is_coasting() { t.last_seen } else { now };
                    // Still standing in its zone: the schedule window closed on it.
                    let off_schedule = t.stationary_since.is_some()
                        && self.zones.iter().any(|z| {
                            z.zone.id == s.zone_id
                                && z.zone.contains_box(&t.category, &t.bbox, frame_w, frame_h)
                        });
                    let reason = if off_schedule {
                        EndReason::ScheduleEnded
                    } else {
                        EndReason::Gone
                    };
                    close_on_frame(s, end, now, reason, &mut out);
                }
                continue;
            };
            if existing.is_none() && t.is_coasting() {
                // Only a detected vehicle can start (or continue a lost) stay; a
                // coasting track past its stay's end must not open a new one.
                continue;
            }
            let zone_id = self.zones[zi].zone.id.clone();
            let idx = match existing {
                Some(i) if self.stays[i].zone_id == zone_id => Some(i),
                Some(i) => {
                    // Moved into another zone: the old stay ends, a new one may start.
                    let s = self.stays.swap_remove(i);
                    close_on_frame(s, now, now, EndReason::Gone, &mut out);
                    None
                }
                // A re-appeared vehicle is not rebound by its box: the tracker's
                // smoothed box still lags between the old spot and the new one for a
                // frame or two. Only its plate can tell (`set_plate`).
                None if self.reappeared.iter().any(|(id, _)| *id == t.id) => None,
                None => {
                    // A lost-and-refound track continues an unconfirmed-gone stay; a
                    // vehicle of the same family in place continues a restored one.
                    self.stays.iter().position(|s| {
                        s.zone_id == zone_id
                            && s.suspended.is_none()
                            && !tracks
                                .iter()
                                .any(|o| o.id == s.track_id && !o.is_coasting())
                            && s.bbox.iou(&t.bbox) >= REBIND_IOU
                            && (s.restored.is_none() || same_family(&s.subject, t))
                            && (s.resuming.is_none() || looks_same(s, t, look))
                    })
                }
            };
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
                    let mut first_still = since.max(t.first_seen);
                    // A re-appeared vehicle was still from its arrival here at most; the
                    // tracker's stillness from before the jump is stale, so it is a
                    // candidate only once the tracker finds it still at the new spot
                    // (else the stay it may join would see it "moving" a frame later).
                    if let Some(k) = self.reappeared.iter().position(|(id, _)| *id == t.id) {
                        let arrived = self.reappeared[k].1;
                        if since < arrived {
                            continue;
                        }
                        self.reappeared.swap_remove(k);
                        first_still = first_still.max(arrived);
                    }
                    let key = self.keys.next_key();
                    // A plated stay of this zone whose vehicle is out of sight: this
                    // may be that vehicle, which only its plate can tell.
                    let plate_wait = self.stays.iter().any(|o| {
                        o.zone_id == zone_id
                            && o.plate.is_some()
                            && now.secs_since(o.last_seen) > reappear_gap
                    });
                    // The first wide shot shows the moment it became still.
                    let first_shot = first_still.max(now.add_secs(-FIRST_SHOT_LOOKBACK_S));
                    out.push(RuleOutput::Capture {
                        key,
                        kind: EventKind::IllegalParking,
                        request: CaptureRequest::Snapshot {
                            name: "first-stationary",
                            at: first_shot,
                            bbox: t.last_detection_bbox,
                        },
                    });
                    let mut stay = Stay::new(
                        key,
                        t.id,
                        zone_id.clone(),
                        first_still,
                        t.last_seen,
                        t.bbox,
                        subject.clone(),
                        now,
                    );
                    stay.first_shot = first_shot;
                    stay.plate_wait = plate_wait;
                    self.stays.push(stay);
                    self.stays.len() - 1
                }
            };
            let z = &self.zones[zi];
            let s = &mut self.stays[i];
            s.touched = true;
            s.track_id = t.id;
            if !t.is_coasting() {
                s.last_seen = t.last_seen;
                s.bbox = t.bbox;
                s.subject = subject;
                if s.appearance
                    .as_ref()
                    .is_none_or(|(_, at)| now.secs_since(*at) >= APPEARANCE_EVERY_S)
                    && let Some(a) = look(&t.last_detection_bbox)
                {
                    s.appearance = Some((a, now));
                }
            }
            if t.is_coasting() && now.secs_since(t.last_seen) > z.leave_after_s {
                let s = self.stays.swap_remove(i);
                close_on_frame(s, t.last_seen, now, EndReason::Gone, &mut out);
                continue;
            }
            if s.restored.is_some() && s.resuming.take().is_some() {
                // Back after a pause (or the next patrol visit) and found again: a wide
                // shot of this visit.
                s.visits += 1;
                if let Some(name) = VISIT_SHOTS.get(s.visits as usize - 1) {
                    out.push(RuleOutput::Capture {
                        key: s.key,
                        kind: EventKind::IllegalParking,
                        request: CaptureRequest::Snapshot {
                            name,
                            at: now,
                            bbox: s.subject.bbox,
                        },
                    });
                }
            }
            if let Some(r) = s.restored.take()
                && r.resend_started
            {
                // Resumed, but the platform never got `started`: decide it again with
                // evidence of now (the vehicle is still there), under the same id.
                s.last_report = now;
                confirm(s, now, self.clip, &mut out);
            }
            // Dwell counts only up to the last sighting: a car that vanished (left
            // or hidden) cannot be confirmed on the tracker's memory alone. Paused
            // time (the camera looked elsewhere) does not count.
            let held = s.last_seen.secs_since(s.first_still) - s.paused_s;
            if !s.half_captured && held >= z.dwell_s / 2.0 && !t.is_coasting() {
                s.half_captured = true;
                out.push(RuleOutput::Capture {
                    key: s.key,
                    kind: EventKind::IllegalParking,
                    request: CaptureRequest::Snapshot {
                        name: "half-dwell",
                        at: now,
                        bbox: s.subject.bbox,
                    },
                });
            }
            if !s.confirmed
                && !s.plate_wait
                && held >= z.dwell_s
                && now.secs_since(s.first_shot) >= z.evidence_interval_s
            {
                s.confirmed = true;
                s.last_report = now;
                confirm(s, now, self.clip, &mut out);
            } else if s.confirmed && now.secs_since(s.last_report) >= z.update_every_s {
                s.last_report = now;
                out.push(phase(s, Phase::Updated, now, None, None));
            }
        }
        self.reappeared
            .retain(|(id, _)| tracks.iter().any(|t| t.id == *id));
        // Stays whose track is gone from the tracker.
        let mut i = 0;
        while i < self.stays.len() {
            let s = &self.stays[i];
            if s.suspended.is_some() {
                i += 1;
                continue;
            }
            let zone = self.zones.iter().find(|z| z.zone.id == s.zone_id);
            if let Some(r) = s.restored {
                // Restored and not seen again: over once the grace period has passed,
                // at once when its zone no longer exists.
                if zone.is_none() || now > r.grace_until {
                    let s = self.stays.swap_remove(i);
                    let (end, reason) = (
                        s.last_seen,
                        match (zone, s.resuming) {
                            (None, _) => EndReason::ZoneRemoved,
                            // A patrol's next visit did not find it: it left.
                            (Some(_), Some(true)) => EndReason::Gone,
                            (Some(_), Some(false)) => EndReason::CameraMoved,
                            (Some(_), None) => EndReason::Restart,
                        },
                    );
                    if r.resend_started {
                        // No snapshot: it would join the re-sent `started` phase.
                        out.push(close(s, end, now, reason));
                    } else {
                        close_on_frame(s, end, now, reason, &mut out);
                    }
                } else {
                    i += 1;
                }
                continue;
            }
            let leave = zone.map_or(0.0, |z| z.leave_after_s);
            if !s.touched && now.secs_since(s.last_seen) > leave {
                let s = self.stays.swap_remove(i);
                let end = s.last_seen;
                close_on_frame(s, end, now, EndReason::Gone, &mut out);
            } else {
                i += 1;
            }
        }
        out
    }
}

/// Whether track `t` looks like the vehicle of stay `s` (true when either appearance
/// is unknown: position and family then decide alone).
fn looks_same(s: &Stay, t: &Track, look: &dyn Fn(&BBox) -> Option<Appearance>) -> bool {
    match (&s.appearance, look(&t.last_detection_bbox)) {
        (Some((a, _)), Some(b)) => a.same_vehicle(&b),
        _ => true,
    }
}

/// Confirmation evidence (a snapshot and a clip around `now`) and the `started` phase.
fn confirm(s: &Stay, now: MediaTime, clip: ClipWindow, out: &mut Vec<RuleOutput>) {
    out.push(RuleOutput::Capture {
        key: s.key,
        kind: EventKind::IllegalParking,
        request: CaptureRequest::Snapshot {
            name: "confirmation",
            at: now,
            bbox: s.subject.bbox,
        },
    });
    out.push(RuleOutput::Capture {
        key: s.key,
        kind: EventKind::IllegalParking,
        request: CaptureRequest::Clip {
            name: "clip",
            center: now,
            pre_s: clip.pre_s,
            post_s: clip.post_s,
        },
    });
    out.push(phase(s, Phase::Started, now, None, None));
}

fn phase(
    s: &Stay,
    phase: Phase,
    now: MediaTime,
    end: Option<MediaTime>,
    end_reason: Option<EndReason>,
) -> RuleOutput {
    let until = end.unwrap_or(now);
    let mut details = serde_json::Map::new();
    if s.paused_s > 0.0 {
        // Time the camera looked elsewhere: not part of the dwell (duration_s still
        // runs from the first sighting).
        details.insert(
            "paused_s".into(),
            serde_json::json!((s.paused_s * 10.0).round() / 10.0),
        );
    }
    if s.visits > 0 {
        details.insert("visits".into(), serde_json::json!(s.visits + 1));
    }
    RuleOutput::Phase {
        key: s.key,
        phase: PhaseOutput {
            kind: EventKind::IllegalParking,
            phase,
            zone_id: s.zone_id.clone(),
            subject: s.subject.clone(),
            start: s.first_still,
            at: now,
            end,
            duration_s: Some(until.secs_since(s.first_still).max(0.0)),
            details,
            event_id: None,
            end_reason,
        },
    }
}

/// Ends a stay seen in a frame: as [`close`], and an event's `ended` phase carries a
/// snapshot of that frame with the vehicle's last box, so the case shows the bay
/// without it (or the vehicle driving off). Not on hot reload: no frame at hand.
fn close_on_frame(
    s: Stay,
    end: MediaTime,
    now: MediaTime,
    reason: EndReason,
    out: &mut Vec<RuleOutput>,
) {
    if s.confirmed {
        out.push(RuleOutput::Capture {
            key: s.key,
            kind: EventKind::IllegalParking,
            request: CaptureRequest::Snapshot {
                name: "ended",
                at: now,
                bbox: s.subject.bbox,
            },
        });
    }
    out.push(close(s, end, now, reason));
}

/// Ends a stay: `ended` if it was an event, `Abandoned` if it was only a candidate.
fn close(s: Stay, end: MediaTime, now: MediaTime, reason: EndReason) -> RuleOutput {
    if s.confirmed {
        phase(&s, Phase::Ended, now, Some(end), Some(reason))
    } else {
        RuleOutput::Abandoned {
            key: s.key,
            kind: EventKind::IllegalParking,
        }
    }
}

#[cfg(test)]
#[path = "illegal_parking_tests.rs"]
mod tests;
