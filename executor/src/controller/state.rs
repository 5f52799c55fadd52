//! What a live run tracks between the controller's steps, and the rules that settle its
//! functions: a result settles the attempts of its job; a failed attempt (worker crash,
//! OOM kill, container failure, lost agent) goes to the run's recovery policy, which keeps the
//! failure, fails the burst, or re-runs functions as new attempts; a backup copy that finishes
//! first supersedes the original and the other way round. No I/O here: messages the steps
//! decide on (stops) are queued for the controller to send.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Instant;

use policies::comm::StepRecord;
use policies::{
    ClusterView, FunctionRecord, Outcome, PlacementError, PlacementPolicy, PlacementRequest,
    Recovery, RecoveryPolicy, RerunScope,
};

use super::attempts::Attempts;
use super::{LiveRun, OnNoCapacity, WorkerTrace};
use crate::clock;
use crate::payload::StepTimes;
use crate::protocol::{Heartbeat, JobResult};

/// A job submitted to an agent and not yet settled.
pub(super) struct Inflight {
    pub(super) invoker: u32,
    /// The agent process the job went to: a restarted agent (new pid) lost the job.
    pub(super) agent_pid: u32,
    /// (function id, attempt) of the job's workers, in worker order.
    pub(super) functions: Vec<(u64, u32)>,
    pub(super) cpus: u32,
    pub(super) memory_mb: u64,
    /// Index into `LiveRun::bursts`.
    pub(super) burst: usize,
    /// A backup copy of it was queued (speculation).
    pub(super) backed_up: bool,
    /// The message as sent, to send again after a broker restart (agents run a job once).
    pub(super) message: String,
}

/// Workers `first..first + workers` of burst `burst` (an index into `LiveRun::bursts`),
/// waiting to be placed.
#[derive(Debug, Clone, Copy)]
pub(super) struct Request {
    pub(super) burst: usize,
    pub(super) first: u32,
    pub(super) workers: u32,
    /// A re-run or a backup copy (not the client's first request).
    pub(super) rerun: bool,
    /// Placed away from this invoker when the others could ever hold it.
    pub(super) avoid: Option<u32>,
}

/// The state of one live run.
pub(super) struct RunState<'a> {
    pub(super) run: &'a LiveRun,
    pub(super) policy: Box<dyn PlacementPolicy>,
    pub(super) recovery: Box<dyn RecoveryPolicy>,
    pub(super) run_id: String,
    pub(super) results_key: String,
    /// Burst indices in arrival order, and the arrival time of the first.
    pub(super) order: Vec<usize>,
    pub(super) at0: f64,
    /// Function id of each burst's worker 0: ids are dense, in arrival order.
    pub(super) base: Vec<u64>,
    pub(super) attempts: Attempts,
    pub(super) traces: Vec<WorkerTrace>,
    /// Per-step rows of the completed functions of `steps` bursts.
    pub(super) steps: Vec<StepRecord>,
    pub(super) submit_seconds: Vec<(u32, f64)>,
    pub(super) inflight: BTreeMap<u64, Inflight>,
    /// Per invoker, what this run submitted and has not yet seen finish.
    pub(super) reserved_cpus: Vec<u32>,
    pub(super) reserved_mem: Vec<u64>,
    /// Requests waiting for capacity, in FIFO order (re-runs first).
    pub(super) waiting: VecDeque<Request>,
    /// Index into `order` of the next burst to arrive.
    pub(super) next_burst: usize,
    pub(super) next_job: u64,
    pub(super) next_container: u64,
    /// Id of the last message read from the results stream.
    pub(super) last_result: String,
    pub(super) hbs: Vec<Option<Heartbeat>>,
    pub(super) last_hb: Instant,
    /// Until then, a missing heartbeat does not make an agent lost (after a broker restart,
    /// which loses heartbeats, agents need a moment to publish again).
    pub(super) grace_until: Instant,
    /// The broker restarts seen so far (`Broker::epoch`).
    pub(super) broker_epoch: u64,
    /// Jobs to stop on their agents: (invoker, job id).
    pub(super) to_stop: Vec<(u32, u64)>,
    /// CLOCK_REALTIME of the start: record times are relative to it.
    pub(super) t0: f64,
    pub(super) deadline: Instant,
}

impl RunState<'_> {
    pub(super) fn all_done(&self) -> bool {
        self.attempts.open() == 0
    }

    /// Seconds since the start of the run.
    pub(super) fn now(&self) -> f64 {
        clock::now() - self.t0
    }

    fn burst_of(&self, f: u64) -> usize {
        // `base` is ascending in arrival order: the burst whose range holds `f`.
        let i = self.order.partition_point(|&b| self.base[b] <= f) - 1;
        self.order[i]
    }

    fn workers_of(&self, burst: usize) -> u32 {
        self.run.bursts[burst].inputs.len() as u32
    }

    /// Due bursts join the waiting queue in arrival order, stamped with their submit time.
    pub(super) fn admit_due(&mut self) {
        let run = self.run;
        let elapsed = self.now();
        while let Some(&b) = self.order.get(self.next_burst) {
            if run.bursts[b].at - self.at0 > elapsed {
                break;
            }
            let n = self.workers_of(b);
            let t_submit = self.now();
            for w in 0..n {
                self.attempts
                    .record_mut(self.base[b] + w as u64, 0)
                    .t_submit = t_submit;
            }
            self.waiting.push_back(Request {
                burst: b,
                first: 0,
                workers: n,
                rerun: false,
                avoid: None,
            });
            self.next_burst += 1;
        }
    }

    /// The placement request for `req`: the whole burst, or (FaaS) its first function.
    pub(super) fn placement_request(&self, req: Request) -> PlacementRequest {
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

    /// The view `req` is placed on: away from the invoker it failed on, when it asks so.
    pub(super) fn view_for(&self, req: Request, view: ClusterView) -> ClusterView {
        match req.avoid {
            Some(inv) => policies::recovery::avoiding(&view, inv, req.workers),
            None => view,
        }
    }

    /// (function id, its newest attempt) of each worker of `req`.
    pub(super) fn functions_of(&self, req: Request) -> Vec<(u64, u32)> {
        (req.first..req.first + req.workers)
            .map(|w| {
                let f = self.base[req.burst] + w as u64;
                (f, self.attempts.latest(f))
            })
            .collect()
    }

    /// True when none of `req`'s newest attempts is open any more (a backup copy whose
    /// original finished first, a re-run of a burst that failed): it needs no placement.
    pub(super) fn settled_while_waiting(&self, req: Request) -> bool {
        self.functions_of(req)
            .iter()
            .all(|&(f, a)| !self.attempts.is_open(f, a))
    }

    /// Rejects the first waiting request, `req`, when `e` says it can never fit, or does not
    /// fit now and the run rejects rather than queues (first requests only); true when it did.
    pub(super) fn reject_unplaceable(&mut self, req: Request, e: PlacementError) -> bool {
        let reason = match e {
            PlacementError::NeverFits { needed, total } => {
                format!("burst of {needed} workers can never fit in {total} CPUs")
            }
            PlacementError::DoesNotFit { .. }
                if self.run.on_no_capacity == OnNoCapacity::Reject && !req.rerun =>
            {
                e.to_string()
            }
            // Not now: wait for capacity (or healthy invokers) to come back.
            _ => return false,
        };
        self.waiting.pop_front();
        for (f, a) in self.functions_of(req) {
            self.attempts
                .close(f, a, Outcome::rejected(reason.as_str()));
        }
        true
    }

    /// Records a submitted job: its capacity is reserved until its result (or its agent's
    /// loss) settles it.
    pub(super) fn submitted(&mut self, job_id: u64, job: Inflight) {
        self.reserved_cpus[job.invoker as usize] += job.cpus;
        self.reserved_mem[job.invoker as usize] += job.memory_mb;
        self.inflight.insert(job_id, job);
    }

    fn release(&mut self, job: &Inflight) {
        self.reserved_cpus[job.invoker as usize] -= job.cpus;
        self.reserved_mem[job.invoker as usize] -= job.memory_mb;
    }

    /// Settles the attempts of the job `res` reports on (a result for a job settled already,
    /// e.g. of a lost agent, is dropped), then applies the recovery policy to its failures.
    pub(super) fn settle_result(&mut self, res: &JobResult) {
        let Some(job) = self.inflight.remove(&res.job_id) else {
            return;
        };
        self.release(&job);
        let mut failed = Vec::new();
        for (i, &(f, a)) in job.functions.iter().enumerate() {
            if !self.attempts.is_open(f, a) {
                continue;
            }
            let (outcome, trace) =
                record_result(self.attempts.record_mut(f, a), f, res, i, self.t0);
            if outcome.is_ok() {
                if let Some(Ok(w)) = res.workers.get(i) {
                    let r = self.attempts.record_mut(f, a);
                    self.steps.extend(step_records(r, &w.steps, self.t0));
                }
                self.attempts.close(f, a, Outcome::Ok);
                self.traces.extend(trace);
                self.supersede(f, a);
            } else {
                let reason = outcome.reason().to_string();
                self.attempts.close(f, a, outcome);
                failed.push((f, a, reason));
            }
        }
        if !failed.is_empty() {
            self.recover(&job, failed);
        }
        self.stop_settled_jobs();
    }

    /// Function `f` completed in attempt `winner`: its other open attempts (backup copies, or
    /// the original a backup beat) are settled as superseded.
    fn supersede(&mut self, f: u64, winner: u32) {
        for a in 0..=self.attempts.latest(f) {
            if a != winner {
                self.attempts.close(
                    f,
                    a,
                    Outcome::failed(format!("superseded: attempt {winner} finished first")),
                );
            }
        }
    }

    /// Jobs all of whose attempts are settled (superseded, failed with their burst) are
    /// stopped on their agents and their capacity released.
    fn stop_settled_jobs(&mut self) {
        let settled: Vec<u64> = self
            .inflight
            .iter()
            .filter(|(_, j)| {
                j.functions
                    .iter()
                    .all(|&(f, a)| !self.attempts.is_open(f, a))
            })
            .map(|(&id, _)| id)
            .collect();
        for id in settled {
            if let Some(job) = self.inflight.remove(&id) {
                self.release(&job);
                self.to_stop.push((job.invoker, id));
            }
        }
    }

    /// Removes and returns the jobs whose agent restarted (another pid), or, outside the grace
    /// period after a broker restart, has no heartbeat.
    pub(super) fn take_lost_jobs(&mut self) -> Vec<(u64, Inflight)> {
        let in_grace = Instant::now() < self.grace_until;
        let lost: Vec<u64> = self
            .inflight
            .iter()
            .filter(|(_, j)| match &self.hbs[j.invoker as usize] {
                Some(h) => h.pid != j.agent_pid,
                None => !in_grace,
            })
            .map(|(&id, _)| id)
            .collect();
        lost.iter()
            .filter_map(|id| self.inflight.remove(id).map(|j| (*id, j)))
            .collect()
    }

    /// Fails the open attempts of `job` (its agent was lost) with `reason`, then applies the
    /// recovery policy.
    pub(super) fn fail_job(&mut self, job: Inflight, reason: &str) {
        self.release(&job);
        let mut failed = Vec::new();
        for &(f, a) in &job.functions {
            let r = self.attempts.record_mut(f, a);
            r.invoker = job.invoker;
            if self.attempts.close(f, a, Outcome::failed(reason)) {
                failed.push((f, a, reason.to_string()));
            }
        }
        if !failed.is_empty() {
            self.recover(&job, failed);
        }
        self.stop_settled_jobs();
    }

    /// What the recovery policy says about the failed attempts `failed` of `job`, done. A
    /// function that still has another open attempt (a backup copy, or the original of one)
    /// is left to it.
    fn recover(&mut self, job: &Inflight, failed: Vec<(u64, u32, String)>) {
        let mut rerun = Vec::new();
        let mut scope = RerunScope::Functions;
        let mut burst_failure = None;
        for (f, a, reason) in failed {
            if self.attempts.other_open(f, a) {
                continue;
            }
            match self.recovery.on_failure(a) {
                Recovery::Keep => {}
                Recovery::FailBurst => {
                    burst_failure.get_or_insert((f, reason));
                }
                Recovery::Rerun(s) => {
                    scope = s;
                    rerun.push((f, reason));
                }
            }
        }
        if scope == RerunScope::Pack && !rerun.is_empty() {
            // The whole container runs again: what its other workers completed is discarded.
            let (culprit, why) = rerun[0].clone();
            for &(f, a) in &job.functions {
                if !rerun.iter().any(|(g, _)| *g == f) && !self.attempts.other_open(f, a) {
                    if self.attempts.record(f, a).is_ok() {
                        self.attempts.rewrite(
                            f,
                            a,
                            Outcome::failed(format!(
                                "discarded: its pack runs again after function {culprit} failed ({why})"
                            )),
                        );
                    }
                    rerun.push((f, String::new()));
                }
            }
        }
        if !rerun.is_empty() {
            let avoid = (scope != RerunScope::Invocation).then_some(job.invoker);
            let functions: Vec<u64> = rerun.into_iter().map(|(f, _)| f).collect();
            self.queue_rerun(job.burst, &functions, avoid);
        }
        if let Some((f, reason)) = burst_failure {
            self.fail_burst(job.burst, f, &reason);
        }
    }

    /// Opens a new attempt of each of `functions` (of burst `burst`) and queues them first,
    /// one request per run of consecutive workers.
    fn queue_rerun(&mut self, burst: usize, functions: &[u64], avoid: Option<u32>) {
        let now = self.now();
        let base = self.base[burst];
        let mut workers: Vec<u32> = functions.iter().map(|&f| (f - base) as u32).collect();
        workers.sort_unstable();
        workers.dedup();
        let mut ranges: Vec<(u32, u32)> = Vec::new();
        for &w in &workers {
            self.attempts.open_next(base + w as u64, now);
            match ranges.last_mut() {
                Some((first, n)) if *first + *n == w => *n += 1,
                _ => ranges.push((w, 1)),
            }
        }
        for &(first, n) in ranges.iter().rev() {
            self.waiting.push_front(Request {
                burst,
                first,
                workers: n,
                rerun: true,
                avoid,
            });
        }
    }

    /// `fail-burst`: function `culprit` of burst `burst` failed (`reason`): every other open
    /// attempt of the burst is settled as failed, its running jobs stopped and its waiting
    /// requests dropped.
    fn fail_burst(&mut self, burst: usize, culprit: u64, reason: &str) {
        let base = self.base[burst];
        let why = Outcome::failed(format!(
            "burst failed: function {culprit} failed ({reason})"
        ));
        for f in base..base + self.workers_of(burst) as u64 {
            for a in 0..=self.attempts.latest(f) {
                self.attempts.close(f, a, why.clone());
            }
        }
        self.waiting.retain(|r| r.burst != burst);
    }

    /// Speculation: for each burst with jobs in flight, the time past which its running
    /// attempts are stragglers (the recovery policy's `backup_after` over the times, from
    /// submission to end, of the burst's completed attempts); each straggling job gets one
    /// backup copy, placed away from its invoker.
    pub(super) fn speculate(&mut self) {
        let bursts: BTreeSet<usize> = self
            .inflight
            .values()
            .filter(|j| !j.backed_up)
            .map(|j| j.burst)
            .collect();
        let now = self.now();
        for b in bursts {
            let finished = self.completion_times(b);
            let Some(after) = self.recovery.backup_after(self.workers_of(b), &finished) else {
                continue;
            };
            let stragglers: Vec<u64> = self
                .inflight
                .iter()
                .filter(|(_, j)| j.burst == b && !j.backed_up)
                .filter(|(_, j)| {
                    j.functions.iter().all(|&(f, a)| {
                        self.attempts.is_open(f, a)
                            && !self.attempts.other_open(f, a)
                            && now - self.attempts.record(f, a).t_submit > after
                    })
                })
                .map(|(&id, _)| id)
                .collect();
            for id in stragglers {
                let job = self.inflight.get_mut(&id).expect("listed above");
                job.backed_up = true;
                let functions: Vec<u64> = job.functions.iter().map(|&(f, _)| f).collect();
                let invoker = job.invoker;
                self.queue_rerun(b, &functions, Some(invoker));
            }
        }
    }

    /// Sorted times, from submission to end, of the completed attempts of burst `b`.
    fn completion_times(&self, b: usize) -> Vec<f64> {
        let base = self.base[b];
        let mut times: Vec<f64> = (base..base + self.workers_of(b) as u64)
            .flat_map(|f| {
                (0..=self.attempts.latest(f))
                    .map(move |a| (f, a))
                    .filter(|&(f, a)| !self.attempts.is_open(f, a))
                    .map(|(f, a)| self.attempts.record(f, a))
                    .filter(|r| r.is_ok())
                    .map(|r| r.t_end - r.t_submit)
                    .collect::<Vec<_>>()
            })
            .collect();
        times.sort_by(f64::total_cmp);
        times
    }

    /// Every record of the run, by function id then attempt; the traces and step rows by
    /// function id.
    pub(super) fn into_parts(self) -> (Vec<FunctionRecord>, Vec<WorkerTrace>, Vec<StepRecord>) {
        let mut traces = self.traces;
        traces.sort_by_key(|t| t.function_id);
        let mut steps = self.steps;
        steps.sort_by_key(|s| (s.function_id, s.step));
        (self.attempts.into_records(), traces, steps)
    }

    /// The burst function `f` belongs to (for logs).
    pub(super) fn describe(&self, f: u64) -> String {
        let b = self.burst_of(f);
        format!(
            "function {f} (burst {}, worker {})",
            self.run.bursts[b].burst_id,
            f - self.base[b]
        )
    }
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

/// Fills the record of function `f`, worker `i` of the job `res` reports on; returns its
/// outcome and, when it completed, the worker's trace.
fn record_result(
    r: &mut FunctionRecord,
    f: u64,
    res: &JobResult,
    i: usize,
    t0: f64,
) -> (Outcome, Option<WorkerTrace>) {
    r.invoker = res.invoker;
    r.container = res.container_id;
    r.cpu = res.cpus.get(i).copied();
    r.cpu_shared = res.cpu_shared;
    r.cold = res.cold;
    r.t_dispatch = res.t_dispatch - t0;
    r.t_container_ready = res.t_ready - t0;
    match (&res.error, res.workers.get(i)) {
        (None, Some(Ok(w))) => {
            r.t_start = w.t_start - t0;
            r.t_end = w.t_fn_end - t0;
            let trace = WorkerTrace {
                function_id: f,
                invoker: res.invoker,
                container: res.container_id,
                affinity: w.affinity.clone(),
                output: w.output,
            };
            (Outcome::Ok, Some(trace))
        }
        (None, Some(Err(e))) => (Outcome::failed(format!("worker failed: {e}")), None),
        (Some(e), _) => (Outcome::failed(format!("container failed: {e}")), None),
        (None, None) => (Outcome::failed("no report from the worker"), None),
    }
}

/// Function ids in arrival order (each burst's worker 0) and attempt 0 of every function.
pub(super) fn first_attempts(run: &LiveRun, order: &[usize]) -> (Vec<u64>, Vec<FunctionRecord>) {
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
            records.push(FunctionRecord::pending(
                base[b] + w as u64,
                burst.burst_id,
                burst.tenant,
                w,
            ));
        }
    }
    (base, records)
}
