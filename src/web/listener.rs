//! The page's accept loop, built so that idle or slow clients cannot starve it.
//!
//! Measured before: 32 idle TCP connections to the HTTPS port took all 32 handshake
//! slots for their 10 s timeout, and a technician's request waited 9 s. Now:
//!
//! - the accept loop never waits for a slot: every connection is admitted at once or
//!   refused at once;
//! - at most [`MAX_PER_IP`] connections per client address and [`MAX_TOTAL`] in all;
//!   when a cap is reached, the oldest connection still in its TLS handshake (from the
//!   same address first) is dropped to make room, so a client that completes its
//!   handshake promptly always gets in, even from the attacker's own address;
//! - a TLS handshake has [`HANDSHAKE_TIMEOUT`] to finish, and many run concurrently (one
//!   task each, no thread);
//! - an established connection that neither reads nor writes for [`IDLE_TIMEOUT`] is
//!   closed, so finished handshakes cannot be hoarded either.
//!
//! Memory stays bounded by the caps: a pending handshake holds a socket and a rustls
//! state of a few tens of KiB.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Open connections (handshaking or established) per client address. A phone's
/// browser uses six at most; the rest is headroom for a few technicians behind NAT.
pub const MAX_PER_IP: usize = 32;
/// Open connections in all (LimitNOFILE in the unit is 8192).
pub const MAX_TOTAL: usize = 1024;
/// Time a client has to complete its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// An established connection with no byte read or written for this long is closed
/// (longer than any request takes: a connection test runs 10 s at most).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

struct Entry {
    ip: IpAddr,
    /// Present while the TLS handshake runs; dropping it cancels the handshake.
    cancel: Option<oneshot::Sender<()>>,
}

#[derive(Default)]
struct Table {
    next_id: u64,
    /// Every open connection, by id (ids grow, so iteration is oldest first).
    live: BTreeMap<u64, Entry>,
    per_ip: HashMap<IpAddr, usize>,
}

impl Table {
    fn release(&mut self, id: u64) {
        if let Some(e) = self.live.remove(&id)
            && let Some(n) = self.per_ip.get_mut(&e.ip)
        {
            *n -= 1;
            if *n == 0 {
                self.per_ip.remove(&e.ip);
            }
        }
    }

    /// Drop the oldest connection still in its handshake (from `ip` when given).
    fn evict_pending(&mut self, ip: Option<IpAddr>) -> bool {
        let victim = self
            .live
            .iter()
            .find(|(_, e)| e.cancel.is_some() && ip.is_none_or(|ip| e.ip == ip))
            .map(|(id, _)| *id);
        match victim {
            Some(id) => {
                // Dropping the sender (inside the entry) ends the handshake task.
                self.release(id);
                true
            }
            None => false,
        }
    }
}

/// The connection table shared by the accept loop and the connections.
#[derive(Clone, Default)]
struct Tracker(Arc<Mutex<Table>>);

/// A connection's place in the table; released when the connection is dropped.
struct Slot {
    id: u64,
    tracker: Tracker,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.tracker.0.lock().unwrap().release(self.id);
    }
}

impl Tracker {
    /// Admit a connection from `ip`, making room by dropping pending handshakes when a
    /// cap is reached; `None` when there is no room. With `handshake`, the receiver
    /// fires when the connection is evicted before its handshake finished.
    fn admit(&self, ip: IpAddr, handshake: bool) -> Option<(Slot, Option<oneshot::Receiver<()>>)> {
        let mut t = self.0.lock().unwrap();
        if t.per_ip.get(&ip).copied().unwrap_or(0) >= MAX_PER_IP && !t.evict_pending(Some(ip)) {
            return None;
        }
        if t.live.len() >= MAX_TOTAL && !t.evict_pending(None) {
            return None;
        }
        let id = t.next_id;
        t.next_id += 1;
        let (cancel, rx) = if handshake {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        t.live.insert(id, Entry { ip, cancel });
        *t.per_ip.entry(ip).or_default() += 1;
        Some((
            Slot {
                id,
                tracker: self.clone(),
            },
            rx,
        ))
    }

    /// The handshake finished: the connection can no longer be evicted.
    fn established(&self, slot: &Slot) {
        if let Some(e) = self.0.lock().unwrap().live.get_mut(&slot.id) {
            e.cancel = None;
        }
    }
}

enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// An accepted connection: the stream, its table slot and its idle timer.
pub struct Conn {
    io: Io,
    _slot: Slot,
    last_activity: Instant,
    idle: Pin<Box<Sleep>>,
}

impl Conn {
    fn new(io: Io, slot: Slot) -> Self {
        let now = Instant::now();
        Self {
            io,
            _slot: slot,
            last_activity: now,
            idle: Box::pin(tokio::time::sleep_until(now + IDLE_TIMEOUT)),
        }
    }

    /// Called when the stream is not ready: `Err` once the connection has been idle for
    /// [`IDLE_TIMEOUT`]. The timer is moved lazily, only when it fires early.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        while self.idle.as_mut().poll(cx).is_ready() {
            let due = self.last_activity + IDLE_TIMEOUT;
            if due <= Instant::now() {
                return Poll::Ready(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "web: connection idle; closed",
                ));
            }
            self.idle.as_mut().reset(due);
        }
        Poll::Pending
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = match &mut this.io {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        };
        match r {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    this.last_activity = Instant::now();
                }
                Poll::Ready(r)
            }
            Poll::Pending => this.poll_idle(cx).map(Err),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = match &mut this.io {
            Io::Plain(s) => Pin::new(s).poll_write(cx, data),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, data),
        };
        match r {
            Poll::Ready(r) => {
                if matches!(r, Ok(n) if n > 0) {
                    this.last_activity = Instant::now();
                }
                Poll::Ready(r)
            }
            // A client that stops reading a response is as idle as one that sends nothing.
            Poll::Pending => this.poll_idle(cx).map(Err),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A listener yielding admitted connections (TLS-terminated when configured).
pub struct GuardedListener {
    rx: mpsc::Receiver<(Conn, SocketAddr)>,
    local: SocketAddr,
}

impl GuardedListener {
    /// Start the accept loop on the current tokio runtime.
    pub fn new(tcp: TcpListener, tls: Option<rustls::ServerConfig>) -> io::Result<Self> {
        let local = tcp.local_addr()?;
        let acceptor = tls.map(|c| TlsAcceptor::from(Arc::new(c)));
        let (tx, rx) = mpsc::channel::<(Conn, SocketAddr)>(64);
        let tracker = Tracker::default();
        tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::debug!(error = %e, "web: accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                if tx.is_closed() {
                    return;
                }
                let Some((slot, cancel)) = tracker.admit(peer.ip(), acceptor.is_some()) else {
                    tracing::debug!(%peer, "web: connection refused: too many open connections");
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let tx = tx.clone();
                let tracker = tracker.clone();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let io = match (acceptor, cancel) {
                        (Some(acceptor), Some(cancel)) => {
                            tokio::select! {
                                r = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)) => match r {
                                    Ok(Ok(tls)) => Io::Tls(Box::new(tls)),
                                    Ok(Err(e)) => {
                                        tracing::debug!(%peer, error = %e, "web: TLS handshake failed");
                                        return;
                                    }
                                    Err(_) => {
                                        tracing::debug!(%peer, "web: TLS handshake timed out");
                                        return;
                                    }
                                },
                                _ = cancel => {
                                    tracing::debug!(%peer, "web: pending TLS handshake dropped to make room");
                                    return;
                                }
                            }
                        }
                        _ => Io::Plain(stream),
                    };
                    tracker.established(&slot);
                    let _ = tx.send((Conn::new(io, slot), peer)).await;
                });
            }
        });
        Ok(Self { rx, local })
    }
}

impl axum::serve::Listener for GuardedListener {
    type Io = Conn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(c) => c,
            // The accept task ended (listener gone): nothing will ever arrive.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_full_address_makes_room_by_dropping_its_oldest_pending_handshake() {
        let t = Tracker::default();
        let a = ip("10.0.0.1");
        let mut held = Vec::new();
        for _ in 0..MAX_PER_IP {
            held.push(t.admit(a, true).unwrap());
        }
        // The next one evicts the first: its cancel receiver fires.
        let (_new, _) = t.admit(a, true).unwrap();
        use tokio::sync::oneshot::error::TryRecvError;
        let closed = |h: &mut (Slot, Option<oneshot::Receiver<()>>)| {
            matches!(h.1.as_mut().unwrap().try_recv(), Err(TryRecvError::Closed))
        };
        assert!(
            closed(&mut held[0]),
            "the oldest pending handshake was dropped"
        );
        assert!(!closed(&mut held[1]));
        assert_eq!(t.0.lock().unwrap().per_ip[&a], MAX_PER_IP);
        // Established connections are never evicted: with all of them established,
        // a new connection from that address is refused.
        for (slot, _) in &held[1..] {
            t.established(slot);
        }
        t.established(&_new);
        assert!(t.admit(a, true).is_none());
        // Another address is unaffected.
        assert!(t.admit(ip("10.0.0.2"), true).is_some());
        // Dropping releases (the evicted one was released already, exactly once).
        drop(held);
        drop(_new);
        assert!(t.0.lock().unwrap().live.len() <= 1);
        assert!(!t.0.lock().unwrap().per_ip.contains_key(&a));
    }

    #[test]
    fn the_total_cap_evicts_the_oldest_pending_handshake_of_anyone() {
        let t = Tracker::default();
        let mut held = Vec::new();
        for i in 0..MAX_TOTAL {
            let addr = IpAddr::from([10, 1, (i / 250) as u8, (i % 250) as u8]);
            held.push(t.admit(addr, true).unwrap());
        }
        let _extra = t.admit(ip("10.9.9.9"), true).unwrap();
        assert_eq!(t.0.lock().unwrap().live.len(), MAX_TOTAL);
        for (s, _) in &held[1..] {
            t.established(s);
        }
        // Nothing left to evict but the one admitted above (still pending).
        let _plain = t.admit(ip("10.9.9.8"), false).unwrap();
        assert!(t.admit(ip("10.9.9.7"), false).is_none());
    }
}
