//! Reading a config file with its `include = [...]` files merged under it.

use std::path::{Path, PathBuf};

use policies::FieldError;
use toml::{Table, Value};

use super::ConfigError;

/// The table of `path` with its includes merged under it, recursively. `stack` holds the
/// files being read (to report include cycles).
pub(super) fn load_merged(path: &Path, stack: &mut Vec<PathBuf>) -> Result<Table, ConfigError> {
    let canonical = path
        .canonicalize()
        .map_err(|e| ConfigError::new(path, "", format!("cannot read the config file: {e}")))?;
    if let Some(pos) = stack.iter().position(|p| *p == canonical) {
        let chain: Vec<String> = stack[pos..]
            .iter()
            .chain(std::iter::once(&canonical))
            .map(|p| p.display().to_string())
            .collect();
        return Err(ConfigError::new(
            path,
            "include",
            format!("include cycle: {}", chain.join(" -> ")),
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(path, "", format!("cannot read the config file: {e}")))?;
    let mut own: Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::new(path, "", format!("invalid TOML: {e}")))?;
    let includes = include_list(own.remove("include"))
        .map_err(|e| ConfigError::invalid(path, e.under("include")))?;
    stack.push(canonical);
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut merged = Table::new();
    for (i, include) in includes.iter().enumerate() {
        let include_path = dir.join(include);
        if !include_path.is_file() {
            return Err(ConfigError::new(
                path,
                format!("include[{i}]"),
                format!("included file `{}` does not exist", include_path.display()),
            ));
        }
        merge_into(&mut merged, load_merged(&include_path, stack)?);
    }
    stack.pop();
    merge_into(&mut merged, own);
    Ok(merged)
}

/// The file paths of an `include` value (none when absent); paths relative to `include`.
fn include_list(include: Option<Value>) -> Result<Vec<String>, FieldError> {
    match include {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s),
                other => Err(FieldError::new(
                    format!("[{i}]"),
                    "a file path string",
                    other.type_str(),
                )),
            })
            .collect(),
        Some(other) => Err(FieldError::new(
            "",
            "an array of file paths",
            other.type_str(),
        )),
    }
}

/// Deep merge: keys of `top` win; tables merge recursively; arrays and scalars are replaced.
fn merge_into(base: &mut Table, top: Table) {
    for (key, value) in top {
        match (base.get_mut(&key), value) {
            (Some(Value::Table(b)), Value::Table(t)) => merge_into(b, t),
            (_, v) => {
                base.insert(key, v);
            }
        }
    }
}
