//! A figure over several seeds: its mean with a 95% confidence interval of the mean (Student's t),
//! and its spread (5th and 95th percentiles, min, max). Compare and sweeps summarise replicated
//! runs with it, so a difference can be told from seed noise.

use serde::Serialize;

/// Summary of one figure's values over seeds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OverSeeds {
    pub n: usize,
    pub mean: f64,
    /// Sample standard deviation (0 for one value).
    pub sd: f64,
    /// 95% confidence interval of the mean (equal to the mean for one value).
    pub ci_low: f64,
    pub ci_high: f64,
    pub min: f64,
    /// 5th and 95th percentiles (linear interpolation): where 90% of single runs fall.
    pub p5: f64,
    /// The median run (a robust centre when rare runs are far off, e.g. with stragglers).
    pub median: f64,
    pub p95: f64,
    pub max: f64,
}

impl OverSeeds {
    /// Column names of [`OverSeeds::values`], in order (compare_seeds.csv, points.csv).
    pub const COLUMNS: [&'static str; 10] = [
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

    /// The figures in the order of [`OverSeeds::COLUMNS`].
    pub fn values(&self) -> [f64; 10] {
        [
            self.n as f64,
            self.mean,
            self.sd,
            self.ci_low,
            self.ci_high,
            self.min,
            self.p5,
            self.median,
            self.p95,
            self.max,
        ]
    }

    /// The summary of the finite `values` (`None` when there are none).
    pub fn of(values: &[f64]) -> Option<Self> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let mean = v.iter().sum::<f64>() / n as f64;
        let sd = if n > 1 {
            (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        let half = if n > 1 {
            t95(n - 1) * sd / (n as f64).sqrt()
        } else {
            0.0
        };
        Some(OverSeeds {
            n,
            mean,
            sd,
            ci_low: mean - half,
            ci_high: mean + half,
            min: v[0],
            p5: crate::fit::measured::quantile(&v, 0.05),
            median: crate::fit::measured::quantile(&v, 0.5),
            p95: crate::fit::measured::quantile(&v, 0.95),
            max: v[n - 1],
        })
    }

    /// Half the width of the confidence interval.
    pub fn half_ci(&self) -> f64 {
        (self.ci_high - self.ci_low) / 2.0
    }

    /// `mean ± half-CI` with `decimals` digits (just the mean for one seed).
    pub fn show(&self, decimals: usize) -> String {
        if self.n > 1 {
            format!(
                "{:.*} ± {:.*}",
                decimals,
                self.mean,
                decimals,
                self.half_ci()
            )
        } else {
            format!("{:.*}", decimals, self.mean)
        }
    }
}

/// Two-sided 95% quantile of Student's t with `df` degrees of freedom.
pub fn t95(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => TABLE[df - 1],
        // Cornish-Fisher to second order: z + (z^3 + z) / (4 df) + (5 z^5 + 16 z^3 + 3 z) /
        // (96 df^2), within 0.001 of the exact value above 30.
        _ => {
            let v = df as f64;
            1.959_964 + 2.372_9 / v + 2.822_4 / (v * v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_interval_of_known_values() {
        let s = OverSeeds::of(&[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
        assert_eq!(s.n, 5);
        assert!((s.mean - 3.0).abs() < 1e-12);
        assert!((s.sd - 2.5f64.sqrt()).abs() < 1e-12);
        // t(4) = 2.776: half width 2.776 * sqrt(2.5) / sqrt(5).
        assert!((s.half_ci() - 2.776 * (0.5f64).sqrt()).abs() < 1e-9);
        assert_eq!((s.min, s.max), (1.0, 5.0));
        assert!((s.p5 - 1.2).abs() < 1e-12 && (s.p95 - 4.8).abs() < 1e-12);
        assert_eq!(s.median, 3.0);
        assert_eq!(s.show(2), "3.00 ± 1.96");
    }

    #[test]
    fn one_value_has_no_interval_and_nan_is_skipped() {
        let s = OverSeeds::of(&[f64::NAN, 2.0]).unwrap();
        assert_eq!((s.n, s.ci_low, s.ci_high), (1, 2.0, 2.0));
        assert_eq!(s.show(1), "2.0");
        assert!(OverSeeds::of(&[f64::NAN]).is_none());
    }

    #[test]
    fn t_quantile_joins_the_approximation() {
        assert!((t95(30) - 2.042).abs() < 1e-9);
        assert!((t95(31) - 2.0395).abs() < 0.001);
        assert!((t95(60) - 2.0003).abs() < 0.001);
        assert!((t95(1000) - 1.962).abs() < 0.001);
    }
}
