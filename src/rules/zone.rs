//! Zones: polygons drawn by a technician on the camera image, with the place data an
//! event must carry (location text, coordinates, grid code, asset id) and the rules
//! that apply inside them.
//!
//! Polygons are in normalised image coordinates (0..1), so a zone survives a change of
//! stream resolution. Rule *parameters* live here as configuration data only; the rule
//! engines that act on them live elsewhere.

use serde::{Deserialize, Serialize};

use super::object_filter::ObjectFilter;
use super::schedule::{Schedule, ScheduleError};
use crate::infer::{BBox, Category};

/// Vertices per polygon: enough for any street outline, small enough that the
/// O(n²) self-intersection check and per-detection containment tests stay cheap.
pub const MAX_POLYGON_POINTS: usize = 64;
/// Rules per zone.
pub const MAX_RULES_PER_ZONE: usize = 16;
/// Zones per camera.
pub const MAX_ZONES: usize = 64;
/// Characters (not bytes) of the location text (事发位置).
pub const MAX_LOCATION_CHARS: usize = 256;
/// Characters of a zone name.
pub const MAX_NAME_CHARS: usize = 64;

/// Points closer than this (in normalised units, ~0.002 px at 4K) to an edge count as
/// on it.
const EDGE_EPS: f64 = 1e-6;
/// Smallest accepted polygon area, as a fraction of the image.
const MIN_AREA: f64 = 1e-6;

/// Why a zone (or a list of zones) was refused. Messages name the zone and say what
/// to change, because a technician reads them in the web UI.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ZoneError {
    #[error("polygon has {count} points; a zone needs at least 3")]
    TooFewPoints { count: usize },
    #[error("polygon has {count} points; at most {MAX_POLYGON_POINTS} are allowed")]
    TooManyPoints { count: usize },
    #[error(
        "polygon point {index} ({x}, {y}) is outside the image; coordinates are fractions from 0 to 1"
    )]
    PointOutOfRange { index: usize, x: f32, y: f32 },
    #[error("polygon point {index} repeats the point before it")]
    RepeatedPoint { index: usize },
    #[error("polygon edges {a} and {b} cross or touch; draw the outline without crossing lines")]
    SelfIntersecting { a: usize, b: usize },
    #[error("polygon has no area (its points lie on one line)")]
    ZeroArea,
    #[error("zone id \"{id}\" is invalid; use 1-64 letters, digits, '-' or '_'")]
    BadId { id: String },
    #[error("zone name has {chars} characters; at most {MAX_NAME_CHARS} are allowed")]
    NameTooLong { chars: usize },
    #[error("location text has {chars} characters; at most {MAX_LOCATION_CHARS} are allowed")]
    LocationTooLong { chars: usize },
    #[error(
        "coordinates ({lon}, {lat}) are invalid; longitude must be within -180..180 and latitude within -90..90"
    )]
    BadCoordinates { lon: f64, lat: f64 },
    #[error("grid code \"{code}\" is invalid; it must be exactly 15 digits")]
    BadGridCode { code: String },
    #[error("asset id \"{id}\" is invalid; it must be exactly 17 digits")]
    BadAssetId { id: String },
    #[error("preset \"{token}\" is not a preset token; use the token the camera lists")]
    BadPreset { token: String },
    #[error("zone has {count} rules; at most {MAX_RULES_PER_ZONE} are allowed")]
    TooManyRules { count: usize },
    #[error("{rule} rule: `{field}` {reason}")]
    BadRule {
        rule: &'static str,
        field: &'static str,
        reason: &'static str,
    },
    #[error("object filter: `{field}` {reason}")]
    BadFilter {
        field: &'static str,
        reason: &'static str,
    },
    #[error(
        "{rule} rule: kind \"{kind}\" is invalid; use 1-64 lower-case letters, digits or '_' starting with a letter, e.g. \"street_vending\""
    )]
    BadKind { rule: &'static str, kind: String },
    #[error(
        "{rule} rule: kind \"{kind}\" is a built-in kind with its own rule; give this rule its own kind (e.g. \"non_motor_parking\", \"street_vending\")"
    )]
    BuiltInKind { rule: &'static str, kind: String },
    #[error(
        "{rule} rule: category pattern \"{pattern}\" is invalid; use e.g. \"vending.*\", \"object.umbrella\" or \"vehicle\""
    )]
    BadPattern { rule: &'static str, pattern: String },
    #[error("{rule} rule: {source}")]
    BadSchedule {
        rule: &'static str,
        #[source]
        source: ScheduleError,
    },
    #[error("zone \"{id}\": {source}")]
    InZone {
        id: String,
        #[source]
        source: Box<ZoneError>,
    },
    #[error("zone id \"{id}\" is used twice; ids must be unique per camera")]
    DuplicateId { id: String },
    #[error("{count} zones configured; at most {MAX_ZONES} are allowed per camera")]
    TooManyZones { count: usize },
}

/// A polygon in normalised image coordinates `[x, y]`, x to the right, y down.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Polygon(pub Vec<[f32; 2]>);

impl Polygon {
    pub fn points(&self) -> &[[f32; 2]] {
        &self.0
    }

    /// Checks: 3..=64 points, coordinates within 0..1, no repeated consecutive points,
    /// no crossing or touching edges, non-zero area.
    pub fn validate(&self) -> Result<(), ZoneError> {
        let p = &self.0;
        if p.len() < 3 {
            return Err(ZoneError::TooFewPoints { count: p.len() });
        }
        if p.len() > MAX_POLYGON_POINTS {
            return Err(ZoneError::TooManyPoints { count: p.len() });
        }
        for (index, &[x, y]) in p.iter().enumerate() {
            let ok = |v: f32| v.is_finite() && (0.0..=1.0).contains(&v);
            if !ok(x) || !ok(y) {
                return Err(ZoneError::PointOutOfRange { index, x, y });
            }
        }
        let n = p.len();
        for i in 0..n {
            if p[i] == p[(i + 1) % n] {
                return Err(ZoneError::RepeatedPoint { index: (i + 1) % n });
            }
        }
        let pt = |i: usize| to64(p[i % n]);
        for a in 0..n {
            for b in a + 1..n {
                let (a1, a2, b1, b2) = (pt(a), pt(a + 1), pt(b), pt(b + 1));
                let adjacent = b == a + 1 || (a == 0 && b == n - 1);
                let bad = if adjacent {
                    // Neighbours share a vertex; they only conflict if they fold back
                    // over each other.
                    let (shared, other_a, other_b) = if b == a + 1 {
                        (a2, a1, b2)
                    } else {
                        (a1, a2, b1)
                    };
                    folds_back(shared, other_a, other_b)
                } else {
                    segments_intersect(a1, a2, b1, b2)
                };
                if bad {
                    return Err(ZoneError::SelfIntersecting { a, b });
                }
            }
        }
        if self.area() < MIN_AREA {
            return Err(ZoneError::ZeroArea);
        }
        Ok(())
    }

    /// Area in image fractions (shoelace formula).
    pub fn area(&self) -> f64 {
        let p = &self.0;
        let n = p.len();
        let twice: f64 = (0..n)
            .map(|i| {
                let (a, b) = (to64(p[i]), to64(p[(i + 1) % n]));
                a.0 * b.1 - b.0 * a.1
            })
            .sum();
        twice.abs() / 2.0
    }

    /// Whether normalised point (`x`, `y`) is inside or on the boundary.
    pub fn contains(&self, x: f32, y: f32) -> bool {
        point_in_polygon(&self.0, x, y)
    }
}

fn to64(p: [f32; 2]) -> (f64, f64) {
    (f64::from(p[0]), f64::from(p[1]))
}

/// Cross product of `b - a` and `c - a`: > 0 left turn, < 0 right, 0 collinear.
fn orient(a: (f64, f64), b: (f64, f64), c: (f64, f64)) -> f64 {
    (b.0 - a.0) * (c.1 - a.1) - (b.1 - a.1) * (c.0 - a.0)
}

/// `p` (collinear with `a`–`b`) lies within the segment's bounding box.
fn within(a: (f64, f64), b: (f64, f64), p: (f64, f64)) -> bool {
    p.0 >= a.0.min(b.0) && p.0 <= a.0.max(b.0) && p.1 >= a.1.min(b.1) && p.1 <= a.1.max(b.1)
}

/// Closed segments `a1–a2` and `b1–b2` share at least one point.
fn segments_intersect(a1: (f64, f64), a2: (f64, f64), b1: (f64, f64), b2: (f64, f64)) -> bool {
    let d1 = orient(b1, b2, a1);
    let d2 = orient(b1, b2, a2);
    let d3 = orient(a1, a2, b1);
    let d4 = orient(a1, a2, b2);
    if ((d1 > 0.0 && d2 < 0.0) || (d1 < 0.0 && d2 > 0.0))
        && ((d3 > 0.0 && d4 < 0.0) || (d3 < 0.0 && d4 > 0.0))
    {
        return true;
    }
    (d1 == 0.0 && within(b1, b2, a1))
        || (d2 == 0.0 && within(b1, b2, a2))
        || (d3 == 0.0 && within(a1, a2, b1))
        || (d4 == 0.0 && within(a1, a2, b2))
}

/// Edges `shared–a` and `shared–b` are collinear and point the same way (a spike).
fn folds_back(shared: (f64, f64), a: (f64, f64), b: (f64, f64)) -> bool {
    let da = (a.0 - shared.0, a.1 - shared.1);
    let db = (b.0 - shared.0, b.1 - shared.1);
    orient(shared, a, b) == 0.0 && da.0 * db.0 + da.1 * db.1 > 0.0
}

/// Even-odd point-in-polygon test; points on (or within 1e-6 of) an edge count as
/// inside, so the answer for boundary points is fixed and does not depend on vertex
/// order. Works for concave polygons. Fewer than 3 points contain nothing.
pub fn point_in_polygon(points: &[[f32; 2]], x: f32, y: f32) -> bool {
    let n = points.len();
    if n < 3 || !x.is_finite() || !y.is_finite() {
        return false;
    }
    let p = (f64::from(x), f64::from(y));
    let mut inside = false;
    for i in 0..n {
        let a = to64(points[i]);
        let b = to64(points[(i + 1) % n]);
        if distance_to_segment(p, a, b) <= EDGE_EPS {
            return true;
        }
        // Half-open rule: an edge counts when it straddles the horizontal line through
        // p with one end strictly above; vertices on the line are counted once.
        if (a.1 > p.1) != (b.1 > p.1) {
            let x_cross = a.0 + (p.1 - a.1) * (b.0 - a.0) / (b.1 - a.1);
            if p.0 < x_cross {
                inside = !inside;
            }
        }
    }
    inside
}

fn distance_to_segment(p: (f64, f64), a: (f64, f64), b: (f64, f64)) -> f64 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    let t = if len2 == 0.0 {
        0.0
    } else {
        (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / len2).clamp(0.0, 1.0)
    };
    let (cx, cy) = (a.0 + t * dx, a.1 + t * dy);
    ((p.0 - cx).powi(2) + (p.1 - cy).powi(2)).sqrt()
}

/// The normalised point of a detection that decides which zone it is in: bottom-centre
/// for vehicles and persons (where they touch the road, so a tall truck's roof poking
/// over a kerb-side zone does not count), the centre for litter, road damage and
/// anything else (flat objects on the ground). Clamped to 0..1 because boxes may
/// overhang the frame.
pub fn anchor(category: &Category, bbox: &BBox, frame_w: u32, frame_h: u32) -> (f32, f32) {
    let (x, y) = if category.is_vehicle() || category.is_person() {
        bbox.bottom_center()
    } else {
        bbox.center()
    };
    let w = frame_w.max(1) as f32;
    let h = frame_h.max(1) as f32;
    let norm = |v: f32, s: f32| {
        if v.is_finite() {
            (v / s).clamp(0.0, 1.0)
        } else {
            0.0
        }
    };
    (norm(x, w), norm(y, h))
}

/// Geodetic datum of zone coordinates: China's CGCS2000 or GPS's WGS 84.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Crs {
    #[default]
    Cgcs2000,
    Wgs84,
}

/// Where the zone is on the map, for the event's coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoPoint {
    pub lon: f64,
    pub lat: f64,
    #[serde(default)]
    pub crs: Crs,
}

/// What is watched in a zone. Tagged by `type` in configuration, e.g.
/// `{ type = "no_parking", dwell_s = 300 }`. Omitted fields take the documented
/// defaults; an omitted `schedule` means always.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ZoneRule {
    /// Vehicles standing in the zone.
    NoParking {
        /// Seconds a vehicle must stand still before it is reported (default 180).
        #[serde(default = "default_dwell_s")]
        dwell_s: f64,
        /// Seconds between follow-up reports while it stays (default 300).
        #[serde(default = "default_update_every_s")]
        update_every_s: f64,
        /// Seconds without the vehicle before the case is closed (default 60), so a
        /// passing bus hiding it does not end the case.
        #[serde(default = "default_leave_after_s")]
        leave_after_s: f64,
        /// Seconds after a stay ends within which a new stay in this zone overlapping
        /// it continues the same case (`updated` with `repeat_count`) instead of
        /// opening a new one; 0 (the default) keeps every stay its own case.
        #[serde(default, skip_serializing_if = "is_zero")]
        merge_window_s: f64,
        /// Least seconds between the two wide shots of the photo set (first seen
        /// stationary, confirmation), GA/T 832's 间隔时间; confirmation waits for it
        /// when it exceeds the dwell. Unset: the dwell.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        evidence_interval_s: Option<f64>,
        #[serde(default, skip_serializing_if = "Schedule::is_always")]
        schedule: Schedule,
    },
    /// Litter lying in the zone.
    LitterWatch {
        /// Seconds litter must persist before it is reported (default 60), so a bag
        /// carried through the picture is not litter.
        #[serde(default = "default_persist_s")]
        persist_s: f64,
        /// Seconds without seeing it before it counts as cleaned up (default 120).
        #[serde(default = "default_gone_after_s")]
        gone_after_s: f64,
        /// As `no_parking`'s: 0 (the default) is off.
        #[serde(default, skip_serializing_if = "is_zero")]
        merge_window_s: f64,
        #[serde(default, skip_serializing_if = "Schedule::is_always")]
        schedule: Schedule,
    },
    /// Road damage (potholes, cracks) in the zone.
    RoadWatch {
        /// Separate observations needed before damage is reported (default 3).
        #[serde(default = "default_min_observations")]
        min_observations: u32,
        /// Seconds the observations must span (default 120), so one bad frame or a
        /// shadow cannot raise a case.
        #[serde(default = "default_min_span_s")]
        min_span_s: f64,
        /// Growth of the damaged area, as a fraction, that re-reports a known case
        /// (default 0.3).
        #[serde(default = "default_regrow_fraction")]
        regrow_fraction: f64,
        #[serde(default, skip_serializing_if = "Schedule::is_always")]
        schedule: Schedule,
    },
    /// Generic: any object whose category matches `categories` standing still in
    /// the zone for `dwell_s` (street vending, piled materials, bicycles…), one case
    /// per object with `started` / `updated` / `ended`, evidence as for parking.
    Dwell {
        /// The event kind (free id, e.g. `street_vending`); the code table maps it to
        /// the platform's code.
        kind: String,
        /// Category patterns: `vending.*`, `object.umbrella`, `vehicle` (and below).
        categories: Vec<String>,
        #[serde(default = "default_generic_dwell_s")]
        dwell_s: f64,
        #[serde(default = "default_update_every_s")]
        update_every_s: f64,
        /// Seconds without the object before the case is over (default 60).
        #[serde(default = "default_leave_after_s")]
        leave_after_s: f64,
        /// See `no_parking`; default [`DEFAULT_GENERIC_MERGE_S`].
        #[serde(default = "default_generic_merge_s")]
        merge_window_s: f64,
        #[serde(default, skip_serializing_if = "Schedule::is_always")]
        schedule: Schedule,
    },
    /// Generic: at least `min_count` matching objects in the zone for `for_s` (crowds,
    /// rows of parked bicycles); one case while the count holds.
    Count {
        kind: String,
        categories: Vec<String>,
        min_count: u32,
        #[serde(default = "default_count_for_s")]
        for_s: f64,
        /// Seconds below `min_count` before the case is over (default 20).
        #[serde(default = "default_clear_after_s")]
        clear_after_s: f64,
        #[serde(default = "default_update_every_s")]
        update_every_s: f64,
        /// Default [`DEFAULT_COUNT_MERGE_S`].
        #[serde(default = "default_count_merge_s")]
        merge_window_s: f64,
        #[serde(default, skip_serializing_if = "Schedule::is_always")]
        schedule: Schedule,
    },
    /// Generic: a matching object seen in the zone at all (for `min_s`, default 0)
    /// while the schedule is on; the case ends `leave_after_s` after it was last seen.
    Presence {
        kind: String,
        categories: Vec<String>,
        #[serde(default)]
        min_s: f64,
        #[serde(default = "default_leave_after_s")]
        leave_after_s: f64,
        #[serde(default = "default_update_every_s")]
        update_every_s: f64,
        /// Default [`DEFAULT_PRESENCE_MERGE_S`].
        #[serde(default = "default_presence_merge_s")]
        merge_window_s: f64,
        #[serde(default, skip_serializing_if = "Schedule::is_always")]
        schedule: Schedule,
    },
    /// Blacked out in evidence and never analysed.
    Privacy,
}

/// Default `merge_window_s` of `dwell` rules: a stall packed up and set out again
/// within 10 minutes is the same case (Huawei's event centre offers 1–1440 min).
pub const DEFAULT_GENERIC_MERGE_S: f64 = 600.0;
/// Default of `count` rules: a crowd that thins out for a few minutes is one case.
pub const DEFAULT_COUNT_MERGE_S: f64 = 300.0;
/// Default of `presence` rules: one case per hour of comings and goings.
pub const DEFAULT_PRESENCE_MERGE_S: f64 = 3600.0;
/// Largest `merge_window_s`: 1440 minutes, as platforms offer.
pub const MAX_MERGE_S: f64 = 86_400.0;
/// Category patterns per generic rule.
pub const MAX_PATTERNS: usize = 32;

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}
fn default_generic_dwell_s() -> f64 {
    60.0
}
fn default_generic_merge_s() -> f64 {
    DEFAULT_GENERIC_MERGE_S
}
fn default_count_merge_s() -> f64 {
    DEFAULT_COUNT_MERGE_S
}
fn default_presence_merge_s() -> f64 {
    DEFAULT_PRESENCE_MERGE_S
}
fn default_count_for_s() -> f64 {
    30.0
}
fn default_clear_after_s() -> f64 {
    20.0
}

/// Whether `category` matches a rule pattern: `*` (everything), `prefix.*` (below
/// `prefix`), or a category and everything below it (`vehicle` matches
/// `vehicle.bicycle`).
pub fn category_matches(pattern: &str, category: &Category) -> bool {
    if pattern == "*" {
        return true;
    }
    match pattern.strip_suffix(".*") {
        Some(prefix) => category.as_str().starts_with(&format!("{prefix}.")),
        None => category.is_under(pattern),
    }
}

fn valid_pattern(p: &str) -> bool {
    if p == "*" {
        return true;
    }
    let body = p.strip_suffix(".*").unwrap_or(p);
    !body.is_empty()
        && body.len() <= 128
        && body.split('.').all(|seg| {
            !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
}

fn default_dwell_s() -> f64 {
    180.0
}
fn default_update_every_s() -> f64 {
    300.0
}
fn default_leave_after_s() -> f64 {
    60.0
}
fn default_persist_s() -> f64 {
    60.0
}
fn default_gone_after_s() -> f64 {
    120.0
}
fn default_min_observations() -> u32 {
    3
}
fn default_min_span_s() -> f64 {
    120.0
}
fn default_regrow_fraction() -> f64 {
    0.3
}

impl ZoneRule {
    /// The `type` tag, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            ZoneRule::NoParking { .. } => "no_parking",
            ZoneRule::LitterWatch { .. } => "litter_watch",
            ZoneRule::RoadWatch { .. } => "road_watch",
            ZoneRule::Dwell { .. } => "dwell",
            ZoneRule::Count { .. } => "count",
            ZoneRule::Presence { .. } => "presence",
            ZoneRule::Privacy => "privacy",
        }
    }

    /// The event kind a generic rule reports (its `kind` id), `None` for the built-in
    /// rules and privacy.
    pub fn event_kind(&self) -> Option<&str> {
        match self {
            ZoneRule::Dwell { kind, .. }
            | ZoneRule::Count { kind, .. }
            | ZoneRule::Presence { kind, .. } => Some(kind),
            _ => None,
        }
    }

    /// The code-table rows the events of this rule are looked up by.
    pub fn code_keys(&self) -> Vec<&str> {
        match self {
            ZoneRule::NoParking { .. } => vec![
                crate::rules::category::MOTOR_VEHICLE_PARKING,
                crate::rules::category::NON_MOTOR_PARKING,
            ],
            ZoneRule::LitterWatch { .. } => vec!["exposed_garbage", "littering_act"],
            ZoneRule::RoadWatch { .. } => vec!["road_damage"],
            ZoneRule::Privacy => vec![],
            r => r.event_kind().into_iter().collect(),
        }
    }

    /// Seconds within which a new occurrence continues the last case (0: off).
    pub fn merge_window_s(&self) -> f64 {
        match self {
            ZoneRule::NoParking { merge_window_s, .. }
            | ZoneRule::LitterWatch { merge_window_s, .. }
            | ZoneRule::Dwell { merge_window_s, .. }
            | ZoneRule::Count { merge_window_s, .. }
            | ZoneRule::Presence { merge_window_s, .. } => *merge_window_s,
            ZoneRule::RoadWatch { .. } | ZoneRule::Privacy => 0.0,
        }
    }

    /// When the rule is in force; privacy always is.
    pub fn schedule(&self) -> Option<&Schedule> {
        match self {
            ZoneRule::NoParking { schedule, .. }
            | ZoneRule::LitterWatch { schedule, .. }
            | ZoneRule::RoadWatch { schedule, .. }
            | ZoneRule::Dwell { schedule, .. }
            | ZoneRule::Count { schedule, .. }
            | ZoneRule::Presence { schedule, .. } => Some(schedule),
            ZoneRule::Privacy => None,
        }
    }

    pub fn validate(&self) -> Result<(), ZoneError> {
        let rule = self.kind();
        let positive = |field: &'static str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(ZoneError::BadRule {
                    rule,
                    field,
                    reason: "must be a number of seconds > 0",
                })
            }
        };
        match self {
            ZoneRule::NoParking {
                dwell_s,
                update_every_s,
                leave_after_s,
                evidence_interval_s,
                ..
            } => {
                positive("dwell_s", *dwell_s)?;
                positive("update_every_s", *update_every_s)?;
                positive("leave_after_s", *leave_after_s)?;
                if let Some(i) = evidence_interval_s {
                    positive("evidence_interval_s", *i)?;
                }
            }
            ZoneRule::Dwell {
                dwell_s,
                update_every_s,
                leave_after_s,
                ..
            } => {
                positive("dwell_s", *dwell_s)?;
                positive("update_every_s", *update_every_s)?;
                positive("leave_after_s", *leave_after_s)?;
            }
            ZoneRule::Count {
                min_count,
                for_s,
                clear_after_s,
                update_every_s,
                ..
            } => {
                if *min_count == 0 || *min_count > 1000 {
                    return Err(ZoneError::BadRule {
                        rule,
                        field: "min_count",
                        reason: "must be from 1 to 1000",
                    });
                }
                positive("for_s", *for_s)?;
                positive("clear_after_s", *clear_after_s)?;
                positive("update_every_s", *update_every_s)?;
            }
            ZoneRule::Presence {
                min_s,
                leave_after_s,
                update_every_s,
                ..
            } => {
                if !(min_s.is_finite() && *min_s >= 0.0) {
                    return Err(ZoneError::BadRule {
                        rule,
                        field: "min_s",
                        reason: "must be a number of seconds >= 0",
                    });
                }
                positive("leave_after_s", *leave_after_s)?;
                positive("update_every_s", *update_every_s)?;
            }
            ZoneRule::LitterWatch {
                persist_s,
                gone_after_s,
                ..
            } => {
                positive("persist_s", *persist_s)?;
                positive("gone_after_s", *gone_after_s)?;
            }
            ZoneRule::RoadWatch {
                min_observations,
                min_span_s,
                regrow_fraction,
                ..
            } => {
                if *min_observations == 0 {
                    return Err(ZoneError::BadRule {
                        rule,
                        field: "min_observations",
                        reason: "must be at least 1",
                    });
                }
                if !(min_span_s.is_finite() && *min_span_s >= 0.0) {
                    return Err(ZoneError::BadRule {
                        rule,
                        field: "min_span_s",
                        reason: "must be a number of seconds >= 0",
                    });
                }
                if !(regrow_fraction.is_finite() && *regrow_fraction > 0.0) {
                    return Err(ZoneError::BadRule {
                        rule,
                        field: "regrow_fraction",
                        reason: "must be a fraction > 0 (0.3 = 30% larger)",
                    });
                }
            }
            ZoneRule::Privacy => {}
        }
        let m = self.merge_window_s();
        if !(m.is_finite() && (0.0..=MAX_MERGE_S).contains(&m)) {
            return Err(ZoneError::BadRule {
                rule,
                field: "merge_window_s",
                reason: "must be from 0 (off) to 86400 seconds (1440 minutes)",
            });
        }
        if let ZoneRule::Dwell {
            kind, categories, ..
        }
        | ZoneRule::Count {
            kind, categories, ..
        }
        | ZoneRule::Presence {
            kind, categories, ..
        } = self
        {
            match crate::rules::event::EventKind::named(kind) {
                Ok(k) if !k.is_custom() => {
                    return Err(ZoneError::BuiltInKind {
                        rule,
                        kind: kind.clone(),
                    });
                }
                Ok(_) => {}
                Err(_) => {
                    return Err(ZoneError::BadKind {
                        rule,
                        kind: kind.clone(),
                    });
                }
            }
            if categories.is_empty() || categories.len() > MAX_PATTERNS {
                return Err(ZoneError::BadRule {
                    rule,
                    field: "categories",
                    reason: "must list 1 to 32 category patterns, e.g. [\"vending.*\", \"object.umbrella\"]",
                });
            }
            if let Some(p) = categories.iter().find(|p| !valid_pattern(p)) {
                return Err(ZoneError::BadPattern {
                    rule,
                    pattern: p.clone(),
                });
            }
        }
        if let Some(s) = self.schedule() {
            s.validate()
                .map_err(|source| ZoneError::BadSchedule { rule, source })?;
        }
        Ok(())
    }
}

/// A zone on one camera's image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Zone {
    /// Short id unique per camera (letters, digits, `-`, `_`), used in events.
    pub id: String,
    /// Human name shown in the web UI.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub polygon: Polygon,
    /// Location text (事发位置) sent with events, at most 256 characters.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub location: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coordinates: Option<GeoPoint>,
    /// 15-digit urban-management grid code (网格编码).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grid_code: Option<String>,
    /// 17-digit asset id of the watched facility.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_id: Option<String>,
    /// PTZ cameras: the preset token this zone was drawn at; it is in force only
    /// while the camera is at that preset. Unset: the camera's home preset (or, on a
    /// camera without PTZ, always).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// Which detections count in this zone (score, size, classes); empty = all.
    #[serde(default, skip_serializing_if = "ObjectFilter::is_any")]
    pub filter: ObjectFilter,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<ZoneRule>,
}

impl Zone {
    /// Checks every field; errors name the zone.
    pub fn validate(&self) -> Result<(), ZoneError> {
        self.validate_fields().map_err(|e| ZoneError::InZone {
            id: self.id.clone(),
            source: Box::new(e),
        })
    }

    fn validate_fields(&self) -> Result<(), ZoneError> {
        let id_ok = !self.id.is_empty()
            && self.id.len() <= 64
            && self
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !id_ok {
            return Err(ZoneError::BadId {
                id: self.id.clone(),
            });
        }
        let chars = self.name.chars().count();
        if chars > MAX_NAME_CHARS {
            return Err(ZoneError::NameTooLong { chars });
        }
        self.polygon.validate()?;
        let chars = self.location.chars().count();
        if chars > MAX_LOCATION_CHARS {
            return Err(ZoneError::LocationTooLong { chars });
        }
        if let Some(GeoPoint { lon, lat, .. }) = self.coordinates {
            let ok = lon.is_finite()
                && lat.is_finite()
                && (-180.0..=180.0).contains(&lon)
                && (-90.0..=90.0).contains(&lat);
            if !ok {
                return Err(ZoneError::BadCoordinates { lon, lat });
            }
        }
        if let Some(code) = &self.grid_code
            && !all_digits(code, 15)
        {
            return Err(ZoneError::BadGridCode { code: code.clone() });
        }
        if let Some(id) = &self.asset_id
            && !all_digits(id, 17)
        {
            return Err(ZoneError::BadAssetId { id: id.clone() });
        }
        if let Some(t) = &self.preset
            && !crate::ingest::onvif::ptz::valid_token(t)
        {
            return Err(ZoneError::BadPreset { token: t.clone() });
        }
        self.filter.validate()?;
        if self.rules.len() > MAX_RULES_PER_ZONE {
            return Err(ZoneError::TooManyRules {
                count: self.rules.len(),
            });
        }
        self.rules.iter().try_for_each(ZoneRule::validate)
    }

    /// Whether normalised point (`x`, `y`) is in the zone (boundary included).
    pub fn contains(&self, x: f32, y: f32) -> bool {
        self.polygon.contains(x, y)
    }

    /// Whether a detection's anchor (see [`anchor`]) is in the zone.
    pub fn contains_box(
        &self,
        category: &Category,
        bbox: &BBox,
        frame_w: u32,
        frame_h: u32,
    ) -> bool {
        let (x, y) = anchor(category, bbox, frame_w, frame_h);
        self.contains(x, y)
    }

    /// True when the zone is a privacy zone.
    pub fn is_privacy(&self) -> bool {
        self.rules.iter().any(|r| matches!(r, ZoneRule::Privacy))
    }
}

fn all_digits(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit())
}

/// Validates a camera's zones: each zone, unique ids, and the zone cap.
pub fn validate_zones(zones: &[Zone]) -> Result<(), ZoneError> {
    if zones.len() > MAX_ZONES {
        return Err(ZoneError::TooManyZones { count: zones.len() });
    }
    for (i, z) in zones.iter().enumerate() {
        z.validate()?;
        if zones[..i].iter().any(|o| o.id == z.id) {
            return Err(ZoneError::DuplicateId { id: z.id.clone() });
        }
    }
    Ok(())
}

/// Where in a camera's `zones` list a problem is, relative to the list: `[1].polygon`,
/// `[0].rules[2].dwell_s`, or `` (empty) for the list itself (too many zones).
///
/// The web page puts the message next to the field it names, so a path that only
/// said `zones` would leave the technician guessing which of ten zones is wrong.
pub fn zone_problems(zones: &[Zone]) -> Vec<(String, ZoneError)> {
    let mut out = Vec::new();
    if zones.len() > MAX_ZONES {
        out.push((
            String::new(),
            ZoneError::TooManyZones { count: zones.len() },
        ));
    }
    for (i, z) in zones.iter().enumerate() {
        if let Err(e) = z.validate() {
            let field = field_of(z, &e);
            out.push((format!("[{i}].{field}"), e));
        } else if zones[..i].iter().any(|o| o.id == z.id) {
            out.push((
                format!("[{i}].id"),
                ZoneError::DuplicateId { id: z.id.clone() },
            ));
        }
    }
    out
}

/// The zone field (`polygon`, `rules[1].dwell_s`, …) a validation error is about.
fn field_of(zone: &Zone, e: &ZoneError) -> String {
    // Rule errors do not carry their index; the first rule that fails is the one.
    let failing_rule = || {
        zone.rules
            .iter()
            .position(|r| r.validate().is_err())
            .unwrap_or(0)
    };
    match e {
        ZoneError::InZone { source, .. } => field_of(zone, source),
        ZoneError::TooFewPoints { .. }
        | ZoneError::TooManyPoints { .. }
        | ZoneError::PointOutOfRange { .. }
        | ZoneError::RepeatedPoint { .. }
        | ZoneError::SelfIntersecting { .. }
        | ZoneError::ZeroArea => "polygon".into(),
        ZoneError::BadId { .. } | ZoneError::DuplicateId { .. } => "id".into(),
        ZoneError::NameTooLong { .. } => "name".into(),
        ZoneError::LocationTooLong { .. } => "location".into(),
        ZoneError::BadCoordinates { .. } => "coordinates".into(),
        ZoneError::BadGridCode { .. } => "grid_code".into(),
        ZoneError::BadAssetId { .. } => "asset_id".into(),
        ZoneError::BadPreset { .. } => "preset".into(),
        ZoneError::BadFilter { field, .. } => format!("filter.{field}"),
        ZoneError::TooManyRules { .. } | ZoneError::TooManyZones { .. } => "rules".into(),
        ZoneError::BadRule { field, .. } => format!("rules[{}].{field}", failing_rule()),
        ZoneError::BadSchedule { .. } => format!("rules[{}].schedule", failing_rule()),
        ZoneError::BadKind { .. } | ZoneError::BuiltInKind { .. } => {
            format!("rules[{}].kind", failing_rule())
        }
        ZoneError::BadPattern { .. } => format!("rules[{}].categories", failing_rule()),
    }
}

#[cfg(test)]
mod tests;
