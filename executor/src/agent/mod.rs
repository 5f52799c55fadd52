//! The agent: one per node, OpenWhisk's invoker. It publishes heartbeats with its free CPUs and
//! memory, consumes its queue, runs each burst container on exclusive CPUs (`burst`) and each
//! FaaS invocation in a warm or new container kept alive for a while (`faas`), and sends the
//! results back. Delivery is idempotent (`jobs`): a job the broker delivers twice runs once and
//! its result is sent again. A result is sent until the broker takes it, across broker
//! restarts. A run whose controller is gone (its lease expired: the controller was killed) has
//! its containers removed. Whatever way the agent ends, its containers, bundles and cgroups are
//! removed (see `reaper`).

mod burst;
mod faas;
pub mod jobs;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::backend::{self, Backend};
use crate::clock;
use crate::cluster::{physical_cores, AgentSpec, ClusterFile};
use crate::error::{Context, Error, Result};
use crate::payload::DispatchReport;
use crate::protocol::{self, AgentMsg, Heartbeat, JobResult};
use crate::reaper;
use crate::transport::Broker;
use faas::Warm;
use jobs::{Delivery, JobTable};

/// Finds the worker binary: the cluster file's, `$BURSTSIM_WORKER`, or `burstsim-worker` next
/// to the running executable (or one directory up, for test binaries in `deps/`).
pub fn find_worker_binary(cluster: &ClusterFile) -> Result<PathBuf> {
    if let Some(p) = &cluster.worker_binary {
        if p.is_file() {
            return Ok(p.clone());
        }
        return Err(Error::input(format!(
            "at `worker_binary`: {} is not a file",
            p.display()
        )));
    }
    if let Some(p) = std::env::var_os("BURSTSIM_WORKER") {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Ok(p);
        }
        return Err(Error::input(format!(
            "$BURSTSIM_WORKER = {} is not a file",
            p.display()
        )));
    }
    let exe = std::env::current_exe().context("locating the running executable")?;
    for dir in exe
        .parent()
        .into_iter()
        .chain(exe.parent().and_then(Path::parent))
    {
        let p = dir.join("burstsim-worker");
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(Error::Missing(format!(
        "burstsim-worker not found next to {} (build it: cargo build -p executor --bin burstsim-worker, \
         or set worker_binary in the cluster file)",
        exe.display()
    )))
}

/// Container-name prefix of every agent of cluster `name`.
pub fn cluster_prefix(name: &str) -> String {
    format!("bs-{name}-")
}

/// Container-name prefix of agent `id` of cluster `name`: everything the agent creates has it.
pub fn container_prefix(name: &str, id: u32) -> String {
    format!("{}i{id}-", cluster_prefix(name))
}

#[derive(Default)]
struct State {
    free_cpus: Vec<bool>,
    free_memory_mb: u64,
    /// Containers running a burst: name -> (run id, job id).
    running: HashMap<String, (String, u64)>,
    warm: Vec<Warm>,
    jobs: JobTable,
}

struct Agent {
    id: u32,
    cluster: ClusterFile,
    host_cpus: Vec<u32>,
    cpu_shared: bool,
    backend: Box<dyn Backend>,
    bundles: PathBuf,
    prefix: String,
    state: Mutex<State>,
    freed: Condvar,
    results: Mutex<Broker>,
    stop: Arc<AtomicBool>,
    counter: std::sync::atomic::AtomicU64,
}

/// Runs agent `id` of `cluster` until `stop` is set (SIGINT/SIGTERM in `burstsim agent`).
pub fn run(cluster: ClusterFile, id: u32, stop: Arc<AtomicBool>) -> Result<()> {
    let spec = cluster
        .agents
        .get(id as usize)
        .cloned()
        .ok_or_else(|| Error::input(format!("agent {id} is not in the cluster file")))?;
    let timeout = Duration::from_millis(cluster.connect_timeout_ms);
    let mut queue = Broker::connect(&cluster.broker, &cluster.name, timeout)?;
    let results = Broker::connect(&cluster.broker, &cluster.name, timeout)?;
    // Absolute: Docker bind-mounts it by path.
    let worker_binary = find_worker_binary(&cluster)?
        .canonicalize()
        .context("locating the worker binary")?;
    let (agent, _reaper) = Agent::start(cluster, id, &spec, &worker_binary, results, stop)?;
    let agent = Arc::new(agent);
    let qkey = queue.queue_key(id);
    queue.delete(&qkey)?;
    let hb = {
        let a = agent.clone();
        let spec = spec.clone();
        std::thread::spawn(move || heartbeat_loop(a, spec))
    };
    eprintln!(
        "agent {id}: ready: {} CPUs (host {:?}), {} MB, queue {qkey}",
        spec.cpus, agent.host_cpus, spec.memory_mb
    );
    agent.serve(&mut queue, &qkey);
    agent.stop.store(true, Ordering::Relaxed);
    agent.freed.notify_all();
    let _ = hb.join();
    let c = reaper::cleanup(agent.backend.as_ref(), &agent.prefix, &agent.bundles);
    eprintln!("agent {id}: stopped; removed {} containers", c.containers);
    Ok(())
}

/// Starts the reaper, which cleans up when the returned pipe closes (the agent died).
fn spawn_reaper(
    backend: &dyn Backend,
    prefix: &str,
    bundles: &Path,
    worker: &Path,
) -> Result<Child> {
    Command::new(worker)
        .arg("reap")
        .arg("--runtime")
        .arg(backend.reaper_arg())
        .arg("--prefix")
        .arg(prefix)
        .arg("--bundles")
        .arg(bundles)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("starting the reaper {}", worker.display()))
}

fn heartbeat_loop(agent: Arc<Agent>, spec: AgentSpec) {
    let c = &agent.cluster;
    let ttl = Duration::from_millis(c.heartbeat_timeout_ms);
    let period = Duration::from_millis(c.heartbeat_period_ms);
    let mut broker = match Broker::connect(
        &c.broker,
        &c.name,
        Duration::from_millis(c.connect_timeout_ms),
    ) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("agent {}: heartbeat: {e}", agent.id);
            agent.stop.store(true, Ordering::Relaxed);
            return;
        }
    };
    while !agent.stop.load(Ordering::Relaxed) {
        let (free, mem) = {
            let s = agent.state.lock().unwrap();
            (
                s.free_cpus.iter().filter(|f| **f).count() as u32,
                s.free_memory_mb,
            )
        };
        let hb = Heartbeat {
            invoker: agent.id,
            address: spec.address.clone(),
            pid: std::process::id(),
            total_cpus: spec.cpus,
            free_cpus: free,
            user_memory_mb: spec.memory_mb,
            free_memory_mb: mem,
            cpu_shared: agent.cpu_shared,
        };
        if let Err(e) = broker.set_heartbeat(&hb, ttl) {
            eprintln!("agent {}: heartbeat: {e}", agent.id);
        }
        std::thread::sleep(period);
    }
    let _ = broker.delete(&broker.heartbeat_key(agent.id));
}

impl Agent {
    /// Sets agent `id` up: its backend, the leftovers of an earlier agent with its id removed,
    /// and its reaper (returned: it cleans up after this agent once the handle is dropped).
    fn start(
        cluster: ClusterFile,
        id: u32,
        spec: &AgentSpec,
        worker_binary: &Path,
        results: Broker,
        stop: Arc<AtomicBool>,
    ) -> Result<(Agent, Child)> {
        let cores = physical_cores();
        let host_cpus = cluster.host_cpus(id, cores);
        let cpu_shared = cluster.total_cpus() > cores;
        if cpu_shared {
            eprintln!(
                "agent {id}: warning: the cluster declares {} CPUs but this machine has {cores} cores; \
                 workers share cores (records are marked cpu_shared)",
                cluster.total_cpus()
            );
        }
        let dir = cluster.state_dir.join(format!("agent{id}"));
        let labels = [
            (
                crate::docker::LABEL_CLUSTER.to_string(),
                cluster.name.clone(),
            ),
            (crate::docker::LABEL_AGENT.to_string(), id.to_string()),
        ];
        let backend = backend::open(
            cluster.runtime,
            &dir,
            worker_binary,
            &labels,
            Duration::from_secs_f64(cluster.run_timeout_s),
        )
        .with_context(|| format!("agent {id}: runtime `{:?}`", cluster.runtime))?;
        let bundles = dir.join("bundles");
        // Leftovers of any earlier agent with this id; from now on, names carry this process's
        // pid so that the reaper of a crashed predecessor never touches this agent's containers.
        let c = reaper::cleanup(
            backend.as_ref(),
            &container_prefix(&cluster.name, id),
            &bundles,
        );
        if c != reaper::Cleaned::default() {
            eprintln!("agent {id}: removed leftovers of an earlier agent: {c:?}");
        }
        let prefix = format!(
            "{}p{}-",
            container_prefix(&cluster.name, id),
            std::process::id()
        );
        let reaper = spawn_reaper(backend.as_ref(), &prefix, &bundles, worker_binary)?;
        let agent = Agent {
            id,
            host_cpus,
            cpu_shared,
            backend,
            bundles,
            prefix,
            state: Mutex::new(State {
                free_cpus: vec![true; spec.cpus as usize],
                free_memory_mb: spec.memory_mb,
                ..State::default()
            }),
            freed: Condvar::new(),
            results: Mutex::new(results),
            stop,
            counter: Default::default(),
            cluster,
        };
        Ok((agent, reaper))
    }

    /// Consumes queue `qkey` until the stop flag is set; each job runs on a thread of its own.
    /// After a broker restart (its streams lost) the queue is read again from its start, and
    /// runs get a grace period to renew their leases before they count as orphaned.
    fn serve(self: &Arc<Self>, queue: &mut Broker, qkey: &str) {
        let id = self.id;
        let mut last = "0-0".to_string();
        let mut epoch = queue.epoch();
        let mut leases = LeaseCheck::new(&self.cluster);
        while !self.stop.load(Ordering::Relaxed) {
            let msgs = match queue.read(qkey, &mut last, Duration::from_millis(200), 64) {
                Ok(m) => m,
                Err(e) => {
                    // The broker went away: keep trying (the controller waits for it a while).
                    eprintln!("agent {id}: {e}; retrying");
                    std::thread::sleep(Duration::from_millis(500));
                    continue;
                }
            };
            let t_dispatch = clock::now();
            for body in msgs {
                match body {
                    Some(body) => self.handle(&body, t_dispatch),
                    None => eprintln!("agent {id}: rejected a queue message without a body"),
                }
            }
            if queue.epoch() != epoch {
                epoch = queue.epoch();
                last = "0-0".to_string();
                leases.grace();
                eprintln!("agent {id}: the broker restarted; reading the queue from its start");
            }
            self.expire_warm();
            if leases.due() {
                self.end_orphaned_runs(queue, &leases);
            }
        }
    }

    /// Acts on one queue message.
    fn handle(self: &Arc<Self>, body: &str, t_dispatch: f64) {
        let msg = match protocol::parse::<AgentMsg>("agent message", body) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("agent {}: rejected: {e}", self.id);
                return;
            }
        };
        let (run_id, job_id) = match &msg {
            AgentMsg::Burst(j) => (&j.run_id, j.job_id),
            AgentMsg::Invoke(j) => (&j.run_id, j.job_id),
            AgentMsg::EndRun { run_id } => return self.end_run(run_id),
            AgentMsg::Stop { run_id, job_id } => return self.stop_job(run_id, *job_id),
        };
        let delivery = self.state.lock().unwrap().jobs.deliver(run_id, job_id);
        let a = self.clone();
        match (delivery, msg) {
            (Delivery::Run, AgentMsg::Burst(job)) => {
                std::thread::spawn(move || a.burst(job, t_dispatch));
            }
            (Delivery::Run, AgentMsg::Invoke(job)) => {
                std::thread::spawn(move || a.invoke(job, t_dispatch));
            }
            (Delivery::Resend(result), _) => {
                std::thread::spawn(move || a.send(&result));
            }
            _ => {}
        }
    }

    fn name(&self, what: &str) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{}{what}{n}", self.prefix)
    }

    /// Records job `r`'s result and sends it.
    fn publish(&self, r: &JobResult) {
        self.state.lock().unwrap().jobs.done(r);
        self.send(r);
    }

    /// Sends a result until the broker takes it (retrying, with backoff, across a broker
    /// restart) or the agent stops.
    fn send(&self, r: &JobResult) {
        let body = match serde_json::to_string(r) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("agent {}: cannot encode a result: {e}", self.id);
                return;
            }
        };
        let mut pause = Duration::from_millis(100);
        loop {
            let sent = self.results.lock().unwrap().push_result(&r.run_id, &body);
            match sent {
                Ok(()) => return,
                Err(e) if self.stop.load(Ordering::Relaxed) => {
                    eprintln!(
                        "agent {}: result of job {} not sent: {e}",
                        self.id, r.job_id
                    );
                    return;
                }
                Err(e) => {
                    eprintln!("agent {}: cannot send a result yet: {e}; retrying", self.id);
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// Stops job `job_id` of `run_id`: it never starts, or its container is removed (its
    /// result then reports the failure; the controller has settled it already).
    fn stop_job(&self, run_id: &str, job_id: u64) {
        let victims: Vec<String> = {
            let mut s = self.state.lock().unwrap();
            if !s.jobs.stop(run_id, job_id) {
                return;
            }
            let job = (run_id.to_string(), job_id);
            s.running
                .iter()
                .filter(|(_, j)| **j == job)
                .map(|(n, _)| n.clone())
                .chain(
                    s.warm
                        .iter()
                        .filter(|w| w.run_id == run_id && w.job == Some(job_id))
                        .map(|w| w.name.clone()),
                )
                .collect()
        };
        for name in victims {
            let _ = self.backend.remove(&name);
        }
        self.freed.notify_all();
    }

    /// Ends the runs this agent holds something of whose controller is gone: no lease.
    fn end_orphaned_runs(&self, broker: &mut Broker, leases: &LeaseCheck) {
        if leases.in_grace() {
            return;
        }
        let runs: Vec<String> = {
            let s = self.state.lock().unwrap();
            let mut runs = s.jobs.runs();
            runs.extend(s.warm.iter().map(|w| w.run_id.clone()));
            runs.extend(s.running.values().map(|(r, _)| r.clone()));
            runs.into_iter().collect()
        };
        let held = match broker.leases(&runs) {
            Ok(h) => h,
            Err(e) => {
                eprintln!("agent {}: cannot check run leases: {e}", self.id);
                return;
            }
        };
        for (run, held) in runs.iter().zip(held) {
            if !held {
                eprintln!(
                    "agent {}: run {run}: its controller is gone (no lease); removing its containers",
                    self.id
                );
                self.end_run(run);
            }
        }
    }

    /// Ends a run: kills its running burst containers and removes its warm ones; takes no
    /// new job of it.
    fn end_run(&self, run_id: &str) {
        let running: Vec<String> = {
            let mut s = self.state.lock().unwrap();
            s.jobs.end(run_id);
            s.running
                .iter()
                .filter(|(_, (r, _))| r.as_str() == run_id)
                .map(|(n, _)| n.clone())
                .collect()
        };
        for name in running {
            let _ = self.backend.remove(&name);
        }
        // Busy FaaS containers too: their exec fails and the invocation reports it.
        self.remove_warm(|w| w.run_id == run_id);
        self.freed.notify_all();
    }

    /// The result of job `job_id` of `run_id` before it runs: not ready, no worker report.
    fn pending_result(
        &self,
        run_id: &str,
        job_id: u64,
        container_id: u64,
        t_dispatch: f64,
    ) -> JobResult {
        JobResult {
            run_id: run_id.to_string(),
            job_id,
            invoker: self.id,
            container_id,
            t_dispatch,
            t_ready: f64::NAN,
            cold: true,
            cpus: Vec::new(),
            cpu_shared: self.cpu_shared,
            workers: Vec::new(),
            error: None,
        }
    }

    fn wait_deadline(&self) -> Instant {
        Instant::now() + Duration::from_secs_f64(self.cluster.run_timeout_s)
    }
}

/// When the agent checks the leases of the runs it holds, and the grace period after a broker
/// restart (leases lost with it) during which a missing lease does not count.
struct LeaseCheck {
    period: Duration,
    grace_for: Duration,
    next: Instant,
    grace_until: Instant,
}

impl LeaseCheck {
    fn new(cluster: &ClusterFile) -> Self {
        LeaseCheck {
            period: Duration::from_millis(cluster.heartbeat_period_ms),
            // A controller renews its lease at least every heartbeat period once it reaches
            // the broker again; it reconnects with backoff of up to 2 s.
            grace_for: Duration::from_millis(cluster.heartbeat_timeout_ms) + Duration::from_secs(5),
            next: Instant::now(),
            grace_until: Instant::now(),
        }
    }

    /// True once a period has passed since the last check (and starts the next period).
    fn due(&mut self) -> bool {
        let now = Instant::now();
        if now < self.next {
            return false;
        }
        self.next = now + self.period;
        true
    }

    fn grace(&mut self) {
        self.grace_until = Instant::now() + self.grace_for;
    }

    fn in_grace(&self) -> bool {
        Instant::now() < self.grace_until
    }
}

fn parse_report(out: &std::process::Output) -> Result<DispatchReport> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().rev().find(|l| !l.trim().is_empty());
    match (out.status.success(), line) {
        (true, Some(line)) => protocol::parse("dispatch report", line).map_err(Error::Protocol),
        _ => {
            let mut err = String::from_utf8_lossy(&out.stderr).trim().to_string();
            if err.is_empty() {
                err = "no output".into();
            }
            Err(Error::Container(format!(
                "container exited with {}: {err}",
                out.status
            )))
        }
    }
}
