//! One inference service per model, each built from its slice of `[inference]`.
//!
//! A reload rebuilds the services whose settings changed, starts the ones a camera now
//! needs, stops the ones no camera uses, and tries again every model that failed to
//! load (its weights may have been copied in since). Each (re)start gets a new
//! generation number, so cameras know when to bind to the new service.

use crate::config::InferenceConfig;
use crate::infer::worker::InferenceService;
use crate::notify::Liveness;
use std::collections::{BTreeMap, BTreeSet};

/// What a model's service is built from: `[inference]` without the runtime library
/// (loaded once per process, see [`library_changed`]).
pub fn slice(cfg: &InferenceConfig) -> InferenceConfig {
    InferenceConfig {
        library_path: None,
        ..cfg.clone()
    }
}

/// `inference.library_path` takes effect only at the next start: ONNX Runtime cannot
/// be unloaded or loaded twice in one process.
pub fn library_changed(old: &InferenceConfig, new: &InferenceConfig) -> bool {
    old.library_path != new.library_path
}

enum State {
    Ready {
        service: InferenceService,
        generation: u64,
    },
    Failed {
        reason: String,
    },
}

struct Entry {
    slice: InferenceConfig,
    state: State,
}

/// What one reconcile did to a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelChange {
    Started(String),
    Stopped(String),
    Failed { id: String, reason: String },
}

/// The running models by id.
#[derive(Default)]
pub struct Models {
    entries: BTreeMap<String, Entry>,
    next_generation: u64,
}

impl Models {
    /// Bring the services in line with `cfg` and the ids `needed` by enabled cameras.
    pub fn reconcile(
        &mut self,
        cfg: &InferenceConfig,
        needed: &BTreeSet<String>,
        liveness: &Liveness,
    ) -> Vec<ModelChange> {
        let mut out = Vec::new();
        let want = slice(cfg);
        let gone: Vec<String> = self
            .entries
            .keys()
            .filter(|id| !needed.contains(*id))
            .cloned()
            .collect();
        for id in gone {
            tracing::info!(model = %id, "no camera uses this model any more: stopping its service");
            self.entries.remove(&id);
            out.push(ModelChange::Stopped(id));
        }
        for id in needed {
            let keep = self
                .entries
                .get(id)
                .is_some_and(|e| e.slice == want && matches!(e.state, State::Ready { .. }));
            if keep {
                continue;
            }
            if let Some(old) = self.entries.remove(id) {
                // Stop first: two services of one model would hold twice the memory.
                drop(old);
            }
            let state = match InferenceService::for_model(&want, id) {
                Ok(service) => {
                    service.attach_liveness(liveness);
                    self.next_generation += 1;
                    tracing::info!(model = %id, "model service started");
                    out.push(ModelChange::Started(id.clone()));
                    State::Ready {
                        service,
                        generation: self.next_generation,
                    }
                }
                Err(e) => {
                    tracing::error!(model = %id, error = %e, "model unavailable");
                    out.push(ModelChange::Failed {
                        id: id.clone(),
                        reason: e.to_string(),
                    });
                    State::Failed {
                        reason: e.to_string(),
                    }
                }
            };
            self.entries.insert(
                id.clone(),
                Entry {
                    slice: want.clone(),
                    state,
                },
            );
        }
        out
    }

    /// The running service of `id` and its generation.
    pub fn service(&self, id: &str) -> Option<(&InferenceService, u64)> {
        match self.entries.get(id).map(|e| &e.state) {
            Some(State::Ready {
                service,
                generation,
            }) => Some((service, *generation)),
            _ => None,
        }
    }

    /// Generation of `id`'s service; 0 when it is not running.
    pub fn generation(&self, id: &str) -> u64 {
        self.service(id).map_or(0, |(_, g)| g)
    }

    /// What a camera using `id` reports: `None` when the model runs, otherwise
    /// `model unavailable: <reason>`.
    pub fn camera_status(&self, id: &str) -> Option<String> {
        match self.entries.get(id).map(|e| &e.state) {
            Some(State::Ready { .. }) => None,
            Some(State::Failed { reason }) => Some(format!("model unavailable: {reason}")),
            None => Some(format!("model unavailable: model \"{id}\" is not loaded")),
        }
    }

    /// Running services, for health and metrics.
    pub fn services(&self) -> impl Iterator<Item = &InferenceService> {
        self.entries.values().filter_map(|e| match &e.state {
            State::Ready { service, .. } => Some(service),
            State::Failed { .. } => None,
        })
    }

    /// Stop every service.
    pub fn shutdown(&mut self) {
        self.entries.clear();
    }
}
