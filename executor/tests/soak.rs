//! Soak: 200 consecutive small bursts on a local cluster of three runc agents while agents are
//! SIGKILLed at random (seeded) and restarted, under `rerun-failed-workers`. Every function
//! must complete exactly once, every lost attempt must be failed with its reason, and nothing
//! may be left on the machine. Bounded: the bursts arrive over about 70 s and the run may not
//! outlast the run timeout after the last arrival. Prints what happened (completed, failed
//! attempts, re-run functions, kills, leftovers).
//!
//! Runs in CI (.ci/run); `BURSTSIM_SKIP_SOAK=1` skips it locally, as a counted skip (and a
//! failure under `BURSTSIM_REQUIRE_LIVE=1`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use executor::controller::{Controller, LiveRun, OnNoCapacity};
use executor::local;
use executor::runtime::RuntimeKind;
use policies::workload::FunctionInput;
use policies::{PolicySpec, RecoverySpec};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

mod common;
use common::*;

const BURSTS: u64 = 200;
const WORKERS: usize = 2;
/// Seconds between two arrivals.
const EVERY: f64 = 0.35;
const SEED: u64 = 9;

#[test]
fn soak_bursts_with_random_agent_kills() {
    if std::env::var("BURSTSIM_SKIP_SOAK").is_ok_and(|v| v == "1") {
        executor::skip::skip_live_test("BURSTSIM_SKIP_SOAK=1");
        return;
    }
    let Some(up) = up(RuntimeKind::Runc, 3, 1) else {
        return;
    };
    let mut cluster = up.cluster.clone();
    cluster.run_timeout_s = 60.0;
    let mut c = Controller::connect(cluster).unwrap();
    let mut rng = Pcg64Mcg::seed_from_u64(SEED);
    let bursts = (0..BURSTS)
        .map(|b| {
            let inputs = (0..WORKERS)
                .map(|_| FunctionInput::Sleep {
                    seconds: rng.random_range(0.05..0.3),
                })
                .collect();
            burst(b, b as f64 * EVERY, inputs)
        })
        .collect();
    let run = LiveRun {
        policy: PolicySpec::BurstHomogeneous {
            granularity: 1,
            join: false,
        },
        recovery: RecoverySpec::RerunFailedWorkers { retries: 5 },
        bursts,
        seed: SEED,
        on_no_capacity: OnNoCapacity::Queue,
    };
    let done = Arc::new(AtomicBool::new(false));
    let killer = {
        let done = done.clone();
        let dir = up.dir.path().to_path_buf();
        std::thread::spawn(move || kill_agents_at_random(&dir, &done))
    };
    let t = Instant::now();
    let out = c.run(&run, &AtomicBool::new(false));
    done.store(true, Ordering::Relaxed);
    let kills = killer.join().unwrap();
    let out = out.unwrap();
    let elapsed = t.elapsed();

    let functions = BURSTS * WORKERS as u64;
    let failed: Vec<_> = out.records.iter().filter(|r| !r.is_ok()).collect();
    let rerun = by_function(&out.records)
        .values()
        .filter(|a| a.len() > 1)
        .count();
    let left = local::leftovers_within(&up.cluster, Duration::from_secs(15)).unwrap();
    println!(
        "soak: {BURSTS} bursts, {functions} functions in {:.0} s: {} completed, {} failed \
         attempts, {rerun} functions re-run, {kills} agent kills, leftovers: {}",
        elapsed.as_secs_f64(),
        out.records.iter().filter(|r| r.is_ok()).count(),
        failed.len(),
        if left.is_empty() {
            "none".to_string()
        } else {
            left.to_string()
        }
    );
    assert_each_completed_once(&out.records, functions);
    for r in &failed {
        assert!(r.outcome.reason().contains("lost"), "{r:?}");
    }
    assert!(kills >= 3, "only {kills} agent kills");
    assert!(rerun > 0, "no function was re-run");
    assert!(left.is_empty(), "left behind: {left}");
}

/// Until `done`: every 5 to 10 s (seeded), SIGKILLs a random agent of the cluster up in `dir`
/// and restarts it 0.5 to 1 s later. Returns the number of kills.
fn kill_agents_at_random(dir: &std::path::Path, done: &AtomicBool) -> u32 {
    let mut rng = Pcg64Mcg::seed_from_u64(SEED + 1);
    let mut kills = 0;
    let nap = |d: f64| {
        let until = Instant::now() + Duration::from_secs_f64(d);
        while Instant::now() < until && !done.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    loop {
        nap(rng.random_range(5.0..10.0));
        if done.load(Ordering::Relaxed) {
            return kills;
        }
        let id = rng.random_range(0..3u32);
        let pid = local::state(dir).unwrap().agent_pids[id as usize];
        sigkill(pid);
        kills += 1;
        while local::is_alive(pid) {
            std::thread::sleep(Duration::from_millis(10));
        }
        nap(rng.random_range(0.5..1.0));
        local::restart_agent(dir, id).unwrap();
    }
}
