//! Snapshots: the full-resolution frame at the asked media time (decoded from the
//! encoded ring, see [`super::decode`]), privacy zones blacked out, the subject's box
//! drawn thick and labelled in Chinese, other detections thin (only those of
//! categories a rule of the subject's zone acts on, see [`super::labels`]); plus a
//! crop of the subject (with a margin, no drawing on it) for the close view
//! enforcement asks for. With a caption, each picture gets its caption strip appended
//! below the picture ([`super::caption`]).
//!
//! Boxes arrive in analysis-frame pixels (analysis frames may be scaled down, or come
//! from a substream) and are mapped to the full-resolution frame through normalised
//! coordinates here.

use std::path::Path;

use image::ExtendedColorType;
use image::codecs::jpeg::JpegEncoder;

use super::EvidenceError;
use super::caption::{self, Caption};
use super::decode::RgbFrame;
use super::files::write_media;
use super::labels::{category_zh, drawable, zones_of};
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
    /// Other detections (thin boxes) with their category, e.g. `vehicle.car`.
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

/// Maps a box from a `from_w` x `from_h` frame to a `w` x `h` one through normalised
/// coordinates (0 sizes = same frame), clamped to the picture.
pub fn map_box(b: &BBox, from_w: u32, from_h: u32, w: u32, h: u32) -> BBox {
    let (fw, fh) = if from_w == 0 || from_h == 0 {
        (w, h)
    } else {
        (from_w, from_h)
    };
    let (sx, sy) = (w as f32 / fw as f32, h as f32 / fh as f32);
    BBox::new(
        (b.x1 * sx).clamp(0.0, w as f32),
        (b.y1 * sy).clamp(0.0, h as f32),
        (b.x2 * sx).clamp(0.0, w as f32),
        (b.y2 * sy).clamp(0.0, h as f32),
    )
}

/// Cuts `r` (with `margin` of its size around it) out of a packed RGB picture.
pub fn crop(data: &[u8], w: u32, h: u32, r: &BBox, margin: (f32, f32)) -> (Vec<u8>, u32, u32) {
    let (mx, my) = (r.width() * margin.0, r.height() * margin.1);
    let cx1 = (r.x1 - mx).max(0.0).floor() as u32;
    let cy1 = (r.y1 - my).max(0.0).floor() as u32;
    let cx1 = cx1.min(w.saturating_sub(1));
    let cy1 = cy1.min(h.saturating_sub(1));
    let cx2 = ((r.x2 + mx).ceil().max(0.0) as u32).min(w).max(cx1 + 1);
    let cy2 = ((r.y2 + my).ceil().max(0.0) as u32).min(h).max(cy1 + 1);
    let (cw, ch) = (cx2 - cx1, cy2 - cy1);
    let mut out = Vec::with_capacity((cw * ch * 3) as usize);
    for y in cy1..cy2 {
        let row = (y * w) as usize * 3;
        out.extend_from_slice(&data[row + cx1 as usize * 3..row + cx2 as usize * 3]);
    }
    (out, cw, ch)
}

/// Writes a picture as JPEG, with its caption strip below when `caption` is given.
#[allow(clippy::too_many_arguments)]
pub fn write_picture(
    dir: &Path,
    name: &str,
    kind: MediaKind,
    rgb: Vec<u8>,
    w: u32,
    h: u32,
    caption: Option<&Caption>,
    quality: u8,
    media_ns: Option<i64>,
) -> Result<MediaRef, EvidenceError> {
    let (rgb, ph, caption_px, lines) = match caption {
        Some(c) => {
            let out =
                caption::append(rgb, w, h, c).map_err(|e| EvidenceError::Font(e.to_string()))?;
            (out.rgb, out.height, Some(out.caption_px), out.lines)
        }
        None => (rgb, h, None, Vec::new()),
    };
    let jpeg = encode_jpeg(&rgb, w, ph, quality)?;
    let mut m = write_media(dir, name, kind, "image/jpeg", &jpeg)?;
    m.width = Some(w);
    m.height = Some(ph);
    m.start_media_ns = media_ns;
    m.caption_px = caption_px;
    m.caption = lines;
    Ok(m)
}

/// Writes `<dir>/<name>.jpg` (annotated full frame) and `<dir>/<name>-crop.jpg`, each
/// with the caption strip when one is given (the crop's role says 近景).
pub fn write_snapshot(
    dir: &Path,
    mut frame: RgbFrame,
    spec: &SnapshotSpec<'_>,
    caption: Option<&Caption>,
) -> Result<Vec<MediaRef>, EvidenceError> {
    let (w, h) = (frame.width, frame.height);
    black_out_zones(&mut frame.data, w, h, spec.zones)?;
    let subject = map_box(&spec.subject, spec.analysis_w, spec.analysis_h, w, h);

    // Crop first, from the clean (blacked-out, undrawn) frame.
    let (crop_rgb, cw, ch) = crop(&frame.data, w, h, &subject, (CROP_MARGIN, CROP_MARGIN));

    let thick = (w.max(h) / 400).max(3);
    let thin = (thick / 3).max(1);
    let px = (w.max(h) as f32 / 60.0).max(14.0);
    {
        let mut c = Canvas {
            data: &mut frame.data,
            width: w,
            height: h,
        };
        // Only categories a rule of the subject's zone acts on: a no-parking picture
        // shows vehicles, a litter picture litter and people, never a stray class.
        let (aw, ah) = if spec.analysis_w == 0 {
            (w, h)
        } else {
            (spec.analysis_w, spec.analysis_h)
        };
        let zones = zones_of(spec.zones, &spec.subject, None, aw, ah);
        for (b, category) in spec.context {
            if !drawable(category, &zones) {
                continue;
            }
            let Some(name) = category_zh(category) else {
                continue;
            };
            let b = map_box(b, spec.analysis_w, spec.analysis_h, w, h);
            c.rect(b.x1, b.y1, b.x2, b.y2, thin, OTHER);
            let lp = px * 0.75;
            c.label(
                b.x1 as i64,
                b.y1 as i64 - (lp * 1.5) as i64,
                name,
                lp,
                [0, 0, 0],
                OTHER,
            );
        }
        c.rect(
            subject.x1, subject.y1, subject.x2, subject.y2, thick, SUBJECT,
        );
        c.label(
            subject.x1 as i64,
            subject.y1 as i64 - (px * 1.5) as i64,
            spec.label,
            px,
            [255, 255, 255],
            SUBJECT,
        );
    }
    let t = Some(frame.time.0);
    let a = write_picture(
        dir,
        &format!("{}.jpg", spec.name),
        MediaKind::Snapshot,
        frame.data,
        w,
        h,
        caption,
        spec.jpeg_quality,
        t,
    )?;
    let crop_caption = caption.map(|c| Caption {
        role: format!("{} 近景", c.role),
        ..c.clone()
    });
    let b = write_picture(
        dir,
        &format!("{}-crop.jpg", spec.name),
        MediaKind::Crop,
        crop_rgb,
        cw,
        ch,
        crop_caption.as_ref(),
        spec.jpeg_quality,
        t,
    )?;
    Ok(vec![a, b])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::MediaTime;

    #[test]
    fn only_the_zones_rule_categories_are_drawn() {
        let zone: Zone = toml::from_str(
            r#"id = "bay"
polygon = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
rules = [{ type = "no_parking" }]"#,
        )
        .unwrap();
        let (w, h) = (400u32, 300u32);
        let frame = RgbFrame {
            time: MediaTime(0),
            width: w,
            height: h,
            data: vec![40; (w * h * 3) as usize],
        };
        let context = vec![
            (
                BBox::new(20.0, 40.0, 80.0, 100.0),
                "vehicle.truck".to_string(),
            ),
            (
                BBox::new(220.0, 40.0, 280.0, 100.0),
                "object.airplane".to_string(),
            ),
            (BBox::new(300.0, 150.0, 360.0, 250.0), "person".to_string()),
        ];
        let dir = tempfile::tempdir().unwrap();
        let draw = |name: &str, context: &[(BBox, String)]| {
            let media = write_snapshot(
                dir.path(),
                frame.clone(),
                &SnapshotSpec {
                    name,
                    subject: BBox::new(120.0, 150.0, 200.0, 220.0),
                    label: "违停 小汽车 0.90",
                    context,
                    analysis_w: 0,
                    analysis_h: 0,
                    zones: std::slice::from_ref(&zone),
                    jpeg_quality: 95,
                },
                None,
            )
            .unwrap();
            image::open(media[0].local_path.as_ref().unwrap())
                .unwrap()
                .to_rgb8()
        };
        let with = draw("with", &context);
        let without = draw("without", &[]);
        // Mean difference along a box's left edge: drawn boxes change it.
        let edge_diff = |b: &BBox| {
            let x = b.x1 as u32;
            let (mut sum, mut n) = (0u32, 0u32);
            for y in b.y1 as u32..b.y2 as u32 {
                for dx in 0..2 {
                    let (p, q) = (with.get_pixel(x + dx, y).0, without.get_pixel(x + dx, y).0);
                    sum += (0..3).map(|k| u32::from(p[k].abs_diff(q[k]))).sum::<u32>();
                    n += 1;
                }
            }
            sum / n
        };
        assert!(edge_diff(&context[0].0) > 60, "the truck's box is drawn");
        assert!(edge_diff(&context[1].0) < 6, "no airplane box");
        assert!(
            edge_diff(&context[2].0) < 6,
            "no person box in a no-parking zone"
        );
    }
}
