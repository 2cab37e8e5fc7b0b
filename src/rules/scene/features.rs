//! Feature points and the global motion between two views: FAST-9 corners, BRIEF-256
//! descriptors, brute-force Hamming matching with a ratio test, and a RANSAC fit of a
//! similarity transform (shift, rotation, zoom).
//!
//! This is the ORB recipe without the orientation step: cameras are bumped, turned or
//! zoomed, not spun, and unsteered BRIEF tolerates the ±10° that matter here while
//! staying more distinctive than its steered form. Written here rather than taken from
//! OpenCV, which the firmware does not carry; a check costs a few milliseconds on a
//! 384×216 picture.

use super::grey::Grey;
use serde::{Deserialize, Serialize};

/// FAST threshold on the contrast-stretched picture (0..255).
const FAST_T: i16 = 20;
/// Corners kept per picture, spread over a grid so one busy region cannot take them all.
pub const MAX_POINTS: usize = 288;
const GRID_X: usize = 8;
const GRID_Y: usize = 6;
/// Half size of the BRIEF patch; points closer than this (+1) to a border are skipped.
const PATCH: i32 = 12;
/// Largest Hamming distance (of 256 bits) accepted as a match.
const MAX_HAMMING: u32 = 64;
/// Best match must be this much closer than the second best.
const RATIO: f32 = 0.8;

/// The 16 pixels of the radius-3 Bresenham circle, clockwise from the top.
const CIRCLE: [(i32, i32); 16] = [
    (0, -3),
    (1, -3),
    (2, -2),
    (3, -1),
    (3, 0),
    (3, 1),
    (2, 2),
    (1, 3),
    (0, 3),
    (-1, 3),
    (-2, 2),
    (-3, 1),
    (-3, 0),
    (-3, -1),
    (-2, -2),
    (-1, -3),
];

/// One feature point with its descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Keypoint {
    pub x: f32,
    pub y: f32,
    pub score: f32,
    pub desc: [u64; 4],
}

/// The fixed BRIEF sampling pattern: 256 point pairs in the patch, drawn once from an
/// isotropic Gaussian (σ = patch/5, as in the BRIEF paper) with a fixed seed, so every
/// box and every stored reference use the same pattern.
fn pattern() -> &'static [(i8, i8, i8, i8); 256] {
    static P: std::sync::OnceLock<[(i8, i8, i8, i8); 256]> = std::sync::OnceLock::new();
    P.get_or_init(|| {
        let mut s = 0x2545_F491_4F6C_DD1Du64;
        let mut uniform = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 11) as f64 / (1u64 << 53) as f64).max(1e-12)
        };
        let sigma = (2 * PATCH + 1) as f64 / 5.0;
        let mut gauss = || {
            // Box-Muller.
            let (u, v) = (uniform(), uniform());
            let r = (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos() * sigma;
            r.round().clamp(-(PATCH as f64), PATCH as f64) as i8
        };
        let mut out = [(0i8, 0i8, 0i8, 0i8); 256];
        for p in out.iter_mut() {
            *p = (gauss(), gauss(), gauss(), gauss());
        }
        out
    })
}

/// FAST-9 score of the pixel at index `i` (whose ring is at `offs`), or 0 when it is
/// not a corner: the sum of how far the contiguous arc's pixels exceed the threshold.
/// Written as plain indexing because it runs on every pixel of the picture.
#[inline]
fn fast_score(d: &[u8], i: usize, offs: &[isize; 16]) -> i16 {
    let p = d[i] as i16;
    let (hi, lo) = (p + FAST_T, p - FAST_T);
    let at = |k: usize| d[(i as isize + offs[k]) as usize] as i16;
    // Quickest rejection: every 9-arc of the ring contains its top or its bottom pixel.
    let (n, s) = (at(0), at(8));
    if n <= hi && s <= hi && n >= lo && s >= lo {
        return 0;
    }
    // Then: a 9-arc covers at least two of the four compass points.
    let (e, w) = (at(4), at(12));
    let bright = (n > hi) as u8 + (e > hi) as u8 + (s > hi) as u8 + (w > hi) as u8;
    let dark = (n < lo) as u8 + (e < lo) as u8 + (s < lo) as u8 + (w < lo) as u8;
    if bright < 2 && dark < 2 {
        return 0;
    }
    let mut ring = [0i16; 16];
    for (k, r) in ring.iter_mut().enumerate() {
        *r = at(k);
    }
    let mut best = 0i16;
    for is_bright in [true, false] {
        if (is_bright && bright < 2) || (!is_bright && dark < 2) {
            continue;
        }
        let (mut run, mut sum, mut longest, mut arc_sum) = (0, 0i16, 0, 0i16);
        // Twice around so an arc crossing the start is seen whole.
        for k in 0..32 {
            let v = ring[k & 15];
            let diff = if is_bright { v - hi } else { lo - v };
            if diff > 0 {
                run += 1;
                sum += diff;
                if run > longest {
                    longest = run;
                    arc_sum = sum;
                }
            } else {
                run = 0;
                sum = 0;
            }
        }
        if longest >= 9 {
            best = best.max(arc_sum.max(1));
        }
    }
    best
}

/// Corners of `stretched` (contrast-stretched picture) described on `smooth` (its
/// blurred copy), strongest first within each grid cell.
pub fn keypoints(stretched: &Grey, smooth: &Grey) -> Vec<Keypoint> {
    let (w, h) = (stretched.width as usize, stretched.height as usize);
    let border = PATCH as usize + 1;
    if w <= 2 * border + 2 || h <= 2 * border + 2 {
        return Vec::new();
    }
    let d = &stretched.data;
    let offs: [isize; 16] =
        std::array::from_fn(|k| CIRCLE[k].1 as isize * w as isize + CIRCLE[k].0 as isize);
    let mut scores = vec![0i16; w * h];
    for y in border..h - border {
        let row = y * w;
        for x in border..w - border {
            scores[row + x] = fast_score(d, row + x, &offs);
        }
    }
    // Non-maximum suppression in 3×3, then the best per grid cell.
    let col_cell: Vec<usize> = (0..w).map(|x| (x * GRID_X / w).min(GRID_X - 1)).collect();
    let mut cells: Vec<Vec<(i16, usize, usize)>> = vec![Vec::new(); GRID_X * GRID_Y];
    for y in border..h - border {
        let cy = (y * GRID_Y / h).min(GRID_Y - 1);
        let row = y * w;
        for x in border..w - border {
            let i = row + x;
            let s = scores[i];
            if s == 0 {
                continue;
            }
            // Ties go to the later pixel so exactly one of two equal neighbours stays.
            let before = [i - w - 1, i - w, i - w + 1, i - 1];
            let after = [i + 1, i + w - 1, i + w, i + w + 1];
            if before.iter().any(|&j| scores[j] >= s) || after.iter().any(|&j| scores[j] > s) {
                continue;
            }
            cells[cy * GRID_X + col_cell[x]].push((s, x, y));
        }
    }
    let per_cell = MAX_POINTS / (GRID_X * GRID_Y);
    let pairs: Vec<(isize, isize)> = pattern()
        .iter()
        .map(|&(ax, ay, bx, by)| {
            (
                ay as isize * w as isize + ax as isize,
                by as isize * w as isize + bx as isize,
            )
        })
        .collect();
    let sd = &smooth.data;
    let mut out = Vec::new();
    for c in cells.iter_mut() {
        c.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.2.cmp(&b.2)).then(a.1.cmp(&b.1)));
        for &(s, x, y) in c.iter().take(per_cell) {
            let i = (y * w + x) as isize;
            let mut desc = [0u64; 4];
            for (k, &(a, b)) in pairs.iter().enumerate() {
                if sd[(i + a) as usize] < sd[(i + b) as usize] {
                    desc[k >> 6] |= 1 << (k & 63);
                }
            }
            out.push(Keypoint {
                x: x as f32,
                y: y as f32,
                score: s as f32,
                desc,
            });
        }
    }
    out
}

fn hamming(a: &[u64; 4], b: &[u64; 4]) -> u32 {
    (a[0] ^ b[0]).count_ones()
        + (a[1] ^ b[1]).count_ones()
        + (a[2] ^ b[2]).count_ones()
        + (a[3] ^ b[3]).count_ones()
}

/// A point in the reference and where it is in the current picture.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Match {
    pub from: (f32, f32),
    pub to: (f32, f32),
}

/// Each current point's best reference point, kept when close enough and clearly
/// better than the runner-up (Lowe's ratio test).
pub fn match_points(reference: &[Keypoint], current: &[Keypoint]) -> Vec<Match> {
    let mut out = Vec::new();
    for c in current {
        let (mut best, mut second, mut at) = (u32::MAX, u32::MAX, 0);
        for (i, r) in reference.iter().enumerate() {
            let d = hamming(&r.desc, &c.desc);
            if d < best {
                second = best;
                best = d;
                at = i;
            } else if d < second {
                second = d;
            }
        }
        if best <= MAX_HAMMING && (best as f32) < RATIO * second as f32 {
            let r = &reference[at];
            out.push(Match {
                from: (r.x, r.y),
                to: (c.x, c.y),
            });
        }
    }
    out
}

/// `to = s·R(θ)·from + t`, written as x' = a·x − b·y + tx, y' = b·x + a·y + ty.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    pub a: f32,
    pub b: f32,
    pub tx: f32,
    pub ty: f32,
}

impl Similarity {
    pub const IDENTITY: Similarity = Similarity {
        a: 1.0,
        b: 0.0,
        tx: 0.0,
        ty: 0.0,
    };

    pub fn apply(&self, p: (f32, f32)) -> (f32, f32) {
        (
            self.a * p.0 - self.b * p.1 + self.tx,
            self.b * p.0 + self.a * p.1 + self.ty,
        )
    }

    pub fn scale(&self) -> f32 {
        (self.a * self.a + self.b * self.b).sqrt()
    }

    pub fn rotation_deg(&self) -> f32 {
        self.b.atan2(self.a).to_degrees()
    }

    /// Exact fit through two correspondences; None when the points coincide.
    fn through(m1: &Match, m2: &Match) -> Option<Similarity> {
        let (dx, dy) = (m2.from.0 - m1.from.0, m2.from.1 - m1.from.1);
        let (ex, ey) = (m2.to.0 - m1.to.0, m2.to.1 - m1.to.1);
        let n = dx * dx + dy * dy;
        if n < 25.0 {
            return None;
        }
        let a = (dx * ex + dy * ey) / n;
        let b = (dx * ey - dy * ex) / n;
        let tx = m1.to.0 - (a * m1.from.0 - b * m1.from.1);
        let ty = m1.to.1 - (b * m1.from.0 + a * m1.from.1);
        Some(Similarity { a, b, tx, ty })
    }

    /// Least-squares fit to many correspondences.
    fn fit(ms: &[&Match]) -> Option<Similarity> {
        let n = ms.len() as f32;
        if ms.len() < 2 {
            return None;
        }
        let (mut fx, mut fy, mut tx, mut ty) = (0f32, 0f32, 0f32, 0f32);
        for m in ms {
            fx += m.from.0;
            fy += m.from.1;
            tx += m.to.0;
            ty += m.to.1;
        }
        let (fx, fy, tx, ty) = (fx / n, fy / n, tx / n, ty / n);
        let (mut sa, mut sb, mut ss) = (0f32, 0f32, 0f32);
        for m in ms {
            let (px, py) = (m.from.0 - fx, m.from.1 - fy);
            let (qx, qy) = (m.to.0 - tx, m.to.1 - ty);
            sa += px * qx + py * qy;
            sb += px * qy - py * qx;
            ss += px * px + py * py;
        }
        if ss < 1e-3 {
            return None;
        }
        let (a, b) = (sa / ss, sb / ss);
        Some(Similarity {
            a,
            b,
            tx: tx - (a * fx - b * fy),
            ty: ty - (b * fx + a * fy),
        })
    }

    /// How far the transform moves points of a `w`×`h` picture: the largest
    /// displacement of its centre and corners, in pixels.
    pub fn max_displacement(&self, w: f32, h: f32) -> f32 {
        [(w / 2.0, h / 2.0), (0.0, 0.0), (w, 0.0), (0.0, h), (w, h)]
            .iter()
            .map(|&p| {
                let q = self.apply(p);
                ((q.0 - p.0).powi(2) + (q.1 - p.1).powi(2)).sqrt()
            })
            .fold(0.0, f32::max)
    }
}

/// A RANSAC fit: the transform and how many matches agree with it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    pub transform: Similarity,
    pub inliers: usize,
}

/// Pixels a match may miss the transform by and still agree with it.
pub const INLIER_PX: f32 = 2.5;

fn agrees(t: &Similarity, m: &Match) -> bool {
    let p = t.apply(m.from);
    let (dx, dy) = (p.0 - m.to.0, p.1 - m.to.1);
    dx * dx + dy * dy <= INLIER_PX * INLIER_PX
}

fn inliers<'a>(t: &Similarity, ms: &'a [Match]) -> Vec<&'a Match> {
    ms.iter().filter(|m| agrees(t, m)).collect()
}

fn count(t: &Similarity, ms: &[Match]) -> usize {
    let mut n = 0;
    for m in ms {
        n += agrees(t, m) as usize;
    }
    n
}

/// How many matches the identity explains (the camera did not move).
pub fn identity_inliers(ms: &[Match]) -> usize {
    count(&Similarity::IDENTITY, ms)
}

/// The similarity most matches agree with (deterministic: a fixed-seed sampler, so
/// the same pictures always give the same answer), refined on its inliers.
pub fn ransac(ms: &[Match]) -> Option<Fit> {
    if ms.len() < 2 {
        return None;
    }
    let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ ms.len() as u64;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let mut best: Option<(Similarity, usize)> = None;
    let iterations = 200.min(ms.len() * ms.len());
    for _ in 0..iterations {
        let (i, j) = (next(ms.len()), next(ms.len()));
        if i == j {
            continue;
        }
        let Some(t) = Similarity::through(&ms[i], &ms[j]) else {
            continue;
        };
        // Cameras do not shrink to a point or flip: skip absurd hypotheses early.
        if !(0.5..2.0).contains(&t.scale()) {
            continue;
        }
        let n = count(&t, ms);
        if best.is_none_or(|(_, b)| n > b) {
            best = Some((t, n));
        }
    }
    let (t, _) = best?;
    let ins = inliers(&t, ms);
    let refined = Similarity::fit(&ins).unwrap_or(t);
    let n = count(&refined, ms);
    let (transform, inliers) = if n >= ins.len() {
        (refined, n)
    } else {
        (t, ins.len())
    };
    Some(Fit { transform, inliers })
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// A textured test picture: waves and blocks of different sizes and levels (a
    /// checkerboard's corners would all look alike to BRIEF).
    pub(crate) fn scene(w: u32, h: u32) -> Grey {
        moved_scene(w, h, 0.0, 0.0)
    }

    /// [`scene`] shifted right by `shift_x` pixels and rotated by `rot_deg` about its centre.
    pub(crate) fn moved_scene(w: u32, h: u32, shift_x: f32, rot_deg: f32) -> Grey {
        let (c, s) = (rot_deg.to_radians().cos(), rot_deg.to_radians().sin());
        let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
        let mut data = Vec::with_capacity((w * h) as usize);
        for y in 0..h {
            for x in 0..w {
                // Where this output pixel comes from in the unmoved scene.
                let (px, py) = (x as f32 - cx - shift_x, y as f32 - cy);
                let (sx, sy) = (c * px + s * py + cx, -s * px + c * py + cy);
                let v = ((sx * 0.11).sin() * (sy * 0.07).cos() * 60.0
                    + ((sx * 0.031 + sy * 0.017).sin() * 50.0)
                    + (((sx as i32 / 23) * 7 + (sy as i32 / 19) * 13) % 5) as f32 * 12.0
                    + 110.0)
                    .clamp(0.0, 255.0);
                data.push(v as u8);
            }
        }
        Grey::new(w, h, data).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::moved_scene as scene;
    use super::*;

    fn points(g: &Grey) -> Vec<Keypoint> {
        keypoints(&g.stretched(), &g.blurred())
    }

    #[test]
    fn an_unmoved_picture_matches_itself_at_identity() {
        let g = scene(384, 216, 0.0, 0.0);
        let k = points(&g);
        assert!(k.len() > 100, "{}", k.len());
        let ms = match_points(&k, &k);
        assert!(identity_inliers(&ms) as f32 > 0.9 * ms.len() as f32);
    }

    #[test]
    fn a_shift_and_a_rotation_are_measured() {
        let r = scene(384, 216, 0.0, 0.0);
        let kr = points(&r);
        let shifted = scene(384, 216, 38.0, 0.0);
        let ms = match_points(&kr, &points(&shifted));
        let fit = ransac(&ms).unwrap();
        assert!(fit.inliers >= 30, "{fit:?}");
        let c = fit.transform.apply((192.0, 108.0));
        assert!(
            (c.0 - 192.0 - 38.0).abs() < 2.0 && (c.1 - 108.0).abs() < 2.0,
            "{fit:?}"
        );
        assert!(identity_inliers(&ms) * 3 < fit.inliers);
        let rotated = scene(384, 216, 0.0, 5.0);
        let fit = ransac(&match_points(&kr, &points(&rotated))).unwrap();
        assert!(
            (fit.transform.rotation_deg().abs() - 5.0).abs() < 1.0,
            "{fit:?} {}",
            fit.transform.rotation_deg()
        );
    }

    #[test]
    #[ignore]
    fn timing() {
        use crate::rules::scene::grey::{Texture, sharpness};
        let big = scene(768, 432, 0.0, 0.0);
        let rgb: Vec<u8> = big.data.iter().flat_map(|&v| [v, v, v]).collect();
        let t = std::time::Instant::now();
        let g = Grey::from_rgb(768, 432, &rgb).unwrap();
        let a = t.elapsed();
        let st = g.stretched();
        let b = t.elapsed();
        let bl = g.blurred();
        let c = t.elapsed();
        let kr = keypoints(&st, &bl);
        let d = t.elapsed();
        let ms = match_points(&kr, &kr);
        let e = t.elapsed();
        let _ = ransac(&ms);
        let f = t.elapsed();
        let _ = Texture::of(&g);
        let gg = t.elapsed();
        let _ = sharpness(768, 432, &rgb);
        eprintln!(
            "grey {a:?} stretch {b:?} blur {c:?} points {d:?} match {e:?} ransac {f:?} texture {gg:?} sharp {:?}",
            t.elapsed()
        );
    }

    #[test]
    fn similarity_fit_recovers_a_known_transform() {
        let t = Similarity {
            a: 1.05 * 0.1f32.cos(),
            b: 1.05 * 0.1f32.sin(),
            tx: 12.0,
            ty: -7.0,
        };
        let ms: Vec<Match> = (0..20)
            .map(|i| {
                let p = ((i * 37 % 300) as f32, (i * 53 % 200) as f32);
                Match {
                    from: p,
                    to: t.apply(p),
                }
            })
            .collect();
        let f = ransac(&ms).unwrap();
        assert_eq!(f.inliers, 20);
        assert!((f.transform.scale() - 1.05).abs() < 1e-3);
        assert!((f.transform.rotation_deg() - 0.1f32.to_degrees()).abs() < 0.01);
    }
}
