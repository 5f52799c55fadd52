//! The per-step record: one row per executed step of each function of a `steps` workload, the
//! same schema for a simulated and a live run (`steps.csv`).

use serde::{Deserialize, Serialize};

use super::program::StepKind;

/// One executed step of one function. Times are seconds from the first submission of the run,
/// like the function's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The function (as in its [`crate::FunctionRecord`]).
    pub function_id: u64,
    /// Its burst.
    pub burst_id: u64,
    /// Its worker id within the burst.
    pub worker_id: u32,
    /// Index of the executed step (repeats unrolled), from 0.
    pub step: u32,
    /// What the step does.
    pub kind: StepKind,
    /// The worker began the step.
    pub t_start: f64,
    /// The worker finished it: work done, or every message it sends sent and every message it
    /// receives delivered.
    pub t_end: f64,
    /// Its last outgoing message was sent (uploaded, or copied in its pack); `t_start` when it
    /// sends nothing. Between this and `t_end` the worker only waits for messages.
    pub t_sent: f64,
    /// Bytes it received in memory from its own pack.
    pub bytes_local: u64,
    /// Bytes it received through the backend.
    pub bytes_remote: u64,
    /// Bytes it uploaded to the backend (a broadcast payload once).
    pub bytes_uploaded: u64,
}
