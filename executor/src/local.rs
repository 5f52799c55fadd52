//! A local test cluster on one machine: a redis-server plus K agent processes, each advertising
//! its own 127.0.0.x address. `up` writes the cluster file and a state file (pids) into a run
//! directory; `down` stops everything it started, and the agents clean up their containers.
//! `restart_agent` and `restart_broker` bring a killed agent or broker back (fault tests).
//! `leftovers` is the check (for tests and tools) that a cluster left nothing on this machine.

use std::fmt;
use std::fs;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::agent::cluster_prefix;
use crate::backend::list_containers;
use crate::cluster::{physical_cores, ClusterFile};
use crate::docker::DockerBackend;
use crate::error::{Context, Error, Result};
use crate::netns;
use crate::reaper::leftover_cgroups;
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
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr().context("finding a free port")?.port())
}

/// What `up` started, as saved in `<dir>/cluster-state.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalState {
    pub redis_pid: i32,
    /// The broker's port on 127.0.0.1.
    #[serde(default)]
    pub redis_port: u16,
    pub agent_pids: Vec<i32>,
    /// How agents are started (before `--cluster FILE --id N`).
    #[serde(default)]
    pub agent_cmd: Vec<String>,
    pub cluster_file: PathBuf,
    /// `--netns`: the network namespaces made for the cluster (the broker's first), removed
    /// by `down`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub netns: Vec<String>,
}

/// How a local cluster's agents reach the broker.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct NetOptions {
    /// Each agent in a network namespace of its own, linked to the broker's by a veth pair
    /// (`netns`); otherwise everything on 127.0.0.1.
    pub netns: bool,
    /// With `netns`: each link's rate per direction, bytes/s (`tc` token bucket).
    pub link_rate: Option<f64>,
}

const STATE_FILE: &str = "cluster-state.json";

/// Starts `program` in a session of its own (in network namespace `netns`, if given), its
/// output to `log`.
fn spawn_detached(program: &Path, args: &[String], log: &Path, netns: Option<&str>) -> Result<i32> {
    let out = fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    spawn_detached_to(program, args, log, out, netns)
}

/// As `spawn_detached`, the log appended to.
fn spawn_detached_appending(
    program: &Path,
    args: &[String],
    log: &Path,
    netns: Option<&str>,
) -> Result<i32> {
    let out = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    spawn_detached_to(program, args, log, out, netns)
}

fn spawn_detached_to(
    program: &Path,
    args: &[String],
    log: &Path,
    out: fs::File,
    netns: Option<&str>,
) -> Result<i32> {
    let err = out
        .try_clone()
        .with_context(|| format!("opening {}", log.display()))?;
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null()).stdout(out).stderr(err);
    if let Some(ns) = netns {
        netns::enter_before_exec(&mut cmd, ns)?;
    }
    // Its own session: Ctrl-C in the terminal that ran `cluster up` does not reach it.
    // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe
    // calls are allowed: it makes one setsid(2) system call and converts its errno into an
    // io::Error (`from_raw_os_error`, no allocation); it takes no lock and touches no state
    // shared with the parent's other threads.
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
/// with containers run by `runtime`, all on 127.0.0.1 (see [`up_with`]).
pub fn up(
    dir: &Path,
    nodes: u32,
    cpus_per_node: u32,
    port: u16,
    agent_cmd: &[String],
    worker_binary: Option<PathBuf>,
    runtime: RuntimeKind,
) -> Result<(ClusterFile, LocalState)> {
    let shape = (nodes, cpus_per_node, port);
    up_with(
        dir,
        shape,
        agent_cmd,
        worker_binary,
        runtime,
        NetOptions::default(),
    )
}

/// As [`up`], with `net` saying whether each agent gets a network namespace of its own (and a
/// rate-limited link to the broker's, see [`netns`]). Bad arguments are checked first (the
/// user's errors), then the machine (`missing_prerequisites_for`, and `ip`/`tc` for `netns`).
/// On failure, whatever it started is stopped (and made) again.
pub fn up_with(
    dir: &Path,
    (nodes, cpus_per_node, port): (u32, u32, u16),
    agent_cmd: &[String],
    worker_binary: Option<PathBuf>,
    runtime: RuntimeKind,
    net: NetOptions,
) -> Result<(ClusterFile, LocalState)> {
    if nodes == 0 || cpus_per_node == 0 {
        return Err(Error::input(
            "--nodes and --cpus-per-node: expected integers >= 1",
        ));
    }
    let Some((program, pre)) = agent_cmd.split_first() else {
        return Err(Error::input("empty agent command"));
    };
    if dir.join(STATE_FILE).exists() {
        return Err(Error::input(format!(
            "a cluster is already up in {} (run `burstsim cluster down --dir {}` first)",
            dir.display(),
            dir.display()
        )));
    }
    if net.link_rate.is_some() && !net.netns {
        return Err(Error::input("--link-rate: needs --netns (a link to limit)"));
    }
    if net.netns && runtime == RuntimeKind::Docker {
        return Err(Error::input(
            "--netns: Docker containers join the engine's network, not their agent's namespace: \
             use --runtime runc or crun",
        ));
    }
    if let Some(why) = missing_prerequisites_for(runtime)
        .or_else(|| net.netns.then(netns::missing_prerequisites).flatten())
    {
        return Err(Error::Missing(format!(
            "cannot start a local cluster: {why}"
        )));
    }
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let dir = dir
        .canonicalize()
        .with_context(|| format!("resolving {}", dir.display()))?;
    let shape = (nodes, cpus_per_node, port);
    let (cluster, setup) = write_cluster_file(&dir, shape, worker_binary, runtime, net)?;
    let mut state = start_broker(&dir, &cluster, port, agent_cmd, setup.as_ref())?;
    let started = start_agents(&dir, program, pre, nodes, &mut state)
        .and_then(|()| wait_for_heartbeats(&dir, &cluster, &state));
    if let Err(e) = started {
        let _ = down(&dir);
        return Err(e);
    }
    Ok((cluster, state))
}

/// Writes `<dir>/cluster.toml` of a local cluster, once the runtime is ready for its agents;
/// with `net.netns`, also returns the namespaces to make.
fn write_cluster_file(
    dir: &Path,
    (nodes, cpus_per_node, port): (u32, u32, u16),
    worker_binary: Option<PathBuf>,
    runtime: RuntimeKind,
    net: NetOptions,
) -> Result<(ClusterFile, Option<netns::NetSetup>)> {
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
    prepare_runtime(dir, runtime)?;
    // Short keys: each local cluster gets its own namespace on a shared broker.
    cluster.name = format!("l{port}");
    let setup = if net.netns {
        let setup = netns::NetSetup::plan(&cluster.name, nodes, port, net.link_rate)?;
        cluster.broker = format!("redis://{}:{port}", setup.broker_addr);
        cluster.controller_broker = Some(format!("unix://{}", socket_path(dir)?.display()));
        for (a, (ns, addr)) in cluster.agents.iter_mut().zip(&setup.agents) {
            a.netns = Some(ns.clone());
            a.address = addr.clone();
            a.link_rate = net.link_rate.map(policies::comm::Rate);
        }
        Some(setup)
    } else {
        None
    };
    let path = dir.join("cluster.toml");
    let text = toml::to_string(&cluster)
        .map_err(|e| Error::Protocol(format!("encoding the cluster file: {e}")))?;
    fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok((cluster, setup))
}

/// The broker's unix socket in `dir` (for the controller, outside the agents' namespaces).
fn socket_path(dir: &Path) -> Result<PathBuf> {
    let p = dir.join("redis.sock");
    // sockaddr_un holds 107 bytes of path.
    if p.as_os_str().len() > 100 {
        return Err(Error::input(format!(
            "--dir: {} is too long for a unix socket path (at most 100 bytes with --netns)",
            p.display()
        )));
    }
    Ok(p)
}

/// What every agent would otherwise do at start, at the same time: Docker's image import
/// (concurrent imports leave dangling copies), crun's cgroup layout.
fn prepare_runtime(dir: &Path, runtime: RuntimeKind) -> Result<()> {
    match runtime {
        RuntimeKind::Docker => {
            DockerBackend::connect(dir, Path::new("/proc/self/exe"), &[])?.ensure_image()
        }
        RuntimeKind::Crun => {
            let moved = prepare_cgroups_for_crun()?;
            if !moved.is_empty() {
                eprintln!(
                    "crun: moved cgroup controllers {moved:?} from cgroup v2 to v1 \
                     (/sys/fs/cgroup/<name>): crun does not support hybrid mode otherwise"
                );
            }
            Ok(())
        }
        RuntimeKind::Runc => Ok(()),
    }
}

fn save_state(dir: &Path, state: &LocalState) -> Result<()> {
    let path = dir.join(STATE_FILE);
    fs::write(&path, serde_json::to_string_pretty(state)?)
        .with_context(|| format!("writing {}", path.display()))
}

/// Makes the namespaces of `setup` (if any), starts redis-server for `cluster`, records both
/// in the state file and waits until the broker answers.
fn start_broker(
    dir: &Path,
    cluster: &ClusterFile,
    port: u16,
    agent_cmd: &[String],
    setup: Option<&netns::NetSetup>,
) -> Result<LocalState> {
    let mut state = LocalState {
        redis_pid: 0,
        redis_port: port,
        agent_pids: Vec::new(),
        agent_cmd: agent_cmd.to_vec(),
        cluster_file: dir.join("cluster.toml"),
        netns: Vec::new(),
    };
    if let Some(setup) = setup {
        setup.create()?;
        state.netns = std::iter::once(setup.broker_ns.clone())
            .chain(setup.agents.iter().map(|a| a.0.clone()))
            .collect();
        save_state(dir, &state)?;
    }
    state.redis_pid = match spawn_redis(dir, cluster, port) {
        Ok(pid) => pid,
        Err(e) => {
            let _ = down(dir);
            return Err(e);
        }
    };
    save_state(dir, &state)?;
    if let Err(e) = wait_for_broker(dir, cluster, state.redis_pid) {
        let _ = down(dir);
        return Err(e);
    }
    Ok(state)
}

/// Starts redis-server on `port` of 127.0.0.1, without persistence (a restart loses its data,
/// as a crashed broker's would); its log goes to `<dir>/redis.log`. With namespaces (the
/// cluster file has a `controller_broker`), it runs in the broker's namespace, listening on
/// the bridge's address for the agents and on a unix socket for the controller.
fn spawn_redis(dir: &Path, cluster: &ClusterFile, port: u16) -> Result<i32> {
    let mut args: Vec<String> = vec!["--port".into(), port.to_string()];
    let mut ns = None;
    match &cluster.controller_broker {
        Some(socket) => {
            let host = cluster
                .broker
                .trim_start_matches("redis://")
                .rsplit_once(':')
                .map(|(h, _)| h.to_string())
                .unwrap_or_default();
            args.extend(["--bind".into(), host]);
            args.extend([
                "--unixsocket".into(),
                socket.trim_start_matches("unix://").into(),
            ]);
            args.extend(["--unixsocketperm".into(), "700".into()]);
            // Reachable only inside the cluster's own namespaces: no password, so protected
            // mode (which refuses non-loopback clients without one) is off.
            args.extend(["--protected-mode".into(), "no".into()]);
            ns = Some(netns::NetSetup::plan(&cluster.name, 1, port, None)?.broker_ns);
        }
        None => args.extend(["--bind".into(), "127.0.0.1".into()]),
    }
    args.extend([
        "--save".into(),
        "".into(),
        "--appendonly".into(),
        "no".into(),
    ]);
    spawn_detached(
        Path::new("redis-server"),
        &args,
        &dir.join("redis.log"),
        ns.as_deref(),
    )
}

/// Waits until the broker of `cluster` (process `pid`) answers.
fn wait_for_broker(dir: &Path, cluster: &ClusterFile, pid: i32) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match Broker::connect(
            cluster.client_broker(),
            &cluster.name,
            Duration::from_millis(500),
        ) {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() >= deadline || !alive(pid) => {
                return Err(e.context(format!(
                    "redis did not start (see {}/redis.log)",
                    dir.display()
                )));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Starts the broker of the cluster up in `dir` again (after it died or was killed: its data
/// is lost, as after a crash) and waits until it answers; returns its pid.
pub fn restart_broker(dir: &Path) -> Result<i32> {
    let mut st = state(dir)?;
    if alive(st.redis_pid) {
        return Err(Error::input(format!(
            "the broker of {} (pid {}) is still running",
            dir.display(),
            st.redis_pid
        )));
    }
    let cluster = ClusterFile::load(&st.cluster_file)?;
    st.redis_pid = spawn_redis(dir, &cluster, st.redis_port)?;
    save_state(dir, &st)?;
    wait_for_broker(dir, &cluster, st.redis_pid)?;
    Ok(st.redis_pid)
}

/// Starts agent `id` of the cluster up in `dir` again (after it died or was killed), as `up`
/// started it, its log appended to `<dir>/agent<id>.log`; returns its pid. The new agent
/// removes what its predecessor left.
pub fn restart_agent(dir: &Path, id: u32) -> Result<i32> {
    let mut st = state(dir)?;
    let Some(&old) = st.agent_pids.get(id as usize) else {
        return Err(Error::input(format!(
            "agent {id} is not in the cluster of {}",
            dir.display()
        )));
    };
    if alive(old) {
        return Err(Error::input(format!(
            "agent {id} of {} (pid {old}) is still running",
            dir.display()
        )));
    }
    let Some((program, pre)) = st.agent_cmd.split_first() else {
        return Err(Error::input(format!(
            "{}: the cluster state does not say how agents are started",
            dir.display()
        )));
    };
    let mut args = pre.to_vec();
    args.extend([
        "--cluster".into(),
        st.cluster_file.display().to_string(),
        "--id".into(),
        id.to_string(),
    ]);
    let log = dir.join(format!("agent{id}.log"));
    let ns = agent_netns(&st, id)?;
    let pid = spawn_detached_appending(Path::new(program), &args, &log, ns.as_deref())?;
    st.agent_pids[id as usize] = pid;
    save_state(dir, &st)?;
    Ok(pid)
}

/// Starts agents `0..nodes` as `program pre... --cluster FILE --id i`, each recorded in the
/// state file as soon as it runs.
fn start_agents(
    dir: &Path,
    program: &str,
    pre: &[String],
    nodes: u32,
    state: &mut LocalState,
) -> Result<()> {
    for id in 0..nodes {
        let mut args = pre.to_vec();
        args.extend([
            "--cluster".into(),
            state.cluster_file.display().to_string(),
            "--id".into(),
            id.to_string(),
        ]);
        let ns = agent_netns(state, id)?;
        let pid = spawn_detached(
            Path::new(program),
            &args,
            &dir.join(format!("agent{id}.log")),
            ns.as_deref(),
        )?;
        state.agent_pids.push(pid);
        save_state(dir, state)?;
    }
    Ok(())
}

/// The network namespace agent `id` runs in (`None` without `--netns`).
fn agent_netns(state: &LocalState, id: u32) -> Result<Option<String>> {
    if state.netns.is_empty() {
        return Ok(None);
    }
    let cluster = ClusterFile::load(&state.cluster_file)?;
    Ok(cluster
        .agents
        .get(id as usize)
        .and_then(|a| a.netns.clone()))
}

/// Waits until every agent has sent a heartbeat; fails with the log of an agent that exited.
fn wait_for_heartbeats(dir: &Path, cluster: &ClusterFile, state: &LocalState) -> Result<()> {
    let nodes = cluster.agents.len() as u32;
    let mut b = Broker::connect(
        cluster.client_broker(),
        &cluster.name,
        Duration::from_millis(1000),
    )?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let hbs = b.heartbeats(nodes)?;
        if hbs.iter().all(Option::is_some) {
            return Ok(());
        }
        if let Some((i, _)) = state
            .agent_pids
            .iter()
            .enumerate()
            .find(|(_, &p)| !alive(p))
        {
            let log = fs::read_to_string(dir.join(format!("agent{i}.log"))).unwrap_or_default();
            return Err(Error::Agents(format!(
                "agent {i} exited at start:\n{}",
                log.trim()
            )));
        }
        if Instant::now() >= deadline {
            return Err(Error::Agents(format!(
                "agents sent no heartbeat within 20 s (see {}/agent*.log)",
                dir.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends SIGTERM to `pids`, waits up to `grace` for them to exit, then SIGKILLs the ones still
/// running and returns them.
fn terminate(pids: &[i32], grace: Duration) -> Vec<i32> {
    for &pid in pids {
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while pids.iter().any(|&p| alive(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let left: Vec<i32> = pids.iter().copied().filter(|&p| alive(p)).collect();
    for &pid in &left {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    left
}

/// Stops what `up` started in `dir`: agents first (they remove their containers), then redis.
/// A directory without a cluster is the user's mistake; anything else, the environment's.
pub fn down(dir: &Path) -> Result<()> {
    let state = state(dir)?;
    for pid in terminate(&state.agent_pids, Duration::from_secs(15)) {
        eprintln!("agent pid {pid} did not stop in time: killed it (its reaper cleans up)");
    }
    if state.redis_pid > 0 {
        terminate(&[state.redis_pid], Duration::from_secs(5));
    }
    // The namespaces go last: nothing runs in them any more.
    for ns in &state.netns {
        netns::delete_one(ns)?;
    }
    let _ = fs::remove_file(dir.join("redis.sock"));
    let path = dir.join(STATE_FILE);
    fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))
}

/// Reads the state of the cluster that is up in `dir`.
pub fn state(dir: &Path) -> Result<LocalState> {
    let path = dir.join(STATE_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::input(format!(
                "no cluster is up in {} ({} missing)",
                dir.display(),
                path.display()
            )))
        }
        Err(e) => return Err(Error::from(e).context(format!("reading {}", path.display()))),
    };
    crate::protocol::parse("cluster state", &text)
        .map_err(|e| Error::Protocol(format!("{}: {e}", path.display())))
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

/// What the agents of a cluster left on this machine.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Leftovers {
    /// Containers the cluster's backend still lists.
    pub containers: Vec<String>,
    /// Container cgroups, over every hierarchy.
    pub cgroups: Vec<PathBuf>,
    /// Bundle (OCI) or payload (Docker) directories of the agents.
    pub dirs: Vec<PathBuf>,
    /// Processes still running in one of the cluster's containers.
    pub processes: Vec<i32>,
}

impl Leftovers {
    pub fn is_empty(&self) -> bool {
        *self == Leftovers::default()
    }
}

impl fmt::Display for Leftovers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "containers {:?}, cgroups {:?}, dirs {:?}, processes {:?}",
            self.containers, self.cgroups, self.dirs, self.processes
        )
    }
}

/// What the agents of `cluster` have left on this machine now: containers (by the cluster's
/// name prefix, in its backend's list), cgroups, bundle or payload directories, processes.
pub fn leftovers(cluster: &ClusterFile) -> Result<Leftovers> {
    let prefix = cluster_prefix(&cluster.name);
    let containers = list_containers(cluster.runtime)?
        .into_iter()
        .filter(|id| id.starts_with(&prefix))
        .collect();
    let dirs = (0..cluster.agents.len())
        .flat_map(|i| {
            fs::read_dir(cluster.state_dir.join(format!("agent{i}/bundles")))
                .map(|d| d.flatten().map(|e| e.path()).collect::<Vec<_>>())
                .unwrap_or_default()
        })
        .collect();
    Ok(Leftovers {
        containers,
        cgroups: leftover_cgroups(&prefix),
        dirs,
        processes: container_processes(&prefix),
    })
}

/// The network namespaces of `cluster` that exist (after `down`: what it left).
pub fn leftover_namespaces(cluster: &ClusterFile) -> Vec<String> {
    netns::list(&netns::prefix(&cluster.name))
}

/// The message keys of `steps` bursts that `cluster`'s broker still holds (after a run: what
/// it left; every run deletes its own).
pub fn leftover_messages(cluster: &ClusterFile) -> Result<Vec<String>> {
    let mut b = Broker::connect(
        cluster.client_broker(),
        &cluster.name,
        Duration::from_millis(cluster.connect_timeout_ms),
    )?;
    b.keys_with_prefix(&format!("bs:{}:m:", cluster.name))
}

/// What is still left of `cluster` after waiting up to `within` for its agents to clean up
/// (empty: nothing).
pub fn leftovers_within(cluster: &ClusterFile, within: Duration) -> Result<Leftovers> {
    let deadline = Instant::now() + within;
    loop {
        let left = leftovers(cluster)?;
        if left.is_empty() || Instant::now() >= deadline {
            return Ok(left);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
