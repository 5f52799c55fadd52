//! Fitting backend profiles to the communication benchmarks of the Burst Communication
//! Middleware (`data/communication`): one pair sending 1 GiB at several chunk sizes (`pairs/`),
//! and N/2 concurrent pairs between two packs (`throughput/`). An experiment names a CSV, which
//! rows to take and a metric; the simulated run must be the same benchmark (a direct-mode config
//! with a `send` step of pattern `halves`).
//!
//! Metrics (medians over the measured runs; the simulator is deterministic here):
//! - `pair_receiver_throughput`: payload / (end - start) of the receiving worker, MiB/s (the
//!   `throughput` column of the receiver's rows);
//! - `aggregate_throughput`: bytes sent / (last receiver end - first start), MiB/s. The data's
//!   README divides by the last end of *any* worker instead; senders end after their receivers
//!   have the data (0.5 to 5.6 s later in the pairs), which no transfer explains, so the fit uses
//!   the receivers' ends (see the README's calibration section).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use sim_core::SimOutput;

use crate::error::Error;

/// What a communication experiment compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommMetric {
    /// The receiver's throughput in a pair benchmark, MiB/s.
    PairReceiverThroughput,
    /// Bytes over the time to the last delivery, MiB/s.
    AggregateThroughput,
}

impl CommMetric {
    /// The figure's name in fit tables.
    pub fn label(&self) -> &'static str {
        match self {
            CommMetric::PairReceiverThroughput => "receiver MiB/s",
            CommMetric::AggregateThroughput => "aggregate MiB/s",
        }
    }
}

/// A communication experiment's reference: rows of a benchmark CSV and a metric.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommTarget {
    /// The benchmark CSV, relative to the fit spec.
    pub data: std::path::PathBuf,
    /// What is compared.
    pub metric: CommMetric,
    /// Only rows with this `chunk_size` (bytes).
    #[serde(default)]
    pub chunk_size: Option<u64>,
    /// Only rows with this `burst_size` (workers).
    #[serde(default)]
    pub burst_size: Option<u32>,
}

/// One row of a benchmark CSV (the columns the metrics use).
#[derive(Debug, Clone, PartialEq)]
pub struct BenchRow {
    /// The run (`burst_id` column).
    pub run: String,
    pub burst_size: u32,
    pub chunk_size: u64,
    pub payload_size: u64,
    /// 0: the sending pack, 1: the receiving pack.
    pub group_id: u32,
    /// MiB/s seen by the worker.
    pub throughput: f64,
    pub start: f64,
    pub end: f64,
}

/// Reads a benchmark CSV (`benchmark,backend,burst_id,burst_size,...,throughput,start,end`).
pub fn read_bench_csv(path: &Path) -> Result<Vec<BenchRow>, Error> {
    let bad = |msg: String| Error::Input(format!("{}: {msg}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read: {e}")))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| bad(format!("expected a `{name}` column")))
    };
    let cols = [
        col("burst_id")?,
        col("burst_size")?,
        col("chunk_size")?,
        col("payload_size")?,
        col("group_id")?,
        col("throughput")?,
        col("start")?,
        col("end")?,
    ];
    let mut rows = Vec::new();
    for (i, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let cells: Vec<&str> = line.split(',').collect();
        let cell = |k: usize| cells.get(cols[k]).copied().unwrap_or("");
        let num = |k: usize| -> Result<f64, Error> {
            cell(k).parse::<f64>().map_err(|_| {
                bad(format!(
                    "line {}: expected a number, got `{}`",
                    i + 2,
                    cell(k)
                ))
            })
        };
        rows.push(BenchRow {
            run: cell(0).to_string(),
            burst_size: num(1)? as u32,
            chunk_size: num(2)? as u64,
            payload_size: num(3)? as u64,
            group_id: num(4)? as u32,
            throughput: num(5)?,
            start: num(6)?,
            end: num(7)?,
        });
    }
    Ok(rows)
}

/// The median of `values` (mean of the two middle ones for an even count).
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

const MIB: f64 = 1048576.0;

/// Per measured run: (payload of the senders, first start, last receiver end, last end).
fn runs<'a>(rows: impl Iterator<Item = &'a BenchRow>) -> BTreeMap<&'a str, (f64, f64, f64, f64)> {
    let mut runs: BTreeMap<&str, (f64, f64, f64, f64)> = BTreeMap::new();
    for r in rows {
        let e = runs.entry(&r.run).or_insert((
            0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        ));
        if r.group_id == 0 {
            e.0 += r.payload_size as f64;
        } else {
            e.2 = e.2.max(r.end);
        }
        e.1 = e.1.min(r.start);
        e.3 = e.3.max(r.end);
    }
    runs
}

impl CommTarget {
    /// The measured value of the metric, from the selected rows of `rows`.
    pub fn measured(&self, rows: &[BenchRow]) -> Result<f64, String> {
        let selected: Vec<&BenchRow> = rows
            .iter()
            .filter(|r| self.chunk_size.is_none_or(|c| r.chunk_size == c))
            .filter(|r| self.burst_size.is_none_or(|n| r.burst_size == n))
            .collect();
        if selected.is_empty() {
            return Err("no rows match `chunk_size` and `burst_size`".into());
        }
        Ok(match self.metric {
            CommMetric::PairReceiverThroughput => median(
                selected
                    .iter()
                    .filter(|r| r.group_id == 1)
                    .map(|r| r.throughput)
                    .collect(),
            ),
            CommMetric::AggregateThroughput => median(
                runs(selected.into_iter())
                    .values()
                    .map(|&(bytes, start, recv_end, _)| bytes / MIB / (recv_end - start))
                    .collect(),
            ),
        })
    }

    /// The same figure from a simulated benchmark: worker w < N/2 sends to w + N/2 in step 0.
    pub fn simulated(&self, out: &SimOutput) -> f64 {
        let n = out.records.len() as u32;
        let receivers = || {
            out.steps
                .iter()
                .filter(|s| s.step == 0 && s.worker_id >= n / 2)
        };
        match self.metric {
            CommMetric::PairReceiverThroughput => median(
                receivers()
                    .map(|s| s.bytes_remote as f64 / MIB / (s.t_end - s.t_start))
                    .collect(),
            ),
            CommMetric::AggregateThroughput => {
                let bytes: u64 = receivers().map(|s| s.bytes_remote + s.bytes_local).sum();
                let start = out
                    .steps
                    .iter()
                    .map(|s| s.t_start)
                    .fold(f64::INFINITY, f64::min);
                let end = receivers()
                    .map(|s| s.t_end)
                    .fold(f64::NEG_INFINITY, f64::max);
                bytes as f64 / MIB / (end - start)
            }
        }
    }
}

/// Per (burst size or chunk size) group of runs: median sender and receiver times and the
/// README's aggregate (to the last end of any worker), for reporting what the model leaves out.
pub fn sender_tail(rows: &[BenchRow]) -> Vec<(u64, f64, f64)> {
    let mut by_key: BTreeMap<u64, Vec<(f64, f64)>> = BTreeMap::new();
    let keyed = rows.iter().map(|r| {
        let key = if r.burst_size == 2 {
            r.chunk_size
        } else {
            r.burst_size as u64
        };
        (key, r)
    });
    let mut grouped: BTreeMap<u64, Vec<&BenchRow>> = BTreeMap::new();
    for (k, r) in keyed {
        grouped.entry(k).or_default().push(r);
    }
    for (k, rs) in grouped {
        for &(_, start, recv_end, end) in runs(rs.into_iter()).values() {
            by_key
                .entry(k)
                .or_default()
                .push((recv_end - start, end - start));
        }
    }
    by_key
        .into_iter()
        .map(|(k, v)| {
            let recv = median(v.iter().map(|x| x.0).collect());
            let all = median(v.iter().map(|x| x.1).collect());
            (k, recv, all)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(run: &str, group: u32, start: f64, end: f64) -> BenchRow {
        BenchRow {
            run: run.into(),
            burst_size: 4,
            chunk_size: 1 << 20,
            payload_size: 256 << 20,
            group_id: group,
            throughput: 256.0 / (end - start),
            start,
            end,
        }
    }

    #[test]
    fn aggregate_counts_sender_payload_over_time_to_last_delivery() {
        let rows = vec![
            row("a", 0, 10.0, 13.0),
            row("a", 0, 10.0, 12.0),
            row("a", 1, 10.0, 11.0),
            row("a", 1, 10.0, 12.0),
        ];
        let t = CommTarget {
            data: "x".into(),
            metric: CommMetric::AggregateThroughput,
            chunk_size: None,
            burst_size: Some(4),
        };
        assert_eq!(t.measured(&rows).unwrap(), 512.0 / 2.0);
        let pair = CommTarget {
            metric: CommMetric::PairReceiverThroughput,
            ..t.clone()
        };
        assert_eq!(pair.measured(&rows).unwrap(), (256.0 + 128.0) / 2.0);
        let none = CommTarget {
            burst_size: Some(8),
            ..t
        };
        assert!(none.measured(&rows).is_err());
        assert_eq!(sender_tail(&rows), vec![(4, 2.0, 3.0)]);
    }

    #[test]
    fn shipped_data_parses() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/communication");
        let rows = read_bench_csv(&root.join("pairs/redis-list.csv")).unwrap();
        assert_eq!(rows.len(), 100);
        let t = CommTarget {
            data: "x".into(),
            metric: CommMetric::PairReceiverThroughput,
            chunk_size: Some(1 << 20),
            burst_size: None,
        };
        let v = t.measured(&rows).unwrap();
        assert!((400.0..440.0).contains(&v), "{v}");
    }
}
