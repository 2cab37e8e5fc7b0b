//! The plate's colour from its rectified picture: blue (ordinary cars), yellow (large
//! vehicles, learners), green (new energy, 8 characters), white (police, military) or
//! black (foreign, Hong Kong / Macau).
//!
//! The background covers most of a plate, characters the rest, so the colour is the
//! class with the largest share of clearly coloured pixels, judged in HSV. Green
//! new-energy plates fade from near white at the top to green at the bottom, so green
//! needs a smaller share than blue or yellow.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlateColour {
    Blue,
    Yellow,
    Green,
    White,
    Black,
}

impl PlateColour {
    /// Chinese name (蓝牌…), for captions.
    pub fn zh(self) -> &'static str {
        match self {
            Self::Blue => "蓝",
            Self::Yellow => "黄",
            Self::Green => "绿",
            Self::White => "白",
            Self::Black => "黑",
        }
    }

    /// Characters on a plate of this colour: green new-energy plates carry 8.
    pub fn plate_len(self) -> usize {
        if self == Self::Green { 8 } else { 7 }
    }
}

/// Hue in degrees, saturation and value in 0..1.
fn hsv(p: &[u8]) -> (f32, f32, f32) {
    let (r, g, b) = (
        f32::from(p[0]) / 255.0,
        f32::from(p[1]) / 255.0,
        f32::from(p[2]) / 255.0,
    );
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let d = max - min;
    let h = if d <= f32::EPSILON {
        0.0
    } else if max == r {
        60.0 * ((g - b) / d).rem_euclid(6.0)
    } else if max == g {
        60.0 * ((b - r) / d + 2.0)
    } else {
        60.0 * ((r - g) / d + 4.0)
    };
    let s = if max <= f32::EPSILON { 0.0 } else { d / max };
    (h, s, max)
}

/// Classifies tightly packed RGB pixels of a rectified plate.
pub fn classify(rgb: &[u8]) -> PlateColour {
    let (mut blue, mut yellow, mut green, mut dark, mut bright) = (0u32, 0u32, 0u32, 0u32, 0u32);
    let mut n = 0u32;
    for p in rgb.chunks_exact(3) {
        n += 1;
        let (h, s, v) = hsv(p);
        if s > 0.3 && v > 0.2 && (190.0..=260.0).contains(&h) {
            blue += 1;
        } else if s > 0.3 && v > 0.35 && (30.0..=70.0).contains(&h) {
            yellow += 1;
        } else if s > 0.18 && v > 0.3 && (75.0..=175.0).contains(&h) {
            green += 1;
        } else if v < 0.25 {
            dark += 1;
        } else if s < 0.2 && v > 0.55 {
            bright += 1;
        }
    }
    let n = n.max(1) as f32;
    let share = |c: u32| c as f32 / n;
    if share(blue) >= 0.3 && blue >= yellow && blue >= green {
        PlateColour::Blue
    } else if share(yellow) >= 0.3 && yellow >= green {
        PlateColour::Yellow
    } else if share(green) >= 0.15 {
        PlateColour::Green
    } else if share(dark) >= 0.45 {
        PlateColour::Black
    } else if share(bright) >= 0.35 {
        PlateColour::White
    } else {
        // Washed out or odd light: the largest class.
        let all = [
            (blue, PlateColour::Blue),
            (yellow, PlateColour::Yellow),
            (green, PlateColour::Green),
            (dark, PlateColour::Black),
            (bright, PlateColour::White),
        ];
        all.into_iter()
            .max_by_key(|(c, _)| *c)
            .map_or(PlateColour::Blue, |(_, k)| k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plate(bg: [u8; 3], fg: [u8; 3]) -> Vec<u8> {
        // 70 % background, 30 % characters.
        (0..100)
            .flat_map(|i| if i % 10 < 7 { bg } else { fg })
            .collect()
    }

    #[test]
    fn the_five_plate_colours() {
        assert_eq!(
            classify(&plate([20, 60, 170], [250, 250, 250])),
            PlateColour::Blue
        );
        assert_eq!(
            classify(&plate([230, 190, 20], [10, 10, 10])),
            PlateColour::Yellow
        );
        assert_eq!(
            classify(&plate([120, 200, 120], [10, 10, 10])),
            PlateColour::Green
        );
        assert_eq!(
            classify(&plate([240, 240, 240], [10, 10, 10])),
            PlateColour::White
        );
        assert_eq!(
            classify(&plate([15, 15, 15], [240, 240, 240])),
            PlateColour::Black
        );
        assert_eq!(PlateColour::Green.plate_len(), 8);
        assert_eq!(PlateColour::Blue.plate_len(), 7);
    }
}
