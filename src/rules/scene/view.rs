//! Which zones are in force: the camera's *view*.
//!
//! A camera without PTZ has one view, [`FIXED`]. A PTZ camera's view is the preset it
//! is at; zones carry the preset they were drawn at (`preset`, unset = the home
//! preset), and only the current view's zones are in force. While the camera moves,
//! is away from every preset, or a tampering condition lasts, there is no view: the
//! rules pause. They never decide on a moving or a tampered picture. A camera that
//! stopped at a preset after a move is still *settling* for `ptz.settle_s`: its
//! position arrives before its picture does (encoder, network, decoder, up to a GOP),
//! so the preset's zones, tampering checks and reference views wait for it.
//!
//! Paused time counts neither for nor against a stay: a parked vehicle's dwell stops
//! while the camera looks elsewhere and continues when it is back at the same preset
//! within `resume_within_s` and the vehicle is still there. A patrol (巡航) is the
//! exception by design: there the time between two visits counts, because the same
//! vehicle seen in the same place at both visits is exactly the time-separated
//! evidence a parking case needs (see `illegal_parking` for the matching rule).

use crate::ingest::onvif::ptz::{PtzConfig, PtzPosition};
use crate::rules::scene::tamper::TamperConfig;
use crate::rules::zone::Zone;

/// The view of a camera without PTZ.
pub const FIXED: &str = "fixed";

/// What the façade needs to know about a camera's scene.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SceneSettings {
    pub tamper: TamperConfig,
    /// Present for a PTZ camera (`[cameras.ptz]`).
    pub ptz: Option<PtzConfig>,
}

impl SceneSettings {
    /// The view a zone belongs to; None for a zone that can never be in force (a PTZ
    /// camera's zone without a preset when there is no home preset).
    pub fn zone_view<'a>(&'a self, z: &'a Zone) -> Option<&'a str> {
        match &self.ptz {
            None => Some(FIXED),
            Some(p) => z.preset.as_deref().or(p.home_view()),
        }
    }

    /// The zones in force in `view`.
    pub fn zones_of(&self, zones: &[Zone], view: &str) -> Vec<Zone> {
        zones
            .iter()
            .filter(|z| self.zone_view(z) == Some(view))
            .cloned()
            .collect()
    }

    /// The view a PTZ position gives (a camera without PTZ is always [`FIXED`]).
    pub fn view_of(&self, pos: Option<&PtzPosition>) -> Option<String> {
        match (&self.ptz, pos) {
            (None, _) => Some(FIXED.into()),
            (Some(_), Some(PtzPosition::At(p))) => Some(p.clone()),
            // No status yet: the camera is assumed at home until it says otherwise.
            (Some(c), None) => c.home.clone(),
            (Some(_), Some(_)) => None,
        }
    }

    pub fn resume_policy(&self) -> ResumePolicy {
        match &self.ptz {
            None => ResumePolicy {
                resume_within_s: DEFAULT_RESUME_S,
                patrol: Vec::new(),
                patrol_cycle_s: 0.0,
            },
            Some(p) => ResumePolicy {
                resume_within_s: p.resume_within_s,
                patrol: p
                    .patrol
                    .as_ref()
                    .map(|t| t.presets.clone())
                    .unwrap_or_default(),
                patrol_cycle_s: p.patrol_cycle_s().unwrap_or(0.0),
            },
        }
    }
}

/// How long a fixed camera's stays wait through a pause (a tampering alarm): as a PTZ
/// camera's default `resume_within_s`.
pub const DEFAULT_RESUME_S: f64 = 300.0;

/// How paused stays come back.
#[derive(Debug, Clone, PartialEq)]
pub struct ResumePolicy {
    pub resume_within_s: f64,
    /// Presets of the patrol.
    pub patrol: Vec<String>,
    /// Longest absence in normal patrolling.
    pub patrol_cycle_s: f64,
}

impl ResumePolicy {
    fn patrolled(&self, view: &str) -> bool {
        self.patrol.iter().any(|p| p == view)
    }

    /// Seconds a stay of `view` may wait paused before it ends (`camera_moved`).
    pub fn limit_s(&self, view: &str) -> f64 {
        if self.patrolled(view) {
            self.resume_within_s.max(self.patrol_cycle_s)
        } else {
            self.resume_within_s
        }
    }

    /// Whether an absence of `absent_s` from `view` counts for the stay's dwell: only
    /// between two visits of a patrol.
    pub fn absence_counts(&self, view: &str, absent_s: f64) -> bool {
        self.patrolled(view) && absent_s <= self.patrol_cycle_s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_follow_their_preset_or_home_and_fixed_cameras_have_one_view() {
        let zone = |id: &str, preset: Option<&str>| Zone {
            id: id.into(),
            name: String::new(),
            polygon: crate::rules::zone::Polygon(vec![[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]),
            location: String::new(),
            coordinates: None,
            grid_code: None,
            asset_id: None,
            preset: preset.map(str::to_string),
            filter: Default::default(),
            rules: Vec::new(),
        };
        let zones = [zone("a", None), zone("b", Some("2"))];
        let fixed = SceneSettings::default();
        assert_eq!(fixed.zones_of(&zones, FIXED).len(), 2);
        assert_eq!(
            fixed.view_of(Some(&PtzPosition::Moving)),
            Some(FIXED.into())
        );
        let ptz = SceneSettings {
            ptz: Some(
                toml::from_str("home = \"1\"\n[patrol]\npresets = [\"1\", \"2\"]\ndwell_s = 60\n")
                    .unwrap(),
            ),
            ..Default::default()
        };
        let ids = |v| {
            ptz.zones_of(&zones, v)
                .into_iter()
                .map(|z| z.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(ids("1"), ["a"]);
        assert_eq!(ids("2"), ["b"]);
        assert_eq!(
            ptz.view_of(Some(&PtzPosition::At("2".into()))),
            Some("2".into())
        );
        assert_eq!(ptz.view_of(Some(&PtzPosition::Away)), None);
        assert_eq!(ptz.view_of(None), Some("1".into()));
        let p = ptz.resume_policy();
        // Two presets of 60 s plus their moves, plus a minute.
        assert_eq!(p.patrol_cycle_s, 2.0 * 75.0 + 60.0);
        assert!(p.absence_counts("2", 200.0));
        assert!(!p.absence_counts("3", 10.0));
        assert_eq!(p.limit_s("2"), 300.0);
    }
}
