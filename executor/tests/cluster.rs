//! The controller's and agents' behaviour that does not depend on the container backend, on a
//! local cluster of agent processes running runc: retries, malformed messages, a dying broker,
//! a restarted agent, and the in-container dispatcher. (The tests every backend must pass are
//! in backends.rs.) Skipped, with a printed reason, only when not root or runc/redis-server are
//! missing.

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use executor::controller::{Controller, LiveRun, OnNoCapacity};
use executor::local;
use executor::runtime::RuntimeKind;
use policies::workload::FunctionInput;
use policies::{PolicySpec, Status};

mod common;
use common::*;

#[test]
fn broker_down_is_a_clear_error() {
    let port = local::free_port().unwrap();
    let cluster = executor::ClusterFile::local(
        &format!("redis://127.0.0.1:{port}"),
        std::path::Path::new("/tmp/none"),
        1,
        1,
    );
    let err = Controller::connect(cluster).err().unwrap();
    assert_eq!(err.fault(), executor::Fault::Environment);
    assert!(err.to_string().contains("cannot reach the broker"), "{err}");
}

#[test]
fn retry_reruns_the_functions_of_a_killed_agent_elsewhere() {
    let Some(up) = up(RuntimeKind::Runc, 2, 1) else {
        return;
    };
    let mut cluster = up.cluster.clone();
    cluster.run_timeout_s = 60.0;
    cluster.retry = true;
    let mut c = Controller::connect(cluster).unwrap();
    let run = homogeneous(vec![FunctionInput::Sleep { seconds: 2.0 }; 2]);
    let victim = up.state.agent_pids[1];
    let killer = when_running(&up, 2, move || sigkill(victim));
    let out = c.run(&run, &AtomicBool::new(false)).unwrap();
    killer.join().unwrap();
    // Both ran to completion, once each, on the surviving invoker.
    assert_eq!(out.records.len(), 2);
    for r in &out.records {
        assert_eq!(r.status, Status::Ok, "{r:?}");
        assert_eq!(r.invoker, 0, "{r:?}");
    }
    assert_eq!(out.traces.len(), 2);
    assert_clean(&up, Duration::from_secs(10));
}

#[test]
fn malformed_messages_are_skipped() {
    let Some(up) = up(RuntimeKind::Runc, 1, 1) else {
        return;
    };
    let mut c = controller(&up);
    let key = c.broker().queue_key(0);
    c.broker().push(&key, "this is not json").unwrap();
    c.broker()
        .push(&key, r#"{"type":"burst","run_id":"x"}"#)
        .unwrap();
    let run = LiveRun {
        policy: PolicySpec::BurstHeterogeneous { join: true },
        bursts: vec![burst(0, 0.0, vec![FunctionInput::Cpu { seconds: 0.05 }])],
        seed: 1,
        on_no_capacity: OnNoCapacity::Queue,
    };
    let out = c.run(&run, &AtomicBool::new(false)).unwrap();
    assert_eq!(out.records[0].status, Status::Ok, "{:?}", out.records[0]);
    let log = std::fs::read_to_string(up.dir.path().join("agent0.log")).unwrap();
    assert!(log.contains("rejected: malformed agent message"), "{log}");
    assert!(local::is_alive(up.state.agent_pids[0]));
    assert_clean(&up, Duration::from_secs(10));
}

#[test]
fn broker_death_mid_run_fails_clearly_without_hanging() {
    let Some(up) = up(RuntimeKind::Runc, 2, 1) else {
        return;
    };
    let mut c = controller(&up);
    let run = homogeneous(vec![FunctionInput::Sleep { seconds: 2.0 }; 2]);
    let redis = up.state.redis_pid;
    let killer = when_running(&up, 2, move || sigkill(redis));
    let t = Instant::now();
    let err = c
        .run(&run, &AtomicBool::new(false))
        .expect_err("run must fail");
    killer.join().unwrap();
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    assert_eq!(err.fault(), executor::Fault::Environment);
    assert!(err.to_string().contains("unreachable"), "{err}");
    // The agents finish or drop their containers on their own.
    for &pid in &up.state.agent_pids {
        assert!(local::is_alive(pid));
    }
    assert_clean(&up, Duration::from_secs(10));
}

#[test]
fn restarted_agent_loses_its_jobs_and_cleans_the_old_containers() {
    let Some(up) = up(RuntimeKind::Runc, 2, 1) else {
        return;
    };
    let mut c = controller(&up);
    let run = homogeneous(vec![FunctionInput::Sleep { seconds: 4.0 }; 2]);
    let victim = up.state.agent_pids[1];
    let file = up.state.cluster_file.clone();
    let log = up.dir.path().join("agent1-restarted.log");
    let restarter = when_running(&up, 2, move || {
        sigkill(victim);
        // Back at once, well within the heartbeat timeout: only the pid tells.
        std::process::Command::new(worker())
            .args(["agent", "--cluster"])
            .arg(&file)
            .args(["--id", "1"])
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap()
    });
    let out = c.run(&run, &AtomicBool::new(false)).unwrap();
    let mut second = restarter.join().unwrap();
    let lost = out.records.iter().find(|r| r.invoker == 1).unwrap();
    assert_eq!(lost.status, Status::Failed, "{lost:?}");
    assert!(lost.reason.contains("restarted"), "{}", lost.reason);
    let kept = out.records.iter().find(|r| r.invoker == 0).unwrap();
    assert_eq!(kept.status, Status::Ok, "{kept:?}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(second.id() as i32),
        nix::sys::signal::SIGTERM,
    )
    .unwrap();
    second.wait().unwrap();
    assert_clean(&up, Duration::from_secs(10));
}

#[test]
fn dispatcher_pins_each_worker_to_its_cpu() {
    // Runs the in-container dispatcher directly (no container): works without root.
    let cores = executor::cluster::physical_cores();
    let payload = executor::payload::ContainerPayload {
        container_id: 5,
        invoker_id: 2,
        first_worker: 10,
        layout: executor::payload::Layout {
            burst_id: 1,
            containers: vec![(2, 5, 10, 12)],
        },
        inputs: vec![FunctionInput::Cpu { seconds: 0.02 }; 3],
        cpus: (0..3).map(|i| i % cores).collect(),
        seed: 0,
        comm: None,
    };
    let dispatch = |input: &[u8]| {
        let child = std::process::Command::new(worker())
            .arg("dispatch")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        executor::runtime::feed_and_wait(child, input).unwrap()
    };
    let out = dispatch(&serde_json::to_vec(&payload).unwrap());
    assert!(out.status.success());
    let report: executor::payload::DispatchReport = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report.workers.len(), 3);
    for (i, w) in report.workers.iter().enumerate() {
        let w = w.as_ref().unwrap();
        assert_eq!(w.worker_id, 10 + i as u32);
        assert_eq!((w.container_id, w.invoker_id), (5, 2));
        assert_eq!(w.affinity, vec![payload.cpus[i]]);
        assert!(report.t_ready <= w.t_start && w.t_start <= w.t_fn_start);
        assert!(w.t_fn_end - w.t_fn_start >= 0.02);
    }
    // A payload that does not parse is a clear error, not a crash.
    let out = dispatch(b"{\"container_id\": \"x\"}");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("malformed container payload"), "{err}");
}
