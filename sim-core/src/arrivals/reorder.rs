//! Per-invocation traces are not sorted by start time (the 2021 trace is written by end time,
//! and start = end - duration): a reorder buffer puts them back in order. A first pass over
//! the file measures its disorder, the most any start precedes an earlier line's start; then
//! a line can be released once a line that much later has been read, so the buffer holds only
//! the lines within that lag.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use super::{Arrival, ArrivalItem, TraceError};

/// The disorder of a sequence of start times: the largest `max(earlier) - this`, in ns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Disorder {
    latest: Option<u64>,
    /// The lag measured so far, ns.
    pub lag_ns: u64,
}

impl Disorder {
    /// Accounts for the next start time.
    pub fn see(&mut self, at_ns: u64) {
        match self.latest {
            Some(latest) if latest > at_ns => self.lag_ns = self.lag_ns.max(latest - at_ns),
            Some(latest) if latest >= at_ns => {}
            _ => self.latest = Some(at_ns),
        }
    }
}

/// An arrival waiting in the buffer, ordered by time, then by its line in the file.
struct Pending(u64, u64, Arrival);

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.0, self.1) == (other.0, other.1)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.0, self.1).cmp(&(other.0, other.1))
    }
}

/// Arrivals of `inner` (each with its line number) in time order, given that none comes more
/// than `lag_ns` before one read earlier; ties leave in line order.
pub struct Reorder<I> {
    inner: I,
    lag_ns: u64,
    heap: BinaryHeap<Reverse<Pending>>,
    latest: u64,
    done: bool,
    /// Largest number of buffered arrivals (for the memory claims in tests).
    pub peak: usize,
}

impl<I> Reorder<I> {
    /// Wraps `inner`, whose disorder is at most `lag_ns`.
    pub fn new(inner: I, lag_ns: u64) -> Self {
        Reorder {
            inner,
            lag_ns,
            heap: BinaryHeap::new(),
            latest: 0,
            done: false,
            peak: 0,
        }
    }
}

impl<I: Iterator<Item = Result<(u64, Arrival), TraceError>>> Iterator for Reorder<I> {
    type Item = ArrivalItem;

    fn next(&mut self) -> Option<ArrivalItem> {
        loop {
            if let Some(Reverse(top)) = self.heap.peek() {
                if self.done || top.0.saturating_add(self.lag_ns) <= self.latest {
                    return self.heap.pop().map(|Reverse(p)| Ok(p.2));
                }
            }
            if self.done {
                return None;
            }
            match self.inner.next() {
                Some(Ok((line, a))) => {
                    self.latest = self.latest.max(a.at_ns);
                    self.heap.push(Reverse(Pending(a.at_ns, line, a)));
                    self.peak = self.peak.max(self.heap.len());
                }
                Some(Err(e)) => {
                    self.done = true;
                    self.heap.clear();
                    return Some(Err(e));
                }
                None => self.done = true,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrival(at_ns: u64) -> Arrival {
        Arrival {
            at_ns,
            workers: 1,
            tenant: 0,
            action: 0,
            work_s: None,
        }
    }

    #[test]
    fn restores_order_within_the_measured_lag() {
        let starts = [10u64, 12, 7, 15, 14, 30, 22, 31, 31, 29];
        let mut disorder = Disorder::default();
        for s in starts {
            disorder.see(s);
        }
        assert_eq!(disorder.lag_ns, 8); // 22 after 30
        let items = starts
            .iter()
            .enumerate()
            .map(|(i, &s)| Ok((i as u64 + 1, arrival(s))));
        let mut reorder = Reorder::new(items, disorder.lag_ns);
        let out: Vec<u64> = reorder.by_ref().map(|a| a.unwrap().at_ns).collect();
        let mut sorted = starts.to_vec();
        sorted.sort();
        assert_eq!(out, sorted);
        assert!(reorder.peak < starts.len(), "peak {}", reorder.peak);
    }

    #[test]
    fn sorted_input_needs_no_buffer() {
        let items = (0..100u64).map(|i| Ok((i, arrival(i * 3))));
        let mut reorder = Reorder::new(items, 0);
        assert_eq!(reorder.by_ref().count(), 100);
        assert_eq!(reorder.peak, 1);
    }
}
