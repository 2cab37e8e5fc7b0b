//! Scenario videos built from real frames, for tests of long events.
//!
//! There is no public street footage of a car parked for minutes, so a scenario is made
//! honestly from real material: the frames of a sample clip (e.g. the car-park GIF in
//! which a car drives into a bay), followed by its last frame held for N seconds with
//! light per-pixel noise (so the encoder produces real P-frames rather than empty
//! skips), encoded to H.264 with openh264 at a realistic GOP. The detector then sees a
//! real parked car for as long as the scenario says.
//!
//! file -> decodebin -> videoconvert -> RGB appsink; frames -> appsrc -> videoconvert ->
//! openh264enc (gop-size) -> h264parse -> mp4mux -> file.

use std::path::Path;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;

use super::CamsimError;
use super::picture::Picture;

/// How to build a scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioSpec {
    /// Output frame rate; source frames are shown for their own duration at this rate.
    pub fps: u32,
    /// Seconds the last source frame is held after the source ends.
    pub hold_s: f64,
    /// Keyframe interval in frames (e.g. 2 s of frames, as IP cameras use).
    pub gop_frames: u32,
    /// Noise amplitude in 8-bit levels added to held frames (0 = none).
    pub noise: u8,
    /// Encoder bitrate, bits per second.
    pub bitrate: u32,
}

impl Default for ScenarioSpec {
    fn default() -> Self {
        Self {
            fps: 12,
            hold_s: 60.0,
            gop_frames: 24,
            noise: 3,
            bitrate: 1_000_000,
        }
    }
}

/// 100 ms polls without a frame that end a file whose demuxer sends no EOS.
const QUIET_POLLS: u32 = 30;

fn err(path: &Path, reason: impl ToString) -> CamsimError {
    CamsimError::Clip {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Decoded frames: width, height, and each frame's tightly packed RGB with its
/// duration in ns.
pub type DecodedFrames = (u32, u32, Vec<(Vec<u8>, u64)>);

/// Decodes every frame of `path` to tightly packed RGB.
pub fn decode_frames(path: &Path) -> Result<DecodedFrames, CamsimError> {
    let mut frames = Vec::new();
    let mut size = (0, 0);
    decode_each(path, |w, h, rgb, dur| {
        size = (w, h);
        frames.push((rgb, dur));
        true
    })?;
    Ok((size.0, size.1, frames))
}

/// Decodes `path` from the start up to `until_ns` of media time, keeping at most one
/// frame per `min_interval_ns` (each kept frame lasts until the next kept one), so a
/// scenario composed at a low frame rate holds only the frames it shows.
pub fn decode_pictures(
    path: &Path,
    min_interval_ns: u64,
    until_ns: u64,
) -> Result<Vec<(Picture, u64)>, CamsimError> {
    let mut out: Vec<(Picture, u64)> = Vec::new();
    let (mut t, mut next) = (0u64, 0u64);
    let mut bad = false;
    decode_each(path, |w, h, rgb, dur| {
        if t >= until_ns {
            return false;
        }
        if t >= next {
            match Picture::from_rgb(w, h, rgb) {
                Some(p) => out.push((p, dur)),
                None => {
                    bad = true;
                    return false;
                }
            }
            next = t + min_interval_ns;
        } else if let Some(last) = out.last_mut() {
            last.1 += dur;
        }
        t += dur;
        true
    })?;
    if bad {
        return Err(err(path, "a decoded frame does not match its size"));
    }
    Ok(out)
}

/// Runs `f(width, height, tightly packed RGB, duration ns)` on each decoded frame of
/// `path` in order until it returns false or the file ends.
fn decode_each(
    path: &Path,
    mut f: impl FnMut(u32, u32, Vec<u8>, u64) -> bool,
) -> Result<(), CamsimError> {
    crate::gst_init();
    let pipeline = gst::parse::launch(&format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! video/x-raw,format=RGB ! appsink name=sink sync=false",
        path.display()
    ))
    .map_err(|e| err(path, e))?
    .downcast::<gst::Pipeline>()
    .map_err(|_| err(path, "not a pipeline"))?;
    let sink = pipeline
        .by_name("sink")
        .and_then(|s| s.downcast::<gst_app::AppSink>().ok())
        .ok_or_else(|| err(path, "no appsink"))?;
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| err(path, e))?;
    let mut any = false;
    let bus = pipeline.bus().expect("pipeline has a bus");
    // libav's GIF demuxer (`avdemux_gif`) delivers every frame but may never send EOS:
    // once frames have arrived, a quiet spell ends the file.
    let mut quiet = 0u32;
    let result = loop {
        if let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_mseconds(100)) {
            quiet = 0;
            let (Some(caps), Some(buf)) = (sample.caps(), sample.buffer()) else {
                continue;
            };
            // Errors break out of the loop so the pipeline is always stopped.
            let info = match gst_video::VideoInfo::from_caps(caps) {
                Ok(i) => i,
                Err(e) => break Err(err(path, e)),
            };
            let map = match buf.map_readable() {
                Ok(m) => m,
                Err(e) => break Err(err(path, e)),
            };
            let (w, h) = (info.width(), info.height());
            let stride = info.stride()[0] as usize;
            let row = w as usize * 3;
            let mut data = Vec::with_capacity(row * h as usize);
            for y in 0..h as usize {
                data.extend_from_slice(&map[y * stride..y * stride + row]);
            }
            any = true;
            if !f(
                w,
                h,
                data,
                buf.duration().map_or(80_000_000, |d| d.nseconds()),
            ) {
                break Ok(());
            }
            continue;
        }
        if sink.is_eos() {
            break Ok(());
        }
        if let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error])
            && let gst::MessageView::Error(e) = msg.view()
        {
            break Err(err(path, e.error()));
        }
        quiet += 1;
        if any && quiet >= QUIET_POLLS {
            break Ok(());
        }
    };
    let _ = pipeline.set_state(gst::State::Null);
    result?;
    if !any {
        return Err(err(path, "no frames"));
    }
    Ok(())
}

/// One stretch of a composed scenario.
#[derive(Debug, Clone, Copy)]
pub enum Segment<'a> {
    /// Real frames, each shown for its own duration (ns) at the output rate, the whole
    /// run `repeat` times in a row (a looped clip).
    Frames {
        frames: &'a [(Picture, u64)],
        repeat: u32,
    },
    /// One picture held for `seconds`, with the spec's light per-pixel noise on every
    /// output frame so the encoder writes real P-frames, as a still camera would.
    Hold { picture: &'a Picture, seconds: f64 },
}

/// Builds the scenario from `source` into `out` (MP4, H.264): its frames, then its last
/// frame held for `spec.hold_s`. Returns the number of frames written.
pub fn build_scenario(source: &Path, out: &Path, spec: &ScenarioSpec) -> Result<u64, CamsimError> {
    let (w, h, frames) = decode_frames(source)?;
    let frames: Vec<(Picture, u64)> = frames
        .into_iter()
        .map(|(rgb, d)| Picture::from_rgb(w, h, rgb).map(|p| (p, d)))
        .collect::<Option<_>>()
        .ok_or_else(|| err(source, "odd frame size"))?;
    let last = &frames.last().expect("decode_frames returns frames").0;
    compose(
        out,
        spec,
        &[
            Segment::Frames {
                frames: &frames,
                repeat: 1,
            },
            Segment::Hold {
                picture: last,
                seconds: spec.hold_s,
            },
        ],
    )
}

/// Encodes `segments` one after the other into `out` (MP4, H.264) at `spec`'s rate,
/// GOP, noise and bitrate (`spec.hold_s` is unused: holds say their own length). Every
/// picture must have the first one's size. Returns the number of frames written.
pub fn compose(
    out: &Path,
    spec: &ScenarioSpec,
    segments: &[Segment<'_>],
) -> Result<u64, CamsimError> {
    let first = segments
        .iter()
        .find_map(|s| match s {
            Segment::Frames { frames, .. } => frames.first().map(|f| &f.0),
            Segment::Hold { picture, .. } => Some(*picture),
        })
        .ok_or_else(|| err(out, "a scenario needs at least one picture"))?;
    let (w, h) = (first.width, first.height);
    // Checked before the encoder starts, so a bad scenario leaves nothing running.
    let pictures = segments.iter().flat_map(|s| match s {
        Segment::Frames { frames, .. } => frames.iter().map(|f| &f.0).collect::<Vec<_>>(),
        Segment::Hold { picture, .. } => vec![*picture],
    });
    for p in pictures {
        if (p.width, p.height) != (w, h) {
            return Err(err(
                out,
                format!(
                    "a picture is {}x{} but the scenario is {w}x{h}; resize it first",
                    p.width, p.height
                ),
            ));
        }
    }
    crate::gst_init();
    let fps = spec.fps.max(1);
    let frame_ns = 1_000_000_000u64 / u64::from(fps);
    let pipeline = gst::Pipeline::new();
    let caps = gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, w, h)
        .fps(gst::Fraction::new(fps as i32, 1))
        .build()
        .map_err(|e| err(out, e))?
        .to_caps()
        .map_err(|e| err(out, e))?;
    // Blocking with a byte cap: the encoder sets the pace, memory stays bounded.
    let src = gst_app::AppSrc::builder()
        .caps(&caps)
        .format(gst::Format::Time)
        .block(true)
        .max_bytes(16 << 20)
        .build();
    let make = |n: &str| {
        gst::ElementFactory::make(n)
            .build()
            .map_err(|e| err(out, format!("{n}: {e}")))
    };
    let convert = make("videoconvert")?;
    let enc = make("openh264enc")?;
    enc.set_property("gop-size", spec.gop_frames.max(1));
    enc.set_property("bitrate", spec.bitrate);
    // openh264 would otherwise insert extra keyframes on scene changes.
    enc.set_property("scene-change-detection", false);
    let parse = make("h264parse")?;
    let mux = make("mp4mux")?;
    mux.set_property("faststart", true);
    let sink = make("filesink")?;
    sink.set_property("location", out.to_string_lossy().to_string());
    pipeline
        .add_many([src.upcast_ref(), &convert, &enc, &parse, &mux, &sink])
        .map_err(|e| err(out, e))?;
    gst::Element::link_many([src.upcast_ref(), &convert, &enc, &parse, &mux, &sink])
        .map_err(|e| err(out, e))?;
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| err(out, e))?;

    let row = w as usize * 3;
    let stride = row.div_ceil(4) * 4;
    let mut n: u64 = 0;
    let push = |rgb: &[u8], n: &mut u64| -> Result<(), CamsimError> {
        let mut data = vec![0u8; stride * h as usize];
        for y in 0..h as usize {
            data[y * stride..y * stride + row].copy_from_slice(&rgb[y * row..(y + 1) * row]);
        }
        let mut b = gst::Buffer::from_slice(data);
        {
            let b = b.get_mut().expect("fresh buffer");
            b.set_pts(gst::ClockTime::from_nseconds(*n * frame_ns));
            b.set_duration(gst::ClockTime::from_nseconds(frame_ns));
        }
        src.push_buffer(b).map_err(|e| err(out, e))?;
        *n += 1;
        Ok(())
    };
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let amp = i16::from(spec.noise);
    for seg in segments {
        match *seg {
            Segment::Frames { frames, repeat } => {
                for _ in 0..repeat {
                    // Each frame repeated for its own duration at the output rate.
                    let mut t_src = n * frame_ns;
                    for (pic, dur) in frames {
                        t_src += dur;
                        while n * frame_ns < t_src {
                            push(&pic.rgb, &mut n)?;
                        }
                    }
                }
            }
            Segment::Hold { picture, seconds } => {
                let hold = (seconds * f64::from(fps)).round() as u64;
                for _ in 0..hold {
                    let mut f = picture.rgb.clone();
                    if amp > 0 {
                        // Deterministic xorshift: the same scenario every run.
                        for p in f.iter_mut() {
                            seed ^= seed << 13;
                            seed ^= seed >> 7;
                            seed ^= seed << 17;
                            let d = (seed % (2 * amp as u64 + 1)) as i16 - amp;
                            *p = (i16::from(*p) + d).clamp(0, 255) as u8;
                        }
                    }
                    push(&f, &mut n)?;
                }
            }
        }
    }
    let _ = src.end_of_stream();
    let bus = pipeline.bus().expect("pipeline has a bus");
    let result = match bus.timed_pop_filtered(
        gst::ClockTime::from_seconds(300),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    ) {
        Some(msg) => match msg.view() {
            gst::MessageView::Error(e) => Err(err(out, e.error())),
            _ => Ok(n),
        },
        None => Err(err(out, "encoder did not finish")),
    };
    let _ = pipeline.set_state(gst::State::Null);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grey(w: u32, h: u32, v: u8) -> Picture {
        Picture::from_rgb(w, h, vec![v; (w * h * 3) as usize]).unwrap()
    }

    #[test]
    fn looped_frames_and_holds_last_their_media_time_at_the_output_rate() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("s.mp4");
        let frames: Vec<(Picture, u64)> = (0..3)
            .map(|i| (grey(128, 96, i * 60), 500_000_000))
            .collect();
        let spec = ScenarioSpec {
            fps: 2,
            gop_frames: 2,
            ..ScenarioSpec::default()
        };
        let held = grey(128, 96, 200);
        let n = compose(
            &out,
            &spec,
            &[
                Segment::Frames {
                    frames: &frames,
                    repeat: 2,
                },
                Segment::Hold {
                    picture: &held,
                    seconds: 1.5,
                },
            ],
        )
        .unwrap();
        assert_eq!(n, 3 * 2 + 3);
        let (_, _, decoded) = decode_frames(&out).unwrap();
        assert_eq!(decoded.len(), 9);
    }

    #[test]
    fn pictures_of_another_size_are_refused_before_encoding() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("s.mp4");
        let (a, b) = (grey(64, 48, 0), grey(32, 48, 0));
        let e = compose(
            &out,
            &ScenarioSpec::default(),
            &[
                Segment::Hold {
                    picture: &a,
                    seconds: 1.0,
                },
                Segment::Hold {
                    picture: &b,
                    seconds: 1.0,
                },
            ],
        )
        .unwrap_err();
        assert!(e.to_string().contains("32x48"), "{e}");
        assert!(e.to_string().contains("resize it first"), "{e}");
        assert!(!out.exists());
    }
}
