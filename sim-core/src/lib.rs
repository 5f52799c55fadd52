//! The simulator: a deterministic discrete-event model of an OpenWhisk-style platform that runs
//! either vanilla FaaS (one activation per function, memory-slot admission, CPU shares) or
//! Burst Computing (one request places N workers in few multi-CPU containers, one exclusive core
//! per worker), plus a serverful baseline (a cluster that boots, then runs the work). A run goes
//! client -> controller (placement policy from `policies`) -> per-invoker queues -> invokers
//! (container pool, engine slots, contention) -> dispatcher (worker spawning) -> CPU model, and
//! yields one [`policies::FunctionRecord`] per function; a `steps` workload also runs its
//! compute steps and collectives over a flow-level network ([`comm`]) and yields one
//! [`policies::comm::StepRecord`] per executed step. Time is integer nanoseconds; every
//! component draws from its own seeded RNG stream, so the same scenario and seed give
//! byte-identical records.
//!
//! Entry points: [`Scenario::load`] (TOML with includes and `--set` overrides, validated; or its
//! two halves [`config::load_config`] and [`Scenario::from_config`]), [`simulate`] (records in a
//! `Vec`) and [`simulate_into`] (records streamed to a [`RecordSink`] as they become final, in
//! function-id order, while the engine's own tables stay at the size of what is in flight).
//! Bursts come lazily from the scenario's arrival processes ([`arrivals`]). Every config key,
//! with its default, is listed in `examples/reference.toml`; `cargo run --release -p sim-core
//! --example simulate -- CONFIG` runs the engine alone.

pub mod arrivals;
pub mod comm;
pub mod config;
pub mod engine;
pub mod event;
pub mod fuzzing;
pub mod idmap;
pub mod metrics;
pub mod rng;
pub mod scenario;
pub mod sink;

mod client;
mod container;
mod controller;
mod cpu;
mod creation;
mod dispatcher;
mod faults;
mod float;
mod invoker;
mod queue;
mod records;
mod serverful;
mod sim;
mod slab;

pub use config::{load_config, Config, ConfigError};
pub use metrics::{Footprint, SimOutput, SimStats};
pub use scenario::Scenario;
pub use sim::RunEnd;
pub use sink::{Collect, RawRecord, RawRecords, RecordSink, SinkError};

/// Runs `scenario` with `seed` (the config's seed is `scenario.seed()`; callers pass it or a
/// `--seed` override) and returns every record in function-id order. Same scenario and seed
/// give identical output.
pub fn simulate(scenario: &Scenario, seed: u64) -> SimOutput {
    let mut all = Collect {
        records: Vec::with_capacity(scenario.functions() as usize),
        steps: Vec::new(),
    };
    let end = simulate_into(scenario, seed, &mut all)
        .unwrap_or_else(|_| unreachable!("memory takes every record"));
    SimOutput {
        records: all.records,
        stats: end.stats,
        steps: all.steps,
        comm: end.comm,
    }
}

/// Runs `scenario` with `seed`, handing each record to `sink` once it is final, in
/// function-id order (the same records [`simulate`] returns), and each step of a `steps`
/// workload as it ends. Stops at the sink's first error.
pub fn simulate_into(
    scenario: &Scenario,
    seed: u64,
    sink: &mut dyn RecordSink,
) -> Result<RunEnd, SinkError> {
    match scenario.mode {
        config::Mode::Openwhisk | config::Mode::Direct => sim::Sim::new(scenario, seed).run(sink),
        config::Mode::Serverful => serverful::simulate(scenario, seed, sink),
    }
}
