//! One camera connection as a GStreamer pipeline:
//!
//! ```text
//! rtspsrc -> depay -> [repair] ─┐                        ┌-> queue -> appsink (encoded ring)
//!                               ├-> parse -> caps -> tee ┤
//! filesrc -> parsebin ──────────┘                        └-> [drop deltas] -> queue -> decoder
//!                                         -> [rate drop] -> scale -> I420/NV12 -> appsink
//! ```
//!
//! The analysis branch delivers the decoder's own YUV 4:2:0: the detector's letterbox
//! converts the few samples it reads (see `infer::preprocess`), so no frame is ever
//! converted to RGB as a whole. `videoconvert` stays in the chain only for decoders
//! that output another format (it is a passthrough for I420/NV12), `videoscale` only
//! acts when `max_width` asks for a smaller picture.
//!
//! `[repair]` drops parameter sets repeated between the slices of one picture, which
//! would make the parser split the picture (see [`super::nal`]).
//!
//! The downstream part is built when the source exposes its video pad, because only
//! then is the codec known. A connection lives until an error, EOS or stall; the
//! supervisor then drops it and builds a new one. Everything that must survive a
//! reconnect (ring, frame queue, counters) lives in [`CameraShared`].

use super::frame::{AccessUnit, Codec, Frame, MediaTime, PixelFormat, Yuv, YuvMatrix};
use super::queue::BoundedQueue;
use super::ring::EncodedRing;
use super::timeline::{
    CameraTimeline, JumpDetector, JumpKind, JumpLog, TimeSource, ntp_to_unix_ns,
};
use crate::config::Transport;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use gstreamer_video::prelude::*;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

/// Where video comes from.
#[derive(Debug, Clone)]
pub enum Source {
    Rtsp {
        url: String,
        username: Option<String>,
        password: Option<String>,
        transport: Transport,
        latency_ms: u32,
    },
    File {
        path: PathBuf,
    },
}

impl Source {
    pub fn is_file(&self) -> bool {
        matches!(self, Source::File { .. })
    }
    /// The location with credentials removed, for logs.
    pub fn display(&self) -> String {
        match self {
            Source::Rtsp { url, .. } => crate::redact::redact_url(url),
            Source::File { path } => path.display().to_string(),
        }
    }
}

/// How media time is anchored to the wall clock.
#[derive(Debug, Clone, Copy)]
pub enum Anchor {
    /// Live: wall clock sampled at the first buffer of each connection, plus PTS.
    WallClock,
    /// Replay: a fixed start (ns since epoch), so every run yields the same times.
    Fixed(i64),
}

/// Keyframe gaps are measured from timestamps: 10 % over the allowed gap still counts
/// as within it (a 2 s GOP with jitter is not a 2.2 s GOP).
pub const KEYFRAME_GAP_SLACK: f64 = 1.1;

/// Analysis branch settings.
#[derive(Debug, Clone)]
pub struct AnalysisSpec {
    pub fps: f64,
    pub keyframes_only: bool,
    /// With `keyframes_only`: when two keyframes of a connection come further apart
    /// than this, decoding goes over to every frame (at `fps`) from the next keyframe
    /// on, for the rest of the connection. The rules that allow keyframes only allow
    /// them at most this far apart (`rules::rate`); the GOP is the camera's, known only
    /// once it streams.
    pub keyframe_max_gap_s: Option<f64>,
    pub max_width: u32,
}

/// Counters and last-seen facts of one camera, shared with the supervisor and health.
#[derive(Debug, Default)]
pub struct CameraStats {
    pub access_units: AtomicU64,
    pub keyframes: AtomicU64,
    pub bytes: AtomicU64,
    pub frames_decoded: AtomicU64,
    pub frames_delivered: AtomicU64,
    pub reconnects: AtomicU64,
    /// Milliseconds since [`process_epoch`] of the last encoded buffer.
    pub last_buffer_ms: AtomicU64,
    pub width: AtomicU32,
    pub height: AtomicU32,
    pub codec: Mutex<Option<Codec>>,
    /// Nominal frame rate from caps, milli-fps.
    pub caps_fps_milli: AtomicU32,
    /// Parameter sets dropped from between the slices of one picture before parsing
    /// (see [`super::nal`]).
    pub repaired_units: AtomicU64,
    /// Encoded units that left the parser without any timestamp; each took its
    /// predecessor's time instead of the connection's start.
    pub untimed_units: AtomicU64,
    /// Pixel aspect ratio from caps (numerator, denominator; 0 before caps).
    pub par_n: AtomicU32,
    pub par_d: AtomicU32,
    /// How media time is made on the current connection (see [`super::timeline`]).
    pub time_source: Mutex<TimeSource>,
    /// Times the encoded ring was emptied because the stream's timeline moved (media
    /// time switched to the camera's NTP time, or that clock jumped).
    pub ring_resets: AtomicU64,
    /// Analysis frames withheld because the camera's two streams do not pair (see
    /// [`super::pairing`]).
    pub frames_withheld: AtomicU64,
}

impl CameraStats {
    /// The picture size of the stream, once its caps are known.
    pub fn size(&self) -> Option<super::pairing::StreamSize> {
        let (w, h) = (
            self.width.load(Ordering::Relaxed),
            self.height.load(Ordering::Relaxed),
        );
        let par = (
            self.par_n.load(Ordering::Relaxed),
            self.par_d.load(Ordering::Relaxed),
        );
        (w > 0 && h > 0).then_some(super::pairing::StreamSize {
            width: w,
            height: h,
            par: if par.0 > 0 && par.1 > 0 { par } else { (1, 1) },
        })
    }
}

/// A monotonic epoch for "time since" bookkeeping (process health, not media time).
pub fn process_epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

pub fn now_ms() -> u64 {
    process_epoch().elapsed().as_millis() as u64
}

/// What outlives a single connection.
pub struct CameraShared {
    pub camera_id: Arc<str>,
    pub ring: Mutex<EncodedRing>,
    /// Caps of the encoded stream (byte-stream, AU aligned) for clip muxing.
    pub ring_caps: Mutex<Option<gst::Caps>>,
    pub frames: Arc<BoundedQueue<Frame>>,
    pub stats: CameraStats,
    pub anchor: Anchor,
    /// Camera NTP time to media time, shared with the camera's other stream.
    pub timeline: Arc<CameraTimeline>,
    /// Where clock jumps found on this stream go (the analysis stream's is read by the
    /// camera's analysis), and the detector that finds them on live streams.
    pub jumps: Arc<JumpLog>,
    detector: Mutex<Option<JumpDetector>>,
    /// True while the stream delivers (set by its supervisor): evidence falls back to
    /// the analysis stream while the main stream is not online.
    pub online: AtomicBool,
    /// Set while analysis frames must not leave (the camera's streams do not pair).
    pub withhold_frames: AtomicBool,
    /// Last media time handed out, to keep analysis time monotonic across reconnects.
    last_time: AtomicI64,
}

impl CameraShared {
    pub fn new(
        camera_id: Arc<str>,
        ring: EncodedRing,
        frames: Arc<BoundedQueue<Frame>>,
        anchor: Anchor,
    ) -> Self {
        Self {
            camera_id,
            ring: Mutex::new(ring),
            ring_caps: Mutex::new(None),
            frames,
            stats: CameraStats::default(),
            anchor,
            timeline: Arc::default(),
            jumps: Arc::default(),
            detector: Mutex::new(None),
            online: AtomicBool::new(false),
            withhold_frames: AtomicBool::new(false),
            last_time: AtomicI64::new(i64::MIN),
        }
    }

    /// The same, on a timeline shared with the camera's other stream.
    pub fn with_timeline(mut self, timeline: Arc<CameraTimeline>) -> Self {
        self.timeline = timeline;
        self
    }

    /// Look for clock jumps on this stream (live analysis streams only: a file plays
    /// faster than real time).
    pub fn detect_jumps(self) -> Self {
        *self.detector.lock().unwrap() = Some(JumpDetector::default());
        self
    }

    /// Feed the jump detector with a unit's media time and the clocks now.
    fn sample_clocks(&self, time: MediaTime) {
        let mut det = self.detector.lock().unwrap_or_else(|p| p.into_inner());
        let Some(d) = det.as_mut() else { return };
        let mono = process_epoch().elapsed().as_nanos() as i64;
        let wall = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
        for j in d.observe(time, mono, wall) {
            tracing::warn!(
                camera = %self.camera_id,
                kind = ?j.kind,
                seconds = j.seconds,
                "clock jump of {:+.1} s: events open across it are marked",
                j.seconds
            );
            crate::clock::note_jump(
                match j.kind {
                    JumpKind::Media => "media",
                    JumpKind::System => "system",
                },
                j.seconds,
                &self.camera_id,
            );
            self.jumps.record(j);
        }
    }
}

/// Errors building a pipeline (not stream errors: those arrive on the bus).
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(
        "GStreamer element \"{0}\" is missing; install the GStreamer plugin packages (make setup)"
    )]
    MissingElement(&'static str),
    #[error("cannot start the pipeline: {0}")]
    Start(String),
}

/// One live connection.
pub struct Connection {
    pub pipeline: gst::Pipeline,
}

impl Drop for Connection {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

fn make(name: &'static str) -> Result<gst::Element, PipelineError> {
    gst::ElementFactory::make(name)
        .build()
        .map_err(|_| PipelineError::MissingElement(name))
}

/// Per-connection timing (see [`super::timeline`]): PTS plus the offset measured at
/// the first buffer through the tee, until units carry the camera's NTP time; from
/// then on PTS plus the offset that puts each unit on the camera's timeline.
struct ConnClock {
    offset: OnceLock<i64>,
    /// Media time minus PTS from the latest unit with an NTP time (`i64::MIN`: none).
    ntp_offset: AtomicI64,
    /// (PTS, media time) of the latest encoded units: a decoded picture takes the time
    /// its own unit got, exactly. The latest offset would add the receiver's PTS jitter
    /// (PTS is smoothed arrival time; the NTP time is the camera's), which on a busy box
    /// is enough to stamp a picture with its neighbour's instant.
    recent: Mutex<std::collections::VecDeque<(u64, i64)>>,
    /// (PTS, camera NTP time) of the latest RTP packets, read where the jitter buffer
    /// attached it (the depayloader's input): after depayloading, an access unit may
    /// carry the meta of a packet of the previous picture, a frame off.
    rtp_ntp: Mutex<std::collections::VecDeque<(u64, u64)>>,
}

/// Units whose time [`ConnClock`] remembers: more than a decoder holds back.
const RECENT_UNITS: usize = 64;

/// A change of a stream's NTP offset larger than this moved its timeline (the switch
/// from arrival time, a camera clock jump): the ring, ordered by time, starts again.
const TIMELINE_MOVE_NS: i64 = 500_000_000;

impl ConnClock {
    fn new() -> Self {
        Self {
            offset: OnceLock::new(),
            ntp_offset: AtomicI64::new(i64::MIN),
            recent: Mutex::new(std::collections::VecDeque::with_capacity(RECENT_UNITS)),
            rtp_ntp: Mutex::new(std::collections::VecDeque::with_capacity(RECENT_UNITS)),
        }
    }

    fn arrival(&self, shared: &CameraShared, pts_ns: u64) -> MediaTime {
        let off = *self.offset.get_or_init(|| match shared.anchor {
            Anchor::WallClock => {
                let wall = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
                *shared.stats.time_source.lock().unwrap() = TimeSource::Arrival;
                wall - pts_ns as i64
            }
            Anchor::Fixed(t0) => {
                *shared.stats.time_source.lock().unwrap() = TimeSource::Fixed;
                t0 - pts_ns as i64
            }
        });
        MediaTime(off + pts_ns as i64)
    }

    fn time(&self, shared: &CameraShared, pts_ns: u64) -> MediaTime {
        match self.ntp_offset.load(Ordering::Relaxed) {
            i64::MIN => self.arrival(shared, pts_ns),
            o => MediaTime(o + pts_ns as i64),
        }
    }

    /// An RTP packet at `pts_ns` carries the camera's NTP time `ntp_ns`.
    fn note_rtp_ntp(&self, pts_ns: u64, ntp_ns: u64) {
        let mut r = self.rtp_ntp.lock().unwrap_or_else(|p| p.into_inner());
        if r.back().is_some_and(|(p, _)| *p == pts_ns) {
            return; // Another packet of the same picture.
        }
        if r.len() == RECENT_UNITS {
            r.pop_front();
        }
        r.push_back((pts_ns, ntp_ns));
    }

    /// The camera's NTP time of the picture at `pts_ns`, from its RTP packets.
    fn ntp_at(&self, pts_ns: u64) -> Option<u64> {
        self.rtp_ntp
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .rev()
            .find(|(p, _)| *p == pts_ns)
            .map(|(_, n)| *n)
    }

    /// Remember the media time given to the encoded unit at `pts_ns`.
    fn remember(&self, pts_ns: u64, time: MediaTime) {
        let mut r = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if r.len() == RECENT_UNITS {
            r.pop_front();
        }
        r.push_back((pts_ns, time.0));
    }

    /// Media time of a decoded picture: its unit's, or from the offset when that unit
    /// is no longer remembered.
    fn decoded_time(&self, shared: &CameraShared, pts_ns: u64) -> MediaTime {
        let known = self
            .recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .rev()
            .find(|(p, _)| *p == pts_ns)
            .map(|(_, t)| MediaTime(*t));
        known.unwrap_or_else(|| self.time(shared, pts_ns))
    }

    /// A unit at `pts_ns` carries the camera's NTP time: put this connection on the
    /// camera's timeline. True when that moved the timeline (the ring must restart).
    fn observe_ntp(&self, shared: &CameraShared, pts_ns: u64, ntp_ns: u64) -> bool {
        if !matches!(shared.anchor, Anchor::WallClock) {
            return false;
        }
        let arrival = self.arrival(shared, pts_ns);
        let media = shared.timeline.media_time(ntp_to_unix_ns(ntp_ns), arrival);
        let new = media.0 - pts_ns as i64;
        let old = self.ntp_offset.swap(new, Ordering::Relaxed);
        let before = if old == i64::MIN {
            *shared.stats.time_source.lock().unwrap() = TimeSource::RtcpNtp;
            arrival.0 - pts_ns as i64
        } else {
            old
        };
        (new - before).abs() > TIMELINE_MOVE_NS
    }
}

/// The camera's NTP time of capture that `rtspsrc add-reference-timestamp-meta`
/// attaches once RTCP sender reports arrive (ns since 1900).
fn ntp_of(buf: &gst::BufferRef) -> Option<u64> {
    buf.iter_meta::<gst::ReferenceTimestampMeta>()
        .find(|m| {
            m.reference()
                .structure(0)
                .is_some_and(|s| s.name() == "timestamp/x-ntp")
        })
        .map(|m| m.timestamp().nseconds())
}

/// Build and start a connection. Stream-level failures are reported on the bus.
pub fn connect(
    source: &Source,
    analysis: Option<&AnalysisSpec>,
    shared: &Arc<CameraShared>,
) -> Result<Connection, PipelineError> {
    crate::gst_init();
    let pipeline = gst::Pipeline::with_name(&format!("cam-{}", shared.camera_id));
    let clock = Arc::new(ConnClock::new());
    *shared.stats.time_source.lock().unwrap() = TimeSource::None;
    let downstream = Downstream {
        pipeline: pipeline.downgrade(),
        shared: shared.clone(),
        analysis: analysis.cloned(),
        clock,
        built: Arc::new(Mutex::new(false)),
    };
    match source {
        Source::Rtsp {
            url,
            username,
            password,
            transport,
            latency_ms,
        } => {
            let src = make("rtspsrc")?;
            src.set_property("location", url);
            if let Some(u) = username {
                src.set_property("user-id", u);
            }
            if let Some(p) = password {
                src.set_property("user-pw", p);
            }
            src.set_property("latency", *latency_ms);
            src.set_property_from_str(
                "protocols",
                match transport {
                    Transport::Tcp => "tcp",
                    Transport::Udp => "udp",
                    Transport::Auto => "udp+tcp",
                },
            );
            // Fail the TCP connect in seconds rather than the default 20 s.
            src.set_property("tcp-timeout", 5_000_000u64);
            src.set_property("drop-on-latency", true);
            // The camera's NTP time of capture on every unit once sender reports
            // arrive: it aligns a camera's two streams (see super::timeline).
            src.set_property("add-reference-timestamp-meta", true);
            pipeline
                .add(&src)
                .map_err(|e| PipelineError::Start(e.to_string()))?;
            src.connect("select-stream", false, |args| {
                let caps = args[2].get::<gst::Caps>().ok();
                let video = caps
                    .as_ref()
                    .and_then(|c| c.structure(0))
                    .and_then(|s| s.get::<&str>("media").ok())
                    .is_some_and(|m| m == "video");
                Some(video.to_value())
            });
            let ds = downstream.clone();
            src.connect_pad_added(move |src, pad| {
                let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
                let Some(s) = caps.structure(0) else { return };
                if s.get::<&str>("media").ok() != Some("video") {
                    return;
                }
                let enc = s
                    .get::<&str>("encoding-name")
                    .unwrap_or("unknown")
                    .to_ascii_uppercase();
                let (depay, codec) = match enc.as_str() {
                    "H264" => ("rtph264depay", Codec::H264),
                    "H265" => ("rtph265depay", Codec::H265),
                    other => {
                        post_unsupported(src, &codec_label(other));
                        return;
                    }
                };
                let Ok(depay) = make(depay) else {
                    post_unsupported(src, codec.name());
                    return;
                };
                let Some(pipeline) = ds.pipeline.upgrade() else {
                    return;
                };
                let Ok(repair) = repair_filter(codec, &ds.shared) else {
                    post_unsupported(src, codec.name());
                    return;
                };
                // The camera's NTP time of each picture, read off its RTP packets.
                let clock = ds.clock.clone();
                depay.static_pad("sink").unwrap().add_probe(
                    gst::PadProbeType::BUFFER,
                    move |_, info| {
                        if let Some(buf) = info.buffer()
                            && let (Some(pts), Some(ntp)) = (buf.pts(), ntp_of(buf))
                        {
                            clock.note_rtp_ntp(pts.nseconds(), ntp);
                        }
                        gst::PadProbeReturn::Ok
                    },
                );
                let _ = pipeline.add_many([&depay, &repair]);
                let _ = depay.link(&repair);
                let _ = depay.sync_state_with_parent();
                let _ = repair.sync_state_with_parent();
                if pad.link(&depay.static_pad("sink").unwrap()).is_err() {
                    return;
                }
                ds.build(&repair.static_pad("src").unwrap(), codec, src);
            });
        }
        Source::File { path } => {
            let src = make("filesrc")?;
            src.set_property("location", path.to_string_lossy().to_string());
            let parsebin = make("parsebin")?;
            pipeline
                .add_many([&src, &parsebin])
                .map_err(|e| PipelineError::Start(e.to_string()))?;
            src.link(&parsebin)
                .map_err(|e| PipelineError::Start(e.to_string()))?;
            let ds = downstream.clone();
            parsebin.connect_pad_added(move |pb, pad| {
                let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
                let name = caps
                    .structure(0)
                    .map(|s| s.name().to_string())
                    .unwrap_or_default();
                let codec = match name.as_str() {
                    "video/x-h264" => Codec::H264,
                    "video/x-h265" => Codec::H265,
                    n if n.starts_with("video/") || n.starts_with("image/") => {
                        post_unsupported(pb, &codec_label(n));
                        return;
                    }
                    _ => return,
                };
                ds.build(pad, codec, pb);
            });
        }
    }
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| PipelineError::Start(e.to_string()))?;
    Ok(Connection { pipeline })
}

/// A capsfilter after the depayloader that asks for byte-stream NAL units, with a probe
/// that drops parameter sets repeated between the slices of one picture, so the parser
/// does not split the picture in two (see [`super::nal`]).
fn repair_filter(codec: Codec, shared: &Arc<CameraShared>) -> Result<gst::Element, PipelineError> {
    let filter = make("capsfilter")?;
    let media = match codec {
        Codec::H264 => "video/x-h264",
        Codec::H265 => "video/x-h265",
    };
    filter.set_property(
        "caps",
        gst::Caps::builder(media)
            .field("stream-format", "byte-stream")
            .field("alignment", "nal")
            .build(),
    );
    let shared = shared.clone();
    let judge = Mutex::new(super::nal::ParameterSetFilter::new(codec));
    let logged = std::sync::atomic::AtomicBool::new(false);
    filter
        .static_pad("src")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            let Some(buf) = info.buffer() else {
                return gst::PadProbeReturn::Ok;
            };
            let verdict = match buf.map_readable() {
                Ok(map) => judge
                    .lock()
                    .unwrap()
                    .judge(buf.pts().map(|t| t.nseconds()), &map),
                Err(_) => super::nal::Verdict::Keep,
            };
            let replaced = match verdict {
                super::nal::Verdict::Keep => return gst::PadProbeReturn::Ok,
                super::nal::Verdict::Drop => None,
                super::nal::Verdict::Replace(data) => {
                    let mut out = gst::Buffer::from_mut_slice(data);
                    {
                        let o = out.get_mut().expect("fresh buffer");
                        o.set_pts(buf.pts());
                        o.set_dts(buf.dts());
                        o.set_duration(buf.duration());
                        o.set_flags(buf.flags());
                    }
                    Some(out)
                }
            };
            shared.stats.repaired_units.fetch_add(1, Ordering::Relaxed);
            if !logged.swap(true, Ordering::Relaxed) {
                tracing::info!(
                    camera = %shared.camera_id,
                    "camera repeats parameter sets between the slices of a picture; dropping the repeats so pictures stay whole"
                );
            }
            match replaced {
                Some(out) => {
                    info.data = Some(gst::PadProbeData::Buffer(out));
                    gst::PadProbeReturn::Ok
                }
                None => discard(info),
            }
        });
    Ok(filter)
}

/// Drops the buffer a pad probe sees: takes it out of the probe (freeing it here) and
/// reports it handled. A plain `PadProbeReturn::Drop` from a gstreamer-rs probe makes
/// GStreamer 1.22 unref a buffer the binding already released: one
/// `gst_mini_object_unref: assertion 'mini_object != NULL'` critical on stderr per
/// dropped unit, ~200 a second for 8 keyframes-only 1080p25 cameras (24 of every 25
/// units dropped), every one a formatted line for the journal.
fn discard(info: &mut gst::PadProbeInfo) -> gst::PadProbeReturn {
    info.data = None;
    gst::PadProbeReturn::Handled
}

fn codec_label(caps_or_encoding: &str) -> String {
    let lower = caps_or_encoding.to_ascii_lowercase();
    if lower.contains("gif") {
        return "GIF".into();
    }
    if lower.contains("jpeg") {
        return "MJPEG".into();
    }
    match caps_or_encoding {
        "JPEG" | "image/jpeg" => "MJPEG".into(),
        "image/gif" => "GIF".into(),
        "H263" | "H263-1998" | "H263-2000" | "video/x-h263" => "H.263".into(),
        "MP4V-ES" | "video/mpeg" => "MPEG-4".into(),
        "VP8" | "video/x-vp8" => "VP8".into(),
        "VP9" | "video/x-vp9" => "VP9".into(),
        "AV1" | "video/x-av1" => "AV1".into(),
        other => other
            .trim_start_matches("video/")
            .trim_start_matches("x-")
            .to_string(),
    }
}

fn post_unsupported(el: &impl IsA<gst::Element>, codec: &str) {
    gst::element_error!(
        el,
        gst::StreamError::CodecNotFound,
        ("unsupported codec {}", codec)
    );
}

/// Pick the highest-ranked decoder for `caps`, so hardware decoders (v4l2, nvcodec,
/// rkmpp) win over `avdec_*` wherever their plugins are installed and ranked.
pub fn best_decoder(caps: &gst::Caps) -> Option<gst::ElementFactory> {
    let mut list: Vec<gst::ElementFactory> = gst::ElementFactory::factories_with_type(
        gst::ElementFactoryType::DECODER | gst::ElementFactoryType::MEDIA_VIDEO,
        gst::Rank::MARGINAL,
    )
    .into_iter()
    .filter(|f| f.can_sink_any_caps(caps))
    .collect();
    list.sort_by_key(|f| std::cmp::Reverse(f.rank()));
    list.into_iter().next()
}

#[derive(Clone)]
struct Downstream {
    pipeline: gst::glib::WeakRef<gst::Pipeline>,
    shared: Arc<CameraShared>,
    analysis: Option<AnalysisSpec>,
    clock: Arc<ConnClock>,
    built: Arc<Mutex<bool>>,
}

impl Downstream {
    /// Build parse -> tee -> branches and link `pad` to it (first video stream only).
    fn build(&self, pad: &gst::Pad, codec: Codec, owner: &impl IsA<gst::Element>) {
        let mut built = self.built.lock().unwrap();
        if *built {
            return;
        }
        let Some(pipeline) = self.pipeline.upgrade() else {
            return;
        };
        match self.try_build(&pipeline, pad, codec) {
            Ok(()) => *built = true,
            Err(e) => {
                gst::element_error!(owner, gst::CoreError::MissingPlugin, ("{}", e));
            }
        }
    }

    fn try_build(
        &self,
        pipeline: &gst::Pipeline,
        pad: &gst::Pad,
        codec: Codec,
    ) -> Result<(), PipelineError> {
        let (parser, media) = match codec {
            Codec::H264 => ("h264parse", "video/x-h264"),
            Codec::H265 => ("h265parse", "video/x-h265"),
        };
        *self.shared.stats.codec.lock().unwrap() = Some(codec);
        let parse = make(parser)?;
        // SPS/PPS in front of every keyframe: any cut from the ring is decodable.
        parse.set_property("config-interval", -1i32);
        let filter = make("capsfilter")?;
        let encoded_caps = gst::Caps::builder(media)
            .field("stream-format", "byte-stream")
            .field("alignment", "au")
            .build();
        filter.set_property("caps", &encoded_caps);
        let tee = make("tee")?;
        let ring_queue = make("queue")?;
        let ring_sink = gst_app::AppSink::builder().sync(false).build();
        let mut elements = vec![
            parse.clone(),
            filter.clone(),
            tee.clone(),
            ring_queue.clone(),
            ring_sink.clone().upcast(),
        ];
        pipeline
            .add_many(&elements)
            .map_err(|e| PipelineError::Start(e.to_string()))?;
        gst::Element::link_many([&parse, &filter, &tee])
            .map_err(|e| PipelineError::Start(e.to_string()))?;
        gst::Element::link_many([&tee, &ring_queue, ring_sink.upcast_ref()])
            .map_err(|e| PipelineError::Start(e.to_string()))?;

        self.install_ring_sink(&ring_sink);
        if let Some(spec) = &self.analysis {
            elements.extend(self.build_analysis(pipeline, &tee, &encoded_caps, spec)?);
        }
        for e in &elements {
            e.sync_state_with_parent()
                .map_err(|e| PipelineError::Start(e.to_string()))?;
        }
        pad.link(&parse.static_pad("sink").unwrap())
            .map_err(|e| PipelineError::Start(format!("link: {e:?}")))?;
        Ok(())
    }

    fn install_ring_sink(&self, sink: &gst_app::AppSink) {
        let shared = self.shared.clone();
        let clock = self.clock.clone();
        // PTS of the last unit that had one.
        let last_pts = AtomicU64::new(0);
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let Some(buf) = sample.buffer() else {
                        return Ok(gst::FlowSuccess::Ok);
                    };
                    // A unit without timestamps belongs with its predecessor (a parser
                    // split); the connection's start would put it seconds in the past.
                    let pts = match buf.pts().or(buf.dts()) {
                        Some(t) => {
                            last_pts.store(t.nseconds(), Ordering::Relaxed);
                            t.nseconds()
                        }
                        None => {
                            shared.stats.untimed_units.fetch_add(1, Ordering::Relaxed);
                            last_pts.load(Ordering::Relaxed)
                        }
                    };
                    let keyframe = !buf.flags().contains(gst::BufferFlags::DELTA_UNIT);
                    let map = buf.map_readable().map_err(|_| gst::FlowError::Error)?;
                    let st = &shared.stats;
                    {
                        let mut caps = shared.ring_caps.lock().unwrap();
                        if caps.is_none()
                            && let Some(c) = sample.caps()
                        {
                            note_caps(st, c);
                            *caps = Some(c.to_owned());
                        }
                    }
                    let moved = clock
                        .ntp_at(pts)
                        .is_some_and(|ntp| clock.observe_ntp(&shared, pts, ntp));
                    if moved {
                        // Units before and after would interleave in time: start again
                        // from the next keyframe (at most one GOP of pre-roll lost).
                        shared.ring.lock().unwrap().clear();
                        st.ring_resets.fetch_add(1, Ordering::Relaxed);
                    }
                    let au = AccessUnit {
                        pts_ns: pts,
                        dts_ns: buf.dts().map(|t| t.nseconds()),
                        duration_ns: buf.duration().map(|t| t.nseconds()),
                        time: clock.time(&shared, pts),
                        keyframe,
                        data: Arc::from(map.as_slice()),
                    };
                    clock.remember(pts, au.time);
                    shared.sample_clocks(au.time);
                    st.access_units.fetch_add(1, Ordering::Relaxed);
                    if keyframe {
                        st.keyframes.fetch_add(1, Ordering::Relaxed);
                    }
                    st.bytes.fetch_add(map.len() as u64, Ordering::Relaxed);
                    st.last_buffer_ms.store(now_ms(), Ordering::Relaxed);
                    shared.ring.lock().unwrap().push(au);
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
    }

    fn build_analysis(
        &self,
        pipeline: &gst::Pipeline,
        tee: &gst::Element,
        encoded_caps: &gst::Caps,
        spec: &AnalysisSpec,
    ) -> Result<Vec<gst::Element>, PipelineError> {
        let queue = make("queue")?;
        let factory = best_decoder(encoded_caps).ok_or(PipelineError::MissingElement(
            "a video decoder (avdec_h264/avdec_h265)",
        ))?;
        let decoder = factory
            .create()
            .build()
            .map_err(|e| PipelineError::Start(e.to_string()))?;
        tracing::debug!(camera = %self.shared.camera_id, decoder = %factory.name(), "decoder chosen by rank");
        // Frame threading holds back one frame per thread: at keyframes-only rates that
        // is seconds of latency. Slice threading decodes each frame as it comes.
        if decoder.has_property("thread-type") {
            decoder.set_property_from_str("thread-type", "slice");
        }
        // One decoding thread per camera: a box runs many cameras on few cores, so
        // parallelism comes from the cameras; extra threads per decoder only add
        // hand-offs and wake-ups (and cameras send one slice a picture, which slice
        // threads cannot split). See docs/performance.md.
        if decoder.has_property("max-threads") {
            decoder.set_property("max-threads", DECODER_THREADS as i32);
        }
        let scale = make("videoscale")?;
        let convert = make("videoconvert")?;
        let filter = make("capsfilter")?;
        filter.set_property(
            "caps",
            gst::Caps::builder("video/x-raw")
                .field("format", gst::List::new(YUV_FORMATS))
                .build(),
        );
        let sink = gst_app::AppSink::builder()
            .sync(false)
            .max_buffers(2)
            .build();
        let elements = vec![
            queue.clone(),
            decoder.clone(),
            scale.clone(),
            convert.clone(),
            filter.clone(),
            sink.clone().upcast(),
        ];
        pipeline
            .add_many(&elements)
            .map_err(|e| PipelineError::Start(e.to_string()))?;
        gst::Element::link_many([
            tee,
            &queue,
            &decoder,
            &scale,
            &convert,
            &filter,
            sink.upcast_ref(),
        ])
        .map_err(|e| PipelineError::Start(e.to_string()))?;

        if spec.keyframes_only {
            // Set once two keyframes came further apart than `keyframe_max_gap_s`: from
            // that keyframe on every unit is decoded (rate-limited to `fps` below).
            let all_frames = Arc::new(AtomicBool::new(false));
            let max_gap_ns = spec
                .keyframe_max_gap_s
                .map(|g| (g * KEYFRAME_GAP_SLACK * 1e9) as u64);
            let last_key: Mutex<Option<u64>> = Mutex::new(None);
            let camera_id = self.shared.camera_id.clone();
            let switch = all_frames.clone();
            // Delta units never enter the queue: dropped in the tee's thread, they cost
            // no hand-off to the decoder's thread (24 of 25 units at a 1 s GOP).
            queue
                .static_pad("sink")
                .unwrap()
                .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                    let Some(b) = info.buffer() else {
                        return gst::PadProbeReturn::Ok;
                    };
                    if switch.load(Ordering::Relaxed) {
                        return gst::PadProbeReturn::Ok;
                    }
                    if b.flags().contains(gst::BufferFlags::DELTA_UNIT) {
                        return discard(info);
                    }
                    // A keyframe: the switch happens here, so the decoder's first delta
                    // unit follows the keyframe it refers to.
                    if let (Some(max), Some(pts)) = (max_gap_ns, b.pts().map(|t| t.nseconds())) {
                        let mut last = last_key.lock().unwrap();
                        if let Some(prev) = *last
                            && pts > prev
                            && pts - prev > max
                        {
                            tracing::info!(
                                camera = %camera_id,
                                gap_s = (pts - prev) as f64 / 1e9,
                                max_gap_s = max as f64 / 1e9 / KEYFRAME_GAP_SLACK,
                                "keyframes come further apart than the rules allow: decoding every frame from this keyframe on"
                            );
                            switch.store(true, Ordering::Relaxed);
                        }
                        *last = Some(pts);
                    }
                    gst::PadProbeReturn::Ok
                });
            // Delta units never reach the decoder: the whole point of this mode. Each
            // keyframe is followed by a SEGMENT_DONE event, which makes the decoder drain:
            // a stream with B-frames would otherwise hold keyframes back in its reorder
            // buffer for several GOPs (seconds to minutes at keyframe rates). GAP events
            // do not drain avdec_h264 on GStreamer 1.22; SEGMENT_DONE does.
            let decoder_sink = decoder.static_pad("sink").unwrap();
            queue.static_pad("src").unwrap().add_probe(
                gst::PadProbeType::BUFFER,
                move |_, info| {
                    let Some(buf) = info.buffer() else {
                        return gst::PadProbeReturn::Ok;
                    };
                    if all_frames.load(Ordering::Relaxed) {
                        // Decoding every frame: no drain after each keyframe.
                        return gst::PadProbeReturn::Ok;
                    }
                    if buf.flags().contains(gst::BufferFlags::DELTA_UNIT) {
                        return discard(info);
                    }
                    let pts = buf.pts();
                    let Some(buf) = info.take_buffer() else {
                        return gst::PadProbeReturn::Ok;
                    };
                    let _ = decoder_sink.chain(buf);
                    if let Some(pts) = pts {
                        decoder_sink.send_event(gst::event::SegmentDone::new(pts));
                    }
                    gst::PadProbeReturn::Handled
                },
            );
        }
        let shared = self.shared.clone();
        let interval = (1e9 / spec.fps) as u64;
        let next_due: Mutex<Option<u64>> = Mutex::new(None);
        let max_width = spec.max_width;
        let filter_weak = filter.downgrade();
        decoder.static_pad("src").unwrap().add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
            move |_, info| {
                if let Some(gst::PadProbeData::Event(ev)) = &info.data {
                    if let gst::EventView::Caps(c) = ev.view()
                        && let (Some(filter), Ok(vi)) = (
                            filter_weak.upgrade(),
                            gst_video::VideoInfo::from_caps(c.caps()),
                        )
                    {
                        let (w, h) = analysis_size(vi.width(), vi.height(), max_width);
                        filter.set_property(
                            "caps",
                            gst::Caps::builder("video/x-raw")
                                .field("format", gst::List::new(YUV_FORMATS))
                                .field("width", w as i32)
                                .field("height", h as i32)
                                .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
                                .build(),
                        );
                    }
                    return gst::PadProbeReturn::Ok;
                }
                let Some(buf) = info.buffer() else {
                    return gst::PadProbeReturn::Ok;
                };
                shared.stats.frames_decoded.fetch_add(1, Ordering::Relaxed);
                // Rate limit before colour conversion: dropped frames cost only decoding.
                let Some(pts) = buf.pts().map(|t| t.nseconds()) else {
                    return gst::PadProbeReturn::Ok;
                };
                let mut next_due = next_due.lock().unwrap();
                match *next_due {
                    Some(due) if pts + interval / 20 < due => {
                        drop(next_due);
                        discard(info)
                    }
                    Some(due) => {
                        *next_due = Some(if pts > due + interval {
                            pts + interval
                        } else {
                            due + interval
                        });
                        gst::PadProbeReturn::Ok
                    }
                    None => {
                        *next_due = Some(pts + interval);
                        gst::PadProbeReturn::Ok
                    }
                }
            },
        );

        let shared = self.shared.clone();
        let clock = self.clock.clone();
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    if shared.withhold_frames.load(Ordering::Relaxed) {
                        // The camera's streams do not pair: boxes found on this stream
                        // would land in the wrong place on the main stream.
                        shared.stats.frames_withheld.fetch_add(1, Ordering::Relaxed);
                        return Ok(gst::FlowSuccess::Ok);
                    }
                    let frame = to_frame(&shared, &clock, &sample).ok_or(gst::FlowError::Error)?;
                    shared
                        .stats
                        .frames_delivered
                        .fetch_add(1, Ordering::Relaxed);
                    if !shared.frames.push(frame) {
                        return Err(gst::FlowError::Flushing);
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        Ok(elements)
    }
}

/// Formats the analysis branch delivers (the decoder's own where it is one of them).
const YUV_FORMATS: [&str; 2] = ["I420", "NV12"];

/// Decoding threads per camera (see `build_analysis`).
const DECODER_THREADS: u32 = 1;

/// Analysis size: native, or scaled down to `max_width` keeping the aspect (even sizes).
pub fn analysis_size(w: u32, h: u32, max_width: u32) -> (u32, u32) {
    if max_width == 0 || w <= max_width {
        return (w, h);
    }
    let nh = ((h as u64 * max_width as u64 / w as u64) as u32).max(2) & !1;
    (max_width & !1, nh)
}

fn note_caps(st: &CameraStats, caps: &gst::CapsRef) {
    if let Some(s) = caps.structure(0) {
        if let (Ok(w), Ok(h)) = (s.get::<i32>("width"), s.get::<i32>("height")) {
            st.width.store(w as u32, Ordering::Relaxed);
            st.height.store(h as u32, Ordering::Relaxed);
        }
        let par = s
            .get::<gst::Fraction>("pixel-aspect-ratio")
            .ok()
            .filter(|p| p.numer() > 0 && p.denom() > 0)
            .map_or((1, 1), |p| (p.numer() as u32, p.denom() as u32));
        st.par_n.store(par.0, Ordering::Relaxed);
        st.par_d.store(par.1, Ordering::Relaxed);
        if let Ok(fr) = s.get::<gst::Fraction>("framerate")
            && fr.denom() > 0
        {
            st.caps_fps_milli.store(
                (fr.numer() as u64 * 1000 / fr.denom() as u64) as u32,
                Ordering::Relaxed,
            );
        }
    }
}

fn to_frame(shared: &CameraShared, clock: &ConnClock, sample: &gst::Sample) -> Option<Frame> {
    let buf = sample.buffer()?;
    let info = gst_video::VideoInfo::from_caps(sample.caps()?).ok()?;
    let vf = gst_video::VideoFrameRef::from_buffer_ref_readable(buf, &info).ok()?;
    let (w, h) = (info.width(), info.height());
    let yuv = yuv_of(&info);
    let format = match info.format() {
        gst_video::VideoFormat::I420 => PixelFormat::I420(yuv),
        gst_video::VideoFormat::Nv12 => PixelFormat::Nv12(yuv),
        _ => return None,
    };
    let (cw, ch) = ((w as usize).div_ceil(2), (h as usize).div_ceil(2));
    // (plane, bytes a row, rows): copied without row padding, so the decoder's buffer
    // goes back to its pool at once.
    let planes: &[(u32, usize, usize)] = match format {
        PixelFormat::I420(_) => &[(0, w as usize, h as usize), (1, cw, ch), (2, cw, ch)],
        _ => &[(0, w as usize, h as usize), (1, 2 * cw, ch)],
    };
    let mut data = Vec::with_capacity(Frame::expected_len(format, w, h));
    for &(p, row, rows) in planes {
        let stride = vf.plane_stride()[p as usize] as usize;
        let src = vf.plane_data(p).ok()?;
        for y in 0..rows {
            data.extend_from_slice(src.get(y * stride..y * stride + row)?);
        }
    }
    let pts = buf.pts().map(|t| t.nseconds()).unwrap_or(0);
    let mut time = clock.decoded_time(shared, pts);
    // Keep analysis time strictly increasing, also across reconnects.
    let prev = shared.last_time.fetch_max(time.0, Ordering::Relaxed);
    if time.0 <= prev {
        time = MediaTime(prev + 1);
        shared.last_time.store(time.0, Ordering::Relaxed);
    }
    Some(Frame {
        camera_id: shared.camera_id.clone(),
        pts_ns: pts,
        time,
        width: w,
        height: h,
        format,
        data,
    })
}

/// The YUV -> RGB matrix and range of the stream, as `videoconvert` would use them
/// (unknown or other matrices: BT.709 for HD, BT.601 below).
fn yuv_of(info: &gst_video::VideoInfo) -> Yuv {
    let c = info.colorimetry();
    let matrix = match c.matrix() {
        gst_video::VideoColorMatrix::Bt601 => YuvMatrix::Bt601,
        gst_video::VideoColorMatrix::Bt709 => YuvMatrix::Bt709,
        _ if info.height() >= 720 => YuvMatrix::Bt709,
        _ => YuvMatrix::Bt601,
    };
    Yuv {
        matrix,
        full_range: c.range() == gst_video::VideoColorRange::Range0_255,
    }
}
