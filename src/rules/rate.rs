//! The analysis rate a camera's rules need, and `analysis.fps = "auto"`.
//!
//! Decoding is most of a camera's cost (docs/performance.md): a parking camera that
//! decodes 25 frames a second to analyse 5 pays for frames its rule never needed. Each
//! rule says the slowest input it can still decide on, next to the rule itself
//! (`ANALYSIS_NEED` / `analysis_need` in `illegal_parking`, `littering`,
//! `road_damage`, `generic::dwell`, `generic::count`, `scene::tamper`); this module
//! only takes the maximum over a camera's rules:
//!
//! - any rule that needs decoded frames at `f` per second: every frame is decoded and
//!   `max(f)` of them a second are analysed;
//! - otherwise keyframes only (delta units never reach the decoder, about 1/50 of the
//!   decode cost at a 2 s GOP). A rule that decides on keyframes says how far apart they
//!   may be (`max_gap_s`); when the stream's keyframes come further apart than that,
//!   the pipeline goes over to decoding everything at [`KEYFRAME_FALLBACK_FPS`] at its
//!   next keyframe (see `ingest::pipeline`), and the dashboard says so.
//!
//! An explicit numeric `fps` is kept as written (a box updated in the field never
//! changes what it decodes by itself); one below what a rule needs is a warning from
//! [`warnings`] (`check-config`, the dashboard), not an error, so an upgrade never turns
//! a working configuration into a refused one.

use super::zone::{Zone, ZoneRule};
use crate::config::{AnalysisFps, CameraConfig, Problem};
use crate::track::TrackerConfig;

/// The analysed rate a keyframe-deciding rule gets when the stream's keyframes come
/// too far apart: one frame a second is what the brief's parking and road checks were
/// measured at, and costs a full decode but only one conversion and inference a second.
pub const KEYFRAME_FALLBACK_FPS: f64 = 1.0;

/// The slowest analysis input a rule can decide on.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum RateNeed {
    /// Keyframes suffice while they come at most `max_gap_s` apart (infinite: any GOP).
    Keyframes {
        #[serde(serialize_with = "finite_or_null")]
        max_gap_s: f64,
    },
    /// Decoded frames at this many per second.
    Fps { fps: f64 },
}

fn finite_or_null<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.is_finite() {
        s.serialize_f64(*v)
    } else {
        s.serialize_none()
    }
}

impl RateNeed {
    /// The frame rate that serves this need when frames are decoded at a fixed rate.
    pub fn min_fps(&self) -> f64 {
        match *self {
            RateNeed::Keyframes { max_gap_s } if max_gap_s.is_finite() => 1.0 / max_gap_s,
            RateNeed::Keyframes { .. } => 0.0,
            RateNeed::Fps { fps } => fps,
        }
    }

    /// Whether keyframes alone serve it.
    pub fn keyframes_serve(&self) -> bool {
        matches!(self, RateNeed::Keyframes { .. })
    }
}

/// One rule's need, and where the rule is.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RuleNeed {
    /// Key path below the camera, e.g. `zones[0].rules[1]`, or `tamper`.
    pub at: String,
    /// The rule's type (`no_parking`, `litter_watch`, … or `tamper`).
    pub rule: &'static str,
    /// The zone's id (None for tampering).
    pub zone: Option<String>,
    pub need: RateNeed,
}

/// What a camera is analysed at, and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AnalysisRate {
    /// `fps = "auto"`: derived from the rules (false: as configured).
    pub auto: bool,
    /// Only keyframes are decoded.
    pub keyframes_only: bool,
    /// Frames analysed per second at most (with keyframes only: the rate the pipeline
    /// falls back to when the keyframes come further apart than `keyframe_max_gap_s`).
    pub fps: f64,
    /// Keyframes only gives way to decoding everything at `fps` when the stream's
    /// keyframes come further apart than this (None: never).
    pub keyframe_max_gap_s: Option<f64>,
    /// The rule that set the rate (auto), None when no rule needs more than keyframes at
    /// any GOP.
    pub decided_by: Option<RuleNeed>,
}

impl ZoneRule {
    /// The slowest input this rule decides on (None: it analyses nothing).
    pub fn analysis_need(&self, tracker: &TrackerConfig) -> Option<RateNeed> {
        match self {
            ZoneRule::NoParking { .. } => Some(super::illegal_parking::analysis_need(tracker)),
            ZoneRule::Dwell { .. } => Some(super::generic::dwell::analysis_need(tracker)),
            ZoneRule::Presence { .. } => Some(super::generic::dwell::PRESENCE_ANALYSIS_NEED),
            ZoneRule::Count { .. } => Some(super::generic::count::ANALYSIS_NEED),
            ZoneRule::LitterWatch { .. } => Some(super::littering::ANALYSIS_NEED),
            ZoneRule::RoadWatch { .. } => Some(super::road_damage::ANALYSIS_NEED),
            ZoneRule::Privacy => None,
        }
    }
}

/// Every need of a camera's rules (zones of all presets, and tampering when on).
pub fn needs(zones: &[Zone], tamper_on: bool, tracker: &TrackerConfig) -> Vec<RuleNeed> {
    let mut out = Vec::new();
    for (i, z) in zones.iter().enumerate() {
        for (k, r) in z.rules.iter().enumerate() {
            if let Some(need) = r.analysis_need(tracker) {
                out.push(RuleNeed {
                    at: format!("zones[{i}].rules[{k}]"),
                    rule: r.kind(),
                    zone: Some(z.id.clone()),
                    need,
                });
            }
        }
    }
    if tamper_on {
        out.push(RuleNeed {
            at: "tamper".into(),
            rule: "tamper",
            zone: None,
            need: super::scene::tamper::ANALYSIS_NEED,
        });
    }
    out
}

/// The cheapest decode that serves every need: the maximum of them.
pub fn cheapest(needs: &[RuleNeed]) -> AnalysisRate {
    let fastest = needs
        .iter()
        .filter(|n| !n.need.keyframes_serve())
        .max_by(|a, b| a.need.min_fps().total_cmp(&b.need.min_fps()));
    if let Some(n) = fastest {
        // Frame-rate needs win; keyframe needs are served by at least the fallback rate.
        let keyframe_rules = needs.iter().any(|n| n.need.keyframes_serve());
        let floor = if keyframe_rules {
            KEYFRAME_FALLBACK_FPS
        } else {
            0.0
        };
        return AnalysisRate {
            auto: true,
            keyframes_only: false,
            fps: n.need.min_fps().max(floor),
            keyframe_max_gap_s: None,
            decided_by: Some(n.clone()),
        };
    }
    // Keyframes only; the strictest gap decides when they are too far apart.
    let strictest = needs
        .iter()
        .filter(|n| matches!(n.need, RateNeed::Keyframes { max_gap_s } if max_gap_s.is_finite()))
        .max_by(|a, b| a.need.min_fps().total_cmp(&b.need.min_fps()));
    AnalysisRate {
        auto: true,
        keyframes_only: true,
        fps: KEYFRAME_FALLBACK_FPS,
        keyframe_max_gap_s: strictest.map(|n| 1.0 / n.need.min_fps()),
        decided_by: strictest.cloned(),
    }
}

impl AnalysisRate {
    /// The analysis branch that decodes at this rate.
    pub fn spec(&self, max_width: u32) -> crate::ingest::pipeline::AnalysisSpec {
        crate::ingest::pipeline::AnalysisSpec {
            fps: self.fps,
            keyframes_only: self.keyframes_only,
            keyframe_max_gap_s: if self.keyframes_only {
                self.keyframe_max_gap_s
            } else {
                None
            },
            max_width,
        }
    }

    /// One line for logs and `check-config`, e.g. `auto: keyframes only (at most 2 s
    /// apart, else 1 fps), for no_parking at zones[0].rules[0]`.
    pub fn describe(&self) -> String {
        let mode = match (self.keyframes_only, self.keyframe_max_gap_s) {
            (true, Some(g)) => format!(
                "keyframes only (at most {g} s apart, else {} fps)",
                self.fps
            ),
            (true, None) => "keyframes only".to_string(),
            (false, _) => format!("{} fps", self.fps),
        };
        match (self.auto, &self.decided_by) {
            (false, _) => format!("{mode} (as configured)"),
            (true, Some(n)) => format!("auto: {mode}, for {} at {}", n.rule, n.at),
            (true, None) => format!("auto: {mode} (no rule needs more)"),
        }
    }

    /// Whether the pipeline has gone over from keyframes to every frame, judged from
    /// the stream's measured GOP the way the pipeline judges it.
    pub fn keyframes_too_far_apart(&self, gop_s: Option<f64>) -> bool {
        self.keyframes_only
            && matches!((self.keyframe_max_gap_s, gop_s), (Some(max), Some(g)) if g > max * crate::ingest::pipeline::KEYFRAME_GAP_SLACK)
    }
}

/// What `camera` is analysed at: as configured, or derived from its rules (`"auto"`).
pub fn resolve(camera: &CameraConfig, tracker: &TrackerConfig) -> AnalysisRate {
    match camera.analysis.fps {
        AnalysisFps::Auto => cheapest(&needs(&camera.zones, camera.tamper.enabled, tracker)),
        AnalysisFps::Fixed(fps) => AnalysisRate {
            auto: false,
            keyframes_only: camera.analysis.keyframes_only,
            fps,
            keyframe_max_gap_s: None,
            decided_by: None,
        },
    }
}

/// A rule an explicit rate cannot serve.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RateShortfall {
    /// The key to change, below the camera: `analysis.fps` or `analysis.keyframes_only`.
    pub key: &'static str,
    pub rule: RuleNeed,
    /// Frames a second the rule needs (0: keyframes at most `max_gap_s` apart).
    pub need_fps: f64,
}

/// The rules of `camera` that its explicit rate cannot serve (none with `"auto"`). With
/// keyframes only, a rule that decides on keyframes is served at any GOP (the GOP is
/// the camera's setting, seen on the dashboard, not the config's).
pub fn shortfalls(camera: &CameraConfig, tracker: &TrackerConfig) -> Vec<RateShortfall> {
    let AnalysisFps::Fixed(fps) = camera.analysis.fps else {
        return Vec::new();
    };
    let keyframes_only = camera.analysis.keyframes_only;
    needs(&camera.zones, camera.tamper.enabled, tracker)
        .into_iter()
        .filter_map(|n| {
            let short = if keyframes_only {
                !n.need.keyframes_serve()
            } else {
                // 2 % slack: 0.49 fps for a 2 s gap is a typo, not a choice.
                fps < n.need.min_fps() * 0.98
            };
            short.then(|| RateShortfall {
                key: if keyframes_only {
                    "analysis.keyframes_only"
                } else {
                    "analysis.fps"
                },
                need_fps: n.need.min_fps(),
                rule: n,
            })
        })
        .collect()
}

/// `check-config`'s warnings: every camera whose explicit rate is below what one of
/// its rules needs, naming the key path and the rule.
pub fn warnings(config: &crate::config::Config) -> Vec<Problem> {
    let mut out = Vec::new();
    for (i, cam) in config.cameras.iter().enumerate() {
        for s in shortfalls(cam, &config.events.tracker) {
            let rule = format!("cameras[{i}].{} ({})", s.rule.at, s.rule.rule);
            let (message, hint) = if s.key == "analysis.keyframes_only" {
                (
                    format!(
                        "keyframes only cannot serve rule {rule}, which needs {} frames per second",
                        s.need_fps
                    ),
                    format!(
                        "set fps = \"auto\" and remove keyframes_only, or keyframes_only = false and fps = {} or more",
                        s.need_fps
                    ),
                )
            } else {
                (
                    format!(
                        "{} frames per second is below what rule {rule} needs ({} per second)",
                        cam.analysis.fps, s.need_fps
                    ),
                    format!("set fps = \"auto\" or at least {}", s.need_fps),
                )
            };
            out.push(Problem::new(
                format!("cameras[{i}].{}", s.key),
                message,
                hint,
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn camera(toml_text: &str) -> CameraConfig {
        let text = format!("id = \"c\"\nurl = \"rtsp://127.0.0.1/x\"\n{toml_text}");
        toml::from_str(&text).unwrap()
    }

    fn zone(rules: &str) -> String {
        format!(
            "[[zones]]\nid = \"z\"\npolygon = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]\nrules = [{rules}]\n"
        )
    }

    const AUTO: &str = "[analysis]\nfps = \"auto\"\n";

    #[test]
    fn a_parking_camera_is_analysed_on_keyframes_up_to_two_seconds_apart() {
        let c = camera(&format!("{AUTO}{}", zone("{ type = \"no_parking\" }")));
        let r = resolve(&c, &TrackerConfig::default());
        assert!(r.auto && r.keyframes_only, "{r:?}");
        assert_eq!(r.keyframe_max_gap_s, Some(2.0));
        assert_eq!(r.fps, KEYFRAME_FALLBACK_FPS);
        assert_eq!(r.decided_by.unwrap().rule, "no_parking");
    }

    #[test]
    fn littering_next_to_parking_needs_five_frames_a_second() {
        let c = camera(&format!(
            "{AUTO}{}",
            zone("{ type = \"no_parking\" }, { type = \"litter_watch\" }")
        ));
        let r = resolve(&c, &TrackerConfig::default());
        assert!(!r.keyframes_only);
        assert_eq!(r.fps, 5.0);
        let by = r.decided_by.unwrap();
        assert_eq!(
            (by.rule, by.at.as_str()),
            ("litter_watch", "zones[0].rules[1]")
        );
    }

    #[test]
    fn a_camera_without_rules_decodes_keyframes_at_any_gop() {
        let c = camera(AUTO);
        let r = resolve(&c, &TrackerConfig::default());
        assert!(r.keyframes_only);
        assert_eq!(r.keyframe_max_gap_s, None);
        // Tampering checks (on by default) take keyframes at any GOP.
        assert_eq!(r.decided_by, None);
        assert_eq!(r.describe(), "auto: keyframes only (no rule needs more)");
        let c = camera(&format!("{AUTO}[tamper]\nenabled = false\n"));
        assert_eq!(resolve(&c, &TrackerConfig::default()), r);
    }

    #[test]
    fn a_shorter_stationary_time_asks_for_closer_keyframes() {
        let c = camera(&format!("{AUTO}{}", zone("{ type = \"no_parking\" }")));
        let tracker = TrackerConfig {
            stationary_after_s: 2.0,
            ..TrackerConfig::default()
        };
        assert_eq!(resolve(&c, &tracker).keyframe_max_gap_s, Some(1.0));
    }

    #[test]
    fn explicit_rates_stay_as_written_and_a_rate_below_a_rule_is_named() {
        let c = camera(&format!(
            "[analysis]\nfps = 2.0\n{}",
            zone("{ type = \"litter_watch\" }")
        ));
        let r = resolve(&c, &TrackerConfig::default());
        assert_eq!((r.auto, r.keyframes_only, r.fps), (false, false, 2.0));
        let s = shortfalls(&c, &TrackerConfig::default());
        assert_eq!(s.len(), 1);
        assert_eq!(
            (s[0].key, s[0].rule.rule, s[0].need_fps),
            ("analysis.fps", "litter_watch", 5.0)
        );
        let c = camera(&format!(
            "[analysis]\nkeyframes_only = true\n{}",
            zone(
                "{ type = \"no_parking\" }, { type = \"count\", kind = \"crowd\", categories = [\"person\"], min_count = 5 }"
            )
        ));
        let s = shortfalls(&c, &TrackerConfig::default());
        assert_eq!(s.len(), 1, "{s:?}");
        assert_eq!(
            (s[0].key, s[0].rule.rule),
            ("analysis.keyframes_only", "count")
        );
        // The default 5 fps serves every rule.
        let c = camera(&zone(
            "{ type = \"litter_watch\" }, { type = \"no_parking\" }",
        ));
        assert!(shortfalls(&c, &TrackerConfig::default()).is_empty());
    }
}
