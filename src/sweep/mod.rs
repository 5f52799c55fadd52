//! Research sweeps: a sweep file names a base config and axes over its fields (`spec`); the
//! grid of runs is numbered deterministically and can be cut into shards (`grid`); runs execute
//! in parallel on a rayon pool, each finished row appended to a log so an interrupted sweep
//! resumes where it stopped (`store`); rows become one tidy table, Parquet and CSV (`row`), and
//! summary-vs-axis plots (`plot`). `merge` joins the folders of a sweep's shards into one.

pub mod grid;
pub mod merge;
pub mod plot;
pub mod points;
pub mod row;
pub mod spec;
pub mod store;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use serde_json::Value as Json;
use sim_core::scenario::Scenario;

pub use grid::{Shard, Sweep};
pub use merge::MergeArgs;
pub use row::Row;
pub use store::Manifest;

use crate::report::faults::{FaultSummary, FaultTally, TallySink};
use crate::report::{self, sink_error, RecordsMode, RunAccumulator, RunWriter, Summary};
use crate::Error;
use policies::comm::StepRecord;
use policies::FunctionRecord;
use sim_core::{RecordSink, SinkError};

/// Arguments of `burstsim sweep`.
#[derive(Debug, Clone, Args)]
pub struct SweepArgs {
    /// The sweep file (TOML): base config, axes, seeds, plots.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Output folder (default: results/sweeps/<name>/, or .../shard-I-of-N/ with --shard).
    /// Running the same sweep into the same folder again skips the runs already done.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Run only shard I of N (I from 0): runs whose index is I modulo N.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
    /// Worker threads (default: RAYON_NUM_THREADS, else all cores).
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
    /// Replicates per grid point instead of the file's `seeds` (seeds seed..seed+N-1).
    #[arg(long, value_name = "N")]
    pub seeds: Option<u64>,
    /// Also write each run's per-function records (records/run-NNNNNN.{csv,parquet}), streamed
    /// as it runs: `--records` (both files), `--records csv`, `--records parquet`, or `--records
    /// none` (the default, unless the sweep file says `records = true`).
    #[arg(long, value_enum, value_name = "WHICH", num_args = 0..=1, default_missing_value = "both")]
    pub records: Option<RecordsMode>,
    /// Do not draw the sweep plots.
    #[arg(long)]
    pub no_plots: bool,
    /// No progress bar.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// What a sweep invocation did.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub dir: PathBuf,
    /// Runs executed now.
    pub ran: u64,
    /// Runs found already done in the folder.
    pub skipped: u64,
    /// Runs this folder is meant to hold (the shard's, or the sweep's).
    pub wanted: u64,
    pub elapsed: Duration,
    pub threads: usize,
    pub interrupted: bool,
    /// The plot metrics per grid point over the seeds (when the folder holds the whole sweep).
    pub points: Option<String>,
}

/// Set by Ctrl-C: tasks not yet started are skipped, finished rows stay in the log.
static STOP: AtomicBool = AtomicBool::new(false);

/// `burstsim sweep`.
pub fn main(args: &SweepArgs) -> Result<(), Error> {
    // One handler per process; a second sweep in the same process keeps the first.
    let _ = ctrlc::set_handler(|| STOP.store(true, Ordering::SeqCst));
    let outcome = run(args)?;
    let rate = outcome.ran as f64 / outcome.elapsed.as_secs_f64().max(1e-9);
    println!(
        "{} runs in {:.2} s on {} thread{} ({rate:.0} runs/s); {} already done; {}/{} in {}",
        outcome.ran,
        outcome.elapsed.as_secs_f64(),
        outcome.threads,
        if outcome.threads == 1 { "" } else { "s" },
        outcome.skipped,
        outcome.ran + outcome.skipped,
        outcome.wanted,
        outcome.dir.display()
    );
    if let Some(points) = &outcome.points {
        print!("{points}");
    }
    if outcome.interrupted {
        return Err(Error::Other(anyhow::anyhow!(
            "interrupted: the finished runs are kept in {}; run the same command again to finish",
            outcome.dir.display()
        )));
    }
    Ok(())
}

/// Runs the sweep (or its shard) into its folder and writes the tables and plots.
pub fn run(args: &SweepArgs) -> Result<Outcome, Error> {
    let started = Instant::now();
    let sweep = Sweep::load_with_seeds(&args.config, args.seeds)?;
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| default_dir(&sweep.name, args.shard));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs.unwrap_or(0))
        .build()
        .map_err(|e| Error::Other(anyhow::anyhow!("starting worker threads: {e}")))?;
    let threads = pool.current_num_threads();

    // Every grid point must make a valid scenario before anything is written.
    let scenarios: Vec<Scenario> = pool.install(|| {
        (0..sweep.points())
            .into_par_iter()
            .map(|p| {
                let config = sweep.point_config(p)?;
                Scenario::from_config(&config, &sweep.base_path).map_err(|e| {
                    Error::input(format!(
                        "{}: grid point {p} ({}): {e}",
                        sweep.file.display(),
                        sweep.point_sets(p).join(", ")
                    ))
                })
            })
            .collect::<Result<_, Error>>()
    })?;

    let manifest = Manifest::new(&sweep, args.shard);
    store::prepare(&dir, &manifest)?;
    let done = pool.install(|| store::load_rows(&dir, &sweep.hash))?;
    let todo: Vec<u64> = (0..sweep.runs())
        .filter(|r| manifest.wants(*r) && !done.contains_key(r))
        .collect();
    let skipped = manifest.wanted() - todo.len() as u64;
    let records = args.records.unwrap_or(if sweep.records {
        RecordsMode::Both
    } else {
        RecordsMode::None
    });

    let log = store::Log::open(&dir)?;
    let bar = progress_bar(todo.len() as u64, args.quiet);
    pool.install(|| {
        todo.par_iter().try_for_each(|&run| -> Result<(), Error> {
            if STOP.load(Ordering::Relaxed) {
                return Ok(());
            }
            let (summary, steps, faults) = simulate_run(&sweep, &scenarios, run, &dir, records)?;
            let mut row = make_row(&sweep, run, &summary);
            if !steps.is_empty() {
                let comm = report::steps::CommSummary::from_steps(&steps);
                row.cells.extend(comm.cells());
            }
            if let Some(f) = faults {
                row.cells.extend(f.cells());
            }
            log.append(&row::to_line(&sweep.hash, &row))?;
            bar.inc(1);
            Ok(())
        })
    })?;
    bar.finish_and_clear();
    let interrupted = STOP.load(Ordering::SeqCst);

    // Compaction: the log is rewritten in run order (finishing order varies with threads).
    drop(log);
    let rows = pool.install(|| store::load_rows(&dir, &sweep.hash))?;
    let rows: BTreeMap<u64, Row> = rows
        .into_iter()
        .filter(|(r, _)| manifest.wants(*r))
        .collect();
    store::write_log(&dir, &sweep.hash, &rows)?;
    store::write_tables(&dir, &rows)?;
    let complete = rows.len() as u64 == sweep.runs();
    if complete && !args.no_plots {
        plot::write_plots(&dir, &manifest, &rows)?;
    }
    let points = (complete && !manifest.plot.metrics.is_empty())
        .then(|| points::points_table(&rows, &manifest.plot.metrics));
    Ok(Outcome {
        dir,
        ran: rows.len() as u64 - skipped,
        skipped,
        wanted: manifest.wanted(),
        elapsed: started.elapsed(),
        threads,
        interrupted,
        points,
    })
}

/// results/sweeps/<name>/ (shards in shard-I-of-N/ below it, so `merge` can write the parent).
pub fn default_dir(name: &str, shard: Option<Shard>) -> PathBuf {
    let dir = Path::new("results").join("sweeps").join(name);
    match shard {
        None => dir,
        Some(s) => dir.join(format!("shard-{}-of-{}", s.index, s.count)),
    }
}

/// The row of a run: run, seed, axis values, summary figures.
pub fn make_row(sweep: &Sweep, run: u64, summary: &Summary) -> Row {
    let (point, seed) = sweep.run_of(run);
    let mut cells = vec![
        ("run".to_string(), Json::from(run)),
        ("seed".to_string(), Json::from(seed)),
    ];
    cells.extend(sweep.point_cells(point));
    cells.extend(row::summary_cells(summary));
    Row { run, cells }
}

/// A run's summary and, for a `steps` workload, its steps: a sweep keeps nothing else.
#[derive(Default)]
struct SummaryOnly {
    figures: RunAccumulator,
    steps: Vec<StepRecord>,
}

impl RecordSink for SummaryOnly {
    fn record(&mut self, record: FunctionRecord) -> Result<(), SinkError> {
        self.figures.push(&record);
        Ok(())
    }

    fn container_closed(&mut self, container: u64) -> Result<(), SinkError> {
        self.figures.container_closed(container);
        Ok(())
    }

    fn step(&mut self, step: StepRecord) -> Result<(), SinkError> {
        self.steps.push(step);
        Ok(())
    }
}

/// Simulates run `run` of the sweep and summarises it, streaming its records into
/// records/run-NNNNNN.{csv,parquet} when `records` asks for them (nothing per function is
/// kept in memory either way); also returns the steps of a `steps` workload.
fn simulate_run(
    sweep: &Sweep,
    scenarios: &[Scenario],
    run: u64,
    dir: &Path,
    records: RecordsMode,
) -> Result<(Summary, Vec<StepRecord>, Option<FaultSummary>), Error> {
    let (point, seed) = sweep.run_of(run);
    let scenario = &scenarios[point as usize];
    let mut tally = FaultTally::default();
    let (summary, steps) = if records == RecordsMode::None {
        let mut sink = SummaryOnly::default();
        simulate_tallied(scenario, seed, &mut sink, &mut tally)?;
        let figures = sink
            .figures
            .finish()
            .map_err(|e| Error::Other(anyhow::anyhow!(e)))?;
        (figures.summary, sink.steps)
    } else {
        let stem = format!("run-{run:06}");
        let mut writer = RunWriter::with_stem(&dir.join("records"), &stem, records)?;
        simulate_tallied(scenario, seed, &mut writer, &mut tally)?;
        let out = writer.finish()?;
        (out.figures.summary, out.steps)
    };
    let faults = scenario.faults.is_some().then(|| {
        tally.finish(
            summary.makespan_s,
            report::faults::fault_free_makespan(scenario, seed),
        )
    });
    Ok((summary, steps, faults))
}

/// Simulates into `sink`, tallying the fault figures on the way when the scenario has faults.
fn simulate_tallied(
    scenario: &Scenario,
    seed: u64,
    sink: &mut dyn RecordSink,
    tally: &mut FaultTally,
) -> Result<(), Error> {
    if scenario.faults.is_none() {
        sim_core::simulate_into(scenario, seed, sink).map_err(sink_error)?;
        return Ok(());
    }
    let mut tee = TallySink {
        inner: sink,
        tally: FaultTally::default(),
    };
    sim_core::simulate_into(scenario, seed, &mut tee).map_err(sink_error)?;
    *tally = tee.tally;
    Ok(())
}

fn progress_bar(len: u64, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{elapsed_precise} [{wide_bar}] {human_pos}/{human_len} runs ({per_sec}, ETA {eta})",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
