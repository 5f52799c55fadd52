//! Homogeneous burst packing (OpenWhisk-burst with `granularity=G`): the burst is cut into
//! containers of exactly `G` workers, except that when `G` does not divide the burst the last
//! container runs the remaining `N % G` workers. Containers are spread over invokers greedily:
//! each goes to the healthy invoker with the most free CPUs that can still hold it (ties: lowest
//! id), so a burst fans out across the cluster rather than filling one invoker first. With
//! `join`, the containers that land on the same invoker merge into one, so every container's
//! size is a multiple of `G` except the one holding the remainder (burst-validation's client
//! describes `join` as "heterogeneous containers that respect the multiplicity of the burst
//! size"). The openwhisk-burst controller source was not available to check the remainder rule;
//! the thesis (section 4.2) only defines the divisible case.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::burst_common::{check_granular, plan_from_counts, usable, PlanBuilder};
use crate::{ClusterView, PlacementError, PlacementPlan, PlacementPolicy, PlacementRequest};

/// Containers of `granularity` workers; a granularity of 0 (rejected by `PolicySpec::validate`)
/// is treated as 1 so that placing never panics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Homogeneous {
    /// Workers (and CPUs) per container.
    pub granularity: u32,
    /// Merge the burst's containers that land on the same invoker.
    pub join: bool,
}

impl PlacementPolicy for Homogeneous {
    fn place(
        &self,
        request: &PlacementRequest,
        view: &ClusterView,
    ) -> Result<PlacementPlan, PlacementError> {
        let n = request.workers;
        let g = self.granularity.max(1);
        check_granular(n, g, view)?;
        let sizes = container_sizes(n, g);
        let invokers = spread(&sizes, view);
        if !self.join {
            let mut plan = PlanBuilder::with_capacity(sizes.len());
            for (&size, &inv) in sizes.iter().zip(&invokers) {
                plan.push(inv, size);
            }
            return Ok(plan.finish(false));
        }
        // Per-invoker totals, in the order each invoker was first chosen.
        let mut slot = vec![usize::MAX; view.invokers.len()];
        let mut counts: Vec<(u32, u32)> = Vec::new();
        for (&size, &inv) in sizes.iter().zip(&invokers) {
            let s = &mut slot[inv as usize];
            if *s == usize::MAX {
                *s = counts.len();
                counts.push((inv, 0));
            }
            counts[*s].1 += size;
        }
        Ok(plan_from_counts(&counts, u32::MAX, true))
    }

    fn exclusive_cpus(&self) -> bool {
        true
    }
}

/// `n / g` containers of `g`, then one of `n % g` if that is not zero.
pub(crate) fn container_sizes(n: u32, g: u32) -> Vec<u32> {
    let mut sizes = vec![g; (n / g) as usize];
    if !n.is_multiple_of(g) {
        sizes.push(n % g);
    }
    sizes
}

/// The invoker of each container: the one with the most free CPUs that holds it (ties: lowest
/// id). All sizes but the last are equal and the last is the smallest, so an invoker that
/// cannot hold the current container is never needed again except for the remainder.
/// The caller has checked that the sizes fit.
fn spread(sizes: &[u32], view: &ClusterView) -> Vec<u32> {
    let mut heap: BinaryHeap<(u32, Reverse<u32>)> =
        usable(view).map(|i| (i.free_cpus, Reverse(i.id))).collect();
    // Invokers too small for a full container, kept for the remainder.
    let mut aside: Vec<(u32, Reverse<u32>)> = Vec::new();
    let mut out = Vec::with_capacity(sizes.len());
    for &size in sizes {
        while let Some(&(free, _)) = heap.peek() {
            if free >= size {
                break;
            }
            aside.extend(heap.pop());
        }
        let best = match heap.peek() {
            Some(&top) => top,
            // Only the remainder can get here; `aside` then holds every usable invoker.
            None => *aside
                .iter()
                .filter(|(free, _)| *free >= size)
                .max()
                .expect("admission guarantees room for the remainder"),
        };
        let (free, Reverse(id)) = best;
        if heap.peek() == Some(&best) {
            heap.pop();
        }
        if free > size {
            heap.push((free - size, Reverse(id)));
        }
        out.push(id);
    }
    out
}
