//! Zone-based rules: where (zones), when (schedules) and what must never be analysed
//! (privacy), the rule engines built on them (illegal parking, littering, road damage)
//! and the per-camera façade that turns their outputs into [`event::Event`]s.

pub mod category;
pub mod engine;
pub mod event;
pub mod generic;
pub mod illegal_parking;
pub mod littering;
pub mod object_filter;
pub mod output;
pub mod privacy;
pub mod rate;
pub mod road_damage;
pub mod road_registry;
pub mod scene;
pub mod schedule;
pub mod stays;
pub mod zone;
pub use engine::{
    CameraContext, CameraEvents, EngineError, EventsConfig, EvidenceRequest, FrameOutput,
};
