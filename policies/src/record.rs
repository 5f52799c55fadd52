//! The per-function record: one row per function (worker), the same schema for a simulated run
//! and a live one, so one report writer serves both.

use serde::{Deserialize, Serialize};

/// How a function ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// It ran to completion.
    Ok,
    /// Admission refused it (a burst that did not fit with `on_no_capacity = "reject"`).
    Rejected,
    /// It was placed but did not complete (live runs: agent lost, container failed...).
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

/// One function (one worker of a burst, or one FaaS invocation).
///
/// Times are seconds from the first submission of the run. A stage that was never reached
/// (a rejected function has no dispatch, no container...) is `NaN`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionRecord {
    /// Unique within the run, in submission order.
    pub function_id: u64,
    /// The burst (group request) it belongs to; for FaaS runs, the client-side group of N
    /// single invocations that stands for the burst.
    pub burst_id: u64,
    /// Tenant index from the config.
    pub tenant: u32,
    /// Worker id within its burst (`0..N`).
    pub worker_id: u32,
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
    /// How it ended.
    pub status: Status,
    /// Why it failed or was rejected (empty when `Ok`).
    pub reason: String,
    /// The client sent the request.
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
    /// A record with its identity set and every stage unreached (times `NaN`, no invoker,
    /// container or CPU), status `Ok` until something says otherwise.
    pub fn pending(function_id: u64, burst_id: u64, tenant: u32, worker_id: u32) -> Self {
        FunctionRecord {
            function_id,
            burst_id,
            tenant,
            worker_id,
            invoker: u32::MAX,
            container: u64::MAX,
            cpu: None,
            cpu_shared: false,
            cold: false,
            status: Status::Ok,
            reason: String::new(),
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

    /// True when the function ran to completion.
    pub fn is_ok(&self) -> bool {
        self.status == Status::Ok
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
