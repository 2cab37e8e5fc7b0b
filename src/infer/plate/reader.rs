//! The plate reader: detector + recogniser sessions and the steps between them.
//!
//! 1. The vehicle's region of the full-resolution picture is scaled to at most
//!    [`DETECT_MAX_SIDE`] px (small crops up to 2x) and given to the detector, which
//!    returns each plate's box and four corners.
//! 2. The corners, mapped back to picture pixels, fix a homography; the plate's
//!    character band (the rows and columns that hold characters in the GA 36 layout,
//!    without the frame) is sampled straight from the full-resolution picture into the
//!    recogniser's input height, upright.
//! 3. The plate's colour is judged on the rectified plate; it sets the length (green
//!    new-energy plates have 8 characters, the rest 7), and the recogniser's output is
//!    decoded constrained to that layout ([`super::ctc`]).
//!
//! Sessions need `&mut` to run, so each sits behind a mutex: plate reads are a few per
//! parked vehicle, on the evidence threads, never per analysed frame.

use std::sync::{Arc, Mutex};

use ort::session::Session;
use ort::value::TensorRef;

use super::colour::{self, PlateColour};
use super::ctc::{self, Alphabet};
use super::detect::{self, PlateBox};
use super::warp::{Homography, RgbView, warp};
use crate::config::InferenceConfig;
use crate::infer::BBox;
use crate::infer::manifest::{ColourOrder, InputSpec, Manifest, OutputFormat, PixelRange};
use crate::infer::model::{self, ModelError, ModelFile};

/// Longest side of the picture the detector sees.
pub const DETECT_MAX_SIDE: u32 = 640;
/// Crops smaller than this (longest side) are scaled up, at most 2x, so small plates
/// reach the detector's smallest prior (24 px).
const DETECT_MIN_SIDE: u32 = 320;
/// The character band inside a plate, as fractions of its width and height: GA 36
/// places 90 mm high characters 25 mm from the top of a 140 mm plate and 15.5 mm from
/// its sides; a small margin keeps descenders and a corner estimate a pixel off.
const BAND_X: (f32, f32) = (0.015, 0.985);
const BAND_Y: (f32, f32) = (25.0 / 140.0 - 0.03, 115.0 / 140.0 + 0.03);
/// The plate inside its frame, where the background colour is judged.
const COLOUR_X: (f32, f32) = (0.05, 0.95);
const COLOUR_Y: (f32, f32) = (0.1, 0.9);

/// Why a plate could not be read (the reader stays usable).
#[derive(Debug, thiserror::Error)]
pub enum PlateError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("plate model \"{id}\": {reason}")]
    Run { id: String, reason: String },
    #[error("plate model \"{id}\" has output format {format:?}; expected {expected}")]
    WrongFormat {
        id: String,
        format: OutputFormat,
        expected: &'static str,
    },
    #[error("plate recogniser \"{id}\" cannot spell plates: {reason}")]
    Alphabet { id: String, reason: String },
}

/// One plate read off a picture.
#[derive(Debug, Clone, PartialEq)]
pub struct PlateRead {
    /// e.g. "粤G12345"; always a well-formed plate ([`super::syntax::is_plate`]).
    pub text: String,
    /// Mean of the characters' probabilities (0..1).
    pub confidence: f32,
    /// The weakest character's probability.
    pub min_char: f32,
    pub colour: PlateColour,
    /// Where the plate is, in the picture's pixels.
    pub plate: PlateBox,
}

impl PlateRead {
    pub fn width_px(&self) -> f32 {
        self.plate.width_px()
    }
}

/// What the detector found and what the recogniser made of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub plate: PlateBox,
    /// `None` when the recogniser's output held no plate of the layout.
    pub read: Option<PlateRead>,
}

struct Recogniser {
    session: Mutex<Session>,
    manifest: Arc<Manifest>,
    alphabet: Alphabet,
}

/// Detector and recogniser sessions, shared by every camera's evidence thread.
pub struct PlateReader {
    detector: Mutex<Session>,
    det: Arc<Manifest>,
    rec: Recogniser,
}

impl std::fmt::Debug for PlateReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlateReader")
            .field("detector", &self.det.id)
            .field("recogniser", &self.rec.manifest.id)
            .finish()
    }
}

fn input_tensor(spec: &InputSpec, rgb: &[u8], out: &mut Vec<f32>, w: usize, h: usize) {
    out.clear();
    out.resize(3 * w * h, 0.0);
    let k = match spec.range {
        PixelRange::Unit => 1.0 / 255.0,
        PixelRange::Byte => 1.0,
    };
    let plane = w * h;
    for (i, p) in rgb.chunks_exact(3).enumerate() {
        for c in 0..3 {
            // Channel c of the tensor reads R, G, B (rgb) or B, G, R (bgr).
            let src = match spec.colour {
                ColourOrder::Rgb => p[c],
                ColourOrder::Bgr => p[2 - c],
            };
            out[c * plane + i] = (f32::from(src) * k - spec.mean[c]) / spec.std[c];
        }
    }
}

/// The homography from the unit square (plate coordinates, x right, y down) to the
/// plate's corners in the picture.
fn plate_to_picture(p: &PlateBox) -> Option<Homography> {
    let unit = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]];
    Homography::from_points(&unit, &p.corners)
}

/// Samples the part `x` x `y` (fractions) of the plate into `w` x `h` pixels.
fn rectify(
    pic: &RgbView<'_>,
    p: &PlateBox,
    x: (f32, f32),
    y: (f32, f32),
    w: u32,
    h: u32,
) -> Option<Vec<u8>> {
    let to_pic = plate_to_picture(p)?;
    let (x0, x1, y0, y1) = (
        f64::from(x.0),
        f64::from(x.1),
        f64::from(y.0),
        f64::from(y.1),
    );
    let to_plate = Homography([
        (x1 - x0) / f64::from(w),
        0.0,
        x0,
        0.0,
        (y1 - y0) / f64::from(h),
        y0,
        0.0,
        0.0,
        1.0,
    ]);
    Some(warp(pic, &to_pic.then_after(&to_plate), w, h))
}

impl PlateReader {
    /// Loads detector `det_id` and recogniser `rec_id` (manifests in `models_dir`,
    /// weights checked against their sha256) with the configured providers.
    pub fn load(cfg: &InferenceConfig, det_id: &str, rec_id: &str) -> Result<Self, PlateError> {
        let rt = model::runtime_from_config(cfg).map_err(ModelError::from)?;
        let weights = model::weights_dir(cfg);
        let det_file = ModelFile::open(&cfg.models_dir, &weights, det_id)?;
        if det_file.manifest.output.format != OutputFormat::PlateCorners {
            return Err(PlateError::WrongFormat {
                id: det_id.into(),
                format: det_file.manifest.output.format,
                expected: "plate_corners",
            });
        }
        let rec_file = ModelFile::open(&cfg.models_dir, &weights, rec_id)?;
        if rec_file.manifest.output.format != OutputFormat::Ctc {
            return Err(PlateError::WrongFormat {
                id: rec_id.into(),
                format: rec_file.manifest.output.format,
                expected: "ctc",
            });
        }
        // One intra-op thread each: reads are rare and must not take the cores the
        // cameras' detectors use.
        let one = InferenceConfig {
            intra_threads: 1,
            ..cfg.clone()
        };
        let (det_session, _) = det_file.session(rt, &one)?;
        let (rec_session, _) = rec_file.session(rt, &one)?;
        let mut names = rec_file.manifest.classes.names.clone();
        if let Some(key) = &rec_file.manifest.classes.metadata_key {
            let text = rec_session
                .metadata()
                .ok()
                .and_then(|m| m.custom(key))
                .ok_or_else(|| PlateError::Alphabet {
                    id: rec_id.into(),
                    reason: format!("the model has no \"{key}\" metadata"),
                })?;
            names = text.lines().map(str::to_string).collect();
        }
        let alphabet = Alphabet::new(&names);
        if !alphabet.covers_plates() {
            return Err(PlateError::Alphabet {
                id: rec_id.into(),
                reason: "some plate position has no symbol in its dictionary".into(),
            });
        }
        Ok(Self {
            detector: Mutex::new(det_session),
            det: det_file.manifest.clone(),
            rec: Recogniser {
                session: Mutex::new(rec_session),
                manifest: rec_file.manifest.clone(),
                alphabet,
            },
        })
    }

    /// "clp-det + ppocr-rec", for logs and events.
    pub fn models(&self) -> String {
        format!("{} + {}", self.det.id, self.rec.manifest.id)
    }

    /// Finds the plates inside `region` of `pic` (picture pixels) and reads each, best
    /// detection first. Coordinates in the result are picture pixels.
    pub fn read(&self, pic: &RgbView<'_>, region: BBox) -> Result<Vec<Found>, PlateError> {
        let plates = self.detect(pic, region)?;
        let mut out = Vec::with_capacity(plates.len());
        for plate in plates {
            let read = self.recognise(pic, &plate)?;
            out.push(Found { plate, read });
        }
        Ok(out)
    }

    /// Plates in `region`, in picture pixels, best first.
    pub fn detect(&self, pic: &RgbView<'_>, region: BBox) -> Result<Vec<PlateBox>, PlateError> {
        let x0 = region.x1.clamp(0.0, pic.width as f32);
        let y0 = region.y1.clamp(0.0, pic.height as f32);
        let x1 = region.x2.clamp(x0, pic.width as f32);
        let y1 = region.y2.clamp(y0, pic.height as f32);
        let (rw, rh) = (x1 - x0, y1 - y0);
        if rw < 8.0 || rh < 8.0 {
            return Ok(Vec::new());
        }
        let long = rw.max(rh);
        let scale = if long > DETECT_MAX_SIDE as f32 {
            DETECT_MAX_SIDE as f32 / long
        } else if long < DETECT_MIN_SIDE as f32 {
            (DETECT_MIN_SIDE as f32 / long).min(2.0)
        } else {
            1.0
        };
        let (iw, ih) = (
            ((rw * scale).round() as u32).max(8),
            ((rh * scale).round() as u32).max(8),
        );
        let (sx, sy) = (rw / iw as f32, rh / ih as f32);
        let to_pic = Homography([
            f64::from(sx),
            0.0,
            f64::from(x0),
            0.0,
            f64::from(sy),
            f64::from(y0),
            0.0,
            0.0,
            1.0,
        ]);
        let rgb = warp(pic, &to_pic, iw, ih);
        let m = &self.det;
        let mut input = Vec::new();
        input_tensor(&m.input, &rgb, &mut input, iw as usize, ih as usize);
        let run = |e: ort::Error| PlateError::Run {
            id: m.id.clone(),
            reason: e.to_string(),
        };
        let tensor =
            TensorRef::from_array_view((vec![1i64, 3, i64::from(ih), i64::from(iw)], &input[..]))
                .map_err(run)?;
        let mut session = self.detector.lock().unwrap_or_else(|e| e.into_inner());
        let outputs = session
            .run(ort::inputs![m.input.name.as_str() => tensor])
            .map_err(run)?;
        let get = |name: &str| -> Result<&[f32], PlateError> {
            outputs
                .get(name)
                .ok_or_else(|| PlateError::Run {
                    id: m.id.clone(),
                    reason: format!("output \"{name}\" missing"),
                })?
                .try_extract_tensor::<f32>()
                .map(|(_, d)| d)
                .map_err(run)
        };
        let priors = detect::priors(iw, ih, &m.output.strides, &m.output.anchor_sizes);
        let threshold = m.thresholds.get("default").copied().unwrap_or(0.5);
        let found = detect::decode(
            get(&m.output.names[0])?,
            get(&m.output.names[1])?,
            get(&m.output.names[2])?,
            &priors,
            [m.output.variance[0], m.output.variance[1]],
            iw,
            ih,
            threshold,
            m.output.nms_iou,
            m.output.max_detections,
        )
        .map_err(|e| PlateError::Run {
            id: m.id.clone(),
            reason: e.to_string(),
        })?;
        Ok(found
            .into_iter()
            .map(|p| p.map(|x, y| (x0 + x * sx, y0 + y * sy)))
            .collect())
    }

    /// Reads one plate whose corners are in picture pixels.
    pub fn recognise(
        &self,
        pic: &RgbView<'_>,
        plate: &PlateBox,
    ) -> Result<Option<PlateRead>, PlateError> {
        let (pw, ph) = (plate.width_px(), plate.height_px());
        if pw < 4.0 || ph < 2.0 {
            return Ok(None);
        }
        let Some(colour_px) = rectify(pic, plate, COLOUR_X, COLOUR_Y, 96, 30) else {
            return Ok(None);
        };
        let colour = colour::classify(&colour_px);
        let m = &self.rec.manifest;
        let (_, h, _) = m.input_chw();
        let h = h.max(8) as u32;
        // The physical plate is 3.1-3.4 times wider than high; the picture's ratio
        // only corrects what perspective did to it.
        let aspect = (pw / ph).clamp(2.6, 4.0);
        let band_aspect = aspect * (BAND_X.1 - BAND_X.0) / (BAND_Y.1 - BAND_Y.0);
        let w = ((h as f32 * band_aspect).round() as u32).max(h);
        let Some(band) = rectify(pic, plate, BAND_X, BAND_Y, w, h) else {
            return Ok(None);
        };
        let mut input = Vec::new();
        input_tensor(&m.input, &band, &mut input, w as usize, h as usize);
        let run = |e: ort::Error| PlateError::Run {
            id: m.id.clone(),
            reason: e.to_string(),
        };
        let tensor =
            TensorRef::from_array_view((vec![1i64, 3, i64::from(h), i64::from(w)], &input[..]))
                .map_err(run)?;
        let mut session = self.rec.session.lock().unwrap_or_else(|e| e.into_inner());
        let outputs = session
            .run(ort::inputs![m.input.name.as_str() => tensor])
            .map_err(run)?;
        let out = outputs
            .get(m.output.names[0].as_str())
            .ok_or_else(|| PlateError::Run {
                id: m.id.clone(),
                reason: format!("output \"{}\" missing", m.output.names[0]),
            })?;
        let (shape, probs) = out.try_extract_tensor::<f32>().map_err(run)?;
        let classes = shape.last().copied().unwrap_or(0).max(0) as usize;
        if classes < self.rec.alphabet.classes() {
            return Err(PlateError::Run {
                id: m.id.clone(),
                reason: format!(
                    "output has {classes} classes, the dictionary needs {}",
                    self.rec.alphabet.classes()
                ),
            });
        }
        let decoded = ctc::decode(probs, classes, &self.rec.alphabet, colour.plate_len());
        Ok(decoded.map(|d| PlateRead {
            text: d.text,
            confidence: d.confidence,
            min_char: d.min_char,
            colour,
            plate: *plate,
        }))
    }
}
