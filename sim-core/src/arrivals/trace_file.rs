//! Reading a CSV trace line by line: line numbers for errors, columns found by their header
//! names, and the bad-line policy. Trace files hold no quoted fields, so a line is split at
//! commas.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::TraceError;

/// What to do with a line that does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BadLines {
    /// Stop with an error naming the file and line.
    #[default]
    Error,
    /// Skip it; the trace's summary counts skipped lines and quotes the first.
    Skip,
}

/// Lines skipped under [`BadLines::Skip`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Skipped {
    /// How many.
    pub lines: u64,
    /// The first one, with its reason.
    pub first: Option<TraceError>,
}

impl Skipped {
    /// Applies `policy` to the bad line `error`: an error under `error`, counted under `skip`.
    pub fn handle(&mut self, policy: BadLines, error: TraceError) -> Result<(), TraceError> {
        match policy {
            BadLines::Error => Err(error),
            BadLines::Skip => {
                self.lines += 1;
                self.first.get_or_insert(error);
                Ok(())
            }
        }
    }
}

/// A trace file open for reading.
pub struct TraceFile {
    path: PathBuf,
    reader: BufReader<File>,
    line: u64,
    buf: String,
}

impl TraceFile {
    /// Opens `path`; a missing or unreadable file is an error naming it.
    pub fn open(path: &Path) -> Result<TraceFile, TraceError> {
        let file = File::open(path)
            .map_err(|e| TraceError::file(path, format!("cannot open the trace file: {e}")))?;
        Ok(TraceFile {
            path: path.to_path_buf(),
            reader: BufReader::with_capacity(1 << 16, file),
            line: 0,
            buf: String::new(),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next non-empty line (without its line break) and its 1-based number.
    pub fn next_line(&mut self) -> Result<Option<(u64, &str)>, TraceError> {
        loop {
            self.buf.clear();
            let n = self.reader.read_line(&mut self.buf).map_err(|e| {
                TraceError::at_line(&self.path, self.line + 1, format!("cannot read: {e}"))
            })?;
            if n == 0 {
                return Ok(None);
            }
            self.line += 1;
            let end = self.buf.trim_end_matches(['\n', '\r']).len();
            let start = if self.line == 1 && self.buf.starts_with('\u{feff}') {
                '\u{feff}'.len_utf8()
            } else {
                0
            };
            if !self.buf[start..end].trim().is_empty() {
                return Ok(Some((self.line, &self.buf[start..end])));
            }
        }
    }

    /// Reads the header line and returns the column index of each of `names`, in that order;
    /// a missing column is an error naming it and the line.
    pub fn header(&mut self, names: &[&str]) -> Result<Vec<usize>, TraceError> {
        let path = self.path.clone();
        let Some((line, text)) = self.next_line()? else {
            return Err(TraceError::file(path, "empty file: expected a header line"));
        };
        let columns: Vec<&str> = text.split(',').map(str::trim).collect();
        names
            .iter()
            .map(|name| {
                columns.iter().position(|c| c == name).ok_or_else(|| {
                    TraceError::at_line(
                        &path,
                        line,
                        format!(
                            "header: expected a column `{name}` (columns: {})",
                            columns.join(",")
                        ),
                    )
                })
            })
            .collect()
    }

    /// An error at line `line` of this file.
    pub fn error(&self, line: u64, message: impl Into<String>) -> TraceError {
        TraceError::at_line(&self.path, line, message)
    }
}

/// Field `index` of `fields`, named `name` in errors.
pub fn field<'a>(fields: &[&'a str], index: usize, name: &str) -> Result<&'a str, String> {
    fields.get(index).map(|f| f.trim()).ok_or_else(|| {
        format!(
            "missing column `{name}` ({} fields on the line)",
            fields.len()
        )
    })
}

/// Field `index` as a finite number >= 0.
pub fn non_negative(fields: &[&str], index: usize, name: &str) -> Result<f64, String> {
    let text = field(fields, index, name)?;
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!(
            "column `{name}`: expected a number >= 0, got `{text}`"
        )),
    }
}

/// Field `index` as an integer >= 0.
pub fn count(fields: &[&str], index: usize, name: &str) -> Result<u64, String> {
    let text = field(fields, index, name)?;
    text.parse::<u64>()
        .map_err(|_| format!("column `{name}`: expected an integer >= 0, got `{text}`"))
}

/// Field `index` as a non-empty string.
pub fn name<'a>(fields: &[&'a str], index: usize, column: &str) -> Result<&'a str, String> {
    let text = field(fields, index, column)?;
    if text.is_empty() {
        Err(format!("column `{column}`: expected a non-empty id"))
    } else {
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_numbered_and_columns_found_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, "\u{feff}b,a\r\n1,2\n\n3,4\n").unwrap();
        let mut f = TraceFile::open(&path).unwrap();
        assert_eq!(f.header(&["a", "b"]).unwrap(), vec![1, 0]);
        assert_eq!(f.next_line().unwrap(), Some((2, "1,2")));
        assert_eq!(f.next_line().unwrap(), Some((4, "3,4")));
        assert_eq!(f.next_line().unwrap(), None);
        let mut f = TraceFile::open(&path).unwrap();
        let e = f.header(&["c"]).unwrap_err();
        assert_eq!(e.line, Some(1));
        assert!(e.to_string().contains("expected a column `c`"), "{e}");
        let missing = TraceFile::open(&dir.path().join("none.csv")).err().unwrap();
        assert!(
            missing.to_string().contains("none.csv: cannot open"),
            "{missing}"
        );
    }

    #[test]
    fn fields_parse_with_named_errors() {
        let fields: Vec<&str> = "x, 2.5,-1,7".split(',').collect();
        assert_eq!(non_negative(&fields, 1, "d"), Ok(2.5));
        assert_eq!(
            non_negative(&fields, 2, "d").unwrap_err(),
            "column `d`: expected a number >= 0, got `-1`"
        );
        assert_eq!(count(&fields, 3, "n"), Ok(7));
        assert!(count(&fields, 1, "n").is_err());
        assert!(field(&fields, 9, "z")
            .unwrap_err()
            .contains("missing column `z`"));
    }
}
