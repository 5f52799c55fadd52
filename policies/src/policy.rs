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

    /// [`PlacementPolicy::place`] for a caller that keeps one view up to date and says what
    /// changed: `changed` names (by id, repeats allowed) every invoker whose entry may differ
    /// from the `view` of this policy's previous `place_tracked` call (on the first call it
    /// may be empty). Same result as `place(request, view)`; a policy may use the changes to
    /// keep an index over the view instead of reading all of it (the sharding balancer does).
    /// A caller that cannot name the changes calls `place`.
    fn place_tracked(
        &self,
        request: &PlacementRequest,
        view: &ClusterView,
        changed: &[u32],
    ) -> Result<PlacementPlan, PlacementError> {
        let _ = changed;
        self.place(request, view)
    }

    /// [`PlacementPolicy::place_tracked`] into the caller's `plan` (its containers and flag
    /// are replaced; on an error it is left empty), so that a caller placing request after
    /// request reuses one allocation. Same result as `place_tracked`. Takes `&mut self`, so a
    /// policy needs no lock for the state it keeps between calls.
    fn place_tracked_into(
        &mut self,
        request: &PlacementRequest,
        view: &ClusterView,
        changed: &[u32],
        plan: &mut PlacementPlan,
    ) -> Result<(), PlacementError> {
        match self.place_tracked(request, view, changed) {
            Ok(placed) => {
                *plan = placed;
                Ok(())
            }
            Err(e) => {
                plan.containers.clear();
                plan.overloaded = false;
                Err(e)
            }
        }
    }

    /// True for burst policies, which need one free exclusive CPU per worker; false for FaaS
    /// placement, which admits by memory slots and may overload an invoker.
    fn exclusive_cpus(&self) -> bool;
}
