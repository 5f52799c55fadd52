//! `burstsim fit`: fits a platform profile's parameters to measurements by running the simulator.
//!
//! A fit spec (TOML) names the profile to fit, the parameters (dotted config paths with bounds)
//! and the experiments: each an experiment config that includes the profile, optional `--set`
//! overrides, and either a measured CSV of per-worker start latencies (its quantiles are matched)
//! or summary targets (e.g. makespan and max concurrency from a paper), or a communication
//! benchmark ([`comm`]: pair throughput per chunk size, aggregate throughput per burst size).
//! Experiments marked `holdout` are simulated and reported but not fitted: their rows are the
//! out-of-sample errors. Each experiment runs over
//! a fixed set of seeds (common random numbers: a parameter change does not redraw the noise),
//! and its figures are scored by the spec's objective: the squared log-error of the mean over
//! seeds, or the CRPS of the reference under the seeds' values, which also fits the spread.
//! Nelder-Mead (restarted while it improves) minimises the sum; the profile is rewritten with
//! the fitted values and the error of every experiment is reported, so a fit is a claim with its
//! error, not a copied number. `--cv` cross-validates instead (module `cv`).

pub mod comm;
pub mod cv;
pub mod measured;
pub mod minimize;
pub mod problem;
pub mod spec;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::error::Error;
use measured::quantile;
use problem::Problem;
pub use spec::{read_spec, Experiment, FitParam, FitSpec, Objective, Seeds};

/// Quantiles of start latency matched against a measured burst.
pub const FIT_QUANTILES: [f64; 7] = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0];

/// `burstsim fit` arguments.
#[derive(Debug, clap::Args)]
pub struct FitArgs {
    /// The fit spec (TOML), e.g. configs/fit/burst-2023.toml.
    #[arg(long)]
    pub spec: PathBuf,
    /// Report the error of the profile as it is, without fitting or writing anything.
    #[arg(long, conflicts_with = "cv")]
    pub check: bool,
    /// Leave-one-experiment-out cross-validation: fit on all experiments but one, predict that
    /// one, for each in turn; prints in-sample and held-out errors; writes nothing.
    #[arg(long)]
    pub cv: bool,
    /// Override a profile value in every experiment (`--set` syntax), e.g. to fit a variant.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Simulate each experiment with seeds 1..=N instead of the spec's seeds.
    #[arg(long, value_name = "N")]
    pub seeds: Option<u64>,
    /// Evaluation budget of each fit instead of the spec's `max_evaluations`.
    #[arg(long, value_name = "N")]
    pub max_evaluations: Option<usize>,
}

/// What a command-line fit may change about the spec.
#[derive(Debug, Clone, Default)]
pub struct FitOptions {
    /// Profile overrides for every experiment.
    pub sets: Vec<String>,
    /// Seeds 1..=N instead of the spec's.
    pub seeds: Option<u64>,
    /// Evaluation budget of each fit.
    pub max_evaluations: Option<usize>,
}

impl FitArgs {
    fn options(&self) -> FitOptions {
        FitOptions {
            sets: self.sets.clone(),
            seeds: self.seeds,
            max_evaluations: self.max_evaluations,
        }
    }
}

/// One figure of an experiment: the reference and the simulated value over the seeds.
#[derive(Debug, Clone)]
pub struct Figure {
    pub name: String,
    pub reference: f64,
    /// Median over the seeds: the typical run (robust to the rare straggler run that a mean
    /// over a few dozen seeds is not).
    pub simulated: f64,
    /// Mean over the seeds.
    pub mean: f64,
    /// 5th and 95th percentiles over the seeds (the run-to-run spread of the model).
    pub low: f64,
    pub high: f64,
}

impl Figure {
    /// A figure from its per-seed simulated values.
    pub fn new(name: String, reference: f64, per_seed: &[f64]) -> Self {
        let mut sorted = per_seed.to_vec();
        sorted.sort_by(f64::total_cmp);
        Figure {
            name,
            reference,
            simulated: quantile(&sorted, 0.5),
            mean: sorted.iter().sum::<f64>() / sorted.len() as f64,
            low: quantile(&sorted, 0.05),
            high: quantile(&sorted, 0.95),
        }
    }

    /// `(simulated - reference) / reference`.
    pub fn error(&self) -> f64 {
        relative_error(self.simulated, self.reference)
    }

    /// The reference lies within the seeds' 5-95% range.
    pub fn covered(&self) -> bool {
        self.low <= self.reference && self.reference <= self.high
    }
}

/// How one experiment compares with its reference, for the report.
#[derive(Debug, Clone)]
pub struct ExperimentFit {
    pub name: String,
    pub figures: Vec<Figure>,
    /// The experiment's contribution to the objective (0 for a holdout).
    pub error: f64,
    /// Not fitted: its figures are out-of-sample errors.
    pub holdout: bool,
}

impl ExperimentFit {
    /// The figure called `name`.
    pub fn figure(&self, name: &str) -> Option<&Figure> {
        self.figures.iter().find(|f| f.name == name)
    }
}

/// Result of a fit (or a check).
#[derive(Debug, Clone)]
pub struct FitOutcome {
    pub params: Vec<(String, f64)>,
    pub objective: f64,
    pub evaluations: usize,
    pub experiments: Vec<ExperimentFit>,
}

impl FitOutcome {
    /// The experiment called `name`.
    pub fn experiment(&self, name: &str) -> Option<&ExperimentFit> {
        self.experiments.iter().find(|e| e.name == name)
    }

    /// A plain-text table: per experiment, reference vs simulated (median over the seeds, and
    /// the 5-95% range over them) with the relative error of the median; when some experiments
    /// are holdouts, the fitted ones first, then the out-of-sample ones, each part with its
    /// mean absolute error.
    pub fn table(&self) -> String {
        let mut s = String::new();
        // Columns as wide as the longest name (communication experiments have long ones).
        let ew = self
            .experiments
            .iter()
            .map(|e| e.name.len())
            .max()
            .unwrap_or(0)
            .max(14);
        let fw = self
            .experiments
            .iter()
            .flat_map(|e| e.figures.iter().map(|f| f.name.len()))
            .max()
            .unwrap_or(0)
            .max(20);
        let _ = writeln!(
            s,
            "{:<ew$} {:<fw$} {:>9} {:>9} {:>8} {:>17}",
            "experiment", "figure", "reference", "simulated", "rel.err", "5-95% over seeds"
        );
        let any_holdout = self.experiments.iter().any(|e| e.holdout);
        for holdout in [false, true] {
            let part: Vec<&ExperimentFit> = self
                .experiments
                .iter()
                .filter(|e| e.holdout == holdout)
                .collect();
            if holdout && part.is_empty() {
                continue;
            }
            if any_holdout {
                let name = if holdout {
                    "out of sample (not fitted)"
                } else {
                    "in sample (fitted)"
                };
                let _ = writeln!(s, "-- {name}");
            }
            let mut errors = Vec::new();
            for e in &part {
                for f in &e.figures {
                    errors.push(f.error().abs());
                    let line = format!(
                        "{:<ew$} {:<fw$} {:>9.3} {:>9.3} {:>7.1}% {:>8.3}-{:.3}",
                        e.name,
                        f.name,
                        f.reference,
                        f.simulated,
                        100.0 * f.error(),
                        f.low,
                        f.high
                    );
                    let _ = writeln!(s, "{line}");
                }
            }
            if any_holdout && !errors.is_empty() {
                let mean = errors.iter().sum::<f64>() / errors.len() as f64;
                let max = errors.iter().copied().fold(0.0, f64::max);
                let _ = writeln!(
                    s,
                    "   mean |error| {:.1}%, max {:.1}% over {} figures",
                    100.0 * mean,
                    100.0 * max,
                    errors.len()
                );
            }
        }
        let _ = writeln!(
            s,
            "objective: {:.4}, {} evaluations",
            self.objective, self.evaluations
        );
        s
    }
}

/// `(simulated - reference) / reference`.
pub fn relative_error(simulated: f64, reference: f64) -> f64 {
    (simulated - reference) / reference
}

/// Reports the error of the profile as it stands.
pub fn check(spec_path: &Path) -> Result<FitOutcome, Error> {
    check_with(spec_path, &FitOptions::default())
}

/// Reports the error of the profile as it stands, with command-line changes to the spec.
pub fn check_with(spec_path: &Path, options: &FitOptions) -> Result<FitOutcome, Error> {
    let problem = Problem::load(spec_path, options)?;
    let values = problem.current_values()?;
    problem.outcome(&values, 1)
}

/// Fits the parameters, rewrites the profile, and reports the errors.
pub fn fit(spec_path: &Path) -> Result<FitOutcome, Error> {
    fit_with(spec_path, &FitOptions::default())
}

/// Fits with command-line changes to the spec (sets, seeds, budget), rewrites the profile.
pub fn fit_with(spec_path: &Path, options: &FitOptions) -> Result<FitOutcome, Error> {
    let problem = Problem::load(spec_path, options)?;
    let start = problem.point(&problem.current_values()?);
    let (values, evaluations) = problem.minimize(&start)?;
    let outcome = problem.outcome(&values, evaluations)?;
    write_profile(&problem, spec_path, &values, &outcome, options)?;
    Ok(outcome)
}

impl Problem {
    fn load(spec_path: &Path, options: &FitOptions) -> Result<Problem, Error> {
        Ok(Problem::new(spec_path, &options.sets)?
            .with_budget(options.seeds, options.max_evaluations))
    }

    /// The evaluation at `values`, as a report.
    pub(crate) fn outcome(&self, values: &[f64], evaluations: usize) -> Result<FitOutcome, Error> {
        let (objective, experiments) = self.evaluate(values)?;
        Ok(FitOutcome {
            params: self
                .spec
                .params
                .iter()
                .map(|p| p.path.clone())
                .zip(values.iter().copied())
                .collect(),
            objective,
            evaluations,
            experiments,
        })
    }

    /// Nelder-Mead from `start` (a unit-cube point), restarted from the best point with a
    /// fresh simplex while the budget lasts and a restart still improves: a collapsed simplex
    /// is Nelder-Mead's usual way of stalling. Returns the best values and the evaluations.
    pub(crate) fn minimize(&self, start: &[f64]) -> Result<(Vec<f64>, usize), Error> {
        // The objective must not fail half-way: check once that every experiment runs.
        let (mut best_value, _) = self.evaluate(&self.values(start))?;
        let mut best = start.to_vec();
        let mut spent = 1;
        let budget = self.spec.max_evaluations;
        while spent < budget {
            let objective = |x: &[f64]| {
                self.evaluate(&self.values(x))
                    .map(|(v, _)| v)
                    .unwrap_or(f64::INFINITY)
            };
            let m = minimize::minimize(objective, &best, 0.15, budget - spent, 1e-9);
            spent += m.evaluations.max(1);
            let improved = m.value < best_value - 1e-6 * best_value.abs().max(1e-12);
            if m.value < best_value {
                best_value = m.value;
                best = m.x;
            }
            if !improved {
                break;
            }
        }
        Ok((self.values(&best), spent))
    }
}

/// Rewrites the profile with the fitted values (and the spec's fixed `sets`), its header
/// recording the fit and its error.
fn write_profile(
    problem: &Problem,
    spec_path: &Path,
    values: &[f64],
    outcome: &FitOutcome,
    options: &FitOptions,
) -> Result<(), Error> {
    let profile_path = problem.base.join(&problem.spec.profile);
    let text = std::fs::read_to_string(&profile_path)
        .map_err(|e| spec::input(&profile_path, format!("cannot read: {e}")))?;
    let mut value: toml::Value =
        toml::from_str(&text).map_err(|e| spec::input(&profile_path, e))?;
    for set in problem.spec.sets.iter().chain(&problem.sets(values)) {
        sim_core::config::apply_set(&mut value, set, &profile_path)?;
    }
    let body = toml::to_string_pretty(&value).map_err(|e| Error::Other(e.into()))?;
    let mut header = String::new();
    let mut command = format!("burstsim fit --spec {}", spec_path.display());
    for set in &options.sets {
        let _ = write!(command, " --set {set}");
    }
    if let Some(n) = options.seeds {
        let _ = write!(command, " --seeds {n}");
    }
    if let Some(n) = options.max_evaluations {
        let _ = write!(command, " --max-evaluations {n}");
    }
    let _ = writeln!(
        header,
        "# Generated by `{command}`: edit the spec, not this file."
    );
    for line in problem.spec.description.lines() {
        let _ = writeln!(header, "# {line}");
    }
    let _ = writeln!(header, "#\n# Fitted parameters:");
    for (path, v) in &outcome.params {
        let _ = writeln!(header, "#   {path} = {v:.6}");
    }
    let _ = writeln!(header, "#\n# Fit error (reference vs simulated):");
    for line in outcome.table().lines() {
        let _ = writeln!(header, "#   {line}");
    }
    crate::atomic::write_bytes(&profile_path, format!("{header}\n{body}").as_bytes())
}

/// `burstsim fit`.
pub fn main(args: &FitArgs) -> Result<(), Error> {
    let options = args.options();
    if args.cv {
        let outcome = cv::cross_validate(&args.spec, &options)?;
        print!("{}", outcome.table());
        return Ok(());
    }
    let outcome = if args.check {
        check_with(&args.spec, &options)?
    } else {
        fit_with(&args.spec, &options)?
    };
    for (path, v) in &outcome.params {
        println!("{path} = {v:.6}");
    }
    print!("{}", outcome.table());
    Ok(())
}
