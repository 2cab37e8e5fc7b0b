//! Rendered Chinese licence plates, for measuring plate reading and for plate
//! scenarios. No public Chinese plate footage is at hand, so plates are drawn at test
//! time in the standard layouts (GA 36) with the CJK font setup installs, then pasted
//! onto real cars of the sample media with a perspective warp, blur and sensor noise.
//!
//! Layouts, in millimetres:
//! - blue (and yellow) 440 x 140: 7 characters 45 wide and 90 high, 25 from the top,
//!   15.5 from the sides, 12 apart, with a 34 gap (holding a dot) after the second;
//! - green new energy 480 x 140: 8 characters, the first 45 wide, the others 43, 9
//!   apart, with a 49 gap after the second; the background fades from white to green.

use rand::Rng;

use super::picture::Picture;
use crate::draw::{Canvas, FontError, bold_font};
use crate::infer::plate::syntax::{DIGITS, LETTERS, PROVINCES};
use crate::infer::plate::warp::{Homography, RgbView};

/// A plate's colour scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlateStyle {
    /// White characters on blue (ordinary cars), 7 characters.
    Blue,
    /// Black on yellow (large vehicles), 7 characters.
    Yellow,
    /// Black on a white-to-green gradient (new energy), 8 characters.
    Green,
}

impl PlateStyle {
    /// Width and height in millimetres.
    pub fn size_mm(self) -> (f32, f32) {
        match self {
            PlateStyle::Green => (480.0, 140.0),
            _ => (440.0, 140.0),
        }
    }

    pub fn chars(self) -> usize {
        if self == PlateStyle::Green { 8 } else { 7 }
    }
}

/// A random plate number of the style's layout.
pub fn random_text(rng: &mut impl Rng, style: PlateStyle) -> String {
    let pick = |rng: &mut dyn rand::RngCore, set: &str| {
        let v: Vec<char> = set.chars().collect();
        v[rng.random_range(0..v.len())]
    };
    let mut s = String::new();
    s.push(pick(rng, PROVINCES));
    s.push(pick(rng, LETTERS));
    if style == PlateStyle::Green {
        // Small new-energy cars: D (electric) or F (hybrid), then a letter or digit,
        // then four digits.
        s.push(pick(rng, "DF"));
        let alnum = format!("{LETTERS}{DIGITS}");
        s.push(pick(rng, &alnum));
        for _ in 0..4 {
            s.push(pick(rng, DIGITS));
        }
    } else {
        // Mostly digits, sometimes a letter (as issued).
        for _ in 0..5 {
            if rng.random_bool(0.25) {
                s.push(pick(rng, LETTERS));
            } else {
                s.push(pick(rng, DIGITS));
            }
        }
    }
    s
}

/// Draws `text` as a plate of `style` at `px_per_mm` pixels per millimetre.
pub fn render(text: &str, style: PlateStyle, px_per_mm: f32) -> Result<Picture, FontError> {
    let f = bold_font()?;
    let (wmm, hmm) = style.size_mm();
    let (w, h) = (
        (wmm * px_per_mm).round() as u32,
        (hmm * px_per_mm).round() as u32,
    );
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    let (fg, frame) = {
        let mut c = Canvas {
            data: &mut rgb,
            width: w,
            height: h,
        };
        match style {
            PlateStyle::Blue => {
                c.fill(0, 0, i64::from(w), i64::from(h), [20, 60, 170]);
                ([255, 255, 255], true)
            }
            PlateStyle::Yellow => {
                c.fill(0, 0, i64::from(w), i64::from(h), [240, 190, 20]);
                ([15, 15, 15], true)
            }
            PlateStyle::Green => {
                for y in 0..h {
                    let t = y as f32 / h as f32;
                    let mix = |a: f32, b: f32| (a * (1.0 - t) + b * t).round() as u8;
                    let col = [mix(240.0, 80.0), mix(250.0, 190.0), mix(240.0, 90.0)];
                    c.fill(0, i64::from(y), i64::from(w), i64::from(y) + 1, col);
                }
                ([10, 10, 10], false)
            }
        }
    };
    let mm = |v: f32| v * px_per_mm;
    let mut c = Canvas {
        data: &mut rgb,
        width: w,
        height: h,
    };
    if frame {
        let t = mm(3.0).max(1.0) as u32;
        let i = mm(5.0);
        c.rect(i, i, w as f32 - i, h as f32 - i, t, fg);
    }
    let (widths, gaps): (Vec<f32>, Vec<f32>) = if style == PlateStyle::Green {
        (
            std::iter::once(45.0)
                .chain(std::iter::repeat_n(43.0, 7))
                .collect(),
            vec![9.0, 49.0, 9.0, 9.0, 9.0, 9.0, 9.0],
        )
    } else {
        (vec![45.0; 7], vec![12.0, 34.0, 12.0, 12.0, 12.0, 12.0])
    };
    let mut x = 15.5;
    for (i, ch) in text.chars().enumerate().take(widths.len()) {
        f.draw_in_box(&mut c, ch, mm(x), mm(25.0), mm(widths[i]), mm(90.0), fg);
        if style != PlateStyle::Green && i == 1 {
            // The dot between the authority letter and the serial.
            let cx = mm(x + 45.0 + 17.0);
            let r = mm(5.0);
            c.fill(
                (cx - r) as i64,
                (mm(70.0) - r) as i64,
                (cx + r) as i64,
                (mm(70.0) + r) as i64,
                fg,
            );
        }
        x += widths[i] + gaps.get(i).copied().unwrap_or(0.0);
    }
    Ok(Picture {
        width: w,
        height: h,
        rgb,
    })
}

/// Pastes `plate` onto `dst` so that its corners land on `corners` (top-left,
/// top-right, bottom-right, bottom-left): a perspective warp, edges anti-aliased.
pub fn paste(dst: &mut Picture, plate: &Picture, corners: [[f32; 2]; 4]) {
    let (pw, ph) = (plate.width as f32, plate.height as f32);
    let rect = [[0.0, 0.0], [pw, 0.0], [pw, ph], [0.0, ph]];
    let Some(to_plate) = Homography::from_points(&corners, &rect) else {
        return;
    };
    let xs = corners.iter().map(|c| c[0]);
    let ys = corners.iter().map(|c| c[1]);
    let x0 = xs.clone().fold(f32::INFINITY, f32::min).floor().max(0.0) as u32;
    let x1 = (xs.fold(0.0f32, f32::max).ceil() as u32).min(dst.width);
    let y0 = ys.clone().fold(f32::INFINITY, f32::min).floor().max(0.0) as u32;
    let y1 = (ys.fold(0.0f32, f32::max).ceil() as u32).min(dst.height);
    let src = RgbView {
        data: &plate.rgb,
        width: plate.width,
        height: plate.height,
    };
    const SUB: u32 = 4;
    for y in y0..y1 {
        for x in x0..x1 {
            // Coverage and colour from SUB x SUB samples: soft, honest edges.
            let (mut acc, mut n) = ([0.0f32; 3], 0u32);
            for j in 0..SUB {
                for i in 0..SUB {
                    let sx = f64::from(x) + (f64::from(i) + 0.5) / f64::from(SUB);
                    let sy = f64::from(y) + (f64::from(j) + 0.5) / f64::from(SUB);
                    let Some((u, v)) = to_plate.apply(sx, sy) else {
                        continue;
                    };
                    if u < 0.0 || v < 0.0 || u >= f64::from(pw) || v >= f64::from(ph) {
                        continue;
                    }
                    let p = src.sample(u, v);
                    for k in 0..3 {
                        acc[k] += p[k];
                    }
                    n += 1;
                }
            }
            if n == 0 {
                continue;
            }
            let a = n as f32 / (SUB * SUB) as f32;
            let i = ((y * dst.width + x) * 3) as usize;
            for (px, sum) in dst.rgb[i..i + 3].iter_mut().zip(acc.iter()) {
                let old = f32::from(*px);
                let new = sum / n as f32;
                *px = (old + (new - old) * a).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
}

/// The four corners of a `width` x `height` plate centred at (`cx`, `cy`), turned by
/// `roll` (radians) and seen with perspective: `yaw` and `pitch` shrink the far edge
/// (0.2 = 20 % smaller).
pub fn quad(
    cx: f32,
    cy: f32,
    width: f32,
    height: f32,
    yaw: f32,
    pitch: f32,
    roll: f32,
) -> [[f32; 2]; 4] {
    let (hw, hh) = (width / 2.0, height / 2.0);
    let pts = [[-hw, -hh], [hw, -hh], [hw, hh], [-hw, hh]];
    let (s, c) = roll.sin_cos();
    pts.map(|[x, y]| {
        let (rx, ry) = (x * c - y * s, x * s + y * c);
        let z = 1.0 + yaw * rx / width + pitch * ry / height;
        [cx + rx / z, cy + ry / z]
    })
}

/// Gaussian blur (optics, focus) of `sigma` pixels.
pub fn blur(p: &Picture, sigma: f32) -> Picture {
    if sigma <= 0.05 {
        return p.clone();
    }
    let img = image::RgbImage::from_raw(p.width, p.height, p.rgb.clone())
        .expect("a Picture's buffer matches its size");
    let out = image::imageops::blur(&img, sigma);
    Picture {
        width: p.width,
        height: p.height,
        rgb: out.into_raw(),
    }
}

/// Adds sensor noise: each channel of each pixel moved by a normal draw of `sigma`
/// levels (Box-Muller).
pub fn add_noise(p: &mut Picture, sigma: f32, rng: &mut impl Rng) {
    for v in &mut p.rgb {
        let (u1, u2): (f32, f32) = (rng.random_range(1e-6..1.0), rng.random());
        let n = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f32::consts::PI * u2).cos() * sigma;
        *v = (f32::from(*v) + n).round().clamp(0.0, 255.0) as u8;
    }
}

/// A JPEG round trip at `quality` (stands in for the stream's compression).
pub fn compress(p: &Picture, quality: u8) -> Picture {
    let mut out = Vec::new();
    let ok = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .encode(&p.rgb, p.width, p.height, image::ExtendedColorType::Rgb8)
        .is_ok();
    if !ok {
        return p.clone();
    }
    match image::load_from_memory(&out) {
        Ok(img) => {
            let img = img.to_rgb8();
            Picture {
                width: img.width(),
                height: img.height(),
                rgb: img.into_raw(),
            }
        }
        Err(_) => p.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn plates_render_in_their_layouts_and_texts_fit_them() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for style in [PlateStyle::Blue, PlateStyle::Green, PlateStyle::Yellow] {
            let t = random_text(&mut rng, style);
            assert!(crate::infer::plate::syntax::is_plate(&t), "{t}");
            assert_eq!(t.chars().count(), style.chars());
            let p = render(&t, style, 1.0).expect("make setup installs fonts-noto-cjk");
            let (w, h) = style.size_mm();
            assert_eq!((p.width, p.height), (w as u32, h as u32));
        }
        // White characters on a blue plate: both colours present.
        let p = render("粤G12345", PlateStyle::Blue, 1.0).unwrap();
        let white = p
            .rgb
            .chunks(3)
            .filter(|c| c.iter().all(|&v| v > 200))
            .count();
        let blue = p.rgb.chunks(3).filter(|c| c[2] > 150 && c[0] < 60).count();
        assert!(white > 2000 && blue > 20000, "white {white}, blue {blue}");
    }

    #[test]
    fn a_pasted_plate_lands_inside_its_quad() {
        let plate = render("粤G12345", PlateStyle::Blue, 0.5).unwrap();
        let mut dst = Picture::from_rgb(200, 100, vec![0; 200 * 100 * 3]).unwrap();
        let q = quad(100.0, 50.0, 110.0, 35.0, 0.2, 0.1, 0.05);
        paste(&mut dst, &plate, q);
        let px = |x: u32, y: u32| dst.rgb[((y * 200 + x) * 3 + 2) as usize];
        assert!(px(100, 50) > 0 || px(101, 50) > 0, "the centre is plate");
        assert_eq!(px(10, 10), 0, "outside untouched");
    }
}
