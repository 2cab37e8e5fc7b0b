//! The gst-rtsp-server side of the simulated cameras.

use super::{CamsimError, Clip, load_clip};
use gstreamer as gst;
use gstreamer::glib;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_rtsp_server as rtsp;
use gstreamer_rtsp_server::prelude::*;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// What a mount point serves.
#[derive(Debug, Clone)]
pub enum MountSource {
    /// An H.264/H.265 file, looped forever in real time without re-encoding.
    File(PathBuf),
    /// A live MJPEG test pattern: a codec streetwatch does not analyse, for error tests.
    TestPatternJpeg,
}

impl std::str::FromStr for MountSource {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "testsrc:jpeg" => Ok(MountSource::TestPatternJpeg),
            path => Ok(MountSource::File(PathBuf::from(path))),
        }
    }
}

#[derive(Debug, Clone)]
pub struct CamServerOptions {
    /// Bind address; tests and the demo use 127.0.0.1 only.
    pub address: String,
    /// 0 picks a free port.
    pub port: u16,
    /// Require RTSP basic/digest authentication with these credentials.
    pub credentials: Option<(String, String)>,
    /// Mount path (e.g. `/cam1`) and what it serves.
    pub mounts: Vec<(String, MountSource)>,
    /// Loop every file on the system's monotonic clock rather than from the moment a
    /// client connects: at any instant every mount (of this process or another) shows
    /// the same position of its clip, as a camera's main stream and substream show the
    /// same sensor picture. A stream then starts at the clip's next keyframe on that
    /// clock (a wait of up to one GOP).
    pub clock_aligned: bool,
    /// With `clock_aligned`: laps start at this monotonic-clock time (ns) plus whole
    /// laps, rather than at multiples of the clip's length, so a test can have a lap
    /// begin when it wants (every process given the same epoch stays aligned).
    pub clock_epoch_ns: u64,
}

impl Default for CamServerOptions {
    fn default() -> Self {
        Self {
            address: "127.0.0.1".into(),
            port: 0,
            credentials: None,
            mounts: Vec::new(),
            clock_aligned: false,
            clock_epoch_ns: 0,
        }
    }
}

/// A running RTSP server; stops when dropped.
pub struct CamServer {
    port: u16,
    address: String,
    main_loop: glib::MainLoop,
    thread: Option<JoinHandle<()>>,
}

impl CamServer {
    pub fn start(opts: CamServerOptions) -> Result<Self, CamsimError> {
        crate::gst_init();
        let server = rtsp::RTSPServer::new();
        server.set_address(&opts.address);
        server.set_service(&opts.port.to_string());
        let mounts = server
            .mount_points()
            .ok_or_else(|| CamsimError::Server("no mount points".into()))?;
        if let Some((user, pass)) = &opts.credentials {
            let auth = rtsp::RTSPAuth::new();
            let token = rtsp::RTSPToken::builder()
                .field(rtsp::RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
                .build();
            auth.add_basic(rtsp::RTSPAuth::make_basic(user, pass).as_str(), &token);
            server.set_auth(Some(&auth));
        }
        let aligned = opts.clock_aligned.then_some(opts.clock_epoch_ns);
        // Mounts of the same file share its units (the benchmark serves dozens).
        let mut clips: std::collections::HashMap<PathBuf, Arc<Clip>> = Default::default();
        for (path, source) in &opts.mounts {
            let factory = rtsp::RTSPMediaFactory::new();
            factory.set_shared(true);
            match source {
                MountSource::TestPatternJpeg => factory.set_launch(
                    "( videotestsrc is-live=true ! video/x-raw,format=I420,width=320,height=240,framerate=10/1 \
                     ! jpegenc ! rtpjpegpay name=pay0 pt=26 )",
                ),
                MountSource::File(file) => {
                    let clip = match clips.get(file) {
                        Some(c) => c.clone(),
                        None => {
                            let c = Arc::new(load_clip(file)?);
                            clips.insert(file.clone(), c.clone());
                            c
                        }
                    };
                    let pay = if clip.encoding == "H265" { "rtph265pay" } else { "rtph264pay" };
                    // config-interval=0: the clip's units already carry the parameter
                    // sets in front of every keyframe (load_clip parses with
                    // config-interval=-1). The payloader's own -1 would repeat them in
                    // front of every IDR *slice*, splitting multi-slice pictures (x264
                    // zerolatency) in two for any H.264-conformant receiver.
                    factory.set_launch(&format!(
                        "( appsrc name=src is-live=true format=time do-timestamp=false \
                         ! queue max-size-buffers=0 max-size-bytes=0 max-size-time=2000000000 \
                         ! {pay} name=pay0 pt=96 config-interval=0 )"
                    ));
                    factory.connect_media_configure(move |_, media| {
                        let bin = media.element();
                        let Some(src) = bin
                            .downcast_ref::<gst::Bin>()
                            .and_then(|b| b.by_name("src"))
                            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
                        else {
                            return;
                        };
                        src.set_caps(Some(&clip.caps));
                        let clip = clip.clone();
                        std::thread::Builder::new()
                            .name("camsim-feed".into())
                            .spawn(move || feed(src, clip, aligned))
                            .expect("spawn feeder");
                    });
                }
            }
            if opts.credentials.is_some() {
                let role = gst::Structure::builder("user")
                    .field(rtsp::RTSP_PERM_MEDIA_FACTORY_ACCESS, true)
                    .field(rtsp::RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, true)
                    .build();
                factory.add_role_from_structure(&role);
            }
            mounts.add_factory(path, factory);
        }
        let ctx = glib::MainContext::new();
        let main_loop = glib::MainLoop::new(Some(&ctx), false);
        let source_id = server.attach(Some(&ctx)).map_err(|e| {
            CamsimError::Server(format!(
                "cannot listen on {}:{}: {e}",
                opts.address, opts.port
            ))
        })?;
        let port = u16::try_from(server.bound_port()).unwrap_or(0);
        let ml = main_loop.clone();
        let thread = std::thread::Builder::new()
            .name("camsim-rtsp".into())
            .spawn(move || {
                ctx.with_thread_default(|| ml.run()).expect("own context");
                // Keep the server and its source alive exactly as long as the loop.
                // The source lives in our own context, not the default one.
                if let Some(src) = ctx.find_source_by_id(&source_id) {
                    src.destroy();
                }
                drop(server);
            })
            .map_err(|e| CamsimError::Server(e.to_string()))?;
        Ok(Self {
            port,
            address: opts.address,
            main_loop,
            thread: Some(thread),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `rtsp://127.0.0.1:PORT/mount`.
    pub fn url(&self, mount: &str) -> String {
        format!("rtsp://{}:{}{}", self.address, self.port, mount)
    }
}

impl Drop for CamServer {
    fn drop(&mut self) {
        self.main_loop.quit();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Where a clock-aligned feed starts: the running time of its first lap's start (that
/// lap may have begun in the past) and the index of the first unit to push (the first
/// keyframe due at or after `earliest`, clock time, ns), so that unit `i` of lap `k` is
/// due at clock time `epoch + k * duration + dts(i)` whatever the moment of connection.
fn aligned_start(clip: &Clip, earliest: u64, base: u64, epoch: u64) -> (i64, usize) {
    let d = clip.duration_ns;
    let into_lap = (i128::from(earliest) - i128::from(epoch)).rem_euclid(i128::from(d));
    let mut lap_start = i128::from(earliest) - into_lap;
    loop {
        if let Some(i) = clip
            .units
            .iter()
            .position(|u| u.keyframe && lap_start + i128::from(u.dts) >= i128::from(earliest))
        {
            return ((lap_start - i128::from(base)) as i64, i);
        }
        lap_start += i128::from(d);
    }
}

/// Push the clip's units forever at real-time pace, with timestamps continuing across
/// loops, until the media is torn down (push fails). `aligned` (an epoch): laps start
/// at that epoch plus multiples of the clip's length on the pipeline clock (the
/// system's monotonic clock, the same in every process), joined at the next keyframe.
fn feed(src: gst_app::AppSrc, clip: Arc<Clip>, aligned: Option<u64>) {
    // The clock and base time exist once the media goes to PLAYING.
    let (clock, base) = loop {
        if let (Some(clock), Some(base)) = (src.clock(), src.base_time())
            && src.current_state() == gst::State::Playing
        {
            break (clock, base);
        }
        std::thread::sleep(Duration::from_millis(10));
        if src.parent().is_none() {
            return;
        }
    };
    let now_rt = || clock.time().saturating_sub(base).nseconds() as i64;
    // Running time of lap 0's start; negative when an aligned lap began before the
    // media did (only units due after the media started are pushed).
    let (start, mut skip) = if let Some(epoch) = aligned.filter(|_| clip.duration_ns > 0) {
        aligned_start(
            &clip,
            clock.time().nseconds() + 100_000_000,
            base.nseconds(),
            epoch,
        )
    } else {
        (now_rt() + 100_000_000, 0)
    };
    let lead = 50_000_000i64;
    let at = |offset: i64, t: u64| gst::ClockTime::from_nseconds((offset + t as i64).max(0) as u64);
    for lap in 0i64.. {
        let offset = start + lap * clip.duration_ns as i64;
        for u in &clip.units[std::mem::take(&mut skip)..] {
            let due = offset + u.dts as i64;
            let now = now_rt();
            if due > now + lead {
                std::thread::sleep(Duration::from_nanos((due - now - lead) as u64));
            }
            let mut buf = u.data.copy();
            {
                let b = buf.get_mut().expect("fresh copy is writable");
                b.set_pts(at(offset, u.pts));
                b.set_dts(at(offset, u.dts));
            }
            if src.push_buffer(buf).is_err() {
                return;
            }
        }
    }
}
