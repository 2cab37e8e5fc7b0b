//! The HTTP(S) push sink (`[uplink.http]`): drains the outbox rows owed to it, in
//! outbox order, on its own thread, one request at a time (so memory is one media
//! file at most, and the platform sees events in the order the box produced them).
//!
//! Per row: with `media_order = "upload_first"` every media file is uploaded (multipart
//! form-data, or PUT to `media_put_template`), the id the platform answers is recorded
//! on the media row, then the signed event JSON naming those ids (`media[].remote_id`)
//! is POSTed; `event_first` sends the JSON first. Each step is booked in the outbox as
//! it succeeds, so a kill resumes at the step that did not finish.
//!
//! Answers: 2xx is success; 408, 429, 5xx and network errors are retried with capped
//! exponential backoff, holding the row (outbox order); any other 4xx is a permanent
//! refusal: recorded on the row with its status and body, counted, never retried.
//! See `docs/uplink.md` for headers, signature and answer shapes.

use super::config::{HttpConfig, MediaOrder};
use super::health::HttpSinkHealth;
use super::outbox::{MediaItem, Outbox, WorkItem};
use super::signing::DeviceKey;
use super::{UplinkError, tls};
use crate::rules::event::{Event, MediaLoss, MissingMedia};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Header names of the contract (docs/uplink.md).
pub const H_IDEMPOTENCY: &str = "Idempotency-Key";
pub const H_SIGNATURE: &str = "X-Streetwatch-Signature";
pub const H_TIMESTAMP: &str = "X-Streetwatch-Timestamp";
pub const H_EVENT_ID: &str = "X-Streetwatch-Event-Id";
pub const H_MEDIA_NAME: &str = "X-Streetwatch-Media-Name";
pub const H_SHA256: &str = "X-Streetwatch-Sha256";

/// Most of an answer's body read (a refusal keeps 2 KiB of it; a media answer is a
/// small JSON object).
const MAX_ANSWER: usize = 16 << 10;
/// Rows loaded per look at the outbox.
const BATCH: usize = 8;
/// How often an idle sink looks for new rows without being woken.
const IDLE_POLL: Duration = Duration::from_millis(500);

/// HMAC-SHA256 (RFC 2104) of `msg` under `key`.
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// The `X-Streetwatch-Signature` value for `body` sent at unix time `t`:
/// `t=<t>,v1=<hex HMAC-SHA256 of "<t>." followed by the body bytes>`.
pub fn signature_header(secret: &str, t: i64, body: &[u8]) -> String {
    let mut msg = format!("{t}.").into_bytes();
    msg.extend_from_slice(body);
    format!(
        "t={t},v1={}",
        hex::encode(hmac_sha256(secret.as_bytes(), &msg))
    )
}

/// State shared between the sink's thread and its handle.
struct Shared {
    status: Arc<Mutex<HttpSinkHealth>>,
    stop: AtomicBool,
    woken: Mutex<bool>,
    wake: Condvar,
}

/// Handle on the running sink.
pub(crate) struct HttpSink {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HttpSink {
    /// Start the sink's thread. Nothing it finds wrong (a TLS file, the server) stops
    /// it from starting: it shows in its health and is retried.
    pub(crate) fn start(
        cfg: HttpConfig,
        outbox: OutboxSettings,
        key: Arc<DeviceKey>,
        liveness: Option<&crate::notify::Liveness>,
    ) -> Result<HttpSink, UplinkError> {
        let shared = Arc::new(Shared {
            status: Arc::new(Mutex::new(HttpSinkHealth::default())),
            stop: AtomicBool::new(false),
            woken: Mutex::new(false),
            wake: Condvar::new(),
        });
        let heartbeat = liveness.map(|l| l.register("uplink-http"));
        let spare = heartbeat.clone();
        let ctx = Ctx {
            cfg,
            outbox,
            key,
            shared: shared.clone(),
            heartbeat,
        };
        let thread = std::thread::Builder::new()
            .name("uplink-http".into())
            .spawn(move || run(ctx))
            .map_err(|e| {
                if let Some(h) = spare {
                    h.retire();
                }
                UplinkError::Io {
                    what: "spawn the HTTP sink thread".into(),
                    source: e,
                }
            })?;
        Ok(HttpSink {
            shared,
            thread: Some(thread),
        })
    }

    /// New rows were committed.
    pub(crate) fn wake(&self) {
        *self.shared.woken.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.shared.wake.notify_one();
    }

    pub(crate) fn status(&self) -> HttpSinkHealth {
        self.shared
            .status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Where the sink keeps its status, for the MQTT worker's published health.
    pub(crate) fn status_handle(&self) -> Arc<Mutex<HttpSinkHealth>> {
        self.shared.status.clone()
    }

    /// Stop: the request in flight is abandoned (its row is sent again later, with
    /// the same idempotency key); waits up to 5 s for the thread.
    pub(crate) fn stop(mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.wake();
        if let Some(t) = self.thread.take() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if t.is_finished() {
                let _ = t.join();
            } else {
                tracing::warn!("uplink-http: the sink thread did not stop within 5 s; leaving it");
            }
        }
    }
}

impl Drop for HttpSink {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake.notify_one();
    }
}

/// How the sink's own handle on the outbox settles rows (the same policy as the MQTT
/// worker's: whether delivered evidence is kept, how much history).
pub(crate) struct OutboxSettings {
    pub path: PathBuf,
    pub keep_delivered_media: bool,
    pub history_days: u32,
    pub history_rows: u64,
}

struct Ctx {
    cfg: HttpConfig,
    outbox: OutboxSettings,
    key: Arc<DeviceKey>,
    shared: Arc<Shared>,
    heartbeat: Option<crate::notify::Heartbeat>,
}

impl Ctx {
    fn beat(&self) {
        if let Some(h) = &self.heartbeat {
            h.bump();
        }
    }

    fn stopping(&self) -> bool {
        self.shared.stop.load(Ordering::SeqCst)
    }

    fn status(&self, f: impl FnOnce(&mut HttpSinkHealth)) {
        f(&mut self.shared.status.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Wait up to `d` (beating, waking early on stop or a commit); true when stopping.
    async fn pause(&self, d: Duration, wakeable: bool) -> bool {
        let deadline = Instant::now() + d;
        loop {
            self.beat();
            if self.stopping() {
                return true;
            }
            if wakeable {
                let mut w = self.shared.woken.lock().unwrap_or_else(|p| p.into_inner());
                if *w {
                    *w = false;
                    return false;
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            tokio::time::sleep((deadline - now).min(Duration::from_millis(50))).await;
        }
    }
}

/// How one request ended.
enum Answer {
    /// 2xx, with the start of the body.
    Ok(u16, String),
    /// Worth retrying: network error, timeout, 408, 429, 5xx.
    Retry(String),
    /// A 4xx other than 408/429: the platform will not take this, ever.
    Refused(u16, String),
}

fn run(ctx: Ctx) {
    // One request at a time: the blocking pool only ever resolves one host name.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(2)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "uplink-http: cannot start its runtime; the HTTP sink is off");
            return;
        }
    };
    rt.block_on(work(&ctx));
    if let Some(h) = ctx.heartbeat {
        h.retire();
    }
}

pub(crate) fn client(cfg: &HttpConfig) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(cfg.connect_timeout_s.max(1)))
        .timeout(Duration::from_secs(cfg.timeout_s.max(1)))
        // A redirect could carry the signature and the token to another host.
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(1)
        .user_agent(concat!("streetwatch/", env!("CARGO_PKG_VERSION")));
    if let Some(t) = &cfg.tls {
        let c = tls::client_config(t).map_err(|e| e.to_string())?;
        b = b.use_preconfigured_tls(c);
    }
    b.build().map_err(|e| format!("HTTP client: {e}"))
}

async fn work(ctx: &Ctx) {
    let outbox = loop {
        match Outbox::open(&ctx.outbox.path, u64::MAX) {
            Ok(mut o) => {
                o.yield_to_commits();
                o.set_keep_delivered_media(ctx.outbox.keep_delivered_media);
                o.set_history(ctx.outbox.history_days, ctx.outbox.history_rows);
                break o;
            }
            Err(e) => {
                tracing::warn!(error = %e, "uplink-http: cannot open the outbox; retrying");
                ctx.status(|s| s.last_error = Some(format!("outbox: {e}")));
                if ctx.pause(Duration::from_secs(1), false).await {
                    return;
                }
            }
        }
    };
    let max = Duration::from_secs(ctx.cfg.backoff_max_s.max(1));
    let mut backoff = Duration::from_secs(1);
    let http = loop {
        match client(&ctx.cfg) {
            Ok(c) => break c,
            Err(e) => {
                tracing::warn!(error = %e, "uplink-http: cannot build the HTTP client; retrying");
                ctx.status(|s| s.last_error = Some(e));
                if ctx.pause(backoff, false).await {
                    return;
                }
                backoff = (backoff * 2).min(max);
            }
        }
    };
    backoff = Duration::from_secs(1);
    tracing::info!(
        url = %crate::redact::redact_url(&ctx.cfg.url),
        media_order = ?ctx.cfg.media_order,
        "uplink-http: delivering"
    );
    let sink = Sink {
        ctx,
        outbox: &outbox,
        http,
    };
    let mut last_counts: Option<Instant> = None;
    loop {
        ctx.beat();
        if ctx.stopping() {
            return;
        }
        if last_counts.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
            last_counts = Some(Instant::now());
            if let Ok(c) = outbox.http_counts() {
                ctx.status(|s| s.outbox = c);
            }
        }
        let batch = match outbox.next_http(0, BATCH) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "uplink-http: reading the outbox failed");
                if ctx.pause(Duration::from_secs(1), false).await {
                    return;
                }
                continue;
            }
        };
        if batch.is_empty() {
            if ctx.pause(IDLE_POLL, true).await {
                return;
            }
            continue;
        }
        let mut failed = None;
        for item in batch {
            if ctx.stopping() {
                return;
            }
            let row = item.row;
            match sink.deliver(item).await {
                Ok(()) => backoff = Duration::from_secs(1),
                Err(_) if ctx.stopping() => return,
                Err(e) => {
                    // Shown on the Events page until the row goes through.
                    let _ = outbox.http_error(row, &e);
                    failed = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = failed {
            tracing::warn!(error = %e, retry_in_s = backoff.as_secs_f64(), "uplink-http: delivery failed; retrying");
            ctx.status(|s| {
                s.last_error = Some(e);
                s.retries += 1;
            });
            if ctx.pause(backoff, false).await {
                return;
            }
            backoff = (backoff * 2).min(max);
        }
    }
}

struct Sink<'a> {
    ctx: &'a Ctx,
    outbox: &'a Outbox,
    http: reqwest::Client,
}

/// What stops a row for now: a message for health (the row is retried).
type Retry = String;

impl Sink<'_> {
    /// Deliver one row, step by step; `Err` when it must be retried later.
    async fn deliver(&self, item: WorkItem) -> Result<(), Retry> {
        let db = |e: UplinkError| format!("outbox: {e}");
        let mut ev: Event =
            serde_json::from_str(&item.body).map_err(|e| format!("event {}: {e}", item.row))?;
        let idem = format!("{}:{}:{}", ev.id, phase_name(&ev), ev.seq);
        let order = self.ctx.cfg.media_order;
        let mut item = item;
        let mut status = 200;
        if order == MediaOrder::EventFirst && !item.http_event_sent {
            match self.post_event(&item, &mut ev, &idem).await? {
                Ok(s) => status = s,
                Err((s, body)) => return self.outbox.http_refused(item.row, s, &body).map_err(db),
            }
            self.outbox.http_event_sent(item.row).map_err(db)?;
        }
        for i in 0..item.media.len() {
            let m = &item.media[i];
            if m.dropped || m.http_done {
                continue;
            }
            match self.upload(&item, m).await? {
                Upload::Done(remote_id) => {
                    self.outbox
                        .http_media_done(m.row, remote_id.as_deref())
                        .map_err(db)?;
                    item.media[i].http_done = true;
                    item.media[i].remote_id = remote_id;
                }
                Upload::Unreadable(why) => {
                    tracing::warn!(error = %why, "uplink-http: media unreadable; marking it dropped");
                    self.outbox.media_unreadable(m.row, &why).map_err(db)?;
                    item.media[i].dropped = true;
                    item.media[i].drop_reason = Some(MediaLoss::WriteFailed);
                    item.media[i].last_error = Some(why);
                }
                Upload::Refused(status, body) => {
                    return self
                        .outbox
                        .http_refused(item.row, status, &body)
                        .map_err(db);
                }
            }
        }
        if order == MediaOrder::UploadFirst {
            match self.post_event(&item, &mut ev, &idem).await? {
                Ok(s) => status = s,
                Err((s, body)) => return self.outbox.http_refused(item.row, s, &body).map_err(db),
            }
        }
        self.outbox.http_delivered(item.row, status).map_err(db)?;
        self.ctx.status(|s| {
            s.delivered += 1;
            s.last_error = None;
        });
        Ok(())
    }

    /// POST the signed event JSON: `Ok(Ok(status))` when accepted, `Ok(Err((status,
    /// body)))` when refused.
    async fn post_event(
        &self,
        item: &WorkItem,
        ev: &mut Event,
        idem: &str,
    ) -> Result<Result<u16, (u16, String)>, Retry> {
        // The platform learns which media will not come and why, and the ids of those
        // that came, before signing (the signature covers them).
        for m in &item.media {
            if m.dropped {
                note_dropped(ev, m);
            } else if let Some(e) = ev.media.iter_mut().find(|e| e.name == m.name) {
                e.remote_id = m.remote_id.clone();
            }
        }
        self.ctx.key.sign(ev).map_err(|e| e.to_string())?;
        let body = serde_json::to_vec(&ev).map_err(|e| e.to_string())?;
        let req = self
            .http
            .post(&self.ctx.cfg.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(H_EVENT_ID, &ev.id);
        match self.send(item.row, req, body, idem).await? {
            Answer::Ok(s, _) => Ok(Ok(s)),
            Answer::Refused(s, b) => Ok(Err((s, b))),
            Answer::Retry(e) => Err(format!("event {idem}: {e}")),
        }
    }

    async fn upload(&self, item: &WorkItem, m: &MediaItem) -> Result<Upload, Retry> {
        let bytes = match std::fs::read(&m.path) {
            Ok(b) if b.len() as u64 == m.bytes => b,
            Ok(b) => {
                return Ok(Upload::Unreadable(format!(
                    "{}: {} bytes, the event says {}",
                    m.path.display(),
                    b.len(),
                    m.bytes
                )));
            }
            Err(e) => return Ok(Upload::Unreadable(format!("{}: {e}", m.path.display()))),
        };
        let idem = format!("{}:{}", item.event_id, m.name);
        let cfg = &self.ctx.cfg;
        let (req, body) = if let Some(t) = &cfg.media_put_template {
            let url = t
                .replace("{event_id}", &enc(&item.event_id))
                .replace("{name}", &enc(&m.name))
                .replace("{sha256}", &m.sha256);
            (
                self.http
                    .put(url)
                    .header(reqwest::header::CONTENT_TYPE, &m.content_type),
                bytes,
            )
        } else {
            let boundary = format!("streetwatch-{}", &m.sha256);
            let body = multipart(&boundary, item, m, &bytes);
            (
                self.http
                    .post(cfg.media_url.as_deref().unwrap_or(&cfg.url))
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        format!("multipart/form-data; boundary={boundary}"),
                    ),
                body,
            )
        };
        let req = req
            .header(H_EVENT_ID, &item.event_id)
            .header(H_MEDIA_NAME, &m.name)
            .header(H_SHA256, &m.sha256);
        match self.send(item.row, req, body, &idem).await? {
            Answer::Ok(_, answer) => Ok(Upload::Done(remote_id(&answer))),
            Answer::Refused(s, b) => Ok(Upload::Refused(s, b)),
            Answer::Retry(e) => Err(format!("media {idem}: {e}")),
        }
    }

    /// Send one request with the idempotency key and the configured auth; beats the
    /// watchdog while it waits.
    async fn send(
        &self,
        row: i64,
        req: reqwest::RequestBuilder,
        body: Vec<u8>,
        idem: &str,
    ) -> Result<Answer, Retry> {
        let cfg = &self.ctx.cfg;
        let mut req = req.header(H_IDEMPOTENCY, idem);
        if let Some(secret) = &cfg.hmac_secret {
            let t = chrono::Utc::now().timestamp();
            req = req
                .header(H_TIMESTAMP, t.to_string())
                .header(H_SIGNATURE, signature_header(secret, t, &body));
        }
        if let Some(token) = &cfg.bearer_token {
            req = req.bearer_auth(token);
        }
        self.outbox
            .http_attempt(row)
            .map_err(|e| format!("outbox: {e}"))?;
        let fut = async {
            let resp = req.body(body).send().await?;
            let status = resp.status().as_u16();
            let mut text = Vec::new();
            let mut resp = resp;
            while let Some(chunk) = resp.chunk().await? {
                let room = MAX_ANSWER.saturating_sub(text.len());
                text.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if room <= chunk.len() {
                    break;
                }
            }
            Ok::<_, reqwest::Error>((status, String::from_utf8_lossy(&text).into_owned()))
        };
        tokio::pin!(fut);
        let r = loop {
            tokio::select! {
                r = &mut fut => break r,
                _ = tokio::time::sleep(Duration::from_millis(500)) => {
                    self.ctx.beat();
                    if self.ctx.stopping() {
                        return Err("stopping".into());
                    }
                }
            }
        };
        let answer = match r {
            Err(e) => {
                self.ctx.status(|s| s.reachable = false);
                // Without the URL: a query string may hold a platform's token.
                let e = e.without_url();
                let mut text = e.to_string();
                let mut src = std::error::Error::source(&e);
                while let Some(s) = src {
                    text.push_str(&format!(": {s}"));
                    src = s.source();
                }
                Answer::Retry(text)
            }
            Ok((status, text)) => {
                self.ctx.status(|s| s.reachable = true);
                match status {
                    200..=299 => Answer::Ok(status, text),
                    408 | 429 | 500..=599 => {
                        Answer::Retry(format!("HTTP {status}: {}", short(&text)))
                    }
                    _ => {
                        let refusal = format!("HTTP {status}: {}", short(&text));
                        tracing::warn!(key = idem, refusal = %refusal, "uplink-http: the platform refused an event phase; recorded, not retried");
                        self.ctx.status(|s| s.last_refusal = Some(refusal));
                        Answer::Refused(status, text)
                    }
                }
            }
        };
        Ok(answer)
    }
}

enum Upload {
    Done(Option<String>),
    Unreadable(String),
    Refused(u16, String),
}

fn phase_name(ev: &Event) -> &'static str {
    match ev.phase {
        crate::rules::event::Phase::Started => "started",
        crate::rules::event::Phase::Updated => "updated",
        crate::rules::event::Phase::Ended => "ended",
    }
}

/// The start of an answer, on one line, for health and logs.
fn short(text: &str) -> String {
    let t: String = text.chars().take(200).collect();
    t.replace(['\r', '\n'], " ")
}

/// `{"id": "..."}` (a string or a number) from a media upload's answer.
fn remote_id(answer: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(answer).ok()?;
    match &v["id"] {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Percent-encode one path segment for `media_put_template`.
fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A media item dropped on the box: say which and why in the event.
fn note_dropped(ev: &mut Event, m: &MediaItem) {
    if ev.media_missing.iter().any(|x| x.name == m.name) {
        return;
    }
    if let Some(r) = ev.media.iter().find(|r| r.name == m.name) {
        ev.media_missing.push(MissingMedia {
            name: m.name.clone(),
            kind: r.kind,
            reason: m.drop_reason.unwrap_or(MediaLoss::WriteFailed),
            detail: m.last_error.clone(),
        });
        ev.evidence_dropped = true;
    }
}

/// The multipart/form-data body of one media upload: a `meta` JSON part (event id,
/// name, sha256, bytes, content type) and the `file` part.
fn multipart(boundary: &str, item: &WorkItem, m: &MediaItem, bytes: &[u8]) -> Vec<u8> {
    let meta = serde_json::json!({
        "event_id": item.event_id,
        "name": m.name,
        "sha256": m.sha256,
        "bytes": m.bytes,
        "content_type": m.content_type,
    });
    let mut b = Vec::with_capacity(bytes.len() + 1024);
    b.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"meta\"\r\n\
             Content-Type: application/json\r\n\r\n{meta}\r\n--{boundary}\r\n\
             Content-Disposition: form-data; name=\"file\"; filename=\"{}\"\r\n\
             Content-Type: {}\r\n\r\n",
            m.name.replace('"', ""),
            m.content_type
        )
        .as_bytes(),
    );
    b.extend_from_slice(bytes);
    b.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Case 6: a key longer than the block is hashed first.
        assert_eq!(
            hex::encode(hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn signature_header_covers_time_and_body() {
        let a = signature_header("k", 100, b"{}");
        assert!(a.starts_with("t=100,v1="), "{a}");
        assert_ne!(a, signature_header("k", 101, b"{}"));
        assert_ne!(a, signature_header("k", 100, b"{ }"));
    }

    /// CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files.
    fn pki(dir: &std::path::Path) -> (PathBuf, PathBuf, PathBuf, PathBuf, PathBuf) {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let server_key = KeyPair::generate().unwrap();
        let server = CertificateParams::new(vec!["127.0.0.1".into()])
            .unwrap()
            .signed_by(&server_key, &issuer)
            .unwrap();
        let client_key = KeyPair::generate().unwrap();
        let client = CertificateParams::new(Vec::<String>::new())
            .unwrap()
            .signed_by(&client_key, &issuer)
            .unwrap();
        let w = |name: &str, text: String| {
            let p = dir.join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        (
            w("ca.pem", ca.pem()),
            w("server.pem", server.pem()),
            w("server.key", server_key.serialize_pem()),
            w("client.pem", client.pem()),
            w("client.key", client_key.serialize_pem()),
        )
    }

    /// An HTTPS server on 127.0.0.1 that requires a client certificate signed by `ca`
    /// and answers each connection's first request `200 {"id":"m-1"}`.
    async fn mtls_server(
        ca: &std::path::Path,
        cert: &std::path::Path,
        key: &std::path::Path,
    ) -> u16 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for c in tls::parse_certificates(
            &std::fs::read(ca).unwrap(),
            "ca",
            tls::TlsFileKind::Ca,
            tls::Layout::Lenient,
        )
        .unwrap()
        {
            roots.add(c).unwrap();
        }
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .unwrap();
        let chain = tls::parse_certificates(
            &std::fs::read(cert).unwrap(),
            "cert",
            tls::TlsFileKind::ClientCert,
            tls::Layout::Lenient,
        )
        .unwrap();
        let key = tls::parse_private_key(&std::fs::read(key).unwrap(), "key", tls::Layout::Lenient)
            .unwrap();
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut buf = vec![0u8; 4096];
                    let _ = tls.read(&mut buf).await;
                    let body = r#"{"id":"m-1"}"#;
                    let _ = tls
                        .write_all(
                            format!(
                                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                                body.len()
                            )
                            .as_bytes(),
                        )
                        .await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        port
    }

    #[test]
    fn mutual_tls_presents_the_client_certificate_and_without_it_the_server_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let (ca, server, server_key, client_cert, client_key) = pki(dir.path());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let port = mtls_server(&ca, &server, &server_key).await;
            let url = format!("https://127.0.0.1:{port}/events");
            let mut cfg = HttpConfig::new(url.clone());
            cfg.tls = Some(super::super::TlsConfig {
                ca_file: ca.clone(),
                client_cert: Some(client_cert),
                client_key: Some(client_key),
            });
            let answer = client(&cfg)
                .unwrap()
                .post(&url)
                .body("{}")
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status().as_u16(), 200);
            assert_eq!(
                remote_id(&answer.text().await.unwrap()).as_deref(),
                Some("m-1")
            );
            // The same CA but no client certificate: the handshake is refused.
            cfg.tls = Some(super::super::TlsConfig {
                ca_file: ca,
                client_cert: None,
                client_key: None,
            });
            let refused = client(&cfg).unwrap().post(&url).body("{}").send().await;
            assert!(refused.is_err(), "{refused:?}");
            // No [uplink.http.tls]: the public roots do not know the test CA.
            cfg.tls = None;
            let untrusted = client(&cfg).unwrap().post(&url).body("{}").send().await;
            assert!(untrusted.is_err(), "{untrusted:?}");
        });
    }

    #[test]
    fn remote_ids_are_read_from_string_or_number_ids() {
        assert_eq!(remote_id(r#"{"id":"m-1"}"#).as_deref(), Some("m-1"));
        assert_eq!(remote_id(r#"{"id":42}"#).as_deref(), Some("42"));
        assert_eq!(remote_id("ok"), None);
    }
}
