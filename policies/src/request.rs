//! What the controller asks a policy to place.

use serde::{Deserialize, Serialize};

/// The action (function code) being invoked; OpenWhisk hashes namespace and name to pick a home invoker.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ActionRef {
    /// OpenWhisk namespace (the simulator uses `tenant<N>`).
    pub namespace: String,
    /// Action name within the namespace.
    pub name: String,
    /// Memory limit of one function instance, in MB.
    pub memory_mb: u64,
    /// How OpenWhisk runs it: which invokers the FaaS balancer may use, whether prewarmed
    /// containers can serve it.
    #[serde(default)]
    pub kind: ActionKind,
}

/// How OpenWhisk runs an action. The FaaS balancer gives blackbox (Docker) actions and managed
/// ones separate invokers (`ShardingContainerPoolBalancer`: `exec.pull` selects the blackbox
/// set), and prewarmed containers exist only for managed runtime kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    /// A Docker image run as an OpenWhisk `blackbox` action: how Lithops deploys its runtime
    /// (`kind: blackbox` with the runtime's image), so the default here.
    #[default]
    Docker,
    /// A runtime kind OpenWhisk manages (`python:3`, `nodejs:20`, ...).
    Managed,
}

impl ActionKind {
    /// The name used in configs (`docker`, `managed`).
    pub fn as_str(&self) -> &'static str {
        match self {
            ActionKind::Docker => "docker",
            ActionKind::Managed => "managed",
        }
    }
}

/// A request to place `workers` functions of one action. A burst has `workers >= 1`; a vanilla
/// FaaS invocation is a request with `workers == 1` and its own `request_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacementRequest {
    /// Unique per request within a run; policies may hash it for deterministic tie-breaks.
    pub request_id: u64,
    /// The action invoked.
    pub action: ActionRef,
    /// Number of workers (functions) to place; worker ids are `0..workers`.
    pub workers: u32,
}

impl PlacementRequest {
    /// The request id of a whole burst: its index in the run. The simulator and the live
    /// controller both use it, so policies that hash it (round-robin start, FaaS overload)
    /// place the same burst the same way on both sides. A retry of the burst keeps its id.
    pub fn burst_request_id(burst: u64) -> u64 {
        burst
    }

    /// The request id of one FaaS invocation: its function id (unique within the run). A
    /// retry of the invocation keeps its id.
    pub fn invocation_request_id(function_id: u64) -> u64 {
        function_id
    }
}

/// What the controller does with a burst that does not fit in the free capacity now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnNoCapacity {
    /// FIFO of waiting bursts, retried when capacity comes back (heartbeats).
    #[default]
    Queue,
    /// Every function of the burst is recorded as rejected.
    Reject,
}
