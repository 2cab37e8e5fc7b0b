//! Load a sample video's encoded access units into memory, so a simulated camera can
//! replay them forever without re-encoding (what a real camera sends is encoded video
//! with its real GOP; re-encoding would hide GOP effects we want to test).

use super::CamsimError;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use std::path::Path;

/// One encoded access unit, timestamps relative to the clip start.
#[derive(Debug, Clone)]
pub struct ClipUnit {
    pub pts: u64,
    pub dts: u64,
    pub keyframe: bool,
    pub data: gst::Buffer,
}

/// A whole clip: caps (byte-stream, AU-aligned) and its units in decode order.
#[derive(Debug, Clone)]
pub struct Clip {
    pub caps: gst::Caps,
    pub encoding: &'static str,
    pub units: Vec<ClipUnit>,
    /// Length of one loop: last PTS + one frame.
    pub duration_ns: u64,
}

impl Clip {
    pub fn keyframes(&self) -> usize {
        self.units.iter().filter(|u| u.keyframe).count()
    }
}

/// Demux and parse `path` (MP4, MKV, TS, raw .h264/.h265) into memory.
pub fn load_clip(path: &Path) -> Result<Clip, CamsimError> {
    crate::gst_init();
    let pipeline = gst::Pipeline::new();
    let err = |m: String| CamsimError::Clip {
        path: path.to_path_buf(),
        reason: m,
    };
    let src = gst::ElementFactory::make("filesrc")
        .property("location", path.to_string_lossy().to_string())
        .build()
        .map_err(|e| err(e.to_string()))?;
    let parsebin = gst::ElementFactory::make("parsebin")
        .build()
        .map_err(|e| err(e.to_string()))?;
    let sink = gst_app::AppSink::builder().sync(false).build();
    pipeline
        .add_many([&src, &parsebin, sink.upcast_ref()])
        .map_err(|e| err(e.to_string()))?;
    src.link(&parsebin).map_err(|e| err(e.to_string()))?;
    let encoding: std::sync::Arc<std::sync::Mutex<Option<Result<&'static str, String>>>> =
        Default::default();
    {
        let pipeline = pipeline.downgrade();
        let sink = sink.clone();
        let encoding = encoding.clone();
        parsebin.connect_pad_added(move |_, pad| {
            let Some(pipeline) = pipeline.upgrade() else {
                return;
            };
            let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
            let name = caps
                .structure(0)
                .map(|s| s.name().to_string())
                .unwrap_or_default();
            let (parser, enc) = match name.as_str() {
                "video/x-h264" => ("h264parse", "H264"),
                "video/x-h265" => ("h265parse", "H265"),
                other => {
                    if other.starts_with("video/") || other.starts_with("image/") {
                        *encoding.lock().unwrap() = Some(Err(other.to_string()));
                    }
                    return;
                }
            };
            let mut enc_slot = encoding.lock().unwrap();
            if enc_slot.is_some() {
                return; // first video stream only
            }
            let parse = gst::ElementFactory::make(parser)
                .property("config-interval", -1i32)
                .build()
                .expect("parser exists");
            let filter = gst::ElementFactory::make("capsfilter")
                .property(
                    "caps",
                    gst::Caps::builder(name.as_str())
                        .field("stream-format", "byte-stream")
                        .field("alignment", "au")
                        .build(),
                )
                .build()
                .expect("capsfilter exists");
            pipeline.add_many([&parse, &filter]).unwrap();
            gst::Element::link_many([&parse, &filter, sink.upcast_ref()]).unwrap();
            parse.sync_state_with_parent().unwrap();
            filter.sync_state_with_parent().unwrap();
            pad.link(&parse.static_pad("sink").unwrap()).unwrap();
            *enc_slot = Some(Ok(enc));
        });
    }
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| err(format!("cannot start demuxing: {e}")))?;
    let mut units = Vec::new();
    let mut caps = None;
    let bus = pipeline.bus().unwrap();
    let result = loop {
        if let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_mseconds(50)) {
            if caps.is_none() {
                caps = sample.caps().map(|c| c.to_owned());
            }
            if let Some(buf) = sample.buffer_owned() {
                let pts = buf.pts().map(|t| t.nseconds());
                let dts = buf.dts().map(|t| t.nseconds()).or(pts).unwrap_or(0);
                units.push(ClipUnit {
                    pts: pts.unwrap_or(dts),
                    dts,
                    keyframe: !buf.flags().contains(gst::BufferFlags::DELTA_UNIT),
                    data: buf,
                });
            }
            continue;
        }
        if sink.is_eos() {
            break Ok(());
        }
        if let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error])
            && let gst::MessageView::Error(e) = msg.view()
        {
            break Err(err(e.error().to_string()));
        }
        if let Some(Err(kind)) = encoding.lock().unwrap().as_ref() {
            break Err(CamsimError::UnsupportedCodec {
                path: path.to_path_buf(),
                caps: kind.clone(),
            });
        }
    };
    let _ = pipeline.set_state(gst::State::Null);
    result?;
    let encoding = match encoding.lock().unwrap().take() {
        Some(Ok(e)) => e,
        Some(Err(kind)) => {
            return Err(CamsimError::UnsupportedCodec {
                path: path.to_path_buf(),
                caps: kind,
            });
        }
        None => return Err(err("no video stream found".into())),
    };
    let caps = caps.ok_or_else(|| err("no video data".into()))?;
    if units.is_empty() {
        return Err(err("no video data".into()));
    }
    // Timestamps relative to the first unit, so each loop starts at zero.
    let t0 = units.iter().map(|u| u.dts.min(u.pts)).min().unwrap_or(0);
    for u in &mut units {
        u.pts -= t0;
        u.dts -= t0;
    }
    let frame = frame_duration(&caps).unwrap_or(40_000_000);
    let duration_ns = units.iter().map(|u| u.pts).max().unwrap_or(0) + frame;
    Ok(Clip {
        caps,
        encoding,
        units,
        duration_ns,
    })
}

fn frame_duration(caps: &gst::Caps) -> Option<u64> {
    let fr = caps.structure(0)?.get::<gst::Fraction>("framerate").ok()?;
    if fr.numer() <= 0 {
        return None;
    }
    Some(1_000_000_000u64 * fr.denom() as u64 / fr.numer() as u64)
}
