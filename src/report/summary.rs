//! The summary figures of one run, computed from its per-function records alone, so a simulated
//! run and a live one are summarised the same way.

use std::collections::BTreeMap;

pub use policies::{first_submission, start_latencies};
use policies::{FunctionRecord, Status};
use serde::{Deserialize, Serialize};

/// Summary figures of one run. Times are seconds from the run's first submission.
///
/// Latency figures are over `ok` functions; a figure with nothing to measure (no `ok`
/// function) is NaN, which JSON shows as `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Functions of the run (distinct function ids; a re-run is another record of the same
    /// function).
    pub functions: u64,
    /// Functions with a completed attempt.
    pub ok: u64,
    /// Functions without one whose last attempt was rejected.
    pub rejected: u64,
    /// Functions without one whose last attempt failed.
    pub failed: u64,
    /// Distinct containers that ran at least one function.
    pub containers: u64,
    /// Containers created during the run (those whose functions were cold starts).
    pub cold_starts: u64,
    /// Functions that waited for their container to be created.
    pub cold_functions: u64,
    /// From the first submission to the last function end.
    pub makespan_s: f64,
    pub start_latency_min_s: f64,
    pub start_latency_mean_s: f64,
    pub start_latency_p50_s: f64,
    pub start_latency_p95_s: f64,
    pub start_latency_p99_s: f64,
    pub start_latency_max_s: f64,
    /// Last start minus first start: how far from simultaneous the functions started.
    pub start_spread_s: f64,
    /// Most functions running at the same time (a function runs over `[t_start, t_end)`).
    pub max_concurrency: u64,
    /// Total time during which at least 90 % of `max_concurrency` functions were running.
    pub time_above_90pct_concurrency_s: f64,
    /// Sum over containers of width * (last end - first ready), the width being the most
    /// functions it ran at once (a burst container: its workers, one CPU each; a FaaS
    /// container: 1). What the platform held, idle time included.
    pub cpu_seconds_reserved: f64,
    /// Sum over functions of `t_end - t_start`: what the functions actually used.
    pub cpu_seconds_used: f64,
}

impl Summary {
    /// Summarise `records` (any order; the result does not depend on it).
    pub fn from_records(records: &[FunctionRecord]) -> Summary {
        let ends = FunctionEnds::of(records);
        let t0 = first_submission(records);

        let ran: Vec<&FunctionRecord> = records
            .iter()
            .filter(|r| r.t_start.is_finite() && r.t_end.is_finite())
            .collect();
        let ok: Vec<&FunctionRecord> = ran.iter().copied().filter(|r| r.is_ok()).collect();

        let latencies = start_latencies(records);
        let mean = if latencies.is_empty() {
            f64::NAN
        } else {
            latencies.iter().sum::<f64>() / latencies.len() as f64
        };

        let makespan_s = ran.iter().map(|r| r.t_end - t0).fold(f64::NAN, f64::max);

        let curve = ConcurrencyCurve::new(ran.iter().map(|r| (r.t_start, r.t_end)));
        let max_concurrency = curve.max();
        let threshold = (0.9 * max_concurrency as f64).ceil() as u64;
        let time_above = if max_concurrency == 0 {
            0.0
        } else {
            curve.time_at_or_above(threshold)
        };

        let placed = records.iter().filter(|r| r.container != u64::MAX);
        let mut containers: BTreeMap<u64, ContainerUse> = BTreeMap::new();
        for r in placed {
            let c = containers.entry(r.container).or_default();
            c.cold |= r.cold;
            if r.t_container_ready.is_finite() {
                c.first_ready = c.first_ready.min(r.t_container_ready);
            }
            if r.t_start.is_finite() && r.t_end.is_finite() {
                c.last_end = c.last_end.max(r.t_end);
                c.spans.push((r.t_start, r.t_end));
            }
        }
        let cpu_seconds_reserved = containers
            .values()
            .filter(|c| c.first_ready.is_finite() && c.last_end.is_finite())
            .map(|c| {
                let width = ConcurrencyCurve::new(c.spans.iter().copied()).max();
                width as f64 * (c.last_end - c.first_ready).max(0.0)
            })
            .sum();

        Summary {
            functions: ends.functions,
            ok: ends.ok,
            rejected: ends.rejected,
            failed: ends.failed,
            containers: containers.len() as u64,
            cold_starts: containers.values().filter(|c| c.cold).count() as u64,
            cold_functions: records.iter().filter(|r| r.cold).count() as u64,
            makespan_s,
            start_latency_min_s: latencies.first().copied().unwrap_or(f64::NAN),
            start_latency_mean_s: mean,
            start_latency_p50_s: percentile(&latencies, 50.0),
            start_latency_p95_s: percentile(&latencies, 95.0),
            start_latency_p99_s: percentile(&latencies, 99.0),
            start_latency_max_s: latencies.last().copied().unwrap_or(f64::NAN),
            start_spread_s: match (latencies.first(), latencies.last()) {
                (Some(lo), Some(hi)) => hi - lo,
                _ => f64::NAN,
            },
            max_concurrency,
            time_above_90pct_concurrency_s: time_above,
            cpu_seconds_reserved,
            cpu_seconds_used: ok.iter().map(|r| r.t_end - r.t_start).sum(),
        }
    }
}

impl Summary {
    /// Every figure as `(json key, value)`, in declaration order: for tables with one column per
    /// figure (compare.csv, sweeps). Counts are exact in f64 far beyond any run size.
    pub fn fields(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("functions", self.functions as f64),
            ("ok", self.ok as f64),
            ("rejected", self.rejected as f64),
            ("failed", self.failed as f64),
            ("containers", self.containers as f64),
            ("cold_starts", self.cold_starts as f64),
            ("cold_functions", self.cold_functions as f64),
            ("makespan_s", self.makespan_s),
            ("start_latency_min_s", self.start_latency_min_s),
            ("start_latency_mean_s", self.start_latency_mean_s),
            ("start_latency_p50_s", self.start_latency_p50_s),
            ("start_latency_p95_s", self.start_latency_p95_s),
            ("start_latency_p99_s", self.start_latency_p99_s),
            ("start_latency_max_s", self.start_latency_max_s),
            ("start_spread_s", self.start_spread_s),
            ("max_concurrency", self.max_concurrency as f64),
            (
                "time_above_90pct_concurrency_s",
                self.time_above_90pct_concurrency_s,
            ),
            ("cpu_seconds_reserved", self.cpu_seconds_reserved),
            ("cpu_seconds_used", self.cpu_seconds_used),
        ]
    }
}

/// The human-readable summary: one row per figure, one column per run, aligned.
pub fn summary_table(runs: &[(&str, &Summary)]) -> String {
    fn secs(v: f64) -> String {
        if v.is_finite() {
            format!("{v:.3} s")
        } else {
            "-".to_string()
        }
    }
    fn cpu_s(v: f64) -> String {
        if v.is_finite() {
            format!("{v:.1}")
        } else {
            "-".to_string()
        }
    }
    type Row = (&'static str, fn(&Summary) -> String);
    let rows: [Row; 15] = [
        ("functions", |s| {
            if s.ok == s.functions {
                s.functions.to_string()
            } else {
                format!(
                    "{} (ok {}, rejected {}, failed {})",
                    s.functions, s.ok, s.rejected, s.failed
                )
            }
        }),
        ("containers", |s| s.containers.to_string()),
        ("cold starts", |s| s.cold_starts.to_string()),
        ("makespan", |s| secs(s.makespan_s)),
        ("start latency min", |s| secs(s.start_latency_min_s)),
        ("start latency median", |s| secs(s.start_latency_p50_s)),
        ("start latency p95", |s| secs(s.start_latency_p95_s)),
        ("start latency p99", |s| secs(s.start_latency_p99_s)),
        ("start latency max", |s| secs(s.start_latency_max_s)),
        ("start spread", |s| secs(s.start_spread_s)),
        ("max concurrency", |s| {
            format!("{} of {}", s.max_concurrency, s.functions)
        }),
        ("time above 90% of max", |s| {
            secs(s.time_above_90pct_concurrency_s)
        }),
        ("CPU-seconds reserved", |s| cpu_s(s.cpu_seconds_reserved)),
        ("CPU-seconds used", |s| cpu_s(s.cpu_seconds_used)),
        ("CPU use / reserved", |s| {
            if s.cpu_seconds_reserved > 0.0 {
                format!(
                    "{:.1} %",
                    100.0 * s.cpu_seconds_used / s.cpu_seconds_reserved
                )
            } else {
                "-".to_string()
            }
        }),
    ];
    let mut cells: Vec<Vec<String>> = vec![std::iter::once(String::new())
        .chain(runs.iter().map(|(name, _)| name.to_string()))
        .collect()];
    for (label, value) in rows {
        cells.push(
            std::iter::once(label.to_string())
                .chain(runs.iter().map(|(_, s)| value(s)))
                .collect(),
        );
    }
    aligned_table(&cells)
}

/// Each column's width: its longest cell, in characters.
pub fn column_widths(cells: &[Vec<String>]) -> Vec<usize> {
    let columns = cells.first().map_or(0, Vec::len);
    (0..columns)
        .map(|c| {
            cells
                .iter()
                .map(|row| row[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect()
}

/// A plain-text table: the first column left-aligned (labels), the others right-aligned,
/// two spaces apart, no trailing blanks.
pub fn aligned_table(cells: &[Vec<String>]) -> String {
    let widths = column_widths(cells);
    let mut out = String::new();
    for row in cells {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c == 0 {
                line.push_str(&format!("{cell:<w$}", w = widths[0]));
            } else {
                line.push_str(&format!("  {cell:>w$}", w = widths[c]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// How the functions of a run ended, each counted once: `ok` if one of its attempts completed,
/// else the outcome of its last attempt.
#[derive(Debug, Default, PartialEq)]
struct FunctionEnds {
    functions: u64,
    ok: u64,
    rejected: u64,
    failed: u64,
}

impl FunctionEnds {
    fn of(records: &[FunctionRecord]) -> Self {
        let mut ends = FunctionEnds::default();
        let mut count = |status: Status| {
            ends.functions += 1;
            match status {
                Status::Ok => ends.ok += 1,
                Status::Rejected => ends.rejected += 1,
                Status::Failed => ends.failed += 1,
            }
        };
        if records.iter().all(|r| r.attempt == 0) {
            // One record per function (every run without re-runs): no map needed.
            records.iter().for_each(|r| count(r.status()));
            return ends;
        }
        // Per function: (any attempt ok, highest attempt, its status).
        let mut by_function: BTreeMap<u64, (bool, u32, Status)> = BTreeMap::new();
        for r in records {
            let e = by_function
                .entry(r.function_id)
                .or_insert((false, r.attempt, r.status()));
            e.0 |= r.is_ok();
            if r.attempt >= e.1 {
                (e.1, e.2) = (r.attempt, r.status());
            }
        }
        for (ok, _, last) in by_function.into_values() {
            count(if ok { Status::Ok } else { last });
        }
        ends
    }
}

#[derive(Debug)]
struct ContainerUse {
    cold: bool,
    first_ready: f64,
    last_end: f64,
    spans: Vec<(f64, f64)>,
}

impl Default for ContainerUse {
    fn default() -> Self {
        ContainerUse {
            cold: false,
            first_ready: f64::INFINITY,
            last_end: f64::NEG_INFINITY,
            spans: Vec::new(),
        }
    }
}

/// Nearest-rank percentile of sorted `values`: the smallest value with at least `p` % of the
/// values at or below it (rank `ceil(p/100 * n)`, 1-based). NaN when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// How many functions run over time: a step function built from `[start, end)` intervals.
///
/// At equal times ends come before starts, so a function that starts exactly when another ends
/// does not overlap it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConcurrencyCurve {
    /// `(time, running from this time on)`, times strictly increasing.
    pub steps: Vec<(f64, u64)>,
}

impl ConcurrencyCurve {
    pub fn new(spans: impl Iterator<Item = (f64, f64)>) -> Self {
        // (time, +1 start / -1 end); sort puts -1 before +1 at equal times.
        let mut edges: Vec<(f64, i8)> = Vec::new();
        for (start, end) in spans {
            if start.is_finite() && end.is_finite() && end > start {
                edges.push((start, 1));
                edges.push((end, -1));
            }
        }
        edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut steps: Vec<(f64, u64)> = Vec::new();
        let mut running: i64 = 0;
        for (time, delta) in edges {
            running += i64::from(delta);
            let level = running as u64;
            match steps.last_mut() {
                Some(last) if last.0 == time => last.1 = level,
                _ => steps.push((time, level)),
            }
        }
        ConcurrencyCurve { steps }
    }

    /// The highest level reached (0 when empty).
    pub fn max(&self) -> u64 {
        self.steps.iter().map(|s| s.1).max().unwrap_or(0)
    }

    /// Total time during which the level was `>= threshold`.
    pub fn time_at_or_above(&self, threshold: u64) -> f64 {
        self.steps
            .windows(2)
            .filter(|w| w[0].1 >= threshold)
            .map(|w| w[1].0 - w[0].0)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use policies::Outcome;

    use super::*;

    /// An ok function in container `container` (ready at `ready`), submitted at 0.
    fn rec(id: u64, container: u64, ready: f64, start: f64, end: f64) -> FunctionRecord {
        FunctionRecord {
            function_id: id,
            burst_id: 0,
            tenant: 0,
            worker_id: id as u32,
            invoker: 0,
            container,
            cpu: Some(id as u32),
            cpu_shared: false,
            cold: true,
            attempt: 0,
            outcome: Outcome::Ok,
            t_submit: 0.0,
            t_dispatch: 0.0,
            t_container_ready: ready,
            t_start: start,
            t_end: end,
        }
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 5.0);
        assert_eq!(percentile(&v, 95.0), 10.0);
        assert_eq!(percentile(&v, 10.0), 1.0);
        assert_eq!(percentile(&v, 11.0), 2.0);
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&v, 100.0), 10.0);
        let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&hundred, 99.0), 99.0);
        assert!(percentile(&[], 50.0).is_nan());
    }

    #[test]
    fn end_at_a_start_is_not_overlap() {
        // [0,1) then [1,2): never two at once; a third overlapping [0.5,1.5) makes two.
        let curve = ConcurrencyCurve::new([(0.0, 1.0), (1.0, 2.0)].into_iter());
        assert_eq!(curve.max(), 1);
        assert_eq!(curve.time_at_or_above(1), 2.0);
        let curve = ConcurrencyCurve::new([(0.0, 1.0), (1.0, 2.0), (0.5, 1.5)].into_iter());
        assert_eq!(curve.max(), 2);
        assert_eq!(curve.time_at_or_above(2), 1.0);
    }

    #[test]
    fn summary_figures() {
        // Container 7 (two workers, ready at 1) and container 8 (one worker, ready at 2).
        let mut records = vec![
            rec(0, 7, 1.0, 1.0, 6.0),
            rec(1, 7, 1.0, 1.5, 6.5),
            rec(2, 8, 2.0, 3.0, 4.0),
        ];
        records[2].cold = false;
        let mut rejected = rec(3, u64::MAX, f64::NAN, f64::NAN, f64::NAN);
        rejected.outcome = Outcome::rejected("no capacity");
        rejected.cold = false;
        records.push(rejected);
        let s = Summary::from_records(&records);
        assert_eq!((s.functions, s.ok, s.rejected, s.failed), (4, 3, 1, 0));
        assert_eq!((s.containers, s.cold_starts, s.cold_functions), (2, 1, 2));
        assert_eq!(s.makespan_s, 6.5);
        assert_eq!(s.start_latency_min_s, 1.0);
        assert_eq!(s.start_latency_p50_s, 1.5);
        assert_eq!(s.start_latency_max_s, 3.0);
        assert_eq!(s.start_spread_s, 2.0);
        assert_eq!(s.max_concurrency, 3);
        // ceil(0.9 * 3) = 3 running over [3, 4).
        assert_eq!(s.time_above_90pct_concurrency_s, 1.0);
        // Container 7: width 2 * (6.5 - 1); container 8: 1 * (4 - 2).
        assert_eq!(s.cpu_seconds_reserved, 2.0 * 5.5 + 2.0);
        assert_eq!(s.cpu_seconds_used, 5.0 + 5.0 + 1.0);
    }

    #[test]
    fn one_start_latency_definition() {
        // A live run's clock starts before its first submission (here 0.25 s): every reader of
        // start latency (the record, the summary, the boxplot, validate's CDF) counts from the
        // run's first submission, as the data does (worker start - job creation).
        let mut records = vec![
            rec(0, 7, 1.0, 1.25, 6.0),
            rec(1, 7, 1.0, 1.75, 6.5),
            rec(2, 8, 2.0, 3.25, 4.0),
        ];
        for (r, submit) in records.iter_mut().zip([0.25, 0.5, 0.75]) {
            r.t_submit = submit;
        }
        let s = Summary::from_records(&records);
        let t0 = first_submission(&records);
        let by_record: Vec<f64> = records.iter().map(|r| r.start_latency(t0)).collect();
        assert_eq!(start_latencies(&records), by_record);
        assert_eq!(by_record, [1.0, 1.5, 3.0]);
        assert_eq!(s.start_latency_min_s, 1.0);
        assert_eq!(s.start_latency_max_s, 3.0);
        let b = crate::report::LatencyBox::from_records("x", &records);
        assert_eq!(b.median, 1.5);
    }

    #[test]
    fn order_does_not_matter_and_json_keys() {
        let records: Vec<FunctionRecord> = (0..50)
            .map(|i| {
                let start = ((i * 37) % 11) as f64 * 0.25;
                rec(i, i / 10, 0.0, start, start + 1.0 + f64::from(i as u32 % 3))
            })
            .collect();
        let mut reversed = records.clone();
        reversed.reverse();
        let a = Summary::from_records(&records);
        assert_eq!(a, Summary::from_records(&reversed));
        let json = serde_json::to_value(&a).unwrap();
        for key in [
            "makespan_s",
            "start_latency_p99_s",
            "max_concurrency",
            "cpu_seconds_used",
        ] {
            assert!(json.get(key).is_some(), "{key}");
        }
    }

    #[test]
    fn fields_match_json_keys() {
        let s = Summary::from_records(&[rec(0, 0, 0.0, 1.0, 2.0)]);
        let json = serde_json::to_value(&s).unwrap();
        let keys: Vec<&str> = s.fields().iter().map(|f| f.0).collect();
        assert_eq!(keys.len(), json.as_object().unwrap().len());
        for (key, value) in s.fields() {
            assert_eq!(json[key].as_f64(), Some(value), "{key}");
        }
    }

    #[test]
    fn table_has_one_column_per_run() {
        let s = Summary::from_records(&[rec(0, 0, 0.0, 1.0, 2.0)]);
        let table = summary_table(&[("burst", &s), ("faas", &s)]);
        let first = table.lines().next().unwrap();
        assert!(first.contains("burst") && first.contains("faas"));
        assert!(table.contains("max concurrency") && table.contains("1 of 1"));
        let widths: BTreeSet<usize> = table.lines().map(|l| l.chars().count()).collect();
        assert_eq!(widths.len(), 1, "rows aligned:\n{table}");
    }

    #[test]
    fn functions_are_counted_once_over_their_attempts() {
        // Function 0: failed, then ok on a re-run. Function 1: failed twice. Function 2: ok
        // with a backup copy that was superseded. Function 3: failed, then rejected on retry.
        let mut records = vec![
            rec(0, 1, 0.0, f64::NAN, f64::NAN),
            rec(0, 2, 1.0, 1.0, 2.0),
            rec(1, 1, 0.0, f64::NAN, f64::NAN),
            rec(1, 3, 1.0, f64::NAN, f64::NAN),
            rec(2, 1, 0.0, 0.5, 3.0),
            rec(2, 4, 1.0, 1.0, f64::NAN),
            rec(3, 1, 0.0, f64::NAN, f64::NAN),
            rec(3, u64::MAX, f64::NAN, f64::NAN, f64::NAN),
        ];
        for (r, (attempt, outcome)) in records.iter_mut().zip([
            (0, Outcome::failed("invoker 0 lost")),
            (1, Outcome::Ok),
            (0, Outcome::failed("worker exited with code 3")),
            (1, Outcome::failed("worker exited with code 3")),
            (0, Outcome::Ok),
            (1, Outcome::failed("superseded by attempt 0")),
            (0, Outcome::failed("invoker 0 lost")),
            (1, Outcome::rejected("no capacity")),
        ]) {
            (r.attempt, r.outcome) = (attempt, outcome);
        }
        let s = Summary::from_records(&records);
        assert_eq!((s.functions, s.ok, s.rejected, s.failed), (4, 2, 1, 1));
        // Latencies over the completed attempts only: 1.0 (function 0) and 0.5 (function 2).
        assert_eq!((s.start_latency_min_s, s.start_latency_max_s), (0.5, 1.0));
        let mut shuffled = records.clone();
        shuffled.reverse();
        assert_eq!(Summary::from_records(&shuffled), s);
    }

    #[test]
    fn empty_run() {
        let s = Summary::from_records(&[]);
        assert_eq!((s.functions, s.max_concurrency), (0, 0));
        assert!(s.start_latency_p50_s.is_nan());
        assert_eq!(s.time_above_90pct_concurrency_s, 0.0);
    }
}
