//! The controller's view of the cluster: what each invoker last reported in its heartbeat.

use serde::{Deserialize, Serialize};

/// One invoker as the controller sees it. `free_*` may be stale by up to a heartbeat period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvokerView {
    /// Index of the invoker in the cluster (0-based, stable for a run).
    pub id: u32,
    /// CPUs the invoker offers to functions.
    pub total_cpus: u32,
    /// CPUs not reserved by running containers (exclusive-CPU accounting, used by bursts).
    pub free_cpus: u32,
    /// Memory the invoker offers to functions (OpenWhisk's `user-memory`), in MB.
    pub user_memory_mb: u64,
    /// Memory slots not taken, in MB (the sharding balancer's semaphore).
    pub free_memory_mb: u64,
    /// Healthy invokers are usable; unhealthy ones are skipped by every policy.
    pub healthy: bool,
}

/// The whole cluster, indexed by invoker id (`invokers[i].id == i`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterView {
    /// Every invoker, healthy or not; index = invoker id.
    pub invokers: Vec<InvokerView>,
}

impl ClusterView {
    /// Total free CPUs over healthy invokers.
    pub fn free_cpus(&self) -> u64 {
        self.sum_healthy(|i| i.free_cpus)
    }

    /// Total CPUs over healthy invokers.
    pub fn total_cpus(&self) -> u64 {
        self.sum_healthy(|i| i.total_cpus)
    }

    fn sum_healthy(&self, cpus: impl Fn(&InvokerView) -> u32) -> u64 {
        self.invokers
            .iter()
            .filter(|i| i.healthy)
            .map(|i| cpus(i) as u64)
            .sum()
    }
}
