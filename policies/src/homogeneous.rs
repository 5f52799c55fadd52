//! TODO(policies helper): implement.
pub struct Homogeneous { pub granularity: u32, pub join: bool }
impl crate::PlacementPolicy for Homogeneous {
    fn place(&self, _r: &crate::PlacementRequest, _v: &crate::ClusterView) -> Result<crate::PlacementPlan, crate::PlacementError> { todo!() }
    fn exclusive_cpus(&self) -> bool { todo!() }
}
