//! Distributions and workloads: validation, sampling and TOML shape.

use policies::workload::FunctionInput;
use policies::{Distribution, Workload};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_pcg::Pcg64;

fn d(toml_src: &str) -> Result<Distribution, String> {
    #[derive(serde::Deserialize)]
    struct W {
        d: Distribution,
    }
    toml::from_str::<W>(&format!("d = {toml_src}"))
        .map(|w| w.d)
        .map_err(|e| e.to_string())
}

fn draws(dist: &Distribution, n: usize, seed: u64) -> Vec<f64> {
    let mut rng = Pcg64::seed_from_u64(seed);
    (0..n as u64).map(|i| dist.sample(i, &mut rng)).collect()
}

fn quantile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() - 1) as f64 * q).round() as usize]
}

#[test]
fn parses_every_kind() {
    for src in [
        "{ dist = \"constant\", value = 1.5 }",
        "{ dist = \"uniform\", min = 0.0, max = 2.0 }",
        "{ dist = \"normal\", mean = 1.0, std = 0.1 }",
        "{ dist = \"lognormal\", median = 0.5, p99 = 2.0 }",
        "{ dist = \"lognormal\", mu = 0.0, sigma = 0.5 }",
        "{ dist = \"exponential\", mean = 3.0 }",
        "{ dist = \"empirical\", samples = [1.0, 2.0] }",
        "{ dist = \"per_function\", values = [1.0, 2.0, 3.0] }",
        "{ dist = \"quantiles\", p = [0.0, 0.5, 1.0], values = [1.0, 2.0, 4.0] }",
    ] {
        let dist = d(src).unwrap_or_else(|e| panic!("{src}: {e}"));
        assert_eq!(dist.validate(), Ok(()), "{src}");
    }
    assert!(d("{ dist = \"constant\", value = 1.0, extra = 2 }").is_err());
    assert!(d("{ dist = \"gamma\", k = 1.0 }").is_err());
}

#[test]
fn validate_errors() {
    let bad = [
        Distribution::Constant { value: -1.0 },
        Distribution::Constant { value: f64::NAN },
        Distribution::Uniform { min: 2.0, max: 1.0 },
        Distribution::Normal {
            mean: 1.0,
            std: -0.5,
        },
        Distribution::Exponential {
            mean: f64::INFINITY,
        },
        Distribution::Empirical { samples: vec![] },
        Distribution::PerFunction {
            values: vec![1.0, -2.0],
        },
        Distribution::Lognormal {
            median: Some(0.0),
            p99: Some(1.0),
            mu: None,
            sigma: None,
        },
        Distribution::Lognormal {
            median: Some(2.0),
            p99: Some(1.0),
            mu: None,
            sigma: None,
        },
        Distribution::Lognormal {
            median: Some(f64::NAN),
            p99: Some(1.0),
            mu: None,
            sigma: None,
        },
        Distribution::Lognormal {
            median: Some(1.0),
            p99: None,
            mu: None,
            sigma: None,
        },
        Distribution::Lognormal {
            median: Some(1.0),
            p99: Some(2.0),
            mu: Some(0.0),
            sigma: Some(1.0),
        },
        Distribution::Lognormal {
            median: None,
            p99: None,
            mu: Some(0.0),
            sigma: Some(-1.0),
        },
        Distribution::Lognormal {
            median: None,
            p99: None,
            mu: Some(f64::NAN),
            sigma: Some(1.0),
        },
    ];
    for dist in bad {
        let e = dist.validate();
        assert!(
            e.as_ref()
                .is_err_and(|e| !e.expected.is_empty() && !e.got.is_empty()),
            "{dist:?}: {e:?}"
        );
    }
    let e = Distribution::Uniform {
        min: -1.0,
        max: 1.0,
    }
    .validate()
    .unwrap_err();
    assert_eq!(e.path, "min");
    assert_eq!(
        e.to_string(),
        "`min`: expected a finite number >= 0, got -1"
    );
    let e = Distribution::PerFunction {
        values: vec![1.0, -2.0],
    }
    .validate()
    .unwrap_err();
    assert_eq!(e.path, "values[1]");
    let e = Distribution::Lognormal {
        median: Some(1.0),
        p99: Some(2.0),
        mu: None,
        sigma: Some(1.0),
    }
    .validate()
    .unwrap_err();
    assert_eq!(
        e.message(),
        "expected `median` and `p99`, `median` and `sigma`, or `mu` and `sigma`, got `median`, `p99`, `sigma`"
    );
    // A bare number is the value itself: no inner path.
    let e = Distribution::constant(-1.0).validate().unwrap_err();
    assert_eq!((e.path.as_str(), e.got.as_str()), ("", "-1"));
}

#[test]
fn lognormal_median_and_sigma() {
    let dist = d("{ dist = \"lognormal\", median = 2.0, sigma = 0.5 }").unwrap();
    let mut v = draws(&dist, 20_000, 3);
    let median = quantile(&mut v, 0.5);
    assert!((median - 2.0).abs() < 0.05, "median {median}");
    let logs: Vec<f64> = v.iter().map(|x| x.ln()).collect();
    let mean = logs.iter().sum::<f64>() / logs.len() as f64;
    let sd = (logs.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / logs.len() as f64).sqrt();
    assert!((sd - 0.5).abs() < 0.02, "sigma {sd}");
    let bad = d("{ dist = \"lognormal\", median = 0.0, sigma = 0.5 }").unwrap();
    assert!(bad.validate().is_err());
}

#[test]
fn lognormal_median_and_p99() {
    let dist = d("{ dist = \"lognormal\", median = 0.5, p99 = 2.0 }").unwrap();
    let mut v = draws(&dist, 20_000, 1);
    let median = quantile(&mut v, 0.5);
    let p99 = quantile(&mut v, 0.99);
    assert!((median - 0.5).abs() < 0.025, "median {median}");
    assert!((p99 - 2.0).abs() < 0.25, "p99 {p99}");
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    assert!(
        (mean - dist.mean()).abs() / dist.mean() < 0.05,
        "mean {mean} vs {}",
        dist.mean()
    );
}

#[test]
fn means_match_samples() {
    for src in [
        "{ dist = \"uniform\", min = 1.0, max = 3.0 }",
        "{ dist = \"exponential\", mean = 2.0 }",
        "{ dist = \"normal\", mean = 5.0, std = 0.5 }",
        "{ dist = \"empirical\", samples = [1.0, 2.0, 6.0] }",
    ] {
        let dist = d(src).unwrap();
        let v = draws(&dist, 20_000, 2);
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        assert!(
            (mean - dist.mean()).abs() / dist.mean() < 0.05,
            "{src}: {mean}"
        );
    }
}

#[test]
fn per_function_indexing_and_constant() {
    let dist = Distribution::PerFunction {
        values: vec![1.0, 2.0, 3.0],
    };
    let mut rng = Pcg64::seed_from_u64(0);
    let got: Vec<f64> = (0..7).map(|i| dist.sample(i, &mut rng)).collect();
    assert_eq!(got, vec![1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 1.0]);
    assert!(Distribution::constant(4.0).is_constant());
    assert!(!dist.is_constant());
    assert_eq!(Distribution::default().sample(0, &mut rng), 0.0);
}

#[test]
fn sampling_is_deterministic() {
    let dist = d("{ dist = \"lognormal\", mu = 0.0, sigma = 1.0 }").unwrap();
    assert_eq!(draws(&dist, 100, 9), draws(&dist, 100, 9));
    assert_ne!(draws(&dist, 100, 9), draws(&dist, 100, 10));
}

proptest! {
    /// Every draw is finite and >= 0, even for parameters `validate` rejects.
    #[test]
    fn samples_are_non_negative(
        a in -10.0f64..10.0,
        b in -10.0f64..10.0,
        kind in 0usize..6,
        seed: u64,
    ) {
        let dist = match kind {
            0 => Distribution::Constant { value: a },
            1 => Distribution::Uniform { min: a.min(b), max: a.max(b) },
            2 => Distribution::Normal { mean: a, std: b.abs() },
            3 => Distribution::Lognormal { median: None, p99: None, mu: Some(a), sigma: Some(b.abs()) },
            4 => Distribution::Exponential { mean: a },
            _ => Distribution::Empirical { samples: vec![a, b] },
        };
        for x in draws(&dist, 50, seed) {
            prop_assert!(x.is_finite() && x >= 0.0, "{dist:?} gave {x}");
        }
    }
}

#[test]
fn workloads() {
    #[derive(serde::Deserialize)]
    struct W {
        w: Workload,
    }
    let parse = |s: &str| {
        toml::from_str::<W>(s)
            .map(|w| w.w)
            .map_err(|e| e.to_string())
    };
    let sleep =
        parse("w = { kind = \"sleep\", duration = { dist = \"constant\", value = 2.0 } }").unwrap();
    assert!(!sleep.is_cpu_bound());
    let mut rng = Pcg64::seed_from_u64(0);
    assert_eq!(
        sleep.input(0, &mut rng),
        Some(FunctionInput::Sleep { seconds: 2.0 })
    );

    let mc = parse(
        "w = { kind = \"montecarlo\", points = { dist = \"per_function\", values = [1e6, 3e6] }, seconds_per_million_points = 0.5 }",
    )
    .unwrap();
    assert!(mc.is_cpu_bound());
    assert_eq!(mc.validate(), Ok(()));
    let input = mc.input(1, &mut rng).unwrap();
    assert_eq!(
        input,
        FunctionInput::Montecarlo {
            points: 3_000_000,
            seconds_per_million_points: 0.5
        }
    );
    assert!((input.solo_seconds() - 1.5).abs() < 1e-12);
    assert!(input.is_cpu_bound());

    let cpu = parse("w = { kind = \"cpu\", work = { dist = \"uniform\", min = 1.0, max = 2.0 } }")
        .unwrap();
    let Some(FunctionInput::Cpu { seconds }) = cpu.input(0, &mut rng) else {
        panic!()
    };
    assert!((1.0..2.0).contains(&seconds));

    let bad = Workload::Montecarlo {
        points: Distribution::constant(1.0),
        seconds_per_million_points: 0.0,
    };
    assert_eq!(
        bad.validate().unwrap_err().path,
        "seconds_per_million_points"
    );
    let bad = Workload::Sleep {
        duration: Distribution::Constant { value: -1.0 },
    };
    assert_eq!(bad.validate().unwrap_err().path, "duration");
    let bad = Workload::Cpu {
        work: Distribution::Empirical { samples: vec![] },
    };
    assert_eq!(bad.validate().unwrap_err().path, "work.samples");
    assert!(parse(
        "w = { kind = \"sleep\", duration = { dist = \"constant\", value = 1.0 }, x = 1 }"
    )
    .is_err());
}

#[test]
fn a_bare_number_is_a_constant_and_writes_back_as_one() {
    #[derive(serde::Deserialize, serde::Serialize)]
    struct Holder {
        d: Distribution,
    }
    let h: Holder = toml::from_str("d = 5").unwrap();
    assert_eq!(h.d, Distribution::constant(5.0));
    let h: Holder = toml::from_str("d = 2.5").unwrap();
    assert_eq!(h.d, Distribution::constant(2.5));
    assert_eq!(toml::to_string(&h).unwrap().trim(), "d = 2.5");
    let err = toml::from_str::<Holder>("d = \"soon\"")
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("a number or a distribution table"), "{err}");
    let err = toml::from_str::<Holder>("d = { dist = \"uniform\", min = 1.0 }")
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("max"), "{err}");
}

#[test]
fn quantiles_interpolate_linearly_between_the_given_points() {
    let dist =
        d("{ dist = \"quantiles\", p = [0.25, 0.5, 1.0], values = [1.0, 2.0, 4.0] }").unwrap();
    assert_eq!(dist.validate(), Ok(()));
    // Mean of the inverse CDF: 0.25 * 1 (flat below p = 0.25) + 0.25 * 1.5 + 0.5 * 3.
    assert!((dist.mean() - 2.125).abs() < 1e-12);
    let mut v = draws(&dist, 40_000, 5);
    let sample_mean = v.iter().sum::<f64>() / v.len() as f64;
    assert!((sample_mean - 2.125).abs() < 0.03, "{sample_mean}");
    // A quarter of the draws sit on the flat part at 1.0; the 75th percentile is 3.0.
    let flat = v.iter().filter(|&&x| x == 1.0).count() as f64 / v.len() as f64;
    assert!((flat - 0.25).abs() < 0.01, "{flat}");
    assert!((quantile(&mut v, 0.75) - 3.0).abs() < 0.03);
    assert!(v.iter().all(|&x| (1.0..=4.0).contains(&x)));
}

#[test]
fn quantiles_validation_names_the_entry() {
    let cases = [
        ("p = [0.0, 0.5], values = [1.0]", "p"),
        ("p = [0.0, 1.5], values = [1.0, 2.0]", "p[1]"),
        ("p = [0.5, 0.5], values = [1.0, 2.0]", "p[1]"),
        ("p = [0.0, 1.0], values = [2.0, 1.0]", "values[1]"),
        ("p = [], values = []", "values"),
    ];
    for (fields, path) in cases {
        let dist = d(&format!("{{ dist = \"quantiles\", {fields} }}")).unwrap();
        assert_eq!(dist.validate().unwrap_err().path, path, "{fields}");
    }
}
