//! Reports of `steps` workloads: the per-step table (`steps.csv`, `steps.parquet`), the
//! communication summary (bytes through the backend vs kept in packs, time in communication vs
//! compute, per step kind) and the step timeline (`timeline_steps.{png,svg}`: a bar per
//! function coloured by what it does: compute, sleep, sending, waiting for messages).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use polars::prelude::*;
use policies::comm::{StepKind, StepRecord};
use serde::Serialize;
use serde_json::Value as Json;

use super::plots::PALETTE;
use super::render::{write_png_svg, DrawError, Plot};
use super::tables::{write_frame_csv, write_frame_parquet};
use crate::Error;

/// Column names of the step table, in order.
pub const STEP_COLUMNS: [&str; 11] = [
    "function_id",
    "burst_id",
    "worker_id",
    "step",
    "kind",
    "t_start",
    "t_end",
    "t_sent",
    "bytes_local",
    "bytes_remote",
    "bytes_uploaded",
];

/// Files written for a `steps` workload, besides the run's usual files.
pub const STEP_FILES: [&str; 4] = [
    "steps.csv",
    "steps.parquet",
    "timeline_steps.png",
    "timeline_steps.svg",
];

/// The steps sorted by function then step (the simulator yields them as they finish).
pub fn sorted_steps(steps: &[StepRecord]) -> Vec<&StepRecord> {
    let mut sorted: Vec<&StepRecord> = steps.iter().collect();
    sorted.sort_by_key(|s| (s.function_id, s.step));
    sorted
}

/// The step table as a polars frame (rows by function, then step).
pub fn steps_frame(steps: &[StepRecord]) -> Result<DataFrame, Error> {
    let s = sorted_steps(steps);
    fn col<T>(name: &str, values: T) -> Column
    where
        Series: NamedFrom<T, [<T as IntoIterator>::Item]>,
        T: IntoIterator + AsRef<[<T as IntoIterator>::Item]>,
    {
        Series::new(name.into(), values).into()
    }
    let columns: Vec<Column> = vec![
        col(
            "function_id",
            s.iter().map(|r| r.function_id).collect::<Vec<u64>>(),
        ),
        col(
            "burst_id",
            s.iter().map(|r| r.burst_id).collect::<Vec<u64>>(),
        ),
        col(
            "worker_id",
            s.iter().map(|r| r.worker_id).collect::<Vec<u32>>(),
        ),
        col("step", s.iter().map(|r| r.step).collect::<Vec<u32>>()),
        col(
            "kind",
            s.iter().map(|r| r.kind.as_str()).collect::<Vec<&str>>(),
        ),
        col("t_start", s.iter().map(|r| r.t_start).collect::<Vec<f64>>()),
        col("t_end", s.iter().map(|r| r.t_end).collect::<Vec<f64>>()),
        col("t_sent", s.iter().map(|r| r.t_sent).collect::<Vec<f64>>()),
        col(
            "bytes_local",
            s.iter().map(|r| r.bytes_local).collect::<Vec<u64>>(),
        ),
        col(
            "bytes_remote",
            s.iter().map(|r| r.bytes_remote).collect::<Vec<u64>>(),
        ),
        col(
            "bytes_uploaded",
            s.iter().map(|r| r.bytes_uploaded).collect::<Vec<u64>>(),
        ),
    ];
    DataFrame::new(s.len(), columns)
        .map_err(|e| Error::Other(anyhow::anyhow!("building the step table: {e}")))
}

/// Time and bytes of one step kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct KindFigures {
    /// Executed steps of this kind over all functions.
    pub steps: u64,
    /// Seconds per function spent in steps of this kind (mean over functions).
    pub time_s: f64,
    /// Of which sending (communication steps).
    pub sending_s: f64,
    /// Bytes received in packs.
    pub bytes_local: u64,
    /// Bytes received through the backend.
    pub bytes_remote: u64,
}

/// The communication figures of a run, added to summary.json as `communication` and to sweep
/// rows as `comm.*` columns.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommSummary {
    /// Bytes delivered in memory inside packs.
    pub bytes_local: u64,
    /// Bytes delivered through the backend server.
    pub bytes_remote: u64,
    /// Bytes uploaded to the backend (a broadcast payload once).
    pub bytes_uploaded: u64,
    /// `bytes_remote / (bytes_local + bytes_remote)`.
    pub remote_fraction: f64,
    /// Seconds per function in compute steps (mean over functions).
    pub compute_s: f64,
    /// Seconds per function in sleep steps.
    pub sleep_s: f64,
    /// Seconds per function in communication steps.
    pub communication_s: f64,
    /// Of which sending its messages.
    pub sending_s: f64,
    /// Of which waiting for messages after its own were sent.
    pub waiting_s: f64,
    /// Longest time a function spent in communication steps.
    pub communication_max_s: f64,
    /// Figures per step kind.
    #[serde(skip)]
    pub per_kind: BTreeMap<StepKind, KindFigures>,
}

/// Names of the `comm.*` sweep columns, in order.
pub fn comm_columns() -> Vec<String> {
    let empty = CommSummary::from_steps(&[]);
    empty.cells().into_iter().map(|(k, _)| k).collect()
}

impl CommSummary {
    /// The figures of `steps`; functions are those that have step rows.
    pub fn from_steps(steps: &[StepRecord]) -> CommSummary {
        let mut per_kind: BTreeMap<StepKind, KindFigures> = BTreeMap::new();
        let mut per_function: BTreeMap<u64, f64> = BTreeMap::new();
        let (mut local, mut remote, mut uploaded) = (0u64, 0u64, 0u64);
        for s in steps {
            let k = per_kind.entry(s.kind).or_default();
            let d = (s.t_end - s.t_start).max(0.0);
            k.steps += 1;
            k.time_s += d;
            k.bytes_local += s.bytes_local;
            k.bytes_remote += s.bytes_remote;
            let comm_time = per_function.entry(s.function_id).or_default();
            if s.kind.is_communication() {
                k.sending_s += (s.t_sent - s.t_start).max(0.0);
                *comm_time += d;
            }
            local += s.bytes_local;
            remote += s.bytes_remote;
            uploaded += s.bytes_uploaded;
        }
        let functions = per_function.len().max(1) as f64;
        for k in per_kind.values_mut() {
            k.time_s /= functions;
            k.sending_s /= functions;
        }
        let sum = |f: fn(&StepKind) -> bool, g: fn(&KindFigures) -> f64| -> f64 {
            // A fold from +0.0: an empty f64 sum is -0.0.
            per_kind
                .iter()
                .filter(|(k, _)| f(k))
                .fold(0.0, |a, (_, v)| a + g(v))
        };
        let communication_s = sum(|k| k.is_communication(), |v| v.time_s);
        let sending_s = sum(|k| k.is_communication(), |v| v.sending_s);
        let moved = local + remote;
        CommSummary {
            bytes_local: local,
            bytes_remote: remote,
            bytes_uploaded: uploaded,
            remote_fraction: if moved > 0 {
                remote as f64 / moved as f64
            } else {
                0.0
            },
            compute_s: sum(|k| *k == StepKind::Compute, |v| v.time_s),
            sleep_s: sum(|k| *k == StepKind::Sleep, |v| v.time_s),
            communication_s,
            sending_s,
            waiting_s: (communication_s - sending_s).max(0.0),
            communication_max_s: per_function.values().copied().fold(0.0, f64::max),
            per_kind,
        }
    }

    /// summary.json's `communication` object: the figures, then `per_kind`.
    pub fn to_json(&self) -> Json {
        let mut value = serde_json::to_value(self).unwrap_or(Json::Null);
        if let Json::Object(map) = &mut value {
            let kinds: serde_json::Map<String, Json> = self
                .per_kind
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_string(),
                        serde_json::to_value(v).unwrap_or(Json::Null),
                    )
                })
                .collect();
            map.insert("per_kind".into(), Json::Object(kinds));
        }
        value
    }

    /// Sweep cells: `comm.<figure>` for the fixed figures (per-kind figures stay in summary.json).
    pub fn cells(&self) -> Vec<(String, Json)> {
        let value = serde_json::to_value(self).unwrap_or(Json::Null);
        match value {
            Json::Object(map) => {
                // serde_json's map is sorted: restore declaration order from a fixed list.
                const ORDER: [&str; 10] = [
                    "bytes_local",
                    "bytes_remote",
                    "bytes_uploaded",
                    "remote_fraction",
                    "compute_s",
                    "sleep_s",
                    "communication_s",
                    "sending_s",
                    "waiting_s",
                    "communication_max_s",
                ];
                ORDER
                    .iter()
                    .map(|k| {
                        (
                            format!("comm.{k}"),
                            map.get(*k).cloned().unwrap_or(Json::Null),
                        )
                    })
                    .collect()
            }
            _ => Vec::new(),
        }
    }

    /// A plain-text table for the terminal.
    pub fn table(&self) -> String {
        let mib = |b: u64| b as f64 / 1048576.0;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "bytes through the backend  {:>12.1} MiB ({:.1}% of bytes moved; uploaded {:.1} MiB)",
            mib(self.bytes_remote),
            100.0 * self.remote_fraction,
            mib(self.bytes_uploaded)
        );
        let _ = writeln!(
            s,
            "bytes kept in packs        {:>12.1} MiB",
            mib(self.bytes_local)
        );
        let _ = writeln!(
            s,
            "per function: compute {:.3} s, sleep {:.3} s, communication {:.3} s (sending {:.3} s, waiting {:.3} s; max {:.3} s)",
            self.compute_s, self.sleep_s, self.communication_s, self.sending_s, self.waiting_s, self.communication_max_s
        );
        for (kind, f) in &self.per_kind {
            let _ = writeln!(
                s,
                "  {:<11} {:>7} steps  {:>9.3} s per function  local {:>10.1} MiB  remote {:>10.1} MiB",
                kind.as_str(),
                f.steps,
                f.time_s,
                mib(f.bytes_local),
                mib(f.bytes_remote)
            );
        }
        s
    }
}

/// Writes steps.csv, steps.parquet and timeline_steps.{png,svg} into `dir`.
pub fn write_steps(dir: &Path, title: &str, steps: &[StepRecord]) -> Result<(), Error> {
    let mut frame = steps_frame(steps)?;
    write_frame_csv(&dir.join("steps.csv"), &mut frame)?;
    write_frame_parquet(&dir.join("steps.parquet"), &mut frame)?;
    drop(frame);
    write_step_timeline(dir, "timeline_steps", title, steps)
}

/// At most this many functions are drawn as bars (an evenly spaced subsample above, said in the
/// title).
const MAX_BARS: usize = 2_000;
const SIZE: (u32, u32) = (1200, 700);

/// What a bar segment shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Activity {
    Compute,
    Sleep,
    Sending,
    Waiting,
}

const ACTIVITIES: [(Activity, &str, RGBColor); 4] = [
    (Activity::Compute, "compute", PALETTE[0]),
    (Activity::Sleep, "sleep", PALETTE[7]),
    (Activity::Sending, "sending", PALETTE[1]),
    (Activity::Waiting, "waiting for messages", PALETTE[3]),
];

/// The step timeline: functions by first step start, one bar each, segments coloured by
/// activity.
pub fn write_step_timeline(
    dir: &Path,
    stem: &str,
    title: &str,
    steps: &[StepRecord],
) -> Result<(), Error> {
    let mut by_function: BTreeMap<u64, Vec<&StepRecord>> = BTreeMap::new();
    for s in steps {
        by_function.entry(s.function_id).or_default().push(s);
    }
    let mut functions: Vec<(f64, u64)> = by_function
        .iter()
        .map(|(f, v)| {
            (
                v.iter().map(|s| s.t_start).fold(f64::INFINITY, f64::min),
                *f,
            )
        })
        .collect();
    functions.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let stride = functions.len().div_ceil(MAX_BARS).max(1);
    let drawn: Vec<u64> = functions.iter().step_by(stride).map(|f| f.1).collect();
    let mut segments: BTreeMap<Activity, Vec<(usize, f64, f64)>> = BTreeMap::new();
    for (row, f) in drawn.iter().enumerate() {
        for s in &by_function[f] {
            let mut push = |a: Activity, from: f64, to: f64| {
                if to > from {
                    segments.entry(a).or_default().push((row, from, to));
                }
            };
            match s.kind {
                StepKind::Compute => push(Activity::Compute, s.t_start, s.t_end),
                StepKind::Sleep => push(Activity::Sleep, s.t_start, s.t_end),
                _ => {
                    push(Activity::Sending, s.t_start, s.t_sent);
                    push(Activity::Waiting, s.t_sent, s.t_end);
                }
            }
        }
    }
    let title = if stride > 1 {
        format!(
            "{title} (every {stride}th of {} functions)",
            functions.len()
        )
    } else {
        title.to_string()
    };
    let plot = StepTimeline {
        title,
        segments,
        rows: drawn.len().max(1),
        t_max: steps.iter().map(|s| s.t_end).fold(0.0, f64::max),
    };
    write_png_svg(dir, stem, SIZE, &plot).map(|_| ())
}

/// What the step timeline shows, prepared once for both formats.
struct StepTimeline {
    title: String,
    /// Per activity: (row, from, to).
    segments: BTreeMap<Activity, Vec<(usize, f64, f64)>>,
    rows: usize,
    t_max: f64,
}

impl Plot for StepTimeline {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawError> {
        root.fill(&WHITE)?;
        let x_max = if self.t_max > 0.0 {
            self.t_max * 1.03
        } else {
            1.0
        };
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..x_max, 0.0..self.rows as f64)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc("time since first submission (s)")
            .y_desc("function (by first step start)")
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 16))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .draw()?;
        for (activity, name, colour) in ACTIVITIES {
            let bars = self
                .segments
                .get(&activity)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            chart
                .draw_series(bars.iter().map(|&(row, from, to)| {
                    let y = row as f64;
                    Rectangle::new([(from, y + 0.1), (to, y + 0.9)], colour.filled())
                }))?
                .label(name)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 14, y + 5)], colour.filled())
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 15))
            .draw()?;
        root.present()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(
        f: u64,
        step: u32,
        kind: StepKind,
        t: (f64, f64, f64),
        bytes: (u64, u64),
    ) -> StepRecord {
        StepRecord {
            function_id: f,
            burst_id: 0,
            worker_id: f as u32,
            step,
            kind,
            t_start: t.0,
            t_end: t.1,
            t_sent: t.2,
            bytes_local: bytes.0,
            bytes_remote: bytes.1,
            bytes_uploaded: 0,
        }
    }

    #[test]
    fn summary_splits_time_and_bytes() {
        let steps = vec![
            step(0, 0, StepKind::Compute, (0.0, 2.0, 0.0), (0, 0)),
            step(0, 1, StepKind::Broadcast, (2.0, 3.0, 2.5), (0, 100)),
            step(1, 0, StepKind::Compute, (0.0, 1.0, 0.0), (0, 0)),
            step(1, 1, StepKind::Broadcast, (1.0, 4.0, 1.0), (300, 0)),
        ];
        let s = CommSummary::from_steps(&steps);
        assert_eq!((s.bytes_local, s.bytes_remote), (300, 100));
        assert!((s.remote_fraction - 0.25).abs() < 1e-12);
        assert!((s.compute_s - 1.5).abs() < 1e-12);
        assert!((s.communication_s - 2.0).abs() < 1e-12);
        assert!((s.sending_s - 0.25).abs() < 1e-12);
        assert!((s.waiting_s - 1.75).abs() < 1e-12);
        assert_eq!(s.communication_max_s, 3.0);
        assert_eq!(s.per_kind[&StepKind::Broadcast].steps, 2);
        let cells = s.cells();
        assert_eq!(cells[0].0, "comm.bytes_local");
        assert_eq!(comm_columns().len(), cells.len());
        let json = s.to_json();
        assert_eq!(json["per_kind"]["broadcast"]["bytes_remote"], 100);
    }

    #[test]
    fn step_files_are_written_and_sorted() {
        let dir = tempfile::tempdir().unwrap();
        let steps = vec![
            step(1, 0, StepKind::Compute, (0.0, 1.0, 0.0), (0, 0)),
            step(0, 1, StepKind::AllToAll, (2.0, 3.0, 2.5), (5, 7)),
            step(0, 0, StepKind::Sleep, (0.0, 2.0, 0.0), (0, 0)),
        ];
        write_steps(dir.path(), "t", &steps).unwrap();
        for f in STEP_FILES {
            assert!(dir.path().join(f).exists(), "{f}");
        }
        let csv = std::fs::read_to_string(dir.path().join("steps.csv")).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], STEP_COLUMNS.join(","));
        assert!(lines[1].starts_with("0,0,0,0,sleep,"), "{csv}");
        assert!(lines[2].starts_with("0,0,0,1,all_to_all,"), "{csv}");
    }
}
