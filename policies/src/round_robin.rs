//! TODO(policies helper): implement.
pub struct RoundRobin { pub granularity: u32 }
impl crate::PlacementPolicy for RoundRobin {
    fn place(&self, _r: &crate::PlacementRequest, _v: &crate::ClusterView) -> Result<crate::PlacementPlan, crate::PlacementError> { todo!() }
    fn exclusive_cpus(&self) -> bool { todo!() }
}
