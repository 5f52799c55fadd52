//! `burstsim calibrate`'s creation estimator, round trip: the simulator creates containers in
//! the batches calibrate measures, with known parameters; the estimator, given the simulated
//! records, must recover them. No live runtime needed.

use std::path::Path;

use burstsim::live::calibrate::{creation_samples, fit_creation};

const CREATE: f64 = 0.1;
const ALPHA: f64 = 0.3;

/// A FaaS run of batches of k invocations of a new action (1, 2, 4, 8; five of each), far
/// apart, on two invokers whose creations take `CREATE * (1 + ALPHA * n)` (+-10% noise), n the
/// other creations in flight on the invoker.
fn config() -> String {
    let mut text = format!(
        "name = \"roundtrip\"\nseed = 7\n[[cluster.invokers]]\ncpus = 1\ncount = 2\n\
         [policy]\nname = \"faas\"\n\
         [queue]\nlatency = {{ dist = \"uniform\", min = 0.0005, max = 0.003 }}\n\
         [invoker]\nuser_memory_mb = 4096\ncreate = {{ dist = \"uniform\", min = {}, max = {} }}\n\
         cold_start = 0.0\nmax_concurrent_creations = 0\n\
         contention = {{ alpha = {ALPHA}, exponent = 1.0, count = \"in_flight\" }}\n\
         [workload]\nkind = \"sleep\"\nduration = {{ dist = \"constant\", value = 0.0 }}\n",
        CREATE * 0.9,
        CREATE * 1.1
    );
    let mut at = 0.0;
    for k in [1, 2, 4, 8] {
        for rep in 0..5 {
            text += &format!(
                "[[bursts]]\nat = {at}\nworkers = {k}\nmemory_mb = 128\naction = \"b{k}-{rep}\"\n"
            );
            at += 5.0;
        }
    }
    text
}

#[test]
fn estimator_recovers_the_simulators_creation_parameters() {
    let origin = Path::new("roundtrip.toml");
    let cfg = sim_core::config::config_from_text(&config(), &[], origin).unwrap();
    let sc = sim_core::Scenario::from_config(&cfg, origin).unwrap();
    let out = sim_core::simulate(&sc, 7);
    assert!(out.records.iter().all(|r| r.is_ok() && r.cold));
    let samples = creation_samples(&out.records);
    assert_eq!(samples.len(), 5 * (1 + 2 + 4 + 8));
    // Batches are found as the simulator made them: k together, the k-th with k - 1 before it.
    for k in [1u32, 2, 4, 8] {
        let batch: Vec<_> = samples.iter().filter(|s| s.batch == k).collect();
        assert_eq!(batch.len() as u32, 5 * k, "batches of {k}");
        let mut counts: Vec<u32> = batch.iter().map(|s| s.in_flight).collect();
        counts.sort_unstable();
        let expected: Vec<u32> = (0..k).flat_map(|n| [n; 5]).collect();
        assert_eq!(counts, expected, "in-flight counts in batches of {k}");
    }
    let fit = fit_creation(&samples, 0);
    println!(
        "create {:.4} s (true {CREATE}), alpha {:.4} (true {ALPHA}), rms error {:.4} s over {} creations",
        fit.create, fit.alpha, fit.rms_error, fit.samples
    );
    let err = |got: f64, truth: f64| (got - truth).abs() / truth;
    assert!(err(fit.create, CREATE) <= 0.05, "create {}", fit.create);
    assert!(err(fit.alpha, ALPHA) <= 0.05, "alpha {}", fit.alpha);
}

/// With one engine slot per invoker (the live agents' default), creations of a batch run one
/// after the other, then their runtime init in parallel: the estimator recovers both parts.
#[test]
fn estimator_recovers_serial_engine_and_init() {
    let text = config()
        .replace(
            "max_concurrent_creations = 0",
            "max_concurrent_creations = 1",
        )
        .replace("cold_start = 0.0", "cold_start = 0.04")
        .replace(&format!("alpha = {ALPHA}"), "alpha = 0.0");
    let origin = Path::new("roundtrip.toml");
    let cfg = sim_core::config::config_from_text(&text, &[], origin).unwrap();
    let sc = sim_core::Scenario::from_config(&cfg, origin).unwrap();
    let out = sim_core::simulate(&sc, 7);
    let fit = fit_creation(&creation_samples(&out.records), 1);
    println!(
        "create {:.4} s (true {CREATE}), cold start {:.4} s (true 0.04), rms error {:.4} s",
        fit.create, fit.cold_start, fit.rms_error
    );
    assert!(
        (fit.create - CREATE).abs() / CREATE <= 0.05,
        "create {}",
        fit.create
    );
    assert!(
        (fit.cold_start - 0.04).abs() / 0.04 <= 0.05,
        "cold start {}",
        fit.cold_start
    );
    assert_eq!(fit.alpha, 0.0);
}
