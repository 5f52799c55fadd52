//! One results row per run (run index, seed, axis values, every summary figure), its JSON-lines
//! form in the append-only log, and the tidy table (polars) built from rows.

use std::fmt;

use polars::prelude::*;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value as Json;

use crate::report::Summary;
use crate::Error;

/// A results row: named cells in column order.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub run: u64,
    pub cells: Vec<(String, Json)>,
}

impl Row {
    /// The value of a column, if present.
    pub fn get(&self, column: &str) -> Option<&Json> {
        self.cells.iter().find(|(c, _)| c == column).map(|(_, v)| v)
    }
}

/// The summary's figures as cells, in the order `Summary` declares them (nested objects are
/// flattened to `a.b`).
pub fn summary_cells(summary: &Summary) -> Vec<(String, Json)> {
    // Serializing writes the fields in declaration order; reading back into an ordered map
    // keeps that order, which a `serde_json::Map` (sorted) would lose.
    let text = serde_json::to_string(summary).expect("a summary always serializes");
    let map: Ordered = serde_json::from_str(&text).expect("just serialized");
    let mut cells = Vec::new();
    flatten("", map.0, &mut cells);
    cells
}

fn flatten(prefix: &str, entries: Vec<(String, Json)>, out: &mut Vec<(String, Json)>) {
    for (k, v) in entries {
        let name = if prefix.is_empty() {
            k
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Json::Object(map) => flatten(&name, map.into_iter().collect(), out),
            Json::Array(_) => out.push((name, Json::String(v.to_string()))),
            v => out.push((name, v)),
        }
    }
}

/// Names of the summary columns (from an empty run's summary), then the `comm.*` columns
/// that runs of `steps` workloads add and the `faults.*` columns of runs with `[faults]`.
pub fn summary_columns() -> Vec<String> {
    summary_cells(&Summary::from_records(&[]))
        .into_iter()
        .map(|(k, _)| k)
        .chain(crate::report::steps::comm_columns())
        .chain(crate::report::faults::fault_columns())
        .collect()
}

/// A JSON object read or written with its keys in order.
struct Ordered(Vec<(String, Json)>);

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
                let mut entries = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Json>()? {
                    entries.push((k, v));
                }
                Ok(Ordered(entries))
            }
        }
        d.deserialize_map(V)
    }
}

struct OrderedRef<'a>(&'a str, &'a [(String, Json)]);

impl Serialize for OrderedRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.1.len() + 1))?;
        map.serialize_entry("sweep", self.0)?;
        for (k, v) in self.1 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// The row as one JSON line (with a trailing newline), tagged with the sweep hash.
pub fn to_line(hash: &str, row: &Row) -> String {
    let mut line = serde_json::to_string(&OrderedRef(hash, &row.cells)).expect("rows serialize");
    line.push('\n');
    line
}

/// Parses a JSON line back into the sweep hash and the row.
pub fn from_line(line: &str) -> Result<(String, Row), String> {
    let Ordered(mut entries) = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let hash = match entries.first() {
        Some((k, Json::String(h))) if k == "sweep" => h.clone(),
        _ => return Err("expected the first key to be `sweep`".into()),
    };
    entries.remove(0);
    let run = match entries.first() {
        Some((k, v)) if k == "run" => v.as_u64().ok_or("expected `run` to be an integer")?,
        _ => return Err("expected `run` after `sweep`".into()),
    };
    Ok((
        hash,
        Row {
            run,
            cells: entries,
        },
    ))
}

/// The tidy table: one row per run, columns as in the first row; each column typed by its
/// values (integers -> Int64, numbers -> Float64, booleans, else strings; JSON null -> null).
pub fn table(rows: &[Row]) -> Result<DataFrame, Error> {
    let Some(first) = rows.first() else {
        return Ok(DataFrame::empty());
    };
    let mut columns = Vec::with_capacity(first.cells.len());
    for (i, (name, _)) in first.cells.iter().enumerate() {
        let values: Vec<&Json> = rows
            .iter()
            .map(|r| match r.cells.get(i) {
                Some((n, v)) if n == name => v,
                // Rows come from one sweep, so their columns line up; be lenient anyway.
                _ => r.get(name).unwrap_or(&Json::Null),
            })
            .collect();
        columns.push(column(name, &values));
    }
    DataFrame::new(rows.len(), columns)
        .map_err(|e| Error::Other(anyhow::anyhow!("building the results table: {e}")))
}

fn column(name: &str, values: &[&Json]) -> Column {
    let present = || values.iter().filter(|v| !v.is_null());
    let name: PlSmallStr = name.into();
    if present().all(|v| v.is_boolean()) && present().next().is_some() {
        let v: Vec<Option<bool>> = values.iter().map(|v| v.as_bool()).collect();
        Series::new(name, v).into()
    } else if present().all(|v| v.is_i64()) {
        let v: Vec<Option<i64>> = values.iter().map(|v| v.as_i64()).collect();
        Series::new(name, v).into()
    } else if present().all(|v| v.is_number()) {
        let v: Vec<Option<f64>> = values.iter().map(|v| v.as_f64()).collect();
        Series::new(name, v).into()
    } else {
        let v: Vec<Option<String>> = values
            .iter()
            .map(|v| match v {
                Json::Null => None,
                Json::String(s) => Some(s.clone()),
                other => Some(other.to_string()),
            })
            .collect();
        Series::new(name, v).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_in_order() {
        let row = Row {
            run: 7,
            cells: vec![
                ("run".into(), Json::from(7u64)),
                ("seed".into(), Json::from(3u64)),
                ("z".into(), Json::from(0.1)),
                ("a".into(), Json::String("x".into())),
                ("m".into(), Json::Null),
            ],
        };
        let line = to_line("abc", &row);
        assert!(line.starts_with("{\"sweep\":\"abc\",\"run\":7,\"seed\":3,\"z\":0.1"));
        let (hash, back) = from_line(line.trim_end()).unwrap();
        assert_eq!(hash, "abc");
        assert_eq!(back, row);
    }

    #[test]
    fn summary_cells_keep_declaration_order() {
        let cells = summary_cells(&Summary::from_records(&[]));
        assert_eq!(cells[0].0, "functions");
        assert!(cells.iter().any(|(k, _)| k == "makespan_s"));
    }

    #[test]
    fn table_types_columns_by_values() {
        let rows: Vec<Row> = (0..3u64)
            .map(|i| Row {
                run: i,
                cells: vec![
                    ("run".into(), Json::from(i)),
                    ("x".into(), Json::from(i as f64 / 2.0)),
                    ("label".into(), Json::String(format!("l{i}"))),
                    (
                        "lat".into(),
                        if i == 1 { Json::Null } else { Json::from(1.5) },
                    ),
                ],
            })
            .collect();
        let df = table(&rows).unwrap();
        assert_eq!(df.height(), 3);
        assert_eq!(df.column("run").unwrap().dtype(), &DataType::Int64);
        assert_eq!(df.column("x").unwrap().dtype(), &DataType::Float64);
        assert_eq!(df.column("label").unwrap().dtype(), &DataType::String);
        assert_eq!(df.column("lat").unwrap().null_count(), 1);
    }
}
