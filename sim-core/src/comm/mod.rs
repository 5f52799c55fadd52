//! Group communication in the simulator: the flow-level network ([`network`]) and the
//! execution of step programs (compute, sleep, collectives) by the workers of a run.

pub mod network;
pub(crate) mod run;

pub use run::CommStats;
