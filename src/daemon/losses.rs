//! Decided event phases that never reached the outbox, counted by camera, kind and
//! reason, so that a loss is never silent: health (`…/health`, `/metrics`) and the
//! dashboard show these counts. Also the one place that names the fields of the
//! `event` log lines, so the two lines every phase gets read the same.

use crate::rules::event::{Event, EventKind, Phase};
use crate::uplink::EventLoss;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Why a decided phase was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LossReason {
    /// The in-memory queue overflowed while the outbox refused events.
    QueueFull,
    /// Still waiting for the outbox when the daemon had to exit.
    Shutdown,
}

impl LossReason {
    pub fn as_str(self) -> &'static str {
        match self {
            LossReason::QueueFull => "queue_full",
            LossReason::Shutdown => "shutdown",
        }
    }
}

/// `illegal_parking`, as in the event JSON.
pub fn kind_str(k: EventKind) -> &'static str {
    k.as_str()
}

/// `started`, as in the event JSON.
pub fn phase_str(p: Phase) -> &'static str {
    match p {
        Phase::Started => "started",
        Phase::Updated => "updated",
        Phase::Ended => "ended",
    }
}

/// Counts by (camera, kind, reason).
#[derive(Debug, Default)]
pub struct Losses {
    counts: Mutex<BTreeMap<(String, &'static str, LossReason), u64>>,
}

impl Losses {
    /// Count `ev` as lost and say so in the log (with its key, so the operator can
    /// tell which case is incomplete).
    pub fn record(&self, ev: &Event, reason: LossReason) {
        *self
            .counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((ev.camera.id.clone(), kind_str(ev.kind), reason))
            .or_default() += 1;
        tracing::error!(
            event = %ev.id,
            kind = %kind_str(ev.kind),
            phase = %phase_str(ev.phase),
            seq = ev.seq,
            camera = %ev.camera.id,
            reason = %reason.as_str(),
            "event lost: decided but never committed to the outbox (counted in health)"
        );
    }

    /// Every count, sorted.
    pub fn snapshot(&self) -> Vec<EventLoss> {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|((camera, kind, reason), n)| EventLoss {
                camera: camera.clone(),
                kind: (*kind).to_string(),
                reason: reason.as_str().to_string(),
                count: *n,
            })
            .collect()
    }

    pub fn total(&self) -> u64 {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn losses_are_counted_by_camera_kind_and_reason() {
        let l = Losses::default();
        let mut a = crate::uplink::testutil::sample_event("cam1", 0);
        l.record(&a, LossReason::QueueFull);
        l.record(&a, LossReason::QueueFull);
        a.kind = EventKind::ExposedGarbage;
        l.record(&a, LossReason::Shutdown);
        let b = crate::uplink::testutil::sample_event("cam2", 1);
        l.record(&b, LossReason::QueueFull);
        assert_eq!(l.total(), 4);
        let s = l.snapshot();
        assert_eq!(s.len(), 3);
        let row = |i: usize| {
            (
                s[i].camera.as_str(),
                s[i].kind.as_str(),
                s[i].reason.as_str(),
                s[i].count,
            )
        };
        assert_eq!(row(0), ("cam1", "exposed_garbage", "shutdown", 1));
        assert_eq!(row(1), ("cam1", "illegal_parking", "queue_full", 2));
        assert_eq!(row(2), ("cam2", "illegal_parking", "queue_full", 1));
    }

    #[test]
    fn kinds_and_phases_read_as_in_the_event_json() {
        for k in [
            EventKind::IllegalParking,
            EventKind::ExposedGarbage,
            EventKind::LitteringAct,
            EventKind::RoadDamage,
        ] {
            assert_eq!(serde_json::to_value(k).unwrap(), kind_str(k));
        }
        for p in [Phase::Started, Phase::Updated, Phase::Ended] {
            assert_eq!(serde_json::to_value(p).unwrap(), phase_str(p));
        }
    }
}
