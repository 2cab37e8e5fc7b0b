//! Model manifests (`models/<id>/model.toml`): everything the engine must know about a
//! model that the ONNX file itself does not say reliably (colour order, scaling, output
//! format, class-to-category mapping, thresholds). Code never hard-codes a model: a new
//! detector is a new manifest.

use super::detection::Category;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why a manifest could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("model \"{id}\": cannot read manifest {path}: {source}")]
    Read {
        id: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("model \"{id}\": manifest {path} is invalid: {message}")]
    Parse {
        id: String,
        path: PathBuf,
        message: String,
    },
    #[error("model \"{id}\": manifest is inconsistent: {message}")]
    Invalid { id: String, message: String },
}

/// A parsed, checked manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub id: String,
    pub version: String,
    /// Weight file name, looked up in `<weights_dir>/<id>/`.
    pub file: String,
    /// Lower-case hex sha256 of the weight file.
    pub sha256: String,
    /// Where the weights come from upstream.
    pub source: String,
    pub licence: String,
    /// Category prefix for classes missing from `categories` (`object` turns `kite` into
    /// `object.kite`); when absent such classes are dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unmapped: Option<String>,
    pub input: InputSpec,
    pub output: OutputSpec,
    pub classes: Classes,
    /// Model class name -> streetwatch category.
    #[serde(default)]
    pub categories: BTreeMap<String, String>,
    /// Category prefix (or `default`) -> minimum score.
    #[serde(default)]
    pub thresholds: BTreeMap<String, f32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Classes {
    /// Class names in output order (may be empty when `file` names them).
    #[serde(default)]
    pub names: Vec<String>,
    /// A symbol list shipped beside the weights, one symbol per line (a recogniser's
    /// dictionary): looked up in `<weights_dir>/<id>/`, checked against `file_sha256`
    /// and read into `names` when the model is opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_sha256: Option<String>,
    /// Key of the model's own metadata that lists the symbols, one per line (PaddleOCR
    /// exports carry their dictionary as `character`); read when a session opens. The
    /// weights' sha256 pins it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_key: Option<String>,
}

/// The single image input of a detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    pub name: String,
    /// Four dimensions in `layout` order; `-1` marks a dynamic batch.
    pub shape: [i64; 4],
    pub layout: Layout,
    pub colour: ColourOrder,
    pub range: PixelRange,
    #[serde(default = "zeros")]
    pub mean: [f32; 3],
    #[serde(default = "ones")]
    pub std: [f32; 3],
    /// Grey level of the letterbox border (0..255, before scaling).
    #[serde(default = "default_pad")]
    pub pad_value: u8,
    #[serde(default)]
    pub align: Align,
    /// Largest batch the shared worker forms from different cameras' frames. Only
    /// meaningful with a dynamic batch (`shape[0] = -1`); 1 runs frames back to back.
    #[serde(default = "one_batch")]
    pub max_batch: u32,
}

fn one_batch() -> u32 {
    1
}

fn zeros() -> [f32; 3] {
    [0.0; 3]
}
fn ones() -> [f32; 3] {
    [1.0; 3]
}
fn default_pad() -> u8 {
    114
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    Nchw,
    Nhwc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColourOrder {
    Rgb,
    Bgr,
}

/// Pixel scaling before mean/std: `value = (pixel * k - mean) / std` with k = 1 or 1/255.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PixelRange {
    #[serde(rename = "0..1")]
    Unit,
    #[serde(rename = "0..255")]
    Byte,
}

/// Where the resized image sits inside the letterbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Align {
    /// Padding right and bottom (YOLOX).
    TopLeft,
    /// Padding split evenly on both sides (Ultralytics).
    #[default]
    Center,
}

/// How the raw outputs are turned into boxes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    pub format: OutputFormat,
    /// Output tensor names; `end2end` expects `[boxes, scores, classes]`.
    pub names: Vec<String>,
    /// Head strides (`yolox` and `plate_corners`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub strides: Vec<u32>,
    /// Prior (anchor) sizes in input pixels, one list per stride (`plate_corners`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub anchor_sizes: Vec<Vec<f32>>,
    /// Centre and size variances of the box encoding (`plate_corners`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variance: Vec<f32>,
    /// IoU above which a lower-scoring box of the same class is suppressed.
    #[serde(default = "default_nms_iou")]
    pub nms_iou: f32,
    #[serde(default = "default_max_det")]
    pub max_detections: usize,
}

fn default_nms_iou() -> f32 {
    0.45
}
fn default_max_det() -> usize {
    300
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// Raw YOLOX head `[1, N, 5 + nc]`: grid offsets, log sizes, objectness, class scores.
    Yolox,
    /// Ultralytics YOLOv8/11 `[1, 4 + nc, N]`: cx, cy, w, h in input pixels, class scores.
    Ultralytics,
    /// Graph already ran NMS: `boxes [1, N, 4]` (x1, y1, x2, y2 input pixels),
    /// `scores [1, N]`, `classes [1, N]`.
    End2end,
    /// A licence-plate detector (RetinaFace-style, one class): `[loc, conf, landms]`,
    /// box and 4-corner offsets against priors. Not an object detector for cameras:
    /// the evidence side runs it on vehicle crops (`infer::plate`).
    #[serde(rename = "plate_corners")]
    PlateCorners,
    /// A text-line recogniser (CRNN): `[N, T, 1 + symbols (+ extras)]` per-step
    /// probabilities, CTC blank at index 0, symbols from `classes`.
    Ctc,
}

impl OutputFormat {
    /// Whether a camera can use the model as its object detector.
    pub fn is_detector(self) -> bool {
        matches!(self, Self::Yolox | Self::Ultralytics | Self::End2end)
    }
}

impl Manifest {
    /// Read `<models_dir>/<id>/model.toml` and check it.
    pub fn load(models_dir: &Path, id: &str) -> Result<Manifest, ManifestError> {
        let path = models_dir.join(id).join("model.toml");
        let text = std::fs::read_to_string(&path).map_err(|source| ManifestError::Read {
            id: id.into(),
            path: path.clone(),
            source,
        })?;
        let m = Self::parse(&text).map_err(|message| ManifestError::Parse {
            id: id.into(),
            path: path.clone(),
            message,
        })?;
        if m.id != id {
            return Err(ManifestError::Invalid {
                id: id.into(),
                message: format!(
                    "directory is \"{id}\" but the manifest says id = \"{}\"",
                    m.id
                ),
            });
        }
        m.check().map_err(|message| ManifestError::Invalid {
            id: id.into(),
            message,
        })?;
        Ok(m)
    }

    /// Parse manifest text (no consistency checks).
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let de = toml::Deserializer::parse(text).map_err(|e| e.to_string())?;
        serde_path_to_error::deserialize(de).map_err(|e| e.to_string())
    }

    /// Consistency checks that serde cannot express.
    pub fn check(&self) -> Result<(), String> {
        let nc = self.classes.names.len();
        if nc == 0 && self.classes.file.is_none() && self.classes.metadata_key.is_none() {
            return Err("classes.names is empty".into());
        }
        let hex64 = |s: &str| s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit());
        if !hex64(&self.sha256) {
            return Err(format!("sha256 \"{}\" is not 64 hex digits", self.sha256));
        }
        match (&self.classes.file, &self.classes.file_sha256) {
            (Some(_), Some(s)) if !hex64(s) => {
                return Err(format!("classes.file_sha256 \"{s}\" is not 64 hex digits"));
            }
            (Some(_), None) => return Err("classes.file needs classes.file_sha256".into()),
            (None, Some(_)) => return Err("classes.file_sha256 without classes.file".into()),
            _ => {}
        }
        let (c, h, w) = self.input_chw();
        // Plate models take any picture size (the detector) or any text-line width
        // (the recogniser): -1 marks a dynamic dimension there.
        let dynamic_ok = !self.output.format.is_detector();
        let dim_ok = |d: i64| d > 0 || (dynamic_ok && d == -1);
        if c != 3 || !dim_ok(h) || !dim_ok(w) {
            return Err(format!(
                "input.shape {:?} is not a 3-channel image",
                self.input.shape
            ));
        }
        for name in self.categories.keys() {
            if !self.classes.names.contains(name) {
                return Err(format!("categories maps unknown class \"{name}\""));
            }
        }
        if self.input.std.contains(&0.0) {
            return Err("input.std contains 0".into());
        }
        let want = match self.output.format {
            OutputFormat::Yolox | OutputFormat::Ultralytics | OutputFormat::Ctc => 1,
            OutputFormat::End2end | OutputFormat::PlateCorners => 3,
        };
        if self.output.names.len() != want {
            return Err(format!(
                "output.format {:?} needs {want} output name(s), got {}",
                self.output.format,
                self.output.names.len()
            ));
        }
        if self.output.format == OutputFormat::Yolox && self.output.strides.is_empty() {
            return Err("output.strides is required for the yolox format".into());
        }
        if self.output.format == OutputFormat::PlateCorners {
            if self.output.strides.is_empty()
                || self.output.anchor_sizes.len() != self.output.strides.len()
            {
                return Err(
                    "plate_corners needs output.strides and one output.anchor_sizes list per stride"
                        .into(),
                );
            }
            if self.output.variance.len() != 2 {
                return Err("plate_corners needs output.variance = [centre, size]".into());
            }
        }
        Ok(())
    }

    /// (channels, height, width) of the input, whatever the layout.
    pub fn input_chw(&self) -> (i64, i64, i64) {
        let s = self.input.shape;
        match self.input.layout {
            Layout::Nchw => (s[1], s[2], s[3]),
            Layout::Nhwc => (s[3], s[1], s[2]),
        }
    }

    /// The streetwatch category of class `class_id`, or `None` when the class is dropped.
    pub fn category_of(&self, class_id: usize) -> Option<Category> {
        let name = self.classes.names.get(class_id)?;
        if let Some(c) = self.categories.get(name) {
            return Some(Category::new(c));
        }
        let prefix = self.unmapped.as_ref()?;
        let slug: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        Some(Category::new(&format!("{prefix}.{slug}")))
    }

    /// Minimum score for `category`: the longest matching prefix in `thresholds`, else
    /// `default`, else 0.25.
    pub fn threshold_for(&self, category: &Category) -> f32 {
        let mut best: Option<(usize, f32)> = None;
        for (prefix, &t) in &self.thresholds {
            if prefix != "default"
                && category.is_under(prefix)
                && best.is_none_or(|(len, _)| prefix.len() > len)
            {
                best = Some((prefix.len(), t));
            }
        }
        best.map(|(_, t)| t)
            .or_else(|| self.thresholds.get("default").copied())
            .unwrap_or(0.25)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped(id: &str) -> Manifest {
        Manifest::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models"), id).unwrap()
    }

    #[test]
    fn shipped_manifests_load_and_map_street_categories() {
        let y = shipped("yolox-nano");
        assert_eq!(y.classes.names.len(), 80);
        assert_eq!(y.category_of(2).unwrap().as_str(), "vehicle.car");
        assert_eq!(y.category_of(67).unwrap().as_str(), "object.cell_phone");
        let r = shipped("rdd-yolo11n");
        assert_eq!(r.category_of(4).unwrap().as_str(), "road_damage.pothole");
        assert_eq!(
            r.category_of(6).unwrap().as_str(),
            "road_damage.crack.transverse"
        );
    }

    #[test]
    fn threshold_uses_longest_matching_prefix_then_default() {
        let mut m = shipped("yolox-nano");
        m.thresholds.insert("vehicle.car".into(), 0.6);
        assert_eq!(m.threshold_for(&Category::new("vehicle.car")), 0.6);
        assert_eq!(m.threshold_for(&Category::new("vehicle.bus")), 0.35);
        assert_eq!(m.threshold_for(&Category::new("animal.dog")), 0.3);
    }

    #[test]
    fn unknown_field_and_bad_output_count_are_rejected() {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("models/yolox-nano/model.toml"),
        )
        .unwrap();
        let err = Manifest::parse(&format!("colour_space = \"x\"\n{text}")).unwrap_err();
        assert!(err.contains("colour_space"), "{err}");
        let mut m = Manifest::parse(&text).unwrap();
        m.output.format = OutputFormat::End2end;
        assert!(m.check().unwrap_err().contains("needs 3 output"));
    }
}
