//! One simulation: load a config, build the scenario, simulate, summarise, write the report.
//! `burstsim run` streams: records go to their files (per `--records`) and into the summary as
//! the simulator finishes them, so a run's memory follows what is in flight, not its length.

use std::path::{Path, PathBuf};

use policies::comm::StepRecord;
use sim_core::comm::CommStats;
use sim_core::{Scenario, SimOutput, SimStats};

use crate::args::ConfigArgs;
use crate::report::faults::{FaultSummary, FaultTally, TallySink};
use crate::report::steps::CommSummary;
use crate::report::{
    self, sink_error, summary_table, RecordsMode, RunFigures, RunHead, RunReport, RunWriter,
    Summary,
};
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
    let fault_free = report::faults::fault_free_makespan(scenario, seed);
    Some(FaultSummary::from_records(records, fault_free))
}

/// The default output folder of a run: `results/<name>`.
pub fn default_out_dir(name: &str) -> PathBuf {
    Path::new("results").join(name)
}

/// A finished streamed simulation: its figures (summary, plot material) and counters.
#[derive(Debug, Clone)]
pub struct Streamed {
    pub name: String,
    pub label: String,
    pub seed: u64,
    pub figures: RunFigures,
    pub stats: SimStats,
    /// The steps of a `steps` workload (empty otherwise), and their communication figures.
    pub steps: Vec<StepRecord>,
    pub comm: Option<CommSummary>,
    /// Network counters of a `steps` workload.
    pub net: Option<CommStats>,
    /// What faults and recovery cost (runs with `[faults]` only).
    pub faults: Option<FaultSummary>,
}

impl Streamed {
    /// What summary.json adds to the summary: the seed, the simulator's counters and, for a
    /// `steps` workload, the communication figures.
    pub fn extra(&self) -> serde_json::Value {
        let mut extra = serde_json::json!({
            "seed": self.seed,
            "sim": serde_json::to_value(&self.stats).unwrap_or(serde_json::Value::Null),
        });
        if let (Some(comm), serde_json::Value::Object(map)) = (&self.comm, &mut extra) {
            map.insert("communication".into(), comm.to_json());
        }
        if let (Some(f), serde_json::Value::Object(map)) = (&self.faults, &mut extra) {
            map.insert("faults".into(), f.to_json());
        }
        extra
    }

    /// summary.json and the plots into `dir`, under `name`.
    pub fn write_report(&self, dir: &Path, name: &str) -> Result<(), Error> {
        let extra = self.extra();
        let head = RunHead {
            name,
            label: &self.label,
            extra: Some(&extra),
        };
        report::write_summary_and_plots(dir, &head, &self.figures.summary, &self.figures)
    }
}

/// Simulates `scenario` with `seed` (default: the scenario's), streaming its records into
/// `dir` (the files `records` asks for) and its summary; writes nothing else.
pub fn simulate_streamed(
    scenario: &Scenario,
    seed: Option<u64>,
    dir: &Path,
    records: RecordsMode,
) -> Result<Streamed, Error> {
    let seed = seed.unwrap_or(scenario.seed());
    let mut writer = RunWriter::create(dir, records)?;
    let mut tally = None;
    let end = if scenario.faults.is_some() {
        let mut tee = TallySink {
            inner: &mut writer,
            tally: FaultTally::default(),
        };
        let end = sim_core::simulate_into(scenario, seed, &mut tee).map_err(sink_error)?;
        tally = Some(tee.tally);
        end
    } else {
        sim_core::simulate_into(scenario, seed, &mut writer).map_err(sink_error)?
    };
    if let Some(e) = &end.stats.arrival_error {
        // Dropping the writer removes the partial record files.
        return Err(Error::input(format!(
            "a trace stopped replaying: {e} (it changed since it was read?)"
        )));
    }
    let out = writer.finish()?;
    let comm = (!out.steps.is_empty()).then(|| CommSummary::from_steps(&out.steps));
    let faults = tally.map(|t| {
        t.finish(
            out.figures.summary.makespan_s,
            report::faults::fault_free_makespan(scenario, seed),
        )
    });
    Ok(Streamed {
        name: scenario.name().to_string(),
        label: scenario.label(),
        seed,
        figures: out.figures,
        stats: end.stats,
        steps: out.steps,
        comm,
        net: end.comm,
        faults,
    })
}

/// `burstsim run`: simulate (records streamed to their files), print the summary, write the
/// summary and plots.
pub fn main(args: &ConfigArgs) -> Result<(), Error> {
    let scenario = args.load()?;
    let dir = args.options.out_dir(scenario.name());
    let seed = args.options.seed_for(&scenario);
    println!("{}: {} (seed {seed})", scenario.name(), scenario.label());
    for (entry, found) in &scenario.trace_summaries {
        println!("{entry}: {found}");
    }
    let run = simulate_streamed(&scenario, Some(seed), &dir, args.options.records)?;
    print!(
        "{}",
        summary_table(&[(run.name.as_str(), &run.figures.summary)])
    );
    if let Some(f) = &run.faults {
        print!("{}", f.table());
    }
    if let Some(comm) = &run.comm {
        print!("{}", comm.table());
    }
    run.write_report(&dir, &run.name)?;
    println!(
        "wrote {}",
        report::describe_files(&dir, args.options.records)
    );
    // A `steps` workload also gets its step table and step timeline.
    if run.comm.is_some() {
        let title = format!("{}: {} - steps", run.name, run.label);
        report::steps::write_steps(&dir, &title, &run.steps)?;
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

    fn check(f: &FaultSummary) {
        // Without the crash the run ends at 0.5 + 20 = 20.5 s. With it, the four attempts stop
        // at 5.3 (4.8 s each wasted), the controller notices at 15.0 (offline timeout 10 s
        // after the last ping at 5.0) and re-runs them on invoker 1: done at 15.5 + 20 = 35.5.
        assert_eq!((f.attempts, f.retries, f.failed_attempts), (8, 4, 4));
        assert_eq!(f.functions_retried, 4);
        assert!((f.wasted_cpu_s - 4.0 * 4.8).abs() < 1e-6, "{f:?}");
        assert!((f.fault_free_makespan_s - 20.5).abs() < 1e-6, "{f:?}");
        assert!((f.recovery_cost_s - 15.0).abs() < 1e-6, "{f:?}");
        assert_eq!(f.failures_by_cause.get("invoker N crashed"), Some(&4));
    }

    #[test]
    fn fault_figures_of_a_crash_and_its_rerun() {
        let result = simulate(scenario(CRASH), None);
        check(result.faults.as_ref().expect("a run with faults"));
        let report = result.into_report();
        let extra = report.extra.expect("extra figures");
        assert_eq!(extra["faults"]["retries"], 4);
        assert_eq!(extra["sim"]["invoker_crashes"], 1);
        // Streamed, the same figures.
        let dir = tempfile::tempdir().expect("tempdir");
        let streamed =
            simulate_streamed(&scenario(CRASH), None, dir.path(), RecordsMode::None).expect("run");
        check(streamed.faults.as_ref().expect("a run with faults"));
        assert_eq!(streamed.extra()["faults"]["attempts"], 8);
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
