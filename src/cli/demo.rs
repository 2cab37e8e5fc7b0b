//! `streetwatch demo`: the whole loop on one machine, for a newcomer. The sample videos
//! and two scenes composed from them (a car parking in a no-parking bay, a bottle left
//! on a floor; see `demo_scenes`) are served as RTSP cameras on 127.0.0.1, the daemon
//! runs on them with the zones of `config/demo.toml`, and, when `mosquitto` is
//! installed, a broker of its own on 127.0.0.1 receives the events, so the page shows
//! them delivered. The terminal says where the page is, the setup code, and what to
//! look at when.

use super::demo_scenes;
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};
use streetwatch::camsim::{CamServer, CamServerOptions, MountSource};
use streetwatch::config;
use streetwatch::daemon::{Control, Daemon};

/// The embedded default: the sample videos and scenes served as local RTSP cameras.
const DEMO_CONFIG: &str = include_str!("../../config/demo.toml");

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Directory holding the sample videos (`make setup` fills .deps/media).
    #[arg(long, env = "STREETWATCH_MEDIA_DIR", default_value = ".deps/media")]
    media: PathBuf,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    seconds: Option<f64>,
    /// Address of the technician page (loopback only: the demo serves plain HTTP).
    #[arg(long)]
    web: Option<std::net::SocketAddr>,
    /// Seconds between status lines.
    #[arg(long, default_value_t = 10.0)]
    status_every: f64,
    /// Where the demo keeps its state (outbox, evidence, the page's password and setup
    /// code); default: the config's `.work/demo`.
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Where the demo scenes are built (once; reused while their recipe is unchanged).
    #[arg(long, default_value = ".work/demo-scenes")]
    scenes: PathBuf,
    /// Run only these cameras (comma-separated ids, e.g. `parked-car`).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Do not start a local MQTT broker, even when mosquitto is installed.
    #[arg(long)]
    no_broker: bool,
}

/// A mosquitto the demo started on 127.0.0.1; stopped with the demo.
struct LocalBroker {
    child: Child,
    port: u16,
}

impl Drop for LocalBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `mosquitto` on PATH or where Debian puts it (/usr/sbin is not on every user's PATH).
fn find_mosquitto() -> Option<PathBuf> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|d| d.join("mosquitto"))
        .find(|p| p.is_file())
}

fn start_broker(dir: &Path) -> anyhow::Result<Option<LocalBroker>> {
    let Some(exe) = find_mosquitto() else {
        return Ok(None);
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    std::fs::create_dir_all(dir)?;
    let conf = dir.join("mosquitto.conf");
    // Loopback only, no persistence: the demo's outbox is the durable side.
    std::fs::write(
        &conf,
        format!(
            "user root\npersistence false\nlog_dest stderr\nlog_type error\n\
             listener {port} 127.0.0.1\nallow_anonymous true\n"
        ),
    )?;
    let log = std::fs::File::create(dir.join("mosquitto.log"))?;
    let child = Command::new(&exe)
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", exe.display()))?;
    let broker = LocalBroker { child, port };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "mosquitto did not listen on 127.0.0.1:{port} (see {})",
            dir.join("mosquitto.log").display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(Some(broker))
}

/// What a demo camera's URL path serves: a sample video by name, or a scene.
fn source(path: &str, a: &Args) -> anyhow::Result<PathBuf> {
    let file = path.trim_start_matches('/');
    if let Some(scene) = file.strip_prefix("scenes/") {
        let name = scene.trim_end_matches(".mp4");
        return demo_scenes::scene(name, &a.media, &a.scenes);
    }
    let p = a.media.join(file);
    anyhow::ensure!(
        p.is_file(),
        "{} is missing: run `make setup` (or pass --media DIR with the sample videos)",
        p.display()
    );
    Ok(p)
}

/// The setup code while the page still needs one (the page deletes it once used).
fn setup_code(state_dir: &Path) -> Option<String> {
    std::fs::read_to_string(state_dir.join("web").join("setup-code"))
        .ok()
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let mut cfg = config::parse(DEMO_CONFIG, Path::new("(embedded demo config)"))
        .context("the embedded demo config is invalid")?;
    streetwatch::logging::init(&cfg.logging);
    if let Some(addr) = a.web {
        cfg.web.listen = addr;
    }
    if let Some(dir) = &a.state_dir {
        cfg.device.state_dir = dir.clone();
    }
    if !a.only.is_empty() {
        let known: Vec<String> = cfg.cameras.iter().map(|c| c.id.clone()).collect();
        for id in &a.only {
            anyhow::ensure!(
                known.contains(id),
                "--only {id}: the demo has no camera \"{id}\"; it has {}",
                known.join(", ")
            );
        }
        cfg.cameras.retain(|c| a.only.contains(&c.id));
    }
    // Serve each demo camera's video or scene over RTSP on 127.0.0.1, like a real camera.
    let mut mounts = Vec::new();
    for cam in &cfg.cameras {
        let path = url::Url::parse(&cam.url)?.path().to_string();
        mounts.push((path.clone(), MountSource::File(source(&path, &a)?)));
    }
    let server = CamServer::start(CamServerOptions {
        mounts,
        ..Default::default()
    })
    .context("starting the local RTSP cameras")?;
    for cam in &mut cfg.cameras {
        let path = url::Url::parse(&cam.url)?.path().to_string();
        cam.url = server.url(&path);
    }
    tracing::info!(
        port = server.port(),
        "demo cameras served on 127.0.0.1 over RTSP"
    );
    let broker = if a.no_broker {
        None
    } else {
        start_broker(&cfg.device.state_dir.join("broker"))?
    };
    match &broker {
        Some(b) => {
            cfg.uplink.broker = format!("mqtt://127.0.0.1:{}", b.port);
            tracing::info!(
                broker = %cfg.uplink.broker,
                "demo: a local MQTT broker receives the events (the page shows them delivered)"
            );
        }
        None => tracing::info!(
            "demo: no local broker (mosquitto not installed, or --no-broker): events wait in the outbox, shown as pending"
        ),
    }
    let control = Control::from_signals()?;
    let mut daemon = Daemon::start(cfg.clone(), None);
    let url = format!("http://{}/", daemon.web_addr().unwrap_or(cfg.web.listen));
    banner(
        &url,
        &cfg,
        setup_code(&cfg.device.state_dir),
        broker.is_some(),
    );
    tracing::info!(
        url = %url,
        "demo: open the page; the parked-car camera reports illegal parking (违停) about 25 s after it starts, the litter camera exposed garbage (暴露垃圾): see 事件 (Events)"
    );
    daemon.run(
        &control,
        Duration::from_secs_f64(a.status_every),
        a.seconds.map(Duration::from_secs_f64),
    );
    drop(server);
    drop(broker);
    Ok(ExitCode::SUCCESS)
}

/// What a newcomer needs, in both languages, on the terminal (not in the log stream).
fn banner(url: &str, cfg: &config::Config, code: Option<String>, broker: bool) {
    let has = |id: &str| cfg.cameras.iter().any(|c| c.id == id);
    let mut lines = vec![
        "streetwatch demo".to_string(),
        format!("  打开 / open  {url}"),
    ];
    match code {
        Some(c) => lines.push(format!(
            "  设置码 / setup code  {c}   (also in {})",
            cfg.device.state_dir.join("web/setup-code").display()
        )),
        None => lines.push(
            "  已设置过密码，直接登录 / the admin password is set: log in (forgot it? delete the state dir)"
                .into(),
        ),
    }
    if has("parked-car") {
        lines.push("  约 1 分钟内：摄像机“违停示例”报告违停 → 页面“事件”".into());
        lines.push(
            "  within about a minute the parked-car camera reports illegal parking: see Events"
                .into(),
        );
    }
    if has("litter") {
        lines.push("  约 30 秒后：“垃圾示例”报告暴露垃圾 / the litter camera reports exposed garbage after ~30 s".into());
    }
    lines.push(if broker {
        "  事件发送到本机 MQTT 服务器，显示“已上报” / events go to a local MQTT broker: shown delivered".into()
    } else {
        "  未安装 mosquitto：事件留在本机，显示“待上报” / no mosquitto: events stay on the box, shown pending".into()
    });
    lines.push("  Ctrl-C 停止 / stops the demo".into());
    let width = 78;
    let rule = "=".repeat(width);
    eprintln!("\n{rule}");
    for l in lines {
        eprintln!("{l}");
    }
    eprintln!("{rule}\n");
}
