//! The live executor's command-line glue: `burstsim agent`, `burstsim live`, `burstsim cluster
//! up|down`, `burstsim calibrate` and `burstsim validate`. A live run reads the simulator's
//! config (same policy, workload and bursts, the same per-function inputs for a seed), runs it
//! on the agents of a cluster file through `executor`, and writes the simulator's files.

pub mod calibrate;
pub mod validate;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::{Args, Subcommand};
use executor::controller::{Controller, LiveBurst, LiveRun, RunOutcome};
use executor::ClusterFile;
use sim_core::config::{load_config, Mode};
use sim_core::Scenario;

use crate::report::{self, summary_table, RunReport, Summary};
use crate::Error;

/// `burstsim agent --cluster FILE --id N`: one node's agent (the invoker).
#[derive(Debug, Clone, Args)]
pub struct AgentArgs {
    /// The cluster file (broker URL, runtime, agents).
    #[arg(long, value_name = "FILE")]
    pub cluster: PathBuf,
    /// This agent's id (its index in the cluster file's `[[agents]]`).
    #[arg(long)]
    pub id: u32,
}

/// `burstsim live --config FILE --cluster FILE`: run a config for real.
#[derive(Debug, Clone, Args)]
pub struct LiveArgs {
    /// The scenario config (TOML), as for `burstsim run`.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// The cluster file (written by `burstsim cluster up` for a local cluster).
    #[arg(long, value_name = "FILE")]
    pub cluster: PathBuf,
    /// Output folder (default: results/<config name>-live/).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Seed (overrides the config's): picks the functions' inputs, as in the simulator.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Override a config value: `--set key.path=value`, repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
}

/// `burstsim cluster up|down`: a local test cluster (redis + agents) on this machine.
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

fn input_err(e: anyhow::Error) -> Error {
    Error::Input(format!("{e:#}"))
}

/// Loads a cluster file; a bad file is the user's mistake.
pub fn load_cluster(path: &Path) -> Result<ClusterFile, Error> {
    ClusterFile::load(path).map_err(input_err)
}

/// `burstsim agent`.
pub fn agent_main(args: &AgentArgs) -> Result<(), Error> {
    let cluster = load_cluster(&args.cluster)?;
    if args.id as usize >= cluster.agents.len() {
        return Err(Error::input(format!(
            "--id {}: the cluster file {} has agents 0..{}",
            args.id,
            args.cluster.display(),
            cluster.agents.len()
        )));
    }
    executor::agent::run(cluster, args.id, executor::agent::stop_on_signals())?;
    Ok(())
}

/// `burstsim cluster up|down`.
pub fn cluster_main(args: &ClusterArgs) -> Result<(), Error> {
    match &args.action {
        ClusterAction::Up {
            dir,
            nodes,
            cpus_per_node,
            port,
            runtime,
        } => {
            let runtime = match runtime.as_str() {
                "runc" => executor::runtime::RuntimeKind::Runc,
                "crun" => executor::runtime::RuntimeKind::Crun,
                "docker" => executor::runtime::RuntimeKind::Docker,
                other => {
                    return Err(Error::input(format!(
                        "--runtime: expected runc, crun or docker, got `{other}`"
                    )))
                }
            };
            if let Some(why) = executor::local::missing_prerequisites_for(runtime) {
                return Err(Error::Other(anyhow::anyhow!(
                    "cannot start a local cluster: {why}"
                )));
            }
            let exe = std::env::current_exe().map_err(anyhow::Error::from)?;
            let cmd = vec![exe.display().to_string(), "agent".to_string()];
            let (cluster, state) =
                executor::local::up(dir, *nodes, *cpus_per_node, *port, &cmd, None, runtime)?;
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
        ClusterAction::Down { dir } => {
            executor::local::down(dir).map_err(input_err)?;
            println!("cluster down: {}", dir.display());
            Ok(())
        }
    }
}

/// The live run of `sc` with `seed`: the same bursts and the same per-function inputs as the
/// simulator draws (`workload` stream of burst b).
pub fn live_run_from(sc: &Scenario, seed: u64) -> Result<LiveRun, Error> {
    if sc.mode != Mode::Openwhisk {
        return Err(Error::input(
            "field `mode`: only `openwhisk` configs run live (serverful is a model only)",
        ));
    }
    let bursts = sc
        .arrivals(seed)
        .map(|burst| LiveBurst {
            burst_id: burst.id,
            at: burst.at_ns as f64 * 1e-9,
            tenant: burst.tenant,
            action: sc.actions[burst.action as usize].clone(),
            inputs: sc.function_inputs(seed, &burst).collect(),
        })
        .collect();
    Ok(LiveRun {
        policy: sc.policy.clone(),
        bursts,
        seed,
        on_no_capacity: sc.controller.on_no_capacity,
    })
}

/// The Ctrl-C flag of this process (set once; later calls share it).
pub fn interrupt_flag() -> Arc<AtomicBool> {
    static FLAG: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        if let Err(e) = ctrlc::set_handler(move || f.store(true, Ordering::SeqCst)) {
            eprintln!("warning: cannot catch Ctrl-C: {e}");
        }
        flag
    })
    .clone()
}

/// Runs `sc` live on `cluster` and returns the outcome.
pub fn run_live(sc: &Scenario, seed: u64, cluster: &ClusterFile) -> Result<RunOutcome, Error> {
    let run = live_run_from(sc, seed)?;
    let mut controller = Controller::connect(cluster.clone())?;
    let stop = interrupt_flag();
    let out = controller.run(&run, &stop)?;
    Ok(out)
}

/// The report of a live run: the simulator's files, plus the live figures in summary.json.
pub fn live_report(
    name: &str,
    label: &str,
    seed: u64,
    cluster: &ClusterFile,
    out: RunOutcome,
) -> RunReport {
    let summary = Summary::from_records(&out.records);
    let max_submit = out.submit_seconds.iter().map(|s| s.1).fold(0.0, f64::max);
    let extra = serde_json::json!({
        "seed": seed,
        "live": {
            "run_id": out.run_id,
            "cluster": cluster.name,
            "broker": cluster.broker,
            "runtime": cluster.runtime,
            "agents": cluster.agents.len(),
            "cpus": cluster.total_cpus(),
            "physical_cores": executor::cluster::physical_cores(),
            "requests": out.submit_seconds.len(),
            "max_plan_submit_s": max_submit,
            "cancelled": out.cancelled,
        }
    });
    RunReport {
        name: name.to_string(),
        label: format!("{label} (live)"),
        records: out.records,
        summary,
        extra: Some(extra),
    }
}

/// `burstsim live`.
pub fn live_main(args: &LiveArgs) -> Result<(), Error> {
    let config = load_config(&args.config, &args.sets)?;
    let sc = Scenario::from_config(&config, &args.config)?;
    let cluster = load_cluster(&args.cluster)?;
    let seed = args.seed.unwrap_or(sc.seed());
    let config_cpus: Vec<u32> = sc.invokers.iter().map(|i| i.cpus).collect();
    let live_cpus: Vec<u32> = cluster.agents.iter().map(|a| a.cpus).collect();
    if config_cpus != live_cpus {
        println!(
            "note: the config's invokers have CPUs {config_cpus:?}; the live cluster's have              {live_cpus:?}: the run uses the live cluster"
        );
    }
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| crate::run::default_out_dir(&format!("{}-live", sc.name())));
    println!(
        "{}: {} live on {} agents ({} CPUs), seed {seed}",
        sc.name(),
        sc.label(),
        cluster.agents.len(),
        cluster.total_cpus()
    );
    let out = run_live(&sc, seed, &cluster)?;
    let cancelled = out.cancelled;
    let traces = out.traces.clone();
    let run = live_report(sc.name(), &sc.label(), seed, &cluster, out);
    print!("{}", summary_table(&[(run.name.as_str(), &run.summary)]));
    report::write_run(&dir, &run)?;
    write_traces(&dir, &traces)?;
    println!("wrote {}", report::describe_outputs(&dir));
    if cancelled {
        return Err(Error::Other(anyhow::anyhow!(
            "run interrupted: unfinished functions are recorded as failed (reason \"run cancelled\")"
        )));
    }
    Ok(())
}

/// live_workers.json: what each worker saw from inside (its CPU set) and returned.
pub fn write_traces(dir: &Path, traces: &[executor::controller::WorkerTrace]) -> Result<(), Error> {
    let path = dir.join("live_workers.json");
    let text = serde_json::to_string_pretty(traces).map_err(anyhow::Error::from)?;
    std::fs::write(&path, text + "\n").map_err(|e| Error::io(&path, e))
}
