//! A read-only view of the outbox for the technician's Events page: which events the
//! box produced, in what phase, whether the broker has them, and where their evidence
//! files are.
//!
//! The page never names a file itself: a media file is found by (event id, media name)
//! in the database, and only a path the outbox recorded is ever opened. Rows keep every
//! phase of an event; the page shows one line per event with its latest phase.

use crate::rules::event::{Event, EventKind, MediaKind, MediaLoss, MissingMedia, Phase};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Most events one list request returns: the page polls every few seconds, so a reply
/// must stay small whatever the outbox holds.
pub const MAX_PAGE: usize = 200;

/// Why the outbox could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("outbox database {path}: {source}")]
    Db {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("outbox row of event {id} does not hold a valid event ({source})")]
    Body {
        id: String,
        source: serde_json::Error,
    },
}

/// Where an event stands with the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Some phase or media file still waits for the broker's acknowledgement.
    Pending,
    /// Every phase and every media file was acknowledged.
    Delivered,
    /// Some evidence will not be delivered: it could not be written, or had to be
    /// deleted before delivery (see [`EventDetail::missing`]).
    EvidenceDropped,
}

/// Filters of the event list; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub camera: Option<String>,
    pub kind: Option<EventKind>,
    /// Matches the event's latest phase.
    pub phase: Option<Phase>,
    /// Events that started at or after this media time (ns since the Unix epoch).
    pub from_ns: Option<i64>,
    /// Events that started at or before this media time.
    pub to_ns: Option<i64>,
    /// Events whose plate contains this text (already normalised: plate characters
    /// only, see `infer::plate::syntax::normalise_query`).
    pub plate: Option<String>,
    /// At most this many (clamped to [`MAX_PAGE`]), newest first.
    pub limit: usize,
}

/// One line of the event list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventSummary {
    pub id: String,
    pub kind: EventKind,
    /// The latest phase the box produced.
    pub phase: Phase,
    pub seq: u32,
    pub camera: String,
    pub camera_name: String,
    pub zone: Option<String>,
    /// Start as RFC 3339 text with the box's offset (media time).
    pub start: String,
    pub start_media_ns: i64,
    pub duration_s: Option<f64>,
    pub delivery: Delivery,
    pub description_zh: String,
    pub description_en: String,
    /// The licence plate read for the event (illegal parking), if any.
    pub plate: Option<String>,
}

/// One phase row of an event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseRow {
    pub phase: Phase,
    pub seq: u32,
    /// Outbox state of the event JSON: `pending`, `published` or `acknowledged`.
    pub state: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub delivery: Delivery,
}

/// One evidence file of an event, as the page may show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MediaInfo {
    pub name: String,
    /// Snapshot, crop or clip, as the event declares it.
    pub kind: Option<MediaKind>,
    pub content_type: String,
    pub bytes: u64,
    /// The file is still on the box (delivered evidence is deleted unless
    /// `uplink.keep_delivered_media` is set; the disk cap may drop it too).
    pub available: bool,
    pub dropped: bool,
    /// Why a dropped file went (`disk_full`, `cap`, `write_failed`).
    pub drop_reason: Option<MediaLoss>,
}

/// Everything about one event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventDetail {
    pub summary: EventSummary,
    /// The latest phase's event as sent upstream.
    pub event: Event,
    pub phases: Vec<PhaseRow>,
    pub media: Vec<MediaInfo>,
    /// Evidence that will not be delivered, each once, with its reason: files the
    /// event expected but that were never written, and files deleted before delivery.
    pub missing: Vec<MissingMedia>,
}

/// An evidence file to serve: a path the outbox recorded, never one a client sent.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaFile {
    pub path: PathBuf,
    pub content_type: String,
    pub bytes: u64,
}

/// Why a media file cannot be served.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaLookup {
    Found(MediaFile),
    /// No such event or no media of that name in that event.
    Unknown,
    /// Known, but the file is no longer on the box.
    Gone,
}

/// The outbox at `path`, opened for reading; `None` when the box has produced nothing
/// yet (the outbox is created by the uplink, not by the page).
fn open(path: &Path) -> Result<Option<Connection>, HistoryError> {
    if !path.exists() {
        return Ok(None);
    }
    let db = |source| HistoryError::Db {
        path: path.to_path_buf(),
        source,
    };
    // Read-write without create: a WAL reader must be able to map the -shm file, and
    // the outbox must not be created by a page view.
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(db)?;
    conn.busy_timeout(std::time::Duration::from_secs(2))
        .map_err(db)?;
    let has_events: bool = conn
        .query_row(
            "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'events'",
            [],
            |r| r.get(0),
        )
        .map_err(db)?;
    Ok(has_events.then_some(conn))
}

fn delivery(dropped: bool, all_done: bool) -> Delivery {
    if dropped {
        Delivery::EvidenceDropped
    } else if all_done {
        Delivery::Delivered
    } else {
        Delivery::Pending
    }
}

fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Started => "started",
        Phase::Updated => "updated",
        Phase::Ended => "ended",
    }
}

fn kind_name(k: EventKind) -> String {
    serde_json::to_value(k)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn parse_event(id: &str, body: &str) -> Result<Event, HistoryError> {
    serde_json::from_str(body).map_err(|source| HistoryError::Body {
        id: id.to_string(),
        source,
    })
}

fn summary(event: &Event, delivery: Delivery) -> EventSummary {
    EventSummary {
        id: event.id.clone(),
        kind: event.kind,
        phase: event.phase,
        seq: event.seq,
        camera: event.camera.id.clone(),
        camera_name: event.camera.name.clone(),
        zone: event.zone.as_ref().map(|z| z.name.clone()),
        start: event.times.start.clone(),
        start_media_ns: event.times.start_media_ns,
        duration_s: event.duration_s,
        delivery,
        description_zh: event.description.zh.clone(),
        description_en: event.description.en.clone(),
        plate: event
            .subject
            .plate
            .as_ref()
            .and_then(|p| p.as_ref())
            .map(|p| p.text.clone()),
    }
}

/// Events of the outbox at `path` matching `q`, newest first (by when the box first
/// recorded them).
pub fn list(path: &Path, q: &EventQuery) -> Result<Vec<EventSummary>, HistoryError> {
    let Some(conn) = open(path)? else {
        return Ok(Vec::new());
    };
    let db = |source| HistoryError::Db {
        path: path.to_path_buf(),
        source,
    };
    // Walk each event's first row newest first and stop at `limit`: with the
    // (event_id, …) index every step is a few lookups, so a page costs about the same
    // with 30 000 rows as with 30 (0.5 ms against 250 ms for a GROUP BY over all rows).
    let mut stmt = conn
        .prepare(
            "SELECT f.event_id, l.body,
                    (SELECT MAX(evidence_dropped) FROM events WHERE event_id = f.event_id),
                    (SELECT MIN(done) FROM events WHERE event_id = f.event_id)
             FROM events f
             JOIN events l ON l.id = (SELECT MAX(id) FROM events WHERE event_id = f.event_id)
             WHERE NOT EXISTS (SELECT 1 FROM events p WHERE p.event_id = f.event_id AND p.id < f.id)
               AND (?1 IS NULL OR f.camera = ?1)
               AND (?3 IS NULL OR l.phase = ?3)
               AND (?2 IS NULL OR json_extract(f.body, '$.kind') = ?2)
               AND (?4 IS NULL OR json_extract(f.body, '$.times.start_media_ns') >= ?4)
               AND (?5 IS NULL OR json_extract(f.body, '$.times.start_media_ns') <= ?5)
               AND (?7 IS NULL OR EXISTS (SELECT 1 FROM events p WHERE p.event_id = f.event_id
                      AND instr(json_extract(p.body, '$.subject.plate.text'), ?7) > 0))
             ORDER BY f.id DESC LIMIT ?6",
        )
        .map_err(db)?;
    let rows = stmt
        .query_map(
            params![
                q.camera,
                q.kind.map(kind_name),
                q.phase.map(phase_name),
                q.from_ns,
                q.to_ns,
                q.limit.clamp(1, MAX_PAGE) as i64,
                q.plate
            ],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, bool>(2)?,
                    r.get::<_, bool>(3)?,
                ))
            },
        )
        .map_err(db)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db)?;
    rows.into_iter()
        .map(|(id, body, dropped, all_done)| {
            Ok(summary(
                &parse_event(&id, &body)?,
                delivery(dropped, all_done),
            ))
        })
        .collect()
}

/// One event with its phases and media; `None` when the outbox does not know `id`.
pub fn detail(path: &Path, id: &str) -> Result<Option<EventDetail>, HistoryError> {
    let Some(conn) = open(path)? else {
        return Ok(None);
    };
    let db = |source| HistoryError::Db {
        path: path.to_path_buf(),
        source,
    };
    let mut stmt = conn
        .prepare(
            "SELECT phase, seq, state, attempts, last_error, evidence_dropped, done, body
             FROM events WHERE event_id = ?1 ORDER BY id",
        )
        .map_err(db)?;
    let rows = stmt
        .query_map([id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, u32>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, u32>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, bool>(5)?,
                r.get::<_, bool>(6)?,
                r.get::<_, String>(7)?,
            ))
        })
        .map_err(db)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db)?;
    let Some(last) = rows.last() else {
        return Ok(None);
    };
    let event = parse_event(id, &last.7)?;
    let mut phases = Vec::with_capacity(rows.len());
    let mut kinds: Vec<(String, MediaKind)> = Vec::new();
    let mut missing: Vec<MissingMedia> = Vec::new();
    for (_, seq, state, attempts, last_error, dropped, done, body) in &rows {
        let ev = parse_event(id, body)?;
        kinds.extend(ev.media.iter().map(|m| (m.name.clone(), m.kind)));
        for m in ev.media_missing {
            if !missing.iter().any(|x| x.name == m.name) {
                missing.push(m);
            }
        }
        phases.push(PhaseRow {
            phase: ev.phase,
            seq: *seq,
            state: state.clone(),
            attempts: *attempts,
            last_error: last_error.clone(),
            delivery: delivery(*dropped, *done),
        });
    }
    let any_dropped = rows.iter().any(|r| r.5);
    let all_done = rows.iter().all(|r| r.6);
    // A media name can appear in several phases (a snapshot re-sent with `ended`):
    // the page shows each name once, preferring a copy still on disk.
    let mut mstmt = conn
        .prepare(
            "SELECT m.name, m.content_type, m.bytes, m.file_present, m.dropped, m.drop_reason,
                    m.last_error, m.path
             FROM media m JOIN events e ON e.id = m.event_row
             WHERE e.event_id = ?1 ORDER BY m.id",
        )
        .map_err(db)?;
    let all = mstmt
        .query_map([id], |r| {
            let reason: Option<String> = r.get(5)?;
            let dropped: bool = r.get(4)?;
            Ok((
                MediaInfo {
                    name: r.get(0)?,
                    kind: None,
                    content_type: r.get(1)?,
                    bytes: r.get::<_, i64>(2)? as u64,
                    available: kept(r.get(3)?, dropped, &r.get::<_, String>(7)?),
                    dropped,
                    drop_reason: reason
                        .and_then(|s| serde_json::from_value(serde_json::Value::String(s)).ok()),
                },
                r.get::<_, Option<String>>(6)?,
            ))
        })
        .map_err(db)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db)?;
    let mut media: Vec<MediaInfo> = Vec::new();
    for (mut m, last_error) in all {
        m.kind = kinds.iter().find(|(n, _)| *n == m.name).map(|(_, k)| *k);
        if m.dropped
            && !missing.iter().any(|x| x.name == m.name)
            && let Some(kind) = m.kind
        {
            missing.push(MissingMedia {
                name: m.name.clone(),
                kind,
                reason: m.drop_reason.unwrap_or(MediaLoss::WriteFailed),
                detail: last_error,
            });
        }
        match media.iter_mut().find(|x| x.name == m.name) {
            Some(x) if !x.available && m.available => *x = m,
            Some(_) => {}
            None => media.push(m),
        }
    }
    Ok(Some(EventDetail {
        summary: summary(&event, delivery(any_dropped, all_done)),
        event,
        phases,
        media,
        missing,
    }))
}

/// Whether a media file is still on the box for the page: the outbox owns it
/// (`file_present`), or it was delivered and kept (`uplink.keep_delivered_media`: the
/// outbox lets go of it but leaves it on disk). Dropped files are gone either way.
fn kept(file_present: bool, dropped: bool, path: &str) -> bool {
    file_present || (!dropped && Path::new(path).is_file())
}

/// One committed phase of an event as the outbox holds it, for the page's case
/// download (which signs it as the uplink does when it publishes).
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseBody {
    pub phase: String,
    pub seq: u32,
    /// The event as committed (unsigned: the uplink signs it when it publishes).
    pub body: String,
    /// The outbox dropped some of its media (sent with `evidence_dropped: true`).
    pub evidence_dropped: bool,
}

/// Every phase of event `id`, oldest first; empty when the outbox does not know it.
pub fn phase_bodies(path: &Path, id: &str) -> Result<Vec<PhaseBody>, HistoryError> {
    let Some(conn) = open(path)? else {
        return Ok(Vec::new());
    };
    let db = |source| HistoryError::Db {
        path: path.to_path_buf(),
        source,
    };
    let mut stmt = conn
        .prepare(
            "SELECT phase, seq, body, evidence_dropped FROM events WHERE event_id = ?1 ORDER BY id",
        )
        .map_err(db)?;
    stmt.query_map([id], |r| {
        Ok(PhaseBody {
            phase: r.get(0)?,
            seq: r.get(1)?,
            body: r.get(2)?,
            evidence_dropped: r.get(3)?,
        })
    })
    .map_err(db)?
    .collect::<Result<Vec<_>, _>>()
    .map_err(db)
}

/// The file of media `name` of event `id`, looked up in the outbox only.
pub fn media(path: &Path, id: &str, name: &str) -> Result<MediaLookup, HistoryError> {
    let Some(conn) = open(path)? else {
        return Ok(MediaLookup::Unknown);
    };
    let row: Option<(String, String, i64, bool)> = conn
        .query_row(
            "SELECT m.path, m.content_type, m.bytes, m.file_present, m.dropped
             FROM media m JOIN events e ON e.id = m.event_row
             WHERE e.event_id = ?1 AND m.name = ?2
             ORDER BY m.file_present DESC, m.id DESC LIMIT 1",
            params![id, name],
            |r| {
                let path: String = r.get(0)?;
                let present = kept(r.get(3)?, r.get(4)?, &path);
                Ok((path, r.get(1)?, r.get(2)?, present))
            },
        )
        .optional()
        .map_err(|source| HistoryError::Db {
            path: path.to_path_buf(),
            source,
        })?;
    let Some((file, content_type, bytes, present)) = row else {
        return Ok(MediaLookup::Unknown);
    };
    let file = PathBuf::from(file);
    // The outbox may have deleted it a moment ago (delivered, or the disk cap).
    if !present || !file.is_file() {
        return Ok(MediaLookup::Gone);
    }
    Ok(MediaLookup::Found(MediaFile {
        path: file,
        content_type,
        bytes: bytes as u64,
    }))
}

#[cfg(test)]
mod tests {
    use super::super::Outbox;
    use super::super::testutil::{sample_event, write_media};
    use super::*;

    fn outbox(dir: &Path) -> (Outbox, PathBuf) {
        let p = dir.join("outbox.sqlite");
        (Outbox::open(&p, 1 << 30).unwrap(), p)
    }

    #[test]
    fn an_absent_outbox_lists_nothing_and_is_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("outbox.sqlite");
        let q = EventQuery {
            limit: 10,
            ..Default::default()
        };
        assert!(list(&p, &q).unwrap().is_empty());
        assert!(detail(&p, "x").unwrap().is_none());
        assert_eq!(media(&p, "x", "a.jpg").unwrap(), MediaLookup::Unknown);
        assert!(!p.exists());
    }

    #[test]
    fn list_shows_one_line_per_event_with_its_latest_phase_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let (ob, p) = outbox(dir.path());
        let mut a = sample_event("gate", 0);
        a.media.clear();
        ob.enqueue(&a).unwrap();
        let mut b = sample_event("yard", 1);
        b.media.clear();
        ob.enqueue(&b).unwrap();
        let mut a_end = a.clone();
        a_end.phase = Phase::Ended;
        a_end.seq = 1;
        ob.enqueue(&a_end).unwrap();
        let all = list(
            &p,
            &EventQuery {
                limit: 10,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(
            (all[0].id.as_str(), all[0].phase),
            (b.id.as_str(), Phase::Started)
        );
        assert_eq!(
            (all[1].id.as_str(), all[1].phase),
            (a.id.as_str(), Phase::Ended)
        );
        assert!(all.iter().all(|e| e.delivery == Delivery::Pending));
        let ended = list(
            &p,
            &EventQuery {
                phase: Some(Phase::Ended),
                limit: 10,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].id, a.id);
        let d = detail(&p, &a.id).unwrap().unwrap();
        assert_eq!(d.phases.len(), 2);
        assert_eq!(d.event.phase, Phase::Ended);
    }

    #[test]
    fn events_are_found_by_any_part_of_their_plate() {
        use crate::infer::BBox;
        use crate::infer::plate::PlateColour;
        use crate::rules::event::PlateInfo;
        let dir = tempfile::tempdir().unwrap();
        let (ob, p) = outbox(dir.path());
        let plate = |text: &str| PlateInfo {
            text: text.into(),
            confidence: 0.95,
            colour: PlateColour::Blue,
            bbox: BBox::new(0.0, 0.0, 100.0, 30.0),
            corners: [[0.0, 0.0], [100.0, 0.0], [100.0, 30.0], [0.0, 30.0]],
            width_px: 100.0,
            reads: 3,
            frames: 4,
        };
        let mut a = sample_event("gate", 0);
        a.media.clear();
        a.subject.plate = Some(Some(plate("粤G12345")));
        ob.enqueue(&a).unwrap();
        let mut b = sample_event("gate", 1);
        b.media.clear();
        b.subject.plate = Some(None);
        ob.enqueue(&b).unwrap();
        // The plate may be known only from a later phase.
        let mut c = sample_event("yard", 2);
        c.media.clear();
        ob.enqueue(&c).unwrap();
        let mut c2 = c.clone();
        c2.phase = Phase::Updated;
        c2.seq = 1;
        c2.subject.plate = Some(Some(plate("粤GD88888")));
        ob.enqueue(&c2).unwrap();
        let find = |q: &str| -> Vec<String> {
            list(
                &p,
                &EventQuery {
                    plate: Some(q.into()),
                    limit: 10,
                    ..Default::default()
                },
            )
            .unwrap()
            .into_iter()
            .map(|e| e.id)
            .collect()
        };
        assert_eq!(find("G123"), vec![a.id.clone()]);
        assert_eq!(find("粤G"), vec![c.id.clone(), a.id.clone()]);
        assert_eq!(find("GD8"), vec![c.id.clone()]);
        assert!(find("京A").is_empty());
        let all = list(
            &p,
            &EventQuery {
                limit: 10,
                ..Default::default()
            },
        )
        .unwrap();
        let of = |id: &str| all.iter().find(|e| e.id == id).unwrap().plate.clone();
        assert_eq!(of(&a.id).as_deref(), Some("粤G12345"));
        assert_eq!(of(&b.id), None);
    }

    #[test]
    fn media_is_found_by_event_and_name_only() {
        let dir = tempfile::tempdir().unwrap();
        let (ob, p) = outbox(dir.path());
        let mut a = sample_event("gate", 0);
        a.media = vec![write_media(dir.path(), "a.jpg", b"jpeg-a")];
        ob.enqueue(&a).unwrap();
        let mut b = sample_event("gate", 1);
        b.media = vec![write_media(dir.path(), "b.jpg", b"jpeg-b")];
        ob.enqueue(&b).unwrap();
        match media(&p, &a.id, "a.jpg").unwrap() {
            MediaLookup::Found(f) => assert_eq!(std::fs::read(f.path).unwrap(), b"jpeg-a"),
            other => panic!("{other:?}"),
        }
        assert_eq!(media(&p, &a.id, "b.jpg").unwrap(), MediaLookup::Unknown);
        std::fs::remove_file(dir.path().join("a.jpg")).unwrap();
        assert_eq!(media(&p, &a.id, "a.jpg").unwrap(), MediaLookup::Gone);
    }
}
