//! The placement policy trait.

use crate::{ClusterView, PlacementError, PlacementPlan, PlacementRequest};

/// A placement policy: a pure function of the request and the controller's view of the cluster.
/// It reserves nothing; the caller applies the plan to its own bookkeeping.
pub trait PlacementPolicy: Send + Sync {
    /// Place every worker of `request` or say why it cannot be placed now.
    fn place(
        &self,
        request: &PlacementRequest,
        view: &ClusterView,
    ) -> Result<PlacementPlan, PlacementError>;

    /// True for burst policies, which need one free exclusive CPU per worker; false for FaaS
    /// placement, which admits by memory slots and may overload an invoker.
    fn exclusive_cpus(&self) -> bool;
}
