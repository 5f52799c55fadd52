//! Round-robin burst placement, a naive baseline: the burst is cut into containers of
//! `granularity` workers (the last runs the `N % G` remainder, as in homogeneous packing) and the
//! containers are dealt in turn to the healthy invokers that still have room for one, starting at
//! invoker `request_id % n` and going up in id order, wrapping around. It ignores how much room
//! each invoker has, so bursts are spread thin.

use crate::burst_common::{check_granular, PlanBuilder};
use crate::homogeneous::container_sizes;
use crate::{ClusterView, PlacementError, PlacementPlan, PlacementPolicy, PlacementRequest};

/// Containers of `granularity` workers; 0 (rejected by `PolicySpec::validate`) acts as 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoundRobin {
    /// Workers (and CPUs) per container.
    pub granularity: u32,
}

impl PlacementPolicy for RoundRobin {
    fn place(
        &self,
        request: &PlacementRequest,
        view: &ClusterView,
    ) -> Result<PlacementPlan, PlacementError> {
        let g = self.granularity.max(1);
        check_granular(request.workers, g, view)?;
        let sizes = container_sizes(request.workers, g);
        let n = view.invokers.len();
        let start = (request.request_id % n as u64) as usize;
        // Invokers in dealing order with their free CPUs; full ones drop out at each wrap.
        let mut ring: Vec<(u32, u32)> = (0..n)
            .map(|k| &view.invokers[(start + k) % n])
            .filter(|i| i.healthy && i.free_cpus > 0)
            .map(|i| (i.id, i.free_cpus))
            .collect();
        // Sizes only shrink (the remainder is last and smallest), so an invoker that cannot take
        // the smallest size is never needed again.
        let smallest = *sizes.last().expect("a non-empty burst has a container");
        let mut plan = PlanBuilder::with_capacity(sizes.len());
        let mut pos = 0usize; // position in `ring` of the next invoker to deal to
        for size in sizes {
            loop {
                if pos >= ring.len() {
                    ring.retain(|&(_, free)| free >= smallest);
                    pos = 0;
                    assert!(
                        !ring.is_empty(),
                        "admission guarantees room for every container"
                    );
                }
                let slot = &mut ring[pos];
                pos += 1;
                if slot.1 >= size {
                    plan.push(slot.0, size);
                    slot.1 -= size;
                    break;
                }
            }
        }
        Ok(plan.finish(false))
    }

    fn exclusive_cpus(&self) -> bool {
        true
    }
}
