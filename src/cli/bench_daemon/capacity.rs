//! Capacity per mode: the most cameras the daemon analyses without drops.
//!
//! Starts at the mode's goal: if it fits, steps up by half (at most twice, quick mode
//! none); if not, halves until a count fits and then bisects, within a budget of
//! trials per mode, so the whole search stays bounded in time.

use super::measure::{self, Run, RunSpec, Server, Who};
use super::{Env, MODES, Mode};
use anyhow::Result;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Capacity {
    pub mode: Mode,
    /// Most cameras that fit (0: not even one).
    pub fit: usize,
    /// Fewest cameras tried that did not fit, if any.
    pub failed_at: Option<usize>,
    /// The run at `fit` cameras.
    pub at_fit: Option<Run>,
    pub trials: Vec<Run>,
}

/// Trials per mode.
fn budget(quick: bool) -> usize {
    if quick { 1 } else { 4 }
}

/// The most cameras a search may try in `mode` (mounts to serve).
pub fn max_cameras(mode: &Mode, quick: bool) -> usize {
    if quick {
        mode.goal_cameras
    } else {
        // Two steps up by half.
        let once = mode.goal_cameras.div_ceil(2) + mode.goal_cameras;
        once.div_ceil(2) + once
    }
}

pub fn search(env: &Env, server: &Server) -> Result<Vec<Capacity>> {
    let mut out = Vec::new();
    for mode in MODES.into_iter().filter(|m| env.cfg.selected(m)) {
        let quick = env.cfg.quick;
        let (mut fit, mut failed_at): (usize, Option<usize>) = (0, None);
        let mut at_fit = None;
        let mut trials = Vec::new();
        let mut n = mode.goal_cameras;
        let mut ups = 0;
        for _ in 0..budget(quick) {
            eprintln!("bench: capacity {}: {n} camera(s)", mode.name);
            let r = measure::run(env, server, &RunSpec::new(Who::Daemon, mode, n))?;
            let ok = r.fits();
            eprintln!(
                "bench:   {:.2} cores, {:.2} fps/camera at worst (want {:.2}), {} of {} dropped: {}",
                r.cpu_cores,
                r.analysed_fps_min_camera,
                r.expected_fps_per_camera,
                r.dropped,
                r.offered,
                if ok { "fits" } else { "does not fit" }
            );
            trials.push(r.clone());
            if ok {
                fit = n;
                at_fit = Some(r);
            } else {
                failed_at = Some(failed_at.map_or(n, |f| f.min(n)));
            }
            let next = match failed_at {
                None if ups < 2 => {
                    ups += 1;
                    n + n.div_ceil(2)
                }
                None => break,
                Some(f) if fit == 0 => (f / 2).max(1),
                Some(f) => (fit + f) / 2,
            };
            if next == n || next <= fit || failed_at.is_some_and(|f| next >= f) || next == 0 {
                break;
            }
            n = next.min(max_cameras(&mode, quick));
        }
        out.push(Capacity {
            mode,
            fit,
            failed_at,
            at_fit,
            trials,
        });
    }
    Ok(out)
}
