//! Decoding access units from the encoded ring back into full-resolution RGB frames.
//!
//! Design choice: snapshots are decoded on demand from the ring (keyframe before T up
//! to T) rather than kept in a cache of raw full-resolution frames. The ring is already
//! there for clips; a raw 1080p frame is 6 MB, so even a few seconds of cache per camera
//! would cost more memory than a small box has. Decoding one GOP costs some CPU, but
//! only when an event needs a picture.
//!
//! appsrc -> decodebin -> videoconvert -> RGB -> appsink(max-buffers=2): the sink blocks
//! the decoder while the caller consumes, so at most two raw frames are in memory.

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;

use super::EvidenceError;
use crate::ingest::{AccessUnit, MediaTime};

/// 100 ms polls without output after which a decode counts as stuck (30 s).
const STUCK_POLLS: u32 = 300;

/// A decoded frame: tightly packed RGB.
#[derive(Debug, Clone)]
pub struct RgbFrame {
    pub time: MediaTime,
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

fn gst_err(stage: &'static str) -> impl Fn(String) -> EvidenceError {
    move |reason| EvidenceError::Gst { stage, reason }
}

/// Timestamps relative to the first unit's decode time, so the pipeline starts at 0.
/// Returns (pts, dts) in ns for each unit.
pub(crate) fn relative_times(units: &[AccessUnit]) -> (u64, Vec<(u64, u64)>) {
    let base = units
        .iter()
        .map(|u| u.dts_ns.unwrap_or(u.pts_ns).min(u.pts_ns))
        .min()
        .unwrap_or(0);
    let t = units
        .iter()
        .map(|u| {
            (
                u.pts_ns - base,
                u.dts_ns.unwrap_or(u.pts_ns).saturating_sub(base),
            )
        })
        .collect();
    (base, t)
}

/// Builds a GStreamer buffer for `u` with the given relative timestamps.
pub(crate) fn buffer_of(u: &AccessUnit, pts: u64, dts: u64) -> gst::Buffer {
    let mut b = gst::Buffer::from_slice(u.data.to_vec());
    {
        let b = b.get_mut().expect("fresh buffer is writable");
        b.set_pts(gst::ClockTime::from_nseconds(pts));
        b.set_dts(gst::ClockTime::from_nseconds(dts));
        if let Some(d) = u.duration_ns {
            b.set_duration(gst::ClockTime::from_nseconds(d));
        }
        if !u.keyframe {
            b.set_flags(gst::BufferFlags::DELTA_UNIT);
        }
    }
    b
}

/// Decodes `units` (first one a keyframe) and calls `each` with every frame in
/// presentation order; `each` returns false to stop early. Media time of a frame is
/// the media time of the unit whose PTS it carries.
pub fn decode_units(
    caps: &gst::Caps,
    units: &[AccessUnit],
    mut each: impl FnMut(RgbFrame) -> bool,
) -> Result<(), EvidenceError> {
    crate::gst_init();
    if units.is_empty() {
        return Ok(());
    }
    let (base, times) = relative_times(units);
    // PTS (pipeline ns) -> media time, from the units themselves.
    let media_of = |pts_rel: u64| -> MediaTime {
        units
            .iter()
            .min_by_key(|u| (u.pts_ns as i128 - (pts_rel + base) as i128).unsigned_abs())
            .map(|u| u.time)
            .unwrap_or_default()
    };
    let pipeline = gst::Pipeline::new();
    let e = gst_err("decode");
    let src = gst_app::AppSrc::builder()
        .caps(caps)
        .format(gst::Format::Time)
        .is_live(false)
        .build();
    let decode = gst::ElementFactory::make("decodebin")
        .build()
        .map_err(|x| e(x.to_string()))?;
    let convert = gst::ElementFactory::make("videoconvert")
        .build()
        .map_err(|x| e(x.to_string()))?;
    let sink = gst_app::AppSink::builder()
        .caps(
            &gst_video::VideoCapsBuilder::new()
                .format(gst_video::VideoFormat::Rgb)
                .build(),
        )
        .max_buffers(2)
        .drop(false)
        .sync(false)
        .build();
    pipeline
        .add_many([src.upcast_ref(), &decode, &convert, sink.upcast_ref()])
        .map_err(|x| e(x.to_string()))?;
    src.link(&decode).map_err(|x| e(x.to_string()))?;
    convert.link(&sink).map_err(|x| e(x.to_string()))?;
    let conv = convert.downgrade();
    decode.connect_pad_added(move |_, pad| {
        if let Some(conv) = conv.upgrade() {
            let sinkpad = conv
                .static_pad("sink")
                .expect("videoconvert has a sink pad");
            if !sinkpad.is_linked() {
                let _ = pad.link(&sinkpad);
            }
        }
    });
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|x| e(x.to_string()))?;
    for (u, &(pts, dts)) in units.iter().zip(&times) {
        // appsrc does not block (its `block` property is off): the encoded cut is
        // bounded by the ring, so queueing it whole is bounded too.
        if src.push_buffer(buffer_of(u, pts, dts)).is_err() {
            break;
        }
    }
    let _ = src.end_of_stream();
    let bus = pipeline.bus().expect("pipeline has a bus");
    let mut result = Ok(());
    // All input is queued before the loop, so a decoder that stays silent this long
    // (and never sends EOS) is stuck; give up rather than hang the evidence thread.
    let mut quiet = 0u32;
    loop {
        if let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_mseconds(100)) {
            quiet = 0;
            let frame = (|| {
                let caps = sample.caps()?;
                let info = gst_video::VideoInfo::from_caps(caps).ok()?;
                let buf = sample.buffer()?;
                let map = buf.map_readable().ok()?;
                let (w, h) = (info.width(), info.height());
                let stride = info.stride()[0] as usize;
                let row = w as usize * 3;
                let mut data = Vec::with_capacity(row * h as usize);
                for y in 0..h as usize {
                    data.extend_from_slice(map.get(y * stride..y * stride + row)?);
                }
                let time = media_of(buf.pts().map_or(0, |p| p.nseconds()));
                Some(RgbFrame {
                    time,
                    width: w,
                    height: h,
                    data,
                })
            })();
            if let Some(f) = frame
                && !each(f)
            {
                break;
            }
            continue;
        }
        if sink.is_eos() {
            break;
        }
        if let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error])
            && let gst::MessageView::Error(err) = msg.view()
        {
            result = Err(e(err.error().to_string()));
            break;
        }
        quiet += 1;
        if quiet >= STUCK_POLLS {
            result = Err(e("decoder stopped without finishing".into()));
            break;
        }
    }
    let _ = pipeline.set_state(gst::State::Null);
    result
}

/// The frame nearest to `at` (the frame an analysis at `at` saw: on the same stream
/// it has exactly that time; on a camera's other stream the same instant may be
/// stamped a few milliseconds either side), the earlier one on a tie. Decoding stops at
/// the first frame after `at`.
pub fn frame_at(
    caps: &gst::Caps,
    units: &[AccessUnit],
    at: MediaTime,
) -> Result<RgbFrame, EvidenceError> {
    let mut best: Option<RgbFrame> = None;
    let distance = |t: MediaTime| (t.0 - at.0).unsigned_abs();
    decode_units(caps, units, |f| {
        let past = f.time > at;
        if best
            .as_ref()
            .is_none_or(|b| distance(f.time) < distance(b.time))
        {
            best = Some(f);
        }
        !past
    })?;
    best.ok_or_else(|| EvidenceError::NothingInRing {
        what: format!("a frame at {at:?}"),
    })
}

/// The last `n` frames up to `at`, oldest first (the last one is what
/// [`frame_at`] returns): a snapshot's own frame and the ones just before it, decoded
/// in the same pass, for reads that want several looks (licence plates).
pub fn frames_before(
    caps: &gst::Caps,
    units: &[AccessUnit],
    at: MediaTime,
    n: usize,
) -> Result<Vec<RgbFrame>, EvidenceError> {
    let n = n.max(1);
    let mut kept: std::collections::VecDeque<RgbFrame> = std::collections::VecDeque::new();
    let distance = |t: MediaTime| (t.0 - at.0).unsigned_abs();
    decode_units(caps, units, |f| {
        let past = f.time > at;
        // The first frame past `at` is kept only where it is nearer than the last one
        // before (the other stream's picture of the same instant, stamped a little
        // later), as `frame_at` picks it.
        let keep = !past
            || kept
                .back()
                .is_none_or(|b| distance(f.time) < distance(b.time));
        if keep {
            if kept.len() == n {
                kept.pop_front();
            }
            kept.push_back(f);
        }
        !past
    })?;
    if kept.is_empty() {
        return Err(EvidenceError::NothingInRing {
            what: format!("a frame at {at:?}"),
        });
    }
    Ok(kept.into())
}
