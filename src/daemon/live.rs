//! The latest picture and analysis result of each camera, for the technician page's
//! Zones and Live views and the uplink's `snapshot` command.
//!
//! One slot per camera, overwritten in place by the camera's analysis thread, so
//! memory stays bounded however fast frames come and however slowly the page polls.
//! Readers take an `Arc` and encode outside the lock.
//!
//! Every picture leaving the board has the camera's privacy zones blacked out (the
//! same masking as evidence snapshots), so neither the page nor the uplink's
//! `snapshot` command can show what the box must never show.

use crate::infer::Detection;
use crate::ingest::{Frame, MediaTime};
use crate::rules::privacy::{PrivacyError, black_out_zones, drop_private};
use crate::rules::zone::Zone;
use crate::track::Track;
use crate::web::MIN_THUMBNAIL_WIDTH;
use crate::web::{LiveDetection, LiveResult};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

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
    #[error("privacy mask: {0}")]
    Privacy(#[from] PrivacyError),
}

/// Frames kept per camera while inference works on them, so a result can be paired
/// with the very picture it was computed on. Matched and older frames are released at
/// once; at 5 fps this covers over a second of inference lag.
const IN_FLIGHT_FRAMES: usize = 6;

/// A result and the frame it was computed on (`None` when that frame was not held).
type Analysed = (Arc<LiveResult>, Option<Arc<Frame>>);

/// A result and the JPEG of its frame (or why there is none).
pub type Paired = (Arc<LiveResult>, Result<Vec<u8>, LiveError>);

/// Latest frame and result per camera.
#[derive(Default)]
pub struct LiveBoard {
    /// Latest frame and when it arrived (box clock, for the dashboard's picture age).
    frames: Mutex<BTreeMap<String, (Arc<Frame>, Instant)>>,
    /// Frames handed to inference and not yet answered, oldest first.
    in_flight: Mutex<BTreeMap<String, VecDeque<Arc<Frame>>>>,
    results: Mutex<BTreeMap<String, Analysed>>,
    /// The camera's zones as configured; its privacy zones mask every picture.
    zones: Mutex<BTreeMap<String, Arc<Vec<Zone>>>>,
}

impl LiveBoard {
    pub fn set_frame(&self, camera: &str, frame: Arc<Frame>) {
        {
            let mut in_flight = self.in_flight.lock().unwrap();
            let q = in_flight.entry(camera.to_string()).or_default();
            if q.len() == IN_FLIGHT_FRAMES {
                q.pop_front();
            }
            q.push_back(frame.clone());
        }
        self.frames
            .lock()
            .unwrap()
            .insert(camera.to_string(), (frame, Instant::now()));
    }

    /// Publish a result; the frame it was computed on (same media time) is taken from
    /// the in-flight frames and kept with it.
    pub fn set_result(&self, camera: &str, result: LiveResult) {
        let frame = {
            let mut in_flight = self.in_flight.lock().unwrap();
            in_flight.get_mut(camera).and_then(|q| {
                let at = q.iter().position(|f| f.time.0 == result.media_time_ns)?;
                // Older frames will get no result of their own (inference took a newer
                // one, or they were dropped): release them with the match.
                q.drain(..=at).next_back()
            })
        };
        self.results
            .lock()
            .unwrap()
            .insert(camera.to_string(), (Arc::new(result), frame));
    }

    /// The zones pictures of `camera` are masked with from now on. Set from the
    /// config (not from what the rules accepted), so a zone save reaches the pictures
    /// at once.
    pub fn set_zones(&self, camera: &str, zones: Vec<Zone>) {
        self.zones
            .lock()
            .unwrap()
            .insert(camera.to_string(), Arc::new(zones));
    }

    /// A removed camera's picture must not be served as if it were still running.
    pub fn forget(&self, camera: &str) {
        self.frames.lock().unwrap().remove(camera);
        self.in_flight.lock().unwrap().remove(camera);
        self.results.lock().unwrap().remove(camera);
        self.zones.lock().unwrap().remove(camera);
    }

    pub fn frame(&self, camera: &str) -> Option<Arc<Frame>> {
        self.frames.lock().unwrap().get(camera).map(|f| f.0.clone())
    }

    /// Seconds since the camera's latest frame arrived.
    pub fn picture_age_s(&self, camera: &str) -> Option<f64> {
        self.frames
            .lock()
            .unwrap()
            .get(camera)
            .map(|f| f.1.elapsed().as_secs_f64())
    }

    pub fn result(&self, camera: &str) -> Option<Arc<LiveResult>> {
        self.results
            .lock()
            .unwrap()
            .get(camera)
            .map(|r| r.0.clone())
    }

    /// The latest result with the JPEG (privacy zones black) of the frame it was
    /// computed on; the picture is `None` when that frame was not held.
    pub fn result_with_picture(&self, camera: &str) -> Option<Paired> {
        let (result, frame) = self.results.lock().unwrap().get(camera).cloned()?;
        let zones = self.zones.lock().unwrap().get(camera).cloned();
        let picture = match frame {
            Some(f) => masked_jpeg(&f, zones.as_deref().map_or(&[], Vec::as_slice), None),
            None => Err(LiveError::NoPicture(camera.to_string())),
        };
        Some((result, picture))
    }

    /// The camera's latest frame as JPEG, privacy zones blacked out.
    pub fn jpeg(&self, camera: &str) -> Result<Vec<u8>, LiveError> {
        self.jpeg_scaled(camera, None)
    }

    /// [`LiveBoard::jpeg`], scaled down to at most `max_width` pixels wide (aspect kept,
    /// never enlarged): the dashboard's thumbnails.
    pub fn jpeg_scaled(&self, camera: &str, max_width: Option<u32>) -> Result<Vec<u8>, LiveError> {
        let frame = self
            .frame(camera)
            .ok_or_else(|| LiveError::NoPicture(camera.to_string()))?;
        let zones = self.zones.lock().unwrap().get(camera).cloned();
        masked_jpeg(
            &frame,
            zones.as_deref().map_or(&[], Vec::as_slice),
            max_width,
        )
    }
}

/// `frame` as JPEG with the privacy zones among `zones` blacked out (at the frame's
/// own resolution, before any scaling, so no private pixel bleeds into a thumbnail),
/// scaled to at most `max_width` wide.
pub fn masked_jpeg(
    frame: &Frame,
    zones: &[Zone],
    max_width: Option<u32>,
) -> Result<Vec<u8>, LiveError> {
    // Cameras deliver YUV: the page's picture is converted only when asked for.
    let frame = &*frame.to_rgb();
    check_size(frame)?;
    let mut data = frame.data.clone();
    black_out_zones(&mut data, frame.width, frame.height, zones)?;
    let masked = Frame {
        data,
        camera_id: frame.camera_id.clone(),
        ..*frame
    };
    match max_width {
        Some(w) if w < frame.width => {
            let w = w.max(MIN_THUMBNAIL_WIDTH).min(frame.width);
            let h =
                ((u64::from(frame.height) * u64::from(w)) / u64::from(frame.width)).max(1) as u32;
            let img = image::RgbImage::from_raw(frame.width, frame.height, masked.data)
                .ok_or_else(|| bad_frame(frame))?;
            let small = image::imageops::resize(&img, w, h, image::imageops::FilterType::Triangle);
            jpeg_of(&Frame {
                width: w,
                height: h,
                data: small.into_raw(),
                camera_id: frame.camera_id.clone(),
                ..*frame
            })
        }
        _ => jpeg_of(&masked),
    }
}

fn bad_frame(frame: &Frame) -> LiveError {
    LiveError::BadFrame {
        width: frame.width,
        height: frame.height,
        len: frame.data.len(),
    }
}

fn check_size(frame: &Frame) -> Result<(), LiveError> {
    if frame.data.len() != frame.width as usize * frame.height as usize * 3 {
        return Err(bad_frame(frame));
    }
    Ok(())
}

/// Encode an RGB frame as JPEG.
pub fn jpeg_of(frame: &Frame) -> Result<Vec<u8>, LiveError> {
    check_size(frame)?;
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
    let filtered_out =
        |d: &Detection| !crate::rules::object_filter::counts(d, width, height, zones);
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
            filtered: filtered_out(d),
        })
        .collect();
    LiveResult {
        width,
        height,
        media_time: time
            .to_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        media_time_ns: time.0,
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
            preset: None,
            filter: Default::default(),
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
    fn a_result_comes_with_the_frame_it_was_computed_on_not_the_latest_one() {
        let board = LiveBoard::default();
        let frame = |t: i64, v: u8| {
            Arc::new(Frame {
                camera_id: Arc::from("c"),
                pts_ns: 0,
                time: MediaTime(t),
                width: 16,
                height: 8,
                format: crate::ingest::PixelFormat::Rgb,
                data: vec![v; 16 * 8 * 3],
            })
        };
        board.set_frame("c", frame(100, 10));
        // A newer frame arrives while inference still works on the first one.
        board.set_frame("c", frame(200, 250));
        board.set_result("c", live_result(1, MediaTime(100), 16, 8, &[], &[], &[]));
        let (result, picture) = board.result_with_picture("c").unwrap();
        assert_eq!(result.media_time_ns, 100);
        let img = image::load_from_memory(&picture.unwrap())
            .unwrap()
            .to_rgb8();
        assert!(
            img.get_pixel(4, 4)[0] < 60,
            "the analysed (dark) frame, not the latest (bright) one"
        );
        // The matched frame is released; the newer one waits for its own result.
        assert_eq!(board.in_flight.lock().unwrap()["c"].len(), 1);
        // A result whose frame is no longer held comes without a picture.
        board.set_result("c", live_result(2, MediaTime(50), 16, 8, &[], &[], &[]));
        assert!(board.result_with_picture("c").unwrap().1.is_err());
        // In-flight frames are bounded whatever inference does.
        for t in 0..50 {
            board.set_frame("c", frame(1000 + t, 1));
        }
        assert_eq!(board.in_flight.lock().unwrap()["c"].len(), IN_FLIGHT_FRAMES);
    }

    #[test]
    fn jpeg_of_refuses_a_frame_whose_pixels_do_not_match_its_size() {
        let f = Frame {
            camera_id: Arc::from("c"),
            pts_ns: 0,
            time: MediaTime(0),
            width: 4,
            height: 2,
            format: crate::ingest::PixelFormat::Rgb,
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

    fn privacy_zone(polygon: Vec<[f32; 2]>) -> Zone {
        Zone {
            id: "home".into(),
            name: String::new(),
            polygon: Polygon(polygon),
            location: String::new(),
            coordinates: None,
            grid_code: None,
            asset_id: None,
            preset: None,
            filter: Default::default(),
            rules: vec![ZoneRule::Privacy],
        }
    }

    fn grey_frame(width: u32, height: u32) -> Frame {
        Frame {
            camera_id: Arc::from("c"),
            pts_ns: 0,
            time: MediaTime(0),
            width,
            height,
            format: crate::ingest::PixelFormat::Rgb,
            data: vec![200; (width * height * 3) as usize],
        }
    }

    /// Mean brightness of the decoded picture in a rectangle given in fractions.
    fn mean(img: &image::RgbImage, x0: f32, y0: f32, x1: f32, y1: f32) -> f32 {
        let (w, h) = (img.width() as f32, img.height() as f32);
        let (mut sum, mut n) = (0.0, 0.0);
        for y in (y0 * h) as u32..(y1 * h) as u32 {
            for x in (x0 * w) as u32..(x1 * w) as u32 {
                let p = img.get_pixel(x, y);
                sum += (p[0] as f32 + p[1] as f32 + p[2] as f32) / 3.0;
                n += 1.0;
            }
        }
        sum / n
    }

    #[test]
    fn board_pictures_black_out_privacy_zones_at_full_size_and_in_thumbnails() {
        let board = LiveBoard::default();
        board.set_frame("c", Arc::new(grey_frame(640, 360)));
        board.set_zones(
            "c",
            vec![privacy_zone(vec![
                [0.5, 0.0],
                [1.0, 0.0],
                [1.0, 0.5],
                [0.5, 0.5],
            ])],
        );
        let full = image::load_from_memory(&board.jpeg("c").unwrap())
            .unwrap()
            .to_rgb8();
        assert_eq!(full.dimensions(), (640, 360));
        assert!(mean(&full, 0.55, 0.05, 0.95, 0.45) < 8.0, "zone is black");
        assert!(
            mean(&full, 0.05, 0.55, 0.45, 0.95) > 150.0,
            "outside untouched"
        );
        let thumb = image::load_from_memory(&board.jpeg_scaled("c", Some(160)).unwrap())
            .unwrap()
            .to_rgb8();
        assert_eq!(thumb.dimensions(), (160, 90));
        assert!(mean(&thumb, 0.55, 0.05, 0.95, 0.45) < 8.0);
        assert!(mean(&thumb, 0.05, 0.55, 0.45, 0.95) > 150.0);
        // Never enlarged: a wider request gets the frame's own size.
        let same = image::load_from_memory(&board.jpeg_scaled("c", Some(4000)).unwrap()).unwrap();
        assert_eq!((same.width(), same.height()), (640, 360));
        // Forgetting the camera forgets its zones with its picture.
        board.forget("c");
        board.set_frame("c", Arc::new(grey_frame(64, 36)));
        let plain = image::load_from_memory(&board.jpeg("c").unwrap())
            .unwrap()
            .to_rgb8();
        assert!(mean(&plain, 0.55, 0.05, 0.95, 0.45) > 150.0);
    }
}
