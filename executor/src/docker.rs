//! The Docker backend: containers through the Docker Engine API (bollard). No registry is
//! needed: the image is a tiny rootfs of mount points imported once from an in-memory tarball,
//! and the worker binary and the host's libraries are bind-mounted read-only, as for runc.
//! Each container gets `cpuset_cpus` = its CPUs and a memory limit, no network, and labels
//! (`burstsim.cluster`, `burstsim.agent`) by which `list` (hence the reaper) finds it. The
//! payload goes in a file of a per-container host directory mounted at /io; the dispatcher's
//! output comes back on the attached stdout. bollard is async: the backend owns a small tokio
//! runtime and blocks on it, so the rest of the executor stays synchronous.

use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{ExitStatus, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bollard::container::LogOutput;
use bollard::errors::Error as DockerError;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, CreateImageOptionsBuilder,
    ListContainersOptionsBuilder, RemoveContainerOptionsBuilder, WaitContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::{Stream, StreamExt};

use crate::backend::Backend;
use crate::bundle::{cpuset, ContainerSpec, WORKER_PATH};
use crate::error::{Context, Error, Result};
use crate::runtime::RuntimeKind;

/// The imported image: mount points only (the same layout as the runc rootfs).
pub const IMAGE_REPO: &str = "burstsim-rootfs";
pub const IMAGE_TAG: &str = "1";
/// Label every burstsim container carries (value: the cluster name).
pub const LABEL_CLUSTER: &str = "burstsim.cluster";
/// Label with the agent id.
pub const LABEL_AGENT: &str = "burstsim.agent";

/// Host directories bind-mounted read-only so that the dynamically linked worker runs.
const HOST_DIRS: &[&str] = &["/usr", "/lib", "/lib64", "/bin"];
/// Where the per-container payload directory appears inside.
const IO_DIR: &str = "/io";
/// Any single API call (create, start, remove, ...) that takes longer has failed.
const API_TIMEOUT: Duration = Duration::from_secs(60);

type LogStream = Pin<Box<dyn Stream<Item = Result<LogOutput, DockerError>> + Send>>;
/// What an engine call inside `block` fails with: the engine's error or our own reason.
type CallError = Box<dyn std::error::Error + Send + Sync>;

pub struct DockerBackend {
    rt: tokio::runtime::Runtime,
    client: Docker,
    /// Per-container payload directories `<io_root>/<name>` (the agent's bundles directory).
    io_root: PathBuf,
    worker_binary: PathBuf,
    labels: HashMap<String, String>,
    /// Longest a container or exec may run before it is given up.
    run_timeout: Duration,
    counter: AtomicU64,
}

/// True when the engine says the object does not exist (or is being removed already).
fn gone(e: &DockerError) -> bool {
    matches!(
        e,
        DockerError::DockerResponseServerError {
            status_code: 404 | 409,
            ..
        }
    )
}

impl DockerBackend {
    /// Connects to the local engine (`$DOCKER_HOST`, or /var/run/docker.sock) and negotiates
    /// the API version; a clear error says how to start the engine when it does not answer.
    pub fn connect(dir: &Path, worker_binary: &Path, labels: &[(String, String)]) -> Result<Self> {
        Self::connect_at(None, dir, worker_binary, labels)
    }

    /// As `connect`, to the engine at unix socket `socket` when given.
    pub fn connect_at(
        socket: Option<&str>,
        dir: &Path,
        worker_binary: &Path,
        labels: &[(String, String)],
    ) -> Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("burstsim-docker")
            .enable_all()
            .build()
            .context("starting the Docker backend's runtime")?;
        let no_answer = || CallError::from("no answer within 5 s");
        let where_ = socket
            .map(str::to_string)
            .or_else(|| std::env::var("DOCKER_HOST").ok())
            .unwrap_or_else(|| "/var/run/docker.sock".into());
        let client = rt
            .block_on(async {
                let d = match socket {
                    Some(path) => {
                        Docker::connect_with_unix(path, 120, bollard::API_DEFAULT_VERSION)?
                    }
                    None => Docker::connect_with_local_defaults()?,
                };
                let d = tokio::time::timeout(Duration::from_secs(5), d.negotiate_version())
                    .await
                    .map_err(|_| no_answer())??;
                tokio::time::timeout(Duration::from_secs(5), d.ping())
                    .await
                    .map_err(|_| no_answer())??;
                Ok::<_, CallError>(d)
            })
            .map_err(|e| {
                Error::Container(format!(
                    "cannot reach the Docker engine at {where_}: start dockerd \
                     (scripts/start-dockerd.sh, or `systemctl start docker`; apt-get install -y docker.io): {e}"
                ))
            })?;
        let io_root = dir.join("bundles");
        let mut map: HashMap<String, String> = labels.iter().cloned().collect();
        map.entry(LABEL_CLUSTER.to_string()).or_default();
        Ok(DockerBackend {
            rt,
            client,
            io_root,
            worker_binary: worker_binary.to_path_buf(),
            labels: map,
            run_timeout: Duration::from_secs(3600),
            counter: AtomicU64::new(0),
        })
    }

    /// Longest a container or an exec may run before it is killed and reported failed.
    pub fn with_run_timeout(mut self, t: Duration) -> Self {
        self.run_timeout = t;
        self
    }

    /// Runs one engine call to completion, at most `limit`; failures are the engine's.
    fn block<T>(
        &self,
        what: &str,
        limit: Duration,
        fut: impl std::future::Future<Output = Result<T, CallError>>,
    ) -> Result<T> {
        self.rt
            .block_on(async { tokio::time::timeout(limit, fut).await })
            .map_err(|_| Error::Container(format!("docker: {what}: no answer within {limit:?}")))?
            .map_err(|e| Error::Container(format!("docker: {what}: {e}")))
    }

    fn image() -> String {
        format!("{IMAGE_REPO}:{IMAGE_TAG}")
    }

    /// Imports the image if the engine lacks it: a tarball of the rootfs' mount points.
    pub fn ensure_image(&self) -> Result<()> {
        let image = Self::image();
        let client = self.client.clone();
        let have = self.block("inspecting the image", API_TIMEOUT, async {
            match client.inspect_image(&image).await {
                Ok(_) => Ok(true),
                Err(e) if gone(&e) => Ok(false),
                Err(e) => Err(e.into()),
            }
        })?;
        if have {
            return Ok(());
        }
        let tar = rootfs_tar().context("building the image tarball")?;
        self.block(&format!("importing {image}"), API_TIMEOUT, async {
            let opts = CreateImageOptionsBuilder::default()
                .from_src("-")
                .repo(IMAGE_REPO)
                .tag(IMAGE_TAG)
                .build();
            let mut s = client.create_image(
                Some(opts),
                Some(bollard::body_full(bytes::Bytes::from(tar))),
                None,
            );
            while let Some(item) = s.next().await {
                item?;
            }
            Ok(())
        })
    }

    fn io_dir(&self, name: &str) -> PathBuf {
        self.io_root.join(name)
    }

    /// Creates container `spec.id` running `args` after the worker binary.
    fn create(&self, spec: &ContainerSpec, args: &[String]) -> Result<()> {
        let io = self.io_dir(&spec.id);
        std::fs::create_dir_all(&io).with_context(|| format!("creating {}", io.display()))?;
        let mut binds: Vec<String> = HOST_DIRS
            .iter()
            .filter(|d| Path::new(d).exists())
            .map(|d| format!("{d}:{d}:ro"))
            .collect();
        binds.push(format!("{}:{WORKER_PATH}:ro", self.worker_binary.display()));
        binds.push(format!("{}:{IO_DIR}:ro", io.display()));
        let mut cmd = vec![WORKER_PATH.to_string()];
        cmd.extend(args.iter().cloned());
        let body = ContainerCreateBody {
            image: Some(Self::image()),
            cmd: Some(cmd),
            env: Some(vec![
                "PATH=/usr/local/bin:/usr/bin:/bin".to_string(),
                format!("BURSTSIM_CONTAINER={}", spec.id),
            ]),
            working_dir: Some("/".into()),
            labels: Some(self.labels.clone()),
            host_config: Some(HostConfig {
                cpuset_cpus: spec.cpus.as_deref().map(cpuset),
                cpu_shares: spec.cpu_shares.map(|s| s as i64),
                memory: Some((spec.memory_mb.max(16) * 1024 * 1024) as i64),
                binds: Some(binds),
                // `host`: the dockerd's network (a `steps` burst reaches the broker).
                network_mode: Some(if spec.network { "host" } else { "none" }.into()),
                readonly_rootfs: Some(true),
                security_opt: Some(vec!["no-new-privileges".into()]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let client = self.client.clone();
        let name = spec.id.clone();
        self.block(&format!("creating {name}"), API_TIMEOUT, async move {
            let opts = CreateContainerOptionsBuilder::default().name(&name).build();
            client.create_container(Some(opts), body).await?;
            Ok(())
        })
    }

    fn start(&self, name: &str) -> Result<()> {
        let client = self.client.clone();
        self.block(&format!("starting {name}"), API_TIMEOUT, async move {
            client.start_container(name, None).await?;
            Ok(())
        })
    }
}

/// Drains an attached stream into (stdout, stderr).
async fn collect(mut s: LogStream) -> Result<(Vec<u8>, Vec<u8>), CallError> {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while let Some(item) = s.next().await {
        match item? {
            LogOutput::StdOut { message } | LogOutput::Console { message } => {
                out.extend_from_slice(&message)
            }
            LogOutput::StdErr { message } => err.extend_from_slice(&message),
            LogOutput::StdIn { .. } => {}
        }
    }
    Ok((out, err))
}

fn output(code: i64, stdout: Vec<u8>, stderr: Vec<u8>) -> Output {
    Output {
        status: ExitStatus::from_raw(((code & 0xff) as i32) << 8),
        stdout,
        stderr,
    }
}

/// The image's content: the mount points of the runc rootfs, plus /io.
fn rootfs_tar() -> std::io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    for d in [
        "proc", "dev", "sys", "tmp", "etc", "usr", "lib", "lib64", "bin", "io",
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        h.set_mtime(0);
        b.append_data(&mut h, format!("{d}/"), std::io::empty())?;
    }
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o755);
    h.set_size(0);
    h.set_mtime(0);
    b.append_data(
        &mut h,
        WORKER_PATH.trim_start_matches('/'),
        std::io::empty(),
    )?;
    b.into_inner()
}

impl Backend for DockerBackend {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Docker
    }

    fn run_dispatch(&self, spec: &ContainerSpec, payload: &[u8]) -> Result<Output> {
        let mut args: Vec<String> = spec.args.clone();
        args.extend(["--payload".into(), format!("{IO_DIR}/payload.json")]);
        let io = self.io_dir(&spec.id);
        std::fs::create_dir_all(&io).with_context(|| format!("creating {}", io.display()))?;
        let res = (|| {
            std::fs::write(io.join("payload.json"), payload)
                .with_context(|| format!("writing {}/payload.json", io.display()))?;
            self.create(spec, &args)?;
            let client = self.client.clone();
            let name = spec.id.clone();
            // Attached before the start, so no output is missed.
            let stream = self.block(&format!("attaching to {name}"), API_TIMEOUT, {
                let client = client.clone();
                let name = name.clone();
                async move {
                    let opts = AttachContainerOptionsBuilder::default()
                        .stdout(true)
                        .stderr(true)
                        .stream(true)
                        .build();
                    Ok(client.attach_container(&name, Some(opts)).await?.output)
                }
            })?;
            self.start(&name)?;
            let (stdout, stderr) = self.block(
                &format!("running {name}"),
                self.run_timeout,
                collect(stream),
            )?;
            let code = self.block(&format!("waiting for {name}"), API_TIMEOUT, async move {
                let opts = WaitContainerOptionsBuilder::default()
                    .condition("not-running")
                    .build();
                let mut s = client.wait_container(&name, Some(opts));
                match s.next().await {
                    Some(Ok(r)) => Ok(r.status_code),
                    Some(Err(DockerError::DockerContainerWaitError { code, .. })) => Ok(code),
                    Some(Err(e)) if gone(&e) => Ok(137),
                    Some(Err(e)) => Err(e.into()),
                    None => Err("no exit status".into()),
                }
            })?;
            Ok(output(code, stdout, stderr))
        })();
        let _ = self.remove(&spec.id);
        res
    }

    fn start_idle(&self, spec: &ContainerSpec) -> Result<()> {
        self.create(spec, &spec.args)?;
        self.start(&spec.id)
    }

    fn exec_dispatch(&self, name: &str, payload: &[u8]) -> Result<Output> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let file = format!("p{n}.json");
        let host = self.io_dir(name).join(&file);
        std::fs::write(&host, payload).with_context(|| format!("writing {}", host.display()))?;
        let client = self.client.clone();
        let res = (|| {
            let cmd = vec![
                WORKER_PATH.to_string(),
                "dispatch".into(),
                "--payload".into(),
                format!("{IO_DIR}/{file}"),
            ];
            let (id, stream) = self.block(&format!("exec in {name}"), API_TIMEOUT, {
                let client = client.clone();
                async move {
                    let exec = client
                        .create_exec(
                            name,
                            CreateExecOptions {
                                attach_stdout: Some(true),
                                attach_stderr: Some(true),
                                cmd: Some(cmd),
                                ..Default::default()
                            },
                        )
                        .await?;
                    match client.start_exec(&exec.id, None).await? {
                        StartExecResults::Attached { output, .. } => Ok((exec.id, output)),
                        StartExecResults::Detached => Err("exec started detached".into()),
                    }
                }
            })?;
            let (stdout, stderr) = self.block(
                &format!("running the dispatcher in {name}"),
                self.run_timeout,
                collect(stream),
            )?;
            // The stream ends as the process exits; the engine records the code just after.
            let code = self.block(&format!("exec status in {name}"), API_TIMEOUT, async move {
                loop {
                    let r = client.inspect_exec(&id).await?;
                    match (r.running, r.exit_code) {
                        (Some(false), Some(code)) => return Ok(code),
                        _ => tokio::time::sleep(Duration::from_millis(5)).await,
                    }
                }
            })?;
            Ok(output(code, stdout, stderr))
        })();
        let _ = std::fs::remove_file(&host);
        res
    }

    fn remove(&self, name: &str) -> Result<()> {
        let client = self.client.clone();
        let res = self.block(&format!("removing {name}"), API_TIMEOUT, async move {
            let opts = RemoveContainerOptionsBuilder::default()
                .force(true)
                .v(true)
                .build();
            match client.remove_container(name, Some(opts)).await {
                Ok(()) => Ok(()),
                Err(e) if gone(&e) => Ok(()),
                Err(e) => Err(e.into()),
            }
        });
        let io = self.io_dir(name);
        if io.exists() {
            std::fs::remove_dir_all(&io).with_context(|| format!("removing {}", io.display()))?;
        }
        res
    }

    fn list(&self) -> Result<Vec<String>> {
        let client = self.client.clone();
        self.block("listing containers", API_TIMEOUT, async move {
            let filters: HashMap<&str, Vec<&str>> = HashMap::from([("label", vec![LABEL_CLUSTER])]);
            let opts = ListContainersOptionsBuilder::default()
                .all(true)
                .filters(&filters)
                .build();
            let cs = client.list_containers(Some(opts)).await?;
            Ok(cs
                .into_iter()
                .flat_map(|c| c.names.unwrap_or_default())
                .map(|n| n.trim_start_matches('/').to_string())
                .collect())
        })
    }

    fn reaper_arg(&self) -> String {
        "docker".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_tarball_holds_the_mount_points() {
        let tar = rootfs_tar().unwrap();
        let mut a = tar::Archive::new(tar.as_slice());
        let names: Vec<String> = a
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        for want in ["usr/", "lib64/", "io/", "burstsim-worker"] {
            assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
        }
    }
}
