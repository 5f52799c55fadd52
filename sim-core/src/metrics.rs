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
    /// Largest number of pending events (a topic counts once, for its head message).
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
    /// A trace that could not be replayed to its end (its file changed since the scenario was
    /// loaded): the run holds the arrivals before it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arrival_error: Option<String>,
}
