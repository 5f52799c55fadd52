//! Sweep plots (PNG and SVG): a summary figure against the x axis, one line per value of the
//! series axis; each point is the mean over the runs at that x and series value (seeds, and any
//! other axis, pooled) with an error bar over the 95% confidence interval of that mean, and a
//! shaded band over the 5-95% range of single runs (the spread a reader should expect).

use std::collections::BTreeMap;
use std::path::Path;

use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use serde_json::Value as Json;

use super::row::Row;
use super::store::{AxisInfo, Manifest};
use crate::report::plots::{FONT, PALETTE};
use crate::report::render::{write_png_svg, DrawError, Plot};
use crate::report::OverSeeds;
use crate::Error;

const SIZE: (u32, u32) = (1100, 700);

/// One line of a chart: its label and, per x position, the runs there.
struct Line {
    label: String,
    points: Vec<LinePoint>,
}

/// A point of a line: x, and the metric over the runs at x.
#[derive(Debug, Clone, Copy)]
struct LinePoint {
    x: f64,
    over: OverSeeds,
}

/// What one chart shows, prepared once for both formats.
struct Figure {
    title: String,
    x_desc: String,
    y_desc: String,
    /// Tick labels of a categorical x axis (positions 0, 1, ...); empty for a numeric one.
    categories: Vec<String>,
    lines: Vec<Line>,
    log_x: bool,
    log_y: bool,
}

/// Draws every metric of the manifest's plot settings into `dir/plots/`; returns the files.
pub fn write_plots(
    dir: &Path,
    manifest: &Manifest,
    rows: &BTreeMap<u64, Row>,
) -> Result<Vec<String>, Error> {
    let Some(x_name) = &manifest.plot.x else {
        return Ok(Vec::new());
    };
    let find = |name: &str| manifest.axes.iter().find(|a| a.name == name);
    let Some(x_axis) = find(x_name) else {
        return Ok(Vec::new());
    };
    let series_axis = manifest.plot.series.as_deref().and_then(find);
    let plots = dir.join("plots");
    std::fs::create_dir_all(&plots).map_err(|e| Error::io(&plots, e))?;
    let mut written = Vec::new();
    for metric in &manifest.plot.metrics {
        let Some(figure) = figure(manifest, x_axis, series_axis, metric, rows) else {
            continue;
        };
        let files = write_png_svg(&plots, &file_stem(metric), SIZE, &figure)?;
        written.extend(files.iter().map(|f| f.display().to_string()));
    }
    Ok(written)
}

fn file_stem(metric: &str) -> String {
    metric
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Distinct values in first-seen order (JSON text as the key).
fn distinct(values: &[Json]) -> Vec<Json> {
    let mut seen = std::collections::BTreeSet::new();
    values
        .iter()
        .filter(|v| seen.insert(v.to_string()))
        .cloned()
        .collect()
}

fn show(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn figure(
    manifest: &Manifest,
    x_axis: &AxisInfo,
    series_axis: Option<&AxisInfo>,
    metric: &str,
    rows: &BTreeMap<u64, Row>,
) -> Option<Figure> {
    let xs = distinct(&x_axis.values);
    let numeric = xs.iter().all(|v| v.is_number())
        && (!manifest.plot.log_x || xs.iter().all(|v| v.as_f64().is_some_and(|x| x > 0.0)));
    let position = |i: usize, v: &Json| {
        if numeric {
            v.as_f64().unwrap_or(0.0)
        } else {
            i as f64
        }
    };
    let series: Vec<Option<Json>> = match series_axis {
        Some(s) => distinct(&s.values).into_iter().map(Some).collect(),
        None => vec![None],
    };
    // Group the metric's finite values by (series, x).
    let key = |v: &Json| v.to_string();
    let mut groups: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    for row in rows.values() {
        let (Some(x), Some(y)) = (
            row.get(&x_axis.name),
            row.get(metric).and_then(Json::as_f64),
        ) else {
            continue;
        };
        if !y.is_finite() || (manifest.plot.log_y && y <= 0.0) {
            continue;
        }
        let s = series_axis
            .and_then(|s| row.get(&s.name))
            .map(key)
            .unwrap_or_default();
        groups.entry((s, key(x))).or_default().push(y);
    }
    let mut lines = Vec::new();
    for s in &series {
        let s_key = s.as_ref().map(key).unwrap_or_default();
        let mut points = Vec::new();
        for (i, x) in xs.iter().enumerate() {
            if let Some(mut over) = groups
                .get(&(s_key.clone(), key(x)))
                .and_then(|ys| OverSeeds::of(ys))
            {
                if manifest.plot.log_y {
                    // A log axis cannot show a bound <= 0 (the interval of the mean of a few
                    // spread-out runs may reach below 0): clip it at the smallest run.
                    over.ci_low = over.ci_low.max(over.min);
                }
                points.push(LinePoint {
                    x: position(i, x),
                    over,
                });
            }
        }
        if !points.is_empty() {
            let label = match (series_axis, s) {
                (Some(axis), Some(v)) => format!("{} = {}", axis.name, show(v)),
                _ => metric.to_string(),
            };
            lines.push(Line { label, points });
        }
    }
    if lines.is_empty() {
        return None;
    }
    let seeds = manifest.seeds.len();
    // Axes neither on x nor the series (nor zipped with them) are pooled with the seeds.
    let pooled = manifest
        .axes
        .iter()
        .any(|a| a.dim != x_axis.dim && series_axis.is_none_or(|s| a.dim != s.dim));
    Some(Figure {
        title: format!("{}: {metric} vs {}", manifest.name, x_axis.name),
        x_desc: x_axis.name.clone(),
        y_desc: format!(
            "{metric} (mean, 95% CI; band: 5-95% of {seeds} seed{}{})",
            if seeds == 1 { "" } else { "s" },
            if pooled { " and other axes" } else { "" }
        ),
        categories: if numeric {
            Vec::new()
        } else {
            xs.iter().map(show).collect()
        },
        lines,
        log_x: manifest.plot.log_x && numeric,
        log_y: manifest.plot.log_y,
    })
}

/// Pads a data range so points do not sit on the frame.
fn padded(min: f64, max: f64, log: bool) -> (f64, f64) {
    if log {
        let (a, b) = (min.max(f64::MIN_POSITIVE), max.max(f64::MIN_POSITIVE));
        if a == b {
            return (a / 2.0, b * 2.0);
        }
        let f = (b / a).powf(0.04);
        (a / f, b * f)
    } else {
        let span = if max > min {
            max - min
        } else {
            max.abs().max(1.0)
        };
        (min - 0.05 * span, max + 0.05 * span)
    }
}

impl Plot for Figure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawError> {
        let fig = self;
        let pts = fig.lines.iter().flat_map(|l| l.points.iter());
        let (x0, x1) = pts
            .clone()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
                (a.min(p.x), b.max(p.x))
            });
        let (y0, y1) = pts.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (
                a.min(p.over.p5.min(p.over.ci_low)),
                b.max(p.over.p95.max(p.over.ci_high)),
            )
        });
        let (x0, x1) = if fig.categories.is_empty() {
            padded(x0, x1, fig.log_x)
        } else {
            (-0.5, fig.categories.len() as f64 - 0.5)
        };
        let (y0, y1) = padded(if fig.log_y { y0 } else { y0.min(0.0) }, y1, fig.log_y);
        match (fig.log_x, fig.log_y) {
            (false, false) => chart(
                root,
                fig,
                RangedCoordf64::from(x0..x1),
                RangedCoordf64::from(y0..y1),
            ),
            (true, false) => chart(
                root,
                fig,
                LogCoord::from((x0..x1).log_scale()),
                RangedCoordf64::from(y0..y1),
            ),
            (false, true) => chart(
                root,
                fig,
                RangedCoordf64::from(x0..x1),
                LogCoord::from((y0..y1).log_scale()),
            ),
            (true, true) => chart(
                root,
                fig,
                LogCoord::from((x0..x1).log_scale()),
                LogCoord::from((y0..y1).log_scale()),
            ),
        }
    }
}

/// The upper corner away from the highest point, so the legend hides as little as possible.
fn legend_corner(fig: &Figure) -> SeriesLabelPosition {
    let points = || fig.lines.iter().flat_map(|l| l.points.iter());
    let (lo, hi) = points().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
        (a.min(p.x), b.max(p.x))
    });
    let top = points().fold(None::<(f64, f64)>, |best, p| match best {
        Some((_, y)) if y >= p.over.p95 => best,
        _ => Some((p.x, p.over.p95)),
    });
    let middle = if fig.log_x && lo > 0.0 {
        (lo * hi).sqrt()
    } else {
        (lo + hi) / 2.0
    };
    match top {
        Some((x, _)) if x < middle => SeriesLabelPosition::UpperRight,
        _ => SeriesLabelPosition::UpperLeft,
    }
}

/// Compact tick labels: 0.1, 2.5, 600, 1.2e-5.
fn tick(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if (1e-3..1e6).contains(&a) {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{v:.1e}")
    }
}

fn chart<DB, X, Y>(root: &DrawingArea<DB, Shift>, fig: &Figure, x: X, y: Y) -> Result<(), DrawError>
where
    DB: DrawingBackend,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(root)
        .caption(&fig.title, (FONT, 24))
        .margin(16)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(x, y)?;
    let categories = &fig.categories;
    let x_fmt = |v: &f64| {
        if categories.is_empty() {
            tick(*v)
        } else {
            let i = v.round();
            if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < categories.len() {
                categories[i as usize].clone()
            } else {
                String::new()
            }
        }
    };
    let y_fmt = |v: &f64| tick(*v);
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(&fig.x_desc)
        .y_desc(&fig.y_desc)
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 17))
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .light_line_style(WHITE.mix(0.0));
    if !categories.is_empty() {
        mesh.x_labels(categories.len() * 2 + 1);
    }
    mesh.draw()?;
    for (i, line) in fig.lines.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let style = ShapeStyle::from(&colour).stroke_width(2);
        if line.points.iter().any(|p| p.over.p95 > p.over.p5) {
            let band: Vec<(f64, f64)> = line
                .points
                .iter()
                .map(|p| (p.x, p.over.p95))
                .chain(line.points.iter().rev().map(|p| (p.x, p.over.p5)))
                .collect();
            chart.draw_series(std::iter::once(Polygon::new(
                band,
                colour.mix(0.15).filled(),
            )))?;
        }
        chart
            .draw_series(LineSeries::new(
                line.points.iter().map(|p| (p.x, p.over.mean)),
                style,
            ))?
            .label(&line.label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        chart.draw_series(
            line.points
                .iter()
                .map(|p| Circle::new((p.x, p.over.mean), 4, colour.filled())),
        )?;
        chart.draw_series(
            line.points
                .iter()
                .filter(|p| p.over.ci_high > p.over.ci_low)
                .map(|p| {
                    let o = p.over;
                    ErrorBar::new_vertical(
                        p.x,
                        o.ci_low,
                        o.mean,
                        o.ci_high,
                        colour.stroke_width(2),
                        8,
                    )
                }),
        )?;
    }
    chart
        .configure_series_labels()
        .label_font((FONT, 15))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(legend_corner(fig))
        .draw()?;
    root.present()?;
    Ok(())
}
