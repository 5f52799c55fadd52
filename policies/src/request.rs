//! What the controller asks a policy to place.

use serde::{Deserialize, Serialize};

/// The action (function code) being invoked; OpenWhisk hashes namespace and name to pick a home invoker.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ActionRef {
    pub namespace: String,
    pub name: String,
    /// Memory limit of one function instance, in MB.
    pub memory_mb: u64,
}

/// A request to place `workers` functions of one action. A burst has `workers >= 1`; a vanilla
/// FaaS invocation is a request with `workers == 1` and its own `request_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacementRequest {
    /// Unique per request within a run; policies may hash it for deterministic tie-breaks.
    pub request_id: u64,
    pub action: ActionRef,
    /// Number of workers (functions) to place; worker ids are `0..workers`.
    pub workers: u32,
}
