//! The committer: moves decided events from the in-memory queue into the durable
//! outbox, in order, and only then announces them (the `event` log line, a wake-up for
//! the uplink).
//!
//! An event the outbox refuses (a full disk, an outbox that cannot be opened yet) is
//! retried with a short backoff and as soon as free space returns; the events behind
//! it wait in the bounded queue ([`super::sink`]), which counts what it cannot hold.
//! The thread itself never blocks for long: it bumps its heartbeat while waiting, so a
//! refusing outbox does not starve the watchdog. At shutdown it keeps trying until a
//! deadline, then counts what is left as lost.

use super::losses::{LossReason, Losses, kind_str, phase_str};
use super::retry::{Retry, SpaceWatch};
use super::sink::EventSink;
use crate::ingest::Pop;
use crate::notify::Heartbeat;
use crate::rules::event::Event;
use crate::uplink::{Delivery, HttpDelivery, Store, UplinkError};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The open outbox, replaced when the store part restarts; `None` while it cannot be
/// opened. Readers clone the `Arc` and commit without holding the lock.
pub type StoreSlot = Arc<RwLock<Option<Arc<Store>>>>;
/// The running delivery, woken after each commit; `None` while it is not running.
pub type DeliverySlot = Arc<RwLock<Option<Delivery>>>;
/// The running HTTP sink (its own part), woken after each commit too.
pub type HttpSlot = Arc<RwLock<Option<HttpDelivery>>>;

/// How long a waiting commit sleeps between looks at the store, the clock and the
/// shutdown flag (and between heartbeats).
const TICK: Duration = Duration::from_millis(200);

/// What the committer thread works with.
pub struct CommitterCtx {
    pub sink: EventSink,
    pub store: StoreSlot,
    pub delivery: DeliverySlot,
    pub http: HttpSlot,
    pub heartbeat: Heartbeat,
    /// The state directory whose free space is watched while commits are refused.
    pub state_dir: Arc<Mutex<PathBuf>>,
}

/// The running committer thread.
pub struct Committer {
    thread: Option<JoinHandle<()>>,
    /// Set at shutdown: after this instant, give up and count what is left.
    deadline: Arc<Mutex<Option<Instant>>>,
    stopping: Arc<AtomicBool>,
    sink: EventSink,
}

impl Committer {
    pub fn spawn(ctx: CommitterCtx) -> Committer {
        let deadline: Arc<Mutex<Option<Instant>>> = Arc::default();
        let stopping = Arc::new(AtomicBool::new(false));
        let sink = ctx.sink.clone();
        let (d, s) = (deadline.clone(), stopping.clone());
        let thread = std::thread::Builder::new()
            .name("events".into())
            .spawn(move || run(ctx, &d, &s))
            .expect("spawn the event committer");
        Committer {
            thread: Some(thread),
            deadline,
            stopping,
            sink,
        }
    }

    /// Shutdown: no new events; commit what waits until `deadline`, count the rest as
    /// lost, and end the thread.
    pub fn finish(mut self, deadline: Instant) {
        *self.deadline.lock().unwrap_or_else(|p| p.into_inner()) = Some(deadline);
        self.stopping.store(true, Ordering::SeqCst);
        self.sink.close();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn past(deadline: &Mutex<Option<Instant>>) -> bool {
    deadline
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .is_some_and(|d| Instant::now() >= d)
}

fn run(ctx: CommitterCtx, deadline: &Mutex<Option<Instant>>, stopping: &AtomicBool) {
    let mut space = SpaceWatch::new(&ctx.state_dir.lock().unwrap_or_else(|p| p.into_inner()));
    let mut retry = Retry::new();
    let mut last_error: Option<String> = None;
    let mut pending: Option<Event> = None;
    loop {
        ctx.heartbeat.bump();
        let mut ev = match pending.take() {
            Some(ev) => ev,
            None => match ctx.sink.pop_timeout(TICK) {
                Pop::Item(ev) => ev,
                Pop::Timeout => continue,
                Pop::Closed => break,
            },
        };
        let now = Instant::now();
        space.set_dir(&ctx.state_dir.lock().unwrap_or_else(|p| p.into_inner()));
        let free = if retry.waiting() {
            space.free(now)
        } else {
            None
        };
        if !retry.due(now, free) {
            if stopping.load(Ordering::SeqCst) && past(deadline) {
                pending = Some(ev);
                break;
            }
            std::thread::sleep(TICK);
            pending = Some(ev);
            continue;
        }
        let store = ctx.store.read().unwrap_or_else(|p| p.into_inner()).clone();
        let result = match &store {
            Some(s) => commit(s, &mut ev),
            // Not open (yet): the store part retries opening it; look again shortly.
            None => Err("the outbox is not open".to_string()),
        };
        match result {
            Ok(()) => {
                if last_error.take().is_some() {
                    tracing::info!("outbox takes events again");
                }
                retry.succeeded();
                if let Some(d) = ctx
                    .delivery
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .as_ref()
                {
                    d.wake();
                }
                if let Some(h) = ctx.http.read().unwrap_or_else(|p| p.into_inner()).as_ref() {
                    h.wake();
                }
            }
            Err(e) => {
                if last_error.as_deref() != Some(e.as_str()) {
                    tracing::error!(
                        event = %ev.id,
                        error = %e,
                        waiting = ctx.sink.len() + 1,
                        "outbox cannot take events yet; they wait in memory and are retried"
                    );
                    last_error = Some(e);
                }
                if store.is_some() {
                    retry.failed(now, space.free(now));
                } else {
                    std::thread::sleep(TICK);
                }
                pending = Some(ev);
                if stopping.load(Ordering::SeqCst) && past(deadline) {
                    break;
                }
            }
        }
    }
    // Shutdown deadline passed (or the queue closed with nothing left): what still
    // waits is lost; count it where the operator sees it.
    let left: Vec<Event> = pending.into_iter().chain(ctx.sink.drain()).collect();
    if !left.is_empty() {
        tracing::error!(
            lost = left.len(),
            "shutdown: the outbox did not take these decided events in time; they are lost and counted"
        );
        let losses: &Losses = ctx.sink.losses();
        for ev in &left {
            losses.record(ev, LossReason::Shutdown);
        }
    }
    ctx.heartbeat.retire();
}

/// Commit one event, then announce it; the reason when the outbox refuses it.
fn commit(store: &Store, ev: &mut Event) -> Result<(), String> {
    let mut result = store.commit(ev);
    if let Err(UplinkError::Media { .. }) = &result
        && strip_missing_media(ev)
    {
        // An evidence file vanished (or never got its bytes) between the evidence job
        // and the commit: it will not come back, so waiting would only hold every
        // event behind this one. The event goes in without it, marked as such.
        result = store.commit(ev);
    }
    match result {
        Ok(()) => {
            tracing::info!(
                event = %ev.id,
                kind = %kind_str(ev.kind),
                phase = %phase_str(ev.phase),
                seq = ev.seq,
                camera = %ev.camera.id,
                media = ev.media.len(),
                description = %ev.description.en,
                "event"
            );
            Ok(())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Remove the media items whose file is gone or shorter than declared; true when one
/// was removed (the event is then marked `evidence_dropped`).
fn strip_missing_media(ev: &mut Event) -> bool {
    let before = ev.media.len();
    ev.media.retain(|m| {
        m.local_path
            .as_ref()
            .and_then(|p| std::fs::metadata(p).ok())
            .is_some_and(|md| md.len() == m.bytes)
    });
    let removed = before - ev.media.len();
    if removed > 0 {
        tracing::warn!(event = %ev.id, removed, "evidence files missing at commit; the event goes without them");
        ev.evidence_dropped = true;
    }
    removed > 0
}
