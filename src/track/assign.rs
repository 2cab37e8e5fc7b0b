//! Optimal one-to-one assignment of predicted track boxes to detections by IoU.
//!
//! Greedy best-IoU-first matching swaps ids when two objects cross (the best single
//! pair can steal the only partner of another track), so we solve the assignment
//! exactly with the Hungarian algorithm: O(n²·m), fine for the few dozen boxes per
//! category family a roadside camera sees, and bounded by the tracker's caps.

use crate::infer::BBox;

/// Pairs `(index into tracks, index into detections)` maximising the summed IoU over
/// pairs with IoU ≥ `min_iou`; pairs below the threshold are never returned.
pub fn match_by_iou(tracks: &[BBox], detections: &[BBox], min_iou: f32) -> Vec<(usize, usize)> {
    if tracks.is_empty() || detections.is_empty() {
        return Vec::new();
    }
    let (rows, cols) = (tracks.len(), detections.len());
    let mut iou = vec![0.0f32; rows * cols];
    let mut any = false;
    for (i, t) in tracks.iter().enumerate() {
        for (j, d) in detections.iter().enumerate() {
            let v = t.iou(d);
            if v.is_finite() && v >= min_iou {
                iou[i * cols + j] = v;
                any = true;
            }
        }
    }
    if !any {
        return Vec::new();
    }
    // A forbidden pair costs 0, the same as leaving both unmatched, so the optimal
    // full assignment restricted to allowed pairs is the optimal partial matching.
    let transpose = rows > cols;
    let (n, m) = if transpose {
        (cols, rows)
    } else {
        (rows, cols)
    };
    let cost = |r: usize, c: usize| -> f64 {
        let (i, j) = if transpose { (c, r) } else { (r, c) };
        -f64::from(iou[i * cols + j])
    };
    let row_to_col = hungarian(n, m, cost);
    let mut pairs: Vec<(usize, usize)> = row_to_col
        .into_iter()
        .enumerate()
        .filter_map(|(r, c)| {
            let c = c?;
            let (i, j) = if transpose { (c, r) } else { (r, c) };
            (iou[i * cols + j] > 0.0).then_some((i, j))
        })
        .collect();
    pairs.sort_unstable();
    pairs
}

/// Minimum-cost assignment of every one of `n` rows to distinct columns of `m ≥ n`.
/// Classic potentials formulation (Kuhn–Munkres with Jonker-style shortest paths).
fn hungarian(n: usize, m: usize, cost: impl Fn(usize, usize) -> f64) -> Vec<Option<usize>> {
    debug_assert!(n <= m);
    let inf = f64::INFINITY;
    let mut u = vec![0.0f64; n + 1];
    let mut v = vec![0.0f64; m + 1];
    // p[j]: row (1-based) assigned to column j; p[0] is the row being inserted.
    let mut p = vec![0usize; m + 1];
    let mut way = vec![0usize; m + 1];
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0usize;
        let mut minv = vec![inf; m + 1];
        let mut used = vec![false; m + 1];
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let mut delta = inf;
            let mut j1 = 0usize;
            for j in 1..=m {
                if !used[j] {
                    let cur = cost(i0 - 1, j - 1) - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=m {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut out = vec![None; n];
    for j in 1..=m {
        if p[j] != 0 {
            out[p[j] - 1] = Some(j - 1);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(x: f32, y: f32, w: f32, h: f32) -> BBox {
        BBox::new(x, y, x + w, y + h)
    }

    #[test]
    fn optimal_assignment_beats_greedy_when_the_best_pair_would_steal_a_partner() {
        // Track 0 overlaps both detections (det 0 best); track 1 overlaps only det 0.
        // Greedy would take (0,0) and leave track 1 unmatched.
        let tracks = [b(0.0, 0.0, 10.0, 10.0), b(-3.0, 0.0, 10.0, 10.0)];
        let dets = [b(-1.0, 0.0, 10.0, 10.0), b(2.0, 0.0, 10.0, 10.0)];
        let pairs = match_by_iou(&tracks, &dets, 0.4);
        assert_eq!(pairs, vec![(0, 1), (1, 0)]);
    }

    #[test]
    fn pairs_below_the_threshold_are_never_returned() {
        let tracks = [b(0.0, 0.0, 10.0, 10.0)];
        let dets = [b(8.0, 0.0, 10.0, 10.0)];
        assert!(match_by_iou(&tracks, &dets, 0.3).is_empty());
        assert_eq!(match_by_iou(&tracks, &dets, 0.05), vec![(0, 0)]);
    }

    #[test]
    fn rectangular_problems_work_in_both_orientations() {
        let many = [
            b(0.0, 0.0, 10.0, 10.0),
            b(100.0, 0.0, 10.0, 10.0),
            b(200.0, 0.0, 10.0, 10.0),
        ];
        let one = [b(101.0, 0.0, 10.0, 10.0)];
        assert_eq!(match_by_iou(&many, &one, 0.3), vec![(1, 0)]);
        assert_eq!(match_by_iou(&one, &many, 0.3), vec![(0, 1)]);
    }

    #[test]
    fn empty_inputs_give_no_pairs() {
        assert!(match_by_iou(&[], &[b(0.0, 0.0, 1.0, 1.0)], 0.1).is_empty());
        assert!(match_by_iou(&[b(0.0, 0.0, 1.0, 1.0)], &[], 0.1).is_empty());
    }

    #[test]
    fn hungarian_finds_the_minimum_of_a_known_matrix() {
        let c = [[4.0, 1.0, 3.0], [2.0, 0.0, 5.0], [3.0, 2.0, 2.0]];
        let a = hungarian(3, 3, |i, j| c[i][j]);
        let total: f64 = a.iter().enumerate().map(|(i, j)| c[i][j.unwrap()]).sum();
        assert_eq!(total, 5.0);
    }
}
