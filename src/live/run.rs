//! `burstsim live --config FILE --cluster FILE`: runs a config for real on a cluster's agents,
//! with the simulator's policy, bursts and per-function inputs, and writes the simulator's
//! files plus what each worker saw from inside (live_workers.json).

use std::path::Path;

use executor::controller::{Controller, LiveBurst, LiveRun, RunOutcome, WorkerTrace};
use executor::ClusterFile;
use sim_core::config::Mode;
use sim_core::Scenario;

use super::ScenarioArgs;
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
    if sc.workload.program().is_some() {
        return Err(Error::input(
            "field `workload.kind`: `steps` workloads (group communication) are simulated only: \
             the live executor does not run them yet",
        ));
    }
    let mut bursts = Vec::new();
    for burst in sc.run_arrivals(seed) {
        let burst = burst.map_err(|e| Error::input(format!("a trace could not be read: {e}")))?;
        bursts.push(LiveBurst {
            burst_id: burst.id,
            at: burst.at_ns as f64 * 1e-9,
            tenant: burst.tenant,
            action: sc.actions[burst.action as usize].clone(),
            inputs: sc.function_inputs(seed, &burst).collect(),
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

/// Runs `sc` live on `cluster` and returns the outcome; Ctrl-C cancels the run (recorded).
pub fn run_live(sc: &Scenario, seed: u64, cluster: &ClusterFile) -> Result<RunOutcome, Error> {
    let run = live_run_from(sc, seed)?;
    let mut controller = Controller::connect(cluster.clone())?;
    let stop = executor::signals::stop_flag();
    Ok(controller.run(&run, &stop)?)
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
            "recovery": out.recovery.to_string(),
            "attempts": out.records.len(),
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
    let traces = out.traces.clone();
    let run = live_report(sc.name(), &sc.label(), seed, &cluster, out);
    print!("{}", summary_table(&[(run.name.as_str(), &run.summary)]));
    report::write_run(&dir, &run)?;
    write_traces(&dir, &traces)?;
    println!("wrote {}", report::describe_outputs(&dir));
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
