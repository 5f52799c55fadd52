//! Serverful baseline: a cluster of `nodes` VMs with `cpus_per_node` cores boots (one `startup`
//! draw, from the first arrival), then runs the functions FIFO in arrival order, each on the core
//! that frees first (ties: lowest node, then core). No client, controller or containers: the
//! cluster is already provisioned, so every function counts as cold and its "container" is its node.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use policies::FunctionRecord;

use crate::metrics::SimStats;
use crate::rng;
use crate::scenario::Scenario;
use crate::sim::RunEnd;
use crate::sink::{RecordSink, SinkError};

pub(crate) fn simulate(
    sc: &Scenario,
    seed: u64,
    sink: &mut dyn RecordSink,
) -> Result<RunEnd, SinkError> {
    let mut startup_rng = rng::stream(seed, "serverful", 0);
    let mut arrivals = sc.run_arrivals(seed).peekable();
    let t0 = match arrivals.peek() {
        Some(Ok(b)) => b.at_ns,
        _ => 0,
    };
    let boot_end = t0 + sc.serverful.startup.sample_ns(&mut startup_rng);
    let secs = |t: u64| (t - t0) as f64 / 1e9;
    let mut cores: BinaryHeap<Reverse<(u64, u32, u32)>> = (0..sc.serverful.nodes)
        .flat_map(|n| (0..sc.serverful.cpus_per_node).map(move |c| Reverse((boot_end, n, c))))
        .collect();
    let mut last = boot_end;
    let (mut bursts, mut functions) = (0u64, 0u64);
    let mut used = vec![false; sc.serverful.nodes as usize];
    let mut arrival_error = None;
    for item in arrivals {
        let burst = match item {
            Ok(burst) => burst,
            Err(e) => {
                arrival_error = Some(e.to_string());
                break;
            }
        };
        bursts += 1;
        functions += burst.workers as u64;
        for (k, work) in (0..burst.workers).zip(sc.work_ns(seed, burst.id, &burst)) {
            let fid = burst.first_function + k as u64;
            let Reverse((free, node, core)) = cores.pop().expect("at least one core");
            let start = free.max(burst.at_ns);
            let end = start + work;
            cores.push(Reverse((end, node, core)));
            last = last.max(end);
            let mut rec = FunctionRecord::pending(fid, burst.id, burst.tenant, k);
            used[node as usize] = true;
            rec.invoker = node;
            rec.container = node as u64;
            rec.cpu = Some(core);
            rec.cold = true;
            rec.t_submit = secs(burst.at_ns);
            rec.t_dispatch = secs(burst.at_ns);
            rec.t_container_ready = secs(boot_end);
            rec.t_start = secs(start);
            rec.t_end = secs(end);
            sink.record(rec)?;
        }
    }
    let stats = SimStats {
        // One boot, then a start and an end per function.
        events: 1 + 2 * functions,
        peak_event_queue: cores.len(),
        containers_created: sc.serverful.nodes as u64,
        cold_starts: sc.serverful.nodes as u64,
        requests: bursts,
        end_time_s: secs(last),
        arrival_error,
        ..SimStats::default()
    };
    // Each node that ran something is its container, used to the end.
    for (node, used) in used.iter().enumerate() {
        if *used {
            sink.container_closed(node as u64)?;
        }
    }
    Ok(RunEnd { stats, comm: None })
}
