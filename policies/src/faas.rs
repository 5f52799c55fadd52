//! Vanilla OpenWhisk placement: the controller's `ShardingContainerPoolBalancer`.
//!
//! The invokers are split first: managed actions may use the first
//! `max(1, ceil(n * managed_fraction))` invokers of the list, blackbox (Docker) actions the last
//! `max(1, floor(n * blackbox_fraction))`, with `blackbox_fraction` raised to at least
//! `1 - managed_fraction` (OpenWhisk's `updateInvokers`; defaults 0.9 and 0.1). With few invokers
//! the sets overlap: on 4 invokers managed actions use all 4, Docker actions only the last one.
//! Within its set, each action has a home invoker, `hash(namespace, action) % n`, and a step
//! size chosen by the same hash among the numbers in `1..=n` that are pairwise coprime with each
//! other and with `n` (n = the size of the set). The balancer probes home, home + step, ...
//! (mod n) and takes the first healthy invoker whose free memory slots hold the action's memory;
//! after `n` probes without room (the step is coprime with `n`, so every invoker of the set has
//! been probed) a random healthy invoker of the set is forced and the plan is marked overloaded.
//! Sharing the home invoker keeps an action's warm containers together.
//!
//! Differences from OpenWhisk, all deliberate:
//! - The "random" overload choice is a hash of the request id and the worker index, so a plan
//!   stays a pure function of its inputs.
//! - A request with several workers places each worker as its own activation, in worker order,
//!   charging the memory of earlier workers to a local copy of the view.
//! - The hash is OpenWhisk's: Java's `String.hashCode` of the namespace XOR that of
//!   `namespace/action`, made non-negative.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Mutex;

use crate::burst_common::PlanBuilder;
use crate::spec::{DEFAULT_BLACKBOX_FRACTION, DEFAULT_MANAGED_FRACTION};
use crate::{
    ActionKind, ClusterView, PlacementError, PlacementPlan, PlacementPolicy, PlacementRequest,
};

/// The invokers each kind of action may use, as index ranges into the invoker list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvokerSplit {
    /// The first invokers: managed actions.
    pub managed: Range<usize>,
    /// The last invokers: blackbox (Docker) actions.
    pub blackbox: Range<usize>,
}

impl InvokerSplit {
    /// OpenWhisk's split of `n` invokers (`ShardingContainerPoolBalancerState.updateInvokers`):
    /// the fractions are clamped to [0, 1], the blackbox one raised to `1 - managed`, and each
    /// set has at least one invoker; an empty cluster has empty sets.
    pub fn new(n: usize, managed_fraction: f64, blackbox_fraction: f64) -> Self {
        if n == 0 {
            return InvokerSplit {
                managed: 0..0,
                blackbox: 0..0,
            };
        }
        let managed_fraction = managed_fraction.clamp(0.0, 1.0);
        let blackbox_fraction = blackbox_fraction.min(1.0).max(1.0 - managed_fraction);
        let managed = ((n as f64 * managed_fraction).ceil() as usize).clamp(1, n);
        let blackbox = ((n as f64 * blackbox_fraction).floor() as usize).clamp(1, n);
        InvokerSplit {
            managed: 0..managed,
            blackbox: n - blackbox..n,
        }
    }

    /// The invokers an action of `kind` may use.
    pub fn for_kind(&self, kind: ActionKind) -> Range<usize> {
        match kind {
            ActionKind::Managed => self.managed.clone(),
            ActionKind::Docker => self.blackbox.clone(),
        }
    }
}

/// The balancer. It memoises the step sizes of the set sizes seen (a pure function of `n` that
/// costs O(n) to compute), so that placing one activation costs O(probes), not O(n), and the
/// home and step of the last action placed (runs place one action many times in a row).
#[derive(Debug)]
pub struct ShardingBalancer {
    managed_fraction: f64,
    blackbox_fraction: f64,
    memo: Mutex<Memo>,
}

/// What [`ShardingBalancer::home_and_step`] remembers: pure functions of their keys.
#[derive(Debug, Default)]
struct Memo {
    steps: HashMap<usize, Box<[usize]>>,
    last: Option<LastAction>,
}

/// The home and step of the last (namespace, action, set size) asked for.
#[derive(Debug)]
struct LastAction {
    namespace: String,
    action: String,
    n: usize,
    home_and_step: (usize, usize),
}

impl Default for ShardingBalancer {
    fn default() -> Self {
        Self::new()
    }
}

impl ShardingBalancer {
    /// A balancer with OpenWhisk's default split (90% managed, 10% blackbox).
    pub fn new() -> Self {
        Self::with_fractions(DEFAULT_MANAGED_FRACTION, DEFAULT_BLACKBOX_FRACTION)
    }

    /// A balancer with the given managed and blackbox fractions (1.0 and 1.0: no split).
    pub fn with_fractions(managed_fraction: f64, blackbox_fraction: f64) -> Self {
        ShardingBalancer {
            managed_fraction,
            blackbox_fraction,
            memo: Mutex::new(Memo::default()),
        }
    }

    /// The split this balancer makes of `n` invokers.
    pub fn split(&self, n: usize) -> InvokerSplit {
        InvokerSplit::new(n, self.managed_fraction, self.blackbox_fraction)
    }

    /// Home index and step size of an action within a set of `n >= 1` invokers.
    pub fn home_and_step(&self, namespace: &str, action: &str, n: usize) -> (usize, usize) {
        // A poisoned lock only means another thread panicked mid-update of a pure cache.
        let mut memo = self.memo.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(last) = &memo.last {
            if last.n == n && last.action == action && last.namespace == namespace {
                return last.home_and_step;
            }
        }
        let hash = generate_hash(namespace, action) as usize;
        let steps = memo
            .steps
            .entry(n)
            .or_insert_with(|| pairwise_coprime_numbers_until(n).into());
        let home_and_step = (hash % n, steps[hash % steps.len()]);
        memo.last = Some(LastAction {
            namespace: namespace.to_string(),
            action: action.to_string(),
            n,
            home_and_step,
        });
        home_and_step
    }
}

impl PlacementPolicy for ShardingBalancer {
    fn place(
        &self,
        request: &PlacementRequest,
        view: &ClusterView,
    ) -> Result<PlacementPlan, PlacementError> {
        if request.workers == 0 {
            return Err(PlacementError::Empty);
        }
        let set = self
            .split(view.invokers.len())
            .for_kind(request.action.kind);
        let invokers = &view.invokers[set.clone()];
        if !invokers.iter().any(|i| i.healthy) {
            return Err(PlacementError::NoHealthyInvoker);
        }
        let n = invokers.len();
        let (home, step) = self.home_and_step(&request.action.namespace, &request.action.name, n);
        let need = request.action.memory_mb;
        // Memory charged by earlier workers of this request, per index in the set.
        let mut charged: HashMap<usize, u64> = HashMap::new();
        let free = |charged: &HashMap<usize, u64>, i: usize| {
            invokers[i]
                .free_memory_mb
                .saturating_sub(charged.get(&i).copied().unwrap_or(0))
        };
        let mut healthy: Vec<usize> = Vec::new(); // filled on the first overload
        let mut plan = PlanBuilder::with_capacity(request.workers as usize);
        let mut overloaded = false;
        // Every worker probes the same sequence and memory only shrinks, so an invoker found
        // without room stays without room: the probe position never goes back.
        let mut probes = 0usize;
        let mut index = home;
        for worker in 0..request.workers {
            while probes < n {
                if invokers[index].healthy && free(&charged, index) >= need {
                    break;
                }
                // `step < n` (1, or a prime that does not divide n): no division needed.
                index += step;
                if index >= n {
                    index -= n;
                }
                probes += 1;
            }
            let chosen = if probes < n {
                index
            } else {
                overloaded = true;
                if healthy.is_empty() {
                    healthy = (0..n).filter(|&i| invokers[i].healthy).collect();
                }
                let r = splitmix64(request.request_id ^ splitmix64(worker as u64));
                healthy[(r % healthy.len() as u64) as usize]
            };
            // Only later workers read the charges: a single activation skips the map.
            if worker + 1 < request.workers {
                *charged.entry(chosen).or_insert(0) += need;
            }
            plan.push((set.start + chosen) as u32, 1);
        }
        Ok(plan.finish(overloaded))
    }

    fn exclusive_cpus(&self) -> bool {
        false
    }
}

/// Java's `String.hashCode`: `s[0]*31^(k-1) + ... + s[k-1]` over UTF-16 units, wrapping.
pub fn java_string_hash(s: &str) -> i32 {
    java_hash_extend(0, s)
}

/// Continues a Java `String.hashCode` over `s`: the hash of `a + s` from the hash `h` of `a`.
fn java_hash_extend(h: i32, s: &str) -> i32 {
    s.encode_utf16()
        .fold(h, |h, c| h.wrapping_mul(31).wrapping_add(c as i32))
}

/// OpenWhisk's `generateHash(namespace, action)`: `(ns.hashCode ^ "ns/action".hashCode).abs`.
/// Scala's `abs` leaves `Int.MinValue` negative; `unsigned_abs` makes it 2^31 instead.
pub fn generate_hash(namespace: &str, action: &str) -> u32 {
    // Hashes `namespace/action` incrementally: no string is built per placement.
    let ns = java_string_hash(namespace);
    let fqn = java_hash_extend(java_hash_extend(ns, "/"), action);
    (ns ^ fqn).unsigned_abs()
}

/// OpenWhisk's `pairwiseCoprimeNumbersUntil(n)`, as a list.
///
/// The greedy scan keeps 1 and exactly the primes up to `n` that do not divide `n` (a composite
/// coprime with `n` has a smaller prime factor that was kept), which a sieve finds in
/// O(n log log n) instead of the scan's O(n * primes).
pub fn pairwise_coprime_numbers_until(n: usize) -> Vec<usize> {
    if n == 0 {
        return Vec::new();
    }
    let mut out = vec![1];
    out.extend(
        primes_until(n)
            .into_iter()
            .filter(|&p| !n.is_multiple_of(p)),
    );
    out
}

/// Primes `<= n` (sieve of Eratosthenes).
fn primes_until(n: usize) -> Vec<usize> {
    if n < 2 {
        return Vec::new();
    }
    let mut composite = vec![false; n + 1];
    let mut primes = Vec::new();
    for i in 2..=n {
        if composite[i] {
            continue;
        }
        primes.push(i);
        let mut j = i * i;
        while j <= n {
            composite[j] = true;
            j += i;
        }
    }
    primes
}

/// SplitMix64 finaliser: a well-mixed, stable 64-bit hash of `x`.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
