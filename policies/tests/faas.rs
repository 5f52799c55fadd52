//! The sharding balancer (vanilla OpenWhisk placement).

mod common;

use common::*;
use policies::faas::{
    generate_hash, java_string_hash, pairwise_coprime_numbers_until, InvokerSplit, ShardingBalancer,
};
use policies::{
    ActionKind, ActionRef, ClusterView, PlacementError, PlacementPlan, PlacementPolicy,
    PlacementRequest, PolicySpec,
};
use proptest::prelude::*;

fn faas_request(id: u64, name: &str, memory_mb: u64, workers: u32) -> PlacementRequest {
    kind_request(id, name, memory_mb, workers, ActionKind::Managed)
}

fn kind_request(
    id: u64,
    name: &str,
    memory_mb: u64,
    workers: u32,
    kind: ActionKind,
) -> PlacementRequest {
    PlacementRequest {
        request_id: id,
        action: ActionRef {
            namespace: "guest".into(),
            name: name.into(),
            memory_mb,
            kind,
        },
        workers,
    }
}

/// A balancer that gives every action every invoker (both fractions 1): the probing rules
/// alone.
fn unsplit() -> ShardingBalancer {
    ShardingBalancer::with_fractions(1.0, 1.0)
}

/// `n` healthy invokers with `slots` free slots of 256 MB each.
fn mem_view(n: usize, slots: u64) -> ClusterView {
    let mut v = view(&vec![(4, 4, true); n]);
    for i in &mut v.invokers {
        i.user_memory_mb = 4 * 256;
        i.free_memory_mb = slots * 256;
    }
    v
}

/// The Scala `pairwiseCoprimeNumbersUntil`, literally.
fn scala_pairwise_coprime(x: usize) -> Vec<usize> {
    fn gcd(a: usize, b: usize) -> usize {
        if b == 0 {
            a
        } else {
            gcd(b, a % b)
        }
    }
    (1..=x).fold(Vec::new(), |mut primes, cur| {
        if gcd(cur, x) == 1 && primes.iter().all(|&i| gcd(i, cur) == 1) {
            primes.push(cur);
        }
        primes
    })
}

#[test]
fn java_hash_matches_the_jvm() {
    assert_eq!(java_string_hash(""), 0);
    assert_eq!(java_string_hash("hello"), 99162322);
    assert_eq!(java_string_hash("Hello World"), -862545276);
    assert_eq!(java_string_hash("Aa"), java_string_hash("BB"));
    // Non-negative, and OpenWhisk's formula.
    let h = generate_hash("guest", "hello");
    assert_eq!(
        h,
        (java_string_hash("guest") ^ java_string_hash("guest/hello")).unsigned_abs()
    );
}

#[test]
fn step_sizes_match_the_scala_scan() {
    for n in 0..400 {
        assert_eq!(
            pairwise_coprime_numbers_until(n),
            scala_pairwise_coprime(n),
            "n = {n}"
        );
    }
}

#[test]
fn same_action_same_home() {
    let v = mem_view(7, 4);
    let (home, step) = unsplit().home_and_step("guest", "hello", 7);
    assert!(home < 7 && step >= 1);
    for id in 0..20 {
        let plan = unsplit()
            .place(&faas_request(id, "hello", 256, 1), &v)
            .unwrap();
        assert_eq!(plan.containers[0].invoker as usize, home);
        assert!(!plan.overloaded);
    }
    // Different actions do not all share one home.
    let homes: std::collections::BTreeSet<usize> = (0..50)
        .map(|k| unsplit().home_and_step("guest", &format!("a{k}"), 7).0)
        .collect();
    assert!(homes.len() > 3, "homes {homes:?}");
}

#[test]
fn one_balancer_remembers_no_stale_home() {
    // A balancer that remembers its last action gives every (namespace, action, n) the home and
    // step a fresh balancer computes, however the questions alternate.
    let memo = unsplit();
    for round in 0..3 {
        for (ns, action, n) in [
            ("guest", "a", 7),
            ("guest", "b", 7),
            ("other", "a", 7),
            ("guest", "a", 11),
        ] {
            let fresh = unsplit().home_and_step(ns, action, n);
            assert_eq!(
                memo.home_and_step(ns, action, n),
                fresh,
                "{ns}/{action} n={n} round {round}"
            );
            assert_eq!(
                memo.home_and_step(ns, action, n),
                fresh,
                "{ns}/{action} n={n} repeated"
            );
        }
    }
}

#[test]
fn full_home_probes_by_step() {
    let mut v = mem_view(11, 4);
    let (home, step) = unsplit().home_and_step("guest", "hello", 11);
    v.invokers[home].free_memory_mb = 100; // less than the action's 256 MB
    let next = (home + step) % 11;
    v.invokers[next].healthy = false;
    let plan = unsplit()
        .place(&faas_request(0, "hello", 256, 1), &v)
        .unwrap();
    assert_eq!(plan.containers[0].invoker as usize, (home + 2 * step) % 11);
}

#[test]
fn overload_when_all_full() {
    let mut v = mem_view(6, 0);
    v.invokers[2].healthy = false;
    let mut chosen = std::collections::BTreeSet::new();
    for id in 0..60 {
        let plan = unsplit()
            .place(&faas_request(id, "hello", 256, 1), &v)
            .unwrap();
        assert!(plan.overloaded);
        let inv = plan.containers[0].invoker;
        assert_ne!(inv, 2, "unhealthy invoker forced");
        chosen.insert(inv);
    }
    assert_eq!(
        chosen.len(),
        5,
        "random choice should reach every healthy invoker"
    );
}

#[test]
fn errors() {
    let v = mem_view(3, 4);
    assert_eq!(
        unsplit().place(&faas_request(0, "a", 256, 0), &v),
        Err(PlacementError::Empty)
    );
    let mut down = v.clone();
    down.invokers.iter_mut().for_each(|i| i.healthy = false);
    assert_eq!(
        unsplit().place(&faas_request(0, "a", 256, 1), &down),
        Err(PlacementError::NoHealthyInvoker)
    );
    assert_eq!(
        unsplit().place(&faas_request(0, "a", 256, 1), &ClusterView::default()),
        Err(PlacementError::NoHealthyInvoker)
    );
    assert!(!unsplit().exclusive_cpus());
}

#[test]
fn many_workers_fill_then_overload() {
    // 5 invokers x 3 slots = 15 activations fit; the 16th overloads.
    let v = mem_view(5, 3);
    let plan = unsplit().place(&faas_request(9, "x", 256, 15), &v).unwrap();
    assert!(!plan.overloaded);
    assert!(per_invoker(&plan).values().all(|&n| n == 3));
    let plan = unsplit().place(&faas_request(9, "x", 256, 16), &v).unwrap();
    assert!(plan.overloaded);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn properties(
        base in arb_view(),
        mems in prop::collection::vec(0u64..2048, 24),
        memory in prop::sample::select(vec![128u64, 256, 512]),
        workers in 0u32..60,
        id: u64,
        name in "[a-z]{1,8}",
    ) {
        let mut v = base;
        for (i, m) in v.invokers.iter_mut().zip(&mems) {
            i.free_memory_mb = *m;
        }
        let req = faas_request(id, &name, memory, workers);
        let got = unsplit().place(&req, &v);
        prop_assert_eq!(&got, &unsplit().place(&req, &v));
        if workers == 0 {
            prop_assert_eq!(got, Err(PlacementError::Empty));
            return Ok(());
        }
        if !v.invokers.iter().any(|i| i.healthy) {
            prop_assert_eq!(got, Err(PlacementError::NoHealthyInvoker));
            return Ok(());
        }
        let plan = got.unwrap();
        check_shape(&plan, workers, &v);
        prop_assert!(plan.containers.iter().all(|c| c.workers == 1));
        prop_assert!(plan.containers.iter().all(|c| v.invokers[c.invoker as usize].healthy));
        let slots: u64 = v.invokers.iter().filter(|i| i.healthy).map(|i| i.free_memory_mb / memory).sum();
        prop_assert_eq!(plan.overloaded, slots < workers as u64);
        if !plan.overloaded {
            for (inv, n) in per_invoker(&plan) {
                prop_assert!(n as u64 * memory <= v.invokers[inv as usize].free_memory_mb);
            }
        }
        // The first activation goes to the first invoker with room in the probe sequence.
        let n = v.invokers.len();
        let (home, step) = unsplit().home_and_step("guest", &name, n);
        if let Some(first) = (0..n).map(|k| (home + k * step) % n)
            .find(|&i| v.invokers[i].healthy && v.invokers[i].free_memory_mb >= memory)
        {
            prop_assert_eq!(plan.containers[0].invoker as usize, first);
        }
    }
}

#[test]
fn large_cluster_overloads_once_slots_run_out() {
    // 20,000 invokers with 4 slots each; 100,000 activations, the last 20,000 overloaded.
    // (Speed is measured by the benchmarks, not asserted here.)
    let v = mem_view(20_000, 4);
    let plan = unsplit()
        .place(&faas_request(1, "big", 256, 100_000), &v)
        .unwrap();
    assert!(plan.overloaded);
    check_shape(&plan, 100_000, &v);
}

#[test]
fn memoised_steps_follow_the_cluster_size() {
    // One balancer used on clusters of different sizes agrees with fresh ones.
    let shared = unsplit();
    for (k, n) in [7usize, 12, 7, 30, 1, 12].into_iter().enumerate() {
        let v = mem_view(n, 2);
        let req = faas_request(k as u64, "hello", 256, 5);
        assert_eq!(shared.place(&req, &v), unsplit().place(&req, &v), "n = {n}");
        assert_eq!(
            shared.home_and_step("guest", "hello", n),
            unsplit().home_and_step("guest", "hello", n)
        );
    }
}

#[test]
fn invokers_split_as_openwhisk_rounds() {
    // managed = max(1, ceil(n * 0.9)) from the start, blackbox = max(1, floor(n * 0.1)) from
    // the end (ShardingContainerPoolBalancerState.updateInvokers).
    for (n, managed, blackbox) in [
        (1, 0..1, 0..1),
        (2, 0..2, 1..2),
        (4, 0..4, 3..4),
        (9, 0..9, 8..9),
        (10, 0..9, 9..10),
        (11, 0..10, 10..11),
        (20, 0..18, 18..20),
        (1000, 0..900, 900..1000),
    ] {
        assert_eq!(
            InvokerSplit::new(n, 0.9, 0.1),
            InvokerSplit { managed, blackbox },
            "n = {n}"
        );
    }
    // The blackbox fraction is raised to 1 - managed: 50% managed leaves half to blackbox.
    assert_eq!(InvokerSplit::new(10, 0.5, 0.1).blackbox, 5..10);
    // Both 1: no split. Managed 0: still one managed invoker.
    assert_eq!(InvokerSplit::new(7, 1.0, 1.0).blackbox, 0..7);
    assert_eq!(InvokerSplit::new(7, 0.0, 0.1).managed, 0..1);
    assert_eq!(InvokerSplit::new(0, 0.9, 0.1).managed, 0..0);
}

#[test]
fn docker_actions_only_go_to_blackbox_invokers() {
    // The thesis cluster: 4 invokers. Docker actions (Lithops' runtime) all land on the last
    // one, even when it is full (the overload choice is among blackbox invokers too); managed
    // actions may use all four.
    let balancer = ShardingBalancer::new();
    let free = mem_view(4, 8);
    let full = mem_view(4, 0);
    for id in 0..50 {
        for v in [&free, &full] {
            let plan = balancer
                .place(
                    &kind_request(id, &format!("a{id}"), 256, 3, ActionKind::Docker),
                    v,
                )
                .unwrap();
            assert!(plan.containers.iter().all(|c| c.invoker == 3), "{plan:?}");
        }
    }
    let homes: std::collections::BTreeSet<u32> = (0..50)
        .map(|id| {
            balancer
                .place(
                    &kind_request(id, &format!("a{id}"), 256, 1, ActionKind::Managed),
                    &free,
                )
                .unwrap()
                .containers[0]
                .invoker
        })
        .collect();
    assert_eq!(homes.len(), 4, "{homes:?}");
    // On 20 invokers managed actions never reach the two blackbox ones, and the reverse.
    let v = mem_view(20, 1);
    for id in 0..30 {
        let managed = balancer
            .place(&kind_request(id, "m", 256, 30, ActionKind::Managed), &v)
            .unwrap();
        assert!(managed.containers.iter().all(|c| c.invoker < 18));
        let docker = balancer
            .place(&kind_request(id, "d", 256, 30, ActionKind::Docker), &v)
            .unwrap();
        assert!(docker.containers.iter().all(|c| c.invoker >= 18));
        assert!(docker.overloaded);
    }
}

#[test]
fn unhealthy_blackbox_set_is_no_invoker_at_all() {
    // The one blackbox invoker is down: Docker actions have nowhere to go, as in OpenWhisk
    // ("No invokers available"), although managed invokers are healthy.
    let mut v = mem_view(4, 8);
    v.invokers[3].healthy = false;
    let balancer = ShardingBalancer::new();
    assert_eq!(
        balancer.place(&kind_request(0, "a", 256, 1, ActionKind::Docker), &v),
        Err(PlacementError::NoHealthyInvoker)
    );
    assert!(balancer
        .place(&kind_request(0, "a", 256, 1, ActionKind::Managed), &v)
        .is_ok());
}

#[test]
fn the_spec_builds_the_split_and_checks_fractions() {
    let spec: PolicySpec = "faas { blackbox_fraction = 1.0 }".parse().unwrap();
    assert_eq!(
        spec,
        PolicySpec::Faas {
            managed_fraction: 0.9,
            blackbox_fraction: 1.0
        }
    );
    // Every invoker for Docker actions: the same plan as the unsplit balancer.
    let v = mem_view(6, 1);
    let req = kind_request(5, "x", 256, 4, ActionKind::Docker);
    assert_eq!(spec.build().place(&req, &v), unsplit().place(&req, &v));
    let err = "faas { managed_fraction = 1.5 }"
        .parse::<PolicySpec>()
        .unwrap_err();
    assert!(
        err.contains("managed_fraction") && err.contains("from 0 to 1"),
        "{err}"
    );
}

proptest! {
    /// A balancer told what changed (`place_tracked`, which keeps a free-memory index per probe
    /// order) places exactly as one that probes the whole view, over a run of changes to free
    /// memory and health, for more actions (probe orders) than it indexes, single activations
    /// and multi-worker requests, in full and overloaded clusters, with a managed/blackbox split.
    #[test]
    fn tracked_placement_equals_probing(
        n in 1usize..40,
        steps in prop::collection::vec(
            (0usize..8, 0u32..12, 1u32..3, prop::collection::vec((0usize..64, 0u64..5, 0u8..8), 0..6)),
            1..60,
        ),
    ) {
        let tracked = ShardingBalancer::with_fractions(0.7, 0.4);
        // The same through `place_tracked_into`, reusing one plan (left empty by errors).
        let mut into = ShardingBalancer::with_fractions(0.7, 0.4);
        let mut plan = PlacementPlan::default();
        let mut v = mem_view(n, 4);
        let mut changed: Vec<u32> = Vec::new();
        for (id, (action, memory_step, workers, changes)) in steps.into_iter().enumerate() {
            for (inv, slots, health) in changes {
                let inv = inv % n;
                v.invokers[inv].free_memory_mb = slots * 256;
                v.invokers[inv].healthy = health != 0;
                changed.push(inv as u32);
            }
            let kind = if action % 3 == 0 { ActionKind::Docker } else { ActionKind::Managed };
            let req = kind_request(id as u64, &format!("a{action}"), 128 * memory_step as u64, workers, kind);
            let want = ShardingBalancer::with_fractions(0.7, 0.4).place(&req, &v);
            prop_assert_eq!(tracked.place_tracked(&req, &v, &changed), want.clone());
            let got = into.place_tracked_into(&req, &v, &changed, &mut plan).map(|()| plan.clone());
            prop_assert_eq!(got, want.clone());
            if want.is_err() {
                prop_assert_eq!(&plan, &PlacementPlan::default());
            }
            changed.clear();
        }
    }
}
