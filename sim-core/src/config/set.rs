//! `--set dotted.path=value` overrides, applied to the merged config before deserializing.

use std::path::Path;

use toml::{Table, Value};

use super::path::{parse_path, set_at};
use super::ConfigError;

/// Applies one `dotted.path=TOML value` override. A value that is not valid TOML is a string.
pub fn apply_set(value: &mut Value, set: &str, origin: &Path) -> Result<(), ConfigError> {
    let Some((path, raw)) = set.split_once('=') else {
        return Err(ConfigError::new(
            origin,
            "",
            format!("--set `{set}`: expected `dotted.path=value`"),
        ));
    };
    let path = path.trim();
    let steps = parse_path(path)
        .filter(|steps| !steps.is_empty())
        .ok_or_else(|| {
            ConfigError::new(
                origin,
                path,
                format!("--set `{set}`: expected a path like `a.b[0].c`"),
            )
        })?;
    set_at(value, &steps, parse_value(raw.trim()))
        .map_err(|msg| ConfigError::new(origin, path, format!("--set `{set}`: {msg}")))
}

/// `raw` as a TOML value (`2`, `"x"`, `[1, 2]`, `{ a = 1 }`), or as a string when it is not one.
fn parse_value(raw: &str) -> Value {
    match format!("v = {raw}").parse::<Table>() {
        Ok(mut t) => t.remove("v").unwrap_or_else(|| Value::String(raw.into())),
        Err(_) => Value::String(raw.into()),
    }
}
