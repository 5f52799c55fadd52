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
//! two halves [`config::load_config`] and [`Scenario::from_config`]), and [`simulate`]. Every config key, with
//! its default, is listed in `examples/reference.toml`; `cargo run --release -p sim-core
//! --example simulate -- CONFIG` runs the engine alone.

pub mod arrivals;
pub mod comm;
pub mod config;
pub mod engine;
pub mod event;
pub mod fuzzing;
pub mod metrics;
pub mod rng;
pub mod scenario;

mod client;
mod container;
mod controller;
mod cpu;
mod creation;
mod dispatcher;
mod invoker;
mod queue;
mod serverful;
mod sim;

pub use config::{load_config, Config, ConfigError};
pub use metrics::{SimOutput, SimStats};
pub use scenario::Scenario;

/// Runs `scenario` with `seed` (the config's seed is `scenario.seed()`; callers pass it or a
/// `--seed` override). Same scenario and seed give identical output.
pub fn simulate(scenario: &Scenario, seed: u64) -> SimOutput {
    match scenario.mode {
        config::Mode::Openwhisk | config::Mode::Direct => sim::Sim::new(scenario, seed).run(),
        config::Mode::Serverful => serverful::simulate(scenario, seed),
    }
}
