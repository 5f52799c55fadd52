//! CPU shares: weighted processor sharing on an invoker, as Linux CFS gives it with
//! `cpu.shares`: work-conserving weighted max-min ("water-filling"), at most one core per
//! function. A runnable CPU-bound function with share s progresses at rate `min(1, lambda * s)`,
//! with lambda the largest value for which the rates add up to at most the invoker's cores; so
//! when no more functions run than there are cores each gets a whole core whatever the shares,
//! and cores that capped functions leave over go to the others (sleeping work is unaffected).
//! Functions with equal shares progress alike, so each share value keeps one virtual clock
//! (seconds of progress per function) and a queue of finishing points; the groups are kept
//! by share, largest first, so a change costs O(groups + log n), not O(n).
//!
//! An invoker whose user memory holds no more containers of the smallest CPU-bound action than
//! it has cores can never be oversubscribed (`Sim::shares_cpu` is false there): its functions
//! skip the sharer and end their work after their start, as with exclusive cores.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};

use crate::event::Event;
use crate::sim::Sim;

#[derive(Debug, Clone, Copy)]
struct Job {
    /// Group virtual time at which the job is done, s.
    end_v: f64,
    fid: u64,
    slow_at_start: bool,
    slow_epoch: u32,
}

impl PartialEq for Job {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Job {}
impl PartialOrd for Job {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Job {
    fn cmp(&self, other: &Self) -> Ordering {
        self.end_v
            .total_cmp(&other.end_v)
            .then(self.fid.cmp(&other.fid))
    }
}

/// A group's jobs by finishing point, least (end_v, fid) first. A few jobs (the usual case: no
/// more than an invoker's cores, finishing about in start order) are kept sorted, a new one
/// placed from the back, so that taking the first costs no sifting; past `SORTED_MAX` they move
/// to a binary heap (back to sorted once it empties). Either way the order is the jobs' total
/// order, so which form holds them never changes a result.
#[derive(Debug, Clone)]
enum JobQueue {
    Sorted(VecDeque<Job>),
    Heap(BinaryHeap<Reverse<Job>>),
}

/// Most jobs a group keeps sorted.
const SORTED_MAX: usize = 64;

impl JobQueue {
    fn push(&mut self, job: Job) {
        match self {
            JobQueue::Sorted(q) if q.len() < SORTED_MAX => {
                if q.back().is_none_or(|last| *last < job) {
                    q.push_back(job);
                } else {
                    let at = q.partition_point(|j| *j < job);
                    q.insert(at, job);
                }
            }
            JobQueue::Sorted(q) => {
                let mut heap: BinaryHeap<Reverse<Job>> = q.drain(..).map(Reverse).collect();
                heap.push(Reverse(job));
                *self = JobQueue::Heap(heap);
            }
            JobQueue::Heap(h) => h.push(Reverse(job)),
        }
    }

    fn peek(&self) -> Option<&Job> {
        match self {
            JobQueue::Sorted(q) => q.front(),
            JobQueue::Heap(h) => h.peek().map(|j| &j.0),
        }
    }

    fn pop(&mut self) -> Option<Job> {
        match self {
            JobQueue::Sorted(q) => q.pop_front(),
            JobQueue::Heap(h) => {
                let job = h.pop().map(|j| j.0);
                if h.is_empty() {
                    *self = JobQueue::Sorted(VecDeque::new());
                }
                job
            }
        }
    }

    fn contains(&self, fid: u64) -> bool {
        match self {
            JobQueue::Sorted(q) => q.iter().any(|j| j.fid == fid),
            JobQueue::Heap(h) => h.iter().any(|j| j.0.fid == fid),
        }
    }

    fn remove(&mut self, fid: u64) {
        match self {
            JobQueue::Sorted(q) => q.retain(|j| j.fid != fid),
            JobQueue::Heap(h) => h.retain(|j| j.0.fid != fid),
        }
    }
}

#[derive(Debug, Clone)]
struct Group {
    share: u32,
    v: f64,
    rate: f64,
    slow: bool,
    /// Counts the times the group went from full speed to slowed.
    slow_epoch: u32,
    /// Runnable jobs (counted before a new job is pushed, so its start state is known).
    n: usize,
    jobs: JobQueue,
}

/// The processor-sharing state of one invoker.
#[derive(Debug, Clone)]
pub(crate) struct CpuSharer {
    cores: f64,
    last: u64,
    pub gen: u32,
    groups: Vec<Group>,
    /// Runnable jobs over all groups.
    runnable: usize,
    /// While at most this many jobs run, every rate is 1 (`recompute`'s fast path): the
    /// cores, when water-filling's sums of shares are exact in f64; else 0.
    uncontended: usize,
    /// The largest share seen.
    max_share: u32,
    /// Every group's rate is 1 and none is slowed (as after `recompute` while uncontended).
    full_speed: bool,
}

/// Work below this (s) counts as done: absorbs float rounding.
const EPS: f64 = 1e-9;

impl CpuSharer {
    pub fn new(cores: u32) -> Self {
        CpuSharer {
            cores: cores as f64,
            last: 0,
            gen: 0,
            groups: Vec::new(),
            runnable: 0,
            uncontended: 0,
            max_share: 0,
            full_speed: true,
        }
    }

    fn advance(&mut self, now: u64) {
        let dt = (now - self.last) as f64 / 1e9;
        if dt > 0.0 {
            for g in &mut self.groups {
                if g.n > 0 {
                    g.v += g.rate * dt;
                }
            }
        }
        self.last = now;
    }

    /// Water-filling over the groups, largest share first: a group whose proportional rate
    /// would reach a whole core gets one and leaves the cores it does not use to the rest.
    ///
    /// With no more runnable jobs than cores every group gets rate 1 and none is slowed: going
    /// down the groups (shares descending), the weight left is at most the group's share times
    /// the jobs left, which is at most its share times the cores left, so each group is capped
    /// at 1. The sums are of integers below 2^53 (`uncontended`), so exact in f64 as well: the
    /// fast path sets what the loop would.
    fn recompute(&mut self) {
        if self.runnable <= self.uncontended {
            if !self.full_speed {
                for g in &mut self.groups {
                    g.rate = 1.0;
                    g.slow = false;
                }
                self.full_speed = true;
            }
            return;
        }
        self.full_speed = false;
        let mut cores = self.cores;
        let mut weight: f64 = self
            .groups
            .iter()
            .map(|g| g.share as f64 * g.n as f64)
            .sum();
        let mut capped = true;
        for g in &mut self.groups {
            let share = g.share as f64;
            if g.n == 0 {
                g.rate = 1.0;
            } else if capped && cores * share >= weight {
                g.rate = 1.0;
                cores -= g.n as f64;
                weight -= share * g.n as f64;
            } else {
                // Smaller shares than this one are below the cap too.
                capped = false;
                g.rate = cores * share / weight;
            }
            let slow = g.n > 0 && g.rate < 1.0;
            if slow && !g.slow {
                g.slow_epoch = g.slow_epoch.wrapping_add(1);
            }
            g.slow = slow;
        }
    }

    /// Function `fid` with `work_ns` of CPU work and `share` becomes runnable at `now`.
    pub fn add(&mut self, now: u64, fid: u64, work_ns: u64, share: u32) {
        self.advance(now);
        let gi = match self.groups.iter().position(|g| g.share == share) {
            Some(i) => i,
            None => {
                if share > self.max_share {
                    self.max_share = share;
                    // Water-filling's products and sums stay below max share x cores.
                    let exact = (share as u64).saturating_mul(self.cores as u64) <= 1 << 53;
                    self.uncontended = if exact { self.cores as usize } else { 0 };
                }
                let at = self.groups.partition_point(|g| g.share > share);
                self.groups.insert(
                    at,
                    Group {
                        share,
                        v: 0.0,
                        rate: 1.0,
                        slow: false,
                        slow_epoch: 0,
                        n: 0,
                        jobs: JobQueue::Sorted(VecDeque::new()),
                    },
                );
                at
            }
        };
        self.groups[gi].n += 1;
        self.runnable += 1;
        self.recompute();
        let g = &mut self.groups[gi];
        let end_v = g.v + work_ns as f64 / 1e9;
        g.jobs.push(Job {
            end_v,
            fid,
            slow_at_start: g.slow,
            slow_epoch: g.slow_epoch,
        });
    }

    /// Removes job `fid` before it is done (faults: its worker was stopped); true when it was
    /// running here.
    pub fn remove(&mut self, now: u64, fid: u64) -> bool {
        self.advance(now);
        let Some(g) = self.groups.iter_mut().find(|g| g.jobs.contains(fid)) else {
            return false;
        };
        g.jobs.remove(fid);
        g.n -= 1;
        self.runnable -= 1;
        self.recompute();
        true
    }

    /// Time from now (ns) to the next completion, if any job runs.
    pub fn next_completion(&self) -> Option<u64> {
        self.groups
            .iter()
            .filter_map(|g| {
                let top = g.jobs.peek()?;
                let left = (top.end_v - g.v).max(0.0);
                Some(crate::float::ceil_u64(left / g.rate * 1e9))
            })
            .min()
    }

    /// Removes the jobs done at `now`: (function id, whether it was ever slowed).
    pub fn pop_done(&mut self, now: u64, out: &mut Vec<(u64, bool)>) {
        self.advance(now);
        for g in &mut self.groups {
            while let Some(top) = g.jobs.peek() {
                if top.end_v > g.v + EPS {
                    break;
                }
                let job = g.jobs.pop().expect("peeked");
                g.n -= 1;
                self.runnable -= 1;
                let slowed = job.slow_at_start || job.slow_epoch != g.slow_epoch;
                out.push((job.fid, slowed));
            }
        }
        self.recompute();
    }
}

impl Sim<'_> {
    /// Whether the functions of `action` on invoker `inv` go through the CPU-shares model:
    /// CPU-bound, under shares, on an invoker where they may have to share a core. Where they
    /// never can, every rate is exactly 1 and each ends at its start plus its work.
    #[inline]
    pub(crate) fn shares_cpu(&self, inv: usize, action: u32) -> bool {
        !self.exclusive_cpu && self.cpu_bound[action as usize] && self.invokers[inv].may_contend
    }

    /// Marks the invokers whose user memory cannot hold more CPU-bound functions than they
    /// have cores (each busy function holds at least the smallest CPU-bound action's memory).
    pub(crate) fn init_contention(&mut self) {
        let smallest = (0..self.sc.actions.len())
            .filter(|&a| self.cpu_bound[a])
            .map(|a| self.sc.actions[a].memory_mb.max(1))
            .min();
        let Some(smallest) = smallest else {
            return;
        };
        for st in &mut self.invokers {
            st.may_contend = st.user_mem / smallest > st.cpus as u64;
        }
    }

    /// Sets the invoker's CPU timer to its next CPU completion (the one it replaces is
    /// forgotten, as if it had gone stale).
    pub(crate) fn reschedule_cpu(&mut self, inv: usize) {
        let s = &mut self.invokers[inv].sharer;
        s.gen = s.gen.wrapping_add(1);
        let gen = s.gen;
        let at = s.next_completion().map(|dt| self.now + dt);
        self.q
            .set_timer(self.cpu_timers + inv, at, Event::CpuDone(inv as u32, gen));
    }

    pub(crate) fn cpu_done(&mut self, inv: u32, gen: u32) {
        let i = inv as usize;
        if self.invokers[i].sharer.gen != gen {
            return;
        }
        // Reuses one buffer: worker_done never re-enters cpu_done.
        let mut done = std::mem::take(&mut self.cpu_done_buf);
        self.invokers[i].sharer.pop_done(self.now, &mut done);
        self.reschedule_cpu(i);
        for &(fid, slowed) in &done {
            self.worker_done(fid, slowed);
        }
        done.clear();
        self.cpu_done_buf = done;
    }
}

#[cfg(test)]
mod tests {
    use super::{CpuSharer, Job, JobQueue};
    use proptest::prelude::*;
    use std::cmp::Reverse;
    use std::collections::{BinaryHeap, VecDeque};

    /// The rate of each runnable job on a sharer with `jobs` = (share, count).
    fn rates(cores: u32, jobs: &[(u32, usize)]) -> Vec<(u32, f64)> {
        let mut s = CpuSharer::new(cores);
        let mut fid = 0;
        for &(share, count) in jobs {
            for _ in 0..count {
                s.add(0, fid, 1_000_000_000, share);
                fid += 1;
            }
        }
        s.groups
            .iter()
            .filter(|g| g.n > 0)
            .map(|g| (g.share, g.rate))
            .collect()
    }

    /// A sharer that always water-fills (what the fast paths must equal).
    fn without_fast_paths(cores: u32) -> CpuSharer {
        let mut s = CpuSharer::new(cores);
        // No share exceeds this, so `uncontended` stays 0.
        s.max_share = u32::MAX;
        s
    }

    fn rate_of(rates: &[(u32, f64)], share: u32) -> f64 {
        rates.iter().find(|r| r.0 == share).expect("group").1
    }

    #[test]
    fn a_small_share_gets_an_idle_core() {
        // 4 cores, two runnable jobs: each gets a whole core whatever the shares.
        let r = rates(4, &[(1024, 1), (2, 1)]);
        assert_eq!(rate_of(&r, 1024), 1.0);
        assert_eq!(rate_of(&r, 2), 1.0);
    }

    #[test]
    fn cores_left_by_capped_jobs_go_to_the_others() {
        // 4 cores, 2 jobs of share 1024 and 10 of share 128: proportional shares would give the
        // big ones 1.23 cores (capped at 1) and the small ones 0.154, leaving 0.46 idle. Water-
        // filling caps the big ones at 1 and splits the 2 cores left: 0.2 each.
        let r = rates(4, &[(1024, 2), (128, 10)]);
        assert_eq!(rate_of(&r, 1024), 1.0);
        assert!((rate_of(&r, 128) - 0.2).abs() < 1e-12, "{r:?}");
    }

    #[test]
    fn a_removed_job_gives_its_core_back() {
        // 1 core, two jobs of 1 s: each at half speed; after 0.5 s one is removed, the other
        // has 0.75 s of work left, now at full speed.
        let mut s = CpuSharer::new(1);
        s.add(0, 0, 1_000_000_000, 1024);
        s.add(0, 1, 1_000_000_000, 1024);
        assert_eq!(s.next_completion(), Some(2_000_000_000));
        assert!(s.remove(500_000_000, 0));
        assert!(!s.remove(500_000_000, 0), "gone");
        assert_eq!(s.next_completion(), Some(750_000_000));
    }

    #[test]
    fn a_finishing_job_is_scheduled_at_its_water_filled_rate() {
        let mut s = CpuSharer::new(4);
        s.add(0, 0, 10_000_000_000, 1024);
        s.add(0, 1, 1_000_000_000, 2);
        // The small job runs on its own core: done in 1 s, not 128 s.
        assert_eq!(s.next_completion(), Some(1_000_000_000));
    }

    proptest! {
        /// A job queue gives the least (end_v, fid) first, as a binary heap does, across its
        /// switches between sorted and heap form.
        #[test]
        fn job_queue_pops_as_a_heap(
            ops in prop::collection::vec((0u8..5, 0u32..40), 1..400),
        ) {
            let mut q = JobQueue::Sorted(VecDeque::new());
            let mut model: BinaryHeap<Reverse<Job>> = BinaryHeap::new();
            for (fid, (op, end)) in ops.into_iter().enumerate() {
                let fid = fid as u64;
                match op {
                    0 => prop_assert_eq!(q.pop(), model.pop().map(|j| j.0)),
                    1 => {
                        let victim = fid / 2;
                        prop_assert_eq!(q.contains(victim), model.iter().any(|j| j.0.fid == victim));
                        q.remove(victim);
                        model.retain(|j| j.0.fid != victim);
                    }
                    _ => {
                        let job = Job { end_v: end as f64 / 4.0, fid, slow_at_start: false, slow_epoch: 0 };
                        q.push(job);
                        model.push(Reverse(job));
                    }
                }
                prop_assert_eq!(q.peek(), model.peek().map(|j| &j.0));
            }
            while let Some(want) = model.pop() {
                prop_assert_eq!(q.pop(), Some(want.0));
            }
            prop_assert_eq!(q.pop(), None);
        }

        /// The fast paths (uncontended: every rate 1) change nothing: over a run of starts,
        /// completions and removals, with and without contention, the same completion times
        /// and the same (function, slowed) completions, in the same order.
        #[test]
        fn fast_paths_equal_water_filling(
            cores in 1u32..9,
            ops in prop::collection::vec(
                (0u8..4, prop::sample::select(vec![2u32, 128, 256, 1024]), 1u64..3_000_000_000, 0u64..400_000_000),
                1..120,
            ),
        ) {
            let mut fast = CpuSharer::new(cores);
            let mut full = without_fast_paths(cores);
            let (mut now, mut fid) = (0u64, 0u64);
            let (mut a, mut b) = (Vec::new(), Vec::new());
            for (op, share, work, gap) in ops {
                match (op, fast.next_completion()) {
                    // Run to the next completion.
                    (0, Some(dt)) => {
                        now += dt;
                        fast.pop_done(now, &mut a);
                        full.pop_done(now, &mut b);
                    }
                    (1, _) if fid > 0 => {
                        now += gap;
                        let victim = work % fid;
                        prop_assert_eq!(fast.remove(now, victim), full.remove(now, victim));
                    }
                    _ => {
                        now += gap;
                        fast.add(now, fid, work, share);
                        full.add(now, fid, work, share);
                        fid += 1;
                    }
                }
                prop_assert_eq!(&a, &b);
                prop_assert_eq!(fast.next_completion(), full.next_completion());
            }
            while let Some(dt) = fast.next_completion() {
                now += dt;
                fast.pop_done(now, &mut a);
                full.pop_done(now, &mut b);
                prop_assert_eq!(&a, &b);
                prop_assert_eq!(fast.next_completion(), full.next_completion());
            }
        }

        /// Work-conserving, capped and weighted: the rates add up to min(cores, jobs), none
        /// exceeds 1, jobs below the cap get rates in proportion to their shares, and every
        /// capped job has a share at least as large as every uncapped one.
        #[test]
        fn water_filling_is_weighted_max_min(
            cores in 1u32..16,
            jobs in prop::collection::vec((prop::sample::select(vec![2u32, 8, 64, 128, 256, 512, 1024]), 1usize..6), 1..5),
        ) {
            let r = rates(cores, &jobs);
            let count = |share: u32| -> usize { jobs.iter().filter(|j| j.0 == share).map(|j| j.1).sum() };
            let total: f64 = r.iter().map(|&(s, rate)| rate * count(s) as f64).sum();
            let n: usize = jobs.iter().map(|j| j.1).sum();
            prop_assert!((total - (cores as f64).min(n as f64)).abs() < 1e-9, "{r:?}");
            for &(s, rate) in &r {
                prop_assert!(rate > 0.0 && rate <= 1.0 + 1e-12, "{r:?}");
                for &(t, other) in &r {
                    if rate < 1.0 && other < 1.0 {
                        prop_assert!((rate / s as f64 - other / t as f64).abs() < 1e-12, "{r:?}");
                    }
                    if rate >= 1.0 && other < 1.0 {
                        prop_assert!(s >= t, "{r:?}");
                    }
                }
            }
        }
    }
}
