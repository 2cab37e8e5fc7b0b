//! systemd integration: an `sd_notify` client, a liveness registry and the watchdog loop.
//!
//! The unit runs with `Type=notify`, `NotifyAccess=main` and `WatchdogSec=30s`
//! (`systemd/streetwatch.service`). The daemon:
//!
//! 1. builds a [`Notifier`] with [`Notifier::from_env`] (it is `None` when not started by
//!    systemd, e.g. in a terminal; then nothing is sent);
//! 2. registers every component that must keep making progress in one [`Liveness`]
//!    registry (each camera supervisor, each inference worker) and bumps the returned
//!    [`Heartbeat`] whenever it makes progress: a frame arrived, a backoff timer advanced,
//!    an idle wait timed out. A component that waits for a long time must wake up and bump
//!    at least every few seconds even when it has nothing to do;
//! 3. sends `READY=1` once cameras and models are set up, then calls [`spawn_watchdog`].
//!
//! The watchdog thread pings `WATCHDOG=1` only while *every* registered component bumped
//! recently ([`Liveness::all_alive`]). When one wedges (a GStreamer streaming thread
//! deadlocked, an inference call that never returns), the pings stop and systemd kills
//! and restarts the service after `WatchdogSec`. Ages are measured with [`Instant`], a
//! monotonic clock: this is process health, not media time, and wall-clock jumps (NTP,
//! RTC-less boxes setting the time late) must not trigger restarts.
//!
//! Test-only fault switch: `STREETWATCH_FAULT_WEDGE=<component-name>[,<name>…]` makes the
//! named components' heartbeats freeze (their `bump` does nothing), so that the watchdog
//! path can be exercised end to end on a real box or in integration tests without
//! actually deadlocking anything. `STREETWATCH_FAULT_BLOCK=<name>[,<name>…]` goes one
//! step further: the named components' thread blocks for good at its next `bump`, as if
//! it had deadlocked there (so what it should have done stops too). Never set either in
//! production; neither is reachable from the page or the config.

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Environment variable of the test-only fault switch (see the module docs).
pub const FAULT_WEDGE_ENV: &str = "STREETWATCH_FAULT_WEDGE";
/// Environment variable of the test-only switch that blocks a component's thread.
pub const FAULT_BLOCK_ENV: &str = "STREETWATCH_FAULT_BLOCK";

/// A connection to the service manager's notification socket (`NOTIFY_SOCKET`).
/// Cheap to clone (the socket is shared): give one clone to [`spawn_watchdog`] and keep
/// another for `READY=1`, `RELOADING=1` and `STOPPING=1`.
#[derive(Debug, Clone)]
pub struct Notifier {
    sock: Arc<UnixDatagram>,
    addr: SocketAddr,
    watchdog_usec: Option<u64>,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` from the environment.
    /// `None` when `NOTIFY_SOCKET` is unset or unusable (not started by systemd).
    ///
    /// The variables are left in the environment (removing them is `unsafe` in a
    /// multi-threaded process); child processes are not expected.
    pub fn from_env() -> Option<Notifier> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Like [`Notifier::from_env`], reading variables through `lookup` (tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Option<Notifier> {
        let socket = lookup("NOTIFY_SOCKET")?;
        let watchdog_usec = lookup("WATCHDOG_USEC")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|&v| v > 0)
            .filter(|_| match lookup("WATCHDOG_PID") {
                // The watchdog is meant for another process (e.g. we were forked).
                Some(pid) => pid.trim().parse::<u32>().ok() == Some(std::process::id()),
                None => true,
            });
        match Self::connect(&socket, watchdog_usec) {
            Ok(n) => Some(n),
            Err(e) => {
                tracing::warn!(socket = %socket, error = %e, "NOTIFY_SOCKET unusable; not notifying systemd");
                None
            }
        }
    }

    /// Connects to `socket`: a filesystem path (`/run/systemd/notify`) or an abstract
    /// socket name written with a leading `@`.
    pub fn connect(socket: &str, watchdog_usec: Option<u64>) -> io::Result<Notifier> {
        let addr = if let Some(name) = socket.strip_prefix('@') {
            SocketAddr::from_abstract_name(name.as_bytes())?
        } else if socket.starts_with('/') {
            SocketAddr::from_pathname(socket)?
        } else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "NOTIFY_SOCKET must be an absolute path or start with '@'",
            ));
        };
        let sock = UnixDatagram::unbound()?;
        Ok(Notifier {
            sock: Arc::new(sock),
            addr,
            watchdog_usec,
        })
    }

    /// Sends raw `KEY=value` lines (newline-separated) in one datagram.
    pub fn notify(&self, state: &str) -> io::Result<()> {
        let sent = self.sock.send_to_addr(state.as_bytes(), &self.addr)?;
        if sent != state.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "short write to NOTIFY_SOCKET",
            ));
        }
        Ok(())
    }

    /// `READY=1`: start-up finished (`Type=notify` units stay "activating" until then).
    pub fn ready(&self) -> io::Result<()> {
        self.notify("READY=1")
    }

    /// `STATUS=…`: one line shown by `systemctl status`. Newlines are replaced by spaces.
    pub fn status(&self, text: &str) -> io::Result<()> {
        self.notify(&format!("STATUS={}", one_line(text)))
    }

    /// `WATCHDOG=1`: keep-alive ping. Prefer [`spawn_watchdog`], which only pings while
    /// every component is alive.
    pub fn watchdog(&self) -> io::Result<()> {
        self.notify("WATCHDOG=1")
    }

    /// `STOPPING=1`: shutdown began.
    pub fn stopping(&self) -> io::Result<()> {
        self.notify("STOPPING=1")
    }

    /// `RELOADING=1` with `MONOTONIC_USEC` (what `Type=notify-reload` expects, systemd
    /// 253+; harmless before). Send [`Notifier::ready`] once the reload is done.
    pub fn reloading(&self) -> io::Result<()> {
        self.notify(&format!("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec()))
    }

    /// The configured `WATCHDOG_USEC`, if the watchdog is enabled for this process.
    pub fn watchdog_timeout(&self) -> Option<Duration> {
        self.watchdog_usec.map(Duration::from_micros)
    }

    /// How often to ping: half of `WATCHDOG_USEC`, as sd_watchdog_enabled(3) advises.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog_usec.map(|us| Duration::from_micros(us / 2))
    }
}

fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

fn monotonic_usec() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes into the timespec we own.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return 0;
    }
    (ts.tv_sec as u64) * 1_000_000 + (ts.tv_nsec as u64) / 1_000
}

// ---------------------------------------------------------------------------------------
// Liveness registry
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
struct Beat {
    name: String,
    /// Nanoseconds since the registry's origin at the last bump.
    last_ns: AtomicU64,
    /// Test-only fault switch: bumps are ignored.
    wedged: bool,
    /// Test-only fault switch: a bump blocks the calling thread for good.
    blocked: bool,
}

#[derive(Debug)]
struct Registry {
    origin: Instant,
    wedge: Vec<String>,
    block: Vec<String>,
    beats: Mutex<Vec<Arc<Beat>>>,
}

impl Registry {
    fn now_ns(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// The set of components whose progress the watchdog checks. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct Liveness {
    reg: Arc<Registry>,
}

/// One component's heartbeat. Clone it freely within the component (all clones bump the
/// same entry).
///
/// Dropping every clone does **not** unregister the component: a thread that died
/// (panic, early return) must go stale and stop the watchdog. A component that ends on
/// purpose (a camera removed from the config) calls [`Heartbeat::retire`].
#[derive(Debug, Clone)]
pub struct Heartbeat {
    beat: Arc<Beat>,
    reg: Arc<Registry>,
}

/// Age of one component's last bump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentAge {
    pub name: String,
    pub age: Duration,
}

impl Default for Liveness {
    fn default() -> Self {
        Self::new()
    }
}

impl Liveness {
    /// An empty registry, honouring the test-only `STREETWATCH_FAULT_WEDGE` switch.
    pub fn new() -> Self {
        let mut l = Self::with_wedge(std::env::var(FAULT_WEDGE_ENV).ok().as_deref());
        if let Ok(block) = std::env::var(FAULT_BLOCK_ENV) {
            let reg = Arc::get_mut(&mut l.reg).expect("a new registry is not shared yet");
            reg.block = names(Some(&block));
        }
        l
    }

    /// An empty registry whose components named in `wedge` (comma-separated) never
    /// record a bump. Test-only; `None` is the production behaviour.
    pub fn with_wedge(wedge: Option<&str>) -> Self {
        Liveness {
            reg: Arc::new(Registry {
                origin: Instant::now(),
                wedge: names(wedge),
                block: Vec::new(),
                beats: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Registers a component (counted as alive right now). Registering a name again
    /// replaces the earlier entry: a restarted supervisor takes over its slot.
    pub fn register(&self, name: impl Into<String>) -> Heartbeat {
        let name = name.into();
        let wedged = self.reg.wedge.contains(&name);
        if wedged {
            tracing::warn!(component = %name, "{FAULT_WEDGE_ENV}: heartbeat frozen (test-only fault switch)");
        }
        let blocked = self.reg.block.contains(&name);
        if blocked {
            tracing::warn!(component = %name, "{FAULT_BLOCK_ENV}: the thread blocks at its next heartbeat (test-only fault switch)");
        }
        let beat = Arc::new(Beat {
            name,
            last_ns: AtomicU64::new(self.reg.now_ns()),
            wedged,
            blocked,
        });
        let mut beats = self.reg.beats.lock().unwrap_or_else(|p| p.into_inner());
        beats.retain(|b| b.name != beat.name);
        beats.push(beat.clone());
        Heartbeat {
            beat,
            reg: self.reg.clone(),
        }
    }

    /// Every registered component with the age of its last bump, in registration order.
    pub fn ages(&self) -> Vec<ComponentAge> {
        let now = self.reg.now_ns();
        let beats = self.reg.beats.lock().unwrap_or_else(|p| p.into_inner());
        beats
            .iter()
            .map(|b| ComponentAge {
                name: b.name.clone(),
                age: Duration::from_nanos(now.saturating_sub(b.last_ns.load(Ordering::Relaxed))),
            })
            .collect()
    }

    /// Components whose last bump is older than `max_age`.
    pub fn stale(&self, max_age: Duration) -> Vec<ComponentAge> {
        self.ages()
            .into_iter()
            .filter(|c| c.age > max_age)
            .collect()
    }

    /// True only if every registered component bumped within `max_age` (vacuously true
    /// with no components).
    pub fn all_alive(&self, max_age: Duration) -> bool {
        self.stale(max_age).is_empty()
    }

    /// Number of registered components.
    pub fn len(&self) -> usize {
        self.reg
            .beats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Heartbeat {
    /// Records progress now.
    pub fn bump(&self) {
        if self.beat.blocked {
            tracing::error!(component = %self.beat.name, "{FAULT_BLOCK_ENV}: blocking this thread for good");
            loop {
                std::thread::park();
            }
        }
        if !self.beat.wedged {
            self.beat
                .last_ns
                .store(self.reg.now_ns(), Ordering::Relaxed);
        }
    }

    /// The component's name.
    pub fn name(&self) -> &str {
        &self.beat.name
    }

    /// Time since the last recorded bump.
    pub fn age(&self) -> Duration {
        Duration::from_nanos(
            self.reg
                .now_ns()
                .saturating_sub(self.beat.last_ns.load(Ordering::Relaxed)),
        )
    }

    /// Unregisters the component (it ended on purpose). No effect if its slot was
    /// already taken over by a newer registration of the same name.
    pub fn retire(self) {
        let mut beats = self.reg.beats.lock().unwrap_or_else(|p| p.into_inner());
        beats.retain(|b| !Arc::ptr_eq(b, &self.beat));
    }
}

/// Comma-separated component names.
fn names(list: Option<&str>) -> Vec<String> {
    list.unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

// ---------------------------------------------------------------------------------------
// Watchdog loop
// ---------------------------------------------------------------------------------------

/// Timing of the watchdog loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchdogConfig {
    /// Time between two checks (and pings). `None`: half of `WATCHDOG_USEC`, or 5 s when
    /// the watchdog is disabled (then only `STATUS=` lines are sent).
    pub period: Option<Duration>,
    /// A component that has not bumped for longer than this counts as wedged.
    pub max_age: Duration,
}

impl Default for WatchdogConfig {
    fn default() -> Self {
        Self {
            period: None,
            max_age: Duration::from_secs(20),
        }
    }
}

/// Handle of the watchdog thread; [`WatchdogHandle::stop`] ends it (so does dropping).
#[derive(Debug)]
pub struct WatchdogHandle {
    stop: Option<mpsc::SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl WatchdogHandle {
    /// Stops the loop and waits for the thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for WatchdogHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// [`spawn_watchdog_with`] with [`WatchdogConfig::default`].
pub fn spawn_watchdog<F>(
    notifier: Notifier,
    liveness: Liveness,
    status_fn: F,
) -> io::Result<WatchdogHandle>
where
    F: FnMut() -> String + Send + 'static,
{
    spawn_watchdog_with(notifier, liveness, WatchdogConfig::default(), status_fn)
}

/// Starts the watchdog thread. Every period it sends `STATUS=<status_fn()>` and, only if
/// [`Liveness::all_alive`] holds and the watchdog is enabled (or a period was forced),
/// `WATCHDOG=1` in the same datagram. While a component is stale the status line names
/// it, e.g. `… | stalled: cam-2 (31s)`, and the pings stop, so systemd restarts us.
pub fn spawn_watchdog_with<F>(
    notifier: Notifier,
    liveness: Liveness,
    cfg: WatchdogConfig,
    mut status_fn: F,
) -> io::Result<WatchdogHandle>
where
    F: FnMut() -> String + Send + 'static,
{
    let ping = notifier.watchdog_interval().is_some() || cfg.period.is_some();
    let period = cfg
        .period
        .or_else(|| notifier.watchdog_interval())
        .unwrap_or(Duration::from_secs(5))
        .max(Duration::from_millis(1));
    let (tx, rx) = mpsc::sync_channel::<()>(1);
    let thread = std::thread::Builder::new().name("sd-watchdog".into()).spawn(move || {
        let mut was_healthy = true;
        loop {
            let stale = liveness.stale(cfg.max_age);
            let healthy = stale.is_empty();
            let mut status = one_line(&status_fn());
            if !healthy {
                let names: Vec<String> =
                    stale.iter().map(|c| format!("{} ({}s)", c.name, c.age.as_secs())).collect();
                if was_healthy {
                    tracing::error!(stalled = %names.join(", "), "component stopped making progress; withholding watchdog pings");
                }
                if !status.is_empty() {
                    status.push_str(" | ");
                }
                status.push_str("stalled: ");
                status.push_str(&names.join(", "));
            } else if !was_healthy {
                tracing::info!("all components alive again; watchdog pings resumed");
            }
            was_healthy = healthy;
            let msg = if healthy && ping {
                format!("WATCHDOG=1\nSTATUS={status}")
            } else {
                format!("STATUS={status}")
            };
            if let Err(e) = notifier.notify(&msg) {
                tracing::debug!(error = %e, "sd_notify failed");
            }
            match rx.recv_timeout(period) {
                Err(RecvTimeoutError::Timeout) => continue,
                _ => break,
            }
        }
    })?;
    Ok(WatchdogHandle {
        stop: Some(tx),
        thread: Some(thread),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listener() -> (tempfile::TempDir, UnixDatagram, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let sock = UnixDatagram::bind(&path).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        (dir, sock, path.to_str().unwrap().to_string())
    }

    fn recv(sock: &UnixDatagram) -> Option<String> {
        let mut buf = [0u8; 4096];
        match sock.recv(&mut buf) {
            Ok(n) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(_) => None,
        }
    }

    fn env(vars: &[(&'static str, String)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(&'static str, String)> = vars.to_vec();
        move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn ready_received_on_path_socket() {
        let (_dir, sock, path) = listener();
        let n = Notifier::from_lookup(env(&[("NOTIFY_SOCKET", path)])).expect("notifier");
        n.ready().unwrap();
        assert_eq!(recv(&sock).as_deref(), Some("READY=1"));
        n.stopping().unwrap();
        assert_eq!(recv(&sock).as_deref(), Some("STOPPING=1"));
        n.watchdog().unwrap();
        assert_eq!(recv(&sock).as_deref(), Some("WATCHDOG=1"));
    }

    #[test]
    fn status_text_received_single_line() {
        let (_dir, sock, path) = listener();
        let n = Notifier::connect(&path, None).unwrap();
        n.status("2/3 cameras streaming\nmqtt connected").unwrap();
        assert_eq!(
            recv(&sock).as_deref(),
            Some("STATUS=2/3 cameras streaming mqtt connected")
        );
    }

    #[test]
    fn reloading_carries_monotonic_usec() {
        let (_dir, sock, path) = listener();
        let n = Notifier::connect(&path, None).unwrap();
        n.reloading().unwrap();
        let msg = recv(&sock).unwrap();
        let mut lines = msg.lines();
        assert_eq!(lines.next(), Some("RELOADING=1"));
        let us: u64 = lines
            .next()
            .unwrap()
            .strip_prefix("MONOTONIC_USEC=")
            .unwrap()
            .parse()
            .unwrap();
        assert!(us > 0);
    }

    #[test]
    fn abstract_socket_supported() {
        let name = format!(
            "streetwatch-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        );
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let sock = UnixDatagram::bind_addr(&addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let n = Notifier::from_lookup(env(&[("NOTIFY_SOCKET", format!("@{name}"))])).unwrap();
        n.ready().unwrap();
        assert_eq!(recv(&sock).as_deref(), Some("READY=1"));
    }

    #[test]
    fn from_env_rejects_missing_or_relative_socket() {
        assert!(Notifier::from_lookup(env(&[])).is_none());
        assert!(Notifier::from_lookup(env(&[("NOTIFY_SOCKET", "relative/path".into())])).is_none());
    }

    #[test]
    fn watchdog_interval_is_half_of_usec_and_respects_pid() {
        let (_dir, _sock, path) = listener();
        let n = Notifier::from_lookup(env(&[
            ("NOTIFY_SOCKET", path.clone()),
            ("WATCHDOG_USEC", "30000000".into()),
        ]))
        .unwrap();
        assert_eq!(n.watchdog_interval(), Some(Duration::from_secs(15)));
        assert_eq!(n.watchdog_timeout(), Some(Duration::from_secs(30)));

        let mine = Notifier::from_lookup(env(&[
            ("NOTIFY_SOCKET", path.clone()),
            ("WATCHDOG_USEC", "30000000".into()),
            ("WATCHDOG_PID", std::process::id().to_string()),
        ]))
        .unwrap();
        assert_eq!(mine.watchdog_interval(), Some(Duration::from_secs(15)));

        let other = Notifier::from_lookup(env(&[
            ("NOTIFY_SOCKET", path.clone()),
            ("WATCHDOG_USEC", "30000000".into()),
            ("WATCHDOG_PID", "1".into()),
        ]))
        .unwrap();
        assert_eq!(other.watchdog_interval(), None);

        let none = Notifier::from_lookup(env(&[("NOTIFY_SOCKET", path)])).unwrap();
        assert_eq!(none.watchdog_interval(), None);
    }

    #[test]
    fn liveness_tracks_each_component() {
        let live = Liveness::with_wedge(None);
        assert!(live.all_alive(Duration::from_millis(1)));
        let cam = live.register("cam-1");
        let infer = live.register("infer-0");
        assert_eq!(live.len(), 2);
        std::thread::sleep(Duration::from_millis(60));
        cam.bump();
        let stale = live.stale(Duration::from_millis(30));
        assert_eq!(stale.len(), 1);
        assert_eq!(stale[0].name, "infer-0");
        assert!(!live.all_alive(Duration::from_millis(30)));
        infer.bump();
        assert!(live.all_alive(Duration::from_millis(30)));
        // A dropped handle keeps its slot (a dead thread must go stale) ...
        drop(infer);
        assert_eq!(live.len(), 2);
        // ... a retired one does not.
        let infer_again = live.register("infer-0");
        assert_eq!(live.len(), 2, "re-registering a name replaces its slot");
        infer_again.retire();
        assert_eq!(live.len(), 1);
        assert_eq!(cam.name(), "cam-1");
    }

    #[test]
    fn fault_wedge_freezes_named_component() {
        let live = Liveness::with_wedge(Some("cam-2, infer-9"));
        let cam1 = live.register("cam-1");
        let cam2 = live.register("cam-2");
        std::thread::sleep(Duration::from_millis(40));
        cam1.bump();
        cam2.bump();
        assert!(cam1.age() < Duration::from_millis(20));
        assert!(cam2.age() >= Duration::from_millis(40));
        let stale = live.stale(Duration::from_millis(20));
        assert_eq!(
            stale.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            vec!["cam-2"]
        );
    }

    /// Collects datagrams for `window`.
    fn drain(sock: &UnixDatagram, window: Duration) -> Vec<String> {
        let end = Instant::now() + window;
        let mut out = Vec::new();
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        while Instant::now() < end {
            if let Some(m) = recv(sock) {
                out.push(m);
            }
        }
        out
    }

    #[test]
    fn watchdog_pings_stop_when_component_stops_bumping() {
        let (_dir, sock, path) = listener();
        let n = Notifier::connect(&path, Some(30_000_000)).unwrap();
        let live = Liveness::with_wedge(None);
        let cam = live.register("cam-1");
        let worker = live.register("infer-0");

        let stop_cam = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop_all = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let bumper = {
            let stop_cam = stop_cam.clone();
            let stop_all = stop_all.clone();
            let cam = cam.clone();
            let worker = worker.clone();
            std::thread::spawn(move || {
                while !stop_cam.load(Ordering::Relaxed) {
                    cam.bump();
                    worker.bump();
                    std::thread::sleep(Duration::from_millis(5));
                }
                // The camera wedges; the worker keeps going.
                for _ in 0..400 {
                    if stop_all.load(Ordering::Relaxed) {
                        break;
                    }
                    worker.bump();
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        };

        let cfg = WatchdogConfig {
            period: Some(Duration::from_millis(20)),
            max_age: Duration::from_millis(250),
        };
        let wd =
            spawn_watchdog_with(n.clone(), live.clone(), cfg, || "2 cameras".to_string()).unwrap();

        let healthy = drain(&sock, Duration::from_millis(200));
        assert!(
            healthy
                .iter()
                .filter(|m| m.starts_with("WATCHDOG=1\n"))
                .count()
                >= 3,
            "expected pings while alive: {healthy:?}"
        );
        assert!(
            healthy.iter().all(|m| m.contains("STATUS=2 cameras")),
            "{healthy:?}"
        );

        stop_cam.store(true, Ordering::Relaxed);
        // Let cam-1 go stale (max_age 250 ms) and discard the transition period.
        let _ = drain(&sock, Duration::from_millis(500));
        let wedged = drain(&sock, Duration::from_millis(300));
        assert!(!wedged.is_empty(), "status lines must keep coming");
        assert!(
            wedged.iter().all(|m| !m.contains("WATCHDOG=1")),
            "no pings while cam-1 is stale: {wedged:?}"
        );
        assert!(
            wedged
                .iter()
                .all(|m| m.starts_with("STATUS=2 cameras | stalled: cam-1 (")),
            "{wedged:?}"
        );
        assert!(wedged.iter().all(|m| !m.contains("infer-0")), "{wedged:?}");

        wd.stop();
        stop_all.store(true, Ordering::Relaxed);
        bumper.join().unwrap();

        // The clone kept by the caller still works after the watchdog stopped.
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        while recv(&sock).is_some_and(|m| m.starts_with("STATUS=")) {}
        sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        n.stopping().unwrap();
        assert_eq!(recv(&sock).as_deref(), Some("STOPPING=1"));
    }

    #[test]
    fn watchdog_without_watchdog_usec_sends_status_only() {
        let (_dir, sock, path) = listener();
        let n = Notifier::connect(&path, None).unwrap();
        let live = Liveness::with_wedge(None);
        let _hb = live.register("cam-1");
        // No forced period and no WATCHDOG_USEC: first status is sent immediately.
        let wd = spawn_watchdog(n, live, || "starting".into()).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        assert_eq!(recv(&sock).as_deref(), Some("STATUS=starting"));
        wd.stop();
    }
}
