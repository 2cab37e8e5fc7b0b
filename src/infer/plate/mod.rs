//! Chinese licence plates: find the plate on a vehicle, rectify it with its four
//! corners, read it.
//!
//! Runs on the evidence side, on full-resolution pictures decoded from the camera's
//! encoded ring (the main stream), never on the analysis frames: a plate that is 100 px
//! wide in a 1920x1080 picture is a few pixels in a 640x360 substream. Modules:
//! [`detect`] (the corner detector's output), [`warp`] (homography and rectification),
//! [`colour`] (plate colour), [`ctc`] (decoding constrained to the plate layout),
//! [`syntax`] (what a plate number looks like), [`reader`] (the sessions and the steps).
//! The evidence policy (when to read, how many reads agree, how small is too small)
//! is `crate::evidence::plate`.

pub mod colour;
pub mod ctc;
pub mod detect;
pub mod reader;
pub mod syntax;
pub mod warp;

pub use colour::PlateColour;
pub use detect::PlateBox;
pub use reader::{Found, PlateError, PlateRead, PlateReader};
pub use warp::RgbView;
