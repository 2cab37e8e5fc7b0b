//! Where each camera's analysis thread publishes its scene (PTZ position, whether the
//! rules run, tampering state, reference picture) for the page, and where the page
//! leaves its requests (a new reference view) and finds the camera's PTZ controller.
//! The page never touches the analysis state itself.

use crate::ingest::onvif::ptz_control::PtzHandle;
use crate::rules::engine::SceneStatus;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Entry {
    status: Option<SceneStatus>,
    /// The current view's reference picture (view, grey PNG).
    reference: Option<(String, Arc<Vec<u8>>)>,
    reference_requested: bool,
    ptz: Option<Arc<PtzHandle>>,
}

/// The scene of every running camera.
#[derive(Default)]
pub struct SceneBoard {
    cams: Mutex<HashMap<String, Entry>>,
}

impl SceneBoard {
    /// The analysis thread's latest status of `camera`.
    pub fn publish(&self, camera: &str, status: SceneStatus) {
        self.cams
            .lock()
            .unwrap()
            .entry(camera.to_string())
            .or_default()
            .status = Some(status);
    }

    /// The reference picture of the view `camera` is at (None: none yet).
    pub fn set_reference(&self, camera: &str, reference: Option<(String, Vec<u8>)>) {
        self.cams
            .lock()
            .unwrap()
            .entry(camera.to_string())
            .or_default()
            .reference = reference.map(|(v, p)| (v, Arc::new(p)));
    }

    pub fn reference(&self, camera: &str) -> Option<(String, Arc<Vec<u8>>)> {
        self.cams.lock().unwrap().get(camera)?.reference.clone()
    }

    pub fn status(&self, camera: &str) -> Option<SceneStatus> {
        self.cams.lock().unwrap().get(camera)?.status.clone()
    }

    /// Asks `camera`'s analysis to take its next checked picture as the reference;
    /// false when the camera does not run.
    pub fn request_reference(&self, camera: &str) -> bool {
        match self.cams.lock().unwrap().get_mut(camera) {
            Some(e) if e.status.is_some() => {
                e.reference_requested = true;
                true
            }
            _ => false,
        }
    }

    /// Whether the page asked for a new reference since the last call.
    pub fn take_reference_request(&self, camera: &str) -> bool {
        self.cams
            .lock()
            .unwrap()
            .get_mut(camera)
            .is_some_and(|e| std::mem::take(&mut e.reference_requested))
    }

    pub fn set_ptz(&self, camera: &str, ptz: Option<Arc<PtzHandle>>) {
        self.cams
            .lock()
            .unwrap()
            .entry(camera.to_string())
            .or_default()
            .ptz = ptz;
    }

    pub fn ptz(&self, camera: &str) -> Option<Arc<PtzHandle>> {
        self.cams.lock().unwrap().get(camera)?.ptz.clone()
    }

    /// A stopped camera leaves the board.
    pub fn forget(&self, camera: &str) {
        self.cams.lock().unwrap().remove(camera);
    }
}
