//! The simulator state shared by the component modules, and the event loop. Each component
//! (client, controller, queue, invoker, container pool, dispatcher, CPU model) keeps its state in
//! its own struct and handles its events in an `impl Sim` block in its own module.
//!
//! The handlers on a FaaS invocation's path (client send, controller, placement, publish,
//! delivery, warm start, dispatch, completion) are `#[inline(always)]`: folded into the event
//! loop they save about 200 instructions of calls and register saves per invocation, a tenth
//! of the anchor benchmark's engine time (README, Scale).

use std::sync::Arc;
use std::thread::Scope;

use policies::PlacementPolicy;

use crate::arrivals::read_ahead::ReadAhead;
use crate::arrivals::TraceError;
use crate::client::ClientState;
use crate::comm::run::CommRun;
use crate::comm::CommStats;
use crate::container::{CState, Container};
use crate::controller::ControllerState;
use crate::engine::{EventQueue, MAX_TIME};
use crate::event::Event;
use crate::faults::FaultRun;
use crate::invoker::InvokerState;
use crate::metrics::{Footprint, SimStats};
use crate::queue::QueueState;
use crate::records::{RecordRing, NONE};
use crate::scenario::{BurstSpec, CpuModel, RunArrivals, Scenario};
use crate::sink::{RecordSink, SinkError};
use crate::slab::Slab;

/// One request from the client: a whole burst, or one function (faas); or a re-run that the
/// controller places itself (faults).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request {
    pub burst: u64,
    /// Function id of its first function; its functions are consecutive ids. With faults, an
    /// attempt id (attempt 0 of function `f` is `f`; re-runs are `faults::EXTRA | k`).
    pub first_fid: u64,
    pub workers: u32,
    pub action: u32,
    /// A re-run placed away from this invoker when the others could hold it (`u32::MAX`:
    /// none).
    pub avoid: u32,
}

/// No message (end of a topic or of a plan).
pub(crate) const NO_MESSAGE: u32 = u32::MAX;

/// One container placement of a plan: the activation message sent to an invoker.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Message {
    /// Burst id (step programs find a burst's other messages by it).
    pub burst: u64,
    pub action: u32,
    pub invoker: u32,
    /// Function id of its first worker; its workers are consecutive function ids (with
    /// faults: attempt ids).
    pub first_fid: u64,
    pub workers: u32,
    /// The next message on the same topic and its delivery time (`u32::MAX`: none yet). The
    /// topic is a list threaded through the messages, so a delivery reads no other block.
    pub next: u32,
    pub next_at: u64,
    /// The next message of the same plan, published after this one (`NO_MESSAGE`: last).
    pub plan_next: u32,
}

pub(crate) struct Sim<'a> {
    pub sc: &'a Scenario,
    pub policy: Box<dyn PlacementPolicy>,
    /// The controller accounts CPUs (burst policies) rather than memory slots (faas).
    pub exclusive_policy: bool,
    pub exclusive_cpu: bool,
    /// Per action: its functions need a CPU to progress (slow down under CPU shares).
    pub cpu_bound: Vec<bool>,
    pub q: EventQueue<Event>,
    /// Timer id of invoker 0's next CPU completion (invoker i: `cpu_timers + i`).
    pub cpu_timers: usize,
    /// The run's bursts, pulled one ahead: `next_arrival` is the next to arrive.
    pub arrivals: ArrivalFeed<'a>,
    pub next_arrival: Option<BurstSpec>,
    /// Bursts pulled so far.
    pub pulled: u64,
    /// Functions of the bursts arrived so far.
    pub arrived: u64,
    pub now: u64,
    /// First submission; record times are relative to it.
    pub t0: Option<u64>,
    /// The records of the functions in flight (with their work), released in id order.
    pub records: RecordRing,
    pub client: ClientState<'a>,
    pub ctl: ControllerState,
    pub queues: QueueState,
    pub invokers: Vec<InvokerState>,
    /// Containers alive (a removed one's slot is reused; records name containers by id).
    pub containers: Slab<Container>,
    /// Requests not yet placed or rejected.
    pub requests: Slab<Request>,
    /// Messages published and not yet completed.
    pub messages: Slab<Message>,
    pub stats: SimStats,
    /// Functions finished or rejected; the run stops when all are and no burst is left to
    /// arrive (only keep-alive and heartbeat housekeeping could remain).
    pub finished: u64,
    /// The run's seed (per-container creation streams are derived from it, among others).
    pub seed: u64,
    /// Scratch for `cpu_done` (kept to avoid an allocation per event).
    pub cpu_done_buf: Vec<(u64, bool)>,
    /// Step programs and the network (`steps` workloads only).
    pub comm: Option<Box<CommRun>>,
    /// The fault model (runs with `[faults]` only).
    pub fx: Option<Box<FaultRun>>,
}

/// Bursts a run pulls itself before a thread reads the rest ahead: short runs start no thread.
const READ_AHEAD_AFTER: u64 = 1 << 15;

/// Where the simulator pulls its bursts from: the arrival source itself, or (a long run, after
/// [`READ_AHEAD_AFTER`] bursts) a thread that draws the same bursts ahead.
pub(crate) enum ArrivalFeed<'a> {
    Inline(RunArrivals<'a>),
    Ahead(ReadAhead<Result<BurstSpec, TraceError>>),
    /// Only while switching.
    Gone,
}

impl<'a> ArrivalFeed<'a> {
    /// Moves the rest of the source to a thread of `scope` that draws it ahead.
    fn read_ahead<'scope>(&mut self, scope: &'scope Scope<'scope, '_>)
    where
        'a: 'scope,
    {
        if let ArrivalFeed::Inline(source) = std::mem::replace(self, ArrivalFeed::Gone) {
            *self = ArrivalFeed::Ahead(ReadAhead::spawn(scope, source));
        }
    }
}

impl Iterator for ArrivalFeed<'_> {
    type Item = Result<BurstSpec, TraceError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            ArrivalFeed::Inline(source) => source.next(),
            ArrivalFeed::Ahead(ahead) => ahead.next(),
            ArrivalFeed::Gone => None,
        }
    }
}

/// What a run ends with besides its records (and its steps, also handed to the sink).
#[derive(Debug, Clone)]
pub struct RunEnd {
    pub stats: SimStats,
    /// Communication counters of a `steps` workload.
    pub comm: Option<CommStats>,
}

impl<'a> Sim<'a> {
    pub fn new(sc: &'a Scenario, seed: u64) -> Self {
        let policy = sc.policy.build();
        let exclusive_policy = policy.exclusive_cpus();
        let mut sim = Sim {
            sc,
            policy,
            exclusive_policy,
            exclusive_cpu: sc.invoker.cpu_model == CpuModel::Exclusive,
            cpu_bound: (0..sc.actions.len() as u32)
                .map(|a| sc.action_is_cpu_bound(a))
                .collect(),
            q: EventQueue::new(),
            cpu_timers: 0,
            arrivals: ArrivalFeed::Inline(sc.run_arrivals(seed)),
            next_arrival: None,
            pulled: 0,
            arrived: 0,
            now: 0,
            t0: None,
            records: RecordRing::default(),
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
            containers: Slab::default(),
            requests: Slab::default(),
            messages: Slab::default(),
            stats: SimStats::default(),
            finished: 0,
            seed,
            cpu_done_buf: Vec::new(),
            comm: CommRun::new(sc, seed).map(Box::new),
            fx: sc
                .faults
                .as_ref()
                .map(|_| Box::new(FaultRun::new(sc, seed))),
        };
        if sim.comm.is_some() {
            // Step programs read a burst's layout from its neighbouring messages and name
            // containers by slot: their tables keep every row (steps runs are small).
            sim.containers.keep_rows();
            sim.messages.keep_rows();
        }
        if sim.fx.is_some() {
            // The fault state names requests, messages and containers by slot after they end.
            sim.containers.keep_rows();
            sim.messages.keep_rows();
            sim.requests.keep_rows();
        }
        sim.cpu_timers = sim.q.add_timers(sim.invokers.len());
        sim.init_prewarm();
        sim.init_contention();
        sim
    }

    /// Runs to the end, handing the records to `sink` once they are final (in id order),
    /// and each step of a `steps` workload as it ends.
    pub fn run(self, sink: &mut dyn RecordSink) -> Result<RunEnd, SinkError> {
        // The scope holds the thread that reads a long run's arrivals ahead; the simulator
        // (and with it the consumer side) is dropped before the scope ends, even on a panic,
        // which stops that thread.
        std::thread::scope(move |scope| self.run_in(scope, sink))
    }

    fn run_in<'scope>(
        mut self,
        scope: &'scope Scope<'scope, '_>,
        sink: &mut dyn RecordSink,
    ) -> Result<RunEnd, SinkError>
    where
        'a: 'scope,
    {
        let direct = self.sc.mode == crate::config::Mode::Direct;
        if direct {
            self.start_direct();
        } else {
            self.pull_arrival();
            if self.fx.is_some() {
                self.start_faults();
            }
        }
        while self.next_arrival.is_some() || self.finished < self.arrived {
            // The next arrival runs before every pending event at its instant or later, as if
            // all arrivals had been scheduled before the run started.
            if let Some(at) = self.next_arrival.as_ref().map(|b| b.at_ns.min(MAX_TIME)) {
                if self.q.next_time().is_none_or(|t| at <= t) {
                    self.now = at;
                    self.q.count_first_lane();
                    self.burst_arrive();
                    if self.pulled == READ_AHEAD_AFTER {
                        self.arrivals.read_ahead(scope);
                    }
                    self.after_event(sink)?;
                    continue;
                }
            }
            let Some((t, event)) = self.q.pop() else {
                // Drained: a timer event replaced before it was due would have been popped
                // (as a no-op) by now.
                self.now = self.now.max(self.q.replaced_until());
                break;
            };
            self.now = t;
            match event {
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
                Event::InvokerCrash(inv, source) => self.invoker_crash(inv, source),
                Event::InvokerRecover(inv) => self.invoker_recover(inv),
                Event::InvokerOffline(inv, epoch) => self.invoker_offline(inv, epoch),
                Event::InvokerPing(inv, epoch) => self.invoker_ping(inv, epoch),
                Event::WorkerEnd(c, k, run) => self.worker_end(c, k, run),
                Event::WorkerBegin(c, k, run) => self.worker_begin(c, k, run),
                Event::AckTimeout(m) => self.ack_timeout(m),
                Event::BrokerUp => self.broker_up(),
                Event::SpeculateCheck(b) => self.speculate_event(b),
            }
            self.after_event(sink)?;
        }
        self.stats.events = self.q.popped();
        // As the counter always was: with every burst's arrival pending from the start.
        self.stats.peak_event_queue = if direct {
            self.q.peak()
        } else {
            self.q.peak_with_first_lane_upfront(self.pulled)
        };
        self.stats.end_time_s = self.secs(self.now);
        // Containers still alive run nothing more (in id order, after their last record).
        let mut alive: Vec<(u64, u64)> = self
            .containers
            .iter()
            .filter(|(_, c)| c.state != CState::Dead && c.last_fid != NONE)
            .map(|(_, c)| (c.id, c.last_fid))
            .collect();
        alive.sort_unstable();
        for (id, last_fid) in alive {
            self.records.close_container(id, last_fid);
        }
        self.unsent_functions();
        // A function still unfinished here was stranded (e.g. a plan no invoker can ever run):
        // say so instead of leaving a silent gap.
        let stranded: Arc<str> = "never completed: its message could not be run".into();
        if self.fx.is_some() {
            self.finish_faults(&stranded, sink)?;
        } else {
            self.records
                .finish(self.t0.unwrap_or(0), &stranded, sink, &mut |_, _| Ok(()))?;
        }
        self.stats.footprint = Footprint {
            records: self.records.peak(),
            containers: self.containers.capacity(),
            messages: self.messages.capacity(),
            requests: self.requests.capacity(),
        };
        let comm = match self.comm {
            Some(c) => {
                let (steps, stats) = c.into_output();
                for step in steps {
                    sink.step(step)?;
                }
                Some(stats)
            }
            None => None,
        };
        Ok(RunEnd {
            stats: self.stats,
            comm,
        })
    }

    /// What follows every event: final records go to the sink, and the steps that ended.
    /// Most events finish no record: checked inline, the work out of line.
    #[inline(always)]
    fn after_event(&mut self, sink: &mut dyn RecordSink) -> Result<(), SinkError> {
        if self.fx.is_none() && self.comm.is_none() && !self.records.has_work() {
            return Ok(());
        }
        self.after_event_work(sink)
    }

    #[inline(never)]
    fn after_event_work(&mut self, sink: &mut dyn RecordSink) -> Result<(), SinkError> {
        if self.fx.is_some() {
            self.settle_pack_finals();
            if self.records.has_work() {
                self.release_with_attempts(sink)?;
            }
        } else if self.records.has_work() {
            self.records.release(self.t0.unwrap_or(0), sink)?;
        }
        if let Some(comm) = self.comm.as_deref_mut() {
            for step in comm.steps.drain(..) {
                sink.step(step)?;
            }
        }
        Ok(())
    }

    /// Takes the next burst from the arrival source: the run loop runs its arrival ahead of
    /// any other event at that instant (as if every arrival had been scheduled up front).
    /// A source that fails (a trace file changed since it was read) ends the arrivals there,
    /// with the reason in `SimStats::arrival_error`.
    pub fn pull_arrival(&mut self) {
        self.next_arrival = match self.arrivals.next() {
            Some(Ok(b)) => {
                self.pulled += 1;
                Some(b)
            }
            Some(Err(e)) => {
                self.stats.arrival_error = Some(e.to_string());
                None
            }
            None => None,
        };
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
        self.q.schedule(self.now, time, event);
    }
}
