//! What the daemon reports about its parts: health telemetry, the systemd status
//! line, the journal's status lines and the dashboard's camera list.

use super::Daemon;
use crate::ingest::CameraStatus;
use std::sync::atomic::Ordering;
use std::time::Instant;

impl Daemon {
    /// Refresh what health reports: per camera and per model.
    pub(super) fn update_telemetry(&self) {
        let scene = self.env.backend.scene_board();
        let cams = self
            .cameras
            .iter()
            .map(|(id, t)| {
                let st = &t.camera.shared.stats;
                let last = st.last_buffer_ms.load(Ordering::Relaxed);
                let status = t.camera.status();
                crate::uplink::CameraHealth {
                    id: id.clone(),
                    status: match t.model_problems().first() {
                        Some(p) => p.clone(),
                        None => status.to_string(),
                    },
                    fps: match status {
                        CameraStatus::Streaming { fps, .. } => fps,
                        _ => 0.0,
                    },
                    last_frame_age_s: (last > 0).then(|| {
                        crate::ingest::pipeline::now_ms().saturating_sub(last) as f64 / 1000.0
                    }),
                    dropped_frames: t.camera.frames().dropped(),
                    scene: scene_health(&scene, id),
                    streams: streams_health(&t.camera),
                }
            })
            .collect();
        *self.telemetry.cameras.lock().unwrap() = cams;
        let (models, loaded): (Vec<_>, Vec<_>) = self
            .models
            .services()
            .map(|svc| {
                let s = svc.stats();
                let manifest =
                    crate::infer::Manifest::load(&self.config.inference.models_dir, &s.model_id)
                        .ok();
                let version = manifest.as_ref().map(|m| m.version.clone());
                let info = crate::web::ModelInfo {
                    id: s.model_id.clone(),
                    version: version.clone().unwrap_or_default(),
                    sha256: manifest.map(|m| m.sha256).unwrap_or_default(),
                    execution_providers: svc.providers().to_vec(),
                };
                let health = crate::uplink::ModelHealth {
                    version: version.unwrap_or_default(),
                    id: s.model_id,
                    latency_p50_ms: s.latency_p50_ms,
                    latency_p95_ms: s.latency_p95_ms,
                };
                (health, info)
            })
            .unzip();
        *self.telemetry.models.lock().unwrap() = models;
        self.env.backend.set_models(loaded);
    }

    /// One line for systemd's STATUS=: how many cameras stream, and any event trouble.
    pub(super) fn update_summary(&self) {
        let total = self.cameras.len();
        let streaming = self
            .cameras
            .values()
            .filter(|t| matches!(t.camera.status(), CameraStatus::Streaming { .. }))
            .count();
        let mut s = format!("{streaming}/{total} cameras streaming");
        let waiting = self.sink.len();
        if waiting > 0 {
            s.push_str(&format!(", {waiting} events waiting for the outbox"));
        }
        let lost = self.sink.losses().total();
        if lost > 0 {
            s.push_str(&format!(", {lost} events lost"));
        }
        *self.summary.lock().unwrap() = s;
    }

    /// One line per camera, for the journal.
    pub fn log_status(&self) {
        // Frames the inference services replaced before analysing them (newest wins)
        // and results the analysis thread did not take in time, per camera.
        let mut infer: std::collections::HashMap<String, (u64, u64)> = Default::default();
        for svc in self.models.services() {
            for c in svc.stats().cameras {
                let e = infer.entry(c.camera_id).or_default();
                e.0 += c.dropped;
                e.1 += c.results_dropped;
            }
        }
        for (id, t) in &self.cameras {
            let st = &t.camera.shared.stats;
            let (infer_dropped, results_dropped) = infer.get(id).copied().unwrap_or_default();
            tracing::info!(
                camera = %id,
                status = %t.camera.status(),
                frames = st.frames_delivered.load(Ordering::Relaxed),
                dropped = t.camera.frames().dropped(),
                infer_dropped,
                results_dropped,
                analysed = t.counters.analysed.load(Ordering::Relaxed),
                detections = t.counters.detections.load(Ordering::Relaxed),
                reconnects = st.reconnects.load(Ordering::Relaxed),
                models = %if t.model_problems().is_empty() { "ok".to_string() } else { t.model_problems().join("; ") },
                "camera"
            );
        }
        let lost = self.sink.losses().total();
        if !self.sink.is_empty() || lost > 0 {
            tracing::warn!(
                waiting = self.sink.len(),
                capacity = self.sink.capacity(),
                lost,
                "decided events waiting for the outbox"
            );
        }
    }

    pub fn camera_statuses(&self) -> Vec<(String, crate::ingest::CameraStatus)> {
        self.cameras
            .iter()
            .map(|(id, t)| (id.clone(), t.camera.status()))
            .collect()
    }

    /// What the dashboard shows per camera.
    pub(super) fn publish_statuses(&mut self) {
        let now = Instant::now();
        self.env.backend.set_statuses(
            self.cameras
                .iter_mut()
                .map(|(id, t)| {
                    let analysed = t.counters.analysed.load(Ordering::Relaxed);
                    let gop = measured_gop(&t.camera);
                    crate::web::CameraRuntime {
                        id: id.clone(),
                        status: t.camera.status(),
                        frames: t
                            .camera
                            .shared
                            .stats
                            .frames_delivered
                            .load(Ordering::Relaxed),
                        dropped: t.camera.frames().dropped(),
                        reconnects: t.camera.shared.stats.reconnects.load(Ordering::Relaxed),
                        analysed,
                        analysis_fps: t.rate.update(now, analysed),
                        // ingest diagnosis (item 9): analysis far below the configured rate.
                        analysis_warning: t.camera.analysis_warning(analysed),
                        streams: t.camera.is_dual().then(|| t.camera.streams()),
                        gop_s: gop.0,
                        gop_frames: gop.1,
                    }
                })
                .collect(),
        );
    }
}

/// Each stream's state of a camera with two streams, for health.
fn streams_health(camera: &crate::ingest::Camera) -> Option<crate::uplink::StreamsHealth> {
    camera.is_dual().then(|| {
        let s = camera.streams();
        crate::uplink::StreamsHealth {
            main_stream_unavailable: s.main_stream_unavailable(),
            main: s.main.status.to_string(),
            analysis: s.analysis.map(|a| a.status.to_string()).unwrap_or_default(),
            pairing: s.pairing.map(|p| p.to_string()),
        }
    })
}

/// The camera's GOP as its ring measured it (seconds, frames), for the dashboard's
/// pre-roll warning. The ring lock is released before this returns.
fn measured_gop(camera: &crate::ingest::Camera) -> (Option<f64>, Option<usize>) {
    let ring = camera.shared.ring.lock().unwrap();
    (ring.gop_seconds(), ring.gop_frames())
}

/// A camera's scene for health: paused rules, tampering, PTZ preset and the box's own
/// moves (see `rules::scene::board`).
fn scene_health(
    board: &crate::rules::scene::board::SceneBoard,
    camera: &str,
) -> Option<crate::uplink::SceneHealth> {
    let status = board.status(camera)?;
    let ptz = board.ptz(camera).map(|h| h.status());
    Some(crate::uplink::SceneHealth {
        rules_paused: status.paused,
        tampering: status.tamper.active.iter().map(|k| k.to_string()).collect(),
        preset: match status.ptz {
            Some(crate::ingest::onvif::ptz::PtzPosition::At(p)) => Some(p),
            _ => None,
        },
        box_moves: ptz.as_ref().map(|p| p.box_moves),
        last_box_move: ptz
            .and_then(|p| p.last_box_move)
            .map(|m| format!("{} {} {:?}", m.time, m.preset, m.reason)),
    })
}
