//! `burstsim cluster up|down`: a local test cluster (redis-server + agents) on this machine.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use executor::runtime::RuntimeKind;

use crate::Error;

#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    #[command(subcommand)]
    pub action: ClusterAction,
}

#[derive(Debug, Clone, Subcommand)]
pub enum ClusterAction {
    /// Start redis-server and K agents; writes DIR/cluster.toml.
    Up {
        /// Run directory (cluster file, state, logs).
        #[arg(long, default_value = "results/cluster")]
        dir: PathBuf,
        #[arg(long, default_value_t = 2)]
        nodes: u32,
        #[arg(long, default_value_t = 1)]
        cpus_per_node: u32,
        /// Broker port on 127.0.0.1.
        #[arg(long, default_value_t = 6390)]
        port: u16,
        /// What runs the containers: runc, crun or docker (a running Docker engine).
        #[arg(long, default_value = "runc")]
        runtime: String,
    },
    /// Stop the agents (they remove their containers) and redis.
    Down {
        #[arg(long, default_value = "results/cluster")]
        dir: PathBuf,
    },
}

/// `burstsim cluster up|down`. A directory without a cluster (down) or with one already (up)
/// and bad flags exit 2; a machine or service that fails exits 1.
pub fn main(args: &ClusterArgs) -> Result<(), Error> {
    match &args.action {
        ClusterAction::Up {
            dir,
            nodes,
            cpus_per_node,
            port,
            runtime,
        } => up(dir, *nodes, *cpus_per_node, *port, runtime),
        ClusterAction::Down { dir } => {
            executor::local::down(dir)?;
            println!("cluster down: {}", dir.display());
            Ok(())
        }
    }
}

fn up(dir: &Path, nodes: u32, cpus_per_node: u32, port: u16, runtime: &str) -> Result<(), Error> {
    let runtime = match runtime {
        "runc" => RuntimeKind::Runc,
        "crun" => RuntimeKind::Crun,
        "docker" => RuntimeKind::Docker,
        other => {
            return Err(Error::input(format!(
                "--runtime: expected runc, crun or docker, got `{other}`"
            )))
        }
    };
    let exe = std::env::current_exe()
        .map_err(|e| Error::environment(format_args!("locating the burstsim executable: {e}")))?;
    let cmd = vec![exe.display().to_string(), "agent".to_string()];
    let (cluster, state) =
        executor::local::up(dir, nodes, cpus_per_node, port, &cmd, None, runtime)?;
    println!(
        "cluster up: redis pid {} on {}, {} agents (pids {:?}), {} CPUs each, runtime {}",
        state.redis_pid,
        cluster.broker,
        cluster.agents.len(),
        state.agent_pids,
        cpus_per_node,
        format!("{runtime:?}").to_lowercase()
    );
    println!("cluster file: {}", state.cluster_file.display());
    Ok(())
}
