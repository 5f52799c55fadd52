//! The live executor's command-line glue, one module per command, each with its arguments and
//! `main`: `burstsim agent` (`agent`), `burstsim live` (`run`), `burstsim cluster up|down`
//! (`cluster`), `burstsim calibrate` and `burstsim validate`. A live run reads the simulator's
//! config (same policy, workload and bursts, the same per-function inputs for a seed), runs it
//! on the agents of a cluster file through `executor`, and writes the simulator's files.

pub mod agent;
pub mod calibrate;
pub mod cluster;
pub mod run;
pub mod validate;

use std::path::PathBuf;

use clap::Args;

pub use agent::AgentArgs;
pub use cluster::{ClusterAction, ClusterArgs};
pub use run::LiveArgs;

/// What `burstsim live` and `burstsim validate` run, where, and where the outputs go.
#[derive(Debug, Clone, Args)]
pub struct ScenarioArgs {
    /// The scenario config (TOML), as for `burstsim run` (include a calibrated profile in it).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// The cluster file (written by `burstsim cluster up` for a local cluster).
    #[arg(long, value_name = "FILE")]
    pub cluster: PathBuf,
    /// Output folder (default: results/<config name>-live/, or -validate/).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Seed (overrides the config's): picks the functions' inputs, as in the simulator.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Override a config value: `--set key.path=value`, repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
}
