//! Step programs in the simulator: each worker runs the burst's program step by step.
//!
//! - `compute`: CPU work of the drawn length, on the worker's own core (exclusive CPUs: solo
//!   time) or in the invoker's processor-sharing model (CPU shares);
//! - `sleep`: the drawn time, no CPU;
//! - a collective: the worker *arrives* at the burst's instance of it (the k-th collective of
//!   the program, shared by all workers of the burst) and executes its part of the
//!   [`MessagePlan`]: it sends its transfers in plan order once their dependencies were
//!   delivered to it, and receives the transfers addressed to it; it leaves when all its sends
//!   are done and all its receives delivered.
//!
//! A local transfer costs `bytes / local_bandwidth` and is then waiting in the destination's
//! in-process channel. A remote transfer is cut into chunks; each worker has
//! `connections_per_worker` upload and download slots (one each for the Redis-like backends:
//! chunks go one after the other). A chunk's upload waits `chunk_latency` (plus
//! `message_latency` for the first chunk of a message), then is a flow on the sender host's
//! outgoing link and the server; once stored, the destination downloads it as soon as it has
//! arrived at the collective and has a free slot: `chunk_latency` (for a polling backend, first
//! the wait for the next poll of an idle receiver), then a flow on the server and its host's
//! incoming link. The transfer is delivered with its last chunk. Data sits at the server until the
//! receiver asks for it, as with the middleware's blocking pops.
//!
//! Hosts are where the workers actually run (the invoker of their record; in direct mode their
//! pack's own VM); the plan only needs the packs, which for bursts are the containers of the
//! burst's placement and for FaaS the functions themselves.

use std::collections::VecDeque;
use std::rc::Rc;

use policies::comm::{Collective, CommLayout, MessagePlan, Program, Route, StepKind, StepRecord};

use super::network::{Dir, FlowNet, NetStats};
use crate::config::Mode;
use crate::dispatcher::cpu_share;
use crate::event::Event;
use crate::records::Slot;
use crate::scenario::{secs_to_ns, BackendSpec, BurstSpec, CommSpec, CpuModel, Scenario};
use crate::sim::Sim;

/// Counters of a run's communication, for reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommStats {
    /// The flow network's counters.
    pub net: NetStats,
    /// Transfers delivered.
    pub transfers: u64,
    /// Chunks moved through the backend (uploads and downloads).
    pub chunk_flows: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpKind {
    Upload,
    Download,
    Local,
}

/// One chunk movement or local copy in progress.
#[derive(Debug, Clone, Copy)]
struct Op {
    /// The worker (function id) doing it: the sender of an upload or copy, the receiver of a
    /// download. It stays in the collective until the op is done.
    fid: u32,
    transfer: u32,
    /// Bytes moved.
    bytes: u64,
    kind: OpKind,
}

/// One collective of one burst, shared by its workers.
struct Instance {
    plan: Rc<MessagePlan>,
    arrived: Vec<bool>,
    deps_left: Vec<u32>,
    /// Chunks stored at the backend (uploaded, or for a fan-out, uploaded by its source).
    stored: Vec<u32>,
    uploaded: Vec<u32>,
    downloaded: Vec<u32>,
    local_ready: Vec<bool>,
    workers_done: u32,
}

struct BurstRun {
    first_fid: u64,
    workers: u32,
    layout: Option<Rc<CommLayout>>,
    /// Plan per program leaf (collectives only).
    plans: Vec<Option<Rc<MessagePlan>>>,
    /// Instance per collective occurrence; dropped when every worker left it.
    instances: Vec<Option<Box<Instance>>>,
}

#[derive(Default)]
struct WorkerRun {
    /// Executed step index.
    pc: u32,
    step_start: u64,
    /// Sends and receives of the current collective not done yet.
    pending: u32,
    sends_left: u32,
    t_sent: u64,
    bytes_local: u64,
    bytes_remote: u64,
    bytes_uploaded: u64,
    /// Chunks to upload: (transfer, chunk index).
    up_queue: VecDeque<(u32, u32)>,
    up_active: u32,
    /// Stored chunks to download: (transfer, ordinal of the stored chunk).
    down_queue: VecDeque<(u32, u32)>,
    down_active: u32,
    /// Since when its download slots are all idle (polling backends).
    down_idle_since: u64,
    /// It shared a CPU at some compute step.
    slowed: bool,
    /// It is in a collective (arrived, not yet left).
    in_collective: bool,
}

/// The communication state of a run with a `steps` workload.
pub(crate) struct CommRun {
    spec: CommSpec,
    backend: Option<BackendSpec>,
    exclusive: bool,
    direct: bool,
    /// Per program leaf: its kind and collective.
    leaves: Vec<(StepKind, Option<Collective>)>,
    /// Executed steps: leaf index.
    sequence: Vec<u32>,
    /// Executed step -> index in a worker's draws (compute/sleep), or collective occurrence.
    slot_of: Vec<u32>,
    /// Draws per worker.
    draws_per_worker: usize,
    /// Compute/sleep times, ns: worker fid's draws at `fid * draws_per_worker`.
    draws_ns: Vec<u64>,
    workers: Vec<WorkerRun>,
    bursts: Vec<BurstRun>,
    burst_of: Vec<u32>,
    ops: Vec<Op>,
    free_ops: Vec<u32>,
    net: FlowNet,
    net_gen: u32,
    net_update_pending: bool,
    net_scheduled: Option<u64>,
    done_buf: Vec<u32>,
    pub steps: Vec<StepRecord>,
    pub stats: CommStats,
}

impl CommRun {
    /// The communication state of `sc`, or `None` for single-body workloads.
    pub fn new(sc: &Scenario, seed: u64) -> Option<CommRun> {
        let spec = sc.comm.clone()?;
        let program: &Program = sc.workload.program()?;
        let leaves: Vec<_> = program
            .leaves()
            .iter()
            .map(|s| (s.kind().expect("leaves are not repeats"), s.collective()))
            .collect();
        let sequence = program.sequence();
        let mut draws = 0u32;
        let mut occurrences = 0u32;
        let slot_of: Vec<u32> = sequence
            .iter()
            .map(|&leaf| {
                let slot = if leaves[leaf as usize].1.is_some() {
                    &mut occurrences
                } else {
                    &mut draws
                };
                *slot += 1;
                *slot - 1
            })
            .collect();
        // Step programs run on [[bursts]] only: their bursts are few and known up front.
        let run = sc.run_bursts(seed);
        let n = run.functions as usize;
        let mut draws_ns = Vec::with_capacity(n * draws as usize);
        let mut bursts = Vec::with_capacity(run.bursts.len());
        let mut burst_of = Vec::with_capacity(n);
        for (b, burst) in run.bursts.iter().enumerate() {
            for worker in program.burst_draws(seed, b as u64, burst.workers) {
                draws_ns.extend(worker.into_iter().map(secs_to_ns));
            }
            burst_of.extend(std::iter::repeat_n(b as u32, burst.workers as usize));
            bursts.push(BurstRun {
                first_fid: burst.first_function,
                workers: burst.workers,
                layout: None,
                plans: vec![None; leaves.len()],
                instances: (0..occurrences).map(|_| None).collect(),
            });
        }
        let backend = spec.backend.clone();
        let net = FlowNet::new(
            backend.as_ref().and_then(|b| b.server_throughput),
            spec.host_bandwidth,
        );
        Some(CommRun {
            exclusive: sc.invoker.cpu_model == CpuModel::Exclusive,
            direct: sc.mode == Mode::Direct,
            spec,
            backend,
            leaves,
            sequence,
            slot_of,
            draws_per_worker: draws as usize,
            draws_ns,
            workers: (0..n).map(|_| WorkerRun::default()).collect(),
            bursts,
            burst_of,
            ops: Vec::new(),
            free_ops: Vec::new(),
            net,
            net_gen: 0,
            net_update_pending: false,
            net_scheduled: None,
            done_buf: Vec::new(),
            steps: Vec::new(),
            stats: CommStats::default(),
        })
    }

    fn new_op(&mut self, op: Op) -> u32 {
        match self.free_ops.pop() {
            Some(i) => {
                self.ops[i as usize] = op;
                i
            }
            None => {
                self.ops.push(op);
                (self.ops.len() - 1) as u32
            }
        }
    }

    /// Burst and occurrence of the collective worker `fid` is in.
    fn position(&self, fid: u32) -> (usize, usize) {
        let pc = self.workers[fid as usize].pc as usize;
        (
            self.burst_of[fid as usize] as usize,
            self.slot_of[pc] as usize,
        )
    }

    fn instance(&mut self, fid: u32) -> &mut Instance {
        let (b, occ) = self.position(fid);
        self.bursts[b].instances[occ]
            .as_deref_mut()
            .expect("a worker in a collective has its instance")
    }

    fn connections(&self) -> u32 {
        self.backend
            .as_ref()
            .map_or(1, |b| b.connections_per_worker)
    }

    fn backend(&self) -> &BackendSpec {
        self.backend
            .as_ref()
            .expect("validated: a workload that communicates has a backend")
    }

    pub fn into_output(self) -> (Vec<StepRecord>, CommStats) {
        let mut stats = self.stats;
        stats.net = self.net.stats();
        (self.steps, stats)
    }
}

impl Sim<'_> {
    fn comm(&mut self) -> &mut CommRun {
        self.comm.as_deref_mut().expect("steps workload")
    }

    /// Direct mode: the workers of every burst start at its arrival, in packs of G on hosts of
    /// their own (pack k of the run on host k), with no invocation. Times count from the first
    /// burst's arrival.
    pub(crate) fn start_direct(&mut self) {
        let g = self.comm().spec.direct_granularity;
        let bursts: Vec<BurstSpec> = self.arrivals.by_ref().map_while(Result::ok).collect();
        self.t0 = Some(bursts.first().map_or(0, |b| b.at_ns));
        let mut next_host = 0u32;
        for burst in bursts {
            self.arrived += burst.workers as u64;
            for k in 0..burst.workers {
                let fid = burst.first_function + k as u64;
                let host = next_host + k / g;
                let mut slot = Slot::new(burst.id, burst.tenant, k, 0);
                slot.invoker = host;
                slot.container = host as u64;
                slot.cpu = k % g;
                slot.t_submit = burst.at_ns;
                slot.t_dispatch = burst.at_ns;
                slot.t_ready = burst.at_ns;
                slot.t_start = burst.at_ns;
                self.records.push(slot);
                self.q.push(burst.at_ns, Event::StepStart(fid as u32));
            }
            next_host += burst.workers.div_ceil(g);
        }
    }

    /// Worker `fid` begins its next step (or ends its program).
    pub(crate) fn step_start(&mut self, fid: u32) {
        let now = self.now;
        let comm = self.comm();
        let w = &mut comm.workers[fid as usize];
        let pc = w.pc as usize;
        if pc == comm.sequence.len() {
            self.program_end(fid);
            return;
        }
        w.step_start = now;
        let leaf = comm.sequence[pc] as usize;
        let slot = comm.slot_of[pc] as usize;
        match comm.leaves[leaf].0 {
            StepKind::Compute | StepKind::Sleep => {
                let ns = comm.draws_ns[fid as usize * comm.draws_per_worker + slot];
                let on_cpu = comm.leaves[leaf].0 == StepKind::Compute && !comm.exclusive;
                if on_cpu {
                    self.shared_compute(fid, ns);
                } else {
                    self.at(now + ns, Event::StepDone(fid));
                }
            }
            _ => self.arrive(fid),
        }
    }

    /// A compute step under CPU shares enters the invoker's processor-sharing model.
    fn shared_compute(&mut self, fid: u32, ns: u64) {
        let cid = self.records.get_mut(fid as u64).container_slot;
        let c = &self.containers[cid as usize];
        let inv = c.invoker as usize;
        let share = cpu_share(
            c.memory_mb / c.workers.max(1) as u64,
            self.invokers[inv].user_mem,
        );
        self.invokers[inv]
            .sharer
            .add(self.now, fid as u64, ns, share);
        self.reschedule_cpu(inv);
    }

    /// A compute step under CPU shares finished (`slowed`: it shared the CPU).
    pub(crate) fn shared_compute_done(&mut self, fid: u64, slowed: bool) {
        self.comm().workers[fid as usize].slowed |= slowed;
        self.step_end(fid as u32);
    }

    /// Worker `fid` finished its current step now.
    pub(crate) fn step_end(&mut self, fid: u32) {
        let now = self.now;
        let t0 = self.t0.unwrap_or(0);
        let secs = |t: u64| t.wrapping_sub(t0) as i64 as f64 / 1e9;
        let rec = self.records.get_mut(fid as u64);
        let (burst_id, worker_id) = (rec.burst, rec.worker);
        let comm = self.comm.as_deref_mut().expect("steps workload");
        let w = &mut comm.workers[fid as usize];
        let pc = w.pc as usize;
        let kind = comm.leaves[comm.sequence[pc] as usize].0;
        let communicates = kind.is_communication();
        comm.steps.push(StepRecord {
            function_id: fid as u64,
            burst_id,
            worker_id,
            step: pc as u32,
            kind,
            t_start: secs(w.step_start),
            t_end: secs(now),
            t_sent: secs(if communicates { w.t_sent } else { w.step_start }),
            bytes_local: w.bytes_local,
            bytes_remote: w.bytes_remote,
            bytes_uploaded: w.bytes_uploaded,
        });
        w.bytes_local = 0;
        w.bytes_remote = 0;
        w.bytes_uploaded = 0;
        w.in_collective = false;
        if communicates {
            let (b, occ) = comm.position(fid);
            let workers = comm.bursts[b].workers;
            let slot = &mut comm.bursts[b].instances[occ];
            let inst = slot.as_deref_mut().expect("instance");
            inst.workers_done += 1;
            if inst.workers_done == workers {
                *slot = None;
            }
        }
        comm.workers[fid as usize].pc += 1;
        self.at(now, Event::StepStart(fid));
    }

    /// The program of worker `fid` is done: the function ends.
    fn program_end(&mut self, fid: u32) {
        let now = self.now;
        let slowed = self.comm().workers[fid as usize].slowed;
        let direct = self.comm().direct;
        let rec = self.records.get_mut(fid as u64);
        rec.t_end = now;
        rec.cpu_shared |= slowed;
        rec.done = true;
        self.finished += 1;
        if !direct {
            let cid = rec.container_slot;
            let c = &mut self.containers[cid as usize];
            c.remaining -= 1;
            if c.remaining == 0 {
                self.container_done(cid);
            }
        }
    }

    /// The pack layout of burst `b`: its containers (bursts), one pack per function (FaaS),
    /// or packs of G (direct).
    fn burst_layout(&mut self, b: usize, fid: u32) -> Rc<CommLayout> {
        if let Some(l) = &self.comm().bursts[b].layout {
            return l.clone();
        }
        let (first_fid, workers) = {
            let br = &self.comm().bursts[b];
            (br.first_fid, br.workers)
        };
        let layout = if self.comm().direct {
            CommLayout::direct(workers, self.comm().spec.direct_granularity)
        } else if !self.sc.is_burst() {
            CommLayout::one_worker_per_pack(&vec![0; workers as usize])
        } else {
            // The burst's container messages were published together: they are contiguous
            // around the one that runs `fid`.
            // (`steps` runs keep every message row: slots are in publication order.)
            let cid = self.records.get_mut(fid as u64).container_slot;
            let m = self.containers[cid as usize].msg as usize;
            let messages = self.messages.rows();
            let burst = messages[m].burst;
            let mut lo = m;
            while lo > 0 && messages[lo - 1].burst == burst {
                lo -= 1;
            }
            let packs = messages[lo..]
                .iter()
                .take_while(|msg| msg.burst == burst)
                .map(|msg| ((msg.first_fid - first_fid) as u32, msg.workers, msg.invoker));
            CommLayout::from_packs(packs).expect("a burst's containers tile its workers")
        };
        let layout = Rc::new(layout);
        self.comm().bursts[b].layout = Some(layout.clone());
        layout
    }

    /// Worker `fid` reaches the collective of its current step.
    fn arrive(&mut self, fid: u32) {
        let now = self.now;
        let (b, occ) = self.comm().position(fid);
        let layout = self.burst_layout(b, fid);
        let comm = self.comm();
        let pc = comm.workers[fid as usize].pc as usize;
        let leaf = comm.sequence[pc] as usize;
        let plan = match &comm.bursts[b].plans[leaf] {
            Some(p) => p.clone(),
            None => {
                let collective = comm.leaves[leaf].1.as_ref().expect("a collective step");
                let plan = MessagePlan::new(collective, &layout, comm.spec.chunk_size)
                    .expect("validated against the burst's workers");
                let plan = Rc::new(plan);
                comm.bursts[b].plans[leaf] = Some(plan.clone());
                plan
            }
        };
        if comm.bursts[b].instances[occ].is_none() {
            let t = plan.transfers().len();
            comm.bursts[b].instances[occ] = Some(Box::new(Instance {
                arrived: vec![false; plan.workers() as usize],
                deps_left: (0..t).map(|i| plan.after(i).len() as u32).collect(),
                stored: vec![0; t],
                uploaded: vec![0; t],
                downloaded: vec![0; t],
                local_ready: vec![false; t],
                workers_done: 0,
                plan: plan.clone(),
            }));
        }
        let k = (fid as u64 - comm.bursts[b].first_fid) as u32;
        let sends: Vec<u32> = plan
            .sends_of(k)
            .iter()
            .copied()
            .filter(|&t| plan.transfers()[t as usize].fanout_of.is_none())
            .collect();
        let receives = plan.receives_of(k);
        {
            let w = &mut comm.workers[fid as usize];
            w.pending = (sends.len() + receives.len()) as u32;
            w.sends_left = sends.len() as u32;
            w.t_sent = now;
            w.down_idle_since = now;
            w.in_collective = true;
        }
        let inst = comm.bursts[b].instances[occ]
            .as_deref_mut()
            .expect("created");
        inst.arrived[k as usize] = true;
        // Receives whose data is already there.
        let mut ready_local = Vec::new();
        for &t in receives {
            let tr = plan.transfers()[t as usize];
            match tr.route {
                Route::Local if inst.local_ready[t as usize] => ready_local.push(t),
                Route::Local => {}
                Route::Remote => {
                    let w = &mut comm.workers[fid as usize];
                    for ord in 0..inst.stored[t as usize] {
                        w.down_queue.push_back((t, ord));
                    }
                }
            }
        }
        let ready_sends: Vec<u32> = sends
            .iter()
            .copied()
            .filter(|&t| inst.deps_left[t as usize] == 0)
            .collect();
        for t in ready_sends {
            self.issue(fid, &plan, t);
        }
        self.pump_downloads(fid);
        for t in ready_local {
            self.deliver_transfer(fid, &plan, t);
        }
        self.check_step_end(fid);
    }

    /// Sender `fid` sends transfer `t` of `plan`.
    fn issue(&mut self, fid: u32, plan: &MessagePlan, t: u32) {
        let tr = plan.transfers()[t as usize];
        if tr.fanout_of.is_some() {
            // Its payload is the upload of another transfer: nothing to send.
            return;
        }
        let comm = self.comm();
        match tr.route {
            Route::Local => {
                let ns = secs_to_ns(tr.bytes as f64 / comm.spec.local_bandwidth);
                let op = comm.new_op(Op {
                    fid,
                    transfer: t,
                    bytes: tr.bytes,
                    kind: OpKind::Local,
                });
                let now = self.now;
                self.at(now + ns, Event::CommTimer(op));
            }
            Route::Remote => {
                let w = &mut comm.workers[fid as usize];
                w.up_queue.extend((0..tr.chunks).map(|c| (t, c)));
                w.bytes_uploaded += tr.bytes;
                self.pump_uploads(fid);
            }
        }
    }

    /// Starts queued chunk uploads of worker `fid` while it has free connections.
    fn pump_uploads(&mut self, fid: u32) {
        let now = self.now;
        loop {
            let comm = self.comm();
            let limit = comm.connections();
            let chunk_size = comm.spec.chunk_size;
            let w = &mut comm.workers[fid as usize];
            if limit != 0 && w.up_active >= limit {
                return;
            }
            let Some((t, c)) = w.up_queue.pop_front() else {
                return;
            };
            w.up_active += 1;
            let (b, occ) = comm.position(fid);
            let inst = comm.bursts[b].instances[occ].as_deref().expect("instance");
            let bytes = inst.plan.transfers()[t as usize].chunk_bytes(c, chunk_size);
            let backend = comm.backend();
            let first = if c == 0 {
                backend.message_latency_ns
            } else {
                0
            };
            let delay = backend.chunk_latency_ns + first;
            let op = comm.new_op(Op {
                fid,
                transfer: t,
                bytes,
                kind: OpKind::Upload,
            });
            if delay == 0 {
                self.start_flow(op);
            } else {
                self.at(now + delay, Event::CommTimer(op));
            }
        }
    }

    /// Starts queued chunk downloads of worker `fid` while it has free connections.
    fn pump_downloads(&mut self, fid: u32) {
        let now = self.now;
        loop {
            let comm = self.comm();
            let limit = comm.connections();
            let chunk_size = comm.spec.chunk_size;
            let w = &mut comm.workers[fid as usize];
            if limit != 0 && w.down_active >= limit {
                return;
            }
            let Some((t, ord)) = w.down_queue.pop_front() else {
                return;
            };
            let idle = w.down_active == 0;
            let idle_since = w.down_idle_since;
            w.down_active += 1;
            let (b, occ) = comm.position(fid);
            let inst = comm.bursts[b].instances[occ].as_deref().expect("instance");
            let bytes = inst.plan.transfers()[t as usize].chunk_bytes(ord, chunk_size);
            let backend = comm.backend();
            let mut start = now + backend.chunk_latency_ns;
            let poll = backend.poll_interval_ns;
            if poll > 0 && idle && now > idle_since {
                // An idle receiver lists the server every `poll` since it went idle.
                let waited = now - idle_since;
                start += waited.div_ceil(poll) * poll - waited;
            }
            let op = comm.new_op(Op {
                fid,
                transfer: t,
                bytes,
                kind: OpKind::Download,
            });
            if start == now {
                self.start_flow(op);
            } else {
                self.at(start, Event::CommTimer(op));
            }
        }
    }

    /// The latency before op `op` elapsed (or a local copy finished).
    pub(crate) fn comm_timer(&mut self, op: u32) {
        match self.comm().ops[op as usize].kind {
            OpKind::Local => self.local_done(op),
            OpKind::Upload | OpKind::Download => self.start_flow(op),
        }
    }

    fn start_flow(&mut self, op: u32) {
        let now = self.now;
        let o = self.comm().ops[op as usize];
        let host = self.records.get_mut(o.fid as u64).invoker;
        let comm = self.comm();
        let cap = comm.backend().connection_cap(o.bytes);
        let dir = if o.kind == OpKind::Upload {
            Dir::Up
        } else {
            Dir::Down
        };
        comm.net.start(now, host, dir, cap, o.bytes as f64, op);
        comm.stats.chunk_flows += 1;
        self.net_touch();
    }

    /// Flows started or ended at this instant: recompute rates once the instant's changes are in.
    fn net_touch(&mut self) {
        let comm = self.comm();
        if !comm.net_update_pending {
            comm.net_update_pending = true;
            let now = self.now;
            self.at(now, Event::NetUpdate);
        }
    }

    pub(crate) fn net_update(&mut self) {
        let now = self.now;
        let comm = self.comm();
        comm.net_update_pending = false;
        let next = comm.net.update(now);
        if next != comm.net_scheduled {
            comm.net_scheduled = next;
            if let Some(t) = next {
                comm.net_gen = comm.net_gen.wrapping_add(1);
                let gen = comm.net_gen;
                self.at(t, Event::NetDone(gen));
            }
        }
    }

    pub(crate) fn net_done(&mut self, gen: u32) {
        let now = self.now;
        let comm = self.comm();
        if gen != comm.net_gen {
            return;
        }
        comm.net_scheduled = None;
        let mut done = std::mem::take(&mut comm.done_buf);
        comm.net.pop_done(now, &mut done);
        for &op in &done {
            self.flow_done(op);
        }
        done.clear();
        self.comm().done_buf = done;
        self.net_touch();
    }

    fn flow_done(&mut self, op: u32) {
        let o = self.comm().ops[op as usize];
        self.comm().free_ops.push(op);
        match o.kind {
            OpKind::Upload => self.upload_done(o),
            OpKind::Download => self.download_done(o),
            OpKind::Local => unreachable!("local copies are not flows"),
        }
    }

    fn upload_done(&mut self, o: Op) {
        let comm = self.comm();
        let (b, _) = comm.position(o.fid);
        let first_fid = comm.bursts[b].first_fid;
        let inst = comm.instance(o.fid);
        let plan = inst.plan.clone();
        let t = o.transfer as usize;
        let tr = plan.transfers()[t];
        inst.uploaded[t] += 1;
        let finished = inst.uploaded[t] == tr.chunks;
        // The chunk is stored for the destination and for every fan-out of this upload.
        let mut ready = Vec::new();
        for d in std::iter::once(o.transfer).chain(plan.fanouts_of(t).iter().copied()) {
            let ord = inst.stored[d as usize];
            inst.stored[d as usize] += 1;
            let dst = plan.transfers()[d as usize].dst;
            if inst.arrived[dst as usize] {
                ready.push(((first_fid + dst as u64) as u32, d, ord));
            }
        }
        for (dst_fid, d, ord) in ready {
            self.comm().workers[dst_fid as usize]
                .down_queue
                .push_back((d, ord));
            self.pump_downloads(dst_fid);
        }
        if finished {
            self.send_done(o.fid);
        }
        self.comm().workers[o.fid as usize].up_active -= 1;
        self.pump_uploads(o.fid);
        self.check_step_end(o.fid);
    }

    fn download_done(&mut self, o: Op) {
        let now = self.now;
        let comm = self.comm();
        let inst = comm.instance(o.fid);
        let plan = inst.plan.clone();
        let t = o.transfer as usize;
        inst.downloaded[t] += 1;
        let complete = inst.downloaded[t] == plan.transfers()[t].chunks;
        let w = &mut comm.workers[o.fid as usize];
        w.down_active -= 1;
        if w.down_active == 0 && w.down_queue.is_empty() {
            w.down_idle_since = now;
        }
        if complete {
            self.deliver_transfer(o.fid, &plan, o.transfer);
        }
        self.pump_downloads(o.fid);
        self.check_step_end(o.fid);
    }

    fn local_done(&mut self, op: u32) {
        let o = self.comm().ops[op as usize];
        self.comm().free_ops.push(op);
        let comm = self.comm();
        let (b, _) = comm.position(o.fid);
        let first_fid = comm.bursts[b].first_fid;
        let inst = comm.instance(o.fid);
        let plan = inst.plan.clone();
        let t = o.transfer as usize;
        inst.local_ready[t] = true;
        let dst = plan.transfers()[t].dst;
        let dst_here = inst.arrived[dst as usize];
        self.send_done(o.fid);
        if dst_here {
            let dst_fid = (first_fid + dst as u64) as u32;
            self.deliver_transfer(dst_fid, &plan, o.transfer);
            self.check_step_end(dst_fid);
        }
        self.check_step_end(o.fid);
    }

    fn send_done(&mut self, fid: u32) {
        let now = self.now;
        let w = &mut self.comm().workers[fid as usize];
        w.pending -= 1;
        w.sends_left -= 1;
        if w.sends_left == 0 {
            w.t_sent = now;
        }
    }

    /// Transfer `t` reached worker `fid` (its destination).
    fn deliver_transfer(&mut self, fid: u32, plan: &MessagePlan, t: u32) {
        let tr = plan.transfers()[t as usize];
        let comm = self.comm();
        comm.stats.transfers += 1;
        let w = &mut comm.workers[fid as usize];
        w.pending -= 1;
        match tr.route {
            Route::Local => w.bytes_local += tr.bytes,
            Route::Remote => w.bytes_remote += tr.bytes,
        }
        let inst = comm.instance(fid);
        let mut ready = Vec::new();
        for &u in plan.dependents_of(t as usize) {
            inst.deps_left[u as usize] -= 1;
            if inst.deps_left[u as usize] == 0 {
                ready.push(u);
            }
        }
        // The dependents are sent by this worker (it received what they forward).
        for u in ready {
            self.issue(fid, plan, u);
        }
    }

    /// Ends worker `fid`'s collective step once all its sends are done and receives delivered.
    fn check_step_end(&mut self, fid: u32) {
        let w = &self.comm().workers[fid as usize];
        if w.in_collective && w.pending == 0 {
            self.step_end(fid);
        }
    }
}
