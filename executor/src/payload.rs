//! What crosses the container boundary: the payload the agent hands the in-container dispatcher
//! (on its stdin) and the report the dispatcher prints back (on its stdout).

use std::collections::BTreeMap;

use policies::comm::StepKind;
use policies::workload::FunctionInput;
use policies::BurstInfo;
use serde::{Deserialize, Serialize};

use crate::comm::CommJob;

/// The burst layout on the wire. `BurstInfo` serialises in the thesis' payload format, which
/// drops the burst id; this form round-trips.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layout {
    pub burst_id: u64,
    /// (invoker, container, first worker, last worker), inclusive ranges.
    pub containers: Vec<(u32, u64, u32, u32)>,
}

impl From<&BurstInfo> for Layout {
    fn from(b: &BurstInfo) -> Self {
        let mut containers = Vec::new();
        for (&inv, cs) in &b.invokers {
            for (&cid, &(lo, hi)) in cs {
                containers.push((inv, cid, lo, hi));
            }
        }
        Layout {
            burst_id: b.burst_id,
            containers,
        }
    }
}

impl From<&Layout> for BurstInfo {
    fn from(l: &Layout) -> Self {
        let mut invokers: BTreeMap<u32, BTreeMap<u64, (u32, u32)>> = BTreeMap::new();
        for &(inv, cid, lo, hi) in &l.containers {
            invokers.entry(inv).or_default().insert(cid, (lo, hi));
        }
        BurstInfo {
            burst_id: l.burst_id,
            invokers,
        }
    }
}

/// The payload of one container activation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerPayload {
    pub container_id: u64,
    pub invoker_id: u32,
    /// Worker id of `inputs[0]`; worker `first_worker + i` runs `inputs[i]`.
    pub first_worker: u32,
    pub layout: Layout,
    pub inputs: Vec<FunctionInput>,
    /// Host CPU each worker is pinned to (`cpus[i]` for worker i); empty: no pinning (FaaS).
    pub cpus: Vec<u32>,
    /// Seed for randomised bodies (montecarlo); worker i uses `seed + worker id`.
    pub seed: u64,
    /// A `steps` burst: the program the workers run together (as threads of the dispatcher).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comm: Option<CommJob>,
}

/// What one worker process hands back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerReport {
    pub worker_id: u32,
    /// The container id and invoker id the worker read from its burst info.
    pub container_id: u64,
    pub invoker_id: u32,
    /// CLOCK_REALTIME seconds: worker process started, function started, function ended.
    pub t_start: f64,
    pub t_fn_start: f64,
    pub t_fn_end: f64,
    /// The CPU set the worker ran on (sched_getaffinity from inside the worker).
    pub affinity: Vec<u32>,
    /// The function's output (pi estimate, seconds slept or worked; for a step program the
    /// bytes it received).
    pub output: f64,
    /// A step program: each executed step's timestamps and bytes, in executed order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepTimes>,
}

/// One executed step of a worker's program, as measured (CLOCK_REALTIME seconds); the
/// controller turns it into a `policies::comm::StepRecord`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepTimes {
    pub kind: StepKind,
    pub t_start: f64,
    pub t_end: f64,
    /// Its last outgoing message was out (uploaded, or handed to its pack); `t_start` when it
    /// sends nothing.
    pub t_sent: f64,
    /// Bytes received in memory from its pack.
    pub bytes_local: u64,
    /// Bytes received through the broker.
    pub bytes_remote: u64,
    /// Bytes uploaded to the broker (a broadcast payload once).
    pub bytes_uploaded: u64,
}

/// What the dispatcher prints once every worker finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispatchReport {
    /// CLOCK_REALTIME when the dispatcher started inside the container (container ready).
    pub t_ready: f64,
    /// One entry per worker, in worker-id order; a worker that failed has `Err(reason)`.
    pub workers: Vec<Result<WorkerReport, String>>,
}

/// What the dispatcher writes to one worker's stdin.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerTask {
    pub worker_id: u32,
    pub container_id: u64,
    pub invoker_id: u32,
    /// The thesis' burst-info payload for this worker (`policies::WorkerInfo`), as JSON.
    pub burst_info: serde_json::Value,
    pub input: FunctionInput,
    pub seed: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_round_trips_burst_info() {
        let mut invokers = BTreeMap::new();
        invokers.insert(0, BTreeMap::from([(0u64, (0u32, 3u32)), (1, (4, 5))]));
        invokers.insert(2, BTreeMap::from([(2u64, (6u32, 9u32))]));
        let b = BurstInfo {
            burst_id: 7,
            invokers,
        };
        let l = Layout::from(&b);
        let json = serde_json::to_string(&l).unwrap();
        let back: Layout = serde_json::from_str(&json).unwrap();
        assert_eq!(BurstInfo::from(&back), b);
    }
}
