//! An invoker: receives activation messages and finds each a container, in OpenWhisk's order:
//! an idle warm container of the same action (and CPU count) -> a prewarmed stem cell of the same
//! memory (single-worker containers only) -> a new container if resources allow -> remove idle
//! containers (least recently used) and create -> otherwise wait in a FIFO run buffer
//! (head-of-line: later messages wait behind the head).
//!
//! Resources depend on the CPU model: with exclusive CPUs a message needs one free core per
//! worker (memory is not a constraint: the controller already admitted it by CPUs); with CPU
//! shares it needs memory slots (user memory). Prewarmed stem cells, ready or being created,
//! take user memory as in OpenWhisk's `ContainerPool` (a stem is created only if it fits, and
//! never evicted); taking one needs no further memory, and its refill is created if it fits.
//! Stem cells are runtimes of a managed kind: only managed actions use them (Docker images are
//! never prewarmed). A function served by one pays `prewarm.init` and is not `cold` (it is
//! counted in `SimStats::prewarm_starts`). A message that could never run on its invoker (more
//! workers than CPUs, or more memory than the user memory) fails at once with a reason.
//!
//! A new container is created by the container engine (module `creation`).

use std::collections::VecDeque;
use std::sync::Arc;

use policies::ActionKind;

use crate::container::{CState, IdlePool, STEM};
use crate::cpu::CpuSharer;
use crate::creation::CreationCpu;
use crate::rng::{self, Rng};
use crate::scenario::InvokerSpec;
use crate::sim::{Message, Sim};

pub(crate) struct InvokerState {
    pub rng: Rng,
    pub cpus: u32,
    pub user_mem: u64,
    pub free_cores: Vec<u32>,
    pub used_mem: u64,
    pub idle_mem: u64,
    /// Idle containers (what the idle pool and LRU hold valid entries for).
    pub idle_count: u32,
    /// (action, workers) -> idle containers, most recently idled last.
    pub idle: IdlePool,
    /// Idle containers in the order they became idle (may hold stale entries).
    pub lru: VecDeque<(u32, u32)>,
    pub stems: Vec<u32>,
    /// Containers waiting for an engine slot.
    pub queued: u32,
    /// Containers in the engine phase or initialising.
    pub starting: u32,
    pub busy: u32,
    pub engine_queue: VecDeque<u32>,
    pub engine_busy: u32,
    /// Creations whose wall-clock engine section runs, with the CPU work that follows it.
    pub cpu_after_wall: Vec<(u32, f64)>,
    /// Creations doing their CPU work.
    pub creation_cpu: CreationCpu,
    pub buffer: VecDeque<u32>,
    pub sharer: CpuSharer,
    /// More CPU-bound functions can run here at once than it has cores (CPU shares model):
    /// false when its user memory holds no more containers of the smallest CPU-bound action
    /// than cores, so every such function always has a core of its own.
    pub may_contend: bool,
}

impl InvokerState {
    pub fn new(id: u32, spec: &InvokerSpec, seed: u64, exclusive: bool) -> Self {
        InvokerState {
            rng: rng::stream(seed, "invoker", id as u64),
            cpus: spec.cpus,
            user_mem: spec.user_memory_mb,
            free_cores: if exclusive {
                (0..spec.cpus).rev().collect()
            } else {
                Vec::new()
            },
            used_mem: 0,
            idle_mem: 0,
            idle_count: 0,
            idle: IdlePool::default(),
            lru: VecDeque::new(),
            stems: Vec::new(),
            queued: 0,
            starting: 0,
            busy: 0,
            engine_queue: VecDeque::new(),
            engine_busy: 0,
            cpu_after_wall: Vec::new(),
            creation_cpu: CreationCpu::new(spec.cpus),
            buffer: VecDeque::new(),
            sharer: CpuSharer::new(spec.cpus),
            may_contend: true,
        }
    }
}

impl Sim<'_> {
    /// Stem cells that exist before the run starts, as many as user memory holds.
    pub(crate) fn init_prewarm(&mut self) {
        let pw = &self.sc.invoker.prewarm;
        let (count, memory) = (pw.count, pw.memory_mb);
        for inv in 0..self.invokers.len() {
            for _ in 0..count {
                if !self.stem_fits(inv) {
                    break;
                }
                self.invokers[inv].used_mem += memory;
                let cid = self.new_container(inv as u32, STEM, 1, memory, CState::Stem);
                self.invokers[inv].stems.push(cid);
            }
        }
    }

    /// A new stem cell fits in the invoker's free user memory.
    fn stem_fits(&self, inv: usize) -> bool {
        let st = &self.invokers[inv];
        st.used_mem + self.sc.invoker.prewarm.memory_mb <= st.user_mem
    }

    pub(crate) fn deliver(&mut self, m: u32) {
        let msg = self.messages[m as usize];
        let now = self.now;
        if self.fx.is_some() {
            if self.message_settled(m) {
                return;
            }
            self.fx().msgs[m as usize].delivered = true;
            for k in 0..msg.workers as u64 {
                let aid = msg.first_fid + k;
                if self.fx().attempts.is_open(aid) {
                    self.arec(aid).t_dispatch = now;
                }
            }
        } else {
            for slot in self.records.range_mut(msg.first_fid, msg.workers) {
                slot.t_dispatch = now;
            }
        }
        let inv = msg.invoker as usize;
        let memory = self.message_memory(m);
        let st = &self.invokers[inv];
        let never = if self.exclusive_cpu {
            (msg.workers > st.cpus).then(|| format!("{} CPUs", st.cpus))
        } else {
            (memory > st.user_mem).then(|| format!("{} MB of user memory", st.user_mem))
        };
        if let Some(has) = never {
            let reason = format!(
                "a container of {} workers ({memory} MB) can never run on invoker {inv}, which has {has}",
                msg.workers
            );
            self.fail_message(m, &reason);
            return;
        }
        if !self.invokers[inv].buffer.is_empty() || !self.admit(m, msg, memory) {
            self.invokers[inv].buffer.push_back(m);
            self.stats.buffered_messages += 1;
        }
    }

    fn message_memory(&self, m: u32) -> u64 {
        let msg = &self.messages[m as usize];
        self.sc.actions[msg.action as usize].memory_mb * msg.workers as u64
    }

    /// Faults: true (and the message is dropped, its reservation returned) when message `m`
    /// has nothing left to run: it was settled by the controller (lost invoker detected) or
    /// every attempt in it was stopped while it waited.
    fn message_settled(&mut self, m: u32) -> bool {
        let msg = self.messages[m as usize];
        let over = self.fx().msgs[m as usize].over
            || (0..msg.workers as u64).all(|k| !self.fx().attempts.is_open(msg.first_fid + k));
        if over {
            self.fx().msgs[m as usize].over = true;
            self.release_message(m, true);
        }
        over
    }

    /// Records the message's functions as failed and returns its reservation to the controller.
    fn fail_message(&mut self, m: u32, reason: &str) {
        let msg = self.messages[m as usize];
        if self.fx.is_some() {
            for k in 0..msg.workers as u64 {
                let aid = msg.first_fid + k;
                if self.fx().attempts.close(aid) {
                    self.set_outcome(aid, policies::Status::Failed, reason);
                    self.arec(aid).invoker = msg.invoker;
                    let fid = self.fx().attempts.function_of(aid);
                    if !self.fx().attempts.other_open(fid, aid) {
                        self.function_final(fid, None);
                    }
                }
            }
            self.fx().msgs[m as usize].over = true;
            self.release_message(m, false);
            return;
        }
        let reason: Arc<str> = reason.into();
        for slot in self.records.range_mut(msg.first_fid, msg.workers) {
            slot.settle(policies::Status::Failed, &reason);
            slot.invoker = msg.invoker;
        }
        self.finished += msg.workers as u64;
        let memory = self.message_memory(m);
        self.messages.remove(m);
        self.release(msg.invoker, msg.workers, memory);
    }

    /// Admits buffered messages in order while resources allow.
    #[inline]
    pub(crate) fn drain_buffer(&mut self, inv: usize) {
        if !self.invokers[inv].buffer.is_empty() {
            self.drain_buffered(inv);
        }
    }

    fn drain_buffered(&mut self, inv: usize) {
        while let Some(&m) = self.invokers[inv].buffer.front() {
            if self.fx.is_some() && self.message_settled(m) {
                self.invokers[inv].buffer.pop_front();
                continue;
            }
            if !self.try_admit(m) {
                break;
            }
            self.invokers[inv].buffer.pop_front();
        }
    }

    /// Finds message `m` a container, or returns false when it must wait.
    fn try_admit(&mut self, m: u32) -> bool {
        let msg = self.messages[m as usize];
        let memory = self.message_memory(m);
        self.admit(m, msg, memory)
    }

    /// `try_admit` of message `m`, its row `msg` and its `memory` (`message_memory`).
    #[inline(always)]
    fn admit(&mut self, m: u32, msg: Message, memory: u64) -> bool {
        let inv = msg.invoker as usize;
        let action = msg.action;
        if self.exclusive_cpu && self.invokers[inv].free_cores.len() < msg.workers as usize {
            return false;
        }
        if let Some(cid) = self.pop_idle(inv, action, msg.workers) {
            self.start_warm(cid, m);
            return true;
        }
        let pw = &self.sc.invoker.prewarm;
        let managed = self.sc.actions[action as usize].kind == ActionKind::Managed;
        if managed
            && msg.workers == 1
            && memory == pw.memory_mb
            && !self.invokers[inv].stems.is_empty()
        {
            // The stem's memory is already taken: it becomes the function's.
            self.start_prewarmed(m, action, memory);
            return true;
        }
        if !self.exclusive_cpu && !self.make_room(inv, memory) {
            return false;
        }
        let cid = self.new_container(msg.invoker, action, msg.workers, memory, CState::Creating);
        self.stats.cold_starts += 1;
        self.assign(cid, m, true);
        self.enqueue_creation(cid);
        true
    }

    /// Makes `memory` MB of user memory free, removing idle containers if that is enough.
    fn make_room(&mut self, inv: usize, memory: u64) -> bool {
        let st = &self.invokers[inv];
        let free = st.user_mem.saturating_sub(st.used_mem);
        if free >= memory {
            return true;
        }
        if free + st.idle_mem < memory {
            return false;
        }
        while let Some((cid, epoch)) = self.invokers[inv].lru.pop_front() {
            let c = &self.containers[cid as usize];
            if c.state == CState::Idle && c.epoch == epoch {
                self.evict(cid);
                let st = &self.invokers[inv];
                if st.user_mem.saturating_sub(st.used_mem) >= memory {
                    return true;
                }
            }
        }
        false
    }

    /// Binds message `m` to container `cid`: memory, cores, state.
    #[inline(always)]
    fn assign(&mut self, cid: u32, m: u32, cold: bool) {
        let c = &mut self.containers[cid as usize];
        let st = &mut self.invokers[c.invoker as usize];
        c.msg = m;
        c.cold = cold;
        c.run = c.run.wrapping_add(1);
        match c.state {
            CState::Idle => {
                st.idle_mem -= c.memory_mb;
                st.idle_count -= 1;
            }
            // A stem cell's memory was taken when it was created.
            CState::Stem => {}
            _ => st.used_mem += c.memory_mb,
        }
        if c.state != CState::Creating {
            st.busy += 1;
            c.state = CState::Busy;
            c.epoch = c.epoch.wrapping_add(1);
        }
        if self.exclusive_cpu {
            if c.workers == 1 {
                c.core = st.free_cores.pop().expect("admission checked a free core");
            } else {
                let keep = st.free_cores.len() - c.workers as usize;
                c.cores.clear();
                c.cores.extend(st.free_cores.drain(keep..).rev());
            }
        }
    }

    #[inline(always)]
    fn start_warm(&mut self, cid: u32, m: u32) {
        let paused =
            self.now - self.containers[cid as usize].idle_since > self.sc.invoker.pause_grace_ns;
        self.assign(cid, m, false);
        self.stats.warm_starts += 1;
        let inv = self.containers[cid as usize].invoker as usize;
        let rng = &mut self.invokers[inv].rng;
        let mut delay = self.sc.invoker.warm_start.sample_ns(rng);
        if paused {
            delay += self.sc.invoker.unpause.sample_ns(rng);
        }
        self.ready_after(cid, delay);
    }

    fn start_prewarmed(&mut self, m: u32, action: u32, memory: u64) {
        let inv = self.messages[m as usize].invoker;
        let Some(cid) = self.invokers[inv as usize].stems.pop() else {
            return;
        };
        let share = self.share_of(inv as usize, memory, 1);
        let c = &mut self.containers[cid as usize];
        c.action = action;
        c.memory_mb = memory;
        c.share = share;
        c.stem = false;
        self.assign(cid, m, false);
        self.stats.prewarm_starts += 1;
        let delay = self
            .sc
            .invoker
            .prewarm
            .init
            .sample_ns(&mut self.invokers[inv as usize].rng);
        self.ready_after(cid, delay);
        // Refill the pool through the same engine slots, if user memory allows.
        self.refill_stem(inv as usize);
    }

    /// Creates a stem cell on `inv` through its engine slots, if user memory allows.
    pub(crate) fn refill_stem(&mut self, inv: usize) {
        if self.stem_fits(inv) {
            let memory = self.sc.invoker.prewarm.memory_mb;
            self.invokers[inv].used_mem += memory;
            let stem = self.new_container(inv as u32, STEM, 1, memory, CState::Creating);
            self.enqueue_creation(stem);
        }
    }

    fn ready_after(&mut self, cid: u32, delay: u64) {
        self.container_ready(cid, self.now + delay);
    }
}
