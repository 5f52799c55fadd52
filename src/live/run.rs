//! `burstsim live --config FILE --cluster FILE`: runs a config for real on a cluster's agents,
//! with the simulator's policy, bursts and per-function inputs, and writes the simulator's
//! files plus what each worker saw from inside (live_workers.json).

use std::path::Path;

use std::sync::Arc;

use executor::comm::{BurstProgram, LiveBackend};
use executor::controller::{Controller, LiveBurst, LiveRun, RunOutcome, WorkerTrace};
use executor::ClusterFile;
use policies::comm::StepRecord;
use policies::workload::FunctionInput;
use sim_core::config::Mode;
use sim_core::Scenario;

use super::ScenarioArgs;
use crate::report::steps::CommSummary;
use crate::report::{self, summary_table, RunReport, Summary};
use crate::Error;

/// `burstsim live`'s arguments.
pub type LiveArgs = ScenarioArgs;

/// The live run of `sc` with `seed`: the same bursts and the same per-function inputs as the
/// simulator draws (`workload` stream of burst b).
pub fn live_run_from(sc: &Scenario, seed: u64) -> Result<LiveRun, Error> {
    if sc.mode != Mode::Openwhisk {
        return Err(Error::input(
            "field `mode`: only `openwhisk` configs run live (serverful and direct are models only)",
        ));
    }
    let backend = live_backend(sc)?;
    let mut bursts = Vec::new();
    for burst in sc.run_arrivals(seed) {
        let burst = burst.map_err(|e| Error::input(format!("a trace could not be read: {e}")))?;
        // A `steps` burst (on [[bursts]] only): the program with the simulator's draws (same
        // stream, same seed, index = burst id).
        let comm = sc.workload.program().map(|program| {
            let chunk_size = sc.comm.as_ref().map_or(0, |c| c.chunk_size);
            Arc::new(BurstProgram {
                program: program.clone(),
                draws: program.burst_draws(seed, burst.id, burst.workers),
                chunk_size,
                backend,
            })
        });
        let inputs = match comm {
            Some(_) => vec![FunctionInput::Steps; burst.workers as usize],
            None => sc.function_inputs(seed, &burst).collect(),
        };
        bursts.push(LiveBurst {
            burst_id: burst.id,
            at: burst.at_ns as f64 * 1e-9,
            tenant: burst.tenant,
            action: sc.actions[burst.action as usize].clone(),
            inputs,
            comm,
        });
    }
    Ok(LiveRun {
        policy: sc.policy.clone(),
        recovery: sc.recovery.clone(),
        bursts,
        seed,
        on_no_capacity: sc.controller.on_no_capacity,
    })
}

/// How the workers of a `steps` workload talk through the broker: the live protocol of the
/// config's backend profile (`redis-list` -> lists, `redis-stream` -> streams).
fn live_backend(sc: &Scenario) -> Result<LiveBackend, Error> {
    let communicates = sc.workload.program().is_some_and(|p| p.communicates());
    let backend = sc.comm.as_ref().and_then(|c| c.backend.as_ref());
    match backend {
        Some(b) => match LiveBackend::for_profile(&b.name) {
            Some(live) => Ok(live),
            None if communicates => Err(Error::input(format!(
                "field `network.backend.name`: a live run talks through the cluster's Redis: \
                 expected a profile whose name ends in `list` or `stream` (e.g. include \
                 \"profiles/comm/redis-list.toml\" or a calibrated local-redis profile), got `{}`",
                b.name
            ))),
            None => Ok(LiveBackend::List),
        },
        None => Ok(LiveBackend::List),
    }
}

/// Runs `sc` live on `cluster` and returns the outcome; Ctrl-C cancels the run (recorded).
pub fn run_live(sc: &Scenario, seed: u64, cluster: &ClusterFile) -> Result<RunOutcome, Error> {
    let run = live_run_from(sc, seed)?;
    let mut controller = Controller::connect(cluster.clone())?;
    let stop = executor::signals::stop_flag();
    Ok(controller.run(&run, &stop)?)
}

/// A live run's report: the simulator's files, plus the live figures in summary.json, and for
/// a `steps` workload its per-step rows.
pub struct LiveReport {
    pub run: RunReport,
    /// One row per executed step of each completed function (empty for single-body workloads).
    pub steps: Vec<StepRecord>,
    pub traces: Vec<WorkerTrace>,
}

impl LiveReport {
    /// Writes what `burstsim run` writes for the same config (records, summary, plots, and for
    /// a `steps` workload steps.csv/parquet and the step timeline), plus live_workers.json.
    pub fn write(&self, dir: &Path) -> Result<(), Error> {
        report::write_run(dir, &self.run)?;
        write_traces(dir, &self.traces)?;
        if !self.steps.is_empty() {
            let title = format!("{}: {} - steps", self.run.name, self.run.label);
            report::steps::write_steps(dir, &title, &self.steps)?;
        }
        Ok(())
    }

    /// What `write` wrote, for the user.
    pub fn describe(&self, dir: &Path) -> String {
        let mut s = report::describe_outputs(dir);
        if !self.steps.is_empty() {
            s = format!(
                "{s}\nwrote {}/{{{}, live_workers.json}}",
                dir.display(),
                report::steps::STEP_FILES.join(", ")
            );
        }
        s
    }
}

/// The report of a live run: the simulator's files, plus the live figures in summary.json.
pub fn live_report(
    name: &str,
    label: &str,
    seed: u64,
    cluster: &ClusterFile,
    out: RunOutcome,
) -> LiveReport {
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
            "recovery": out.recovery.to_string(),
            "attempts": out.records.len(),
        }
    });
    let mut extra = extra;
    if !out.steps.is_empty() {
        extra["communication"] = CommSummary::from_steps(&out.steps).to_json();
    }
    LiveReport {
        run: RunReport {
            name: name.to_string(),
            label: format!("{label} (live)"),
            records: out.records,
            summary,
            extra: Some(extra),
        },
        steps: out.steps,
        traces: out.traces,
    }
}

/// `burstsim live`.
pub fn main(args: &LiveArgs) -> Result<(), Error> {
    let sc = args.run.load()?;
    let cluster = ClusterFile::load(&args.cluster)?;
    let seed = args.run.options.seed_for(&sc);
    let config_cpus: Vec<u32> = sc.invokers.iter().map(|i| i.cpus).collect();
    let live_cpus: Vec<u32> = cluster.agents.iter().map(|a| a.cpus).collect();
    if config_cpus != live_cpus {
        println!(
            "note: the config's invokers have CPUs {config_cpus:?}; the live cluster's have \
             {live_cpus:?}: the run uses the live cluster"
        );
    }
    let dir = args.run.options.out_dir(&format!("{}-live", sc.name()));
    println!(
        "{}: {} live on {} agents ({} CPUs), seed {seed}",
        sc.name(),
        sc.label(),
        cluster.agents.len(),
        cluster.total_cpus()
    );
    let out = run_live(&sc, seed, &cluster)?;
    let cancelled = out.cancelled;
    let live = live_report(sc.name(), &sc.label(), seed, &cluster, out);
    let run = &live.run;
    print!("{}", summary_table(&[(run.name.as_str(), &run.summary)]));
    if !live.steps.is_empty() {
        print!("{}", CommSummary::from_steps(&live.steps).table());
    }
    live.write(&dir)?;
    println!("wrote {}", live.describe(&dir));
    if cancelled {
        return Err(Error::environment(
            "run interrupted: unfinished functions are recorded as failed (reason \"run cancelled\")",
        ));
    }
    Ok(())
}

/// live_workers.json: what each worker saw from inside (its CPU set) and returned.
pub fn write_traces(dir: &Path, traces: &[WorkerTrace]) -> Result<(), Error> {
    crate::atomic::write_json(&dir.join("live_workers.json"), &traces)
}
