//! The same cluster tests on every container backend: runc and crun (OCI bundles) and Docker
//! (Engine API), each on a local cluster of agent processes. `on_every_backend!` turns each
//! test body into one test per backend (`runc::…`, `crun::…`, `docker::…`), so each backend
//! passes or fails on its own. Pinning is checked from inside the workers; cleanup with
//! `executor::local::leftovers` (the backend's list, cgroups, bundle/payload directories,
//! /proc). A backend is skipped (counted, and a failure under `BURSTSIM_REQUIRE_LIVE=1`: see
//! `executor::skip`) only when not root or when its tool (runc, crun, dockerd) or redis-server
//! is not installed; a Docker engine that is installed but not running is started with
//! scripts/start-dockerd.sh.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use executor::controller::{LiveRun, OnNoCapacity};
use executor::local;
use executor::runtime::RuntimeKind;
use policies::workload::FunctionInput;
use policies::{PolicySpec, RecoverySpec, Status};

mod common;
use common::*;

/// For each test body `fn name(runtime: RuntimeKind)`, one `#[test]` per backend.
macro_rules! on_every_backend {
    ($($test:ident),+ $(,)?) => {
        on_every_backend!(@backend runc Runc $($test),+);
        on_every_backend!(@backend crun Crun $($test),+);
        on_every_backend!(@backend docker Docker $($test),+);
    };
    (@backend $module:ident $kind:ident $($test:ident),+) => {
        mod $module {
            $(
                #[test]
                fn $test() {
                    super::$test(executor::runtime::RuntimeKind::$kind)
                }
            )+
        }
    };
}

on_every_backend!(
    burst_runs_pinned_workers_and_cleans_up,
    faas_reuses_warm_containers,
    killed_agent_fails_its_functions_and_is_cleaned_up,
    cancelled_run_removes_its_containers,
    crashed_worker_is_failed_with_its_exit_code_and_rerun,
    oom_killed_worker_is_reported_and_its_pack_rerun,
);

/// A burst of two functions on two 1-CPU agents: both Ok, one container per invoker, each
/// worker pinned to its agent's host CPU as seen from inside, the functions really ran,
/// nothing left afterwards.
fn burst_runs_pinned_workers_and_cleans_up(runtime: RuntimeKind) {
    let Some(up) = up(runtime, 2, 1) else { return };
    let mut c = controller(&up);
    let run = homogeneous(vec![
        FunctionInput::Sleep { seconds: 0.3 },
        FunctionInput::Montecarlo {
            points: 200_000,
            seconds_per_million_points: 0.05,
        },
    ]);
    let out = c.run(&run, &AtomicBool::new(false)).unwrap();
    assert_eq!(out.records.len(), 2);
    for r in &out.records {
        assert_eq!(r.status(), Status::Ok, "{r:?}");
        assert!(r.cold);
        assert!(r.t_submit <= r.t_dispatch, "{r:?}");
        assert!(r.t_dispatch <= r.t_container_ready, "{r:?}");
        assert!(r.t_container_ready <= r.t_start, "{r:?}");
        assert!(r.t_start < r.t_end, "{r:?}");
        assert_eq!(r.cpu, Some(0));
    }
    let invokers: std::collections::BTreeSet<u32> = out.records.iter().map(|r| r.invoker).collect();
    assert_eq!(invokers.len(), 2);
    assert!(out.records[0].t_end - out.records[0].t_start >= 0.29);
    let cores = executor::cluster::physical_cores();
    assert_eq!(out.traces.len(), 2);
    for t in &out.traces {
        assert_eq!(t.affinity, up.cluster.host_cpus(t.invoker, cores), "{t:?}");
    }
    let pi = out
        .traces
        .iter()
        .find(|t| t.function_id == 1)
        .unwrap()
        .output;
    assert!((pi - std::f64::consts::PI).abs() < 0.05, "{pi}");
    assert_clean(&up, Duration::from_secs(15));
}

/// Same action, same home invoker: the second invocation finds the first's container warm.
fn faas_reuses_warm_containers(runtime: RuntimeKind) {
    let Some(up) = up(runtime, 2, 1) else { return };
    let mut c = controller(&up);
    let sleep = |s| FunctionInput::Sleep { seconds: s };
    let run = LiveRun {
        policy: PolicySpec::faas(),
        recovery: RecoverySpec::None,
        bursts: vec![
            burst(0, 0.0, vec![sleep(0.05)]),
            // Late enough for the first to have finished even when a cold start is slow (Docker
            // under load), well within the keep-alive.
            burst(1, 3.0, vec![sleep(0.05)]),
        ],
        seed: 1,
        on_no_capacity: OnNoCapacity::Queue,
    };
    let out = c.run(&run, &AtomicBool::new(false)).unwrap();
    for r in &out.records {
        assert_eq!(r.status(), Status::Ok, "{r:?}");
        assert!(r.cpu_shared);
        assert_eq!(r.cpu, None);
    }
    assert!(out.records[0].cold);
    assert!(!out.records[1].cold, "{:?}", out.records[1]);
    assert_eq!(out.records[0].container, out.records[1].container);
    assert_clean(&up, Duration::from_secs(15));
}

/// An agent SIGKILLed while its container runs: its function fails as lost, the other
/// completes, and its reaper removes what it left.
fn killed_agent_fails_its_functions_and_is_cleaned_up(runtime: RuntimeKind) {
    let Some(up) = up(runtime, 2, 1) else { return };
    let mut c = controller(&up);
    let run = homogeneous(vec![FunctionInput::Sleep { seconds: 3.0 }; 2]);
    let victim = up.state.agent_pids[1];
    let killer = when_running(&up, 2, move || sigkill(victim));
    let t = Instant::now();
    let out = c.run(&run, &AtomicBool::new(false)).unwrap();
    killer.join().unwrap();
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    let lost = out.records.iter().find(|r| r.invoker == 1).unwrap();
    assert_eq!(lost.status(), Status::Failed, "{lost:?}");
    assert!(
        lost.outcome.reason().contains("invoker 1 lost"),
        "{}",
        lost.outcome.reason()
    );
    let kept = out.records.iter().find(|r| r.invoker == 0).unwrap();
    assert_eq!(kept.status(), Status::Ok, "{kept:?}");
    assert_clean(&up, Duration::from_secs(15));
}

/// Ctrl-C of the controller while containers run: the run ends at once, its functions are
/// recorded as cancelled, the agents kill the containers and stay up.
fn cancelled_run_removes_its_containers(runtime: RuntimeKind) {
    let Some(up) = up(runtime, 2, 1) else { return };
    let mut c = controller(&up);
    let run = homogeneous(vec![FunctionInput::Sleep { seconds: 20.0 }; 2]);
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    let ctrl_c = when_running(&up, 2, move || flag.store(true, Ordering::Relaxed));
    let t = Instant::now();
    let out = c.run(&run, &cancel).unwrap();
    ctrl_c.join().unwrap();
    assert!(out.cancelled);
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    for r in &out.records {
        assert_eq!(r.status(), Status::Failed, "{r:?}");
        assert!(
            r.outcome.reason().contains("cancelled"),
            "{}",
            r.outcome.reason()
        );
    }
    // The agents killed the containers at once (well before the 20 s sleeps end).
    assert_clean(&up, Duration::from_secs(15));
    assert!(t.elapsed() < Duration::from_secs(18), "{:?}", t.elapsed());
    for &pid in &up.state.agent_pids {
        assert!(local::is_alive(pid));
    }
}

/// A worker that crashes (exits with code 3) is failed with its exit code; under
/// `rerun-failed-workers { retries = 1 }` it runs once more (and crashes again: two failed
/// attempts), while its burst's other function completes once.
fn crashed_worker_is_failed_with_its_exit_code_and_rerun(runtime: RuntimeKind) {
    let Some(up) = up(runtime, 2, 1) else { return };
    let mut c = controller(&up);
    let run = with_recovery(
        homogeneous(vec![
            FunctionInput::Exit {
                seconds: 0.1,
                code: 3,
            },
            FunctionInput::Sleep { seconds: 0.2 },
        ]),
        RecoverySpec::RerunFailedWorkers { retries: 1 },
    );
    let out = c.run(&run, &AtomicBool::new(false)).unwrap();
    let f = by_function(&out.records);
    assert_eq!(f[&0].len(), 2, "{:#?}", out.records);
    for (i, r) in f[&0].iter().enumerate() {
        assert_eq!(r.attempt, i as u32);
        assert_eq!(
            r.outcome.reason(),
            "worker failed: worker exited with code 3",
            "{r:?}"
        );
    }
    assert_eq!(f[&1].len(), 1);
    assert!(f[&1][0].is_ok(), "{:?}", f[&1]);
    assert_clean(&up, Duration::from_secs(10));
}

/// A worker that allocates past its container's memory limit is OOM-killed and recorded as
/// such (from the container cgroup's OOM count); under `rerun-pack { retries = 1 }` its whole
/// container runs again: the pack-mate that had completed is discarded and re-run with it.
fn oom_killed_worker_is_reported_and_its_pack_rerun(runtime: RuntimeKind) {
    let Some(up) = up(runtime, 1, 2) else { return };
    let mut c = controller(&up);
    let mut run = with_recovery(
        homogeneous(vec![
            FunctionInput::Allocate {
                megabytes: 512,
                seconds: 0.5,
            },
            FunctionInput::Sleep { seconds: 0.1 },
        ]),
        RecoverySpec::RerunPack { retries: 1 },
    );
    // One container of both workers, 2 x 64 MB.
    run.policy = PolicySpec::BurstHomogeneous {
        granularity: 2,
        join: false,
    };
    run.bursts[0].action.memory_mb = 64;
    let out = c.run(&run, &AtomicBool::new(false)).unwrap();
    let f = by_function(&out.records);
    assert_eq!((f[&0].len(), f[&1].len()), (2, 2), "{:#?}", out.records);
    for r in &f[&0] {
        assert_eq!(
            r.outcome.reason(),
            "worker failed: OOM-killed (the container's memory limit is 128 MB)",
            "{r:?}"
        );
    }
    assert!(
        f[&1][0].outcome.reason().starts_with(
            "discarded: its pack runs again after function 0 failed (worker failed: OOM-killed"
        ),
        "{:?}",
        f[&1][0]
    );
    assert!(f[&1][1].is_ok(), "{:?}", f[&1][1]);
    assert_eq!(f[&0][1].container, f[&1][1].container, "re-run as one pack");
    assert_clean(&up, Duration::from_secs(10));
}

#[test]
fn docker_container_gets_its_cpuset_and_memory_limit() {
    // Seen from the engine: the container's HostConfig, read while the burst runs.
    let Some(up) = up(RuntimeKind::Docker, 1, 1) else {
        return;
    };
    let mut c = controller(&up);
    let run = homogeneous(vec![FunctionInput::Sleep { seconds: 1.5 }]);
    let cluster = up.cluster.clone();
    let seen = when_running(&up, 1, move || {
        let id = containers(&cluster).pop()?;
        let out = Command::new("docker")
            .args([
                "inspect",
                "--format",
                "{{.HostConfig.CpusetCpus}} {{.HostConfig.Memory}} \
                 {{.HostConfig.NetworkMode}} {{index .Config.Labels \"burstsim.agent\"}}",
            ])
            .arg(id)
            .output()
            .unwrap();
        Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
    });
    let out = c.run(&run, &AtomicBool::new(false)).unwrap();
    assert_eq!(out.records[0].status(), Status::Ok, "{:?}", out.records[0]);
    let cores = executor::cluster::physical_cores();
    let cpu = up.cluster.host_cpus(0, cores)[0];
    assert_eq!(
        seen.join().unwrap().as_deref(),
        Some(format!("{cpu} {} none 0", 128 * 1024 * 1024).as_str())
    );
    assert_clean(&up, Duration::from_secs(15));
}

#[test]
fn docker_engine_down_is_a_clear_error() {
    if !nix::unistd::Uid::effective().is_root() {
        executor::skip::skip_live_test("not root");
        return;
    }
    let err = executor::docker::DockerBackend::connect_at(
        Some("/nonexistent/docker.sock"),
        &std::env::temp_dir(),
        &worker(),
        &[],
    )
    .err()
    .expect("no engine there");
    assert_eq!(err.fault(), executor::Fault::Environment);
    let msg = err.to_string();
    assert!(msg.contains("cannot reach the Docker engine"), "{msg}");
    assert!(msg.contains("start-dockerd.sh"), "{msg}");
}
