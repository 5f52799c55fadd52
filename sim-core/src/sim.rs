//! The simulator state shared by the component modules, and the event loop. Each component
//! (client, controller, queue, invoker, container pool, dispatcher, CPU model) keeps its state in
//! its own struct and handles its events in an `impl Sim` block in its own module.

use std::borrow::Cow;

use policies::{FunctionRecord, Outcome, PlacementPolicy, Status};

use crate::client::ClientState;
use crate::comm::run::CommRun;
use crate::container::Container;
use crate::controller::ControllerState;
use crate::engine::EventQueue;
use crate::event::Event;
use crate::invoker::InvokerState;
use crate::metrics::{SimOutput, SimStats};
use crate::queue::QueueState;
use crate::scenario::{BurstSpec, CpuModel, Scenario};

/// One request from the client: a whole burst, or one function (faas).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request {
    pub burst: u32,
    pub first_worker: u32,
    pub workers: u32,
}

/// One container placement of a plan: the activation message sent to an invoker.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Message {
    pub burst: u32,
    pub invoker: u32,
    /// Function id of its first worker; its workers are consecutive function ids.
    pub first_fid: u64,
    pub workers: u32,
    /// The next message on the same topic and its delivery time (`u32::MAX`: none yet). The
    /// topic is a list threaded through the messages, so a delivery reads no other block.
    pub next: u32,
    pub next_at: u64,
}

pub(crate) struct Sim<'a> {
    pub sc: &'a Scenario,
    /// The run's seed (per-container creation streams are derived from it).
    pub seed: u64,
    pub policy: Box<dyn PlacementPolicy>,
    /// The controller accounts CPUs (burst policies) rather than memory slots (faas).
    pub exclusive_policy: bool,
    pub exclusive_cpu: bool,
    /// Per action: its functions need a CPU to progress (slow down under CPU shares).
    pub cpu_bound: Vec<bool>,
    /// This run's bursts by arrival (index = burst id): the config's, merged with what the
    /// arrival sources drew for the seed.
    pub bursts: Cow<'a, [BurstSpec]>,
    /// Functions in the run.
    pub functions: u64,
    pub q: EventQueue<Event>,
    pub now: u64,
    /// First submission; record times are relative to it.
    pub t0: Option<u64>,
    pub records: Vec<FunctionRecord>,
    /// Solo run time of each function, ns, drawn up front from per-burst streams so that
    /// every platform variant sees the same workload.
    pub work_ns: Vec<u64>,
    pub client: ClientState,
    pub ctl: ControllerState,
    pub queues: QueueState,
    pub invokers: Vec<InvokerState>,
    pub containers: Vec<Container>,
    pub requests: Vec<Request>,
    pub messages: Vec<Message>,
    pub stats: SimStats,
    /// Functions finished or rejected; the run stops when all are (only keep-alive and
    /// heartbeat housekeeping could remain).
    pub finished: u64,
    /// Scratch for `cpu_done` (kept to avoid an allocation per event).
    pub cpu_done_buf: Vec<(u64, bool)>,
    /// Step programs and the network (`steps` workloads only).
    pub comm: Option<Box<CommRun>>,
}

impl<'a> Sim<'a> {
    pub fn new(sc: &'a Scenario, seed: u64) -> Self {
        let policy = sc.policy.build();
        let exclusive_policy = policy.exclusive_cpus();
        let run = sc.run_bursts(seed);
        let n = run.functions as usize;
        let mut records = Vec::with_capacity(n);
        let mut work_ns = Vec::with_capacity(n);
        for (b, burst) in run.bursts.iter().enumerate() {
            // A `steps` workload has no single input: its draws are in `comm`.
            let mut work = sc.work_ns(seed, b as u64, burst);
            for k in 0..burst.workers {
                let fid = burst.first_function + k as u64;
                records.push(FunctionRecord::pending(fid, b as u64, burst.tenant, k));
                work_ns.push(work.next().unwrap_or(0));
            }
        }
        let stats = SimStats {
            arrival_error: run.error.map(|e| e.to_string()),
            ..SimStats::default()
        };
        let mut sim = Sim {
            sc,
            seed,
            policy,
            exclusive_policy,
            exclusive_cpu: sc.invoker.cpu_model == CpuModel::Exclusive,
            cpu_bound: (0..sc.actions.len() as u32)
                .map(|a| sc.action_is_cpu_bound(a))
                .collect(),
            functions: run.functions,
            q: EventQueue::new(),
            now: 0,
            t0: None,
            records,
            work_ns,
            client: ClientState::new(seed),
            ctl: ControllerState::new(sc, seed),
            queues: QueueState::new(sc, seed),
            invokers: sc
                .invokers
                .iter()
                .enumerate()
                .map(|(i, spec)| {
                    InvokerState::new(
                        i as u32,
                        spec,
                        seed,
                        sc.invoker.cpu_model == CpuModel::Exclusive,
                    )
                })
                .collect(),
            containers: Vec::new(),
            // FaaS sends one request, and publishes one message, per function.
            requests: Vec::with_capacity(if sc.is_burst() { run.bursts.len() } else { n }),
            messages: Vec::with_capacity(if sc.is_burst() { 0 } else { n }),
            bursts: run.bursts,
            stats,
            finished: 0,
            cpu_done_buf: Vec::new(),
            comm: CommRun::new(sc, seed).map(Box::new),
        };
        sim.init_prewarm();
        sim
    }

    pub fn run(mut self) -> SimOutput {
        if self.sc.mode == crate::config::Mode::Direct {
            self.start_direct();
        } else {
            for (b, burst) in self.bursts.iter().enumerate() {
                self.q.push(burst.at_ns, Event::BurstArrive(b as u32));
            }
        }
        while self.finished < self.functions {
            let Some((t, event)) = self.q.pop() else {
                break;
            };
            self.now = t;
            match event {
                Event::BurstArrive(b) => self.burst_arrive(b),
                Event::ClientTry => self.client_try_event(),
                Event::RequestArrive(r) => self.request_arrive(r),
                Event::Place(r) => self.place_event(r),
                Event::Publish(m, left, slot) => self.publish_event(m, left, slot),
                Event::Heartbeat => self.heartbeat(),
                Event::Deliver(inv, m) => self.topic_deliver(inv, m),
                Event::EngineDone(c) => self.engine_done(c),
                Event::CreationCpuDone(inv, gen) => self.creation_cpu_done(inv, gen),
                Event::Created(c) => self.container_created(c),
                Event::WorkerStart(c, k) => self.worker_start(c, k),
                Event::CpuDone(inv, gen) => self.cpu_done(inv, gen),
                Event::ContainerDone(c) => self.container_done(c),
                Event::KeepAlive(c) => self.keep_alive(c),
                Event::StepStart(f) => self.step_start(f),
                Event::StepDone(f) => self.step_end(f),
                Event::CommTimer(op) => self.comm_timer(op),
                Event::NetUpdate => self.net_update(),
                Event::NetDone(gen) => self.net_done(gen),
            }
        }
        self.stats.events = self.q.popped();
        self.stats.peak_event_queue = self.q.peak();
        self.stats.end_time_s = self.secs(self.now);
        // A function still unfinished here was stranded (e.g. a plan no invoker can ever run):
        // say so instead of leaving a silent gap.
        // One pass over the records (they are the largest table of a run).
        let mut rejected = 0;
        for rec in &mut self.records {
            match rec.status() {
                Status::Ok if rec.t_end.is_nan() => {
                    rec.outcome = Outcome::failed("never completed: its message could not be run");
                }
                Status::Rejected => rejected += 1,
                _ => {}
            }
        }
        self.stats.rejected = rejected;
        let (steps, comm) = match self.comm {
            Some(c) => {
                let (steps, stats) = c.into_output();
                (steps, Some(stats))
            }
            None => (Vec::new(), None),
        };
        SimOutput {
            records: self.records,
            stats: self.stats,
            steps,
            comm,
        }
    }

    /// A simulation time as seconds since the first submission.
    #[inline]
    pub fn secs(&self, t: u64) -> f64 {
        let t0 = self.t0.unwrap_or(0);
        t.wrapping_sub(t0) as i64 as f64 / 1e9
    }

    /// Schedules `event` at `time`, never in the past.
    #[inline]
    pub fn at(&mut self, time: u64, event: Event) {
        debug_assert!(time >= self.now);
        self.q.push(time.max(self.now), event);
    }
}
