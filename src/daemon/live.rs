//! The latest picture and analysis result of each camera, for the technician page's
//! Zones and Live views and the uplink's `snapshot` command.
//!
//! One slot per camera, overwritten in place by the camera's analysis thread, so
//! memory stays bounded however fast frames come and however slowly the page polls.
//! Readers take an `Arc` and encode outside the lock.

use crate::infer::Detection;
use crate::ingest::{Frame, MediaTime};
use crate::rules::privacy::drop_private;
use crate::rules::zone::Zone;
use crate::track::Track;
use crate::web::{LiveDetection, LiveResult};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// JPEG quality of snapshots: sharp enough to draw zones on, ~100 KiB at 720p.
const JPEG_QUALITY: u8 = 85;

/// Why a frame could not be turned into a JPEG.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("camera \"{0}\" has no picture yet")]
    NoPicture(String),
    #[error("frame of {width}x{height} does not match its {len} bytes of pixels")]
    BadFrame { width: u32, height: u32, len: usize },
    #[error("JPEG encoding failed: {0}")]
    Encode(String),
}

/// Latest frame and result per camera.
#[derive(Default)]
pub struct LiveBoard {
    frames: Mutex<BTreeMap<String, Arc<Frame>>>,
    results: Mutex<BTreeMap<String, Arc<LiveResult>>>,
}

impl LiveBoard {
    pub fn set_frame(&self, camera: &str, frame: Arc<Frame>) {
        self.frames
            .lock()
            .unwrap()
            .insert(camera.to_string(), frame);
    }

    pub fn set_result(&self, camera: &str, result: LiveResult) {
        self.results
            .lock()
            .unwrap()
            .insert(camera.to_string(), Arc::new(result));
    }

    /// A removed camera's picture must not be served as if it were still running.
    pub fn forget(&self, camera: &str) {
        self.frames.lock().unwrap().remove(camera);
        self.results.lock().unwrap().remove(camera);
    }

    pub fn frame(&self, camera: &str) -> Option<Arc<Frame>> {
        self.frames.lock().unwrap().get(camera).cloned()
    }

    pub fn result(&self, camera: &str) -> Option<Arc<LiveResult>> {
        self.results.lock().unwrap().get(camera).cloned()
    }

    /// The camera's latest frame as JPEG.
    pub fn jpeg(&self, camera: &str) -> Result<Vec<u8>, LiveError> {
        let frame = self
            .frame(camera)
            .ok_or_else(|| LiveError::NoPicture(camera.to_string()))?;
        jpeg_of(&frame)
    }
}

/// Encode an RGB frame as JPEG.
pub fn jpeg_of(frame: &Frame) -> Result<Vec<u8>, LiveError> {
    let bad = || LiveError::BadFrame {
        width: frame.width,
        height: frame.height,
        len: frame.data.len(),
    };
    let expected = frame.width as usize * frame.height as usize * 3;
    if frame.data.len() != expected {
        return Err(bad());
    }
    let mut out = std::io::Cursor::new(Vec::new());
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)
        .encode(
            &frame.data,
            frame.width,
            frame.height,
            image::ExtendedColorType::Rgb8,
        )
        .map_err(|e| LiveError::Encode(e.to_string()))?;
    Ok(out.into_inner())
}

/// What the Live page shows for one analysed frame: detections outside privacy zones
/// (those are never analysed, so they are not shown either), each with the id of the
/// confirmed track it fed, in fractions of the frame.
pub fn live_result(
    seq: u64,
    time: MediaTime,
    width: u32,
    height: u32,
    detections: &[Detection],
    zones: &[Zone],
    tracks: &[&Track],
) -> LiveResult {
    let mut dets = detections.to_vec();
    drop_private(&mut dets, width, height, zones);
    let (w, h) = (width.max(1) as f32, height.max(1) as f32);
    let detections = dets
        .iter()
        .map(|d| LiveDetection {
            class: d.class_name.clone(),
            category: d.category.as_str().to_string(),
            score: d.score,
            bbox: [d.bbox.x1 / w, d.bbox.y1 / h, d.bbox.x2 / w, d.bbox.y2 / h].map(|v| {
                if v.is_finite() {
                    v.clamp(0.0, 1.0)
                } else {
                    0.0
                }
            }),
            // The tracker copies the matched detection's box verbatim into the track.
            track_id: tracks
                .iter()
                .find(|t| t.misses == 0 && t.last_detection_bbox == d.bbox)
                .map(|t| t.id),
        })
        .collect();
    LiveResult {
        width,
        height,
        media_time: time
            .to_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        seq,
        detections,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infer::{BBox, Category};
    use crate::rules::zone::{Polygon, ZoneRule};

    fn det(x1: f32, y1: f32, x2: f32, y2: f32) -> Detection {
        Detection {
            category: Category::new("vehicle.car"),
            class_name: "car".into(),
            class_id: 2,
            score: 0.9,
            bbox: BBox::new(x1, y1, x2, y2),
            model_id: Arc::from("m"),
        }
    }

    #[test]
    fn live_result_is_normalised_labelled_with_tracks_and_hides_privacy_zones() {
        let seen = det(100.0, 50.0, 300.0, 150.0);
        let private = det(700.0, 300.0, 780.0, 390.0);
        let track = Track {
            id: 7,
            category: seen.category.clone(),
            class_name: "car".into(),
            bbox: seen.bbox,
            last_detection_bbox: seen.bbox,
            score: 0.9,
            first_seen: MediaTime(0),
            last_seen: MediaTime(0),
            stationary_since: None,
            hits: 3,
            misses: 0,
            history: Default::default(),
        };
        let privacy = Zone {
            id: "p".into(),
            name: String::new(),
            polygon: Polygon(vec![[0.8, 0.6], [1.0, 0.6], [1.0, 1.0], [0.8, 1.0]]),
            location: String::new(),
            coordinates: None,
            grid_code: None,
            asset_id: None,
            rules: vec![ZoneRule::Privacy],
        };
        let r = live_result(
            5,
            MediaTime::from_secs_f64(1.5),
            800,
            400,
            &[seen, private],
            &[privacy],
            &[&track],
        );
        assert_eq!((r.width, r.height, r.seq), (800, 400, 5));
        assert_eq!(r.media_time, "1970-01-01T00:00:01.500Z");
        assert_eq!(r.detections.len(), 1, "the private car is not shown");
        let d = &r.detections[0];
        assert_eq!(d.bbox, [0.125, 0.125, 0.375, 0.375]);
        assert_eq!(d.track_id, Some(7));
        assert_eq!(d.class, "car");
    }

    #[test]
    fn jpeg_of_refuses_a_frame_whose_pixels_do_not_match_its_size() {
        let f = Frame {
            camera_id: Arc::from("c"),
            pts_ns: 0,
            time: MediaTime(0),
            width: 4,
            height: 2,
            data: vec![0; 5],
        };
        assert!(matches!(jpeg_of(&f), Err(LiveError::BadFrame { .. })));
        let ok = Frame {
            data: vec![128; 4 * 2 * 3],
            ..f
        };
        let jpeg = jpeg_of(&ok).unwrap();
        let img = image::load_from_memory(&jpeg).unwrap();
        assert_eq!((img.width(), img.height()), (4, 2));
    }
}
