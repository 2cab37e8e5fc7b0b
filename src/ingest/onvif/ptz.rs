//! ONVIF PTZ: where a PTZ dome looks, its presets, and moving it.
//!
//! The calls: GetCapabilities (the PTZ service address), GetProfiles (a media profile
//! to address the PTZ node through), GetPresets, GotoPreset, GetStatus (position and
//! move status), ContinuousMove and Stop. Every exchange is bounded like discovery's
//! (deadline, size cap) and signed with a WS-Security digest; the password never
//! leaves the box in clear.
//!
//! Also the camera's `[cameras.onvif]` and `[cameras.ptz]` configuration, which this
//! module owns.

use super::OnvifError;
use super::device::{Client, profiles_of};
use super::soap::{self, Credentials};
use super::xml::Element;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// `[cameras.onvif]`: the camera's ONVIF device service, for PTZ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnvifAccess {
    /// `http://<camera>/onvif/device_service`. It must be on the camera's own host:
    /// the box signs ONVIF requests with the camera's password, which never goes to
    /// any other host.
    pub address: String,
    /// ONVIF user name, when it differs from the camera's `username`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

/// `[cameras.ptz.patrol]`: cycle through presets (巡航).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatrolConfig {
    /// Preset tokens visited in this order, then again from the first.
    pub presets: Vec<String>,
    /// Seconds at each preset, counted from its arrival (default 120).
    #[serde(default = "default_dwell_s")]
    pub dwell_s: f64,
}

/// `[cameras.ptz]`: a PTZ camera's presets, patrol and return home.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PtzConfig {
    /// Seconds between position polls (GetStatus; default 2).
    #[serde(default = "default_poll_s")]
    pub poll_s: f64,
    /// Largest difference of pan, tilt or zoom from a preset's stored position (ONVIF
    /// generic space, -1..1) that still counts as at the preset (default 0.01).
    #[serde(default = "default_tolerance")]
    pub tolerance: f64,
    /// The home preset: zones without a `preset` belong to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home: Option<String>,
    /// After this many seconds without movement by anyone else, the box sends the
    /// camera back to `home` (or resumes the patrol). Unset: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_after_s: Option<f64>,
    /// A stay paused because the camera moved resumes when the camera is back at the
    /// same preset within this many seconds and the vehicle is still there; otherwise
    /// it ends with `end_reason: camera_moved` (default 300).
    #[serde(default = "default_resume_within_s")]
    pub resume_within_s: f64,
    /// Seconds of pictures after the camera stopped at a preset before that preset's
    /// zones, tampering checks and reference views come into force (default 2): the
    /// picture reaches the box later than the camera reports its position (encoder,
    /// network and decoder delay, up to a GOP), and a reference or a stay judged on the
    /// last moving pictures would be wrong. 0: at once.
    #[serde(default = "default_settle_s")]
    pub settle_s: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patrol: Option<PatrolConfig>,
}

fn default_dwell_s() -> f64 {
    120.0
}
fn default_settle_s() -> f64 {
    2.0
}
fn default_poll_s() -> f64 {
    2.0
}
fn default_tolerance() -> f64 {
    0.01
}
fn default_resume_within_s() -> f64 {
    300.0
}

/// Seconds a patrol move from one preset to the next is allowed to take.
pub const PATROL_MOVE_S: f64 = 15.0;

impl PtzConfig {
    /// The view zones without a `preset` belong to.
    pub fn home_view(&self) -> Option<&str> {
        self.home.as_deref()
    }

    /// Longest absence from a patrol preset in normal patrolling: one full cycle (the
    /// other presets' dwell and every move) plus a minute of slack.
    pub fn patrol_cycle_s(&self) -> Option<f64> {
        let p = self.patrol.as_ref()?;
        Some(p.presets.len() as f64 * (p.dwell_s + PATROL_MOVE_S) + 60.0)
    }

    /// Problems as (key below `ptz.`, message, hint).
    pub fn problems(&self) -> Vec<(String, String, &'static str)> {
        let mut out = Vec::new();
        let mut range = |key: &str, v: f64, lo: f64, hi: f64, hint| {
            if !(v.is_finite() && v > lo && v <= hi) {
                out.push((key.to_string(), format!("{v} is out of range"), hint));
            }
        };
        range(
            "poll_s",
            self.poll_s,
            0.0,
            60.0,
            "use more than 0 and at most 60 seconds",
        );
        range(
            "tolerance",
            self.tolerance,
            0.0,
            0.5,
            "use more than 0 and at most 0.5 (ONVIF units, e.g. 0.01)",
        );
        range(
            "resume_within_s",
            self.resume_within_s,
            0.0,
            86400.0,
            "use more than 0 and at most 86400 seconds",
        );
        if let Some(r) = self.return_after_s {
            range(
                "return_after_s",
                r,
                0.0,
                86400.0,
                "use more than 0 and at most 86400 seconds, or remove it",
            );
        }
        if let Some(p) = &self.patrol {
            range(
                "patrol.dwell_s",
                p.dwell_s,
                5.0,
                86400.0,
                "use at least 5 and at most 86400 seconds",
            );
            if p.presets.len() < 2 {
                out.push((
                    "patrol.presets".into(),
                    format!("{} preset(s) listed", p.presets.len()),
                    "a patrol needs at least two presets",
                ));
            }
            for (i, t) in p.presets.iter().enumerate() {
                if !valid_token(t) {
                    out.push((
                        format!("patrol.presets[{i}]"),
                        format!("\"{t}\" is not a preset token"),
                        "use the token the camera lists (1-64 characters, no control characters)",
                    ));
                }
            }
        }
        if !(self.settle_s.is_finite() && (0.0..=30.0).contains(&self.settle_s)) {
            out.push((
                "settle_s".into(),
                format!("{} is out of range", self.settle_s),
                "use 0 to 30 seconds (e.g. 2)",
            ));
        }
        if let Some(h) = &self.home
            && !valid_token(h)
        {
            out.push((
                "home".into(),
                format!("\"{h}\" is not a preset token"),
                "use the token the camera lists (1-64 characters, no control characters)",
            ));
        }
        if self.return_after_s.is_some() && self.home.is_none() && self.patrol.is_none() {
            out.push((
                "return_after_s".into(),
                "is set but there is no home preset or patrol to return to".into(),
                "set ptz.home (or a patrol), or remove return_after_s",
            ));
        }
        out
    }
}

/// A preset token as the box accepts it in configuration.
pub fn valid_token(t: &str) -> bool {
    !t.is_empty() && t.chars().count() <= 64 && !t.chars().any(char::is_control)
}

/// A PTZ position in the ONVIF generic spaces: pan and tilt -1..1, zoom 0..1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PtzVector {
    pub pan: f64,
    pub tilt: f64,
    pub zoom: f64,
}

impl PtzVector {
    /// Largest per-axis difference.
    pub fn distance(&self, o: &PtzVector) -> f64 {
        (self.pan - o.pan)
            .abs()
            .max((self.tilt - o.tilt).abs())
            .max((self.zoom - o.zoom).abs())
    }

    fn of(e: &Element) -> Option<PtzVector> {
        let num = |n: &str, a: &str| {
            e.child(n)
                .and_then(|c| c.attr(a))
                .and_then(|v| v.parse().ok())
        };
        Some(PtzVector {
            pan: num("PanTilt", "x")?,
            tilt: num("PanTilt", "y")?,
            zoom: num("Zoom", "x").unwrap_or(0.0),
        })
    }
}

/// One preset as the camera lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Preset {
    pub token: String,
    pub name: String,
    pub position: Option<PtzVector>,
}

/// Presets a camera may list; cameras have up to 256, this bounds a hostile one.
pub const MAX_PRESETS: usize = 300;

/// Where the camera is and whether it moves.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PtzStatus {
    pub position: Option<PtzVector>,
    pub moving: bool,
}

/// Where a PTZ camera looks, as the rules need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "preset", rename_all = "snake_case")]
pub enum PtzPosition {
    /// Moving: nothing is decided on this picture.
    Moving,
    /// Still, at this preset.
    At(String),
    /// Still, but at no known preset (an operator looks elsewhere).
    Away,
}

impl PtzPosition {
    /// Which preset `status` is at, within `tolerance`.
    pub fn of(status: &PtzStatus, presets: &[Preset], tolerance: f64) -> PtzPosition {
        if status.moving {
            return PtzPosition::Moving;
        }
        let Some(pos) = status.position else {
            return PtzPosition::Away;
        };
        presets
            .iter()
            .filter_map(|p| Some((p, p.position?.distance(&pos))))
            .filter(|(_, d)| *d <= tolerance)
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map_or(PtzPosition::Away, |(p, _)| PtzPosition::At(p.token.clone()))
    }
}

/// A connected PTZ camera: its PTZ service and the media profile that addresses it.
pub struct PtzClient {
    client: Client,
    ptz_url: url::Url,
    profile: String,
}

impl std::fmt::Debug for PtzClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PtzClient {{ {} }}", self.ptz_url)
    }
}

impl PtzClient {
    /// Connects: learns the device's clock, the PTZ service and a profile with a PTZ
    /// configuration (the first profile when none says).
    pub fn connect(
        device_service: &str,
        creds: Option<Credentials>,
        timeout: Duration,
    ) -> Result<PtzClient, OnvifError> {
        let mut client = Client::new(device_service, creds, timeout)?;
        client.sync_clock()?;
        let media = client.media_url()?;
        let ptz_url = client.service_url("PTZ")?;
        let action = format!("{}/GetProfiles", soap::NS_MEDIA);
        let b = client.call(&media, &action, soap::get_profiles(), true)?;
        let mut with_ptz = Vec::new();
        b.find_all("Profiles", &mut with_ptz);
        let profile = with_ptz
            .iter()
            .find(|p| p.child("PTZConfiguration").is_some())
            .and_then(|p| p.attr("token").map(str::to_string))
            .or_else(|| profiles_of(&b).into_iter().next().map(|p| p.token))
            .ok_or_else(|| OnvifError::NotOnvif {
                url: client.device_url().to_string(),
                detail: "it lists no media profile to move the camera through".into(),
            })?;
        Ok(PtzClient {
            client,
            ptz_url,
            profile,
        })
    }

    fn ptz(&self, op: &str, body: &str) -> Result<Element, OnvifError> {
        let action = format!("{}/{op}", soap::NS_PTZ);
        self.client.call(&self.ptz_url, &action, body, true)
    }

    /// The camera's presets (at most [`MAX_PRESETS`]).
    pub fn presets(&self) -> Result<Vec<Preset>, OnvifError> {
        let b = self.ptz("GetPresets", &soap::ptz_get_presets(&self.profile))?;
        let mut found = Vec::new();
        b.find_all("Preset", &mut found);
        Ok(found
            .into_iter()
            .filter_map(|p| {
                let token = p.attr("token")?.to_string();
                Some(Preset {
                    name: p
                        .child("Name")
                        .map(|n| n.text.clone())
                        .filter(|n| !n.is_empty())
                        .unwrap_or_else(|| token.clone()),
                    position: p.child("PTZPosition").and_then(PtzVector::of),
                    token,
                })
            })
            .take(MAX_PRESETS)
            .collect())
    }

    /// Starts the move to preset `token` (the camera answers before it arrives).
    pub fn goto_preset(&self, token: &str) -> Result<(), OnvifError> {
        self.ptz("GotoPreset", &soap::ptz_goto_preset(&self.profile, token))
            .map(|_| ())
    }

    /// Position and move status.
    pub fn status(&self) -> Result<PtzStatus, OnvifError> {
        let b = self.ptz("GetStatus", &soap::ptz_get_status(&self.profile))?;
        let position = b.find("Position").and_then(PtzVector::of);
        let moving = b.find("MoveStatus").is_some_and(|m| {
            m.children
                .iter()
                .any(|c| c.text.eq_ignore_ascii_case("MOVING"))
                || m.text.eq_ignore_ascii_case("MOVING")
        });
        Ok(PtzStatus { position, moving })
    }

    /// Moves at a velocity until [`Self::stop`] (each axis -1..1).
    pub fn continuous_move(&self, pan: f64, tilt: f64, zoom: f64) -> Result<(), OnvifError> {
        let c = |v: f64| {
            if v.is_finite() {
                v.clamp(-1.0, 1.0)
            } else {
                0.0
            }
        };
        self.ptz(
            "ContinuousMove",
            &soap::ptz_continuous_move(&self.profile, c(pan), c(tilt), c(zoom)),
        )
        .map(|_| ())
    }

    pub fn stop(&self) -> Result<(), OnvifError> {
        self.ptz("Stop", &soap::ptz_stop(&self.profile)).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preset(t: &str, pan: f64) -> Preset {
        Preset {
            token: t.into(),
            name: t.into(),
            position: Some(PtzVector {
                pan,
                tilt: 0.0,
                zoom: 0.0,
            }),
        }
    }

    #[test]
    fn the_position_is_the_nearest_preset_within_tolerance() {
        let presets = [preset("1", 0.0), preset("2", 0.5)];
        let at = |pan: f64, moving| {
            PtzPosition::of(
                &PtzStatus {
                    position: Some(PtzVector {
                        pan,
                        tilt: 0.0,
                        zoom: 0.0,
                    }),
                    moving,
                },
                &presets,
                0.01,
            )
        };
        assert_eq!(at(0.005, false), PtzPosition::At("1".into()));
        assert_eq!(at(0.495, false), PtzPosition::At("2".into()));
        assert_eq!(at(0.2, false), PtzPosition::Away);
        assert_eq!(at(0.5, true), PtzPosition::Moving);
    }

    #[test]
    fn presets_and_status_are_read_from_the_answers() {
        let text = r#"<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:tptz="http://www.onvif.org/ver20/ptz/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema"><env:Body>
          <tptz:GetPresetsResponse><tptz:Preset token="1"><tt:Name>东门</tt:Name><tt:PTZPosition><tt:PanTilt x="0.25" y="-0.1"/><tt:Zoom x="0.3"/></tt:PTZPosition></tptz:Preset>
          <tptz:Preset token="2"/></tptz:GetPresetsResponse></env:Body></env:Envelope>"#;
        let Ok(soap::Answer::Body(b)) = soap::read(text) else {
            panic!()
        };
        let mut found = Vec::new();
        b.find_all("Preset", &mut found);
        assert_eq!(found.len(), 2);
        let v = PtzVector::of(found[0].child("PTZPosition").unwrap()).unwrap();
        assert_eq!((v.pan, v.tilt, v.zoom), (0.25, -0.1, 0.3));
    }

    #[test]
    fn config_problems_name_their_key() {
        let c: PtzConfig =
            toml::from_str("return_after_s = 60\n[patrol]\npresets = [\"1\"]\ndwell_s = 1\n")
                .unwrap();
        let keys: Vec<String> = c.problems().into_iter().map(|p| p.0).collect();
        assert!(keys.contains(&"patrol.presets".to_string()), "{keys:?}");
        assert!(keys.contains(&"patrol.dwell_s".to_string()), "{keys:?}");
        // A patrol is something to return to; without home or patrol there is none.
        assert!(!keys.contains(&"return_after_s".to_string()), "{keys:?}");
        let lost: PtzConfig = toml::from_str("return_after_s = 60\n").unwrap();
        let keys: Vec<String> = lost.problems().into_iter().map(|p| p.0).collect();
        assert_eq!(keys, ["return_after_s"]);
        let ok: PtzConfig = toml::from_str("home = \"1\"\nreturn_after_s = 600\n").unwrap();
        assert!(ok.problems().is_empty());
        assert_eq!(ok.resume_within_s, 300.0);
    }
}
