//! Placement policies for FaaS and Burst Computing, and the vocabulary that the simulator
//! (`sim-core`) and the live executor (`executor`) share: the controller's view of the cluster,
//! a placement request and its plan, the burst layout handed to workers, workload and
//! distribution specs, the recovery policies applied when functions fail, the per-function
//! record (one per attempt) that both sides produce, and group communication (collectives,
//! message plans, step programs: [`comm`]). Everything here is
//! pure: no I/O, no clock, no global state; randomness, where needed, comes from the caller's RNG
//! or from a hash of the request, so a plan is a deterministic function of its inputs.

#![deny(missing_docs)]

pub mod burst_info;
pub mod cluster;
pub mod comm;
pub mod dist;
pub mod field_error;
pub mod plan;
pub mod policy;
pub mod record;
pub mod recovery;
pub mod request;
pub mod rng;
pub mod spec;
pub mod workload;

pub mod best_fit;
mod burst_common;
pub mod faas;
pub mod heterogeneous;
pub mod homogeneous;
pub mod round_robin;

pub use burst_info::{BurstInfo, WorkerInfo};
pub use cluster::{ClusterView, InvokerView};
pub use dist::{Distribution, Sampler};
pub use field_error::FieldError;
pub use plan::{ContainerPlacement, PlacementError, PlacementPlan};
pub use policy::PlacementPolicy;
pub use record::{first_submission, start_latencies, FunctionRecord, Outcome, Status};
pub use recovery::{Recovery, RecoveryPolicy, RecoverySpec, RerunScope};
pub use request::{ActionKind, ActionRef, OnNoCapacity, PlacementRequest};
pub use spec::PolicySpec;
pub use workload::Workload;
