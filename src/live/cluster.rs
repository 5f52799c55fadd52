//! `burstsim cluster up|down`: a local test cluster (redis-server + agents) on this machine,
//! optionally with each agent in a network namespace of its own behind a rate-limited link.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use executor::local::NetOptions;
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
    Up(UpArgs),
    /// Stop the agents (they remove their containers) and redis; remove the namespaces.
    Down {
        #[arg(long, default_value = "results/cluster")]
        dir: PathBuf,
    },
}

/// `burstsim cluster up`'s arguments.
#[derive(Debug, Clone, Args)]
pub struct UpArgs {
    /// Run directory (cluster file, state, logs).
    #[arg(long, default_value = "results/cluster")]
    pub dir: PathBuf,
    #[arg(long, default_value_t = 2)]
    pub nodes: u32,
    #[arg(long, default_value_t = 1)]
    pub cpus_per_node: u32,
    /// Broker port (on 127.0.0.1, or on the broker namespace's bridge with --netns).
    #[arg(long, default_value_t = 6390)]
    pub port: u16,
    /// What runs the containers: runc, crun or docker (a running Docker engine).
    #[arg(long, default_value = "runc")]
    pub runtime: String,
    /// Each agent in a network namespace of its own, linked to the broker's namespace by a
    /// veth pair on a private /24 (runc and crun; the controller reaches redis by its unix
    /// socket).
    #[arg(long)]
    pub netns: bool,
    /// Rate of each agent's link, per direction (`tc` token bucket), e.g. 1gbit, 500mbit or
    /// "125 MB/s"; implies --netns. Recorded in the cluster file for `validate`.
    #[arg(long, value_name = "RATE")]
    pub link_rate: Option<String>,
}

/// `burstsim cluster up|down`. A directory without a cluster (down) or with one already (up)
/// and bad flags exit 2; a machine or service that fails exits 1.
pub fn main(args: &ClusterArgs) -> Result<(), Error> {
    match &args.action {
        ClusterAction::Up(up_args) => up(up_args),
        ClusterAction::Down { dir } => {
            executor::local::down(dir)?;
            println!("cluster down: {}", dir.display());
            Ok(())
        }
    }
}

fn runtime_kind(runtime: &str) -> Result<RuntimeKind, Error> {
    Ok(match runtime {
        "runc" => RuntimeKind::Runc,
        "crun" => RuntimeKind::Crun,
        "docker" => RuntimeKind::Docker,
        other => {
            return Err(Error::input(format!(
                "--runtime: expected runc, crun or docker, got `{other}`"
            )))
        }
    })
}

fn up(a: &UpArgs) -> Result<(), Error> {
    let runtime = runtime_kind(&a.runtime)?;
    let link_rate = a
        .link_rate
        .as_deref()
        .map(executor::netns::parse_link_rate)
        .transpose()?;
    let net = NetOptions {
        netns: a.netns || link_rate.is_some(),
        link_rate,
    };
    let exe = std::env::current_exe()
        .map_err(|e| Error::environment(format_args!("locating the burstsim executable: {e}")))?;
    let cmd = vec![exe.display().to_string(), "agent".to_string()];
    let shape = (a.nodes, a.cpus_per_node, a.port);
    let (cluster, state) = executor::local::up_with(&a.dir, shape, &cmd, None, runtime, net)?;
    println!(
        "cluster up: redis pid {} on {}, {} agents (pids {:?}), {} CPUs each, runtime {}",
        state.redis_pid,
        cluster.broker,
        cluster.agents.len(),
        state.agent_pids,
        a.cpus_per_node,
        format!("{runtime:?}").to_lowercase()
    );
    if net.netns {
        let rate = link_rate
            .map(|r| {
                format!(
                    "links of {:.1} MB/s ({:.0} Mbit/s) per direction",
                    r / 1e6,
                    r * 8e-6
                )
            })
            .unwrap_or_else(|| "links not limited".into());
        println!(
            "network namespaces: {} (agents {}), {rate}",
            state.netns.join(", "),
            cluster
                .agents
                .iter()
                .map(|a| a.address.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    println!("cluster file: {}", state.cluster_file.display());
    Ok(())
}
