//! One typed configuration for the whole box.
//!
//! The file is TOML, deserialised with `deny_unknown_fields` everywhere so a typo is an
//! error rather than a silently ignored setting. Loading never returns a half-valid
//! config: [`load`] either yields a [`Config`] that passed [`validate`] or a list of
//! every problem found, each with its key path and a fix hint for the technician.

mod persist;
mod types;
mod validate;

pub use persist::{write_atomic, write_atomic_mode};
pub use types::*;
pub use validate::{Problem, check_analysis_url, check_camera_url, validate};

use std::path::{Path, PathBuf};

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: cannot read it ({source}); check the path and its permissions")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {}", format_problems(problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
    #[error("config file {path}: cannot write it ({source})")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl ConfigError {
    /// Every problem found, for APIs that show them next to the field.
    pub fn problems(&self) -> Vec<Problem> {
        match self {
            ConfigError::Invalid { problems, .. } => problems.clone(),
            other => vec![Problem::new("", other.to_string(), "")],
        }
    }
}

fn format_problems(problems: &[Problem]) -> String {
    let lines: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    format!("{} problem(s)\n  {}", problems.len(), lines.join("\n  "))
}

/// Parse and validate TOML text. `origin` only labels errors.
pub fn parse(text: &str, origin: &Path) -> Result<Config, ConfigError> {
    let config = parse_unvalidated(text, origin)?;
    let problems = validate(&config);
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError::Invalid {
            path: origin.to_path_buf(),
            problems,
        })
    }
}

/// Parse TOML text into a [`Config`] without the semantic checks, for a caller that
/// adjusts it first (a config import keeps the box's own file-only keys, so another
/// box's paths are neither checked nor read) and then calls [`validate`].
pub fn parse_unvalidated(text: &str, origin: &Path) -> Result<Config, ConfigError> {
    let invalid = |problems| ConfigError::Invalid {
        path: origin.to_path_buf(),
        problems,
    };
    let de = toml::de::Deserializer::parse(text)
        .map_err(|e| invalid(vec![syntax_problem(text, "", &e)]))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        invalid(vec![syntax_problem(text, &path, &inner)])
    })
}

/// Read, parse and validate a config file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, path)
}

/// Serialise and persist atomically (temp file, fsync, rename, fsync dir) so a power
/// cut leaves either the old or the new file, never a torn one. The config is
/// validated first: an invalid config never replaces the last good one. The file holds
/// camera and broker passwords, so it is written 0600.
pub fn save(config: &Config, path: &Path) -> Result<(), ConfigError> {
    let problems = validate(config);
    if !problems.is_empty() {
        return Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            problems,
        });
    }
    let text = toml::to_string_pretty(config).map_err(|e| ConfigError::Write {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    })?;
    write_atomic_mode(path, text.as_bytes(), 0o600).map_err(|source| ConfigError::Write {
        path: path.to_path_buf(),
        source,
    })
}

fn syntax_problem(text: &str, path: &str, e: &toml::de::Error) -> Problem {
    let line = e
        .span()
        .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
    let msg = e.message().trim().to_string();
    let hint = if msg.contains("unknown field") {
        "remove the key or fix its spelling; the README's configuration reference lists every key"
    } else if msg.contains("invalid type") {
        "check the value's type (quotes for text, no quotes for numbers and true/false)"
    } else if msg.contains("missing field") {
        "add the missing key"
    } else {
        "fix the TOML syntax at that line"
    };
    let mut p = Problem::new(path, msg, hint);
    p.line = line;
    p
}

#[cfg(test)]
mod tests;
