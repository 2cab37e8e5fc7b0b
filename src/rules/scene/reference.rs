//! Reference views: what a camera (or a PTZ camera at one preset) should look like. A
//! small grey picture, its feature points and its texture map. The technician sets or
//! refreshes one on the page; until then the first steady picture of a view becomes
//! its reference automatically, so tampering checks run on every camera from the
//! start.
//!
//! On disk (daemon only): `<state_dir>/scene/<camera>/<view>.png` (the grey picture)
//! and `<view>.json` (when and how it was set). Feature points and the texture map are
//! computed again from the picture when it is loaded, so the files stay small and
//! always agree with the code that reads them.

use super::features::{Keypoint, keypoints};
use super::grey::{Grey, Texture};
use crate::ingest::MediaTime;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The view a reference belongs to: `fixed` for a camera without PTZ, else the preset
/// token. Tokens are camera-chosen text, so file names use a sanitised form.
pub fn file_stem(view: &str) -> String {
    let clean: String = view
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    // Different tokens that sanitise alike must not share a file.
    let h = view.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    format!("view-{clean}-{:08x}", h as u32)
}

/// How a reference came to be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceMeta {
    pub view: String,
    /// Media time of the picture (ns since the epoch).
    pub media_ns: i64,
    /// Set automatically from the first steady picture (false: by the technician).
    pub auto: bool,
    pub width: u32,
    pub height: u32,
    /// Sharpness of the full frame (see [`super::grey::sharpness`]): the reduced
    /// picture no longer holds the detail it measures.
    pub sharpness: f32,
    /// Grid cells (row-major index) whose texture in this picture was something passing
    /// through (see `tamper::SETTLE_SAMPLES`): not counted for `blocked`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transient_cells: Vec<u16>,
}

/// A reference view, ready to compare against.
#[derive(Debug, Clone)]
pub struct Reference {
    pub meta: ReferenceMeta,
    pub grey: Grey,
    pub points: Vec<Keypoint>,
    pub texture: Texture,
}

impl Reference {
    pub fn new(view: &str, grey: Grey, sharpness: f32, at: MediaTime, auto: bool) -> Reference {
        let points = keypoints(&grey.stretched(), &grey.blurred());
        let texture = Texture::of(&grey);
        Reference {
            meta: ReferenceMeta {
                view: view.to_string(),
                media_ns: at.0,
                auto,
                width: grey.width,
                height: grey.height,
                sharpness,
                transient_cells: Vec::new(),
            },
            grey,
            points,
            texture,
        }
    }

    /// A reference from a picture already prepared for checking.
    pub fn from_prepared(
        view: &str,
        p: &super::tamper::Prepared,
        at: MediaTime,
        auto: bool,
    ) -> Reference {
        Reference {
            meta: ReferenceMeta {
                view: view.to_string(),
                media_ns: at.0,
                auto,
                width: p.grey.width,
                height: p.grey.height,
                sharpness: p.sharpness,
                transient_cells: Vec::new(),
            },
            grey: p.grey.clone(),
            points: p.points.clone(),
            texture: p.texture.clone(),
        }
    }

    pub fn set_at(&self) -> MediaTime {
        MediaTime(self.meta.media_ns)
    }
}

/// Why a reference could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    #[error("reference view {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("reference view {0}: not a grey PNG with its description")]
    Corrupt(PathBuf),
}

/// Where one camera's references live (None: kept in memory only, as in `replay`).
#[derive(Debug, Clone)]
pub struct ReferenceStore {
    dir: Option<PathBuf>,
}

impl ReferenceStore {
    pub fn in_memory() -> Self {
        Self { dir: None }
    }

    /// `<state_dir>/scene/<camera>/`.
    pub fn on_disk(state_dir: &Path, camera: &str) -> Self {
        Self {
            dir: Some(state_dir.join("scene").join(camera)),
        }
    }

    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The stored reference of `view`; None when there is none (or it is unreadable,
    /// which is logged: a new one is then taken automatically).
    pub fn load(&self, view: &str) -> Option<Reference> {
        let dir = self.dir.as_ref()?;
        let stem = file_stem(view);
        let png = dir.join(format!("{stem}.png"));
        let json = dir.join(format!("{stem}.json"));
        let read = || -> Result<Option<Reference>, ReferenceError> {
            let bytes = match std::fs::read(&png) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(source) => {
                    return Err(ReferenceError::Io {
                        path: png.clone(),
                        source,
                    });
                }
            };
            let meta: ReferenceMeta = std::fs::read(&json)
                .ok()
                .and_then(|t| serde_json::from_slice(&t).ok())
                .ok_or_else(|| ReferenceError::Corrupt(json.clone()))?;
            let grey =
                Grey::from_png(&bytes).ok_or_else(|| ReferenceError::Corrupt(png.clone()))?;
            let mut r = Reference::new(
                view,
                grey,
                meta.sharpness,
                MediaTime(meta.media_ns),
                meta.auto,
            );
            r.meta = meta;
            Ok(Some(r))
        };
        match read() {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "scene: stored reference view unreadable; a new one will be taken");
                None
            }
        }
    }

    /// Stores `r` atomically (picture first, then its description).
    pub fn save(&self, r: &Reference) -> Result<(), ReferenceError> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ReferenceError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let stem = file_stem(&r.meta.view);
        let png = r
            .grey
            .to_png()
            .ok_or_else(|| ReferenceError::Corrupt(dir.clone()))?;
        write_atomic(&dir.join(format!("{stem}.png")), &png)?;
        let json = serde_json::to_vec_pretty(&r.meta).unwrap_or_default();
        write_atomic(&dir.join(format!("{stem}.json")), &json)
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ReferenceError> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let io = |source| ReferenceError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_survives_a_round_trip_through_the_state_dir() {
        let dir = tempfile::tempdir().unwrap();
        let store = ReferenceStore::on_disk(dir.path(), "cam");
        assert!(store.load("fixed").is_none());
        let g = crate::rules::scene::features::tests_support::scene(384, 216);
        let r = Reference::new("fixed", g.clone(), 1.5, MediaTime(42), false);
        store.save(&r).unwrap();
        let back = store.load("fixed").unwrap();
        assert_eq!(back.grey, g);
        assert_eq!(back.meta, r.meta);
        assert_eq!(back.points.len(), r.points.len());
        // Another view is another file, also for tokens that sanitise alike.
        assert!(store.load("fixed ").is_none());
        assert_ne!(file_stem("a/b"), file_stem("a_b"));
    }
}
