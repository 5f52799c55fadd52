//! Distributions of times (seconds) and sizes named in config files, and their sampling.

use rand::Rng;
use rand_distr::{Distribution as _, Exp, LogNormal, Normal};
use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::FieldError;

/// z for the 99th percentile of the standard normal.
const Z_P99: f64 = 2.326_347_874_040_841;

/// A distribution of non-negative values, written in TOML as an inline table tagged by `dist`,
/// e.g. `{ dist = "lognormal", median = 0.5, p99 = 2.0 }`.
/// A bare number is read as a constant: `duration = 5.0` is `{ dist = "constant", value = 5.0 }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    remote = "Self",
    tag = "dist",
    rename_all = "snake_case",
    deny_unknown_fields
)]
pub enum Distribution {
    /// Always `value`.
    Constant {
        /// The one value.
        value: f64,
    },
    /// Uniform on `[min, max)`.
    Uniform {
        /// Lower bound (inclusive).
        min: f64,
        /// Upper bound (exclusive).
        max: f64,
    },
    /// Normal, truncated at 0 (negative draws are drawn again).
    Normal {
        /// Mean before truncation.
        mean: f64,
        /// Standard deviation before truncation.
        std: f64,
    },
    /// Lognormal by `median` and `p99`, by `median` and `sigma` (the spread of its log), or by
    /// the underlying normal's `mu` and `sigma`.
    Lognormal {
        /// Median (50th percentile); given with `p99` or `sigma`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        median: Option<f64>,
        /// 99th percentile; given with `median`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        p99: Option<f64>,
        /// Mean of the underlying normal; given with `sigma`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mu: Option<f64>,
        /// Standard deviation of the underlying normal; given with `mu` or `median`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sigma: Option<f64>,
    },
    /// Exponential (memoryless), e.g. queueing delays.
    Exponential {
        /// Mean (1 / rate).
        mean: f64,
    },
    /// Draws uniformly from a list of observed samples.
    Empirical {
        /// The observations, each equally likely.
        samples: Vec<f64>,
    },
    /// Function `i` of a group gets `values[i % len]`: per-function inputs given explicitly.
    PerFunction {
        /// One value per function, repeated cyclically.
        values: Vec<f64>,
    },
    /// Known quantiles, linear in between (a piecewise-linear inverse CDF): `values[k]` is the
    /// `p[k]` quantile; below `p[0]` draws are `values[0]`, above the last `p` the last value.
    /// How published percentile tables (e.g. the Azure Functions traces) become a distribution.
    Quantiles {
        /// Probabilities, strictly increasing, in `[0, 1]`.
        p: Vec<f64>,
        /// The quantile at each probability, non-decreasing.
        values: Vec<f64>,
    },
}

impl<'de> Deserialize<'de> for Distribution {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Distribution::deserialize_number_or_table(
            deserializer,
            "a number or a distribution table like { dist = \"uniform\", min = 1.0, max = 2.0 }",
        )
    }
}

impl Distribution {
    /// Reads a bare number (a constant) or a distribution table; `expecting` is what a
    /// type error says was expected. Types that hold a distribution under another meaning (a
    /// time in seconds) deserialise through here with their own wording.
    pub fn deserialize_number_or_table<'de, D: Deserializer<'de>>(
        deserializer: D,
        expecting: &'static str,
    ) -> Result<Self, D::Error> {
        struct NumberOrTable(&'static str);
        impl<'de> Visitor<'de> for NumberOrTable {
            type Value = Distribution;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(self.0)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Distribution, E> {
                Ok(Distribution::constant(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Distribution, E> {
                Ok(Distribution::constant(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Distribution, E> {
                Ok(Distribution::constant(v as f64))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Distribution, A::Error> {
                Distribution::deserialize(de::value::MapAccessDeserializer::new(map))
            }
        }
        deserializer.deserialize_any(NumberOrTable(expecting))
    }
}

/// A constant is written back as a bare number.
/// A lognormal's draw (0 for invalid parameters).
#[inline]
fn draw_lognormal<R: Rng + ?Sized>(d: Option<&LogNormal<f64>>, rng: &mut R) -> f64 {
    d.map_or(0.0, |d| d.sample(rng))
}

/// A [`Distribution`] ready to draw from ([`Distribution::sampler`]): a lognormal's `mu` and
/// `sigma` (two logarithms from `median` and `p99`) are worked out once rather than at every
/// draw.
#[derive(Debug, Clone, PartialEq)]
pub struct Sampler {
    dist: Distribution,
    /// A lognormal's distribution (inner `None`: invalid parameters).
    lognormal: Option<Option<LogNormal<f64>>>,
}

impl Sampler {
    /// [`Distribution::sample`].
    #[inline]
    pub fn sample<R: Rng + ?Sized>(&self, index: u64, rng: &mut R) -> f64 {
        match &self.lognormal {
            Some(d) => finite_positive(draw_lognormal(d.as_ref(), rng)),
            None => self.dist.sample(index, rng),
        }
    }

    /// The distribution it draws from.
    pub fn distribution(&self) -> &Distribution {
        &self.dist
    }
}

/// A draw as given out: finite and positive, else 0.
#[inline]
fn finite_positive(v: f64) -> f64 {
    if v.is_finite() && v > 0.0 {
        v
    } else {
        0.0
    }
}

impl Serialize for Distribution {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Distribution::Constant { value } => serializer.serialize_f64(*value),
            other => Distribution::serialize(other, serializer),
        }
    }
}

impl Default for Distribution {
    fn default() -> Self {
        Distribution::Constant { value: 0.0 }
    }
}

impl Distribution {
    /// Always `value`.
    pub fn constant(value: f64) -> Self {
        Distribution::Constant { value }
    }

    /// `(mu, sigma)` of a lognormal, from whichever pair was given.
    fn lognormal_params(
        median: Option<f64>,
        p99: Option<f64>,
        mu: Option<f64>,
        sigma: Option<f64>,
    ) -> Result<(f64, f64), FieldError> {
        match (median, p99, mu, sigma) {
            (Some(m), Some(p), None, None) => {
                // Written positively so that NaN fails too.
                let ok = m.is_finite() && p.is_finite() && m > 0.0 && p >= m;
                if !ok {
                    return Err(FieldError::new(
                        "",
                        "0 < median <= p99",
                        format!("median = {m}, p99 = {p}"),
                    ));
                }
                Ok((m.ln(), (p / m).ln() / Z_P99))
            }
            (Some(m), None, None, Some(s)) => {
                let ok = m.is_finite() && s.is_finite() && m > 0.0 && s >= 0.0;
                if !ok {
                    return Err(FieldError::new(
                        "",
                        "median > 0 and sigma >= 0",
                        format!("median = {m}, sigma = {s}"),
                    ));
                }
                Ok((m.ln(), s))
            }
            (None, None, Some(mu), Some(s)) => {
                let ok = mu.is_finite() && s.is_finite() && s >= 0.0;
                if !ok {
                    return Err(FieldError::new(
                        "",
                        "finite mu and sigma >= 0",
                        format!("mu = {mu}, sigma = {s}"),
                    ));
                }
                Ok((mu, s))
            }
            _ => {
                let given = [
                    ("median", median),
                    ("p99", p99),
                    ("mu", mu),
                    ("sigma", sigma),
                ]
                .into_iter()
                .filter(|(_, v)| v.is_some())
                .map(|(name, _)| format!("`{name}`"))
                .collect::<Vec<_>>()
                .join(", ");
                let got = if given.is_empty() {
                    "none of them"
                } else {
                    &given
                };
                let expected = "`median` and `p99`, `median` and `sigma`, or `mu` and `sigma`";
                Err(FieldError::new("", expected, got))
            }
        }
    }

    /// The lognormal a `lognormal` distribution draws from (`None`: invalid parameters, which
    /// draw 0; or another kind).
    fn lognormal(&self) -> Option<LogNormal<f64>> {
        self.lognormal_mu_sigma()
            .and_then(|(mu, s)| LogNormal::new(mu, s).ok())
    }

    /// `(mu, sigma)` of a valid `lognormal` distribution.
    fn lognormal_mu_sigma(&self) -> Option<(f64, f64)> {
        match self {
            Distribution::Lognormal {
                median,
                p99,
                mu,
                sigma,
            } => Self::lognormal_params(*median, *p99, *mu, *sigma).ok(),
            _ => None,
        }
    }

    /// This distribution with its parameters worked out once, for drawing many values: the
    /// same draws as [`Distribution::sample`], from the same streams.
    pub fn sampler(&self) -> Sampler {
        let lognormal = match self {
            Distribution::Lognormal { .. } => Some(self.lognormal()),
            _ => None,
        };
        Sampler {
            dist: self.clone(),
            lognormal,
        }
    }

    /// Checks the parameters; the error's path is relative to the distribution (`min`,
    /// `values[1]`; empty for a bare number or a constraint between parameters).
    pub fn validate(&self) -> Result<(), FieldError> {
        match self {
            // A constant is usually written as a bare number: the error is the value's own.
            Distribution::Constant { value } => non_negative("", *value),
            Distribution::Uniform { min, max } => {
                non_negative("min", *min)?;
                non_negative("max", *max)?;
                if min > max {
                    return Err(FieldError::new(
                        "",
                        "min <= max",
                        format!("min = {min}, max = {max}"),
                    ));
                }
                Ok(())
            }
            Distribution::Normal { mean, std } => {
                non_negative("mean", *mean)?;
                non_negative("std", *std)
            }
            Distribution::Lognormal {
                median,
                p99,
                mu,
                sigma,
            } => Self::lognormal_params(*median, *p99, *mu, *sigma).map(|_| ()),
            Distribution::Exponential { mean } => non_negative("mean", *mean),
            Distribution::Empirical { samples } => non_negative_list("samples", samples),
            Distribution::PerFunction { values } => non_negative_list("values", values),
            Distribution::Quantiles { p, values } => validate_quantiles(p, values),
        }
    }

    /// Draws the value for function `index` of its group. Only `per_function` uses `index`.
    /// Call [`Distribution::validate`] first: invalid parameters give unspecified (but finite,
    /// non-negative) values.
    pub fn sample<R: Rng + ?Sized>(&self, index: u64, rng: &mut R) -> f64 {
        let v = match self {
            Distribution::Constant { value } => *value,
            Distribution::Uniform { min, max } => {
                if max > min {
                    rng.random_range(*min..*max)
                } else {
                    *min
                }
            }
            Distribution::Normal { mean, std } => match Normal::new(*mean, *std) {
                Ok(normal) => {
                    // Truncation at 0 by rejection; 64 misses in a row only happen for mean << 0.
                    (0..64)
                        .map(|_| normal.sample(rng))
                        .find(|x| *x >= 0.0)
                        .unwrap_or(0.0)
                }
                Err(_) => *mean,
            },
            Distribution::Lognormal { .. } => draw_lognormal(self.lognormal().as_ref(), rng),
            Distribution::Exponential { mean } => {
                if *mean > 0.0 {
                    Exp::new(1.0 / mean).map(|d| d.sample(rng)).unwrap_or(0.0)
                } else {
                    0.0
                }
            }
            Distribution::Empirical { samples } => {
                if samples.is_empty() {
                    0.0
                } else {
                    samples[rng.random_range(0..samples.len())]
                }
            }
            Distribution::PerFunction { values } => {
                if values.is_empty() {
                    0.0
                } else {
                    values[(index % values.len() as u64) as usize]
                }
            }
            Distribution::Quantiles { p, values } => quantile_at(p, values, rng.random::<f64>()),
        };
        finite_positive(v)
    }

    /// The mean, for reports and quick estimates.
    pub fn mean(&self) -> f64 {
        match self {
            Distribution::Constant { value } => *value,
            Distribution::Uniform { min, max } => (min + max) / 2.0,
            Distribution::Normal { mean, .. } => *mean,
            Distribution::Lognormal { .. } => self
                .lognormal_mu_sigma()
                .map_or(0.0, |(mu, s)| (mu + s * s / 2.0).exp()),
            Distribution::Exponential { mean } => *mean,
            Distribution::Empirical { samples } | Distribution::PerFunction { values: samples } => {
                if samples.is_empty() {
                    0.0
                } else {
                    samples.iter().sum::<f64>() / samples.len() as f64
                }
            }
            Distribution::Quantiles { p, values } => quantiles_mean(p, values),
        }
    }

    /// True when every draw gives the same value (lets hot paths skip the RNG).
    pub fn is_constant(&self) -> bool {
        matches!(self, Distribution::Constant { .. })
    }
}

/// The `u` quantile of the piecewise-linear inverse CDF through `(p[k], values[k])`, flat
/// outside the given probabilities.
fn quantile_at(p: &[f64], values: &[f64], u: f64) -> f64 {
    let n = p.len().min(values.len());
    if n == 0 {
        return 0.0;
    }
    // First k with p[k] > u: u lies in [p[k-1], p[k]).
    let k = p[..n].partition_point(|&pk| pk <= u);
    if k == 0 {
        return values[0];
    }
    if k == n {
        return values[n - 1];
    }
    let (p0, p1, v0, v1) = (p[k - 1], p[k], values[k - 1], values[k]);
    v0 + (v1 - v0) * (u - p0) / (p1 - p0)
}

/// The mean of the piecewise-linear inverse CDF: the integral of the quantile over `[0, 1]`.
fn quantiles_mean(p: &[f64], values: &[f64]) -> f64 {
    let n = p.len().min(values.len());
    if n == 0 {
        return 0.0;
    }
    let inner: f64 = (1..n)
        .map(|k| (p[k] - p[k - 1]) * (values[k] + values[k - 1]) / 2.0)
        .sum();
    p[0] * values[0] + inner + (1.0 - p[n - 1]) * values[n - 1]
}

/// Quantile tables: as many values as probabilities, probabilities strictly increasing in
/// `[0, 1]`, values non-negative and non-decreasing.
fn validate_quantiles(p: &[f64], values: &[f64]) -> Result<(), FieldError> {
    non_negative_list("values", values)?;
    if p.len() != values.len() {
        return Err(FieldError::new(
            "p",
            format!("one probability per value ({})", values.len()),
            format!("{} probabilities", p.len()),
        ));
    }
    for (k, &pk) in p.iter().enumerate() {
        if !(0.0..=1.0).contains(&pk) {
            return Err(FieldError::new(
                format!("p[{k}]"),
                "a probability in [0, 1]",
                pk,
            ));
        }
        if k > 0 && pk <= p[k - 1] {
            let expected = format!("a probability > p[{}] = {}", k - 1, p[k - 1]);
            return Err(FieldError::new(format!("p[{k}]"), expected, pk));
        }
        if k > 0 && values[k] < values[k - 1] {
            let expected = format!("a value >= values[{}] = {}", k - 1, values[k - 1]);
            return Err(FieldError::new(format!("values[{k}]"), expected, values[k]));
        }
    }
    Ok(())
}

/// `v` as a parameter value: finite and >= 0.
fn non_negative(path: &str, v: f64) -> Result<(), FieldError> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(FieldError::new(path, "a finite number >= 0", v))
    }
}

/// A list of parameter values: non-empty, each finite and >= 0.
fn non_negative_list(name: &str, values: &[f64]) -> Result<(), FieldError> {
    if values.is_empty() {
        return Err(FieldError::new(name, "a non-empty list of values", "[]"));
    }
    for (i, v) in values.iter().enumerate() {
        non_negative(&format!("{name}[{i}]"), *v)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sampler draws exactly what the distribution draws, from the same stream.
    #[test]
    fn a_sampler_draws_what_the_distribution_draws() {
        let cases = [
            Distribution::Lognormal {
                median: Some(0.3),
                p99: Some(1.2),
                mu: None,
                sigma: None,
            },
            Distribution::Lognormal {
                median: None,
                p99: None,
                mu: Some(-1.0),
                sigma: Some(0.4),
            },
            // Invalid parameters draw 0 either way.
            Distribution::Lognormal {
                median: Some(2.0),
                p99: Some(1.0),
                mu: None,
                sigma: None,
            },
            Distribution::Normal {
                mean: 1.0,
                std: 0.5,
            },
            Distribution::Exponential { mean: 0.2 },
            Distribution::PerFunction {
                values: vec![1.0, 2.0, 3.0],
            },
        ];
        for dist in &cases {
            let sampler = dist.sampler();
            let (mut a, mut b) = (
                crate::rng::stream(9, "test", 0),
                crate::rng::stream(9, "test", 0),
            );
            for index in 0..1_000 {
                let (x, y) = (dist.sample(index, &mut a), sampler.sample(index, &mut b));
                assert_eq!(x.to_bits(), y.to_bits(), "{dist:?} draw {index}");
            }
        }
    }
}
