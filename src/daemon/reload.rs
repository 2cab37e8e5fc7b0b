//! What a reload reports, and the `cmd reload-config` requests waiting for one.
//!
//! Every reload (SIGHUP, `cmd reload-config`, a save on the page) is diffed part by
//! part; the answer names the parts restarted or reconfigured (`applied`), the
//! settings that need a restart of the daemon (`restart_required`) and the parts that
//! could not start with the new settings (`failed`, retried). The page and the MQTT
//! command answer only once this is known.

use super::lifecycle::Outcome;
use crate::config::{Config, LoggingConfig};
use crate::web::ApplyReport;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

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
