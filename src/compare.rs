//! Several runs side by side: one column per run on stdout, `compare.csv` (one row per run),
//! each run's own files in a subfolder, and combined plots (thesis Figures 5.1/5.2: the
//! timelines stacked on one time axis, the start-latency boxes side by side).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use clap::Args;
use polars::prelude::*;

use crate::args::RunOptions;
use crate::report::{self, plots, summary_table, LatencyBox, RunReport, Summary, Timeline};
use crate::run::simulate;
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
    // Simulate everything before writing anything: a bad config fails the whole command early.
    let mut runs = Vec::with_capacity(args.configs.len());
    for path in &args.configs {
        runs.push(simulate(args.options.load(path)?, args.options.seed));
    }
    let names = unique_names(runs.iter().map(|r| r.name.as_str()));
    let dir = args
        .options
        .out_dir(&format!("compare-{}", names.join("-")));
    let mut seeds = Vec::new();
    let mut reports: Vec<RunReport> = Vec::new();
    for (run, name) in runs.into_iter().zip(&names) {
        println!("{name}: {} (seed {})", run.label, run.seed);
        seeds.push(run.seed);
        let mut report = run.into_report();
        report.name = name.clone();
        reports.push(report);
    }
    let columns: Vec<(&str, &Summary)> = reports
        .iter()
        .map(|r| (r.name.as_str(), &r.summary))
        .collect();
    print!("{}", summary_table(&columns));

    for report in &reports {
        report::write_run(&dir.join(&report.name), report)?;
    }
    let path = dir.join("compare.csv");
    report::tables::write_frame_csv(&path, &mut compare_frame(&reports, &seeds, &args.configs)?)?;
    write_combined_plots(&dir, &reports)?;
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
pub fn compare_frame(
    reports: &[RunReport],
    seeds: &[u64],
    configs: &[PathBuf],
) -> Result<DataFrame, Error> {
    let text =
        |name: &str, values: Vec<String>| -> Column { Series::new(name.into(), values).into() };
    let mut columns: Vec<Column> = vec![
        text("run", reports.iter().map(|r| r.name.clone()).collect()),
        text("label", reports.iter().map(|r| r.label.clone()).collect()),
        Series::new("seed".into(), seeds.to_vec()).into(),
        text(
            "config",
            configs.iter().map(|c| c.display().to_string()).collect(),
        ),
    ];
    let json: Vec<serde_json::Value> = reports
        .iter()
        .map(|r| serde_json::to_value(&r.summary).map_err(anyhow::Error::from))
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
    DataFrame::new(reports.len(), columns)
        .map_err(|e| Error::Other(anyhow::Error::new(e).context("building compare.csv")))
}

/// timeline.{png,svg} (one panel per run, shared time axis) and start_latency.{png,svg} (one
/// box per run).
pub fn write_combined_plots(dir: &Path, reports: &[RunReport]) -> Result<(), Error> {
    let panels: Vec<Timeline> = reports
        .iter()
        .map(|r| Timeline::new(&format!("{}: {}", r.name, r.label), &r.records))
        .collect();
    plots::write_timelines(dir, "timeline", &panels)?;
    let boxes: Vec<LatencyBox> = reports
        .iter()
        .map(|r| LatencyBox::from_records(&r.name, &r.records))
        .collect();
    plots::write_latency_boxes(dir, "start_latency", "Start latency by run", &boxes)
}
