//! Helpers shared by the executor's live tests: a local cluster (redis + agent processes) that
//! is torn down on drop, runs to submit, and the check that nothing is left behind.
#![allow(dead_code)] // each test file uses a different subset

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use executor::controller::{Controller, LiveBurst, LiveRun, OnNoCapacity};
use executor::local;
use executor::runtime::RuntimeKind;
use policies::workload::FunctionInput;
use policies::{ActionRef, PolicySpec};

pub struct Up {
    pub dir: tempfile::TempDir,
    pub cluster: executor::ClusterFile,
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

pub fn up(runtime: RuntimeKind, nodes: u32, cpus: u32) -> Option<Up> {
    if let Some(why) = local::missing_prerequisites_for(runtime) {
        println!("SKIPPED {runtime:?} live executor test: {why}");
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
        },
        inputs,
    }
}

pub fn homogeneous(inputs: Vec<FunctionInput>) -> LiveRun {
    LiveRun {
        policy: PolicySpec::BurstHomogeneous {
            granularity: 1,
            join: false,
        },
        bursts: vec![burst(0, 0.0, inputs)],
        seed: 1,
        on_no_capacity: OnNoCapacity::Queue,
    }
}

/// Containers of this cluster that `docker ps -a --filter label=burstsim.cluster=NAME` lists.
pub fn docker_ps(name: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args(["ps", "-a", "--format", "{{.Names}}", "--filter"])
        .arg(format!("label={}={name}", executor::docker::LABEL_CLUSTER))
        .output()
        .expect("running docker ps");
    assert!(
        out.status.success(),
        "docker ps failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect()
}

/// Nothing of the cluster is left: containers (backend's list, and `docker ps` for Docker),
/// cgroups, bundle/payload directories, processes in containers, within `within`.
pub fn assert_clean(up: &Up, within: Duration) {
    let prefix = format!("bs-{}-", up.cluster.name);
    let deadline = Instant::now() + within;
    loop {
        let mut ids: Vec<String> = executor::backend::list_containers(up.cluster.runtime)
            .unwrap()
            .into_iter()
            .filter(|i| i.starts_with(&prefix))
            .collect();
        if up.cluster.runtime == RuntimeKind::Docker {
            ids.extend(docker_ps(&up.cluster.name));
        }
        let cgroups = executor::reaper::leftover_cgroups(&prefix);
        let dirs: Vec<_> = (0..up.cluster.agents.len())
            .flat_map(|i| {
                std::fs::read_dir(up.cluster.state_dir.join(format!("agent{i}/bundles")))
                    .map(|d| d.flatten().map(|e| e.path()).collect::<Vec<_>>())
                    .unwrap_or_default()
            })
            .collect();
        let procs = local::container_processes(&prefix);
        if ids.is_empty() && cgroups.is_empty() && dirs.is_empty() && procs.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            panic!(
                "left behind: containers {ids:?}, cgroups {cgroups:?}, dirs {dirs:?}, \
                 processes {procs:?}"
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
