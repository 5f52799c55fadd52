//! The controller: handles up to `concurrency` requests at once (0 = unlimited: OpenWhisk's
//! controller serves activations concurrently), each taking `processing`, then asks the
//! placement policy for a plan against ITS view of the cluster, reserves what the plan takes,
//! and publishes one message per container, `per_container` each, in sequence: a burst's plan
//! is published container after container by the one request that carries it, while separate
//! requests publish side by side. A request holds its slot until its last message is published
//! (with `concurrency = 1` this is the one-at-a-time controller).
//!
//! Accounting follows the policy kind. Burst policies reserve CPUs; invokers report freed CPUs in
//! heartbeats, so releases become visible only at the next heartbeat (all invokers beat in phase,
//! at multiples of the period; a round is scheduled only when there is something to report). FaaS
//! reserves memory slots and releases them on the completion ack, immediately. A burst that does
//! not fit waits in a FIFO (strict order: later bursts queue behind it) and is retried at each
//! heartbeat, or is rejected, per `on_no_capacity`. A waiting burst that still does not fit when
//! the controller holds no reservation at all can never fit and is rejected. Retries publish at
//! the heartbeat without taking a request slot.

use std::collections::VecDeque;
use std::sync::Arc;

use policies::{ClusterView, InvokerView, PlacementError, PlacementPlan, PlacementRequest, Status};

use crate::event::Event;
use crate::rng::{self, Rng};
use crate::scenario::Scenario;
use crate::sim::{Message, Sim, NO_MESSAGE};
use policies::OnNoCapacity;

pub(crate) struct ControllerState {
    rng: Rng,
    /// Requests that arrived and wait for a slot.
    fifo: VecDeque<u32>,
    /// Requests being processed or published.
    busy: u32,
    in_run: bool,
    /// What the policy sees. Change it only through `update_view` (or its one-field forms),
    /// which note the change for the policy (`place_tracked_into`).
    view: ClusterView,
    /// Invokers whose view entry changed since the policy's last call.
    view_changes: Vec<u32>,
    reserved_cpus: Vec<i64>,
    reserved_mem: Vec<i64>,
    pending_release: Vec<u32>,
    dirty: Vec<u32>,
    waiting: VecDeque<u32>,
    tick_scheduled: bool,
    /// Sum of `reserved_cpus`.
    outstanding: i64,
    /// One request per action, updated in place (no per-request string clones).
    templates: Vec<PlacementRequest>,
    /// The plan of the request being placed: one allocation for the whole run.
    plan: PlacementPlan,
}

/// The cluster as the controller first sees it: every invoker healthy, idle and empty.
fn idle_view(sc: &Scenario) -> ClusterView {
    ClusterView {
        invokers: sc
            .invokers
            .iter()
            .enumerate()
            .map(|(i, s)| InvokerView {
                id: i as u32,
                total_cpus: s.cpus,
                free_cpus: s.cpus,
                user_memory_mb: s.user_memory_mb,
                free_memory_mb: s.user_memory_mb,
                healthy: true,
            })
            .collect(),
    }
}

impl ControllerState {
    pub fn new(sc: &Scenario, seed: u64) -> Self {
        let view = idle_view(sc);
        let n = sc.invokers.len();
        ControllerState {
            rng: rng::stream(seed, "controller", 0),
            fifo: VecDeque::new(),
            busy: 0,
            in_run: false,
            view,
            view_changes: Vec::new(),
            reserved_cpus: vec![0; n],
            reserved_mem: vec![0; n],
            pending_release: vec![0; n],
            dirty: Vec::new(),
            waiting: VecDeque::new(),
            tick_scheduled: false,
            outstanding: 0,
            templates: sc
                .actions
                .iter()
                .map(|a| PlacementRequest {
                    request_id: 0,
                    action: a.clone(),
                    workers: 1,
                })
                .collect(),
            plan: PlacementPlan::default(),
        }
    }

    fn update_view(&mut self, inv: usize) {
        self.view_changes.push(inv as u32);
        self.set_free_cpus(inv);
        self.set_free_mem(inv);
    }

    /// `update_view` after a change of `reserved_cpus[inv]` alone.
    fn update_cpu_view(&mut self, inv: usize) {
        self.view_changes.push(inv as u32);
        self.set_free_cpus(inv);
    }

    /// `update_view` after a change of `reserved_mem[inv]` alone.
    fn update_mem_view(&mut self, inv: usize) {
        self.view_changes.push(inv as u32);
        self.set_free_mem(inv);
    }

    fn set_free_cpus(&mut self, inv: usize) {
        let v = &mut self.view.invokers[inv];
        let total = v.total_cpus as i64;
        v.free_cpus = (total - self.reserved_cpus[inv]).max(0).min(total) as u32;
    }

    fn set_free_mem(&mut self, inv: usize) {
        let v = &mut self.view.invokers[inv];
        let total = v.user_memory_mb as i64;
        v.free_memory_mb = (total - self.reserved_mem[inv]).max(0).min(total) as u64;
    }
}

impl Sim<'_> {
    #[inline(always)]
    pub(crate) fn request_arrive(&mut self, r: u32) {
        if self.ctl.in_run || !self.ctl.fifo.is_empty() {
            self.ctl.fifo.push_back(r);
            self.controller_run();
        } else {
            // First in an empty FIFO: started without passing through it.
            self.controller_run_from(Some(r));
        }
    }

    /// Starts queued requests while a slot is free.
    fn controller_run(&mut self) {
        if !self.ctl.in_run {
            self.controller_run_from(None);
        }
    }

    /// `controller_run` with request `first` (if any) ahead of an empty FIFO.
    #[inline(always)]
    fn controller_run_from(&mut self, mut first: Option<u32>) {
        self.ctl.in_run = true;
        let limit = self.sc.controller.concurrency;
        while limit == 0 || self.ctl.busy < limit {
            let Some(r) = first.take().or_else(|| self.ctl.fifo.pop_front()) else {
                break;
            };
            self.ctl.busy += 1;
            let d = self.sc.controller.processing.sample_ns(&mut self.ctl.rng);
            if d > 0 {
                self.at(self.now + d, Event::Place(r));
            } else if !self.place(r) {
                self.ctl.busy -= 1;
            }
        }
        if let Some(r) = first {
            // No slot: it waits, alone in the FIFO.
            self.ctl.fifo.push_back(r);
        }
        self.ctl.in_run = false;
    }

    pub(crate) fn place_event(&mut self, r: u32) {
        if !self.place(r) {
            self.controller_free();
        }
    }

    /// A request is done (its last message published): its slot takes the next request.
    fn controller_free(&mut self) {
        self.ctl.busy -= 1;
        self.controller_run();
    }

    fn request_for(&mut self, r: u32) -> usize {
        let req = self.requests[r as usize];
        let a = req.action as usize;
        let t = &mut self.ctl.templates[a];
        t.request_id = if self.sc.is_burst() {
            PlacementRequest::burst_request_id(req.burst)
        } else {
            // With faults `first_fid` is an attempt id: the invocation is its function's.
            let fid = match &self.fx {
                Some(fx) => fx.attempts.function_of(req.first_fid),
                None => req.first_fid,
            };
            PlacementRequest::invocation_request_id(fid)
        };
        t.workers = req.workers;
        a
    }

    /// Asks the policy for request `r`'s plan, written to `ctl.plan` (published by
    /// `publish_plan`).
    #[inline(always)]
    pub(crate) fn try_place(&mut self, r: u32) -> Result<(), PlacementError> {
        let a = self.request_for(r);
        let req = self.requests[r as usize];
        let ctl = &mut self.ctl;
        if req.avoid != u32::MAX {
            // A re-run (faults): away from where it failed, when the others could hold it. A
            // derived view, so untracked: the changes wait for the next tracked call.
            let view = policies::recovery::avoiding(&ctl.view, req.avoid, req.workers);
            ctl.plan = self.policy.place(&ctl.templates[a], &view)?;
            return Ok(());
        }
        let result = self.policy.place_tracked_into(
            &ctl.templates[a],
            &ctl.view,
            &ctl.view_changes,
            &mut ctl.plan,
        );
        ctl.view_changes.clear();
        result
    }

    /// Faults: a burst request that cannot be placed while invokers are offline waits for
    /// them (they may come back) unless even the whole declared cluster, idle, could never
    /// hold it.
    fn waits_for_offline_invokers(&mut self, r: u32) -> bool {
        if self.fx.is_none()
            || !self.sc.is_burst()
            || self.ctl.view.invokers.iter().all(|i| i.healthy)
        {
            return false;
        }
        let a = self.request_for(r);
        let idle = idle_view(self.sc);
        self.policy.place(&self.ctl.templates[a], &idle).is_ok()
    }

    /// Places request `r` now; true when it keeps its slot until a publishing chain ends.
    #[inline(always)]
    fn place(&mut self, r: u32) -> bool {
        let queueing = self.sc.controller.on_no_capacity == OnNoCapacity::Queue;
        if queueing && !self.ctl.waiting.is_empty() {
            self.ctl.waiting.push_back(r);
            self.stats.queued_requests += 1;
            self.ack();
            return false;
        }
        let result = self.try_place(r);
        // The acknowledgement may let the client send a request that the idle controller
        // places at once, into `ctl.plan`: this request's plan is kept apart until published.
        let plan = std::mem::take(&mut self.ctl.plan);
        self.ack();
        let holds_slot = match result {
            Ok(()) => self.publish(r, &plan, true),
            Err(_) if queueing && self.waits_for_offline_invokers(r) => {
                self.ctl.waiting.push_back(r);
                self.stats.queued_requests += 1;
                false
            }
            Err(PlacementError::DoesNotFit { .. })
                if queueing && (self.ctl.outstanding > 0 || !self.ctl.dirty.is_empty()) =>
            {
                self.ctl.waiting.push_back(r);
                self.stats.queued_requests += 1;
                false
            }
            Err(e @ PlacementError::DoesNotFit { .. }) if queueing => {
                self.reject(r, &format!("{e} (even with nothing else placed)"));
                false
            }
            Err(e) => {
                self.reject(r, &e.to_string());
                false
            }
        };
        // Its allocation serves the next placement.
        self.ctl.plan = plan;
        holds_slot
    }

    /// Publishes the plan `try_place` made for request `r` (`publish`).
    pub(crate) fn publish_plan(&mut self, r: u32, holds_slot: bool) -> bool {
        let plan = std::mem::take(&mut self.ctl.plan);
        let chain = self.publish(r, &plan, holds_slot);
        self.ctl.plan = plan;
        chain
    }

    /// Reserves every container of `plan` now and publishes their messages in order, each
    /// after `per_container`. Returns true when a publishing chain was started that frees the
    /// request's slot at its end (`holds_slot`).
    #[inline(always)]
    fn publish(&mut self, r: u32, plan: &PlacementPlan, holds_slot: bool) -> bool {
        if plan.overloaded {
            self.stats.overloaded_plans += 1;
        }
        let req = self.requests[r as usize];
        self.requests.remove(r);
        let base = req.first_fid;
        let memory = self.sc.actions[req.action as usize].memory_mb;
        // The plan's messages, linked in order (`plan_next`): slots are reused, so they need
        // not be adjacent.
        let (mut first, mut last, mut count) = (NO_MESSAGE, NO_MESSAGE, 0u32);
        for cp in &plan.containers {
            let inv = cp.invoker as usize;
            if self.exclusive_policy {
                self.ctl.reserved_cpus[inv] += cp.workers as i64;
                self.ctl.outstanding += cp.workers as i64;
                self.ctl.update_cpu_view(inv);
            } else {
                self.ctl.reserved_mem[inv] += (memory * cp.workers as u64) as i64;
                self.ctl.update_mem_view(inv);
            }
            let m = self.messages.insert(Message {
                burst: req.burst,
                action: req.action,
                invoker: cp.invoker,
                first_fid: base + cp.first_worker as u64,
                workers: cp.workers,
                next: NO_MESSAGE,
                next_at: 0,
                plan_next: NO_MESSAGE,
            });
            if last == NO_MESSAGE {
                first = m;
            } else {
                self.messages[last as usize].plan_next = m;
            }
            last = m;
            count += 1;
        }
        if count == 0 {
            return false;
        }
        if self.sc.controller.per_container.is_zero() {
            let mut m = first;
            while m != NO_MESSAGE {
                self.publish_message(m, self.now);
                m = self.messages[m as usize].plan_next;
            }
            return false;
        }
        let d = self.per_container_ns();
        self.at(self.now + d, Event::Publish(first, count, holds_slot));
        holds_slot
    }

    fn per_container_ns(&mut self) -> u64 {
        self.sc
            .controller
            .per_container
            .sample_ns(&mut self.ctl.rng)
    }

    /// Message `m` of a plan is published now; `left` messages of the plan remain, this one
    /// included. Messages enter their invoker's topic at their publish time, so plans published
    /// side by side stay in time order on each topic.
    pub(crate) fn publish_event(&mut self, m: u32, left: u32, holds_slot: bool) {
        self.publish_message(m, self.now);
        if left > 1 {
            let t = self.now + self.per_container_ns();
            let next = self.messages[m as usize].plan_next;
            self.at(t, Event::Publish(next, left - 1, holds_slot));
        } else if holds_slot {
            self.controller_free();
        }
    }

    fn reject(&mut self, r: u32, reason: &str) {
        let req = self.requests[r as usize];
        if self.fx.is_some() {
            for k in 0..req.workers as u64 {
                let aid = req.first_fid + k;
                if self.fx().attempts.close(aid) {
                    self.set_outcome(aid, Status::Rejected, reason);
                    self.stats.rejected += 1;
                    // A rejected backup copy leaves its function to the original.
                    let fid = self.fx().attempts.function_of(aid);
                    if !self.fx().attempts.other_open(fid, aid) {
                        self.function_final(fid, None);
                    }
                }
            }
            self.requests.remove(r);
            return;
        }
        let reason: Arc<str> = reason.into();
        for slot in self.records.range_mut(req.first_fid, req.workers) {
            slot.settle(Status::Rejected, &reason);
        }
        self.finished += req.workers as u64;
        self.stats.rejected += req.workers as u64;
        self.requests.remove(r);
    }

    /// A container finished: give its CPUs or memory back to the controller's view.
    #[inline(always)]
    pub(crate) fn release(&mut self, inv: u32, workers: u32, memory_mb: u64) {
        let i = inv as usize;
        if self.exclusive_policy {
            if self.ctl.pending_release[i] == 0 {
                self.ctl.dirty.push(inv);
            }
            self.ctl.pending_release[i] += workers;
            if !self.ctl.tick_scheduled {
                self.ctl.tick_scheduled = true;
                let p = self.sc.controller.heartbeat_ns;
                let t = (self.now / p + 1) * p;
                self.at(t, Event::Heartbeat);
            }
        } else {
            if self.fx.is_some() && self.release_through_broker(inv, workers, memory_mb) {
                return;
            }
            self.ctl.reserved_mem[i] -= memory_mb as i64;
            self.ctl.update_mem_view(i);
        }
    }

    /// Faults: the controller itself gives back what a message it settled had reserved (its
    /// invoker is lost, or its attempts were all stopped): visible at once.
    pub(crate) fn ctl_release_now(&mut self, inv: u32, workers: u32, memory_mb: u64) {
        let i = inv as usize;
        if self.exclusive_policy {
            self.ctl.reserved_cpus[i] -= workers as i64;
            self.ctl.outstanding -= workers as i64;
        } else {
            self.ctl.reserved_mem[i] -= memory_mb as i64;
        }
        self.ctl.update_view(i);
        // Requests waiting for capacity try again at the next tick.
        if !self.ctl.waiting.is_empty() {
            self.ctl_schedule_tick();
        }
    }

    /// Schedules the controller's next tick (heartbeat period), unless one is pending.
    fn ctl_schedule_tick(&mut self) {
        if !self.ctl.tick_scheduled {
            self.ctl.tick_scheduled = true;
            let p = self.sc.controller.heartbeat_ns;
            let t = (self.now / p + 1) * p;
            self.at(t, Event::Heartbeat);
        }
    }

    /// Faults: invoker `inv` goes offline in the controller's view, or comes back.
    pub(crate) fn ctl_set_healthy(&mut self, inv: u32, healthy: bool) {
        // Noted for the policy's index, as every view change (`update_view`).
        self.ctl.view_changes.push(inv);
        self.ctl.view.invokers[inv as usize].healthy = healthy;
    }

    /// Faults: re-run request `r` waits first in line for capacity (or for an invoker to come
    /// back); waiting requests are retried at the next heartbeat.
    pub(crate) fn ctl_wait_front(&mut self, r: u32) {
        self.ctl.waiting.push_front(r);
        self.stats.queued_requests += 1;
        self.ctl_schedule_tick();
    }

    pub(crate) fn heartbeat(&mut self) {
        self.ctl.tick_scheduled = false;
        if let Some(until) = self
            .fx
            .as_ref()
            .and_then(|_| self.fspec().outage_at(self.now))
        {
            // The broker is down: heartbeats get through after the outage.
            let p = self.sc.controller.heartbeat_ns;
            self.ctl.tick_scheduled = true;
            self.at(until.div_ceil(p) * p, Event::Heartbeat);
            return;
        }
        self.stats.heartbeats += 1;
        let dirty = std::mem::take(&mut self.ctl.dirty);
        for &inv in &dirty {
            let i = inv as usize;
            let freed = std::mem::take(&mut self.ctl.pending_release[i]) as i64;
            self.ctl.reserved_cpus[i] -= freed;
            self.ctl.outstanding -= freed;
            self.ctl.update_cpu_view(i);
        }
        self.ctl.dirty = dirty;
        self.ctl.dirty.clear();
        self.retry_waiting();
    }

    /// Places the waiting requests in order while they fit.
    pub(crate) fn retry_waiting(&mut self) {
        while let Some(&r) = self.ctl.waiting.front() {
            if self.fx.is_some() && self.settled_while_waiting(r) {
                self.ctl.waiting.pop_front();
                continue;
            }
            match self.try_place(r) {
                Ok(()) => {
                    self.ctl.waiting.pop_front();
                    self.publish_plan(r, false);
                }
                Err(PlacementError::DoesNotFit { .. }) if self.ctl.outstanding > 0 => break,
                Err(_) if self.waits_for_offline_invokers(r) => break,
                Err(e @ PlacementError::DoesNotFit { .. }) => {
                    self.ctl.waiting.pop_front();
                    self.reject(r, &format!("{e} (even with nothing else placed)"));
                }
                Err(e) => {
                    self.ctl.waiting.pop_front();
                    self.reject(r, &e.to_string());
                }
            }
        }
    }
}
