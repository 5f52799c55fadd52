//! Heterogeneous burst packing, the thesis' implementation (OpenWhisk-burst without a
//! granularity): healthy invokers are taken in order of free CPUs, most first (ties: lowest id),
//! and each is filled before the next, so a burst lands on as few invokers as possible and every
//! invoker runs one container with all of its share (locality: workers of a container talk over
//! shared memory).
//!
//! `join = false` keeps the same choice of invokers but does not merge: every worker gets its own
//! one-CPU container. In OpenWhisk-burst `join` merges the containers of a burst that share an
//! invoker and only matters with a granularity (heterogeneous mode is joined by construction);
//! with no granularity the unit being merged is the single worker, so "not joined" means one
//! container per worker. This isolates the value of sharing a container from that of the
//! invoker choice. The default (`PolicySpec`) is `join = true`, the thesis' behaviour.

use crate::burst_common::{check_any_split, most_free_first, plan_from_counts};
use crate::{ClusterView, PlacementError, PlacementPlan, PlacementPolicy, PlacementRequest};

/// Most-free-invoker-first filling of a burst (`burst-heterogeneous`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heterogeneous {
    /// One container per invoker (true), or one one-CPU container per worker (false).
    pub join: bool,
}

impl PlacementPolicy for Heterogeneous {
    fn place(
        &self,
        request: &PlacementRequest,
        view: &ClusterView,
    ) -> Result<PlacementPlan, PlacementError> {
        check_any_split(request.workers, view)?;
        let mut rest = request.workers;
        let mut counts = Vec::new();
        for (id, free) in most_free_first(view) {
            if rest == 0 {
                break;
            }
            let k = free.min(rest);
            counts.push((id, k));
            rest -= k;
        }
        Ok(plan_from_counts(&counts, 1, self.join))
    }

    fn exclusive_cpus(&self) -> bool {
        true
    }
}
