//! Turning a deserialization error into a [`ConfigError`] that names the field at fault.

use std::path::Path;

use toml::Value;

use super::path::{parse_path, set_at, value_at};
use super::{Config, ConfigError};

/// Deserializes a merged config value; errors name `origin` and the field path.
pub fn parse_config_value(value: Value, origin: &Path) -> Result<Config, ConfigError> {
    serde_path_to_error::deserialize(value.clone()).map_err(|e| {
        let path = e.path().to_string();
        let mut field = if path == "." { String::new() } else { path };
        if let Some(key) = culprit_key(&value, &field) {
            field = if field.is_empty() {
                key
            } else {
                format!("{field}.{key}")
            };
        }
        ConfigError::new(origin, field, clean_message(&e.inner().to_string()))
    })
}

/// Serde loses the path inside internally tagged tables (`[workload]`, `[policy]`, distribution
/// tables) and reports the table itself. Finds the key at fault: the one whose removal makes the
/// error go away or turn into "missing field" for that key.
fn culprit_key(root: &Value, field: &str) -> Option<String> {
    let Some(Value::Table(table)) = value_at(root, field) else {
        return None;
    };
    let steps = parse_path(field)?;
    let original = error_of(root.clone())?;
    for key in table
        .keys()
        .filter(|k| !["kind", "name", "dist", "format"].contains(&k.as_str()))
    {
        let mut without = table.clone();
        without.remove(key);
        let mut trial = root.clone();
        set_at(&mut trial, &steps, Value::Table(without)).ok()?;
        match error_of(trial) {
            None => return Some(key.clone()),
            Some(msg) if msg != original && msg.contains(&format!("missing field `{key}`")) => {
                return Some(key.clone())
            }
            Some(_) => {}
        }
    }
    None
}

/// The deserialization error of `value` as a config, if any.
fn error_of(value: Value) -> Option<String> {
    serde_path_to_error::deserialize::<_, Config>(value)
        .err()
        .map(|e| e.inner().to_string())
}

/// toml's value errors end with an `in \`key\`` line that repeats part of the path we print.
fn clean_message(msg: &str) -> String {
    msg.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("in `"))
        .collect::<Vec<_>>()
        .join("; ")
}
