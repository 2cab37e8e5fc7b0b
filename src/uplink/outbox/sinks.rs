//! Per-sink delivery state: which sinks (MQTT broker, HTTP push) each row is owed to,
//! and the HTTP sink's bookkeeping. A row is done (its evidence released, its history
//! prunable) once every sink it is owed to has it; see `check_done`.
//!
//! Enrolment when the configured sinks change (decided at [`Outbox::set_sinks`], which
//! the daemon calls whenever it opens the outbox with a new `[uplink]`):
//! - a sink that is added gets the rows not yet done (the backlog), never delivered
//!   history: adding HTTP to an MQTT box neither re-sends old rows to the broker nor
//!   floods the platform with last month's events;
//! - a sink that is removed is no longer owed anything: its pending rows are released
//!   for it (they stay in the outbox for the other sink, or become history).
//!   Without any sink configured rows wait for a broker, as they always did.

use super::{Outbox, UplinkError, WorkItem, bump};
use rusqlite::params;

/// The sinks a commit is owed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sinks {
    /// A broker is configured (`uplink.broker`).
    pub mqtt: bool,
    /// `[uplink.http]` is configured.
    pub http: bool,
}

impl Default for Sinks {
    /// What the outbox always did: every row waits for the broker.
    fn default() -> Self {
        Sinks {
            mqtt: true,
            http: false,
        }
    }
}

impl Sinks {
    pub fn of(cfg: &crate::uplink::UplinkConfig) -> Self {
        Sinks {
            mqtt: cfg.mqtt_on(),
            http: cfg.http.is_some(),
        }
    }

    /// The `events.mqtt` value of a new row: owed to the broker unless only HTTP is
    /// configured (a box with no sink at all keeps its events for a broker).
    pub(super) fn mqtt_owed(&self) -> i64 {
        i64::from(self.mqtt || !self.http)
    }
}

/// The HTTP sink's figures, for health and `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HttpCounts {
    /// Rows still owed to the HTTP sink.
    pub pending: u64,
    /// Rows the platform refused permanently (a 4xx), kept with status and body.
    pub refused: u64,
    /// Rows the platform accepted, since the database was created.
    pub delivered_total: u64,
    /// Refusals since the database was created (history pruning does not lower it).
    pub refused_total: u64,
}

/// Most of a refusal's body kept on its row.
pub const MAX_REFUSAL_BODY: usize = 2048;

impl Outbox {
    /// Which sinks new commits are owed to; enrols or releases the backlog when that
    /// changed (see the module comment).
    pub fn set_sinks(&mut self, sinks: Sinks) -> Result<(), UplinkError> {
        self.sinks = sinks;
        let changed = self.tx(|c| {
            let mut n = 0;
            if sinks.http {
                n += c.execute(
                    "UPDATE events SET http_state = 'pending' WHERE done = 0 AND http_state IS NULL",
                    [],
                )?;
            } else {
                n += c.execute(
                    "UPDATE events SET http_state = NULL WHERE http_state = 'pending'",
                    [],
                )?;
            }
            if sinks.mqtt_owed() == 1 {
                n += c.execute("UPDATE events SET mqtt = 1 WHERE done = 0 AND mqtt = 0", [])?;
            } else {
                n += c.execute("UPDATE events SET mqtt = 0 WHERE done = 0 AND mqtt = 1", [])?;
            }
            Ok(n)
        })?;
        if changed > 0 {
            tracing::info!(
                rows = changed,
                mqtt = sinks.mqtt,
                http = sinks.http,
                "outbox: the configured sinks changed; undelivered rows re-assigned"
            );
            let rows: Vec<i64> = {
                let mut stmt = self.conn.prepare("SELECT id FROM events WHERE done = 0")?;
                stmt.query_map([], |r| r.get(0))?
                    .collect::<Result<Vec<_>, _>>()?
            };
            for r in rows {
                self.check_done(r)?;
            }
        }
        Ok(())
    }

    /// Oldest rows owed to the HTTP sink after `after_row`, in outbox order.
    pub(crate) fn next_http(
        &self,
        after_row: i64,
        limit: usize,
    ) -> Result<Vec<WorkItem>, UplinkError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, event_id, body, evidence_dropped, http_event_sent FROM events
             WHERE http_state = 'pending' AND id > ?1 ORDER BY id LIMIT ?2",
        )?;
        let mut items = stmt
            .query_map(params![after_row, limit as i64], |r| {
                Ok(WorkItem {
                    row: r.get(0)?,
                    event_id: r.get(1)?,
                    body: r.get(2)?,
                    event_acked: false,
                    evidence_dropped: r.get(3)?,
                    media: Vec::new(),
                    http_event_sent: r.get(4)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        drop(stmt);
        self.load_media(&mut items)?;
        Ok(items)
    }

    /// One more request for this row is about to go.
    pub(crate) fn http_attempt(&self, row: i64) -> Result<(), UplinkError> {
        self.conn.execute(
            "UPDATE events SET http_attempts = http_attempts + 1 WHERE id = ?1",
            [row],
        )?;
        Ok(())
    }

    /// A passing failure (network, 5xx, 429): kept on the row for the page.
    pub(crate) fn http_error(&self, row: i64, error: &str) -> Result<(), UplinkError> {
        self.conn.execute(
            "UPDATE events SET http_error = ?2 WHERE id = ?1",
            params![row, error],
        )?;
        Ok(())
    }

    /// The platform accepted a media upload (answering `remote_id`, if any).
    pub(crate) fn http_media_done(
        &self,
        media_row: i64,
        remote_id: Option<&str>,
    ) -> Result<(), UplinkError> {
        self.conn.execute(
            "UPDATE media SET http_done = 1, http_remote_id = ?2 WHERE id = ?1",
            params![media_row, remote_id],
        )?;
        Ok(())
    }

    /// `event_first`: the event JSON was accepted; its media follow.
    pub(crate) fn http_event_sent(&self, row: i64) -> Result<(), UplinkError> {
        self.conn
            .execute("UPDATE events SET http_event_sent = 1 WHERE id = ?1", [row])?;
        Ok(())
    }

    /// Everything of this row reached the platform.
    pub(crate) fn http_delivered(&self, row: i64, status: u16) -> Result<(), UplinkError> {
        self.tx(|c| {
            let n = c.execute(
                "UPDATE events SET http_state = 'delivered', http_status = ?2, http_error = NULL
                 WHERE id = ?1 AND http_state = 'pending'",
                params![row, status],
            )?;
            if n > 0 {
                bump(c, "http_delivered", 1)?;
            }
            Ok(())
        })?;
        self.settled.set(self.settled.get() + 1);
        self.check_done(row)
    }

    /// The platform refused this row for good (a 4xx other than 408/429): kept with
    /// the status and the start of the answer's body, counted, not retried.
    pub(crate) fn http_refused(
        &self,
        row: i64,
        status: u16,
        body: &str,
    ) -> Result<(), UplinkError> {
        let mut end = body.len().min(MAX_REFUSAL_BODY);
        while !body.is_char_boundary(end) {
            end -= 1;
        }
        self.tx(|c| {
            let n = c.execute(
                "UPDATE events SET http_state = 'refused', http_status = ?2, http_error = ?3
                 WHERE id = ?1 AND http_state = 'pending'",
                params![row, status, &body[..end]],
            )?;
            if n > 0 {
                bump(c, "http_refused", 1)?;
            }
            Ok(())
        })?;
        self.check_done(row)
    }

    /// The HTTP sink's figures.
    pub fn http_counts(&self) -> Result<HttpCounts, UplinkError> {
        let (pending, refused): (i64, i64) = self.conn.query_row(
            "SELECT COALESCE(SUM(http_state = 'pending'), 0), COALESCE(SUM(http_state = 'refused'), 0)
             FROM events WHERE http_state IN ('pending', 'refused')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok(HttpCounts {
            pending: pending as u64,
            refused: refused as u64,
            delivered_total: self.counter("http_delivered")?,
            refused_total: self.counter("http_refused")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uplink::testutil::sample_event;

    fn event(n: u32) -> crate::rules::event::Event {
        let mut ev = sample_event("cam1", n);
        ev.media.clear();
        ev
    }

    fn rows(o: &Outbox) -> Vec<(Option<String>, i64, bool)> {
        let mut st = o
            .conn
            .prepare("SELECT http_state, mqtt, done FROM events ORDER BY id")
            .unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn adding_http_gives_it_the_backlog_not_the_history_and_mqtt_resends_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = Outbox::open(&dir.path().join("o.sqlite"), 1 << 30).unwrap();
        o.enqueue(&event(0)).unwrap();
        o.enqueue(&event(1)).unwrap();
        // The broker took the first: history.
        let first = o.next_batch(0, 8).unwrap()[0].row;
        o.ack_event(first).unwrap();
        assert_eq!(rows(&o)[0], (None, 2, true));
        o.set_sinks(Sinks {
            mqtt: true,
            http: true,
        })
        .unwrap();
        // History is not sent to the new sink; the backlog is, and the broker still
        // owes only the row it never acknowledged.
        assert_eq!(
            rows(&o),
            vec![(None, 2, true), (Some("pending".into()), 1, false)]
        );
        let mqtt = o.next_batch(0, 8).unwrap();
        assert_eq!(mqtt.len(), 1);
        let http = o.next_http(0, 8).unwrap();
        assert_eq!(http.len(), 1);
        assert_eq!(http[0].row, mqtt[0].row);
        // Each sink on its own: the broker's ack alone does not finish the row.
        o.ack_event(mqtt[0].row).unwrap();
        assert_eq!(rows(&o)[1], (Some("pending".into()), 2, false));
        assert!(o.next_batch(0, 8).unwrap().is_empty(), "MQTT would re-send");
        o.http_delivered(http[0].row, 200).unwrap();
        assert_eq!(rows(&o)[1], (Some("delivered".into()), 2, true));
        // A new commit is owed to both.
        o.enqueue(&event(2)).unwrap();
        assert_eq!(rows(&o)[2], (Some("pending".into()), 1, false));
        assert_eq!(o.http_counts().unwrap().delivered_total, 1);
    }

    #[test]
    fn an_http_only_box_owes_nothing_to_the_broker_and_a_refusal_is_kept_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = Outbox::open(&dir.path().join("o.sqlite"), 1 << 30).unwrap();
        o.set_sinks(Sinks {
            mqtt: false,
            http: true,
        })
        .unwrap();
        o.enqueue(&event(0)).unwrap();
        assert!(o.next_batch(0, 8).unwrap().is_empty());
        let row = o.next_http(0, 8).unwrap()[0].row;
        o.http_attempt(row).unwrap();
        let body = "é".repeat(3000);
        o.http_refused(row, 400, &body).unwrap();
        let (state, _, done) = rows(&o)[0].clone();
        assert_eq!(state.as_deref(), Some("refused"));
        assert!(done, "a refused row no longer holds the queue");
        assert!(o.next_http(0, 8).unwrap().is_empty(), "never retried");
        let r = &o.http_rows().unwrap()[0];
        assert_eq!((r.4, r.5), (1, Some(400)));
        let kept = r.6.clone().unwrap();
        assert!(
            kept.len() <= MAX_REFUSAL_BODY && kept.len() > 2000,
            "{}",
            kept.len()
        );
        let c = o.http_counts().unwrap();
        assert_eq!((c.refused, c.refused_total, c.pending), (1, 1, 0));
        // The sink removed from the config: its pending rows are released, not stuck.
        o.enqueue(&event(1)).unwrap();
        o.set_sinks(Sinks {
            mqtt: true,
            http: false,
        })
        .unwrap();
        assert_eq!(rows(&o)[1], (None, 1, false));
        assert_eq!(o.next_batch(0, 8).unwrap().len(), 1);
    }
}

#[cfg(test)]
mod migration {
    use super::*;

    /// The events/media tables as the last release without per-sink state made them.
    const OLD_SCHEMA: &str = "
        CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL, phase TEXT NOT NULL,
            seq INTEGER NOT NULL, camera TEXT NOT NULL, created_ms INTEGER NOT NULL,
            body TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT,
            evidence_dropped INTEGER NOT NULL DEFAULT 0, done INTEGER NOT NULL DEFAULT 0,
            UNIQUE (event_id, phase, seq));
        CREATE TABLE media (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            event_row INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
            name TEXT NOT NULL, path TEXT NOT NULL, sha256 TEXT NOT NULL, bytes INTEGER NOT NULL,
            content_type TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT,
            manifest_acked INTEGER NOT NULL DEFAULT 0, chunks_acked INTEGER NOT NULL DEFAULT 0,
            dropped INTEGER NOT NULL DEFAULT 0, file_present INTEGER NOT NULL DEFAULT 1,
            drop_reason TEXT);
        CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    ";

    #[test]
    fn an_mqtt_only_database_gets_per_sink_state_and_adding_http_sends_only_its_backlog() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox.sqlite");
        {
            let c = rusqlite::Connection::open(&path).unwrap();
            c.execute_batch(OLD_SCHEMA).unwrap();
            for (id, state, done) in [
                ("old-delivered", "acknowledged", 1),
                ("old-open", "pending", 0),
            ] {
                c.execute(
                    "INSERT INTO events (event_id, phase, seq, camera, created_ms, body, state, done)
                     VALUES (?1, 'started', 0, 'cam1', 0, '{}', ?2, ?3)",
                    params![id, state, done],
                )
                .unwrap();
            }
        }
        let mut o = Outbox::open(&path, 1 << 30).unwrap();
        // Every old row is owed to the broker only, as it was.
        let rows = |o: &Outbox| {
            let mut st = o
                .conn
                .prepare("SELECT event_id, mqtt, http_state, done FROM events ORDER BY id")
                .unwrap();
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .unwrap()
                .collect::<Result<Vec<(String, i64, Option<String>, bool)>, _>>()
                .unwrap()
        };
        assert_eq!(
            rows(&o),
            vec![
                ("old-delivered".into(), 1, None, true),
                ("old-open".into(), 1, None, false)
            ]
        );
        o.set_sinks(Sinks {
            mqtt: true,
            http: true,
        })
        .unwrap();
        assert_eq!(
            rows(&o),
            vec![
                ("old-delivered".into(), 1, None, true),
                ("old-open".into(), 1, Some("pending".into()), false)
            ]
        );
        let http: Vec<String> = o
            .next_http(0, 8)
            .unwrap()
            .into_iter()
            .map(|w| w.event_id)
            .collect();
        assert_eq!(http, ["old-open"]);
        let mqtt: Vec<String> = o
            .next_batch(0, 8)
            .unwrap()
            .into_iter()
            .map(|w| w.event_id)
            .collect();
        assert_eq!(
            mqtt,
            ["old-open"],
            "the broker gets nothing it acknowledged"
        );
    }
}
