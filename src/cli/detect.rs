//! `streetwatch detect INPUT`: run one model over an image, a directory of images, a
//! video file or an RTSP URL; print JSON lines and/or write an annotated copy.

use super::annotated_video::VideoWriter;
use anyhow::{Context, Result, bail};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use streetwatch::config::{self, InferenceConfig};
use streetwatch::infer::{Detection, Detector, annotate};
use streetwatch::ingest::decode_file::FileDecoder;

#[derive(clap::Args, Debug)]
pub struct DetectArgs {
    /// Image, directory of images, video file or rtsp:// URL.
    pub input: String,
    /// Model id (a directory under inference.models_dir).
    #[arg(long, default_value = "yolox-nano")]
    pub model: String,
    /// Print one JSON line per image/frame (boxes in original pixels).
    #[arg(long)]
    pub json: bool,
    /// Write an annotated image (or a directory of them, or an H.264 MP4 for video).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Analyse every Nth decoded frame of a video (0-based index multiple of N).
    #[arg(long, default_value_t = 1)]
    pub every: u32,
    /// Config file whose `[inference]` section is used (defaults otherwise).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

#[derive(Serialize)]
struct Line<'a> {
    source: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    frame: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pts_ns: Option<u64>,
    width: u32,
    height: u32,
    detections: &'a [Detection],
}

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
}

pub fn run(args: DetectArgs) -> Result<ExitCode> {
    // Warnings only by default (a skipped execution provider says why); RUST_LOG wins.
    streetwatch::logging::init(&config::LoggingConfig {
        level: "warn".into(),
        ..Default::default()
    });
    let cfg: InferenceConfig = match &args.config {
        Some(p) => config::load(p)?.inference,
        None => InferenceConfig::default(),
    };
    let mut det = Detector::load(&cfg, &args.model)?;
    let path = Path::new(&args.input);
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("reading {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| is_image(p))
            .collect();
        files.sort();
        if let Some(out) = &args.out {
            std::fs::create_dir_all(out)?;
        }
        for f in files {
            let out = args
                .out
                .as_ref()
                .map(|o| o.join(f.file_name().unwrap_or_default()));
            image_file(&mut det, &f, args.json, out.as_deref())?;
        }
    } else if path.is_file() && is_image(path) {
        image_file(&mut det, path, args.json, args.out.as_deref())?;
    } else {
        video(&mut det, &args)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn image_file(det: &mut Detector, path: &Path, json: bool, out: Option<&Path>) -> Result<()> {
    let img = image::open(path)
        .with_context(|| format!("decoding {}", path.display()))?
        .to_rgb8();
    let (w, h) = img.dimensions();
    let mut rgb = img.into_raw();
    let dets = det.detect_rgb(&rgb, w, h)?;
    let source = path.display().to_string();
    emit(json, &source, None, None, w, h, &dets)?;
    if let Some(out) = out {
        annotate::draw(&mut rgb, w, h, &dets);
        image::RgbImage::from_raw(w, h, rgb)
            .context("image buffer")?
            .save(out)
            .with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(())
}

fn video(det: &mut Detector, args: &DetectArgs) -> Result<()> {
    let mut dec = FileDecoder::open(&args.input, args.every)?;
    let mut writer: Option<VideoWriter> = None;
    let mut frames = 0u64;
    while let Some((index, mut frame)) = dec.next_frame()? {
        let dets = det.detect(&frame)?;
        emit(
            args.json,
            &args.input,
            Some(index),
            Some(frame.pts_ns),
            frame.width,
            frame.height,
            &dets,
        )?;
        frames += 1;
        if let Some(out) = &args.out {
            if writer.is_none() {
                let (n, d) = dec.framerate().unwrap_or((25, 1));
                // Keeping every Nth frame: the output plays at rate/N to keep real time.
                writer = Some(VideoWriter::create(
                    out,
                    frame.width,
                    frame.height,
                    (n, d * args.every.max(1) as i32),
                )?);
            }
            annotate::draw(&mut frame.data, frame.width, frame.height, &dets);
            if let Some(w) = writer.as_mut() {
                w.push(std::mem::take(&mut frame.data))?;
            }
        }
    }
    if frames == 0 {
        bail!("{}: no frames decoded", args.input);
    }
    if let Some(w) = writer {
        w.finish()?;
    }
    Ok(())
}

fn emit(
    json: bool,
    source: &str,
    frame: Option<u64>,
    pts_ns: Option<u64>,
    width: u32,
    height: u32,
    dets: &[Detection],
) -> Result<()> {
    if json {
        let line = Line {
            source,
            frame,
            pts_ns,
            width,
            height,
            detections: dets,
        };
        println!("{}", serde_json::to_string(&line)?);
    } else {
        let at = frame.map(|f| format!(" frame {f}")).unwrap_or_default();
        println!("{source}{at}: {} detection(s)", dets.len());
        for d in dets {
            println!(
                "  {:<28} {:<14} {:.2}  [{:.0}, {:.0}, {:.0}, {:.0}]",
                d.category, d.class_name, d.score, d.bbox.x1, d.bbox.y1, d.bbox.x2, d.bbox.y2
            );
        }
    }
    Ok(())
}
