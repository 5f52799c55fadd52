//! Choosing which functions of a trace to replay, as trace-replay tools do: the top k by
//! invocations in the window, or a random sample of k, weighted by invocations or not.

use policies::FieldError;
use rand::Rng as _;
use serde::{Deserialize, Serialize};

use crate::rng::Rng;

/// `select = { top = 100 }` or `select = { sample = 100 }` (`weighted = false` for a uniform
/// sample). Without `select` every function with invocations in the window is replayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Select {
    /// The k functions with the most invocations in the window (ties: file order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top: Option<u32>,
    /// A seeded random sample of k functions without replacement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<u32>,
    /// Sample with probability proportional to the invocations in the window.
    #[serde(default = "yes")]
    pub weighted: bool,
}

fn yes() -> bool {
    true
}

impl Select {
    /// Exactly one of `top` and `sample`, at least 1.
    pub fn validate(&self) -> Result<(), FieldError> {
        match (self.top, self.sample) {
            (Some(0), _) => Err(FieldError::new("top", "an integer >= 1", 0)),
            (_, Some(0)) => Err(FieldError::new("sample", "an integer >= 1", 0)),
            (Some(_), None) if !self.weighted => Err(FieldError::new(
                "weighted",
                "`weighted` only with `sample`",
                "`top` and `weighted = false`",
            )),
            (Some(_), None) | (None, Some(_)) => Ok(()),
            _ => Err(FieldError::new(
                "",
                "either `top = K` or `sample = K`",
                if self.top.is_some() {
                    "both"
                } else {
                    "neither"
                },
            )),
        }
    }

    /// The indices of the chosen functions among candidates of the given `weights`
    /// (invocations in the window, each >= 1), in increasing order. Sampling draws one number
    /// per candidate, in order, from `rng`.
    pub fn choose(&self, weights: &[u64], rng: &mut Rng) -> Vec<usize> {
        let k = self.top.or(self.sample).unwrap_or(u32::MAX) as usize;
        let mut keyed: Vec<(f64, usize)> = if self.top.is_some() {
            weights
                .iter()
                .enumerate()
                .map(|(i, &w)| (w as f64, i))
                .collect()
        } else {
            // Efraimidis-Spirakis: key u^(1/w), compared as ln(u) / w; the k largest keys are a
            // weighted sample without replacement.
            weights
                .iter()
                .enumerate()
                .map(|(i, &w)| {
                    let u = 1.0 - rng.random::<f64>(); // (0, 1]
                    let key = if self.weighted {
                        u.ln() / w.max(1) as f64
                    } else {
                        u
                    };
                    (key, i)
                })
                .collect()
        };
        if k < keyed.len() {
            // Larger key first; ties by index.
            keyed.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            keyed.truncate(k);
        }
        let mut chosen: Vec<usize> = keyed.into_iter().map(|(_, i)| i).collect();
        chosen.sort_unstable();
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    #[test]
    fn top_takes_the_most_invoked_ties_in_order() {
        let s = Select {
            top: Some(2),
            sample: None,
            weighted: true,
        };
        let mut rng = stream(0, "t", 0);
        assert_eq!(s.choose(&[5, 9, 1, 9], &mut rng), vec![1, 3]);
        assert_eq!(s.choose(&[5, 4, 1, 3], &mut rng), vec![0, 1]);
        assert_eq!(s.choose(&[5], &mut rng), vec![0]);
    }

    #[test]
    fn weighted_sample_favours_heavy_functions() {
        let s = Select {
            top: None,
            sample: Some(1),
            weighted: true,
        };
        let weights = [1u64, 1, 1, 97];
        let mut heavy = 0;
        for seed in 0..1_000 {
            if s.choose(&weights, &mut stream(seed, "t", 0)) == vec![3] {
                heavy += 1;
            }
        }
        // P = 0.97; 1,000 draws: sd 5.4.
        assert!((heavy as f64 - 970.0).abs() < 25.0, "{heavy}");
        let uniform = Select {
            weighted: false,
            ..s.clone()
        };
        let heavy_uniform = (0..1_000)
            .filter(|&seed| uniform.choose(&weights, &mut stream(seed, "t", 0)) == vec![3])
            .count();
        assert!(
            (heavy_uniform as f64 - 250.0).abs() < 60.0,
            "{heavy_uniform}"
        );
        assert_eq!(
            s.choose(&weights, &mut stream(4, "t", 0)),
            s.choose(&weights, &mut stream(4, "t", 0))
        );
    }

    #[test]
    fn validation_wants_exactly_one_rule() {
        let both = Select {
            top: Some(1),
            sample: Some(1),
            weighted: true,
        };
        assert!(both.validate().unwrap_err().got.contains("both"));
        let zero = Select {
            top: Some(0),
            sample: None,
            weighted: true,
        };
        assert_eq!(zero.validate().unwrap_err().path, "top");
    }
}
