//! A local test cluster on one machine: a redis-server plus K agent processes, each advertising
//! its own 127.0.0.x address. `up` writes the cluster file and a state file (pids) into a run
//! directory; `down` stops everything it started, and the agents clean up their containers.

use std::fs;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::cluster::{physical_cores, ClusterFile};
use crate::docker::DockerBackend;
use crate::runtime::{prepare_cgroups_for_crun, RuntimeKind};
use crate::transport::Broker;

/// Why live runs with runc cannot happen on this machine, if they cannot.
pub fn missing_prerequisites() -> Option<String> {
    missing_prerequisites_for(RuntimeKind::Runc)
}

/// Why live runs with `runtime` cannot happen on this machine, if they cannot: not root, or
/// the runtime (for Docker, the engine `dockerd`) or redis-server not installed. A Docker
/// engine that is installed but not running is not "missing": the agents say how to start it.
pub fn missing_prerequisites_for(runtime: RuntimeKind) -> Option<String> {
    if !nix::unistd::Uid::effective().is_root() {
        return Some(format!(
            "not root ({} needs root to create containers)",
            runtime.binary()
        ));
    }
    for (bin, pkg) in [
        (runtime.binary(), runtime.package()),
        ("redis-server", "redis-server"),
    ] {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file()))
            .unwrap_or(false)
            || Path::new("/usr/sbin").join(bin).is_file();
        if !found {
            return Some(format!("`{bin}` not found (apt-get install -y {pkg})"));
        }
    }
    None
}

/// A TCP port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// What `up` started, as saved in `<dir>/cluster-state.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalState {
    pub redis_pid: i32,
    pub agent_pids: Vec<i32>,
    pub cluster_file: PathBuf,
}

const STATE_FILE: &str = "cluster-state.json";

fn spawn_detached(program: &Path, args: &[String], log: &Path) -> Result<i32> {
    let out = fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let err = out.try_clone()?;
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null()).stdout(out).stderr(err);
    // Its own session: Ctrl-C in the terminal that ran `cluster up` does not reach it.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .with_context(|| format!("starting {}", program.display()))?;
    Ok(child.id() as i32)
}

fn alive(pid: i32) -> bool {
    // A zombie still answers kill(0); /proc tells them apart.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .rsplit(')')
            .next()
            .map(|r| r.trim_start().starts_with('Z'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

/// Starts redis on `port` and `nodes` agents, each run as `agent_cmd... --cluster FILE --id i`,
/// with containers run by `runtime`.
pub fn up(
    dir: &Path,
    nodes: u32,
    cpus_per_node: u32,
    port: u16,
    agent_cmd: &[String],
    worker_binary: Option<PathBuf>,
    runtime: RuntimeKind,
) -> Result<(ClusterFile, LocalState)> {
    if nodes == 0 || cpus_per_node == 0 {
        bail!("--nodes and --cpus-per-node: expected integers >= 1");
    }
    if dir.join(STATE_FILE).exists() {
        bail!(
            "a cluster is already up in {} (run `burstsim cluster down --dir {}` first)",
            dir.display(),
            dir.display()
        );
    }
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let dir = dir.canonicalize()?;
    let cores = physical_cores();
    if nodes * cpus_per_node > cores {
        eprintln!(
            "warning: {} declared CPUs on {cores} physical cores: workers will share cores \
             (records are marked cpu_shared)",
            nodes * cpus_per_node
        );
    }
    let broker = format!("redis://127.0.0.1:{port}");
    let mut cluster = ClusterFile::local(&broker, &dir.join("state"), nodes, cpus_per_node);
    cluster.worker_binary = worker_binary;
    cluster.runtime = runtime;
    if runtime == RuntimeKind::Docker {
        // Imported once here: agents importing at the same time would leave dangling copies.
        DockerBackend::connect(&dir, Path::new("/proc/self/exe"), &[])?.ensure_image()?;
    }
    if runtime == RuntimeKind::Crun {
        // Once, before the agents start (each would try it too).
        let moved = prepare_cgroups_for_crun()?;
        if !moved.is_empty() {
            eprintln!(
                "crun: moved cgroup controllers {moved:?} from cgroup v2 to v1 \
                 (/sys/fs/cgroup/<name>): crun does not support hybrid mode otherwise"
            );
        }
    }
    // Short keys: each local cluster gets its own namespace on a shared broker.
    cluster.name = format!("l{port}");
    let cluster_file = dir.join("cluster.toml");
    fs::write(&cluster_file, toml::to_string(&cluster)?)?;

    let redis_pid = spawn_detached(
        Path::new("redis-server"),
        &[
            "--port".into(),
            port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--save".into(),
            "".into(),
            "--appendonly".into(),
            "no".into(),
        ],
        &dir.join("redis.log"),
    )?;
    let mut state = LocalState {
        redis_pid,
        agent_pids: Vec::new(),
        cluster_file: cluster_file.clone(),
    };
    fs::write(dir.join(STATE_FILE), serde_json::to_string_pretty(&state)?)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match Broker::connect(&broker, &cluster.name, Duration::from_millis(500)) {
            Ok(_) => break,
            Err(e) if Instant::now() >= deadline || !alive(redis_pid) => {
                let _ = down(&dir);
                return Err(e.context(format!(
                    "redis did not start (see {}/redis.log)",
                    dir.display()
                )));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    let (program, pre) = agent_cmd.split_first().context("empty agent command")?;
    for id in 0..nodes {
        let mut args = pre.to_vec();
        args.extend([
            "--cluster".into(),
            cluster_file.display().to_string(),
            "--id".into(),
            id.to_string(),
        ]);
        let pid = spawn_detached(
            Path::new(program),
            &args,
            &dir.join(format!("agent{id}.log")),
        )?;
        state.agent_pids.push(pid);
        fs::write(dir.join(STATE_FILE), serde_json::to_string_pretty(&state)?)?;
    }
    // Ready when every agent has sent a heartbeat.
    let mut b = Broker::connect(&broker, &cluster.name, Duration::from_millis(1000))?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let hbs = b.heartbeats(nodes)?;
        if hbs.iter().all(Option::is_some) {
            break;
        }
        if let Some((i, _)) = state
            .agent_pids
            .iter()
            .enumerate()
            .find(|(_, &p)| !alive(p))
        {
            let log = fs::read_to_string(dir.join(format!("agent{i}.log"))).unwrap_or_default();
            let _ = down(&dir);
            bail!("agent {i} exited at start:\n{}", log.trim());
        }
        if Instant::now() >= deadline {
            let _ = down(&dir);
            bail!(
                "agents sent no heartbeat within 20 s (see {}/agent*.log)",
                dir.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((cluster, state))
}

/// Stops what `up` started in `dir`: agents first (they remove their containers), then redis.
pub fn down(dir: &Path) -> Result<()> {
    let path = dir.join(STATE_FILE);
    let text = fs::read_to_string(&path).with_context(|| {
        format!(
            "no cluster is up in {} ({} missing)",
            dir.display(),
            path.display()
        )
    })?;
    let state: LocalState =
        crate::protocol::parse("cluster state", &text).map_err(anyhow::Error::msg)?;
    for &pid in &state.agent_pids {
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    for &pid in &state.agent_pids {
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if alive(pid) {
            eprintln!("agent pid {pid} did not stop in time: killing it (its reaper cleans up)");
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
    let _ = kill(Pid::from_raw(state.redis_pid), Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(state.redis_pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if alive(state.redis_pid) {
        let _ = kill(Pid::from_raw(state.redis_pid), Signal::SIGKILL);
    }
    fs::remove_file(&path)?;
    Ok(())
}

/// Reads the state of the cluster that is up in `dir`.
pub fn state(dir: &Path) -> Result<LocalState> {
    let path = dir.join(STATE_FILE);
    let text = fs::read_to_string(&path)
        .with_context(|| format!("no cluster is up in {}", dir.display()))?;
    crate::protocol::parse("cluster state", &text).map_err(anyhow::Error::msg)
}

/// True while process `pid` runs (not a zombie).
pub fn is_alive(pid: i32) -> bool {
    alive(pid)
}

/// Processes running in a container whose name starts with `prefix` (found by the
/// `BURSTSIM_CONTAINER` variable every container process carries): what cleanup must leave none of.
pub fn container_processes(prefix: &str) -> Vec<i32> {
    let want = format!("BURSTSIM_CONTAINER={prefix}");
    let mut pids = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return pids;
    };
    for e in entries.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let env = fs::read(e.path().join("environ")).unwrap_or_default();
        if env
            .split(|b| *b == 0)
            .any(|v| v.starts_with(want.as_bytes()))
            && alive(pid)
        {
            pids.push(pid);
        }
    }
    pids
}
