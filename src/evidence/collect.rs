//! Joining events and their evidence. Rules emit a `started` phase the moment an
//! event is confirmed, but its clip is only written once the post-roll has arrived,
//! and parking snapshots were taken minutes earlier. The collector holds each event's
//! phases until every evidence job submitted for its id has reported, attaches the
//! [`MediaRef`]s (with their sha256) to the first phase held, and releases the phases
//! in their original order, so a receiver never sees `ended` before `started`.
//!
//! Bounded: at most `capacity` event ids are followed; beyond that the oldest is
//! released with what it has (its missing evidence is recorded in `details`).

use std::collections::VecDeque;

use super::job::JobResult;
use crate::rules::event::{Event, MediaRef};

#[derive(Debug)]
struct Entry {
    event_id: String,
    outstanding: u32,
    media: Vec<MediaRef>,
    errors: Vec<String>,
    waiting: Vec<Event>,
}

/// Holds events until their evidence is written.
#[derive(Debug)]
pub struct EvidenceCollector {
    entries: VecDeque<Entry>,
    capacity: usize,
}

impl EvidenceCollector {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Event ids followed now.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn entry(&mut self, id: &str, released: &mut Vec<Event>) -> &mut Entry {
        if let Some(i) = self.entries.iter().position(|e| e.event_id == id) {
            return &mut self.entries[i];
        }
        if self.entries.len() >= self.capacity
            && let Some(old) = self.entries.pop_front()
        {
            released.extend(finish(old, true));
        }
        self.entries.push_back(Entry {
            event_id: id.to_string(),
            outstanding: 0,
            media: Vec::new(),
            errors: Vec::new(),
            waiting: Vec::new(),
        });
        self.entries.back_mut().expect("just pushed")
    }

    /// A job for `event_id` was submitted; returns events released by the bound.
    pub fn expect(&mut self, event_id: &str) -> Vec<Event> {
        let mut released = Vec::new();
        self.entry(event_id, &mut released).outstanding += 1;
        released
    }

    /// An event phase from the façade: returned at once (with any media collected)
    /// when nothing is outstanding for its id, held otherwise.
    pub fn on_event(&mut self, ev: Event) -> Vec<Event> {
        let mut released = Vec::new();
        let e = self.entry(&ev.id.clone(), &mut released);
        e.waiting.push(ev);
        self.release_ready(&mut released);
        released
    }

    /// A finished job: its media joins the event; completed events are returned.
    pub fn on_result(&mut self, r: JobResult) -> Vec<Event> {
        let mut released = Vec::new();
        let e = self.entry(&r.event_id, &mut released);
        e.outstanding = e.outstanding.saturating_sub(1);
        match r.result {
            Ok(m) => e.media.extend(m),
            Err(err) => e.errors.push(err.to_string()),
        }
        self.release_ready(&mut released);
        released
    }

    /// A candidate that never became an event: forget it (its files are deleted
    /// separately, see `files::discard_event`).
    pub fn abandon(&mut self, event_id: &str) {
        self.entries.retain(|e| e.event_id != event_id);
    }

    fn release_ready(&mut self, released: &mut Vec<Event>) {
        let mut i = 0;
        while i < self.entries.len() {
            let e = &self.entries[i];
            if e.outstanding == 0 && !e.waiting.is_empty() {
                let e = self.entries.remove(i).expect("index checked");
                released.extend(finish(e, false));
            } else {
                i += 1;
            }
        }
    }
}

/// Attaches media to the first waiting phase and returns the phases in order.
fn finish(mut e: Entry, forced: bool) -> Vec<Event> {
    if let Some(first) = e.waiting.first_mut() {
        first.media.append(&mut e.media);
        if !e.errors.is_empty() {
            first
                .details
                .insert("evidence_errors".into(), e.errors.clone().into());
        }
        if forced && e.outstanding > 0 {
            first
                .details
                .insert("evidence_missing".into(), e.outstanding.into());
        }
    }
    e.waiting
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::EvidenceError;
    use crate::rules::event::MediaKind;

    fn event(id: &str, seq: u32) -> Event {
        let json = serde_json::json!({
            "schema": "streetwatch.event/v1", "id": id, "kind": "illegal_parking",
            "phase": if seq == 0 { "started" } else { "ended" }, "seq": seq,
            "category": {"code": "09009", "kind": "matter", "name": "x", "taxonomy": "t"},
            "source": "video_ai",
            "device": {"id": "d", "firmware_version": "0"},
            "camera": {"id": "c"},
            "times": {"start_media_ns": 0, "start": "s", "reported": "r"},
            "subject": {"category": "vehicle.car", "class_name": "car", "score": 0.9,
                "bbox": {"x1": 0.0, "y1": 0.0, "x2": 1.0, "y2": 1.0},
                "bbox_norm": {"x1": 0.0, "y1": 0.0, "x2": 1.0, "y2": 1.0}, "track_id": 1},
            "description": {"zh": "", "en": ""},
            "model": {"id": "m", "version": "1"}
        });
        serde_json::from_value(json).unwrap()
    }

    fn media(name: &str) -> MediaRef {
        MediaRef {
            name: name.into(),
            kind: MediaKind::Snapshot,
            content_type: "image/jpeg".into(),
            bytes: 1,
            sha256: "00".into(),
            width: None,
            height: None,
            start_media_ns: None,
            end_media_ns: None,
            preroll_short: false,
            privacy_unredacted: false,
            caption_px: None,
            caption: Vec::new(),
            local_path: None,
        }
    }

    fn done(id: &str, name: &str) -> JobResult {
        JobResult {
            event_id: id.into(),
            result: Ok(vec![media(name)]),
        }
    }

    #[test]
    fn an_event_waits_for_all_its_evidence_and_phases_keep_their_order() {
        let mut c = EvidenceCollector::new(8);
        c.expect("e");
        c.expect("e");
        assert!(c.on_result(done("e", "first.jpg")).is_empty());
        assert!(
            c.on_event(event("e", 0)).is_empty(),
            "clip still outstanding"
        );
        assert!(
            c.on_event(event("e", 1)).is_empty(),
            "ended waits behind started"
        );
        let out = c.on_result(done("e", "clip.mp4"));
        assert_eq!(out.iter().map(|e| e.seq).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(out[0].media.len(), 2);
        assert!(out[1].media.is_empty());
        assert!(c.is_empty());
    }

    #[test]
    fn an_event_without_pending_evidence_passes_straight_through() {
        let mut c = EvidenceCollector::new(8);
        assert_eq!(c.on_event(event("x", 1)).len(), 1);
    }

    #[test]
    fn failed_jobs_are_recorded_and_do_not_block_the_event() {
        let mut c = EvidenceCollector::new(8);
        c.expect("e");
        c.on_event(event("e", 0));
        let out = c.on_result(JobResult {
            event_id: "e".into(),
            result: Err(EvidenceError::NoCaps),
        });
        assert_eq!(out.len(), 1);
        assert!(out[0].details.contains_key("evidence_errors"));
    }

    #[test]
    fn the_bound_releases_the_oldest_event_with_what_it_has() {
        let mut c = EvidenceCollector::new(1);
        c.expect("a");
        c.on_event(event("a", 0));
        let out = c.expect("b");
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].id, "a");
        assert_eq!(out[0].details["evidence_missing"], 1);
        assert_eq!(c.len(), 1);
    }
}
