//! The flow-level network between packs. A remote chunk travels as two flows, store and
//! forward: an *upload* (sender host's outgoing link -> backend server) and, once stored, a
//! *download* (server -> receiver host's incoming link). Concurrent flows share bandwidth
//! max-min fairly (progressive filling), limited by
//!
//! - each flow's own cap: one connection's rate (a property of the client library and server),
//! - its host link: the invoker's (VM's) network bandwidth, one capacity per direction,
//! - the backend server: one aggregate capacity for the bytes it takes in plus the bytes it
//!   sends out (a single-threaded server such as Redis spends the same CPU on both).
//!
//! Flows that use the same link with the same cap are interchangeable, so max-min fairness gives
//! them the same rate: they form a *class* with one virtual clock (bytes delivered per flow) and
//! a heap of the flows' finishing points on that clock, like the CPU sharer. A rate change
//! touches classes, never individual flows. Because every class uses exactly one link plus the
//! server, the max-min allocation is computed in two stages, exactly: per link, water-filling
//! over its (at most a few) classes gives each class its link-limited rate u; then the server
//! level lambda solves `sum n_c min(u_c, lambda) = server capacity` (if the u's overload it), and
//! each class gets `min(u_c, lambda)`. A link that ends up saturated has all its classes below
//! lambda, so its local level is the true one; a link with slack does not bind.
//!
//! Rates are recomputed only after flows start or end (batched per instant), and only for the
//! classes that can change: with an unlimited server, those of the links whose flows changed
//! (links are independent components); with a finite server, every active class, since the
//! server is one bottleneck they all share. The cost of a recomputation is O(C log C) in the
//! number C of active classes (at most 2 per host and direction), independent of the number
//! of flows; starting or ending a flow costs O(log n) in its class's heap.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};

/// Direction of a flow at its host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    /// Host -> server (the sender's outgoing link).
    Up,
    /// Server -> host (the receiver's incoming link).
    Down,
}

#[derive(Debug, Clone, Copy)]
struct FlowEntry {
    /// The class clock value at which the flow has moved all its bytes.
    end_v: f64,
    seq: u64,
    tag: u32,
}

impl PartialEq for FlowEntry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for FlowEntry {}
impl PartialOrd for FlowEntry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for FlowEntry {
    fn cmp(&self, other: &Self) -> Ordering {
        self.end_v
            .total_cmp(&other.end_v)
            .then(self.seq.cmp(&other.seq))
    }
}

#[derive(Debug)]
struct Class {
    link: u32,
    cap: f64,
    /// Flows in the class.
    n: u32,
    /// Clock value at `t0` (bytes per flow since the class became active).
    v0: f64,
    t0: u64,
    /// Bytes per second of each flow since `t0`.
    rate: f64,
    /// Link-limited rate (before the server level).
    u: f64,
    /// Bumped whenever the next completion may move (stale heap entries are skipped).
    gen: u32,
    flows: BinaryHeap<Reverse<FlowEntry>>,
    /// Position in `FlowNet::active` while `n > 0`.
    active_pos: u32,
}

impl Class {
    #[inline]
    fn v(&self, now: u64) -> f64 {
        self.v0 + self.rate * (now - self.t0) as f64 * 1e-9
    }

    /// Moves the clock origin to `now` (keeps v(now)).
    fn rebase(&mut self, now: u64) {
        self.v0 = self.v(now);
        self.t0 = now;
    }

    /// Time of the next completion, ns.
    fn next_completion(&self) -> Option<u64> {
        let top = self.flows.peek()?.0;
        if self.rate.is_nan() || self.rate <= 0.0 {
            return None;
        }
        let left = (top.end_v - self.v0).max(0.0);
        Some(self.t0 + (left / self.rate * 1e9).ceil() as u64)
    }
}

#[derive(Debug, Default)]
struct Link {
    /// Bytes per second; infinite when unlimited.
    capacity: f64,
    classes: Vec<u32>,
    dirty: bool,
}

/// Counters of a network's activity.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct NetStats {
    /// Flows started.
    pub flows: u64,
    /// Largest number of flows in progress at once.
    pub peak_flows: u64,
    /// Rate recomputations.
    pub recomputes: u64,
    /// Classes whose rate was set, summed over recomputations.
    pub class_updates: u64,
}

/// Concurrent flows through host links and one backend server, shared max-min fairly.
#[derive(Debug)]
pub struct FlowNet {
    server: f64,
    host_bandwidth: f64,
    links: Vec<Link>,
    classes: Vec<Class>,
    class_of: HashMap<(u32, u64), u32>,
    active: Vec<u32>,
    /// (completion time, class, class generation), earliest first.
    heap: BinaryHeap<Reverse<(u64, u32, u32)>>,
    dirty_links: Vec<u32>,
    /// Classes whose heap entry must be refreshed.
    touched: Vec<u32>,
    in_flight: u64,
    seq: u64,
    stats: NetStats,
    scratch: Vec<(f64, u32)>,
}

impl FlowNet {
    /// A network whose server takes `server` bytes per second in plus out, and whose hosts
    /// each have `host_bandwidth` bytes per second per direction (`None`: unlimited).
    pub fn new(server: Option<f64>, host_bandwidth: Option<f64>) -> Self {
        FlowNet {
            server: server.unwrap_or(f64::INFINITY),
            host_bandwidth: host_bandwidth.unwrap_or(f64::INFINITY),
            links: Vec::new(),
            classes: Vec::new(),
            class_of: HashMap::new(),
            active: Vec::new(),
            heap: BinaryHeap::new(),
            dirty_links: Vec::new(),
            touched: Vec::new(),
            in_flight: 0,
            seq: 0,
            stats: NetStats::default(),
            scratch: Vec::new(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> NetStats {
        self.stats
    }

    /// Flows in progress.
    pub fn in_flight(&self) -> u64 {
        self.in_flight
    }

    fn link_id(host: u32, dir: Dir) -> u32 {
        host * 2 + (dir == Dir::Down) as u32
    }

    fn mark_link(&mut self, link: u32) {
        let l = &mut self.links[link as usize];
        if !l.dirty {
            l.dirty = true;
            self.dirty_links.push(link);
        }
    }

    /// Starts a flow of `bytes` at `now` on `host`'s link in direction `dir` (and through the
    /// server), at most `cap` bytes per second; `tag` comes back when it completes. Call
    /// [`FlowNet::update`] once the instant's changes are done.
    pub fn start(&mut self, now: u64, host: u32, dir: Dir, cap: f64, bytes: f64, tag: u32) {
        let link = Self::link_id(host, dir);
        if self.links.len() <= link as usize {
            let capacity = self.host_bandwidth;
            self.links.resize_with(link as usize + 2, || Link {
                capacity,
                ..Link::default()
            });
        }
        let key = (link, cap.to_bits());
        let c = match self.class_of.get(&key) {
            Some(&c) => c,
            None => {
                let c = self.classes.len() as u32;
                self.classes.push(Class {
                    link,
                    cap,
                    n: 0,
                    v0: 0.0,
                    t0: now,
                    rate: 0.0,
                    u: 0.0,
                    gen: 0,
                    flows: BinaryHeap::new(),
                    active_pos: 0,
                });
                self.class_of.insert(key, c);
                self.links[link as usize].classes.push(c);
                c
            }
        };
        let class = &mut self.classes[c as usize];
        if class.n == 0 {
            class.v0 = 0.0;
            class.t0 = now;
            class.active_pos = self.active.len() as u32;
            self.active.push(c);
        } else {
            class.rebase(now);
        }
        class.n += 1;
        self.seq += 1;
        class.flows.push(Reverse(FlowEntry {
            end_v: class.v0 + bytes.max(0.0),
            seq: self.seq,
            tag,
        }));
        self.touched.push(c);
        self.mark_link(link);
        self.in_flight += 1;
        self.stats.flows += 1;
        self.stats.peak_flows = self.stats.peak_flows.max(self.in_flight);
    }

    /// Removes the flows done at `now` (the time [`FlowNet::update`] returned) and appends
    /// their tags to `out`, earliest-finishing first within a class.
    pub fn pop_done(&mut self, now: u64, out: &mut Vec<u32>) {
        while let Some(&Reverse((t, c, gen))) = self.heap.peek() {
            if t > now {
                break;
            }
            self.heap.pop();
            let class = &mut self.classes[c as usize];
            if class.gen != gen || class.n == 0 {
                continue;
            }
            let v = class.v(now);
            // One nanosecond of progress absorbs the rounding of completion times.
            let tolerance = class.rate * 2e-9 + 1e-6;
            let mut popped = 0;
            while let Some(top) = class.flows.peek() {
                if top.0.end_v > v + tolerance {
                    break;
                }
                out.push(class.flows.pop().expect("peeked").0.tag);
                popped += 1;
            }
            if popped == 0 {
                // Not quite there (rounding): look again at its next completion.
                self.touched.push(c);
                continue;
            }
            class.n -= popped;
            self.in_flight -= popped as u64;
            class.rebase(now);
            if class.n == 0 {
                let pos = class.active_pos as usize;
                let link = class.link;
                self.active.swap_remove(pos);
                if let Some(&moved) = self.active.get(pos) {
                    self.classes[moved as usize].active_pos = pos as u32;
                }
                self.mark_link(link);
            } else {
                let link = class.link;
                self.touched.push(c);
                self.mark_link(link);
            }
        }
    }

    /// Recomputes the rates that the changes since the last call can affect and returns the
    /// next completion time, if any flow is in progress.
    pub fn update(&mut self, now: u64) -> Option<u64> {
        if !self.dirty_links.is_empty() {
            self.stats.recomputes += 1;
            let dirty = std::mem::take(&mut self.dirty_links);
            for &l in &dirty {
                self.links[l as usize].dirty = false;
                self.fill_link(l);
            }
            if self.server.is_finite() {
                self.apply_server_level(now);
            } else {
                for &l in &dirty {
                    for i in 0..self.links[l as usize].classes.len() {
                        let c = self.links[l as usize].classes[i];
                        let u = self.classes[c as usize].u;
                        self.set_rate(c, now, u);
                    }
                }
            }
            self.dirty_links = dirty;
            self.dirty_links.clear();
        }
        for i in 0..self.touched.len() {
            let c = self.touched[i];
            self.push_completion(c);
        }
        self.touched.clear();
        self.heap.peek().map(|e| e.0 .0)
    }

    /// Water-filling of one link over its active classes: sets each class's `u`.
    fn fill_link(&mut self, l: u32) {
        let link = &self.links[l as usize];
        let mut remaining = link.capacity;
        let mut order: Vec<u32> = link
            .classes
            .iter()
            .copied()
            .filter(|&c| self.classes[c as usize].n > 0)
            .collect();
        order.sort_by(|&a, &b| {
            let (ca, cb) = (&self.classes[a as usize], &self.classes[b as usize]);
            ca.cap.total_cmp(&cb.cap).then(a.cmp(&b))
        });
        let mut left: f64 = order
            .iter()
            .map(|&c| self.classes[c as usize].n as f64)
            .sum();
        let mut level = f64::INFINITY;
        for &c in &order {
            let class = &mut self.classes[c as usize];
            let share = remaining / left;
            if level.is_finite() || class.cap > share {
                level = level.min(share);
                class.u = level;
            } else {
                class.u = class.cap;
                remaining -= class.cap * class.n as f64;
                left -= class.n as f64;
            }
        }
    }

    /// The server level over every active class, then each class's rate.
    fn apply_server_level(&mut self, now: u64) {
        self.scratch.clear();
        let mut total = 0.0;
        for &c in &self.active {
            let class = &self.classes[c as usize];
            self.scratch.push((class.u, c));
            total += class.u * class.n as f64;
        }
        let mut level = f64::INFINITY;
        if total > self.server {
            self.scratch
                .sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let mut remaining = self.server;
            let mut left: f64 = self
                .scratch
                .iter()
                .map(|&(_, c)| self.classes[c as usize].n as f64)
                .sum();
            for &(u, c) in &self.scratch {
                let n = self.classes[c as usize].n as f64;
                let share = remaining / left;
                if u > share {
                    level = share;
                    break;
                }
                remaining -= u * n;
                left -= n;
            }
        }
        for i in 0..self.scratch.len() {
            let (u, c) = self.scratch[i];
            self.set_rate(c, now, u.min(level));
        }
    }

    fn set_rate(&mut self, c: u32, now: u64, rate: f64) {
        let class = &mut self.classes[c as usize];
        if class.n == 0 || class.rate == rate {
            return;
        }
        class.rebase(now);
        class.rate = rate;
        self.stats.class_updates += 1;
        self.touched.push(c);
    }

    fn push_completion(&mut self, c: u32) {
        let class = &mut self.classes[c as usize];
        class.gen = class.gen.wrapping_add(1);
        if let Some(t) = class.next_completion() {
            self.heap.push(Reverse((t, c, class.gen)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: f64 = 1e6;

    /// Runs flows `(start ns, host, dir, cap, bytes)` to completion; returns each flow's end, ns.
    fn run(net: &mut FlowNet, flows: &[(u64, u32, Dir, f64, f64)]) -> Vec<u64> {
        let mut ends = vec![0u64; flows.len()];
        let mut order: Vec<usize> = (0..flows.len()).collect();
        order.sort_by_key(|&i| flows[i].0);
        let mut next_start = 0;
        let mut now = 0;
        let mut done = Vec::new();
        loop {
            while next_start < order.len() && flows[order[next_start]].0 <= now {
                let (_, h, d, cap, b) = flows[order[next_start]];
                net.start(now, h, d, cap, b, order[next_start] as u32);
                next_start += 1;
            }
            let next_done = net.update(now);
            let next_arrival = order.get(next_start).map(|&i| flows[i].0);
            now = match (next_done, next_arrival) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (None, None) => break,
            };
            done.clear();
            net.pop_done(now, &mut done);
            for &tag in &done {
                ends[tag as usize] = now;
            }
        }
        ends
    }

    fn close(a: u64, b: f64) -> bool {
        (a as f64 - b).abs() <= 2.0 + b * 1e-9
    }

    #[test]
    fn one_flow_alone_runs_at_its_cap() {
        let mut net = FlowNet::new(Some(1000.0 * MB), Some(500.0 * MB));
        let ends = run(&mut net, &[(0, 0, Dir::Up, 100.0 * MB, 50.0 * MB)]);
        assert!(close(ends[0], 0.5e9), "{ends:?}");
        // The link is the limit when the cap is above it.
        let mut net = FlowNet::new(Some(1000.0 * MB), Some(500.0 * MB));
        let ends = run(&mut net, &[(0, 0, Dir::Up, 1e12, 50.0 * MB)]);
        assert!(close(ends[0], 0.1e9), "{ends:?}");
    }

    #[test]
    fn k_flows_through_a_server_of_capacity_c_finish_at_k_bytes_over_c() {
        let c = 1000.0 * MB;
        for k in [1u32, 2, 5, 40] {
            let mut net = FlowNet::new(Some(c), None);
            let flows: Vec<_> = (0..k).map(|h| (0, h, Dir::Up, 1e12, 100.0 * MB)).collect();
            let ends = run(&mut net, &flows);
            let want = k as f64 * 100.0 * MB / c * 1e9;
            assert!(
                ends.iter().all(|&e| close(e, want)),
                "k = {k}: {ends:?} vs {want}"
            );
        }
    }

    #[test]
    fn max_min_gives_slack_of_capped_flows_to_the_others() {
        // Server 300: one flow capped at 50 and two uncapped: 50, 125, 125.
        let mut net = FlowNet::new(Some(300.0 * MB), None);
        let ends = run(
            &mut net,
            &[
                (0, 0, Dir::Up, 50.0 * MB, 50.0 * MB),
                (0, 1, Dir::Up, 1e12, 125.0 * MB),
                (0, 2, Dir::Down, 1e12, 125.0 * MB),
            ],
        );
        assert!(ends.iter().all(|&e| close(e, 1e9)), "{ends:?}");
    }

    #[test]
    fn a_host_link_limits_its_flows_and_frees_server_share_for_others() {
        // Host 0 link 100 with 2 flows (50 each); host 1 has one flow; server 400: host 1's flow
        // gets 300 (the rest of the server).
        let mut net = FlowNet::new(Some(400.0 * MB), Some(100.0 * MB));
        let mut net_big = FlowNet::new(Some(400.0 * MB), None);
        let flows = [
            (0, 0, Dir::Up, 1e12, 50.0 * MB),
            (0, 0, Dir::Up, 1e12, 50.0 * MB),
            (0, 1, Dir::Down, 1e12, 100.0 * MB),
        ];
        let ends = run(&mut net, &flows);
        assert!(close(ends[0], 1e9) && close(ends[1], 1e9), "{ends:?}");
        // Host 1's link is 100 too: it is the limit.
        assert!(close(ends[2], 1e9), "{ends:?}");
        let ends = run(&mut net_big, &flows);
        // Unlimited links: three equal shares of 400 until the small ones end at 50/133.3.
        let t1 = 50.0 / (400.0 / 3.0);
        let rest = (100.0 - 50.0) / 400.0;
        assert!(close(ends[2], (t1 + rest) * 1e9), "{ends:?}");
    }

    #[test]
    fn rates_change_when_flows_come_and_go() {
        // Server 100: flow A (100 MB) alone for 0.5 s (50 MB), then shares with B (25 MB):
        // both at 50 until B ends at 1.0 s, A has 25 MB left at 100 -> 1.25 s.
        let mut net = FlowNet::new(Some(100.0 * MB), None);
        let ends = run(
            &mut net,
            &[
                (0, 0, Dir::Up, 1e12, 100.0 * MB),
                (500_000_000, 1, Dir::Up, 1e12, 25.0 * MB),
            ],
        );
        assert!(close(ends[1], 1.0e9) && close(ends[0], 1.25e9), "{ends:?}");
        assert_eq!(net.in_flight(), 0);
        assert_eq!(net.stats().flows, 2);
    }

    #[test]
    fn unlimited_server_keeps_links_independent() {
        let mut net = FlowNet::new(None, Some(10.0 * MB));
        let ends = run(
            &mut net,
            &[
                (0, 0, Dir::Up, 1e12, 10.0 * MB),
                (0, 1, Dir::Down, 1e12, 20.0 * MB),
            ],
        );
        assert!(close(ends[0], 1e9) && close(ends[1], 2e9), "{ends:?}");
    }

    /// Max-min rates by progressive filling over individual flows: the definition the
    /// class-based computation must match.
    fn reference_rates(flows: &[(u32, Dir, f64)], server: f64, link: f64) -> Vec<f64> {
        let n = flows.len();
        let mut rate = vec![0.0; n];
        let mut frozen = vec![false; n];
        let mut level = 0.0;
        while frozen.iter().any(|f| !f) {
            let mut delta = f64::INFINITY;
            for (i, f) in flows.iter().enumerate() {
                if !frozen[i] {
                    delta = delta.min(f.2 - level);
                }
            }
            let used_server: f64 = rate.iter().sum();
            let open = frozen.iter().filter(|f| !**f).count() as f64;
            delta = delta.min((server - used_server) / open);
            let mut links: HashMap<(u32, bool), (f64, f64)> = HashMap::new();
            for (i, f) in flows.iter().enumerate() {
                let e = links.entry((f.0, f.1 == Dir::Up)).or_default();
                e.0 += rate[i];
                e.1 += (!frozen[i]) as u32 as f64;
            }
            for (used, open) in links.values() {
                if *open > 0.0 {
                    delta = delta.min((link - used) / open);
                }
            }
            level += delta;
            for i in 0..n {
                if !frozen[i] {
                    rate[i] = level;
                }
            }
            let used_server: f64 = rate.iter().sum();
            let server_full = used_server >= server * (1.0 - 1e-12);
            for (i, f) in flows.iter().enumerate() {
                if frozen[i] {
                    continue;
                }
                let link_used: f64 = flows
                    .iter()
                    .zip(&rate)
                    .filter(|(g, _)| g.0 == f.0 && g.1 == f.1)
                    .map(|(_, r)| r)
                    .sum();
                if rate[i] >= f.2 * (1.0 - 1e-12)
                    || server_full
                    || link_used >= link * (1.0 - 1e-12)
                {
                    frozen[i] = true;
                }
            }
        }
        rate
    }

    use proptest::prelude::*;

    proptest! {
        /// End times match an event-by-event simulation that recomputes max-min rates over
        /// individual flows by progressive filling.
        #[test]
        fn matches_progressive_filling_over_flows(
            flows in prop::collection::vec((0u64..3, 0u32..4, any::<bool>(), 0usize..3, 1.0f64..100.0), 1..25),
            server in prop::sample::select(vec![80.0, 300.0, f64::INFINITY]),
            link in prop::sample::select(vec![40.0, 150.0, f64::INFINITY]),
        ) {
            let caps = [10.0 * MB, 60.0 * MB, 1e15];
            let flows: Vec<(u64, u32, Dir, f64, f64)> = flows
                .iter()
                .map(|&(t, h, up, c, b)| (t * 400_000_000, h, if up { Dir::Up } else { Dir::Down }, caps[c], b * MB))
                .collect();
            let (server_b, link_b) = (server * MB, link * MB);
            let mut net = FlowNet::new(server.is_finite().then_some(server_b), link.is_finite().then_some(link_b));
            let ends = run(&mut net, &flows);
            // Reference: time-stepped between events with exact max-min rates.
            let mut left: Vec<f64> = flows.iter().map(|f| f.4).collect();
            let mut end_ref = vec![f64::NAN; flows.len()];
            let mut now = 0.0f64;
            loop {
                let active: Vec<usize> = (0..flows.len())
                    .filter(|&i| flows[i].0 as f64 <= now + 1e-3 && end_ref[i].is_nan())
                    .collect();
                let next_arrival = flows
                    .iter()
                    .map(|f| f.0 as f64)
                    .filter(|&t| t > now + 1e-3)
                    .fold(f64::INFINITY, f64::min);
                if active.is_empty() {
                    if next_arrival.is_finite() { now = next_arrival; continue; } else { break; }
                }
                let spec: Vec<_> = active.iter().map(|&i| (flows[i].1, flows[i].2, flows[i].3)).collect();
                let rates = reference_rates(&spec, server_b, link_b);
                let dt = active
                    .iter()
                    .zip(&rates)
                    .map(|(&i, r)| left[i] / r * 1e9)
                    .fold(next_arrival - now, f64::min);
                for (&i, r) in active.iter().zip(&rates) {
                    left[i] -= r * dt / 1e9;
                    if left[i] <= 1e-3 {
                        end_ref[i] = now + dt;
                    }
                }
                now += dt;
            }
            for (i, (&got, want)) in ends.iter().zip(&end_ref).enumerate() {
                prop_assert!((got as f64 - want).abs() <= 1e3 + want * 1e-6, "flow {}: {} vs {}", i, got, want);
            }
        }
    }
}
