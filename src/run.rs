//! One simulation: load a config, build the scenario, simulate, summarise, write the report.

use std::path::{Path, PathBuf};

use sim_core::{Scenario, SimOutput};

use crate::args::ConfigArgs;
use crate::report::faults::FaultSummary;
use crate::report::steps::CommSummary;
use crate::report::{self, summary_table, RunReport, Summary};
use crate::Error;

/// A finished simulation.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// The scenario's name (config `name`, or the file stem).
    pub name: String,
    /// The policy as written (or `serverful {...}`).
    pub label: String,
    /// The seed actually used.
    pub seed: u64,
    pub scenario: Scenario,
    pub output: SimOutput,
    pub summary: Summary,
    /// What faults and recovery cost (runs with `[faults]` only).
    pub faults: Option<FaultSummary>,
}

impl RunResult {
    /// The report of this run (moves the records; the simulator counters go to summary.json).
    pub fn into_report(self) -> RunReport {
        let mut extra = serde_json::json!({
            "seed": self.seed,
            "sim": serde_json::to_value(&self.output.stats).unwrap_or(serde_json::Value::Null),
        });
        if let (Some(f), serde_json::Value::Object(map)) = (&self.faults, &mut extra) {
            map.insert("faults".into(), f.to_json());
        }
        RunReport {
            name: self.name,
            label: self.label,
            records: self.output.records,
            summary: self.summary,
            extra: Some(extra),
        }
    }
}

/// Loads `path` with the `--set` overrides `sets`, validates it and simulates it with `seed`
/// (default: the config's seed).
pub fn simulate_file(path: &Path, sets: &[String], seed: Option<u64>) -> Result<RunResult, Error> {
    Ok(simulate(Scenario::load(path, sets)?, seed))
}

/// Simulates a validated scenario with `seed` (default: the scenario's seed) and summarises it.
pub fn simulate(scenario: Scenario, seed: Option<u64>) -> RunResult {
    let seed = seed.unwrap_or(scenario.seed());
    let output = sim_core::simulate(&scenario, seed);
    let summary = Summary::from_records(&output.records);
    let faults = fault_summary(&scenario, seed, &output.records);
    RunResult {
        name: scenario.name().to_string(),
        label: scenario.label(),
        seed,
        scenario,
        output,
        summary,
        faults,
    }
}

/// The fault figures of a run of `scenario` with `seed` that gave `records`, if it has
/// `[faults]`: the same scenario and seed are simulated once more without them, for the
/// makespan the faults cost.
pub fn fault_summary(
    scenario: &Scenario,
    seed: u64,
    records: &[policies::FunctionRecord],
) -> Option<FaultSummary> {
    scenario.faults.as_ref()?;
    let mut fault_free = scenario.clone();
    fault_free.faults = None;
    let without = sim_core::simulate(&fault_free, seed);
    let makespan = report::faults::makespan(&without.records);
    Some(FaultSummary::from_records(records, makespan))
}

/// The default output folder of a run: `results/<name>`.
pub fn default_out_dir(name: &str) -> PathBuf {
    Path::new("results").join(name)
}

/// `burstsim run`: simulate, print the summary, write the report.
pub fn main(args: &ConfigArgs) -> Result<(), Error> {
    let mut result = simulate(args.load()?, args.options.seed);
    let dir = args.options.out_dir(&result.name);
    println!("{}: {} (seed {})", result.name, result.label, result.seed);
    for (entry, found) in &result.scenario.trace_summaries {
        println!("{entry}: {found}");
    }
    if let Some(e) = &result.output.stats.arrival_error {
        return Err(Error::input(format!(
            "a trace stopped replaying: {e} (it changed since it was read?)"
        )));
    }
    // A `steps` workload also gets its step table, communication figures and step timeline.
    let steps = std::mem::take(&mut result.output.steps);
    let comm = (!steps.is_empty()).then(|| CommSummary::from_steps(&steps));
    let result_faults = result.faults.clone();
    let mut run = result.into_report();
    if let (Some(comm), Some(serde_json::Value::Object(extra))) = (&comm, run.extra.as_mut()) {
        extra.insert("communication".into(), comm.to_json());
    }
    let faults = result_faults;
    print!("{}", summary_table(&[(run.name.as_str(), &run.summary)]));
    if let Some(f) = &faults {
        print!("{}", f.table());
    }
    if let Some(comm) = &comm {
        print!("{}", comm.table());
    }
    report::write_run(&dir, &run)?;
    println!("wrote {}", report::describe_outputs(&dir));
    if comm.is_some() {
        let title = format!("{}: {} - steps", run.name, run.label);
        report::steps::write_steps(&dir, &title, &steps)?;
        println!(
            "wrote {}/{{{}}}",
            dir.display(),
            report::steps::STEP_FILES.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn scenario(text: &str) -> Scenario {
        let origin = Path::new("test.toml");
        let config = sim_core::config::config_from_text(text, &[], origin).expect("config");
        Scenario::from_config(&config, origin).expect("scenario")
    }

    /// Two invokers of 4 CPUs, one burst of 4 sleep(20 s) workers in one container on invoker
    /// 0, cold creation 0.5 s; invoker 0 crashes at 5.3 s.
    const CRASH: &str = r#"
[[cluster.invokers]]
count = 2
cpus = 4
[policy]
name = "burst-heterogeneous"
[workload]
kind = "sleep"
duration = 20.0
[[bursts]]
workers = 4
[invoker]
create = 0.5
[recovery]
name = "rerun-failed-workers"
[faults]
[[faults.invoker_crashes]]
invoker = 0
at = 5.3
"#;

    #[test]
    fn fault_figures_of_a_crash_and_its_rerun() {
        // Without the crash the run ends at 0.5 + 20 = 20.5 s. With it, the four attempts stop
        // at 5.3 (4.8 s each wasted), the controller notices at 15.0 (offline timeout 10 s
        // after the last ping at 5.0) and re-runs them on invoker 1: done at 15.5 + 20 = 35.5.
        let result = simulate(scenario(CRASH), None);
        let f = result.faults.clone().expect("a run with faults");
        assert_eq!((f.attempts, f.retries, f.failed_attempts), (8, 4, 4));
        assert_eq!(f.functions_retried, 4);
        assert!((f.wasted_cpu_s - 4.0 * 4.8).abs() < 1e-6, "{f:?}");
        assert!((f.fault_free_makespan_s - 20.5).abs() < 1e-6, "{f:?}");
        assert!((f.recovery_cost_s - 15.0).abs() < 1e-6, "{f:?}");
        assert_eq!(f.failures_by_cause.get("invoker N crashed"), Some(&4));
        let report = result.into_report();
        let extra = report.extra.expect("extra figures");
        assert_eq!(extra["faults"]["retries"], 4);
        assert_eq!(extra["sim"]["invoker_crashes"], 1);
        // Without [faults], no fault figures.
        let plain = CRASH.split("[recovery]").next().expect("prefix");
        let result = simulate(scenario(plain), None);
        assert!(result.faults.is_none());
        assert!(result
            .into_report()
            .extra
            .expect("extra")
            .get("faults")
            .is_none());
    }
}
