//! Tampering and scene-change alarms (`camera_tampering`): a camera moved, blocked,
//! defocused, or without a signal.
//!
//! At most `check_fps` pictures a second (default 1) are reduced to a small grey
//! picture and compared with the view's reference (see [`super::reference`]):
//!
//! * **moved**: feature points matched against the reference and a similarity
//!   (shift, rotation, zoom) fitted by RANSAC. Moved when the fit moves some point of
//!   the picture by more than `moved_fraction` of its width, the fit explains at least
//!   twice as many matches as "not moved" does, and the same transform holds for
//!   `persist_s`. Traffic is ignored because moving objects do not agree on one
//!   transform with the static background, and they never hold one for seconds.
//! * **blocked**: the share of the reference's textured cells (of an 8×6 grid) that
//!   both lost their structure (correlation with the reference below 0.3) and their
//!   texture (spread below half the reference's, scaled by the change in overall
//!   brightness); or no light and no texture anywhere (a capped lens). Correlation and
//!   the brightness scaling are what keep dusk, IR mode and auto exposure out: a darker
//!   picture keeps its structure and has proportionally less spread, a card has
//!   neither.
//! * **defocused**: sharpness (variance of the Laplacian over variance of the level,
//!   at full resolution, unaffected by gain) below `defocus_ratio` of the reference's.
//! * **signal lost**: no picture for `signal_lost_s` (the daemon asks on idle).
//!
//! A condition starts (`started`, with a picture from before it began and one from
//! now) after `persist_s` of evidence and ends (`ended`, with a picture of now) after
//! `clear_s` of positive evidence of the normal view. Checks that can tell nothing
//! (too few points, a dark picture for the sharpness test) neither confirm nor clear.

use super::features::{self, Fit, Keypoint, Similarity};
use super::grey::{CELLS_X, CELLS_Y, Grey, Texture, cell_correlation, sharpness, sharpness_luma};
use super::reference::{Reference, ReferenceStore};
use crate::infer::{BBox, Category};
use crate::ingest::{Frame, MediaTime, PixelFormat};
use crate::rules::event::{EndReason, EventKind, Phase};
use crate::rules::output::{
    CaptureRequest, EpisodeKey, KeySource, OpenEpisode, PhaseOutput, RuleOutput, SubjectInfo,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Tampering checks at most `check_fps` pictures a second and reports conditions that
/// last `persist_s` (10 s); signal loss has its own timer. Keyframes at any GOP serve
/// it, so tampering alone never makes a camera decode more.
pub const ANALYSIS_NEED: crate::rules::rate::RateNeed = crate::rules::rate::RateNeed::Keyframes {
    max_gap_s: f64::INFINITY,
};

/// `[cameras.tamper]`: tampering checks of one camera (on by default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TamperConfig {
    /// Run the checks (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Pictures checked per second at most (default 1).
    #[serde(default = "default_check_fps")]
    pub check_fps: f64,
    /// Seconds a condition must hold before it is reported (default 10, see
    /// [`Self::persist_s`]). A value written here must stay below the camera's
    /// pre-roll minus 3 s, so the "before" picture is still in the ring; left out, it
    /// shortens to fit (see [`Self::fitted`]). `None` tells "left out" from an
    /// explicit 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persist_s: Option<f64>,
    /// Seconds of normal pictures that end a reported condition (default 5).
    #[serde(default = "default_clear_s")]
    pub clear_s: f64,
    /// Largest displacement of any point of the picture, as a fraction of its width,
    /// that counts as moved (default 0.03: 3 %, e.g. a 2° turn or a 5 % zoom).
    #[serde(default = "default_moved_fraction")]
    pub moved_fraction: f64,
    /// Share of the reference's textured cells that must lose their structure to
    /// count as blocked (default 0.4: a card over 60 % of the sample videos covers
    /// 52–72 % of their textured cells, their own pictures at most 28 %).
    #[serde(default = "default_blocked_fraction")]
    pub blocked_fraction: f64,
    /// Sharpness below this fraction of the reference's counts as defocused
    /// (default 0.2; the sample videos' own pictures stay above 0.34 of their first
    /// frame's, a 1.5-pixel Gaussian blur brings them to 0.02–0.17).
    #[serde(default = "default_defocus_ratio")]
    pub defocus_ratio: f64,
    /// Seconds without any picture that count as signal lost (default 30).
    #[serde(default = "default_signal_lost_s")]
    pub signal_lost_s: f64,
    /// Seconds a view must be steady before its first picture becomes its reference
    /// automatically, when none was set (default 5).
    #[serde(default = "default_reference_after_s")]
    pub reference_after_s: f64,
}

fn yes() -> bool {
    true
}
fn default_check_fps() -> f64 {
    1.0
}
fn default_persist_s() -> f64 {
    10.0
}
fn default_clear_s() -> f64 {
    5.0
}
fn default_moved_fraction() -> f64 {
    0.03
}
fn default_blocked_fraction() -> f64 {
    0.4
}
fn default_defocus_ratio() -> f64 {
    0.2
}
fn default_signal_lost_s() -> f64 {
    30.0
}
fn default_reference_after_s() -> f64 {
    5.0
}

impl Default for TamperConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            check_fps: default_check_fps(),
            persist_s: None,
            clear_s: default_clear_s(),
            moved_fraction: default_moved_fraction(),
            blocked_fraction: default_blocked_fraction(),
            defocus_ratio: default_defocus_ratio(),
            signal_lost_s: default_signal_lost_s(),
            reference_after_s: default_reference_after_s(),
        }
    }
}

impl TamperConfig {
    /// Problems as (key below `tamper.`, message, hint).
    pub fn problems(&self, preroll_s: f64) -> Vec<(&'static str, String, &'static str)> {
        let mut out = Vec::new();
        let mut range = |key, v: f64, lo: f64, hi: f64, hint| {
            if !(v.is_finite() && v > lo && v <= hi) {
                out.push((key, format!("{v} is out of range"), hint));
            }
        };
        range(
            "check_fps",
            self.check_fps,
            0.0,
            10.0,
            "use more than 0 and at most 10 checks a second",
        );
        range(
            "persist_s",
            self.persist_s(),
            0.0,
            600.0,
            "use more than 0 and at most 600 seconds",
        );
        range(
            "clear_s",
            self.clear_s,
            0.0,
            600.0,
            "use more than 0 and at most 600 seconds",
        );
        range(
            "moved_fraction",
            self.moved_fraction,
            0.005,
            0.5,
            "use a fraction of the picture width above 0.005 and at most 0.5, e.g. 0.03",
        );
        range(
            "blocked_fraction",
            self.blocked_fraction,
            0.05,
            1.0,
            "use a fraction above 0.05 and at most 1, e.g. 0.5",
        );
        range(
            "defocus_ratio",
            self.defocus_ratio,
            0.0,
            0.95,
            "use a fraction above 0 and at most 0.95, e.g. 0.5",
        );
        range(
            "signal_lost_s",
            self.signal_lost_s,
            0.0,
            3600.0,
            "use more than 0 and at most 3600 seconds",
        );
        range(
            "reference_after_s",
            self.reference_after_s,
            0.0,
            3600.0,
            "use more than 0 and at most 3600 seconds",
        );
        // The default adapts to a short pre-roll (see `fitted`); a value the
        // technician chose that cannot fit is refused.
        if let Some(chosen) = self.persist_s.filter(|v| v.is_finite())
            && !self.fits(preroll_s)
        {
            out.push((
                "persist_s",
                format!(
                    "{chosen} s plus 3 s does not fit in the camera's {preroll_s} s pre-roll, so the picture from before the tampering would be gone"
                ),
                "lower persist_s or raise preroll.seconds",
            ));
        }
        out
    }
}

/// Seconds of pre-roll a tampering event needs besides `persist_s`: the "before"
/// picture ([`BEFORE_S`] before the condition began) and a second of slack.
const PREROLL_MARGIN_S: f64 = BEFORE_S + 1.0;

impl TamperConfig {
    /// Seconds a condition must hold before it is reported.
    pub fn persist_s(&self) -> f64 {
        self.persist_s.unwrap_or_else(default_persist_s)
    }

    /// Whether `persist_s` leaves the "before" picture inside a `preroll_s` ring.
    fn fits(&self, preroll_s: f64) -> bool {
        self.persist_s() + PREROLL_MARGIN_S <= preroll_s
    }

    /// This config for a camera whose pre-roll holds `preroll_s` seconds: the default
    /// `persist_s` shortens to fit it (pre-roll minus 3 s, at least 1 s), so a camera
    /// set up with a short pre-roll before tampering checks existed still starts.
    pub fn fitted(&self, preroll_s: f64) -> TamperConfig {
        let mut c = self.clone();
        if c.persist_s.is_none() && !c.fits(preroll_s) {
            c.persist_s = Some((preroll_s - PREROLL_MARGIN_S).max(1.0));
        }
        c
    }
}

/// The kinds of tampering (`details.tamper` of a `camera_tampering` event).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TamperKind {
    Moved,
    Blocked,
    Defocused,
    SignalLost,
}

impl TamperKind {
    pub const ALL: [TamperKind; 4] = [
        TamperKind::Moved,
        TamperKind::Blocked,
        TamperKind::Defocused,
        TamperKind::SignalLost,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TamperKind::Moved => "moved",
            TamperKind::Blocked => "blocked",
            TamperKind::Defocused => "defocused",
            TamperKind::SignalLost => "signal_lost",
        }
    }

    pub fn from_name(s: &str) -> Option<TamperKind> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What one check concluded about the geometry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Geometry {
    /// The picture is where the reference was (within the threshold).
    Same,
    /// One transform explains the picture, beyond the threshold.
    Moved(Similarity),
    /// Too few points agree on anything to tell.
    Unknown,
}

/// Matches a decision needs (a fit or "not moved").
pub const MIN_INLIERS: usize = 12;

/// One check's measurements against a reference.
#[derive(Debug, Clone, PartialEq)]
pub struct Measure {
    pub points: usize,
    pub matches: usize,
    pub identity: usize,
    pub fit: Option<Fit>,
    pub geometry: Geometry,
    /// Share of the reference's textured cells that lost their texture.
    pub covered: f32,
    /// No light and no texture anywhere.
    pub dark: bool,
    /// Sharpness relative to the reference; None when the picture is too dark to tell.
    pub sharpness_ratio: Option<f32>,
}

/// Cells with less spread than this in the reference are not judged (sky, a wall).
const TEXTURED_CELL: f32 = 2.5;

/// A picture ready to compare: its reduced grey copy, feature points, texture map
/// and the full frame's sharpness. Everything a check needs from the picture itself,
/// computed once (a reference is made from one too).
#[derive(Debug, Clone)]
pub struct Prepared {
    pub grey: Grey,
    pub points: Vec<Keypoint>,
    pub texture: Texture,
    pub sharpness: f32,
}

impl Prepared {
    /// A camera's decoded frame: RGB as [`Self::of`]; YUV from its Y plane (luma in
    /// place of green), so no frame is converted for the checks.
    pub fn of_frame(f: &Frame) -> Option<Prepared> {
        if f.format == PixelFormat::Rgb {
            return Self::of(f.width, f.height, &f.data);
        }
        if f.data.len() != Frame::expected_len(f.format, f.width, f.height) {
            return None;
        }
        let luma = &f.data[..f.width as usize * f.height as usize];
        let grey = Grey::from_luma(f.width, f.height, luma)?;
        Some(Prepared {
            points: features::keypoints(&grey.stretched(), &grey.blurred()),
            texture: Texture::of(&grey),
            sharpness: sharpness_luma(f.width, f.height, luma),
            grey,
        })
    }

    /// `rgb` tightly packed `w`×`h`; None when too small to check.
    pub fn of(w: u32, h: u32, rgb: &[u8]) -> Option<Prepared> {
        let grey = Grey::from_rgb(w, h, rgb)?;
        Some(Prepared {
            points: features::keypoints(&grey.stretched(), &grey.blurred()),
            texture: Texture::of(&grey),
            sharpness: sharpness(w, h, rgb),
            grey,
        })
    }
}

/// Compares a prepared picture with a reference.
#[allow(clippy::needless_range_loop)]
pub fn measure(r: &Reference, p: &Prepared, moved_fraction: f64) -> Measure {
    let (grey, points, sharp) = (&p.grey, &p.points, p.sharpness);
    let ms = features::match_points(&r.points, points);
    let fit = features::ransac(&ms);
    let identity = features::identity_inliers(&ms);
    let w = grey.width as f32;
    let geometry = match fit {
        _ if identity >= MIN_INLIERS && 2 * identity >= fit.map_or(0, |f| f.inliers) => {
            Geometry::Same
        }
        Some(f) if f.inliers >= MIN_INLIERS => {
            let d = f.transform.max_displacement(w, grey.height as f32);
            if d >= moved_fraction as f32 * w && f.inliers >= 2 * identity {
                Geometry::Moved(f.transform)
            } else if d < moved_fraction as f32 * w {
                Geometry::Same
            } else {
                Geometry::Unknown
            }
        }
        _ => Geometry::Unknown,
    };
    let t = &p.texture;
    let rt = &r.texture;
    let same_size = (r.grey.width, r.grey.height) == (grey.width, grey.height);
    let gain = (t.mean / rt.mean.max(1.0)).clamp(0.05, 4.0);
    let dark = t.p95 < 12.0 && t.grad < 0.5;
    let corr = if same_size {
        cell_correlation(&r.grey, rt, grey, t)
    } else {
        vec![1.0; CELLS_X * CELLS_Y]
    };
    let mut textured = 0usize;
    let mut covered = 0usize;
    for i in 0..CELLS_X * CELLS_Y {
        if rt.cell_std[i] < TEXTURED_CELL || r.meta.transient_cells.contains(&(i as u16)) {
            continue;
        }
        textured += 1;
        // The floor is for cards whose compression noise is above half of a weak
        // reference cell; it scales with the gain so a dim picture's faint cells are
        // not taken for flat.
        let floor = 1.5 * gain.min(1.0);
        if dark || (corr[i] < 0.3 && t.cell_std[i] < (0.5 * gain * rt.cell_std[i]).max(floor)) {
            covered += 1;
        }
    }
    let sharpness_ratio = (!dark && r.meta.sharpness > 0.0).then(|| sharp / r.meta.sharpness);
    Measure {
        points: points.len(),
        matches: ms.len(),
        identity,
        fit,
        geometry,
        covered: if textured == 0 {
            0.0
        } else {
            covered as f32 / textured as f32
        },
        dark,
        sharpness_ratio,
    }
}

/// Evidence one check gives about one condition.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Evidence {
    For,
    Against,
    Neither,
}

#[derive(Debug, Clone, Default)]
struct Condition {
    /// First check with evidence for it, while not reported.
    pending_since: Option<MediaTime>,
    /// Checks with evidence for / all checks since `pending_since`.
    for_checks: u32,
    checks: u32,
    /// The transform of a pending "moved" (it must hold).
    transform: Option<Similarity>,
    /// Reported: its episode key and start.
    active: Option<(EpisodeKey, MediaTime)>,
    /// While active: first check of an unbroken run of normal pictures.
    clear_since: Option<MediaTime>,
    /// Details of the report (measurements at confirmation).
    details: serde_json::Map<String, serde_json::Value>,
    /// Restored after a restart: it must be confirmed again before this time.
    restored_until: Option<MediaTime>,
}

/// What the page shows about a camera's tampering checks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TamperStatus {
    pub enabled: bool,
    /// The view checked now (`fixed`, a preset token), None while the camera moves or
    /// is away from every preset.
    pub view: Option<String>,
    /// Conditions reported now (`moved`, `blocked`, …).
    pub active: Vec<&'static str>,
    /// Conditions seen but not yet held for `persist_s`.
    pub pending: Vec<&'static str>,
    /// The view's reference: when it was set (RFC 3339 UTC of the media time) and
    /// whether automatically.
    pub reference_set: Option<String>,
    pub reference_auto: Option<bool>,
    /// Last check: points found, matches and what it concluded.
    pub last_check: Option<CheckSummary>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckSummary {
    pub points: usize,
    pub matches: usize,
    pub geometry: &'static str,
    pub shift_fraction: Option<f32>,
    pub covered_fraction: f32,
    pub sharpness_ratio: Option<f32>,
}

/// The tampering checks of one camera.
#[derive(Debug)]
pub struct TamperMonitor {
    cfg: TamperConfig,
    store: ReferenceStore,
    refs: HashMap<String, Reference>,
    view: Option<String>,
    view_since: Option<MediaTime>,
    last_check: Option<MediaTime>,
    last_picture: Option<MediaTime>,
    conditions: [Condition; 4],
    keys: KeySource,
    frame: (u32, u32),
    last: Option<Measure>,
    reference_requested: bool,
    /// The view a requested reference is for (None: whichever is checked next).
    requested_view: Option<String>,
    checks: u64,
    /// Per-cell texture (standard deviation) of the current view's pictures while it
    /// settles, for its automatic reference (at most [`SETTLE_SAMPLES`]).
    settling: Vec<Vec<f32>>,
}

/// Pictures of the settling time an automatic reference looks back on. A street
/// camera's first steady picture has cars in it: where one stood, the reference has
/// texture that the empty road lacks, and once the cars drive on, enough such cells
/// look covered to read as `blocked`. A cell that was flat in any picture of the
/// settling time is marked transient and not counted for `blocked`.
pub const SETTLE_SAMPLES: usize = 16;

/// Cells textured in the reference but flat in some picture of the settling time:
/// their texture was something passing through, not the scene.
fn transient_cells(reference: &[f32], settling: &[Vec<f32>]) -> Vec<u16> {
    (0..reference.len())
        .filter(|&i| reference[i] >= TEXTURED_CELL)
        .filter(|&i| {
            settling
                .iter()
                .any(|s| s.get(i).is_some_and(|&v| v < TEXTURED_CELL))
        })
        .map(|i| i as u16)
        .collect()
}

/// Seconds before a condition's start that its "before" picture shows.
pub const BEFORE_S: f64 = 2.0;

impl TamperMonitor {
    pub fn new(cfg: TamperConfig, store: ReferenceStore) -> Self {
        Self {
            cfg,
            store,
            refs: HashMap::new(),
            view: None,
            view_since: None,
            last_check: None,
            last_picture: None,
            conditions: Default::default(),
            keys: KeySource::default(),
            frame: (0, 0),
            last: None,
            reference_requested: false,
            requested_view: None,
            checks: 0,
            settling: Vec::new(),
        }
    }

    pub fn config(&self) -> &TamperConfig {
        &self.cfg
    }

    /// Size of the last frame seen (the frame tampering boxes are in).
    pub fn frame(&self) -> (u32, u32) {
        self.frame
    }

    /// New settings (hot reload); running conditions keep going.
    pub fn set_config(&mut self, cfg: TamperConfig) {
        self.cfg = cfg;
    }

    /// Whether a reported condition (or a "moved" still being confirmed) means the
    /// rules must not decide on this picture; the condition's name.
    pub fn pause_reason(&self) -> Option<&'static str> {
        for k in TamperKind::ALL {
            let c = &self.conditions[k.index()];
            if c.active.is_some() && c.restored_until.is_none() {
                return Some(k.name());
            }
        }
        // A picture that already looks moved is not trusted while it is confirmed.
        let m = &self.conditions[TamperKind::Moved.index()];
        (m.pending_since.is_some() && m.for_checks >= 4).then_some("moved")
    }

    /// The view the camera shows now: `fixed`, a preset token, or None (moving, away
    /// from every preset: nothing to compare with). A change ends what was reported
    /// for the old view.
    pub fn set_view(&mut self, view: Option<&str>, now: MediaTime) -> Vec<RuleOutput> {
        if self.view.as_deref() == view {
            return Vec::new();
        }
        // A reference asked for at a preset the camera left before its picture was
        // checked there is not taken at the next one.
        if let (Some(want), Some(v)) = (&self.requested_view, view)
            && want != v
        {
            self.reference_requested = false;
            self.requested_view = None;
        }
        self.view = view.map(str::to_string);
        self.view_since = Some(now);
        self.settling.clear();
        let mut out = Vec::new();
        for k in [
            TamperKind::Moved,
            TamperKind::Blocked,
            TamperKind::Defocused,
        ] {
            let c = &mut self.conditions[k.index()];
            if let Some((key, start)) = c.active.take() {
                out.push(Capture::ended(key, now, self.frame));
                out.push(phase_out(
                    k,
                    key,
                    Phase::Ended,
                    start,
                    now,
                    Some(now),
                    Some(EndReason::Gone),
                    &c.details,
                    self.frame,
                ));
            }
            *c = Condition::default();
        }
        out
    }

    /// The technician asked for a new reference: the next picture checked becomes it.
    pub fn request_reference(&mut self) {
        self.reference_requested = true;
        self.requested_view = None;
    }

    /// A new reference of `view` (where a PTZ camera stands, its picture perhaps still
    /// settling): the next picture checked in that view; dropped if the camera comes
    /// into force at another view first.
    pub fn request_reference_of(&mut self, view: &str) {
        self.reference_requested = true;
        self.requested_view = Some(view.to_string());
    }

    /// The current view's reference picture, if any.
    pub fn reference(&self) -> Option<&Reference> {
        self.refs.get(self.view.as_deref()?)
    }

    /// The reference of `view` (loaded from disk if needed).
    pub fn reference_of(&mut self, view: &str) -> Option<&Reference> {
        if !self.refs.contains_key(view)
            && let Some(r) = self.store.load(view)
        {
            self.refs.insert(view.to_string(), r);
        }
        self.refs.get(view)
    }

    pub fn status(&self) -> TamperStatus {
        let names = |f: &dyn Fn(&Condition) -> bool| {
            TamperKind::ALL
                .into_iter()
                .filter(|k| f(&self.conditions[k.index()]))
                .map(TamperKind::name)
                .collect()
        };
        let r = self.reference();
        TamperStatus {
            enabled: self.cfg.enabled,
            view: self.view.clone(),
            active: names(&|c| c.active.is_some()),
            pending: names(&|c| c.pending_since.is_some() && c.active.is_none()),
            reference_set: r.map(|r| r.set_at().to_utc().to_rfc3339()),
            reference_auto: r.map(|r| r.meta.auto),
            last_check: self.last.as_ref().map(|m| CheckSummary {
                points: m.points,
                matches: m.matches,
                geometry: match m.geometry {
                    Geometry::Same => "same",
                    Geometry::Moved(_) => "moved",
                    Geometry::Unknown => "unknown",
                },
                shift_fraction: match m.geometry {
                    Geometry::Moved(t) => {
                        let (w, h) = self
                            .reference()
                            .map_or((1.0, 1.0), |r| (r.grey.width as f32, r.grey.height as f32));
                        Some(t.max_displacement(w, h) / w)
                    }
                    _ => None,
                },
                covered_fraction: m.covered,
                sharpness_ratio: m.sharpness_ratio,
            }),
        }
    }

    /// A frame arrived (every frame may be offered; at most `check_fps` are checked).
    /// `rgb` is tightly packed `w`×`h` RGB.
    pub fn on_picture(&mut self, now: MediaTime, w: u32, h: u32, rgb: &[u8]) -> Vec<RuleOutput> {
        let mut out = self.picture_arrived(now, w, h);
        if self.wants_check(now)
            && let Some(p) = Prepared::of(w, h, rgb)
        {
            out.extend(self.check(now, &p));
        }
        out
    }

    /// A picture arrived at `now`: a lost signal is back.
    pub fn picture_arrived(&mut self, now: MediaTime, w: u32, h: u32) -> Vec<RuleOutput> {
        let mut out = Vec::new();
        self.frame = (w, h);
        self.last_picture = Some(now);
        let c = &mut self.conditions[TamperKind::SignalLost.index()];
        if let Some((key, start)) = c.active.take() {
            out.push(Capture::ended(key, now, self.frame));
            out.push(phase_out(
                TamperKind::SignalLost,
                key,
                Phase::Ended,
                start,
                now,
                Some(now),
                Some(EndReason::Gone),
                &c.details,
                self.frame,
            ));
            *c = Condition::default();
        }
        out
    }

    /// Whether a picture at `now` should be checked (enabled, a view to check, and
    /// at most `check_fps` a second).
    pub fn wants_check(&self, now: MediaTime) -> bool {
        self.cfg.enabled
            && self.view.is_some()
            && self
                .last_check
                .is_none_or(|t| now.secs_since(t) >= 1.0 / self.cfg.check_fps.max(0.01) - 1e-3)
    }

    /// Checks done so far.
    pub fn checks(&self) -> u64 {
        self.checks
    }

    /// Checks a prepared picture of the current view.
    pub fn check(&mut self, now: MediaTime, p: &Prepared) -> Vec<RuleOutput> {
        let mut out = Vec::new();
        self.last_check = Some(now);
        let Some(view) = self.view.clone() else {
            return out;
        };
        self.checks += 1;
        let grey = &p.grey;
        let requested = std::mem::take(&mut self.reference_requested);
        self.requested_view = None;
        let have = self
            .reference_of(&view)
            .is_some_and(|r| (r.grey.width, r.grey.height) == (grey.width, grey.height));
        let steady = self
            .view_since
            .is_some_and(|t| now.secs_since(t) >= self.cfg.reference_after_s);
        if !have && !requested {
            if self.settling.len() == SETTLE_SAMPLES {
                self.settling.remove(0);
            }
            self.settling.push(p.texture.cell_std.clone());
        }
        if requested || (!have && steady && self.conditions.iter().all(|c| c.active.is_none())) {
            let mut r = Reference::from_prepared(&view, p, now, !requested);
            // The technician's button takes the scene of that moment as it is.
            if !requested {
                r.meta.transient_cells = transient_cells(&r.texture.cell_std, &self.settling);
            }
            self.settling.clear();
            if let Err(e) = self.store.save(&r) {
                tracing::warn!(error = %e, "scene: cannot store the reference view; it is kept in memory");
            }
            tracing::info!(view = %view, auto = !requested, points = r.points.len(), "scene: reference view set");
            self.refs.insert(view, r);
            // A new reference accepts what the camera shows: reported conditions end.
            for k in [
                TamperKind::Moved,
                TamperKind::Blocked,
                TamperKind::Defocused,
            ] {
                let c = &mut self.conditions[k.index()];
                if let Some((key, start)) = c.active.take() {
                    out.push(Capture::ended(key, now, self.frame));
                    out.push(phase_out(
                        k,
                        key,
                        Phase::Ended,
                        start,
                        now,
                        Some(now),
                        Some(EndReason::ReferenceUpdated),
                        &c.details,
                        self.frame,
                    ));
                }
                *c = Condition::default();
            }
            self.last = None;
            return out;
        }
        if !have {
            return out;
        }
        let r = &self.refs[&view];
        let m = measure(r, p, self.cfg.moved_fraction);
        let (gw, gh) = (grey.width as f32, grey.height as f32);
        // A picture one transform explains is moved, whatever else changed with it
        // (a turned camera also shows other cells).
        let moved = matches!(m.geometry, Geometry::Moved(_));
        let blocked = !moved && (m.dark || m.covered >= self.cfg.blocked_fraction as f32);
        let ev_blocked = if blocked {
            Evidence::For
        } else if moved {
            Evidence::Neither
        } else if m.covered < 0.6 * self.cfg.blocked_fraction as f32 {
            Evidence::Against
        } else {
            Evidence::Neither
        };
        let ev_defocus = match m.sharpness_ratio {
            _ if blocked || moved => Evidence::Neither,
            Some(s) if s < self.cfg.defocus_ratio as f32 => Evidence::For,
            Some(s) if s > (self.cfg.defocus_ratio as f32 * 2.0).min(0.9) => Evidence::Against,
            _ => Evidence::Neither,
        };
        let ev_moved = match m.geometry {
            _ if blocked => Evidence::Neither,
            Geometry::Moved(_) => Evidence::For,
            Geometry::Same => Evidence::Against,
            Geometry::Unknown => Evidence::Neither,
        };
        let mut details = serde_json::Map::new();
        details.insert("covered_fraction".into(), round3(m.covered as f64));
        if let Some(s) = m.sharpness_ratio {
            details.insert("sharpness_ratio".into(), round3(s as f64));
        }
        if let Geometry::Moved(t) = m.geometry {
            details.insert(
                "shift_x".into(),
                round3((t.apply((gw / 2.0, gh / 2.0)).0 - gw / 2.0) as f64 / gw as f64),
            );
            details.insert(
                "shift_y".into(),
                round3((t.apply((gw / 2.0, gh / 2.0)).1 - gh / 2.0) as f64 / gh as f64),
            );
            details.insert("rotation_deg".into(), round3(t.rotation_deg() as f64));
            details.insert("zoom".into(), round3(t.scale() as f64));
        }
        details.insert(
            "matched_points".into(),
            serde_json::json!(m.fit.map_or(0, |f| f.inliers)),
        );
        details.insert("view".into(), serde_json::json!(view));
        details.insert(
            "reference_set".into(),
            serde_json::json!(r.set_at().to_utc().to_rfc3339()),
        );
        let moved_t = match m.geometry {
            Geometry::Moved(t) => Some(t),
            _ => None,
        };
        self.last = Some(m);
        for (k, ev) in [
            (TamperKind::Blocked, ev_blocked),
            (TamperKind::Defocused, ev_defocus),
            (TamperKind::Moved, ev_moved),
        ] {
            let tol = 0.02 * gw;
            self.step(k, ev, now, moved_t, tol, (gw, gh), &details, &mut out);
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn step(
        &mut self,
        k: TamperKind,
        ev: Evidence,
        now: MediaTime,
        transform: Option<Similarity>,
        tol: f32,
        size: (f32, f32),
        details: &serde_json::Map<String, serde_json::Value>,
        out: &mut Vec<RuleOutput>,
    ) {
        let (persist, clear) = (self.cfg.persist_s(), self.cfg.clear_s);
        let frame = self.frame;
        let c = &mut self.conditions[k.index()];
        if c.active.is_some() {
            // Clearing applies to reported and restored cases alike.
            match ev {
                Evidence::Against => {
                    let since = *c.clear_since.get_or_insert(now);
                    if now.secs_since(since) >= clear
                        && let Some((key, start)) = c.active.take()
                    {
                        let restored = c.restored_until.is_some();
                        if !restored {
                            out.push(Capture::ended(key, now, frame));
                        }
                        let reason = if restored {
                            EndReason::Restart
                        } else {
                            EndReason::Gone
                        };
                        out.push(phase_out(
                            k,
                            key,
                            Phase::Ended,
                            start,
                            now,
                            Some(since),
                            Some(reason),
                            &c.details,
                            frame,
                        ));
                        *c = Condition::default();
                        return;
                    }
                }
                Evidence::For => c.clear_since = None,
                Evidence::Neither => {}
            }
            if c.restored_until.is_none() {
                return;
            }
            // Restored after a restart: confirmed again like a new condition (below).
        }
        match ev {
            Evidence::For => {
                // "Moved" must keep one transform: a camera still turning (or traffic
                // agreeing by chance) restarts the wait.
                let consistent = match (k, c.transform, transform) {
                    (TamperKind::Moved, Some(a), Some(b)) => {
                        let diff = Similarity {
                            a: b.a - a.a + 1.0,
                            b: b.b - a.b,
                            tx: b.tx - a.tx,
                            ty: b.ty - a.ty,
                        };
                        diff.max_displacement(size.0, size.1) <= tol
                    }
                    _ => true,
                };
                if c.pending_since.is_none() || !consistent {
                    c.pending_since = Some(now);
                    c.for_checks = 0;
                    c.checks = 0;
                    c.transform = transform;
                }
                c.for_checks += 1;
                c.checks += 1;
            }
            Evidence::Against => {
                c.pending_since = None;
                c.transform = None;
            }
            Evidence::Neither => {
                if c.pending_since.is_some() {
                    c.checks += 1;
                }
            }
        }
        let Some(since) = c.pending_since else {
            return;
        };
        // Held long enough, with most checks agreeing.
        if now.secs_since(since) >= persist && c.for_checks * 10 >= c.checks * 6 {
            if let Some(until) = c.restored_until {
                // A case from before a restart, confirmed again: it continues.
                if now <= until {
                    c.restored_until = None;
                    c.pending_since = None;
                    return;
                }
            }
            let key = self.keys.next_key();
            let mut d = details.clone();
            d.insert("tamper".into(), serde_json::json!(k.name()));
            let c = &mut self.conditions[k.index()];
            c.details = d;
            c.active = Some((key, since));
            c.clear_since = None;
            c.pending_since = None;
            out.push(RuleOutput::Capture {
                key,
                kind: EventKind::CameraTampering,
                request: CaptureRequest::Snapshot {
                    name: "before",
                    at: since.add_secs(-BEFORE_S),
                    bbox: full(frame),
                },
            });
            out.push(RuleOutput::Capture {
                key,
                kind: EventKind::CameraTampering,
                request: CaptureRequest::Snapshot {
                    name: "after",
                    at: now,
                    bbox: full(frame),
                },
            });
            out.push(phase_out(
                k,
                key,
                Phase::Started,
                since,
                now,
                None,
                None,
                &c.details,
                frame,
            ));
        }
    }

    /// No picture came for a while (`now` from the box's clock, in media time): after
    /// `signal_lost_s` the signal counts as lost, from the last picture on.
    pub fn on_idle(&mut self, now: MediaTime) -> Vec<RuleOutput> {
        let mut out = Vec::new();
        let Some(last) = self.last_picture else {
            return out;
        };
        let c = &mut self.conditions[TamperKind::SignalLost.index()];
        if !self.cfg.enabled || c.active.is_some() || now.secs_since(last) < self.cfg.signal_lost_s
        {
            return out;
        }
        let key = self.keys.next_key();
        let mut d = serde_json::Map::new();
        d.insert("tamper".into(), serde_json::json!("signal_lost"));
        c.details = d;
        c.active = Some((key, last));
        let frame = self.frame;
        out.push(RuleOutput::Capture {
            key,
            kind: EventKind::CameraTampering,
            request: CaptureRequest::Snapshot {
                name: "before",
                at: last,
                bbox: full(frame),
            },
        });
        out.push(phase_out(
            TamperKind::SignalLost,
            key,
            Phase::Started,
            last,
            now,
            None,
            None,
            &c.details,
            frame,
        ));
        out
    }

    /// Reported conditions, for persistence across a restart.
    pub fn open(&self) -> Vec<OpenEpisode> {
        TamperKind::ALL
            .into_iter()
            .filter_map(|k| {
                let c = &self.conditions[k.index()];
                let (key, start) = c.active?;
                Some(OpenEpisode {
                    key,
                    kind: EventKind::CameraTampering,
                    zone_id: String::new(),
                    subject: subject(k, self.frame),
                    anchor: full(self.frame),
                    start,
                    last_seen: self.last_picture.unwrap_or(start),
                    last_report: start,
                    paused_s: 0.0,
                    visits: 0,
                })
            })
            .collect()
    }

    /// Puts back a condition reported before a restart: it continues under its id
    /// when confirmed again before `now + grace_s`, else ends with reason `restart`
    /// when the picture is seen normal (or at the grace's end, see [`Self::expire`]).
    pub fn restore(
        &mut self,
        ep: &OpenEpisode,
        now: MediaTime,
        grace_s: f64,
    ) -> Option<EpisodeKey> {
        let k = TamperKind::from_name(&ep.subject.class_name)?;
        let c = &mut self.conditions[k.index()];
        if c.active.is_some() {
            return None;
        }
        let key = self.keys.next_key();
        let mut d = serde_json::Map::new();
        d.insert("tamper".into(), serde_json::json!(k.name()));
        c.details = d;
        c.active = Some((key, ep.start));
        c.restored_until = Some(now.add_secs(grace_s.max(self.cfg.persist_s() + 5.0)));
        Some(key)
    }

    /// Restored conditions not confirmed in time end with reason `restart`.
    pub fn expire(&mut self, now: MediaTime) -> Vec<RuleOutput> {
        let mut out = Vec::new();
        let frame = self.frame;
        for k in TamperKind::ALL {
            let c = &mut self.conditions[k.index()];
            if let (Some(until), Some((key, start))) = (c.restored_until, c.active)
                && now > until
            {
                out.push(phase_out(
                    k,
                    key,
                    Phase::Ended,
                    start,
                    now,
                    Some(until.min(now)),
                    Some(EndReason::Restart),
                    &c.details,
                    frame,
                ));
                *c = Condition::default();
            }
        }
        out
    }
}

fn round3(v: f64) -> serde_json::Value {
    serde_json::json!((v * 1000.0).round() / 1000.0)
}

fn full((w, h): (u32, u32)) -> BBox {
    BBox::new(0.0, 0.0, w.max(1) as f32, h.max(1) as f32)
}

fn subject(k: TamperKind, frame: (u32, u32)) -> SubjectInfo {
    SubjectInfo {
        category: Category::new("camera"),
        class_name: k.name().into(),
        score: 1.0,
        bbox: full(frame),
        track_id: 0,
        related_track_ids: Vec::new(),
    }
}

struct Capture;

impl Capture {
    fn ended(key: EpisodeKey, now: MediaTime, frame: (u32, u32)) -> RuleOutput {
        RuleOutput::Capture {
            key,
            kind: EventKind::CameraTampering,
            request: CaptureRequest::Snapshot {
                name: "ended",
                at: now,
                bbox: full(frame),
            },
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn phase_out(
    k: TamperKind,
    key: EpisodeKey,
    phase: Phase,
    start: MediaTime,
    at: MediaTime,
    end: Option<MediaTime>,
    end_reason: Option<EndReason>,
    details: &serde_json::Map<String, serde_json::Value>,
    frame: (u32, u32),
) -> RuleOutput {
    let mut details = details.clone();
    details.insert("tamper".into(), serde_json::json!(k.name()));
    RuleOutput::Phase {
        key,
        phase: PhaseOutput {
            kind: EventKind::CameraTampering,
            phase,
            zone_id: String::new(),
            subject: subject(k, frame),
            start,
            at,
            end,
            duration_s: Some(end.unwrap_or(at).secs_since(start).max(0.0)),
            details,
            event_id: None,
            end_reason,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::scene::features::tests_support::{moved_scene, scene};

    /// A cell textured only by something passing through while the view settled is
    /// transient; a cell textured in every picture is scene; a flat one is neither.
    #[test]
    fn cells_flat_at_some_moment_of_the_settling_time_are_transient() {
        let reference = vec![10.0, 10.0, 1.0, 10.0];
        let settling = vec![
            vec![10.0, 1.0, 1.0, 9.0],
            vec![10.0, 10.0, 1.0, 8.0],
            reference.clone(),
        ];
        assert_eq!(transient_cells(&reference, &settling), vec![1]);
        assert!(transient_cells(&reference, &[]).is_empty());
    }

    /// A YUV frame is checked on its Y plane: the same reduced size as its RGB
    /// conversion and about the same sharpness (luma in place of green).
    #[test]
    fn a_yuv_frame_is_prepared_from_its_luma_like_its_rgb_conversion() {
        let f = crate::rules::scene::appearance::tests::yuv_frame(1280, 720);
        let rgb = f.to_rgb();
        let (a, b) = (
            Prepared::of_frame(&f).unwrap(),
            Prepared::of(1280, 720, &rgb.data).unwrap(),
        );
        assert_eq!((a.grey.width, a.grey.height), (b.grey.width, b.grey.height));
        // Levels differ (luma is not green on a coloured picture); the checks only
        // compare pictures made the same way, and the structure is the same.
        assert!(a.sharpness > 0.0 && (a.sharpness / b.sharpness - 1.0).abs() < 0.1);
        assert_eq!(a.points.is_empty(), b.points.is_empty());
    }

    #[test]
    fn the_default_persist_fits_a_short_preroll_and_a_chosen_one_that_does_not_is_refused() {
        let d = TamperConfig::default();
        // A camera set up with a 10 s pre-roll still starts, reporting after 7 s.
        assert!(d.problems(10.0).is_empty());
        assert_eq!(d.fitted(10.0).persist_s(), 7.0);
        assert_eq!(d.fitted(20.0).persist_s(), 10.0);
        let chosen = TamperConfig {
            persist_s: Some(12.0),
            ..TamperConfig::default()
        };
        let p = chosen.problems(10.0);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].0, "persist_s");
        assert_eq!(chosen.fitted(10.0).persist_s(), 12.0);
        // Writing the default explicitly is a choice too: refused, not shortened.
        let explicit: TamperConfig = toml::from_str("persist_s = 10.0").unwrap();
        assert_eq!(explicit.persist_s, Some(10.0));
        assert_eq!(explicit.problems(10.0)[0].0, "persist_s");
        assert_eq!(explicit.fitted(10.0).persist_s(), 10.0);
        // Left out, it is not written back when the config is saved.
        let saved = toml::to_string(&TamperConfig::default()).unwrap();
        assert!(!saved.contains("persist_s"), "{saved}");
    }

    fn rgb(g: &Grey) -> Vec<u8> {
        g.data.iter().flat_map(|&v| [v, v, v]).collect()
    }

    fn t(s: f64) -> MediaTime {
        MediaTime::from_secs_f64(1000.0 + s)
    }

    fn phases(out: &[RuleOutput]) -> Vec<(Phase, String)> {
        out.iter()
            .filter_map(|o| match o {
                RuleOutput::Phase { phase, .. } => Some((
                    phase.phase,
                    phase.details["tamper"].as_str().unwrap().to_string(),
                )),
                _ => None,
            })
            .collect()
    }

    /// Feeds `pic(s)` at 2 fps from `from` to `to` seconds; all phases produced.
    fn run(
        m: &mut TamperMonitor,
        from: f64,
        to: f64,
        pic: &dyn Fn(f64) -> Grey,
    ) -> Vec<(f64, Phase, String)> {
        let mut out = Vec::new();
        let mut s = from;
        while s < to {
            let g = pic(s);
            for (p, k) in phases(&m.on_picture(t(s), g.width, g.height, &rgb(&g))) {
                out.push((s, p, k));
            }
            s += 0.5;
        }
        out
    }

    #[test]
    fn a_moved_camera_is_reported_after_persist_and_ends_when_moved_back() {
        let mut m = TamperMonitor::new(TamperConfig::default(), ReferenceStore::in_memory());
        m.set_view(Some("fixed"), t(0.0));
        let base = scene(384, 216);
        let moved = moved_scene(384, 216, 38.0, 0.0);
        assert!(run(&mut m, 0.0, 20.0, &|_| base.clone()).is_empty());
        assert!(m.status().reference_set.is_some());
        let got = run(&mut m, 20.0, 40.0, &|_| moved.clone());
        assert_eq!(got, vec![(30.0, Phase::Started, "moved".into())]);
        assert_eq!(m.pause_reason(), Some("moved"));
        let got = run(&mut m, 40.0, 60.0, &|_| base.clone());
        assert_eq!(got, vec![(45.0, Phase::Ended, "moved".into())]);
        assert_eq!(m.pause_reason(), None);
    }

    #[test]
    fn darker_pictures_are_not_tampering_but_a_grey_card_and_blur_are() {
        let mut m = TamperMonitor::new(TamperConfig::default(), ReferenceStore::in_memory());
        m.set_view(Some("fixed"), t(0.0));
        let base = scene(384, 216);
        let night = Grey::new(384, 216, base.data.iter().map(|v| v / 5).collect()).unwrap();
        assert!(run(&mut m, 0.0, 10.0, &|_| base.clone()).is_empty());
        assert!(run(&mut m, 10.0, 60.0, &|_| night.clone()).is_empty());
        let mut card = base.clone();
        for y in 0..216 {
            for x in 0..(384 * 6 / 10) {
                card.data[y * 384 + x] = 128;
            }
        }
        let got = run(&mut m, 60.0, 90.0, &|_| card.clone());
        assert_eq!(got, vec![(70.0, Phase::Started, "blocked".into())]);
        let got = run(&mut m, 90.0, 100.0, &|_| base.clone());
        assert_eq!(got, vec![(95.0, Phase::Ended, "blocked".into())]);
        let mut blur = base.clone();
        for _ in 0..6 {
            blur = blur.blurred();
        }
        let got = run(&mut m, 100.0, 120.0, &|_| blur.clone());
        assert_eq!(got, vec![(110.0, Phase::Started, "defocused".into())]);
    }

    #[test]
    fn signal_loss_starts_on_idle_and_ends_with_the_next_picture() {
        let mut m = TamperMonitor::new(TamperConfig::default(), ReferenceStore::in_memory());
        m.set_view(Some("fixed"), t(0.0));
        let base = scene(384, 216);
        run(&mut m, 0.0, 2.0, &|_| base.clone());
        assert!(m.on_idle(t(20.0)).is_empty());
        assert_eq!(
            phases(&m.on_idle(t(32.0))),
            vec![(Phase::Started, "signal_lost".into())]
        );
        assert!(m.on_idle(t(40.0)).is_empty());
        let out = m.on_picture(t(50.0), 384, 216, &rgb(&base));
        assert_eq!(phases(&out), vec![(Phase::Ended, "signal_lost".into())]);
    }
}
