//! The agent: one per node, OpenWhisk's invoker. It publishes heartbeats with its free CPUs and
//! memory, consumes its queue, runs each burst container on exclusive CPUs and each FaaS
//! invocation in a warm or new container (kept alive for a while), and sends the results back.
//! Whatever way it ends, its containers, bundles and cgroups are removed (see `reaper`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::backend::{self, Backend};
use crate::bundle::ContainerSpec;
use crate::clock;
use crate::cluster::{physical_cores, AgentSpec, ClusterFile};
use crate::error::{Context, Error, Result};
use crate::payload::{ContainerPayload, DispatchReport, Layout};
use crate::protocol::{self, AgentMsg, BurstJob, Heartbeat, InvokeJob, JobResult};
use crate::reaper;
use crate::transport::Broker;

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

struct Warm {
    name: String,
    run_id: String,
    action: String,
    container_id: u64,
    memory_mb: u64,
    busy: bool,
    idle_since: Instant,
}

#[derive(Default)]
struct State {
    free_cpus: Vec<bool>,
    free_memory_mb: u64,
    /// Containers running a burst: name -> run id.
    running: HashMap<String, String>,
    warm: Vec<Warm>,
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
    fn serve(self: &Arc<Self>, queue: &mut Broker, qkey: &str) {
        let id = self.id;
        let mut last = "0-0".to_string();
        while !self.stop.load(Ordering::Relaxed) {
            let msgs = match queue.read(qkey, &mut last, Duration::from_millis(200), 64) {
                Ok(m) => m,
                Err(e) => {
                    // The broker went away: keep trying (the controller times out what is lost).
                    eprintln!("agent {id}: {e}; retrying");
                    std::thread::sleep(Duration::from_millis(500));
                    continue;
                }
            };
            let t_dispatch = clock::now();
            for body in msgs {
                let Some(body) = body else {
                    eprintln!("agent {id}: rejected a queue message without a body");
                    continue;
                };
                match protocol::parse::<AgentMsg>("agent message", &body) {
                    Ok(AgentMsg::Burst(job)) => {
                        let a = self.clone();
                        std::thread::spawn(move || a.burst(job, t_dispatch));
                    }
                    Ok(AgentMsg::Invoke(job)) => {
                        let a = self.clone();
                        std::thread::spawn(move || a.invoke(job, t_dispatch));
                    }
                    Ok(AgentMsg::EndRun { run_id }) => self.end_run(&run_id),
                    Err(e) => eprintln!("agent {id}: rejected: {e}"),
                }
            }
            self.expire_warm();
        }
    }

    fn name(&self, what: &str) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{}{what}{n}", self.prefix)
    }

    fn publish(&self, r: &JobResult) {
        let body = match serde_json::to_string(r) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("agent {}: cannot encode a result: {e}", self.id);
                return;
            }
        };
        let mut b = self.results.lock().unwrap();
        let key = b.results_key(&r.run_id);
        if let Err(e) = b.push(&key, &body) {
            eprintln!("agent {}: cannot send a result: {e}", self.id);
        }
    }

    fn wait_deadline(&self) -> Instant {
        Instant::now() + Duration::from_secs_f64(self.cluster.run_timeout_s)
    }

    /// Takes `n` free CPUs (lowest indices first), waiting for running containers to end.
    fn take_cpus(&self, n: usize) -> Result<Vec<u32>> {
        let deadline = self.wait_deadline();
        let mut s = self.state.lock().unwrap();
        if n > s.free_cpus.len() {
            return Err(Error::input(format!(
                "container needs {n} CPUs; this invoker has {}",
                s.free_cpus.len()
            )));
        }
        loop {
            let free: Vec<u32> = (0..s.free_cpus.len() as u32)
                .filter(|&c| s.free_cpus[c as usize])
                .take(n)
                .collect();
            if free.len() == n {
                for &c in &free {
                    s.free_cpus[c as usize] = false;
                }
                return Ok(free);
            }
            if self.stop.load(Ordering::Relaxed) || Instant::now() >= deadline {
                return Err(Error::Agents(format!(
                    "timed out waiting for {n} free CPUs"
                )));
            }
            s = self
                .freed
                .wait_timeout(s, Duration::from_millis(100))
                .unwrap()
                .0;
        }
    }

    fn release_cpus(&self, cpus: &[u32]) {
        let mut s = self.state.lock().unwrap();
        for &c in cpus {
            s.free_cpus[c as usize] = true;
        }
        drop(s);
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

    fn burst(&self, job: BurstJob, t_dispatch: f64) {
        let mut result = self.pending_result(&job.run_id, job.job_id, job.container_id, t_dispatch);
        if let Err(e) = self.burst_inner(&job, &mut result) {
            result.error = Some(e.to_string());
        }
        self.publish(&result);
    }

    fn burst_inner(&self, job: &BurstJob, result: &mut JobResult) -> Result<()> {
        let cpus = self.take_cpus(job.inputs.len())?;
        result.cpus = cpus.clone();
        let host: Vec<u32> = cpus.iter().map(|&c| self.host_cpus[c as usize]).collect();
        let name = self.name(&format!("{}-c{}-", job.run_id, job.container_id));
        let out = self.run_container(&name, job, &host);
        self.release_cpus(&cpus);
        let mut report = out?;
        // Pinning is checked against what each worker saw from inside.
        for (w, &cpu) in report.workers.iter_mut().zip(&host) {
            if let Ok(r) = w {
                if r.affinity != [cpu] {
                    *w = Err(format!(
                        "worker {} was to be pinned to CPU {cpu} but ran on {:?}",
                        r.worker_id, r.affinity
                    ));
                }
            }
        }
        result.t_ready = report.t_ready;
        result.workers = report.workers;
        Ok(())
    }

    /// Runs one burst container to completion and returns the dispatcher's report.
    fn run_container(&self, name: &str, job: &BurstJob, host: &[u32]) -> Result<DispatchReport> {
        let mut set: Vec<u32> = host.to_vec();
        set.sort_unstable();
        set.dedup();
        let spec = ContainerSpec {
            id: name.to_string(),
            cpus: Some(set),
            cpu_shares: None,
            memory_mb: job.memory_mb * job.inputs.len() as u64,
            args: vec!["dispatch".into()],
            network: job.comm.is_some(),
        };
        let payload = ContainerPayload {
            container_id: job.container_id,
            invoker_id: self.id,
            first_worker: job.first_worker,
            layout: job.layout.clone(),
            inputs: job.inputs.clone(),
            cpus: host.to_vec(),
            seed: job.seed,
            comm: job.comm.clone(),
        };
        self.state
            .lock()
            .unwrap()
            .running
            .insert(name.to_string(), job.run_id.clone());
        let res = serde_json::to_vec(&payload)
            .map_err(Error::from)
            .and_then(|p| self.backend.run_dispatch(&spec, &p))
            .and_then(|out| parse_report(&out));
        self.state.lock().unwrap().running.remove(name);
        let _ = self.backend.remove(name);
        res
    }

    fn invoke(&self, job: InvokeJob, t_dispatch: f64) {
        let mut result =
            self.pending_result(&job.run_id, job.job_id, job.new_container_id, t_dispatch);
        // Warm until `claim` says otherwise; FaaS containers share the invoker's CPUs.
        result.cold = false;
        result.cpu_shared = true;
        if let Err(e) = self.invoke_inner(&job, &mut result) {
            result.error = Some(e.to_string());
        }
        self.publish(&result);
    }

    /// Claims an idle warm container of the action, or memory for a new one (evicting idle
    /// containers of other actions), waiting while neither is possible.
    fn claim(&self, job: &InvokeJob) -> Result<(String, u64, bool)> {
        let deadline = self.wait_deadline();
        let mut s = self.state.lock().unwrap();
        loop {
            if let Some(w) = s
                .warm
                .iter_mut()
                .find(|w| !w.busy && w.action == job.action && w.run_id == job.run_id)
            {
                w.busy = true;
                return Ok((w.name.clone(), w.container_id, false));
            }
            // Evict idle containers until the new one fits.
            while s.free_memory_mb < job.memory_mb {
                let Some(i) = s.warm.iter().position(|w| !w.busy) else {
                    break;
                };
                let w = s.warm.remove(i);
                s.free_memory_mb += w.memory_mb;
                let _ = self.backend.remove(&w.name);
            }
            if s.free_memory_mb >= job.memory_mb {
                s.free_memory_mb -= job.memory_mb;
                let name = self.name(&format!("{}-w", job.run_id));
                s.warm.push(Warm {
                    name: name.clone(),
                    run_id: job.run_id.clone(),
                    action: job.action.clone(),
                    container_id: job.new_container_id,
                    memory_mb: job.memory_mb,
                    busy: true,
                    idle_since: Instant::now(),
                });
                return Ok((name, job.new_container_id, true));
            }
            if self.stop.load(Ordering::Relaxed) || Instant::now() >= deadline {
                return Err(Error::Agents(format!(
                    "timed out waiting for {} MB of memory",
                    job.memory_mb
                )));
            }
            s = self
                .freed
                .wait_timeout(s, Duration::from_millis(100))
                .unwrap()
                .0;
        }
    }

    fn invoke_inner(&self, job: &InvokeJob, result: &mut JobResult) -> Result<()> {
        let (name, container_id, cold) = self.claim(job)?;
        result.cold = cold;
        result.container_id = container_id;
        let out = (|| {
            if cold {
                let user_mem = self.cluster.agents[self.id as usize].memory_mb.max(1);
                // OpenWhisk: CPU shares proportional to memory, at least 2.
                let shares = (1024 * job.memory_mb / user_mem).max(2);
                let mut set = self.host_cpus.clone();
                set.sort_unstable();
                set.dedup();
                let spec = ContainerSpec {
                    id: name.clone(),
                    cpus: Some(set),
                    cpu_shares: Some(shares),
                    memory_mb: job.memory_mb,
                    args: vec!["idle".into()],
                    network: false,
                };
                self.backend.start_idle(&spec)?;
            }
            let payload = ContainerPayload {
                container_id,
                invoker_id: self.id,
                first_worker: job.worker_id,
                layout: Layout {
                    burst_id: job.burst_id,
                    containers: vec![(self.id, container_id, job.worker_id, job.worker_id)],
                },
                inputs: vec![job.input],
                cpus: Vec::new(),
                seed: job.seed,
                comm: None,
            };
            let out = self
                .backend
                .exec_dispatch(&name, &serde_json::to_vec(&payload)?)?;
            parse_report(&out)
        })();
        let mut s = self.state.lock().unwrap();
        match &out {
            Ok(_) => {
                if let Some(w) = s.warm.iter_mut().find(|w| w.name == name) {
                    w.busy = false;
                    w.idle_since = Instant::now();
                }
            }
            Err(_) => {
                // A container that failed is not reused.
                if let Some(i) = s.warm.iter().position(|w| w.name == name) {
                    let w = s.warm.remove(i);
                    s.free_memory_mb += w.memory_mb;
                }
                let _ = self.backend.remove(&name);
            }
        }
        drop(s);
        self.freed.notify_all();
        let report = out?;
        result.t_ready = report.t_ready;
        result.workers = report.workers;
        Ok(())
    }

    /// Removes warm containers idle for longer than the keep-alive.
    fn expire_warm(&self) {
        let keep = Duration::from_secs_f64(self.cluster.keep_alive_s.max(0.0));
        self.remove_warm(|w| !w.busy && w.idle_since.elapsed() >= keep);
    }

    fn remove_warm(&self, pred: impl Fn(&Warm) -> bool) {
        let mut s = self.state.lock().unwrap();
        let mut gone = Vec::new();
        let mut i = 0;
        while i < s.warm.len() {
            if pred(&s.warm[i]) {
                let w = s.warm.remove(i);
                s.free_memory_mb += w.memory_mb;
                gone.push(w.name);
            } else {
                i += 1;
            }
        }
        drop(s);
        for name in &gone {
            let _ = self.backend.remove(name);
        }
        if !gone.is_empty() {
            self.freed.notify_all();
        }
    }

    /// Ends a run: kills its running burst containers and removes its warm ones.
    fn end_run(&self, run_id: &str) {
        let running: Vec<String> = self
            .state
            .lock()
            .unwrap()
            .running
            .iter()
            .filter(|(_, r)| r.as_str() == run_id)
            .map(|(n, _)| n.clone())
            .collect();
        for name in running {
            let _ = self.backend.remove(&name);
        }
        // Busy FaaS containers too: their exec fails and the invocation reports it.
        self.remove_warm(|w| w.run_id == run_id);
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
