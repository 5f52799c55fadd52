//! `burstsim fit`: fits a platform profile's parameters to measurements by running the simulator.
//!
//! A fit spec (TOML) names the profile to fit, the parameters (dotted config paths with bounds)
//! and the experiments: each an experiment config that includes the profile, optional `--set`
//! overrides, and either a measured CSV of per-worker start latencies (its quantiles are matched)
//! or summary targets (e.g. makespan and max concurrency from a paper), or a communication
//! benchmark ([`comm`]: pair throughput per chunk size, aggregate throughput per burst size).
//! Experiments marked `holdout` are simulated and reported but not fitted: their rows are the
//! out-of-sample errors. Nelder-Mead minimises the
//! summed squared log-errors; the profile is rewritten with the fitted values and the error of
//! every experiment is reported, so a fit is a claim with its error, not a copied number.

pub mod comm;
pub mod measured;
pub mod minimize;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sim_core::Scenario;

use crate::error::Error;
use crate::report::Summary;
use measured::{quantile, read_lithops_csv};

/// Quantiles of start latency matched against a measured burst.
pub const FIT_QUANTILES: [f64; 7] = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0];

/// `burstsim fit` arguments.
#[derive(Debug, clap::Args)]
pub struct FitArgs {
    /// The fit spec (TOML), e.g. configs/fit/burst-2023.toml.
    #[arg(long)]
    pub spec: PathBuf,
    /// Report the error of the profile as it is, without fitting or writing anything.
    #[arg(long)]
    pub check: bool,
}

/// A fit spec file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FitSpec {
    /// What this fit is about (copied into the profile's header).
    #[serde(default)]
    pub description: String,
    /// The profile that is fitted and rewritten (relative to the spec file).
    pub profile: PathBuf,
    /// Seeds each experiment is simulated with; the error is averaged over them.
    #[serde(default = "default_seeds")]
    pub seeds: Vec<u64>,
    #[serde(default = "default_max_evaluations")]
    pub max_evaluations: usize,
    pub params: Vec<FitParam>,
    pub experiments: Vec<Experiment>,
}

fn default_seeds() -> Vec<u64> {
    vec![1]
}

fn default_max_evaluations() -> usize {
    400
}

/// One free parameter: a dotted path in the profile holding a number.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FitParam {
    pub path: String,
    pub min: f64,
    pub max: f64,
    /// Search on a log scale (for positive parameters spanning orders of magnitude).
    #[serde(default)]
    pub log: bool,
    /// Round to an integer (e.g. a slot count).
    #[serde(default)]
    pub integer: bool,
}

impl FitParam {
    /// The search scale: the value itself, or its logarithm with `log`.
    fn scaled(&self, v: f64) -> f64 {
        if self.log {
            v.ln()
        } else {
            v
        }
    }

    /// The value at `u` in `[0, 1]` along the range (rounded with `integer`).
    pub fn value_at(&self, u: f64) -> f64 {
        let (lo, hi) = (self.scaled(self.min), self.scaled(self.max));
        let s = lo + u * (hi - lo);
        let v = if self.log { s.exp() } else { s };
        if self.integer {
            v.round()
        } else {
            v
        }
    }

    /// Where `v`, clamped into the range, lies along it, in `[0, 1]`.
    pub fn unit_of(&self, v: f64) -> f64 {
        let (lo, hi) = (self.scaled(self.min), self.scaled(self.max));
        (self.scaled(v.clamp(self.min, self.max)) - lo) / (hi - lo)
    }
}

/// One experiment the profile must reproduce.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    pub name: String,
    /// Experiment config (includes the profile), relative to the spec file.
    pub config: PathBuf,
    #[serde(default)]
    pub sets: Vec<String>,
    /// A Lithops statistics CSV whose start-latency quantiles are matched.
    #[serde(default)]
    pub measured: Option<PathBuf>,
    /// Summary figures to match, by summary.json key (e.g. makespan_s, max_concurrency).
    #[serde(default)]
    pub targets: BTreeMap<String, f64>,
    /// A communication benchmark to match.
    #[serde(default)]
    pub comm: Option<comm::CommTarget>,
    #[serde(default = "default_weight")]
    pub weight: f64,
    /// Simulated and reported, not fitted: an out-of-sample check.
    #[serde(default)]
    pub holdout: bool,
}

fn default_weight() -> f64 {
    1.0
}

/// One figure of an experiment: (figure, reference, simulated).
pub type FigureRow = (String, f64, f64);

/// How one experiment compares with its reference, for the report.
#[derive(Debug, Clone)]
pub struct ExperimentFit {
    pub name: String,
    pub rows: Vec<FigureRow>,
    /// The experiment's contribution to the objective (0 for a holdout).
    pub error: f64,
    /// Not fitted: its rows are out-of-sample errors.
    pub holdout: bool,
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
    /// A plain-text table: per experiment, reference vs simulated with relative error; when
    /// some experiments are holdouts, the fitted ones first, then the out-of-sample ones, each
    /// with its mean absolute error.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:<22} {:<26} {:>10} {:>10} {:>8}",
            "experiment", "figure", "reference", "simulated", "rel.err"
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
                for (figure, reference, simulated) in &e.rows {
                    let err = relative_error(*simulated, *reference);
                    errors.push(err.abs());
                    let _ = writeln!(
                        s,
                        "{:<22} {:<26} {:>10.3} {:>10.3} {:>7.1}%",
                        e.name,
                        figure,
                        reference,
                        simulated,
                        100.0 * err
                    );
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
            "objective (sum of weighted squared log-errors): {:.4}, {} evaluations",
            self.objective, self.evaluations
        );
        s
    }
}

/// `(simulated - reference) / reference`.
pub fn relative_error(simulated: f64, reference: f64) -> f64 {
    (simulated - reference) / reference
}

fn input(path: &Path, msg: impl std::fmt::Display) -> Error {
    Error::Input(format!("{}: {msg}", path.display()))
}

/// Reads and checks a fit spec.
pub fn read_spec(path: &Path) -> Result<FitSpec, Error> {
    let text =
        std::fs::read_to_string(path).map_err(|e| input(path, format!("cannot read: {e}")))?;
    let spec: FitSpec = toml::from_str(&text).map_err(|e| input(path, e))?;
    if spec.params.is_empty() {
        return Err(input(
            path,
            "field `params`: expected at least one parameter",
        ));
    }
    if spec.experiments.is_empty() {
        return Err(input(
            path,
            "field `experiments`: expected at least one experiment",
        ));
    }
    if spec.seeds.is_empty() {
        return Err(input(path, "field `seeds`: expected at least one seed"));
    }
    for (i, p) in spec.params.iter().enumerate() {
        let ok = p.min.is_finite() && p.max.is_finite() && p.min < p.max && (!p.log || p.min > 0.0);
        if !ok {
            return Err(input(
                path,
                format!("field `params[{i}]`: expected min < max (and min > 0 with log = true)"),
            ));
        }
    }
    for (i, e) in spec.experiments.iter().enumerate() {
        let kinds =
            e.measured.is_some() as u8 + !e.targets.is_empty() as u8 + e.comm.is_some() as u8;
        if kinds != 1 {
            return Err(input(
                path,
                format!(
                    "field `experiments[{i}]`: expected exactly one of `measured`, `targets` or `comm`"
                ),
            ));
        }
    }
    Ok(spec)
}

/// A fit spec with its files resolved and measurements loaded.
struct Problem {
    spec: FitSpec,
    base: PathBuf,
    measured: Vec<Option<Vec<f64>>>,
    /// The measured figure of each communication experiment.
    comm_reference: Vec<Option<f64>>,
}

impl Problem {
    fn new(spec_path: &Path) -> Result<Self, Error> {
        let spec = read_spec(spec_path)?;
        let base = spec_path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let measured = spec
            .experiments
            .iter()
            .map(|e| {
                e.measured
                    .as_ref()
                    .map(|m| read_lithops_csv(&base.join(m)).map(|b| b.start_latencies))
                    .transpose()
            })
            .collect::<Result<_, _>>()?;
        let comm_reference = spec
            .experiments
            .iter()
            .map(|e| {
                let Some(target) = &e.comm else {
                    return Ok(None);
                };
                let path = base.join(&target.data);
                let rows = comm::read_bench_csv(&path)?;
                target
                    .measured(&rows)
                    .map(Some)
                    .map_err(|msg| input(&path, format!("experiment `{}`: {msg}", e.name)))
            })
            .collect::<Result<_, Error>>()?;
        Ok(Problem {
            spec,
            base,
            measured,
            comm_reference,
        })
    }

    /// Parameter values from a point of the unit cube.
    fn values(&self, x: &[f64]) -> Vec<f64> {
        let params = self.spec.params.iter();
        params.zip(x).map(|(p, &u)| p.value_at(u)).collect()
    }

    /// The unit-cube point of parameter values.
    fn point(&self, values: &[f64]) -> Vec<f64> {
        let params = self.spec.params.iter();
        params.zip(values).map(|(p, &v)| p.unit_of(v)).collect()
    }

    fn sets(&self, values: &[f64]) -> Vec<String> {
        self.spec
            .params
            .iter()
            .zip(values)
            .map(|(p, v)| {
                if p.integer {
                    format!("{}={}", p.path, *v as i64)
                } else {
                    format!("{}={v:?}", p.path)
                }
            })
            .collect()
    }

    /// Simulates every experiment with the given parameter values.
    fn evaluate(&self, values: &[f64]) -> Result<(f64, Vec<ExperimentFit>), Error> {
        let param_sets = self.sets(values);
        let mut total = 0.0;
        let mut fits = Vec::new();
        let experiments = self.spec.experiments.iter().zip(&self.measured);
        for ((exp, measured), comm_reference) in experiments.zip(&self.comm_reference) {
            let config_path = self.base.join(&exp.config);
            let mut sets = exp.sets.clone();
            sets.extend(param_sets.iter().cloned());
            let scenario = Scenario::load(&config_path, &sets)?;
            let (error, rows) = match (measured, &exp.comm, comm_reference) {
                (Some(reference), _, _) => self.quantile_fit(&scenario, reference),
                (None, Some(target), Some(reference)) => {
                    // A communication benchmark has no randomness: one seed is enough.
                    let out = sim_core::simulate(&scenario, self.spec.seeds[0]);
                    let sim = target.simulated(&out);
                    let error = (sim.max(1e-9) / reference).ln().powi(2);
                    (
                        error,
                        vec![(target.metric.label().to_string(), *reference, sim)],
                    )
                }
                _ => self.target_fit(exp, &scenario)?,
            };
            let error = if exp.holdout { 0.0 } else { exp.weight * error };
            total += error;
            fits.push(ExperimentFit {
                name: exp.name.clone(),
                rows,
                error,
                holdout: exp.holdout,
            });
        }
        Ok((total, fits))
    }

    /// Squared log-errors of the start-latency quantiles (mean over the seeds) against a
    /// measured burst, and the report rows.
    fn quantile_fit(&self, scenario: &Scenario, reference: &[f64]) -> (f64, Vec<FigureRow>) {
        let runs: Vec<Vec<f64>> = self
            .spec
            .seeds
            .iter()
            .map(|&seed| {
                let out = sim_core::simulate(scenario, seed);
                policies::start_latencies(&out.records)
            })
            .collect();
        let mean_quantile =
            |q: f64| runs.iter().map(|l| quantile(l, q)).sum::<f64>() / runs.len() as f64;
        let mut error = 0.0;
        let mut rows = Vec::new();
        for q in FIT_QUANTILES {
            let (meas, sim) = (quantile(reference, q), mean_quantile(q));
            error += (sim.max(1e-9) / meas).ln().powi(2);
            let label = match q {
                0.0 => "start latency min".to_string(),
                1.0 => "start latency max".to_string(),
                q => format!("start latency p{}", (q * 100.0).round()),
            };
            rows.push((label, meas, sim));
        }
        // Reported, not fitted: the data README's p99.
        rows.push((
            "start latency p99".into(),
            quantile(reference, 0.99),
            mean_quantile(0.99),
        ));
        (error, rows)
    }

    /// Squared log-errors of summary figures (mean over the seeds) against the experiment's
    /// targets, and the report rows.
    fn target_fit(
        &self,
        exp: &Experiment,
        scenario: &Scenario,
    ) -> Result<(f64, Vec<FigureRow>), Error> {
        let seeds = &self.spec.seeds;
        let mut sums: BTreeMap<&str, f64> = BTreeMap::new();
        for &seed in seeds {
            let out = sim_core::simulate(scenario, seed);
            let summary = serde_json::to_value(Summary::from_records(&out.records))
                .map_err(|e| Error::Other(e.into()))?;
            for key in exp.targets.keys() {
                let v = summary.get(key).and_then(|v| v.as_f64()).ok_or_else(|| {
                    Error::Input(format!(
                        "experiment `{}`: target `{key}` is not a summary figure",
                        exp.name
                    ))
                })?;
                *sums.entry(key).or_default() += v / seeds.len() as f64;
            }
        }
        let mut error = 0.0;
        let mut rows = Vec::new();
        for (key, reference) in &exp.targets {
            let sim = sums[key.as_str()];
            error += (sim.max(1e-9) / reference).ln().powi(2);
            rows.push((key.clone(), *reference, sim));
        }
        Ok((error, rows))
    }

    /// Current parameter values as written in the profile.
    fn current_values(&self) -> Result<Vec<f64>, Error> {
        let profile_path = self.base.join(&self.spec.profile);
        let value = sim_core::config::load_config_value(&profile_path, &[])?;
        self.spec
            .params
            .iter()
            .map(|p| {
                lookup(&value, &p.path).ok_or_else(|| {
                    input(
                        &profile_path,
                        format!("field `{}`: expected a number to fit", p.path),
                    )
                })
            })
            .collect()
    }
}

/// Reads a number at a dotted path (`a.b.c`, `a.b[2].c`) of a TOML value.
fn lookup(value: &toml::Value, path: &str) -> Option<f64> {
    let v = sim_core::config::value_at(value, path)?;
    v.as_float().or_else(|| v.as_integer().map(|i| i as f64))
}

/// Reports the error of the profile as it stands.
pub fn check(spec_path: &Path) -> Result<FitOutcome, Error> {
    let problem = Problem::new(spec_path)?;
    let values = problem.current_values()?;
    let (objective, experiments) = problem.evaluate(&values)?;
    Ok(FitOutcome {
        params: problem
            .spec
            .params
            .iter()
            .map(|p| p.path.clone())
            .zip(values)
            .collect(),
        objective,
        evaluations: 1,
        experiments,
    })
}

/// Fits the parameters, rewrites the profile, and reports the errors.
pub fn fit(spec_path: &Path) -> Result<FitOutcome, Error> {
    let problem = Problem::new(spec_path)?;
    let start = problem.point(&problem.current_values()?);
    // The objective must not fail half-way: check once that every experiment runs.
    problem.evaluate(&problem.values(&start))?;
    let objective = |x: &[f64]| {
        problem
            .evaluate(&problem.values(x))
            .map(|(v, _)| v)
            .unwrap_or(f64::INFINITY)
    };
    let minimum = minimize::minimize(objective, &start, 0.15, problem.spec.max_evaluations, 1e-9);
    let values = problem.values(&minimum.x);
    let (objective, experiments) = problem.evaluate(&values)?;
    let outcome = FitOutcome {
        params: problem
            .spec
            .params
            .iter()
            .map(|p| p.path.clone())
            .zip(values.clone())
            .collect(),
        objective,
        evaluations: minimum.evaluations,
        experiments,
    };
    write_profile(&problem, spec_path, &values, &outcome)?;
    Ok(outcome)
}

/// Rewrites the profile with the fitted values, its header recording the fit and its error.
fn write_profile(
    problem: &Problem,
    spec_path: &Path,
    values: &[f64],
    outcome: &FitOutcome,
) -> Result<(), Error> {
    let profile_path = problem.base.join(&problem.spec.profile);
    let text = std::fs::read_to_string(&profile_path)
        .map_err(|e| input(&profile_path, format!("cannot read: {e}")))?;
    let mut value: toml::Value = toml::from_str(&text).map_err(|e| input(&profile_path, e))?;
    for set in problem.sets(values) {
        sim_core::config::apply_set(&mut value, &set, &profile_path)?;
    }
    let body = toml::to_string_pretty(&value).map_err(|e| Error::Other(e.into()))?;
    let mut header = String::new();
    let _ = writeln!(
        header,
        "# Generated by `burstsim fit --spec {}`: edit the spec, not this file.",
        spec_path.display()
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
    let outcome = if args.check {
        check(&args.spec)?
    } else {
        fit(&args.spec)?
    };
    for (path, v) in &outcome.params {
        println!("{path} = {v:.6}");
    }
    print!("{}", outcome.table());
    Ok(())
}
