//! Joining events and their evidence. Rules emit a `started` phase the moment an
//! event is confirmed, but its clip is only written once the post-roll has arrived,
//! and parking snapshots were taken minutes earlier. The collector holds each event's
//! phases until every evidence job submitted for its id has reported, attaches the
//! [`MediaRef`]s (with their sha256) to the first phase held, and releases the phases
//! in their original order, so a receiver never sees `ended` before `started`.
//!
//! Evidence a job could not write is attached too, as `media_missing` with its reason
//! (and `evidence_dropped: true`), so the platform and the counters learn of it.
//!
//! Bounded: at most `capacity` event ids are followed; beyond that the oldest is
//! released with what it has (the evidence still outstanding is reported missing).

use std::collections::VecDeque;

use super::job::JobResult;
use crate::rules::event::{Event, MediaKind, MediaLoss, MediaRef, MissingMedia};

#[derive(Debug)]
struct Entry {
    event_id: String,
    outstanding: u32,
    /// Files the outstanding jobs are to write, when the caller said.
    expected: Vec<(String, MediaKind)>,
    media: Vec<MediaRef>,
    missing: Vec<MissingMedia>,
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
            expected: Vec::new(),
            media: Vec::new(),
            missing: Vec::new(),
            waiting: Vec::new(),
        });
        self.entries.back_mut().expect("just pushed")
    }

    /// A job for `event_id` was submitted; returns events released by the bound.
    pub fn expect(&mut self, event_id: &str) -> Vec<Event> {
        self.expect_files(event_id, &[])
    }

    /// As [`Self::expect`], naming the files the job is to write, so that an event the
    /// bound releases early says which evidence it lacks.
    pub fn expect_files(&mut self, event_id: &str, files: &[(String, MediaKind)]) -> Vec<Event> {
        let mut released = Vec::new();
        let e = self.entry(event_id, &mut released);
        e.outstanding += 1;
        e.expected.extend(files.iter().cloned());
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
        e.expected.retain(|(name, _)| {
            !r.media.iter().any(|m| m.name == *name) && !r.missing.iter().any(|m| m.name == *name)
        });
        e.media.extend(r.media);
        e.missing.extend(r.missing);
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
    if forced && e.outstanding > 0 {
        let detail = "released before its evidence was written: too many events waited for \
                      evidence at once";
        e.missing
            .extend(e.expected.drain(..).map(|(name, kind)| MissingMedia {
                name,
                kind,
                reason: MediaLoss::Cap,
                detail: Some(detail.into()),
            }));
    }
    if let Some(first) = e.waiting.first_mut() {
        // Evidence cut from the analysis stream: the main stream was down.
        if e.media
            .iter()
            .any(|m| m.stream == Some(crate::ingest::camera::StreamRole::Analysis))
        {
            first.main_stream_unavailable = true;
        }
        first.media.append(&mut e.media);
        if !e.missing.is_empty() {
            first.evidence_dropped = true;
            first.media_missing.append(&mut e.missing);
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
            stream: None,
            caption_px: None,
            caption: Vec::new(),
            local_path: None,
        }
    }

    fn done(id: &str, name: &str) -> JobResult {
        JobResult {
            event_id: id.into(),
            media: vec![media(name)],
            missing: vec![],
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
    fn failed_jobs_are_named_missing_with_their_reason_and_do_not_block_the_event() {
        let mut c = EvidenceCollector::new(8);
        c.expect("e");
        c.on_event(event("e", 0));
        let full = EvidenceError::Io {
            path: "/x/clip.mp4".into(),
            source: std::io::Error::from_raw_os_error(libc::ENOSPC),
        };
        let out = c.on_result(JobResult::failed(
            "e",
            &[("clip.mp4".into(), MediaKind::Clip)],
            &full,
        ));
        assert_eq!(out.len(), 1);
        assert!(out[0].evidence_dropped);
        assert_eq!(out[0].media_missing.len(), 1);
        let m = &out[0].media_missing[0];
        assert_eq!(
            (m.name.as_str(), m.reason),
            ("clip.mp4", MediaLoss::DiskFull)
        );
        assert!(
            !m.detail.as_ref().unwrap().contains("/x/"),
            "no box paths upstream"
        );
        let out = c.on_result(JobResult::failed(
            "f",
            &[("a.jpg".into(), MediaKind::Snapshot)],
            &EvidenceError::NoCaps,
        ));
        assert!(out.is_empty());
        let out = c.on_event(event("f", 0));
        assert_eq!(out[0].media_missing[0].reason, MediaLoss::WriteFailed);
    }

    #[test]
    fn the_bound_releases_the_oldest_event_with_what_it_has() {
        let mut c = EvidenceCollector::new(1);
        c.expect_files("a", &[("clip.mp4".into(), MediaKind::Clip)]);
        c.on_event(event("a", 0));
        let out = c.expect("b");
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].id, "a");
        assert_eq!(out[0].details["evidence_missing"], 1);
        assert!(out[0].evidence_dropped);
        assert_eq!(out[0].media_missing[0].name, "clip.mp4");
        assert_eq!(out[0].media_missing[0].reason, MediaLoss::Cap);
        assert_eq!(c.len(), 1);
    }
}
