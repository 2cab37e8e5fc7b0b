//! When to try again a part that could not start (the outbox on a full disk, the
//! uplink without its key, the page without its certificate): a short backoff, and a
//! filesystem-space watch so that freeing space brings the box back within a second
//! instead of at the end of a long timer.
//!
//! This is box health, not media: it runs on the monotonic clock.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// First wait after a failure; doubled on each further failure up to [`RETRY_MAX`].
pub const RETRY_FIRST: Duration = Duration::from_secs(1);
/// Longest wait between two tries: a fixed cause (a port taken) costs one log line
/// every 10 s, and a fixed problem is picked up within 10 s.
pub const RETRY_MAX: Duration = Duration::from_secs(10);
/// How often free space is looked at while something waits.
pub const SPACE_POLL: Duration = Duration::from_secs(1);
/// Free space that must come back (since the failure) to retry at once; smaller
/// changes are log files growing and shrinking.
pub const SPACE_GAIN: u64 = 256 * 1024;

/// Backoff state of one part.
#[derive(Debug, Clone)]
pub struct Retry {
    delay: Duration,
    next: Option<Instant>,
    /// Free bytes on the state filesystem when the last try failed.
    free_at_failure: Option<u64>,
}

impl Default for Retry {
    fn default() -> Self {
        Self::new()
    }
}

impl Retry {
    /// Due at once.
    pub fn new() -> Self {
        Retry {
            delay: RETRY_FIRST,
            next: None,
            free_at_failure: None,
        }
    }

    /// A try failed at `now` with `free` bytes free: wait, longer each time.
    pub fn failed(&mut self, now: Instant, free: Option<u64>) {
        self.next = Some(now + self.delay);
        self.delay = (self.delay * 2).min(RETRY_MAX);
        self.free_at_failure = free;
    }

    /// A try succeeded: the next failure starts from the short wait again.
    pub fn succeeded(&mut self) {
        *self = Self::new();
    }

    /// Whether to try now: the wait is over, or space came back since the failure.
    pub fn due(&self, now: Instant, free: Option<u64>) -> bool {
        let Some(next) = self.next else { return true };
        if now >= next {
            return true;
        }
        matches!((self.free_at_failure, free), (Some(before), Some(f)) if f > before.saturating_add(SPACE_GAIN))
    }

    /// Whether a failure is being waited out.
    pub fn waiting(&self) -> bool {
        self.next.is_some()
    }
}

/// Free space of the filesystem holding a directory, read at most once per
/// [`SPACE_POLL`].
#[derive(Debug, Clone)]
pub struct SpaceWatch {
    dir: PathBuf,
    polled: Option<Instant>,
    free: Option<u64>,
}

impl SpaceWatch {
    pub fn new(dir: &Path) -> Self {
        SpaceWatch {
            dir: dir.to_path_buf(),
            polled: None,
            free: None,
        }
    }

    /// Watch another directory (the state directory moved on a reload).
    pub fn set_dir(&mut self, dir: &Path) {
        if self.dir != dir {
            *self = Self::new(dir);
        }
    }

    /// Free bytes now (polling statvfs when the last reading is older than
    /// [`SPACE_POLL`]); `None` when it cannot be read.
    pub fn free(&mut self, now: Instant) -> Option<u64> {
        if self
            .polled
            .is_none_or(|t| now.saturating_duration_since(t) >= SPACE_POLL)
        {
            self.polled = Some(now);
            self.free = free_bytes(&self.dir);
        }
        self.free
    }
}

/// Free bytes on the filesystem of `dir`, or of its nearest existing parent (the
/// state directory may not exist yet; it will be created on that filesystem).
pub fn free_bytes(dir: &Path) -> Option<u64> {
    let existing = dir.ancestors().find(|p| p.exists())?;
    crate::uplink::health::fs_space(existing).map(|(free, _)| free)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_ten_seconds_and_resets_on_success() {
        let t0 = Instant::now();
        let mut r = Retry::new();
        assert!(r.due(t0, None) && !r.waiting());
        let mut waits = Vec::new();
        let mut now = t0;
        for _ in 0..6 {
            r.failed(now, None);
            let mut wait = Duration::ZERO;
            while !r.due(now + wait, None) {
                wait += Duration::from_millis(250);
            }
            waits.push(wait.as_secs_f64());
            now += wait;
        }
        assert_eq!(waits, [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]);
        r.succeeded();
        r.failed(now, None);
        assert!(!r.due(now + Duration::from_millis(900), None));
        assert!(r.due(now + Duration::from_secs(1), None));
    }

    #[test]
    fn space_coming_back_makes_a_retry_due_at_once() {
        let t0 = Instant::now();
        let mut r = Retry::new();
        for _ in 0..5 {
            r.failed(t0, Some(4096));
        }
        let soon = t0 + Duration::from_millis(100);
        assert!(!r.due(soon, Some(4096)));
        assert!(
            !r.due(soon, Some(4096 + 1000)),
            "noise is not space coming back"
        );
        assert!(r.due(soon, Some(64 << 20)));
        assert!(!r.due(soon, None));
    }

    #[test]
    fn the_space_watch_reads_the_nearest_existing_directory_once_a_second() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SpaceWatch::new(&dir.path().join("not/yet/there"));
        let t0 = Instant::now();
        let free = w.free(t0).expect("statvfs of the temp dir");
        assert!(free > 0);
        assert_eq!(w.free(t0 + Duration::from_millis(500)), Some(free));
    }
}
