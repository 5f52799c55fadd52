//! The sweep file as written: a base config, fixed overrides, axes over config fields (lists,
//! linear ranges, log-spaced ranges; zipped or crossed), seeds and plot settings. Turning it
//! into concrete values and runs is `grid`'s job.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A sweep file (TOML).
///
/// ```toml
/// name = "granularity"             # default: the file stem
/// base = "../profiles/burst-2023.toml"   # simulation config, relative to this file
/// set = ["workload.duration.value=5.0"]  # fixed overrides applied before the axes
/// seeds = 5                        # replicates per grid point: seeds seed .. seed+seeds-1
/// seed = 0
/// records = false                  # also write each run's per-function records
///
/// [[axes]]
/// path = "policy.granularity"      # a dotted config path, as for --set
/// values = [1, 2, 4, 6]            # or range = { from, to, step } or log = { from, to, count }
///
/// [[axes]]
/// path = "bursts[0].workers"
/// range = { from = 48, to = 960, step = 48 }
///
/// [plot]
/// metrics = ["start_latency_p50_s"]
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepFile {
    /// Name used for the default output folder and plot titles (default: the file stem).
    pub name: Option<String>,
    /// The base simulation config, relative to the sweep file.
    pub base: PathBuf,
    /// Overrides applied to the base before any axis, as `--set` strings ("path=TOML value").
    #[serde(default)]
    pub set: Vec<String>,
    /// Replicates per grid point (>= 1).
    #[serde(default = "one")]
    pub seeds: u64,
    /// First seed; replicate k uses seed `seed + k`, the same at every point (common random
    /// numbers make points comparable).
    #[serde(default)]
    pub seed: u64,
    /// Write every run's per-function records (records/run-NNNNNN.{csv,parquet}).
    #[serde(default)]
    pub records: bool,
    /// The axes, crossed (cartesian product) in order, the first outermost; axes sharing a
    /// `zip` group advance together as one.
    #[serde(default)]
    pub axes: Vec<AxisSpec>,
    #[serde(default)]
    pub plot: PlotSpec,
}

fn one() -> u64 {
    1
}

/// One axis: a config field and the values it takes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AxisSpec {
    /// Dotted config path, as for `--set` (e.g. `bursts[0].workers`).
    pub path: String,
    /// Column name in the results table (default: the path).
    pub name: Option<String>,
    /// Explicit values (any TOML values, tables included).
    pub values: Option<Vec<toml::Value>>,
    /// Linear range, both ends included.
    pub range: Option<RangeSpec>,
    /// Log-spaced range, both ends included.
    pub log: Option<LogSpec>,
    /// What the table and plots show for each value instead of the value itself (same length).
    pub labels: Option<Vec<String>>,
    /// Axes with the same zip group take their i-th values together (same lengths required).
    pub zip: Option<String>,
}

/// `range = { from = 1, to = 48, step = 1 }`: integers when all three are integers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeSpec {
    pub from: toml::Value,
    pub to: toml::Value,
    pub step: toml::Value,
}

/// `log = { from = 0.1, to = 600, count = 10 }`: `count` values evenly spaced in log scale.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSpec {
    pub from: f64,
    pub to: f64,
    pub count: u64,
    /// Round to integers (duplicates after rounding are dropped), e.g. for worker counts.
    #[serde(default)]
    pub integer: bool,
}

/// `[plot]`: what the sweep plots show.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlotSpec {
    /// Axis (column name) on the x axis (default: the first axis).
    pub x: Option<String>,
    /// Axis with one line per value (default: the first axis crossed with `x`; none if none).
    pub series: Option<String>,
    /// Summary figures to plot, one chart each.
    pub metrics: Option<Vec<String>>,
    /// Log-scale x (default: true when the x axis is log-spaced).
    pub log_x: Option<bool>,
    /// Log-scale y (default false).
    pub log_y: Option<bool>,
}

/// The resolved plot settings, stored with the results so `merge` can draw them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlotSettings {
    pub x: Option<String>,
    pub series: Option<String>,
    pub metrics: Vec<String>,
    pub log_x: bool,
    pub log_y: bool,
}

/// Metrics plotted when the sweep file does not say.
pub const DEFAULT_METRICS: [&str; 3] = ["start_latency_p50_s", "start_latency_max_s", "makespan_s"];
