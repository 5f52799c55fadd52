//! Calibration of the communication backend profiles (configs/profiles/comm/): each is checked
//! against the benchmarks it was fitted to (data/communication: pair throughput per chunk size,
//! aggregate throughput per N) and against the N it was not fitted to (N = 32 and 192). The
//! error tables are printed (`cargo test --test comm_calibration -- --nocapture`).

use std::path::PathBuf;

use burstsim::fit::comm::{read_bench_csv, sender_tail};
use burstsim::fit::{self, FitOutcome};

/// Backend profile name and its data file stem.
const BACKENDS: [(&str, &str); 7] = [
    ("redis-list", "redis-list"),
    ("redis-stream", "redis-stream"),
    ("dragonfly-list", "dragonfly-list"),
    ("dragonfly-stream", "dragonfly-stream"),
    ("rabbitmq", "rabbitmq"),
    ("s3", "s3"),
    ("tcp-relay", "message-relay"),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// (mean |error|, max |error|) over the in-sample and the out-of-sample figures.
fn errors(outcome: &FitOutcome) -> [(f64, f64); 2] {
    [false, true].map(|holdout| {
        let errs: Vec<f64> = outcome
            .experiments
            .iter()
            .filter(|e| e.holdout == holdout)
            .flat_map(|e| e.figures.iter().map(|f| f.error().abs()))
            .collect();
        let mean = errs.iter().sum::<f64>() / errs.len().max(1) as f64;
        (mean, errs.iter().copied().fold(0.0, f64::max))
    })
}

#[test]
fn comm_profiles_reproduce_the_benchmarks_and_predict_held_out_sizes() {
    let mut summary =
        String::from("backend           in-sample mean/max   out-of-sample mean/max\n");
    let mut failures = Vec::new();
    for (backend, _) in BACKENDS {
        let spec = root().join(format!("configs/fit/comm-{backend}.toml"));
        let outcome = fit::check(&spec).unwrap();
        println!("== {backend}\n{}", outcome.table());
        let [(in_mean, in_max), (out_mean, out_max)] = errors(&outcome);
        summary.push_str(&format!(
            "{backend:<17} {:>8.1}% / {:>5.1}%    {:>8.1}% / {:>5.1}%\n",
            100.0 * in_mean,
            100.0 * in_max,
            100.0 * out_mean,
            100.0 * out_max
        ));
        // The bounds are the fitted profiles' errors with a margin (README: Calibration).
        if in_mean > 0.15 || out_mean > 0.25 {
            failures.push(format!(
                "{backend}: in-sample {in_mean:.2}, out-of-sample {out_mean:.2}"
            ));
        }
    }
    println!("{summary}");
    assert!(failures.is_empty(), "{failures:?}");
}

#[test]
fn senders_end_after_their_receivers_in_the_data() {
    // What the model leaves out (README): a sender's `end` comes after its receiver's, by
    // more than any transfer explains. Printed for every backend; checked to hold, since the
    // fit's choice of the receivers' ends relies on it.
    for (backend, file) in BACKENDS {
        for kind in ["pairs", "throughput"] {
            let path = root().join(format!("data/communication/{kind}/{file}.csv"));
            let rows = read_bench_csv(&path).unwrap();
            for (key, to_last_receiver, to_last_end) in sender_tail(&rows) {
                println!(
                    "{backend:<17} {kind:<10} {key:>10}: last receiver {to_last_receiver:7.2} s, last worker {to_last_end:7.2} s"
                );
                assert!(to_last_end >= to_last_receiver, "{backend} {kind} {key}");
            }
        }
    }
}
