//! One measured run of the daemon or the peer, and the RTSP server they share.

use super::{Env, Mode, expected_fps};
use anyhow::{Context, Result, bail};
use serde::Serialize;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Who {
    Daemon,
    Peer,
}

#[derive(Debug, Clone)]
pub struct RunSpec {
    pub who: Who,
    pub mode: Mode,
    pub cameras: usize,
}

impl RunSpec {
    pub fn new(who: Who, mode: Mode, cameras: usize) -> Self {
        Self { who, mode, cameras }
    }
}

/// Percentiles of a sample, milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Percentiles {
    pub n: usize,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    pub fn of(mut v: Vec<f64>) -> Option<Self> {
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let p = |q: f64| {
            let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
            v[rank - 1]
        };
        Some(Self {
            n: v.len(),
            p50: p(0.50),
            p95: p(0.95),
            p99: p(0.99),
            max: *v.last().unwrap(),
        })
    }
}

/// What one run measured over its window.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub who: Who,
    pub mode: &'static str,
    pub cameras: usize,
    pub window_s: f64,
    /// Process CPU (user + system) over the window, in cores.
    pub cpu_cores: f64,
    pub cpu_s_per_camera_hour: f64,
    pub rss_peak_mib: f64,
    /// Analysed frames per second, all cameras together.
    pub analysed_fps: f64,
    /// The slowest camera's analysed frames per second.
    pub analysed_fps_min_camera: f64,
    pub expected_fps_per_camera: f64,
    /// Frames offered to analysis (after the rate limiter) and those dropped before
    /// their result reached the rules (queue, inference slot or result channel).
    pub offered: u64,
    pub dropped: u64,
    /// Cameras that never analysed a frame during warm-up.
    pub cameras_silent: usize,
    /// Daemon: media time of the confirming frame to the `event decided` log line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_decided_ms: Option<Percentiles>,
    /// Daemon: media time of the confirming frame to the outbox commit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_committed_ms: Option<Percentiles>,
    /// CPU of the simulated cameras (serve-rtsp) meanwhile, in cores: not counted above.
    pub server_cpu_cores: f64,
    /// One-minute load average at the end of the window.
    pub load: f64,
}

impl Run {
    /// No camera silent, under 1 % dropped, every camera at >= 90 % of its rate.
    pub fn fits(&self) -> bool {
        self.cameras_silent == 0
            && self.dropped as f64 <= 0.01 * self.offered.max(1) as f64
            && self.analysed_fps_min_camera >= 0.9 * self.expected_fps_per_camera
    }
}

/// A child process that is stopped when dropped.
pub struct Proc {
    child: Child,
    pub name: &'static str,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
    /// SIGTERM, then SIGKILL after `grace`.
    pub fn stop(&mut self, grace: Duration) {
        if !self.alive() {
            return;
        }
        // SAFETY: kill(2) on our own child's pid; no memory is touched.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let end = Instant::now() + grace;
        while Instant::now() < end {
            if !self.alive() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(10));
    }
}

/// utime + stime of `pid`, seconds.
pub fn cpu_s(pid: u32) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let (u, s): (f64, f64) = (f.get(11)?.parse().ok()?, f.get(12)?.parse().ok()?);
    // SAFETY: sysconf has no memory effects.
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some((u + s) / tick.max(1.0))
}

/// Resident set of `pid`, MiB.
pub fn rss_mib(pid: u32) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The simulated cameras: one `serve-rtsp` with `m0..` (main) and `s0..` (substream)
/// mounts.
pub struct Server {
    proc: Proc,
    port: u16,
}

impl Server {
    pub fn start(
        exe: &Path,
        main: &Path,
        n_main: usize,
        sub: &Path,
        n_sub: usize,
        work: &Path,
    ) -> Result<Self> {
        let port = free_port()?;
        let mut cmd = Command::new(exe);
        cmd.arg("serve-rtsp").arg("--port").arg(port.to_string());
        for i in 0..n_main {
            cmd.arg("--mount").arg(format!("/m{i}={}", main.display()));
        }
        for i in 0..n_sub {
            cmd.arg("--mount").arg(format!("/s{i}={}", sub.display()));
        }
        let log = std::fs::File::create(work.join("serve-rtsp.log"))?;
        let child = cmd
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .context("starting serve-rtsp")?;
        let mut proc = Proc {
            child,
            name: "serve-rtsp",
        };
        // It prints one "serving" line per mount once it listens.
        let out = proc.child.stdout.take().context("serve-rtsp stdout")?;
        let mut lines = BufReader::new(out).lines();
        for _ in 0..(n_main + n_sub) {
            match lines.next() {
                Some(Ok(_)) => {}
                _ => bail!(
                    "serve-rtsp stopped before serving (see {})",
                    work.join("serve-rtsp.log").display()
                ),
            }
        }
        std::thread::spawn(move || for _ in lines {});
        Ok(Self { proc, port })
    }

    pub fn urls(&self, prefix: &str, n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("rtsp://127.0.0.1:{}/{prefix}{i}", self.port))
            .collect()
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }
}

fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

pub fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Counters of one camera at one moment: (seconds, offered, analysed, dropped).
type Sample = (f64, u64, u64, u64);

/// The latest counters per camera as the process reports them.
#[derive(Default)]
struct Counters {
    cams: HashMap<String, Sample>,
}

/// Run one workload and measure it.
pub fn run(env: &Env, server: &Server, spec: &RunSpec) -> Result<Run> {
    let dir = env.work.join(format!(
        "{}-{}-{}",
        match spec.who {
            Who::Daemon => "daemon",
            Who::Peer => "peer",
        },
        spec.cameras,
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0)
    ));
    std::fs::create_dir_all(&dir)?;
    let urls = env.urls(&spec.mode, spec.cameras);
    let counters = Arc::new(Mutex::new(Counters::default()));
    let mut proc = match spec.who {
        Who::Daemon => start_daemon(env, spec, &urls, &dir)?,
        Who::Peer => start_peer(env, spec, &urls, &dir, counters.clone())?,
    };
    let mut tail = LogTail::new(dir.join("log.txt"));
    let poll = |tail: &mut LogTail, c: &Arc<Mutex<Counters>>| {
        if spec.who == Who::Daemon {
            tail.read_status(&mut c.lock().unwrap());
        }
    };
    // Warm-up: every camera analysed a frame (or the deadline), then settle.
    let deadline = Instant::now() + Duration::from_secs_f64(45.0 + spec.cameras as f64);
    loop {
        poll(&mut tail, &counters);
        let ready = {
            let c = counters.lock().unwrap();
            c.cams.len() >= spec.cameras && c.cams.values().all(|s| s.2 > 0)
        };
        if ready || Instant::now() > deadline {
            break;
        }
        if !proc.alive() {
            bail!(
                "{} exited during warm-up (see {})",
                proc.name,
                dir.join("log.txt").display()
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    std::thread::sleep(Duration::from_secs_f64(env.cfg.settle_s));
    poll(&mut tail, &counters);
    let silent = {
        let c = counters.lock().unwrap();
        spec.cameras
            - c.cams
                .values()
                .filter(|s| s.2 > 0)
                .count()
                .min(spec.cameras)
    };
    let pid = proc.pid();
    let at0 = counters.lock().unwrap().cams.clone();
    let (t0, c0, s0) = (
        Instant::now(),
        cpu_s(pid).unwrap_or(0.0),
        cpu_s(server.pid()).unwrap_or(0.0),
    );
    let wall0 = chrono::Utc::now();
    let mut rss_peak: f64 = 0.0;
    let window = Duration::from_secs_f64(env.cfg.window_s);
    while t0.elapsed() < window {
        rss_peak = rss_peak.max(rss_mib(pid).unwrap_or(0.0));
        std::thread::sleep(Duration::from_millis(250));
        poll(&mut tail, &counters);
    }
    let (dt, c1, s1) = (
        t0.elapsed().as_secs_f64(),
        cpu_s(pid).unwrap_or(0.0),
        cpu_s(server.pid()).unwrap_or(0.0),
    );
    rss_peak = rss_peak.max(rss_mib(pid).unwrap_or(0.0));
    // One more status line so every camera has a sample at or after the window's end.
    std::thread::sleep(Duration::from_millis(1200));
    poll(&mut tail, &counters);
    let at1 = counters.lock().unwrap().cams.clone();
    let load = loadavg();
    let (latency_decided_ms, latency_committed_ms) = if spec.who == Who::Daemon {
        latencies(&dir, wall0)
    } else {
        (None, None)
    };
    proc.stop(Duration::from_secs(15));
    let expected = expected_fps(&spec.mode);
    let (mut fps, mut min_fps, mut offered, mut dropped) = (0.0, f64::MAX, 0, 0);
    for (cam, a) in &at0 {
        let Some(b) = at1.get(cam) else { continue };
        let span = (b.0 - a.0).max(1e-3);
        let f = (b.2 - a.2) as f64 / span;
        fps += f;
        min_fps = min_fps.min(f);
        offered += b.1 - a.1;
        dropped += b.3 - a.3;
    }
    if at0.len() < spec.cameras || min_fps == f64::MAX {
        min_fps = 0.0;
    }
    let cores = (c1 - c0) / dt;
    Ok(Run {
        who: spec.who,
        mode: spec.mode.name,
        cameras: spec.cameras,
        window_s: dt,
        cpu_cores: cores,
        cpu_s_per_camera_hour: cores * 3600.0 / spec.cameras.max(1) as f64,
        rss_peak_mib: rss_peak,
        analysed_fps: fps,
        analysed_fps_min_camera: min_fps,
        expected_fps_per_camera: expected,
        offered,
        dropped,
        cameras_silent: silent,
        latency_decided_ms,
        latency_committed_ms,
        server_cpu_cores: (s1 - s0) / dt,
        load,
    })
}

/// The bench camera: a no-parking zone over the whole picture with short timings, so
/// parked cars raise events (and follow-ups) during every window.
fn daemon_config(env: &Env, spec: &RunSpec, urls: &[String], dir: &Path) -> String {
    let mut s = format!(
        r#"[device]
id = "bench-box"
division_code = "440802"
state_dir = "{state}"

[logging]
level = "info"
format = "json"

[inference]
models_dir = "{models}"
weights_dir = "{weights}"

[web]
listen = "127.0.0.1:0"

[events.tracker]
stationary_after_s = {stationary}

[events.evidence.clip]
pre_roll_s = 2.0
post_roll_s = 0.0
"#,
        state = dir.join("state").display(),
        models = env.models_dir.display(),
        weights = env.weights_dir.display(),
        // Short, so parked cars raise events within a window; with `"auto"` 4 s, the
        // shortest at which parking still takes keyframes 2 s apart (`rules::rate`).
        stationary = if spec.mode.auto_rule.is_some() {
            4.0
        } else {
            2.0
        },
    );
    for (i, url) in urls.iter().enumerate() {
        s.push_str(&format!(
            r#"
[[cameras]]
id = "c{i}"
url = "{url}"
[cameras.analysis]
{rate}
[[cameras.zones]]
id = "street"
polygon = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
rules = [{rule}]
"#,
            rate = match spec.mode.auto_rule {
                Some(_) => "fps = \"auto\"".to_string(),
                None => format!(
                    "fps = {:.3}\nkeyframes_only = {}",
                    spec.mode.fps, spec.mode.keyframes_only
                ),
            },
            rule = match spec.mode.auto_rule {
                Some("litter_watch") => "{ type = \"litter_watch\", persist_s = 5, gone_after_s = 8 }",
                _ => "{ type = \"no_parking\", dwell_s = 5, update_every_s = 10, leave_after_s = 8 }",
            },
        ));
    }
    s
}

fn start_daemon(env: &Env, spec: &RunSpec, urls: &[String], dir: &Path) -> Result<Proc> {
    let cfg = dir.join("bench.toml");
    std::fs::write(&cfg, daemon_config(env, spec, urls, dir))?;
    let log = std::fs::File::create(dir.join("log.txt"))?;
    let child = Command::new(&env.exe)
        .arg("run")
        .arg("--config")
        .arg(&cfg)
        .arg("--status-every")
        .arg("1")
        .env("RUST_LOG", "info")
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting streetwatch run")?;
    Ok(Proc {
        child,
        name: "streetwatch run",
    })
}

fn start_peer(
    env: &Env,
    spec: &RunSpec,
    urls: &[String],
    dir: &Path,
    counters: Arc<Mutex<Counters>>,
) -> Result<Proc> {
    let mut cmd = Command::new(&env.python);
    cmd.arg(&env.peer_script)
        .arg("--model")
        .arg(&env.peer_model)
        .arg("--fps")
        .arg(format!("{}", expected_fps(&spec.mode)))
        .arg("--stream-fps")
        .arg(format!("{}", super::STREAM_FPS))
        .arg("--workers")
        .arg("2")
        .arg("--threads")
        .arg("1")
        .arg("--mode")
        .arg(&env.cfg.peer_mode);
    for u in urls {
        cmd.arg("--url").arg(u);
    }
    let log = std::fs::File::create(dir.join("log.txt"))?;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting the peer with {}", env.python.display()))?;
    let out = child.stdout.take().context("peer stdout")?;
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            let t = v["t"].as_f64().unwrap_or(0.0);
            let mut c = counters.lock().unwrap();
            for (i, cam) in v["cameras"].as_array().into_iter().flatten().enumerate() {
                let g = |k: &str| cam[k].as_u64().unwrap_or(0);
                // The peer reads every frame; "offered" is what it picked for analysis.
                let analysed = g("analysed");
                let dropped = g("dropped");
                c.cams
                    .insert(format!("c{i}"), (t, analysed + dropped, analysed, dropped));
            }
        }
    });
    Ok(Proc {
        child,
        name: "peer pipeline",
    })
}

/// Reads a growing JSON-lines log.
struct LogTail {
    path: PathBuf,
    pos: u64,
    partial: String,
}

impl LogTail {
    fn new(path: PathBuf) -> Self {
        Self {
            path,
            pos: 0,
            partial: String::new(),
        }
    }

    fn new_lines(&mut self) -> Vec<String> {
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return Vec::new();
        };
        if f.seek(SeekFrom::Start(self.pos)).is_err() {
            return Vec::new();
        }
        let mut buf = String::new();
        if let Ok(n) = f.read_to_string(&mut buf) {
            self.pos += n as u64;
        }
        self.partial.push_str(&buf);
        let mut out = Vec::new();
        while let Some(i) = self.partial.find('\n') {
            out.push(self.partial[..i].to_string());
            self.partial.drain(..=i);
        }
        out
    }

    /// The daemon's per-camera status lines (message "camera").
    fn read_status(&mut self, c: &mut Counters) {
        for line in self.new_lines() {
            if !line.contains("\"camera\"") {
                continue;
            }
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if v["message"] != "camera" {
                continue;
            }
            let Some(t) = ts(&v) else { continue };
            let g = |k: &str| v[k].as_u64().unwrap_or(0);
            let dropped = g("dropped") + g("infer_dropped") + g("results_dropped");
            let Some(cam) = v["camera"].as_str() else {
                continue;
            };
            c.cams
                .insert(cam.to_string(), (t, g("frames"), g("analysed"), dropped));
        }
    }
}

/// A log line's timestamp, seconds since the epoch.
fn ts(v: &serde_json::Value) -> Option<f64> {
    let s = v["timestamp"].as_str()?;
    let t = chrono::DateTime::parse_from_rfc3339(s).ok()?;
    Some(t.timestamp_micros() as f64 / 1e6)
}

/// Event latencies of phases confirmed after `since`: to the `event decided` log line
/// and to the outbox commit.
fn latencies(
    dir: &Path,
    since: chrono::DateTime<chrono::Utc>,
) -> (Option<Percentiles>, Option<Percentiles>) {
    let since_ms = since.timestamp_millis() as f64;
    // (event, phase, seq) -> decided at (ms)
    let mut decided: HashMap<(String, String, u64), f64> = HashMap::new();
    if let Ok(f) = std::fs::File::open(dir.join("log.txt")) {
        for line in BufReader::new(f).lines().map_while(Result::ok) {
            if !line.contains("event decided") {
                continue;
            }
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            let (Some(id), Some(phase), Some(t)) =
                (v["event"].as_str(), v["phase"].as_str(), ts(&v))
            else {
                continue;
            };
            let seq = v["seq"].as_u64().unwrap_or(0);
            decided.insert((id.into(), phase.into(), seq), t * 1000.0);
        }
    }
    let (mut to_decided, mut to_commit) = (Vec::new(), Vec::new());
    let db = dir.join("state/outbox.sqlite");
    if let Ok(c) =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    {
        let _ = c.busy_timeout(Duration::from_secs(5));
        if let Ok(mut st) = c.prepare("SELECT event_id, phase, seq, created_ms, body FROM events") {
            let rows = st.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?,
                ))
            });
            for (id, phase, seq, created, body) in rows.into_iter().flatten().flatten() {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(&body) else {
                    continue;
                };
                let Some(rep) = v["times"]["reported"]
                    .as_str()
                    .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                else {
                    continue;
                };
                let rep = rep.timestamp_millis() as f64;
                if rep < since_ms {
                    continue;
                }
                to_commit.push(created as f64 - rep);
                if let Some(d) = decided.get(&(id, phase, seq as u64)) {
                    to_decided.push(d - rep);
                }
            }
        }
    }
    (Percentiles::of(to_decided), Percentiles::of(to_commit))
}
