//! The delivery worker: drains the outbox to the broker over MQTT (QoS 1), in outbox
//! order (so per-camera order holds), marking rows acknowledged only on PUBACK.
//!
//! One MQTT client and event loop per connection attempt: when a connection fails, the
//! whole client (with anything it had queued) is dropped and the next session starts
//! again from the database. That keeps the mapping from packet ids to outbox rows exact
//! (a reused client could silently discard its queue when the broker lost our session)
//! at the cost of re-sending what was in flight, which the at-least-once contract
//! allows: a duplicate always has the same (event id, phase, seq) or chunk index.

use super::health::{self, Health, UplinkHealth};
use super::outbox::{Outbox, WorkItem};
use super::signing::DeviceKey;
use super::{Hooks, UplinkConfig, UplinkError};
use crate::rules::event::{Event, MediaLoss, MissingMedia};
use rumqttc::{
    AsyncClient, ConnectReturnCode, Event as MqttEvent, Incoming, LastWill, MqttOptions, Outgoing,
    QoS,
};
use serde_json::json;
use std::collections::{HashMap, VecDeque};
use std::io::{Read, Seek, SeekFrom};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// State shared between the worker thread and the [`super::Uplink`] handle.
pub(crate) struct Shared {
    pub status: Mutex<UplinkHealth>,
    pub wake: tokio::sync::Notify,
    pub stop: AtomicBool,
    pub started: Instant,
    /// Why the last [`super::Uplink::enqueue`] failed (e.g. a full disk); cleared by
    /// the next one that succeeds.
    pub disk_error: Mutex<Option<String>>,
    /// Command answers the daemon completes later (`reload-config`), published on
    /// `…/cmd/response` once connected; at most [`MAX_PENDING_RESPONSES`].
    pub responses: Mutex<VecDeque<Vec<u8>>>,
}

/// Command answers kept while the broker is away.
pub(crate) const MAX_PENDING_RESPONSES: usize = 16;

impl Shared {
    pub(crate) fn new() -> Self {
        Shared {
            status: Mutex::new(Default::default()),
            wake: tokio::sync::Notify::new(),
            stop: Default::default(),
            started: Instant::now(),
            disk_error: Mutex::new(None),
            responses: Mutex::new(VecDeque::new()),
        }
    }
}

/// The delivery thread is making progress (watchdog).
fn beat(ctx: &Ctx) {
    if let Some(h) = &ctx.heartbeat {
        h.bump();
    }
}

/// Everything a worker needs.
pub(crate) struct Ctx {
    /// Bumped on every turn of the worker's loops; retired when it stops.
    pub heartbeat: Option<crate::notify::Heartbeat>,
    pub cfg: UplinkConfig,
    pub device_id: String,
    pub prefix: String,
    pub outbox_path: std::path::PathBuf,
    pub key: Arc<DeviceKey>,
    pub hooks: Hooks,
    pub shared: Arc<Shared>,
}

/// What one publish carries, so its PUBACK can be booked.
#[derive(Debug, Clone)]
enum Unit {
    Event {
        row: i64,
        body: String,
        evidence_dropped: bool,
        /// Media of this phase dropped before delivery: (name, reason, detail).
        dropped: Vec<(String, MediaLoss, Option<String>)>,
    },
    Manifest {
        row: i64,
        event_id: String,
        name: String,
        content_type: String,
        bytes: u64,
        sha256: String,
        dropped: Option<MediaLoss>,
    },
    Chunk {
        row: i64,
        event_id: String,
        name: String,
        path: std::path::PathBuf,
        index: u64,
        total: u64,
        bytes: u64,
    },
    /// Status, health, command answers: nothing to book.
    Other,
}

enum End {
    Stopped,
    Failed { error: String, was_connected: bool },
}

/// Most event JSON units queued at once (a few kB each): memory stays small whatever
/// the backlog, and the next ones are loaded as these go.
const MAX_QUEUED_EVENTS: usize = 64;
/// Media units of more rows are loaded once fewer than this wait (a few hundred bytes
/// each), so the media of a backlog is never all in memory.
const MEDIA_LOW_WATER: usize = 256;
/// While media streams and nothing woke the worker, new rows are looked for this often.
const SCAN_EVERY: Duration = Duration::from_millis(100);

fn chunk_size(cfg: &UplinkConfig) -> u64 {
    (cfg.chunk_kib.clamp(1, 64 * 1024) as u64) * 1024
}

/// Run the worker until `shared.stop` is set. Never returns an error: every failure is
/// logged, shown in health and retried with capped exponential backoff.
pub(crate) fn run(ctx: Ctx) {
    let heartbeat = ctx.heartbeat.clone();
    run_until_stopped(ctx);
    // Stopped on purpose: no longer watched.
    if let Some(h) = heartbeat {
        h.retire();
    }
}

fn run_until_stopped(ctx: Ctx) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "uplink: cannot start its runtime; delivery is off");
            return;
        }
    };
    rt.block_on(async move {
        let outbox = loop {
            match Outbox::open(&ctx.outbox_path, ctx.cfg.disk_cap_mb.saturating_mul(1 << 20)) {
                Ok(mut o) => {
                    o.yield_to_commits();
                    o.set_keep_delivered_media(ctx.cfg.keep_delivered_media);
                    o.set_history(ctx.cfg.history_days, ctx.cfg.history_rows);
                    break o;
                }
                Err(e) => {
                    set_error(&ctx, format!("outbox: {e}"));
                    // Short: the daemon opened the outbox already, so this is a
                    // passing state (a full disk being freed).
                    if sleep_or_stop(&ctx, Duration::from_secs(1)).await {
                        return;
                    }
                }
            }
        };
        let max = Duration::from_secs(ctx.cfg.backoff_max_s.max(1));
        let mut backoff = Duration::from_secs(1);
        let mut housekeeping = Housekeeping::default();
        loop {
            if ctx.shared.stop.load(Ordering::SeqCst) {
                return;
            }
            housekeeping.run(&outbox);
            if ctx.cfg.broker.trim().is_empty() {
                // No broker configured (yet): events wait in the outbox, kept within
                // the disk cap; nothing to retry, so nothing to warn about.
                set_error(&ctx, "no broker configured (uplink.broker)".into());
                if sleep_or_stop(&ctx, Duration::from_secs(5)).await {
                    return;
                }
                continue;
            }
            match session(&ctx, &outbox, &mut housekeeping).await {
                End::Stopped => return,
                End::Failed { error, was_connected } => {
                    if was_connected {
                        backoff = Duration::from_secs(1);
                    }
                    tracing::warn!(error = %error, retry_in_s = backoff.as_secs_f64(), "uplink: broker connection failed; retrying");
                    let _ = outbox.note_error(&error);
                    set_error(&ctx, error);
                    count_failure(&ctx);
                    if sleep_or_stop(&ctx, backoff).await {
                        return;
                    }
                    backoff = (backoff * 2).min(max);
                }
            }
        }
    });
}

/// Periodic work on the outbox besides delivery: the disk cap every few seconds,
/// delivered-history pruning every minute and after every burst of deliveries.
#[derive(Default)]
struct Housekeeping {
    last_cap: Option<Instant>,
    last_prune: Option<Instant>,
}

impl Housekeeping {
    fn run(&mut self, outbox: &Outbox) {
        let due = |t: Option<Instant>, every| t.is_none_or(|t: Instant| t.elapsed() >= every);
        let cap_due = due(self.last_cap, Duration::from_secs(5));
        if cap_due {
            self.last_cap = Some(Instant::now());
            if let Err(e) = outbox.enforce_cap() {
                tracing::warn!(error = %e, "uplink: enforcing the disk cap failed");
            }
        }
        // By age once a minute; by count as soon as enough phases were delivered
        // since the last prune (or, with the cap, when the history is over its
        // limit), so a burst of deliveries cannot grow the file far, however fast.
        let over = || {
            outbox
                .history_rows()
                .is_ok_and(|n| n > outbox.history_limit())
        };
        if due(self.last_prune, Duration::from_secs(60))
            || outbox.prune_due()
            || (cap_due && over())
        {
            self.last_prune = Some(Instant::now());
            if let Err(e) = outbox.prune_history() {
                tracing::warn!(error = %e, "uplink: pruning delivered history failed");
            }
        }
    }
}

fn set_error(ctx: &Ctx, error: String) {
    let mut s = ctx.shared.status.lock().unwrap_or_else(|p| p.into_inner());
    s.connected = false;
    s.last_error = Some(error);
}

fn count_failure(ctx: &Ctx) {
    let mut s = ctx.shared.status.lock().unwrap_or_else(|p| p.into_inner());
    s.failed_connects += 1;
}

/// Sleep, waking early on stop; true when stopping.
async fn sleep_or_stop(ctx: &Ctx, d: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + d;
    while tokio::time::Instant::now() < deadline {
        beat(ctx);
        if ctx.shared.stop.load(Ordering::SeqCst) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100).min(deadline - tokio::time::Instant::now()))
            .await;
    }
    ctx.shared.stop.load(Ordering::SeqCst)
}

fn status_payload(ctx: &Ctx, online: bool, reason: &str) -> Vec<u8> {
    let mut v = json!({
        "state": if online { "online" } else { "offline" },
        "device_id": ctx.device_id,
        "firmware_version": crate::FIRMWARE_VERSION,
        "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    });
    if online {
        v["public_key"] = json!(ctx.key.public_key_b64());
        v["key_alg"] = json!("ed25519");
        v["key_id"] = json!(ctx.key.key_id());
    } else {
        v["reason"] = json!(reason);
    }
    serde_json::to_vec(&v).unwrap_or_default()
}

/// MQTT options from the config. Errors name the setting to fix.
pub(crate) fn mqtt_options(ctx: &Ctx) -> Result<MqttOptions, UplinkError> {
    let cfg = &ctx.cfg;
    let addr = cfg
        .broker_addr()
        .map_err(UplinkError::Config)?
        .ok_or_else(|| UplinkError::Config("uplink.broker is not set".into()))?;
    let client_id = cfg
        .client_id
        .clone()
        .unwrap_or_else(|| ctx.device_id.clone());
    let mut o = MqttOptions::new(client_id, addr.host.clone(), addr.port);
    o.set_keep_alive(Duration::from_secs(cfg.keepalive_s.max(5) as u64));
    o.set_clean_session(false);
    o.set_inflight(cfg.inflight.max(1));
    let max_packet = (chunk_size(cfg) as usize + (64 << 10)).max(8 << 20);
    o.set_max_packet_size(1 << 20, max_packet);
    if let Some(user) = &cfg.username {
        o.set_credentials(user.clone(), cfg.password.clone().unwrap_or_default());
    }
    o.set_last_will(LastWill::new(
        format!("{}/status", ctx.prefix),
        status_payload(ctx, false, "connection lost (last will)"),
        QoS::AtLeastOnce,
        true,
    ));
    if addr.tls {
        let tls = cfg
            .tls
            .as_ref()
            .ok_or_else(|| UplinkError::Config("mqtts:// needs uplink.tls.ca_file".into()))?;
        o.set_transport(rumqttc::Transport::tls_with_config(
            rumqttc::TlsConfiguration::Rustls(Arc::new(super::tls::client_config(tls)?)),
        ));
    }
    Ok(o)
}

/// A readable reason for a connection failure; never contains the password.
fn describe(e: &rumqttc::ConnectionError) -> String {
    match e {
        rumqttc::ConnectionError::ConnectionRefused(ConnectReturnCode::BadUserNamePassword) => {
            "broker refused the connection: bad username or password (check uplink.username and uplink.password)".into()
        }
        rumqttc::ConnectionError::ConnectionRefused(ConnectReturnCode::NotAuthorized) => {
            "broker refused the connection: not authorised (check credentials or client certificate)".into()
        }
        rumqttc::ConnectionError::Tls(t) => {
            format!("TLS handshake with the broker failed: {t} (check uplink.tls.ca_file, client_cert and client_key)")
        }
        other => format!("broker connection: {other}"),
    }
}

struct Session<'a> {
    ctx: &'a Ctx,
    outbox: &'a Outbox,
    client: AsyncClient,
    connected: bool,
    /// Event JSON waiting to go: sent before any media so that a long clip does not
    /// hold back the next events (their order among themselves is kept).
    events_q: VecDeque<Unit>,
    /// Manifests and chunks waiting to go, in outbox order.
    media_q: VecDeque<Unit>,
    last_scan: Instant,
    /// An enqueue woke the worker: look for new event JSON now, not at the next scan.
    rescan: bool,
    unmapped: VecDeque<Unit>,
    by_pkid: HashMap<u16, Unit>,
    /// Last row whose event JSON was queued (or found acknowledged). Event JSON is
    /// loaded on its own, ahead of the media of earlier rows, however much of that
    /// waits: a backlog of clips never holds back a new event.
    ev_cursor: i64,
    /// Last row whose media was queued; never beyond `ev_cursor`, so an event's JSON
    /// goes before its manifests.
    media_cursor: i64,
    chunk: u64,
    last_health: Option<Instant>,
    last_health_check: Option<Instant>,
    health_key: String,
}

async fn session(ctx: &Ctx, outbox: &Outbox, housekeeping: &mut Housekeeping) -> End {
    let opts = match mqtt_options(ctx) {
        Ok(o) => o,
        Err(e) => {
            // Not configured (or a TLS file is unreadable): keep the outbox within its
            // cap and look again later; the config may be fixed by a reload.
            let _ = outbox.enforce_cap();
            return End::Failed {
                error: e.to_string(),
                was_connected: false,
            };
        }
    };
    let window = ctx.cfg.inflight.max(1) as usize;
    let (client, mut eventloop) = AsyncClient::new(opts, window + 8);
    let (tx, mut rx) = tokio::sync::mpsc::channel(32);
    let poller = tokio::spawn(async move {
        loop {
            let r = eventloop.poll().await;
            let failed = r.is_err();
            if tx.send(r).await.is_err() || failed {
                return;
            }
        }
    });
    struct AbortOnDrop(tokio::task::JoinHandle<()>);
    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let _poller = AbortOnDrop(poller);
    let mut s = Session {
        ctx,
        outbox,
        client,
        connected: false,
        events_q: VecDeque::new(),
        media_q: VecDeque::new(),
        last_scan: Instant::now(),
        rescan: true,
        unmapped: VecDeque::new(),
        by_pkid: HashMap::new(),
        ev_cursor: 0,
        media_cursor: 0,
        chunk: chunk_size(&ctx.cfg),
        last_health: None,
        last_health_check: None,
        health_key: String::new(),
    };
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                None => return End::Failed { error: "MQTT event loop ended".into(), was_connected: s.connected },
                Some(Err(e)) => return End::Failed { error: describe(&e), was_connected: s.connected },
                Some(Ok(ev)) => {
                    // Book this answer and any already waiting in one commit.
                    let _ = outbox.begin_batch();
                    let mut next = Some(ev);
                    let mut failure = None;
                    let mut n = 0;
                    while let Some(ev) = next.take() {
                        if let Err(e) = s.handle(ev) {
                            tracing::warn!(error = %e, "uplink: booking a broker answer failed");
                        }
                        n += 1;
                        if n < 256 {
                            match rx.try_recv() {
                                Ok(Ok(ev)) => next = Some(ev),
                                Ok(Err(e)) => failure = Some(e),
                                Err(_) => {}
                            }
                        }
                    }
                    if let Err(e) = outbox.end_batch() {
                        tracing::warn!(error = %e, "uplink: committing PUBACKs failed");
                    }
                    if let Some(e) = failure {
                        return End::Failed { error: describe(&e), was_connected: s.connected };
                    }
                }
            },
            _ = tick.tick() => {}
            _ = ctx.shared.wake.notified() => s.rescan = true,
        }
        beat(ctx);
        if ctx.shared.stop.load(Ordering::SeqCst) {
            s.goodbye(&mut rx).await;
            return End::Stopped;
        }
        housekeeping.run(outbox);
        if s.connected {
            if let Err(e) = s.fill() {
                tracing::warn!(error = %e, "uplink: reading the outbox failed");
                let _ = outbox.note_error(&e.to_string());
            }
            s.maybe_health();
            s.send_responses();
        }
    }
}

impl Session<'_> {
    fn handle(&mut self, ev: MqttEvent) -> Result<(), UplinkError> {
        match ev {
            MqttEvent::Incoming(Incoming::ConnAck(_)) => {
                self.connected = true;
                self.last_health_check = None;
                {
                    let mut st = self
                        .ctx
                        .shared
                        .status
                        .lock()
                        .unwrap_or_else(|p| p.into_inner());
                    st.connected = true;
                    st.last_error = None;
                }
                tracing::info!(prefix = %self.ctx.prefix, "uplink: connected to the broker");
                let payload = status_payload(self.ctx, true, "");
                self.publish_other(format!("{}/status", self.ctx.prefix), payload, true);
                let _ = self
                    .client
                    .try_subscribe(format!("{}/cmd", self.ctx.prefix), QoS::AtLeastOnce);
                self.last_health = None;
            }
            MqttEvent::Outgoing(Outgoing::Publish(pkid)) if !self.by_pkid.contains_key(&pkid) => {
                // A new packet id is the next publish we queued (the client sends
                // requests in order); a known one is a retransmission.
                if let Some(u) = self.unmapped.pop_front() {
                    match &u {
                        Unit::Event { row, .. } => self.outbox.mark_event_published(*row)?,
                        Unit::Manifest { row, .. } => self.outbox.mark_media_published(*row)?,
                        _ => {}
                    }
                    self.by_pkid.insert(pkid, u);
                }
            }
            MqttEvent::Incoming(Incoming::PubAck(ack)) => {
                if let Some(u) = self.by_pkid.remove(&ack.pkid) {
                    match u {
                        Unit::Event { row, .. } => {
                            self.outbox.ack_event(row)?;
                            let mut st = self
                                .ctx
                                .shared
                                .status
                                .lock()
                                .unwrap_or_else(|p| p.into_inner());
                            st.delivered += 1;
                        }
                        Unit::Manifest { row, .. } => self.outbox.ack_manifest(row)?,
                        Unit::Chunk {
                            row, index, total, ..
                        } => self.outbox.ack_chunk(row, index, total)?,
                        Unit::Other => {}
                    }
                }
            }
            MqttEvent::Incoming(Incoming::Publish(p))
                if p.topic == format!("{}/cmd", self.ctx.prefix) =>
            {
                self.command(&p.payload);
            }
            _ => {}
        }
        Ok(())
    }

    /// Publish the command answers the daemon completed since the last turn.
    fn send_responses(&mut self) {
        let topic = format!("{}/cmd/response", self.ctx.prefix);
        loop {
            let next = self
                .ctx
                .shared
                .responses
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop_front();
            let Some(payload) = next else { return };
            self.publish_other(topic.clone(), payload, false);
        }
    }

    fn publish_other(&mut self, topic: String, payload: Vec<u8>, retain: bool) {
        if self
            .client
            .try_publish(topic, QoS::AtLeastOnce, retain, payload)
            .is_ok()
        {
            self.unmapped.push_back(Unit::Other);
        }
    }

    /// Queue units up to the in-flight window.
    fn fill(&mut self) -> Result<(), UplinkError> {
        let window = self.ctx.cfg.inflight.max(1) as usize;
        while self.unmapped.len() + self.by_pkid.len() < window {
            self.refill()?;
            let Some(unit) = self.events_q.front().or(self.media_q.front()).cloned() else {
                return Ok(());
            };
            let (topic, payload) = match self.render(&unit) {
                Ok(x) => x,
                Err(e) => {
                    self.pop_unit();
                    if let Unit::Chunk { row, .. } | Unit::Manifest { row, .. } = unit {
                        tracing::warn!(error = %e, "uplink: media unreadable; marking it dropped");
                        self.outbox.media_unreadable(row, &e)?;
                        // Its remaining chunks are useless; the dropped manifest follows
                        // on the next pass over the outbox.
                        self.media_q
                            .retain(|u| !matches!(u, Unit::Chunk { row: r, .. } if *r == row));
                    }
                    continue;
                }
            };
            match self
                .client
                .try_publish(topic, QoS::AtLeastOnce, false, payload)
            {
                Ok(()) => {
                    self.pop_unit();
                    self.unmapped.push_back(unit);
                }
                Err(_) => return Ok(()),
            }
        }
        Ok(())
    }

    /// Drop the unit `fill` just took (event JSON first, then media).
    fn pop_unit(&mut self) {
        if self.events_q.pop_front().is_none() {
            self.media_q.pop_front();
        }
    }

    /// Load more units when they are due: new event JSON at once after an enqueue
    /// (or when nothing else waits), else every [`SCAN_EVERY`]; media of the next rows
    /// when few media units are left.
    fn refill(&mut self) -> Result<(), UplinkError> {
        let idle = self.events_q.is_empty() && self.media_q.is_empty();
        let scan = self.rescan || idle || self.last_scan.elapsed() >= SCAN_EVERY;
        if scan && self.events_q.len() < MAX_QUEUED_EVENTS {
            self.rescan = false;
            self.last_scan = Instant::now();
            let batch = self.outbox.next_batch(self.ev_cursor, 8)?;
            if batch.is_empty()
                && idle
                && self.ev_cursor > 0
                && self.media_cursor == self.ev_cursor
                && self.unmapped.is_empty()
                && self.by_pkid.is_empty()
            {
                // Everything we sent is booked and nothing is new: look again from
                // the start for rows that changed meanwhile (media dropped after the
                // event went out, whose dropped manifest must go again).
                self.ev_cursor = 0;
                self.media_cursor = 0;
                self.rescan = true;
                return self.refill();
            }
            for item in batch {
                self.ev_cursor = item.row;
                self.event_unit_of(&item);
            }
        }
        if self.media_q.len() < MEDIA_LOW_WATER && self.media_cursor < self.ev_cursor {
            let batch = self.outbox.next_batch(self.media_cursor, 8)?;
            let mut caught_up = batch.len() < 8;
            for item in batch {
                if item.row > self.ev_cursor {
                    caught_up = true;
                    break;
                }
                self.media_cursor = item.row;
                self.media_units_of(item)?;
            }
            if caught_up {
                // No undelivered row is left up to the event cursor.
                self.media_cursor = self.ev_cursor;
            }
        }
        Ok(())
    }

    fn event_unit_of(&mut self, item: &WorkItem) {
        if item.event_acked {
            return;
        }
        self.events_q.push_back(Unit::Event {
            row: item.row,
            body: item.body.clone(),
            evidence_dropped: item.evidence_dropped,
            dropped: item
                .media
                .iter()
                .filter(|m| m.dropped)
                .map(|m| {
                    (
                        m.name.clone(),
                        m.drop_reason.unwrap_or(MediaLoss::WriteFailed),
                        m.last_error.clone(),
                    )
                })
                .collect(),
        });
    }

    fn media_units_of(&mut self, item: WorkItem) -> Result<(), UplinkError> {
        let queued = self.media_q.len();
        let row = item.row;
        for m in item.media {
            if m.acknowledged {
                continue;
            }
            if !m.manifest_acked {
                self.media_q.push_back(Unit::Manifest {
                    row: m.row,
                    event_id: item.event_id.clone(),
                    name: m.name.clone(),
                    content_type: m.content_type.clone(),
                    bytes: m.bytes,
                    sha256: m.sha256.clone(),
                    dropped: m
                        .dropped
                        .then(|| m.drop_reason.unwrap_or(MediaLoss::WriteFailed)),
                });
            }
            if m.dropped {
                continue;
            }
            let total = m.bytes.div_ceil(self.chunk);
            for index in m.chunks_acked..total {
                self.media_q.push_back(Unit::Chunk {
                    row: m.row,
                    event_id: item.event_id.clone(),
                    name: m.name.clone(),
                    path: m.path.clone(),
                    index,
                    total,
                    bytes: m.bytes,
                });
            }
        }
        if item.event_acked && self.media_q.len() == queued {
            // Everything of this row is acknowledged but it is not marked done (a crash
            // between the two writes): settle it now.
            self.outbox.settle(row)?;
        }
        Ok(())
    }

    fn render(&self, unit: &Unit) -> Result<(String, Vec<u8>), String> {
        let p = &self.ctx.prefix;
        match unit {
            Unit::Event {
                body,
                evidence_dropped,
                dropped,
                ..
            } => {
                let mut ev: Event = serde_json::from_str(body).map_err(|e| e.to_string())?;
                ev.evidence_dropped |= *evidence_dropped;
                // Media dropped since the commit: the platform learns which and why
                // (before signing, so the signature covers it).
                for (name, reason, detail) in dropped {
                    if ev.media_missing.iter().any(|m| m.name == *name) {
                        continue;
                    }
                    if let Some(m) = ev.media.iter().find(|m| m.name == *name) {
                        ev.media_missing.push(MissingMedia {
                            name: name.clone(),
                            kind: m.kind,
                            reason: *reason,
                            detail: detail.clone(),
                        });
                        ev.evidence_dropped = true;
                    }
                }
                self.ctx.key.sign(&mut ev).map_err(|e| e.to_string())?;
                Ok((
                    format!("{p}/events"),
                    serde_json::to_vec(&ev).map_err(|e| e.to_string())?,
                ))
            }
            Unit::Manifest {
                event_id,
                name,
                content_type,
                bytes,
                sha256,
                dropped,
                ..
            } => {
                let mut m = json!({
                    "event_id": event_id,
                    "name": name,
                    "content_type": content_type,
                    "bytes": bytes,
                    "sha256": sha256,
                    "chunk_size": self.chunk,
                    "chunks": if dropped.is_some() { 0 } else { bytes.div_ceil(self.chunk) },
                    "evidence_dropped": dropped.is_some(),
                });
                if let Some(r) = dropped {
                    m["dropped_reason"] = json!(r.as_str());
                }
                Ok((
                    format!("{p}/events/{event_id}/media/{name}"),
                    serde_json::to_vec(&m).map_err(|e| e.to_string())?,
                ))
            }
            Unit::Chunk {
                event_id,
                name,
                path,
                index,
                bytes,
                ..
            } => {
                let start = index * self.chunk;
                let len = self.chunk.min(bytes.saturating_sub(start)) as usize;
                let mut f =
                    std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
                f.seek(SeekFrom::Start(start)).map_err(|e| e.to_string())?;
                let mut buf = vec![0u8; len];
                f.read_exact(&mut buf)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                Ok((format!("{p}/events/{event_id}/media/{name}/{index}"), buf))
            }
            Unit::Other => Err("nothing to render".into()),
        }
    }

    fn maybe_health(&mut self) {
        // Building a report costs a few queries and /proc reads: look at most once a
        // second, not on every PUBACK.
        if self
            .last_health_check
            .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
        {
            return;
        }
        self.last_health_check = Some(Instant::now());
        let every = Duration::from_secs(self.ctx.cfg.health_interval_s.max(1));
        let h = build_health(self.ctx, self.outbox);
        // "On change": camera states, connection and drop counts, not the clock.
        let key = format!(
            "{:?}|{}|{:?}|{:?}",
            h.cameras
                .iter()
                .map(|c| (&c.id, &c.status))
                .collect::<Vec<_>>(),
            h.uplink.connected,
            h.dropped,
            h.disk.error
        );
        let due = self.last_health.is_none_or(|t| t.elapsed() >= every) || key != self.health_key;
        if due {
            self.health_key = key;
            self.last_health = Some(Instant::now());
            if let Ok(payload) = serde_json::to_vec(&h) {
                self.publish_other(format!("{}/health", self.ctx.prefix), payload, false);
            }
        }
    }

    fn command(&mut self, payload: &[u8]) {
        let p = self.ctx.prefix.clone();
        let req: serde_json::Value = serde_json::from_slice(payload).unwrap_or_default();
        let id = req.get("id").cloned().unwrap_or(serde_json::Value::Null);
        let cmd = req
            .get("cmd")
            .and_then(|c| c.as_str())
            .unwrap_or_default()
            .to_string();
        tracing::info!(cmd = %cmd, "uplink: command received");
        let mut resp = json!({ "id": id, "cmd": cmd });
        match cmd.as_str() {
            "snapshot" => {
                let camera = req
                    .get("camera")
                    .and_then(|c| c.as_str())
                    .unwrap_or_default();
                let result = match &self.ctx.hooks.snapshot {
                    Some(f) => f(camera),
                    None => Err("snapshot is not available in this process".into()),
                };
                match result {
                    Ok(snap) => {
                        let topic = format!("{p}/snapshots/{camera}");
                        resp["ok"] = json!(true);
                        resp["topic"] = json!(topic);
                        resp["content_type"] = json!(snap.content_type);
                        resp["bytes"] = json!(snap.bytes.len());
                        resp["sha256"] = json!(hex::encode(
                            <sha2::Sha256 as sha2::Digest>::digest(&snap.bytes)
                        ));
                        self.publish_other(topic, snap.bytes, false);
                    }
                    Err(e) => {
                        resp["ok"] = json!(false);
                        resp["error"] = json!(e);
                    }
                }
            }
            "reload-config" => {
                let result = match &self.ctx.hooks.reload_config {
                    Some(f) => f(id),
                    None => Err("reload-config is not available in this process".into()),
                };
                match result {
                    // The daemon answers once the reload is done (Delivery::respond),
                    // with what it applied.
                    Ok(()) => return,
                    Err(e) => {
                        resp["ok"] = json!(false);
                        resp["error"] = json!(e);
                    }
                }
            }
            other => {
                resp["ok"] = json!(false);
                resp["error"] = json!(format!(
                    "unknown command {other:?}; known: snapshot, reload-config"
                ));
            }
        }
        let bytes = serde_json::to_vec(&resp).unwrap_or_default();
        self.publish_other(format!("{p}/cmd/response"), bytes, false);
    }

    /// Clean shutdown: a retained `offline` status (the Last Will covers crashes),
    /// then DISCONNECT, waiting briefly for both to leave.
    async fn goodbye(
        &mut self,
        rx: &mut tokio::sync::mpsc::Receiver<Result<MqttEvent, rumqttc::ConnectionError>>,
    ) {
        if !self.connected {
            return;
        }
        let payload = status_payload(self.ctx, false, "shutdown");
        // Through the same bookkeeping as every publish, so packet ids stay matched.
        self.publish_other(format!("{}/status", self.ctx.prefix), payload, true);
        let _ = self.client.try_disconnect();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while let Ok(Some(Ok(ev))) = tokio::time::timeout_at(deadline, rx.recv()).await {
            if matches!(ev, MqttEvent::Outgoing(Outgoing::Disconnect)) {
                break;
            }
            let _ = self.handle(ev);
        }
    }
}

/// A full health report: the daemon's part from the provider, the rest from here.
pub(crate) fn build_health(ctx: &Ctx, outbox: &Outbox) -> Health {
    let mut h = Health {
        device_id: ctx.device_id.clone(),
        firmware_version: crate::FIRMWARE_VERSION.into(),
        uptime_s: ctx.shared.started.elapsed().as_secs_f64(),
        time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        ..Default::default()
    };
    fill_local_health(&mut h, outbox, &ctx.shared);
    if let Some(p) = &ctx.hooks.health {
        p(&mut h);
    }
    h
}

pub(crate) fn fill_local_health(h: &mut Health, outbox: &Outbox, shared: &Shared) {
    h.uplink = shared
        .status
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    h.outbox = outbox.backlog().unwrap_or_default();
    h.dropped = outbox.counters().unwrap_or_default();
    h.disk.outbox_bytes = outbox.usage_bytes().unwrap_or(0);
    h.disk.cap_bytes = outbox.cap_bytes();
    h.disk.history_rows = outbox.history_rows().unwrap_or(0);
    h.disk.history_pruned = outbox.history_pruned().unwrap_or(0);
    h.disk.db_file_bytes = outbox.file_bytes();
    h.disk.error = shared
        .disk_error
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    if let Some((free, total)) = outbox.path().parent().and_then(health::fs_space) {
        h.disk.fs_free_bytes = free;
        h.disk.fs_total_bytes = total;
    }
    h.memory = health::memory();
    h.clock = Some(health::ClockHealth::now());
    h.cpu_temp_c = health::cpu_temperature();
    h.firmware_slot = health::firmware_slot();
}
