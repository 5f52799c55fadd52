//! The live executor's command-line glue, one module per command, each with its arguments and
//! `main`: `burstsim agent` (`agent`), `burstsim live` (`run`), `burstsim cluster up|down`
//! (`cluster`), `burstsim calibrate` and `burstsim validate`. A live run reads the simulator's
//! config (same policy, workload and bursts, the same per-function inputs for a seed), runs it
//! on the agents of a cluster file through `executor`, and writes the simulator's files.

pub mod agent;
pub mod calibrate;
pub mod calibrate_comm;
pub mod cluster;
pub mod comm_bench;
pub mod run;
pub mod step_compare;
pub mod validate;

use std::path::PathBuf;

use clap::Args;

use crate::args::ConfigArgs;

pub use agent::AgentArgs;
pub use cluster::{ClusterAction, ClusterArgs};
pub use run::LiveArgs;

/// What `burstsim live` and `burstsim validate` run (the config options every run command
/// shares, [`ConfigArgs`]), and the cluster they run it on.
#[derive(Debug, Clone, Args)]
pub struct ScenarioArgs {
    #[command(flatten)]
    pub run: ConfigArgs,
    /// The cluster file (written by `burstsim cluster up` for a local cluster).
    #[arg(long, value_name = "FILE")]
    pub cluster: PathBuf,
}
