//! Plots of runs, after thesis Figures 5.1 (timeline) and 5.2 (start-latency boxplot), in PNG
//! and SVG. Text is drawn with the embedded DejaVu Sans font (plotters' `ab_glyph` backend), so
//! no system fonts are needed and the same records give the same bytes.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;
use policies::FunctionRecord;

use super::render::{write_png_svg, DrawError, Plot};
use super::sketch::QuantileSketch;
use super::summary::{percentile, start_latencies, ConcurrencyCurve};
use crate::Error;

/// Above this many functions the timeline draws a subsample (every k-th function by start time;
/// for a streamed run, a sample picked by a hash of the function id) and says so in its title:
/// a bar per function of a million-function run would take minutes and show nothing more.
pub const TIMELINE_MAX_BARS: usize = 5_000;
/// The concurrency curve is reduced to at most this many bins (max per bin) above it.
const CURVE_MAX_POINTS: usize = 4_000;
/// At most this many outliers are drawn per box (evenly spaced in value order).
const MAX_OUTLIERS: usize = 2_000;

/// The family the embedded font is registered under ([`register_fonts`]).
pub const FONT: &str = "sans-serif";
const SIZE: (u32, u32) = (1200, 700);
const SUBMIT_COLOUR: RGBColor = RGBColor(128, 0, 160);
/// Marks where failed attempts stopped (darker than every palette colour).
const FAILED_COLOUR: RGBColor = RGBColor(90, 0, 0);
/// Tableau 10: distinct, colour-blind friendlier than the plotters default palette.
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(148, 103, 189),
];
/// Invokers named in the legend; beyond, colours repeat and the legend says how many more.
const LEGEND_INVOKERS: usize = 8;

/// Registers the embedded font under the family name the plots use (once per process).
pub fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are a valid TTF compiled into the binary: failing here is a build defect.
        let regular =
            plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
        let bold = plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold());
        assert!(
            regular.is_ok() && bold.is_ok(),
            "embedded DejaVu font rejected"
        );
    });
}

/// What a timeline panel shows, prepared once for both image formats.
#[derive(Debug, Clone)]
pub struct Timeline {
    pub title: String,
    data: TimelineData,
}

/// A timeline panel without its title: what a run's records make of it.
#[derive(Debug, Clone)]
pub struct TimelineData {
    /// `(t_submit, t_start, t_end, invoker)` of the functions drawn, by start time.
    rows: Vec<(f64, f64, f64, u32)>,
    /// Per row: (the attempt failed, it is a re-run or backup copy). Empty when every
    /// attempt is a first one that did not fail (no marks drawn).
    marks: Vec<(bool, bool)>,
    /// Functions that ran (all of them count in the curve, drawn or not).
    ran: usize,
    /// Row `i` stands for the functions ranked about `i*stride .. (i+1)*stride` by start time.
    stride: f64,
    /// Concurrency curve as plot points (a step line).
    curve: Vec<(f64, f64)>,
    max_concurrency: u64,
    /// Latest time to show.
    t_max: f64,
    /// How the rows were chosen when not all functions are drawn (goes into the title).
    note: String,
}

impl Timeline {
    pub fn new(title: &str, records: &[FunctionRecord]) -> Timeline {
        TimelineData::from_records(records).titled(title)
    }

    /// Functions drawn as bars (all of them, or the subsample).
    pub fn drawn(&self) -> usize {
        self.data.drawn()
    }
}

impl TimelineData {
    /// Every function, or every k-th by start time above [`TIMELINE_MAX_BARS`].
    pub fn from_records(records: &[FunctionRecord]) -> TimelineData {
        let mut ran: Vec<&FunctionRecord> = records
            .iter()
            .filter(|r| r.t_start.is_finite() && r.t_end.is_finite())
            .collect();
        ran.sort_by(|a, b| {
            a.t_start
                .total_cmp(&b.t_start)
                .then(a.function_id.cmp(&b.function_id))
        });
        let stride = ran.len().div_ceil(TIMELINE_MAX_BARS).max(1);
        let rows: Vec<(f64, f64, f64, u32)> = ran
            .iter()
            .step_by(stride)
            .map(|r| (r.t_submit, r.t_start, r.t_end, r.invoker))
            .collect();
        let marks: Vec<(bool, bool)> = if ran.iter().all(|r| r.attempt == 0 && r.is_ok()) {
            Vec::new()
        } else {
            ran.iter()
                .step_by(stride)
                .map(|r| (!r.is_ok(), r.attempt > 0))
                .collect()
        };
        let note = if stride > 1 {
            format!("every {} of {} functions shown", ordinal(stride), ran.len())
        } else {
            String::new()
        };
        let curve = ConcurrencyCurve::new(ran.iter().map(|r| (r.t_start, r.t_end)));
        let t_max = records
            .iter()
            .flat_map(|r| [r.t_submit, r.t_end])
            .filter(|t| t.is_finite())
            .fold(0.0, f64::max);
        TimelineData {
            rows,
            marks,
            ran: ran.len(),
            stride: stride as f64,
            max_concurrency: curve.max(),
            curve: curve_points(&curve, t_max),
            t_max,
            note,
        }
    }

    /// A streamed run's timeline: `rows` (by start time) sampled from the `ran` functions by a
    /// hash of their id, over the whole run's curve.
    pub fn sampled(
        rows: Vec<(f64, f64, f64, u32)>,
        ran: usize,
        curve: Vec<(f64, f64)>,
        max_concurrency: u64,
        t_max: f64,
    ) -> TimelineData {
        let note = if rows.len() < ran {
            format!(
                "a sample of {} of {ran} functions shown, picked by a hash of the function id",
                rows.len()
            )
        } else {
            String::new()
        };
        TimelineData {
            stride: ran as f64 / rows.len().max(1) as f64,
            rows,
            marks: Vec::new(),
            ran,
            curve,
            max_concurrency,
            t_max,
            note,
        }
    }

    /// The panel with `title` (and how its rows were chosen, if not all are drawn).
    pub fn titled(&self, title: &str) -> Timeline {
        let title = if self.note.is_empty() {
            title.to_string()
        } else {
            format!("{title} ({})", self.note)
        };
        Timeline {
            title,
            data: self.clone(),
        }
    }

    /// Functions drawn as bars (all of them, or the subsample).
    pub fn drawn(&self) -> usize {
        self.rows.len()
    }

    /// How the rows were chosen ("" when every function is drawn).
    pub fn note(&self) -> &str {
        &self.note
    }
}

/// 2nd, 3rd, 4th, 11th, 21st...
fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// The curve as step-line points; reduced to `CURVE_MAX_POINTS` bins (max of each) when longer.
fn curve_points(curve: &ConcurrencyCurve, t_max: f64) -> Vec<(f64, f64)> {
    let steps = &curve.steps;
    let mut points = Vec::with_capacity(2 * steps.len().min(CURVE_MAX_POINTS) + 2);
    points.push((0.0, 0.0));
    if steps.len() <= CURVE_MAX_POINTS || t_max <= 0.0 {
        let mut level = 0.0;
        for &(t, l) in steps {
            points.push((t, level));
            level = l as f64;
            points.push((t, level));
        }
    } else {
        let bins = CURVE_MAX_POINTS / 2;
        let width = t_max / bins as f64;
        let mut peak = vec![0u64; bins];
        let mut level = 0u64;
        let mut i = 0;
        for (b, p) in peak.iter_mut().enumerate() {
            let end = (b + 1) as f64 * width;
            *p = level;
            while i < steps.len() && steps[i].0 < end {
                level = steps[i].1;
                *p = (*p).max(level);
                i += 1;
            }
        }
        for (b, &p) in peak.iter().enumerate() {
            points.push((b as f64 * width, p as f64));
            points.push(((b + 1) as f64 * width, p as f64));
        }
    }
    points
}

/// One box of a boxplot: nearest-rank quartiles, Tukey whiskers (the furthest values within
/// 1.5 IQR of the box), outliers beyond.
#[derive(Debug, Clone)]
pub struct LatencyBox {
    pub label: String,
    pub count: usize,
    pub q1: f64,
    pub median: f64,
    pub q3: f64,
    pub whisker_lo: f64,
    pub whisker_hi: f64,
    pub outliers: Vec<f64>,
}

impl LatencyBox {
    /// The box of the start latencies of `ok` functions ([`policies::start_latencies`]).
    pub fn from_records(label: &str, records: &[FunctionRecord]) -> LatencyBox {
        LatencyBox::from_sorted(label, &start_latencies(records))
    }

    /// The box of a sketch of start times (less `t0`): quartiles within the sketch's relative
    /// error, whiskers and outliers at the values its bins stand for.
    pub fn from_sketch(label: &str, sketch: &QuantileSketch, t0: f64) -> LatencyBox {
        let quartiles = [25.0, 50.0, 75.0].map(|p| sketch.percentile(p) - t0);
        let values: Vec<f64> = sketch.bins().iter().map(|(v, _)| v - t0).collect();
        LatencyBox::with_quartiles(label, sketch.count() as usize, quartiles, &values)
    }

    pub fn from_sorted(label: &str, sorted: &[f64]) -> LatencyBox {
        let quartiles = [25.0, 50.0, 75.0].map(|p| percentile(sorted, p));
        LatencyBox::with_quartiles(label, sorted.len(), quartiles, sorted)
    }

    /// Whiskers at the extreme `values` (sorted) within 1.5 IQR of the box, the rest outliers
    /// (thinned to at most [`MAX_OUTLIERS`]).
    fn with_quartiles(
        label: &str,
        count: usize,
        [q1, median, q3]: [f64; 3],
        values: &[f64],
    ) -> LatencyBox {
        let iqr = q3 - q1;
        let (lo_fence, hi_fence) = (q1 - 1.5 * iqr, q3 + 1.5 * iqr);
        let inside = || {
            values
                .iter()
                .copied()
                .filter(|v| *v >= lo_fence && *v <= hi_fence)
        };
        let outliers: Vec<f64> = values
            .iter()
            .copied()
            .filter(|v| *v < lo_fence || *v > hi_fence)
            .collect();
        let stride = outliers.len().div_ceil(MAX_OUTLIERS).max(1);
        LatencyBox {
            label: label.to_string(),
            count,
            q1,
            median,
            q3,
            whisker_lo: inside().next().unwrap_or(f64::NAN),
            whisker_hi: inside().next_back().unwrap_or(f64::NAN),
            outliers: outliers.into_iter().step_by(stride).collect(),
        }
    }
}

type DrawResult = Result<(), DrawError>;

/// Stacked timeline panels on one time axis.
struct Timelines<'a> {
    panels: &'a [Timeline],
    t_max: f64,
}

/// Latency boxes side by side.
struct Boxes<'a> {
    title: &'a str,
    boxes: &'a [LatencyBox],
}

/// Writes `<stem>.png` and `<stem>.svg` in `dir`: one timeline panel per entry, stacked, on a
/// shared time axis so runs compare at a glance.
pub fn write_timelines(dir: &Path, stem: &str, panels: &[Timeline]) -> Result<(), Error> {
    let height = if panels.len() <= 1 {
        SIZE.1
    } else {
        420 * panels.len() as u32
    };
    let t_max = panels.iter().map(|p| p.data.t_max).fold(0.0, f64::max);
    write_png_svg(dir, stem, (SIZE.0, height), &Timelines { panels, t_max })?;
    Ok(())
}

/// Writes `<stem>.png` and `<stem>.svg` in `dir`: one box per entry, side by side.
pub fn write_latency_boxes(
    dir: &Path,
    stem: &str,
    title: &str,
    boxes: &[LatencyBox],
) -> Result<(), Error> {
    let width = SIZE.0.max(220 * boxes.len() as u32);
    write_png_svg(dir, stem, (width, SIZE.1), &Boxes { title, boxes })?;
    Ok(())
}

impl Plot for Timelines<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        root.fill(&WHITE)?;
        let areas = root.split_evenly((self.panels.len().max(1), 1));
        for (area, panel) in areas.iter().zip(self.panels) {
            draw_timeline(area, panel, self.t_max)?;
        }
        root.present()?;
        Ok(())
    }
}

impl Plot for Boxes<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        draw_boxes(root, self.title, self.boxes)
    }
}

fn draw_timeline<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    timeline: &Timeline,
    t_max: f64,
) -> DrawResult {
    let (title, panel) = (&timeline.title, &timeline.data);
    let x_max = if t_max > 0.0 { t_max * 1.03 } else { 1.0 };
    // The y axis counts functions by start rank, subsampled or not, so it shares its scale with
    // the concurrency curve.
    let stride = panel.stride;
    let rows = (panel.rows.len() as f64 * stride).max(1.0);
    // Same scale on both sides: the curve reaching the top means all functions ran at once
    // (as in thesis Figure 5.1).
    let y2_max = rows;
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 22))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .right_y_label_area_size(70)
        .build_cartesian_2d(0.0..x_max, 0.0..rows)?
        .set_secondary_coord(0.0..x_max, 0.0..y2_max);
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc("time since first submission (s)")
        .y_desc("function (by start time)")
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 16))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()?;
    chart
        .configure_secondary_axes()
        .y_desc("functions running")
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 16))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()?;

    // One series per invoker, so the legend can name the first few.
    let mut by_invoker: BTreeMap<u32, Vec<(usize, f64, f64)>> = BTreeMap::new();
    for (i, &(_, start, end, invoker)) in panel.rows.iter().enumerate() {
        by_invoker.entry(invoker).or_default().push((i, start, end));
    }
    let failed = |i: usize| panel.marks.get(i).is_some_and(|m| m.0);
    let invokers = by_invoker.len();
    for (k, (invoker, bars)) in by_invoker.iter().enumerate() {
        let colour = PALETTE[*invoker as usize % PALETTE.len()];
        let series = chart.draw_series(bars.iter().map(|&(i, start, end)| {
            let y = i as f64 * stride;
            let fill = if failed(i) {
                colour.mix(0.3).filled()
            } else {
                colour.filled()
            };
            Rectangle::new([(start, y + 0.1 * stride), (end, y + 0.9 * stride)], fill)
        }))?;
        if k < LEGEND_INVOKERS {
            let name = if *invoker == u32::MAX {
                "not placed".to_string()
            } else {
                format!("invoker {invoker}")
            };
            series.label(name).legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 14, y + 5)], colour.filled())
            });
        } else if k == LEGEND_INVOKERS {
            series
                .label(format!("... {} more invokers", invokers - LEGEND_INVOKERS))
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 14, y + 5)], colour.filled())
                });
        }
    }
    draw_fault_marks(&mut chart, panel)?;
    let dot = if panel.rows.len() > 500 { 1 } else { 3 };
    chart
        .draw_series(
            panel
                .rows
                .iter()
                .enumerate()
                .filter(|(_, r)| r.0.is_finite())
                .map(|(i, &(submit, ..))| {
                    Circle::new(
                        (submit, (i as f64 + 0.5) * stride),
                        dot,
                        SUBMIT_COLOUR.filled(),
                    )
                }),
        )?
        .label("submitted")
        .legend(|(x, y)| Circle::new((x + 7, y), 4, SUBMIT_COLOUR.filled()));
    chart
        .draw_secondary_series(LineSeries::new(
            panel.curve.iter().copied(),
            BLACK.stroke_width(2),
        ))?
        .label(format!(
            "running (max {} of {})",
            panel.max_concurrency, panel.ran
        ))
        .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], BLACK.stroke_width(2)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// Runs with faults: a failed attempt's bar is drawn faded (see `draw_timeline`) with a dark
/// cross where it stopped; a re-run or backup copy gets a black triangle where it started.
fn draw_fault_marks<DB: DrawingBackend>(
    chart: &mut ChartContext<
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    panel: &TimelineData,
) -> DrawResult {
    if panel.marks.is_empty() {
        return Ok(());
    }
    let stride = panel.stride;
    let size = if panel.rows.len() > 500 { 2 } else { 4 };
    let at = |pick: fn(&(bool, bool)) -> bool, end: bool| -> Vec<(f64, f64)> {
        panel
            .rows
            .iter()
            .zip(&panel.marks)
            .enumerate()
            .filter(|(_, (_, m))| pick(m))
            .map(|(i, (r, _))| (if end { r.2 } else { r.1 }, (i as f64 + 0.5) * stride))
            .collect()
    };
    let reruns = at(|m| m.1, false);
    if !reruns.is_empty() {
        chart
            .draw_series(
                reruns
                    .iter()
                    .map(|&p| TriangleMarker::new(p, size, BLACK.filled())),
            )?
            .label(format!("re-run or backup starts ({})", reruns.len()))
            .legend(|(x, y)| TriangleMarker::new((x + 7, y), 5, BLACK.filled()));
    }
    let failed = at(|m| m.0, true);
    if !failed.is_empty() {
        chart
            .draw_series(
                failed
                    .iter()
                    .map(|&p| Cross::new(p, size, FAILED_COLOUR.stroke_width(2))),
            )?
            .label(format!(
                "failed attempt, faded, x where it stopped ({})",
                failed.len()
            ))
            .legend(|(x, y)| Cross::new((x + 7, y), 4, FAILED_COLOUR.stroke_width(2)));
    }
    Ok(())
}

fn draw_boxes<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    boxes: &[LatencyBox],
) -> DrawResult {
    root.fill(&WHITE)?;
    let values = boxes
        .iter()
        .flat_map(|b| [b.whisker_hi].into_iter().chain(b.outliers.iter().copied()));
    let y_max = values.filter(|v| v.is_finite()).fold(0.0, f64::max);
    let y_max = if y_max > 0.0 { y_max * 1.08 } else { 1.0 };
    let n = boxes.len().max(1);
    let labels: Vec<String> = boxes
        .iter()
        .map(|b| format!("{} (n={})", b.label, b.count))
        .collect();
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 22))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5..(n as f64 - 0.5), 0.0..y_max)?;
    let label_of = |x: &f64| {
        let i = x.round();
        if (x - i).abs() < 1e-6 && i >= 0.0 {
            labels.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&label_of)
        .y_desc("start latency (s)")
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 16))
        .draw()?;
    for (i, b) in boxes.iter().enumerate() {
        if b.count == 0 {
            continue;
        }
        let colour = PALETTE[i % PALETTE.len()];
        let (x, half, cap) = (i as f64, 0.18, 0.09);
        let line = BLACK.stroke_width(2);
        chart.draw_series([
            Rectangle::new(
                [(x - half, b.q1), (x + half, b.q3)],
                colour.mix(0.45).filled(),
            ),
            Rectangle::new([(x - half, b.q1), (x + half, b.q3)], line),
        ])?;
        chart.draw_series([
            PathElement::new(
                [(x - half, b.median), (x + half, b.median)],
                BLACK.stroke_width(3),
            ),
            PathElement::new([(x, b.q3), (x, b.whisker_hi)], line),
            PathElement::new([(x, b.q1), (x, b.whisker_lo)], line),
            PathElement::new([(x - cap, b.whisker_hi), (x + cap, b.whisker_hi)], line),
            PathElement::new([(x - cap, b.whisker_lo), (x + cap, b.whisker_lo)], line),
        ])?;
        chart.draw_series(
            b.outliers
                .iter()
                .map(|&v| Circle::new((x, v), 3, colour.stroke_width(1))),
        )?;
    }
    root.present()?;
    Ok(())
}

/// The summary figures `compare --seeds` draws with their intervals: (key, panel title).
pub const INTERVAL_FIGURES: [(&str, &str); 3] = [
    ("makespan_s", "makespan (s)"),
    ("start_latency_p50_s", "start latency median (s)"),
    ("start_latency_max_s", "start latency max (s)"),
];

/// One panel of an interval chart: a figure's value over seeds, per run.
#[derive(Debug, Clone)]
pub struct IntervalPanel {
    pub title: String,
    /// (run, the figure over its seeds), in display order.
    pub points: Vec<(String, super::OverSeeds)>,
}

struct Intervals<'a> {
    title: &'a str,
    panels: &'a [IntervalPanel],
}

/// Writes `<stem>.png` and `<stem>.svg` in `dir`: one panel per figure, side by side; per run
/// a dot at the mean, a thick bar over the 95% confidence interval of the mean and a thin bar
/// over the 5-95% range of single runs.
pub fn write_intervals(
    dir: &Path,
    stem: &str,
    title: &str,
    panels: &[IntervalPanel],
) -> Result<(), Error> {
    let runs = panels.iter().map(|p| p.points.len()).max().unwrap_or(1) as u32;
    let width = (panels.len().max(1) as u32 * (160 + 90 * runs)).max(SIZE.0);
    write_png_svg(dir, stem, (width, 560), &Intervals { title, panels })?;
    Ok(())
}

impl Plot for Intervals<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        root.fill(&WHITE)?;
        let root = root.titled(self.title, (FONT, 20))?;
        let areas = root.split_evenly((1, self.panels.len().max(1)));
        for (area, panel) in areas.iter().zip(self.panels) {
            draw_interval_panel(area, panel)?;
        }
        root.present()?;
        Ok(())
    }
}

fn draw_interval_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &IntervalPanel,
) -> DrawResult {
    let lo = panel
        .points
        .iter()
        .map(|(_, o)| o.p5)
        .fold(f64::INFINITY, f64::min);
    let hi = panel
        .points
        .iter()
        .map(|(_, o)| o.p95)
        .fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if lo.is_finite() && hi.is_finite() {
        let pad = ((hi - lo) * 0.08).max(hi.abs() * 0.02).max(1e-6);
        ((lo - pad).max(0.0), hi + pad)
    } else {
        (0.0, 1.0)
    };
    let n = panel.points.len();
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, (FONT, 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5..n as f64 - 0.5, lo..hi)?;
    let names: Vec<String> = panel.points.iter().map(|(name, _)| name.clone()).collect();
    let x_fmt = |v: &f64| {
        let i = v.round();
        if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < names.len() {
            names[i as usize].clone()
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(2 * n + 1)
        .x_label_formatter(&x_fmt)
        .label_style((FONT, 14))
        .draw()?;
    for (i, (_, o)) in panel.points.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let x = i as f64;
        chart.draw_series(std::iter::once(ErrorBar::new_vertical(
            x,
            o.p5,
            o.mean,
            o.p95,
            colour.stroke_width(1),
            10,
        )))?;
        chart.draw_series(std::iter::once(Rectangle::new(
            [(x - 0.06, o.ci_low), (x + 0.06, o.ci_high)],
            colour.mix(0.6).filled(),
        )))?;
        chart.draw_series(std::iter::once(Circle::new(
            (x, o.mean),
            5,
            colour.filled(),
        )))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use policies::Outcome;

    use super::*;

    fn rec(fid: u64, attempt: u32, start: f64, outcome: Outcome) -> FunctionRecord {
        let mut r = FunctionRecord::pending(fid, 0, 0, fid as u32);
        (r.attempt, r.outcome) = (attempt, outcome);
        (r.t_submit, r.t_start, r.t_end) = (0.0, start, start + 1.0);
        r
    }

    #[test]
    fn timeline_marks_failed_and_rerun_attempts_only_when_there_are_some() {
        let plain = vec![rec(0, 0, 0.0, Outcome::Ok), rec(1, 0, 0.5, Outcome::Ok)];
        assert!(TimelineData::from_records(&plain).marks.is_empty());
        // By start time: function 0's failed attempt, function 1, function 0's re-run.
        let faulty = vec![
            rec(0, 0, 0.0, Outcome::failed("worker crashed")),
            rec(0, 1, 2.0, Outcome::Ok),
            rec(1, 0, 0.5, Outcome::Ok),
        ];
        let t = TimelineData::from_records(&faulty);
        assert_eq!(t.marks, [(true, false), (false, false), (false, true)]);
        assert_eq!(t.drawn(), 3);
    }
}
