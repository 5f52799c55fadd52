//! Real bursts through the other container backends: Docker (Engine API) and crun, on a local
//! cluster of 2 agents. Pinning is checked from inside the workers; cleanup is checked in the
//! backend's own list (`docker ps -a --filter label=...`, `crun list`), the cgroup tree, the
//! payload/bundle directories and /proc. Skipped, with a printed `SKIPPED` line, only when not
//! root or when the tool (dockerd, crun, redis-server) is not installed. A Docker engine that is
//! installed but not running is started with scripts/start-dockerd.sh.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use executor::controller::{LiveRun, OnNoCapacity};
use executor::local;
use executor::runtime::RuntimeKind;
use policies::workload::FunctionInput;
use policies::{PolicySpec, Status};

mod common;
use common::*;

/// A burst of two functions on two 1-CPU agents: both Ok, each worker pinned to its agent's
/// host CPU as seen from inside, the function really ran, nothing left afterwards.
fn burst_runs_pinned_and_cleans_up(runtime: RuntimeKind) {
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
        assert_eq!(r.status, Status::Ok, "{r:?}");
        assert!(r.cold);
        assert!(r.t_dispatch <= r.t_container_ready, "{r:?}");
        assert!(
            r.t_container_ready <= r.t_start && r.t_start < r.t_end,
            "{r:?}"
        );
    }
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

#[test]
fn docker_burst_runs_pinned_workers_and_cleans_up() {
    burst_runs_pinned_and_cleans_up(RuntimeKind::Docker);
}

#[test]
fn crun_burst_runs_pinned_workers_and_cleans_up() {
    burst_runs_pinned_and_cleans_up(RuntimeKind::Crun);
}

#[test]
fn docker_container_gets_its_cpuset_and_memory_limit() {
    // Seen from the engine: the container's HostConfig, read while the burst runs.
    let Some(up) = up(RuntimeKind::Docker, 1, 1) else {
        return;
    };
    let mut c = controller(&up);
    let run = homogeneous(vec![FunctionInput::Sleep { seconds: 1.5 }]);
    let name = up.cluster.name.clone();
    let seen = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(id) = docker_ps(&name).first() {
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
                let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
                if !s.is_empty() {
                    return s;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        String::new()
    });
    let out = c.run(&run, &AtomicBool::new(false)).unwrap();
    assert_eq!(out.records[0].status, Status::Ok, "{:?}", out.records[0]);
    let cores = executor::cluster::physical_cores();
    let cpu = up.cluster.host_cpus(0, cores)[0];
    assert_eq!(
        seen.join().unwrap(),
        format!("{cpu} {} none 0", 128 * 1024 * 1024)
    );
    assert_clean(&up, Duration::from_secs(15));
}

#[test]
fn docker_faas_reuses_warm_containers() {
    let Some(up) = up(RuntimeKind::Docker, 2, 1) else {
        return;
    };
    let mut c = controller(&up);
    let sleep = |s| FunctionInput::Sleep { seconds: s };
    let run = LiveRun {
        policy: PolicySpec::Faas,
        bursts: vec![
            burst(0, 0.0, vec![sleep(0.05)]),
            burst(1, 1.0, vec![sleep(0.05)]),
        ],
        seed: 1,
        on_no_capacity: OnNoCapacity::Queue,
    };
    let out = c.run(&run, &AtomicBool::new(false)).unwrap();
    for r in &out.records {
        assert_eq!(r.status, Status::Ok, "{r:?}");
    }
    assert!(out.records[0].cold);
    assert!(!out.records[1].cold, "{:?}", out.records[1]);
    assert_eq!(out.records[0].container, out.records[1].container);
    assert_clean(&up, Duration::from_secs(15));
}

#[test]
fn docker_killed_agent_is_reaped() {
    let Some(up) = up(RuntimeKind::Docker, 2, 1) else {
        return;
    };
    let mut c = controller(&up);
    let run = homogeneous(vec![FunctionInput::Sleep { seconds: 3.0 }; 2]);
    let victim = up.state.agent_pids[1];
    let name = up.cluster.name.clone();
    let killer = std::thread::spawn(move || {
        // Killed while its container runs (seen in `docker ps`).
        let deadline = Instant::now() + Duration::from_secs(10);
        while docker_ps(&name).len() < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(victim),
            nix::sys::signal::SIGKILL,
        )
        .unwrap();
    });
    let out = c.run(&run, &AtomicBool::new(false)).unwrap();
    killer.join().unwrap();
    let lost = out.records.iter().find(|r| r.invoker == 1).unwrap();
    assert_eq!(lost.status, Status::Failed, "{lost:?}");
    assert!(lost.reason.contains("invoker 1 lost"), "{}", lost.reason);
    let kept = out.records.iter().find(|r| r.invoker == 0).unwrap();
    assert_eq!(kept.status, Status::Ok, "{kept:?}");
    assert_clean(&up, Duration::from_secs(15));
}

#[test]
fn docker_cancelled_run_removes_its_containers() {
    let Some(up) = up(RuntimeKind::Docker, 2, 1) else {
        return;
    };
    let mut c = controller(&up);
    let run = homogeneous(vec![FunctionInput::Sleep { seconds: 20.0 }; 2]);
    let cancel = Arc::new(AtomicBool::new(false));
    let name = up.cluster.name.clone();
    let flag = cancel.clone();
    let ctrl_c = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(10);
        while docker_ps(&name).len() < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        flag.store(true, Ordering::Relaxed);
    });
    let t = Instant::now();
    let out = c.run(&run, &cancel).unwrap();
    ctrl_c.join().unwrap();
    assert!(out.cancelled);
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    for r in &out.records {
        assert_eq!(r.status, Status::Failed, "{r:?}");
        assert!(r.reason.contains("cancelled"), "{}", r.reason);
    }
    // The agents killed the containers at once (well before the 20 s sleeps end).
    assert_clean(&up, Duration::from_secs(15));
    assert!(t.elapsed() < Duration::from_secs(18), "{:?}", t.elapsed());
    for &pid in &up.state.agent_pids {
        assert!(local::is_alive(pid));
    }
}

#[test]
fn docker_engine_down_is_a_clear_error() {
    if !nix::unistd::Uid::effective().is_root() {
        println!("SKIPPED docker engine-down test: not root");
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
    let msg = format!("{err:#}");
    assert!(msg.contains("cannot reach the Docker engine"), "{msg}");
    assert!(msg.contains("start-dockerd.sh"), "{msg}");
}
