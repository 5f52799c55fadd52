//! Several runs side by side: one column per run on stdout, `compare.csv` (one row per run and
//! seed), each run's own files in a subfolder, and combined plots (thesis Figures 5.1/5.2: the
//! timelines stacked on one time axis, the start-latency boxes side by side). With `--seeds N`
//! each config runs with N consecutive seeds: the table shows each figure's mean with its 95%
//! confidence interval, `compare_seeds.csv` holds mean, interval and spread per run and figure,
//! the boxes pool the N runs and `figures_over_seeds.{png,svg}` draws the intervals. A run's
//! folder holds its first seed, streamed as it runs; the further seeds are summarised in memory.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use clap::Args;
use polars::prelude::*;

use crate::args::RunOptions;
use crate::report::{self, plots, summary_table, LatencyBox, OverSeeds, Summary, Timeline};
use crate::run::{simulate, simulate_streamed, Streamed};
use crate::Error;

/// Arguments of `burstsim compare --config A --config B ...`.
#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// Scenario configs (TOML), one per run: `--config A --config B` (at least two).
    #[arg(long = "config", value_name = "FILE", required = true)]
    pub configs: Vec<PathBuf>,
    /// Run each config with N seeds (`--seed`, or the config's seed, and the N - 1 after it):
    /// figures are reported as mean and 95% confidence interval over them.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seeds: u64,
    /// `--out` (default: results/compare-<name1>-<name2>...), `--seed` and `--set`, applied to
    /// every config.
    #[command(flatten)]
    pub options: RunOptions,
}

/// One config's runs: the first seed streamed into its folder, and the summary of every seed.
pub struct Replicates {
    pub name: String,
    pub config: PathBuf,
    pub first: Streamed,
    pub seeds: Vec<u64>,
    /// One per seed, in seed order.
    pub summaries: Vec<Summary>,
    /// With several seeds: the start latencies of all of them, sorted (the pooled box).
    pub pooled: Option<Vec<f64>>,
}

/// `burstsim compare`.
pub fn main(args: &CompareArgs) -> Result<(), Error> {
    if args.configs.len() < 2 {
        return Err(Error::input(
            "compare: expected at least two `--config FILE`, got one (use `burstsim run` for one)",
        ));
    }
    if args.seeds == 0 {
        return Err(Error::input(
            "compare: `--seeds`: expected at least 1, got 0",
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
    let mut sets: Vec<Replicates> = Vec::with_capacity(scenarios.len());
    for ((scenario, name), config) in scenarios.iter().zip(&names).zip(&args.configs) {
        let first_seed = args.options.seed_for(scenario);
        let seeds: Vec<u64> = (0..args.seeds)
            .map(|k| first_seed.wrapping_add(k))
            .collect();
        let seed_text = match seeds.as_slice() {
            [one] => format!("seed {one}"),
            many => format!("seeds {}..{}", many[0], many[many.len() - 1]),
        };
        println!("{name}: {} ({seed_text})", scenario.label());
        // The first seed streams its records into its own folder as it goes.
        let run_dir = dir.join(name);
        let mut first =
            simulate_streamed(scenario, Some(first_seed), &run_dir, args.options.records)?;
        first.name = name.clone();
        first.write_report(&run_dir, name)?;
        let (summaries, pooled) = if seeds.len() == 1 {
            (vec![first.figures.summary.clone()], None)
        } else {
            // Every seed again in memory, so all summaries are exact and alike.
            let mut summaries = Vec::with_capacity(seeds.len());
            let mut pooled = Vec::new();
            for &seed in &seeds {
                let run = simulate(scenario.clone(), Some(seed));
                pooled.extend(policies::start_latencies(&run.output.records));
                summaries.push(run.summary);
            }
            pooled.sort_by(f64::total_cmp);
            (summaries, Some(pooled))
        };
        sets.push(Replicates {
            name: name.clone(),
            config: config.clone(),
            first,
            seeds,
            summaries,
            pooled,
        });
    }
    if args.seeds == 1 {
        let columns: Vec<(&str, &Summary)> = sets
            .iter()
            .map(|r| (r.name.as_str(), &r.summaries[0]))
            .collect();
        print!("{}", summary_table(&columns));
    } else {
        print!("{}", seeds_table(&sets));
    }

    let path = dir.join("compare.csv");
    report::tables::write_frame_csv(&path, &mut compare_frame(&sets)?)?;
    report::tables::write_frame_csv(&dir.join("compare_seeds.csv"), &mut seeds_frame(&sets)?)?;
    write_combined_plots(&dir, &sets)?;
    let intervals = if args.seeds > 1 {
        ", figures_over_seeds.png, figures_over_seeds.svg"
    } else {
        ""
    };
    println!(
        "wrote {}/{{compare.csv, compare_seeds.csv, timeline.png, timeline.svg, start_latency.png, start_latency.svg{intervals}}} and one folder per run ({}{})",
        dir.display(),
        names.join(", "),
        if args.seeds > 1 { "; its first seed" } else { "" }
    );
    Ok(())
}

/// Every summary figure of a run's replicates, by figure.
fn figures_over_seeds(set: &Replicates) -> Vec<(&'static str, Option<OverSeeds>)> {
    let fields: Vec<Vec<(&'static str, f64)>> = set.summaries.iter().map(Summary::fields).collect();
    fields[0]
        .iter()
        .enumerate()
        .map(|(i, (key, _))| {
            let values: Vec<f64> = fields.iter().map(|f| f[i].1).collect();
            (*key, OverSeeds::of(&values))
        })
        .collect()
}

/// One row per summary figure, one column per run: `mean ± half-width of the 95% CI`.
fn seeds_table(sets: &[Replicates]) -> String {
    let per_set: Vec<_> = sets.iter().map(figures_over_seeds).collect();
    let mut cells: Vec<Vec<String>> =
        vec![
            std::iter::once(format!("mean ± 95% CI over {} seeds", sets[0].seeds.len()))
                .chain(sets.iter().map(|s| s.name.clone()))
                .collect(),
        ];
    for (i, (key, _)) in per_set[0].iter().enumerate() {
        let decimals = if key.ends_with("_s") { 3 } else { 1 };
        cells.push(
            std::iter::once(key.to_string())
                .chain(per_set.iter().map(|figures| {
                    figures[i]
                        .1
                        .map_or_else(|| "-".to_string(), |o| o.show(decimals))
                }))
                .collect(),
        );
    }
    report::aligned_table(&cells)
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

/// One row per run and seed: run, label, seed, config, then every summary figure (integers
/// stay integers; NaN figures are null).
pub fn compare_frame(sets: &[Replicates]) -> Result<DataFrame, Error> {
    let per_run = |f: &dyn Fn(&Replicates) -> String| -> Vec<String> {
        sets.iter()
            .flat_map(|s| std::iter::repeat_n(f(s), s.summaries.len()))
            .collect()
    };
    let text =
        |name: &str, values: Vec<String>| -> Column { Series::new(name.into(), values).into() };
    let seeds: Vec<u64> = sets.iter().flat_map(|s| s.seeds.iter().copied()).collect();
    let rows = seeds.len();
    let mut columns: Vec<Column> = vec![
        text("run", per_run(&|s| s.name.clone())),
        text("label", per_run(&|s| s.first.label.clone())),
        Series::new("seed".into(), seeds).into(),
        text("config", per_run(&|s| s.config.display().to_string())),
    ];
    let json: Vec<serde_json::Value> = sets
        .iter()
        .flat_map(|s| &s.summaries)
        .map(|summary| serde_json::to_value(summary).map_err(anyhow::Error::from))
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
    DataFrame::new(rows, columns)
        .map_err(|e| Error::Other(anyhow::Error::new(e).context("building compare.csv")))
}

/// compare_seeds.csv: one row per run and summary figure: n, mean, sd, 95% CI of the mean,
/// min, p5, median, p95, max over the seeds.
fn seeds_frame(sets: &[Replicates]) -> Result<DataFrame, Error> {
    let mut run = Vec::new();
    let mut figure = Vec::new();
    let mut stats: [Vec<Option<f64>>; 10] = Default::default();
    for set in sets {
        for (key, over) in figures_over_seeds(set) {
            run.push(set.name.clone());
            figure.push(key.to_string());
            let values = over.map(|o| o.values());
            for (k, column) in stats.iter_mut().enumerate() {
                column.push(values.map(|v| v[k]));
            }
        }
    }
    let mut columns: Vec<Column> = vec![
        Series::new("run".into(), run).into(),
        Series::new("figure".into(), figure).into(),
    ];
    for (name, values) in OverSeeds::COLUMNS.iter().zip(stats) {
        columns.push(Series::new((*name).into(), values).into());
    }
    let height = columns[0].len();
    DataFrame::new(height, columns)
        .map_err(|e| Error::Other(anyhow::Error::new(e).context("building compare_seeds.csv")))
}

/// timeline.{png,svg} (one panel per run, its first seed, shared time axis),
/// start_latency.{png,svg} (one box per run, its seeds pooled) and, with several seeds,
/// figures_over_seeds.{png,svg}.
pub fn write_combined_plots(dir: &Path, sets: &[Replicates]) -> Result<(), Error> {
    let panels: Vec<Timeline> = sets
        .iter()
        .map(|s| {
            let r = &s.first;
            r.figures
                .timeline
                .titled(&format!("{}: {}", r.name, r.label))
        })
        .collect();
    plots::write_timelines(dir, "timeline", &panels)?;
    let seeds = sets[0].seeds.len();
    let boxes: Vec<LatencyBox> = sets
        .iter()
        .map(|s| match &s.pooled {
            Some(pooled) => LatencyBox::from_sorted(&s.name, pooled),
            None => {
                let mut b = s.first.figures.latency.clone();
                b.label = s.name.clone();
                b
            }
        })
        .collect();
    let title = if seeds > 1 {
        format!("Start latency by run ({seeds} seeds pooled)")
    } else if sets.iter().any(|s| s.first.figures.streamed) {
        report::latency_title("by run", true)
    } else {
        "Start latency by run".to_string()
    };
    plots::write_latency_boxes(dir, "start_latency", &title, &boxes)?;
    if seeds > 1 {
        let per_set: Vec<_> = sets.iter().map(figures_over_seeds).collect();
        let panels: Vec<plots::IntervalPanel> = plots::INTERVAL_FIGURES
            .iter()
            .map(|&(key, title)| plots::IntervalPanel {
                title: title.to_string(),
                points: sets
                    .iter()
                    .zip(&per_set)
                    .filter_map(|(s, figures)| {
                        let over = figures.iter().find(|(k, _)| *k == key)?.1?;
                        Some((s.name.clone(), over))
                    })
                    .collect(),
            })
            .collect();
        plots::write_intervals(
            dir,
            "figures_over_seeds",
            &format!("Mean (dot), 95% CI of the mean (thick bar), 5-95% of runs (thin bar) over {seeds} seeds"),
            &panels,
        )?;
    }
    Ok(())
}
