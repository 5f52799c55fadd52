//! Containers and the warm pool: after its work a container idles (holding its memory, not its
//! CPUs), is reused by the next message of the same action and size (most recently idled first),
//! pauses after `pause_grace` (reuse then pays `unpause`), and is removed after `keep_alive` or
//! earlier to make room (least recently idled first). Stale pool entries are skipped lazily via
//! an epoch that changes whenever a container leaves the idle state.

use std::collections::BTreeMap;

use crate::dispatcher::cpu_share;
use crate::event::Event;
use crate::records::NONE;
use crate::sim::Sim;

/// `action` of a prewarmed stem cell that no action has taken yet.
pub(crate) const STEM: u32 = u32::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CState {
    /// Queued for or in the engine phase, or initialising.
    Creating,
    /// A ready prewarmed stem cell.
    Stem,
    /// Running a message (or getting ready for it).
    Busy,
    Idle,
    Dead,
}

#[derive(Debug, Clone)]
pub(crate) struct Container {
    /// The id records name it by: creation order in the run (its slot is reused after it is
    /// removed, its id never).
    pub id: u64,
    /// Highest function id it ran (`NONE`: none yet).
    pub last_fid: u64,
    pub invoker: u32,
    pub action: u32,
    /// CPUs / worker slots.
    pub workers: u32,
    pub memory_mb: u64,
    /// Its CPU share (`dispatcher::cpu_share` of its memory per worker), kept with the memory
    /// so that each worker start does not divide again.
    pub share: u32,
    pub state: CState,
    pub epoch: u32,
    pub idle_since: u64,
    pub keepalive_pending: bool,
    /// Current message.
    pub msg: u32,
    /// Counts the messages it was given (faults: worker end events of an earlier run, or of a
    /// stopped one, are stale).
    pub run: u32,
    /// Workers of the current message still running (CPU shares model).
    pub remaining: u32,
    /// Whether the current message's functions got a fresh container.
    pub cold: bool,
    /// Created as a stem cell (becomes one when its creation ends).
    pub stem: bool,
    /// Core held while busy by a single-worker container (exclusive CPU model), kept inline so
    /// that reusing the container touches no extra heap block.
    pub core: u32,
    /// Cores held while busy by a larger container (exclusive CPU model), worker k on `cores[k]`.
    pub cores: Vec<u32>,
}

impl Container {
    /// The core of worker `k` while busy (exclusive CPU model).
    #[inline]
    pub fn core_of(&self, k: usize) -> u32 {
        if self.workers == 1 {
            self.core
        } else {
            self.cores[k]
        }
    }
}

/// An idle pool key: (action, workers).
type PoolKey = (u32, u32);
/// An idle pool entry: (container, epoch when it went idle).
type PoolEntry = (u32, u32);

/// One invoker's idle containers as (container, epoch) stacks per (action, workers), most
/// recently idled on top. The first key's stack is stored apart, its top entry inline: the
/// usual reuse (one action, one idle container) touches no heap block, which matters once tens
/// of thousands of invokers fall out of cache. Other keys live in an ordered map.
#[derive(Debug, Default)]
pub(crate) struct IdlePool {
    /// The first key seen; its stack is `top0` (`None` only when empty) over `below0`.
    key0: Option<PoolKey>,
    top0: Option<PoolEntry>,
    below0: Vec<PoolEntry>,
    others: BTreeMap<PoolKey, Vec<PoolEntry>>,
    /// Entries held, stale ones included.
    len: usize,
}

impl IdlePool {
    /// Takes the top entry of `key`'s stack.
    fn pop(&mut self, key: PoolKey) -> Option<PoolEntry> {
        let top = if self.key0 == Some(key) {
            let top = self.top0.take();
            if top.is_some() {
                self.top0 = self.below0.pop();
            }
            top
        } else {
            self.others.get_mut(&key).and_then(|v| v.pop())
        };
        self.len -= usize::from(top.is_some());
        top
    }

    /// Keeps only the entries `keep` accepts, each stack in its order.
    fn retain(&mut self, keep: impl Fn(PoolEntry) -> bool) {
        if let Some(top) = self.top0.take() {
            self.below0.push(top);
        }
        self.below0.retain(|&e| keep(e));
        self.top0 = self.below0.pop();
        for stack in self.others.values_mut() {
            stack.retain(|&e| keep(e));
        }
        self.others.retain(|_, stack| !stack.is_empty());
        self.len = usize::from(self.top0.is_some())
            + self.below0.len()
            + self.others.values().map(Vec::len).sum::<usize>();
    }

    #[inline(always)]
    fn push(&mut self, key: PoolKey, entry: PoolEntry) {
        self.len += 1;
        match self.key0 {
            None => {
                self.key0 = Some(key);
                self.top0 = Some(entry);
            }
            Some(k) if k == key => {
                if let Some(top) = self.top0.replace(entry) {
                    self.below0.push(top);
                }
            }
            Some(_) => self.others.entry(key).or_default().push(entry),
        }
    }
}

impl Sim<'_> {
    pub(crate) fn new_container(
        &mut self,
        invoker: u32,
        action: u32,
        workers: u32,
        memory_mb: u64,
        state: CState,
    ) -> u32 {
        let id = self.stats.containers_created;
        self.stats.containers_created += 1;
        let share = self.share_of(invoker as usize, memory_mb, workers);
        self.containers.insert_with(|old| Container {
            id,
            last_fid: NONE,
            invoker,
            action,
            workers,
            memory_mb,
            share,
            state,
            // A reused slot keeps counting epochs, so stale pool entries never match it.
            epoch: old.map_or(0, |c| c.epoch),
            idle_since: 0,
            keepalive_pending: false,
            msg: u32::MAX,
            run: old.map_or(0, |c| c.run),
            remaining: 0,
            cold: false,
            stem: action == STEM,
            core: u32::MAX,
            cores: Vec::new(),
        })
    }

    /// The CPU share of a container of `memory_mb` and `workers` on invoker `inv`.
    pub(crate) fn share_of(&self, inv: usize, memory_mb: u64, workers: u32) -> u32 {
        cpu_share(
            memory_mb / workers.max(1) as u64,
            self.invokers[inv].user_mem,
        )
    }

    /// An idle container of `action` with `workers` CPUs on `inv`, taken out of the pool.
    pub(crate) fn pop_idle(&mut self, inv: usize, action: u32, workers: u32) -> Option<u32> {
        let containers = &self.containers;
        let pool = &mut self.invokers[inv].idle;
        while let Some((cid, epoch)) = pool.pop((action, workers)) {
            let c = &containers[cid as usize];
            if c.state == CState::Idle && c.epoch == epoch {
                return Some(cid);
            }
        }
        None
    }

    /// Every worker of container `cid` finished: free its CPUs, tell the controller, go idle.
    #[inline(always)]
    pub(crate) fn container_done(&mut self, cid: u32) {
        let now = self.now;
        let keep_alive = self.sc.invoker.keep_alive_ns;
        let shared = {
            let c = &self.containers[cid as usize];
            self.shares_cpu(c.invoker as usize, c.action)
        };
        let c = &mut self.containers[cid as usize];
        if c.state != CState::Busy {
            // Faults: its invoker crashed, or it ended when its last worker stopped.
            return;
        }
        let inv = c.invoker as usize;
        let (workers, memory, action) = (c.workers, c.memory_mb, c.action);
        let m = c.msg;
        self.messages.remove(m);
        // Under CPU shares each CPU-bound worker was counted as it finished, and so was
        // every worker of a step program; with faults each attempt is counted as it settles.
        let faults = self.fx.is_some();
        if !shared && self.comm.is_none() && !faults {
            self.finished += workers as u64;
        }
        let st = &mut self.invokers[inv];
        st.busy -= 1;
        if self.exclusive_cpu {
            if workers == 1 {
                st.free_cores.push(c.core);
            } else {
                st.free_cores.extend(c.cores.drain(..).rev());
            }
        }
        c.state = CState::Idle;
        c.idle_since = now;
        let entry = (cid, c.epoch);
        st.idle.push((action, workers), entry);
        st.idle_mem += memory;
        st.idle_count += 1;
        let schedule_keep_alive = !c.keepalive_pending;
        c.keepalive_pending = true;
        let containers = &self.containers;
        let valid = |(id, e): PoolEntry| {
            let f = &containers[id as usize];
            f.state == CState::Idle && f.epoch == e
        };
        // Entries of containers reused or removed since are skipped lazily; once they
        // outnumber the idle containers, drop them (the valid ones keep their order).
        let bound = 2 * st.idle_count as usize + 32;
        if st.idle.len > bound {
            st.idle.retain(valid);
        }
        // Only memory admission (CPU shares) evicts in LRU order; exclusive CPUs never read it.
        if !self.exclusive_cpu {
            st.lru.push_back(entry);
            // Drop stale entries at the LRU front so the deque stays short in steady state.
            while let Some(&front) = st.lru.front() {
                if valid(front) {
                    break;
                }
                st.lru.pop_front();
            }
            if st.lru.len() > bound {
                st.lru.retain(|&e| valid(e));
            }
        }
        if schedule_keep_alive {
            self.at(now + keep_alive, Event::KeepAlive(cid));
        }
        if faults {
            self.fx().msgs[m as usize].over = true;
            self.release_message(m, false);
        } else {
            self.release(inv as u32, workers, memory);
        }
        self.drain_buffer(inv);
    }

    pub(crate) fn keep_alive(&mut self, cid: u32) {
        let keep_alive = self.sc.invoker.keep_alive_ns;
        let c = &mut self.containers[cid as usize];
        c.keepalive_pending = false;
        match c.state {
            CState::Idle => {}
            // Removed while this check was pending: its slot can go now.
            CState::Dead => return self.containers.remove(cid),
            _ => return,
        }
        let deadline = c.idle_since + keep_alive;
        if self.now >= deadline {
            let inv = c.invoker as usize;
            self.evict(cid);
            self.drain_buffer(inv);
        } else {
            c.keepalive_pending = true;
            self.at(deadline, Event::KeepAlive(cid));
        }
    }

    /// Removes an idle container (its memory is freed; the caller drains the run buffer). Its
    /// slot is freed now, or by its pending keep-alive check; its id is announced closed.
    pub(crate) fn evict(&mut self, cid: u32) {
        let c = &mut self.containers[cid as usize];
        debug_assert_eq!(c.state, CState::Idle);
        c.state = CState::Dead;
        c.epoch = c.epoch.wrapping_add(1);
        c.cores = Vec::new();
        let st = &mut self.invokers[c.invoker as usize];
        st.used_mem -= c.memory_mb;
        st.idle_mem -= c.memory_mb;
        st.idle_count -= 1;
        self.stats.evictions += 1;
        if c.last_fid != NONE {
            self.records.close_container(c.id, c.last_fid);
        }
        if !c.keepalive_pending {
            self.containers.remove(cid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::IdlePool;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    proptest! {
        /// Behaves like one LIFO stack per key, whatever the order of keys and operations.
        #[test]
        fn pool_is_a_stack_per_key(ops in prop::collection::vec((any::<bool>(), 0u32..3, 0u32..3, any::<u32>()), 1..300)) {
            let mut pool = IdlePool::default();
            let mut model: BTreeMap<(u32, u32), Vec<(u32, u32)>> = BTreeMap::new();
            for (push, action, workers, id) in ops {
                let key = (action, workers);
                if push {
                    pool.push(key, (id, id ^ 1));
                    model.entry(key).or_default().push((id, id ^ 1));
                } else {
                    prop_assert_eq!(pool.pop(key), model.get_mut(&key).and_then(|s| s.pop()));
                }
            }
            for (key, stack) in &mut model {
                while let Some(want) = stack.pop() {
                    prop_assert_eq!(pool.pop(*key), Some(want));
                }
                prop_assert_eq!(pool.pop(*key), None);
            }
        }
    }
}
