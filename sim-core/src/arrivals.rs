//! Where the run's group requests come from. A scenario holds a compact description of each
//! arrival stream ([`ArrivalProcess`], e.g. one `[[bursts]]` entry with its `count` and
//! `every`), never one struct per arrival; a run pulls the arrivals lazily, in time order, so
//! 100 M invocations never materialise 100 M structs.
//!
//! The interface is small on purpose:
//! - an [`ArrivalSource`] is any iterator of [`Arrival`]s (time, workers, tenant, action) in
//!   non-decreasing time: what a process yields for one run;
//! - [`ArrivalProcess::source`] builds a process's source for a seed; a random process draws
//!   from its own stream (`rng::stream(seed, "arrivals", index)`), so adding a process never
//!   shifts another's draws;
//! - [`Arrivals`] merges the scenario's sources by time (ties: process order, then the source's
//!   own order) and numbers them: burst ids `0, 1, ...` and function ids burst by burst, in
//!   arrival order. The simulator, the serverful baseline and the live executor all consume
//!   this one sequence, so a burst id means the same arrival everywhere.
//!
//! A new kind of process (Poisson, on-off, a diurnal curve, a trace reader) is a new
//! [`ArrivalProcess`] variant whose `source` returns its iterator; nothing else changes.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// One group request reaching the client: a burst of `workers` functions (in FaaS mode, the
/// client sends them as `workers` single invocations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    /// Arrival time at the client, ns from the start of the run.
    pub at_ns: u64,
    /// Functions in the group (>= 1).
    pub workers: u32,
    /// Tenant index (the action's namespace is `tenant<N>`).
    pub tenant: u32,
    /// Index into [`crate::Scenario::actions`].
    pub action: u32,
}

/// The arrivals of one process for one run, lazily, in non-decreasing `at_ns`.
pub type ArrivalSource<'a> = Box<dyn Iterator<Item = Arrival> + Send + 'a>;

/// One arrival of the run, numbered: what the engine and the reports see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Burst {
    /// Burst id: its index in the run's arrival order.
    pub id: u64,
    /// Function id of worker 0; its workers are `first_function .. first_function + workers`.
    pub first_function: u64,
    /// Arrival time at the client, ns.
    pub at_ns: u64,
    /// Functions in the burst.
    pub workers: u32,
    /// Tenant index.
    pub tenant: u32,
    /// Index into [`crate::Scenario::actions`].
    pub action: u32,
}

/// A compact description of one arrival stream, held by the scenario.
#[derive(Debug, Clone, PartialEq)]
pub enum ArrivalProcess {
    /// `count` identical arrivals, `every_ns` apart from `at_ns` (a `[[bursts]]` entry).
    Periodic {
        /// First arrival, ns.
        at_ns: u64,
        /// Gap between arrivals, ns (0: all at once).
        every_ns: u64,
        /// Number of arrivals (>= 1).
        count: u64,
        /// The arrival each repetition makes (its `at_ns` is the first arrival's).
        arrival: Arrival,
    },
}

impl ArrivalProcess {
    /// The process's arrivals for a run with `seed`; `index` is its position among the
    /// scenario's processes (a random process seeds `rng::stream(seed, "arrivals", index)`).
    pub fn source(&self, seed: u64, index: u64) -> ArrivalSource<'_> {
        // Deterministic processes draw nothing.
        let _ = (seed, index);
        match *self {
            ArrivalProcess::Periodic {
                at_ns,
                every_ns,
                count,
                arrival,
            } => Box::new((0..count).map(move |r| Arrival {
                at_ns: at_ns.saturating_add(every_ns.saturating_mul(r)),
                ..arrival
            })),
        }
    }

    /// Functions the process brings, when known without drawing (`None` for random or
    /// trace-driven processes).
    pub fn functions(&self) -> Option<u64> {
        match self {
            ArrivalProcess::Periodic { count, arrival, .. } => {
                Some(count.saturating_mul(arrival.workers as u64))
            }
        }
    }

    /// The largest group it can bring, when known without drawing.
    pub fn max_workers(&self) -> Option<u32> {
        match self {
            ArrivalProcess::Periodic { arrival, .. } => Some(arrival.workers),
        }
    }
}

/// The merged, numbered arrivals of a run: by time, ties by process index and then by the
/// source's own order. Holds one pending arrival per process.
pub struct Arrivals<'a> {
    sources: Vec<ArrivalSource<'a>>,
    /// The next arrival of each source, keyed by (time, source index).
    heads: BinaryHeap<Reverse<(u64, usize, ArrivalKey)>>,
    next_burst: u64,
    next_function: u64,
}

/// The rest of an arrival, carried in the merge heap (ordered after time and source index,
/// which are unique per source head, so its order never decides anything).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct ArrivalKey {
    workers: u32,
    tenant: u32,
    action: u32,
}

impl<'a> Arrivals<'a> {
    /// Merges `processes` for a run with `seed`.
    pub fn new(processes: &'a [ArrivalProcess], seed: u64) -> Self {
        let sources = processes
            .iter()
            .enumerate()
            .map(|(i, p)| p.source(seed, i as u64))
            .collect();
        let mut arrivals = Arrivals {
            sources,
            heads: BinaryHeap::with_capacity(processes.len()),
            next_burst: 0,
            next_function: 0,
        };
        for i in 0..arrivals.sources.len() {
            arrivals.refill(i);
        }
        arrivals
    }

    fn refill(&mut self, i: usize) {
        if let Some(a) = self.sources[i].next() {
            let key = ArrivalKey {
                workers: a.workers,
                tenant: a.tenant,
                action: a.action,
            };
            self.heads.push(Reverse((a.at_ns, i, key)));
        }
    }

    /// Functions numbered so far (the id the next burst's worker 0 gets).
    pub fn functions_so_far(&self) -> u64 {
        self.next_function
    }
}

impl Iterator for Arrivals<'_> {
    type Item = Burst;

    fn next(&mut self) -> Option<Burst> {
        let Reverse((at_ns, i, key)) = self.heads.pop()?;
        self.refill(i);
        let burst = Burst {
            id: self.next_burst,
            first_function: self.next_function,
            at_ns,
            workers: key.workers,
            tenant: key.tenant,
            action: key.action,
        };
        self.next_burst += 1;
        self.next_function += key.workers as u64;
        Some(burst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn periodic(
        at_ns: u64,
        every_ns: u64,
        count: u64,
        workers: u32,
        action: u32,
    ) -> ArrivalProcess {
        ArrivalProcess::Periodic {
            at_ns,
            every_ns,
            count,
            arrival: Arrival {
                at_ns,
                workers,
                tenant: 0,
                action,
            },
        }
    }

    #[test]
    fn merged_by_time_then_process_and_numbered() {
        let processes = [periodic(10, 10, 3, 2, 0), periodic(0, 20, 2, 5, 1)];
        let bursts: Vec<Burst> = Arrivals::new(&processes, 1).collect();
        let got: Vec<(u64, u64, u64, u32)> = bursts
            .iter()
            .map(|b| (b.id, b.first_function, b.at_ns, b.action))
            .collect();
        // At 20 both have an arrival: process 0 first.
        assert_eq!(
            got,
            vec![
                (0, 0, 0, 1),
                (1, 5, 10, 0),
                (2, 7, 20, 0),
                (3, 9, 20, 1),
                (4, 14, 30, 0)
            ]
        );
        assert_eq!(
            processes
                .iter()
                .map(|p| p.functions().unwrap())
                .sum::<u64>(),
            16
        );
    }

    #[test]
    fn a_long_stream_is_not_materialised() {
        // 10^12 arrivals: only the head is ever held.
        let processes = [periodic(0, 1, 1_000_000_000_000, 1, 0)];
        let mut arrivals = Arrivals::new(&processes, 0);
        let third = arrivals.nth(2).unwrap();
        assert_eq!((third.id, third.first_function, third.at_ns), (2, 2, 2));
        assert_eq!(arrivals.functions_so_far(), 3);
    }

    #[test]
    fn times_saturate_instead_of_wrapping() {
        let processes = [periodic(u64::MAX - 5, u64::MAX / 2, 3, 1, 0)];
        let times: Vec<u64> = Arrivals::new(&processes, 0).map(|b| b.at_ns).collect();
        assert_eq!(times, vec![u64::MAX - 5, u64::MAX, u64::MAX]);
    }
}
