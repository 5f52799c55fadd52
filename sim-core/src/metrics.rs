//! What a run produces: one record per function and counters about the run itself.

use std::collections::BTreeMap;

use policies::comm::StepRecord;
use policies::{BurstInfo, FunctionRecord};

use crate::comm::CommStats;
use serde::Serialize;

/// Records in function-id order, plus run counters.
#[derive(Debug, Clone)]
pub struct SimOutput {
    pub records: Vec<FunctionRecord>,
    pub stats: SimStats,
    /// One row per executed step of a `steps` workload (empty otherwise), in completion order.
    pub steps: Vec<StepRecord>,
    /// Communication counters of a `steps` workload.
    pub comm: Option<CommStats>,
}

impl SimOutput {
    /// The layout burst `burst_id` ran with, as its workers' dispatcher would have handed it to
    /// them (invoker -> container -> worker range), rebuilt from the records; `None` when none
    /// of its functions was placed.
    pub fn burst_layout(&self, burst_id: u64) -> Option<BurstInfo> {
        let start = self.records.partition_point(|r| r.burst_id < burst_id);
        let mut invokers: BTreeMap<u32, BTreeMap<u64, (u32, u32)>> = BTreeMap::new();
        for r in self.records[start..]
            .iter()
            .take_while(|r| r.burst_id == burst_id)
            .filter(|r| r.container != u64::MAX)
        {
            invokers
                .entry(r.invoker)
                .or_default()
                .entry(r.container)
                .and_modify(|range| {
                    range.0 = range.0.min(r.worker_id);
                    range.1 = range.1.max(r.worker_id);
                })
                .or_insert((r.worker_id, r.worker_id));
        }
        (!invokers.is_empty()).then_some(BurstInfo { burst_id, invokers })
    }
}

/// Counters of one run (deterministic, like the records).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SimStats {
    /// Events processed (popped from the event queue).
    pub events: u64,
    /// Largest number of pending events (a topic counts once, for its head message), counting
    /// every burst as pending from the start (the engine pulls them lazily, one at a time).
    pub peak_event_queue: usize,
    /// Containers created for functions (cold starts) plus prewarm stem cells.
    pub containers_created: u64,
    /// Containers started cold for a message.
    pub cold_starts: u64,
    /// Messages served by an idle warm container.
    pub warm_starts: u64,
    /// Messages served by a prewarmed stem cell.
    pub prewarm_starts: u64,
    /// Idle containers removed (keep-alive expiry or to make room).
    pub evictions: u64,
    /// Requests the client sent.
    pub requests: u64,
    /// Requests that waited in the controller for capacity.
    pub queued_requests: u64,
    /// Plans that forced work onto a full invoker (faas overload).
    pub overloaded_plans: u64,
    /// Messages that waited in an invoker's run buffer.
    pub buffered_messages: u64,
    /// Functions rejected.
    pub rejected: u64,
    /// Heartbeat rounds processed.
    pub heartbeats: u64,
    /// Time of the last event, s from the first submission.
    pub end_time_s: f64,
    /// Faults: invoker crashes.
    #[serde(skip_serializing_if = "is_zero")]
    pub invoker_crashes: u64,
    /// Faults: crashes the controller noticed (offline timeout, or a restarted invoker's ping).
    #[serde(skip_serializing_if = "is_zero")]
    pub crashes_detected: u64,
    /// Faults: cold creations that failed.
    #[serde(skip_serializing_if = "is_zero")]
    pub creation_failures: u64,
    /// Faults: attempts whose worker crashed.
    #[serde(skip_serializing_if = "is_zero")]
    pub worker_crashes: u64,
    /// Faults: attempts that straggled.
    #[serde(skip_serializing_if = "is_zero")]
    pub stragglers: u64,
    /// Faults: attempts opened by the recovery policy (re-runs, retries, backups).
    #[serde(skip_serializing_if = "is_zero")]
    pub reruns: u64,
    /// Faults: of those, backup copies of stragglers.
    #[serde(skip_serializing_if = "is_zero")]
    pub backups: u64,
    /// Faults: FaaS invocations the client sent again.
    #[serde(skip_serializing_if = "is_zero")]
    pub client_retries: u64,
    /// Faults: attempts stopped from outside (superseded, their burst failed, their pack
    /// re-run).
    #[serde(skip_serializing_if = "is_zero")]
    pub cancelled_attempts: u64,
    /// A trace that could not be replayed to its end (its file changed since the scenario was
    /// loaded): the run holds the arrivals before it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arrival_error: Option<String>,
    /// How large the engine's tables grew (not in summary.json: a property of the engine, not
    /// of the modelled platform).
    #[serde(skip)]
    pub footprint: Footprint,
}

/// High-water marks of the engine's tables: what a run's memory follows. Each stays at the size
/// of what was in flight at once, whatever the length of the run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Footprint {
    /// Records buffered at once (from the oldest unfinished function to the newest arrival).
    pub records: usize,
    /// Container slots (containers alive at once, plus removed ones awaiting a pending check).
    pub containers: usize,
    /// Message slots (published, not yet completed).
    pub messages: usize,
    /// Request slots (sent, not yet placed or rejected).
    pub requests: usize,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}
