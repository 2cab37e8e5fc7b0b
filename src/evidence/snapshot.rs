//! Snapshots: the full-resolution frame at the asked media time (decoded from the
//! encoded ring, see [`super::decode`]), privacy zones blacked out, the subject's box
//! drawn thick and labelled, other detections thin; plus a crop of the subject (with a
//! margin, no drawing on it) for the close view enforcement asks for.
//!
//! Boxes arrive in analysis-frame pixels (analysis frames may be scaled down) and are
//! scaled to the full-resolution frame here.

use std::path::Path;

use image::ExtendedColorType;
use image::codecs::jpeg::JpegEncoder;

use super::EvidenceError;
use super::decode::RgbFrame;
use super::files::write_media;
use crate::draw::{Canvas, OTHER, SUBJECT};
use crate::infer::BBox;
use crate::rules::event::{MediaKind, MediaRef};
use crate::rules::privacy::black_out_zones;
use crate::rules::zone::Zone;

/// Margin around the subject in its crop, as a fraction of the box size.
const CROP_MARGIN: f32 = 0.2;

/// What to draw on a snapshot.
#[derive(Debug, Clone)]
pub struct SnapshotSpec<'a> {
    /// File stem, e.g. "confirmation" -> confirmation.jpg and confirmation-crop.jpg.
    pub name: &'a str,
    pub subject: BBox,
    pub label: &'a str,
    /// Other detections (thin boxes).
    pub context: &'a [(BBox, String)],
    /// Size of the frame the boxes refer to (0 = the snapshot's own size).
    pub analysis_w: u32,
    pub analysis_h: u32,
    /// The camera's zones; privacy zones are blacked out.
    pub zones: &'a [Zone],
    pub jpeg_quality: u8,
}

/// JPEG-encodes tightly packed RGB.
pub fn encode_jpeg(rgb: &[u8], w: u32, h: u32, quality: u8) -> Result<Vec<u8>, EvidenceError> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality.clamp(1, 100))
        .encode(rgb, w, h, ExtendedColorType::Rgb8)
        .map_err(|e| EvidenceError::Jpeg(e.to_string()))?;
    Ok(out)
}

/// A preview JPEG of the last picture of `units` (a keyframe first), scaled down to at
/// most `max_width` pixels wide: the connection test shows it, and a full 4K frame would
/// be megabytes for a thumbnail.
pub fn preview_jpeg(
    caps: &gstreamer::Caps,
    units: &[crate::ingest::AccessUnit],
    max_width: u32,
    quality: u8,
) -> Result<Vec<u8>, EvidenceError> {
    let last = units
        .iter()
        .map(|u| u.time)
        .max()
        .ok_or_else(|| EvidenceError::NothingInRing {
            what: "a preview".into(),
        })?;
    let f = super::decode::frame_at(caps, units, last)?;
    if f.width <= max_width {
        return encode_jpeg(&f.data, f.width, f.height, quality);
    }
    let img = image::RgbImage::from_raw(f.width, f.height, f.data)
        .ok_or_else(|| EvidenceError::Jpeg("frame size does not match its pixels".into()))?;
    let h = (u64::from(f.height) * u64::from(max_width) / u64::from(f.width)).max(1) as u32;
    let small = image::imageops::resize(&img, max_width, h, image::imageops::FilterType::Triangle);
    encode_jpeg(small.as_raw(), max_width, h, quality)
}

fn scale(b: &BBox, sx: f32, sy: f32, w: u32, h: u32) -> BBox {
    BBox::new(
        (b.x1 * sx).clamp(0.0, w as f32),
        (b.y1 * sy).clamp(0.0, h as f32),
        (b.x2 * sx).clamp(0.0, w as f32),
        (b.y2 * sy).clamp(0.0, h as f32),
    )
}

/// A snapshot drawn and encoded, not yet written: the annotated full frame and the
/// crop of the subject, each a JPEG.
pub struct RenderedSnapshot {
    full: Vec<u8>,
    size: (u32, u32),
    crop: Vec<u8>,
    crop_size: (u32, u32),
    time: i64,
}

/// Writes `<dir>/<name>.jpg` (annotated full frame) and `<dir>/<name>-crop.jpg`.
pub fn write_snapshot(
    dir: &Path,
    frame: RgbFrame,
    spec: &SnapshotSpec<'_>,
) -> Result<Vec<MediaRef>, EvidenceError> {
    render_snapshot(frame, spec)?
        .write(dir, spec.name)
        .into_iter()
        .collect()
}

impl RenderedSnapshot {
    /// Writes both files, each on its own: a full disk that refuses the crop keeps the
    /// full frame already written. One result per file, full frame first.
    pub fn write(&self, dir: &Path, name: &str) -> Vec<Result<MediaRef, EvidenceError>> {
        let one = |file: String, kind, jpeg: &[u8], (w, h): (u32, u32)| {
            let mut m = write_media(dir, &file, kind, "image/jpeg", jpeg)?;
            m.width = Some(w);
            m.height = Some(h);
            m.start_media_ns = Some(self.time);
            Ok(m)
        };
        vec![
            one(
                format!("{name}.jpg"),
                MediaKind::Snapshot,
                &self.full,
                self.size,
            ),
            one(
                format!("{name}-crop.jpg"),
                MediaKind::Crop,
                &self.crop,
                self.crop_size,
            ),
        ]
    }
}

/// Draws and encodes a snapshot (see [`write_snapshot`]) without writing it.
pub fn render_snapshot(
    mut frame: RgbFrame,
    spec: &SnapshotSpec<'_>,
) -> Result<RenderedSnapshot, EvidenceError> {
    let (w, h) = (frame.width, frame.height);
    black_out_zones(&mut frame.data, w, h, spec.zones)?;
    let (aw, ah) = if spec.analysis_w == 0 || spec.analysis_h == 0 {
        (w, h)
    } else {
        (spec.analysis_w, spec.analysis_h)
    };
    let (sx, sy) = (w as f32 / aw as f32, h as f32 / ah as f32);
    let subject = scale(&spec.subject, sx, sy, w, h);

    // Crop first, from the clean (blacked-out, undrawn) frame.
    let (mx, my) = (
        subject.width() * CROP_MARGIN,
        subject.height() * CROP_MARGIN,
    );
    let cx1 = (subject.x1 - mx).max(0.0).floor() as u32;
    let cy1 = (subject.y1 - my).max(0.0).floor() as u32;
    let cx2 = ((subject.x2 + mx).ceil() as u32).min(w).max(cx1 + 1);
    let cy2 = ((subject.y2 + my).ceil() as u32).min(h).max(cy1 + 1);
    let (cw, ch) = (cx2 - cx1, cy2 - cy1);
    let mut crop = Vec::with_capacity((cw * ch * 3) as usize);
    for y in cy1..cy2 {
        let row = (y * w) as usize * 3;
        crop.extend_from_slice(&frame.data[row + cx1 as usize * 3..row + cx2 as usize * 3]);
    }

    let thick = (w.max(h) / 400).max(3);
    let thin = (thick / 3).max(1);
    let font = (w.max(h) / 640).max(2);
    {
        let mut c = Canvas {
            data: &mut frame.data,
            width: w,
            height: h,
        };
        for (b, label) in spec.context {
            let b = scale(b, sx, sy, w, h);
            c.rect(b.x1, b.y1, b.x2, b.y2, thin, OTHER);
            c.text(
                b.x1 as i64,
                (b.y1 as i64 - 9 * i64::from(font / 2 + 1)).max(0),
                label,
                font / 2 + 1,
                [0, 0, 0],
                OTHER,
            );
        }
        c.rect(
            subject.x1, subject.y1, subject.x2, subject.y2, thick, SUBJECT,
        );
        c.text(
            subject.x1 as i64,
            (subject.y1 as i64 - 9 * i64::from(font)).max(0),
            spec.label,
            font,
            [255, 255, 255],
            SUBJECT,
        );
    }
    let full = encode_jpeg(&frame.data, w, h, spec.jpeg_quality)?;
    let crop = encode_jpeg(&crop, cw, ch, spec.jpeg_quality)?;
    Ok(RenderedSnapshot {
        full,
        size: (w, h),
        crop,
        crop_size: (cw, ch),
        time: frame.time.0,
    })
}
