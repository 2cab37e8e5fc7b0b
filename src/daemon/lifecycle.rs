//! The uniform lifecycle of the daemon's long-running parts (outbox, uplink, web page;
//! cameras and models follow the same rules in their own modules).
//!
//! Each part is built from its own slice of the config ([`Component::Slice`]). A
//! reload compares the old and new slice of every part and restarts exactly the parts
//! whose slice changed (as Vector's topology rebuilds changed components). A part that
//! cannot start (a full disk, a port taken) is not fatal: its [`Slot`] keeps the slice
//! and tries again with a short backoff and as soon as free space returns
//! ([`super::retry`]).

use super::retry::Retry;
use std::time::Instant;

/// A long-running part of the daemon.
pub trait Component: Sized {
    /// What it is built from; a change restarts it.
    type Slice: Clone + PartialEq;
    /// What it needs from the rest of the daemon.
    type Env;
    /// Its name in logs and reload reports.
    const NAME: &'static str;
    /// Start it; the error says why not, naming the fix.
    fn start(slice: &Self::Slice, env: &Self::Env) -> Result<Self, String>;
    /// Stop it (on purpose: a reload or shutdown).
    fn stop(self, env: &Self::Env);
}

/// What applying a slice did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The slice did not change: the part runs on as it was.
    Unchanged,
    /// The part was restarted with the new slice (or started).
    Applied,
    /// The part could not start with the new slice; it is retried.
    Failed(String),
}

/// One part and its retry state.
pub struct Slot<C: Component> {
    slice: C::Slice,
    running: Option<C>,
    retry: Retry,
    error: Option<String>,
}

impl<C: Component> Slot<C> {
    /// A slot for `slice`, not started yet (the first [`Slot::tick`] starts it).
    pub fn new(slice: C::Slice) -> Self {
        Slot {
            slice,
            running: None,
            retry: Retry::new(),
            error: None,
        }
    }

    pub fn running(&self) -> Option<&C> {
        self.running.as_ref()
    }

    /// Why the last start failed, while it is not running.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Whether it is down and waiting to be tried again.
    pub fn waiting(&self) -> bool {
        self.running.is_none()
    }

    /// Start the part if it is not running and a try is due (`free`: free bytes on the
    /// state filesystem now, when something is waiting for space). True when it
    /// started now.
    pub fn tick(&mut self, env: &C::Env, now: Instant, free: Option<u64>) -> bool {
        if self.running.is_some() || !self.retry.due(now, free) {
            return false;
        }
        self.try_start(env, now, free)
    }

    fn try_start(&mut self, env: &C::Env, now: Instant, free: Option<u64>) -> bool {
        match C::start(&self.slice, env) {
            Ok(c) => {
                if self.error.take().is_some() {
                    tracing::info!(part = C::NAME, "started after an earlier failure");
                }
                self.running = Some(c);
                self.retry.succeeded();
                true
            }
            Err(e) => {
                // Once per distinct reason: a lasting cause does not flood the journal.
                if self.error.as_deref() != Some(e.as_str()) {
                    tracing::error!(part = C::NAME, error = %e, "cannot start; retrying within seconds (at once when disk space returns)");
                }
                self.error = Some(e);
                self.retry.failed(now, free);
                false
            }
        }
    }

    /// Bring the part in line with `slice`: nothing when unchanged, else stop it and
    /// start it again with the new slice at once.
    pub fn reconcile(&mut self, slice: C::Slice, env: &C::Env) -> Outcome {
        if slice == self.slice && (self.running.is_some() || self.error.is_none()) {
            return Outcome::Unchanged;
        }
        if slice == self.slice {
            // Unchanged but down: a reload is a good moment to try again.
            self.retry = Retry::new();
            return if self.try_start(env, Instant::now(), None) {
                Outcome::Applied
            } else {
                Outcome::Failed(self.error.clone().unwrap_or_default())
            };
        }
        self.slice = slice;
        self.stop(env);
        self.retry = Retry::new();
        self.error = None;
        if self.try_start(env, Instant::now(), None) {
            Outcome::Applied
        } else {
            Outcome::Failed(self.error.clone().unwrap_or_default())
        }
    }

    /// Stop the part (it stays down until the next tick or reconcile).
    pub fn stop(&mut self, env: &C::Env) {
        if let Some(c) = self.running.take() {
            c.stop(env);
        }
    }

    /// Stop for good.
    pub fn shutdown(mut self, env: &C::Env) {
        self.stop(env);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::time::Duration;

    /// A part that starts only while `env` allows it and records its life.
    struct Probe(u32);
    struct Env {
        ok: RefCell<bool>,
        log: RefCell<Vec<String>>,
    }
    impl Component for Probe {
        type Slice = u32;
        type Env = Env;
        const NAME: &'static str = "probe";
        fn start(slice: &u32, env: &Env) -> Result<Self, String> {
            if *env.ok.borrow() {
                env.log.borrow_mut().push(format!("start {slice}"));
                Ok(Probe(*slice))
            } else {
                Err("disk full".into())
            }
        }
        fn stop(self, env: &Env) {
            env.log.borrow_mut().push(format!("stop {}", self.0));
        }
    }

    #[test]
    fn a_slot_retries_restarts_on_change_and_leaves_an_unchanged_part_alone() {
        let env = Env {
            ok: RefCell::new(false),
            log: RefCell::default(),
        };
        let t0 = Instant::now();
        let mut s: Slot<Probe> = Slot::new(1);
        assert!(!s.tick(&env, t0, Some(0)));
        assert_eq!(s.error(), Some("disk full"));
        // Not due yet, unless space came back.
        *env.ok.borrow_mut() = true;
        assert!(!s.tick(&env, t0 + Duration::from_millis(100), Some(0)));
        assert!(s.tick(&env, t0 + Duration::from_millis(200), Some(64 << 20)));
        assert_eq!(s.running().map(|p| p.0), Some(1));
        assert_eq!(s.reconcile(1, &env), Outcome::Unchanged);
        assert_eq!(s.reconcile(2, &env), Outcome::Applied);
        *env.ok.borrow_mut() = false;
        assert_eq!(s.reconcile(3, &env), Outcome::Failed("disk full".into()));
        assert!(s.waiting());
        *env.ok.borrow_mut() = true;
        // A reload with the same slice retries a part that is down.
        assert_eq!(s.reconcile(3, &env), Outcome::Applied);
        s.shutdown(&env);
        assert_eq!(
            *env.log.borrow(),
            [
                "start 1", "stop 1", "start 2", "stop 2", "start 3", "stop 3"
            ]
        );
    }
}
