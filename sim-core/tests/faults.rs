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
