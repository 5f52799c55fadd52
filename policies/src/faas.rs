//! TODO(policies helper): implement.
pub struct ShardingBalancer;
impl crate::PlacementPolicy for ShardingBalancer {
    fn place(&self, _r: &crate::PlacementRequest, _v: &crate::ClusterView) -> Result<crate::PlacementPlan, crate::PlacementError> { todo!() }
    fn exclusive_cpus(&self) -> bool { todo!() }
}
