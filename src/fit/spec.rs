//! The fit spec file: which profile, which parameters (dotted paths with bounds), which
//! experiments, which seeds, which objective. A spec may name a `base` spec in the same folder
//! and replace some of its keys (a model variant fitted to the same experiments).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::Error;

/// A fit spec file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FitSpec {
    /// Another spec in the same folder whose keys this one starts from (its own keys replace
    /// the base's, whole).
    #[serde(default)]
    pub base: Option<PathBuf>,
    /// What this fit is about (copied into the profile's header).
    #[serde(default)]
    pub description: String,
    /// The profile that is fitted and rewritten (relative to the spec file).
    pub profile: PathBuf,
    /// Seeds each experiment is simulated with: a list, or a count N for seeds 1..=N.
    #[serde(default)]
    pub seeds: Seeds,
    /// How simulated and reference figures are compared.
    #[serde(default)]
    pub objective: Objective,
    #[serde(default = "default_max_evaluations")]
    pub max_evaluations: usize,
    /// Overrides applied to every experiment before the fitted parameters (`--set` syntax):
    /// how a variant fixes a part of the model.
    #[serde(default)]
    pub sets: Vec<String>,
    pub params: Vec<FitParam>,
    pub experiments: Vec<Experiment>,
}

fn default_max_evaluations() -> usize {
    400
}

/// The seeds of a fit: `seeds = [1, 2, 3]` or `seeds = 64` (1..=64).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Seeds {
    Count(u64),
    List(Vec<u64>),
}

impl Default for Seeds {
    fn default() -> Self {
        Seeds::List(vec![1])
    }
}

impl Seeds {
    /// The seeds, in order.
    pub fn list(&self) -> Vec<u64> {
        match self {
            Seeds::Count(n) => (1..=*n).collect(),
            Seeds::List(v) => v.clone(),
        }
    }
}

/// How a simulated figure (one value per seed) is scored against its reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Objective {
    /// `ln(mean over seeds / reference)^2`: matches the average run; blind to spread.
    #[default]
    SquaredLog,
    /// The continuous ranked probability score of the reference under the seeds' values, on a
    /// log scale: a proper score, lowest when the reference looks like one more draw of the
    /// model, so it fits spread (run-to-run noise, stragglers) as well as location.
    Crps,
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
    /// Workers per container of the measured run: the gaps between successive container
    /// starts (every n-th sorted start latency) are matched too, when there are 8 containers
    /// or more (how regular the creations are, which quantiles of the starts barely show), and
    /// the spread of starts inside a container of 12 workers or more (the dispatcher's pace).
    #[serde(default)]
    pub container_workers: Option<u32>,
    /// Summary figures to match, by summary.json key (e.g. makespan_s, max_concurrency).
    #[serde(default)]
    pub targets: BTreeMap<String, f64>,
    /// A communication benchmark to match.
    #[serde(default)]
    pub comm: Option<super::comm::CommTarget>,
    #[serde(default = "default_weight")]
    pub weight: f64,
    /// Simulated and reported, not fitted: an out-of-sample check.
    #[serde(default)]
    pub holdout: bool,
}

fn default_weight() -> f64 {
    1.0
}

pub(crate) fn input(path: &Path, msg: impl std::fmt::Display) -> Error {
    Error::Input(format!("{}: {msg}", path.display()))
}

fn read_table(path: &Path) -> Result<toml::Table, Error> {
    let text =
        std::fs::read_to_string(path).map_err(|e| input(path, format!("cannot read: {e}")))?;
    toml::from_str(&text).map_err(|e| input(path, e))
}

/// Reads and checks a fit spec (its `base` merged under it).
pub fn read_spec(path: &Path) -> Result<FitSpec, Error> {
    let mut table = read_table(path)?;
    if let Some(base) = table.get("base") {
        let Some(name) = base.as_str() else {
            return Err(input(path, "field `base`: expected a file name"));
        };
        let base_path = path.parent().unwrap_or(Path::new(".")).join(name);
        let same_folder = Path::new(name).parent() == Some(Path::new(""));
        if !same_folder {
            return Err(input(
                path,
                format!("field `base`: expected a spec in the same folder, got `{name}`"),
            ));
        }
        let mut merged = read_table(&base_path)?;
        if merged.contains_key("base") {
            return Err(input(
                &base_path,
                "field `base`: a base spec cannot have a base itself",
            ));
        }
        merged.extend(table);
        table = merged;
    }
    let spec: FitSpec = toml::Value::Table(table)
        .try_into()
        .map_err(|e| input(path, e))?;
    check(path, &spec)?;
    Ok(spec)
}

fn check(path: &Path, spec: &FitSpec) -> Result<(), Error> {
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
    if spec.seeds.list().is_empty() {
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
    Ok(())
}
