//! Scene integrity: is the camera still looking where its zones were drawn?
//!
//! * [`tamper`]: moved / blocked / defocused / signal-lost alarms against a
//!   [`reference`] view, from a few downscaled grey pictures a second
//!   ([`grey`], [`features`]).

pub mod features;
pub mod grey;
pub mod reference;
pub mod tamper;
