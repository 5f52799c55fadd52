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

use crate::spec::{DEFAULT_BLACKBOX_FRACTION, DEFAULT_MANAGED_FRACTION};
use crate::{
    ActionKind, ClusterView, ContainerPlacement, InvokerView, PlacementError, PlacementPlan,
    PlacementPolicy, PlacementRequest,
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
///
/// Called through [`PlacementPolicy::place_tracked`] (the simulator's controller), it also keeps
/// a [`FreeIndex`] per probe order and memory size in use (up to [`MAX_INDEXES`]), updated from
/// the changes the caller names, so that a single activation finds its invoker in a few word
/// scans instead of probing past every full invoker (hundreds in a busy cluster). The result
/// is the probe's, exactly.
#[derive(Debug)]
pub struct ShardingBalancer {
    managed_fraction: f64,
    blackbox_fraction: f64,
    memo: Mutex<Memo>,
}

/// What [`ShardingBalancer::home_and_step`] remembers (pure functions of their keys), and the
/// indexes of `place_tracked` (functions of the tracked view).
#[derive(Debug, Default)]
struct Memo {
    steps: HashMap<usize, Box<[usize]>>,
    last: Option<LastAction>,
    /// The split of the last cluster size seen: `(n, split)`.
    split: Option<(usize, InvokerSplit)>,
    /// Invokers in the tracked view the indexes were built for.
    tracked_len: usize,
    indexes: Vec<FreeIndex>,
    /// Health of each invoker of the tracked view.
    health: Vec<bool>,
    /// The healthy invokers (local indexes, in order) of the invoker set `(start, n)` of the
    /// tracked view, as an overloaded single activation picks among them; dropped when an
    /// invoker's health changes.
    healthy: Option<(usize, usize, Vec<usize>)>,
}

/// Most probe orders (invoker set, step and memory) indexed at once: every index is updated on
/// every change, so an action mix with more orders than this probes the rest as before.
pub const MAX_INDEXES: usize = 4;

/// The invokers of one set in the probe order of one step (position `p` holds local invoker
/// `p * step mod n`, so an action's probe from `home` is the positions from `home`'s onwards,
/// wrapping around), as a bitmap of those with room for `need` MB (healthy, enough free
/// memory): the first one at or after a position is a scan of n / 64 words, without the
/// unpredictable branch per full invoker that probing them one by one takes.
#[derive(Debug)]
struct FreeIndex {
    start: usize,
    n: usize,
    step: usize,
    need: u64,
    /// Position of each local invoker.
    position: Box<[u32]>,
    /// Local invoker at each position.
    local: Box<[u32]>,
    /// Bit `p % 64` of word `p / 64`: position `p` has room.
    room: Box<[u64]>,
}

impl FreeIndex {
    fn new(view: &ClusterView, start: usize, n: usize, step: usize, need: u64) -> Self {
        let mut position = vec![0u32; n].into_boxed_slice();
        let mut local = vec![0u32; n].into_boxed_slice();
        let mut i = 0;
        for (p, slot) in local.iter_mut().enumerate() {
            *slot = i as u32;
            position[i] = p as u32;
            i = next_probe(i, step, n);
        }
        let mut index = FreeIndex {
            start,
            n,
            step,
            need,
            position,
            local,
            room: vec![0; n.div_ceil(64)].into_boxed_slice(),
        };
        for id in start..start + n {
            index.update(view, id);
        }
        index
    }

    /// Invoker `id` (of the whole view) may have changed.
    #[inline]
    fn update(&mut self, view: &ClusterView, id: usize) {
        let Some(local) = id.checked_sub(self.start).filter(|&l| l < self.n) else {
            return;
        };
        let invoker = &view.invokers[id];
        let p = self.position[local] as usize;
        let bit = 1u64 << (p % 64);
        if invoker.healthy && invoker.free_memory_mb >= self.need {
            self.room[p / 64] |= bit;
        } else {
            self.room[p / 64] &= !bit;
        }
    }

    /// The first position at or after `from` with room.
    #[inline]
    fn first_from(&self, from: usize) -> Option<usize> {
        let mut w = from / 64;
        let mut word = *self.room.get(w)? & (u64::MAX << (from % 64));
        while word == 0 {
            w += 1;
            word = *self.room.get(w)?;
        }
        Some(w * 64 + word.trailing_zeros() as usize)
    }

    /// The first invoker (local index) with room in the probe from `home`.
    #[inline]
    fn probe(&self, home: usize) -> Option<usize> {
        let from = self.position[home] as usize;
        let p = self
            .first_from(from)
            .or_else(|| self.first_from(0).filter(|&p| p < from))?;
        Some(self.local[p] as usize)
    }
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
        home_and_step_in(&mut self.memo(), namespace, action, n)
    }

    /// A poisoned lock only means another thread panicked mid-update of a cache that each
    /// call checks or rebuilds.
    fn memo(&self) -> std::sync::MutexGuard<'_, Memo> {
        self.memo.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Places `request`; with `changed` (a tracked view), single activations go through the
    /// free-memory index. The memo is held only while locating: the probe reads the view alone.
    fn place_with(
        &self,
        request: &PlacementRequest,
        view: &ClusterView,
        changed: Option<&[u32]>,
    ) -> Result<PlacementPlan, PlacementError> {
        let fractions = (self.managed_fraction, self.blackbox_fraction);
        let located = locate(fractions, &mut self.memo(), request, view, changed)?;
        let mut plan = PlacementPlan::default();
        fill_plan(request, view, located, &mut plan);
        Ok(plan)
    }
}

/// What [`locate`] found with the memo held: the invoker the free-memory index chose for a
/// single activation, or where the probe runs.
enum Located {
    /// An invoker id of the whole view.
    Chosen(u32),
    /// An invoker id of the whole view, forced: no invoker of the set had room (overloaded).
    Forced(u32),
    /// Probe the invokers `set` from local index `home` by `step`.
    Probe {
        set: Range<usize>,
        home: usize,
        step: usize,
    },
}

/// The memo's part of a placement: the request's invoker set, home and step, and, with
/// `changed` (a tracked view), the free-memory index's answer for a single activation.
#[inline(always)]
fn locate(
    (managed_fraction, blackbox_fraction): (f64, f64),
    memo: &mut Memo,
    request: &PlacementRequest,
    view: &ClusterView,
    changed: Option<&[u32]>,
) -> Result<Located, PlacementError> {
    if request.workers == 0 {
        return Err(PlacementError::Empty);
    }
    let total = view.invokers.len();
    let set = match &memo.split {
        Some((n, split)) if *n == total => split.for_kind(request.action.kind),
        _ => {
            let split = InvokerSplit::new(total, managed_fraction, blackbox_fraction);
            let set = split.for_kind(request.action.kind);
            memo.split = Some((total, split));
            set
        }
    };
    if let Some(changed) = changed {
        if memo.tracked_len == total {
            for &id in changed {
                let id = id as usize;
                for index in &mut memo.indexes {
                    index.update(view, id);
                }
                let healthy = view.invokers[id].healthy;
                if memo.health[id] != healthy {
                    memo.health[id] = healthy;
                    memo.healthy = None;
                }
            }
        } else {
            memo.indexes.clear();
            memo.tracked_len = total;
            memo.health = view.invokers.iter().map(|i| i.healthy).collect();
            memo.healthy = None;
        }
    }
    let invokers = &view.invokers[set.clone()];
    if !invokers.iter().any(|i| i.healthy) {
        return Err(PlacementError::NoHealthyInvoker);
    }
    let n = invokers.len();
    let (home, step) = home_and_step_in(memo, &request.action.namespace, &request.action.name, n);
    let need = request.action.memory_mb;
    if changed.is_some() && request.workers == 1 {
        let found = match memo
            .indexes
            .iter()
            .position(|i| i.start == set.start && i.n == n && i.step == step && i.need == need)
        {
            Some(k) => Some(memo.indexes[k].probe(home)),
            None if memo.indexes.len() < MAX_INDEXES => {
                let index = FreeIndex::new(view, set.start, n, step, need);
                let found = index.probe(home);
                memo.indexes.push(index);
                Some(found)
            }
            None => None,
        };
        match found {
            Some(Some(chosen)) => {
                debug_assert_eq!(
                    Some(chosen),
                    first_with_room(invokers, home, step, need),
                    "the free-memory index disagrees with the probe: a change was not reported"
                );
                return Ok(Located::Chosen((set.start + chosen) as u32));
            }
            Some(None) => {
                // No room anywhere: the probe would try all `n` and force a healthy invoker
                // (worker 0's pick, as in `fill_plan`), here without probing or listing them.
                debug_assert_eq!(first_with_room(invokers, home, step, need), None);
                let healthy = match &memo.healthy {
                    Some((start, len, list)) if *start == set.start && *len == n => list,
                    _ => {
                        let list = (0..n).filter(|&i| invokers[i].healthy).collect();
                        &memo.healthy.insert((set.start, n, list)).2
                    }
                };
                debug_assert!(healthy
                    .iter()
                    .copied()
                    .eq((0..n).filter(|&i| invokers[i].healthy)));
                let chosen = forced_pick(healthy, request.request_id, 0);
                return Ok(Located::Forced((set.start + chosen) as u32));
            }
            // No index: the probe below.
            None => {}
        }
    }
    Ok(Located::Probe { set, home, step })
}

/// Writes the plan of a located request into the empty `plan`: one container per worker, in
/// order.
#[inline(always)]
fn fill_plan(
    request: &PlacementRequest,
    view: &ClusterView,
    located: Located,
    plan: &mut PlacementPlan,
) {
    let (set, home, step) = match located {
        Located::Chosen(invoker) | Located::Forced(invoker) => {
            plan.containers.push(ContainerPlacement {
                invoker,
                first_worker: 0,
                workers: 1,
            });
            plan.overloaded = matches!(located, Located::Forced(_));
            return;
        }
        Located::Probe { set, home, step } => (set, home, step),
    };
    let invokers = &view.invokers[set.clone()];
    let n = invokers.len();
    let need = request.action.memory_mb;
    // Memory charged by earlier workers of this request, per index in the set.
    let mut charged: HashMap<usize, u64> = HashMap::new();
    let free = |charged: &HashMap<usize, u64>, i: usize| {
        invokers[i]
            .free_memory_mb
            .saturating_sub(charged.get(&i).copied().unwrap_or(0))
    };
    let mut healthy: Vec<usize> = Vec::new(); // filled on the first overload
    plan.containers.reserve(request.workers as usize);
    // Every worker probes the same sequence and memory only shrinks, so an invoker found
    // without room stays without room: the probe position never goes back.
    let mut probes = 0usize;
    let mut index = home;
    for worker in 0..request.workers {
        while probes < n {
            if invokers[index].healthy && free(&charged, index) >= need {
                break;
            }
            index = next_probe(index, step, n);
            probes += 1;
        }
        let chosen = if probes < n {
            index
        } else {
            plan.overloaded = true;
            if healthy.is_empty() {
                healthy = (0..n).filter(|&i| invokers[i].healthy).collect();
            }
            forced_pick(&healthy, request.request_id, worker)
        };
        // Only later workers read the charges: a single activation skips the map.
        if worker + 1 < request.workers {
            *charged.entry(chosen).or_insert(0) += need;
        }
        plan.containers.push(ContainerPlacement {
            invoker: (set.start + chosen) as u32,
            first_worker: worker,
            workers: 1,
        });
    }
}

/// The invoker (local index) forced for worker `worker` of an overloaded request: a random
/// pick among the set's `healthy` invokers, seeded by the request (no invoker had room).
#[inline]
fn forced_pick(healthy: &[usize], request_id: u64, worker: u32) -> usize {
    let r = splitmix64(request_id ^ splitmix64(worker as u64));
    healthy[(r % healthy.len() as u64) as usize]
}

/// [`ShardingBalancer::home_and_step`] with the memo held.
#[inline(always)]
fn home_and_step_in(memo: &mut Memo, namespace: &str, action: &str, n: usize) -> (usize, usize) {
    if let Some(last) = &memo.last {
        if last.n == n && last.action == action && last.namespace == namespace {
            return last.home_and_step;
        }
    }
    new_home_and_step(memo, namespace, action, n)
}

/// [`home_and_step_in`] for another action than the last one.
#[cold]
fn new_home_and_step(memo: &mut Memo, namespace: &str, action: &str, n: usize) -> (usize, usize) {
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

/// The probe after `index`: `step < n` (1, or a prime that does not divide n), so no division.
#[inline]
fn next_probe(index: usize, step: usize, n: usize) -> usize {
    let next = index + step;
    if next >= n {
        next - n
    } else {
        next
    }
}

/// The first healthy invoker with `need` MB free in the probe from `home` (what the index
/// answers, by probing; used to check it).
fn first_with_room(invokers: &[InvokerView], home: usize, step: usize, need: u64) -> Option<usize> {
    let mut index = home;
    for _ in 0..invokers.len() {
        if invokers[index].healthy && invokers[index].free_memory_mb >= need {
            return Some(index);
        }
        index = next_probe(index, step, invokers.len());
    }
    None
}

impl PlacementPolicy for ShardingBalancer {
    fn place(
        &self,
        request: &PlacementRequest,
        view: &ClusterView,
    ) -> Result<PlacementPlan, PlacementError> {
        self.place_with(request, view, None)
    }

    fn place_tracked(
        &self,
        request: &PlacementRequest,
        view: &ClusterView,
        changed: &[u32],
    ) -> Result<PlacementPlan, PlacementError> {
        self.place_with(request, view, Some(changed))
    }

    /// Without the lock: `&mut self` holds the memo alone.
    fn place_tracked_into(
        &mut self,
        request: &PlacementRequest,
        view: &ClusterView,
        changed: &[u32],
        plan: &mut PlacementPlan,
    ) -> Result<(), PlacementError> {
        plan.containers.clear();
        plan.overloaded = false;
        let fractions = (self.managed_fraction, self.blackbox_fraction);
        let memo = self.memo.get_mut().unwrap_or_else(|e| e.into_inner());
        let located = locate(fractions, memo, request, view, Some(changed));
        fill_plan(request, view, located?, plan);
        Ok(())
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
