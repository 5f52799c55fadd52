//! CPU shares: weighted processor sharing on an invoker. A runnable CPU-bound function with share
//! s progresses at rate `min(1, cores * s / S)` where S sums the shares of all runnable CPU-bound
//! functions there (sleeping work is unaffected). Functions with equal shares progress alike, so
//! each share value keeps one virtual clock (seconds of progress per function) and a min-heap of
//! finishing points: a change costs O(groups + log n), not O(n).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

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
    jobs: BinaryHeap<Reverse<Job>>,
}

/// The processor-sharing state of one invoker.
#[derive(Debug, Clone)]
pub(crate) struct CpuSharer {
    cores: f64,
    last: u64,
    pub gen: u32,
    groups: Vec<Group>,
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

    fn recompute(&mut self) {
        let total: f64 = self
            .groups
            .iter()
            .map(|g| g.share as f64 * g.n as f64)
            .sum();
        for g in &mut self.groups {
            g.rate = if total > 0.0 {
                (self.cores * g.share as f64 / total).min(1.0)
            } else {
                1.0
            };
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
                self.groups.push(Group {
                    share,
                    v: 0.0,
                    rate: 1.0,
                    slow: false,
                    slow_epoch: 0,
                    n: 0,
                    jobs: BinaryHeap::new(),
                });
                self.groups.len() - 1
            }
        };
        self.groups[gi].n += 1;
        self.recompute();
        let g = &mut self.groups[gi];
        let end_v = g.v + work_ns as f64 / 1e9;
        g.jobs.push(Reverse(Job {
            end_v,
            fid,
            slow_at_start: g.slow,
            slow_epoch: g.slow_epoch,
        }));
    }

    /// Time from now (ns) to the next completion, if any job runs.
    pub fn next_completion(&self) -> Option<u64> {
        self.groups
            .iter()
            .filter_map(|g| {
                let top = g.jobs.peek()?;
                let left = (top.0.end_v - g.v).max(0.0);
                Some((left / g.rate * 1e9).ceil() as u64)
            })
            .min()
    }

    /// Removes the jobs done at `now`: (function id, whether it was ever slowed).
    pub fn pop_done(&mut self, now: u64, out: &mut Vec<(u64, bool)>) {
        self.advance(now);
        for g in &mut self.groups {
            while let Some(top) = g.jobs.peek() {
                if top.0.end_v > g.v + EPS {
                    break;
                }
                let job = g.jobs.pop().expect("peeked").0;
                g.n -= 1;
                let slowed = job.slow_at_start || job.slow_epoch != g.slow_epoch;
                out.push((job.fid, slowed));
            }
        }
        self.recompute();
    }
}

impl Sim<'_> {
    /// Schedules the invoker's next CPU completion; older scheduled ones become stale.
    pub(crate) fn reschedule_cpu(&mut self, inv: usize) {
        let s = &mut self.invokers[inv].sharer;
        s.gen = s.gen.wrapping_add(1);
        let gen = s.gen;
        if let Some(dt) = s.next_completion() {
            self.at(self.now + dt, Event::CpuDone(inv as u32, gen));
        }
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
