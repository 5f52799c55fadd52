//! Helpers shared by the executor's live tests: a local cluster (redis + agent processes) that
//! is torn down on drop, runs to submit, and the check that nothing is left behind.
#![allow(dead_code)] // each test file uses a different subset

use std::path::PathBuf;
use std::process::Command;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use executor::controller::{Controller, LiveBurst, LiveRun, OnNoCapacity};
use executor::local;
use executor::runtime::RuntimeKind;
use executor::ClusterFile;
use policies::workload::FunctionInput;
use policies::{ActionKind, ActionRef, PolicySpec, RecoverySpec};

pub struct Up {
    pub dir: tempfile::TempDir,
    pub cluster: ClusterFile,
    pub state: local::LocalState,
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = local::down(self.dir.path());
    }
}

pub fn worker() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_burstsim-worker"))
}

/// Starts dockerd through the project's script when it is installed but does not answer.
pub fn ensure_dockerd() {
    let answers = || executor::backend::list_containers(RuntimeKind::Docker).is_ok();
    if answers() {
        return;
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/start-dockerd.sh");
    let out = Command::new("bash").arg(&script).output().unwrap();
    assert!(
        out.status.success() && answers(),
        "dockerd is installed but does not answer, and {} could not start it:\n{}{}",
        script.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A local cluster of `nodes` agents with `cpus` CPUs each, containers run by `runtime`; `None`
/// when this machine cannot run it (a skip, counted: see `executor::skip`).
pub fn up(runtime: RuntimeKind, nodes: u32, cpus: u32) -> Option<Up> {
    if let Some(why) = local::missing_prerequisites_for(runtime) {
        executor::skip::skip_live_test(&format!("{runtime:?}: {why}"));
        return None;
    }
    if runtime == RuntimeKind::Docker {
        ensure_dockerd();
    }
    let dir = tempfile::tempdir().unwrap();
    let port = local::free_port().unwrap();
    let cmd = vec![worker().display().to_string(), "agent".to_string()];
    let (cluster, state) = local::up(dir.path(), nodes, cpus, port, &cmd, Some(worker()), runtime)
        .expect("cluster up");
    Some(Up {
        dir,
        cluster,
        state,
    })
}

pub fn controller(up: &Up) -> Controller {
    let mut cluster = up.cluster.clone();
    cluster.run_timeout_s = 60.0;
    Controller::connect(cluster).unwrap()
}

pub fn burst(id: u64, at: f64, inputs: Vec<FunctionInput>) -> LiveBurst {
    LiveBurst {
        burst_id: id,
        at,
        tenant: 0,
        action: ActionRef {
            namespace: "test".into(),
            name: "fn".into(),
            memory_mb: 128,
            kind: ActionKind::Docker,
        },
        inputs,
        comm: None,
    }
}

/// One burst of `inputs` at time 0, one worker per container (granularity 1).
pub fn homogeneous(inputs: Vec<FunctionInput>) -> LiveRun {
    LiveRun {
        policy: PolicySpec::BurstHomogeneous {
            granularity: 1,
            join: false,
        },
        recovery: RecoverySpec::None,
        bursts: vec![burst(0, 0.0, inputs)],
        seed: 1,
        on_no_capacity: OnNoCapacity::Queue,
    }
}

/// Containers of `cluster` that its backend lists (created or running).
pub fn containers(cluster: &ClusterFile) -> Vec<String> {
    let prefix = executor::agent::cluster_prefix(&cluster.name);
    executor::backend::list_containers(cluster.runtime)
        .unwrap()
        .into_iter()
        .filter(|c| c.starts_with(&prefix))
        .collect()
}

/// From a thread: once the cluster has `n` containers (or after 10 s), runs `then` (kill an
/// agent, cancel the run...).
pub fn when_running<T: Send + 'static>(
    up: &Up,
    n: usize,
    then: impl FnOnce() -> T + Send + 'static,
) -> JoinHandle<T> {
    let cluster = up.cluster.clone();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(10);
        while containers(&cluster).len() < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        then()
    })
}

/// SIGKILLs process `pid`.
pub fn sigkill(pid: i32) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL).unwrap();
}

/// Nothing of the cluster is left within `within` (see `executor::local::leftovers`).
pub fn assert_clean(up: &Up, within: Duration) {
    let left = local::leftovers_within(&up.cluster, within).unwrap();
    assert!(left.is_empty(), "left behind: {left}");
}

/// The records of each function, by function id (attempts in order).
pub fn by_function(
    records: &[policies::FunctionRecord],
) -> std::collections::BTreeMap<u64, Vec<&policies::FunctionRecord>> {
    let mut map: std::collections::BTreeMap<u64, Vec<&policies::FunctionRecord>> =
        Default::default();
    for r in records {
        map.entry(r.function_id).or_default().push(r);
    }
    map
}

/// Every function of `records` (ids `0..n`) has exactly one completed attempt, and every other
/// attempt failed with a reason; attempts are numbered 0, 1, ... in order.
pub fn assert_each_completed_once(records: &[policies::FunctionRecord], n: u64) {
    let functions = by_function(records);
    assert_eq!(functions.len() as u64, n, "{records:#?}");
    for (f, attempts) in &functions {
        let ok = attempts.iter().filter(|r| r.is_ok()).count();
        assert_eq!(ok, 1, "function {f}: {attempts:#?}");
        for (i, r) in attempts.iter().enumerate() {
            assert_eq!(r.attempt, i as u32, "function {f}: {attempts:#?}");
            if !r.is_ok() {
                assert_eq!(r.status(), policies::Status::Failed, "{r:?}");
                assert!(!r.outcome.reason().is_empty(), "{r:?}");
            }
        }
    }
}

/// `run` with recovery policy `recovery`.
pub fn with_recovery(mut run: LiveRun, recovery: RecoverySpec) -> LiveRun {
    run.recovery = recovery;
    run
}
