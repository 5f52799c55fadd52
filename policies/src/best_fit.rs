//! TODO(policies helper): implement.
pub struct BestFit;
impl crate::PlacementPolicy for BestFit {
    fn place(&self, _r: &crate::PlacementRequest, _v: &crate::ClusterView) -> Result<crate::PlacementPlan, crate::PlacementError> { todo!() }
    fn exclusive_cpus(&self) -> bool { todo!() }
}
