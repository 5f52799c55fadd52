//! Live group communication on a 2-agent local cluster (runc): a `steps` burst of 4 workers in
//! two packs of 2, one per agent, runs every kind of step (compute, sleep, repeat, send with a
//! pattern and with pairs, broadcast, scatter, gather, all_to_all, reduce, allreduce): real
//! bytes, in memory inside a pack and through Redis between packs, each chunk checked on
//! receipt. Once with Redis lists with the agents in network namespaces of their own behind a
//! rate-limited link, once with Redis streams on loopback (and as FaaS invocations there). Each
//! worker must have received exactly what the message plan sends it, and nothing may be left:
//! containers, cgroups, bundles and processes (`executor::local::leftovers`), message keys in
//! Redis, network namespaces once the cluster is down. Skipped (counted) when not root or when runc,
//! redis-server or iproute2 are missing.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use executor::comm::{BurstProgram, LiveBackend};
use executor::controller::{Controller, LiveBurst, LiveRun, OnNoCapacity};
use executor::local::{self, NetOptions};
use executor::runtime::RuntimeKind;
use policies::comm::{CommLayout, MessagePlan, Program, StepKind, StepRecord};
use policies::workload::FunctionInput;
use policies::{ActionKind, ActionRef, FunctionRecord, PolicySpec, RecoverySpec};

mod common;
use common::worker;

const PROGRAM: &str = r#"
[[steps]]
kind = "compute"
work = 0.02
[[steps]]
kind = "send"
pattern = "halves"
bytes = 300000
[[steps]]
kind = "send"
pairs = [[3, 0], [1, 2], [0, 1]]
bytes = 250000
[[steps]]
kind = "broadcast"
root = 1
bytes = 300000
[[steps]]
kind = "scatter"
root = 2
bytes_per_worker = 200000
[[steps]]
kind = "gather"
root = 3
bytes_per_worker = 200000
[[steps]]
kind = "all_to_all"
bytes_per_pair = 100000
[[steps]]
kind = "reduce"
root = 0
bytes = 300001
[[steps]]
kind = "repeat"
times = 2
steps = [
  { kind = "allreduce", bytes = 300000 },
  { kind = "sleep", duration = 0.01 },
]
"#;

fn program() -> Program {
    #[derive(serde::Deserialize)]
    struct W {
        steps: Program,
    }
    toml::from_str::<W>(PROGRAM).unwrap().steps
}

struct Cluster {
    dir: tempfile::TempDir,
    cluster: executor::ClusterFile,
    down: bool,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if !self.down {
            let _ = local::down(self.dir.path());
        }
    }
}

/// Two agents of 2 CPUs; `None` (a counted skip) when this machine cannot run them.
fn up(net: NetOptions) -> Option<Cluster> {
    let missing = local::missing_prerequisites_for(RuntimeKind::Runc).or_else(|| {
        net.netns
            .then(executor::netns::missing_prerequisites)
            .flatten()
    });
    if let Some(why) = missing {
        executor::skip::skip_live_test(&why);
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = local::free_port().unwrap();
    let cmd = vec![worker().display().to_string(), "agent".to_string()];
    let (cluster, _) = local::up_with(
        dir.path(),
        (2, 2, port),
        &cmd,
        Some(worker()),
        RuntimeKind::Runc,
        net,
    )
    .expect("cluster up");
    Some(Cluster {
        dir,
        cluster,
        down: false,
    })
}

/// The program on a burst of 4 in containers of `granularity` (0: FaaS, a container per
/// function and every message through the broker).
fn run(c: &Cluster, backend: LiveBackend, granularity: u32) -> executor::controller::RunOutcome {
    let prog = program();
    let burst = LiveBurst {
        burst_id: 0,
        at: 0.0,
        tenant: 0,
        action: ActionRef {
            namespace: "test".into(),
            name: "collectives".into(),
            memory_mb: 256,
            kind: ActionKind::Docker,
        },
        inputs: vec![FunctionInput::Steps; 4],
        comm: Some(Arc::new(BurstProgram {
            draws: prog.burst_draws(5, 0, 4),
            program: prog,
            chunk_size: 100_000,
            backend,
        })),
    };
    let live = LiveRun {
        policy: match granularity {
            0 => PolicySpec::faas(),
            g => PolicySpec::BurstHomogeneous {
                granularity: g,
                join: false,
            },
        },
        recovery: RecoverySpec::None,
        bursts: vec![burst],
        seed: 5,
        on_no_capacity: OnNoCapacity::Queue,
    };
    let mut cluster = c.cluster.clone();
    cluster.run_timeout_s = 60.0;
    let mut controller = Controller::connect(cluster).unwrap();
    controller.run(&live, &AtomicBool::new(false)).unwrap()
}

/// The packs the burst ran in, from its records (container -> its workers, on its invoker).
fn layout_of(records: &[FunctionRecord]) -> CommLayout {
    let mut packs: BTreeMap<u64, (u32, u32, u32)> = BTreeMap::new();
    for r in records {
        let e = packs
            .entry(r.container)
            .or_insert((r.worker_id, 0, r.invoker));
        e.0 = e.0.min(r.worker_id);
        e.1 += 1;
    }
    CommLayout::from_packs(packs.into_values()).unwrap()
}

/// Every worker completed, `packs` packs over both agents, and each executed step of each
/// worker received exactly the bytes the plan sends it (in memory and through the broker).
fn check(out: &executor::controller::RunOutcome, packs: usize, what: &str) {
    for r in &out.records {
        assert!(
            r.is_ok(),
            "{what}: worker {}: {}",
            r.worker_id,
            r.outcome.reason()
        );
    }
    // FaaS: every function its own pack (a warm container may serve two in turn).
    let layout = if what.contains("FaaS") {
        let hosts: Vec<u32> = out.records.iter().map(|r| r.invoker).collect();
        CommLayout::one_worker_per_pack(&hosts)
    } else {
        layout_of(&out.records)
    };
    assert_eq!(layout.packs().len(), packs, "{what}");
    // (FaaS places by the action's home invoker: maybe all on one.)
    if !what.contains("FaaS") {
        assert_ne!(
            layout.host_of(0),
            layout.host_of(3),
            "{what}: packs on one agent"
        );
    }
    let prog = program();
    let leaves = prog.leaves();
    let sequence = prog.sequence();
    assert_eq!(out.steps.len(), 4 * sequence.len(), "{what}");
    let mut per_kind: BTreeMap<StepKind, (u64, u64, u32)> = BTreeMap::new();
    for s in &out.steps {
        let leaf = leaves[sequence[s.step as usize] as usize];
        assert_eq!(Some(s.kind), leaf.kind(), "{what}: step {}", s.step);
        assert!(
            s.t_start <= s.t_sent && s.t_sent <= s.t_end,
            "{what}: {s:?}"
        );
        let (local, remote) = expected_bytes(leaf, &layout, s);
        assert_eq!(
            (s.bytes_local, s.bytes_remote),
            (local, remote),
            "{what}: worker {} step {} ({})",
            s.worker_id,
            s.step,
            s.kind.as_str()
        );
        let k = per_kind.entry(s.kind).or_default();
        (k.0, k.1, k.2) = (k.0 + s.bytes_local, k.1 + s.bytes_remote, k.2 + 1);
    }
    for (kind, (local, remote, rows)) in per_kind {
        println!(
            "{what}: {:<10} {rows} worker-steps ok, {local} B in packs, {remote} B through Redis",
            kind.as_str()
        );
    }
}

fn expected_bytes(leaf: &policies::comm::Step, layout: &CommLayout, s: &StepRecord) -> (u64, u64) {
    let Some(c) = leaf.collective() else {
        return (0, 0);
    };
    let plan = MessagePlan::new(&c, layout, 100_000).unwrap();
    plan.receives_of(s.worker_id)
        .iter()
        .map(|&t| plan.transfers()[t as usize])
        .fold((0, 0), |(l, r), t| {
            if t.is_remote() {
                (l, r + t.bytes)
            } else {
                (l + t.bytes, r)
            }
        })
}

/// Nothing of the cluster is left now, nor (after `down`) its namespaces.
fn assert_nothing_left(mut c: Cluster) {
    let left = local::leftovers_within(&c.cluster, Duration::from_secs(15)).unwrap();
    assert!(left.is_empty(), "left behind: {left}");
    assert_eq!(
        local::leftover_messages(&c.cluster).unwrap(),
        Vec::<String>::new()
    );
    local::down(c.dir.path()).unwrap();
    c.down = true;
    assert_eq!(local::leftover_namespaces(&c.cluster), Vec::<String>::new());
}

#[test]
fn every_collective_through_lists_across_namespaced_agents() {
    let net = NetOptions {
        netns: true,
        link_rate: Some(125e6),
    };
    let Some(c) = up(net) else {
        return;
    };
    assert_eq!(local::leftover_namespaces(&c.cluster).len(), 3);
    let file = std::fs::read_to_string(c.dir.path().join("cluster.toml")).unwrap();
    assert!(
        file.contains("link_rate = 125000000.0") && file.contains("netns = "),
        "{file}"
    );
    let out = run(&c, LiveBackend::List, 2);
    check(&out, 2, "lists, netns");
    // Single-worker packs: a broadcast is stored once and read by three leaders.
    let out = run(&c, LiveBackend::List, 1);
    check(&out, 4, "lists, netns, packs of 1");
    assert_nothing_left(c);
}

#[test]
fn every_collective_through_streams_on_loopback() {
    let Some(c) = up(NetOptions::default()) else {
        return;
    };
    let out = run(&c, LiveBackend::Stream, 2);
    check(&out, 2, "streams, loopback");
    let out = run(&c, LiveBackend::Stream, 1);
    check(&out, 4, "streams, loopback, packs of 1");
    // FaaS: each function its own pack in a container of its own, started one by one.
    let out = run(&c, LiveBackend::Stream, 0);
    check(&out, 4, "streams, loopback, FaaS");
    assert_nothing_left(c);
}
