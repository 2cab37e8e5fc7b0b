//! Delivered history: kept for the Events page within `history_days` /
//! `history_rows`, then pruned whole events at a time, and the freed pages given back
//! to the filesystem.

use super::{Outbox, PRUNE_BATCH, UplinkError, bump, now_ms};
use rusqlite::params;
use std::collections::HashSet;

/// What [`Outbox::prune_history`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PruneReport {
    pub events: u64,
    pub rows: u64,
    /// Kept delivered files deleted with their rows.
    pub files: u64,
    /// Pages given back to the filesystem by incremental vacuum.
    pub vacuumed_pages: u64,
}

impl Outbox {
    /// Prune delivered history beyond `history_days` (by when the newest phase was
    /// committed) or beyond `history_rows` delivered phases, oldest first, whole events
    /// at a time and only events whose every phase is delivered; then give the freed
    /// pages back to the filesystem (incremental vacuum). Kept delivered files of the
    /// pruned events go with them. Pruning is bookkeeping, not loss: it is counted as
    /// `history_pruned`, never as dropped.
    pub fn prune_history(&self) -> Result<PruneReport, UplinkError> {
        self.settled.set(0);
        let cutoff = now_ms() - i64::from(self.history_days) * 86_400_000;
        let mut report = PruneReport::default();
        loop {
            let mut victims: Vec<(String, i64)> = Vec::new();
            {
                let mut old = self.conn.prepare_cached(
                    "SELECT event_id, COUNT(*) FROM events GROUP BY event_id
                     HAVING MIN(done) = 1 AND MAX(created_ms) < ?1 LIMIT ?2",
                )?;
                victims.extend(
                    old.query_map(params![cutoff, PRUNE_BATCH as i64], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })?
                    .collect::<Result<Vec<_>, _>>()?,
                );
            }
            let mut excess = (self.history_rows()? as i64)
                - (self.history_rows.min(i64::MAX as u64) as i64)
                - victims.iter().map(|v| v.1).sum::<i64>();
            if excess > 0 && victims.len() < PRUNE_BATCH {
                let chosen: HashSet<String> = victims.iter().map(|v| v.0.clone()).collect();
                let mut oldest = self.conn.prepare_cached(
                    "SELECT event_id, COUNT(*) FROM events GROUP BY event_id
                     HAVING MIN(done) = 1 ORDER BY MIN(id) LIMIT ?1",
                )?;
                let rows = oldest
                    .query_map([PRUNE_BATCH as i64], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<Vec<(String, i64)>, _>>()?;
                for (id, n) in rows {
                    if excess <= 0 || victims.len() >= PRUNE_BATCH {
                        break;
                    }
                    if chosen.contains(&id) {
                        continue;
                    }
                    excess -= n;
                    victims.push((id, n));
                }
            }
            if victims.is_empty() {
                break;
            }
            let (rows, files) = self.tx(|c| {
                let mut rows = 0i64;
                let mut files = Vec::new();
                for (id, _) in &victims {
                    let mut stmt = c.prepare_cached(
                        "SELECT m.path FROM media m JOIN events e ON e.id = m.event_row
                         WHERE e.event_id = ?1 AND m.file_present = 1",
                    )?;
                    files.extend(
                        stmt.query_map([id], |r| r.get::<_, String>(0))?
                            .collect::<Result<Vec<_>, _>>()?,
                    );
                    c.execute(
                        "DELETE FROM media WHERE event_row IN (SELECT id FROM events WHERE event_id = ?1)",
                        [id],
                    )?;
                    rows += c.execute("DELETE FROM events WHERE event_id = ?1", [id])? as i64;
                }
                bump(c, "history_pruned", rows)?;
                Ok((rows, files))
            })?;
            report.events += victims.len() as u64;
            report.rows += rows as u64;
            report.files += files.len() as u64;
            for f in files {
                self.delete_later(f);
            }
            self.flush_deletes();
        }
        let mode: i64 = self
            .conn
            .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))?;
        let free: i64 = self
            .conn
            .query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
        if mode == 2 && free > 0 {
            // The pragma frees one page per step: step it to the end.
            let mut stmt = self.conn.prepare("PRAGMA incremental_vacuum")?;
            let mut rows = stmt.query([])?;
            while rows.next()?.is_some() {}
            report.vacuumed_pages = free as u64;
        }
        if report.rows > 0 {
            tracing::info!(
                events = report.events,
                rows = report.rows,
                files = report.files,
                "outbox: pruned delivered history"
            );
        }
        Ok(report)
    }
}
