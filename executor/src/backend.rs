//! Container backends: what the agent and the reaper ask of whatever runs the containers. The
//! OCI backend drives runc or crun on generated bundles; the Docker backend (`docker`) drives a
//! Docker engine. Both run the same worker binary with the same dispatcher inside.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use crate::bundle::{self, ContainerSpec};
use crate::docker::DockerBackend;
use crate::error::{Context, Result};
use crate::runtime::{feed_and_wait, prepare_cgroups_for_crun, Runtime, RuntimeKind};

/// A way to run containers. Every container name starts with the agent's prefix, so `list`
/// plus `remove` is enough to clean up after any agent.
pub trait Backend: Send + Sync {
    fn kind(&self) -> RuntimeKind;
    /// Runs a container whose init is the dispatcher, hands it `payload` and returns the
    /// dispatcher's output once the container has exited. The container is gone afterwards.
    fn run_dispatch(&self, spec: &ContainerSpec, payload: &[u8]) -> Result<Output>;
    /// Creates and starts a container whose init idles (a warm FaaS container).
    fn start_idle(&self, spec: &ContainerSpec) -> Result<()>;
    /// Runs the dispatcher inside running container `name` with `payload`.
    fn exec_dispatch(&self, name: &str, payload: &[u8]) -> Result<Output>;
    /// Kills and removes container `name` and its files; one already gone is not an error.
    fn remove(&self, name: &str) -> Result<()>;
    /// Names of the burstsim containers the backend knows (every agent's).
    fn list(&self) -> Result<Vec<String>>;
    /// The `--runtime` argument that lets the reaper open the same backend.
    fn reaper_arg(&self) -> String;
}

/// Opens an agent's backend for `kind`, ready to create containers: `dir` is the agent's state
/// directory (bundles, rootfs); `labels` (Docker) mark every container it creates; no
/// container runs longer than `run_timeout` (Docker; the controller times out OCI runs).
/// For crun on a hybrid cgroup host, first moves the v2-bound controllers to v1 (see
/// `runtime::prepare_cgroups_for_crun`).
pub fn open(
    kind: RuntimeKind,
    dir: &Path,
    worker_binary: &Path,
    labels: &[(String, String)],
    run_timeout: Duration,
) -> Result<Box<dyn Backend>> {
    Ok(match kind {
        RuntimeKind::Runc | RuntimeKind::Crun => {
            let runtime = Runtime::new(kind);
            runtime.check()?;
            if kind == RuntimeKind::Crun {
                let moved = prepare_cgroups_for_crun()?;
                if !moved.is_empty() {
                    eprintln!(
                        "crun: moved cgroup controllers {moved:?} from cgroup v2 to v1 \
                         (/sys/fs/cgroup/<name>): crun does not support hybrid mode otherwise"
                    );
                }
            }
            Box::new(Oci::new(runtime, dir, worker_binary)?)
        }
        RuntimeKind::Docker => {
            let d =
                DockerBackend::connect(dir, worker_binary, labels)?.with_run_timeout(run_timeout);
            d.ensure_image()?;
            Box::new(d)
        }
    })
}

/// Opens the backend named by a reaper's `--runtime` argument ("docker" or an OCI binary).
pub fn open_for_reaper(arg: &str, dir: &Path) -> Result<Box<dyn Backend>> {
    if arg == "docker" {
        return Ok(Box::new(DockerBackend::connect(
            dir,
            Path::new("/proc/self/exe"),
            &[],
        )?));
    }
    let runtime = Runtime {
        binary: PathBuf::from(arg),
    };
    Ok(Box::new(Oci::new(
        runtime,
        dir,
        Path::new("/proc/self/exe"),
    )?))
}

/// Names of the burstsim containers that `kind` knows on this machine (for tests and tools).
pub fn list_containers(kind: RuntimeKind) -> Result<Vec<String>> {
    match kind {
        RuntimeKind::Runc | RuntimeKind::Crun => Runtime::new(kind).list(),
        RuntimeKind::Docker => {
            DockerBackend::connect(&std::env::temp_dir(), Path::new("/proc/self/exe"), &[])?.list()
        }
    }
}

/// runc or crun on bundles under `<dir>/bundles`, sharing the read-only rootfs `<dir>/rootfs`.
pub struct Oci {
    pub runtime: Runtime,
    kind: RuntimeKind,
    rootfs: PathBuf,
    bundles: PathBuf,
    worker_binary: PathBuf,
}

impl Oci {
    pub fn new(runtime: Runtime, dir: &Path, worker_binary: &Path) -> Result<Self> {
        let kind = if runtime.binary.file_name().is_some_and(|n| n == "crun") {
            RuntimeKind::Crun
        } else {
            RuntimeKind::Runc
        };
        let rootfs = bundle::prepare_rootfs(dir)?;
        let bundles = dir.join("bundles");
        std::fs::create_dir_all(&bundles)
            .with_context(|| format!("creating {}", bundles.display()))?;
        Ok(Oci {
            runtime,
            kind,
            rootfs,
            bundles,
            worker_binary: worker_binary.to_path_buf(),
        })
    }

    fn write(&self, spec: &ContainerSpec) -> Result<PathBuf> {
        bundle::write_bundle(&self.bundles, &self.rootfs, &self.worker_binary, spec)
    }
}

impl Backend for Oci {
    fn kind(&self) -> RuntimeKind {
        self.kind
    }

    fn run_dispatch(&self, spec: &ContainerSpec, payload: &[u8]) -> Result<Output> {
        let dir = self.write(spec)?;
        let res = self
            .runtime
            .spawn_run(&spec.id, &dir)
            .and_then(|child| feed_and_wait(child, payload));
        let _ = self.remove(&spec.id);
        res
    }

    fn start_idle(&self, spec: &ContainerSpec) -> Result<()> {
        let dir = self.write(spec)?;
        self.runtime.run_detached(&spec.id, &dir)
    }

    fn exec_dispatch(&self, name: &str, payload: &[u8]) -> Result<Output> {
        let child = self
            .runtime
            .spawn_exec(name, &[bundle::WORKER_PATH, "dispatch"])?;
        feed_and_wait(child, payload)
    }

    fn remove(&self, name: &str) -> Result<()> {
        let res = self.runtime.delete(name);
        let dir = self.bundles.join(name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        }
        res
    }

    fn list(&self) -> Result<Vec<String>> {
        self.runtime.list()
    }

    fn reaper_arg(&self) -> String {
        self.runtime.binary.display().to_string()
    }
}
