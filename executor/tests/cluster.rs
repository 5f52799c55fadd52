//! The controller's and agents' behaviour that does not depend on the container backend, on a
//! local cluster of agent processes running runc: retries, malformed messages, a dying broker,
//! a restarted agent, and the in-container dispatcher. (The tests every backend must pass are
//! in backends.rs.) Skipped (counted; a failure under `BURSTSIM_REQUIRE_LIVE=1`) only when not
//! root or runc/redis-server are missing. Also: that such a skip is counted, and fails when
//! live tests are required.

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use executor::controller::{Controller, LiveRun, OnNoCapacity};
use executor::local;
use executor::runtime::RuntimeKind;
use policies::workload::FunctionInput;
use policies::{PolicySpec, RecoverySpec, Status};

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

/// `retry = true` (a run without a recovery policy then re-runs failed functions): an agent
/// SIGKILLed mid-burst loses its function, which runs again on the other agent as attempt 1;
/// every function completes exactly once, the lost attempt is failed with its reason. Prints
/// how long recovery took: from the kill to the re-run's submission (detection) and to its end.
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
    let killer = when_running(&up, 2, move || {
        sigkill(victim);
        executor::clock::now()
    });
    let out = c.run(&run, &AtomicBool::new(false)).unwrap();
    let killed_at = killer.join().unwrap() - out.t0;
    assert_each_completed_once(&out.records, 2);
    let lost: Vec<_> = out.records.iter().filter(|r| !r.is_ok()).collect();
    assert_eq!(lost.len(), 1, "{:#?}", out.records);
    let lost = lost[0];
    assert_eq!((lost.attempt, lost.invoker), (0, 1), "{lost:?}");
    assert!(lost.outcome.reason().contains("invoker 1 lost"), "{lost:?}");
    let rerun = out
        .records
        .iter()
        .find(|r| r.function_id == lost.function_id && r.attempt == 1)
        .unwrap();
    assert!(rerun.is_ok() && rerun.invoker == 0, "{rerun:?}");
    // Both completed on the surviving invoker; the re-run waited for its CPU.
    assert!(out
        .records
        .iter()
        .filter(|r| r.is_ok())
        .all(|r| r.invoker == 0));
    assert_eq!(out.traces.len(), 2);
    println!(
        "recovery after an agent SIGKILL (heartbeat timeout {} ms): re-run submitted {:.2} s \
         after the kill, completed {:.2} s after it (the function takes 2 s)",
        up.cluster.heartbeat_timeout_ms,
        rerun.t_submit - killed_at,
        rerun.t_end - killed_at
    );
    assert!(rerun.t_submit > killed_at);
    assert_clean(&up, Duration::from_secs(10));
}

/// `fail-burst`: a worker that crashes fails its burst at once: the other worker (a 20 s
/// sleep) is stopped and recorded failed, naming the function that failed.
#[test]
fn fail_burst_stops_the_rest_of_the_burst() {
    let Some(up) = up(RuntimeKind::Runc, 2, 1) else {
        return;
    };
    let mut c = controller(&up);
    let run = with_recovery(
        homogeneous(vec![
            FunctionInput::Exit {
                seconds: 0.3,
                code: 1,
            },
            FunctionInput::Sleep { seconds: 20.0 },
        ]),
        RecoverySpec::FailBurst,
    );
    let t = Instant::now();
    let out = c.run(&run, &AtomicBool::new(false)).unwrap();
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    assert_eq!(out.records.len(), 2, "{:#?}", out.records);
    assert!(out.records[0]
        .outcome
        .reason()
        .contains("worker exited with code 1"));
    let stopped = &out.records[1];
    assert_eq!(stopped.status(), Status::Failed);
    assert!(
        stopped.outcome.reason().starts_with(
            "burst failed: function 0 failed (worker failed: worker exited with code 1)"
        ),
        "{stopped:?}"
    );
    assert_clean(&up, Duration::from_secs(10));
}

/// `speculate-stragglers { after = 0.75 }`: of four 1 s functions, one is frozen (its
/// container's processes SIGSTOPped, as on a stalled node); once three have finished it gets a
/// backup copy on another invoker, which completes; the frozen original is superseded and its
/// container removed.
#[test]
fn a_straggler_gets_a_backup_copy_that_wins() {
    let Some(up) = up(RuntimeKind::Runc, 2, 2) else {
        return;
    };
    let mut c = controller(&up);
    let run = with_recovery(
        homogeneous(vec![FunctionInput::Sleep { seconds: 1.0 }; 4]),
        RecoverySpec::SpeculateStragglers {
            after: 0.75,
            retries: 0,
        },
    );
    let cluster = up.cluster.clone();
    let freezer = when_running(&up, 4, move || {
        let name = containers(&cluster).into_iter().min().unwrap();
        // The container's idle init, the dispatcher exec'd in it and its worker.
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut pids = Vec::new();
        while pids.len() < 3 && Instant::now() < deadline {
            pids = local::container_processes(&name);
            std::thread::sleep(Duration::from_millis(20));
        }
        for &pid in &pids {
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGSTOP)
                .unwrap();
        }
        pids.len()
    });
    let t = Instant::now();
    let out = c.run(&run, &AtomicBool::new(false)).unwrap();
    assert_eq!(freezer.join().unwrap(), 3);
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    assert_each_completed_once(&out.records, 4);
    let f = by_function(&out.records);
    let (frozen, attempts) = f.iter().find(|(_, a)| a.len() == 2).expect("one backup");
    assert_eq!(f.values().filter(|a| a.len() == 2).count(), 1);
    assert!(
        attempts[0]
            .outcome
            .reason()
            .starts_with("superseded: attempt 1 finished first"),
        "function {frozen}: {attempts:?}"
    );
    assert!(attempts[1].is_ok());
    assert_ne!(attempts[0].invoker, attempts[1].invoker, "{attempts:?}");
    assert_clean(&up, Duration::from_secs(10));
}

/// The broker restarted mid-run (SIGKILLed, back 2 s later with its data lost): agents and
/// controller reconnect with backoff, the controller re-sends the jobs in flight, agents run
/// each once and send their results again; the run completes, each function exactly once.
#[test]
fn broker_restart_mid_run_is_survived() {
    let Some(up) = up(RuntimeKind::Runc, 2, 1) else {
        return;
    };
    let mut c = controller(&up);
    let run = homogeneous(vec![FunctionInput::Sleep { seconds: 3.0 }; 2]);
    let redis = up.state.redis_pid;
    let dir = up.dir.path().to_path_buf();
    let restarter = when_running(&up, 2, move || {
        sigkill(redis);
        std::thread::sleep(Duration::from_secs(2));
        local::restart_broker(&dir).unwrap()
    });
    let out = c.run(&run, &AtomicBool::new(false)).unwrap();
    let new_pid = restarter.join().unwrap();
    assert_ne!(new_pid, redis);
    assert_each_completed_once(&out.records, 2);
    assert_eq!(out.records.len(), 2, "no re-run needed: {:#?}", out.records);
    for &pid in &up.state.agent_pids {
        assert!(local::is_alive(pid));
    }
    // The agents keep serving on the restarted broker: a second run completes too.
    let again = c
        .run(
            &homogeneous(vec![FunctionInput::Sleep { seconds: 0.1 }; 2]),
            &AtomicBool::new(false),
        )
        .unwrap();
    assert_each_completed_once(&again.records, 2);
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
        recovery: RecoverySpec::None,
        bursts: vec![burst(0, 0.0, vec![FunctionInput::Cpu { seconds: 0.05 }])],
        seed: 1,
        on_no_capacity: OnNoCapacity::Queue,
    };
    let out = c.run(&run, &AtomicBool::new(false)).unwrap();
    assert_eq!(out.records[0].status(), Status::Ok, "{:?}", out.records[0]);
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
    assert_eq!(lost.status(), Status::Failed, "{lost:?}");
    assert!(
        lost.outcome.reason().contains("restarted"),
        "{}",
        lost.outcome.reason()
    );
    let kept = out.records.iter().find(|r| r.invoker == 0).unwrap();
    assert_eq!(kept.status(), Status::Ok, "{kept:?}");
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

/// The skip mechanism end to end: a live test run where it cannot run (as user `nobody`, so
/// not root) is counted as skipped, not passed, by the test command's closing line; with
/// `BURSTSIM_REQUIRE_LIVE=1` the same test fails.
#[test]
fn a_live_test_that_cannot_run_is_counted_as_skipped_or_fails_when_required() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    use std::process::Command;

    use executor::skip::{REQUIRE_LIVE_VAR, SKIP_LOG_VAR};

    let dir = tempfile::tempdir().unwrap();
    let open = |p: &std::path::Path, mode| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    open(dir.path(), 0o755);
    // A copy of this test binary that `nobody` may run (the build directory may be private).
    let exe = dir.path().join("cluster-tests");
    std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
    open(&exe, 0o755);
    let summary = scripts().join("test-summary.sh");
    let run = |require_live: bool| {
        let skips = dir.path().join(format!("skips-{require_live}"));
        std::fs::write(&skips, "").unwrap();
        open(&skips, 0o666);
        let mut cmd = Command::new(&exe);
        cmd.args(["malformed_messages_are_skipped", "--exact"])
            .env(SKIP_LOG_VAR, &skips)
            .env_remove(REQUIRE_LIVE_VAR)
            .current_dir(dir.path());
        if require_live {
            cmd.env(REQUIRE_LIVE_VAR, "1");
        }
        if nix::unistd::Uid::effective().is_root() {
            cmd.uid(65534).gid(65534);
        }
        // The copy was just written: a child another test forks before its exec may still
        // hold the write descriptor, and exec then fails with ETXTBSY until it lets go.
        let mut busy = 0;
        let out = loop {
            match cmd.output() {
                Err(e)
                    if e.raw_os_error() == Some(nix::errno::Errno::ETXTBSY as i32)
                        && busy < 100 =>
                {
                    busy += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                out => break out.unwrap(),
            }
        };
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let log = dir.path().join(format!("log-{require_live}"));
        std::fs::write(&log, &stdout).unwrap();
        let closing = Command::new("bash")
            .arg(&summary)
            .arg(&log)
            .arg(&skips)
            .output()
            .unwrap();
        let closing = String::from_utf8_lossy(&closing.stdout).to_string();
        let skips = std::fs::read_to_string(&skips).unwrap();
        (out.status.success(), stdout, skips, closing)
    };

    let (passed, stdout, skips, closing) = run(false);
    assert!(passed, "{stdout}");
    assert!(
        skips.starts_with("SKIPPED: malformed_messages_are_skipped: Runc: "),
        "{skips}"
    );
    assert_eq!(skips.lines().count(), 1, "{skips}");
    assert!(
        closing.ends_with("tests: 0 passed, 0 failed, 1 skipped\n"),
        "{closing}"
    );

    let (passed, stdout, skips, closing) = run(true);
    assert!(!passed, "{stdout}");
    assert!(stdout.contains("BURSTSIM_REQUIRE_LIVE=1"), "{stdout}");
    assert_eq!(skips, "");
    assert!(
        closing.ends_with("tests: 0 passed, 1 failed, 0 skipped\n"),
        "{closing}"
    );
}

/// The repository's scripts/ directory.
fn scripts() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts")
}
