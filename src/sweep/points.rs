//! Replicates summarised per grid point: `points.csv` holds, for each grid point (its axis
//! values) and each numeric summary figure, the number of seeds, the mean, its 95% confidence
//! interval and the spread of single runs (min, 5th percentile, median, 95th percentile, max). The sweep also
//! prints the plot metrics this way, so a reader sees intervals, not one run.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use polars::prelude::*;
use serde_json::Value as Json;

use super::grid::KEY_COLUMNS;
use super::row::{summary_columns, Row};
use crate::report::{tables, OverSeeds};
use crate::Error;

pub const POINTS_CSV: &str = "points.csv";

/// One grid point: its axis cells (in column order) and its runs' rows.
struct Point<'a> {
    axes: Vec<(String, Json)>,
    rows: Vec<&'a Row>,
}

/// Groups rows by their axis cells (every cell but the run, the seed and the summary figures),
/// in order of first appearance (rows come in run order, so grid order).
fn points(rows: &BTreeMap<u64, Row>) -> Vec<Point<'_>> {
    let summary = summary_columns();
    let is_axis = |c: &str| !KEY_COLUMNS.contains(&c) && !summary.iter().any(|s| s == c);
    let mut order: Vec<Point> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    for row in rows.values() {
        let axes: Vec<(String, Json)> = row
            .cells
            .iter()
            .filter(|(c, _)| is_axis(c))
            .cloned()
            .collect();
        let key = serde_json::to_string(&axes).unwrap_or_default();
        let i = *index.entry(key).or_insert_with(|| {
            order.push(Point {
                axes,
                rows: Vec::new(),
            });
            order.len() - 1
        });
        order[i].rows.push(row);
    }
    order
}

/// `metric` over the rows of a point.
fn over_seeds(point: &Point, metric: &str) -> Option<OverSeeds> {
    let values: Vec<f64> = point
        .rows
        .iter()
        .filter_map(|r| r.get(metric).and_then(Json::as_f64))
        .collect();
    OverSeeds::of(&values)
}

fn show(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Writes `points.csv` into `dir`.
pub fn write_points(dir: &Path, rows: &BTreeMap<u64, Row>) -> Result<(), Error> {
    let points = points(rows);
    let metrics = summary_columns();
    let axis_names: Vec<String> = points
        .first()
        .map(|p| p.axes.iter().map(|(c, _)| c.clone()).collect())
        .unwrap_or_default();
    let mut axis_columns: Vec<Vec<String>> = vec![Vec::new(); axis_names.len()];
    let mut metric_column = Vec::new();
    let mut stats: [Vec<Option<f64>>; 10] = Default::default();
    for point in &points {
        for metric in &metrics {
            let Some(o) = over_seeds(point, metric) else {
                continue;
            };
            for (k, column) in axis_columns.iter_mut().enumerate() {
                column.push(point.axes.get(k).map(|(_, v)| show(v)).unwrap_or_default());
            }
            metric_column.push(metric.clone());
            let values = o.values();
            for (column, v) in stats.iter_mut().zip(values) {
                column.push(Some(v));
            }
        }
    }
    let mut columns: Vec<Column> = axis_names
        .iter()
        .zip(axis_columns)
        .map(|(name, values)| Series::new(name.as_str().into(), values).into())
        .collect();
    columns.push(Series::new("metric".into(), metric_column).into());
    for (name, values) in OverSeeds::COLUMNS.iter().zip(stats) {
        columns.push(Series::new((*name).into(), values).into());
    }
    let height = columns.last().map_or(0, |c| c.len());
    let mut frame = DataFrame::new(height, columns)
        .map_err(|e| Error::Other(anyhow::Error::new(e).context("building points.csv")))?;
    tables::write_frame_csv(&dir.join(POINTS_CSV), &mut frame)
}

/// A text table of `metrics` per grid point: over the seeds, the median run with the 5-95%
/// range of single runs (where one more run would fall), and the mean with its 95% CI.
pub fn points_table(rows: &BTreeMap<u64, Row>, metrics: &[String]) -> String {
    let points = points(rows);
    let mut cells: Vec<Vec<String>> = Vec::new();
    if let Some(first) = points.first() {
        let mut header: Vec<String> = first.axes.iter().map(|(c, _)| c.clone()).collect();
        header.push("seeds".into());
        for m in metrics {
            header.push(format!("{m}: median [p5-p95] mean±CI"));
        }
        cells.push(header);
    }
    for point in &points {
        let mut line: Vec<String> = point.axes.iter().map(|(_, v)| show(v)).collect();
        line.push(point.rows.len().to_string());
        for m in metrics {
            line.push(match over_seeds(point, m) {
                Some(o) => format!(
                    "{:.2} [{:.2}-{:.2}] {:.2}±{:.2}",
                    o.median,
                    o.p5,
                    o.p95,
                    o.mean,
                    o.half_ci()
                ),
                None => "-".into(),
            });
        }
        cells.push(line);
    }
    let widths = crate::report::column_widths(&cells);
    let mut out = String::new();
    for row in &cells {
        for (c, cell) in row.iter().enumerate() {
            let _ = write!(out, "{cell:>w$}  ", w = widths[c]);
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
    }
    out
}
