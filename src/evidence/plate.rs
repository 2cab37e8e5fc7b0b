//! Plate reading policy for parking evidence: which frames are read, what counts as a
//! read, and how several reads become the event's `subject.plate`.
//!
//! - Every wide shot of a parked motor vehicle (first seen stationary, half dwell,
//!   confirmation) reads the plate on its frame and the frames just before it, from the
//!   full-resolution main-stream picture, inside the vehicle's box.
//! - A frame's read counts only if the plate is at least `min_width_px` wide (below it
//!   the measured exact-match rate collapses, see the README's plate table) and its
//!   characters reach `min_confidence`; otherwise the frame says why (too small, low
//!   confidence, no plate visible).
//! - The event's plate is the text with the most weight (sum of confidences) among the
//!   counted reads; `reads` says how many frames agreed. Without any counted read the
//!   plate is `null` with the most informative reason seen.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::config::InferenceConfig;
use crate::infer::BBox;
use crate::infer::plate::{Found, PlateRead, PlateReader, RgbView};
use crate::rules::event::{PlateInfo, PlateUnread, PlateUnreadReason};

/// `[events.evidence.plates]`: licence-plate reading for parking evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlateConfig {
    /// Read plates of parked motor vehicles (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Plate detector model id (a `plate_corners` manifest, default "clp-det").
    #[serde(default = "default_detector")]
    pub detector: String,
    /// Plate recogniser model id (a `ctc` manifest, default "ppocr-rec").
    #[serde(default = "default_recogniser")]
    pub recogniser: String,
    /// Narrowest plate, in main-stream pixels, whose read counts (default 90: the
    /// measured exact-match rate falls below 90 % under it).
    #[serde(default = "default_min_width")]
    pub min_width_px: f32,
    /// Lowest mean character confidence of a read that counts (default 0.8).
    #[serde(default = "default_min_confidence")]
    pub min_confidence: f32,
    /// Frames read per wide shot: its own and the ones just before (default 2).
    #[serde(default = "default_frames")]
    pub frames_per_picture: u32,
}

fn yes() -> bool {
    true
}
fn default_detector() -> String {
    "clp-det".into()
}
fn default_recogniser() -> String {
    "ppocr-rec".into()
}
fn default_min_width() -> f32 {
    90.0
}
fn default_min_confidence() -> f32 {
    0.8
}
fn default_frames() -> u32 {
    2
}

impl Default for PlateConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            detector: default_detector(),
            recogniser: default_recogniser(),
            min_width_px: default_min_width(),
            min_confidence: default_min_confidence(),
            frames_per_picture: default_frames(),
        }
    }
}

impl PlateConfig {
    /// Checks the numbers; errors name the key.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.min_width_px.is_finite() && self.min_width_px >= 10.0) {
            return Err("min_width_px: must be a number of pixels >= 10".into());
        }
        if !(0.0..=1.0).contains(&self.min_confidence) {
            return Err("min_confidence: must be within 0..1".into());
        }
        if !(1..=8).contains(&self.frames_per_picture) {
            return Err("frames_per_picture: must be 1 to 8".into());
        }
        Ok(())
    }
}

/// What one frame showed.
#[derive(Debug, Clone, PartialEq)]
pub enum FrameRead {
    /// A read that counts.
    Read(PlateRead),
    /// A plate narrower than the minimum (its read, if any, does not count).
    TooSmall {
        width_px: f32,
        read: Option<PlateRead>,
    },
    /// A plate wide enough whose characters stayed below the confidence minimum.
    LowConfidence(PlateRead),
    /// A plate was found but no plate-shaped text could be read from it.
    Unreadable { width_px: f32 },
    /// No plate on the vehicle.
    NoPlate { vehicle_width_px: f32 },
}

impl FrameRead {
    pub fn counted(&self) -> Option<&PlateRead> {
        match self {
            FrameRead::Read(r) => Some(r),
            _ => None,
        }
    }
}

/// Applies the policy to what the reader found on one frame (best detection first).
pub fn judge(found: &[Found], vehicle: &BBox, cfg: &PlateConfig) -> FrameRead {
    let Some(best) = found.first() else {
        return FrameRead::NoPlate {
            vehicle_width_px: vehicle.width(),
        };
    };
    let width_px = best.plate.width_px();
    match &best.read {
        _ if width_px < cfg.min_width_px => FrameRead::TooSmall {
            width_px,
            read: best.read.clone(),
        },
        None => FrameRead::Unreadable { width_px },
        Some(r) if r.confidence < cfg.min_confidence => FrameRead::LowConfidence(r.clone()),
        Some(r) => FrameRead::Read(r.clone()),
    }
}

/// The event's plate from every frame read so far: `Ok` with the agreed plate, or
/// `Err` with why none is known.
pub fn consensus(frames: &[FrameRead], cfg: &PlateConfig) -> Result<PlateInfo, PlateUnread> {
    let mut by_text: HashMap<&str, (f32, u32, &PlateRead)> = HashMap::new();
    for r in frames.iter().filter_map(FrameRead::counted) {
        let e = by_text.entry(r.text.as_str()).or_insert((0.0, 0, r));
        e.0 += r.confidence;
        e.1 += 1;
        if r.confidence > e.2.confidence {
            e.2 = r;
        }
    }
    // Most weight wins; ties go to the text whose best read is more confident, then to
    // the text itself, so the choice never depends on hash order.
    if let Some((_, (_, n, best))) = by_text.into_iter().max_by(|a, b| {
        (a.1.0, a.1.2.confidence)
            .partial_cmp(&(b.1.0, b.1.2.confidence))
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| b.0.cmp(a.0))
    }) {
        return Ok(PlateInfo {
            text: best.text.clone(),
            confidence: best.confidence,
            colour: best.colour,
            bbox: best.plate.bbox,
            corners: best.plate.corners,
            width_px: best.width_px(),
            reads: n,
            frames: frames.len() as u32,
        });
    }
    let frames_n = frames.len() as u32;
    // The most informative failure: a weak read beats a small plate beats nothing.
    let weak = frames
        .iter()
        .filter_map(|f| match f {
            FrameRead::LowConfidence(r) => Some(r),
            _ => None,
        })
        .max_by(|a, b| a.confidence.total_cmp(&b.confidence));
    if let Some(r) = weak {
        return Err(PlateUnread {
            reason: PlateUnreadReason::LowConfidence,
            frames: frames_n,
            width_px: Some(r.width_px()),
            min_width_px: None,
            best_text: Some(r.text.clone()),
            confidence: Some(r.confidence),
            min_confidence: Some(cfg.min_confidence),
            detail: None,
        });
    }
    let small = frames
        .iter()
        .filter_map(|f| match f {
            FrameRead::TooSmall { width_px, .. } => Some(*width_px),
            _ => None,
        })
        .fold(None, |m: Option<f32>, w| Some(m.map_or(w, |m| m.max(w))));
    if let Some(w) = small {
        return Err(PlateUnread {
            reason: PlateUnreadReason::TooSmall,
            frames: frames_n,
            width_px: Some(w),
            min_width_px: Some(cfg.min_width_px),
            best_text: None,
            confidence: None,
            min_confidence: None,
            detail: None,
        });
    }
    let unreadable = frames.iter().find_map(|f| match f {
        FrameRead::Unreadable { width_px } => Some(*width_px),
        _ => None,
    });
    if let Some(w) = unreadable {
        return Err(PlateUnread {
            reason: PlateUnreadReason::LowConfidence,
            frames: frames_n,
            width_px: Some(w),
            min_width_px: None,
            best_text: None,
            confidence: Some(0.0),
            min_confidence: Some(cfg.min_confidence),
            detail: Some("a plate was found but no plate number could be read from it".into()),
        });
    }
    // No plate anywhere. A vehicle too narrow to carry a plate of the minimum width
    // (plates are about a quarter of a car's width) is "too small", not "no plate".
    let vehicle = frames
        .iter()
        .filter_map(|f| match f {
            FrameRead::NoPlate { vehicle_width_px } => Some(*vehicle_width_px),
            _ => None,
        })
        .fold(0.0f32, f32::max);
    let expected = vehicle * 0.25;
    if frames_n > 0 && expected < cfg.min_width_px {
        return Err(PlateUnread {
            reason: PlateUnreadReason::TooSmall,
            frames: frames_n,
            width_px: Some(expected),
            min_width_px: Some(cfg.min_width_px),
            best_text: None,
            confidence: None,
            min_confidence: None,
            detail: Some(format!(
                "no plate found; the vehicle is {vehicle:.0} px wide, so its plate would be about {expected:.0} px"
            )),
        });
    }
    Err(PlateUnread {
        reason: PlateUnreadReason::NoPlateVisible,
        frames: frames_n,
        width_px: None,
        min_width_px: None,
        best_text: None,
        confidence: None,
        min_confidence: None,
        detail: None,
    })
}

/// The reader shared by every camera, with the policy. Loading failures are kept (and
/// logged once) so every event can say why it has no plate.
#[derive(Debug)]
pub struct PlateService {
    pub cfg: PlateConfig,
    pub reader: Result<Arc<PlateReader>, String>,
}

impl PlateService {
    /// Reads the frame's plate inside `vehicle` (picture pixels).
    pub fn read_frame(&self, pic: &RgbView<'_>, vehicle: &BBox) -> Result<FrameRead, String> {
        let reader = self.reader.as_ref().map_err(Clone::clone)?;
        // A margin: the detector wants the whole plate, and a vehicle box from the
        // analysis stream may cut the bumper.
        let (mx, my) = (vehicle.width() * 0.08, vehicle.height() * 0.08);
        let region = BBox::new(
            vehicle.x1 - mx,
            vehicle.y1 - my,
            vehicle.x2 + mx,
            vehicle.y2 + my,
        );
        let found = reader.read(pic, region).map_err(|e| e.to_string())?;
        Ok(judge(&found, vehicle, &self.cfg))
    }

    /// What an event says when the reader could not be loaded.
    pub fn unavailable(&self) -> Option<PlateUnread> {
        self.reader.as_ref().err().map(|e| PlateUnread {
            reason: PlateUnreadReason::ReaderUnavailable,
            frames: 0,
            width_px: None,
            min_width_px: None,
            best_text: None,
            confidence: None,
            min_confidence: None,
            detail: Some(e.clone()),
        })
    }
}

type ServiceKey = (PathBuf, PathBuf, String, String, String);

/// The process-wide plate service for these settings (`None` when reading is off).
/// Sessions are created once per model pair and shared by every camera.
pub fn service(inference: &InferenceConfig, cfg: &PlateConfig) -> Option<Arc<PlateService>> {
    static SERVICES: Mutex<Vec<(ServiceKey, Arc<PlateService>)>> = Mutex::new(Vec::new());
    if !cfg.enabled {
        return None;
    }
    let key: ServiceKey = (
        inference.models_dir.clone(),
        crate::infer::model::weights_dir(inference),
        cfg.detector.clone(),
        cfg.recogniser.clone(),
        format!("{:?}", cfg),
    );
    let mut all = SERVICES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, s)) = all.iter().find(|(k, s)| *k == key && s.reader.is_ok()) {
        return Some(s.clone());
    }
    let reader = PlateReader::load(inference, &cfg.detector, &cfg.recogniser)
        .map(Arc::new)
        .map_err(|e| e.to_string());
    match &reader {
        Ok(r) => tracing::info!(models = %r.models(), "plate reader loaded"),
        Err(e) => {
            tracing::warn!(error = %e, "plate reader unavailable: parking events will carry plate null (reader_unavailable)")
        }
    }
    let s = Arc::new(PlateService {
        cfg: cfg.clone(),
        reader,
    });
    all.retain(|(k, _)| *k != key);
    // A handful of distinct settings at most (a reload with new models); the old ones
    // stay referenced by running cameras until they restart.
    if all.len() >= 4 {
        all.remove(0);
    }
    all.push((key, s.clone()));
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infer::plate::{PlateBox, PlateColour};

    fn plate(width: f32) -> PlateBox {
        PlateBox {
            bbox: BBox::new(0.0, 0.0, width, width / 3.0),
            corners: [
                [0.0, 0.0],
                [width, 0.0],
                [width, width / 3.0],
                [0.0, width / 3.0],
            ],
            score: 0.9,
        }
    }

    fn found(text: &str, conf: f32, width: f32) -> Found {
        Found {
            plate: plate(width),
            read: Some(PlateRead {
                text: text.into(),
                confidence: conf,
                min_char: conf,
                colour: PlateColour::Blue,
                plate: plate(width),
            }),
        }
    }

    #[test]
    fn a_frame_counts_only_when_wide_and_confident_enough() {
        let cfg = PlateConfig::default();
        let car = BBox::new(0.0, 0.0, 400.0, 300.0);
        assert!(matches!(
            judge(&[found("粤G12345", 0.95, 120.0)], &car, &cfg),
            FrameRead::Read(_)
        ));
        assert!(matches!(
            judge(&[found("粤G12345", 0.95, 60.0)], &car, &cfg),
            FrameRead::TooSmall { .. }
        ));
        assert!(matches!(
            judge(&[found("粤G12345", 0.5, 120.0)], &car, &cfg),
            FrameRead::LowConfidence(_)
        ));
        assert!(matches!(judge(&[], &car, &cfg), FrameRead::NoPlate { .. }));
    }

    #[test]
    fn the_most_agreed_plate_wins_and_failures_say_why() {
        let cfg = PlateConfig::default();
        let car = BBox::new(0.0, 0.0, 400.0, 300.0);
        let frames: Vec<FrameRead> = [
            found("粤G12345", 0.9, 120.0),
            found("粤G12346", 0.95, 120.0),
            found("粤G12345", 0.85, 120.0),
        ]
        .iter()
        .map(|f| judge(std::slice::from_ref(f), &car, &cfg))
        .collect();
        let p = consensus(&frames, &cfg).unwrap();
        assert_eq!((p.text.as_str(), p.reads, p.frames), ("粤G12345", 2, 3));
        let small = vec![judge(&[found("粤G12345", 0.9, 50.0)], &car, &cfg)];
        let e = consensus(&small, &cfg).unwrap_err();
        assert_eq!(e.reason, PlateUnreadReason::TooSmall);
        assert_eq!(e.width_px, Some(50.0));
        let tiny_car = vec![judge(&[], &BBox::new(0.0, 0.0, 120.0, 80.0), &cfg)];
        assert_eq!(
            consensus(&tiny_car, &cfg).unwrap_err().reason,
            PlateUnreadReason::TooSmall
        );
        let none = vec![judge(&[], &car, &cfg)];
        assert_eq!(
            consensus(&none, &cfg).unwrap_err().reason,
            PlateUnreadReason::NoPlateVisible
        );
        let weak = vec![
            judge(&[found("粤G12345", 0.5, 120.0)], &car, &cfg),
            none[0].clone(),
        ];
        let e = consensus(&weak, &cfg).unwrap_err();
        assert_eq!(e.reason, PlateUnreadReason::LowConfidence);
        assert_eq!(e.best_text.as_deref(), Some("粤G12345"));
    }
}
