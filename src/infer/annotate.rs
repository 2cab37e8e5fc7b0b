//! Draw detections onto packed RGB pixels for `streetwatch detect --out`: a box outline
//! and a `label score` tag per detection, in a stable colour per class. The drawing
//! itself (boxes, text in the installed CJK font) is [`crate::draw`], shared with evidence
//! snapshots.

use super::detection::Detection;
use crate::draw::Canvas;

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
    let scale = (width.max(height) / 400).max(2);
    let px = 8.0 * scale as f32;
    let tag_h = crate::draw::font().map_or(px, |f| f.measure("Ag", px).height) as i64;
    for d in dets {
        let col = class_colour(d.class_id);
        let b = d.bbox;
        c.rect(b.x1, b.y1, b.x2, b.y2, (scale / 2).max(1), col);
        let label = format!("{} {:.2}", d.class_name.replace(' ', "_"), d.score);
        let y1 = b.y1 as i64;
        let ty = if y1 >= tag_h { y1 - tag_h } else { y1 };
        c.label(b.x1 as i64, ty, &label, px, [0, 0, 0], col);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infer::{BBox, Category};
    use std::sync::Arc;

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
