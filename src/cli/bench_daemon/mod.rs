//! `streetwatch bench --daemon`: the real daemon against the peer Python/OpenCV
//! pipeline on the same simulated RTSP cameras, in one run.
//!
//! What it does, all on this machine and on 127.0.0.1:
//! 1. makes 1920x1080 / 640x360 25 fps H.264 versions of a sample video (2 s GOP,
//!    about 4 Mbit/s and 0.6 Mbit/s, no B-frames, as IP cameras send them), cached
//!    under `target/bench-media/` ([`media`]);
//! 2. serves them from one `streetwatch serve-rtsp` process (one mount per camera);
//! 3. side by side: for each workload, runs the real `streetwatch run` with N cameras
//!    (zones and a no-parking rule on every camera, outbox, evidence), then the peer
//!    (`scripts/bench/peer_pipeline.py`) on the same URLs, alternating, each
//!    `--repeats` times; each run is measured over a fixed window after warm-up:
//!    process CPU (utime+stime from /proc), peak RSS, analysed fps, dropped frames;
//!    for the daemon also event latency (confirming frame to decision and to the
//!    outbox commit);
//! 4. capacity: per mode, steps the number of cameras to find the most that run
//!    without drops ([`capacity`]).
//!
//! Absolute figures move with the machine's load; the ratios are taken from runs that
//! alternate within one command, and every figure is printed with its spread.

mod capacity;
mod measure;
mod media;
mod report;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub use measure::{RunSpec, Who};

/// Settings of one `bench --daemon` invocation.
#[derive(Debug, Clone)]
pub struct DaemonBench {
    pub video: PathBuf,
    pub out_dir: PathBuf,
    /// Seconds measured per run (after warm-up).
    pub window_s: f64,
    /// Seconds between "every camera analysed a frame" and the window.
    pub settle_s: f64,
    pub repeats: usize,
    /// Cameras in the side-by-side workloads.
    pub cameras: usize,
    pub peer: bool,
    pub capacity: bool,
    /// Side by side only the 5 fps workload, capacity only at each goal.
    pub quick: bool,
    /// Peer mode: `read` (decode and convert every frame) or `grab`.
    pub peer_mode: String,
    /// Only the modes whose name contains one of these (empty: all).
    pub modes: Vec<String>,
}

impl DaemonBench {
    /// Whether `--mode` selects `mode`: a mode's whole name selects that mode alone
    /// (`"5 fps"`), other text every mode whose name contains it (`auto`).
    pub fn selected(&self, mode: &Mode) -> bool {
        self.modes.is_empty()
            || self.modes.iter().any(|m| {
                if MODES.iter().any(|x| x.name == m) {
                    mode.name == m
                } else {
                    mode.name.contains(m.as_str())
                }
            })
    }
}

/// A workload: how the cameras are analysed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Mode {
    pub name: &'static str,
    /// Analysis frames per second (keyframes-only: at most this many).
    pub fps: f64,
    pub keyframes_only: bool,
    /// Analysis on the 640x360 stream instead of the 1080p one.
    pub substream: bool,
    /// Cameras the issue asks this mode to fit on the box.
    pub goal_cameras: usize,
    /// `fps = "auto"` with one zone of this rule type: the daemon picks the rate
    /// (`rules::rate`); `fps` and `keyframes_only` then say what it should pick.
    pub auto_rule: Option<&'static str>,
}

pub const MODES: [Mode; 6] = [
    Mode {
        name: "parking, keyframes only",
        fps: 1.0,
        keyframes_only: true,
        substream: false,
        goal_cameras: 32,
        auto_rule: None,
    },
    Mode {
        name: "2 fps",
        fps: 2.0,
        keyframes_only: false,
        substream: false,
        goal_cameras: 8,
        auto_rule: None,
    },
    Mode {
        name: "5 fps",
        fps: 5.0,
        keyframes_only: false,
        substream: false,
        goal_cameras: 4,
        auto_rule: None,
    },
    Mode {
        name: "5 fps, 640x360 analysis stream",
        fps: 5.0,
        keyframes_only: false,
        substream: true,
        goal_cameras: 12,
        auto_rule: None,
    },
    // The cheapest decode that serves the camera's rules: a parking camera decodes
    // keyframes only (the 2 s GOP is within what parking allows), a littering camera
    // every frame at 5 fps (a person track).
    Mode {
        name: "auto, a parking camera",
        fps: 1.0,
        keyframes_only: true,
        substream: false,
        goal_cameras: 32,
        auto_rule: Some("no_parking"),
    },
    Mode {
        name: "auto, a littering camera",
        fps: 5.0,
        keyframes_only: false,
        substream: false,
        goal_cameras: 4,
        auto_rule: Some("litter_watch"),
    },
];

/// Frames per second and GOP of the bench streams.
pub const STREAM_FPS: f64 = 25.0;
pub const GOP_FRAMES: u32 = 50;

/// The analysis rate a camera of `mode` should reach.
pub fn expected_fps(mode: &Mode) -> f64 {
    if mode.keyframes_only {
        mode.fps.min(STREAM_FPS / GOP_FRAMES as f64)
    } else {
        mode.fps
    }
}

/// Everything a run needs besides its spec.
pub struct Env {
    pub exe: PathBuf,
    pub models_dir: PathBuf,
    pub weights_dir: PathBuf,
    pub python: PathBuf,
    pub peer_script: PathBuf,
    pub peer_model: PathBuf,
    pub main_urls: Vec<String>,
    pub sub_urls: Vec<String>,
    pub work: PathBuf,
    pub cfg: DaemonBench,
}

impl Env {
    pub fn urls(&self, mode: &Mode, n: usize) -> Vec<String> {
        let all = if mode.substream {
            &self.sub_urls
        } else {
            &self.main_urls
        };
        all.iter().take(n).cloned().collect()
    }
}

pub fn run(cfg: DaemonBench) -> Result<ExitCode> {
    let repo = std::env::current_dir()?;
    let assets = std::env::var_os("STREETWATCH_ASSETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join(".deps"));
    let python = std::env::var_os("STREETWATCH_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| assets.join("venv/bin/python"));
    let weights_dir = assets.join("models");
    let peer_model = weights_dir.join("yolox-nano/yolox_nano.onnx");
    let peer_script = repo.join("scripts/bench/peer_pipeline.py");
    if cfg.peer && !peer_script.is_file() {
        bail!(
            "{} not found: run the benchmark from the repository root",
            peer_script.display()
        );
    }
    if !repo.join("models/yolox-nano/model.toml").is_file() {
        bail!("models/yolox-nano/model.toml not found: run the benchmark from the repository root");
    }
    std::fs::create_dir_all(&cfg.out_dir)?;
    let media_dir = repo.join("target/bench-media");
    eprintln!("bench: preparing media in {}", media_dir.display());
    let main = media::ensure(&cfg.video, &media_dir, media::MAIN)?;
    let sub = media::ensure(&cfg.video, &media_dir, media::SUB)?;

    let max_main = if cfg.capacity {
        MODES
            .iter()
            .filter(|m| !m.substream && cfg.selected(m))
            .map(|m| capacity::max_cameras(m, cfg.quick))
            .max()
            .unwrap_or(0)
            .max(cfg.cameras)
    } else {
        cfg.cameras
    };
    let max_sub = if cfg.capacity && cfg.selected(&MODES[3]) {
        capacity::max_cameras(&MODES[3], cfg.quick)
    } else {
        0
    };
    let work = tempdir_in(&repo.join("target"))?;
    eprintln!("bench: starting serve-rtsp with {max_main} + {max_sub} mounts");
    let exe = std::env::current_exe()?;
    let server = measure::Server::start(&exe, &main, max_main, &sub, max_sub, &work)?;
    let env = Env {
        exe,
        models_dir: repo.join("models"),
        weights_dir,
        python,
        peer_script,
        peer_model,
        main_urls: server.urls("m", max_main),
        sub_urls: server.urls("s", max_sub),
        work: work.clone(),
        cfg: cfg.clone(),
    };
    let started = std::time::Instant::now();
    let side = side_by_side(&env, &server)?;
    let cap = if cfg.capacity {
        capacity::search(&env, &server)?
    } else {
        Vec::new()
    };
    drop(server);
    let out = report::Output {
        machine: report::machine(),
        load_before: report::loadavg(),
        window_s: cfg.window_s,
        repeats: cfg.repeats,
        peer_mode: cfg.peer_mode.clone(),
        side_by_side: side,
        capacity: cap,
        seconds: started.elapsed().as_secs_f64(),
    };
    let json = serde_json::to_string_pretty(&out)?;
    std::fs::write(cfg.out_dir.join("bench-daemon.json"), &json)
        .context("writing bench-daemon.json")?;
    let text = report::tables(&out);
    std::fs::write(cfg.out_dir.join("bench-daemon.md"), &text)?;
    println!("{text}");
    let _ = std::fs::remove_dir_all(&work);
    Ok(ExitCode::SUCCESS)
}

/// The side-by-side workloads: the daemon and the peer alternate.
fn side_by_side(env: &Env, server: &measure::Server) -> Result<Vec<report::SideBySide>> {
    let n = env.cfg.cameras;
    let modes: Vec<Mode> = if env.cfg.quick {
        vec![MODES[2]]
    } else {
        vec![MODES[2], MODES[0]]
    };
    let modes: Vec<Mode> = modes.into_iter().filter(|m| env.cfg.selected(m)).collect();
    let mut out = Vec::new();
    for mode in modes {
        let mut daemon = Vec::new();
        let mut peer = Vec::new();
        for rep in 0..env.cfg.repeats {
            eprintln!(
                "bench: {} x {} ({}), run {}/{}: daemon",
                n,
                if mode.substream { "640x360" } else { "1080p25" },
                mode.name,
                rep + 1,
                env.cfg.repeats
            );
            daemon.push(measure::run(
                env,
                server,
                &RunSpec::new(Who::Daemon, mode, n),
            )?);
            if env.cfg.peer {
                eprintln!("bench: ... peer");
                peer.push(measure::run(
                    env,
                    server,
                    &RunSpec::new(Who::Peer, mode, n),
                )?);
            }
        }
        out.push(report::SideBySide::new(mode, n, daemon, peer));
    }
    Ok(out)
}

/// A fresh directory under `parent` (removed at the end of the run).
fn tempdir_in(parent: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(parent)?;
    let d = parent.join(format!("bench-daemon-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d)?;
    Ok(d)
}
