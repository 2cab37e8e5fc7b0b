use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use streetwatch::camsim::{CamServer, CamServerOptions, MountSource};
use streetwatch::config;
use streetwatch::daemon::{Control, Daemon};

/// The embedded default: the sample videos served as local RTSP cameras.
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
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let mut cfg = config::parse(DEMO_CONFIG, std::path::Path::new("(embedded demo config)"))
        .context("the embedded demo config is invalid")?;
    streetwatch::logging::init(&cfg.logging);
    if let Some(addr) = a.web {
        cfg.web.listen = addr;
    }
    // Serve each demo camera's sample video over RTSP on 127.0.0.1, like a real camera.
    let mut mounts = Vec::new();
    for cam in &cfg.cameras {
        let file = url::Url::parse(&cam.url)?
            .path()
            .trim_start_matches('/')
            .to_string();
        let path = a.media.join(&file);
        anyhow::ensure!(
            path.is_file(),
            "{} is missing: run `make setup` (or pass --media DIR with the sample videos)",
            path.display()
        );
        mounts.push((format!("/{file}"), MountSource::File(path)));
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
    let control = Control::from_signals()?;
    let mut daemon = Daemon::start(cfg, None);
    daemon.run(
        &control,
        Duration::from_secs_f64(a.status_every),
        a.seconds.map(Duration::from_secs_f64),
    );
    drop(server);
    Ok(ExitCode::SUCCESS)
}
