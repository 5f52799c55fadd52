//! Anchor workload in DSLab FaaS: one function (one app) at 1,000 invocations/s, Poisson
//! arrivals (seeded), 1 s execution, 0.5 s cold start, keep-alive 600 s reset on use,
//! 200 hosts x 8 cores x 1,024 MB, 128 MB containers (one invocation per container).
//! Usage (see run.sh): dslab-anchor-bench [N=1000000] [seed=1] [ordered|heap]
//! `ordered` (default): requests go through send_requests_from_ordered_iter (what load_trace and
//! examples/faas-benchmark use); `heap`: one send_invocation_request per request (event heap).
//! Modelled on examples/faas-benchmark (ServerlessSimulation + load via ordered request
//! iterator + step_until_no_events, timed with Instant).
use std::time::Instant;

use rand::prelude::*;
use rand_pcg::Pcg64;

use dslab_faas::coldstart::FixedTimeColdStartPolicy;
use dslab_faas::config::Config;
use dslab_faas::cpu::ContendedCpuPolicy;
use dslab_faas::function::Application;
use dslab_faas::resource::{ResourceConsumer, ResourceProvider};
use dslab_faas::simulation::ServerlessSimulation;
use dslab_faas::trace::RequestData;
use simcore::simulation::Simulation;

const RATE: f64 = 1000.0; // invocations per second
const DURATION: f64 = 1.0; // s of execution per invocation
const COLD_START: f64 = 0.5; // s container deployment time
const KEEPALIVE: f64 = 600.0; // s, reset after each invocation
const HOSTS: usize = 200;
const CORES: u32 = 8;
const HOST_MEM: u64 = 1024; // MB
const CONTAINER_MEM: u64 = 128; // MB

/// Poisson arrivals: exponential inter-arrival times from a seeded PCG, generated lazily.
struct PoissonArrivals {
    rng: Pcg64,
    t: f64,
    left: u64,
    func: usize,
}

impl Iterator for PoissonArrivals {
    type Item = RequestData;
    fn next(&mut self) -> Option<RequestData> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let u: f64 = self.rng.gen(); // [0, 1)
        self.t += -(1.0 - u).ln() / RATE;
        Some(RequestData {
            id: self.func,
            duration: DURATION,
            time: self.t,
        })
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: u64 = args.get(1).map(|s| s.replace('_', "").parse().unwrap()).unwrap_or(1_000_000);
    let seed: u64 = args.get(2).map(|s| s.parse().unwrap()).unwrap_or(1);
    let heap = args.get(3).map(|s| s == "heap").unwrap_or(false);

    let t_total = Instant::now();
    let config = Config {
        // "shares" CPU model: fair sharing among running invocations; with cpu_share 1 and at
        // most 8 containers (8 x 128 MB = 1,024 MB) per 8-core host there is never contention,
        // so each invocation runs exactly DURATION.
        cpu_policy: Box::<ContendedCpuPolicy>::default(),
        coldstart_policy: Box::new(FixedTimeColdStartPolicy::new(KEEPALIVE, 0.0, true)),
        ..Default::default()
    };
    let mut sim = ServerlessSimulation::new(Simulation::new(seed), config);
    for _ in 0..HOSTS {
        let mem = sim.create_resource("mem", HOST_MEM);
        sim.add_host(None, ResourceProvider::new(vec![mem]), CORES);
    }
    let mem_req = sim.create_resource_requirement("mem", CONTAINER_MEM);
    // Application::new(concurrent_invocations, container_deployment_time, container_cpu_share, resources)
    let func = sim.add_app_with_single_function(Application::new(
        1,
        COLD_START,
        1.0,
        ResourceConsumer::new(vec![mem_req]),
    ));
    let mut arrivals = PoissonArrivals {
        rng: Pcg64::seed_from_u64(seed),
        t: 0.0,
        left: n,
        func,
    };
    let range = if heap {
        let mut first = None;
        let mut last = 0;
        for req in &mut arrivals {
            last = sim.send_invocation_request(req.id, req.duration, req.time);
            first.get_or_insert(last);
        }
        first.unwrap_or(0)..last + 1
    } else {
        sim.send_requests_from_ordered_iter(&mut arrivals)
    };
    let setup = t_total.elapsed().as_secs_f64();

    let t = Instant::now();
    sim.step_until_no_events();
    let elapsed = t.elapsed().as_secs_f64();

    let stats = sim.invocation_stats();
    let done = stats.abs_total_slowdown.len();
    let last = sim.get_invocation(range.end - 1);
    println!(
        "N = {} requests sent ({} in registry, {}), seed = {}, last arrival at {:.3} s",
        n,
        range.len(),
        if heap { "heap" } else { "ordered" },
        seed,
        last.arrival_time
    );
    println!(
        "invocations started = {}, finished = {}, cold starts = {}, mean response time = {:.6} s, \
         mean cold start latency = {:.6} s, queued = {} (mean queueing {:.6} s)",
        stats.invocations,
        done,
        stats.cold_starts,
        DURATION + stats.abs_total_slowdown.mean(),
        stats.cold_start_latency.mean(),
        stats.queueing_time.len(),
        if stats.queueing_time.is_empty() { 0.0 } else { stats.queueing_time.mean() },
    );
    println!(
        "setup (request generation + enqueue) {:.3} s; simulation {:.3} s for {} events ({:.2} M events/s, {:.3} M invocations/s); total {:.3} s",
        setup,
        elapsed,
        sim.event_count(),
        sim.event_count() as f64 / elapsed / 1e6,
        done as f64 / elapsed / 1e6,
        t_total.elapsed().as_secs_f64()
    );
    assert_eq!(stats.invocations, n, "not all invocations were started");
    assert_eq!(done as u64, n, "not all invocations finished");
}
