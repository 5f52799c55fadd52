//! Several runs side by side: one column per run on stdout, `compare.csv` (one row per run and
//! seed), each run's own files in a subfolder, and combined plots (thesis Figures 5.1/5.2: the
//! timelines stacked on one time axis, the start-latency boxes side by side). With `--seeds N`
//! each config runs with N consecutive seeds: the table shows each figure's mean with its 95%
//! confidence interval, `compare_seeds.csv` holds mean, interval and spread per run and figure,
//! the boxes pool the N runs and `figures_over_seeds.{png,svg}` draws the intervals.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use clap::Args;
use polars::prelude::*;

use crate::args::RunOptions;
use crate::report::{
    self, plots, summary_table, LatencyBox, OverSeeds, RunReport, Summary, Timeline,
};
use crate::run::simulate;
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

/// One config's runs, one per seed.
struct Replicates {
    name: String,
    config: PathBuf,
    runs: Vec<RunReport>,
    seeds: Vec<u64>,
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
    // Simulate everything before writing anything: a bad config fails the whole command early.
    let mut all = Vec::with_capacity(args.configs.len());
    for path in &args.configs {
        let scenario = args.options.load(path)?;
        let first = args.options.seed_for(&scenario);
        let seeds: Vec<u64> = (0..args.seeds).map(|k| first.wrapping_add(k)).collect();
        let runs: Vec<_> = seeds
            .iter()
            .map(|&seed| simulate(scenario.clone(), Some(seed)))
            .collect();
        all.push((path.clone(), seeds, runs));
    }
    let names = unique_names(all.iter().map(|(_, _, runs)| runs[0].name.as_str()));
    let dir = args
        .options
        .out_dir(&format!("compare-{}", names.join("-")));
    let mut sets: Vec<Replicates> = Vec::new();
    for ((config, seeds, runs), name) in all.into_iter().zip(&names) {
        let seed_text = match seeds.as_slice() {
            [one] => format!("seed {one}"),
            many => format!("seeds {}..{}", many[0], many[many.len() - 1]),
        };
        println!("{name}: {} ({seed_text})", runs[0].label);
        let runs = runs
            .into_iter()
            .map(|run| {
                let mut report = run.into_report();
                report.name = name.clone();
                report
            })
            .collect();
        sets.push(Replicates {
            name: name.clone(),
            config,
            runs,
            seeds,
        });
    }
    if args.seeds == 1 {
        let columns: Vec<(&str, &Summary)> = sets
            .iter()
            .map(|r| (r.name.as_str(), &r.runs[0].summary))
            .collect();
        print!("{}", summary_table(&columns));
    } else {
        print!("{}", seeds_table(&sets));
    }

    for set in &sets {
        report::write_run(&dir.join(&set.name), &set.runs[0])?;
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
    let fields: Vec<Vec<(&'static str, f64)>> =
        set.runs.iter().map(|r| r.summary.fields()).collect();
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
            std::iter::once(format!("mean ± 95% CI over {} seeds", sets[0].runs.len()))
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
    let widths: Vec<usize> = (0..cells[0].len())
        .map(|c| {
            cells
                .iter()
                .map(|r| r[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in &cells {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, cell)| {
                let pad = widths[c] - cell.chars().count();
                if c == 0 {
                    format!("{cell}{}", " ".repeat(pad))
                } else {
                    format!("{}{cell}", " ".repeat(pad))
                }
            })
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
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
fn compare_frame(sets: &[Replicates]) -> Result<DataFrame, Error> {
    let reports: Vec<&RunReport> = sets.iter().flat_map(|s| &s.runs).collect();
    let per_run = |f: &dyn Fn(&Replicates) -> String| -> Vec<String> {
        sets.iter()
            .flat_map(|s| std::iter::repeat_n(f(s), s.runs.len()))
            .collect()
    };
    let text =
        |name: &str, values: Vec<String>| -> Column { Series::new(name.into(), values).into() };
    let seeds: Vec<u64> = sets.iter().flat_map(|s| s.seeds.iter().copied()).collect();
    let mut columns: Vec<Column> = vec![
        text("run", per_run(&|s| s.name.clone())),
        text("label", reports.iter().map(|r| r.label.clone()).collect()),
        Series::new("seed".into(), seeds).into(),
        text("config", per_run(&|s| s.config.display().to_string())),
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
            let values = over.map(|o| {
                [
                    o.n as f64, o.mean, o.sd, o.ci_low, o.ci_high, o.min, o.p5, o.median, o.p95,
                    o.max,
                ]
            });
            for (k, column) in stats.iter_mut().enumerate() {
                column.push(values.map(|v| v[k]));
            }
        }
    }
    let names = [
        "n",
        "mean",
        "sd",
        "ci95_low",
        "ci95_high",
        "min",
        "p5",
        "median",
        "p95",
        "max",
    ];
    let mut columns: Vec<Column> = vec![
        Series::new("run".into(), run).into(),
        Series::new("figure".into(), figure).into(),
    ];
    for (name, values) in names.iter().zip(stats) {
        columns.push(Series::new((*name).into(), values).into());
    }
    let height = columns[0].len();
    DataFrame::new(height, columns)
        .map_err(|e| Error::Other(anyhow::Error::new(e).context("building compare_seeds.csv")))
}

/// timeline.{png,svg} (one panel per run, its first seed, shared time axis),
/// start_latency.{png,svg} (one box per run, its seeds pooled) and, with several seeds,
/// figures_over_seeds.{png,svg}.
fn write_combined_plots(dir: &Path, sets: &[Replicates]) -> Result<(), Error> {
    let panels: Vec<Timeline> = sets
        .iter()
        .map(|s| {
            let r = &s.runs[0];
            Timeline::new(&format!("{}: {}", r.name, r.label), &r.records)
        })
        .collect();
    plots::write_timelines(dir, "timeline", &panels)?;
    let seeds = sets[0].runs.len();
    let boxes: Vec<LatencyBox> = sets
        .iter()
        .map(|s| {
            let mut pooled: Vec<f64> = s
                .runs
                .iter()
                .flat_map(|r| start_latencies(&r.records))
                .collect();
            pooled.sort_by(f64::total_cmp);
            LatencyBox::from_sorted(&s.name, &pooled)
        })
        .collect();
    let title = if seeds > 1 {
        format!("Start latency by run ({seeds} seeds pooled)")
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

/// Start latencies (t_start since the first submission) of the ok functions of one run.
fn start_latencies(records: &[policies::FunctionRecord]) -> Vec<f64> {
    let t0 = report::first_submission(records);
    records
        .iter()
        .filter(|r| r.is_ok() && r.t_start.is_finite())
        .map(|r| r.t_start - t0)
        .collect()
}
