//! Properties of the burst placement policies on random clusters.

mod common;

use common::*;
use policies::best_fit::BestFit;
use policies::heterogeneous::Heterogeneous;
use policies::homogeneous::Homogeneous;
use policies::round_robin::RoundRobin;
use policies::{ClusterView, PlacementError, PlacementPlan, PlacementPolicy, PolicySpec};
use proptest::prelude::*;

fn healthy_cpus(view: &ClusterView, free: bool) -> Vec<u32> {
    view.invokers
        .iter()
        .filter(|i| i.healthy)
        .map(|i| if free { i.free_cpus } else { i.total_cpus })
        .collect()
}

/// The error every burst policy must give, from an oracle that knows the packing rule
/// (`g = None`: any split; `Some(g)`: containers of `g` plus the remainder).
fn expected_error(workers: u32, g: Option<u32>, view: &ClusterView) -> Option<PlacementError> {
    let needed = workers as u64;
    let fits = |cpus: &[u32]| match g {
        None => cpus.iter().map(|&c| c as u64).sum::<u64>() >= needed,
        Some(g) => granular_first_fit(workers, g, cpus),
    };
    if workers == 0 {
        Some(PlacementError::Empty)
    } else if !view.invokers.iter().any(|i| i.healthy) {
        Some(PlacementError::NoHealthyInvoker)
    } else if !fits(&healthy_cpus(view, false)) {
        Some(PlacementError::NeverFits {
            needed,
            granularity: g,
            total: view.total_cpus(),
            largest: healthy_cpus(view, false).into_iter().max().unwrap_or(0),
        })
    } else if !fits(&healthy_cpus(view, true)) {
        Some(PlacementError::DoesNotFit {
            needed,
            free: view.free_cpus(),
        })
    } else {
        None
    }
}

/// Common checks; returns the plan when one was expected.
fn run(
    policy: &dyn PlacementPolicy,
    g: Option<u32>,
    id: u64,
    workers: u32,
    view: &ClusterView,
) -> Option<PlacementPlan> {
    assert!(policy.exclusive_cpus());
    let req = request(id, workers);
    let got = policy.place(&req, view);
    assert_eq!(got, policy.place(&req, view), "not deterministic");
    match (expected_error(workers, g, view), got) {
        (Some(e), got) => {
            assert_eq!(got, Err(e));
            None
        }
        (None, Ok(plan)) => {
            check_shape(&plan, workers, view);
            check_burst_capacity(&plan, view);
            Some(plan)
        }
        (None, Err(e)) => panic!("expected a plan, got {e}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn homogeneous(view in arb_view(), workers in 0u32..150, g in 1u32..10, id: u64) {
        let plain = run(&Homogeneous { granularity: g, join: false }, Some(g), id, workers, &view);
        let joined = run(&Homogeneous { granularity: g, join: true }, Some(g), id, workers, &view);
        if let (Some(plain), Some(joined)) = (plain, joined) {
            let sizes: Vec<u32> = plain.containers.iter().map(|c| c.workers).collect();
            let mut expected = vec![g; (workers / g) as usize];
            if !workers.is_multiple_of(g) {
                expected.push(workers % g);
            }
            prop_assert_eq!(sizes, expected);
            // The first container goes to the most-free invoker (lowest id on ties).
            let best = view.invokers.iter().filter(|i| i.healthy && i.free_cpus >= plain.containers[0].workers)
                .max_by_key(|i| (i.free_cpus, std::cmp::Reverse(i.id))).unwrap();
            prop_assert_eq!(plain.containers[0].invoker, best.id);
            // Join merges per invoker without moving workers between invokers.
            prop_assert_eq!(per_invoker(&plain), per_invoker(&joined));
            prop_assert_eq!(joined.containers.len(), per_invoker(&joined).len());
            // Joined sizes are multiples of G, except the container holding the remainder.
            let odd = joined.containers.iter().filter(|c| c.workers % g != 0).count();
            prop_assert!(odd <= usize::from(workers % g != 0));
        }
    }

    #[test]
    fn heterogeneous(view in arb_view(), workers in 0u32..150, id: u64) {
        let joined = run(&Heterogeneous { join: true }, None, id, workers, &view);
        let split = run(&Heterogeneous { join: false }, None, id, workers, &view);
        if let (Some(joined), Some(split)) = (joined, split) {
            // Invokers in order of free CPUs (most first, lowest id on ties), each filled but the last.
            let mut order: Vec<_> = view.invokers.iter().filter(|i| i.healthy && i.free_cpus > 0).collect();
            order.sort_by_key(|i| (std::cmp::Reverse(i.free_cpus), i.id));
            prop_assert!(joined.containers.len() <= order.len());
            let k = joined.containers.len();
            for (c, inv) in joined.containers.iter().zip(&order) {
                prop_assert_eq!(c.invoker, inv.id);
                if c.first_worker + c.workers < workers {
                    prop_assert_eq!(c.workers, inv.free_cpus);
                }
            }
            prop_assert_eq!(per_invoker(&joined).len(), k);
            prop_assert!(split.containers.iter().all(|c| c.workers == 1));
            prop_assert_eq!(per_invoker(&joined), per_invoker(&split));
        }
    }

    #[test]
    fn best_fit(view in arb_view(), workers in 0u32..150, id: u64) {
        if let Some(plan) = run(&BestFit, None, id, workers, &view) {
            prop_assert_eq!(plan.containers.len(), per_invoker(&plan).len());
            let usable = || view.invokers.iter().filter(|i| i.healthy && i.free_cpus > 0);
            match usable().filter(|i| i.free_cpus >= workers).min_by_key(|i| (i.free_cpus, i.id)) {
                // Some invoker holds the whole burst: the tightest one takes it.
                Some(tight) => {
                    prop_assert_eq!(plan.containers.len(), 1);
                    prop_assert_eq!(plan.containers[0].invoker, tight.id);
                }
                // Otherwise the most-free invoker is filled first.
                None => {
                    let big = usable().max_by_key(|i| (i.free_cpus, std::cmp::Reverse(i.id))).unwrap();
                    prop_assert_eq!(plan.containers[0], policies::ContainerPlacement {
                        invoker: big.id, first_worker: 0, workers: big.free_cpus });
                }
            }
        }
    }

    #[test]
    fn round_robin(view in arb_view(), workers in 0u32..150, g in 1u32..10, id: u64) {
        if let Some(plan) = run(&RoundRobin { granularity: g }, Some(g), id, workers, &view) {
            let n = view.invokers.len() as u64;
            let first = plan.containers[0];
            // The first container goes to the first invoker at or after `id % n` with room.
            let start = (id % n) as usize;
            let expected = (0..view.invokers.len())
                .map(|k| &view.invokers[(start + k) % view.invokers.len()])
                .find(|i| i.healthy && i.free_cpus >= first.workers)
                .unwrap();
            prop_assert_eq!(first.invoker, expected.id);
            prop_assert!(plan.containers[..plan.containers.len() - 1].iter().all(|c| c.workers == g));
        }
    }

    #[test]
    fn specs_build_the_policies(view in arb_view(), workers in 1u32..100, g in 1u32..8, id: u64) {
        let pairs: Vec<(PolicySpec, Box<dyn PlacementPolicy>)> = vec![
            (PolicySpec::BurstHomogeneous { granularity: g, join: true }, Box::new(Homogeneous { granularity: g, join: true })),
            (PolicySpec::BurstHeterogeneous { join: false }, Box::new(Heterogeneous { join: false })),
            (PolicySpec::BurstBestFit, Box::new(BestFit)),
            (PolicySpec::BurstRoundRobin { granularity: g }, Box::new(RoundRobin { granularity: g })),
        ];
        let req = request(id, workers);
        for (spec, direct) in pairs {
            let built = spec.build();
            prop_assert!(spec.is_burst());
            prop_assert_eq!(built.exclusive_cpus(), direct.exclusive_cpus());
            prop_assert_eq!(built.place(&req, &view), direct.place(&req, &view));
        }
    }
}

#[test]
fn homogeneous_spreads_and_joins() {
    // Free CPUs 8, 6, 4: containers of 2 go to the most-free invoker each time.
    let v = view(&[(8, 8, true), (8, 6, true), (8, 4, true)]);
    let plain = Homogeneous {
        granularity: 2,
        join: false,
    }
    .place(&request(1, 9), &v)
    .unwrap();
    let invokers: Vec<u32> = plain.containers.iter().map(|c| c.invoker).collect();
    // inv0 8->6; tie 6,6 -> inv0 (lowest id) ->4; inv1 6->4; tie 4,4,4 -> inv0; remainder -> inv1.
    assert_eq!(invokers, vec![0, 0, 1, 0, 1]);
    assert_eq!(plain.containers.last().unwrap().workers, 1);
    let joined = Homogeneous {
        granularity: 2,
        join: true,
    }
    .place(&request(1, 9), &v)
    .unwrap();
    assert_eq!(
        joined
            .containers
            .iter()
            .map(|c| (c.invoker, c.first_worker, c.workers))
            .collect::<Vec<_>>(),
        vec![(0, 0, 6), (1, 6, 3)]
    );
}

#[test]
fn homogeneous_remainder_needs_room() {
    // 7 workers in containers of 3: 3 + 3 + 1. Free 3, 3 leaves no room for the remainder.
    let v = view(&[(3, 3, true), (4, 3, true)]);
    let p = Homogeneous {
        granularity: 3,
        join: false,
    };
    assert_eq!(
        p.place(&request(0, 7), &v),
        Err(PlacementError::DoesNotFit { needed: 7, free: 6 })
    );
    // Total CPUs 3 + 4 can hold 3 + 3 + 1 once the cluster is idle.
    let idle = view(&[(3, 3, true), (4, 4, true)]);
    let plan = p.place(&request(0, 7), &idle).unwrap();
    assert_eq!(
        per_invoker(&plan).into_iter().collect::<Vec<_>>(),
        vec![(0, 3), (1, 4)]
    );
    // 8 CPUs in invokers of 4 cannot hold containers of 3 + 3 + 2 at all.
    let small = view(&[(4, 4, true), (4, 4, true)]);
    assert_eq!(
        p.place(&request(0, 8), &small),
        Err(PlacementError::NeverFits {
            needed: 8,
            granularity: Some(3),
            total: 8,
            largest: 4,
        })
    );
}

/// A burst whose containers are larger than any invoker says so, naming the largest invoker,
/// rather than comparing with the whole cluster's CPUs (which would be enough).
#[test]
fn never_fits_names_the_largest_invoker() {
    let two_small = view(&[(1, 1, true), (1, 1, true)]);
    let p = Homogeneous {
        granularity: 2,
        join: false,
    };
    let e = p.place(&request(0, 2), &two_small).unwrap_err();
    assert_eq!(
        e.to_string(),
        "burst of 2 workers at granularity 2 can never fit: a container of 2 workers needs \
         2 CPUs, the largest invoker has 1 CPU"
    );
    // Enough CPUs per invoker, too few in all: the cluster is named.
    let e = p.place(&request(0, 6), &two_small_of(2)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "burst of 6 workers at granularity 2 can never fit: the cluster has 4 CPUs (the \
         largest invoker 2 CPUs), too few for containers of 2 workers"
    );
    let e = BestFit.place(&request(0, 3), &two_small).unwrap_err();
    assert_eq!(
        e.to_string(),
        "burst of 3 workers can never fit: the cluster has 2 CPUs"
    );
}

fn two_small_of(cpus: u32) -> ClusterView {
    view(&[(cpus, cpus, true), (cpus, cpus, true)])
}

#[test]
fn heterogeneous_fills_most_free_first() {
    let v = view(&[
        (8, 2, true),
        (8, 7, true),
        (16, 7, true),
        (16, 16, false),
        (4, 4, true),
    ]);
    let plan = Heterogeneous { join: true }
        .place(&request(0, 15), &v)
        .unwrap();
    assert_eq!(
        plan.containers
            .iter()
            .map(|c| (c.invoker, c.first_worker, c.workers))
            .collect::<Vec<_>>(),
        vec![(1, 0, 7), (2, 7, 7), (4, 14, 1)]
    );
}

#[test]
fn best_fit_prefers_tight_holes() {
    let v = view(&[(16, 16, true), (8, 5, true), (8, 6, true), (8, 5, true)]);
    // 5 workers: the tightest holder is a 5-CPU hole, lowest id among ties.
    let p = BestFit.place(&request(0, 5), &v).unwrap();
    assert_eq!(p.containers[0].invoker, 1);
    // 20 workers: nothing holds 20; fill the 16 then the 4 go to the tightest 5-hole.
    let p = BestFit.place(&request(0, 20), &v).unwrap();
    assert_eq!(
        p.containers
            .iter()
            .map(|c| (c.invoker, c.workers))
            .collect::<Vec<_>>(),
        vec![(0, 16), (1, 4)]
    );
}

#[test]
fn round_robin_deals_in_turn() {
    let v = view(&[
        (4, 4, true),
        (4, 0, true),
        (4, 4, false),
        (4, 4, true),
        (4, 2, true),
    ]);
    let plan = RoundRobin { granularity: 2 }
        .place(&request(3, 9), &v)
        .unwrap();
    let got: Vec<(u32, u32)> = plan
        .containers
        .iter()
        .map(|c| (c.invoker, c.workers))
        .collect();
    // Start at 3 % 5 = 3: 3, 4, 0, (1 full, 2 unhealthy), 3, 0 with the remainder of 1.
    assert_eq!(got, vec![(3, 2), (4, 2), (0, 2), (3, 2), (0, 1)]);
}

#[test]
fn zero_granularity_acts_as_one() {
    let v = view(&[(4, 4, true)]);
    let plan = Homogeneous {
        granularity: 0,
        join: false,
    }
    .place(&request(0, 3), &v)
    .unwrap();
    assert_eq!(plan.containers.len(), 3);
    let plan = RoundRobin { granularity: 0 }
        .place(&request(0, 3), &v)
        .unwrap();
    assert_eq!(plan.containers.len(), 3);
}

/// Large views: 20,000 invokers of 64 CPUs and a burst of 1,000,000 workers must be quick
/// (the policies are O(n log n + containers)).
#[test]
fn large_cluster_plans_are_valid() {
    // Speed is measured by the benchmarks, not asserted here.
    let v = view(&vec![(64, 64, true); 20_000]);
    let req = request(7, 1_000_000);
    let policies: Vec<Box<dyn PlacementPolicy>> = vec![
        Box::new(Homogeneous {
            granularity: 32,
            join: true,
        }),
        Box::new(Homogeneous {
            granularity: 1,
            join: false,
        }),
        Box::new(Heterogeneous { join: true }),
        Box::new(BestFit),
        Box::new(RoundRobin { granularity: 4 }),
    ];
    for p in policies {
        let plan = p.place(&req, &v).unwrap();
        check_shape(&plan, 1_000_000, &v);
        check_burst_capacity(&plan, &v);
    }
}
