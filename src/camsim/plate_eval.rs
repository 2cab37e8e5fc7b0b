//! Measuring plate reading on rendered plates: cars are cut out of the sample media by
//! the real detector, each is scaled so a plate of the wanted width fits it as on a
//! real car (a plate is about a quarter of a car's width), a random plate of a standard
//! layout is pasted on its rear with a random perspective, then the picture is blurred,
//! noised and JPEG-compressed. The plate reader then reads the whole picture, as the
//! evidence side reads a vehicle's box.
//!
//! Used by `cargo bench --bench plates` (the README's table) and by a short sweep in
//! `tests/plates.rs`.

use std::path::Path;

use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::CamsimError;
use super::picture::{Picture, Rect};
use super::plate::{PlateStyle, add_noise, blur, compress, paste, quad, random_text, render};
use super::scenario::decode_pictures;
use crate::evidence::plate::{FrameRead, PlateConfig, judge};
use crate::infer::plate::{PlateReader, RgbView};
use crate::infer::{BBox, Detector};

/// How pictures are degraded.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Degrade {
    /// Gaussian blur sigma range, pixels.
    pub blur: (f32, f32),
    /// Sensor noise sigma, 8-bit levels.
    pub noise: f32,
    /// JPEG quality of the round trip.
    pub jpeg: u8,
    /// Largest yaw and pitch (far edge shrink) and roll (radians).
    pub yaw: f32,
    pub pitch: f32,
    pub roll: f32,
}

impl Default for Degrade {
    fn default() -> Self {
        Self {
            blur: (0.3, 1.0),
            noise: 4.0,
            jpeg: 80,
            yaw: 0.25,
            pitch: 0.25,
            roll: 0.06,
        }
    }
}

/// One row of the result: plates of one width and style.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub width_px: u32,
    pub style: String,
    pub plates: usize,
    /// The detector found a plate.
    pub detected: usize,
    /// The best read equals the rendered text.
    pub exact: usize,
    /// Reads the evidence policy counts (wide and confident enough).
    pub counted: usize,
    /// Counted reads that are exact.
    pub counted_exact: usize,
    /// Mean read time (detector + recogniser), milliseconds.
    pub mean_ms: f64,
}

impl Row {
    pub fn exact_rate(&self) -> f64 {
        self.exact as f64 / self.plates.max(1) as f64
    }
}

/// Cars found by `detector` in `video` (every `every_s` seconds, at most `max`), cut
/// out with a margin.
pub fn car_crops(
    detector: &mut Detector,
    video: &Path,
    every_s: f64,
    max: usize,
) -> Result<Vec<Picture>, CamsimError> {
    let frames = decode_pictures(video, (every_s * 1e9) as u64, u64::MAX)?;
    let mut out = Vec::new();
    for (p, _) in &frames {
        if out.len() >= max {
            break;
        }
        let Ok(dets) = detector.detect_rgb(&p.rgb, p.width, p.height) else {
            continue;
        };
        for d in dets
            .iter()
            .filter(|d| d.category.is_under("vehicle.car") && d.score >= 0.4)
        {
            let b = d.bbox;
            if b.width() < 40.0 || out.len() >= max {
                continue;
            }
            let (mx, my) = (b.width() * 0.1, b.height() * 0.1);
            let x0 = (b.x1 - mx).max(0.0) as u32;
            let y0 = (b.y1 - my).max(0.0) as u32;
            let x1 = ((b.x2 + mx) as u32).min(p.width);
            let y1 = ((b.y2 + my) as u32).min(p.height);
            out.push(p.crop(Rect::new(x0, y0, x1 - x0, y1 - y0)));
        }
    }
    Ok(out)
}

/// A car picture with a plate `width_px` wide pasted on it; returns it with the text.
pub fn plated_car(
    car: &Picture,
    style: PlateStyle,
    width_px: u32,
    d: &Degrade,
    rng: &mut impl Rng,
) -> Result<(Picture, String), crate::draw::FontError> {
    let text = random_text(rng, style);
    let (wmm, hmm) = style.size_mm();
    let pw = width_px as f32;
    let ph = pw * hmm / wmm;
    // A plate is about a quarter of the car's width.
    let scale = pw * 4.0 / car.width.max(1) as f32;
    let (cw, ch) = (
        ((car.width as f32 * scale).round() as u32).max(width_px + 8),
        ((car.height as f32 * scale).round() as u32).max(ph as u32 * 3),
    );
    let mut pic = car.resized(cw, ch);
    // Rendered at twice the final size; the paste samples it down.
    let plate = render(&text, style, 2.0 * pw / wmm)?;
    let q = quad(
        cw as f32 * rng.random_range(0.42..0.58),
        ch as f32 * rng.random_range(0.6..0.72),
        pw,
        ph,
        rng.random_range(-d.yaw..=d.yaw),
        rng.random_range(0.0..=d.pitch),
        rng.random_range(-d.roll..=d.roll),
    );
    paste(&mut pic, &plate, q);
    let mut pic = blur(&pic, rng.random_range(d.blur.0..=d.blur.1));
    add_noise(&mut pic, d.noise, rng);
    Ok((compress(&pic, d.jpeg), text))
}

/// Reads `per_width` plates of each style at each width. Deterministic for a seed.
// The arguments are the sweep's independent knobs, each set by the bench's command line.
#[allow(clippy::too_many_arguments)]
pub fn sweep(
    reader: &PlateReader,
    cars: &[Picture],
    widths: &[u32],
    styles: &[PlateStyle],
    per_width: usize,
    degrade: &Degrade,
    policy: &PlateConfig,
    seed: u64,
) -> Result<Vec<Row>, String> {
    if cars.is_empty() {
        return Err("no car pictures to paste plates on".into());
    }
    let mut rows = Vec::new();
    for &w in widths {
        for &style in styles {
            let mut rng =
                rand::rngs::StdRng::seed_from_u64(seed ^ u64::from(w) << 8 ^ style as u64);
            let mut row = Row {
                width_px: w,
                style: format!("{style:?}").to_lowercase(),
                plates: per_width,
                detected: 0,
                exact: 0,
                counted: 0,
                counted_exact: 0,
                mean_ms: 0.0,
            };
            let mut total_ms = 0.0;
            for i in 0..per_width {
                let car = &cars[i % cars.len()];
                let (pic, text) =
                    plated_car(car, style, w, degrade, &mut rng).map_err(|e| e.to_string())?;
                let view = RgbView {
                    data: &pic.rgb,
                    width: pic.width,
                    height: pic.height,
                };
                let whole = BBox::new(0.0, 0.0, pic.width as f32, pic.height as f32);
                let t0 = std::time::Instant::now();
                let found = reader.read(&view, whole).map_err(|e| e.to_string())?;
                total_ms += t0.elapsed().as_secs_f64() * 1000.0;
                if !found.is_empty() {
                    row.detected += 1;
                }
                let exact = found
                    .first()
                    .and_then(|f| f.read.as_ref())
                    .is_some_and(|r| r.text == text);
                if exact {
                    row.exact += 1;
                }
                if let FrameRead::Read(r) = judge(&found, &whole, policy) {
                    row.counted += 1;
                    if r.text == text {
                        row.counted_exact += 1;
                    }
                }
            }
            row.mean_ms = total_ms / per_width.max(1) as f64;
            rows.push(row);
        }
    }
    Ok(rows)
}

/// The rows as a Markdown table.
pub fn table(rows: &[Row]) -> String {
    let mut s = String::from(
        "| plate width px | layout | plates | detected | exact | exact % | counted (policy) | counted exact % | ms per read |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.0} | {} | {} | {:.0} |\n",
            r.width_px,
            r.style,
            r.plates,
            r.detected,
            r.exact,
            100.0 * r.exact_rate(),
            r.counted,
            if r.counted == 0 {
                "-".to_string()
            } else {
                format!("{:.0}", 100.0 * r.counted_exact as f64 / r.counted as f64)
            },
            r.mean_ms
        ));
    }
    s
}
