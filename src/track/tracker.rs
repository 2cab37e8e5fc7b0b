//! The tracker: association stages and track lifecycle.
//!
//! Each update runs, per category family:
//! 1. confirmed tracks vs high-score detections (IoU ≥ `match_iou`);
//! 2. still-unmatched confirmed tracks vs low-score detections
//!    (IoU ≥ `low_score_match_iou`) — ByteTrack's trick that keeps a half-occluded
//!    object alive on its weak detections;
//! 3. still-unmatched stationary tracks vs leftover high-score detections at the lower
//!    `stationary_match_iou`, so a parked car that reappears partly occluded is
//!    re-associated;
//! 4. tentative tracks vs leftover high-score detections;
//! 5. new tentative tracks from leftover detections scoring ≥ `new_track_score`.
//!
//! Unmatched tracks coast on their Kalman prediction; stationary ones with velocity
//! zeroed so they stay put. A moving track is dropped after `max_gap_moving_s` without
//! a detection, a stationary one after `max_gap_stationary_s`.
//!
//! At keyframes-only rates (0.5–1 fps) fast traffic moves too far between frames to
//! overlap its own prediction, so it yields no confirmed tracks; parked and slow
//! objects, which are what the parking, litter and road rules need, track normally.

use std::sync::Arc;

use super::assign::match_by_iou;
use super::kalman::{BoxFilter, NoiseModel};
use super::stillness::{Stillness, StillnessParams};
use super::types::{Track, TrackPoint};
use super::{TrackError, TrackerConfig, category_family};
use crate::infer::{BBox, Category, Detection};
use crate::ingest::MediaTime;

/// Distinct classes remembered per track for the category vote.
const MAX_CLASS_VOTES: usize = 8;

/// What changed in one update besides the live tracks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrackUpdate {
    /// Confirmed tracks removed in this update (gap exceeded or evicted by the cap),
    /// in their final state, so rules can close their episodes.
    pub ended: Vec<Track>,
}

/// Score-weighted class tally, so one misclassified frame does not relabel a track.
#[derive(Debug, Clone)]
struct ClassVotes(Vec<(Category, String, f32)>);

impl ClassVotes {
    fn new(d: &Detection) -> Self {
        Self(vec![(d.category.clone(), d.class_name.clone(), d.score)])
    }

    fn add(&mut self, d: &Detection) {
        if let Some(v) = self.0.iter_mut().find(|v| v.0 == d.category) {
            v.1.clone_from(&d.class_name);
            v.2 += d.score;
            return;
        }
        if self.0.len() >= MAX_CLASS_VOTES {
            // Replace the weakest class rather than grow.
            if let Some(i) = (0..self.0.len()).min_by(|&a, &b| self.0[a].2.total_cmp(&self.0[b].2))
            {
                self.0.swap_remove(i);
            }
        }
        self.0
            .push((d.category.clone(), d.class_name.clone(), d.score));
    }

    fn winner(&self) -> (&Category, &str) {
        let best = self
            .0
            .iter()
            .max_by(|a, b| a.2.total_cmp(&b.2))
            .expect("ClassVotes is never empty");
        (&best.0, &best.1)
    }
}

/// Internal state of one track.
#[derive(Debug, Clone)]
struct Slot {
    track: Track,
    family: Arc<str>,
    filter: BoxFilter,
    stillness: Stillness,
    votes: ClassVotes,
    confirmed: bool,
    /// Matched in the current update.
    matched: bool,
}

/// A multi-object tracker for one camera.
#[derive(Debug, Clone)]
pub struct Tracker {
    config: TrackerConfig,
    slots: Vec<Slot>,
    next_id: u64,
    last_time: Option<MediaTime>,
}

impl Tracker {
    /// A tracker with a validated configuration.
    pub fn new(config: TrackerConfig) -> Result<Self, TrackError> {
        config.validate()?;
        Ok(Self {
            slots: Vec::with_capacity(config.max_tracks.min(64)),
            config,
            next_id: 1,
            last_time: None,
        })
    }

    pub fn config(&self) -> &TrackerConfig {
        &self.config
    }

    /// Forgets every track (ids keep counting up, so they are never reused). Call after
    /// a stream restart that re-bases media time.
    pub fn reset(&mut self) {
        self.slots.clear();
        self.last_time = None;
    }

    /// Confirmed tracks, including coasting ones (check [`Track::is_coasting`]).
    pub fn tracks(&self) -> impl Iterator<Item = &Track> {
        self.slots.iter().filter(|s| s.confirmed).map(|s| &s.track)
    }

    /// A confirmed track by id.
    pub fn track(&self, id: u64) -> Option<&Track> {
        self.tracks().find(|t| t.id == id)
    }

    /// Live tracks including tentative ones (bounded by `max_tracks`).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Advances to `time` and folds in the detections of that frame.
    ///
    /// Detections with non-finite or empty boxes, or non-finite scores, are ignored:
    /// they would poison the IoU matrix and the Kalman state.
    pub fn update(
        &mut self,
        time: MediaTime,
        detections: &[Detection],
    ) -> Result<TrackUpdate, TrackError> {
        if let Some(last) = self.last_time
            && time < last
        {
            return Err(TrackError::TimeWentBackwards { last, now: time });
        }
        let dt = self.last_time.map_or(0.0, |last| time.secs_since(last));
        self.last_time = Some(time);
        let cfg = self.config.clone();

        for slot in &mut self.slots {
            slot.matched = false;
            if slot.track.stationary_since.is_some() {
                slot.filter.zero_velocity();
            }
            slot.filter.predict(dt);
            slot.track.bbox = slot.filter.bbox();
        }

        // Usable detections, best first, capped.
        let mut order: Vec<usize> = (0..detections.len())
            .filter(|&i| usable(&detections[i]) && detections[i].score >= cfg.low_score)
            .collect();
        order.sort_by(|&a, &b| detections[b].score.total_cmp(&detections[a].score));
        order.truncate(cfg.max_detections);
        let (high, low): (Vec<usize>, Vec<usize>) = order
            .iter()
            .partition(|&&i| detections[i].score >= cfg.high_score);
        let mut det_used = vec![false; detections.len()];

        // Stage 1: confirmed tracks vs high-score detections.
        let confirmed: Vec<usize> = (0..self.slots.len())
            .filter(|&i| self.slots[i].confirmed)
            .collect();
        self.stage(
            &confirmed,
            &high,
            detections,
            cfg.match_iou,
            &mut det_used,
            time,
        );
        // Stage 2: remaining confirmed tracks vs low-score detections.
        let rest: Vec<usize> = confirmed
            .iter()
            .copied()
            .filter(|&i| !self.slots[i].matched)
            .collect();
        self.stage(
            &rest,
            &low,
            detections,
            cfg.low_score_match_iou,
            &mut det_used,
            time,
        );
        // Stage 3: remaining stationary tracks vs leftover high-score detections.
        let still: Vec<usize> = rest
            .iter()
            .copied()
            .filter(|&i| !self.slots[i].matched && self.slots[i].track.stationary_since.is_some())
            .collect();
        let high_left: Vec<usize> = high.iter().copied().filter(|&d| !det_used[d]).collect();
        self.stage(
            &still,
            &high_left,
            detections,
            cfg.stationary_match_iou,
            &mut det_used,
            time,
        );
        // Stage 4: tentative tracks vs leftover high-score detections.
        let tentative: Vec<usize> = (0..self.slots.len())
            .filter(|&i| !self.slots[i].confirmed)
            .collect();
        let high_left: Vec<usize> = high.iter().copied().filter(|&d| !det_used[d]).collect();
        self.stage(
            &tentative,
            &high_left,
            detections,
            cfg.match_iou,
            &mut det_used,
            time,
        );

        // Lifecycle of unmatched tracks.
        let mut update = TrackUpdate::default();
        let mut kept = Vec::with_capacity(self.slots.len());
        for mut slot in self.slots.drain(..) {
            if slot.matched {
                kept.push(slot);
                continue;
            }
            slot.track.misses = slot.track.misses.saturating_add(1);
            if !slot.confirmed {
                continue;
            }
            let gap = if slot.track.stationary_since.is_some() {
                cfg.max_gap_stationary_s
            } else {
                cfg.max_gap_moving_s
            };
            if time.secs_since(slot.track.last_seen) > gap
                && slot.track.misses >= cfg.min_misses_to_drop
            {
                update.ended.push(slot.track);
            } else {
                if slot.track.stationary_since.is_some() {
                    slot.filter.zero_velocity();
                }
                kept.push(slot);
            }
        }
        self.slots = kept;

        // Stage 5: new tracks.
        for &d in &high {
            if det_used[d] || detections[d].score < cfg.new_track_score {
                continue;
            }
            if self.slots.len() >= cfg.max_tracks && !self.evict_one(&mut update) {
                break;
            }
            det_used[d] = true;
            let slot = self.new_slot(time, &detections[d]);
            self.slots.push(slot);
        }
        Ok(update)
    }

    /// Matches `slots` to `dets` family by family and applies the matches.
    fn stage(
        &mut self,
        slots: &[usize],
        dets: &[usize],
        detections: &[Detection],
        min_iou: f32,
        det_used: &mut [bool],
        time: MediaTime,
    ) {
        if slots.is_empty() || dets.is_empty() {
            return;
        }
        let mut families: Vec<&Arc<str>> = slots.iter().map(|&i| &self.slots[i].family).collect();
        families.sort();
        families.dedup();
        let mut pairs = Vec::new();
        for family in families {
            let fs: Vec<usize> = slots
                .iter()
                .copied()
                .filter(|&i| &self.slots[i].family == family)
                .collect();
            let fd: Vec<usize> = dets
                .iter()
                .copied()
                .filter(|&d| !det_used[d] && category_family(&detections[d].category) == &**family)
                .collect();
            let tb: Vec<BBox> = fs.iter().map(|&i| self.slots[i].track.bbox).collect();
            let db: Vec<BBox> = fd.iter().map(|&d| detections[d].bbox).collect();
            pairs.extend(
                match_by_iou(&tb, &db, min_iou)
                    .into_iter()
                    .map(|(a, b)| (fs[a], fd[b])),
            );
        }
        for (s, d) in pairs {
            det_used[d] = true;
            self.apply(s, time, &detections[d]);
        }
    }

    fn apply(&mut self, index: usize, time: MediaTime, det: &Detection) {
        let cfg = &self.config;
        let slot = &mut self.slots[index];
        slot.matched = true;
        slot.filter.update(&det.bbox);
        slot.votes.add(det);
        slot.stillness
            .observe(time, &det.bbox, &stillness_params(cfg));
        let t = &mut slot.track;
        t.bbox = slot.filter.bbox();
        t.last_detection_bbox = det.bbox;
        t.score = det.score;
        t.last_seen = time;
        t.hits = t.hits.saturating_add(1);
        t.misses = 0;
        t.stationary_since = slot.stillness.stationary_since();
        let (category, class_name) = slot.votes.winner();
        if &t.category != category {
            t.category = category.clone();
        }
        if t.class_name != class_name {
            t.class_name = class_name.to_string();
        }
        push_history(t, time, cfg);
        if !slot.confirmed && t.hits >= cfg.min_hits {
            slot.confirmed = true;
        }
    }

    fn new_slot(&mut self, time: MediaTime, det: &Detection) -> Slot {
        let id = self.next_id;
        self.next_id += 1;
        let cfg = &self.config;
        let noise = NoiseModel {
            measurement: cfg.measurement_noise,
            process: cfg.process_noise,
            initial_velocity: cfg.initial_velocity_std,
        };
        let filter = BoxFilter::new(&det.bbox, noise);
        let mut track = Track {
            id,
            category: det.category.clone(),
            class_name: det.class_name.clone(),
            bbox: filter.bbox(),
            last_detection_bbox: det.bbox,
            score: det.score,
            first_seen: time,
            last_seen: time,
            stationary_since: None,
            hits: 1,
            misses: 0,
            history: Default::default(),
        };
        push_history(&mut track, time, cfg);
        Slot {
            family: Arc::from(category_family(&det.category)),
            stillness: Stillness::new(time, &det.bbox, cfg.stationary_median_window),
            votes: ClassVotes::new(det),
            confirmed: cfg.min_hits <= 1,
            matched: true,
            filter,
            track,
        }
    }

    /// Frees one slot for a new track: the coasting moving track unseen for longest
    /// goes first, stationary ones (a parked car behind a bus) only when no moving one
    /// is left. A track seen in this frame is never evicted, so a flood of new
    /// detections cannot tear down tracks that are still being observed.
    fn evict_one(&mut self, update: &mut TrackUpdate) -> bool {
        let victim = (0..self.slots.len())
            .filter(|&i| !self.slots[i].matched)
            .min_by_key(|&i| {
                let t = &self.slots[i].track;
                (t.stationary_since.is_some(), t.last_seen)
            });
        match victim {
            Some(i) => {
                let slot = self.slots.swap_remove(i);
                if slot.confirmed {
                    update.ended.push(slot.track);
                }
                true
            }
            None => false,
        }
    }
}

fn stillness_params(cfg: &TrackerConfig) -> StillnessParams {
    StillnessParams {
        after_s: cfg.stationary_after_s,
        max_displacement: cfg.stationary_max_displacement,
        window: cfg.stationary_median_window,
    }
}

fn usable(d: &Detection) -> bool {
    let b = &d.bbox;
    [b.x1, b.y1, b.x2, b.y2].iter().all(|v| v.is_finite())
        && b.x2 > b.x1
        && b.y2 > b.y1
        && d.score.is_finite()
}

/// Appends the smoothed centre, at most one point per `history_min_interval_s`, keeping
/// at most `history_len` points.
fn push_history(t: &mut Track, time: MediaTime, cfg: &TrackerConfig) {
    if let Some(last) = t.history.back()
        && time.secs_since(last.time) < cfg.history_min_interval_s
    {
        return;
    }
    while t.history.len() >= cfg.history_len {
        t.history.pop_front();
    }
    let (x, y) = t.bbox.center();
    t.history.push_back(TrackPoint { time, x, y });
}
