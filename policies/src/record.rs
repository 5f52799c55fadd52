//! The per-function record: one row per attempt of a function (worker), the same schema for a
//! simulated run and a live one, so one report writer serves both.
//!
//! A function runs once (`attempt` 0) unless a recovery policy runs it again: each re-run is a
//! new record of the same `function_id` with the next `attempt`. Whatever happens, a function
//! has at most one `ok` attempt, and every attempt that did not complete says why
//! ([`Outcome::Failed`], [`Outcome::Rejected`]).

use serde::{Deserialize, Serialize};

/// How an attempt ended, without the reason: what reports count and filter by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// It ran to completion.
    Ok,
    /// Admission refused it (a burst that did not fit with `on_no_capacity = "reject"`).
    Rejected,
    /// It was placed but did not complete (agent or invoker lost, worker crashed, ...).
    Failed,
}

impl Status {
    /// The lowercase name used in records and reports (`ok`, `rejected`, `failed`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Rejected => "rejected",
            Status::Failed => "failed",
        }
    }
}

/// How an attempt ended, with the reason when it did not complete. In tables it is two
/// columns, `outcome` (`ok`, `failed`, `rejected`) and `reason` (empty when `ok`); in JSON, the
/// same two keys (`{"outcome": "failed", "reason": "..."}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(tag = "outcome", content = "reason", rename_all = "lowercase")]
pub enum Outcome {
    /// It ran to completion.
    #[default]
    Ok,
    /// It was placed but did not complete: why (`invoker 1 lost: ...`, `worker exited with
    /// code 3`, `OOM-killed`, `run cancelled`, ...).
    Failed(String),
    /// Admission refused it: why.
    Rejected(String),
}

impl Outcome {
    /// A failure for `reason`.
    pub fn failed(reason: impl Into<String>) -> Self {
        Outcome::Failed(reason.into())
    }

    /// A rejection for `reason`.
    pub fn rejected(reason: impl Into<String>) -> Self {
        Outcome::Rejected(reason.into())
    }

    /// The outcome without its reason.
    pub fn status(&self) -> Status {
        match self {
            Outcome::Ok => Status::Ok,
            Outcome::Failed(_) => Status::Failed,
            Outcome::Rejected(_) => Status::Rejected,
        }
    }

    /// `ok`, `failed` or `rejected`.
    pub fn as_str(&self) -> &'static str {
        self.status().as_str()
    }

    /// Why it did not complete; empty when `Ok`.
    pub fn reason(&self) -> &str {
        match self {
            Outcome::Ok => "",
            Outcome::Failed(r) | Outcome::Rejected(r) => r,
        }
    }

    /// True when it ran to completion.
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok)
    }
}

/// One attempt of one function (one worker of a burst, or one FaaS invocation).
///
/// Times are seconds from the first submission of the run. A stage that was never reached
/// (a rejected function has no dispatch, no container...) is `NaN`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionRecord {
    /// Unique within the run, in submission order; every attempt of a function shares it.
    pub function_id: u64,
    /// The burst (group request) it belongs to; for FaaS runs, the client-side group of N
    /// single invocations that stands for the burst.
    pub burst_id: u64,
    /// Tenant index from the config.
    pub tenant: u32,
    /// Worker id within its burst (`0..N`).
    pub worker_id: u32,
    /// 0 for the first run of the function; each re-run (recovery, client retry, backup copy)
    /// counts one up.
    pub attempt: u32,
    /// Invoker it ran on (`u32::MAX` when never placed).
    pub invoker: u32,
    /// Container it ran in, unique within the run (`u64::MAX` when never placed).
    pub container: u64,
    /// The CPU it was pinned to on its invoker, when CPUs are exclusive.
    pub cpu: Option<u32>,
    /// True when it shared CPU time with other work (CPU shares, or a live node with fewer
    /// physical cores than declared CPUs).
    pub cpu_shared: bool,
    /// True when its container was created for it (cold start).
    pub cold: bool,
    /// How it ended, and why when it did not complete.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// This attempt was sent: the client's request for attempt 0, the re-submission for a
    /// re-run.
    pub t_submit: f64,
    /// The invoker received the activation message (after controller and queue).
    pub t_dispatch: f64,
    /// Its container was ready to run workers (created, or found warm).
    pub t_container_ready: f64,
    /// The worker process started (the dispatcher spawned it).
    pub t_start: f64,
    /// The function finished.
    pub t_end: f64,
}

impl FunctionRecord {
    /// Attempt 0 of a function with its identity set and every stage unreached (times `NaN`,
    /// no invoker, container or CPU), outcome `Ok` until something says otherwise.
    pub fn pending(function_id: u64, burst_id: u64, tenant: u32, worker_id: u32) -> Self {
        FunctionRecord {
            function_id,
            burst_id,
            tenant,
            worker_id,
            attempt: 0,
            invoker: u32::MAX,
            container: u64::MAX,
            cpu: None,
            cpu_shared: false,
            cold: false,
            outcome: Outcome::Ok,
            t_submit: f64::NAN,
            t_dispatch: f64::NAN,
            t_container_ready: f64::NAN,
            t_start: f64::NAN,
            t_end: f64::NAN,
        }
    }

    /// Start latency: worker start minus `t0`, the first submission of the run
    /// ([`first_submission`]). The data defines it so (`worker_start_tstamp -
    /// host_job_create_tstamp`, one job creation for all the workers of a run) and thesis
    /// Figure 5.2 plots it so (when each function began, on the run's time axis); a FaaS
    /// function submitted late counts its wait in the client too.
    pub fn start_latency(&self, t0: f64) -> f64 {
        self.t_start - t0
    }

    /// True when this attempt ran to completion.
    pub fn is_ok(&self) -> bool {
        self.outcome.is_ok()
    }

    /// How this attempt ended, without the reason.
    pub fn status(&self) -> Status {
        self.outcome.status()
    }
}

/// Time zero of a run: its first submission (0 without any). Start latency and makespan count
/// from it; a simulated run's records already do (its first `t_submit` is 0), a live run's
/// clock may start earlier.
pub fn first_submission(records: &[FunctionRecord]) -> f64 {
    let t0 = records
        .iter()
        .map(|r| r.t_submit)
        .filter(|t| t.is_finite())
        .fold(f64::INFINITY, f64::min);
    if t0.is_finite() {
        t0
    } else {
        0.0
    }
}

/// The start latencies ([`FunctionRecord::start_latency`]) of a run's `ok` functions, sorted:
/// what the summary, the boxplot, the fit and `validate` read.
pub fn start_latencies(records: &[FunctionRecord]) -> Vec<f64> {
    let t0 = first_submission(records);
    let mut v: Vec<f64> = records
        .iter()
        .filter(|r| r.is_ok() && r.t_start.is_finite())
        .map(|r| r.start_latency(t0))
        .collect();
    v.sort_by(f64::total_cmp);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_is_two_json_keys_in_the_record() {
        let mut r = FunctionRecord::pending(3, 1, 0, 2);
        r.attempt = 1;
        r.outcome = Outcome::failed("invoker 1 lost");
        // JSON has no NaN: times of stages never reached are not round-tripped here.
        (
            r.t_submit,
            r.t_dispatch,
            r.t_container_ready,
            r.t_start,
            r.t_end,
        ) = (0.5, 0.6, 0.7, 0.8, 0.9);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["outcome"], "failed");
        assert_eq!(json["reason"], "invoker 1 lost");
        assert_eq!(json["attempt"], 1);
        let back: FunctionRecord = serde_json::from_value(json).unwrap();
        assert_eq!(back.outcome, r.outcome);
        let ok = serde_json::to_value(FunctionRecord::pending(0, 0, 0, 0)).unwrap();
        assert_eq!(ok["outcome"], "ok");
        assert!(ok.get("reason").is_none(), "{ok}");
    }

    #[test]
    fn status_and_reason() {
        assert_eq!(Outcome::Ok.reason(), "");
        assert_eq!(Outcome::rejected("full").status(), Status::Rejected);
        assert_eq!(Outcome::rejected("full").reason(), "full");
        assert_eq!(Outcome::failed("x").as_str(), "failed");
        assert!(Outcome::Ok.is_ok() && !Outcome::failed("x").is_ok());
    }
}
