//! Grey-level loops of the scene checks over full-resolution frames: the box-filter
//! reduction to a small grey picture and the Laplacian sharpness. Both read one sample
//! per pixel at `off` in every `px` bytes: the green of packed RGB (3, 1) or a YUV
//! frame's luma plane (1, 0).

/// One grey value per `k`x`k` block of a `width`-pixel-wide picture, for the top-left
/// `w` x `h` blocks: the mean of the block's central 2x2 samples (the sample itself
/// when k = 1). The caller checks that `d` holds the blocks.
pub fn reduce(
    d: &[u8],
    width: u32,
    px: usize,
    off: usize,
    k: usize,
    w: usize,
    h: usize,
) -> Vec<u8> {
    let stride = width as usize * px;
    let luma = |i: usize| d[i + off] as u32;
    let mut data = Vec::with_capacity(w * h);
    if k == 1 {
        for y in 0..h {
            for x in 0..w {
                data.push(luma(y * stride + x * px) as u8);
            }
        }
    } else {
        // Top-left of the central 2x2 of each block.
        let centre = (k - 1) / 2;
        for oy in 0..h {
            let row = (oy * k + centre) * stride;
            for ox in 0..w {
                let i = row + (ox * k + centre) * px;
                let s = luma(i) + luma(i + px) + luma(i + stride) + luma(i + stride + px);
                data.push((s / 4) as u8);
            }
        }
    }
    data
}

/// Variance of the Laplacian over the variance of the level, on every third row (see
/// the main crate's `rules::scene::grey::sharpness` for why). 0 for pictures under
/// 3x3, a length that does not match, or a flat picture.
pub fn sharpness(width: u32, height: u32, d: &[u8], px: usize, off: usize) -> f32 {
    let (w, h) = (width as usize, height as usize);
    if w < 3 || h < 3 || d.len() != w * h * px {
        return 0.0;
    }
    let stride = w * px;
    let (mut s, mut s2, mut l, mut l2, mut n) = (0i64, 0i64, 0i64, 0i64, 0i64);
    for y in (1..h - 1).step_by(3) {
        // This row and its neighbours.
        let row = &d[y * stride..(y + 1) * stride];
        let up = &d[(y - 1) * stride..y * stride];
        let down = &d[(y + 1) * stride..(y + 2) * stride];
        let mut i = px + off;
        while i + px < stride {
            let c = row[i] as i32;
            let lap =
                row[i - px] as i32 + row[i + px] as i32 + up[i] as i32 + down[i] as i32 - 4 * c;
            s += c as i64;
            s2 += (c * c) as i64;
            l += lap as i64;
            l2 += (lap * lap) as i64;
            n += 1;
            i += px;
        }
    }
    let n = n.max(1) as f64;
    let var = s2 as f64 / n - (s as f64 / n).powi(2);
    let lvar = l2 as f64 / n - (l as f64 / n).powi(2);
    if var < 1.0 {
        return 0.0;
    }
    (lvar / var) as f32
}
