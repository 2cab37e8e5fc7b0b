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
use crate::config::Transport;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use gstreamer_video::prelude::*;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
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

/// Analysis branch settings.
#[derive(Debug, Clone)]
pub struct AnalysisSpec {
    pub fps: f64,
    pub keyframes_only: bool,
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
            last_time: AtomicI64::new(i64::MIN),
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

/// Per-connection timing: the anchor is set by the first buffer through the tee.
struct ConnClock {
    offset: OnceLock<i64>,
}

impl ConnClock {
    fn time(&self, shared: &CameraShared, pts_ns: u64) -> MediaTime {
        let off = *self.offset.get_or_init(|| match shared.anchor {
            Anchor::WallClock => {
                let wall = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
                wall - pts_ns as i64
            }
            Anchor::Fixed(t0) => t0 - pts_ns as i64,
        });
        MediaTime(off + pts_ns as i64)
    }
}

/// Build and start a connection. Stream-level failures are reported on the bus.
pub fn connect(
    source: &Source,
    analysis: Option<&AnalysisSpec>,
    shared: &Arc<CameraShared>,
) -> Result<Connection, PipelineError> {
    crate::gst_init();
    let pipeline = gst::Pipeline::with_name(&format!("cam-{}", shared.camera_id));
    let clock = Arc::new(ConnClock {
        offset: OnceLock::new(),
    });
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
                None => gst::PadProbeReturn::Drop,
            }
        });
    Ok(filter)
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
                    let au = AccessUnit {
                        pts_ns: pts,
                        dts_ns: buf.dts().map(|t| t.nseconds()),
                        duration_ns: buf.duration().map(|t| t.nseconds()),
                        time: clock.time(&shared, pts),
                        keyframe,
                        data: Arc::from(map.as_slice()),
                    };
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
            // Delta units never enter the queue: dropped in the tee's thread, they cost
            // no hand-off to the decoder's thread (24 of 25 units at a 1 s GOP).
            queue
                .static_pad("sink")
                .unwrap()
                .add_probe(gst::PadProbeType::BUFFER, |_, info| match info.buffer() {
                    Some(b) if b.flags().contains(gst::BufferFlags::DELTA_UNIT) => {
                        gst::PadProbeReturn::Drop
                    }
                    _ => gst::PadProbeReturn::Ok,
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
                    if buf.flags().contains(gst::BufferFlags::DELTA_UNIT) {
                        return gst::PadProbeReturn::Drop;
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
                    Some(due) if pts + interval / 20 < due => gst::PadProbeReturn::Drop,
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
    let mut time = clock.time(shared, pts);
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
