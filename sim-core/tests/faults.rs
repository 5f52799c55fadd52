//! Faults and recovery in the simulator, each fault kind and recovery policy against an
//! expectation worked out by hand (times in the comments), plus determinism.

mod common;
use common::run;

use policies::{FunctionRecord, Status};

/// Two invokers of 4 CPUs, cold creation 0.5 s, one burst of 4 sleep(20 s) workers: the
/// heterogeneous policy puts all four in one container on invoker 0 (most free CPUs, lowest
/// id).
const TWO_INVOKERS: &str = r#"
[[cluster.invokers]]
count = 2
cpus = 4
[policy]
name = "burst-heterogeneous"
[workload]
kind = "sleep"
duration = 20.0
[[bursts]]
workers = 4
[invoker]
create = 0.5
"#;

fn with(base: &str, extra: &str) -> String {
    format!("{base}{extra}")
}

fn attempts_of(records: &[FunctionRecord], fid: u64) -> Vec<&FunctionRecord> {
    records.iter().filter(|r| r.function_id == fid).collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn invoker_crash_is_detected_after_the_offline_timeout_and_rerun_elsewhere() {
    let out = run(&with(
        TWO_INVOKERS,
        "[recovery]\nname = \"rerun-failed-workers\"\n[faults]\n\
         [[faults.invoker_crashes]]\ninvoker = 0\nat = 5.3\n",
    ));
    // Attempt 0: ready at 0.5, stopped by the crash at 5.3. The last ping was at 5.0 (period
    // 1 s), so the controller takes invoker 0 offline at 15.0 and re-runs the four functions
    // on invoker 1: a cold start (0.5 s), then 20 s of work: done at 35.5.
    assert_eq!(out.records.len(), 8, "{:#?}", out.records);
    for fid in 0..4 {
        let a = attempts_of(&out.records, fid);
        assert_eq!(a.len(), 2);
        let (first, rerun) = (a[0], a[1]);
        assert_eq!((first.attempt, rerun.attempt), (0, 1));
        assert_eq!(first.status(), Status::Failed);
        assert_eq!(first.outcome.reason(), "invoker 0 crashed");
        assert_eq!((first.invoker, first.t_start), (0, 0.5));
        assert!(close(first.t_end, 5.3), "{first:?}");
        assert!(rerun.is_ok(), "{rerun:?}");
        assert_eq!(rerun.invoker, 1);
        assert!(close(rerun.t_submit, 15.0), "{rerun:?}");
        assert!(
            close(rerun.t_start, 15.5) && close(rerun.t_end, 35.5),
            "{rerun:?}"
        );
        assert!(rerun.cold);
    }
    assert_eq!(out.stats.invoker_crashes, 1);
    assert_eq!(out.stats.crashes_detected, 1);
    assert_eq!(out.stats.reruns, 4);
}

#[test]
fn without_recovery_the_crashed_functions_stay_failed() {
    let out = run(&with(
        TWO_INVOKERS,
        "[faults]\n[[faults.invoker_crashes]]\ninvoker = 0\nat = 2.0\n",
    ));
    assert_eq!(out.records.len(), 4);
    for r in &out.records {
        assert_eq!(r.status(), Status::Failed, "{r:?}");
        assert_eq!(r.outcome.reason(), "invoker 0 crashed");
        assert!(close(r.t_end, 2.0));
    }
    // Detection at 2 + 10 s ends the run.
    assert!(close(out.stats.end_time_s, 12.0), "{:?}", out.stats);
}

#[test]
fn no_faults_section_and_an_empty_one_give_the_same_records() {
    let plain = run(TWO_INVOKERS);
    let empty = run(&with(TWO_INVOKERS, "[faults]\n"));
    let dump = |r: &[FunctionRecord]| format!("{r:?}");
    assert_eq!(dump(&plain.records), dump(&empty.records));
}

#[test]
fn a_quick_restart_is_noticed_at_its_first_ping() {
    // Invoker 0 crashes at 5.3 and is back 2 s later, at 7.3: its first ping (at 8.0, the
    // next period) tells the controller it restarted, before the 15.0 offline timeout. The
    // re-run goes to invoker 1 (placed away from invoker 0): ready 8.5, done 28.5.
    let out = run(&with(
        TWO_INVOKERS,
        "[recovery]\nname = \"rerun-failed-workers\"\n[faults]\n\
         [[faults.invoker_crashes]]\ninvoker = 0\nat = 5.3\nrecovery = 2.0\n",
    ));
    for fid in 0..4 {
        let a = attempts_of(&out.records, fid);
        assert_eq!(a.len(), 2, "{a:#?}");
        assert!(close(a[1].t_submit, 8.0), "{:?}", a[1]);
        assert_eq!(a[1].invoker, 1);
        assert!(close(a[1].t_end, 28.5), "{:?}", a[1]);
    }
}

#[test]
fn a_burst_placed_on_a_crashed_invoker_before_detection_waits_for_it() {
    // Invoker 0 (the only one) crashes at 1.0, before the burst arrives at 2.0: the controller
    // does not know yet and sends it there. Detection at 11.0 (last ping 1.0); the invoker is
    // back at 21.0 and pings at 21.0; the re-run waits for it, then cold start 0.5 + 20 s.
    // Records count from the first submission, 2.0.
    let one = TWO_INVOKERS
        .replace("count = 2", "count = 1")
        .replace("workers = 4", "workers = 4\nat = 2.0");
    let out = run(&with(
        &one,
        "[recovery]\nname = \"rerun-failed-workers\"\n[faults]\n\
         [[faults.invoker_crashes]]\ninvoker = 0\nat = 1.0\nrecovery = 20.0\n",
    ));
    for fid in 0..4 {
        let a = attempts_of(&out.records, fid);
        assert_eq!(a.len(), 2, "{a:#?}");
        assert_eq!(a[0].outcome.reason(), "invoker 0 crashed");
        // Never reached the invoker: no dispatch, no start.
        assert!(
            a[0].t_dispatch.is_nan() && a[0].t_start.is_nan(),
            "{:?}",
            a[0]
        );
        assert!(close(a[1].t_submit, 9.0), "{:?}", a[1]);
        assert!(
            close(a[1].t_start, 19.5) && close(a[1].t_end, 39.5),
            "{:?}",
            a[1]
        );
    }
}

/// A burst of 8 sleep(10 s) workers in packs of 4 (homogeneous, G = 4) on four invokers of 4
/// CPUs, no creation time.
const PACKS: &str = r#"
seed = 1
[[cluster.invokers]]
count = 4
cpus = 4
[policy]
name = "burst-homogeneous"
granularity = 4
[workload]
kind = "sleep"
duration = 10.0
[[bursts]]
workers = 8
"#;

/// The first crashed attempt (lowest end) and its container's other attempts.
fn first_crash(records: &[FunctionRecord]) -> &FunctionRecord {
    records
        .iter()
        .filter(|r| r.outcome.reason() == "worker crashed")
        .min_by(|a, b| a.t_end.total_cmp(&b.t_end))
        .expect("a crash")
}

#[test]
fn worker_crash_with_rerun_failed_workers_reruns_only_the_crashed_one() {
    let out = run(&with(
        PACKS,
        "[recovery]\nname = \"rerun-failed-workers\"\nretries = 5\n\
         [faults]\nworker_crash = 0.3\n",
    ));
    check_attempts(&out.records, 8);
    let crashed: Vec<&FunctionRecord> = out
        .records
        .iter()
        .filter(|r| r.outcome.reason() == "worker crashed")
        .collect();
    assert!(!crashed.is_empty(), "seed 1 has crashes");
    for c in &crashed {
        // Crashed at a point of its run; its re-run was submitted then, away from its invoker.
        assert!(c.t_end > c.t_start && c.t_end < c.t_start + 10.0, "{c:?}");
        let next = out
            .records
            .iter()
            .find(|r| r.function_id == c.function_id && r.attempt == c.attempt + 1)
            .expect("re-run");
        assert!(close(next.t_submit, c.t_end), "{next:?}");
        assert_ne!(next.invoker, c.invoker, "{next:?}");
    }
    // The pack's other workers were not touched: one attempt each unless they crashed.
    for fid in 0..8u64 {
        let a = attempts_of(&out.records, fid);
        let crashes = a
            .iter()
            .filter(|r| r.outcome.reason() == "worker crashed")
            .count();
        assert_eq!(a.len(), crashes + 1, "{a:#?}");
        assert!(a.last().unwrap().is_ok());
    }
}

#[test]
fn worker_crash_with_rerun_pack_reruns_its_whole_pack() {
    let out = run(&with(
        PACKS,
        "[recovery]\nname = \"rerun-pack\"\nretries = 5\n[faults]\nworker_crash = 0.1\n",
    ));
    check_attempts(&out.records, 8);
    let c = first_crash(&out.records);
    // Its pack's other workers stopped when it crashed (or had ended) and ran again with it.
    let pack: Vec<&FunctionRecord> = out
        .records
        .iter()
        .filter(|r| r.container == c.container && r.function_id != c.function_id)
        .collect();
    assert_eq!(pack.len(), 3, "{pack:#?}");
    for r in pack {
        assert!(
            r.outcome.reason().starts_with(&format!(
                "discarded: its pack runs again after function {}",
                c.function_id
            )),
            "{r:?}"
        );
        assert!(close(r.t_end, c.t_end), "stopped at the crash: {r:?}");
        let next = attempts_of(&out.records, r.function_id)[r.attempt as usize + 1];
        assert!(close(next.t_submit, c.t_end), "{next:?}");
    }
    // Every function completed once in the end.
    for fid in 0..8u64 {
        assert!(attempts_of(&out.records, fid).last().unwrap().is_ok());
    }
}

#[test]
fn worker_crash_with_fail_burst_stops_the_burst() {
    let out = run(&with(
        PACKS,
        "[recovery]\nname = \"fail-burst\"\n[faults]\nworker_crash = 0.1\n",
    ));
    check_attempts(&out.records, 8);
    let c = first_crash(&out.records);
    let why = format!(
        "burst failed: function {} failed (worker crashed)",
        c.function_id
    );
    for r in &out.records {
        assert_eq!(r.attempt, 0, "no re-run: {r:?}");
        if r.function_id == c.function_id {
            continue;
        }
        // Still running at the crash: stopped then. (None ends before: all end at 10 s.)
        assert_eq!(r.outcome.reason(), why, "{r:?}");
        assert!(close(r.t_end, c.t_end), "{r:?}");
    }
}

/// Checks the attempt structure of a run of `n` functions: attempts of each function numbered
/// 0, 1, ... in order, at most one `ok`, every failure with a reason.
fn check_attempts(records: &[FunctionRecord], n: u64) {
    let mut next = vec![0u32; n as usize];
    let mut ok = vec![0u32; n as usize];
    let mut last = 0;
    for r in records {
        assert!(r.function_id >= last, "by function id: {r:?}");
        last = r.function_id;
        assert_eq!(r.attempt, next[r.function_id as usize], "{r:?}");
        next[r.function_id as usize] += 1;
        match r.status() {
            Status::Ok => ok[r.function_id as usize] += 1,
            _ => assert!(!r.outcome.reason().is_empty(), "{r:?}"),
        }
        if r.t_start.is_finite() && r.t_end.is_finite() {
            assert!(r.t_start <= r.t_end, "{r:?}");
        }
    }
    assert!(next.iter().all(|&a| a > 0), "every function recorded");
    assert!(ok.iter().all(|&k| k <= 1), "at most one ok: {ok:?}");
}

/// One burst of 2000 single-worker containers (homogeneous, G = 1) on 50 invokers of 48 CPUs,
/// sleep(10 s), cold creation 0.1 s.
const MANY: &str = r#"
seed = 7
[[cluster.invokers]]
count = 50
cpus = 48
[policy]
name = "burst-homogeneous"
granularity = 1
[workload]
kind = "sleep"
duration = 10.0
[[bursts]]
workers = 2000
[invoker]
create = 0.1
max_concurrent_creations = 0
"#;

/// `k` within 5 standard deviations of Binomial(`n`, `p`).
fn within_binomial(k: usize, n: usize, p: f64) -> bool {
    let mean = n as f64 * p;
    let sd = (n as f64 * p * (1.0 - p)).sqrt();
    (k as f64 - mean).abs() <= 5.0 * sd
}

#[test]
fn creation_failures_follow_their_probability() {
    let out = run(&with(MANY, "[faults]\ncreation_failure = 0.2\n"));
    check_attempts(&out.records, 2000);
    let failed: Vec<&FunctionRecord> = out.records.iter().filter(|r| !r.is_ok()).collect();
    assert!(within_binomial(failed.len(), 2000, 0.2), "{}", failed.len());
    assert_eq!(failed.len() as u64, out.stats.creation_failures);
    for r in failed {
        assert_eq!(r.outcome.reason(), "container creation failed");
        // Reported at the end of the engine phase: it reached the invoker, never started.
        assert!(r.t_dispatch.is_finite() && r.t_start.is_nan(), "{r:?}");
    }
    // With re-runs every function completes; a function needs 1 / 0.8 attempts on average.
    let out = run(&with(
        MANY,
        "[recovery]\nname = \"rerun-failed-workers\"\nretries = 100\n\
         [faults]\ncreation_failure = 0.2\n",
    ));
    check_attempts(&out.records, 2000);
    assert_eq!(out.records.iter().filter(|r| r.is_ok()).count(), 2000);
    let extra = out.records.len() - 2000;
    // Failed attempts over all attempts: about 0.2.
    assert!(
        within_binomial(extra, out.records.len(), 0.2),
        "{extra} of {}",
        out.records.len()
    );
}

#[test]
fn worker_crashes_follow_their_probability_at_a_uniform_point() {
    let out = run(&with(MANY, "[faults]\nworker_crash = 0.1\n"));
    check_attempts(&out.records, 2000);
    let crashed: Vec<&FunctionRecord> = out.records.iter().filter(|r| !r.is_ok()).collect();
    assert!(
        within_binomial(crashed.len(), 2000, 0.1),
        "{}",
        crashed.len()
    );
    // Crash points uniform over the 10 s run: mean 5 s, standard error 2.89 / sqrt(k).
    let points: Vec<f64> = crashed.iter().map(|r| r.t_end - r.t_start).collect();
    assert!(points.iter().all(|&p| (0.0..10.0).contains(&p)));
    let mean = points.iter().sum::<f64>() / points.len() as f64;
    let se = 10.0 / 12f64.sqrt() / (points.len() as f64).sqrt();
    assert!((mean - 5.0).abs() < 5.0 * se, "mean crash point {mean}");
    let early = points.iter().filter(|&&p| p < 5.0).count();
    assert!(within_binomial(early, points.len(), 0.5), "{early}");
}

#[test]
fn stragglers_follow_their_probability_and_slowdown() {
    let out = run(&with(
        MANY,
        "[faults.stragglers]\nprobability = 0.05\nslowdown = 3.0\n",
    ));
    let slow = out
        .records
        .iter()
        .filter(|r| close(r.t_end - r.t_start, 30.0))
        .count();
    let normal = out
        .records
        .iter()
        .filter(|r| close(r.t_end - r.t_start, 10.0))
        .count();
    assert_eq!(slow + normal, 2000);
    assert!(within_binomial(slow, 2000, 0.05), "{slow}");
    assert_eq!(slow as u64, out.stats.stragglers);
}

/// A burst of 20 sleep(10 s) workers, one per container (G = 1) on 4 invokers of 8 CPUs, cold
/// creation 0.5 s (unlimited engine slots): every attempt runs over [0.5, 10.5] unless it
/// straggles (slowdown 5: [0.5, 50.5]).
const SPEC: &str = r#"
[[cluster.invokers]]
count = 4
cpus = 8
[policy]
name = "burst-homogeneous"
granularity = 1
[recovery]
name = "speculate-stragglers"
after = 0.75
[workload]
kind = "sleep"
duration = 10.0
[[bursts]]
workers = 20
[invoker]
create = 0.5
max_concurrent_creations = 0
[faults.stragglers]
probability = 0.1
slowdown = 5.0
"#;

#[test]
fn a_straggler_is_backed_up_and_the_first_copy_wins() {
    // The 0.75-quantile of 20 completion times is the 15th: known at 10.5 when the normal
    // attempts end (at most 5 of 20 straggle in the seeds used). A straggler still running
    // then (longer than 10.5 s since its submission: 1 ns later) gets a backup, placed away
    // from its invoker, in a container that the normal ones left warm: 10 s more (50 s if it
    // straggles too). The function ends at min(50.5, 10.5 + its backup's run).
    let mut seen = 0;
    for seed in 0..40u64 {
        let out = run(&format!("seed = {seed}\n{SPEC}"));
        check_attempts(&out.records, 20);
        let stragglers: Vec<u64> = out
            .records
            .iter()
            .filter(|r| {
                r.attempt == 0 && r.t_start.is_finite() && r.t_end - r.t_start > 10.0 + 1e-9
            })
            .map(|r| r.function_id)
            .collect();
        if stragglers.is_empty() || stragglers.len() > 5 {
            continue;
        }
        seen += 1;
        for fid in 0..20u64 {
            let a = attempts_of(&out.records, fid);
            if !stragglers.contains(&fid) {
                assert_eq!(a.len(), 1, "no backup for a normal one: {a:#?}");
                assert!(a[0].is_ok() && close(a[0].t_end, 10.5));
                continue;
            }
            assert_eq!(a.len(), 2, "{a:#?}");
            let (orig, backup) = (a[0], a[1]);
            assert!((backup.t_submit - 10.5).abs() < 2e-9, "{backup:?}");
            assert!((backup.t_start - 10.5).abs() < 2e-9, "{backup:?}");
            assert_ne!(backup.invoker, orig.invoker);
            let backup_run = if backup.is_ok() {
                backup.t_end - backup.t_start
            } else {
                // It lost: it was stopped when the original ended at 50.5.
                50.0 - 0.5
            };
            let expected = 50.5f64.min(backup.t_start + backup_run);
            let winner = if orig.is_ok() { orig } else { backup };
            let loser = if orig.is_ok() { backup } else { orig };
            assert!(close(winner.t_end, expected), "{a:#?}");
            assert_eq!(
                loser.outcome.reason(),
                format!("superseded: attempt {} finished first", winner.attempt)
            );
            assert!(close(loser.t_end, winner.t_end), "stopped then: {loser:?}");
        }
    }
    assert!(seen >= 10, "seeds with 1 to 5 stragglers: {seen}");
}

#[test]
fn faas_activations_on_a_crashed_invoker_fail_at_the_completion_ack_timeout_and_are_retried() {
    let faas = r#"
[[cluster.invokers]]
cpus = 4
[policy]
name = "faas"
[workload]
kind = "sleep"
duration = 20.0
[[bursts]]
workers = 4
[invoker]
create = 0.5
max_concurrent_creations = 0
"#;
    // Invoker 0 crashes at 5.0 with the 4 activations running and is back at 35.0. OpenWhisk's
    // controller waits for their completion acks: they fail at 0 + 180 s; the client sends
    // each again at once (one retry), cold start 0.5 s, 20 s: done at 200.5.
    let crash = "[[faults.invoker_crashes]]\ninvoker = 0\nat = 5.0\nrecovery = 30.0\n";
    let out = run(&format!(
        "{faas}[recovery]\nname = \"openwhisk\"\nclient_retries = 1\n[faults]\n{crash}"
    ));
    check_attempts(&out.records, 4);
    for fid in 0..4 {
        let a = attempts_of(&out.records, fid);
        assert_eq!(a.len(), 2, "{a:#?}");
        assert_eq!(
            a[0].outcome.reason(),
            "invoker 0 crashed: no completion ack within 180 s"
        );
        assert!(close(a[0].t_end, 5.0));
        assert!(
            close(a[1].t_submit, 180.0) && close(a[1].t_end, 200.5),
            "{:?}",
            a[1]
        );
    }
    // Without client retries they stay failed.
    let out = run(&format!("{faas}[faults]\n{crash}"));
    assert!(out.records.iter().all(|r| !r.is_ok()) && out.records.len() == 4);
    // Activations still in the topic when it crashed run once it is back: Kafka kept them.
    let late = faas.replace("workers = 4", "workers = 4\nat = 1.0");
    let out = run(&format!(
        "{late}[faults]\n[[faults.invoker_crashes]]\ninvoker = 0\nat = 0.5\nrecovery = 4.5\n"
    ));
    for r in &out.records {
        // Sent at 1.0 (t = 0), delivered at 5.0 when the invoker is back: ready 5.5.
        assert!(
            r.is_ok() && close(r.t_dispatch, 4.0) && close(r.t_end, 24.5),
            "{r:?}"
        );
    }
}

#[test]
fn a_broker_outage_holds_messages_and_is_not_mistaken_for_a_crash() {
    // The burst arrives at 1.0 during an outage [0.5, 3.0): its message enters the topic at
    // 3.0, so the container is ready at 3.5 (2.5 from the first submission).
    let late = TWO_INVOKERS.replace("workers = 4", "workers = 4\nat = 1.0");
    let out = run(&with(
        &late,
        "[faults]\n[[faults.broker_outages]]\nfrom = 0.5\nuntil = 3.0\n",
    ));
    for r in &out.records {
        assert!(
            r.is_ok() && close(r.t_dispatch, 2.0) && close(r.t_start, 2.5),
            "{r:?}"
        );
    }
    // An outage longer than the offline timeout: pings are missed, no invoker goes offline.
    let out = run(&with(
        TWO_INVOKERS,
        "[recovery]\nname = \"rerun-failed-workers\"\n\
         [faults]\n[[faults.broker_outages]]\nfrom = 2.0\nuntil = 30.0\n",
    ));
    assert_eq!(out.records.len(), 4);
    assert!(out
        .records
        .iter()
        .all(|r| r.is_ok() && close(r.t_end, 20.5)));
    assert_eq!(out.stats.crashes_detected, 0);
}

#[test]
fn random_crashes_follow_their_time_to_failure_and_recovery() {
    // One invoker that crashes 8 s after each (re)start and is down 2 s: crashes at 8, 18,
    // 28, 38, ... A worker needing 9 s never completes: each attempt starts 0.5 s after its
    // submission (0, then each restart ping: 10, 20, 30) and is lost at the next crash.
    let one = r#"
[[cluster.invokers]]
cpus = 4
[policy]
name = "burst-heterogeneous"
[recovery]
name = "rerun-failed-workers"
retries = 3
[workload]
kind = "sleep"
duration = 9.0
[[bursts]]
workers = 1
[invoker]
create = 0.5
[faults.invoker_failures]
time_to_failure = 8.0
recovery = 2.0
"#;
    let out = run(one);
    check_attempts(&out.records, 1);
    assert_eq!(out.records.len(), 4);
    for (k, r) in out.records.iter().enumerate() {
        let t = 10.0 * k as f64;
        assert_eq!(r.outcome.reason(), "invoker 0 crashed", "{r:?}");
        assert!(close(r.t_submit, t) && close(r.t_start, t + 0.5), "{r:?}");
        assert!(close(r.t_end, t + 8.0), "{r:?}");
    }
    assert_eq!(out.stats.invoker_crashes, 4);
}

/// Every fault at once, with re-runs of whole packs: same seed same records; another seed,
/// other records; the attempt structure holds.
#[test]
fn runs_with_faults_are_deterministic() {
    let all = r#"
[[cluster.invokers]]
count = 6
cpus = 8
[policy]
name = "burst-homogeneous"
granularity = 4
[recovery]
name = "rerun-pack"
retries = 20
[workload]
kind = "sleep"
duration = { dist = "lognormal", median = 5.0, p99 = 20.0 }
[[bursts]]
workers = 24
count = 5
every = 7.0
[invoker]
create = { dist = "uniform", min = 0.2, max = 0.6 }
[faults]
creation_failure = 0.05
worker_crash = 0.05
[faults.invoker_failures]
time_to_failure = { dist = "exponential", mean = 60.0 }
recovery = { dist = "uniform", min = 5.0, max = 20.0 }
[faults.stragglers]
probability = 0.1
slowdown = { dist = "uniform", min = 2.0, max = 4.0 }
[[faults.broker_outages]]
from = 12.0
until = 15.0
"#;
    let dump = |r: &[FunctionRecord]| format!("{r:?}");
    let a = run(&format!("seed = 3\n{all}"));
    let b = run(&format!("seed = 3\n{all}"));
    let c = run(&format!("seed = 4\n{all}"));
    assert_eq!(dump(&a.records), dump(&b.records));
    assert_eq!(a.stats, b.stats);
    assert_ne!(dump(&a.records), dump(&c.records));
    for out in [&a, &c] {
        check_attempts(&out.records, 120);
        assert!(
            out.stats.invoker_crashes > 0 && out.stats.reruns > 0,
            "{:?}",
            out.stats
        );
    }
    // With speculation as well.
    let spec = all.replace(
        "name = \"rerun-pack\"\nretries = 20",
        "name = \"speculate-stragglers\"\nafter = 0.8\nretries = 20",
    );
    let a = run(&format!("seed = 3\n{spec}"));
    let b = run(&format!("seed = 3\n{spec}"));
    assert_eq!(dump(&a.records), dump(&b.records));
    check_attempts(&a.records, 120);
    assert!(a.stats.backups > 0, "{:?}", a.stats);
}

#[test]
fn rerun_pack_discards_pack_members_that_had_already_completed() {
    // Packs of 4 workers whose run times differ (uniform 1-20 s): when a worker crashes, its
    // pack's members that had already completed are discarded too (their results are lost
    // with the pack) and run again; their records say so even though they ended first.
    let varied = PACKS.replace(
        "duration = 10.0",
        "duration = { dist = \"uniform\", min = 1.0, max = 20.0 }",
    );
    let mut early = 0;
    for seed in 0..20u64 {
        let text = varied.replace("seed = 1", &format!("seed = {seed}"));
        let out = run(&with(
            &text,
            "[recovery]\nname = \"rerun-pack\"\nretries = 50\n[faults]\nworker_crash = 0.2\n",
        ));
        check_attempts(&out.records, 8);
        for c in out
            .records
            .iter()
            .filter(|r| r.outcome.reason() == "worker crashed")
        {
            if attempts_of(&out.records, c.function_id).len() == c.attempt as usize + 1 {
                // Out of retries: kept failed, its pack is not run again.
                continue;
            }
            let why = format!(
                "discarded: its pack runs again after function {}",
                c.function_id
            );
            for r in out.records.iter().filter(|r| {
                r.container == c.container
                    && r.function_id != c.function_id
                    && r.t_container_ready == c.t_container_ready
            }) {
                if r.outcome.reason() == "worker crashed" {
                    continue;
                }
                assert!(r.outcome.reason().starts_with(&why), "{r:?}\n{c:?}");
                if r.t_end < c.t_end - 1e-9 {
                    early += 1;
                }
                // It runs again: its next attempt was submitted at the crash.
                let next = attempts_of(&out.records, r.function_id)[r.attempt as usize + 1];
                assert!(close(next.t_submit, c.t_end), "{next:?}");
            }
        }
        for fid in 0..8u64 {
            assert!(attempts_of(&out.records, fid).last().unwrap().is_ok());
        }
    }
    assert!(
        early > 0,
        "some pack member completed before its pack's crash"
    );
}

#[test]
fn faas_activations_after_detection_avoid_the_offline_home_invoker() {
    // Four invokers, all open to the (Docker) action; its home is where its first activation
    // goes. The home crashes
    // for good at 10.0, idle, and is taken offline when its pings stop; activations sent at 60.0 go
    // to the next invokers of the probe, never to the offline one (the balancer's free-memory
    // index must hear of the health change like of any other view change).
    let faas = r#"
[[cluster.invokers]]
count = 4
cpus = 4
[policy]
name = "faas"
blackbox_fraction = 1.0
[workload]
kind = "sleep"
duration = 1.0
[[bursts]]
workers = 2
[[bursts]]
workers = 6
at = 60.0
"#;
    let home = run(faas).records[0].invoker;
    let crash = format!("[faults]\n[[faults.invoker_crashes]]\ninvoker = {home}\nat = 10.0\n");
    let out = run(&format!("{faas}{crash}"));
    let late: Vec<&FunctionRecord> = out.records.iter().filter(|r| r.burst_id == 1).collect();
    assert_eq!(late.len(), 6);
    for r in late {
        assert!(r.is_ok() && r.invoker != home, "{r:?}");
    }
}
