//! Pieces shared by the burst policies: admission checks (one exclusive CPU per worker) and the
//! assembly of a plan whose containers list contiguous worker ranges in worker-id order.

use crate::{ClusterView, ContainerPlacement, InvokerView, PlacementError, PlacementPlan};

/// Healthy invokers with at least one free CPU, in id order.
pub(crate) fn usable(view: &ClusterView) -> impl Iterator<Item = &InvokerView> {
    view.invokers
        .iter()
        .filter(|i| i.healthy && i.free_cpus > 0)
}

/// Usable invokers as `(id, free CPUs)`, most free CPUs first (ties: lowest id): the order in
/// which burst policies prefer invokers.
pub(crate) fn most_free_first(view: &ClusterView) -> Vec<(u32, u32)> {
    let mut order: Vec<(u32, u32)> = usable(view).map(|i| (i.id, i.free_cpus)).collect();
    order.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    order
}

/// CPUs of the largest healthy invoker (0 when none is healthy).
fn largest_healthy(view: &ClusterView) -> u32 {
    view.invokers
        .iter()
        .filter(|i| i.healthy)
        .map(|i| i.total_cpus)
        .max()
        .unwrap_or(0)
}

/// Rejects empty requests and clusters without a healthy invoker.
fn check_basic(workers: u32, view: &ClusterView) -> Result<(), PlacementError> {
    if workers == 0 {
        return Err(PlacementError::Empty);
    }
    if !view.invokers.iter().any(|i| i.healthy) {
        return Err(PlacementError::NoHealthyInvoker);
    }
    Ok(())
}

/// Admission for policies that may split a burst anywhere: the free CPUs of healthy invokers
/// must hold every worker.
pub(crate) fn check_any_split(workers: u32, view: &ClusterView) -> Result<(), PlacementError> {
    check_basic(workers, view)?;
    let needed = workers as u64;
    let total = view.total_cpus();
    if needed > total {
        return Err(PlacementError::NeverFits {
            needed,
            granularity: None,
            total,
            largest: largest_healthy(view),
        });
    }
    let free = view.free_cpus();
    if needed > free {
        return Err(PlacementError::DoesNotFit { needed, free });
    }
    Ok(())
}

/// Admission for policies with containers of `g` workers plus one remainder container of
/// `workers % g`: each invoker holds `cpus / g` full containers, and the remainder needs an
/// invoker with room left. Checked against total CPUs (`NeverFits`) and free CPUs (`DoesNotFit`).
pub(crate) fn check_granular(
    workers: u32,
    g: u32,
    view: &ClusterView,
) -> Result<(), PlacementError> {
    check_basic(workers, view)?;
    let needed = workers as u64;
    let healthy = || view.invokers.iter().filter(|i| i.healthy);
    if !granular_fits(workers, g, healthy().map(|i| i.total_cpus)) {
        return Err(PlacementError::NeverFits {
            needed,
            granularity: Some(g),
            total: view.total_cpus(),
            largest: largest_healthy(view),
        });
    }
    if !granular_fits(workers, g, healthy().map(|i| i.free_cpus)) {
        return Err(PlacementError::DoesNotFit {
            needed,
            free: view.free_cpus(),
        });
    }
    Ok(())
}

/// True when `workers` split into containers of `g` (plus the remainder) fit into `cpus`.
/// Placing a full container lowers one invoker's slot count by one and keeps its residue
/// `cpus % g`, so any greedy order reaches the same verdict as this count.
fn granular_fits(workers: u32, g: u32, cpus: impl Iterator<Item = u32>) -> bool {
    let full = (workers / g) as u64;
    let rem = workers % g;
    let mut slots = 0u64;
    let mut max_residue = 0u32;
    for c in cpus {
        slots += (c / g) as u64;
        max_residue = max_residue.max(c % g);
    }
    slots > full || (slots == full && (rem == 0 || max_residue >= rem))
}

/// Builds a plan container by container, handing out worker ids in order.
#[derive(Debug, Default)]
pub(crate) struct PlanBuilder {
    containers: Vec<ContainerPlacement>,
    next_worker: u32,
}

impl PlanBuilder {
    pub(crate) fn with_capacity(containers: usize) -> Self {
        PlanBuilder {
            containers: Vec::with_capacity(containers),
            next_worker: 0,
        }
    }

    /// Appends a container of `workers` (>= 1) workers on `invoker`.
    pub(crate) fn push(&mut self, invoker: u32, workers: u32) {
        debug_assert!(workers > 0);
        self.containers.push(ContainerPlacement {
            invoker,
            first_worker: self.next_worker,
            workers,
        });
        self.next_worker += workers;
    }

    pub(crate) fn finish(self, overloaded: bool) -> PlacementPlan {
        PlacementPlan {
            containers: self.containers,
            overloaded,
        }
    }
}

/// Containers of at most `g` workers for `counts` (invoker, workers) in order: without `join`,
/// each invoker's share is cut into runs of `g` (the last may be shorter); with `join`, one
/// container per entry.
pub(crate) fn plan_from_counts(counts: &[(u32, u32)], g: u32, join: bool) -> PlacementPlan {
    let mut plan = PlanBuilder::with_capacity(counts.len());
    for &(invoker, mut n) in counts {
        if join {
            plan.push(invoker, n);
            continue;
        }
        while n > 0 {
            let k = n.min(g);
            plan.push(invoker, k);
            n -= k;
        }
    }
    plan.finish(false)
}
