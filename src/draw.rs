//! Drawing on RGB frames: box outlines, and text in a real font (Noto Sans CJK, from
//! Debian's `fonts-noto-cjk`, which `make setup` installs) so evidence captions and
//! labels can say 违停 小汽车 and carry a location in Chinese. Shared by evidence
//! pictures and `streetwatch detect --out`, so both label alike.
//!
//! The font file is mapped read-only once per process (it is ~19 MB; only the glyphs
//! used are ever paged in) and rendered with `ab_glyph`: outlines rasterised with
//! anti-aliasing and blended onto the picture.
//!
//! Colour legend: the subject's box is red and thick, other detections are yellow and
//! thin, labels are white on the box colour.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ab_glyph::{Font as _, FontRef, PxScale, ScaleFont, point};

/// Evidence: the subject box colour.
pub const SUBJECT: [u8; 3] = [230, 30, 30];
/// Other detections.
pub const OTHER: [u8; 3] = [240, 220, 0];

/// Font files looked for, first found wins: (path, face index in the collection).
/// Noto Sans CJK collections hold JP, KR, SC, TC, HK faces in that order; index 2 is
/// Simplified Chinese, whose glyph shapes match mainland signage.
pub const FONT_FILES: &[(&str, u32)] = &[
    // Debian / Ubuntu fonts-noto-cjk.
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    // Fedora, Arch, Yocto noto-cjk recipes.
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc", 2),
    (
        "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
        2,
    ),
    (
        "/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf",
        0,
    ),
    // Installed next to the binary by a product image.
    ("/usr/share/streetwatch/fonts/NotoSansCJKsc-Regular.otf", 0),
];

/// The bold face, used where text must be heavy (rendered plates in simulations).
pub const BOLD_FONT_FILES: &[(&str, u32)] = &[
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 2),
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Bold.ttc", 2),
];

/// Why text cannot be drawn.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FontError {
    #[error(
        "no CJK font found (looked for {tried}); install the Debian package fonts-noto-cjk (make setup does)"
    )]
    NotFound { tried: String },
    #[error("font {path}: {reason}")]
    Bad { path: PathBuf, reason: String },
}

/// A loaded font face.
#[derive(Debug)]
pub struct Font {
    face: FontRef<'static>,
    pub path: PathBuf,
}

/// Maps `path` read-only for the rest of the process.
fn map_file(path: &Path) -> Result<&'static [u8], FontError> {
    use std::os::fd::AsRawFd;
    let bad = |reason: String| FontError::Bad {
        path: path.to_path_buf(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|e| bad(e.to_string()))?;
    let len = file.metadata().map_err(|e| bad(e.to_string()))?.len() as usize;
    if len == 0 {
        return Err(bad("empty file".into()));
    }
    // SAFETY: a private read-only mapping of a regular file we just opened; the
    // pointer is checked against MAP_FAILED and the mapping is never unmapped, so the
    // slice stays valid for 'static. Package upgrades replace font files by rename,
    // which leaves this mapping on the old inode.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_PRIVATE,
            file.as_raw_fd(),
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(bad(std::io::Error::last_os_error().to_string()));
    }
    // SAFETY: `ptr` is a valid mapping of `len` readable bytes that is never unmapped.
    Ok(unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) })
}

fn load_first(files: &[(&str, u32)]) -> Result<Font, FontError> {
    for (path, index) in files {
        let path = Path::new(path);
        if !path.is_file() {
            continue;
        }
        let bytes = map_file(path)?;
        let face =
            FontRef::try_from_slice_and_index(bytes, *index).map_err(|e| FontError::Bad {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        // The face must have Chinese and Latin glyphs, or captions would be boxes.
        if face.glyph_id('粤').0 == 0 || face.glyph_id('A').0 == 0 {
            return Err(FontError::Bad {
                path: path.to_path_buf(),
                reason: format!("face {index} lacks Chinese or Latin glyphs"),
            });
        }
        return Ok(Font {
            face,
            path: path.to_path_buf(),
        });
    }
    Err(FontError::NotFound {
        tried: files.iter().map(|(p, _)| *p).collect::<Vec<_>>().join(", "),
    })
}

/// The caption and label font, loaded on first use.
pub fn font() -> Result<&'static Font, FontError> {
    static FONT: OnceLock<Result<Font, FontError>> = OnceLock::new();
    FONT.get_or_init(|| load_first(FONT_FILES))
        .as_ref()
        .map_err(Clone::clone)
}

/// The bold face (falls back to the regular one).
pub fn bold_font() -> Result<&'static Font, FontError> {
    static BOLD: OnceLock<Result<Font, FontError>> = OnceLock::new();
    match BOLD.get_or_init(|| load_first(BOLD_FONT_FILES)) {
        Ok(f) => Ok(f),
        Err(_) => font(),
    }
}

/// The ink of one glyph run, in canvas pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextBox {
    pub width: f32,
    /// Ascent + descent at the size drawn: the line's height.
    pub height: f32,
}

impl Font {
    /// Width and line height of `s` at `px` pixels per em.
    pub fn measure(&self, s: &str, px: f32) -> TextBox {
        let f = self.face.as_scaled(PxScale::from(px));
        let width = s.chars().map(|c| f.h_advance(f.glyph_id(c))).sum();
        TextBox {
            width,
            height: f.ascent() - f.descent(),
        }
    }

    /// Draws `s` with its line top at (`x`, `y`), `px` pixels per em, blended onto
    /// the canvas in `fg`. Returns the advance width.
    pub fn draw(&self, c: &mut Canvas<'_>, x: f32, y: f32, s: &str, px: f32, fg: [u8; 3]) -> f32 {
        let f = self.face.as_scaled(PxScale::from(px));
        let baseline = y + f.ascent();
        let mut caret = x;
        for ch in s.chars() {
            let id = f.glyph_id(ch);
            let glyph = id.with_scale_and_position(px, point(caret, baseline));
            caret += f.h_advance(id);
            if let Some(outline) = self.face.outline_glyph(glyph) {
                let b = outline.px_bounds();
                outline.draw(|gx, gy, coverage| {
                    c.blend(
                        b.min.x as i64 + i64::from(gx),
                        b.min.y as i64 + i64::from(gy),
                        fg,
                        coverage,
                    );
                });
            }
        }
        caret - x
    }

    /// Draws `s` into a `w` x `h` box: as large as fits (at most `max_px` per em),
    /// centred. Returns the size used.
    #[allow(clippy::too_many_arguments)]
    pub fn draw_fit(
        &self,
        c: &mut Canvas<'_>,
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        s: &str,
        max_px: f32,
        fg: [u8; 3],
    ) -> f32 {
        let one = self.measure(s, 1.0);
        let px = (w / one.width.max(1e-3))
            .min(h / one.height.max(1e-3))
            .min(max_px)
            .max(1.0);
        let m = self.measure(s, px);
        self.draw(
            c,
            x + (w - m.width) / 2.0,
            y + (h - m.height) / 2.0,
            s,
            px,
            fg,
        );
        px
    }
}

impl Font {
    /// Draws one character filling a `w` x `h` box as licence plates print them: its
    /// ink stretched to the box's height, its width kept unless wider than the box
    /// (then squeezed), centred.
    #[allow(clippy::too_many_arguments)]
    pub fn draw_in_box(
        &self,
        c: &mut Canvas<'_>,
        ch: char,
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        fg: [u8; 3],
    ) {
        const REF: f32 = 100.0;
        let id = self.face.glyph_id(ch);
        let Some(reference) = self
            .face
            .outline_glyph(id.with_scale_and_position(REF, point(0.0, 0.0)))
        else {
            return;
        };
        let b = reference.px_bounds();
        let (iw, ih) = (b.width().max(1.0), b.height().max(1.0));
        let sy = REF * h / ih;
        let target_w = (iw * sy / REF).min(w);
        let sx = REF * target_w / iw;
        let glyph = id.with_scale_and_position(PxScale { x: sx, y: sy }, point(0.0, 0.0));
        let Some(outline) = self.face.outline_glyph(glyph) else {
            return;
        };
        let ob = outline.px_bounds();
        let ox = x + (w - ob.width()) / 2.0;
        outline.draw(|gx, gy, coverage| {
            c.blend(
                (ox + gx as f32).round() as i64,
                (y + gy as f32).round() as i64,
                fg,
                coverage,
            );
        });
    }
}

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

    /// Blends `c` over the pixel with opacity `a` (0..1); outside the canvas nothing.
    pub fn blend(&mut self, x: i64, y: i64, c: [u8; 3], a: f32) {
        if x < 0 || y < 0 || x >= i64::from(self.width) || y >= i64::from(self.height) {
            return;
        }
        let a = a.clamp(0.0, 1.0);
        let i = (y as usize * self.width as usize + x as usize) * 3;
        for (px, &ck) in self.data[i..i + 3].iter_mut().zip(c.iter()) {
            let old = f32::from(*px);
            *px = (old + (f32::from(ck) - old) * a).round() as u8;
        }
    }

    /// Fills the rectangle x0..x1, y0..y1 (clipped to the canvas).
    pub fn fill(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, c: [u8; 3]) {
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

    /// A closed polygon outline (e.g. a plate's four corners), `thick` pixels.
    pub fn polygon(&mut self, pts: &[[f32; 2]], thick: u32, c: [u8; 3]) {
        let r = f64::from(thick.max(1)) / 2.0;
        for i in 0..pts.len() {
            let (a, b) = (pts[i], pts[(i + 1) % pts.len()]);
            let (dx, dy) = (f64::from(b[0] - a[0]), f64::from(b[1] - a[1]));
            let steps = dx.abs().max(dy.abs()).ceil().max(1.0) as i64;
            for s in 0..=steps {
                let t = s as f64 / steps as f64;
                let (x, y) = (f64::from(a[0]) + dx * t, f64::from(a[1]) + dy * t);
                self.fill(
                    (x - r).round() as i64,
                    (y - r).round() as i64,
                    (x + r).round() as i64,
                    (y + r).round() as i64,
                    c,
                );
            }
        }
    }

    /// A label: `s` at `px` per em on a `bg` plate whose top-left is (x, y), kept
    /// inside the canvas. Without a font only the plate is drawn (the caller learns
    /// why from [`font`]).
    pub fn label(&mut self, x: i64, y: i64, s: &str, px: f32, fg: [u8; 3], bg: [u8; 3]) {
        let Ok(f) = font() else {
            return;
        };
        let m = f.measure(s, px);
        let pad = (px / 6.0).ceil() as i64;
        let (w, h) = (m.width.ceil() as i64 + 2 * pad, m.height.ceil() as i64);
        let x = x.clamp(0, (i64::from(self.width) - w).max(0));
        let y = y.clamp(0, (i64::from(self.height) - h).max(0));
        self.fill(x, y, x + w, y + h, bg);
        f.draw(self, (x + pad) as f32, y as f32, s, px, fg);
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
    fn chinese_text_is_drawn_with_the_installed_font_and_clipped_at_the_border() {
        let f = font().expect("make setup installs fonts-noto-cjk");
        let mut buf = vec![0u8; 200 * 40 * 3];
        let mut c = Canvas {
            data: &mut buf,
            width: 200,
            height: 40,
        };
        f.draw(&mut c, 4.0, 4.0, "违停 粤G12345", 20.0, [255, 255, 255]);
        let lit = buf.chunks(3).filter(|p| p[0] > 128).count();
        assert!(lit > 30, "glyph pixels drawn: {lit}");
        // A different string gives a different picture.
        let mut other = vec![0u8; 200 * 40 * 3];
        let mut c = Canvas {
            data: &mut other,
            width: 200,
            height: 40,
        };
        f.draw(&mut c, 4.0, 4.0, "违停 粤G12346", 20.0, [255, 255, 255]);
        assert_ne!(buf, other);
        // Text running off the canvas is cut, not a panic.
        let mut c = Canvas {
            data: &mut other,
            width: 200,
            height: 40,
        };
        let w = f.draw(&mut c, 150.0, 30.0, "违停 粤G12345", 24.0, [255, 255, 255]);
        assert!(w > 100.0, "the run is wider than what is left: {w}");
        assert!(f.measure("粤", 24.0).width > f.measure("1", 24.0).width);
    }
}
