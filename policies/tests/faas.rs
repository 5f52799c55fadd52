//! The sharding balancer (vanilla OpenWhisk placement).

mod common;

use common::*;
use policies::faas::{
    generate_hash, java_string_hash, pairwise_coprime_numbers_until, ShardingBalancer,
};
use policies::{ActionRef, ClusterView, PlacementError, PlacementPolicy, PlacementRequest};
use proptest::prelude::*;

fn faas_request(id: u64, name: &str, memory_mb: u64, workers: u32) -> PlacementRequest {
    PlacementRequest {
        request_id: id,
        action: ActionRef {
            namespace: "guest".into(),
            name: name.into(),
            memory_mb,
        },
        workers,
    }
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
    let (home, step) = ShardingBalancer::new().home_and_step("guest", "hello", 7);
    assert!(home < 7 && step >= 1);
    for id in 0..20 {
        let plan = ShardingBalancer::new()
            .place(&faas_request(id, "hello", 256, 1), &v)
            .unwrap();
        assert_eq!(plan.containers[0].invoker as usize, home);
        assert!(!plan.overloaded);
    }
    // Different actions do not all share one home.
    let homes: std::collections::BTreeSet<usize> = (0..50)
        .map(|k| {
            ShardingBalancer::new()
                .home_and_step("guest", &format!("a{k}"), 7)
                .0
        })
        .collect();
    assert!(homes.len() > 3, "homes {homes:?}");
}

#[test]
fn full_home_probes_by_step() {
    let mut v = mem_view(11, 4);
    let (home, step) = ShardingBalancer::new().home_and_step("guest", "hello", 11);
    v.invokers[home].free_memory_mb = 100; // less than the action's 256 MB
    let next = (home + step) % 11;
    v.invokers[next].healthy = false;
    let plan = ShardingBalancer::new()
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
        let plan = ShardingBalancer::new()
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
        ShardingBalancer::new().place(&faas_request(0, "a", 256, 0), &v),
        Err(PlacementError::Empty)
    );
    let mut down = v.clone();
    down.invokers.iter_mut().for_each(|i| i.healthy = false);
    assert_eq!(
        ShardingBalancer::new().place(&faas_request(0, "a", 256, 1), &down),
        Err(PlacementError::NoHealthyInvoker)
    );
    assert_eq!(
        ShardingBalancer::new().place(&faas_request(0, "a", 256, 1), &ClusterView::default()),
        Err(PlacementError::NoHealthyInvoker)
    );
    assert!(!ShardingBalancer::new().exclusive_cpus());
}

#[test]
fn many_workers_fill_then_overload() {
    // 5 invokers x 3 slots = 15 activations fit; the 16th overloads.
    let v = mem_view(5, 3);
    let plan = ShardingBalancer::new()
        .place(&faas_request(9, "x", 256, 15), &v)
        .unwrap();
    assert!(!plan.overloaded);
    assert!(per_invoker(&plan).values().all(|&n| n == 3));
    let plan = ShardingBalancer::new()
        .place(&faas_request(9, "x", 256, 16), &v)
        .unwrap();
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
        let got = ShardingBalancer::new().place(&req, &v);
        prop_assert_eq!(&got, &ShardingBalancer::new().place(&req, &v));
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
        let (home, step) = ShardingBalancer::new().home_and_step("guest", &name, n);
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
    let plan = ShardingBalancer::new()
        .place(&faas_request(1, "big", 256, 100_000), &v)
        .unwrap();
    assert!(plan.overloaded);
    check_shape(&plan, 100_000, &v);
}

#[test]
fn memoised_steps_follow_the_cluster_size() {
    // One balancer used on clusters of different sizes agrees with fresh ones.
    let shared = ShardingBalancer::new();
    for (k, n) in [7usize, 12, 7, 30, 1, 12].into_iter().enumerate() {
        let v = mem_view(n, 2);
        let req = faas_request(k as u64, "hello", 256, 5);
        assert_eq!(
            shared.place(&req, &v),
            ShardingBalancer::new().place(&req, &v),
            "n = {n}"
        );
        assert_eq!(
            shared.home_and_step("guest", "hello", n),
            ShardingBalancer::new().home_and_step("guest", "hello", n)
        );
    }
}

#[test]
fn memoised_home_follows_the_action() {
    // One balancer placing actions in turn (names, namespaces, cluster sizes) agrees with
    // fresh ones.
    let shared = ShardingBalancer::new();
    let cases = [
        ("a", 12),
        ("b", 12),
        ("a", 12),
        ("a", 7),
        ("ab", 7),
        ("a", 7),
    ];
    for (k, (name, n)) in cases.into_iter().enumerate() {
        let v = mem_view(n, 2);
        let mut req = faas_request(k as u64, name, 256, 3);
        if k == 4 {
            req.action.namespace = "other".into();
        }
        assert_eq!(
            shared.place(&req, &v),
            ShardingBalancer::new().place(&req, &v),
            "{name} on {n}"
        );
    }
}
