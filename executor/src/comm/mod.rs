//! Group communication in live runs: the workers of a `steps` burst run its program (compute,
//! sleep, send/recv and the collectives) by executing, step by step, the same
//! [`policies::comm::MessagePlan`] the simulator prices: one definition of what a collective
//! does.
//!
//! - [`pack`]: a container's workers run as threads of its dispatcher, one per CPU, each pinned
//!   to its own CPU (Linux affinity is per thread, and each worker reports the CPU set it sees),
//!   as the middleware runs a pack in one process: messages inside the pack go through in-process
//!   channels by reference (an `Arc` of the payload), never serialised or copied.
//! - [`remote`]: messages between packs go through the cluster's Redis broker (lists or streams,
//!   as the simulator's `redis-list` / `redis-stream` profiles), in chunks of the config's
//!   `network.chunk_size`, [`wire`] frames with a CRC-32 the receiver checks.
//! - [`content`]: the bytes are deterministic pseudo-random streams; a reduce really adds the
//!   partial results, and its root checks the sum.

pub mod content;
pub mod pack;
pub mod remote;
pub mod wire;

use policies::comm::Program;
use serde::{Deserialize, Serialize};

pub use remote::LiveBackend;
pub use wire::Keys;

/// What the dispatcher of a `steps` container needs besides its layout: the program, its
/// workers' drawn compute and sleep times, and how to reach the other packs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommJob {
    /// The burst's program (every worker runs it).
    pub program: Program,
    /// Seconds of each compute and sleep step, in executed order, for each worker of the
    /// container (`draws[i]` for worker `first_worker + i`), drawn as the simulator draws them.
    pub draws: Vec<Vec<f64>>,
    /// Remote messages are cut into chunks of this many bytes (0: whole messages).
    pub chunk_size: u64,
    /// Lists or streams.
    pub backend: LiveBackend,
    /// Redis URL the workers connect to (the agents' broker URL).
    pub broker: String,
    /// Prefix of the burst's message keys ([`Keys::prefix`]).
    pub keys: String,
    /// Seed of the message contents.
    pub seed: u64,
    /// No wait for a message lasts longer than this many seconds; keys expire after it.
    pub timeout_s: f64,
    /// FaaS: the burst has this many functions, each its own pack (all their messages go
    /// through the broker), whatever containers ran them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faas_workers: Option<u32>,
}

/// The step program and draws of a whole burst, for the controller to cut per container.
#[derive(Debug, Clone, PartialEq)]
pub struct BurstProgram {
    pub program: Program,
    /// Per worker of the burst, in worker order.
    pub draws: Vec<Vec<f64>>,
    pub chunk_size: u64,
    pub backend: LiveBackend,
}
