use anyhow::Context;
use std::io::Write;
use std::process::ExitCode;
use streetwatch::camsim::{CamServer, CamServerOptions, MountSource};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Address to bind; keep 127.0.0.1 unless a real camera network needs it.
    #[arg(long, default_value = "127.0.0.1")]
    address: String,
    /// Port (0 = any free port; the URLs printed say which).
    #[arg(long, default_value_t = 8554)]
    port: u16,
    /// MOUNT=FILE (e.g. /cam1=car.mp4), MOUNT=testsrc:jpeg for an MJPEG pattern, or
    /// MOUNT=switch:NAME=FILE,NAME=FILE,... for a picture that --select-file switches
    /// while clients stay connected (e.g. a PTZ dome:
    /// /dome=switch:1=preset1.mp4,2=preset2.mp4,moving=pan.mp4; the files need the same
    /// codec, size and frame rate).
    #[arg(long = "mount", required = true, value_parser = parse_mount)]
    mounts: Vec<(String, MountSource)>,
    /// Require RTSP authentication with this user name.
    #[arg(long, requires = "password")]
    user: Option<String>,
    /// Password for --user.
    #[arg(long, requires = "user")]
    password: Option<String>,
    /// Loop the files on the system's monotonic clock, so that mounts of this and other
    /// serve-rtsp processes show the same picture at the same instant (a camera's main
    /// stream and substream built from the same frames).
    #[arg(long)]
    clock_aligned: bool,
    /// With --clock-aligned: laps start at this time of the monotonic clock (ns) plus
    /// whole laps (default: at multiples of the file's length).
    #[arg(long, requires = "clock_aligned", default_value_t = 0)]
    clock_epoch_ns: u64,
    /// For switch: mounts: a file holding the name of the clip to serve, read every
    /// 100 ms; the stream moves to a newly named clip at that clip's next keyframe (its
    /// clips loop on one common timeline). Missing or naming no clip: the first one.
    #[arg(long)]
    select_file: Option<std::path::PathBuf>,
}

fn parse_mount(s: &str) -> Result<(String, MountSource), String> {
    let (mount, src) = s
        .split_once('=')
        .ok_or_else(|| format!("\"{s}\": expected MOUNT=FILE, e.g. /cam1=video.mp4"))?;
    let mount = if mount.starts_with('/') {
        mount.to_string()
    } else {
        format!("/{mount}")
    };
    Ok((mount, src.parse()?))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mounts: Vec<String> = args.mounts.iter().map(|(m, _)| m.clone()).collect();
    let server = CamServer::start(CamServerOptions {
        address: args.address,
        port: args.port,
        credentials: args.user.zip(args.password),
        mounts: args.mounts,
        clock_aligned: args.clock_aligned,
        clock_epoch_ns: args.clock_epoch_ns,
        select_file: args.select_file,
    })
    .context("starting the RTSP test server")?;
    let mut out = std::io::stdout().lock();
    for m in mounts {
        writeln!(out, "serving {}", server.url(&m))?;
    }
    out.flush()?;
    drop(out);
    loop {
        std::thread::park();
    }
}
