//! The client (e.g. Lithops): turns arriving bursts into requests — one per burst for burst
//! policies, one per function for faas — within a concurrency limit (a slot is held until the
//! controller acknowledges the request) and a rate limit, each paying `request_overhead`.

use std::collections::VecDeque;

use crate::event::Event;
use crate::records::Slot;
use crate::rng::{self, Rng};
use crate::scenario::{BurstSpec, WorkNs};
use crate::sim::{Request, Sim};

/// An arrived burst not fully sent.
struct PendingBurst<'a> {
    burst: BurstSpec,
    /// Next worker to send.
    next: u32,
    /// The rest of its functions' work, drawn from its `workload` stream as they are sent.
    work: WorkNs<'a>,
}

pub(crate) struct ClientState<'a> {
    rng: Rng,
    /// Arrived bursts not fully sent, in arrival order.
    pending: VecDeque<PendingBurst<'a>>,
    /// FaaS invocations to send again (faults, `openwhisk` recovery): (burst, attempt id,
    /// action), sent before new ones.
    retries: VecDeque<(u64, u64, u32)>,
    in_flight: u32,
    next_send: u64,
    try_scheduled: bool,
    in_try: bool,
}

impl ClientState<'_> {
    pub fn new(seed: u64) -> Self {
        ClientState {
            rng: rng::stream(seed, "client", 0),
            pending: VecDeque::new(),
            retries: VecDeque::new(),
            in_flight: 0,
            next_send: 0,
            try_scheduled: false,
            in_try: false,
        }
    }
}

impl Sim<'_> {
    /// The pending burst arrives at the client, and the next one is pulled from the source.
    /// Its functions get their records and their work (drawn from the burst's own `workload`
    /// stream, in worker order) as they are sent, so functions waiting in the client cost
    /// nothing per function.
    pub(crate) fn burst_arrive(&mut self) {
        let b = self.next_arrival.take().expect("an arrival has its burst");
        self.pull_arrival();
        self.arrived += b.workers as u64;
        if self.fx.is_some() {
            self.track_burst(&b);
        }
        let work = self.sc.work_ns(self.seed, b.id, &b);
        self.client.pending.push_back(PendingBurst {
            burst: b,
            next: 0,
            work,
        });
        self.client_try();
    }

    /// Records of functions `next .. next + n` of the front burst, in id order.
    fn take_functions(&mut self, n: u32) {
        let p = self.client.pending.front_mut().expect("a pending burst");
        for k in p.next..p.next + n {
            // A `steps` workload has no single input: its draws are in `comm`.
            let work = p.work.next().unwrap_or(0);
            self.records
                .push(Slot::new(p.burst.id, p.burst.tenant, k, work));
        }
        p.next += n;
    }

    /// At the end of a run, records for functions the client never sent (they will be
    /// recorded as never completed).
    pub(crate) fn unsent_functions(&mut self) {
        while let Some(p) = self.client.pending.front() {
            let n = p.burst.workers - p.next;
            self.take_functions(n);
            self.client.pending.pop_front();
        }
    }

    pub(crate) fn client_try_event(&mut self) {
        self.client.try_scheduled = false;
        self.client_try();
    }

    /// Sends as many requests as the limits allow. Re-entrant calls (an acknowledgement that
    /// happens while sending) are folded into the running loop.
    pub(crate) fn client_try(&mut self) {
        if self.client.in_try {
            return;
        }
        self.client.in_try = true;
        let concurrency = self.sc.client.concurrency;
        let burst_mode = self.sc.is_burst();
        loop {
            // Retries (faults) go first; a send can add one (a placement that fails at once).
            if !self.client.retries.is_empty() && !self.send_retries() {
                break;
            }
            let Some(p) = self.client.pending.front() else {
                break;
            };
            let burst = &p.burst;
            let (id, first_function, action) = (burst.id, burst.first_function, burst.action);
            let (workers, next) = (burst.workers, p.next);
            if concurrency > 0 && self.client.in_flight >= concurrency {
                break;
            }
            if self.now < self.client.next_send {
                if !self.client.try_scheduled {
                    self.client.try_scheduled = true;
                    let t = self.client.next_send;
                    self.at(t, Event::ClientTry);
                }
                break;
            }
            let n = if burst_mode { workers - next } else { 1 };
            self.take_functions(n);
            if next + n >= workers {
                self.client.pending.pop_front();
            }
            self.send(Request {
                burst: id,
                first_fid: first_function + next as u64,
                workers: n,
                action,
                avoid: u32::MAX,
            });
        }
        self.client.in_try = false;
    }

    /// Sends the FaaS retries first, within the same limits; true when all went out.
    fn send_retries(&mut self) -> bool {
        while let Some(&(burst, aid, action)) = self.client.retries.front() {
            let concurrency = self.sc.client.concurrency;
            if concurrency > 0 && self.client.in_flight >= concurrency {
                return false;
            }
            if self.now < self.client.next_send {
                if !self.client.try_scheduled {
                    self.client.try_scheduled = true;
                    let t = self.client.next_send;
                    self.at(t, Event::ClientTry);
                }
                return false;
            }
            self.client.retries.pop_front();
            self.stats.client_retries += 1;
            self.send(Request {
                burst,
                first_fid: aid,
                workers: 1,
                action,
                avoid: u32::MAX,
            });
        }
        true
    }

    /// FaaS (faults): the client sends attempt `aid` of a function of burst `burst` again.
    pub(crate) fn client_resend(&mut self, burst: u64, aid: u64) {
        let action = self.fx().bursts[&burst].action;
        self.client.retries.push_back((burst, aid, action));
        self.client_try();
    }

    fn send(&mut self, req: Request) {
        let id = self.requests.insert(req);
        let now = self.now;
        self.t0.get_or_insert(now);
        if self.fx.is_some() {
            for k in 0..req.workers as u64 {
                self.arec(req.first_fid + k).t_submit = now;
            }
        } else {
            for slot in self.records.range_mut(req.first_fid, req.workers) {
                slot.t_submit = now;
            }
        }
        self.stats.requests += 1;
        self.client.in_flight += 1;
        self.client.next_send = now + self.sc.client.min_gap_ns;
        let overhead = self
            .sc
            .client
            .request_overhead
            .sample_ns(&mut self.client.rng);
        if overhead == 0 {
            self.request_arrive(id);
        } else {
            self.at(now + overhead, Event::RequestArrive(id));
        }
    }

    /// The controller accepted (placed, queued or rejected) a request: its slot is free.
    pub(crate) fn ack(&mut self) {
        self.client.in_flight -= 1;
        if self.sc.client.concurrency > 0 {
            self.client_try();
        }
    }
}
