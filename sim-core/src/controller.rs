//! The controller: serves requests one at a time (`processing` each), asks the placement policy
//! for a plan against ITS view of the cluster, reserves what the plan takes, and publishes one
//! message per container (`per_container` each, sequentially).
//!
//! Accounting follows the policy kind. Burst policies reserve CPUs; invokers report freed CPUs in
//! heartbeats, so releases become visible only at the next heartbeat (all invokers beat in phase,
//! at multiples of the period; a round is scheduled only when there is something to report). FaaS
//! reserves memory slots and releases them on the completion ack, immediately. A burst that does
//! not fit waits in a FIFO (strict order: later bursts queue behind it) and is retried at each
//! heartbeat, or is rejected, per `on_no_capacity`. A waiting burst that still does not fit when
//! the controller holds no reservation at all can never fit and is rejected. Retries publish at
//! the heartbeat without occupying the request-serving loop.

use std::collections::VecDeque;
use std::rc::Rc;

use policies::{ClusterView, InvokerView, PlacementError, PlacementPlan, PlacementRequest, Status};

use crate::event::Event;
use crate::rng::{self, Rng};
use crate::scenario::Scenario;
use crate::sim::{Message, Sim};
use policies::OnNoCapacity;

pub(crate) struct ControllerState {
    rng: Rng,
    fifo: VecDeque<u32>,
    busy: bool,
    in_run: bool,
    view: ClusterView,
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
}

impl ControllerState {
    pub fn new(sc: &Scenario, seed: u64) -> Self {
        let view = ClusterView {
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
        };
        let n = sc.invokers.len();
        ControllerState {
            rng: rng::stream(seed, "controller", 0),
            fifo: VecDeque::new(),
            busy: false,
            in_run: false,
            view,
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
        }
    }

    fn update_view(&mut self, inv: usize) {
        let v = &mut self.view.invokers[inv];
        v.free_cpus =
            (v.total_cpus as i64 - self.reserved_cpus[inv]).clamp(0, v.total_cpus as i64) as u32;
        v.free_memory_mb = (v.user_memory_mb as i64 - self.reserved_mem[inv])
            .clamp(0, v.user_memory_mb as i64) as u64;
    }
}

impl Sim<'_> {
    pub(crate) fn request_arrive(&mut self, r: u32) {
        self.ctl.fifo.push_back(r);
        self.controller_run();
    }

    /// Serves queued requests while the controller is free.
    fn controller_run(&mut self) {
        if self.ctl.in_run {
            return;
        }
        self.ctl.in_run = true;
        while !self.ctl.busy {
            let Some(r) = self.ctl.fifo.pop_front() else {
                break;
            };
            let d = self.sc.controller.processing.sample_ns(&mut self.ctl.rng);
            if d > 0 {
                self.ctl.busy = true;
                self.at(self.now + d, Event::Place(r));
                break;
            }
            let end = self.place(r);
            if end > self.now {
                self.ctl.busy = true;
                self.at(end, Event::ControllerFree);
            }
        }
        self.ctl.in_run = false;
    }

    pub(crate) fn place_event(&mut self, r: u32) {
        let end = self.place(r);
        if end > self.now {
            self.at(end, Event::ControllerFree);
        } else {
            self.ctl.busy = false;
            self.controller_run();
        }
    }

    pub(crate) fn controller_free(&mut self) {
        self.ctl.busy = false;
        self.controller_run();
    }

    fn request_for(&mut self, r: u32) -> usize {
        let req = self.requests[r as usize];
        let a = req.action as usize;
        let t = &mut self.ctl.templates[a];
        t.request_id = if self.sc.is_burst() {
            PlacementRequest::burst_request_id(req.burst)
        } else {
            PlacementRequest::invocation_request_id(req.first_fid)
        };
        t.workers = req.workers;
        a
    }

    fn try_place(&mut self, r: u32) -> Result<PlacementPlan, PlacementError> {
        let a = self.request_for(r);
        self.policy.place(&self.ctl.templates[a], &self.ctl.view)
    }

    /// Places request `r` now; returns when the controller is done publishing.
    fn place(&mut self, r: u32) -> u64 {
        let queueing = self.sc.controller.on_no_capacity == OnNoCapacity::Queue;
        if queueing && !self.ctl.waiting.is_empty() {
            self.ctl.waiting.push_back(r);
            self.stats.queued_requests += 1;
            self.ack();
            return self.now;
        }
        let result = self.try_place(r);
        self.ack();
        match result {
            Ok(plan) => self.publish(r, &plan, self.now),
            Err(PlacementError::DoesNotFit { .. })
                if queueing && (self.ctl.outstanding > 0 || !self.ctl.dirty.is_empty()) =>
            {
                self.ctl.waiting.push_back(r);
                self.stats.queued_requests += 1;
                self.now
            }
            Err(e @ PlacementError::DoesNotFit { .. }) if queueing => {
                self.reject(r, &format!("{e} (even with nothing else placed)"));
                self.now
            }
            Err(e) => {
                self.reject(r, &e.to_string());
                self.now
            }
        }
    }

    /// Reserves and publishes every container of `plan`, starting at `start`.
    fn publish(&mut self, r: u32, plan: &PlacementPlan, start: u64) -> u64 {
        if plan.overloaded {
            self.stats.overloaded_plans += 1;
        }
        let req = self.requests[r as usize];
        let base = req.first_fid;
        let memory = self.sc.actions[req.action as usize].memory_mb;
        let mut t = start;
        for cp in &plan.containers {
            t += self
                .sc
                .controller
                .per_container
                .sample_ns(&mut self.ctl.rng);
            let inv = cp.invoker as usize;
            if self.exclusive_policy {
                self.ctl.reserved_cpus[inv] += cp.workers as i64;
                self.ctl.outstanding += cp.workers as i64;
            } else {
                self.ctl.reserved_mem[inv] += (memory * cp.workers as u64) as i64;
            }
            self.ctl.update_view(inv);
            let m = self.messages.insert(Message {
                action: req.action,
                invoker: cp.invoker,
                first_fid: base + cp.first_worker as u64,
                workers: cp.workers,
                next: u32::MAX,
                next_at: 0,
            });
            self.publish_message(m, t);
        }
        self.requests.remove(r);
        t
    }

    fn reject(&mut self, r: u32, reason: &str) {
        let req = self.requests[r as usize];
        let reason: Rc<str> = reason.into();
        for slot in self.records.range_mut(req.first_fid, req.workers) {
            slot.settle(Status::Rejected, &reason);
        }
        self.finished += req.workers as u64;
        self.stats.rejected += req.workers as u64;
        self.requests.remove(r);
    }

    /// A container finished: give its CPUs or memory back to the controller's view.
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
            self.ctl.reserved_mem[i] -= memory_mb as i64;
            self.ctl.update_view(i);
        }
    }

    pub(crate) fn heartbeat(&mut self) {
        self.ctl.tick_scheduled = false;
        self.stats.heartbeats += 1;
        let dirty = std::mem::take(&mut self.ctl.dirty);
        for &inv in &dirty {
            let i = inv as usize;
            let freed = std::mem::take(&mut self.ctl.pending_release[i]) as i64;
            self.ctl.reserved_cpus[i] -= freed;
            self.ctl.outstanding -= freed;
            self.ctl.update_view(i);
        }
        self.ctl.dirty = dirty;
        self.ctl.dirty.clear();
        while let Some(&r) = self.ctl.waiting.front() {
            match self.try_place(r) {
                Ok(plan) => {
                    self.ctl.waiting.pop_front();
                    self.publish(r, &plan, self.now);
                }
                Err(PlacementError::DoesNotFit { .. }) if self.ctl.outstanding > 0 => break,
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
