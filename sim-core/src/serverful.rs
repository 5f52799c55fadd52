//! Serverful baseline: a cluster of `nodes` VMs with `cpus_per_node` cores boots (one `startup`
//! draw, from the first arrival), then runs the functions FIFO in arrival order, each on the core
//! that frees first (ties: lowest node, then core). No client, controller or containers: the
//! cluster is already provisioned, so every function counts as cold and its "container" is its node.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use policies::FunctionRecord;

use crate::metrics::{SimOutput, SimStats};
use crate::rng;
use crate::scenario::Scenario;

pub(crate) fn simulate(sc: &Scenario, seed: u64) -> SimOutput {
    let mut startup_rng = rng::stream(seed, "serverful", 0);
    let run = sc.run_bursts(seed);
    let t0 = run.bursts.first().map(|b| b.at_ns).unwrap_or(0);
    let boot_end = t0 + sc.serverful.startup.sample_ns(&mut startup_rng);
    let secs = |t: u64| (t - t0) as f64 / 1e9;
    let mut cores: BinaryHeap<Reverse<(u64, u32, u32)>> = (0..sc.serverful.nodes)
        .flat_map(|n| (0..sc.serverful.cpus_per_node).map(move |c| Reverse((boot_end, n, c))))
        .collect();
    let mut records = Vec::with_capacity(run.functions as usize);
    let mut last = boot_end;
    for (b, burst) in run.bursts.iter().enumerate() {
        for (k, work) in (0..burst.workers).zip(sc.work_ns(seed, b as u64, burst)) {
            let fid = burst.first_function + k as u64;
            let Reverse((free, node, core)) = cores.pop().expect("at least one core");
            let start = free.max(burst.at_ns);
            let end = start + work;
            cores.push(Reverse((end, node, core)));
            last = last.max(end);
            let mut rec = FunctionRecord::pending(fid, b as u64, burst.tenant, k);
            rec.invoker = node;
            rec.container = node as u64;
            rec.cpu = Some(core);
            rec.cold = true;
            rec.t_submit = secs(burst.at_ns);
            rec.t_dispatch = secs(burst.at_ns);
            rec.t_container_ready = secs(boot_end);
            rec.t_start = secs(start);
            rec.t_end = secs(end);
            records.push(rec);
        }
    }
    let stats = SimStats {
        // One boot, then a start and an end per function.
        events: 1 + 2 * run.functions,
        peak_event_queue: cores.len(),
        containers_created: sc.serverful.nodes as u64,
        cold_starts: sc.serverful.nodes as u64,
        requests: run.bursts.len() as u64,
        end_time_s: secs(last),
        arrival_error: run.error.map(|e| e.to_string()),
        ..SimStats::default()
    };
    SimOutput {
        records,
        stats,
        steps: Vec::new(),
        comm: None,
    }
}
