//! The models a box runs, loaded once at startup. A model that fails to load does not
//! stop the daemon: it is kept as `Unavailable` with its reason, and the cameras that
//! use it report `model unavailable` while the others keep working.

use super::worker::InferenceService;
use crate::config::InferenceConfig;
use std::collections::BTreeMap;

/// One model's state.
pub enum ModelSlot {
    Ready(InferenceService),
    Unavailable { reason: String },
}

/// All models by id.
pub struct ModelRegistry {
    models: BTreeMap<String, ModelSlot>,
}

impl ModelRegistry {
    /// Load every id in `ids` (duplicates once); failures are logged and kept.
    pub fn load<'a>(cfg: &InferenceConfig, ids: impl IntoIterator<Item = &'a str>) -> Self {
        let mut r = Self {
            models: BTreeMap::new(),
        };
        r.ensure(cfg, ids);
        r
    }

    /// Load the ids not loaded yet (a reload may add a camera with a new model).
    pub fn ensure<'a>(&mut self, cfg: &InferenceConfig, ids: impl IntoIterator<Item = &'a str>) {
        let models = &mut self.models;
        for id in ids {
            if models.contains_key(id) {
                continue;
            }
            let slot = match InferenceService::for_model(cfg, id) {
                Ok(s) => ModelSlot::Ready(s),
                Err(e) => {
                    tracing::error!(model = id, error = %e, "model unavailable");
                    ModelSlot::Unavailable {
                        reason: e.to_string(),
                    }
                }
            };
            models.insert(id.to_string(), slot);
        }
    }

    /// Running services, for health and metrics.
    pub fn services(&self) -> impl Iterator<Item = &InferenceService> {
        self.models.values().filter_map(|m| match m {
            ModelSlot::Ready(s) => Some(s),
            ModelSlot::Unavailable { .. } => None,
        })
    }

    /// The running service of `id`, if it loaded.
    pub fn service(&self, id: &str) -> Option<&InferenceService> {
        match self.models.get(id) {
            Some(ModelSlot::Ready(s)) => Some(s),
            _ => None,
        }
    }

    /// What a camera using `id` reports: `None` when the model runs, otherwise
    /// `model unavailable: <reason>`.
    pub fn camera_status(&self, id: &str) -> Option<String> {
        match self.models.get(id) {
            Some(ModelSlot::Ready(_)) => None,
            Some(ModelSlot::Unavailable { reason }) => Some(format!("model unavailable: {reason}")),
            None => Some(format!("model unavailable: model \"{id}\" is not loaded")),
        }
    }
}
