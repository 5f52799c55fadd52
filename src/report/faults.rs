//! What faults and recovery cost a run: attempts, failures by cause, re-runs, CPU-seconds spent
//! on work that was thrown away, and (simulated runs) how much later the run ended than the same
//! run without faults. Added to summary.json as `faults` and to sweep rows as `faults.*`
//! columns, for runs with `[faults]`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use policies::comm::StepRecord;
use policies::{first_submission, FunctionRecord, Status};
use serde::Serialize;
use serde_json::Value as Json;
use sim_core::{RecordSink, Scenario, SinkError};

/// The fault figures of a run. Times in seconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultSummary {
    /// Records: every attempt of every function.
    pub attempts: u64,
    /// Attempts beyond each function's first (re-runs, client retries, backup copies).
    pub retries: u64,
    /// Attempts that failed, whatever the cause (crash, lost invoker, superseded, discarded).
    pub failed_attempts: u64,
    /// Functions that needed more than one attempt.
    pub functions_retried: u64,
    /// Sum of `t_end - t_start` over failed attempts that ran: CPU-seconds whose work was
    /// lost or thrown away (one CPU per worker).
    pub wasted_cpu_s: f64,
    /// Makespan of the same scenario and seed without `[faults]` (NaN when unknown, e.g. a
    /// live run).
    pub fault_free_makespan_s: f64,
    /// Makespan minus `fault_free_makespan_s`: what the faults and the recovery policy cost
    /// in end-to-end time.
    pub recovery_cost_s: f64,
    /// Failed attempts per cause: the reason with its numbers replaced by `N`.
    pub failures_by_cause: BTreeMap<String, u64>,
}

/// The figures that become sweep columns (`faults.<name>`), in order.
const COLUMNS: [&str; 7] = [
    "attempts",
    "retries",
    "failed_attempts",
    "functions_retried",
    "wasted_cpu_s",
    "fault_free_makespan_s",
    "recovery_cost_s",
];

/// Names of the `faults.*` sweep columns, in order.
pub fn fault_columns() -> Vec<String> {
    COLUMNS.iter().map(|c| format!("faults.{c}")).collect()
}

/// The makespan of `records` (first submission to last end of an attempt that ran).
pub fn makespan(records: &[FunctionRecord]) -> f64 {
    let t0 = first_submission(records);
    records
        .iter()
        .filter(|r| r.t_start.is_finite() && r.t_end.is_finite())
        .map(|r| r.t_end - t0)
        .fold(f64::NAN, f64::max)
}

/// `reason` with each run of digits replaced by `N`: "invoker 3 crashed" -> "invoker N crashed".
fn cause(reason: &str) -> String {
    let mut out = String::with_capacity(reason.len());
    let mut in_number = false;
    for ch in reason.chars() {
        if ch.is_ascii_digit() {
            if !in_number {
                out.push('N');
            }
            in_number = true;
        } else {
            in_number = false;
            out.push(ch);
        }
    }
    out
}

/// The fault figures accumulated record by record (runs are streamed): each function's
/// attempts come one after the other.
#[derive(Debug, Clone, Default)]
pub struct FaultTally {
    attempts: u64,
    retries: u64,
    failed_attempts: u64,
    functions_retried: u64,
    wasted_cpu_s: f64,
    failures_by_cause: BTreeMap<String, u64>,
}

impl FaultTally {
    pub fn add(&mut self, r: &FunctionRecord) {
        self.attempts += 1;
        if r.attempt > 0 {
            self.retries += 1;
        }
        // Every retried function has exactly one attempt 1.
        if r.attempt == 1 {
            self.functions_retried += 1;
        }
        if r.status() != Status::Failed {
            return;
        }
        self.failed_attempts += 1;
        *self
            .failures_by_cause
            .entry(cause(r.outcome.reason()))
            .or_default() += 1;
        if r.t_start.is_finite() && r.t_end.is_finite() {
            self.wasted_cpu_s += (r.t_end - r.t_start).max(0.0);
        }
    }

    /// The figures, given the run's makespan and that of the same run without faults (NaN:
    /// unknown).
    pub fn finish(self, makespan_s: f64, fault_free_makespan_s: f64) -> FaultSummary {
        FaultSummary {
            attempts: self.attempts,
            retries: self.retries,
            failed_attempts: self.failed_attempts,
            functions_retried: self.functions_retried,
            wasted_cpu_s: self.wasted_cpu_s,
            fault_free_makespan_s,
            recovery_cost_s: makespan_s - fault_free_makespan_s,
            failures_by_cause: self.failures_by_cause,
        }
    }
}

/// A sink that tallies the fault figures of the records it passes on to `inner`.
pub struct TallySink<'a> {
    pub inner: &'a mut dyn RecordSink,
    pub tally: FaultTally,
}

impl RecordSink for TallySink<'_> {
    fn record(&mut self, record: FunctionRecord) -> Result<(), SinkError> {
        self.tally.add(&record);
        self.inner.record(record)
    }

    fn container_closed(&mut self, container: u64) -> Result<(), SinkError> {
        self.inner.container_closed(container)
    }

    fn step(&mut self, step: StepRecord) -> Result<(), SinkError> {
        self.inner.step(step)
    }
}

/// A sink that keeps only what the makespan needs.
#[derive(Debug)]
struct MakespanSink {
    t0: f64,
    end: f64,
}

impl RecordSink for MakespanSink {
    fn record(&mut self, r: FunctionRecord) -> Result<(), SinkError> {
        if r.t_submit.is_finite() {
            self.t0 = self.t0.min(r.t_submit);
        }
        if r.t_start.is_finite() && r.t_end.is_finite() {
            self.end = self.end.max(r.t_end);
        }
        Ok(())
    }
}

/// The makespan of `scenario` with `seed` and without its `[faults]` (streamed: nothing kept
/// per function).
pub fn fault_free_makespan(scenario: &Scenario, seed: u64) -> f64 {
    let mut fault_free = scenario.clone();
    fault_free.faults = None;
    let mut sink = MakespanSink {
        t0: f64::INFINITY,
        end: f64::NAN,
    };
    if sim_core::simulate_into(&fault_free, seed, &mut sink).is_err() {
        return f64::NAN;
    }
    let t0 = if sink.t0.is_finite() { sink.t0 } else { 0.0 };
    sink.end - t0
}

impl FaultSummary {
    /// The figures of `records`; `fault_free_makespan_s` as measured by a run without faults
    /// (NaN: unknown).
    pub fn from_records(records: &[FunctionRecord], fault_free_makespan_s: f64) -> Self {
        let mut tally = FaultTally::default();
        for r in records {
            tally.add(r);
        }
        tally.finish(makespan(records), fault_free_makespan_s)
    }

    /// summary.json's `faults` object.
    pub fn to_json(&self) -> Json {
        serde_json::to_value(self).unwrap_or(Json::Null)
    }

    /// Sweep cells `faults.<figure>` (the per-cause counts stay in summary.json).
    pub fn cells(&self) -> Vec<(String, Json)> {
        let map = match self.to_json() {
            Json::Object(map) => map,
            _ => return Vec::new(),
        };
        COLUMNS
            .iter()
            .map(|k| {
                (
                    format!("faults.{k}"),
                    map.get(*k).cloned().unwrap_or(Json::Null),
                )
            })
            .collect()
    }

    /// A plain-text table for the terminal.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "attempts                   {} ({} retries, {} failed; {} functions retried)",
            self.attempts, self.retries, self.failed_attempts, self.functions_retried
        );
        let _ = writeln!(s, "wasted CPU-seconds         {:.1}", self.wasted_cpu_s);
        if self.fault_free_makespan_s.is_finite() {
            let _ = writeln!(
                s,
                "makespan cost of faults    {:+.3} s (without faults {:.3} s)",
                self.recovery_cost_s, self.fault_free_makespan_s
            );
        }
        for (cause, n) in &self.failures_by_cause {
            let _ = writeln!(s, "  failed: {cause:<40} {n}");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use policies::Outcome;

    use super::*;

    fn rec(fid: u64, attempt: u32, start: f64, end: f64, outcome: Outcome) -> FunctionRecord {
        let mut r = FunctionRecord::pending(fid, 0, 0, fid as u32);
        r.attempt = attempt;
        r.t_submit = 0.0;
        r.t_start = start;
        r.t_end = end;
        r.outcome = outcome;
        r
    }

    #[test]
    fn counts_attempts_waste_and_cost() {
        // Function 0 crashed after 3 s on invoker 2 and ran again (4 s); function 1 was
        // superseded after 1.5 s by its backup; function 2 never started (creation failed).
        let records = vec![
            rec(0, 0, 1.0, 4.0, Outcome::failed("invoker 2 crashed")),
            rec(0, 1, 14.0, 18.0, Outcome::Ok),
            rec(
                1,
                0,
                1.0,
                2.5,
                Outcome::failed("superseded: attempt 1 finished first"),
            ),
            rec(1, 1, 1.5, 2.5, Outcome::Ok),
            rec(
                2,
                0,
                f64::NAN,
                f64::NAN,
                Outcome::failed("container creation failed"),
            ),
        ];
        let f = FaultSummary::from_records(&records, 5.0);
        assert_eq!(f.attempts, 5);
        assert_eq!(f.retries, 2);
        assert_eq!(f.failed_attempts, 3);
        assert_eq!(f.functions_retried, 2);
        assert!((f.wasted_cpu_s - 4.5).abs() < 1e-12, "{f:?}");
        assert!((f.recovery_cost_s - 13.0).abs() < 1e-12, "{f:?}");
        let causes: Vec<(&str, u64)> = f
            .failures_by_cause
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect();
        assert_eq!(
            causes,
            [
                ("container creation failed", 1),
                ("invoker N crashed", 1),
                ("superseded: attempt N finished first", 1)
            ]
        );
        let cells = f.cells();
        assert_eq!(
            cells.iter().map(|c| c.0.clone()).collect::<Vec<_>>(),
            fault_columns()
        );
        assert_eq!(cells[4].1, serde_json::json!(4.5));
    }
}
