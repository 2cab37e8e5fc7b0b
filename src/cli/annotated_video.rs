//! Write annotated frames to an H.264 MP4 with GStreamer (`openh264enc`, which Debian
//! ships, unlike x264).

use anyhow::{Context, Result, anyhow};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use std::path::Path;

pub struct VideoWriter {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    frame_ns: u64,
    count: u64,
}

impl VideoWriter {
    pub fn create(path: &Path, width: u32, height: u32, fps: (i32, i32)) -> Result<Self> {
        gst::init()?;
        let location = path.display().to_string().replace('"', "\\\"");
        let desc = format!(
            "appsrc name=src format=time block=true max-bytes=50000000 \
             caps=video/x-raw,format=RGB,width={width},height={height},framerate={}/{} ! \
             videoconvert ! video/x-raw,format=I420 ! openh264enc ! h264parse ! mp4mux ! \
             filesink location=\"{location}\"",
            fps.0, fps.1
        );
        let pipeline = gst::parse::launch(&desc)
            .context("building the H.264 writer (needs openh264enc, h264parse, mp4mux)")?
            .downcast::<gst::Pipeline>()
            .map_err(|_| anyhow!("not a pipeline"))?;
        let src = pipeline
            .by_name("src")
            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
            .ok_or_else(|| anyhow!("appsrc missing"))?;
        pipeline.set_state(gst::State::Playing)?;
        Ok(Self {
            pipeline,
            src,
            frame_ns: 1_000_000_000u64 * fps.1.max(1) as u64 / fps.0.max(1) as u64,
            count: 0,
        })
    }

    /// Append one packed RGB frame; timestamps are regenerated at the nominal rate so
    /// `--every N` output plays back N times faster rather than stuttering.
    pub fn push(&mut self, rgb: Vec<u8>) -> Result<()> {
        let mut buf = gst::Buffer::from_mut_slice(rgb);
        {
            let b = buf
                .get_mut()
                .ok_or_else(|| anyhow!("buffer not writable"))?;
            b.set_pts(gst::ClockTime::from_nseconds(self.count * self.frame_ns));
            b.set_duration(gst::ClockTime::from_nseconds(self.frame_ns));
        }
        self.count += 1;
        self.src
            .push_buffer(buf)
            .map_err(|e| anyhow!("video writer: {e:?}"))?;
        Ok(())
    }

    /// Flush and close the file.
    pub fn finish(self) -> Result<()> {
        self.src
            .end_of_stream()
            .map_err(|e| anyhow!("video writer: {e:?}"))?;
        let bus = self.pipeline.bus().ok_or_else(|| anyhow!("no bus"))?;
        let result = match bus.timed_pop_filtered(
            gst::ClockTime::from_seconds(60),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        ) {
            Some(m) => match m.view() {
                gst::MessageView::Error(e) => Err(anyhow!("video writer: {}", e.error())),
                _ => Ok(()),
            },
            None => Err(anyhow!("video writer did not finish within 60 s")),
        };
        self.pipeline.set_state(gst::State::Null)?;
        result
    }
}
