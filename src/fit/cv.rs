//! Leave-one-experiment-out cross-validation (`burstsim fit --cv`): for each experiment in
//! turn, fit the parameters on all the others and predict the one left out; also fit on all of
//! them (the in-sample fit). Every fit starts from the middle of the parameters' ranges (on
//! their search scale), not from the shipped profile, which has seen every experiment, and has
//! the same budget, so in-sample and held-out errors are comparable. Nothing is written.

use std::fmt::Write as _;
use std::path::Path;

use super::problem::Problem;
use super::{ExperimentFit, FitOptions, FitOutcome};
use crate::error::Error;

/// The figures the cross-validation table shows for each held-out experiment.
pub const CV_FIGURES: [&str; 3] = [
    "start latency p50",
    "start latency p90",
    "start latency max",
];

/// One fold: the experiment left out, as predicted by the fit on the others.
#[derive(Debug, Clone)]
pub struct CvFold {
    pub held_out: ExperimentFit,
    /// The parameters fitted without it.
    pub params: Vec<(String, f64)>,
    pub evaluations: usize,
}

/// In-sample fit and held-out predictions.
#[derive(Debug, Clone)]
pub struct CvOutcome {
    pub in_sample: FitOutcome,
    pub folds: Vec<CvFold>,
}

/// Runs the cross-validation of the spec at `spec_path`.
pub fn cross_validate(spec_path: &Path, options: &FitOptions) -> Result<CvOutcome, Error> {
    let problem =
        Problem::new(spec_path, &options.sets)?.with_budget(options.seeds, options.max_evaluations);
    let n = problem.spec.experiments.len();
    if n < 2 {
        return Err(Error::input(format!(
            "{}: field `experiments`: cross-validation needs at least two, got {n}",
            spec_path.display()
        )));
    }
    let middle = vec![0.5; problem.spec.params.len()];
    let (values, evaluations) = problem.minimize(&middle)?;
    let in_sample = problem.outcome(&values, evaluations)?;
    let mut folds = Vec::with_capacity(n);
    for i in 0..n {
        let train = problem.without(i);
        let (values, evaluations) = train.minimize(&middle)?;
        let (_, mut fits) = problem.evaluate(&values)?;
        folds.push(CvFold {
            held_out: fits.swap_remove(i),
            params: train.outcome(&values, evaluations)?.params,
            evaluations,
        });
    }
    Ok(CvOutcome { in_sample, folds })
}

impl CvOutcome {
    /// (in-sample, held-out) relative error of `figure` for the experiment of fold `i`.
    pub fn errors(&self, i: usize, figure: &str) -> Option<(f64, f64)> {
        let fold = &self.folds[i];
        let held_out = fold.held_out.figure(figure)?.error();
        let in_sample = self
            .in_sample
            .experiment(&fold.held_out.name)?
            .figure(figure)?
            .error();
        Some((in_sample, held_out))
    }

    /// The objective summed over the experiments: (in-sample fit, each predicted when left
    /// out). The held-out sum is the cross-validated score that ranks model variants.
    pub fn objectives(&self) -> (f64, f64) {
        (
            self.in_sample.experiments.iter().map(|e| e.error).sum(),
            self.folds.iter().map(|f| f.held_out.error).sum(),
        )
    }

    /// Mean absolute (in-sample, held-out) relative error of `figure` over the folds.
    pub fn mean_abs_errors(&self, figure: &str) -> (f64, f64) {
        let errors: Vec<(f64, f64)> = (0..self.folds.len())
            .filter_map(|i| self.errors(i, figure))
            .collect();
        let n = errors.len().max(1) as f64;
        (
            errors.iter().map(|e| e.0.abs()).sum::<f64>() / n,
            errors.iter().map(|e| e.1.abs()).sum::<f64>() / n,
        )
    }

    /// The table: per held-out experiment and figure, measured vs in-sample vs held-out
    /// prediction (with its 5-95% range over seeds), then the mean absolute errors.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:<10} {:<18} {:>8} {:>9} {:>7} {:>9} {:>7} {:>15}",
            "held out",
            "figure",
            "measured",
            "in-sample",
            "err",
            "held-out",
            "err",
            "5-95% (seeds)"
        );
        for (i, fold) in self.folds.iter().enumerate() {
            for name in CV_FIGURES {
                let (Some(f), Some((e_in, e_out))) =
                    (fold.held_out.figure(name), self.errors(i, name))
                else {
                    continue;
                };
                let in_sample = f.reference * (1.0 + e_in);
                let _ = writeln!(
                    s,
                    "{:<10} {:<18} {:>8.3} {:>9.3} {:>6.1}% {:>9.3} {:>6.1}% {:>7.3}-{:.3}",
                    fold.held_out.name,
                    name,
                    f.reference,
                    in_sample,
                    100.0 * e_in,
                    f.simulated,
                    100.0 * e_out,
                    f.low,
                    f.high
                );
            }
        }
        let _ = writeln!(s, "mean |error| over the held-out experiments:");
        for name in CV_FIGURES {
            let (e_in, e_out) = self.mean_abs_errors(name);
            let _ = writeln!(
                s,
                "  {name:<18} in-sample {:>5.1}%  held-out {:>5.1}%",
                100.0 * e_in,
                100.0 * e_out
            );
        }
        let covered = self
            .folds
            .iter()
            .flat_map(|f| CV_FIGURES.iter().filter_map(|n| f.held_out.figure(n)))
            .filter(|f| f.covered())
            .count();
        let _ = writeln!(
            s,
            "held-out measurements inside the model's 5-95% range over seeds: {covered} of {}",
            self.folds.len() * CV_FIGURES.len()
        );
        let (in_sample, held_out) = self.objectives();
        let _ = writeln!(
            s,
            "objective over all experiments: in-sample {in_sample:.4}, held-out {held_out:.4}"
        );
        let _ = writeln!(
            s,
            "in-sample fit: {} evaluations; fold evaluations: {}",
            self.in_sample.evaluations,
            self.folds
                .iter()
                .map(|f| f.evaluations.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        s
    }
}
