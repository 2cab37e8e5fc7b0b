//! Recent log records for `GET /api/logs`: a `tracing` layer that keeps the last N
//! records in memory (bounded), so the page can show them without reading the journal
//! (which the service user may not be allowed to read).

use super::backend::{LogLevel, LogLine};
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::Context;

/// The last `capacity` log records; clone it freely (shared).
#[derive(Clone)]
pub struct LogRing {
    lines: Arc<Mutex<VecDeque<LogLine>>>,
    capacity: usize,
}

impl LogRing {
    pub fn new(capacity: usize) -> Self {
        Self {
            lines: Arc::new(Mutex::new(VecDeque::with_capacity(capacity))),
            capacity: capacity.max(1),
        }
    }

    /// The layer to add to the daemon's subscriber.
    pub fn layer(&self) -> LogRingLayer {
        LogRingLayer(self.clone())
    }

    /// The newest `limit` records, oldest first (what `WebBackend::recent_logs` returns).
    pub fn recent(&self, limit: usize) -> Vec<LogLine> {
        let lines = self.lines.lock().unwrap();
        lines
            .iter()
            .skip(lines.len().saturating_sub(limit))
            .cloned()
            .collect()
    }

    fn push(&self, line: LogLine) {
        let mut lines = self.lines.lock().unwrap();
        if lines.len() >= self.capacity {
            lines.pop_front();
        }
        lines.push_back(line);
    }
}

/// Longest message kept per record: one runaway debug line cannot take the memory.
const MAX_MESSAGE: usize = 2000;

pub struct LogRingLayer(LogRing);

#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.rest, " {}={value:?}", field.name());
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.rest, " {}={value}", field.name());
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for LogRingLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut f = Fields::default();
        event.record(&mut f);
        let mut message = crate::redact::scrub(&format!("{}{}", f.message, f.rest), &[]);
        if message.len() > MAX_MESSAGE {
            let mut cut = MAX_MESSAGE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let level = match *meta.level() {
            tracing::Level::ERROR => LogLevel::Error,
            tracing::Level::WARN => LogLevel::Warn,
            tracing::Level::INFO => LogLevel::Info,
            tracing::Level::DEBUG => LogLevel::Debug,
            tracing::Level::TRACE => LogLevel::Trace,
        };
        self.0.push(LogLine {
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            level,
            target: meta.target().to_string(),
            message,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn ring_keeps_the_newest_records_with_fields_and_redacted_urls() {
        let ring = LogRing::new(3);
        let sub = tracing_subscriber::registry().with(ring.layer());
        tracing::subscriber::with_default(sub, || {
            tracing::info!("first");
            tracing::info!(camera = "gate", "starting");
            tracing::warn!(url = "rtsp://admin:hunter22@10.0.0.5/1", "cannot open");
            tracing::error!("last");
        });
        let lines = ring.recent(10);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].message, "starting camera=gate");
        assert_eq!(lines[1].level, LogLevel::Warn);
        assert!(
            !lines[1].message.contains("hunter22"),
            "{}",
            lines[1].message
        );
        assert!(lines[1].message.contains("rtsp://***@10.0.0.5/1"));
        assert_eq!(lines[2].message, "last");
        assert_eq!(ring.recent(1)[0].message, "last");
    }
}
