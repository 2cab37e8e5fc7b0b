//! Event clips: a cut of the encoded ring remuxed into MP4 without re-encoding
//! (appsrc -> h264parse/h265parse -> mp4mux faststart -> filesink), so the clip is the
//! camera's own bitstream (nothing to argue about in enforcement) and costs almost no
//! CPU. The clip starts on the keyframe at or before `T - pre-roll`; its real start,
//! end and whether the pre-roll came up short are reported, not assumed.
//!
//! Clips are not re-encoded, so privacy zones are *not* blacked out in them: the
//! [`MediaRef`] says so (`privacy_unredacted`). [`write_redacted_clip`] offers a
//! re-encoded, blacked-out alternative (openh264) behind `evidence.redacted_clip`.

use std::path::{Path, PathBuf};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use super::EvidenceError;
use super::decode::{buffer_of, decode_units, relative_times};
use super::files::publish;
use crate::ingest::{MediaTime, RingCut};
use crate::rules::event::{MediaKind, MediaRef};
use crate::rules::privacy::black_out_zones;
use crate::rules::zone::Zone;

fn make(name: &str) -> Result<gst::Element, EvidenceError> {
    gst::ElementFactory::make(name)
        .build()
        .map_err(|e| EvidenceError::Gst {
            stage: "clip",
            reason: format!("{name}: {e}"),
        })
}

fn parser_for(caps: &gst::Caps) -> Result<&'static str, EvidenceError> {
    match caps.structure(0).map(|s| s.name().as_str()) {
        Some("video/x-h264") => Ok("h264parse"),
        Some("video/x-h265") => Ok("h265parse"),
        other => Err(EvidenceError::Gst {
            stage: "clip",
            reason: format!("unsupported stream caps {other:?}"),
        }),
    }
}

/// Runs a pipeline fed by `src` to EOS, returning the first error.
fn run_to_eos(
    pipeline: &gst::Pipeline,
    stage: &'static str,
    out: &Path,
) -> Result<(), EvidenceError> {
    let bus = pipeline.bus().expect("pipeline has a bus");
    let result = loop {
        // Bounded by the cut's size; 60 s is far beyond any remux of a bounded cut.
        match bus.timed_pop_filtered(
            gst::ClockTime::from_seconds(60),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        ) {
            Some(msg) => match msg.view() {
                gst::MessageView::Eos(_) => break Ok(()),
                gst::MessageView::Error(e) => {
                    // A full disk is not a GStreamer fault: say so, so the event and the
                    // counters give the right reason.
                    if e.error().matches(gst::ResourceError::NoSpaceLeft) {
                        break Err(EvidenceError::DiskFull {
                            path: out.to_path_buf(),
                            reason: e.error().to_string(),
                        });
                    }
                    break Err(EvidenceError::Gst {
                        stage,
                        reason: e.error().to_string(),
                    });
                }
                _ => {}
            },
            None => {
                break Err(EvidenceError::Gst {
                    stage,
                    reason: "timed out waiting for the muxer".into(),
                });
            }
        }
    };
    let _ = pipeline.set_state(gst::State::Null);
    result
}

/// The clip's real time span: first unit's media time to the end of the last frame.
fn span(cut: &RingCut) -> (MediaTime, MediaTime) {
    let last = cut.units.iter().max_by_key(|u| u.time);
    let end = last.map_or(cut.end, |u| {
        MediaTime(u.time.0 + u.duration_ns.unwrap_or(0) as i64)
    });
    (cut.start, end)
}

/// Common to both clip writers: refuse an empty cut, make the directory, and name the
/// final file and the temporary one it is written to before the atomic rename.
fn prepare(dir: &Path, name: &str, cut: &RingCut) -> Result<(PathBuf, PathBuf), EvidenceError> {
    crate::gst_init();
    if cut.units.is_empty() {
        return Err(EvidenceError::NothingInRing { what: name.into() });
    }
    std::fs::create_dir_all(dir).map_err(|source| EvidenceError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    Ok((dir.join(name), tmp))
}

/// Remuxes `cut` into `<dir>/<name>` (MP4, faststart) atomically and describes it.
/// `privacy` marks the clip as unredacted when any privacy zone exists.
pub fn write_clip(
    dir: &Path,
    name: &str,
    caps: &gst::Caps,
    cut: &RingCut,
    privacy_zones: bool,
) -> Result<MediaRef, EvidenceError> {
    let (final_path, tmp) = prepare(dir, name, cut)?;
    let pipeline = gst::Pipeline::new();
    let src = gst_app::AppSrc::builder()
        .caps(caps)
        .format(gst::Format::Time)
        .is_live(false)
        .build();
    let parse = make(parser_for(caps)?)?;
    let mux = make("mp4mux")?;
    mux.set_property("faststart", true);
    let sink = make("filesink")?;
    sink.set_property("location", tmp.to_string_lossy().to_string());
    let gerr = |e: gst::glib::BoolError| EvidenceError::Gst {
        stage: "clip",
        reason: e.to_string(),
    };
    pipeline
        .add_many([src.upcast_ref(), &parse, &mux, &sink])
        .map_err(gerr)?;
    gst::Element::link_many([src.upcast_ref(), &parse, &mux, &sink]).map_err(gerr)?;
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| EvidenceError::Gst {
            stage: "clip",
            reason: e.to_string(),
        })?;
    let (_, times) = relative_times(&cut.units);
    for (u, &(pts, dts)) in cut.units.iter().zip(&times) {
        if src.push_buffer(buffer_of(u, pts, dts)).is_err() {
            break;
        }
    }
    let _ = src.end_of_stream();
    let r = run_to_eos(&pipeline, "clip", &tmp);
    if let Err(e) = r {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    let (bytes, sha256) = publish(&tmp, &final_path)?;
    let (start, end) = span(cut);
    let (width, height) = caps
        .structure(0)
        .map(|s| {
            (
                s.get::<i32>("width").ok().map(|v| v as u32),
                s.get::<i32>("height").ok().map(|v| v as u32),
            )
        })
        .unwrap_or((None, None));
    Ok(MediaRef {
        name: name.into(),
        kind: MediaKind::Clip,
        content_type: "video/mp4".into(),
        bytes,
        sha256,
        width,
        height,
        start_media_ns: Some(start.0),
        end_media_ns: Some(end.0),
        preroll_short: cut.preroll_short,
        privacy_unredacted: privacy_zones,
        stream: None,
        caption_px: None,
        caption: Vec::new(),
        local_path: Some(final_path),
    })
}

/// Re-encodes `cut` with privacy zones blacked out (decode -> black out -> openh264enc
/// -> mp4mux), for deployments that must never upload unredacted video. Costs a full
/// decode and encode of the clip; off by default.
pub fn write_redacted_clip(
    dir: &Path,
    name: &str,
    caps: &gst::Caps,
    cut: &RingCut,
    zones: &[Zone],
) -> Result<MediaRef, EvidenceError> {
    let (final_path, tmp) = prepare(dir, name, cut)?;
    let gerr = |e: String| EvidenceError::Gst {
        stage: "redacted clip",
        reason: e,
    };
    let pipeline = gst::Pipeline::new();
    // Blocking with a byte cap: raw frames wait for the encoder instead of piling up.
    let src = gst_app::AppSrc::builder()
        .format(gst::Format::Time)
        .is_live(false)
        .block(true)
        .max_bytes(32 << 20)
        .build();
    let convert = make("videoconvert")?;
    let enc = make("openh264enc")?;
    let parse = make("h264parse")?;
    let mux = make("mp4mux")?;
    mux.set_property("faststart", true);
    let sink = make("filesink")?;
    sink.set_property("location", tmp.to_string_lossy().to_string());
    pipeline
        .add_many([src.upcast_ref(), &convert, &enc, &parse, &mux, &sink])
        .map_err(|e| gerr(e.to_string()))?;
    gst::Element::link_many([src.upcast_ref(), &convert, &enc, &parse, &mux, &sink])
        .map_err(|e| gerr(e.to_string()))?;
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| gerr(e.to_string()))?;
    let t0 = cut.start;
    let mut size = None;
    let mut last_pts = 0u64;
    let mut failure = None;
    decode_units(caps, &cut.units, |mut f| {
        if size.is_none() {
            let c = gstreamer_video::VideoInfo::builder(
                gstreamer_video::VideoFormat::Rgb,
                f.width,
                f.height,
            )
            .fps(gst::Fraction::new(0, 1))
            .build()
            .ok()
            .and_then(|i| i.to_caps().ok());
            src.set_caps(c.as_ref());
            size = Some((f.width, f.height));
        }
        if let Err(e) = black_out_zones(&mut f.data, f.width, f.height, zones) {
            failure = Some(EvidenceError::from(e));
            return false;
        }
        // Pad rows to GStreamer's 4-byte RGB stride.
        let row = f.width as usize * 3;
        let stride = row.div_ceil(4) * 4;
        let mut data = vec![0u8; stride * f.height as usize];
        for y in 0..f.height as usize {
            data[y * stride..y * stride + row].copy_from_slice(&f.data[y * row..(y + 1) * row]);
        }
        let pts = f.time.0.saturating_sub(t0.0).max(last_pts as i64) as u64;
        last_pts = pts + 1;
        let mut b = gst::Buffer::from_slice(data);
        b.get_mut()
            .expect("fresh buffer")
            .set_pts(gst::ClockTime::from_nseconds(pts));
        src.push_buffer(b).is_ok()
    })?;
    let _ = src.end_of_stream();
    if let Some(e) = failure {
        let _ = pipeline.set_state(gst::State::Null);
        return Err(e);
    }
    if let Err(e) = run_to_eos(&pipeline, "redacted clip", &tmp) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    let (bytes, sha256) = publish(&tmp, &final_path)?;
    let (start, end) = span(cut);
    Ok(MediaRef {
        name: name.into(),
        kind: MediaKind::Clip,
        content_type: "video/mp4".into(),
        bytes,
        sha256,
        width: size.map(|s| s.0),
        height: size.map(|s| s.1),
        start_media_ns: Some(start.0),
        end_media_ns: Some(end.0),
        preroll_short: cut.preroll_short,
        privacy_unredacted: false,
        stream: None,
        caption_px: None,
        caption: Vec::new(),
        local_path: Some(final_path),
    })
}
