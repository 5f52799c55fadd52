//! The live executor: runs the simulator's experiments for real, with the same placement
//! policies. A controller asks `policies` for a plan from the free CPUs that agents report in
//! heartbeats and sends one message per container (bursts) or per invocation (FaaS) through a
//! Redis broker; each agent (the invoker of one node) creates containers (OCI bundles run by
//! runc or crun, or Docker through its Engine API), whose in-container dispatcher starts one
//! worker process per CPU, pinned to that CPU, runs the function and records CLOCK_REALTIME
//! timestamps. Results come back as the simulator's
//! `FunctionRecord`s, one per attempt of a function. Failures (a lost agent, a crashed or
//! OOM-killed worker, a failed container, a straggler) go to the same recovery policies as in
//! the simulator (`policies::recovery`); broker restarts and killed controllers or agents leave
//! nothing behind (`agent`, `reaper`, `controller`). Errors are typed (`Error`) and say whether
//! the user or the environment is at fault. This crate never depends on the simulator: the root
//! crate glues both.

pub mod agent;
pub mod backend;
pub mod bundle;
pub mod clock;
pub mod cluster;
pub mod comm;
pub mod controller;
pub mod dispatcher;
pub mod docker;
pub mod error;
pub mod function;
pub mod local;
pub mod netns;
pub mod payload;
pub mod protocol;
pub mod reaper;
pub mod runtime;
pub mod signals;
pub mod skip;
pub mod transport;

pub use cluster::{AgentSpec, ClusterFile};
pub use controller::{Controller, LiveBurst, LiveRun, OnNoCapacity, RunOutcome};
pub use error::{Error, Fault, Result};
