//! Shared helpers for the policy tests: cluster strategies and plan invariant checks.
#![allow(dead_code)]

use std::collections::BTreeMap;

use policies::{ActionRef, ClusterView, InvokerView, PlacementPlan, PlacementRequest};
use proptest::prelude::*;

pub fn invoker(id: u32, total: u32, free: u32, healthy: bool) -> InvokerView {
    InvokerView {
        id,
        total_cpus: total,
        free_cpus: free,
        user_memory_mb: total as u64 * 256,
        free_memory_mb: free as u64 * 256,
        healthy,
    }
}

/// A cluster from `(total, free, healthy)` triples.
pub fn view(spec: &[(u32, u32, bool)]) -> ClusterView {
    ClusterView {
        invokers: spec
            .iter()
            .enumerate()
            .map(|(i, &(t, f, h))| invoker(i as u32, t, f, h))
            .collect(),
    }
}

pub fn request(request_id: u64, workers: u32) -> PlacementRequest {
    PlacementRequest {
        request_id,
        action: ActionRef {
            namespace: "guest".into(),
            name: "work".into(),
            memory_mb: 256,
            kind: policies::ActionKind::Docker,
        },
        workers,
    }
}

/// 1..24 invokers of up to 16 CPUs, some busy, about one in eight unhealthy.
pub fn arb_view() -> impl Strategy<Value = ClusterView> {
    prop::collection::vec((1u32..=16, 0u32..=100, 0u32..8), 1..24).prop_map(|v| {
        let spec: Vec<(u32, u32, bool)> = v
            .into_iter()
            .map(|(t, pct, h)| (t, t * pct / 100, h != 0))
            .collect();
        view(&spec)
    })
}

/// Checks the plan's shape: worker-id order, contiguous, covering `0..workers`, no empty container,
/// invoker ids in range.
pub fn check_shape(plan: &PlacementPlan, workers: u32, view: &ClusterView) {
    let mut next = 0u32;
    for c in &plan.containers {
        assert!(c.workers >= 1, "empty container in {plan:?}");
        assert_eq!(c.first_worker, next, "ranges not contiguous in {plan:?}");
        assert!((c.invoker as usize) < view.invokers.len());
        next += c.workers;
    }
    assert_eq!(next, workers, "plan places {next} of {workers} workers");
    assert_eq!(plan.workers(), workers);
}

/// Workers per invoker.
pub fn per_invoker(plan: &PlacementPlan) -> BTreeMap<u32, u32> {
    let mut m = BTreeMap::new();
    for c in &plan.containers {
        *m.entry(c.invoker).or_insert(0) += c.workers;
    }
    m
}

/// Burst rules: only healthy invokers, never more workers than free CPUs, not overloaded.
pub fn check_burst_capacity(plan: &PlacementPlan, view: &ClusterView) {
    assert!(!plan.overloaded);
    for (inv, n) in per_invoker(plan) {
        let i = &view.invokers[inv as usize];
        assert!(i.healthy, "unhealthy invoker {inv} used");
        assert!(
            n <= i.free_cpus,
            "invoker {inv}: {n} workers > {} free CPUs",
            i.free_cpus
        );
    }
}

/// Independent oracle for granular admission: first-fit of `n / g` containers of `g` and one of
/// `n % g` into `cpus`, in id order.
pub fn granular_first_fit(n: u32, g: u32, cpus: &[u32]) -> bool {
    let mut free = cpus.to_vec();
    let mut sizes = vec![g; (n / g) as usize];
    if !n.is_multiple_of(g) {
        sizes.push(n % g);
    }
    sizes
        .into_iter()
        .all(|s| match free.iter_mut().find(|f| **f >= s) {
            Some(f) => {
                *f -= s;
                true
            }
            None => false,
        })
}
