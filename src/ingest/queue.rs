//! A fixed-depth frame queue between a camera and its consumer (inference).
//!
//! Live cameras use [`Overflow::DropOldest`]: the newest frame always wins and ingest is
//! never blocked by a slow consumer; every drop is counted. File replays use
//! [`Overflow::Block`], because there determinism matters more than latency.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    DropOldest,
    Block,
}

pub struct BoundedQueue<T> {
    inner: Mutex<State<T>>,
    not_empty: Condvar,
    not_full: Condvar,
    capacity: usize,
    overflow: Overflow,
    dropped: AtomicU64,
}

struct State<T> {
    items: VecDeque<T>,
    closed: bool,
}

/// Outcome of [`BoundedQueue::pop_timeout`].
#[derive(Debug, PartialEq, Eq)]
pub enum Pop<T> {
    Item(T),
    Timeout,
    Closed,
}

impl<T> BoundedQueue<T> {
    pub fn new(capacity: usize, overflow: Overflow) -> Self {
        assert!(capacity > 0, "queue capacity must be positive");
        Self {
            inner: Mutex::new(State {
                items: VecDeque::with_capacity(capacity),
                closed: false,
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            capacity,
            overflow,
            dropped: AtomicU64::new(0),
        }
    }

    /// Add an item; returns false if the queue is closed.
    pub fn push(&self, item: T) -> bool {
        let mut st = self.inner.lock().unwrap();
        loop {
            if st.closed {
                return false;
            }
            if st.items.len() < self.capacity {
                break;
            }
            match self.overflow {
                Overflow::DropOldest => {
                    st.items.pop_front();
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Overflow::Block => st = self.not_full.wait(st).unwrap(),
            }
        }
        st.items.push_back(item);
        self.not_empty.notify_one();
        true
    }

    pub fn pop_timeout(&self, timeout: Duration) -> Pop<T> {
        let deadline = std::time::Instant::now() + timeout;
        let mut st = self.inner.lock().unwrap();
        loop {
            if let Some(item) = st.items.pop_front() {
                self.not_full.notify_one();
                return Pop::Item(item);
            }
            if st.closed {
                return Pop::Closed;
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return Pop::Timeout;
            }
            st = self.not_empty.wait_timeout(st, deadline - now).unwrap().0;
        }
    }

    /// Wake every waiter; later pushes fail, pops drain what is left then say Closed.
    pub fn close(&self) {
        self.inner.lock().unwrap().closed = true;
        self.not_empty.notify_all();
        self.not_full.notify_all();
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
    pub fn len(&self) -> usize {
        self.inner.lock().unwrap().items.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn drop_oldest_keeps_the_newest_and_counts_drops() {
        let q = BoundedQueue::new(2, Overflow::DropOldest);
        for i in 0..5 {
            assert!(q.push(i));
        }
        assert_eq!(q.dropped(), 3);
        assert_eq!(q.pop_timeout(Duration::ZERO), Pop::Item(3));
        assert_eq!(q.pop_timeout(Duration::ZERO), Pop::Item(4));
        assert_eq!(q.pop_timeout(Duration::from_millis(1)), Pop::Timeout);
    }

    #[test]
    fn block_mode_loses_nothing() {
        let q = Arc::new(BoundedQueue::new(1, Overflow::Block));
        let p = q.clone();
        let producer = std::thread::spawn(move || {
            for i in 0..100 {
                p.push(i);
            }
            p.close();
        });
        let mut got = Vec::new();
        while let Pop::Item(i) = q.pop_timeout(Duration::from_secs(5)) {
            got.push(i);
        }
        producer.join().unwrap();
        assert_eq!(got, (0..100).collect::<Vec<_>>());
        assert_eq!(q.dropped(), 0);
    }
}
