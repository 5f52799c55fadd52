//! Faults in a simulated run (`[faults]`) and how the platform notices and survives them.
//!
//! Injection, each from its own random stream so that one fault kind never shifts the draws of
//! another (or of the platform):
//! - **invoker crashes** at given times or after drawn up times (stream `invoker-failures`, one
//!   per invoker): everything on the invoker is lost (containers, warm or running, stem cells,
//!   its run buffer and engine queue); messages still in its topic stay there (Kafka keeps
//!   them) and are delivered once it is back, empty, after its recovery time;
//! - **container creation failures** (stream `creation-failure`, one per invoker): a cold
//!   creation fails at the end of its engine phase, and its message's attempts fail at once
//!   (the invoker reports it, as OpenWhisk's active ack of a system error);
//! - **worker crashes** and **stragglers** (streams `worker-crash` and `straggler`, one per
//!   attempt): drawn when an attempt's container is ready; a crashing attempt stops at a
//!   uniform point of its run, a straggler's run time is multiplied by its slowdown;
//! - **broker outages**: messages published meanwhile enter their topic at the end, topics
//!   deliver nothing, completion acks and capacity heartbeats wait for the end.
//!
//! Detection is OpenWhisk's health protocol, not an oracle: invokers ping every
//! `controller.heartbeat_period`; the controller takes an invoker offline `offline_timeout`
//! after the last ping it got (time during a broker outage does not count), and the balancer
//! stops placing work there. A burst controller fails the attempts it had placed on an offline
//! invoker then (or, when a restarted invoker pings before that, at that ping, as the live
//! controller notices a restarted agent); a FaaS activation on a lost invoker fails when its
//! completion ack times out (`max(action_timeout, 60 s) * 2 + 60 s` after it was published),
//! as in OpenWhisk. A returning invoker is usable again from its first ping.
//!
//! What happens to a failed attempt is the run's recovery policy (`policies::recovery`), applied
//! as the live controller applies it ([`recovery`]).
//!
//! Records: attempt 0 of each function lives in the engine's record ring like any function's;
//! its slot is marked final (`done`) only once the function is (no attempt open, no re-run
//! coming; under `rerun-pack` also no open attempt left in the pack of its completed attempt,
//! which a failure there would discard). The ring then hands it to the sink with its extra
//! attempts right after it, so the sink sees (function id, attempt) order. A run with faults
//! keeps its request, message and container rows (the fault state refers to them by slot after
//! they end), so its tables grow with the run, unlike a run without faults.

mod attempts;
pub(crate) mod recovery;
mod work;

use std::sync::Arc;

use policies::{RecoveryPolicy, Status};

use crate::idmap::IdMap;
pub(crate) use attempts::Attempts;

use crate::container::CState;
use crate::cpu::CpuSharer;
use crate::event::Event;
use crate::records::{Slot, NONE};
use crate::rng::{self, Rng};
use crate::scenario::{BurstSpec, FaultSpec, Scenario};
use crate::sim::Sim;
use crate::sink::{RecordSink, SinkError};

/// `InvokerCrash` of a random crash (not one of `[faults] invoker_crashes`).
pub(crate) const RANDOM_CRASH: u32 = u32::MAX;

/// Health of one invoker: what happened to it and what the controller knows.
#[derive(Debug, Clone, Default)]
pub(crate) struct InvokerHealth {
    /// Crashed and not yet back.
    pub down: bool,
    /// Counts its crashes: detection events of an earlier crash are stale.
    pub epoch: u32,
    /// The controller noticed its last crash (offline, or a restart ping).
    pub detected: bool,
    /// The controller's view has it offline.
    pub offline: bool,
    /// The head message of its topic, held while it is down.
    pub held: Option<u32>,
}

/// What the fault model keeps about one message.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct MsgState {
    pub published_at: u64,
    /// It reached its invoker (left the topic).
    pub delivered: bool,
    /// Its invoker crashed after it was delivered: its attempts are lost, unknown to the
    /// controller until detection.
    pub lost: bool,
    /// Its reservation went back to the controller (completed, or all its attempts settled).
    pub released: bool,
    /// Nothing more will run for it (completed, lost, or every attempt settled before it ran).
    pub over: bool,
}

/// What the fault model keeps about a burst in flight (re-runs and `fail-burst` need it).
#[derive(Debug, Clone, Copy)]
pub(crate) struct BurstInfo {
    pub first_function: u64,
    pub workers: u32,
    pub action: u32,
}

/// Speculation state of one burst.
#[derive(Debug, Default)]
pub(crate) struct SpecBurst {
    /// Times from submission to end of its completed attempts, ns, sorted.
    pub finished: Vec<u64>,
    /// Its messages, published and maybe still running (stale ones dropped when scanned).
    pub messages: Vec<u32>,
    /// Time of the pending speculation check, if one is scheduled.
    pub check_at: Option<u64>,
}

/// The fault model's state in a run. Runs with faults keep every request, message and
/// container row (no slot reuse): the fault state refers to them by slot after they end.
pub(crate) struct FaultRun {
    pub policy: Box<dyn RecoveryPolicy>,
    pub speculate: bool,
    /// `rerun-pack`: a function that completed is final only once its pack has no open attempt
    /// (a later failure in the pack discards it), so its record waits until then.
    pub pack: bool,
    /// Functions final while their pack may still discard them: (function, message).
    pub pending_final: Vec<(u64, u32)>,
    /// `attempts.closes` when `pending_final` was last checked.
    pub closes_seen: u64,
    pub bursts: IdMap<u64, BurstInfo>,
    pub attempts: Attempts,
    pub health: Vec<InvokerHealth>,
    creation_rngs: Vec<Rng>,
    crash_rngs: Vec<Rng>,
    pub msgs: Vec<MsgState>,
    /// Per invoker: messages published to it and maybe not over (stale ones dropped when
    /// scanned).
    pub on_invoker: Vec<Vec<u32>>,
    /// Attempts whose worker is in a container: (container, crashes instead of ending).
    pub running: IdMap<u64, (u32, bool)>,
    /// CPU-shares workers not yet started: (work, crashes when it is done).
    pub pending_work: IdMap<u64, (u64, bool)>,
    pub spec: IdMap<u64, SpecBurst>,
    /// Releases during a broker outage, applied when it ends: (invoker, workers, memory).
    pub deferred: Vec<(u32, u32, u64)>,
    pub seed: u64,
}

impl FaultRun {
    pub fn new(sc: &Scenario, seed: u64) -> Self {
        let n = sc.invokers.len();
        let policy = sc.recovery.build();
        FaultRun {
            speculate: matches!(
                sc.recovery,
                policies::RecoverySpec::SpeculateStragglers { .. }
            ),
            pack: matches!(sc.recovery, policies::RecoverySpec::RerunPack { .. }),
            pending_final: Vec::new(),
            closes_seen: 0,
            bursts: IdMap::default(),
            policy,
            attempts: Attempts::default(),
            health: vec![InvokerHealth::default(); n],
            creation_rngs: (0..n)
                .map(|i| rng::stream(seed, "creation-failure", i as u64))
                .collect(),
            crash_rngs: (0..n)
                .map(|i| rng::stream(seed, "invoker-failures", i as u64))
                .collect(),
            msgs: Vec::new(),
            on_invoker: vec![Vec::new(); n],
            running: IdMap::default(),
            pending_work: IdMap::default(),
            spec: IdMap::default(),
            deferred: Vec::new(),
            seed,
        }
    }

    /// One draw from attempt `aid`'s own stream `name` (independent of event order).
    fn attempt_draw(&self, name: &str, fid: u64, attempt: u32) -> Rng {
        rng::stream(self.seed, name, (fid << 12) | u64::from(attempt.min(4095)))
    }
}

impl Sim<'_> {
    /// The run's `[faults]` (only called when there are faults).
    pub(crate) fn fspec(&self) -> &FaultSpec {
        self.sc.faults.as_ref().expect("a run with faults")
    }

    pub(crate) fn fx(&mut self) -> &mut FaultRun {
        self.fx.as_mut().expect("a run with faults")
    }

    /// Schedules the crashes known from the start and the first random crash of each invoker.
    pub(crate) fn start_faults(&mut self) {
        let spec = self.fspec().clone();
        for (i, c) in spec.crashes.iter().enumerate() {
            self.q
                .push(c.at_ns, Event::InvokerCrash(c.invoker, i as u32));
        }
        if let Some(r) = &spec.random_crashes {
            for inv in 0..self.invokers.len() {
                let up = r.time_to_failure.sample_ns(&mut self.fx().crash_rngs[inv]);
                self.q
                    .push(up, Event::InvokerCrash(inv as u32, RANDOM_CRASH));
            }
        }
    }

    /// The record of attempt `aid` (open, or of a function not yet final).
    pub(crate) fn arec(&mut self, aid: u64) -> &mut Slot {
        if Attempts::is_extra(aid) {
            &mut self
                .fx
                .as_mut()
                .expect("extras only with faults")
                .attempts
                .extra_mut(aid)
                .slot
        } else {
            self.records.get_mut(aid)
        }
    }

    /// Settles the record of attempt `aid` as `status` with `reason` (attempt 0's slot is
    /// final only once its function is: [`Sim::function_final`]).
    pub(crate) fn set_outcome(&mut self, aid: u64, status: Status, reason: &str) {
        let r = self.arec(aid);
        r.status = status;
        r.reason = Some(Arc::from(reason));
    }

    /// Attempt `aid` completed: its record says `ok` again (a backup that lost may have been
    /// marked otherwise before).
    pub(crate) fn set_ok(&mut self, aid: u64) {
        let r = self.arec(aid);
        r.status = Status::Ok;
        r.reason = None;
    }

    /// Function `fid` is final (none of its attempts open, no re-run coming): the run counts
    /// it, and its records may go to the sink, except under `rerun-pack` while the message `m`
    /// of its completed attempt still has open attempts (a failure there discards it).
    pub(crate) fn function_final(&mut self, fid: u64, m: Option<u32>) {
        self.finished += 1;
        match m {
            Some(m) if self.fx().pack && self.message_has_open(m) => {
                self.fx().pending_final.push((fid, m));
            }
            _ => self.records.get_mut(fid).done = true,
        }
    }

    /// `rerun-pack` discarded function `fid`'s completed attempt: it is not final any more.
    pub(crate) fn function_unfinal(&mut self, fid: u64) {
        self.finished -= 1;
        self.fx().pending_final.retain(|&(f, _)| f != fid);
    }

    /// True when message `m` has an open attempt.
    fn message_has_open(&self, m: u32) -> bool {
        let msg = self.messages[m as usize];
        let fx = self.fx.as_ref().expect("a run with faults");
        (0..msg.workers as u64).any(|k| fx.attempts.is_open(msg.first_fid + k))
    }

    /// `rerun-pack`: functions whose pack has no open attempt left are final for the sink.
    pub(crate) fn settle_pack_finals(&mut self) {
        let fx = self.fx();
        // A pack's last open attempt can only go with a settlement.
        if fx.pending_final.is_empty() || fx.attempts.closes == fx.closes_seen {
            return;
        }
        fx.closes_seen = fx.attempts.closes;
        let pending = std::mem::take(&mut fx.pending_final);
        let mut keep = Vec::with_capacity(pending.len());
        // Pending functions of one pack are adjacent: each pack is checked once.
        let mut last: Option<(u32, bool)> = None;
        for (fid, m) in pending {
            let open = match last {
                Some((lm, open)) if lm == m => open,
                _ => self.message_has_open(m),
            };
            last = Some((m, open));
            if open {
                keep.push((fid, m));
            } else {
                self.records.get_mut(fid).done = true;
            }
        }
        self.fx().pending_final = keep;
    }

    /// A burst arrived (with faults): what re-runs and `fail-burst` need of it.
    pub(crate) fn track_burst(&mut self, b: &BurstSpec) {
        let info = BurstInfo {
            first_function: b.first_function,
            workers: b.workers,
            action: b.action,
        };
        self.fx().bursts.insert(b.id, info);
    }

    /// Releases the final records at the front of the ring, each function's extra attempts
    /// right after its first.
    pub(crate) fn release_with_attempts(
        &mut self,
        sink: &mut dyn RecordSink,
    ) -> Result<(), SinkError> {
        let t0 = self.t0.unwrap_or(0);
        let fx = self.fx.as_mut().expect("a run with faults");
        self.records.release_with(t0, sink, &mut |fid, sink| {
            fx.attempts.release(fid, t0, sink)
        })
    }

    /// End of a run with faults: attempts still open (e.g. a re-run that never found room)
    /// are recorded as never completed; then every record goes to the sink.
    pub(crate) fn finish_faults(
        &mut self,
        stranded: &Arc<str>,
        sink: &mut dyn RecordSink,
    ) -> Result<(), SinkError> {
        let t0 = self.t0.unwrap_or(0);
        let fx = self.fx.as_mut().expect("a run with faults");
        for (fid, slot) in self.records.iter_mut() {
            if fx.attempts.close(fid) && slot.status == Status::Ok {
                slot.status = Status::Failed;
                slot.reason = Some(stranded.clone());
            }
        }
        for aid in fx.attempts.open_extras() {
            fx.attempts.close(aid);
            let x = fx.attempts.extra_mut(aid);
            x.slot.status = Status::Failed;
            x.slot.reason = Some(stranded.clone());
        }
        self.records.finish(t0, stranded, sink, &mut |fid, sink| {
            fx.attempts.release(fid, t0, sink)
        })
    }

    /// Invoker `inv` crashes now: crash `source` of `[faults] invoker_crashes`, or a random
    /// one (`RANDOM_CRASH`).
    pub(crate) fn invoker_crash(&mut self, inv: u32, source: u32) {
        let i = inv as usize;
        if self.fx().health[i].down {
            return;
        }
        self.stats.invoker_crashes += 1;
        let now = self.now;
        let h = &mut self.fx().health[i];
        h.down = true;
        h.epoch = h.epoch.wrapping_add(1);
        h.detected = false;
        let epoch = h.epoch;
        // Everything on the invoker dies; attempts running there stop now.
        for cid in 0..self.containers.capacity() as u32 {
            let c = &self.containers[cid as usize];
            if c.invoker != inv || c.state == CState::Dead {
                continue;
            }
            let (state, m, id, last_fid) = (c.state, c.msg, c.id, c.last_fid);
            if matches!(state, CState::Busy | CState::Creating) && m != u32::MAX {
                self.lose_message(m);
            }
            if last_fid != NONE {
                self.records.close_container(id, last_fid);
            }
            let c = &mut self.containers[cid as usize];
            c.state = CState::Dead;
            c.epoch = c.epoch.wrapping_add(1);
            c.run = c.run.wrapping_add(1);
            c.cores = Vec::new();
        }
        let buffered: Vec<u32> = self.invokers[i].buffer.drain(..).collect();
        for m in buffered {
            self.lose_message(m);
        }
        // It restarts empty.
        let st = &mut self.invokers[i];
        st.free_cores = if self.exclusive_cpu {
            (0..st.cpus).rev().collect()
        } else {
            Vec::new()
        };
        st.used_mem = 0;
        st.idle_mem = 0;
        st.idle_count = 0;
        st.idle = Default::default();
        st.lru.clear();
        st.stems.clear();
        st.queued = 0;
        st.starting = 0;
        st.busy = 0;
        st.engine_queue.clear();
        st.engine_busy = 0;
        st.cpu_after_wall.clear();
        st.creation_cpu.reset();
        let gen = st.sharer.gen.wrapping_add(1);
        st.sharer = CpuSharer::new(st.cpus);
        st.sharer.gen = gen;
        // A FaaS activation on it fails when its completion ack times out.
        if !self.sc.is_burst() {
            self.schedule_ack_timeouts(inv);
        }
        // The controller notices after `offline_timeout` without a ping.
        let period = self.sc.controller.heartbeat_ns;
        let last_ping = now / period * period;
        let offline = self.fspec().offline_at(last_ping).max(now);
        self.at(offline, Event::InvokerOffline(inv, epoch));
        let down_for = if source == RANDOM_CRASH {
            let r = self.fspec().random_crashes.clone().expect("random crashes");
            Some(r.recovery.sample_ns(&mut self.fx().crash_rngs[i]))
        } else {
            self.fspec().crashes[source as usize].recovery_ns
        };
        if let Some(d) = down_for {
            self.at(now + d.max(1), Event::InvokerRecover(inv));
        }
    }

    /// Message `m` was on a crashing invoker: its attempts stop now (running ones end here).
    fn lose_message(&mut self, m: u32) {
        let msg = self.messages[m as usize];
        let now = self.now;
        self.fx().msgs[m as usize].lost = true;
        self.fx().msgs[m as usize].over = true;
        for k in 0..msg.workers as u64 {
            let aid = msg.first_fid + k;
            self.fx().running.remove(&aid);
            self.fx().pending_work.remove(&aid);
            if !self.fx().attempts.is_open(aid) {
                continue;
            }
            let r = self.arec(aid);
            r.invoker = msg.invoker;
            if r.t_start != NONE && r.t_start > now {
                // Not yet spawned.
                r.t_start = NONE;
            }
            if r.t_start != NONE {
                r.t_end = now;
            }
        }
    }

    /// Invoker `inv` is back, empty: its topic delivers again, its prewarm pool refills, and
    /// its first ping reaches the controller at the next period.
    pub(crate) fn invoker_recover(&mut self, inv: u32) {
        let i = inv as usize;
        self.fx().health[i].down = false;
        let epoch = self.fx().health[i].epoch;
        if let Some(m) = self.fx().health[i].held.take() {
            self.q.push(self.now, Event::Deliver(inv, m));
        }
        let pw = self.sc.invoker.prewarm.count;
        for _ in 0..pw {
            self.refill_stem(i);
        }
        let period = self.sc.controller.heartbeat_ns;
        let ping = self.now.div_ceil(period) * period;
        let ping = self.fspec().broker_up_at(ping);
        self.at(ping, Event::InvokerPing(inv, epoch));
        // Random crashes: the next one after a drawn up time.
        if let Some(r) = self.fspec().random_crashes.clone() {
            let up = r.time_to_failure.sample_ns(&mut self.fx().crash_rngs[i]);
            self.at(self.now + up.max(1), Event::InvokerCrash(inv, RANDOM_CRASH));
        }
    }

    /// The controller has had no ping from `inv` for `offline_timeout`.
    pub(crate) fn invoker_offline(&mut self, inv: u32, epoch: u32) {
        let h = &self.fx().health[inv as usize];
        if h.epoch != epoch || h.detected {
            return;
        }
        self.fx().health[inv as usize].offline = true;
        self.set_invoker_health(inv, false);
        self.detect_crash(inv, true);
    }

    /// The first ping of `inv` after a restart reaches the controller.
    pub(crate) fn invoker_ping(&mut self, inv: u32, epoch: u32) {
        let i = inv as usize;
        if self.fx().health[i].epoch != epoch || self.fx().health[i].down {
            return;
        }
        if !self.fx().health[i].detected {
            // Restarted before it went offline: a burst controller sees a new instance.
            self.detect_crash(inv, false);
        }
        if self.fx().health[i].offline {
            self.fx().health[i].offline = false;
            self.set_invoker_health(inv, true);
            self.retry_waiting();
        }
    }

    /// The controller notices that `inv` crashed: a burst controller fails the attempts it
    /// placed there (all of them when it went offline; on a restart ping only those the
    /// invoker had taken, the rest is still in its topic) and recovers them. FaaS activations
    /// wait for their completion-ack timeout.
    fn detect_crash(&mut self, inv: u32, offline: bool) {
        self.fx().health[inv as usize].detected = true;
        self.stats.crashes_detected += 1;
        if !self.sc.is_burst() {
            return;
        }
        let reason = format!("invoker {inv} crashed");
        let list = std::mem::take(&mut self.fx().on_invoker[inv as usize]);
        let mut keep = Vec::with_capacity(list.len());
        let mut hit = Vec::new();
        for m in list {
            let s = self.fx().msgs[m as usize];
            if s.lost || (offline && !s.over) {
                hit.push(m);
            } else if !s.over {
                keep.push(m);
            }
        }
        self.fx().on_invoker[inv as usize] = keep;
        for m in hit {
            let msg = self.messages[m as usize];
            self.fx().msgs[m as usize].over = true;
            self.release_message(m, true);
            let aids: Vec<u64> = (0..msg.workers as u64).map(|k| msg.first_fid + k).collect();
            for &aid in &aids {
                if self.fx().attempts.is_open(aid) {
                    self.arec(aid).invoker = inv;
                }
            }
            self.fail_attempts(&aids, &reason, Some(m));
        }
    }

    /// FaaS: every activation published to `inv` that has not completed fails when its
    /// completion ack times out.
    fn schedule_ack_timeouts(&mut self, inv: u32) {
        let ack = self.fspec().ack_timeout_ns;
        let list = self.fx().on_invoker[inv as usize].clone();
        for m in list {
            let s = self.fx().msgs[m as usize];
            if s.over && !s.lost {
                continue;
            }
            let t = (s.published_at + ack).max(self.now);
            self.at(t, Event::AckTimeout(m));
        }
    }

    /// The completion ack of FaaS message `m` timed out: if its attempt is still open it fails
    /// (the controller releases its slot, as a forced ack does), and the recovery policy
    /// applies.
    pub(crate) fn ack_timeout(&mut self, m: u32) {
        let msg = self.messages[m as usize];
        let aid = msg.first_fid;
        if !self.fx().attempts.is_open(aid) {
            return;
        }
        // Still running (its invoker came back and took it): it is stopped.
        self.stop_worker(aid);
        self.fx().msgs[m as usize].over = true;
        self.release_message(m, true);
        let inv = msg.invoker;
        self.arec(aid).invoker = inv;
        let secs = self.fspec().ack_timeout_ns as f64 / 1e9;
        let reason = format!("invoker {inv} crashed: no completion ack within {secs:.0} s");
        self.fail_attempts(&[aid], &reason, Some(m));
    }

    /// Marks `inv` offline (unhealthy) or back in the controller's view.
    fn set_invoker_health(&mut self, inv: u32, healthy: bool) {
        self.ctl_set_healthy(inv, healthy);
    }

    /// A release of `workers` CPUs / `memory` MB on `inv` reaches the controller: through the
    /// broker, so after an outage that covers now.
    pub(crate) fn release_through_broker(&mut self, inv: u32, workers: u32, memory: u64) -> bool {
        let Some(until) = self.fspec().outage_at(self.now) else {
            return false;
        };
        let first = self.fx().deferred.is_empty();
        self.fx().deferred.push((inv, workers, memory));
        if first {
            self.at(until, Event::BrokerUp);
        }
        true
    }

    /// A broker outage ended: the releases it held reach the controller.
    pub(crate) fn broker_up(&mut self) {
        let deferred = std::mem::take(&mut self.fx().deferred);
        for (inv, workers, memory) in deferred {
            self.release(inv, workers, memory);
        }
    }

    /// Message `m`'s reservation goes back to the controller once. `direct`: the controller
    /// itself settled it (no heartbeat needed to see it).
    pub(crate) fn release_message(&mut self, m: u32, direct: bool) {
        if std::mem::replace(&mut self.fx().msgs[m as usize].released, true) {
            return;
        }
        let msg = self.messages[m as usize];
        let memory = self.sc.actions[msg.action as usize].memory_mb * msg.workers as u64;
        if direct {
            self.ctl_release_now(msg.invoker, msg.workers, memory);
        } else {
            self.release(msg.invoker, msg.workers, memory);
        }
    }

    /// Message `m` was published at `t` (with faults): tracked per invoker, and a FaaS
    /// activation sent to a crashed invoker gets its ack timeout.
    pub(crate) fn track_message(&mut self, m: u32, t: u64) {
        let msg = self.messages[m as usize];
        let fx = self.fx();
        if fx.msgs.len() <= m as usize {
            fx.msgs.resize(m as usize + 1, MsgState::default());
        }
        fx.msgs[m as usize] = MsgState {
            published_at: t,
            ..MsgState::default()
        };
        fx.on_invoker[msg.invoker as usize].push(m);
        if fx.speculate {
            fx.spec.entry(msg.burst).or_default().messages.push(m);
        }
        if !self.sc.is_burst() && self.fx().health[msg.invoker as usize].down {
            let ack = self.fspec().ack_timeout_ns;
            self.at(t + ack, Event::AckTimeout(m));
        }
    }

    /// Draws whether a cold creation on `inv` fails.
    pub(crate) fn creation_fails(&mut self, inv: usize) -> bool {
        let p = self.fspec().creation_failure;
        p > 0.0 && rand::Rng::random::<f64>(&mut self.fx().creation_rngs[inv]) < p
    }
}
