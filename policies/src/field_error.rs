//! The one error type of parameter validation: which field, what was expected, what it was.
//! Specs validate their own fields with paths relative to themselves; whoever holds the spec
//! prefixes its own place ([`FieldError::under`]) and, for config files, adds the file.

use std::fmt;

/// A field whose value failed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path of the field (`granularity`, `duration.min`, `values[1]`), relative to the
    /// value that was validated; empty when that value as a whole is at fault.
    pub path: String,
    /// What a valid value looks like (`an integer >= 1`).
    pub expected: String,
    /// What the value was (`0`).
    pub got: String,
}

impl FieldError {
    /// An error at `path`: `expected` what a valid value looks like, `got` what it was.
    pub fn new(
        path: impl Into<String>,
        expected: impl Into<String>,
        got: impl fmt::Display,
    ) -> Self {
        FieldError {
            path: path.into(),
            expected: expected.into(),
            got: got.to_string(),
        }
    }

    /// The same error seen from one level up: under `outer`, `granularity` becomes
    /// `outer.granularity` and `[2]` becomes `outer[2]`.
    pub fn under(mut self, outer: &str) -> Self {
        self.path = if self.path.is_empty() {
            outer.to_string()
        } else if outer.is_empty() || self.path.starts_with('[') {
            format!("{outer}{}", self.path)
        } else {
            format!("{outer}.{}", self.path)
        };
        self
    }

    /// `expected ..., got ...`, without the path.
    pub fn message(&self) -> String {
        format!("expected {}, got {}", self.expected, self.got)
    }
}

/// `` `path`: expected ..., got ... `` (the path is left out when empty).
impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message())
        } else {
            write!(f, "`{}`: {}", self.path, self.message())
        }
    }
}

impl std::error::Error for FieldError {}

#[cfg(test)]
mod tests {
    use super::FieldError;

    #[test]
    fn paths_compose_outwards() {
        let e = FieldError::new("min", "a finite number >= 0", -1.0);
        assert_eq!(e.clone().under("duration").path, "duration.min");
        assert_eq!(e.clone().under("").path, "min");
        let indexed = FieldError::new("[2]", "a file path string", "integer");
        assert_eq!(indexed.under("include").path, "include[2]");
        let whole = FieldError::new("", "min <= max", "min = 2, max = 1");
        assert_eq!(whole.clone().under("queue.latency").path, "queue.latency");
        assert_eq!(
            whole.to_string(),
            "expected min <= max, got min = 2, max = 1"
        );
        assert_eq!(
            e.under("work").to_string(),
            "`work.min`: expected a finite number >= 0, got -1"
        );
    }
}
