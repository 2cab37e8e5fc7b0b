//! Draw detections onto packed RGB pixels: a box outline and a `label score` tag.
//! The `image` crate has no text rendering, so labels use a tiny built-in 3x5 bitmap font
//! (upper-case letters, digits, `.`, `_`, `-`), scaled up; it is enough to read a class
//! name on evidence snapshots and `detect --out` output without another dependency.

use super::detection::Detection;

/// 3x5 glyphs, rows top to bottom, `1` = ink.
const FONT: &[(char, &str)] = &[
    ('A', "010101111101101"),
    ('B', "110101110101110"),
    ('C', "011100100100011"),
    ('D', "110101101101110"),
    ('E', "111100110100111"),
    ('F', "111100110100100"),
    ('G', "011100101101011"),
    ('H', "101101111101101"),
    ('I', "111010010010111"),
    ('J', "001001001101010"),
    ('K', "101101110101101"),
    ('L', "100100100100111"),
    ('M', "101111111101101"),
    ('N', "110101101101101"),
    ('O', "010101101101010"),
    ('P', "110101110100100"),
    ('Q', "010101101110011"),
    ('R', "110101110101101"),
    ('S', "011100010001110"),
    ('T', "111010010010010"),
    ('U', "101101101101111"),
    ('V', "101101101101010"),
    ('W', "101101111111101"),
    ('X', "101101010101101"),
    ('Y', "101101010010010"),
    ('Z', "111001010100111"),
    ('0', "111101101101111"),
    ('1', "010110010010111"),
    ('2', "110001010100111"),
    ('3', "110001010001110"),
    ('4', "101101111001001"),
    ('5', "111100110001110"),
    ('6', "011100111101111"),
    ('7', "111001010010010"),
    ('8', "111101111101111"),
    ('9', "111101111001110"),
    ('.', "000000000000010"),
    ('_', "000000000000111"),
    ('-', "000000111000000"),
];

/// A mutable view of a packed RGB image.
pub struct Canvas<'a> {
    pub data: &'a mut [u8],
    pub width: u32,
    pub height: u32,
}

impl Canvas<'_> {
    fn put(&mut self, x: i64, y: i64, c: [u8; 3]) {
        if x >= 0 && y >= 0 && (x as u32) < self.width && (y as u32) < self.height {
            let i = (y as usize * self.width as usize + x as usize) * 3;
            self.data[i..i + 3].copy_from_slice(&c);
        }
    }

    fn fill(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, c: [u8; 3]) {
        for y in y0.max(0)..y1.min(self.height as i64) {
            for x in x0.max(0)..x1.min(self.width as i64) {
                self.put(x, y, c);
            }
        }
    }

    /// Box outline `thick` pixels wide, inside the box.
    pub fn rect(&mut self, x1: i64, y1: i64, x2: i64, y2: i64, thick: i64, c: [u8; 3]) {
        self.fill(x1, y1, x2, y1 + thick, c);
        self.fill(x1, y2 - thick, x2, y2, c);
        self.fill(x1, y1, x1 + thick, y2, c);
        self.fill(x2 - thick, y1, x2, y2, c);
    }

    /// Text at (x, y) with `scale` pixels per font dot; unknown characters are blank.
    pub fn text(&mut self, x: i64, y: i64, s: &str, scale: i64, c: [u8; 3]) {
        for (k, ch) in s.chars().enumerate() {
            let up = ch.to_ascii_uppercase();
            let Some((_, bits)) = FONT.iter().find(|(g, _)| *g == up) else {
                continue;
            };
            let ox = x + k as i64 * 4 * scale;
            for (i, b) in bits.bytes().enumerate() {
                if b == b'1' {
                    let (gx, gy) = ((i % 3) as i64, (i / 3) as i64);
                    self.fill(
                        ox + gx * scale,
                        y + gy * scale,
                        ox + (gx + 1) * scale,
                        y + (gy + 1) * scale,
                        c,
                    );
                }
            }
        }
    }
}

/// A stable colour per class, so the same class looks the same across frames.
pub fn class_colour(class_id: u32) -> [u8; 3] {
    const PALETTE: [[u8; 3]; 8] = [
        [255, 56, 56],
        [56, 255, 56],
        [56, 120, 255],
        [255, 200, 0],
        [255, 0, 200],
        [0, 220, 220],
        [255, 128, 0],
        [160, 80, 255],
    ];
    PALETTE[class_id as usize % PALETTE.len()]
}

/// Draw every detection (box + `class score` tag above it).
pub fn draw(rgb: &mut [u8], width: u32, height: u32, dets: &[Detection]) {
    let mut c = Canvas {
        data: rgb,
        width,
        height,
    };
    let scale = ((width.max(height) / 400) as i64).max(2);
    for d in dets {
        let col = class_colour(d.class_id);
        let (x1, y1, x2, y2) = (
            d.bbox.x1 as i64,
            d.bbox.y1 as i64,
            d.bbox.x2 as i64,
            d.bbox.y2 as i64,
        );
        c.rect(x1, y1, x2, y2, (scale / 2).max(1), col);
        let label = format!("{} {:.2}", d.class_name.replace(' ', "_"), d.score);
        let tag_h = 7 * scale;
        let ty = if y1 >= tag_h { y1 - tag_h } else { y1 };
        c.fill(
            x1,
            ty,
            x1 + label.len() as i64 * 4 * scale + scale,
            ty + tag_h,
            col,
        );
        c.text(x1 + scale, ty + scale, &label, scale, [0, 0, 0]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infer::{BBox, Category};
    use std::sync::Arc;

    #[test]
    fn every_glyph_has_fifteen_dots() {
        assert!(
            FONT.iter()
                .all(|(_, b)| b.len() == 15 && b.bytes().all(|c| c == b'0' || c == b'1'))
        );
    }

    #[test]
    fn drawing_marks_the_box_edge_and_leaves_the_inside() {
        let (w, h) = (100u32, 100u32);
        let mut rgb = vec![0u8; (w * h * 3) as usize];
        let d = Detection {
            category: Category::new("person"),
            class_name: "person".into(),
            class_id: 0,
            score: 0.9,
            bbox: BBox::new(20.0, 40.0, 80.0, 90.0),
            model_id: Arc::from("m"),
        };
        draw(&mut rgb, w, h, &[d]);
        let px = |x: usize, y: usize| &rgb[(y * w as usize + x) * 3..(y * w as usize + x) * 3 + 3];
        assert_eq!(px(50, 89), &class_colour(0));
        assert_eq!(px(50, 70), &[0, 0, 0]);
        // a tag was drawn above the box
        assert!((26..40).any(|y| px(22, y) != [0, 0, 0]));
    }
}
