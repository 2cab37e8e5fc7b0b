//! One PTZ camera's controller thread: polls its position (GetStatus every `poll_s`),
//! runs the patrol (巡航), sends it back home after `return_after_s` without movement
//! by anyone else, and carries out the page's moves.
//!
//! Moves by the box itself are reported through a callback (the daemon writes them to
//! the audit log) and counted in [`PtzControlStatus`] (the page and health). A move
//! nobody here asked for is an operator's: it pauses the patrol and starts the
//! return-home clock.
//!
//! The thread owns the only ONVIF client of the camera; the page talks to it through
//! a bounded command queue ([`PtzHandle`]), so a slow camera never blocks the page's
//! worker threads for longer than a command's deadline.

use super::OnvifError;
use super::ptz::{Preset, PtzClient, PtzConfig, PtzPosition, PtzStatus};
use super::soap::Credentials;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Deadline of one ONVIF exchange.
const TIMEOUT: Duration = Duration::from_secs(5);
/// A GotoPreset that has not arrived after this long is given up.
const MOVE_DEADLINE: Duration = Duration::from_secs(30);
/// Commands waiting for the thread.
const QUEUE: usize = 4;

/// Why the box moved the camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MoveReason {
    /// `return_after_s` without operator movement: back to the home preset.
    ReturnHome,
    /// The patrol's next preset.
    Patrol,
    /// The technician asked on the page (zones per preset).
    Page,
}

/// A move the box made or started.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BoxMove {
    /// RFC 3339 UTC, the box's clock.
    pub time: String,
    pub preset: String,
    pub reason: MoveReason,
}

/// What the page and health show about the controller.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PtzControlStatus {
    /// The PTZ service answered the last poll.
    pub connected: bool,
    /// The last error talking to the camera (no password in it).
    pub error: Option<String>,
    pub presets: Vec<Preset>,
    pub position: Option<PtzPosition>,
    pub status: Option<PtzStatus>,
    /// The patrol runs now (not paused by an operator).
    pub patrolling: bool,
    /// Seconds since the last movement by someone else, while the return clock runs.
    pub operator_idle_s: Option<f64>,
    /// Moves the box made since start, and the last one.
    pub box_moves: u64,
    pub last_box_move: Option<BoxMove>,
}

enum Command {
    /// Move to a preset and answer when it arrived (or failed).
    Goto(String, SyncSender<Result<(), String>>),
    /// Re-read the presets and answer with them.
    Presets(SyncSender<Result<Vec<Preset>, String>>),
}

/// The page's side of a controller.
pub struct PtzHandle {
    tx: SyncSender<Command>,
    shared: Arc<Mutex<PtzControlStatus>>,
}

impl std::fmt::Debug for PtzHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PtzHandle")
    }
}

impl PtzHandle {
    pub fn status(&self) -> PtzControlStatus {
        self.shared.lock().unwrap().clone()
    }

    /// The camera's presets, read again from it.
    pub fn presets(&self) -> Result<Vec<Preset>, String> {
        let (tx, rx) = sync_channel(1);
        self.tx
            .try_send(Command::Presets(tx))
            .map_err(|_| "the camera's PTZ is busy; try again in a few seconds".to_string())?;
        rx.recv_timeout(TIMEOUT * 3)
            .map_err(|_| "the camera did not list its presets in time".to_string())?
    }

    /// Moves to `preset` and waits until the camera is there (at most 30 s). Counts
    /// as an operator's move: the patrol pauses and the return clock starts.
    pub fn goto(&self, preset: &str) -> Result<(), String> {
        let (tx, rx) = sync_channel(1);
        self.tx
            .try_send(Command::Goto(preset.to_string(), tx))
            .map_err(|_| "the camera's PTZ is busy; try again in a few seconds".to_string())?;
        rx.recv_timeout(MOVE_DEADLINE + TIMEOUT * 2)
            .map_err(|_| format!("the camera did not reach preset {preset} in time"))?
    }
}

/// A running controller.
pub struct PtzController {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    handle: Arc<PtzHandle>,
}

/// Where and how to reach the camera.
#[derive(Debug, Clone)]
pub struct PtzTarget {
    pub camera_id: String,
    /// Device service URL.
    pub address: String,
    pub credentials: Option<Credentials>,
}

impl PtzController {
    /// Starts polling `target`; `on_move` hears about every move the box makes.
    pub fn spawn(
        target: PtzTarget,
        cfg: PtzConfig,
        on_move: Box<dyn Fn(&BoxMove) + Send>,
    ) -> PtzController {
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Mutex::new(PtzControlStatus::default()));
        let (tx, rx) = sync_channel(QUEUE);
        let handle = Arc::new(PtzHandle {
            tx,
            shared: shared.clone(),
        });
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name(format!("ptz-{}", target.camera_id))
            .spawn(move || {
                Control {
                    target,
                    cfg,
                    client: None,
                    shared,
                    on_move,
                    presets: Vec::new(),
                    target_preset: None,
                    pending: None,
                    operator_since: None,
                    idle_position: None,
                    patrol_index: 0,
                    arrived_at: None,
                    patrol_paused: false,
                    next_connect: Instant::now(),
                    backoff: Duration::from_secs(2),
                }
                .run(&rx, &s)
            })
            .expect("spawn the PTZ thread");
        PtzController {
            stop,
            thread: Some(thread),
            handle,
        }
    }

    pub fn handle(&self) -> Arc<PtzHandle> {
        self.handle.clone()
    }

    /// Where the camera is, as last polled (None before the first answer).
    pub fn position(&self) -> Option<PtzPosition> {
        self.handle.status().position
    }

    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for PtzController {
    fn drop(&mut self) {
        self.halt();
    }
}

struct Control {
    target: PtzTarget,
    cfg: PtzConfig,
    client: Option<PtzClient>,
    shared: Arc<Mutex<PtzControlStatus>>,
    on_move: Box<dyn Fn(&BoxMove) + Send>,
    presets: Vec<Preset>,
    /// A move in progress: the preset, why, and its deadline.
    target_preset: Option<(String, MoveReason, Instant)>,
    /// The page waits for this move.
    pending: Option<SyncSender<Result<(), String>>>,
    /// Last movement by someone else (starts the return clock).
    operator_since: Option<Instant>,
    /// Where the camera stood still at the last poll.
    idle_position: Option<super::ptz::PtzVector>,
    patrol_index: usize,
    /// When the patrol arrived at its current preset.
    arrived_at: Option<Instant>,
    patrol_paused: bool,
    next_connect: Instant,
    backoff: Duration,
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl Control {
    fn run(mut self, rx: &Receiver<Command>, stop: &AtomicBool) {
        let poll = Duration::from_secs_f64(self.cfg.poll_s.clamp(0.1, 60.0));
        let mut next_poll = Instant::now();
        while !stop.load(Ordering::SeqCst) {
            if self.client.is_none() && Instant::now() >= self.next_connect {
                self.connect();
            }
            let wait = next_poll
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(200));
            match rx.recv_timeout(wait) {
                Ok(cmd) => self.command(cmd),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if Instant::now() >= next_poll {
                next_poll = Instant::now() + poll;
                self.poll();
                self.plan();
            }
        }
        if let Some(p) = self.pending.take() {
            let _ = p.send(Err("stopped".into()));
        }
    }

    fn fail(&mut self, e: &OnvifError) {
        tracing::warn!(camera = %self.target.camera_id, error = %e, "ptz: the camera did not answer");
        let mut s = self.shared.lock().unwrap();
        s.connected = false;
        s.error = Some(e.to_string());
        drop(s);
        self.client = None;
        self.next_connect = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(Duration::from_secs(60));
    }

    fn connect(&mut self) {
        let c = match PtzClient::connect(
            &self.target.address,
            self.target.credentials.clone(),
            TIMEOUT,
        ) {
            Ok(c) => c,
            Err(e) => return self.fail(&e),
        };
        match c.presets() {
            Ok(p) => {
                tracing::info!(camera = %self.target.camera_id, presets = p.len(), "ptz: connected");
                self.presets = p.clone();
                self.shared.lock().unwrap().presets = p;
                self.client = Some(c);
                self.backoff = Duration::from_secs(2);
                if self.cfg.patrol.is_some()
                    && self.target_preset.is_none()
                    && self.arrived_at.is_none()
                {
                    // The patrol starts with its first preset.
                    self.patrol_index = 0;
                    self.goto_next_patrol(false);
                }
            }
            Err(e) => self.fail(&e),
        }
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Presets(reply) => {
                let r = match &self.client {
                    None => Err(self
                        .shared
                        .lock()
                        .unwrap()
                        .error
                        .clone()
                        .unwrap_or_else(|| "not connected to the camera yet".into())),
                    Some(c) => c.presets().map_err(|e| e.to_string()),
                };
                if let Ok(p) = &r {
                    self.presets = p.clone();
                    self.shared.lock().unwrap().presets = p.clone();
                }
                let _ = reply.send(r);
            }
            Command::Goto(preset, reply) => {
                // The page's move is an operator's move: the patrol pauses.
                self.patrol_paused = self.cfg.patrol.is_some();
                self.operator_since = Some(Instant::now());
                if let Some(p) = self.pending.take() {
                    let _ = p.send(Err("replaced by a newer move".into()));
                }
                match self.start_move(&preset, MoveReason::Page) {
                    Ok(()) => self.pending = Some(reply),
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
        }
    }

    fn start_move(&mut self, preset: &str, reason: MoveReason) -> Result<(), String> {
        let Some(c) = &self.client else {
            return Err("not connected to the camera".into());
        };
        if let Err(e) = c.goto_preset(preset) {
            let msg = e.to_string();
            self.fail(&e);
            return Err(msg);
        }
        self.target_preset = Some((preset.to_string(), reason, Instant::now() + MOVE_DEADLINE));
        let mv = BoxMove {
            time: now_rfc3339(),
            preset: preset.to_string(),
            reason,
        };
        if reason != MoveReason::Page {
            tracing::info!(camera = %self.target.camera_id, preset, reason = ?reason, "ptz: the box moves the camera");
            (self.on_move)(&mv);
            let mut s = self.shared.lock().unwrap();
            s.box_moves += 1;
            s.last_box_move = Some(mv);
        }
        Ok(())
    }

    fn poll(&mut self) {
        let Some(c) = &self.client else { return };
        let st = match c.status() {
            Ok(s) => s,
            Err(e) => return self.fail(&e),
        };
        let mut pos = PtzPosition::of(&st, &self.presets, self.cfg.tolerance);
        // The page's move is answered after the status says where the camera is, so
        // that what the page reads next agrees with the answer.
        let mut reply = None;
        match &self.target_preset {
            Some((t, reason, deadline)) => {
                if pos == PtzPosition::At(t.clone()) {
                    let reason = *reason;
                    self.target_preset = None;
                    if reason == MoveReason::Patrol {
                        self.arrived_at = Some(Instant::now());
                    }
                    if let Some(p) = self.pending.take() {
                        reply = Some((p, Ok(())));
                    }
                } else if Instant::now() > *deadline {
                    tracing::warn!(camera = %self.target.camera_id, preset = %t, "ptz: the camera did not reach the preset");
                    if let Some(p) = self.pending.take() {
                        reply = Some((p, Err(format!("the camera did not reach preset {t}"))));
                    }
                    self.target_preset = None;
                } else {
                    // On its way: not at any preset yet, whatever it passes.
                    pos = PtzPosition::Moving;
                }
            }
            None => {
                let moved = st.moving
                    || matches!((self.idle_position, st.position), (Some(a), Some(b)) if a.distance(&b) > self.cfg.tolerance);
                // Found standing away from home with nobody moving it (the box just
                // started, or an operator left it before): the return clock starts now.
                let away_from_home = self.cfg.patrol.is_none()
                    && self.cfg.return_after_s.is_some()
                    && self.operator_since.is_none()
                    && !st.moving
                    && self
                        .cfg
                        .home
                        .as_ref()
                        .is_some_and(|h| pos != PtzPosition::At(h.clone()));
                if away_from_home && !moved {
                    self.operator_since = Some(Instant::now());
                }
                if moved {
                    if self.operator_since.is_none() {
                        tracing::info!(camera = %self.target.camera_id, "ptz: moved by an operator");
                    }
                    self.operator_since = Some(Instant::now());
                    if self.cfg.patrol.is_some() && !self.patrol_paused {
                        self.patrol_paused = true;
                        tracing::info!(camera = %self.target.camera_id, "ptz: patrol paused");
                    }
                }
            }
        }
        self.idle_position = if st.moving { None } else { st.position };
        let mut s = self.shared.lock().unwrap();
        s.connected = true;
        s.error = None;
        s.position = Some(pos);
        s.status = Some(st);
        s.patrolling = self.cfg.patrol.is_some() && !self.patrol_paused;
        s.operator_idle_s = self.operator_since.map(|t| t.elapsed().as_secs_f64());
        drop(s);
        if let Some((p, r)) = reply {
            let _ = p.send(r);
        }
    }

    /// Patrol steps and the return home.
    fn plan(&mut self) {
        if self.client.is_none() || self.target_preset.is_some() {
            return;
        }
        if let (Some(after), Some(since)) = (self.cfg.return_after_s, self.operator_since)
            && since.elapsed().as_secs_f64() >= after
        {
            self.operator_since = None;
            if self.cfg.patrol.is_some() {
                tracing::info!(camera = %self.target.camera_id, "ptz: no operator movement; patrol resumes");
                self.patrol_paused = false;
                self.goto_next_patrol(true);
            } else if let Some(home) = self.cfg.home.clone() {
                let here = self.shared.lock().unwrap().position.clone();
                if here != Some(PtzPosition::At(home.clone())) {
                    let _ = self.start_move(&home, MoveReason::ReturnHome);
                }
            }
            return;
        }
        let Some(patrol) = self.cfg.patrol.clone() else {
            return;
        };
        if self.patrol_paused {
            return;
        }
        if self
            .arrived_at
            .is_some_and(|t| t.elapsed().as_secs_f64() >= patrol.dwell_s)
        {
            self.patrol_index = (self.patrol_index + 1) % patrol.presets.len().max(1);
            self.goto_next_patrol(false);
        }
    }

    /// Moves to the patrol's current preset; `resumed` when an operator interrupted
    /// it (that move is recorded as a return home: back to work).
    fn goto_next_patrol(&mut self, resumed: bool) {
        let Some(p) = self.cfg.patrol.as_ref() else {
            return;
        };
        let Some(preset) = p.presets.get(self.patrol_index).cloned() else {
            return;
        };
        self.arrived_at = None;
        let reason = if resumed {
            MoveReason::ReturnHome
        } else {
            MoveReason::Patrol
        };
        if self.start_move(&preset, reason).is_ok() && resumed {
            // Arrival is a patrol arrival: the dwell starts there.
            if let Some(t) = &mut self.target_preset {
                t.1 = MoveReason::Patrol;
            }
        }
    }
}
