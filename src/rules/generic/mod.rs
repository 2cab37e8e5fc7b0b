//! Generic rules an integrator configures per zone without code: `dwell` (an object
//! of some categories standing in the zone for long enough), `presence` (seen at all)
//! and `count` (at least N of them). Each rule names its event kind (a free id such
//! as `street_vending`); the code table maps that kind to the platform's code.
//!
//! They reuse the tracker's stationary memory, so a stall hidden by a passing bus is
//! still one case, and produce the same phases and evidence as the built-in rules.

pub mod count;
pub mod dwell;

pub use count::GenericCount;
pub use dwell::GenericDwell;

use crate::infer::Category;
use crate::rules::event::EventKind;
use crate::rules::zone::category_matches;

/// The kind and category patterns a generic rule was configured with.
#[derive(Debug, Clone, PartialEq)]
pub struct Matcher {
    pub kind: EventKind,
    pub patterns: Vec<String>,
}

impl Matcher {
    /// None when `kind` is not a valid id (zone validation refuses such a rule first).
    pub fn new(kind: &str, patterns: &[String]) -> Option<Self> {
        Some(Self {
            kind: EventKind::named(kind).ok()?,
            patterns: patterns.to_vec(),
        })
    }

    pub fn matches(&self, c: &Category) -> bool {
        self.patterns.iter().any(|p| category_matches(p, c))
    }
}
