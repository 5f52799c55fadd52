//! The controller: builds a `ClusterView` from the agents' heartbeats, asks the configured
//! policy for a plan, submits one message per container (bursts) or per invocation (FaaS),
//! and gathers the results into `FunctionRecord`s, one per attempt of a function. Failures (a
//! worker that crashed or was OOM-killed, a container that failed, an agent whose heartbeats
//! stop or that restarted) go to the run's recovery policy (`policies::recovery`, the same as
//! the simulator's), which may re-run functions elsewhere as new attempts (`state`).
//!
//! While it runs, the controller holds a lease on the run in the broker: agents remove the
//! containers of a run whose lease expired (its controller was killed). A broker restart is
//! survived: calls reconnect with backoff for `broker_outage_s`, then the controller renews its
//! lease, re-sends the jobs in flight (agents run each job once and send a finished job's
//! result again) and re-reads the results. Every wait is bounded by the run timeout.

mod attempts;
mod state;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use policies::comm::StepRecord;
use policies::workload::FunctionInput;
use policies::{
    ActionRef, BurstInfo, ClusterView, FunctionRecord, InvokerView, Outcome, PlacementError,
    PlacementPlan, PlacementPolicy, PlacementRequest, PolicySpec, RecoverySpec,
};

use crate::clock;
use crate::cluster::ClusterFile;
use crate::comm::wire::run_prefix;
use crate::comm::{BurstProgram, CommJob, Keys};
use crate::error::{Error, Result};
use crate::payload::Layout;
use crate::protocol::{self, AgentMsg, BurstJob, Heartbeat, InvokeJob, JobResult};
use crate::transport::Broker;
use attempts::Attempts;
use state::{first_attempts, Inflight, Request, RunState};

/// How long a run waits for the agents to be idle before it starts.
const IDLE_WAIT: Duration = Duration::from_secs(10);

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
    /// What happens when functions fail or straggle (the cluster file's `retry = true` stands
    /// for a re-run policy when this is `none`).
    pub recovery: RecoverySpec,
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
    /// One per attempt of each function, by function id then attempt.
    pub records: Vec<FunctionRecord>,
    /// One per completed function, by function id.
    pub traces: Vec<WorkerTrace>,
    /// (workers, seconds) the controller spent planning and submitting each request.
    pub submit_seconds: Vec<(u32, f64)>,
    /// True when the run was cancelled (Ctrl-C).
    pub cancelled: bool,
    /// The recovery policy the run had (see `Controller::recovery_for`).
    pub recovery: RecoverySpec,
    /// `steps` workloads: one row per executed step of each function that completed, by
    /// function id then step.
    pub steps: Vec<StepRecord>,
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
        )?
        .reconnecting_for(Duration::from_secs_f64(cluster.broker_outage_s));
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

    /// Waits (at most `timeout`) until no agent holds a container or a CPU, so that a run
    /// starts on an idle cluster as a simulated one does, not while an earlier run's
    /// containers are still being removed; after the timeout (another controller's run, say)
    /// it starts anyway. Both counts are needed: a burst container leaves the agent's count
    /// before its removal ends and its CPUs are freed, and a run started on a heartbeat of
    /// that moment placed nothing on the agent until its next heartbeat (dispatch 0.2 s late).
    pub fn wait_until_idle(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let busy: Vec<(u32, u32, u32)> = self
                .heartbeats()?
                .iter()
                .flatten()
                .filter(|h| h.containers > 0 || h.free_cpus < h.total_cpus)
                .map(|h| {
                    (
                        h.invoker,
                        h.containers,
                        h.total_cpus - h.free_cpus.min(h.total_cpus),
                    )
                })
                .collect();
            if busy.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                eprintln!(
                    "controller: agents still hold containers or CPUs (agent, containers, CPUs) {busy:?} after \
                     {:.0} s; starting the run anyway",
                    timeout.as_secs_f64()
                );
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `msg` to agent `invoker`'s queue.
    pub fn send(&mut self, invoker: u32, msg: &AgentMsg) -> Result<()> {
        self.send_raw(invoker, &serde_json::to_string(msg)?)
    }

    fn send_raw(&mut self, invoker: u32, body: &str) -> Result<()> {
        let key = self.broker.queue_key(invoker);
        self.broker.push(&key, body)?;
        Ok(())
    }

    fn run_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.cluster.run_timeout_s)
    }

    /// How long a run's lease lasts without renewal: agents remove the containers of a run
    /// whose lease expired.
    fn lease_ttl(&self) -> Duration {
        Duration::from_millis(2 * self.cluster.heartbeat_timeout_ms)
    }

    /// The recovery policy `run` gets on this cluster: its own, or for `none` on a cluster
    /// file with `retry = true`, re-runs.
    pub fn recovery_for(&self, run: &LiveRun) -> RecoverySpec {
        match (&run.recovery, self.cluster.retry) {
            (RecoverySpec::None, true) if run.policy.is_burst() => {
                RecoverySpec::RerunFailedWorkers { retries: 3 }
            }
            (RecoverySpec::None, true) => RecoverySpec::Openwhisk { client_retries: 3 },
            (spec, _) => spec.clone(),
        }
    }

    /// Runs `run` and returns its records. Functions that cannot complete are reported
    /// `Failed` with the reason; the run never waits longer than the cluster's run timeout.
    pub fn run(&mut self, run: &LiveRun, cancel: &AtomicBool) -> Result<RunOutcome> {
        check_comm_recovery(run, &self.recovery_for(run))?;
        self.wait_for_agents(Duration::from_millis(self.cluster.heartbeat_timeout_ms * 3))?;
        self.wait_until_idle(self.run_timeout().min(IDLE_WAIT))?;
        let mut st = self.start(run)?;
        // On an error (the broker gone for good) the agents end the run once its lease expires.
        let cancelled = self.steps(&mut st, cancel)?;
        Ok(self.finish(st, cancelled))
    }

    /// The run's steps until every function is settled, the deadline passes or `cancel` is
    /// set (then true).
    fn steps(&mut self, st: &mut RunState<'_>, cancel: &AtomicBool) -> Result<bool> {
        loop {
            if cancel.load(Ordering::Relaxed) {
                return Ok(true);
            }
            if st.all_done() || Instant::now() >= st.deadline {
                return Ok(false);
            }
            self.after_broker_restart(st)?;
            st.admit_due();
            self.submit(st)?;
            self.collect(st)?;
            self.monitor(st)?;
            self.send_stops(st);
        }
    }

    /// A new run: its lease, an empty results stream, the first attempt of every function,
    /// the deadline.
    fn start<'a>(&mut self, run: &'a LiveRun) -> Result<RunState<'a>> {
        let n_agents = self.cluster.agents.len();
        let run_id = format!("r{:08x}", (clock::now() * 1e6) as u64 & 0xffff_ffff);
        self.broker.renew_lease(&run_id, self.lease_ttl())?;
        let results_key = self.broker.results_key(&run_id);
        self.broker.delete(&results_key)?;
        let mut order: Vec<usize> = (0..run.bursts.len()).collect();
        order.sort_by(|&a, &b| run.bursts[a].at.total_cmp(&run.bursts[b].at));
        let at0 = order.first().map(|&i| run.bursts[i].at).unwrap_or(0.0);
        let (base, records) = first_attempts(run, &order);
        let hbs = self.heartbeats()?;
        let t0 = clock::now();
        // The timeout counts from the last arrival, so long arrival schedules are not cut short.
        let last_at = order.last().map(|&i| run.bursts[i].at - at0).unwrap_or(0.0);
        let deadline =
            Instant::now() + Duration::from_secs_f64(last_at.max(0.0)) + self.run_timeout();
        Ok(RunState {
            run,
            policy: run.policy.build(),
            recovery: self.recovery_for(run).build(),
            run_id,
            results_key,
            order,
            at0,
            base,
            attempts: Attempts::new(records),
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
            last_hb: Instant::now(),
            grace_until: Instant::now(),
            broker_epoch: self.broker.epoch(),
            to_stop: Vec::new(),
            t0,
            deadline,
        })
    }

    /// After a broker restart (which lost its streams and keys): renews the lease, gives the
    /// agents a heartbeat timeout to publish their heartbeats again, re-sends every job in
    /// flight (an agent runs a job once, and sends a finished one's result again) and reads
    /// the results stream from its start.
    fn after_broker_restart(&mut self, st: &mut RunState<'_>) -> Result<()> {
        if self.broker.epoch() == st.broker_epoch {
            return Ok(());
        }
        st.broker_epoch = self.broker.epoch();
        self.broker.renew_lease(&st.run_id, self.lease_ttl())?;
        st.grace_until = Instant::now()
            + Duration::from_millis(self.cluster.heartbeat_timeout_ms)
            + Duration::from_secs(2);
        st.last_result = "0-0".to_string();
        let resend: Vec<(u32, String)> = st
            .inflight
            .values()
            .map(|j| (j.invoker, j.message.clone()))
            .collect();
        for (invoker, body) in &resend {
            self.send_raw(*invoker, body)?;
        }
        eprintln!(
            "controller: the broker restarted; re-sent {} job(s) in flight",
            resend.len()
        );
        Ok(())
    }

    /// Submits the waiting requests that fit, in FIFO order, up to the first that does not.
    fn submit(&mut self, st: &mut RunState<'_>) -> Result<()> {
        while let Some(&req) = st.waiting.front() {
            if st.settled_while_waiting(req) {
                st.waiting.pop_front();
                continue;
            }
            let view = view_of(&self.cluster, &st.hbs, &st.reserved_cpus, &st.reserved_mem);
            let view = st.view_for(req, view);
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
            // Unhealthy agents may come back (restarted, or after a broker restart): a request
            // waits unless even the whole declared cluster could never hold it.
            Err(PlacementError::NeverFits { .. }) if burst_mode && self.fits_declared(st, req) => {
                return Ok(false)
            }
            Err(e) if burst_mode => return Ok(st.reject_unplaceable(req, e)),
            Err(_) => return Ok(false),
        };
        st.submit_seconds
            .push((workers, t_plan.elapsed().as_secs_f64()));
        Ok(true)
    }

    /// True when `req` fits the cluster file's agents, all healthy and idle.
    fn fits_declared(&self, st: &RunState<'_>, req: Request) -> bool {
        let idle = ClusterView {
            invokers: self
                .cluster
                .agents
                .iter()
                .enumerate()
                .map(|(i, a)| InvokerView {
                    id: i as u32,
                    total_cpus: a.cpus,
                    free_cpus: a.cpus,
                    user_memory_mb: a.memory_mb,
                    free_memory_mb: a.memory_mb,
                    healthy: true,
                })
                .collect(),
        };
        st.policy.place(&st.placement_request(req), &idle).is_ok()
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
        let functions = st.functions_of(req);
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
                comm: self.comm_job(st, burst, lo..hi, None),
            });
            let message = serde_json::to_string(&msg)?;
            self.send_raw(c.invoker, &message)?;
            let skip = lo - req.first as usize;
            let job = Inflight {
                invoker: c.invoker,
                agent_pid: pid_of(&st.hbs, c.invoker),
                functions: functions[skip..skip + c.workers as usize].to_vec(),
                cpus: c.workers,
                memory_mb: 0,
                burst: req.burst,
                backed_up: false,
                message,
            };
            st.submitted(job_id, job);
        }
        Ok(())
    }

    /// The part of a `steps` burst's program that workers `workers` run (`None` for other
    /// bursts); `faas`: the burst's size when each function is its own pack.
    fn comm_job(
        &self,
        st: &RunState<'_>,
        burst: &LiveBurst,
        workers: std::ops::Range<usize>,
        faas: Option<usize>,
    ) -> Option<CommJob> {
        let p = burst.comm.as_ref()?;
        Some(CommJob {
            program: p.program.clone(),
            draws: p.draws[workers].to_vec(),
            chunk_size: p.chunk_size,
            backend: p.backend,
            broker: self.cluster.broker.clone(),
            keys: Keys::new(&self.cluster.name, &st.run_id, burst.burst_id)
                .prefix()
                .to_string(),
            seed: st.run.seed ^ burst.burst_id.rotate_left(32),
            timeout_s: self.cluster.run_timeout_s,
            faas_workers: faas.map(|n| n as u32),
        })
    }

    /// FaaS: sends the first function of `req` to invoker `inv`; the rest of the request
    /// waits first in the queue.
    fn send_invocation(&mut self, st: &mut RunState<'_>, req: Request, inv: u32) -> Result<()> {
        let run = st.run;
        let burst = &run.bursts[req.burst];
        let w = req.first;
        let f = st.base[req.burst] + w as u64;
        let a = st.attempts.latest(f);
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
            comm: self.comm_job(
                st,
                burst,
                w as usize..w as usize + 1,
                Some(burst.inputs.len()),
            ),
        });
        st.next_container += 1;
        // FaaS clients send one request per function: its own submit time.
        if a == 0 {
            st.attempts.record_mut(f, 0).t_submit = st.now();
        }
        let message = serde_json::to_string(&msg)?;
        self.send_raw(inv, &message)?;
        let job = Inflight {
            invoker: inv,
            agent_pid: pid_of(&st.hbs, inv),
            functions: vec![(f, a)],
            cpus: 0,
            memory_mb: burst.action.memory_mb,
            burst: req.burst,
            backed_up: false,
            message,
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

    /// Every half heartbeat period: renews the run's lease, refreshes the heartbeats, settles
    /// the jobs of lost agents (the recovery policy decides what then), and asks for backup
    /// copies of stragglers.
    fn monitor(&mut self, st: &mut RunState<'_>) -> Result<()> {
        if st.last_hb.elapsed() < Duration::from_millis(self.cluster.heartbeat_period_ms / 2) {
            return Ok(());
        }
        self.broker.renew_lease(&st.run_id, self.lease_ttl())?;
        st.hbs = self.heartbeats()?;
        st.last_hb = Instant::now();
        // Heartbeats read just after a broker restart are missing: grace first.
        self.after_broker_restart(st)?;
        for (job_id, job) in st.take_lost_jobs() {
            let reason = format!(
                "invoker {} lost: no heartbeat for {} ms, or it restarted",
                job.invoker, self.cluster.heartbeat_timeout_ms
            );
            eprintln!(
                "controller: job {job_id} ({} function(s), first {}) failed: {reason}",
                job.functions.len(),
                job.functions
                    .first()
                    .map(|&(f, _)| st.describe(f))
                    .unwrap_or_default()
            );
            st.fail_job(job, &reason);
        }
        st.speculate();
        Ok(())
    }

    /// Stops, on their agents, the jobs the last steps settled while they ran.
    fn send_stops(&mut self, st: &mut RunState<'_>) {
        for (invoker, job_id) in std::mem::take(&mut st.to_stop) {
            let msg = AgentMsg::Stop {
                run_id: st.run_id.clone(),
                job_id,
            };
            if let Err(e) = self.send(invoker, &msg) {
                eprintln!("controller: could not stop job {job_id} on invoker {invoker}: {e}");
            }
        }
    }

    /// Ends the run: fails what did not complete, has every agent drop the run's containers
    /// (running ones on cancel, warm ones always), and gives up the lease.
    fn finish(&mut self, mut st: RunState<'_>, cancelled: bool) -> RunOutcome {
        let why = if cancelled {
            "run cancelled".to_string()
        } else {
            format!(
                "run timed out after {:.0} s",
                self.run_timeout().as_secs_f64()
            )
        };
        st.attempts
            .close_all_open(|_| Outcome::failed(why.as_str()));
        for inv in 0..self.cluster.agents.len() as u32 {
            let end = AgentMsg::EndRun {
                run_id: st.run_id.clone(),
            };
            if let Err(e) = self.send(inv, &end) {
                eprintln!("controller: could not end the run on invoker {inv}: {e}");
            }
        }
        let _ = self.broker.delete(&st.results_key);
        let lease = self.broker.lease_key(&st.run_id);
        let _ = self.broker.delete(&lease);
        // The messages of `steps` bursts (most are consumed; broadcasts and abort notices stay).
        if st.run.bursts.iter().any(|b| b.comm.is_some()) {
            let prefix = run_prefix(&self.cluster.name, &st.run_id);
            if let Err(e) = self.broker.delete_prefix(&prefix) {
                eprintln!("controller: could not delete the run's messages {prefix}*: {e}");
            }
        }
        let (run_id, t0, submit_seconds) = (st.run_id.clone(), st.t0, st.submit_seconds.clone());
        let recovery = self.recovery_for(st.run);
        let (records, traces, steps) = st.into_parts();
        RunOutcome {
            run_id,
            t0,
            records,
            traces,
            submit_seconds,
            cancelled,
            recovery,
            steps,
        }
    }
}

/// A `steps` burst cannot re-run part of itself (the messages its partners sent are consumed,
/// their steps done): only `none` and `fail-burst` recover it.
fn check_comm_recovery(run: &LiveRun, recovery: &RecoverySpec) -> Result<()> {
    let comm = run.bursts.iter().any(|b| b.comm.is_some());
    if comm && !matches!(recovery, RecoverySpec::None | RecoverySpec::FailBurst) {
        return Err(Error::input(format!(
            "recovery `{}`: a communicating (`steps`) burst cannot re-run part of itself (its \
             partners' messages are gone): use `none` or `fail-burst` (and `retry = false` in \
             the cluster file)",
            recovery.name()
        )));
    }
    Ok(())
}

/// The pid in invoker `i`'s heartbeat (0 when it has none).
fn pid_of(hbs: &[Option<Heartbeat>], i: u32) -> u32 {
    hbs[i as usize].as_ref().map(|h| h.pid).unwrap_or(0)
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
