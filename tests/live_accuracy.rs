//! The live loop's accuracy: `calibrate` then `validate` on a local cluster, the calibrated
//! simulator against the measurements. Timing-sensitive, so it is the only test of this binary:
//! cargo runs test binaries one after another, and inside tests/live.rs the other live tests
//! (Docker, crun, kills) ran on the second test thread while `calibrate` measured, inflating
//! the profile's creation times by up to 65% against a validation that then ran alone. Skipped
//! (counted) like tests/live.rs when the machine cannot run containers.

mod common;

use std::path::Path;

use common::{calibrate, ok, skip, validate, Cluster};

/// (simulated, measured, relative error, measured standard error) of `figure` in a
/// validation.csv.
fn validation_row(csv: &Path, figure: &str) -> (f64, f64, f64, f64) {
    let text = std::fs::read_to_string(csv).unwrap();
    let row = text
        .lines()
        .find(|l| l.starts_with(&format!("{figure},")))
        .unwrap_or_else(|| panic!("no {figure} in {}", csv.display()));
    let v: Vec<f64> = row.split(',').skip(1).map(|x| x.parse().unwrap()).collect();
    (v[0], v[1], v[2], v[3])
}

/// The live loop as a new user runs it: `cluster up`, `calibrate`, a config including the
/// written profile, `validate --repeat 10`. The simulator must then be within 20% of the
/// measured start-latency median and within 10% of the measured makespan, for a burst at
/// G = 1 and a FaaS run with more invocations than CPUs (8 x sleep(1 s)) on 2 agents x 1 CPU,
/// and a burst at G = all CPUs of an agent on 2 agents x 2 CPUs. Ten repeats, because one
/// repeat's median start latency varies by about 16% from run to run (0.044-0.073 s at G = 1:
/// the two agents' creations share the machine and move together); the mean of ten has a
/// standard error near 5% (printed), so the 20% bound tests the model rather than the noise.
/// Prints the table (`-- --nocapture`).
#[test]
fn calibrate_then_validate_closes_the_live_loop() {
    if skip() {
        return;
    }
    let mut table = format!(
        "{:<28} {:>10} {:>10} {:>9} {:>8} {:>11} {:>11} {:>8}\n",
        "case", "p50 sim", "p50 live", "+- s.e.", "err", "makespan s", "makespan l", "err"
    );
    let mut failures = Vec::new();
    for (cpus, cases) in [
        (
            1u32,
            vec![
                ("burst 2 at G=1", "burst-homogeneous", 1u32, 2u32),
                ("faas 8 x sleep(1 s)", "faas", 0, 8),
            ],
        ),
        (
            2,
            vec![("burst 4 at G=2 (all CPUs)", "burst-homogeneous", 2, 4)],
        ),
    ] {
        let cluster = Cluster::up(2, cpus);
        let work = tempfile::tempdir().unwrap();
        let profile = work.path().join("profiles/local.toml");
        ok(&calibrate(&cluster.file(), 12, &profile).output().unwrap());
        for (case, policy, g, workers) in cases {
            let policy = if g == 0 {
                format!("name = \"{policy}\"")
            } else {
                format!("name = \"{policy}\"\ngranularity = {g}")
            };
            let cfg = work.path().join("case.toml");
            std::fs::write(
                &cfg,
                format!(
                    "name = \"case\"\nseed = 1\ninclude = [\"profiles/local.toml\"]\n\
                     [[cluster.invokers]]\ncpus = {cpus}\ncount = 2\n[policy]\n{policy}\n\
                     [workload]\nkind = \"sleep\"\nduration = {{ dist = \"constant\", value = 1.0 }}\n\
                     [[bursts]]\nat = 0.0\nworkers = {workers}\n"
                ),
            )
            .unwrap();
            let out = work.path().join(format!("val-{workers}-{g}"));
            ok(&validate(&cfg, &cluster.file(), 10, &out).output().unwrap());
            let csv = out.join("validation.csv");
            let (ps, pl, pe, pse) = validation_row(&csv, "start_latency_p50_s");
            let (ms, ml, me, _) = validation_row(&csv, "makespan_s");
            table += &format!(
                "{case:<28} {ps:>10.4} {pl:>10.4} {pse:>9.4} {:>7.1}% {ms:>11.4} {ml:>11.4} {:>7.1}%\n",
                pe * 100.0,
                me * 100.0
            );
            if pe.abs() > 0.20 || me.abs() > 0.10 {
                failures.push(case);
            }
        }
        cluster.assert_clean();
    }
    println!("{table}");
    assert!(
        failures.is_empty(),
        "outside the bounds: {failures:?}\n{table}"
    );
}
