//! A PTZ camera's positions over media time, for `streetwatch replay --ptz-script`:
//! a recording has no ONVIF status beside it, so the replay is told where the camera
//! was. One line per change, seconds from the start of the video:
//!
//! ```text
//! # seconds  state
//! 0          at 1        # at preset token "1"
//! 60         moving
//! 63         at 2
//! 120        away        # still, at no preset (an operator looks elsewhere)
//! ```
//!
//! Blank lines and `#` comments are ignored; times must increase.

use crate::ingest::onvif::ptz::{PtzPosition, valid_token};

/// One change of position.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub at_s: f64,
    pub position: PtzPosition,
}

/// A parsed script.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PtzScript {
    pub steps: Vec<Step>,
}

/// Why a script was refused: the line and what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "PTZ script line {line}: {message}; write `<seconds> at <preset>`, `<seconds> moving` or `<seconds> away`"
)]
pub struct ScriptError {
    pub line: usize,
    pub message: String,
}

impl PtzScript {
    pub fn parse(text: &str) -> Result<PtzScript, ScriptError> {
        let mut steps: Vec<Step> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let err = |message: String| ScriptError {
                line: i + 1,
                message,
            };
            let mut words = line.split_whitespace();
            let at_s: f64 = words
                .next()
                .and_then(|w| w.parse().ok())
                .filter(|v: &f64| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| err("the time is not a number of seconds >= 0".into()))?;
            if steps.last().is_some_and(|s| s.at_s >= at_s) {
                return Err(err(format!("{at_s} s is not after the line before")));
            }
            let position = match (words.next(), words.next()) {
                (Some("moving"), None) => PtzPosition::Moving,
                (Some("away"), None) => PtzPosition::Away,
                (Some("at"), Some(t)) if valid_token(t) => PtzPosition::At(t.to_string()),
                (Some(w), _) => return Err(err(format!("\"{w}\" is not a position"))),
                (None, _) => return Err(err("no position after the time".into())),
            };
            if words.next().is_some() {
                return Err(err("text after the position".into()));
            }
            steps.push(Step { at_s, position });
        }
        Ok(PtzScript { steps })
    }

    /// The position at `t_s` seconds from the start (None before the first line).
    pub fn at(&self, t_s: f64) -> Option<&PtzPosition> {
        self.steps
            .iter()
            .take_while(|s| s.at_s <= t_s)
            .last()
            .map(|s| &s.position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_gives_the_position_at_each_time_and_refuses_bad_lines() {
        let s = PtzScript::parse("# patrol\n0 at 1\n60 moving # turning\n\n63 at 2\n90 away\n")
            .unwrap();
        assert_eq!(s.at(0.0), Some(&PtzPosition::At("1".into())));
        assert_eq!(s.at(61.0), Some(&PtzPosition::Moving));
        assert_eq!(s.at(89.9), Some(&PtzPosition::At("2".into())));
        assert_eq!(s.at(1000.0), Some(&PtzPosition::Away));
        let e = PtzScript::parse("0 at 1\n0 at 2\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(
            PtzScript::parse("5 flying")
                .unwrap_err()
                .to_string()
                .contains("line 1")
        );
        assert!(PtzScript::parse("x at 1").is_err());
    }
}
