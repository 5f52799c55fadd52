//! A simulation config: its TOML schema (module `schema`, re-exported here: [`Config`] and its
//! sections), and its loading ([`load_config`]): includes merged (`include`), `--set`
//! overrides applied ([`apply_set`]), then deserialization with errors that name the file and
//! the field path ([`parse_config_value`]). One dotted-path reader, [`path`], serves all three.

mod arrivals;
mod diagnose;
mod faults;
mod include;
mod network;
pub mod path;
mod schema;
mod set;

use std::fmt;
use std::path::{Path, PathBuf};

use policies::FieldError;
use toml::Value;

pub use arrivals::{ArrivalConfig, TraceConfig};
pub use diagnose::parse_config_value;
pub use faults::{
    FaultsConfig, InvokerCrashConfig, InvokerFailuresConfig, OutageConfig, StragglersConfig,
};
pub use network::{BackendConfig, DirectConfig, NetworkConfig};
pub use path::value_at;
pub use schema::*;
pub use set::apply_set;

/// A config problem: which file, which field (dotted path, may be empty), what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file at fault (for `--set` and validation errors: the config given on the command line).
    pub file: PathBuf,
    /// Dotted field path such as `cluster.invokers[0].cpus`; empty when the whole file is at fault.
    pub field: String,
    /// What was wrong, e.g. `expected an integer >= 1, got 0`.
    pub message: String,
}

impl ConfigError {
    /// A problem with `field` of `file`, described by `message`.
    pub fn new(file: &Path, field: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            field: field.into(),
            message: message.into(),
        }
    }

    /// A field of `file` that failed validation: its path, what was expected, what it was.
    pub fn invalid(file: &Path, error: FieldError) -> Self {
        ConfigError::new(file, error.path.clone(), error.message())
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(
                f,
                "{}: field `{}`: {}",
                self.file.display(),
                self.field,
                self.message
            )
        }
    }
}

impl std::error::Error for ConfigError {}

/// Reads `path`, resolves its includes, applies `sets`, and deserializes the result.
pub fn load_config(path: &Path, sets: &[String]) -> Result<Config, ConfigError> {
    let value = load_config_value(path, sets)?;
    parse_config_value(value, path)
}

/// As [`load_config`], from TOML `text` instead of a file (`origin` names it in errors). An
/// `include` is refused: its paths are relative to a config file.
pub fn config_from_text(text: &str, sets: &[String], origin: &Path) -> Result<Config, ConfigError> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::new(origin, "", format!("invalid TOML: {e}")))?;
    if table.contains_key("include") {
        return Err(ConfigError::new(
            origin,
            "include",
            "expected no includes in a config that is not read from a file",
        ));
    }
    let mut value = Value::Table(table);
    for set in sets {
        apply_set(&mut value, set, origin)?;
    }
    parse_config_value(value, origin)
}

/// The merged config of `path` (includes resolved) with `sets` applied, before deserializing.
pub fn load_config_value(path: &Path, sets: &[String]) -> Result<Value, ConfigError> {
    let table = include::load_merged(path, &mut Vec::new())?;
    let mut value = Value::Table(table);
    for set in sets {
        apply_set(&mut value, set, path)?;
    }
    Ok(value)
}
