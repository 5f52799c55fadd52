//! One simulation: load a config, build the scenario, simulate, summarise, write the report.

use std::path::{Path, PathBuf};

use sim_core::{Scenario, SimOutput};

use crate::args::ConfigArgs;
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
}

impl RunResult {
    /// The report of this run (moves the records; the simulator counters go to summary.json).
    pub fn into_report(self) -> RunReport {
        let extra = serde_json::json!({
            "seed": self.seed,
            "sim": serde_json::to_value(&self.output.stats).unwrap_or(serde_json::Value::Null),
        });
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
    RunResult {
        name: scenario.name().to_string(),
        label: scenario.label(),
        seed,
        scenario,
        output,
        summary,
    }
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
    let mut run = result.into_report();
    if let (Some(comm), Some(serde_json::Value::Object(extra))) = (&comm, run.extra.as_mut()) {
        extra.insert("communication".into(), comm.to_json());
    }
    print!("{}", summary_table(&[(run.name.as_str(), &run.summary)]));
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
