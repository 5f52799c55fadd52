//! A mergeable quantile sketch with a relative-error guarantee (DDSketch: Masson, Rim, Lee,
//! VLDB 2019). Values are counted in logarithmic bins `(gamma^(i-1), gamma^i]` with
//! `gamma = (1 + alpha) / (1 - alpha)`; a quantile is answered by the bin holding the wanted
//! rank, as `2 gamma^i / (gamma + 1)`, which is within `alpha` of every value in the bin. So
//! every quantile is within a relative error `alpha` of the exact (nearest-rank) one, whatever
//! the distribution and the number of values, with memory `log(max/min) / log(gamma)` bins.
//!
//! Two sketches with the same `alpha` merge by adding their bins: the result is exactly the
//! sketch of the union, so per-shard sketches (threads, sweep shards, runs) combine without
//! losing the guarantee. Values below [`QuantileSketch::MIN_VALUE`] in magnitude count as 0.

use serde::{Deserialize, Serialize};

/// Bins of one sign: counts of bin indices `offset .. offset + counts.len()`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Bins {
    offset: i32,
    counts: Vec<u64>,
}

impl Bins {
    fn add(&mut self, index: i32, n: u64) {
        if self.counts.is_empty() {
            self.offset = index;
        }
        if index < self.offset {
            let grow = (self.offset - index) as usize;
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.offset = index;
        }
        let at = (index - self.offset) as usize;
        if at >= self.counts.len() {
            self.counts.resize(at + 1, 0);
        }
        self.counts[at] += n;
    }

    /// Non-empty bins, lowest index first.
    fn iter(&self) -> impl DoubleEndedIterator<Item = (i32, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(move |(i, &c)| (self.offset + i as i32, c))
    }
}

/// Quantiles of a stream of values within a relative error `alpha`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantileSketch {
    alpha: f64,
    /// `ln(gamma)`.
    ln_gamma: f64,
    positive: Bins,
    negative: Bins,
    zeros: u64,
    count: u64,
    min: f64,
    max: f64,
}

impl QuantileSketch {
    /// Smallest magnitude told apart from 0 (1 ns, in seconds).
    pub const MIN_VALUE: f64 = 1e-9;

    /// An empty sketch whose quantiles are within relative error `alpha` (0 < alpha < 1).
    pub fn new(alpha: f64) -> Self {
        assert!(alpha > 0.0 && alpha < 1.0, "relative accuracy in (0, 1)");
        QuantileSketch {
            alpha,
            ln_gamma: ((1.0 + alpha) / (1.0 - alpha)).ln(),
            positive: Bins::default(),
            negative: Bins::default(),
            zeros: 0,
            count: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    /// The relative error bound of every quantile.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    /// Values added.
    pub fn count(&self) -> u64 {
        self.count
    }

    #[inline]
    fn index(&self, magnitude: f64) -> i32 {
        ceil_i32(magnitude.ln() / self.ln_gamma)
    }

    /// The value a bin stands for: within `alpha` of everything in it.
    fn value(&self, index: i32) -> f64 {
        let gamma = self.ln_gamma.exp();
        2.0 * (index as f64 * self.ln_gamma).exp() / (gamma + 1.0)
    }

    /// Adds one value (NaN is ignored).
    #[inline]
    pub fn add(&mut self, v: f64) {
        if v.is_nan() {
            return;
        }
        self.count += 1;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        if v > Self::MIN_VALUE {
            let i = self.index(v);
            self.positive.add(i, 1);
        } else if v < -Self::MIN_VALUE {
            let i = self.index(-v);
            self.negative.add(i, 1);
        } else {
            self.zeros += 1;
        }
    }

    /// Adds every value of `other` (same `alpha`): the sketch of the union.
    pub fn merge(&mut self, other: &QuantileSketch) {
        assert_eq!(self.alpha, other.alpha, "sketches of different accuracy");
        for (i, c) in other.positive.iter() {
            self.positive.add(i, c);
        }
        for (i, c) in other.negative.iter() {
            self.negative.add(i, c);
        }
        self.zeros += other.zeros;
        self.count += other.count;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Every non-empty bin as (value it stands for, count), in increasing value (the smallest
    /// and largest are the exact minimum and maximum).
    pub fn bins(&self) -> Vec<(f64, u64)> {
        let mut out: Vec<(f64, u64)> = Vec::new();
        out.extend(self.negative.iter().rev().map(|(i, c)| (-self.value(i), c)));
        if self.zeros > 0 {
            out.push((0.0, self.zeros));
        }
        out.extend(self.positive.iter().map(|(i, c)| (self.value(i), c)));
        for bin in &mut out {
            bin.0 = bin.0.clamp(self.min, self.max);
        }
        out
    }

    /// The nearest-rank `p`-th percentile (the value of rank `ceil(p/100 * n)`), within relative
    /// error `alpha`; the exact minimum and maximum at the ends. NaN when empty.
    pub fn percentile(&self, p: f64) -> f64 {
        if self.count == 0 {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * self.count as f64).ceil() as u64;
        let rank = rank.clamp(1, self.count);
        if rank == 1 {
            return self.min;
        }
        if rank == self.count {
            return self.max;
        }
        let mut seen = 0;
        for (value, c) in self.bins() {
            seen += c;
            if seen >= rank {
                return value;
            }
        }
        self.max
    }
}

/// `x.ceil() as i32` for every `x` (saturating, NaN to 0) without the libm call that `ceil`
/// is on baseline x86-64: the conversion truncates toward zero, which is the ceiling except
/// for a positive `x` with a fraction. Called once per streamed record.
#[inline]
fn ceil_i32(x: f64) -> i32 {
    let t = x as i32;
    t.saturating_add(i32::from((t as f64) < x))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::percentile;
    use proptest::prelude::*;

    #[test]
    fn ceil_i32_equals_std_at_the_edges() {
        for x in [
            0.0,
            -0.0,
            0.5,
            -0.5,
            1.0,
            -1.0,
            2147483646.5,
            2147483647.0,
            2147483647.5,
            -2147483648.0,
            -2147483648.5,
            1e300,
            -1e300,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ] {
            assert_eq!(ceil_i32(x), x.ceil() as i32, "{x}");
        }
    }

    fn within(got: f64, want: f64, alpha: f64) -> bool {
        (got - want).abs() <= alpha * want.abs() + QuantileSketch::MIN_VALUE
    }

    #[test]
    fn quantiles_of_a_known_set() {
        let mut s = QuantileSketch::new(0.001);
        let values: Vec<f64> = (1..=10_000).map(|i| i as f64 * 0.01).collect();
        for &v in &values {
            s.add(v);
        }
        for p in [1.0, 25.0, 50.0, 95.0, 99.0, 99.9] {
            let want = percentile(&values, p);
            assert!(
                within(s.percentile(p), want, 0.001),
                "p{p}: {} vs {want}",
                s.percentile(p)
            );
        }
        assert_eq!(s.percentile(0.0), 0.01);
        assert_eq!(s.percentile(100.0), 100.0);
        assert_eq!(s.count(), 10_000);
        assert!(QuantileSketch::new(0.01).percentile(50.0).is_nan());
    }

    proptest! {
        #[test]
        fn ceil_i32_equals_std(bits in any::<u64>(), small in -1e4f64..1e4) {
            for x in [f64::from_bits(bits), small] {
                prop_assert_eq!(ceil_i32(x), x.ceil() as i32, "{}", x);
            }
        }

        /// Any values, any percentile: within alpha of the exact nearest-rank one; and merging
        /// the sketches of two halves gives the sketch of the whole.
        #[test]
        fn relative_error_bound_and_exact_merge(
            values in prop::collection::vec(prop_oneof![Just(0.0), -1e3..1e3f64, 1e-6..1e6f64], 1..400),
            split in 0usize..400,
            p in 0.0..100.0f64,
        ) {
            let alpha = 0.01;
            let mut whole = QuantileSketch::new(alpha);
            for &v in &values {
                whole.add(v);
            }
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            let want = percentile(&sorted, p);
            prop_assert!(within(whole.percentile(p), want, alpha), "{} vs {}", whole.percentile(p), want);

            let split = split.min(values.len());
            let (mut a, mut b) = (QuantileSketch::new(alpha), QuantileSketch::new(alpha));
            values[..split].iter().for_each(|&v| a.add(v));
            values[split..].iter().for_each(|&v| b.add(v));
            a.merge(&b);
            prop_assert_eq!(a.bins(), whole.bins());
            prop_assert_eq!(a.percentile(p), whole.percentile(p));
        }
    }
}
