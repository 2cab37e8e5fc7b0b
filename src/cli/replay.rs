//! `streetwatch replay`: the full pipeline (ingest from files, inference, tracking,
//! rules, evidence) as fast as the machine allows, on media time, printing every event
//! as one JSON line. Nothing is dropped: files use blocking queues and lossless
//! inference, so the same input gives the same events every run.

use anyhow::{Context, bail};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use streetwatch::config;
use streetwatch::daemon::analysis::{CameraAnalysis, EventSink};
use streetwatch::infer::registry::ModelRegistry;
use streetwatch::infer::worker::SubmitMode;
use streetwatch::ingest::pipeline::{Anchor, Source};
use streetwatch::ingest::{Camera, CameraSpec, Overflow, Pop};
use streetwatch::rules::scene::script::PtzScript;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Config with the cameras, zones and rules to replay.
    #[arg(long, short)]
    config: PathBuf,
    /// ID=VIDEO: replay VIDEO as camera ID (default: cameras whose url is file://).
    #[arg(long = "camera", value_parser = parse_camera)]
    cameras: Vec<(String, PathBuf)>,
    /// Print events as JSON lines (default: one readable line each).
    #[arg(long)]
    json: bool,
    /// Where evidence goes (default: a temporary directory, deleted afterwards).
    #[arg(long)]
    evidence_dir: Option<PathBuf>,
    /// Wall-clock time the media starts at, RFC 3339 (fixed so replays repeat exactly).
    #[arg(long, default_value = "2026-11-21T08:00:00+08:00")]
    start: String,
    /// Continue the cases the previous `--resume` replay of each camera left open (kept
    /// in `<state_dir>/stays/replay/`), as the daemon does across a restart, and leave
    /// this run's open cases for the next one. Without it every run starts afresh.
    #[arg(long)]
    resume: bool,
    /// ID=FILE: where PTZ camera ID was while the video ran (`<seconds> at <preset>`,
    /// `<seconds> moving`, `<seconds> away` per line; see docs/events.md). Without it a
    /// PTZ camera is taken to be at its home preset throughout.
    #[arg(long = "ptz-script", value_parser = parse_camera)]
    ptz_scripts: Vec<(String, PathBuf)>,
}

fn parse_camera(s: &str) -> Result<(String, PathBuf), String> {
    let (id, path) = s
        .split_once('=')
        .ok_or_else(|| format!("\"{s}\": expected ID=VIDEO"))?;
    Ok((id.to_string(), PathBuf::from(path)))
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let mut cfg = match super::load_config(&a.config) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let start = chrono::DateTime::parse_from_rfc3339(&a.start)
        .with_context(|| format!("--start {}: not an RFC 3339 time", a.start))?;
    let anchor = start
        .timestamp_nanos_opt()
        .context("--start out of range")?;
    // Which camera reads which file.
    let mut files: BTreeMap<String, PathBuf> = BTreeMap::new();
    for (id, path) in &a.cameras {
        if !cfg.cameras.iter().any(|c| &c.id == id) {
            bail!(
                "--camera {id}: no camera \"{id}\" in {}",
                a.config.display()
            );
        }
        files.insert(id.clone(), path.clone());
    }
    if files.is_empty() {
        for c in &cfg.cameras {
            if let Ok(u) = url::Url::parse(&c.url)
                && u.scheme() == "file"
                && let Ok(p) = u.to_file_path()
            {
                files.insert(c.id.clone(), p);
            }
        }
    }
    if files.is_empty() {
        bail!("nothing to replay: give --camera ID=VIDEO or use file:// camera URLs");
    }
    for (id, _) in &a.ptz_scripts {
        match cfg.cameras.iter().find(|c| &c.id == id) {
            None => bail!(
                "--ptz-script {id}: no camera \"{id}\" in {}",
                a.config.display()
            ),
            Some(c) if c.ptz.is_none() => bail!(
                "--ptz-script {id}: camera \"{id}\" has no [cameras.ptz]; add it (with the home preset) to replay a PTZ camera"
            ),
            Some(_) => {}
        }
    }
    let _tmp;
    let evidence = match &a.evidence_dir {
        Some(d) => d.clone(),
        None => {
            _tmp = tempfile_dir()?;
            _tmp.0.clone()
        }
    };
    cfg.events.evidence.dir = Some(evidence);
    let replayed: Vec<config::CameraConfig> = cfg
        .cameras
        .iter()
        .filter(|c| files.contains_key(&c.id))
        .cloned()
        .collect();
    let models = ModelRegistry::load(
        &cfg.inference,
        replayed
            .iter()
            .flat_map(|c| c.analysis.models.iter().map(String::as_str)),
    );
    // Lossless: a replay wants every event, whatever it costs in time.
    let sink = EventSink::lossless(64);
    let printer = {
        let sink = sink.clone();
        let json = a.json;
        std::thread::spawn(move || {
            let mut out = std::io::stdout().lock();
            loop {
                match sink.pop_timeout(Duration::from_millis(200)) {
                    Pop::Item(ev) => {
                        let line = if json {
                            serde_json::to_string(&ev).unwrap_or_default()
                        } else {
                            format!(
                                "{} {:?} {:?} camera={} {}",
                                ev.times.reported,
                                ev.kind,
                                ev.phase,
                                ev.camera.id,
                                ev.description.en
                            )
                        };
                        let _ = writeln!(out, "{line}");
                        let _ = out.flush();
                    }
                    Pop::Timeout => {}
                    Pop::Closed => break,
                }
            }
        })
    };
    let mut threads = Vec::new();
    for cam in replayed {
        let path = files[&cam.id].clone();
        let rate = streetwatch::rules::rate::resolve(&cam, &cfg.events.tracker);
        let mut spec = CameraSpec::from_config(&cam, rate.spec(cam.analysis.max_width));
        spec.source = Source::File { path };
        // A replay plays one file per camera: it is both streams.
        spec.analysis_source = None;
        spec.anchor = Anchor::Fixed(anchor);
        spec.overflow = Overflow::Block;
        spec.queue_depth = spec.queue_depth.max(4);
        let camera = Camera::spawn(spec);
        let mut analysis =
            CameraAnalysis::for_replay(&cfg, &cam, camera.shared.clone(), sink.clone(), a.resume)
                .with_context(|| format!("camera {}", cam.id))?;
        if let Some((_, path)) = a.ptz_scripts.iter().find(|(id, _)| id == &cam.id) {
            let text = std::fs::read_to_string(path).with_context(|| {
                format!("--ptz-script {}: cannot read {}", cam.id, path.display())
            })?;
            let script = PtzScript::parse(&text)
                .with_context(|| format!("--ptz-script {}: {}", cam.id, path.display()))?;
            analysis.set_ptz_script(script);
        }
        let handles: Vec<_> = cam
            .analysis
            .models
            .iter()
            .filter_map(|m| models.service(m))
            .map(|svc| svc.add_camera(&cam.id, SubmitMode::Lossless, 8))
            .collect();
        if handles.is_empty() {
            bail!(
                "camera {}: none of its models is available ({})",
                cam.id,
                cam.analysis.models.join(", ")
            );
        }
        threads.push(std::thread::spawn(move || {
            // One frame at a time through every model, in order: determinism over speed.
            while let Pop::Item(frame) = camera.frames().pop_timeout(Duration::from_secs(120)) {
                let (time, w, h) = (frame.time, frame.width, frame.height);
                // PTZ position and tampering checks first: a frame the rules must not
                // decide on is known before its detections arrive.
                analysis.on_picture(&frame);
                let frame = std::sync::Arc::new(frame);
                let mut dets = Vec::new();
                for (hd, rx) in &handles {
                    if hd.submit(frame.clone()).is_err() {
                        continue;
                    }
                    if let Ok(r) = rx.recv_timeout(Duration::from_secs(120))
                        && let Ok(d) = r.detections
                    {
                        dets.extend(d);
                    }
                }
                analysis.on_frame(time, w, h, &dets);
            }
            if let streetwatch::ingest::CameraStatus::Failed { message, .. } = camera.status() {
                eprintln!("error: camera {}: {message}", camera.id());
            }
            analysis.finish();
        }));
    }
    for t in threads {
        let _ = t.join();
    }
    sink.close();
    let _ = printer.join();
    Ok(ExitCode::SUCCESS)
}

/// A temporary evidence directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempfile_dir() -> anyhow::Result<TempDir> {
    let p = std::env::temp_dir().join(format!("streetwatch-replay-{}", std::process::id()));
    std::fs::create_dir_all(&p)?;
    Ok(TempDir(p))
}
