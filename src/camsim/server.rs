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
}

impl Default for CamServerOptions {
    fn default() -> Self {
        Self {
            address: "127.0.0.1".into(),
            port: 0,
            credentials: None,
            mounts: Vec::new(),
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
                            .spawn(move || feed(src, clip))
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

/// Push the clip's units forever at real-time pace, with timestamps continuing across
/// loops, until the media is torn down (push fails).
fn feed(src: gst_app::AppSrc, clip: Arc<Clip>) {
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
    let now_rt = || clock.time().saturating_sub(base).nseconds();
    let start = now_rt() + 100_000_000;
    let lead = 50_000_000u64;
    for lap in 0u64.. {
        let offset = start + lap * clip.duration_ns;
        for u in &clip.units {
            let due = offset + u.dts;
            let now = now_rt();
            if due > now + lead {
                std::thread::sleep(Duration::from_nanos(due - now - lead));
            }
            let mut buf = u.data.copy();
            {
                let b = buf.get_mut().expect("fresh copy is writable");
                b.set_pts(gst::ClockTime::from_nseconds(offset + u.pts));
                b.set_dts(gst::ClockTime::from_nseconds(offset + u.dts));
            }
            if src.push_buffer(buf).is_err() {
                return;
            }
        }
    }
}
