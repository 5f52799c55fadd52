//! A fit spec made ready to evaluate: files resolved, measurements read, each experiment's
//! config merged once; then one evaluation = every experiment simulated over the spec's seeds
//! with given parameter values, scored against its reference.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use sim_core::Scenario;

use super::comm;
use super::measured::{quantile, read_lithops_csv};
use super::spec::{input, read_spec, Experiment, FitSpec, Objective};
use super::{ExperimentFit, Figure, FIT_QUANTILES};
use crate::error::Error;
use crate::report::Summary;

/// A fit spec with its files resolved and measurements loaded.
pub(crate) struct Problem {
    pub spec: FitSpec,
    pub base: PathBuf,
    seeds: Vec<u64>,
    /// Per experiment: its merged config (includes, experiment sets and spec sets applied).
    configs: Vec<toml::Value>,
    measured: Vec<Option<Vec<f64>>>,
    /// The measured figure of each communication experiment.
    comm_reference: Vec<Option<f64>>,
}

impl Problem {
    /// Reads the spec at `spec_path`; `extra_sets` apply to every experiment after the spec's
    /// own `sets` (the command line's `--set`).
    pub fn new(spec_path: &Path, extra_sets: &[String]) -> Result<Self, Error> {
        let mut spec = read_spec(spec_path)?;
        spec.sets.extend(extra_sets.iter().cloned());
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
        let configs = spec
            .experiments
            .iter()
            .map(|e| {
                let mut sets = e.sets.clone();
                sets.extend(spec.sets.iter().cloned());
                sim_core::config::load_config_value(&base.join(&e.config), &sets)
            })
            .collect::<Result<_, _>>()?;
        Ok(Problem {
            seeds: spec.seeds.list(),
            spec,
            base,
            configs,
            measured,
            comm_reference,
        })
    }

    /// The same problem without experiment `i` (a cross-validation fold).
    pub fn without(&self, i: usize) -> Problem {
        let mut spec = self.spec.clone();
        spec.experiments.remove(i);
        fn drop<T: Clone>(v: &[T], i: usize) -> Vec<T> {
            let mut v = v.to_vec();
            v.remove(i);
            v
        }
        Problem {
            spec,
            base: self.base.clone(),
            seeds: self.seeds.clone(),
            configs: drop(&self.configs, i),
            measured: drop(&self.measured, i),
            comm_reference: drop(&self.comm_reference, i),
        }
    }

    /// The same problem with other seeds and evaluation budget.
    pub fn with_budget(mut self, seeds: Option<u64>, max_evaluations: Option<usize>) -> Self {
        if let Some(n) = seeds {
            self.seeds = (1..=n).collect();
        }
        if let Some(n) = max_evaluations {
            self.spec.max_evaluations = n;
        }
        self
    }

    /// Parameter values from a point of the unit cube.
    pub fn values(&self, x: &[f64]) -> Vec<f64> {
        let params = self.spec.params.iter();
        params.zip(x).map(|(p, &u)| p.value_at(u)).collect()
    }

    /// The unit-cube point of parameter values.
    pub fn point(&self, values: &[f64]) -> Vec<f64> {
        let params = self.spec.params.iter();
        params.zip(values).map(|(p, &v)| p.unit_of(v)).collect()
    }

    /// `--set` overrides for parameter values.
    pub fn sets(&self, values: &[f64]) -> Vec<String> {
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
    pub fn evaluate(&self, values: &[f64]) -> Result<(f64, Vec<ExperimentFit>), Error> {
        let param_sets = self.sets(values);
        let mut total = 0.0;
        let mut fits = Vec::new();
        for (i, exp) in self.spec.experiments.iter().enumerate() {
            let scenario = self.scenario(i, &param_sets)?;
            let (error, figures) = match (&self.measured[i], &exp.comm, self.comm_reference[i]) {
                (Some(reference), _, _) => {
                    self.quantile_fit(&scenario, reference, exp.container_workers)
                }
                (None, Some(target), Some(reference)) => {
                    // A communication benchmark has no randomness: one seed is enough.
                    let out = sim_core::simulate(&scenario, self.seeds[0]);
                    let sim = target.simulated(&out);
                    let error = (sim.max(1e-9) / reference).ln().powi(2);
                    let label = target.metric.label().to_string();
                    (error, vec![Figure::new(label, reference, &[sim])])
                }
                _ => self.target_fit(exp, &scenario)?,
            };
            let error = if exp.holdout { 0.0 } else { exp.weight * error };
            total += error;
            fits.push(ExperimentFit {
                name: exp.name.clone(),
                figures,
                error,
                holdout: exp.holdout,
            });
        }
        Ok((total, fits))
    }

    /// Experiment `i`'s scenario with the parameter overrides.
    fn scenario(&self, i: usize, param_sets: &[String]) -> Result<Scenario, Error> {
        let path = self.base.join(&self.spec.experiments[i].config);
        let mut value = self.configs[i].clone();
        for set in param_sets {
            sim_core::config::apply_set(&mut value, set, &path)?;
        }
        let config = sim_core::config::parse_config_value(value, &path)?;
        Ok(Scenario::from_config(&config, &path)?)
    }

    /// One run per seed, in seed order (in parallel; the order of results does not depend on
    /// the threads).
    fn runs<T: Send>(
        &self,
        scenario: &Scenario,
        f: impl Fn(sim_core::SimOutput) -> T + Sync,
    ) -> Vec<T> {
        self.seeds
            .par_iter()
            .map(|&seed| f(sim_core::simulate(scenario, seed)))
            .collect()
    }

    /// The start-latency quantiles of a measured burst against the runs' (one value per seed
    /// each), scored by the spec's objective.
    fn quantile_fit(
        &self,
        scenario: &Scenario,
        reference: &[f64],
        container_workers: Option<u32>,
    ) -> (f64, Vec<Figure>) {
        let runs: Vec<Vec<f64>> =
            self.runs(scenario, |out| policies::start_latencies(&out.records));
        let per_seed = |q: f64| -> Vec<f64> { runs.iter().map(|l| quantile(l, q)).collect() };
        let mut error = 0.0;
        let mut figures = Vec::new();
        for q in FIT_QUANTILES {
            let sims = per_seed(q);
            let meas = quantile(reference, q);
            error += self.score(&sims, meas, log_seconds);
            figures.push(Figure::new(quantile_label(q), meas, &sims));
        }
        if let Some(g) = container_workers.map(|g| g.max(1) as usize) {
            let measured = container_gaps(reference, g);
            if measured.len() + 1 >= MIN_CONTAINERS_FOR_GAPS {
                let sim_gaps: Vec<Vec<f64>> = runs.iter().map(|l| container_gaps(l, g)).collect();
                for q in GAP_QUANTILES {
                    let sims: Vec<f64> = sim_gaps.iter().map(|gaps| quantile(gaps, q)).collect();
                    let meas = quantile(&measured, q);
                    error += self.score(&sims, meas, log_gap);
                    let label = format!("container gap p{}", (q * 100.0).round());
                    figures.push(Figure::new(label, meas, &sims));
                }
            }
            if g >= MIN_WORKERS_FOR_SPREAD {
                let sims: Vec<f64> = runs.iter().map(|l| container_spread(l, g)).collect();
                let meas = container_spread(reference, g);
                error += self.score(&sims, meas, log_spread);
                figures.push(Figure::new("container spread".into(), meas, &sims));
            }
        }
        // Reported, not fitted: the data README's p99.
        figures.push(Figure::new(
            "start latency p99".into(),
            quantile(reference, 0.99),
            &per_seed(0.99),
        ));
        (error, figures)
    }

    /// Summary figures (one value per seed each) against the experiment's targets.
    fn target_fit(
        &self,
        exp: &Experiment,
        scenario: &Scenario,
    ) -> Result<(f64, Vec<Figure>), Error> {
        let summaries = self.runs(scenario, |out| {
            serde_json::to_value(Summary::from_records(&out.records))
        });
        let mut values: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
        for summary in summaries {
            let summary = summary.map_err(|e| Error::Other(e.into()))?;
            for key in exp.targets.keys() {
                let v = summary.get(key).and_then(|v| v.as_f64()).ok_or_else(|| {
                    Error::Input(format!(
                        "experiment `{}`: target `{key}` is not a summary figure",
                        exp.name
                    ))
                })?;
                values.entry(key).or_default().push(v);
            }
        }
        let mut error = 0.0;
        let mut figures = Vec::new();
        for (key, reference) in &exp.targets {
            let sims = &values[key.as_str()];
            error += self.score(sims, *reference, log_seconds);
            figures.push(Figure::new(key.clone(), *reference, sims));
        }
        Ok((error, figures))
    }

    /// One figure's contribution to the objective, compared on the scale `log`.
    fn score(&self, sims: &[f64], reference: f64, log: fn(f64) -> f64) -> f64 {
        match self.spec.objective {
            Objective::SquaredLog => {
                let mean = sims.iter().sum::<f64>() / sims.len() as f64;
                (log(mean) - log(reference)).powi(2)
            }
            Objective::Crps => {
                let logs: Vec<f64> = sims.iter().map(|&v| log(v)).collect();
                crps(&logs, log(reference))
            }
        }
    }

    /// Current parameter values as written in the profile (with the spec's sets applied).
    pub fn current_values(&self) -> Result<Vec<f64>, Error> {
        let profile_path = self.base.join(&self.spec.profile);
        let value = sim_core::config::load_config_value(&profile_path, &self.spec.sets)?;
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

/// Quantiles of the container start gaps matched (with `container_workers`).
const GAP_QUANTILES: [f64; 3] = [0.25, 0.5, 0.75];
/// Gaps are matched only with at least this many containers.
const MIN_CONTAINERS_FOR_GAPS: usize = 8;
/// Added to a gap before its logarithm: gaps near 0 (two creations ending together) compare
/// on a scale that does not blow up.
const GAP_FLOOR_S: f64 = 0.02;

/// The spread of worker starts inside a container (the dispatcher's spawning) is matched for
/// containers of at least this many workers.
const MIN_WORKERS_FOR_SPREAD: usize = 12;
/// Added to a spread before its logarithm, as for gaps.
const SPREAD_FLOOR_S: f64 = 0.005;

fn log_seconds(v: f64) -> f64 {
    v.max(1e-9).ln()
}

fn log_gap(v: f64) -> f64 {
    (v.max(0.0) + GAP_FLOOR_S).ln()
}

fn log_spread(v: f64) -> f64 {
    (v.max(0.0) + SPREAD_FLOOR_S).ln()
}

/// Median over the containers of a run with `g` workers per container of the time from its
/// first worker's start to its last's (containers = blocks of `g` sorted start latencies).
fn container_spread(sorted: &[f64], g: usize) -> f64 {
    let mut spreads: Vec<f64> = sorted
        .chunks(g.max(1))
        .filter(|c| c.len() == g)
        .map(|c| c[c.len() - 1] - c[0])
        .collect();
    spreads.sort_by(f64::total_cmp);
    quantile(&spreads, 0.5)
}

/// Gaps between successive container starts of a run with `g` workers per container: the
/// starts are every `g`-th sorted start latency (workers of a container start within
/// milliseconds, containers a tenth of a second or more apart).
fn container_gaps(sorted: &[f64], g: usize) -> Vec<f64> {
    let starts: Vec<f64> = sorted.iter().step_by(g.max(1)).copied().collect();
    let mut gaps: Vec<f64> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort_by(f64::total_cmp);
    gaps
}

fn quantile_label(q: f64) -> String {
    match q {
        0.0 => "start latency min".to_string(),
        1.0 => "start latency max".to_string(),
        q => format!("start latency p{}", (q * 100.0).round()),
    }
}

/// Reads a number at a dotted path (`a.b.c`, `a.b[2].c`) of a TOML value.
fn lookup(value: &toml::Value, path: &str) -> Option<f64> {
    let v = sim_core::config::value_at(value, path)?;
    v.as_float().or_else(|| v.as_integer().map(|i| i as f64))
}

/// The CRPS of observation `y` under the empirical distribution of `xs`:
/// `mean |x - y| - mean |x - x'| / 2` (the sample form; 0 when every x equals y).
pub fn crps(xs: &[f64], y: f64) -> f64 {
    let n = xs.len() as f64;
    let spread_to_y = xs.iter().map(|x| (x - y).abs()).sum::<f64>() / n;
    let mut sorted = xs.to_vec();
    sorted.sort_by(f64::total_cmp);
    // sum over pairs |x_i - x_j| = 2 * sum_i (2i - n + 1) x_(i), i from 0.
    let pairs: f64 = sorted
        .iter()
        .enumerate()
        .map(|(i, x)| (2.0 * i as f64 - n + 1.0) * x)
        .sum::<f64>()
        * 2.0;
    spread_to_y - pairs / (2.0 * n * n)
}

#[cfg(test)]
mod tests {
    use super::crps;

    #[test]
    fn crps_is_the_absolute_error_for_a_point_forecast() {
        assert!((crps(&[2.0, 2.0, 2.0], 5.0) - 3.0).abs() < 1e-12);
        assert_eq!(crps(&[1.0], 1.0), 0.0);
    }

    #[test]
    fn crps_rewards_a_spread_that_covers_the_observation() {
        // Observation 1 away from the centre: a forecast spread over +-1 scores better than a
        // point at the centre, and better than one spread far wider.
        let point = crps(&[0.0], 1.0);
        let fair: Vec<f64> = (0..101).map(|i| -1.0 + i as f64 / 50.0).collect();
        let wide: Vec<f64> = fair.iter().map(|x| x * 10.0).collect();
        assert!(crps(&fair, 1.0) < point);
        assert!(crps(&fair, 1.0) < crps(&wide, 1.0));
    }

    #[test]
    fn crps_matches_the_pairwise_definition() {
        let xs = [0.3, -1.2, 2.5, 0.0, 0.7];
        let y = 0.4;
        let n = xs.len() as f64;
        let a = xs.iter().map(|x: &f64| (x - y).abs()).sum::<f64>() / n;
        let b: f64 = xs
            .iter()
            .flat_map(|x| xs.iter().map(move |z| (x - z).abs()))
            .sum::<f64>()
            / (2.0 * n * n);
        assert!((crps(&xs, y) - (a - b)).abs() < 1e-12);
    }
}
