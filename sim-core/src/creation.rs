//! Container creation on an invoker, in two phases.
//!
//! 1. The **engine phase**: creations enter the container engine in FIFO order through
//!    `max_concurrent_creations` slots. A creation in the engine first spends a wall-clock
//!    section (`create`, which shares nothing), then its CPU work (`create_cpu`, CPU-seconds):
//!    the creations doing CPU work share the invoker's CPUs equally (processor sharing), so one
//!    alone takes `create_cpu / cpus`, k together take k times as long each, and an invoker with
//!    twice the CPUs creates twice as fast. Both parts are multiplied by the contention factor
//!    `1 + alpha * n^exponent`, n taken when the phase starts (`alive`: containers in the
//!    engine, initialising or running, excluding this one; `in_flight`: containers queued for
//!    the engine, in it or initialising, excluding this one).
//! 2. The **runtime init** (`cold_start`), in parallel and holding no slot; with the straggler
//!    probability `min(1, probability * (n / cpus)^exponent)` (n: the invoker's other
//!    containers in flight, or alive, when the init starts: the load relative to the machine's
//!    size, as the engine's capacity is its CPUs) a creation also waits a straggler `delay`
//!    here, so a straggler does not hold up the creations behind it.
//!
//! Random durations of a creation come from streams of its own (one for the engine phase, one
//! for the init, keyed by the container's id, not its reusable slot), so they do not shift when a parameter change reorders other events: a fit
//! that compares parameter values over a fixed set of seeds sees common random numbers.

use rand::Rng as _;

use crate::config::ContentionCount;
use crate::container::CState;
use crate::event::Event;
use crate::invoker::InvokerState;
use crate::rng;
use crate::sim::Sim;

/// Creations doing their CPU work on one invoker, sharing its CPUs equally. All progress at the
/// same rate, so one virtual clock (CPU-seconds received by each) marks every end.
#[derive(Debug, Clone)]
pub(crate) struct CreationCpu {
    cores: f64,
    /// CPU-seconds each active creation has received since the start, at `last`.
    v: f64,
    last: u64,
    /// Bumped at each reschedule; an end event of an older generation is stale.
    pub gen: u32,
    /// (container, virtual time at which its work is done).
    active: Vec<(u32, f64)>,
}

/// Work below this (CPU-seconds) counts as done: absorbs float and nanosecond rounding.
const EPS: f64 = 1e-9;

impl CreationCpu {
    /// A crashed invoker's engine restarts empty: end events already scheduled go stale.
    pub fn reset(&mut self) {
        self.gen = self.gen.wrapping_add(1);
        self.v = 0.0;
        self.active.clear();
    }

    pub fn new(cores: u32) -> Self {
        CreationCpu {
            cores: cores.max(1) as f64,
            v: 0.0,
            last: 0,
            gen: 0,
            active: Vec::new(),
        }
    }

    fn advance(&mut self, now: u64) {
        if !self.active.is_empty() {
            let dt = now.saturating_sub(self.last) as f64 / 1e9;
            self.v += dt * self.cores / self.active.len() as f64;
        }
        self.last = now;
    }

    fn add(&mut self, now: u64, cid: u32, cpu_seconds: f64) {
        self.advance(now);
        self.active.push((cid, self.v + cpu_seconds));
    }

    /// When the next creation finishes its work (None when none is working); bumps `gen`.
    fn next_done(&mut self, now: u64) -> Option<u64> {
        self.gen = self.gen.wrapping_add(1);
        let first = self
            .active
            .iter()
            .map(|&(_, end)| end)
            .min_by(f64::total_cmp)?;
        let secs = (first - self.v).max(0.0) * self.active.len() as f64 / self.cores;
        Some(now + (secs * 1e9).ceil() as u64)
    }

    /// Removes and returns the creations whose work is done at `now`, in (end, container) order.
    fn take_done(&mut self, now: u64) -> Vec<u32> {
        self.advance(now);
        let v = self.v;
        let mut done: Vec<(u32, f64)> = Vec::new();
        self.active.retain(|&(cid, end)| {
            let finished = end <= v + EPS;
            if finished {
                done.push((cid, end));
            }
            !finished
        });
        done.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        done.into_iter().map(|(cid, _)| cid).collect()
    }
}

/// The invoker's containers other than the one being created (counted in `starting`), as
/// `count` says: alive (in the engine, initialising or running) or in flight (queued for the
/// engine, in it or initialising).
fn others(st: &InvokerState, count: ContentionCount) -> u32 {
    match count {
        ContentionCount::Alive => st.starting + st.busy - 1,
        ContentionCount::InFlight => st.queued + st.starting - 1,
    }
}

impl Sim<'_> {
    pub(crate) fn enqueue_creation(&mut self, cid: u32) {
        let inv = self.containers[cid as usize].invoker as usize;
        let st = &mut self.invokers[inv];
        st.queued += 1;
        st.engine_queue.push_back(cid);
        self.engine_try_start(inv);
    }

    fn engine_try_start(&mut self, inv: usize) {
        let slots = self.sc.invoker.max_concurrent_creations;
        loop {
            let st = &mut self.invokers[inv];
            if slots != 0 && st.engine_busy >= slots {
                break;
            }
            let Some(cid) = st.engine_queue.pop_front() else {
                break;
            };
            st.queued -= 1;
            st.starting += 1;
            st.engine_busy += 1;
            let n = others(st, self.sc.invoker.contention.count);
            let factor = self.contention_factor(n);
            let (wall, cpu) = self.engine_draws(inv, cid);
            let wall = (wall as f64 * factor).round() as u64;
            let cpu = cpu * factor;
            if wall > 0 {
                if cpu > 0.0 {
                    self.invokers[inv].cpu_after_wall.push((cid, cpu));
                }
                self.at(self.now + wall, Event::EngineDone(cid));
            } else if cpu > 0.0 {
                self.creation_cpu_start(inv, cid, cpu);
            } else {
                self.at(self.now, Event::EngineDone(cid));
            }
        }
    }

    /// `1 + alpha * n^exponent` (1 without contention).
    fn contention_factor(&self, n: u32) -> f64 {
        let c = &self.sc.invoker.contention;
        if c.alpha > 0.0 {
            1.0 + c.alpha * (n as f64).powf(c.exponent)
        } else {
            1.0
        }
    }

    /// The engine phase of container `cid`: (wall-clock ns, CPU-seconds), before contention.
    /// Random parts come from the container's own stream, so a creation's draws do not depend
    /// on the order in which events of other containers happen (common random numbers when a
    /// fit changes a parameter).
    fn engine_draws(&mut self, inv: usize, cid: u32) -> (u64, f64) {
        let model = &self.sc.invoker;
        if model.create.distribution().is_constant() && model.create_cpu.is_constant() {
            // Constants draw nothing from the invoker's stream.
            let wall = model.create.sample_ns(&mut self.invokers[inv].rng);
            return (wall, model.create_cpu.mean());
        }
        let mut rng = rng::stream(
            self.seed,
            "creation-engine",
            self.containers[cid as usize].id,
        );
        let wall = model.create.sample_ns(&mut rng);
        (wall, model.create_cpu.sample(0, &mut rng))
    }

    /// The runtime init of container `cid`, ns: a `cold_start` draw, plus a straggler delay
    /// with the straggler probability for the invoker's load, containers per CPU (both drawn
    /// whatever the probability, so that changing it keeps the other draws).
    fn init_draw(&mut self, inv: usize, cid: u32) -> u64 {
        let model = &self.sc.invoker;
        let straggler = &model.straggler;
        let straggles = straggler.probability > 0.0;
        if model.cold_start.distribution().is_constant() && !straggles {
            return model.cold_start.sample_ns(&mut self.invokers[inv].rng);
        }
        let mut rng = rng::stream(self.seed, "creation-init", self.containers[cid as usize].id);
        let init = model.cold_start.sample_ns(&mut rng);
        if !straggles {
            return init;
        }
        let u: f64 = rng.random();
        let delay = straggler.delay.sample_ns(&mut rng);
        let st = &self.invokers[inv];
        let n = others(st, straggler.count);
        let p = if straggler.exponent == 0.0 {
            straggler.probability
        } else {
            let load = n as f64 / st.cpus.max(1) as f64;
            straggler.probability * load.powf(straggler.exponent)
        };
        if u < p {
            init + delay
        } else {
            init
        }
    }

    /// The wall-clock engine section of `cid` ended: its CPU work, if any, starts.
    pub(crate) fn engine_done(&mut self, cid: u32) {
        if self.fx.is_some() && self.containers[cid as usize].state == CState::Dead {
            // Its invoker crashed meanwhile (the crash reset the engine).
            return;
        }
        let inv = self.containers[cid as usize].invoker as usize;
        let pending = &mut self.invokers[inv].cpu_after_wall;
        if let Some(i) = pending.iter().position(|&(c, _)| c == cid) {
            let (_, cpu) = pending.swap_remove(i);
            self.creation_cpu_start(inv, cid, cpu);
        } else {
            self.engine_phase_done(cid);
        }
    }

    fn creation_cpu_start(&mut self, inv: usize, cid: u32, cpu_seconds: f64) {
        let st = &mut self.invokers[inv];
        st.creation_cpu.add(self.now, cid, cpu_seconds);
        self.reschedule_creation_cpu(inv);
    }

    fn reschedule_creation_cpu(&mut self, inv: usize) {
        let st = &mut self.invokers[inv];
        if let Some(at) = st.creation_cpu.next_done(self.now) {
            let gen = st.creation_cpu.gen;
            self.at(at, Event::CreationCpuDone(inv as u32, gen));
        }
    }

    pub(crate) fn creation_cpu_done(&mut self, inv: u32, gen: u32) {
        let inv = inv as usize;
        let st = &mut self.invokers[inv];
        if gen != st.creation_cpu.gen {
            return;
        }
        let done = st.creation_cpu.take_done(self.now);
        self.reschedule_creation_cpu(inv);
        for cid in done {
            self.engine_phase_done(cid);
        }
    }

    /// The engine phase of `cid` ended: its slot frees, then (with faults) the creation may
    /// fail, else its runtime init starts.
    fn engine_phase_done(&mut self, cid: u32) {
        let inv = self.containers[cid as usize].invoker as usize;
        self.invokers[inv].engine_busy -= 1;
        self.engine_try_start(inv);
        if self.fx.is_some() && self.creation_failed(cid) {
            return;
        }
        let d = self.init_draw(inv, cid);
        if d == 0 {
            self.container_created(cid);
        } else {
            self.at(self.now + d, Event::Created(cid));
        }
    }

    pub(crate) fn container_created(&mut self, cid: u32) {
        let c = &mut self.containers[cid as usize];
        if c.state == CState::Dead {
            // Its invoker crashed meanwhile (faults).
            return;
        }
        let st = &mut self.invokers[c.invoker as usize];
        st.starting -= 1;
        if c.stem {
            c.state = CState::Stem;
            st.stems.push(cid);
        } else {
            c.state = CState::Busy;
            st.busy += 1;
            self.container_ready(cid, self.now);
        }
    }
}
