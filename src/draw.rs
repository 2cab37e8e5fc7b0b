//! Drawing on RGB frames: box outlines and a tiny embedded 5x7 bitmap font for labels
//! (upper-case letters, digits and a few signs; no font files to ship or license).
//! Shared by evidence snapshots and `streetwatch detect --out`, so both label alike.
//!
//! Colour legend: the subject's box is red and thick, other detections are yellow and
//! thin, labels are white on the box colour.

/// Evidence: the subject box colour.
pub const SUBJECT: [u8; 3] = [230, 30, 30];
/// Other detections.
pub const OTHER: [u8; 3] = [240, 220, 0];

/// An RGB canvas over a tightly packed buffer.
pub struct Canvas<'a> {
    pub data: &'a mut [u8],
    pub width: u32,
    pub height: u32,
}

impl Canvas<'_> {
    fn put(&mut self, x: i64, y: i64, c: [u8; 3]) {
        if x < 0 || y < 0 || x >= i64::from(self.width) || y >= i64::from(self.height) {
            return;
        }
        let i = (y as usize * self.width as usize + x as usize) * 3;
        self.data[i..i + 3].copy_from_slice(&c);
    }

    fn fill(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, c: [u8; 3]) {
        for y in y0.max(0)..y1.min(i64::from(self.height)) {
            for x in x0.max(0)..x1.min(i64::from(self.width)) {
                self.put(x, y, c);
            }
        }
    }

    /// Outline of a box (pixel coordinates) with `thick` pixels, drawn inward.
    pub fn rect(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, thick: u32, c: [u8; 3]) {
        let (x1, y1, x2, y2) = (
            x1.round() as i64,
            y1.round() as i64,
            x2.round() as i64,
            y2.round() as i64,
        );
        let t = i64::from(thick.max(1));
        self.fill(x1, y1, x2, y1 + t, c);
        self.fill(x1, y2 - t, x2, y2, c);
        self.fill(x1, y1, x1 + t, y2, c);
        self.fill(x2 - t, y1, x2, y2, c);
    }

    /// Text at (x, y) (top-left), each font pixel `scale` pixels, on a `bg` plate.
    pub fn text(&mut self, x: i64, y: i64, s: &str, scale: u32, fg: [u8; 3], bg: [u8; 3]) {
        let sc = i64::from(scale.max(1));
        let n = s.chars().count() as i64;
        self.fill(x, y, x + n * 6 * sc + sc, y + 9 * sc, bg);
        for (i, ch) in s.chars().enumerate() {
            let glyph = glyph(ch.to_ascii_uppercase());
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..5 {
                    if bits & (0x10 >> col) != 0 {
                        let px = x + sc + (i as i64 * 6 + col) * sc;
                        let py = y + sc + row as i64 * sc;
                        self.fill(px, py, px + sc, py + sc, fg);
                    }
                }
            }
        }
    }
}

/// 5x7 glyphs, one byte per row, bit 4 = leftmost column.
fn glyph(c: char) -> [u8; 7] {
    match c {
        'A' => [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1E],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        '.' => [0, 0, 0, 0, 0, 0x0C, 0x0C],
        ':' => [0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0],
        '-' => [0, 0, 0, 0x1F, 0, 0, 0],
        '_' => [0, 0, 0, 0, 0, 0, 0x1F],
        '%' => [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
        _ => [0; 7],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thick_box_colours_its_edges_and_leaves_the_inside() {
        let mut buf = vec![0u8; 100 * 100 * 3];
        let mut c = Canvas {
            data: &mut buf,
            width: 100,
            height: 100,
        };
        c.rect(10.0, 10.0, 60.0, 60.0, 4, SUBJECT);
        let px = |x: usize, y: usize| {
            [
                buf[(y * 100 + x) * 3],
                buf[(y * 100 + x) * 3 + 1],
                buf[(y * 100 + x) * 3 + 2],
            ]
        };
        assert_eq!(px(10, 30), SUBJECT);
        assert_eq!(px(13, 30), SUBJECT);
        assert_eq!(px(14, 30), [0, 0, 0]);
        assert_eq!(px(35, 35), [0, 0, 0]);
    }

    #[test]
    fn text_draws_glyph_pixels_and_clips_at_the_border() {
        let mut buf = vec![0u8; 40 * 20 * 3];
        let mut c = Canvas {
            data: &mut buf,
            width: 40,
            height: 20,
        };
        c.text(30, 0, "CAR 09", 2, [255, 255, 255], SUBJECT);
        assert!(buf.chunks(3).any(|p| p == [255, 255, 255]));
    }
}
