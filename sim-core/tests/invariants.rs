//! Property test: on random small platforms and workloads, every run is deterministic, every
//! function is accounted for with ordered times, exclusive cores and containers are never
//! shared at once, and CPU-shares invokers never run more memory than they have; a streaming
//! sink gets the same records, in id order, each container announced closed after its last one.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use policies::{FunctionRecord, Status};
use proptest::prelude::*;
use sim_core::{simulate, simulate_into, RecordSink, SinkError};

/// A sink that checks the streaming contract as records arrive.
#[derive(Default)]
struct CheckingSink {
    records: Vec<FunctionRecord>,
    closed: BTreeSet<u64>,
    last_submit: f64,
    errors: Vec<String>,
}

impl RecordSink for CheckingSink {
    fn record(&mut self, r: FunctionRecord) -> Result<(), SinkError> {
        if r.function_id != self.records.len() as u64 {
            self.errors
                .push(format!("record {} out of order", r.function_id));
        }
        if r.container != u64::MAX && self.closed.contains(&r.container) {
            self.errors.push(format!(
                "record {} after its container closed",
                r.function_id
            ));
        }
        if r.t_submit < self.last_submit {
            self.errors
                .push(format!("t_submit went back at {}", r.function_id));
        }
        self.last_submit = self.last_submit.max(r.t_submit);
        self.records.push(r);
        Ok(())
    }

    fn container_closed(&mut self, container: u64) -> Result<(), SinkError> {
        if !self.closed.insert(container) {
            self.errors
                .push(format!("container {container} closed twice"));
        }
        if !self.records.iter().any(|r| r.container == container) {
            self.errors
                .push(format!("container {container} closed before any record"));
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
struct Case {
    policy: &'static str,
    cpu_model: &'static str,
    cpu_work: bool,
    invokers: Vec<(u32, u64)>,
    bursts: Vec<(f64, u32, u64, u32)>,
    reject: bool,
    concurrency: u32,
    prewarm: u32,
    keep_alive: f64,
    slots: u32,
    alpha: f64,
    seed: u64,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::sample::select(vec![
            "faas",
            "burst-heterogeneous",
            "burst-homogeneous",
            "burst-best-fit",
            "burst-round-robin",
        ]),
        prop::sample::select(vec!["auto", "exclusive", "shares"]),
        any::<bool>(),
        prop::collection::vec(
            (1u32..12, prop::sample::select(vec![512u64, 1024, 4096])),
            1..5,
        ),
        prop::collection::vec(
            (
                0.0f64..3.0,
                1u32..16,
                prop::sample::select(vec![128u64, 256, 512]),
                0u32..3,
            ),
            1..5,
        ),
        any::<bool>(),
        0u32..4,
        0u32..3,
        prop::sample::select(vec![0.5f64, 600.0]),
        0u32..3,
        prop::sample::select(vec![0.0f64, 0.2]),
        any::<u64>(),
    )
        .prop_map(
            |(
                policy,
                cpu_model,
                cpu_work,
                invokers,
                bursts,
                reject,
                concurrency,
                prewarm,
                keep_alive,
                slots,
                alpha,
                seed,
            )| Case {
                policy,
                cpu_model,
                cpu_work,
                invokers,
                bursts,
                reject,
                concurrency,
                prewarm,
                keep_alive,
                slots,
                alpha,
                seed,
            },
        )
}

fn toml(c: &Case) -> String {
    let mut s = format!("seed = {}\n", c.seed % 1000);
    for (cpus, mem) in &c.invokers {
        s += &format!("[[cluster.invokers]]\ncpus = {cpus}\nuser_memory_mb = {mem}\n");
    }
    s += &format!("[policy]\nname = \"{}\"\n", c.policy);
    if c.policy == "burst-homogeneous" || c.policy == "burst-round-robin" {
        s += "granularity = 2\n";
    }
    if c.cpu_work {
        s += "[workload]\nkind = \"cpu\"\nwork = { dist = \"uniform\", min = 0.1, max = 2.0 }\n";
    } else {
        s += "[workload]\nkind = \"sleep\"\nduration = { dist = \"exponential\", mean = 1.0 }\n";
    }
    let total: u32 = c.invokers.iter().map(|i| i.0).sum();
    for (i, (at, workers, mem, action)) in c.bursts.iter().enumerate() {
        // Keep reject-mode bursts within the cluster (the config would be refused otherwise).
        let w = if c.reject {
            (*workers).min(total)
        } else {
            *workers
        };
        s += &format!(
            "[[bursts]]\nat = {at}\nworkers = {w}\nmemory_mb = {mem}\naction = \"a{action}\"\ntenant = {}\n",
            i % 2
        );
    }
    s += &format!(
        "[client]\nconcurrency = {}\nrequest_overhead = {{ dist = \"uniform\", min = 0.0, max = 0.01 }}\n",
        c.concurrency
    );
    s += &format!(
        "[controller]\nheartbeat_period = 0.25\non_no_capacity = \"{}\"\nprocessing = 0.001\nper_container = 0.002\n",
        if c.reject { "reject" } else { "queue" }
    );
    s += "[queue]\nlatency = { dist = \"exponential\", mean = 0.005 }\n";
    s += &format!(
        "[invoker]\ncpu_model = \"{}\"\ncreate = {{ dist = \"uniform\", min = 0.05, max = 0.2 }}\ncold_start = 0.1\n\
         warm_start = 0.01\nunpause = 0.02\npause_grace = 0.3\nkeep_alive = {}\nmax_concurrent_creations = {}\n\
         contention = {{ alpha = {}, exponent = 1.5 }}\nprewarm = {{ count = {}, memory_mb = 256, init = 0.03 }}\n\
         dispatcher = {{ worker_spawn = 0.003, payload = 0.001 }}\n",
        c.cpu_model, c.keep_alive, c.slots, c.alpha, c.prewarm
    );
    s
}

fn overlaps(mut iv: Vec<(f64, f64)>) -> bool {
    iv.sort_by(|a, b| a.0.total_cmp(&b.0));
    iv.windows(2).any(|w| w[1].0 < w[0].1 - 1e-9)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn runs_are_consistent(c in case()) {
        let text = toml(&c);
        let sc = common::scenario(&text);
        let out = simulate(&sc, 7);
        let again = simulate(&sc, 7);
        prop_assert_eq!(format!("{:?}", out.records), format!("{:?}", again.records));
        prop_assert_eq!(out.records.len() as u64, sc.functions());
        let mut sink = CheckingSink::default();
        let stats = simulate_into(&sc, 7, &mut sink).unwrap();
        prop_assert!(sink.errors.is_empty(), "{:?}\n{}", sink.errors, text);
        prop_assert_eq!(format!("{:?}", &out.records), format!("{:?}", &sink.records));
        prop_assert_eq!(&stats.stats, &out.stats);
        let used: BTreeSet<u64> = out.records.iter().map(|r| r.container).filter(|&c| c != u64::MAX).collect();
        prop_assert_eq!(&used, &sink.closed, "every container that ran is closed once");
        let bursts: Vec<_> = sc.run_arrivals(7).map(Result::unwrap).collect();

        let exclusive = c.cpu_model == "exclusive" || (c.cpu_model == "auto" && c.policy != "faas");
        let mut per_core: BTreeMap<(u32, u32), Vec<(f64, f64)>> = BTreeMap::new();
        let mut per_container: BTreeMap<u64, BTreeMap<u64, (f64, f64)>> = BTreeMap::new();
        for (i, r) in out.records.iter().enumerate() {
            prop_assert_eq!(r.function_id, i as u64);
            prop_assert!(r.t_submit.is_finite());
            match r.status() {
                Status::Ok => {
                    prop_assert!(r.t_submit <= r.t_dispatch + 1e-9, "{:?}\n{}", r, text);
                    prop_assert!(r.t_dispatch <= r.t_container_ready + 1e-9, "{:?}", r);
                    prop_assert!(r.t_container_ready <= r.t_start + 1e-9, "{:?}", r);
                    prop_assert!(r.t_start <= r.t_end + 1e-9, "{:?}", r);
                    prop_assert_eq!(r.cpu.is_some(), exclusive);
                    if let Some(core) = r.cpu {
                        per_core.entry((r.invoker, core)).or_default().push((r.t_start, r.t_end));
                    }
                    // A container serves one message at a time: group by message (ready time).
                    let key = r.t_container_ready.to_bits();
                    let e = per_container.entry(r.container).or_default().entry(key)
                        .or_insert((r.t_container_ready, r.t_end));
                    e.1 = e.1.max(r.t_end);
                }
                Status::Rejected | Status::Failed => {
                    prop_assert!(!r.outcome.reason().is_empty());
                    prop_assert!(r.t_start.is_nan() && r.t_end.is_nan());
                }
            }
        }
        for (key, iv) in per_core {
            prop_assert!(!overlaps(iv), "core {:?} shared\n{}", key, text);
        }
        for (cid, msgs) in per_container {
            prop_assert!(!overlaps(msgs.into_values().collect()), "container {} overlapped\n{}", cid, text);
        }
        if !exclusive {
            // Memory slots: what runs on an invoker at once fits its user memory.
            for (inv, (_, mem)) in c.invokers.iter().enumerate() {
                let mut ev: Vec<(f64, i64)> = Vec::new();
                for r in out.records.iter().filter(|r| r.is_ok() && r.invoker == inv as u32) {
                    let m = sc.actions[bursts[r.burst_id as usize].action as usize].memory_mb as i64;
                    ev.push((r.t_start, m));
                    ev.push((r.t_end, -m));
                }
                ev.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                let mut cur = 0;
                for (_, d) in ev {
                    cur += d;
                    prop_assert!(cur <= *mem as i64, "invoker {} runs {} MB > {}\n{}", inv, cur, mem, text);
                }
            }
        }
        if !c.reject && c.cpu_model != "shares" {
            // Queue mode with exclusive CPUs: everything that can ever fit runs.
            let total: u32 = c.invokers.iter().map(|i| i.0).sum();
            for r in &out.records {
                let burst = &bursts[r.burst_id as usize];
                if exclusive && c.policy == "burst-heterogeneous" && burst.workers <= total {
                    prop_assert_eq!(r.status(), Status::Ok, "{:?}\n{}", r, text);
                }
            }
        }
    }
}

/// Faults added to a random case: (recovery index, creation failure, worker crash, straggler
/// probability, a crash of invoker 0 at a time with a recovery, random crashes' mean up
/// time, an outage start).
type Faults = (
    usize,
    f64,
    f64,
    f64,
    Option<(f64, f64)>,
    Option<f64>,
    Option<f64>,
);

fn faults() -> impl Strategy<Value = Faults> {
    (
        0usize..6,
        prop::sample::select(vec![0.0f64, 0.1, 0.5]),
        prop::sample::select(vec![0.0f64, 0.1, 0.5]),
        prop::sample::select(vec![0.0f64, 0.2]),
        prop::option::of((0.0f64..4.0, 0.5f64..20.0)),
        prop::option::of(prop::sample::select(vec![2.0f64, 10.0])),
        prop::option::of(0.0f64..3.0),
    )
}

fn fault_toml(c: &Case, f: &Faults) -> String {
    let (recovery, creation, crash, straggle, invoker_crash, mtbf, outage) = f;
    let mut s = String::new();
    let burst_policies = [
        "name = \"none\"",
        "name = \"fail-burst\"",
        "name = \"rerun-failed-workers\"\nretries = 3",
        "name = \"rerun-pack\"\nretries = 3",
        "name = \"speculate-stragglers\"\nafter = 0.5\nretries = 3",
        "name = \"rerun-failed-workers\"\nretries = 0",
    ];
    let faas_policies = [
        "name = \"none\"",
        "name = \"openwhisk\"\nclient_retries = 2",
    ];
    let policy = if c.policy == "faas" {
        faas_policies[recovery % 2]
    } else {
        burst_policies[*recovery]
    };
    s += &format!("[recovery]\n{policy}\n");
    s += &format!(
        "[faults]\noffline_timeout = 2.0\naction_timeout = 1.0\ncreation_failure = {creation}\nworker_crash = {crash}\n"
    );
    if let Some((at, rec)) = invoker_crash {
        s += &format!("[[faults.invoker_crashes]]\ninvoker = 0\nat = {at}\nrecovery = {rec}\n");
    }
    if let Some(mean) = mtbf {
        s += &format!(
            "[faults.invoker_failures]\ntime_to_failure = {{ dist = \"exponential\", mean = {mean} }}\nrecovery = 1.0\n"
        );
    }
    s += &format!("[faults.stragglers]\nprobability = {straggle}\nslowdown = 3.0\n");
    if let Some(from) = outage {
        s += &format!(
            "[[faults.broker_outages]]\nfrom = {from}\nuntil = {}\n",
            from + 1.5
        );
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// With faults: deterministic; attempts of each function numbered in order, at most one
    /// `ok`, failures with reasons; what ran never shared an exclusive core.
    #[test]
    fn runs_with_faults_are_consistent(c in case(), f in faults()) {
        let text = format!("{}{}", toml(&c), fault_toml(&c, &f));
        let sc = common::scenario(&text);
        let out = simulate(&sc, 7);
        let again = simulate(&sc, 7);
        prop_assert_eq!(format!("{:?}", out.records), format!("{:?}", again.records));
        let exclusive = c.cpu_model == "exclusive" || (c.cpu_model == "auto" && c.policy != "faas");
        let mut next = vec![0u32; sc.functions() as usize];
        let mut ok = vec![0u32; sc.functions() as usize];
        let mut per_core: BTreeMap<(u32, u32), Vec<(f64, f64)>> = BTreeMap::new();
        let mut last = 0;
        for r in &out.records {
            let f = r.function_id as usize;
            // Streamed in (function id, attempt) order.
            prop_assert!(r.function_id >= last, "{:?}\n{}", r, text);
            last = r.function_id;
            prop_assert_eq!(r.attempt, next[f], "{:?}\n{}", r, text);
            next[f] += 1;
            if r.is_ok() {
                ok[f] += 1;
                prop_assert!(r.t_submit <= r.t_start + 1e-9 && r.t_start <= r.t_end + 1e-9, "{:?}", r);
            } else {
                prop_assert!(!r.outcome.reason().is_empty(), "{:?}", r);
            }
            if r.t_start.is_finite() && r.t_end.is_finite() {
                prop_assert!(r.t_start <= r.t_end + 1e-9, "{:?}\n{}", r, text);
                if let Some(core) = r.cpu {
                    per_core.entry((r.invoker, core)).or_default().push((r.t_start, r.t_end));
                }
            }
        }
        prop_assert!(next.iter().all(|&n| n > 0), "every function recorded\n{}", text);
        prop_assert!(ok.iter().all(|&k| k <= 1), "at most one ok\n{}", text);
        if exclusive {
            for (key, iv) in per_core {
                prop_assert!(!overlaps(iv), "core {:?} shared\n{}", key, text);
            }
        }
    }
}
