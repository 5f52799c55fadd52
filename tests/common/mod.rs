//! Helpers shared by the live test binaries (tests/live.rs, tests/live_accuracy.rs): the
//! `burstsim` binary, skips that are counted, and a local cluster torn down on drop. Each
//! binary uses a subset, hence the dead-code allowance.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use executor::runtime::RuntimeKind;

pub fn burstsim() -> Command {
    Command::new(env!("CARGO_BIN_EXE_burstsim"))
}

/// The worker binary lives next to `burstsim`; build it if this test run did not.
pub fn ensure_worker() {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_burstsim"));
    let worker = exe.with_file_name("burstsim-worker");
    if worker.is_file() {
        return;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "-p", "executor", "--bin", "burstsim-worker"])
        .status()
        .expect("running cargo build for burstsim-worker");
    assert!(status.success(), "building burstsim-worker failed");
    assert!(worker.is_file(), "{} not built", worker.display());
}

/// True when this machine cannot run a cluster on `runtime` (a skip, counted, and a failure
/// under `BURSTSIM_REQUIRE_LIVE=1`: see `executor::skip`); starts the Docker engine when it is
/// installed but does not answer.
pub fn skip_on(runtime: &str) -> bool {
    let kind = match runtime {
        "runc" => RuntimeKind::Runc,
        "crun" => RuntimeKind::Crun,
        _ => RuntimeKind::Docker,
    };
    if let Some(why) = executor::local::missing_prerequisites_for(kind) {
        executor::skip::skip_live_test(&format!("{runtime}: {why}"));
        return true;
    }
    if kind == RuntimeKind::Docker && executor::backend::list_containers(kind).is_err() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/start-dockerd.sh");
        ok(&Command::new("bash").arg(script).output().unwrap());
    }
    false
}

pub fn skip() -> bool {
    skip_on("runc")
}

/// `burstsim ARGS --config CONFIG --cluster CLUSTER --out OUT`: a run of a config on a
/// cluster (`live`, `validate`).
fn on_cluster(args: &[&str], config: &Path, cluster: &Path, out: &Path) -> Command {
    let mut cmd = burstsim();
    cmd.args(args)
        .arg("--config")
        .arg(config)
        .arg("--cluster")
        .arg(cluster)
        .arg("--out")
        .arg(out);
    cmd
}

/// `burstsim live --config CONFIG --cluster CLUSTER --out OUT`.
pub fn live(config: &Path, cluster: &Path, out: &Path) -> Command {
    on_cluster(&["live"], config, cluster, out)
}

/// `burstsim calibrate --samples SAMPLES --cluster CLUSTER --out PROFILE`.
pub fn calibrate(cluster: &Path, samples: u32, profile: &Path) -> Command {
    let mut cmd = burstsim();
    cmd.args(["calibrate", "--samples", &samples.to_string(), "--cluster"])
        .arg(cluster)
        .arg("--out")
        .arg(profile);
    cmd
}

/// `burstsim validate --repeat REPEAT --config CONFIG --cluster CLUSTER --out OUT`.
pub fn validate(config: &Path, cluster: &Path, repeat: u32, out: &Path) -> Command {
    on_cluster(
        &["validate", "--repeat", &repeat.to_string()],
        config,
        cluster,
        out,
    )
}

pub fn ok(out: &Output) -> String {
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "command failed:\n{text}");
    text
}

/// A local cluster that is torn down when dropped.
pub struct Cluster {
    pub dir: tempfile::TempDir,
}

impl Cluster {
    pub fn up(nodes: u32, cpus: u32) -> Cluster {
        Self::up_with(nodes, cpus, "runc")
    }

    pub fn up_with(nodes: u32, cpus: u32, runtime: &str) -> Cluster {
        Self::up_args(nodes, cpus, &["--runtime", runtime])
    }

    /// `burstsim cluster up` with `extra` arguments.
    pub fn up_args(nodes: u32, cpus: u32, extra: &[&str]) -> Cluster {
        ensure_worker();
        let dir = tempfile::tempdir().unwrap();
        let port = executor::local::free_port().unwrap().to_string();
        let out = burstsim()
            .args([
                "cluster",
                "up",
                "--nodes",
                &nodes.to_string(),
                "--cpus-per-node",
            ])
            .arg(cpus.to_string())
            .args(["--port", &port])
            .args(extra)
            .arg("--dir")
            .arg(dir.path())
            .output()
            .unwrap();
        ok(&out);
        Cluster { dir }
    }

    pub fn file(&self) -> PathBuf {
        self.dir.path().join("cluster.toml")
    }

    pub fn cluster(&self) -> executor::ClusterFile {
        executor::ClusterFile::load(&self.file()).unwrap()
    }

    /// No container, cgroup, bundle or worker process of this cluster is left.
    pub fn assert_clean(&self) {
        let left =
            executor::local::leftovers_within(&self.cluster(), Duration::from_secs(15)).unwrap();
        assert!(left.is_empty(), "left behind: {left}");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = burstsim()
            .args(["cluster", "down", "--dir"])
            .arg(self.dir.path())
            .output();
    }
}
