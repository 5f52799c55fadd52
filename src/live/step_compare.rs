//! `burstsim validate` on a `steps` workload: simulated vs measured time per step kind (and per
//! executed step), from the per-step rows both runs write (`policies::comm::StepRecord`).
//!
//! The figure compared is the mean time a function spends in one executed step of a kind
//! (`t_end - t_start`, over functions, steps and repeats), with its part spent sending
//! (`t_sent - t_start`); the bytes each step moved through the backend are compared too (the
//! same message plan on both sides: they must agree).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use policies::comm::{StepKind, StepRecord};
use serde::Serialize;

use crate::Error;

/// One row of the step comparison: a step kind, or one executed step (`step` set).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepRow {
    pub kind: String,
    /// The executed step (repeats unrolled), or `None` for a whole kind.
    pub step: Option<u32>,
    /// Rows (function x step) measured, over all repeats.
    pub measured_rows: u64,
    pub simulated_s: f64,
    pub measured_s: f64,
    /// (simulated - measured) / measured.
    pub relative_error: f64,
    pub simulated_sending_s: f64,
    pub measured_sending_s: f64,
    /// Mean bytes a function received through the backend in one such step.
    pub simulated_remote_bytes: f64,
    pub measured_remote_bytes: f64,
}

#[derive(Default)]
struct Acc {
    rows: u64,
    time: f64,
    sending: f64,
    remote: f64,
}

impl Acc {
    fn add(&mut self, s: &StepRecord) {
        self.rows += 1;
        self.time += (s.t_end - s.t_start).max(0.0);
        self.sending += (s.t_sent - s.t_start).max(0.0);
        self.remote += s.bytes_remote as f64;
    }

    fn mean(&self, v: f64) -> f64 {
        if self.rows == 0 {
            f64::NAN
        } else {
            v / self.rows as f64
        }
    }
}

type Key = (StepKind, Option<u32>);

fn accumulate(runs: &[Vec<StepRecord>]) -> BTreeMap<Key, Acc> {
    let mut by: BTreeMap<Key, Acc> = BTreeMap::new();
    for s in runs.iter().flatten() {
        by.entry((s.kind, None)).or_default().add(s);
        by.entry((s.kind, Some(s.step))).or_default().add(s);
    }
    by
}

/// The comparison per step kind, then per executed step, of the simulated and measured runs.
pub fn compare_steps(sim: &[Vec<StepRecord>], live: &[Vec<StepRecord>]) -> Vec<StepRow> {
    let (s, m) = (accumulate(sim), accumulate(live));
    let mut keys: Vec<Key> = s.keys().chain(m.keys()).copied().collect();
    keys.sort_by_key(|(kind, step)| (step.is_some(), *step, *kind));
    keys.dedup();
    let empty = Acc::default();
    keys.into_iter()
        .map(|key| {
            let (a, b) = (s.get(&key).unwrap_or(&empty), m.get(&key).unwrap_or(&empty));
            let (st, mt) = (a.mean(a.time), b.mean(b.time));
            StepRow {
                kind: key.0.as_str().to_string(),
                step: key.1,
                measured_rows: b.rows,
                simulated_s: st,
                measured_s: mt,
                relative_error: if mt != 0.0 { (st - mt) / mt } else { f64::NAN },
                simulated_sending_s: a.mean(a.sending),
                measured_sending_s: b.mean(b.sending),
                simulated_remote_bytes: a.mean(a.remote),
                measured_remote_bytes: b.mean(b.remote),
            }
        })
        .collect()
}

/// The terminal table: every kind, and each executed step when there are at most `max_steps`.
pub fn steps_table(rows: &[StepRow], max_steps: usize) -> String {
    let per_step = rows.iter().filter(|r| r.step.is_some()).count();
    let mut s = format!(
        "{:<16} {:>12} {:>12} {:>10} {:>12} {:>12} {:>14}\n",
        "step",
        "simulated s",
        "measured s",
        "rel.error",
        "sim. send s",
        "meas. send s",
        "remote MiB s/m"
    );
    for r in rows
        .iter()
        .filter(|r| r.step.is_none() || per_step <= max_steps)
    {
        let name = match r.step {
            None => format!("{} (all)", r.kind),
            Some(i) => format!("{i}: {}", r.kind),
        };
        let _ = writeln!(
            s,
            "{:<16} {:>12.4} {:>12.4} {:>9.1}% {:>12.4} {:>12.4} {:>6.1}/{:<6.1}",
            name,
            r.simulated_s,
            r.measured_s,
            r.relative_error * 100.0,
            r.simulated_sending_s,
            r.measured_sending_s,
            r.simulated_remote_bytes / 1048576.0,
            r.measured_remote_bytes / 1048576.0
        );
    }
    s
}

/// validation_steps.csv: every row.
pub fn write_step_rows(dir: &Path, rows: &[StepRow]) -> Result<(), Error> {
    let mut csv = String::from(
        "kind,step,measured_rows,simulated_s,measured_s,relative_error,simulated_sending_s,\
         measured_sending_s,simulated_remote_bytes,measured_remote_bytes\n",
    );
    for r in rows {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{}",
            r.kind,
            r.step.map(|s| s.to_string()).unwrap_or_default(),
            r.measured_rows,
            r.simulated_s,
            r.measured_s,
            r.relative_error,
            r.simulated_sending_s,
            r.measured_sending_s,
            r.simulated_remote_bytes,
            r.measured_remote_bytes
        );
    }
    crate::atomic::write_bytes(&dir.join("validation_steps.csv"), csv.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(f: u64, step: u32, kind: StepKind, start: f64, end: f64, remote: u64) -> StepRecord {
        StepRecord {
            function_id: f,
            burst_id: 0,
            worker_id: f as u32,
            step,
            kind,
            t_start: start,
            t_end: end,
            t_sent: start + (end - start) / 2.0,
            bytes_local: 0,
            bytes_remote: remote,
            bytes_uploaded: 0,
        }
    }

    #[test]
    fn kinds_and_steps_are_compared_by_mean_time() {
        let sim = vec![vec![
            row(0, 0, StepKind::Compute, 0.0, 1.0, 0),
            row(0, 1, StepKind::Broadcast, 1.0, 1.5, 100),
            row(1, 0, StepKind::Compute, 0.0, 1.0, 0),
            row(1, 1, StepKind::Broadcast, 1.0, 2.5, 300),
        ]];
        let live = vec![
            vec![row(0, 0, StepKind::Compute, 0.0, 2.0, 0)],
            vec![
                row(0, 0, StepKind::Compute, 0.0, 2.0, 0),
                row(0, 1, StepKind::Broadcast, 2.0, 3.0, 200),
            ],
        ];
        let rows = compare_steps(&sim, &live);
        let all = |k: &str| {
            rows.iter()
                .find(|r| r.kind == k && r.step.is_none())
                .unwrap()
        };
        let c = all("compute");
        assert_eq!(
            (c.simulated_s, c.measured_s, c.measured_rows),
            (1.0, 2.0, 2)
        );
        assert!((c.relative_error + 0.5).abs() < 1e-12);
        let b = all("broadcast");
        assert_eq!((b.simulated_s, b.measured_s), (1.0, 1.0));
        assert_eq!(
            (b.simulated_remote_bytes, b.measured_remote_bytes),
            (200.0, 200.0)
        );
        assert_eq!(rows.iter().filter(|r| r.step.is_some()).count(), 2);
        // Kinds first, then executed steps in order.
        assert!(rows[0].step.is_none() && rows[2].step == Some(0));
        let t = steps_table(&rows, 10);
        assert!(
            t.contains("compute (all)") && t.contains("1: broadcast"),
            "{t}"
        );
        assert!(!steps_table(&rows, 1).contains("1: broadcast"));
    }
}
