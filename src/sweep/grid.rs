//! From a sweep file to runs: axis values, the grid (zipped groups crossed in order), the run
//! numbering (point-major, seed-minor), the sweep hash and shards.
//!
//! Everything here is a pure function of the sweep file and the base config's content, so every
//! machine of a cluster numbers the runs the same way and computes the same hash.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde_json::Value as Json;
use sim_core::config::{apply_set, load_config_value, parse_config_value, Config};

use super::spec::{AxisSpec, LogSpec, PlotSettings, RangeSpec, SweepFile, DEFAULT_METRICS};
use crate::Error;

/// Columns every results row starts with, before the axes.
pub const KEY_COLUMNS: [&str; 2] = ["run", "seed"];

/// One axis with its concrete values.
#[derive(Debug, Clone)]
pub struct Axis {
    /// Column name.
    pub name: String,
    /// Dotted config path.
    pub path: String,
    pub values: Vec<toml::Value>,
    /// What the table shows for each value (the label, or the value as a scalar).
    pub cells: Vec<Json>,
    /// True for `log = {...}` axes (plots default to a log x scale).
    pub log: bool,
    /// The grid dimension (zip group) it belongs to.
    pub dim: usize,
}

/// A resolved sweep: the base config, the axes, the seeds; numbers its runs.
#[derive(Debug, Clone)]
pub struct Sweep {
    pub name: String,
    /// The sweep file.
    pub file: PathBuf,
    /// The base config file.
    pub base_path: PathBuf,
    /// The base config after includes and the sweep's fixed `set`s.
    pub base: toml::Value,
    pub axes: Vec<Axis>,
    /// Length of each dimension (zip group), outermost first.
    pub dims: Vec<usize>,
    pub seeds: Vec<u64>,
    pub records: bool,
    pub plot: PlotSettings,
    /// Identifies the runs (base content, axes, seeds): outputs with the same hash can be merged.
    pub hash: String,
}

impl Sweep {
    /// Reads and checks a sweep file (not yet each grid point: see [`Sweep::check_points`]).
    pub fn load(file: &Path) -> Result<Sweep, Error> {
        Sweep::load_with_seeds(file, None)
    }

    /// Like [`Sweep::load`], with `seeds` replicates per point instead of the file's.
    pub fn load_with_seeds(file: &Path, seeds: Option<u64>) -> Result<Sweep, Error> {
        let text = std::fs::read_to_string(file).map_err(|e| {
            Error::input(format!(
                "{}: cannot read the sweep file: {e}",
                file.display()
            ))
        })?;
        let mut spec: SweepFile = toml::from_str(&text).map_err(|e| {
            Error::input(format!("{}: {}", file.display(), e.to_string().trim_end()))
        })?;
        if let Some(n) = seeds {
            spec.seeds = n;
        }
        Sweep::from_spec(file, spec)
    }

    fn from_spec(file: &Path, spec: SweepFile) -> Result<Sweep, Error> {
        let at = |field: &str, message: String| {
            Error::input(format!("{}: field `{field}`: {message}", file.display()))
        };
        let name = spec.name.clone().unwrap_or_else(|| {
            file.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "sweep".into())
        });
        if spec.seeds == 0 {
            return Err(at("seeds", "expected an integer >= 1, got 0".into()));
        }
        let dir = file.parent().unwrap_or(Path::new(""));
        let base_path = dir.join(&spec.base);
        let base =
            load_config_value(&base_path, &spec.set).map_err(|e| at("base", format!("{e}")))?;
        // The base itself must be a valid config.
        parse_config_value(base.clone(), &base_path).map_err(|e| at("base", format!("{e}")))?;

        let mut axes = Vec::with_capacity(spec.axes.len());
        let mut groups: Vec<(Option<String>, usize)> = Vec::new();
        let mut dims: Vec<usize> = Vec::new();
        for (i, axis) in spec.axes.iter().enumerate() {
            let field = |f: &str| format!("axes[{i}].{f}");
            let values = axis_values(axis).map_err(|(f, m)| at(&field(f), m))?;
            let cells = match &axis.labels {
                Some(labels) if labels.len() != values.len() => {
                    return Err(at(
                        &field("labels"),
                        format!(
                            "expected {} labels (one per value), got {}",
                            values.len(),
                            labels.len()
                        ),
                    ))
                }
                Some(labels) => labels.iter().map(|l| Json::String(l.clone())).collect(),
                None => values.iter().map(cell_of).collect(),
            };
            let name = axis.name.clone().unwrap_or_else(|| axis.path.clone());
            if name.is_empty() {
                return Err(at(
                    &field("name"),
                    "expected a non-empty column name".into(),
                ));
            }
            // A zip group joins the dimension of its first axis; an axis without one is its own.
            let dim = match axis.zip.as_ref().and_then(|z| {
                groups
                    .iter()
                    .find(|(g, _)| g.as_deref() == Some(z.as_str()))
            }) {
                Some((_, dim)) => {
                    if dims[*dim] != values.len() {
                        return Err(at(
                            &field("zip"),
                            format!(
                                "axes zipped in group `{}` must have as many values; this one has {}, the group has {}",
                                axis.zip.as_deref().unwrap_or_default(),
                                values.len(),
                                dims[*dim]
                            ),
                        ));
                    }
                    *dim
                }
                None => {
                    dims.push(values.len());
                    groups.push((axis.zip.clone(), dims.len() - 1));
                    dims.len() - 1
                }
            };
            axes.push(Axis {
                name,
                path: axis.path.clone(),
                values,
                cells,
                log: axis.log.is_some(),
                dim,
            });
        }
        let summary_columns = super::row::summary_columns();
        let mut seen: BTreeSet<&str> = KEY_COLUMNS.into_iter().collect();
        for (i, axis) in axes.iter().enumerate() {
            if summary_columns.iter().any(|c| c == &axis.name) || !seen.insert(&axis.name) {
                return Err(at(
                    &format!("axes[{i}].name"),
                    format!(
                        "column name `{}` is already used; give the axis another `name`",
                        axis.name
                    ),
                ));
            }
        }
        let plot = plot_settings(&spec, &axes, &summary_columns).map_err(|(f, m)| at(&f, m))?;
        let seeds = (0..spec.seeds).map(|k| spec.seed.wrapping_add(k)).collect();

        let mut sweep = Sweep {
            name,
            file: file.to_path_buf(),
            base_path,
            base,
            axes,
            dims,
            seeds,
            records: spec.records,
            plot,
            hash: String::new(),
        };
        sweep.check_axes()?;
        sweep.hash = sweep.compute_hash();
        Ok(sweep)
    }

    /// Each axis value applied alone to the base must give a valid config: catches a path
    /// naming a field that does not exist, or a value of the wrong type, before anything runs.
    fn check_axes(&self) -> Result<(), Error> {
        for (i, axis) in self.axes.iter().enumerate() {
            for value in &axis.values {
                let set = set_string(&axis.path, value);
                let mut config = self.base.clone();
                apply_set(&mut config, &set, &self.file)
                    .and_then(|()| parse_config_value(config, &self.base_path).map(|_| ()))
                    .map_err(|e| {
                        Error::input(format!(
                            "{}: field `axes[{i}].path` (`{}`), value {value}: {e}",
                            self.file.display(),
                            axis.path
                        ))
                    })?;
            }
        }
        Ok(())
    }

    /// Number of grid points (1 without axes).
    pub fn points(&self) -> u64 {
        self.dims.iter().map(|&d| d as u64).product()
    }

    /// Number of runs: points x seeds.
    pub fn runs(&self) -> u64 {
        self.points() * self.seeds.len() as u64
    }

    /// Grid point and seed of a run.
    pub fn run_of(&self, run: u64) -> (u64, u64) {
        let per = self.seeds.len() as u64;
        (run / per, self.seeds[(run % per) as usize])
    }

    /// Index into each dimension of a grid point (mixed radix, first dimension outermost).
    pub fn point_index(&self, mut point: u64) -> Vec<usize> {
        let mut index = vec![0; self.dims.len()];
        for (d, &len) in self.dims.iter().enumerate().rev() {
            index[d] = (point % len as u64) as usize;
            point /= len as u64;
        }
        index
    }

    /// The `--set` overrides of a grid point, in axis order.
    pub fn point_sets(&self, point: u64) -> Vec<String> {
        let index = self.point_index(point);
        self.axes
            .iter()
            .map(|a| set_string(&a.path, &a.values[index[a.dim]]))
            .collect()
    }

    /// The axis columns of a grid point.
    pub fn point_cells(&self, point: u64) -> Vec<(String, Json)> {
        let index = self.point_index(point);
        self.axes
            .iter()
            .map(|a| (a.name.clone(), a.cells[index[a.dim]].clone()))
            .collect()
    }

    /// The config of a grid point.
    pub fn point_config(&self, point: u64) -> Result<Config, Error> {
        let mut value = self.base.clone();
        let sets = self.point_sets(point);
        let fail = |e: &dyn fmt::Display| {
            Error::input(format!(
                "{}: grid point {point} ({}): {e}",
                self.file.display(),
                sets.join(", ")
            ))
        };
        for set in &sets {
            apply_set(&mut value, set, &self.file).map_err(|e| fail(&e))?;
        }
        parse_config_value(value, &self.base_path).map_err(|e| fail(&e))
    }

    /// FNV-1a over what determines the results: tool version, base content, axes, seeds.
    /// Plot settings, the name, `records` and file paths are left out: they change no row, and
    /// shards run from different checkouts (paths) must agree.
    fn compute_hash(&self) -> String {
        let mut h = Fnv::default();
        h.write(b"burstsim-sweep/1\n");
        h.write(env!("CARGO_PKG_VERSION").as_bytes());
        h.write(b"\n");
        h.write(self.base.to_string().as_bytes());
        for axis in &self.axes {
            h.write(format!("\naxis {} {} dim {}:", axis.name, axis.path, axis.dim).as_bytes());
            for (v, c) in axis.values.iter().zip(&axis.cells) {
                h.write(format!(" {v} => {c};").as_bytes());
            }
        }
        h.write(format!("\nseeds {:?}", self.seeds).as_bytes());
        format!("{:016x}", h.0)
    }
}

/// `path=value` with the value as inline TOML.
pub fn set_string(path: &str, value: &toml::Value) -> String {
    format!("{path}={value}")
}

/// A table cell for an axis value: scalars as themselves, anything else as inline TOML text.
pub fn cell_of(value: &toml::Value) -> Json {
    match value {
        toml::Value::Integer(i) => Json::from(*i),
        toml::Value::Float(f) => Json::from(*f),
        toml::Value::Boolean(b) => Json::Bool(*b),
        toml::Value::String(s) => Json::String(s.clone()),
        other => Json::String(other.to_string()),
    }
}

/// The values of an axis; the error names the sub-field and what was expected.
fn axis_values(axis: &AxisSpec) -> Result<Vec<toml::Value>, (&'static str, String)> {
    if axis.path.trim().is_empty() {
        return Err((
            "path",
            "expected a dotted config path, e.g. `policy.granularity`".into(),
        ));
    }
    let given = [
        axis.values.is_some(),
        axis.range.is_some(),
        axis.log.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err((
            "values",
            "expected exactly one of `values = [...]`, `range = { from, to, step }` or `log = { from, to, count }`".into(),
        ));
    }
    let values = if let Some(values) = &axis.values {
        values.clone()
    } else if let Some(range) = &axis.range {
        range_values(range).map_err(|m| ("range", m))?
    } else if let Some(log) = &axis.log {
        log_values(log).map_err(|m| ("log", m))?
    } else {
        unreachable!("one of the three is given")
    };
    if values.is_empty() {
        return Err((
            "values",
            "expected at least one value, got an empty list".into(),
        ));
    }
    Ok(values)
}

/// Values `from, from+step, ...` up to `to` included; integers when all three are integers.
pub fn range_values(range: &RangeSpec) -> Result<Vec<toml::Value>, String> {
    use toml::Value::{Float, Integer};
    let number = |v: &toml::Value, name: &str| match v {
        Integer(i) => Ok(*i as f64),
        Float(f) if f.is_finite() => Ok(*f),
        other => Err(format!(
            "expected `{name}` to be a finite number, got {other}"
        )),
    };
    let (from, to, step) = (
        number(&range.from, "from")?,
        number(&range.to, "to")?,
        number(&range.step, "step")?,
    );
    if step == 0.0 {
        return Err("expected a non-zero `step`".into());
    }
    if (to - from) * step < 0.0 {
        return Err(format!(
            "empty range: from = {from} never reaches to = {to} with step = {step}"
        ));
    }
    if let (Integer(from), Integer(to), Integer(step)) = (&range.from, &range.to, &range.step) {
        let count = (to - from) / step + 1;
        return Ok((0..count).map(|k| Integer(from + k * step)).collect());
    }
    // Computed as from + k*step (no accumulation); the end is included up to rounding noise.
    let count = ((to - from) / step + 1e-9).floor() as u64 + 1;
    if count > 10_000_000 {
        return Err(format!("range of {count} values is too large"));
    }
    Ok((0..count)
        .map(|k| Float(tidy(from + k as f64 * step)))
        .collect())
}

/// `count` values from `from` to `to`, evenly spaced in log scale.
pub fn log_values(log: &LogSpec) -> Result<Vec<toml::Value>, String> {
    if !(log.from > 0.0 && log.to > 0.0 && log.from.is_finite() && log.to.is_finite()) {
        return Err(format!(
            "expected 0 < from and 0 < to (finite), got from = {}, to = {}",
            log.from, log.to
        ));
    }
    if log.count == 0 {
        return Err("empty range: expected `count` >= 1".into());
    }
    if log.count == 1 && log.from != log.to {
        return Err("expected `count` >= 2 when `from` != `to`".into());
    }
    let ratio = (log.to / log.from).ln();
    let mut values = Vec::with_capacity(log.count as usize);
    for k in 0..log.count {
        let v = if k == 0 {
            log.from
        } else if k + 1 == log.count {
            log.to
        } else {
            tidy(log.from * (ratio * k as f64 / (log.count - 1) as f64).exp())
        };
        if log.integer {
            let i = v.round() as i64;
            if values.last() != Some(&toml::Value::Integer(i)) {
                values.push(toml::Value::Integer(i));
            }
        } else {
            values.push(toml::Value::Float(v));
        }
    }
    Ok(values)
}

/// Rounds to 12 significant digits: removes floating-point noise such as 0.30000000000000004.
fn tidy(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let text = format!("{v:.11e}");
    text.parse().unwrap_or(v)
}

fn plot_settings(
    spec: &SweepFile,
    axes: &[Axis],
    summary_columns: &[String],
) -> Result<PlotSettings, (String, String)> {
    let find = |name: &str, field: &str| {
        axes.iter().position(|a| a.name == name).ok_or_else(|| {
            let names: Vec<&str> = axes.iter().map(|a| a.name.as_str()).collect();
            (
                format!("plot.{field}"),
                format!("expected one of the axes {names:?}, got `{name}`"),
            )
        })
    };
    let x = match &spec.plot.x {
        Some(name) => Some(find(name, "x")?),
        None => (!axes.is_empty()).then_some(0),
    };
    let series = match (&spec.plot.series, x) {
        (Some(name), _) => Some(find(name, "series")?),
        (None, Some(x)) => axes.iter().position(|a| a.dim != axes[x].dim),
        (None, None) => None,
    };
    let metrics: Vec<String> = match &spec.plot.metrics {
        Some(metrics) => metrics.clone(),
        None => DEFAULT_METRICS.iter().map(|m| m.to_string()).collect(),
    };
    for (i, m) in metrics.iter().enumerate() {
        if !summary_columns.contains(m) {
            return Err((
                format!("plot.metrics[{i}]"),
                format!("expected a summary figure (one of {summary_columns:?}), got `{m}`"),
            ));
        }
    }
    Ok(PlotSettings {
        x: x.map(|i| axes[i].name.clone()),
        series: series.map(|i| axes[i].name.clone()),
        metrics,
        log_x: spec.plot.log_x.unwrap_or(x.is_some_and(|i| axes[i].log)),
        log_y: spec.plot.log_y.unwrap_or(false),
    })
}

/// `--shard I/N`: run `r` belongs to shard `r % N` (strided, so neighbouring points, which
/// cost about the same, spread evenly over the shards). `I` counts from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    pub fn contains(&self, run: u64) -> bool {
        run % self.count == self.index
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Shard, String> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("expected I/N (shard I of N, I from 0 to N-1), got `{s}`"))?;
        let index: u64 = i.trim().parse().map_err(|_| {
            format!("expected the shard index I in I/N to be an integer, got `{i}`")
        })?;
        let count: u64 = n.trim().parse().map_err(|_| {
            format!("expected the shard count N in I/N to be an integer, got `{n}`")
        })?;
        if count == 0 {
            return Err("expected at least 1 shard (N >= 1)".into());
        }
        if index >= count {
            return Err(format!(
                "shard index {index} out of range for {count} shards (expected 0 to {})",
                count - 1
            ));
        }
        Ok(Shard { index, count })
    }
}

/// 64-bit FNV-1a: tiny, stable across platforms and releases (unlike `DefaultHasher`).
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(from: toml::Value, to: toml::Value, step: toml::Value) -> RangeSpec {
        RangeSpec { from, to, step }
    }

    #[test]
    fn integer_range_includes_both_ends() {
        use toml::Value::Integer;
        let v = range_values(&range(Integer(48), Integer(960), Integer(48))).unwrap();
        assert_eq!(v.len(), 20);
        assert_eq!(v[0], Integer(48));
        assert_eq!(v[19], Integer(960));
    }

    #[test]
    fn float_range_has_no_rounding_noise() {
        use toml::Value::Float;
        let v = range_values(&range(Float(0.1), Float(0.5), Float(0.1))).unwrap();
        let got: Vec<f64> = v.iter().map(|v| v.as_float().unwrap()).collect();
        assert_eq!(got, vec![0.1, 0.2, 0.3, 0.4, 0.5]);
    }

    #[test]
    fn empty_and_zero_step_ranges_are_errors() {
        use toml::Value::Integer;
        let e = range_values(&range(Integer(5), Integer(1), Integer(1))).unwrap_err();
        assert!(e.contains("empty range"), "{e}");
        assert!(range_values(&range(Integer(1), Integer(5), Integer(0))).is_err());
        let e = log_values(&LogSpec {
            from: 1.0,
            to: 10.0,
            count: 0,
            integer: false,
        })
        .unwrap_err();
        assert!(e.contains("empty range"), "{e}");
    }

    #[test]
    fn log_values_hit_the_ends_and_decades() {
        let v = log_values(&LogSpec {
            from: 0.1,
            to: 1000.0,
            count: 5,
            integer: false,
        })
        .unwrap();
        let got: Vec<f64> = v.iter().map(|v| v.as_float().unwrap()).collect();
        assert_eq!(got, vec![0.1, 1.0, 10.0, 100.0, 1000.0]);
        let v = log_values(&LogSpec {
            from: 1.0,
            to: 4.0,
            count: 10,
            integer: true,
        })
        .unwrap();
        let got: Vec<i64> = v.iter().map(|v| v.as_integer().unwrap()).collect();
        assert_eq!(got, vec![1, 2, 3, 4]);
    }

    #[test]
    fn shard_parsing() {
        assert_eq!(
            "2/4".parse::<Shard>().unwrap(),
            Shard { index: 2, count: 4 }
        );
        assert!("4/4".parse::<Shard>().unwrap_err().contains("out of range"));
        assert!("1/0".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err());
        let s = Shard { index: 1, count: 3 };
        assert_eq!(
            (0..9).filter(|r| s.contains(*r)).collect::<Vec<_>>(),
            vec![1, 4, 7]
        );
    }

    #[test]
    fn fnv_is_stable() {
        let mut h = Fnv::default();
        h.write(b"a");
        assert_eq!(h.0, 0xaf63_dc4c_8601_ec8c);
    }
}
