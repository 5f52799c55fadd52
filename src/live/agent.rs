//! `burstsim agent --cluster FILE --id N`: one node's agent (the invoker), until SIGINT,
//! SIGTERM or SIGHUP.

use std::path::PathBuf;

use clap::Args;
use executor::ClusterFile;

use crate::Error;

#[derive(Debug, Clone, Args)]
pub struct AgentArgs {
    /// The cluster file (broker URL, runtime, agents).
    #[arg(long, value_name = "FILE")]
    pub cluster: PathBuf,
    /// This agent's id (its index in the cluster file's `[[agents]]`).
    #[arg(long)]
    pub id: u32,
}

/// `burstsim agent`.
pub fn main(args: &AgentArgs) -> Result<(), Error> {
    let cluster = ClusterFile::load(&args.cluster)?;
    if args.id as usize >= cluster.agents.len() {
        return Err(Error::input(format!(
            "--id {}: the cluster file {} has agents 0..{}",
            args.id,
            args.cluster.display(),
            cluster.agents.len()
        )));
    }
    executor::agent::run(cluster, args.id, executor::signals::stop_flag())?;
    Ok(())
}
