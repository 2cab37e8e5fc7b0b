//! Letterbox geometry: how a frame is scaled and padded into the model's square input,
//! and the exact inverse that maps boxes back to original frame pixels.

use super::detection::BBox;
use super::manifest::Align;

/// One frame's letterbox. `input = source * scale + pad` on each axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Letterbox {
    pub src_w: u32,
    pub src_h: u32,
    /// Size of the resized image inside the input.
    pub new_w: u32,
    pub new_h: u32,
    pub pad_x: u32,
    pub pad_y: u32,
}

impl Letterbox {
    /// Fit `src` into `dst` keeping the aspect ratio (the same rounding as the
    /// Ultralytics and YOLOX reference code: `round(side * r)`).
    pub fn fit(src_w: u32, src_h: u32, dst_w: u32, dst_h: u32, align: Align) -> Self {
        let r = (dst_w as f64 / src_w as f64).min(dst_h as f64 / src_h as f64);
        let new_w = ((src_w as f64 * r).round() as u32).clamp(1, dst_w);
        let new_h = ((src_h as f64 * r).round() as u32).clamp(1, dst_h);
        let (pad_x, pad_y) = match align {
            Align::TopLeft => (0, 0),
            // Ultralytics: round(d / 2 - 0.1) puts the odd pixel on the right/bottom.
            Align::Center => (
                ((dst_w - new_w) as f64 / 2.0 - 0.1).round().max(0.0) as u32,
                ((dst_h - new_h) as f64 / 2.0 - 0.1).round().max(0.0) as u32,
            ),
        };
        Self {
            src_w,
            src_h,
            new_w,
            new_h,
            pad_x,
            pad_y,
        }
    }

    pub fn scale_x(&self) -> f32 {
        self.new_w as f32 / self.src_w as f32
    }
    pub fn scale_y(&self) -> f32 {
        self.new_h as f32 / self.src_h as f32
    }

    /// Map a box from model-input pixels to original frame pixels, clipped to the frame.
    pub fn to_source(&self, b: BBox) -> BBox {
        let (sx, sy) = (self.scale_x(), self.scale_y());
        let (px, py) = (self.pad_x as f32, self.pad_y as f32);
        let (w, h) = (self.src_w as f32, self.src_h as f32);
        BBox::new(
            ((b.x1 - px) / sx).clamp(0.0, w),
            ((b.y1 - py) / sy).clamp(0.0, h),
            ((b.x2 - px) / sx).clamp(0.0, w),
            ((b.y2 - py) / sy).clamp(0.0, h),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_left_letterbox_pads_only_right_and_bottom() {
        let lb = Letterbox::fit(768, 432, 416, 416, Align::TopLeft);
        assert_eq!((lb.new_w, lb.new_h, lb.pad_x, lb.pad_y), (416, 234, 0, 0));
    }

    #[test]
    fn centred_letterbox_splits_padding_like_ultralytics() {
        let lb = Letterbox::fit(600, 600, 640, 640, Align::Center);
        assert_eq!((lb.new_w, lb.new_h, lb.pad_x, lb.pad_y), (640, 640, 0, 0));
        let lb = Letterbox::fit(1280, 720, 640, 640, Align::Center);
        assert_eq!((lb.new_w, lb.new_h, lb.pad_x, lb.pad_y), (640, 360, 0, 140));
    }

    #[test]
    fn mapping_back_inverts_the_forward_transform() {
        let lb = Letterbox::fit(1280, 720, 640, 640, Align::Center);
        let src = BBox::new(100.0, 200.0, 500.0, 700.0);
        let fwd = BBox::new(
            src.x1 * lb.scale_x() + lb.pad_x as f32,
            src.y1 * lb.scale_y() + lb.pad_y as f32,
            src.x2 * lb.scale_x() + lb.pad_x as f32,
            src.y2 * lb.scale_y() + lb.pad_y as f32,
        );
        let back = lb.to_source(fwd);
        assert!(
            (back.x1 - 100.0).abs() < 1e-3 && (back.y2 - 700.0).abs() < 1e-3,
            "{back:?}"
        );
    }
}
