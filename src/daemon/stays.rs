//! The daemon's side of open stays that survive a restart (`rules::stays` has the
//! why): where each camera's file lives, what the outbox says was committed, writing
//! the file when the rules say it changed, and closing the cases of cameras that are
//! no longer configured.

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::ingest::MediaTime;
use crate::rules::CameraEvents;
use crate::rules::event::{EndReason, Event};
use crate::rules::stays::{self, Committed, MediaClock, StaysFile};
use crate::uplink::Outbox;

/// Who runs the analysis, which decides how a restart is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartMode {
    /// `streetwatch run`: live media time, phases committed to the outbox.
    Daemon,
    /// `streetwatch replay`: file media time, every phase printed before it exits; its
    /// files live apart (`stays/replay/`) so a replay never touches a live camera's.
    Replay,
}

/// What a [`Committed`] oracle answers per event id.
pub type CommittedFn = Box<dyn Fn(&str) -> Committed>;

/// What the outbox under `state_dir` holds of `ids`; `Unknown` when it cannot be read.
pub fn outbox_committed(state_dir: &Path, ids: &[String]) -> CommittedFn {
    match Outbox::committed_phases(&Outbox::path_in(state_dir), ids) {
        Ok(map) => Box::new(move |id| Committed::Keys(map.get(id).cloned().unwrap_or_default())),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the outbox to reconcile open cases; phases are sent again and de-duplicated by their key");
            Box::new(|_| Committed::Unknown)
        }
    }
}

/// One camera's stays file.
pub struct StayStore {
    path: PathBuf,
    state_dir: PathBuf,
    mode: RestartMode,
}

impl StayStore {
    pub fn new(state_dir: &Path, camera_id: &str, mode: RestartMode) -> Self {
        let path = match mode {
            RestartMode::Daemon => stays::stays_path(state_dir, camera_id),
            RestartMode::Replay => stays::stays_dir(state_dir)
                .join("replay")
                .join(format!("{camera_id}.json")),
        };
        Self {
            path,
            state_dir: state_dir.to_path_buf(),
            mode,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn committed(&self, ids: &[String]) -> CommittedFn {
        match self.mode {
            RestartMode::Daemon => outbox_committed(&self.state_dir, ids),
            RestartMode::Replay => Box::new(|_| Committed::All),
        }
    }

    /// Gives the camera's rules back the cases open before the restart; returns the
    /// closing phases the outbox lacks, to be sent again.
    pub fn restore(&self, events: &mut CameraEvents) -> Vec<Event> {
        let file = match stays::load(&self.path) {
            Ok(Some(f)) => f,
            Ok(None) => return Vec::new(),
            Err(e) => {
                // Not ours or damaged (atomic writes make this unlikely): kept aside
                // for a person to look at, never read again.
                let aside = self.path.with_extension("json.unreadable");
                let _ = std::fs::rename(&self.path, &aside);
                tracing::error!(error = %e, kept = %aside.display(), "stays file unreadable; open cases of this camera cannot be resumed");
                return Vec::new();
            }
        };
        let clock = match self.mode {
            RestartMode::Daemon => MediaClock::Wall,
            RestartMode::Replay => MediaClock::Restarts,
        };
        let (open, closing) = (file.stays.len(), file.closing.len());
        let committed = self.committed(&file.event_ids());
        let resend = events.restore_stays(file, clock, &*committed);
        tracing::info!(
            file = %self.path.display(),
            open,
            closing,
            resent = resend.len(),
            "open cases restored; each resumes when its object is seen again in place, or ends with reason restart"
        );
        resend
    }

    /// Writes the file when the rules say it changed (`force`: now, whatever changed).
    pub fn save(&self, events: &mut CameraEvents, force: bool) {
        let file = if force {
            Some(events.stays_file())
        } else {
            events.take_stays()
        };
        let Some(mut file) = file else { return };
        if !file.closing.is_empty() {
            let committed = self.committed(&events.closing_ids());
            events.prune_closing(&*committed);
            file.closing
                .retain(|e| !stays::is_committed(e, &committed(&e.id)));
        }
        if let Err(e) = stays::save(&self.path, &file) {
            tracing::warn!(error = %e, "cannot write the open cases; a restart now would not resume them");
        }
    }
}

/// Closes the open cases of every camera that is no longer configured (removed or
/// disabled): each gets `ended` with reason `camera_removed` (after its stored
/// `started` when that never reached the outbox), handed to `send`. The phases stay in
/// the file until a later call finds them all in the outbox, then the file goes. Runs
/// at start and after every reload, once removed cameras have stopped.
pub fn close_removed_cameras(cfg: &Config, mut send: impl FnMut(Event)) {
    let state_dir = &cfg.device.state_dir;
    let tz = cfg
        .device
        .timezone
        .parse()
        .unwrap_or(chrono_tz::Asia::Shanghai);
    let now = MediaTime(chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0));
    for path in stays::list(state_dir) {
        let file = match stays::load(&path) {
            Ok(Some(f)) => f,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "skipping an unreadable stays file");
                continue;
            }
        };
        if cfg.cameras.iter().any(|c| c.enabled && c.id == file.camera) {
            continue;
        }
        let camera = file.camera.clone();
        let open = file.stays.len();
        let committed = outbox_committed(state_dir, &file.event_ids());
        let phases = stays::close_all(
            stays::reconcile(file, &*committed),
            now,
            EndReason::CameraRemoved,
            tz,
        );
        let mut keep = StaysFile::new(&camera, now);
        keep.closing = phases.iter().map(stays::strip).collect();
        if let Err(e) = stays::save(&path, &keep) {
            tracing::warn!(error = %e, "cannot rewrite the stays file of a removed camera");
        }
        if !phases.is_empty() {
            tracing::info!(camera = %camera, open, phases = phases.len(), "closing the open cases of a camera that is no longer configured");
        }
        for e in phases {
            tracing::info!(event = %e.id, kind = ?e.kind, phase = ?e.phase, seq = e.seq, camera = %e.camera.id, "event decided");
            send(e);
        }
    }
}
