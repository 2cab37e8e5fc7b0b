//! Where decided events wait for the outbox: a fixed-depth queue between the analysis
//! stage (rules and evidence) and the committer.
//!
//! In the daemon a push never blocks: analysis must keep running and the watchdog
//! stay fed whatever the outbox does. While the outbox cannot take events (a full
//! disk) they wait here; only when the queue is full is a phase lost, and then it is
//! counted by camera and kind ([`Losses`]) and logged, never silently. The replay tool
//! wants every event instead of a live picture, so its sink blocks the producer.

use super::losses::{LossReason, Losses};
use crate::ingest::Pop;
use crate::rules::event::Event;
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// What a full queue does to a new event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Full {
    /// Count it as lost and go on (the daemon).
    Count,
    /// Wait for room (replay: determinism over latency).
    Block,
}

struct State {
    items: VecDeque<Event>,
    capacity: usize,
    closed: bool,
}

struct Inner {
    state: Mutex<State>,
    not_empty: Condvar,
    not_full: Condvar,
    full: Full,
    losses: Arc<Losses>,
}

/// A handle on the queue; clones share it.
#[derive(Clone)]
pub struct EventSink {
    inner: Arc<Inner>,
}

impl EventSink {
    fn with(capacity: usize, full: Full, losses: Arc<Losses>) -> Self {
        let capacity = capacity.max(1);
        EventSink {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    items: VecDeque::with_capacity(capacity.min(1024)),
                    capacity,
                    closed: false,
                }),
                not_empty: Condvar::new(),
                not_full: Condvar::new(),
                full,
                losses,
            }),
        }
    }

    /// The daemon's sink: pushes never block; overflow is counted in `losses`.
    pub fn bounded(capacity: usize, losses: Arc<Losses>) -> Self {
        Self::with(capacity, Full::Count, losses)
    }

    /// The replay tool's sink: a push waits for room, nothing is lost.
    pub fn lossless(capacity: usize) -> Self {
        Self::with(capacity, Full::Block, Arc::default())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hand over a decided event. Returns false when it was not queued: the queue is
    /// closed (shutdown) or full; either way it was counted as lost.
    pub fn push(&self, ev: Event) -> bool {
        let mut st = self.lock();
        loop {
            if st.closed {
                drop(st);
                self.inner.losses.record(&ev, LossReason::Shutdown);
                return false;
            }
            if st.items.len() < st.capacity {
                break;
            }
            match self.inner.full {
                Full::Count => {
                    drop(st);
                    self.inner.losses.record(&ev, LossReason::QueueFull);
                    return false;
                }
                Full::Block => {
                    st = self
                        .inner
                        .not_full
                        .wait(st)
                        .unwrap_or_else(|p| p.into_inner())
                }
            }
        }
        st.items.push_back(ev);
        self.inner.not_empty.notify_one();
        true
    }

    /// The oldest waiting event, waiting up to `timeout` for one.
    pub fn pop_timeout(&self, timeout: Duration) -> Pop<Event> {
        let deadline = Instant::now() + timeout;
        let mut st = self.lock();
        loop {
            if let Some(ev) = st.items.pop_front() {
                self.inner.not_full.notify_one();
                return Pop::Item(ev);
            }
            if st.closed {
                return Pop::Closed;
            }
            let now = Instant::now();
            if now >= deadline {
                return Pop::Timeout;
            }
            st = self
                .inner
                .not_empty
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// No more pushes (they are counted as lost); pops drain what is left, then say
    /// `Closed`.
    pub fn close(&self) {
        self.lock().closed = true;
        self.inner.not_empty.notify_all();
        self.inner.not_full.notify_all();
    }

    /// Take everything still waiting (shutdown: the caller counts them).
    pub fn drain(&self) -> Vec<Event> {
        let items: Vec<Event> = self.lock().items.drain(..).collect();
        self.inner.not_full.notify_all();
        items
    }

    /// Change the depth (`[events] queue_depth` reloaded). Events already waiting
    /// beyond a smaller depth stay; only new ones see the new limit.
    pub fn set_capacity(&self, capacity: usize) {
        self.lock().capacity = capacity.max(1);
        self.inner.not_full.notify_all();
    }

    pub fn len(&self) -> usize {
        self.lock().items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn capacity(&self) -> usize {
        self.lock().capacity
    }

    /// The counts of lost phases this sink adds to.
    pub fn losses(&self) -> &Arc<Losses> {
        &self.inner.losses
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uplink::testutil::sample_event;

    #[test]
    fn a_full_daemon_queue_never_blocks_and_counts_what_it_cannot_hold() {
        let losses = Arc::new(Losses::default());
        let sink = EventSink::bounded(3, losses.clone());
        let t0 = Instant::now();
        let events: Vec<_> = (0..10).map(|i| sample_event("cam1", i)).collect();
        let queued = events.iter().filter(|e| sink.push((*e).clone())).count();
        assert!(t0.elapsed() < Duration::from_secs(1), "push must not block");
        assert_eq!(queued, 3);
        assert_eq!(losses.total(), 7);
        assert_eq!(losses.snapshot()[0].reason, "queue_full");
        // The oldest are kept, in order.
        let Pop::Item(first) = sink.pop_timeout(Duration::ZERO) else {
            panic!()
        };
        assert_eq!(first.id, events[0].id);
        // Room again: the next push goes in.
        assert!(sink.push(sample_event("cam1", 20)));
        sink.set_capacity(10);
        assert!(sink.push(sample_event("cam1", 21)));
        assert_eq!(sink.len(), 4);
        sink.close();
        assert!(!sink.push(sample_event("cam1", 22)), "closed");
        assert_eq!(losses.total(), 8);
        assert_eq!(sink.drain().len(), 4);
        assert_eq!(sink.pop_timeout(Duration::ZERO), Pop::Closed);
    }

    #[test]
    fn the_replay_sink_waits_for_room_and_loses_nothing() {
        let sink = EventSink::lossless(1);
        let p = sink.clone();
        let producer = std::thread::spawn(move || {
            for i in 0..50 {
                assert!(p.push(sample_event("cam1", i)));
            }
            p.close();
        });
        let mut n = 0;
        while let Pop::Item(_) = sink.pop_timeout(Duration::from_secs(5)) {
            n += 1;
        }
        producer.join().unwrap();
        assert_eq!(n, 50);
        assert_eq!(sink.losses().total(), 0);
    }
}
