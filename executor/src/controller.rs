//! The controller: builds a `ClusterView` from the agents' heartbeats, asks the configured
//! policy for a plan, submits one message per container (bursts) or per invocation (FaaS),
//! gathers the results into `FunctionRecord`s, and fails (or, with `retry`, re-places) the
//! functions of an agent whose heartbeats stop. Every wait is bounded by the run timeout.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use policies::workload::FunctionInput;
use policies::{
    ActionRef, BurstInfo, ClusterView, FunctionRecord, InvokerView, PlacementError, PlacementPlan,
    PlacementPolicy, PlacementRequest, PolicySpec, Status,
};

use crate::clock;
use crate::cluster::ClusterFile;
use crate::payload::Layout;
use crate::protocol::{self, AgentMsg, BurstJob, Heartbeat, InvokeJob, JobResult};
use crate::transport::Broker;

/// One group request of a live run.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveBurst {
    pub burst_id: u64,
    /// Submission time, seconds from the start of the run.
    pub at: f64,
    pub tenant: u32,
    pub action: ActionRef,
    /// One input per worker; the burst has `inputs.len()` workers.
    pub inputs: Vec<FunctionInput>,
}

pub use policies::OnNoCapacity;

/// A whole live experiment.
#[derive(Debug, Clone)]
pub struct LiveRun {
    pub policy: PolicySpec,
    pub bursts: Vec<LiveBurst>,
    pub seed: u64,
    pub on_no_capacity: OnNoCapacity,
}

/// What one worker reported besides its record: the CPU set it saw and its output.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WorkerTrace {
    pub function_id: u64,
    pub invoker: u32,
    pub container: u64,
    pub affinity: Vec<u32>,
    pub output: f64,
}

/// The result of a live run.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub run_id: String,
    /// CLOCK_REALTIME of the first submission (record times are relative to it).
    pub t0: f64,
    /// One per function, in function-id order.
    pub records: Vec<FunctionRecord>,
    pub traces: Vec<WorkerTrace>,
    /// (workers, seconds) the controller spent planning and submitting each request.
    pub submit_seconds: Vec<(u32, f64)>,
    /// True when the run was cancelled (Ctrl-C).
    pub cancelled: bool,
}

struct Inflight {
    invoker: u32,
    /// The agent process the job went to: a restarted agent (new pid) lost the job.
    agent_pid: u32,
    /// Function ids of the job's workers, in worker order.
    functions: Vec<u64>,
    cpus: u32,
    memory_mb: u64,
    burst: usize,
    /// Worker ids (within the burst) of the job.
    first_worker: u32,
    /// Retries of a job survive in its functions' ids; attempts are counted per job.
    attempt: u32,
}

pub struct Controller {
    cluster: ClusterFile,
    broker: Broker,
}

impl Controller {
    /// Connects to the cluster's broker (clear error when it is down).
    pub fn connect(cluster: ClusterFile) -> Result<Self> {
        let broker = Broker::connect(
            &cluster.broker,
            &cluster.name,
            Duration::from_millis(cluster.connect_timeout_ms),
        )?;
        Ok(Controller { cluster, broker })
    }

    pub fn cluster(&self) -> &ClusterFile {
        &self.cluster
    }

    pub fn broker(&mut self) -> &mut Broker {
        &mut self.broker
    }

    /// The latest heartbeat of each agent of the cluster file.
    pub fn heartbeats(&mut self) -> Result<Vec<Option<Heartbeat>>> {
        self.broker.heartbeats(self.cluster.agents.len() as u32)
    }

    /// Waits until every agent has sent a heartbeat.
    pub fn wait_for_agents(&mut self, timeout: Duration) -> Result<Vec<Heartbeat>> {
        let deadline = Instant::now() + timeout;
        loop {
            let hbs = self.heartbeats()?;
            if hbs.iter().all(Option::is_some) {
                return Ok(hbs.into_iter().flatten().collect());
            }
            if Instant::now() >= deadline {
                let missing: Vec<usize> = hbs
                    .iter()
                    .enumerate()
                    .filter(|(_, h)| h.is_none())
                    .map(|(i, _)| i)
                    .collect();
                bail!(
                    "no heartbeat from agent(s) {missing:?} within {:.1} s (are they running? \
                     `burstsim cluster up` or `burstsim agent --cluster FILE --id N`)",
                    timeout.as_secs_f64()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `msg` to agent `invoker`'s queue.
    pub fn send(&mut self, invoker: u32, msg: &AgentMsg) -> Result<()> {
        let key = self.broker.queue_key(invoker);
        self.broker.push(&key, &serde_json::to_string(msg)?)?;
        Ok(())
    }

    /// Runs `run` and returns its records. Functions that cannot complete are reported
    /// `Failed` with the reason; the run never waits longer than the cluster's run timeout.
    pub fn run(&mut self, run: &LiveRun, cancel: &AtomicBool) -> Result<RunOutcome> {
        let n_agents = self.cluster.agents.len() as u32;
        self.wait_for_agents(Duration::from_millis(self.cluster.heartbeat_timeout_ms * 3))?;
        let policy = run.policy.build();
        let burst_mode = run.policy.is_burst();
        let run_id = format!("r{:08x}", (clock::now() * 1e6) as u64 & 0xffff_ffff);
        let results_key = self.broker.results_key(&run_id);
        self.broker.delete(&results_key)?;

        let mut order: Vec<usize> = (0..run.bursts.len()).collect();
        order.sort_by(|&a, &b| run.bursts[a].at.total_cmp(&run.bursts[b].at));
        let at0 = order.first().map(|&i| run.bursts[i].at).unwrap_or(0.0);
        // Function ids in submission order.
        let mut base = vec![0u64; run.bursts.len()];
        let mut next = 0u64;
        for &b in &order {
            base[b] = next;
            next += run.bursts[b].inputs.len() as u64;
        }
        let mut records: Vec<FunctionRecord> = Vec::with_capacity(next as usize);
        for &b in &order {
            let burst = &run.bursts[b];
            for w in 0..burst.inputs.len() as u32 {
                let mut rec =
                    FunctionRecord::pending(base[b] + w as u64, burst.burst_id, burst.tenant, w);
                // Failed until the function's result arrives.
                rec.status = Status::Failed;
                records.push(rec);
            }
        }
        let mut done = vec![false; records.len()];
        let mut traces = Vec::new();
        let mut submit_seconds = Vec::new();
        let mut inflight: BTreeMap<u64, Inflight> = BTreeMap::new();
        let mut reserved_cpus = vec![0u32; n_agents as usize];
        let mut reserved_mem = vec![0u64; n_agents as usize];
        // Requests waiting for capacity: (burst, first worker, workers, attempt).
        let mut waiting: VecDeque<(usize, u32, u32, u32)> = VecDeque::new();
        let mut next_burst = 0usize;
        let mut next_job = 0u64;
        let mut next_container = 0u64;
        let mut last_result = "0-0".to_string();
        let mut hbs = self.heartbeats()?;
        let mut last_hb = Instant::now();
        let timeout = Duration::from_secs_f64(self.cluster.run_timeout_s);
        let hb_timeout = self.cluster.heartbeat_timeout_ms;
        let t0 = clock::now();
        let started = Instant::now();
        // The timeout counts from the last arrival, so long arrival schedules are not cut short.
        let last_at = order.last().map(|&i| run.bursts[i].at - at0).unwrap_or(0.0);
        let deadline = started + Duration::from_secs_f64(last_at.max(0.0)) + timeout;
        let mut cancelled = false;

        loop {
            if cancel.load(Ordering::Relaxed) {
                cancelled = true;
                break;
            }
            if done.iter().all(|d| *d) {
                break;
            }
            if Instant::now() >= deadline {
                break;
            }
            // Due bursts join the waiting queue in arrival order.
            let elapsed = clock::now() - t0;
            while next_burst < order.len() && run.bursts[order[next_burst]].at - at0 <= elapsed {
                let b = order[next_burst];
                let n = run.bursts[b].inputs.len() as u32;
                let t_submit = clock::now() - t0;
                for w in 0..n {
                    records[(base[b] + w as u64) as usize].t_submit = t_submit;
                }
                waiting.push_back((b, 0, n, 0));
                next_burst += 1;
            }
            // Submit what fits, in FIFO order.
            while let Some(&(b, first, n, attempt)) = waiting.front() {
                let view = view_of(&self.cluster, &hbs, &reserved_cpus, &reserved_mem);
                let burst = &run.bursts[b];
                let t_plan = Instant::now();
                if burst_mode {
                    let req = PlacementRequest {
                        request_id: PlacementRequest::burst_request_id(burst.burst_id),
                        action: burst.action.clone(),
                        workers: n,
                    };
                    match policy.place(&req, &view) {
                        Ok(plan) => {
                            waiting.pop_front();
                            let cids: Vec<u64> = (0..plan.containers.len() as u64)
                                .map(|i| next_container + i)
                                .collect();
                            next_container += cids.len() as u64;
                            let plan = offset_plan(plan, first);
                            let layout =
                                Layout::from(&BurstInfo::from_plan(burst.burst_id, &plan, &cids));
                            for (c, &cid) in plan.containers.iter().zip(&cids) {
                                let job_id = next_job;
                                next_job += 1;
                                let lo = c.first_worker as usize;
                                let hi = lo + c.workers as usize;
                                let msg = AgentMsg::Burst(BurstJob {
                                    run_id: run_id.clone(),
                                    job_id,
                                    container_id: cid,
                                    first_worker: c.first_worker,
                                    layout: layout.clone(),
                                    inputs: burst.inputs[lo..hi].to_vec(),
                                    memory_mb: burst.action.memory_mb,
                                    seed: run.seed ^ burst.burst_id.rotate_left(32),
                                });
                                self.send(c.invoker, &msg)?;
                                reserved_cpus[c.invoker as usize] += c.workers;
                                inflight.insert(
                                    job_id,
                                    Inflight {
                                        invoker: c.invoker,
                                        agent_pid: pid_of(&hbs, c.invoker),
                                        functions: (lo..hi).map(|w| base[b] + w as u64).collect(),
                                        cpus: c.workers,
                                        memory_mb: 0,
                                        burst: b,
                                        first_worker: c.first_worker,
                                        attempt,
                                    },
                                );
                            }
                            submit_seconds.push((n, t_plan.elapsed().as_secs_f64()));
                        }
                        Err(PlacementError::NeverFits { needed, total }) => {
                            waiting.pop_front();
                            for w in first..first + n {
                                let f = base[b] + w as u64;
                                if settle(&mut done, f) {
                                    let r = &mut records[f as usize];
                                    r.status = Status::Rejected;
                                    r.reason = format!(
                                        "burst of {needed} workers can never fit in {total} CPUs"
                                    );
                                }
                            }
                        }
                        Err(e @ PlacementError::DoesNotFit { .. })
                            if run.on_no_capacity == OnNoCapacity::Reject && attempt == 0 =>
                        {
                            waiting.pop_front();
                            for w in first..first + n {
                                let f = base[b] + w as u64;
                                if settle(&mut done, f) {
                                    let r = &mut records[f as usize];
                                    r.status = Status::Rejected;
                                    r.reason = e.to_string();
                                }
                            }
                        }
                        // Not now: wait for capacity (or healthy invokers) to come back.
                        Err(_) => break,
                    }
                } else {
                    // FaaS: one request, and one message, per invocation.
                    let w = first;
                    let f = base[b] + w as u64;
                    let req = PlacementRequest {
                        request_id: PlacementRequest::invocation_request_id(f),
                        action: burst.action.clone(),
                        workers: 1,
                    };
                    match policy.place(&req, &view) {
                        Ok(plan) if !plan.containers.is_empty() => {
                            let inv = plan.containers[0].invoker;
                            let job_id = next_job;
                            next_job += 1;
                            let msg = AgentMsg::Invoke(InvokeJob {
                                run_id: run_id.clone(),
                                job_id,
                                action: format!("{}/{}", burst.action.namespace, burst.action.name),
                                memory_mb: burst.action.memory_mb,
                                new_container_id: next_container,
                                worker_id: w,
                                burst_id: burst.burst_id,
                                input: burst.inputs[w as usize],
                                seed: run.seed ^ f.rotate_left(17),
                            });
                            next_container += 1;
                            // FaaS clients send one request per function: its own submit time.
                            if attempt == 0 {
                                records[f as usize].t_submit = clock::now() - t0;
                            }
                            self.send(inv, &msg)?;
                            reserved_mem[inv as usize] += burst.action.memory_mb;
                            inflight.insert(
                                job_id,
                                Inflight {
                                    invoker: inv,
                                    agent_pid: pid_of(&hbs, inv),
                                    functions: vec![f],
                                    cpus: 0,
                                    memory_mb: burst.action.memory_mb,
                                    burst: b,
                                    first_worker: w,
                                    attempt,
                                },
                            );
                            submit_seconds.push((1, t_plan.elapsed().as_secs_f64()));
                            waiting.pop_front();
                            if n > 1 {
                                waiting.push_front((b, first + 1, n - 1, attempt));
                            }
                        }
                        _ => break,
                    }
                }
            }
            // Results.
            let block = if waiting.is_empty() && next_burst >= order.len() {
                100
            } else {
                5
            };
            for body in self.broker.read(
                &results_key,
                &mut last_result,
                Duration::from_millis(block),
                256,
            )? {
                let Some(body) = body else { continue };
                let res: JobResult = match protocol::parse("job result", &body) {
                    Ok(r) => r,
                    Err(e) => {
                        eprintln!("controller: rejected: {e}");
                        continue;
                    }
                };
                if res.run_id != run_id {
                    continue;
                }
                // A result for a job already settled (its agent was declared lost) is dropped.
                let Some(job) = inflight.remove(&res.job_id) else {
                    continue;
                };
                reserved_cpus[job.invoker as usize] -= job.cpus;
                reserved_mem[job.invoker as usize] -= job.memory_mb;
                for (i, &f) in job.functions.iter().enumerate() {
                    if !settle(&mut done, f) {
                        continue;
                    }
                    let r = &mut records[f as usize];
                    r.invoker = res.invoker;
                    r.container = res.container_id;
                    r.cpu = res.cpus.get(i).copied();
                    r.cpu_shared = res.cpu_shared;
                    r.cold = res.cold;
                    r.t_dispatch = res.t_dispatch - t0;
                    r.t_container_ready = res.t_ready - t0;
                    match (&res.error, res.workers.get(i)) {
                        (None, Some(Ok(w))) => {
                            r.status = Status::Ok;
                            r.t_start = w.t_start - t0;
                            r.t_end = w.t_fn_end - t0;
                            traces.push(WorkerTrace {
                                function_id: f,
                                invoker: res.invoker,
                                container: res.container_id,
                                affinity: w.affinity.clone(),
                                output: w.output,
                            });
                        }
                        (None, Some(Err(e))) => {
                            r.status = Status::Failed;
                            r.reason = format!("worker failed: {e}");
                        }
                        (Some(e), _) => {
                            r.status = Status::Failed;
                            r.reason = format!("container failed: {e}");
                        }
                        (None, None) => {
                            r.status = Status::Failed;
                            r.reason = "no report from the worker".into();
                        }
                    }
                }
            }
            // Invoker monitor: refresh heartbeats, settle the jobs of lost agents.
            if last_hb.elapsed() >= Duration::from_millis(self.cluster.heartbeat_period_ms / 2) {
                hbs = self.heartbeats()?;
                last_hb = Instant::now();
                let lost: Vec<u64> = inflight
                    .iter()
                    .filter(|(_, j)| {
                        hbs[j.invoker as usize]
                            .as_ref()
                            .is_none_or(|h| h.pid != j.agent_pid)
                    })
                    .map(|(&id, _)| id)
                    .collect();
                for id in lost {
                    let job = inflight.remove(&id).expect("listed above");
                    reserved_cpus[job.invoker as usize] -= job.cpus;
                    reserved_mem[job.invoker as usize] -= job.memory_mb;
                    if self.cluster.retry && job.attempt < 3 {
                        eprintln!(
                            "controller: invoker {} lost; re-placing {} function(s)",
                            job.invoker,
                            job.functions.len()
                        );
                        waiting.push_front((
                            job.burst,
                            job.first_worker,
                            job.functions.len() as u32,
                            job.attempt + 1,
                        ));
                        continue;
                    }
                    for f in job.functions {
                        if settle(&mut done, f) {
                            let r = &mut records[f as usize];
                            r.invoker = job.invoker;
                            r.status = Status::Failed;
                            r.reason = format!(
                                "invoker {} lost: no heartbeat for {hb_timeout} ms, or it restarted",
                                job.invoker
                            );
                        }
                    }
                }
            }
        }
        // Whatever is left did not complete.
        let why = if cancelled {
            "run cancelled".to_string()
        } else {
            format!("run timed out after {:.0} s", timeout.as_secs_f64())
        };
        for f in 0..records.len() {
            if !done[f] {
                done[f] = true;
                records[f].status = Status::Failed;
                records[f].reason = why.clone();
            }
        }
        // Agents drop the run's containers (running ones on cancel, warm ones always).
        for inv in 0..n_agents {
            if let Err(e) = self.send(
                inv,
                &AgentMsg::EndRun {
                    run_id: run_id.clone(),
                },
            ) {
                eprintln!("controller: could not end the run on invoker {inv}: {e:#}");
            }
        }
        let _ = self.broker.delete(&results_key);
        traces.sort_by_key(|t| t.function_id);
        Ok(RunOutcome {
            run_id,
            t0,
            records,
            traces,
            submit_seconds,
            cancelled,
        })
    }
}

/// The pid in invoker `i`'s heartbeat (0 when it has none).
fn pid_of(hbs: &[Option<Heartbeat>], i: u32) -> u32 {
    hbs[i as usize].as_ref().map(|h| h.pid).unwrap_or(0)
}

/// Marks function `f` settled; false when it already was (a duplicate result).
fn settle(done: &mut [bool], f: u64) -> bool {
    !std::mem::replace(&mut done[f as usize], true)
}

/// The controller's view: each invoker's heartbeat, less what this controller has submitted
/// and not yet seen finish (the heartbeat may predate it).
fn view_of(
    cluster: &ClusterFile,
    hbs: &[Option<Heartbeat>],
    reserved_cpus: &[u32],
    reserved_mem: &[u64],
) -> ClusterView {
    ClusterView {
        invokers: cluster
            .agents
            .iter()
            .enumerate()
            .map(|(i, a)| match &hbs[i] {
                Some(h) => InvokerView {
                    id: i as u32,
                    total_cpus: h.total_cpus,
                    free_cpus: h
                        .free_cpus
                        .min(h.total_cpus.saturating_sub(reserved_cpus[i])),
                    user_memory_mb: h.user_memory_mb,
                    free_memory_mb: h.user_memory_mb.saturating_sub(reserved_mem[i]),
                    healthy: true,
                },
                None => InvokerView {
                    id: i as u32,
                    total_cpus: a.cpus,
                    free_cpus: 0,
                    user_memory_mb: a.memory_mb,
                    free_memory_mb: 0,
                    healthy: false,
                },
            })
            .collect(),
    }
}

/// Shifts a plan for workers `0..n` to workers `first..first + n` (re-placed remainders).
fn offset_plan(mut plan: PlacementPlan, first: u32) -> PlacementPlan {
    for c in &mut plan.containers {
        c.first_worker += first;
    }
    plan
}

/// Plans a request without submitting it (for timing the controller).
pub fn plan_only(
    policy: &dyn PlacementPolicy,
    req: &PlacementRequest,
    view: &ClusterView,
) -> Result<PlacementPlan, PlacementError> {
    policy.place(req, view)
}
