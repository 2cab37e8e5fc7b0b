//! Privacy zones: areas (windows of homes, a school gate) that must never be analysed
//! nor appear in evidence. Detections anchored there are dropped before any rule sees
//! them, and frames are blacked out there before they are encoded or stored.

use super::zone::{Polygon, Zone, anchor};
use crate::infer::{BBox, Category, Detection};

/// Why a frame could not be masked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrivacyError {
    #[error("RGB buffer has {actual} bytes but a {width}x{height} frame needs {expected}")]
    BufferSize {
        width: u32,
        height: u32,
        expected: usize,
        actual: usize,
    },
}

fn check_buffer(rgb: &[u8], width: u32, height: u32) -> Result<(), PrivacyError> {
    let expected = width as usize * height as usize * 3;
    if rgb.len() != expected {
        return Err(PrivacyError::BufferSize {
            width,
            height,
            expected,
            actual: rgb.len(),
        });
    }
    Ok(())
}

/// Sets to 0 every pixel of a tightly packed RGB frame whose centre lies inside
/// `polygon` (normalised coordinates) or on its boundary.
///
/// Scanline fill: per row, the polygon edges crossing the row's centre line give
/// sorted x intersections, and pixels between pairs are cleared. This costs
/// O(rows × edges + masked pixels) instead of testing every pixel against every edge.
pub fn black_out_polygon(
    rgb: &mut [u8],
    width: u32,
    height: u32,
    polygon: &Polygon,
) -> Result<(), PrivacyError> {
    check_buffer(rgb, width, height)?;
    let pts: Vec<(f64, f64)> = polygon
        .points()
        .iter()
        .filter(|p| p[0].is_finite() && p[1].is_finite())
        .map(|p| {
            (
                f64::from(p[0]) * f64::from(width),
                f64::from(p[1]) * f64::from(height),
            )
        })
        .collect();
    let n = pts.len();
    if n < 3 || width == 0 || height == 0 {
        return Ok(());
    }
    let y_min = pts.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let y_max = pts.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    // Rows whose centre (y + 0.5) lies within [y_min, y_max].
    let first_row = (y_min - 0.5).ceil().max(0.0) as u32;
    let last_row = ((y_max - 0.5).floor()).min(f64::from(height) - 1.0);
    if last_row < 0.0 {
        return Ok(());
    }
    let last_row = last_row as u32;
    let row_bytes = width as usize * 3;
    let mut xs: Vec<f64> = Vec::with_capacity(n);
    for row in first_row..=last_row {
        let yc = f64::from(row) + 0.5;
        xs.clear();
        for i in 0..n {
            let (a, b) = (pts[i], pts[(i + 1) % n]);
            if (a.1 > yc) != (b.1 > yc) {
                xs.push(a.0 + (yc - a.1) * (b.0 - a.0) / (b.1 - a.1));
            }
        }
        xs.sort_unstable_by(f64::total_cmp);
        let line = &mut rgb[row as usize * row_bytes..(row as usize + 1) * row_bytes];
        for pair in xs.chunks_exact(2) {
            fill_span(line, width, pair[0], pair[1]);
        }
        // Horizontal edges lying exactly on this centre line are boundary too.
        for i in 0..n {
            let (a, b) = (pts[i], pts[(i + 1) % n]);
            if a.1 == yc && b.1 == yc {
                fill_span(line, width, a.0.min(b.0), a.0.max(b.0));
            }
        }
    }
    Ok(())
}

/// Clears pixels of one row whose centre `x + 0.5` lies within `[x0, x1]`.
fn fill_span(line: &mut [u8], width: u32, x0: f64, x1: f64) {
    let start = (x0 - 0.5).ceil().max(0.0);
    let end = (x1 - 0.5).floor().min(f64::from(width) - 1.0);
    if end < start {
        return;
    }
    let (start, end) = (start as usize, end as usize);
    line[start * 3..(end + 1) * 3].fill(0);
}

/// Blacks out every privacy zone of a camera; returns how many were applied.
pub fn black_out_zones(
    rgb: &mut [u8],
    width: u32,
    height: u32,
    zones: &[Zone],
) -> Result<usize, PrivacyError> {
    check_buffer(rgb, width, height)?;
    let mut applied = 0;
    for z in zones.iter().filter(|z| z.is_privacy()) {
        black_out_polygon(rgb, width, height, &z.polygon)?;
        applied += 1;
    }
    Ok(applied)
}

/// Whether a box of `category` is anchored (see [`anchor`]) in any privacy zone.
pub fn in_privacy_zone(
    category: &Category,
    bbox: &BBox,
    frame_w: u32,
    frame_h: u32,
    zones: &[Zone],
) -> bool {
    let (x, y) = anchor(category, bbox, frame_w, frame_h);
    zones.iter().any(|z| z.is_privacy() && z.contains(x, y))
}

/// Whether a detection must be discarded unanalysed because it is in a privacy zone.
pub fn is_private(detection: &Detection, frame_w: u32, frame_h: u32, zones: &[Zone]) -> bool {
    in_privacy_zone(
        &detection.category,
        &detection.bbox,
        frame_w,
        frame_h,
        zones,
    )
}

/// Removes detections anchored in privacy zones, keeping the order of the rest.
pub fn drop_private(detections: &mut Vec<Detection>, frame_w: u32, frame_h: u32, zones: &[Zone]) {
    if zones.iter().any(Zone::is_privacy) {
        detections.retain(|d| !is_private(d, frame_w, frame_h, zones));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::zone::{ZoneRule, point_in_polygon};
    use std::sync::Arc;

    /// A frame with no zero byte, so any cleared byte is visible.
    fn pattern(w: u32, h: u32) -> Vec<u8> {
        (0..w as usize * h as usize * 3)
            .map(|i| (i % 251) as u8 + 1)
            .collect()
    }

    fn poly(points: &[[f32; 2]]) -> Polygon {
        Polygon(points.to_vec())
    }

    fn zone(id: &str, polygon: Polygon, rules: Vec<ZoneRule>) -> Zone {
        Zone {
            id: id.into(),
            name: String::new(),
            polygon,
            location: String::new(),
            coordinates: None,
            grid_code: None,
            asset_id: None,
            preset: None,
            filter: Default::default(),
            rules,
        }
    }

    fn pixel(rgb: &[u8], w: u32, x: u32, y: u32) -> [u8; 3] {
        let i = (y as usize * w as usize + x as usize) * 3;
        [rgb[i], rgb[i + 1], rgb[i + 2]]
    }

    #[test]
    fn pixels_inside_a_rectangle_are_exactly_zero_and_outside_unchanged() {
        let (w, h) = (40, 20);
        let original = pattern(w, h);
        let mut rgb = original.clone();
        // x 10..30, y 5..15 in pixels.
        black_out_polygon(
            &mut rgb,
            w,
            h,
            &poly(&[[0.25, 0.25], [0.75, 0.25], [0.75, 0.75], [0.25, 0.75]]),
        )
        .unwrap();
        for y in 0..h {
            for x in 0..w {
                let inside = (10..30).contains(&x) && (5..15).contains(&y);
                let got = pixel(&rgb, w, x, y);
                if inside {
                    assert_eq!(got, [0, 0, 0], "({x}, {y})");
                } else {
                    assert_eq!(got, pixel(&original, w, x, y), "({x}, {y})");
                }
            }
        }
    }

    #[test]
    fn concave_polygon_fill_matches_point_in_polygon_at_pixel_centres() {
        let (w, h) = (97, 61);
        let u = poly(&[
            [0.1, 0.1],
            [0.33, 0.12],
            [0.41, 0.63],
            [0.62, 0.58],
            [0.66, 0.07],
            [0.93, 0.15],
            [0.87, 0.91],
            [0.13, 0.83],
        ]);
        u.validate().unwrap();
        let original = pattern(w, h);
        let mut rgb = original.clone();
        black_out_polygon(&mut rgb, w, h, &u).unwrap();
        let mut zeroed = 0;
        for y in 0..h {
            for x in 0..w {
                let (cx, cy) = ((x as f32 + 0.5) / w as f32, (y as f32 + 0.5) / h as f32);
                let got = pixel(&rgb, w, x, y);
                if point_in_polygon(u.points(), cx, cy) {
                    assert_eq!(got, [0, 0, 0], "inside ({x}, {y})");
                    zeroed += 1;
                } else {
                    assert_eq!(got, pixel(&original, w, x, y), "outside ({x}, {y})");
                }
            }
        }
        let expected = u.area() * f64::from(w * h);
        assert!(
            (f64::from(zeroed) - expected).abs() < 0.1 * expected,
            "{zeroed} vs {expected}"
        );
    }

    #[test]
    fn polygon_covering_the_whole_frame_clears_every_pixel() {
        let (w, h) = (8, 6);
        let mut rgb = pattern(w, h);
        black_out_polygon(
            &mut rgb,
            w,
            h,
            &poly(&[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]),
        )
        .unwrap();
        assert!(rgb.iter().all(|&b| b == 0));
    }

    #[test]
    fn wrong_buffer_size_is_an_error_and_touches_nothing() {
        let mut rgb = vec![7u8; 10];
        let e = black_out_polygon(&mut rgb, 4, 4, &poly(&[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]))
            .unwrap_err();
        assert!(e.to_string().contains("48"), "{e}");
        assert!(rgb.iter().all(|&b| b == 7));
    }

    #[test]
    fn only_privacy_zones_are_blacked_out() {
        let (w, h) = (10, 10);
        let left = poly(&[[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]);
        let right = poly(&[[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]]);
        let zones = [
            zone("home", left, vec![ZoneRule::Privacy]),
            zone(
                "road",
                right,
                vec![ZoneRule::LitterWatch {
                    merge_window_s: 0.0,
                    persist_s: 60.0,
                    gone_after_s: 120.0,
                    schedule: Default::default(),
                }],
            ),
        ];
        let original = pattern(w, h);
        let mut rgb = original.clone();
        assert_eq!(black_out_zones(&mut rgb, w, h, &zones).unwrap(), 1);
        assert_eq!(pixel(&rgb, w, 2, 5), [0, 0, 0]);
        assert_eq!(pixel(&rgb, w, 7, 5), pixel(&original, w, 7, 5));
    }

    #[test]
    fn detections_anchored_in_a_privacy_zone_are_never_analysed() {
        let window = poly(&[[0.0, 0.0], [0.5, 0.0], [0.5, 0.5], [0.0, 0.5]]);
        let zones = [zone("window", window, vec![ZoneRule::Privacy])];
        let det = |category: &str, bbox: BBox| Detection {
            category: Category::new(category),
            class_name: category.into(),
            class_id: 0,
            score: 0.9,
            bbox,
            model_id: Arc::from("m"),
        };
        // 1000x1000 frame; the zone is the top-left quarter.
        let person_inside = det("person", BBox::new(100.0, 100.0, 200.0, 400.0));
        // Head in the zone, feet below it: the bottom-centre anchor is outside.
        let person_below = det("person", BBox::new(100.0, 300.0, 200.0, 700.0));
        let litter_inside = det("litter.bag", BBox::new(100.0, 100.0, 150.0, 150.0));
        assert!(is_private(&person_inside, 1000, 1000, &zones));
        assert!(!is_private(&person_below, 1000, 1000, &zones));
        assert!(is_private(&litter_inside, 1000, 1000, &zones));

        let mut dets = vec![person_inside, person_below.clone(), litter_inside];
        drop_private(&mut dets, 1000, 1000, &zones);
        assert_eq!(dets, vec![person_below]);
    }

    #[test]
    fn non_privacy_zones_never_hide_detections() {
        let all = poly(&[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]);
        let zones = [zone(
            "road",
            all,
            vec![ZoneRule::NoParking {
                merge_window_s: 0.0,
                dwell_s: 180.0,
                update_every_s: 300.0,
                leave_after_s: 60.0,
                evidence_interval_s: None,
                schedule: Default::default(),
            }],
        )];
        let b = BBox::new(10.0, 10.0, 20.0, 20.0);
        assert!(!in_privacy_zone(
            &Category::new("vehicle.car"),
            &b,
            100,
            100,
            &zones
        ));
    }
}
