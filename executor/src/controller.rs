//! The controller: builds a `ClusterView` from the agents' heartbeats, asks the configured
//! policy for a plan, submits one message per container (bursts) or per invocation (FaaS),
//! gathers the results into `FunctionRecord`s, and fails (or, with `retry`, re-places) the
//! functions of an agent whose heartbeats stop. Every wait is bounded by the run timeout.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use policies::comm::StepRecord;
use policies::workload::FunctionInput;
use policies::{
    ActionRef, BurstInfo, ClusterView, FunctionRecord, InvokerView, PlacementError, PlacementPlan,
    PlacementPolicy, PlacementRequest, PolicySpec, Status,
};

use crate::clock;
use crate::cluster::ClusterFile;
use crate::comm::wire::run_prefix;
use crate::comm::{BurstProgram, CommJob, Keys};
use crate::error::{Error, Result};
use crate::payload::{Layout, StepTimes};
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
    /// A `steps` workload: the program every worker runs (inputs are then
    /// `FunctionInput::Steps`), with each worker's drawn compute and sleep times.
    pub comm: Option<Arc<BurstProgram>>,
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
    /// `steps` workloads: one row per executed step of each function that completed.
    pub steps: Vec<StepRecord>,
}

/// A job submitted to an agent and not yet settled.
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

/// Workers `first..first + workers` of burst `burst` (an index into `LiveRun::bursts`),
/// waiting to be placed.
#[derive(Debug, Clone, Copy)]
struct Request {
    burst: usize,
    first: u32,
    workers: u32,
    /// 0 for the first placement; each re-placement of a lost agent's job counts one up.
    attempt: u32,
}

/// What `Controller::run` tracks between its steps (admit, submit, collect, monitor).
struct RunState<'a> {
    run: &'a LiveRun,
    policy: Box<dyn PlacementPolicy>,
    run_id: String,
    results_key: String,
    /// Burst indices in arrival order, and the arrival time of the first.
    order: Vec<usize>,
    at0: f64,
    /// Function id of each burst's worker 0: ids are dense, in arrival order.
    base: Vec<u64>,
    /// One per function, indexed by function id.
    records: Vec<FunctionRecord>,
    done: Vec<bool>,
    traces: Vec<WorkerTrace>,
    steps: Vec<StepRecord>,
    submit_seconds: Vec<(u32, f64)>,
    inflight: BTreeMap<u64, Inflight>,
    /// Per invoker, what this run submitted and has not yet seen finish.
    reserved_cpus: Vec<u32>,
    reserved_mem: Vec<u64>,
    /// Requests waiting for capacity, in FIFO order.
    waiting: VecDeque<Request>,
    /// Index into `order` of the next burst to arrive.
    next_burst: usize,
    next_job: u64,
    next_container: u64,
    /// Id of the last message read from the results stream.
    last_result: String,
    hbs: Vec<Option<Heartbeat>>,
    last_hb: Instant,
    /// CLOCK_REALTIME of the start: record times are relative to it.
    t0: f64,
    deadline: Instant,
}

impl RunState<'_> {
    fn all_done(&self) -> bool {
        self.done.iter().all(|d| *d)
    }

    /// Due bursts join the waiting queue in arrival order, stamped with their submit time.
    fn admit_due(&mut self) {
        let run = self.run;
        let elapsed = clock::now() - self.t0;
        while let Some(&b) = self.order.get(self.next_burst) {
            if run.bursts[b].at - self.at0 > elapsed {
                break;
            }
            let n = run.bursts[b].inputs.len() as u32;
            let t_submit = clock::now() - self.t0;
            for w in 0..n {
                self.records[(self.base[b] + w as u64) as usize].t_submit = t_submit;
            }
            self.waiting.push_back(Request {
                burst: b,
                first: 0,
                workers: n,
                attempt: 0,
            });
            self.next_burst += 1;
        }
    }

    /// The placement request for `req`: the whole burst, or (FaaS) its first function.
    fn placement_request(&self, req: Request) -> PlacementRequest {
        let burst = &self.run.bursts[req.burst];
        if self.run.policy.is_burst() {
            PlacementRequest {
                request_id: PlacementRequest::burst_request_id(burst.burst_id),
                action: burst.action.clone(),
                workers: req.workers,
            }
        } else {
            let f = self.base[req.burst] + req.first as u64;
            PlacementRequest {
                request_id: PlacementRequest::invocation_request_id(f),
                action: burst.action.clone(),
                workers: 1,
            }
        }
    }

    /// Rejects the first waiting request, `req`, when `e` says it can never fit, or does not
    /// fit now and the run rejects rather than queues (first attempts only); true when it did.
    fn reject_unplaceable(&mut self, req: Request, e: PlacementError) -> bool {
        let reason = match e {
            PlacementError::NeverFits { needed, total } => {
                format!("burst of {needed} workers can never fit in {total} CPUs")
            }
            PlacementError::DoesNotFit { .. }
                if self.run.on_no_capacity == OnNoCapacity::Reject && req.attempt == 0 =>
            {
                e.to_string()
            }
            // Not now: wait for capacity (or healthy invokers) to come back.
            _ => return false,
        };
        self.waiting.pop_front();
        self.reject(req, &reason);
        true
    }

    /// Settles the functions of `req` as rejected with `reason`.
    fn reject(&mut self, req: Request, reason: &str) {
        for w in req.first..req.first + req.workers {
            let f = self.base[req.burst] + w as u64;
            if settle(&mut self.done, f) {
                let r = &mut self.records[f as usize];
                r.status = Status::Rejected;
                r.reason = reason.to_string();
            }
        }
    }

    /// Records a submitted job: its capacity is reserved until its result (or its agent's
    /// loss) settles it.
    fn submitted(&mut self, job_id: u64, job: Inflight) {
        self.reserved_cpus[job.invoker as usize] += job.cpus;
        self.reserved_mem[job.invoker as usize] += job.memory_mb;
        self.inflight.insert(job_id, job);
    }

    fn release(&mut self, job: &Inflight) {
        self.reserved_cpus[job.invoker as usize] -= job.cpus;
        self.reserved_mem[job.invoker as usize] -= job.memory_mb;
    }

    /// Settles the functions of the job `res` reports on. A result for a job already settled
    /// (its agent was declared lost) is dropped.
    fn settle_result(&mut self, res: &JobResult) {
        let Some(job) = self.inflight.remove(&res.job_id) else {
            return;
        };
        self.release(&job);
        for (i, &f) in job.functions.iter().enumerate() {
            if settle(&mut self.done, f) {
                let r = &mut self.records[f as usize];
                if let Some(trace) = record_result(r, f, res, i, self.t0) {
                    self.traces.push(trace);
                }
                if let Some(Ok(w)) = res.workers.get(i).filter(|_| res.error.is_none()) {
                    let r = &self.records[f as usize];
                    self.steps.extend(step_records(r, &w.steps, self.t0));
                }
            }
        }
    }

    /// Removes and returns the jobs whose agent has no heartbeat or a new pid.
    fn take_lost_jobs(&mut self) -> Vec<Inflight> {
        let lost: Vec<u64> = self
            .inflight
            .iter()
            .filter(|(_, j)| {
                self.hbs[j.invoker as usize]
                    .as_ref()
                    .is_none_or(|h| h.pid != j.agent_pid)
            })
            .map(|(&id, _)| id)
            .collect();
        lost.iter()
            .filter_map(|id| self.inflight.remove(id))
            .collect()
    }

    /// Fails the functions of a lost agent's job.
    fn fail_lost(&mut self, job: Inflight, hb_timeout_ms: u64) {
        for f in job.functions {
            if settle(&mut self.done, f) {
                let r = &mut self.records[f as usize];
                r.invoker = job.invoker;
                r.status = Status::Failed;
                r.reason = format!(
                    "invoker {} lost: no heartbeat for {hb_timeout_ms} ms, or it restarted",
                    job.invoker
                );
            }
        }
    }
}

/// Fills the record of function `f`, worker `i` of the job `res` reports on; returns the
/// worker's trace when it ran.
fn record_result(
    r: &mut FunctionRecord,
    f: u64,
    res: &JobResult,
    i: usize,
    t0: f64,
) -> Option<WorkerTrace> {
    r.invoker = res.invoker;
    r.container = res.container_id;
    r.cpu = res.cpus.get(i).copied();
    r.cpu_shared = res.cpu_shared;
    r.cold = res.cold;
    r.t_dispatch = res.t_dispatch - t0;
    r.t_container_ready = res.t_ready - t0;
    r.status = Status::Failed;
    match (&res.error, res.workers.get(i)) {
        (None, Some(Ok(w))) => {
            r.status = Status::Ok;
            r.t_start = w.t_start - t0;
            r.t_end = w.t_fn_end - t0;
            return Some(WorkerTrace {
                function_id: f,
                invoker: res.invoker,
                container: res.container_id,
                affinity: w.affinity.clone(),
                output: w.output,
            });
        }
        (None, Some(Err(e))) => r.reason = format!("worker failed: {e}"),
        (Some(e), _) => r.reason = format!("container failed: {e}"),
        (None, None) => r.reason = "no report from the worker".into(),
    }
    None
}

/// The per-step rows of function record `r` from its worker's measured steps.
fn step_records(r: &FunctionRecord, steps: &[StepTimes], t0: f64) -> Vec<StepRecord> {
    steps
        .iter()
        .enumerate()
        .map(|(i, s)| StepRecord {
            function_id: r.function_id,
            burst_id: r.burst_id,
            worker_id: r.worker_id,
            step: i as u32,
            kind: s.kind,
            t_start: s.t_start - t0,
            t_end: s.t_end - t0,
            t_sent: s.t_sent - t0,
            bytes_local: s.bytes_local,
            bytes_remote: s.bytes_remote,
            bytes_uploaded: s.bytes_uploaded,
        })
        .collect()
}

/// Function ids in arrival order (each burst's worker 0) and one record per function, Failed
/// until its result arrives.
fn pending_records(run: &LiveRun, order: &[usize]) -> (Vec<u64>, Vec<FunctionRecord>) {
    let mut base = vec![0u64; run.bursts.len()];
    let mut next = 0u64;
    for &b in order {
        base[b] = next;
        next += run.bursts[b].inputs.len() as u64;
    }
    let mut records: Vec<FunctionRecord> = Vec::with_capacity(next as usize);
    for &b in order {
        let burst = &run.bursts[b];
        for w in 0..burst.inputs.len() as u32 {
            let mut rec =
                FunctionRecord::pending(base[b] + w as u64, burst.burst_id, burst.tenant, w);
            rec.status = Status::Failed;
            records.push(rec);
        }
    }
    (base, records)
}

pub struct Controller {
    cluster: ClusterFile,
    broker: Broker,
}

impl Controller {
    /// Connects to the cluster's broker (clear error when it is down).
    pub fn connect(cluster: ClusterFile) -> Result<Self> {
        let broker = Broker::connect(
            cluster.client_broker(),
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
                return Err(Error::Agents(format!(
                    "no heartbeat from agent(s) {missing:?} within {:.1} s (are they running? \
                     `burstsim cluster up` or `burstsim agent --cluster FILE --id N`)",
                    timeout.as_secs_f64()
                )));
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

    fn run_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.cluster.run_timeout_s)
    }

    /// Runs `run` and returns its records. Functions that cannot complete are reported
    /// `Failed` with the reason; the run never waits longer than the cluster's run timeout.
    pub fn run(&mut self, run: &LiveRun, cancel: &AtomicBool) -> Result<RunOutcome> {
        self.wait_for_agents(Duration::from_millis(self.cluster.heartbeat_timeout_ms * 3))?;
        let mut st = self.start(run)?;
        let cancelled = loop {
            if cancel.load(Ordering::Relaxed) {
                break true;
            }
            if st.all_done() || Instant::now() >= st.deadline {
                break false;
            }
            st.admit_due();
            self.submit(&mut st)?;
            self.collect(&mut st)?;
            self.monitor(&mut st)?;
        };
        Ok(self.finish(st, cancelled))
    }

    /// A new run: an empty results stream, a pending record per function, the deadline.
    fn start<'a>(&mut self, run: &'a LiveRun) -> Result<RunState<'a>> {
        let n_agents = self.cluster.agents.len();
        let policy = run.policy.build();
        let run_id = format!("r{:08x}", (clock::now() * 1e6) as u64 & 0xffff_ffff);
        let results_key = self.broker.results_key(&run_id);
        self.broker.delete(&results_key)?;
        let mut order: Vec<usize> = (0..run.bursts.len()).collect();
        order.sort_by(|&a, &b| run.bursts[a].at.total_cmp(&run.bursts[b].at));
        let at0 = order.first().map(|&i| run.bursts[i].at).unwrap_or(0.0);
        let (base, records) = pending_records(run, &order);
        let hbs = self.heartbeats()?;
        let last_hb = Instant::now();
        let t0 = clock::now();
        // The timeout counts from the last arrival, so long arrival schedules are not cut short.
        let last_at = order.last().map(|&i| run.bursts[i].at - at0).unwrap_or(0.0);
        let deadline =
            Instant::now() + Duration::from_secs_f64(last_at.max(0.0)) + self.run_timeout();
        Ok(RunState {
            run,
            policy,
            run_id,
            results_key,
            order,
            at0,
            base,
            done: vec![false; records.len()],
            records,
            traces: Vec::new(),
            steps: Vec::new(),
            submit_seconds: Vec::new(),
            inflight: BTreeMap::new(),
            reserved_cpus: vec![0; n_agents],
            reserved_mem: vec![0; n_agents],
            waiting: VecDeque::new(),
            next_burst: 0,
            next_job: 0,
            next_container: 0,
            last_result: "0-0".to_string(),
            hbs,
            last_hb,
            t0,
            deadline,
        })
    }

    /// Submits the waiting requests that fit, in FIFO order, up to the first that does not.
    fn submit(&mut self, st: &mut RunState<'_>) -> Result<()> {
        while let Some(&req) = st.waiting.front() {
            let view = view_of(&self.cluster, &st.hbs, &st.reserved_cpus, &st.reserved_mem);
            if !self.submit_first(st, req, &view)? {
                break;
            }
        }
        Ok(())
    }

    /// Places `req`, the first waiting request, and submits it: one message per container
    /// (bursts) or for its first function (FaaS, the rest waits first in the queue). False
    /// when it must wait for capacity; a burst that can never fit, or does not fit now under
    /// `OnNoCapacity::Reject`, is rejected instead.
    fn submit_first(
        &mut self,
        st: &mut RunState<'_>,
        req: Request,
        view: &ClusterView,
    ) -> Result<bool> {
        let burst_mode = st.run.policy.is_burst();
        let t_plan = Instant::now();
        let workers = match st.policy.place(&st.placement_request(req), view) {
            Ok(plan) if burst_mode => {
                st.waiting.pop_front();
                self.send_burst(st, req, plan)?;
                req.workers
            }
            Ok(plan) => match plan.containers.first() {
                Some(c) => {
                    self.send_invocation(st, req, c.invoker)?;
                    1
                }
                None => return Ok(false),
            },
            Err(e) if burst_mode => return Ok(st.reject_unplaceable(req, e)),
            Err(_) => return Ok(false),
        };
        st.submit_seconds
            .push((workers, t_plan.elapsed().as_secs_f64()));
        Ok(true)
    }

    /// Sends one message per container of `plan`, the placement of burst request `req`.
    fn send_burst(
        &mut self,
        st: &mut RunState<'_>,
        req: Request,
        plan: PlacementPlan,
    ) -> Result<()> {
        let run = st.run;
        let burst = &run.bursts[req.burst];
        let cids: Vec<u64> = (0..plan.containers.len() as u64)
            .map(|i| st.next_container + i)
            .collect();
        st.next_container += cids.len() as u64;
        let plan = offset_plan(plan, req.first);
        let layout = Layout::from(&BurstInfo::from_plan(burst.burst_id, &plan, &cids));
        for (c, &cid) in plan.containers.iter().zip(&cids) {
            let job_id = st.next_job;
            st.next_job += 1;
            let lo = c.first_worker as usize;
            let hi = lo + c.workers as usize;
            let msg = AgentMsg::Burst(BurstJob {
                run_id: st.run_id.clone(),
                job_id,
                container_id: cid,
                first_worker: c.first_worker,
                layout: layout.clone(),
                inputs: burst.inputs[lo..hi].to_vec(),
                memory_mb: burst.action.memory_mb,
                seed: run.seed ^ burst.burst_id.rotate_left(32),
                comm: burst.comm.as_ref().map(|p| CommJob {
                    program: p.program.clone(),
                    draws: p.draws[lo..hi].to_vec(),
                    chunk_size: p.chunk_size,
                    backend: p.backend,
                    broker: self.cluster.broker.clone(),
                    keys: Keys::new(&self.cluster.name, &st.run_id, burst.burst_id)
                        .prefix()
                        .to_string(),
                    seed: run.seed ^ burst.burst_id.rotate_left(32),
                    timeout_s: self.cluster.run_timeout_s,
                }),
            });
            self.send(c.invoker, &msg)?;
            let job = Inflight {
                invoker: c.invoker,
                agent_pid: pid_of(&st.hbs, c.invoker),
                functions: (lo..hi).map(|w| st.base[req.burst] + w as u64).collect(),
                cpus: c.workers,
                memory_mb: 0,
                burst: req.burst,
                first_worker: c.first_worker,
                attempt: req.attempt,
            };
            st.submitted(job_id, job);
        }
        Ok(())
    }

    /// FaaS: sends the first function of `req` to invoker `inv`; the rest of the request
    /// waits first in the queue.
    fn send_invocation(&mut self, st: &mut RunState<'_>, req: Request, inv: u32) -> Result<()> {
        let run = st.run;
        let burst = &run.bursts[req.burst];
        let w = req.first;
        let f = st.base[req.burst] + w as u64;
        let job_id = st.next_job;
        st.next_job += 1;
        let msg = AgentMsg::Invoke(InvokeJob {
            run_id: st.run_id.clone(),
            job_id,
            action: format!("{}/{}", burst.action.namespace, burst.action.name),
            memory_mb: burst.action.memory_mb,
            new_container_id: st.next_container,
            worker_id: w,
            burst_id: burst.burst_id,
            input: burst.inputs[w as usize],
            seed: run.seed ^ f.rotate_left(17),
        });
        st.next_container += 1;
        // FaaS clients send one request per function: its own submit time.
        if req.attempt == 0 {
            st.records[f as usize].t_submit = clock::now() - st.t0;
        }
        self.send(inv, &msg)?;
        let job = Inflight {
            invoker: inv,
            agent_pid: pid_of(&st.hbs, inv),
            functions: vec![f],
            cpus: 0,
            memory_mb: burst.action.memory_mb,
            burst: req.burst,
            first_worker: w,
            attempt: req.attempt,
        };
        st.submitted(job_id, job);
        st.waiting.pop_front();
        if req.workers > 1 {
            st.waiting.push_front(Request {
                first: req.first + 1,
                workers: req.workers - 1,
                ..req
            });
        }
        Ok(())
    }

    /// Reads the results that arrived (blocking briefly) and settles their functions.
    fn collect(&mut self, st: &mut RunState<'_>) -> Result<()> {
        // Nothing left to submit: wait longer for results.
        let block = if st.waiting.is_empty() && st.next_burst >= st.order.len() {
            100
        } else {
            5
        };
        let bodies = self.broker.read(
            &st.results_key,
            &mut st.last_result,
            Duration::from_millis(block),
            256,
        )?;
        for body in bodies.into_iter().flatten() {
            match protocol::parse::<JobResult>("job result", &body) {
                Ok(res) if res.run_id == st.run_id => st.settle_result(&res),
                Ok(_) => {}
                Err(e) => eprintln!("controller: rejected: {e}"),
            }
        }
        Ok(())
    }

    /// Invoker monitor: every half heartbeat period, refreshes the heartbeats and settles the
    /// jobs of lost agents (re-placed with `retry`, failed otherwise).
    fn monitor(&mut self, st: &mut RunState<'_>) -> Result<()> {
        if st.last_hb.elapsed() < Duration::from_millis(self.cluster.heartbeat_period_ms / 2) {
            return Ok(());
        }
        st.hbs = self.heartbeats()?;
        st.last_hb = Instant::now();
        for job in st.take_lost_jobs() {
            st.release(&job);
            if self.cluster.retry && job.attempt < 3 {
                eprintln!(
                    "controller: invoker {} lost; re-placing {} function(s)",
                    job.invoker,
                    job.functions.len()
                );
                st.waiting.push_front(Request {
                    burst: job.burst,
                    first: job.first_worker,
                    workers: job.functions.len() as u32,
                    attempt: job.attempt + 1,
                });
            } else {
                st.fail_lost(job, self.cluster.heartbeat_timeout_ms);
            }
        }
        Ok(())
    }

    /// Ends the run: fails what did not complete and has every agent drop the run's
    /// containers (running ones on cancel, warm ones always).
    fn finish(&mut self, mut st: RunState<'_>, cancelled: bool) -> RunOutcome {
        let why = if cancelled {
            "run cancelled".to_string()
        } else {
            format!(
                "run timed out after {:.0} s",
                self.run_timeout().as_secs_f64()
            )
        };
        for (r, done) in st.records.iter_mut().zip(&mut st.done) {
            if !*done {
                *done = true;
                r.status = Status::Failed;
                r.reason = why.clone();
            }
        }
        for inv in 0..self.cluster.agents.len() as u32 {
            let end = AgentMsg::EndRun {
                run_id: st.run_id.clone(),
            };
            if let Err(e) = self.send(inv, &end) {
                eprintln!("controller: could not end the run on invoker {inv}: {e}");
            }
        }
        let _ = self.broker.delete(&st.results_key);
        // The messages of `steps` bursts (most are consumed; broadcasts and abort notices stay).
        if st.run.bursts.iter().any(|b| b.comm.is_some()) {
            let prefix = run_prefix(&self.cluster.name, &st.run_id);
            if let Err(e) = self.broker.delete_prefix(&prefix) {
                eprintln!("controller: could not delete the run's messages {prefix}*: {e}");
            }
        }
        st.traces.sort_by_key(|t| t.function_id);
        st.steps.sort_by_key(|s| (s.function_id, s.step));
        RunOutcome {
            run_id: st.run_id,
            t0: st.t0,
            records: st.records,
            traces: st.traces,
            submit_seconds: st.submit_seconds,
            cancelled,
            steps: st.steps,
        }
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
