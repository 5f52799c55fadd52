//! Open-loop arrival processes: the times at which one action's requests arrive, drawn lazily
//! from the action's own random stream.

use std::f64::consts::TAU;

use policies::{Distribution, FieldError};
use rand::Rng as _;
use serde::{Deserialize, Serialize};

use crate::rng::Rng;

/// An arrival process, written in TOML as a table tagged by `kind`. Rates are arrivals per
/// second, times are seconds of run time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ArrivalProcess {
    /// Poisson: exponential gaps of mean `1 / rate`.
    Poisson {
        /// Arrivals per second.
        rate: f64,
    },
    /// Evenly spaced, `1 / rate` apart, the first at the entry's `start`.
    Deterministic {
        /// Arrivals per second.
        rate: f64,
    },
    /// Bursts of Poisson arrivals at `rate` during on periods, none during off periods; the
    /// periods alternate, starting with an on period, their lengths drawn from `on` and `off`
    /// (exponential lengths make this a two-state MMPP with a silent state; constant lengths
    /// a square wave).
    OnOff {
        /// Arrivals per second while on.
        rate: f64,
        /// Length of an on period, s (a number or a distribution table).
        on: Distribution,
        /// Length of an off period, s.
        off: Distribution,
    },
    /// Two-state Markov-modulated Poisson process: Poisson at `rates[i]` while in state `i`,
    /// which lasts an exponential time of mean `mean_sojourn[i]`; the first state is drawn from
    /// the stationary distribution, so the mean rate holds from the start.
    Mmpp {
        /// Arrivals per second in each state.
        rates: [f64; 2],
        /// Mean time in each state, s.
        mean_sojourn: [f64; 2],
    },
    /// A daily cycle: non-homogeneous Poisson with rate
    /// `mean * (1 + amplitude * cos(2 pi (t - peak) / period))`, drawn by thinning.
    Diurnal {
        /// Mean arrivals per second over a period.
        mean: f64,
        /// Relative swing, 0 (flat) to 1 (the rate touches 0 at the trough).
        amplitude: f64,
        /// Length of the cycle, s (default a day).
        #[serde(default = "day")]
        period: f64,
        /// Time of the highest rate within the cycle, s.
        #[serde(default)]
        peak: f64,
    },
    /// A rate curve: non-homogeneous Poisson whose rate is linear between `rates[k]` at
    /// `k * step` s and the next point, repeating every `rates.len() * step` s (24 hourly
    /// rates with `step = 3600`: a day), drawn by thinning.
    Curve {
        /// Arrivals per second at each point.
        rates: Vec<f64>,
        /// Time between two points, s.
        step: f64,
    },
}

fn day() -> f64 {
    86_400.0
}

impl ArrivalProcess {
    /// Checks the parameters; paths are relative to the process table.
    pub fn validate(&self) -> Result<(), FieldError> {
        match self {
            ArrivalProcess::Poisson { rate } | ArrivalProcess::Deterministic { rate } => {
                positive("rate", *rate)
            }
            ArrivalProcess::OnOff { rate, on, off } => {
                positive("rate", *rate)?;
                on.validate().map_err(|e| e.under("on"))?;
                off.validate().map_err(|e| e.under("off"))?;
                if on.mean() <= 0.0 {
                    return Err(FieldError::new("on", "on periods of mean > 0", on.mean()));
                }
                Ok(())
            }
            ArrivalProcess::Mmpp {
                rates,
                mean_sojourn,
            } => {
                for (i, r) in rates.iter().enumerate() {
                    non_negative(&format!("rates[{i}]"), *r)?;
                }
                if rates.iter().all(|r| *r == 0.0) {
                    return Err(FieldError::new(
                        "rates",
                        "a rate > 0 in some state",
                        "[0, 0]",
                    ));
                }
                for (i, s) in mean_sojourn.iter().enumerate() {
                    positive(&format!("mean_sojourn[{i}]"), *s)?;
                }
                Ok(())
            }
            ArrivalProcess::Diurnal {
                mean,
                amplitude,
                period,
                peak,
            } => {
                positive("mean", *mean)?;
                if !(0.0..=1.0).contains(amplitude) {
                    return Err(FieldError::new(
                        "amplitude",
                        "a number in [0, 1]",
                        amplitude,
                    ));
                }
                positive("period", *period)?;
                if !peak.is_finite() {
                    return Err(FieldError::new("peak", "a number of seconds", peak));
                }
                Ok(())
            }
            ArrivalProcess::Curve { rates, step } => {
                if rates.is_empty() {
                    return Err(FieldError::new("rates", "a non-empty list of rates", "[]"));
                }
                for (i, r) in rates.iter().enumerate() {
                    non_negative(&format!("rates[{i}]"), *r)?;
                }
                if rates.iter().all(|r| *r == 0.0) {
                    return Err(FieldError::new("rates", "some rate > 0", "all 0"));
                }
                positive("step", *step)
            }
        }
    }

    /// The long-run mean rate, arrivals per second.
    pub fn mean_rate(&self) -> f64 {
        match self {
            ArrivalProcess::Poisson { rate } | ArrivalProcess::Deterministic { rate } => *rate,
            ArrivalProcess::OnOff { rate, on, off } => rate * on.mean() / (on.mean() + off.mean()),
            ArrivalProcess::Mmpp {
                rates,
                mean_sojourn,
            } => {
                (rates[0] * mean_sojourn[0] + rates[1] * mean_sojourn[1])
                    / (mean_sojourn[0] + mean_sojourn[1])
            }
            ArrivalProcess::Diurnal { mean, .. } => *mean,
            // Each segment averages its two end points; around the cycle every point counts twice.
            ArrivalProcess::Curve { rates, .. } => rates.iter().sum::<f64>() / rates.len() as f64,
        }
    }

    /// The rate at time `t` s: the intensity of the process (for MMPP and on-off, the mean).
    pub fn rate_at(&self, t: f64) -> f64 {
        match self {
            ArrivalProcess::Diurnal {
                mean,
                amplitude,
                period,
                peak,
            } => mean * (1.0 + amplitude * (TAU * (t - peak) / period).cos()),
            ArrivalProcess::Curve { rates, step } => {
                let n = rates.len();
                let cycle = n as f64 * step;
                let x = t.rem_euclid(cycle) / step;
                let k = (x.floor() as usize).min(n - 1);
                let frac = x - k as f64;
                rates[k] + (rates[(k + 1) % n] - rates[k]) * frac
            }
            other => other.mean_rate(),
        }
    }

    /// The highest rate the process reaches (the thinning bound).
    fn max_rate(&self) -> f64 {
        match self {
            ArrivalProcess::Diurnal {
                mean, amplitude, ..
            } => mean * (1.0 + amplitude),
            ArrivalProcess::Curve { rates, .. } => rates.iter().copied().fold(0.0, f64::max),
            ArrivalProcess::Mmpp { rates, .. } => rates[0].max(rates[1]),
            ArrivalProcess::Poisson { rate }
            | ArrivalProcess::Deterministic { rate }
            | ArrivalProcess::OnOff { rate, .. } => *rate,
        }
    }
}

fn positive(path: &str, v: f64) -> Result<(), FieldError> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(FieldError::new(path, "a finite number > 0", v))
    }
}

fn non_negative(path: &str, v: f64) -> Result<(), FieldError> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(FieldError::new(path, "a finite number >= 0", v))
    }
}

/// An exponential draw of mean 1.
#[inline]
fn exp1(rng: &mut Rng) -> f64 {
    // random() is in [0, 1): 1 - u is in (0, 1], so the log is finite.
    -(1.0 - rng.random::<f64>()).ln()
}

/// The arrival times of a validated process in `[start, end)`, at most `count` of them, as
/// seconds in increasing order, drawn lazily from `rng`.
pub struct ProcessArrivals {
    process: ArrivalProcess,
    rng: Rng,
    start: f64,
    end: f64,
    left: u64,
    /// Time of the last arrival (or of the start).
    t: f64,
    /// Arrivals so far (the deterministic process counts from its start).
    n: u64,
    /// Modulated processes: the current state (0 or 1; on-off: 0 = on) and when it ends.
    state: usize,
    state_end: f64,
    max_rate: f64,
}

impl ProcessArrivals {
    /// The arrivals of `process` (validated) from `start` s until `end` s (may be infinite) or
    /// `count` arrivals, whichever comes first.
    pub fn new(process: &ArrivalProcess, start: f64, end: f64, count: u64, rng: Rng) -> Self {
        let mut p = ProcessArrivals {
            max_rate: process.max_rate(),
            process: process.clone(),
            rng,
            start,
            end,
            left: count,
            t: start,
            n: 0,
            state: 0,
            state_end: start,
        };
        match &p.process {
            ArrivalProcess::Mmpp { mean_sojourn, .. } => {
                let [s0, s1] = *mean_sojourn;
                p.state = usize::from(p.rng.random::<f64>() * (s0 + s1) >= s0);
                p.state_end = start + mean_sojourn[p.state] * exp1(&mut p.rng);
            }
            ArrivalProcess::OnOff { on, .. } => {
                let on = on.clone();
                p.state_end = start + on.sample(0, &mut p.rng);
            }
            _ => {}
        }
        p
    }

    /// The next arrival of a Poisson process whose rate switches at state boundaries.
    fn next_modulated(&mut self) -> f64 {
        loop {
            if self.t >= self.end {
                return self.t;
            }
            let rate = match &self.process {
                ArrivalProcess::Mmpp { rates, .. } => rates[self.state],
                ArrivalProcess::OnOff { rate, .. } if self.state == 0 => *rate,
                _ => 0.0,
            };
            if rate > 0.0 {
                let candidate = self.t + exp1(&mut self.rng) / rate;
                if candidate < self.state_end {
                    return candidate;
                }
            }
            // No arrival before the state ends: by memorylessness, start afresh there.
            self.t = self.state_end;
            self.state = 1 - self.state;
            let sojourn = match &self.process {
                ArrivalProcess::Mmpp { mean_sojourn, .. } => {
                    mean_sojourn[self.state] * exp1(&mut self.rng)
                }
                ArrivalProcess::OnOff { on, off, .. } => {
                    let period = if self.state == 0 { on } else { off };
                    period.sample(0, &mut self.rng)
                }
                _ => f64::INFINITY,
            };
            self.state_end = self.t + sojourn;
        }
    }

    /// The next arrival of a non-homogeneous Poisson process, by thinning a homogeneous one
    /// at the highest rate.
    fn next_thinned(&mut self) -> f64 {
        let mut t = self.t;
        loop {
            t += exp1(&mut self.rng) / self.max_rate;
            if t >= self.end || self.rng.random::<f64>() * self.max_rate < self.process.rate_at(t) {
                return t;
            }
        }
    }
}

impl Iterator for ProcessArrivals {
    type Item = f64;

    fn next(&mut self) -> Option<f64> {
        if self.left == 0 {
            return None;
        }
        let t = match &self.process {
            ArrivalProcess::Poisson { rate } => self.t + exp1(&mut self.rng) / rate,
            ArrivalProcess::Deterministic { rate } => self.start + self.n as f64 / rate,
            ArrivalProcess::OnOff { .. } | ArrivalProcess::Mmpp { .. } => self.next_modulated(),
            ArrivalProcess::Diurnal { .. } | ArrivalProcess::Curve { .. } => self.next_thinned(),
        };
        if t >= self.end {
            self.left = 0;
            return None;
        }
        self.t = t;
        self.n += 1;
        self.left -= 1;
        Some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    fn process(src: &str) -> ArrivalProcess {
        #[derive(Deserialize)]
        struct W {
            p: ArrivalProcess,
        }
        let p = toml::from_str::<W>(&format!("p = {src}")).unwrap().p;
        p.validate().unwrap();
        p
    }

    fn times(p: &ArrivalProcess, end: f64, seed: u64) -> Vec<f64> {
        ProcessArrivals::new(p, 0.0, end, u64::MAX, stream(seed, "test", 0)).collect()
    }

    /// `count` is within `sigmas` standard deviations of `mean` (Poisson: variance = mean,
    /// times `dispersion` for overdispersed processes).
    fn within(count: usize, mean: f64, dispersion: f64, sigmas: f64) -> bool {
        (count as f64 - mean).abs() <= sigmas * (mean * dispersion).sqrt()
    }

    #[test]
    fn poisson_counts_in_windows_are_poisson() {
        let p = process("{ kind = \"poisson\", rate = 50.0 }");
        for seed in 0..5 {
            let t = times(&p, 200.0, seed);
            assert!(within(t.len(), 10_000.0, 1.0, 4.0), "{}", t.len());
            assert!(t.windows(2).all(|w| w[0] <= w[1]));
            // Counts in 200 one-second windows: mean 50 and variance 50 (index of dispersion 1).
            let mut counts = [0usize; 200];
            for x in &t {
                counts[*x as usize] += 1;
            }
            let mean = counts.iter().sum::<usize>() as f64 / 200.0;
            let var = counts
                .iter()
                .map(|c| (*c as f64 - mean).powi(2))
                .sum::<f64>()
                / 199.0;
            // The sample variance of 200 Poisson(50) counts has sd about 50 * sqrt(2/199) = 5.
            assert!((var - 50.0).abs() < 20.0, "seed {seed}: variance {var}");
        }
    }

    #[test]
    fn deterministic_is_evenly_spaced_from_start() {
        let p = process("{ kind = \"deterministic\", rate = 4.0 }");
        let t: Vec<f64> =
            ProcessArrivals::new(&p, 10.0, 11.0, u64::MAX, stream(0, "t", 0)).collect();
        assert_eq!(t, vec![10.0, 10.25, 10.5, 10.75]);
        let capped: Vec<f64> =
            ProcessArrivals::new(&p, 0.0, f64::INFINITY, 3, stream(0, "t", 0)).collect();
        assert_eq!(capped, vec![0.0, 0.25, 0.5]);
    }

    #[test]
    fn mmpp_mean_rate_holds() {
        let p = process("{ kind = \"mmpp\", rates = [2.0, 40.0], mean_sojourn = [30.0, 10.0] }");
        assert!((p.mean_rate() - 11.5).abs() < 1e-12);
        // The count's variance grows by the mean rate plus the switching term
        // 2 (r1 - r0)^2 s0^2 s1^2 / (s0 + s1)^3 = 4,061 per second: over 8 x 20,000 s the sd
        // is 25,500 on a mean of 1,840,000.
        let total: usize = (0..8).map(|seed| times(&p, 20_000.0, seed).len()).sum();
        let mean = 11.5 * 20_000.0 * 8.0;
        let sd = (4_072.5 * 20_000.0 * 8.0f64).sqrt();
        assert!((total as f64 - mean).abs() < 4.0 * sd, "{total} vs {mean}");
        // Burstier than Poisson: the counts of 100 s windows are overdispersed.
        let t = times(&p, 20_000.0, 3);
        let mut counts = vec![0f64; 200];
        for x in &t {
            counts[(*x / 100.0) as usize] += 1.0;
        }
        let m = counts.iter().sum::<f64>() / 200.0;
        let var = counts.iter().map(|c| (c - m).powi(2)).sum::<f64>() / 199.0;
        assert!(var > 5.0 * m, "variance {var} vs mean {m}");
    }

    #[test]
    fn on_off_arrives_only_while_on() {
        let p = process("{ kind = \"on-off\", rate = 100.0, on = 1.0, off = 4.0 }");
        assert!((p.mean_rate() - 20.0).abs() < 1e-12);
        let t = times(&p, 100.0, 1);
        // Constant periods: on in [5k, 5k + 1).
        assert!(t.iter().all(|x| x.rem_euclid(5.0) < 1.0));
        assert!(within(t.len(), 2_000.0, 1.0, 4.0), "{}", t.len());
    }

    #[test]
    fn diurnal_integral_matches_the_count() {
        // Over whole cycles the integral of the rate is mean * time.
        let p = process(
            "{ kind = \"diurnal\", mean = 20.0, amplitude = 0.8, period = 1000.0, peak = 250.0 }",
        );
        let t = times(&p, 5_000.0, 7);
        assert!(within(t.len(), 100_000.0, 1.0, 4.0), "{}", t.len());
        // The half cycle around the peak ([0, 500) mod 1000) holds
        // 20 * (500 + 0.8 * 1000 / pi) = 15,093 arrivals per cycle out of 20,000.
        let near_peak = t.iter().filter(|x| x.rem_euclid(1000.0) < 500.0).count();
        let expected = 5.0 * 20.0 * (500.0 + 0.8 * 1000.0 / std::f64::consts::PI);
        assert!(
            within(near_peak, expected, 1.0, 4.0),
            "{near_peak} vs {expected}"
        );
    }

    #[test]
    fn curve_is_linear_between_points_and_repeats() {
        let p = process("{ kind = \"curve\", rates = [0.0, 10.0, 10.0, 0.0], step = 100.0 }");
        assert_eq!(p.rate_at(50.0), 5.0);
        assert_eq!(p.rate_at(150.0), 10.0);
        assert_eq!(p.rate_at(350.0), 0.0);
        assert_eq!(p.rate_at(450.0), 5.0);
        let t = times(&p, 4_000.0, 2);
        // Integral per 400 s cycle: 500 + 1000 + 500 + 0 = 2,000; 10 cycles.
        assert!(within(t.len(), 20_000.0, 1.0, 4.0), "{}", t.len());
        // The segment falling from 10 to 0 ([200, 300)) holds 500 per cycle, the flat top 1,000.
        let top = t
            .iter()
            .filter(|x| (100.0..200.0).contains(&x.rem_euclid(400.0)))
            .count();
        assert!(within(top, 10_000.0, 1.0, 4.0), "{top}");
        assert!(t.iter().all(|x| x.rem_euclid(400.0) < 300.0 + 1e-9));
    }

    #[test]
    fn same_seed_same_times_and_validation_names_fields() {
        let p = process("{ kind = \"poisson\", rate = 3.0 }");
        assert_eq!(times(&p, 50.0, 9), times(&p, 50.0, 9));
        assert_ne!(times(&p, 50.0, 9), times(&p, 50.0, 10));
        let bad = ArrivalProcess::Diurnal {
            mean: 1.0,
            amplitude: 1.5,
            period: 10.0,
            peak: 0.0,
        };
        assert_eq!(bad.validate().unwrap_err().path, "amplitude");
        let bad = ArrivalProcess::Mmpp {
            rates: [1.0, 2.0],
            mean_sojourn: [1.0, 0.0],
        };
        assert_eq!(bad.validate().unwrap_err().path, "mean_sojourn[1]");
    }
}
