//! Bench streams made at bench time from a sample video with GStreamer: scaled to the
//! camera's size, 25 fps, x264 with a 2 s GOP and no B-frames (as IP cameras send
//! H.264). Cached by name; never committed.

use anyhow::{Context, Result, bail};
use gstreamer as gst;
use gstreamer::prelude::*;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy)]
pub struct StreamSpec {
    pub width: u32,
    pub height: u32,
    pub kbit_s: u32,
}

pub const MAIN: StreamSpec = StreamSpec {
    width: 1920,
    height: 1080,
    kbit_s: 4000,
};
pub const SUB: StreamSpec = StreamSpec {
    width: 640,
    height: 360,
    kbit_s: 600,
};

/// The cached stream for `spec`, made from `source` when missing.
pub fn ensure(source: &Path, dir: &Path, spec: StreamSpec) -> Result<PathBuf> {
    let stem = source
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "video".into());
    let out = dir.join(format!(
        "{stem}-{}x{}p25-gop{}-{}k.mp4",
        spec.width,
        spec.height,
        super::GOP_FRAMES,
        spec.kbit_s
    ));
    if out.is_file() {
        return Ok(out);
    }
    if !source.is_file() {
        bail!(
            "sample video {} not found (make setup copies it)",
            source.display()
        );
    }
    std::fs::create_dir_all(dir)?;
    streetwatch::gst_init();
    if gst::ElementFactory::find("x264enc").is_none() {
        bail!(
            "GStreamer element x264enc is missing: install gstreamer1.0-plugins-ugly (make setup)"
        );
    }
    let part = out.with_extension("mp4.part");
    eprintln!("bench: encoding {}", out.display());
    let pipeline = gst::parse::launch(&format!(
        "filesrc location=\"{src}\" ! decodebin ! videoconvert ! videoscale ! videorate \
         ! video/x-raw,format=I420,width={w},height={h},framerate=25/1,pixel-aspect-ratio=1/1 \
         ! x264enc bitrate={k} key-int-max={gop} bframes=0 speed-preset=veryfast \
         ! video/x-h264,profile=high ! h264parse ! mp4mux ! filesink location=\"{dst}\"",
        src = source.display(),
        w = spec.width,
        h = spec.height,
        k = spec.kbit_s,
        gop = super::GOP_FRAMES,
        dst = part.display(),
    ))
    .context("building the encoding pipeline")?;
    pipeline.set_state(gst::State::Playing)?;
    let msg = pipeline.bus().context("pipeline bus")?.timed_pop_filtered(
        gst::ClockTime::from_seconds(900),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    pipeline.set_state(gst::State::Null)?;
    match msg.as_ref().map(|m| m.view()) {
        Some(gst::MessageView::Eos(_)) => {}
        Some(gst::MessageView::Error(e)) => {
            bail!("encoding {} failed: {}", out.display(), e.error())
        }
        _ => bail!("encoding {} did not finish in 15 minutes", out.display()),
    }
    std::fs::rename(&part, &out)?;
    Ok(out)
}
