//! TODO(policies helper): implement.
pub struct Heterogeneous { pub join: bool }
impl crate::PlacementPolicy for Heterogeneous {
    fn place(&self, _r: &crate::PlacementRequest, _v: &crate::ClusterView) -> Result<crate::PlacementPlan, crate::PlacementError> { todo!() }
    fn exclusive_cpus(&self) -> bool { todo!() }
}
