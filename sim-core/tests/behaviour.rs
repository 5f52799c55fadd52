//! The platform model behaves as documented: determinism, exclusive cores, CPU shares, warm
//! reuse, keep-alive, prewarm, in-order queues, reject/queue admission, contention.

mod common;
use common::{max_overlap, run, scenario};

use policies::{FunctionRecord, Status};
use sim_core::simulate;

fn dump(records: &[FunctionRecord]) -> String {
    records.iter().map(|r| format!("{r:?}\n")).collect()
}

const RANDOM_BURSTS: &str = r#"
seed = 3
[[cluster.invokers]]
count = 3
cpus = 8
[[cluster.invokers]]
cpus = 5
[policy]
name = "burst-homogeneous"
granularity = 3
[workload]
kind = "sleep"
duration = { dist = "lognormal", median = 1.0, p99 = 4.0 }
[[bursts]]
workers = 20
count = 6
every = 0.3
[controller]
heartbeat_period = 0.5
[queue]
latency = { dist = "exponential", mean = 0.01 }
[invoker]
create = { dist = "uniform", min = 0.1, max = 0.3 }
cold_start = { dist = "lognormal", median = 0.2, p99 = 0.5 }
max_concurrent_creations = 2
[invoker.dispatcher]
worker_spawn = { dist = "uniform", min = 0.001, max = 0.005 }
payload = 0.01
"#;

#[test]
fn same_seed_same_records_different_seed_different() {
    let sc = scenario(RANDOM_BURSTS);
    let a = simulate(&sc, 11);
    let b = simulate(&sc, 11);
    let c = simulate(&sc, 12);
    assert_eq!(dump(&a.records), dump(&b.records));
    assert_eq!(a.stats, b.stats);
    assert_ne!(dump(&a.records), dump(&c.records));
    assert_eq!(a.records.len(), 120);
    for (i, r) in a.records.iter().enumerate() {
        assert_eq!(r.function_id, i as u64);
        assert_eq!(r.status(), Status::Ok, "{r:?}");
        assert!(r.t_submit <= r.t_dispatch && r.t_dispatch <= r.t_container_ready);
        assert!(
            r.t_container_ready <= r.t_start && r.t_start <= r.t_end,
            "{r:?}"
        );
    }
    assert_eq!(a.records[0].t_submit, 0.0);
}

#[test]
fn exclusive_cores_never_oversubscribed() {
    let out = run(RANDOM_BURSTS);
    // Queueing bursts must have happened for this test to mean something.
    assert!(out.stats.queued_requests > 0, "{:?}", out.stats);
    let cpus = [8usize, 8, 8, 5];
    for (inv, &n) in cpus.iter().enumerate() {
        let iv: Vec<(f64, f64)> = out
            .records
            .iter()
            .filter(|r| r.invoker == inv as u32)
            .map(|r| (r.t_start, r.t_end))
            .collect();
        assert!(
            max_overlap(&iv) <= n,
            "invoker {inv}: {} > {n}",
            max_overlap(&iv)
        );
        for core in 0..n as u32 {
            let iv: Vec<(f64, f64)> = out
                .records
                .iter()
                .filter(|r| r.invoker == inv as u32 && r.cpu == Some(core))
                .map(|r| (r.t_start, r.t_end))
                .collect();
            assert!(max_overlap(&iv) <= 1, "invoker {inv} core {core} shared");
        }
    }
    // Homogeneous: containers of 3 workers, except a remainder.
    assert!(out.records.iter().all(|r| r.cpu.is_some() && !r.cpu_shared));
}

const SHARES: &str = r#"
[[cluster.invokers]]
cpus = 2
user_memory_mb = 2048
[policy]
name = "faas"
[workload]
kind = "cpu"
work = { dist = "constant", value = 1.0 }
[[bursts]]
workers = 8
memory_mb = 256
"#;

/// Under CPU shares, an invoker whose user memory holds no more containers than it has cores
/// can never slow a function down: each ends exactly its work after its start (the processor-
/// sharing clock's float rounding used to end about half of them 1 ns late), while an invoker
/// that could hold more still shares its cores.
#[test]
fn shares_that_cannot_contend_end_exactly_after_the_work() {
    let config = r#"
seed = 5
[[cluster.invokers]]
count = 2
cpus = 4
user_memory_mb = 512
[policy]
name = "faas"
managed_fraction = 1.0
[workload]
kind = "cpu"
work = 1.0
[invoker]
cpu_model = "shares"
cold_start = 0.2
[[arrivals]]
action = "a"
kind = "managed"
memory_mb = 128
process = { kind = "poisson", rate = 9.0 }
count = 600
"#;
    let ns = |s: f64| (s * 1e9).round() as i64;
    let out = run(config);
    assert_eq!(out.records.len(), 600);
    for r in &out.records {
        assert_eq!(r.status(), Status::Ok, "{r:?}");
        assert_eq!(ns(r.t_end) - ns(r.t_start), 1_000_000_000, "{r:?}");
        assert!(!r.cpu_shared, "{r:?}");
    }
    // With 1 GB the same invokers hold 8 containers on 4 cores: arrivals at 9/s keep more
    // than 4 running at times, and those functions share.
    let out = run(&config.replace("user_memory_mb = 512", "user_memory_mb = 1024"));
    let slowed = out.records.iter().filter(|r| r.cpu_shared).count();
    assert!(slowed > 0, "no function shared a core");
    for r in out.records.iter().filter(|r| r.cpu_shared) {
        assert!(ns(r.t_end) - ns(r.t_start) > 1_000_000_000, "{r:?}");
    }
}

#[test]
fn shares_slow_cpu_work_but_not_sleep() {
    let out = run(SHARES);
    for r in &out.records {
        // 8 runnable on 2 cores with equal shares: rate 1/4, so 1 s of work takes 4 s.
        assert!((r.t_end - r.t_start - 4.0).abs() < 1e-6, "{r:?}");
        assert!(r.cpu_shared && r.cpu.is_none());
    }
    let out = run(&SHARES.replace("workers = 8", "workers = 2"));
    for r in &out.records {
        assert!((r.t_end - r.t_start - 1.0).abs() < 1e-6, "{r:?}");
        assert!(!r.cpu_shared);
    }
    let sleep = SHARES.replace(
        "kind = \"cpu\"\nwork = { dist = \"constant\", value = 1.0 }",
        "kind = \"sleep\"\nduration = { dist = \"constant\", value = 1.0 }",
    );
    for r in &run(&sleep).records {
        assert!((r.t_end - r.t_start - 1.0).abs() < 1e-6, "{r:?}");
        assert!(!r.cpu_shared);
    }
}

#[test]
fn shares_rates_follow_memory_weights() {
    // A 1024 MB function (share 512) and a 256 MB one (share 128) on one core: 4:1 split.
    let text = r#"
[[cluster.invokers]]
cpus = 1
user_memory_mb = 2048
[policy]
name = "faas"
[workload]
kind = "cpu"
work = { dist = "constant", value = 1.0 }
[[bursts]]
workers = 1
memory_mb = 1024
action = "big"
[[bursts]]
workers = 1
memory_mb = 256
action = "small"
"#;
    let out = run(text);
    let big = &out.records[0];
    let small = &out.records[1];
    // big runs at 0.8 until done at 1.25 s; small got 0.25 s of work by then, then runs alone.
    assert!((big.t_end - 1.25).abs() < 1e-6, "{big:?}");
    assert!((small.t_end - 2.0).abs() < 1e-6, "{small:?}");
}

#[test]
fn shares_leave_no_core_idle() {
    // Shares 512 (64 GB of 128 GB) and 2 (128 MB) on 4 cores: two runnable functions, so each
    // gets a whole core (CFS is work-conserving), not 4 * 2 / 514 of one while cores idle.
    let text = r#"
[[cluster.invokers]]
cpus = 4
user_memory_mb = 131072
[policy]
name = "faas"
[workload]
kind = "cpu"
work = { dist = "constant", value = 1.0 }
[[bursts]]
workers = 1
memory_mb = 65536
action = "big"
[[bursts]]
workers = 1
memory_mb = 128
action = "small"
"#;
    let out = run(text);
    for r in &out.records {
        assert!((r.t_end - r.t_start - 1.0).abs() < 1e-9, "{r:?}");
        assert!(!r.cpu_shared, "{r:?}");
    }
}

const WARM: &str = r#"
[[cluster.invokers]]
cpus = 4
[policy]
name = "faas"
[workload]
kind = "sleep"
duration = { dist = "constant", value = 1.0 }
[[bursts]]
workers = 1
action = "f"
count = 3
every = 5.0
[invoker]
create = 0.5
cold_start = 0.25
warm_start = 0.01
unpause = 0.1
pause_grace = 10.0
keep_alive = 600.0
"#;

#[test]
fn warm_reuse_for_sequential_invocations() {
    let out = run(WARM);
    let r = &out.records;
    assert!(r[0].cold && !r[1].cold && !r[2].cold);
    assert_eq!(r[0].container, r[1].container);
    assert_eq!(r[1].container, r[2].container);
    assert!((r[0].t_container_ready - 0.75).abs() < 1e-9);
    assert!((r[1].t_container_ready - r[1].t_dispatch - 0.01).abs() < 1e-9);
    assert_eq!(out.stats.warm_starts, 2);
    assert_eq!(out.stats.cold_starts, 1);
    // Idle for longer than pause_grace: reuse pays the unpause too.
    let out = run(&WARM.replace("every = 5.0", "every = 15.0"));
    let r = &out.records[1];
    assert!(
        !r.cold && (r.t_container_ready - r.t_dispatch - 0.11).abs() < 1e-9,
        "{r:?}"
    );
}

#[test]
fn keep_alive_evicts_idle_containers() {
    let out = run(&WARM.replace("keep_alive = 600.0", "keep_alive = 2.0"));
    let r = &out.records;
    assert!(r.iter().all(|r| r.cold));
    assert_ne!(r[0].container, r[1].container);
    assert_eq!(out.stats.evictions, 2);
}

#[test]
fn paused_after_openwhisk_pause_grace_by_default() {
    // OpenWhisk pauses an idle container after 50 ms (invoker application.conf, pause-grace):
    // a reuse 4 s after the last run pays the unpause.
    let out = run(&WARM.replace("pause_grace = 10.0\n", ""));
    let r = &out.records[1];
    assert!(
        !r.cold && (r.t_container_ready - r.t_dispatch - 0.11).abs() < 1e-9,
        "{r:?}"
    );
}

#[test]
fn prewarm_stem_cells_are_used_and_refilled() {
    let text = WARM
        .replace("every = 5.0", "every = 0.0")
        .replace("count = 3", "count = 2")
        .replace("action = \"f\"", "action = \"f\"\nkind = \"managed\"")
        + "[invoker.prewarm]\ncount = 1\nmemory_mb = 256\ninit = 0.05\n";
    let out = run(&text);
    let r = &out.records;
    // The first takes the stem cell; the second arrives while the refill is queued for the
    // engine, so it is created cold behind it (one engine slot): 0.5 + 0.5 + 0.25.
    assert!(
        !r[0].cold && (r[0].t_container_ready - 0.05).abs() < 1e-9,
        "{:?}",
        r[0]
    );
    assert!(
        r[1].cold && (r[1].t_container_ready - 1.25).abs() < 1e-9,
        "{:?}",
        r[1]
    );
    assert_eq!(out.stats.prewarm_starts, 1);
    // One initial stem, its refill, one cold container.
    assert_eq!(out.stats.containers_created, 3);
    // Different memory: no prewarm.
    let out = run(&text.replace("memory_mb = 256\ninit", "memory_mb = 512\ninit"));
    assert_eq!(out.stats.prewarm_starts, 0);
}

#[test]
fn prewarm_containers_take_user_memory() {
    // OpenWhisk counts prewarmed containers (ready or starting) in the invoker's user memory
    // (ContainerPool: hasPoolSpaceFor(busy ++ free ++ prewarmed, prewarmStarting, ...)).
    // 768 MB, one 256 MB stem: two docker functions fit (docker actions never take a stem);
    // the third waits for the first to finish and reuses its container.
    let text = WARM
        .replace(
            "[[cluster.invokers]]\ncpus = 4",
            "[[cluster.invokers]]\ncpus = 4\nuser_memory_mb = 768",
        )
        .replace("every = 5.0", "every = 0.0")
        + "[invoker.prewarm]\ncount = 1\nmemory_mb = 256\ninit = 0.05\n";
    let out = run(&text);
    let r = &out.records;
    assert_eq!(out.stats.prewarm_starts, 0);
    assert!(r[0].cold && r[1].cold && !r[2].cold, "{r:?}");
    assert!(r[2].t_start >= r[0].t_end, "{r:?}");
    // As many stems as memory allows: 3 wanted, 2 fit in 512 MB; the one taken by a managed
    // function keeps its memory, so no refill fits either.
    let text = WARM
        .replace(
            "[[cluster.invokers]]\ncpus = 4",
            "[[cluster.invokers]]\ncpus = 4\nuser_memory_mb = 512",
        )
        .replace("count = 3", "count = 1")
        .replace("action = \"f\"", "action = \"f\"\nkind = \"managed\"")
        + "[invoker.prewarm]\ncount = 3\nmemory_mb = 256\ninit = 0.05\n";
    let out = run(&text);
    assert_eq!(out.stats.prewarm_starts, 1);
    assert_eq!(out.stats.containers_created, 2);
}

#[test]
fn queue_delivers_in_order_per_invoker() {
    let text = r#"
seed = 5
[[cluster.invokers]]
cpus = 64
user_memory_mb = 65536
[policy]
name = "faas"
[workload]
kind = "sleep"
duration = { dist = "constant", value = 1.0 }
[[bursts]]
workers = 200
[client]
request_overhead = 0.0001
[queue]
latency = { dist = "exponential", mean = 0.05 }
"#;
    let out = run(text);
    let mut last = 0.0;
    let mut ties_or_waits = 0;
    for r in &out.records {
        assert!(r.t_dispatch >= last, "out of order: {r:?}");
        if r.t_dispatch - r.t_submit > 0.05 {
            ties_or_waits += 1;
        }
        last = r.t_dispatch;
    }
    assert!(ties_or_waits > 0);
}

const TWO_BURSTS: &str = r#"
[[cluster.invokers]]
count = 2
cpus = 4
[policy]
name = "burst-heterogeneous"
[workload]
kind = "sleep"
duration = { dist = "constant", value = 2.0 }
[[bursts]]
workers = 8
count = 2
every = 0.5
[controller]
heartbeat_period = 1.0
"#;

#[test]
fn reject_gives_rejected_records() {
    let out = run(&format!("{TWO_BURSTS}on_no_capacity = \"reject\"\n"));
    let (first, second) = out.records.split_at(8);
    assert!(first.iter().all(|r| r.status() == Status::Ok));
    for r in second {
        assert_eq!(r.status(), Status::Rejected);
        assert!(!r.outcome.reason().is_empty());
        assert!((r.t_submit - 0.5).abs() < 1e-9);
        assert!(r.t_dispatch.is_nan() && r.t_start.is_nan() && r.t_end.is_nan());
        assert_eq!(r.invoker, u32::MAX);
    }
    assert_eq!(out.stats.rejected, 8);
}

#[test]
fn queue_runs_a_burst_once_capacity_is_reported() {
    let out = run(TWO_BURSTS);
    let (first, second) = out.records.split_at(8);
    assert!(out.records.iter().all(|r| r.status() == Status::Ok));
    let first_end = first.iter().map(|r| r.t_end).fold(0.0, f64::max);
    assert!((first_end - 2.0).abs() < 1e-9);
    // Freed at 2.0, visible at the next heartbeat (3.0), placed then.
    for r in second {
        assert!(r.t_start >= first_end, "{r:?}");
        assert!((r.t_dispatch - 3.0).abs() < 1e-9, "{r:?}");
    }
    assert_eq!(out.stats.queued_requests, 1);
}

#[test]
fn stale_view_delays_placement_until_heartbeat() {
    // Work ending at 1.8 is visible at the 2.0 heartbeat; ending at 2.3, at 3.0.
    let text = TWO_BURSTS.replace("value = 2.0", "value = 1.8");
    let out = run(&text);
    let second = &out.records[8..];
    assert!(second.iter().all(|r| (r.t_dispatch - 2.0).abs() < 1e-9));
    let text = TWO_BURSTS.replace("value = 2.0", "value = 2.3");
    let out = run(&text);
    assert!(out.records[8..]
        .iter()
        .all(|r| (r.t_dispatch - 3.0).abs() < 1e-9));
}

#[test]
fn contention_makes_ready_times_grow_superlinearly() {
    let text = r#"
[[cluster.invokers]]
cpus = 48
[policy]
name = "burst-homogeneous"
granularity = 1
[workload]
kind = "sleep"
duration = { dist = "constant", value = 60.0 }
[[bursts]]
workers = 48
[invoker]
create = 0.1
max_concurrent_creations = 1
contention = { alpha = 0.1, exponent = 1.0, count = "alive" }
"#;
    let out = run(text);
    let mut ready: Vec<f64> = out.records.iter().map(|r| r.t_container_ready).collect();
    ready.sort_by(f64::total_cmp);
    let gaps: Vec<f64> = ready.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.windows(2).all(|g| g[1] > g[0] + 1e-6), "{gaps:?}");
    // Without contention the same creations are linear.
    let flat = run(&text.replace("alpha = 0.1", "alpha = 0.0"));
    let mut ready: Vec<f64> = flat.records.iter().map(|r| r.t_container_ready).collect();
    ready.sort_by(f64::total_cmp);
    assert!((ready[47] - 4.8).abs() < 1e-9, "{}", ready[47]);
}

#[test]
fn client_concurrency_and_rate_limit_submissions() {
    let text = r#"
[[cluster.invokers]]
cpus = 8
user_memory_mb = 8192
[policy]
name = "faas"
[workload]
kind = "sleep"
duration = { dist = "constant", value = 1.0 }
[[bursts]]
workers = 10
[client]
rate = 4.0
"#;
    let out = run(text);
    for (i, r) in out.records.iter().enumerate() {
        assert!((r.t_submit - i as f64 * 0.25).abs() < 1e-9, "{r:?}");
    }
    let text = text.replace("rate = 4.0", "concurrency = 2\nrequest_overhead = 0.1")
        + "[controller]\nprocessing = 0.2\nconcurrency = 1\n";
    let out = run(&text);
    // Two in flight; each is acknowledged when placed; this controller serves one at a time.
    let submits: Vec<f64> = out.records.iter().map(|r| r.t_submit).collect();
    assert!((submits[0] - 0.0).abs() < 1e-9 && (submits[1] - 0.0).abs() < 1e-9);
    assert!((submits[2] - 0.3).abs() < 1e-9, "{submits:?}");
    assert!((submits[3] - 0.5).abs() < 1e-9, "{submits:?}");
}

const CONTROLLER: &str = r#"
[[cluster.invokers]]
cpus = 64
user_memory_mb = 65536
[policy]
name = "faas"
[workload]
kind = "sleep"
duration = { dist = "constant", value = 1.0 }
[[bursts]]
workers = 100
[controller]
processing = 0.03
per_container = 0.002
"#;

#[test]
fn controller_handles_activations_concurrently() {
    // OpenWhisk's controller serves activations concurrently: 100 invocations sent at once
    // are all published after one processing time, not 100 of them in a row.
    let out = run(CONTROLLER);
    for r in &out.records {
        assert!((r.t_dispatch - 0.032).abs() < 1e-9, "{r:?}");
    }
    // A bounded controller (here 4 at a time, each until its message is published).
    let out = run(&format!("{CONTROLLER}concurrency = 4\n"));
    for (i, r) in out.records.iter().enumerate() {
        let round = (i / 4 + 1) as f64;
        assert!((r.t_dispatch - 0.032 * round).abs() < 1e-9, "{i}: {r:?}");
    }
    // One at a time: the serial controller of earlier versions.
    let out = run(&format!("{CONTROLLER}concurrency = 1\n"));
    let last = out.records.last().expect("records");
    assert!((last.t_dispatch - 3.2).abs() < 1e-9, "{last:?}");
}

#[test]
fn a_burst_publishes_its_containers_in_sequence() {
    // One request's plan is published container after container; two bursts arriving together
    // are handled side by side.
    let text = CONTROLLER
        .replace(
            "name = \"faas\"",
            "name = \"burst-homogeneous\"\ngranularity = 1",
        )
        .replace("workers = 100", "workers = 10\ncount = 2")
        .replace("per_container = 0.002", "per_container = 0.01");
    let out = run(&text);
    for r in &out.records {
        let k = r.worker_id as f64;
        assert!(
            (r.t_dispatch - (0.03 + 0.01 * (k + 1.0))).abs() < 1e-9,
            "{r:?}"
        );
    }
}

#[test]
fn dispatcher_spawns_workers_in_order() {
    let text = r#"
[[cluster.invokers]]
cpus = 10
[policy]
name = "burst-heterogeneous"
[workload]
kind = "sleep"
duration = { dist = "constant", value = 1.0 }
[[bursts]]
workers = 10
[invoker.dispatcher]
payload = 0.1
worker_spawn = 0.01
"#;
    let out = run(text);
    for (k, r) in out.records.iter().enumerate() {
        assert_eq!(r.worker_id, k as u32);
        assert_eq!(r.cpu, Some(k as u32));
        assert!(
            (r.t_start - (0.1 + 0.01 * (k + 1) as f64)).abs() < 1e-9,
            "{r:?}"
        );
    }
    assert_eq!(out.stats.containers_created, 1);
}

#[test]
fn serverful_boots_then_runs_fifo() {
    let text = r#"
mode = "serverful"
[policy]
name = "faas"
[workload]
kind = "sleep"
duration = { dist = "constant", value = 10.0 }
[[bursts]]
workers = 6
[serverful]
startup = 100.0
nodes = 2
cpus_per_node = 2
"#;
    let out = run(text);
    let starts: Vec<f64> = out.records.iter().map(|r| r.t_start).collect();
    assert_eq!(starts, vec![100.0, 100.0, 100.0, 100.0, 110.0, 110.0]);
    assert!(out
        .records
        .iter()
        .all(|r| r.cold && r.t_container_ready == 100.0));
    assert_eq!(out.records[2].invoker, 1);
}

#[test]
fn thesis_experiment_shape() {
    // Section 5.2.1: 120 sleep(5 s) on invokers of 24, 48, 48, 12 CPUs. Burst places all at once.
    let text = r#"
[[cluster.invokers]]
cpus = 24
[[cluster.invokers]]
count = 2
cpus = 48
[[cluster.invokers]]
cpus = 12
[policy]
name = "burst-heterogeneous"
[workload]
kind = "sleep"
duration = { dist = "constant", value = 5.0 }
[[bursts]]
workers = 120
[invoker]
create = 1.0
"#;
    let out = run(text);
    let iv: Vec<(f64, f64)> = out.records.iter().map(|r| (r.t_start, r.t_end)).collect();
    assert_eq!(max_overlap(&iv), 120);
    // FaaS with 2 GB user memory per invoker and 256 MB functions: 8 slots per invoker.
    let out = run(&text.replace("name = \"burst-heterogeneous\"", "name = \"faas\""));
    let iv: Vec<(f64, f64)> = out.records.iter().map(|r| (r.t_start, r.t_end)).collect();
    assert!(max_overlap(&iv) <= 32);
    assert!(out
        .records
        .iter()
        .all(|r| r.status() == Status::Ok && r.t_end.is_finite()));
}

const THESIS_FAAS: &str = r#"
[[cluster.invokers]]
cpus = 24
[[cluster.invokers]]
count = 2
cpus = 48
[[cluster.invokers]]
cpus = 12
[policy]
name = "faas"
[workload]
kind = "sleep"
duration = { dist = "constant", value = 5.0 }
[[bursts]]
workers = 120
action = "sleep"
"#;

#[test]
fn faas_docker_actions_run_on_the_blackbox_invoker() {
    // OpenWhisk keeps the last 10% of invokers (at least one) for blackbox actions: on the
    // thesis' four invokers every Lithops (docker) invocation runs on the 12-CPU one.
    let invokers = |text: &str| -> std::collections::BTreeSet<u32> {
        run(text).records.iter().map(|r| r.invoker).collect()
    };
    assert_eq!(invokers(THESIS_FAAS), [3].into());
    // A managed action may use all four (ceil(0.9 * 4) = 4), and without the split
    // (blackbox_fraction = 1) docker actions may too.
    let managed = THESIS_FAAS.replace(
        "action = \"sleep\"",
        "action = \"sleep\"\nkind = \"managed\"",
    );
    assert!(invokers(&managed).len() > 1);
    let unsplit = THESIS_FAAS.replace(
        "name = \"faas\"",
        "name = \"faas\"\nblackbox_fraction = 1.0",
    );
    assert!(invokers(&unsplit).len() > 1);
}

#[test]
fn function_inputs_match_the_simulated_work() {
    let sc = scenario(RANDOM_BURSTS);
    let out = simulate(&sc, 21);
    for burst in sc.run_arrivals(21).map(Result::unwrap) {
        let inputs: Vec<_> = sc.function_inputs(21, &burst).collect();
        assert_eq!(inputs.len(), burst.workers as usize);
        for (k, input) in inputs.iter().enumerate() {
            let r = &out.records[(burst.first_function + k as u64) as usize];
            assert!(
                (r.t_end - r.t_start - input.solo_seconds()).abs() < 2e-9,
                "{r:?}"
            );
        }
    }
}

#[test]
fn unlimited_engine_slots_create_in_parallel() {
    let text = r#"
[[cluster.invokers]]
cpus = 8
[policy]
name = "burst-homogeneous"
granularity = 1
[workload]
kind = "sleep"
duration = { dist = "constant", value = 1.0 }
[[bursts]]
workers = 8
[invoker]
create = 0.5
cold_start = 0.25
max_concurrent_creations = 0
contention = { alpha = 0.5, count = "in_flight" }
"#;
    let out = run(text);
    // The messages arrive one after the other at t = 0 and each container starts its engine
    // phase on arrival (no slot to wait for), seeing the k earlier ones in flight.
    for (k, r) in out.records.iter().enumerate() {
        let expected = 0.5 * (1.0 + 0.5 * k as f64) + 0.25;
        assert!((r.t_container_ready - expected).abs() < 1e-9, "{r:?}");
    }
}

#[test]
fn idle_containers_are_evicted_lru_to_make_room() {
    let text = r#"
[[cluster.invokers]]
cpus = 4
user_memory_mb = 512
[policy]
name = "faas"
[workload]
kind = "sleep"
duration = { dist = "constant", value = 1.0 }
[[bursts]]
workers = 2
action = "a"
[[bursts]]
at = 5.0
workers = 1
action = "b"
[[bursts]]
at = 10.0
workers = 3
action = "c"
"#;
    let out = run(text);
    let r = &out.records;
    // b needs room: one idle `a` container goes; c's third function waits for memory.
    assert!(r[2].cold && r[2].status() == Status::Ok);
    assert_eq!(out.stats.evictions, 3);
    let c_starts: Vec<f64> = r[3..].iter().map(|r| r.t_start).collect();
    assert_eq!(c_starts[0], 10.0);
    assert_eq!(c_starts[1], 10.0);
    assert_eq!(c_starts[2], 11.0, "{c_starts:?}");
    assert_eq!(out.stats.buffered_messages, 1);
}

#[test]
fn burst_layout_matches_the_plan() {
    let text = r#"
[[cluster.invokers]]
cpus = 4
[[cluster.invokers]]
cpus = 8
[policy]
name = "burst-heterogeneous"
[workload]
kind = "sleep"
duration = { dist = "constant", value = 1.0 }
[[bursts]]
workers = 10
"#;
    let out = run(text);
    let layout = out.burst_layout(0).expect("placed");
    // Most free CPUs first: invoker 1 takes workers 0..=7, invoker 0 takes 8..=9.
    assert_eq!(layout.containers(), 2);
    assert_eq!(layout.invokers[&1].values().next(), Some(&(0, 7)));
    assert_eq!(layout.invokers[&0].values().next(), Some(&(8, 9)));
    assert_eq!(layout.locate(9).map(|(inv, _)| inv), Some(0));
    assert!(out.burst_layout(1).is_none());
}

#[test]
fn a_request_placed_while_another_is_being_placed_keeps_its_own_plan() {
    // A processing time of 0 or 1 ns: a request acknowledged at its placement lets the client
    // send the next burst, which the idle controller may place at once, inside the first
    // placement (before the first plan is published). Each burst must get its own plan: every
    // function runs, in containers of at most 2 of its burst's workers.
    let text = r#"
[[cluster.invokers]]
count = 4
cpus = 16
user_memory_mb = 65536
[policy]
name = "burst-homogeneous"
granularity = 2
[workload]
kind = "sleep"
duration = { dist = "constant", value = 1.0 }
[client]
concurrency = 1
[controller]
processing = { dist = "uniform", min = 0.0, max = 0.000000001 }
[[bursts]]
workers = 3
count = 20
every = 0.0
[[bursts]]
workers = 8
count = 20
every = 0.0
"#;
    let out = run(text);
    assert_eq!(out.records.len(), 20 * 3 + 20 * 8);
    let mut per_container = std::collections::HashMap::new();
    for r in &out.records {
        assert!(r.is_ok(), "{r:?}");
        *per_container.entry((r.burst_id, r.container)).or_insert(0) += 1;
    }
    assert!(per_container.values().all(|&n| n <= 2), "{per_container:?}");
}
