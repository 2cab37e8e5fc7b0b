//! Scene integrity: is the camera still looking where its zones were drawn?
//!
//! * [`view`]: which zones are in force (a PTZ camera's preset, or the one view of a
//!   fixed camera), and when the rules pause (moving, away from every preset,
//!   tampering).
//! * [`tamper`]: moved / blocked / defocused / signal-lost alarms against a
//!   [`reference`] view, from at most a few downscaled grey pictures a second
//!   ([`grey`], [`features`]).
//! * [`appearance`]: what a parked vehicle looks like, to find it again on the next
//!   visit of a patrolling camera.
//! * [`script`]: a PTZ camera's positions over media time, for `replay`.

pub mod appearance;
pub mod board;
pub mod features;
pub mod grey;
pub mod reference;
pub mod script;
pub mod tamper;
pub mod view;
