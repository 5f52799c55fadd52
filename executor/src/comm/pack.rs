//! One pack (container) of a `steps` burst: its workers run as threads of the dispatcher, one
//! per CPU, each pinned to its CPU before it does anything, each with a receiving thread pinned
//! to the same CPU (the model's one upload and one download connection per worker).
//!
//! A worker runs the executed steps in order. In a collective it executes its part of the
//! step's [`MessagePlan`]: it sends its transfers in plan order once the transfers they depend
//! on were delivered to it (a pack leader forwards a broadcast it received, a reduce level sends
//! what lower levels delivered), and it receives the transfers addressed to it; it leaves the
//! step when all its sends are out and all its receives delivered, as in the simulator. Local
//! transfers are an `Arc` handed to the destination's in-process channel; remote ones are
//! uploaded chunk by chunk to the broker by the worker and downloaded, checked and reassembled
//! by the destination's receiving thread once the destination has reached the step.
//!
//! A worker that fails (a checksum mismatch, a wait past the timeout, the broker) fails its
//! function with the reason and tells every other worker of the burst (in the pack through the
//! channels, elsewhere through their control keys), so none waits for messages that will never
//! come.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sched::{sched_setaffinity, CpuSet};
use nix::unistd::Pid;
use policies::comm::{Collective, CommLayout, MessagePlan, Route, StepKind};

use super::content::{self, add_into, contribution_scale, first_difference};
use super::remote::{self, Downloader, LiveBackend, Uploader};
use super::wire::{decode, encode, FrameKind, Keys};
use super::CommJob;
use crate::clock;
use crate::payload::{StepTimes, WorkerReport};

/// What a worker's channel carries.
#[derive(Debug)]
enum Event {
    /// A transfer of executed step `step` delivered in memory by a worker of the pack.
    Local {
        step: u32,
        t: u32,
        data: Arc<Vec<u8>>,
    },
    /// A transfer downloaded, checked and reassembled by the worker's receiving thread.
    Remote {
        step: u32,
        t: u32,
        data: Arc<Vec<u8>>,
    },
    /// The receiving thread failed (checksum, broker, timeout).
    Failed(String),
    /// Another worker of the burst failed.
    Abort(String),
}

/// Why a worker stopped: its own failure (told to the others) or another worker's.
enum Stop {
    Own(String),
    Aborted(String),
}

impl Stop {
    fn reason(&self) -> &str {
        match self {
            Stop::Own(r) | Stop::Aborted(r) => r,
        }
    }
}

/// Content-stream tags (the stream key of a message is derived from seed, step, tag, id).
const TAG_P2P: u64 = 1;
const TAG_BROADCAST: u64 = 2;
const TAG_REDUCE: u64 = 3;

/// A program leaf: its kind, and for a collective the collective and its plan.
type Leaf = (StepKind, Option<(Collective, Arc<MessagePlan>)>);

/// The pack: what its worker threads share.
struct Pack {
    job: CommJob,
    layout: CommLayout,
    keys: Keys,
    /// Per program leaf: its kind, its collective and the collective's plan.
    leaves: Vec<Leaf>,
    /// Executed steps: leaf index.
    sequence: Vec<u32>,
    first: u32,
    inboxes: Vec<Sender<Event>>,
}

/// The container's workers: `cpus[i]` is worker `first + i`'s host CPU (empty: no pinning).
/// Returns one report per worker, in worker order.
pub fn run_pack(
    job: &CommJob,
    layout: CommLayout,
    first: u32,
    cpus: &[u32],
    ids: (u64, u32),
) -> Vec<Result<WorkerReport, String>> {
    let n = job.draws.len();
    let fail_all = |why: String| (0..n).map(|_| Err(why.clone())).collect();
    let leaves = match plans(job, &layout) {
        Ok(l) => l,
        Err(e) => return fail_all(e),
    };
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..n).map(|_| mpsc::channel()).unzip();
    let pack = Arc::new(Pack {
        keys: Keys::from_prefix(&job.keys),
        sequence: job.program.sequence(),
        job: job.clone(),
        layout,
        leaves,
        first,
        inboxes: senders,
    });
    let threads: Vec<std::io::Result<JoinHandle<Result<WorkerReport, String>>>> = receivers
        .into_iter()
        .enumerate()
        .map(|(i, inbox)| {
            let pack = pack.clone();
            let cpu = cpus.get(i).copied();
            std::thread::Builder::new()
                .name(format!("worker-{}", first + i as u32))
                .spawn(move || worker_main(pack, i, cpu, inbox, ids))
        })
        .collect();
    threads
        .into_iter()
        .map(|t| match t {
            Ok(h) => h
                .join()
                .unwrap_or_else(|_| Err("the worker thread panicked".into())),
            Err(e) => Err(format!("starting the worker thread: {e}")),
        })
        .collect()
}

/// Each leaf's kind, collective and plan for this burst's layout.
fn plans(job: &CommJob, layout: &CommLayout) -> Result<Vec<Leaf>, String> {
    job.program
        .leaves()
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let kind = step.kind().ok_or("a repeat among the executed steps")?;
            let Some(c) = step.collective() else {
                return Ok((kind, None));
            };
            let plan = MessagePlan::new(&c, layout, job.chunk_size)
                .map_err(|e| format!("step {i} ({}): {e}", kind.as_str()))?;
            Ok((kind, Some((c, Arc::new(plan)))))
        })
        .collect()
}

fn pin(cpu: u32) -> Result<(), String> {
    let mut set = CpuSet::new();
    set.set(cpu as usize)
        .map_err(|_| format!("cpu {cpu} out of range"))?;
    // Pid 0: the calling thread (Linux affinity is per thread).
    sched_setaffinity(Pid::from_raw(0), &set).map_err(|e| format!("pinning to CPU {cpu}: {e}"))
}

fn worker_main(
    pack: Arc<Pack>,
    index: usize,
    cpu: Option<u32>,
    inbox: Receiver<Event>,
    (container_id, invoker_id): (u64, u32),
) -> Result<WorkerReport, String> {
    let t_start = clock::now();
    if let Some(cpu) = cpu {
        pin(cpu)?;
    }
    let affinity = crate::dispatcher::current_affinity();
    let w = pack.first + index as u32;
    let mut worker = match Worker::start(pack.clone(), index, cpu, inbox) {
        Ok(worker) => worker,
        Err(reason) => {
            // The pack must not wait for a worker that never started.
            for (i, inbox) in pack.inboxes.iter().enumerate() {
                if i != index {
                    let _ = inbox.send(Event::Abort(format!("worker {w} failed: {reason}")));
                }
            }
            return Err(reason);
        }
    };
    let t_fn_start = clock::now();
    let result = worker.run();
    let t_fn_end = clock::now();
    worker.stop_receiver();
    match result {
        Ok(steps) => Ok(WorkerReport {
            worker_id: w,
            container_id,
            invoker_id,
            t_start,
            t_fn_start,
            t_fn_end,
            affinity,
            output: steps
                .iter()
                .map(|s| (s.bytes_local + s.bytes_remote) as f64)
                .sum(),
            steps,
        }),
        Err(stop) => {
            if let Stop::Own(reason) = &stop {
                worker.tell_others(reason);
            }
            Err(stop.reason().to_string())
        }
    }
}

/// Sent to a receiving thread: download these transfers of executed step `step`.
struct RecvStep {
    step: u32,
    items: Vec<RecvItem>,
}

/// One remote transfer to receive.
#[derive(Debug, Clone)]
struct RecvItem {
    /// The transfer delivered.
    t: u32,
    /// The transfer whose upload carries its chunks (itself, or a broadcast's upload).
    source: u32,
    src_worker: u32,
    key: String,
    chunks: u32,
    bytes: u64,
    /// Nobody else reads `key` (streams delete it once read).
    sole_reader: bool,
}

/// One worker thread's state.
struct Worker {
    pack: Arc<Pack>,
    w: u32,
    inbox: Receiver<Event>,
    /// Events of later steps, kept until the worker gets there.
    stash: VecDeque<Event>,
    up: Option<Uploader>,
    recv: Option<(Sender<RecvStep>, Arc<AtomicBool>, JoinHandle<()>)>,
    draws: Vec<f64>,
    next_draw: usize,
    /// The root's payload of the current step's broadcast (sent to several destinations).
    cached: Option<(u32, Arc<Vec<u8>>)>,
}

impl Worker {
    /// Connects what the worker needs: an uploading connection if it has remote transfers, a
    /// receiving thread (pinned to `cpu`) if it receives any.
    fn start(
        pack: Arc<Pack>,
        index: usize,
        cpu: Option<u32>,
        inbox: Receiver<Event>,
    ) -> Result<Worker, String> {
        let w = pack.first + index as u32;
        let (sends_remote, receives_remote) = remote_roles(&pack, w);
        let job = &pack.job;
        let timeout = Duration::from_secs_f64(job.timeout_s.clamp(1.0, 1e6));
        let connect = || remote::connect(&job.broker, Duration::from_secs(10));
        let ttl = job.timeout_s.ceil() as u64 + 60;
        let up = if sends_remote || receives_remote {
            Some(Uploader::new(connect()?, job.backend, ttl))
        } else {
            None
        };
        let recv = if receives_remote {
            let down = Downloader::new(connect()?, job.backend);
            let (tx, rx) = mpsc::channel();
            let stop = Arc::new(AtomicBool::new(false));
            let r = Receiving {
                down,
                keys: pack.keys.clone(),
                w,
                out: pack.inboxes[index].clone(),
                timeout,
                stop: stop.clone(),
                chunk_size: job.chunk_size,
            };
            let handle = std::thread::Builder::new()
                .name(format!("recv-{w}"))
                .spawn(move || {
                    if let Some(cpu) = cpu {
                        let _ = pin(cpu);
                    }
                    r.run(rx)
                })
                .map_err(|e| format!("starting the receiving thread: {e}"))?;
            Some((tx, stop, handle))
        } else {
            None
        };
        Ok(Worker {
            draws: job.draws.get(index).cloned().unwrap_or_default(),
            pack,
            w,
            inbox,
            stash: VecDeque::new(),
            up,
            recv,
            next_draw: 0,
            cached: None,
        })
    }

    fn stop_receiver(&mut self) {
        if let Some((tx, stop, handle)) = self.recv.take() {
            stop.store(true, Ordering::Relaxed);
            drop(tx);
            let _ = handle.join();
        }
    }

    /// The program, step by step.
    fn run(&mut self) -> Result<Vec<StepTimes>, Stop> {
        let pack = self.pack.clone();
        let mut steps = Vec::with_capacity(pack.sequence.len());
        for (pc, &leaf) in pack.sequence.iter().enumerate() {
            let (kind, comm) = &pack.leaves[leaf as usize];
            let t_start = clock::now();
            let mut times = StepTimes {
                kind: *kind,
                t_start,
                t_end: t_start,
                t_sent: t_start,
                bytes_local: 0,
                bytes_remote: 0,
                bytes_uploaded: 0,
            };
            match comm {
                None => {
                    let seconds = self.draws.get(self.next_draw).copied().ok_or_else(|| {
                        Stop::Own(format!("no drawn time for step {pc} ({})", kind.as_str()))
                    })?;
                    self.next_draw += 1;
                    if *kind == StepKind::Compute {
                        crate::function::busy(seconds);
                    } else if seconds > 0.0 && seconds.is_finite() {
                        std::thread::sleep(Duration::from_secs_f64(seconds));
                    }
                }
                Some((collective, plan)) => self
                    .collective(pc as u32, collective, plan, &mut times)
                    .map_err(|s| match s {
                        Stop::Own(r) => Stop::Own(format!("step {pc} ({}): {r}", kind.as_str())),
                        aborted => aborted,
                    })?,
            }
            times.t_end = clock::now();
            steps.push(times);
        }
        Ok(steps)
    }

    /// The worker's part of executed step `step`, a `collective` with plan `plan`.
    fn collective(
        &mut self,
        step: u32,
        collective: &Collective,
        plan: &MessagePlan,
        times: &mut StepTimes,
    ) -> Result<(), Stop> {
        let w = self.w;
        let sends: Vec<u32> = plan
            .sends_of(w)
            .iter()
            .copied()
            .filter(|&t| plan.transfers()[t as usize].fanout_of.is_none())
            .collect();
        let receives = plan.receives_of(w);
        self.start_receiving(step, plan, receives)?;
        let mut deps_left: HashMap<u32, usize> = sends
            .iter()
            .map(|&t| (t, plan.after(t as usize).len()))
            .collect();
        let mut ready: VecDeque<u32> = sends
            .iter()
            .copied()
            .filter(|t| deps_left[t] == 0)
            .collect();
        let mut delivered: HashMap<u32, Arc<Vec<u8>>> = HashMap::new();
        let (mut sends_left, mut receives_left) = (sends.len(), receives.len());
        let deadline = Instant::now() + Duration::from_secs_f64(self.pack.job.timeout_s.max(1.0));
        loop {
            while let Some(t) = ready.pop_front() {
                self.send(step, collective, plan, t, &delivered, times)?;
                sends_left -= 1;
                times.t_sent = clock::now();
            }
            if sends_left == 0 && receives_left == 0 {
                break;
            }
            let (t, data, local) = self.next_delivery(step, deadline, receives_left, plan)?;
            let bytes = plan.transfers()[t as usize].bytes;
            if local {
                times.bytes_local += bytes;
            } else {
                times.bytes_remote += bytes;
            }
            receives_left -= 1;
            delivered.insert(t, data);
            for &u in plan.dependents_of(t as usize) {
                if let Some(left) = deps_left.get_mut(&u) {
                    *left -= 1;
                    if *left == 0 {
                        ready.push_back(u);
                    }
                }
            }
        }
        if let Collective::Reduce(r) = collective {
            if r.root == w {
                self.check_reduce(step, plan, &delivered, r.bytes.0)?;
            }
        }
        self.cached = None;
        Ok(())
    }

    /// Hands the remote transfers of `receives` to the receiving thread.
    fn start_receiving(
        &mut self,
        step: u32,
        plan: &MessagePlan,
        receives: &[u32],
    ) -> Result<(), Stop> {
        let items: Vec<RecvItem> = receives
            .iter()
            .map(|&t| (t, plan.transfers()[t as usize]))
            .filter(|(_, tr)| tr.is_remote())
            .map(|(t, tr)| {
                let source = tr.fanout_of.unwrap_or(t);
                let key_of = match self.pack.job.backend {
                    // Streams: every receiver of a broadcast reads the upload's stream.
                    LiveBackend::Stream => source,
                    LiveBackend::List => t,
                };
                RecvItem {
                    t,
                    source,
                    src_worker: tr.src,
                    key: self.pack.keys.transfer(step, key_of),
                    chunks: tr.chunks,
                    bytes: tr.bytes,
                    sole_reader: plan.fanouts_of(source as usize).is_empty(),
                }
            })
            .collect();
        if items.is_empty() {
            return Ok(());
        }
        let Some((tx, _, _)) = &self.recv else {
            return Err(Stop::Own("remote receives but no receiving thread".into()));
        };
        tx.send(RecvStep { step, items })
            .map_err(|_| Stop::Own("the receiving thread stopped".into()))
    }

    /// The next transfer of step `step` delivered to this worker: (transfer, payload, local).
    fn next_delivery(
        &mut self,
        step: u32,
        deadline: Instant,
        waiting_for: usize,
        plan: &MessagePlan,
    ) -> Result<(u32, Arc<Vec<u8>>, bool), Stop> {
        if let Some(i) = self.stash.iter().position(|e| event_step(e) == Some(step)) {
            return Ok(delivery(self.stash.remove(i).expect("found")));
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let ev = match self.inbox.recv_timeout(left) {
                Ok(ev) => ev,
                Err(RecvTimeoutError::Timeout) => {
                    return Err(Stop::Own(format!(
                        "timed out after {:.0} s waiting for {waiting_for} of the {} messages to worker {}",
                        self.pack.job.timeout_s,
                        plan.receives_of(self.w).len(),
                        self.w
                    )))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(Stop::Own("the pack's channels closed".into()))
                }
            };
            match ev {
                Event::Failed(r) => return Err(Stop::Own(r)),
                Event::Abort(r) => return Err(Stop::Aborted(r)),
                ev if event_step(&ev) == Some(step) => return Ok(delivery(ev)),
                ev => self.stash.push_back(ev),
            }
        }
    }

    /// What transfer `t` carries (see the module `content`).
    fn payload(
        &mut self,
        step: u32,
        collective: &Collective,
        plan: &MessagePlan,
        t: u32,
        delivered: &HashMap<u32, Arc<Vec<u8>>>,
    ) -> Result<Arc<Vec<u8>>, Stop> {
        let tr = plan.transfers()[t as usize];
        let seed = self.pack.job.seed;
        let deps = plan.after(t as usize);
        let dep = |d: &u32| -> Result<Arc<Vec<u8>>, Stop> {
            delivered
                .get(d)
                .cloned()
                .ok_or_else(|| Stop::Own(format!("transfer {t} sent before transfer {d} arrived")))
        };
        let forwards =
            |plan: &MessagePlan| deps.iter().any(|&d| plan.transfers()[d as usize].src == 0);
        Ok(match collective {
            Collective::Broadcast(b) if deps.is_empty() => self.cached(step, || {
                content::generate(
                    content::key(&[seed, step as u64, TAG_BROADCAST, b.root as u64]),
                    tr.bytes as usize,
                )
            }),
            Collective::Broadcast(_) => dep(&deps[0])?,
            Collective::Allreduce(_) if tr.src != 0 && forwards(plan) => dep(&deps[0])?,
            Collective::Allreduce(_) if tr.src == 0 => {
                if let Some((s, data)) = &self.cached {
                    if *s == step {
                        return Ok(data.clone());
                    }
                }
                let data = Arc::new(self.combine(step, plan, tr.src, tr.bytes, deps, delivered)?);
                self.cached = Some((step, data.clone()));
                data
            }
            Collective::Reduce(_) | Collective::Allreduce(_) => {
                Arc::new(self.combine(step, plan, tr.src, tr.bytes, deps, delivered)?)
            }
            Collective::Send(_)
            | Collective::Scatter(_)
            | Collective::Gather(_)
            | Collective::AllToAll(_) => Arc::new(content::generate(
                content::key(&[seed, step as u64, TAG_P2P, t as u64]),
                tr.bytes as usize,
            )),
        })
    }

    fn cached(&mut self, step: u32, make: impl FnOnce() -> Vec<u8>) -> Arc<Vec<u8>> {
        match &self.cached {
            Some((s, data)) if *s == step => data.clone(),
            _ => {
                let data = Arc::new(make());
                self.cached = Some((step, data.clone()));
                data
            }
        }
    }

    /// Worker `w`'s reduce contribution plus the partial results `deps` delivered to it.
    fn combine(
        &self,
        step: u32,
        plan: &MessagePlan,
        w: u32,
        bytes: u64,
        deps: &[u32],
        delivered: &HashMap<u32, Arc<Vec<u8>>>,
    ) -> Result<Vec<u8>, Stop> {
        let base = content::key(&[self.pack.job.seed, step as u64, TAG_REDUCE]);
        let mut acc = content::scaled(base, contribution_scale(base, w), bytes as usize);
        for d in deps {
            let part = delivered.get(d).ok_or_else(|| {
                Stop::Own(format!(
                    "partial result {d} missing ({} transfers)",
                    plan.transfers().len()
                ))
            })?;
            add_into(&mut acc, part).map_err(Stop::Own)?;
        }
        if deps.len() == plan.receives_of(w).len() && w == 0 {
            if let Collective::Allreduce(_) = self.collective_at(step) {
                self.verify_sum(base, &acc)?;
            }
        }
        Ok(acc)
    }

    fn collective_at(&self, step: u32) -> &Collective {
        let leaf = self.pack.sequence[step as usize] as usize;
        &self.pack.leaves[leaf]
            .1
            .as_ref()
            .expect("a collective step")
            .0
    }

    /// The root of a reduce checks that it holds the sum of every worker's contribution.
    fn check_reduce(
        &self,
        step: u32,
        plan: &MessagePlan,
        delivered: &HashMap<u32, Arc<Vec<u8>>>,
        bytes: u64,
    ) -> Result<(), Stop> {
        let base = content::key(&[self.pack.job.seed, step as u64, TAG_REDUCE]);
        let deps: Vec<u32> = plan.receives_of(self.w).to_vec();
        let acc = self.combine(step, plan, self.w, bytes, &deps, delivered)?;
        self.verify_sum(base, &acc)
    }

    fn verify_sum(&self, base: u64, acc: &[u8]) -> Result<(), Stop> {
        let total = (0..self.pack.layout.workers())
            .fold(0u64, |s, w| s.wrapping_add(contribution_scale(base, w)));
        match first_difference(base, total, acc) {
            None => Ok(()),
            Some(at) => Err(Stop::Own(format!(
                "the reduced result differs from the sum of the {} contributions at byte {at}",
                self.pack.layout.workers()
            ))),
        }
    }

    /// Sends transfer `t`: in memory to a worker of the pack, or chunk by chunk to the broker.
    fn send(
        &mut self,
        step: u32,
        collective: &Collective,
        plan: &MessagePlan,
        t: u32,
        delivered: &HashMap<u32, Arc<Vec<u8>>>,
        times: &mut StepTimes,
    ) -> Result<(), Stop> {
        let tr = plan.transfers()[t as usize];
        let data = self.payload(step, collective, plan, t, delivered)?;
        if tr.route == Route::Local {
            let inbox = &self.pack.inboxes[(tr.dst - self.pack.first) as usize];
            // A destination that already failed no longer listens: nothing to deliver.
            let _ = inbox.send(Event::Local { step, t, data });
            return Ok(());
        }
        let keys = self.pack.keys.clone();
        let fanouts = plan.fanouts_of(t as usize);
        let receivers: Vec<String> = std::iter::once(t)
            .chain(fanouts.iter().copied())
            .map(|d| keys.transfer(step, d))
            .collect();
        let chunk_size = plan.chunk_size();
        let up = self
            .up
            .as_mut()
            .ok_or_else(|| Stop::Own("a remote send without a broker connection".into()))?;
        let mut offset = 0usize;
        for i in 0..tr.chunks {
            let len = tr.chunk_bytes(i, chunk_size) as usize;
            let chunk = &data[offset..offset + len];
            offset += len;
            let frame = encode(FrameKind::Data, t, i, chunk, true);
            if fanouts.is_empty() {
                up.push(&receivers[0], &frame)
            } else {
                let pointer = encode(FrameKind::Pointer, t, i, chunk, false);
                up.push_shared(&keys.shared_chunk(step, t, i), &frame, &pointer, &receivers)
            }
            .map_err(Stop::Own)?;
        }
        times.bytes_uploaded += tr.bytes;
        Ok(())
    }

    /// After its own failure: every other worker of the pack hears it through its channel,
    /// every worker of other packs through its control key.
    fn tell_others(&mut self, reason: &str) {
        let w = self.w;
        let why = format!("worker {w} failed: {reason}");
        for (i, inbox) in self.pack.inboxes.iter().enumerate() {
            if self.pack.first + i as u32 != w {
                let _ = inbox.send(Event::Abort(why.clone()));
            }
        }
        let pack = self.pack.layout.pack_of(w);
        let others: Vec<String> = (0..self.pack.layout.workers())
            .filter(|&o| self.pack.layout.pack_of(o) != pack)
            .map(|o| self.pack.keys.control(o))
            .collect();
        if let Some(up) = self.up.as_mut() {
            if !others.is_empty() {
                let frame = encode(FrameKind::Abort, 0, 0, why.as_bytes(), true);
                let _ = up.push_all(&others, &frame);
            }
        }
    }
}

/// Whether worker `w` sends, and whether it receives, anything through the broker.
fn remote_roles(pack: &Pack, w: u32) -> (bool, bool) {
    let mut roles = (false, false);
    for (_, comm) in &pack.leaves {
        if let Some((_, plan)) = comm {
            let remote = |t: &u32| plan.transfers()[*t as usize].is_remote();
            roles.0 |= plan.sends_of(w).iter().any(remote);
            roles.1 |= plan.receives_of(w).iter().any(remote);
        }
    }
    roles
}

fn event_step(e: &Event) -> Option<u32> {
    match e {
        Event::Local { step, .. } | Event::Remote { step, .. } => Some(*step),
        Event::Failed(_) | Event::Abort(_) => None,
    }
}

fn delivery(e: Event) -> (u32, Arc<Vec<u8>>, bool) {
    match e {
        Event::Local { t, data, .. } => (t, data, true),
        Event::Remote { t, data, .. } => (t, data, false),
        Event::Failed(_) | Event::Abort(_) => unreachable!("only deliveries are stashed"),
    }
}

/// A worker's receiving thread.
struct Receiving {
    down: Downloader,
    keys: Keys,
    w: u32,
    out: Sender<Event>,
    timeout: Duration,
    stop: Arc<AtomicBool>,
    chunk_size: u64,
}

/// A transfer being reassembled.
struct Partial {
    item: RecvItem,
    data: Vec<u8>,
    seen: Vec<bool>,
    left: u32,
}

impl Receiving {
    fn run(mut self, steps: Receiver<RecvStep>) {
        while let Ok(s) = steps.recv() {
            match self.receive(s) {
                Ok(true) => {}
                Ok(false) => return,
                Err(reason) => {
                    let _ = self.out.send(Event::Failed(reason));
                    return;
                }
            }
        }
    }

    /// Downloads the items of one step; false when it must stop (told to, or an abort came).
    fn receive(&mut self, s: RecvStep) -> Result<bool, String> {
        let control = self.keys.control(self.w);
        let mut partial: HashMap<String, Partial> = s
            .items
            .into_iter()
            .map(|item| {
                let chunks = item.chunks.max(1);
                let p = Partial {
                    data: vec![0u8; item.bytes as usize],
                    seen: vec![false; chunks as usize],
                    left: chunks,
                    item,
                };
                (p.item.key.clone(), p)
            })
            .collect();
        let deadline = Instant::now() + self.timeout;
        while !partial.is_empty() {
            if self.stop.load(Ordering::Relaxed) {
                return Ok(false);
            }
            if Instant::now() >= deadline {
                let mut from: Vec<u32> = partial.values().map(|p| p.item.src_worker).collect();
                from.sort_unstable();
                return Err(format!(
                    "timed out after {:.0} s waiting for messages from workers {from:?}",
                    self.timeout.as_secs_f64()
                ));
            }
            let mut keys: Vec<String> = partial.keys().cloned().collect();
            keys.sort();
            keys.push(control.clone());
            for (key, raw) in self.down.wait(&keys, Duration::from_millis(500))? {
                if key == control {
                    let (frame, reason) = decode(&raw)?;
                    if frame.kind == FrameKind::Abort {
                        let why = String::from_utf8_lossy(reason).into_owned();
                        let _ = self.out.send(Event::Abort(why));
                        return Ok(false);
                    }
                    continue;
                }
                let p = partial
                    .get_mut(&key)
                    .ok_or_else(|| format!("a frame on {key}, which this worker does not read"))?;
                self.chunk(s.step, p, &raw)?;
                if p.left == 0 {
                    let p = partial.remove(&key).expect("present");
                    self.down.done_with(&key, p.item.sole_reader)?;
                    let ev = Event::Remote {
                        step: s.step,
                        t: p.item.t,
                        data: Arc::new(p.data),
                    };
                    if self.out.send(ev).is_err() {
                        return Ok(false);
                    }
                }
            }
        }
        Ok(true)
    }

    /// Checks one chunk frame (following a pointer to its stored chunk) and places it.
    fn chunk(&mut self, step: u32, p: &mut Partial, raw: &[u8]) -> Result<(), String> {
        let from = |e: String| format!("from worker {}: {e}", p.item.src_worker);
        let (mut frame, _) = decode(raw).map_err(from)?;
        let stored;
        let mut payload = &raw[super::wire::HEADER..];
        if frame.kind == FrameKind::Pointer {
            stored = self
                .down
                .get(&self.keys.shared_chunk(step, frame.transfer, frame.chunk))
                .map_err(from)?;
            let (f, data) = decode(&stored).map_err(from)?;
            frame = f;
            payload = data;
        }
        let item = &p.item;
        if frame.kind != FrameKind::Data
            || frame.transfer != item.source
            || frame.chunk >= item.chunks.max(1)
        {
            return Err(from(format!(
                "an unexpected frame ({:?} of transfer {} chunk {}) for transfer {}",
                frame.kind, frame.transfer, frame.chunk, item.source
            )));
        }
        frame.verify(payload).map_err(from)?;
        let i = frame.chunk as usize;
        if p.seen[i] {
            return Err(from(format!(
                "chunk {i} of transfer {} arrived twice",
                item.source
            )));
        }
        let (start, len) = if item.chunks <= 1 {
            (0, item.bytes)
        } else {
            (
                self.chunk_size * i as u64,
                policies::comm::chunk_bytes(item.bytes, self.chunk_size, i as u32),
            )
        };
        if payload.len() as u64 != len {
            return Err(from(format!(
                "chunk {i} of transfer {} has {} bytes, expected {len}",
                item.source,
                payload.len()
            )));
        }
        p.data[start as usize..(start + len) as usize].copy_from_slice(payload);
        p.seen[i] = true;
        p.left -= 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comm::LiveBackend;
    use policies::comm::Program;

    fn job(program: &str, workers: u32) -> CommJob {
        #[derive(serde::Deserialize)]
        struct W {
            steps: Program,
        }
        let program = toml::from_str::<W>(program).unwrap().steps;
        CommJob {
            draws: program.burst_draws(1, 0, workers),
            program,
            chunk_size: 1000,
            backend: LiveBackend::List,
            // Never connected: a single pack keeps every message in memory.
            broker: "redis://127.0.0.1:1".into(),
            keys: "bs:t:m:r:b0".into(),
            seed: 3,
            timeout_s: 10.0,
            faas_workers: None,
        }
    }

    /// One pack holding the whole burst: every collective in memory, no broker, and each
    /// worker receives what the plan sends it (the reduce and allreduce roots check the sum).
    #[test]
    fn a_single_pack_runs_every_collective_in_memory() {
        let j = job(
            r#"
[[steps]]
kind = "repeat"
times = 2
steps = [
  { kind = "send", pattern = "ring", bytes = 3001 },
  { kind = "broadcast", root = 2, bytes = 3001 },
  { kind = "scatter", root = 1, bytes_per_worker = 2000 },
  { kind = "gather", root = 4, bytes_per_worker = 2000 },
  { kind = "all_to_all", bytes_per_pair = 999 },
  { kind = "reduce", root = 3, bytes = 3001 },
  { kind = "allreduce", bytes = 4096 },
  { kind = "compute", work = 0.001 },
]
"#,
            5,
        );
        let layout = CommLayout::direct(5, 5);
        let reports = run_pack(&j, layout.clone(), 0, &[], (7, 1));
        let leaves = j.program.leaves();
        for (w, r) in reports.iter().enumerate() {
            let r = r.as_ref().unwrap_or_else(|e| panic!("worker {w}: {e}"));
            assert_eq!((r.worker_id, r.container_id), (w as u32, 7));
            assert_eq!(r.steps.len(), 16);
            for (i, s) in r.steps.iter().enumerate() {
                let leaf = leaves[i % 8];
                let expected: u64 = leaf.collective().map_or(0, |c| {
                    let plan = MessagePlan::new(&c, &layout, 1000).unwrap();
                    plan.receives_of(w as u32)
                        .iter()
                        .map(|&t| plan.transfers()[t as usize].bytes)
                        .sum()
                });
                assert_eq!(
                    (s.bytes_local, s.bytes_remote),
                    (expected, 0),
                    "w{w} step {i}"
                );
                assert_eq!(s.bytes_uploaded, 0);
            }
        }
    }

    /// A plan that cannot be made fails every worker with the reason, none hangs.
    #[test]
    fn a_bad_step_fails_every_worker_with_the_reason() {
        let j = job("[[steps]]\nkind = \"broadcast\"\nroot = 9\nbytes = 10\n", 2);
        let reports = run_pack(&j, CommLayout::direct(2, 2), 0, &[], (0, 0));
        for r in reports {
            let e = r.unwrap_err();
            assert!(
                e.contains("step 0 (broadcast)") && e.contains("root"),
                "{e}"
            );
        }
    }
}
