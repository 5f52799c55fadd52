//! One simulation: load a config, build the scenario, simulate, summarise, write the report.
//! `burstsim run` streams: records go to their files (per `--records`) and into the summary as
//! the simulator finishes them, so a run's memory follows what is in flight, not its length.

use std::path::{Path, PathBuf};

use policies::comm::StepRecord;
use sim_core::comm::CommStats;
use sim_core::{Scenario, SimOutput, SimStats};

use crate::args::ConfigArgs;
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
    let end = sim_core::simulate_into(scenario, seed, &mut writer).map_err(sink_error)?;
    if let Some(e) = &end.stats.arrival_error {
        // Dropping the writer removes the partial record files.
        return Err(Error::input(format!(
            "a trace stopped replaying: {e} (it changed since it was read?)"
        )));
    }
    let out = writer.finish()?;
    let comm = (!out.steps.is_empty()).then(|| CommSummary::from_steps(&out.steps));
    Ok(Streamed {
        name: scenario.name().to_string(),
        label: scenario.label(),
        seed,
        figures: out.figures,
        stats: end.stats,
        steps: out.steps,
        comm,
        net: end.comm,
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
