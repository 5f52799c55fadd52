//! The `burstsim` command: a thin dispatcher. Each subcommand's arguments and code live in its
//! module; adding one = one `Command` variant + one match arm.

use std::process::ExitCode;

use burstsim::args::ConfigArgs;
use burstsim::{compare, run, Error};
use clap::{CommandFactory, Parser, Subcommand};

/// Simulate Burst Computing vs FaaS on an OpenWhisk-style platform.
///
/// Without a subcommand, `burstsim --config FILE` runs one simulation (same as `burstsim run`).
#[derive(Parser)]
#[command(
    name = "burstsim",
    version,
    args_conflicts_with_subcommands = true,
    arg_required_else_help = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: Option<ConfigArgs>,
}

#[derive(Subcommand)]
enum Command {
    /// Run one simulation and write its records, summary and plots.
    Run(ConfigArgs),
    /// Run several configs and show them side by side.
    Compare(compare::CompareArgs),
    /// Run a parameter sweep (grid of configs x seeds) in parallel into one table and plots.
    Sweep(burstsim::sweep::SweepArgs),
    /// Join the output folders of a sweep's shards into one.
    Merge(burstsim::sweep::MergeArgs),
    /// Fit a platform profile to measurements (runs the simulator inside an optimiser).
    Fit(burstsim::fit::FitArgs),
    /// Simulator speed and peak memory on the large reference scenarios (configs/bench).
    Bench(burstsim::bench::BenchArgs),
    /// Run one node's agent (the invoker) of a live cluster.
    Agent(burstsim::live::AgentArgs),
    /// Run a config for real on a live cluster, with the same policies; writes the same files.
    Live(burstsim::live::LiveArgs),
    /// Start or stop a local live cluster (redis-server + agents) on this machine.
    Cluster(burstsim::live::ClusterArgs),
    /// Measure a live cluster and write a simulator profile.
    Calibrate(burstsim::live::calibrate::CalibrateArgs),
    /// Run a config live and simulated; compare them side by side.
    Validate(burstsim::live::validate::ValidateArgs),
    /// Measure pair and aggregate throughput between packs on a live cluster.
    CommBench(burstsim::live::comm_bench::CommBenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: Result<(), Error> = match cli.command {
        Some(Command::Run(args)) => run::main(&args),
        Some(Command::Compare(args)) => compare::main(&args),
        Some(Command::Sweep(args)) => burstsim::sweep::main(&args),
        Some(Command::Merge(args)) => burstsim::sweep::merge::main(&args),
        Some(Command::Fit(args)) => burstsim::fit::main(&args),
        Some(Command::Bench(args)) => burstsim::bench::main(&args),
        Some(Command::Agent(args)) => burstsim::live::agent::main(&args),
        Some(Command::Live(args)) => burstsim::live::run::main(&args),
        Some(Command::Cluster(args)) => burstsim::live::cluster::main(&args),
        Some(Command::Calibrate(args)) => burstsim::live::calibrate::main(&args),
        Some(Command::Validate(args)) => burstsim::live::validate::main(&args),
        Some(Command::CommBench(args)) => burstsim::live::comm_bench::main(&args),
        None => match cli.run {
            Some(args) => run::main(&args),
            None => {
                // No subcommand and no --config: show what the tool can do (usage error).
                let _ = Cli::command().print_help();
                return ExitCode::from(2);
            }
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}
