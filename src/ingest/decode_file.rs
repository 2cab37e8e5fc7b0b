//! A small GStreamer helper: decode a video file or URL (RTSP included) to packed RGB
//! [`Frame`]s, optionally keeping every Nth frame. `streetwatch detect`, the inference
//! tests and the benchmark's decode limit use it; the supervised camera pipeline lives
//! elsewhere in `ingest`.
//!
//! The appsink holds at most two frames and blocks the decoder when full, so a slow
//! consumer slows decoding instead of growing memory, and no frame is lost (files are
//! replayed deterministically).

use super::frame::{Frame, MediaTime};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Why decoding failed.
#[derive(Debug, thiserror::Error)]
pub enum DecodeFileError {
    #[error("cannot initialise GStreamer: {0}")]
    Init(String),
    #[error("{input}: {reason}")]
    Pipeline { input: String, reason: String },
    #[error("{input}: decoding failed: {reason}")]
    Stream { input: String, reason: String },
}

/// A running decode of one input.
pub struct FileDecoder {
    input: String,
    pipeline: gst::Pipeline,
    sink: gst_app::AppSink,
    every: u64,
    /// Index of the next decoded frame (0-based, counting every decoded frame).
    next_index: u64,
    camera_id: Arc<str>,
    done: bool,
    fps: Option<(i32, i32)>,
}

/// Turn a path or URI into a URI uridecodebin accepts.
pub fn to_uri(input: &str) -> Result<String, DecodeFileError> {
    if input.contains("://") {
        return Ok(input.to_string());
    }
    let abs = std::fs::canonicalize(Path::new(input)).map_err(|e| DecodeFileError::Pipeline {
        input: input.into(),
        reason: e.to_string(),
    })?;
    url::Url::from_file_path(&abs)
        .map(|u| u.to_string())
        .map_err(|_| DecodeFileError::Pipeline {
            input: input.into(),
            reason: "not an absolute path".into(),
        })
}

impl FileDecoder {
    /// Start decoding `input` (a path or URI), delivering frames whose 0-based decode
    /// index is a multiple of `every` (1 = all frames).
    pub fn open(input: &str, every: u32) -> Result<Self, DecodeFileError> {
        Self::open_with(input, every, false)
    }

    /// Start decoding keyframes only: delta units are dropped before the video decoder,
    /// so decoding costs one frame per GOP (what a keyframes-only camera does).
    pub fn open_keyframes_only(input: &str) -> Result<Self, DecodeFileError> {
        Self::open_with(input, 1, true)
    }

    fn open_with(input: &str, every: u32, keyframes_only: bool) -> Result<Self, DecodeFileError> {
        gst::init().map_err(|e| DecodeFileError::Init(e.to_string()))?;
        let uri = to_uri(input)?;
        let perr = |reason: String| DecodeFileError::Pipeline {
            input: input.into(),
            reason,
        };
        let desc = format!(
            "uridecodebin uri=\"{uri}\" ! videoconvert ! video/x-raw,format=RGB ! \
             appsink name=sink sync=false max-buffers=2 drop=false"
        );
        let pipeline = gst::parse::launch(&desc)
            .map_err(|e| perr(e.to_string()))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| perr("not a pipeline".into()))?;
        let sink = pipeline
            .by_name("sink")
            .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
            .ok_or_else(|| perr("appsink missing".into()))?;
        if keyframes_only {
            pipeline.connect_deep_element_added(|_, _, element| {
                let is_video_decoder = element.factory().is_some_and(|f| {
                    f.metadata(gst::ELEMENT_METADATA_KLASS)
                        .is_some_and(|k| k.contains("Decoder") && k.contains("Video"))
                });
                if let (true, Some(pad)) = (is_video_decoder, element.static_pad("sink")) {
                    // Take the delta unit out and report it handled: plain `Drop`
                    // trips a double unref in GStreamer 1.22's probe handling.
                    pad.add_probe(gst::PadProbeType::BUFFER, |_, info| {
                        let delta = matches!(&info.data, Some(gst::PadProbeData::Buffer(b))
                            if b.flags().contains(gst::BufferFlags::DELTA_UNIT));
                        if delta {
                            info.data = None;
                            gst::PadProbeReturn::Handled
                        } else {
                            gst::PadProbeReturn::Ok
                        }
                    });
                }
            });
        }
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| perr(e.to_string()))?;
        Ok(Self {
            input: input.into(),
            pipeline,
            sink,
            every: every.max(1) as u64,
            next_index: 0,
            camera_id: Arc::from(input),
            done: false,
            fps: None,
        })
    }

    /// The next kept frame with its decode index, or `None` at end of stream.
    pub fn next_frame(&mut self) -> Result<Option<(u64, Frame)>, DecodeFileError> {
        loop {
            if self.done {
                return Ok(None);
            }
            let Some(sample) = self.pull()? else {
                self.done = true;
                return Ok(None);
            };
            let index = self.next_index;
            self.next_index += 1;
            if !index.is_multiple_of(self.every) {
                continue;
            }
            return Ok(Some((index, self.frame_from_sample(&sample)?)));
        }
    }

    fn pull(&mut self) -> Result<Option<gst::Sample>, DecodeFileError> {
        let bus = self.pipeline.bus().expect("a pipeline always has a bus");
        loop {
            if let Some(s) = self
                .sink
                .try_pull_sample(gst::ClockTime::from_mseconds(100))
            {
                return Ok(Some(s));
            }
            while let Some(msg) = bus.pop() {
                if let gst::MessageView::Error(e) = msg.view() {
                    return Err(DecodeFileError::Stream {
                        input: self.input.clone(),
                        reason: format!("{} ({:?})", e.error(), e.debug()),
                    });
                }
            }
            if self.sink.is_eos() {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Frame rate from the decoded caps (numerator, denominator) once the first frame
    /// arrived; `None` before that or for variable-rate sources.
    pub fn framerate(&self) -> Option<(i32, i32)> {
        self.fps
    }

    fn frame_from_sample(&mut self, sample: &gst::Sample) -> Result<Frame, DecodeFileError> {
        let serr = |reason: &str| DecodeFileError::Stream {
            input: self.input.clone(),
            reason: reason.into(),
        };
        let caps = sample.caps().ok_or_else(|| serr("sample without caps"))?;
        let info =
            gst_video::VideoInfo::from_caps(caps).map_err(|_| serr("caps are not raw video"))?;
        let fps = info.fps();
        if fps.numer() > 0 && fps.denom() > 0 {
            self.fps = Some((fps.numer(), fps.denom()));
        }
        let buffer = sample
            .buffer()
            .ok_or_else(|| serr("sample without buffer"))?;
        let map = buffer
            .map_readable()
            .map_err(|_| serr("buffer not readable"))?;
        let (w, h) = (info.width() as usize, info.height() as usize);
        let stride = info.stride()[0] as usize;
        let row = w * 3;
        let mut data = Vec::with_capacity(row * h);
        // GStreamer pads RGB rows to 4 bytes; Frame is tightly packed.
        for y in 0..h {
            let start = info.offset()[0] + y * stride;
            data.extend_from_slice(
                map.get(start..start + row)
                    .ok_or_else(|| serr("buffer shorter than its caps"))?,
            );
        }
        let pts_ns = buffer.pts().map_or(0, |t| t.nseconds());
        Ok(Frame {
            camera_id: self.camera_id.clone(),
            pts_ns,
            time: MediaTime(pts_ns as i64),
            width: w as u32,
            height: h as u32,
            format: crate::ingest::PixelFormat::Rgb,
            data,
        })
    }
}

impl Iterator for FileDecoder {
    type Item = Result<(u64, Frame), DecodeFileError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_frame().transpose()
    }
}

impl Drop for FileDecoder {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// The `index`-th decoded frame (0-based) of `input`.
pub fn frame_at(input: &str, index: u64) -> Result<Frame, DecodeFileError> {
    let mut d = FileDecoder::open(input, 1)?;
    while let Some((i, f)) = d.next_frame()? {
        if i == index {
            return Ok(f);
        }
    }
    Err(DecodeFileError::Stream {
        input: input.into(),
        reason: format!("ended before frame {index}"),
    })
}
