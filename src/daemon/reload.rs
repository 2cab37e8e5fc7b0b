//! What a reload reports, and the `cmd reload-config` requests waiting for one.
//!
//! Every reload (SIGHUP, `cmd reload-config`, a save on the page) is diffed part by
//! part; the answer names the parts restarted or reconfigured (`applied`), the
//! settings that need a restart of the daemon (`restart_required`) and the parts that
//! could not start with the new settings (`failed`, retried). The page and the MQTT
//! command answer only once this is known.

use super::Control;
use super::camera::{self, CameraPart};
use super::lifecycle::{self, Outcome};
use super::models;
use super::parts::{HttpSlice, OutboxSlice, UplinkSlice, WebSlice};
use crate::config::{self, Config, LoggingConfig};
use crate::web::ApplyReport;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Settings the running process cannot take: named in the report, in force after
/// the next start.
pub fn restart_only(old: &Config, new: &Config) -> Vec<String> {
    let mut out = Vec::new();
    if super::models::library_changed(&old.inference, &new.inference) {
        out.push("inference.library_path".into());
    }
    out
}

/// Re-apply `[logging]`; returns the report entry when something changed.
pub fn apply_logging(
    old: &LoggingConfig,
    new: &LoggingConfig,
    report: &mut ApplyReport,
) -> Option<String> {
    if old == new {
        return None;
    }
    let item = match crate::logging::apply(new) {
        Ok(crate::logging::Applied::Unchanged) => return None,
        Ok(crate::logging::Applied::Applied) => "logging".to_string(),
        Ok(crate::logging::Applied::LevelOverridden) => {
            "logging (the level stays as RUST_LOG sets it)".to_string()
        }
        Err(e) => {
            report.failed.push(format!("logging: {e}"));
            return None;
        }
    };
    report.applied.push(item.clone());
    Some(item)
}

/// Record what reconciling part `name` did.
pub fn outcome(report: &mut ApplyReport, name: &str, o: Outcome) {
    match o {
        Outcome::Unchanged => {}
        Outcome::Applied => report.applied.push(name.to_string()),
        Outcome::Failed(e) => report.failed.push(format!("{name}: {e}")),
    }
}

/// Most `cmd reload-config` requests that may wait for the daemon loop (a burst of
/// commands needs only one reload each; more are answered "busy" at once).
const MAX_WAITING_COMMANDS: usize = 8;

/// `cmd reload-config` requests (their `id`s) waiting for the daemon loop.
#[derive(Clone, Default)]
pub struct Commands(Arc<Mutex<VecDeque<serde_json::Value>>>);

impl Commands {
    /// The uplink's hook: queue the request; the daemon answers after the reload.
    pub fn hook(&self) -> crate::uplink::ReloadFn {
        let q = self.0.clone();
        Arc::new(move |id| {
            let mut q = q.lock().unwrap_or_else(|p| p.into_inner());
            if q.len() >= MAX_WAITING_COMMANDS {
                return Err("busy: earlier reload-config requests are still running".into());
            }
            q.push_back(id);
            Ok(())
        })
    }

    /// The waiting requests, oldest first.
    pub fn take(&self) -> Vec<serde_json::Value> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
            .collect()
    }
}

/// The `…/cmd/response` payload of a reload-config request.
pub fn command_answer(
    id: serde_json::Value,
    result: &Result<(ApplyReport, bool), String>,
) -> Vec<u8> {
    let v = match result {
        Ok((r, _)) => serde_json::json!({
            "id": id,
            "cmd": "reload-config",
            "ok": r.failed.is_empty(),
            "complete": r.complete(),
            "applied": r.applied,
            "restart_required": r.restart_required,
            "failed": r.failed,
        }),
        Err(e) => serde_json::json!({
            "id": id,
            "cmd": "reload-config",
            "ok": false,
            "error": e,
        }),
    };
    serde_json::to_vec(&v).unwrap_or_default()
}

impl super::Daemon {
    /// Bring models and cameras in line with `config` (unchanged cameras keep
    /// running, untouched).
    pub(super) fn apply_cameras_and_models(&mut self, config: &Config, report: &mut ApplyReport) {
        // Models first: a camera's analysis binds to its models' services.
        let needed = config
            .cameras
            .iter()
            .filter(|c| c.enabled)
            .flat_map(|c| c.analysis.models.iter().cloned())
            .collect();
        for change in self
            .models
            .reconcile(&config.inference, &needed, &self.liveness)
        {
            match change {
                models::ModelChange::Started(id) => report.applied.push(format!("model:{id}")),
                models::ModelChange::Stopped(id) => {
                    report.applied.push(format!("model:{id} (stopped)"))
                }
                models::ModelChange::Failed { id, reason } => {
                    report.failed.push(format!("model:{id}: {reason}"))
                }
            }
        }
        let wanted: BTreeMap<String, config::CameraConfig> = config
            .cameras
            .iter()
            .filter(|c| c.enabled)
            .map(|c| (c.id.clone(), c.clone()))
            .collect();
        let ids: Vec<String> = self.cameras.keys().cloned().collect();
        for id in ids {
            let restart = match wanted.get(&id) {
                Some(w) => !self.cameras[&id].same_stream(w, &config.events.tracker),
                None => true,
            };
            if restart {
                tracing::info!(camera = %id, "stopping camera (removed or changed)");
                self.cameras.remove(&id).unwrap().stop();
                self.camera_env.board.forget(&id);
                if !wanted.contains_key(&id) {
                    report.applied.push(format!("camera:{id} (stopped)"));
                }
                continue;
            }
            let part = self.cameras.get_mut(&id).unwrap();
            match part.reconcile(config, &wanted[&id], &self.camera_env, &self.models) {
                camera::CameraChange::Unchanged => {}
                camera::CameraChange::Zones | camera::CameraChange::Analysis => {
                    report.applied.push(format!("analysis:{id}"))
                }
                camera::CameraChange::AnalysisFailed(e) => {
                    report.failed.push(format!("analysis:{id}: {e}"))
                }
            }
        }
        for (id, c) in wanted {
            if !self.cameras.contains_key(&id) {
                let part = CameraPart::start(config, &c, &self.camera_env, &self.models);
                self.cameras.insert(id.clone(), part);
                report.applied.push(format!("camera:{id}"));
            }
        }
        // Removed cameras have stopped (and saved their open cases): close them.
        let sink = self.sink.clone();
        super::stays::close_removed_cameras(config, |e| {
            sink.push(e);
        });
    }

    /// Apply `new` to the running parts; returns what was applied and whether the page
    /// must restart (done by the caller after answering, since the answer may be going
    /// out through the page itself).
    pub(super) fn apply(&mut self, new: Config) -> (ApplyReport, bool) {
        let old = self.config.clone();
        let mut report = ApplyReport {
            restart_required: restart_only(&old, &new),
            ..Default::default()
        };
        if let Some(item) = apply_logging(&old.logging, &new.logging, &mut report) {
            tracing::debug!(part = %item, "logging re-applied");
        }
        if new.events.queue_depth() != old.events.queue_depth() {
            self.sink.set_capacity(new.events.queue_depth());
            report.applied.push("events.queue_depth".into());
        }
        *self.state_dir.lock().unwrap() = new.device.state_dir.clone();
        self.space.set_dir(&new.device.state_dir);
        *self.telemetry.device_id.lock().unwrap() = new.device.id.clone();
        outcome(
            &mut report,
            "outbox",
            self.outbox.reconcile(OutboxSlice::of(&new), &self.env),
        );
        // The two sinks are separate parts: each restarts only when its own settings
        // changed, so a new `[uplink.http]` leaves the MQTT connection up.
        if UplinkSlice::of(&new) != UplinkSlice::of(&old) {
            tracing::info!("uplink settings changed: restarting the uplink");
        }
        outcome(
            &mut report,
            "uplink",
            self.uplink.reconcile(UplinkSlice::of(&new), &self.env),
        );
        if HttpSlice::of(&new) != HttpSlice::of(&old) {
            tracing::info!("[uplink.http] settings changed: restarting the HTTP sink");
        }
        outcome(
            &mut report,
            "uplink-http",
            self.http.reconcile(HttpSlice::of(&new), &self.env),
        );
        self.publish_part_errors();
        self.apply_cameras_and_models(&new, &mut report);
        let web_changed = WebSlice::of(&new) != WebSlice::of(&old) || self.web.waiting();
        if web_changed {
            report.applied.push("web".into());
        }
        self.env.backend.set_running(new.clone());
        self.config = new;
        self.update_telemetry();
        tracing::info!(
            applied = %report.applied.join(", "),
            restart_required = %report.restart_required.join(", "),
            failed = %report.failed.join("; "),
            "configuration applied"
        );
        tracing::debug!(report = ?report, "reload report");
        (report, web_changed)
    }

    /// Restart the page with the running config's `[web]` (after a reload answered).
    pub(super) fn restart_web(&mut self) {
        if let lifecycle::Outcome::Failed(e) =
            self.web.reconcile(WebSlice::of(&self.config), &self.env)
        {
            tracing::error!(error = %e, "technician page: the new settings did not start; retrying");
        }
    }

    /// Re-read the config file and apply it. A bad file is reported and the running
    /// config kept.
    pub(super) fn reload_from_file(&mut self) -> Result<(ApplyReport, bool), String> {
        let Some(path) = self.config_path.clone() else {
            return Err("this daemon runs without a config file (demo)".into());
        };
        match config::load(&path) {
            Ok(c) => {
                tracing::info!(path = %path.display(), "config reloaded");
                Ok(self.apply(c))
            }
            Err(e) => {
                tracing::error!(error = %e, "config reload refused; keeping the running config");
                Err(e.to_string())
            }
        }
    }

    /// Handle SIGHUP, `cmd reload-config` and a config saved on the page.
    pub(super) fn handle_reloads(&mut self, control: &Control) {
        let mut web_restart = false;
        if control.reload.swap(false, Ordering::SeqCst)
            && let Ok((_, web)) = self.reload_from_file()
        {
            web_restart |= web;
        }
        for id in self.commands.take() {
            let result = self.reload_from_file();
            if let Ok((_, web)) = &result {
                web_restart |= web;
            }
            let answer = command_answer(id, &result);
            match self
                .env
                .delivery
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
            {
                Some(d) => d.respond(answer),
                None => {
                    tracing::warn!("reload-config done, but the uplink is not running to answer")
                }
            }
        }
        if let Some((c, reply)) = self.env.backend.take_pending() {
            tracing::info!("applying the configuration saved on the technician page");
            let (report, web) = self.apply(c);
            web_restart |= web;
            // The page waits for this answer; it goes out before the page restarts.
            let _ = reply.send(report);
        }
        if web_restart {
            // Give the answer a moment to leave through the page being restarted
            // (its graceful shutdown waits for requests in flight anyway).
            std::thread::sleep(Duration::from_millis(100));
            self.restart_web();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_library_is_the_one_restart_only_setting() {
        let old = Config::default();
        let mut new = old.clone();
        new.inference.intra_threads = 4;
        new.device.timezone = "Asia/Urumqi".into();
        assert!(restart_only(&old, &new).is_empty());
        new.inference.library_path = Some("/opt/ort/libonnxruntime.so".into());
        assert_eq!(restart_only(&old, &new), ["inference.library_path"]);
    }

    #[test]
    fn commands_wait_bounded_and_answer_with_the_report() {
        let c = Commands::default();
        let hook = c.hook();
        for i in 0..MAX_WAITING_COMMANDS {
            hook(serde_json::json!(i)).unwrap();
        }
        assert!(hook(serde_json::json!("one too many")).is_err());
        assert_eq!(c.take().len(), MAX_WAITING_COMMANDS);
        let report = ApplyReport {
            applied: vec!["web".into()],
            restart_required: vec!["inference.library_path".into()],
            failed: vec![],
        };
        let a: serde_json::Value = serde_json::from_slice(&command_answer(
            serde_json::json!("r1"),
            &Ok((report, true)),
        ))
        .unwrap();
        assert_eq!(a["id"], "r1");
        assert_eq!(a["ok"], true);
        assert_eq!(a["complete"], false);
        assert_eq!(a["applied"][0], "web");
        assert_eq!(a["restart_required"][0], "inference.library_path");
        let e: serde_json::Value = serde_json::from_slice(&command_answer(
            serde_json::json!(2),
            &Err("cameras[0].url: bad".into()),
        ))
        .unwrap();
        assert_eq!(e["ok"], false);
        assert!(e["error"].as_str().unwrap().contains("cameras[0].url"));
    }
}
