//! Zone-based rules: where (zones), when (schedules) and what must never be analysed
//! (privacy). The rule engines themselves build on these pieces.

pub mod event;
pub mod privacy;
pub mod schedule;
pub mod zone;
