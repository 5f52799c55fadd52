//! Several runs side by side: one column per run on stdout, `compare.csv` (one row per run),
//! each run's own files in a subfolder, and combined plots (thesis Figures 5.1/5.2: the
//! timelines stacked on one time axis, the start-latency boxes side by side).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use clap::Args;
use polars::prelude::*;

use crate::args::RunOptions;
use crate::report::{self, plots, summary_table, LatencyBox, Summary, Timeline};
use crate::run::{simulate_streamed, Streamed};
use crate::Error;

/// Arguments of `burstsim compare --config A --config B ...`.
#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// Scenario configs (TOML), one per run: `--config A --config B` (at least two).
    #[arg(long = "config", value_name = "FILE", required = true)]
    pub configs: Vec<PathBuf>,
    /// `--out` (default: results/compare-<name1>-<name2>...), `--seed` and `--set`, applied to
    /// every config.
    #[command(flatten)]
    pub options: RunOptions,
}

/// `burstsim compare`.
pub fn main(args: &CompareArgs) -> Result<(), Error> {
    if args.configs.len() < 2 {
        return Err(Error::input(
            "compare: expected at least two `--config FILE`, got one (use `burstsim run` for one)",
        ));
    }
    // Validate everything before simulating anything: a bad config fails the whole command
    // early.
    let scenarios = args
        .configs
        .iter()
        .map(|path| args.options.load(path))
        .collect::<Result<Vec<_>, Error>>()?;
    let names = unique_names(scenarios.iter().map(|s| s.name()));
    let dir = args
        .options
        .out_dir(&format!("compare-{}", names.join("-")));
    // Each run streams its records into its own folder as it goes.
    let mut runs: Vec<Streamed> = Vec::with_capacity(scenarios.len());
    for (scenario, name) in scenarios.iter().zip(&names) {
        let seed = args.options.seed_for(scenario);
        println!("{name}: {} (seed {seed})", scenario.label());
        let run_dir = dir.join(name);
        let mut run = simulate_streamed(scenario, Some(seed), &run_dir, args.options.records)?;
        run.name = name.clone();
        run.write_report(&run_dir, name)?;
        runs.push(run);
    }
    let columns: Vec<(&str, &Summary)> = runs
        .iter()
        .map(|r| (r.name.as_str(), &r.figures.summary))
        .collect();
    print!("{}", summary_table(&columns));

    let path = dir.join("compare.csv");
    report::tables::write_frame_csv(&path, &mut compare_frame(&runs, &args.configs)?)?;
    write_combined_plots(&dir, &runs)?;
    println!(
        "wrote {}/{{compare.csv, timeline.png, timeline.svg, start_latency.png, start_latency.svg}} and one folder per run ({})",
        dir.display(),
        names.join(", ")
    );
    Ok(())
}

/// Run names made unique by a `-2`, `-3`... suffix (the same config may be compared with itself
/// under another seed, or two configs may share a name): they name the subfolders.
pub fn unique_names<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut taken = BTreeSet::new();
    names
        .map(|name| {
            let mut candidate = name.to_string();
            let mut k = 2;
            while !taken.insert(candidate.clone()) {
                candidate = format!("{name}-{k}");
                k += 1;
            }
            candidate
        })
        .collect()
}

/// One row per run: run, label, seed, config, then every summary figure (integers stay
/// integers; NaN figures are null).
pub fn compare_frame(runs: &[Streamed], configs: &[PathBuf]) -> Result<DataFrame, Error> {
    let text =
        |name: &str, values: Vec<String>| -> Column { Series::new(name.into(), values).into() };
    let mut columns: Vec<Column> = vec![
        text("run", runs.iter().map(|r| r.name.clone()).collect()),
        text("label", runs.iter().map(|r| r.label.clone()).collect()),
        Series::new(
            "seed".into(),
            runs.iter().map(|r| r.seed).collect::<Vec<u64>>(),
        )
        .into(),
        text(
            "config",
            configs.iter().map(|c| c.display().to_string()).collect(),
        ),
    ];
    let json: Vec<serde_json::Value> = runs
        .iter()
        .map(|r| serde_json::to_value(&r.figures.summary).map_err(anyhow::Error::from))
        .collect::<Result<_, _>>()?;
    for (key, _) in Summary::from_records(&[]).fields() {
        let values: Vec<&serde_json::Value> = json.iter().map(|j| &j[key]).collect();
        let column: Column = if values.iter().all(|v| v.is_u64()) {
            let ints: Vec<u64> = values.iter().filter_map(|v| v.as_u64()).collect();
            Series::new(key.into(), ints).into()
        } else {
            let floats: Vec<Option<f64>> = values.iter().map(|v| v.as_f64()).collect();
            Series::new(key.into(), floats).into()
        };
        columns.push(column);
    }
    DataFrame::new(runs.len(), columns)
        .map_err(|e| Error::Other(anyhow::Error::new(e).context("building compare.csv")))
}

/// timeline.{png,svg} (one panel per run, shared time axis) and start_latency.{png,svg} (one
/// box per run).
pub fn write_combined_plots(dir: &Path, runs: &[Streamed]) -> Result<(), Error> {
    let panels: Vec<Timeline> = runs
        .iter()
        .map(|r| {
            r.figures
                .timeline
                .titled(&format!("{}: {}", r.name, r.label))
        })
        .collect();
    plots::write_timelines(dir, "timeline", &panels)?;
    let boxes: Vec<LatencyBox> = runs
        .iter()
        .map(|r| {
            let mut b = r.figures.latency.clone();
            b.label = r.name.clone();
            b
        })
        .collect();
    let title = if runs.iter().any(|r| r.figures.streamed) {
        report::latency_title("by run", true)
    } else {
        "Start latency by run".to_string()
    };
    plots::write_latency_boxes(dir, "start_latency", &title, &boxes)
}
