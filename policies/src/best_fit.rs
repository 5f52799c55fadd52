//! Best-fit burst packing: the rest of the burst goes whole into the healthy invoker whose free
//! CPUs hold it most tightly (ties: lowest id); when no invoker holds it, the one with the most
//! free CPUs (ties: lowest id) is filled and the search repeats with what is left. Bursts land
//! on few invokers and small holes are filled before large ones are broken up, which keeps
//! large blocks of free CPUs for later bursts. One container per invoker.

use crate::burst_common::{check_any_split, most_free_first, PlanBuilder};
use crate::{ClusterView, PlacementError, PlacementPlan, PlacementPolicy, PlacementRequest};

/// Best-fit packing of a burst (`burst-best-fit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BestFit;

impl PlacementPolicy for BestFit {
    fn place(
        &self,
        request: &PlacementRequest,
        view: &ClusterView,
    ) -> Result<PlacementPlan, PlacementError> {
        check_any_split(request.workers, view)?;
        // `(free, id)` by ascending free CPUs, descending id within equal free CPUs: the last
        // entry is the most-free invoker with the lowest id.
        let mut sorted: Vec<(u32, u32)> = most_free_first(view)
            .into_iter()
            .rev()
            .map(|(id, free)| (free, id))
            .collect();
        let mut plan = PlanBuilder::default();
        let mut rest = request.workers;
        while rest > 0 {
            let first_fit = sorted.partition_point(|&(free, _)| free < rest);
            if first_fit < sorted.len() {
                // Lowest id among the tightest fits: the end of the equal-free block.
                let tight = sorted[first_fit].0;
                let idx = sorted.partition_point(|&(free, _)| free <= tight) - 1;
                plan.push(sorted[idx].1, rest);
                break;
            }
            let (free, id) = sorted.pop().expect("admission guarantees enough free CPUs");
            plan.push(id, free);
            rest -= free;
        }
        Ok(plan.finish(false))
    }

    fn exclusive_cpus(&self) -> bool {
        true
    }
}
