//! The client (e.g. Lithops): turns arriving bursts into requests — one per burst for burst
//! policies, one per function for faas — within a concurrency limit (a slot is held until the
//! controller acknowledges the request) and a rate limit, each paying `request_overhead`.

use std::collections::VecDeque;

use crate::event::Event;
use crate::records::{RecordRing, Slot};
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
        let mut p = PendingBurst {
            burst: b,
            next: 0,
            work,
        };
        let c = &self.client;
        if c.pending.is_empty() && c.retries.is_empty() && !c.in_try && self.may_send_now() {
            // Nothing waits before it: its first request goes out as `client_try` would send
            // it, without queueing the burst first.
            self.client.in_try = true;
            let n = self.request_size(&p);
            self.send_from(&mut p, n);
            self.client.in_try = false;
            if p.next < p.burst.workers {
                self.client.pending.push_back(p);
            }
            if !self.client.pending.is_empty() || !self.client.retries.is_empty() {
                self.client_try();
            }
            return;
        }
        self.client.pending.push_back(p);
        self.client_try();
    }

    /// The concurrency and rate limits let a request go now.
    #[inline]
    fn may_send_now(&self) -> bool {
        let concurrency = self.sc.client.concurrency;
        (concurrency == 0 || self.client.in_flight < concurrency)
            && self.now >= self.client.next_send
    }

    /// Functions in the next request of burst `p`: the rest of it (burst policies), or one.
    #[inline]
    fn request_size(&self, p: &PendingBurst) -> u32 {
        if self.sc.is_burst() {
            p.burst.workers - p.next
        } else {
            1
        }
    }

    /// Sends functions `next .. next + n` of burst `p` as one request (their records first).
    fn send_from(&mut self, p: &mut PendingBurst, n: u32) {
        take_functions(&mut self.records, p, n);
        self.send(request_of(p, n));
    }

    /// At the end of a run, records for functions the client never sent (they will be
    /// recorded as never completed).
    pub(crate) fn unsent_functions(&mut self) {
        while let Some(mut p) = self.client.pending.pop_front() {
            let n = p.burst.workers - p.next;
            take_functions(&mut self.records, &mut p, n);
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
        loop {
            // Retries (faults) go first; a send can add one (a placement that fails at once).
            if !self.client.retries.is_empty() && !self.send_retries() {
                break;
            }
            let Some(p) = self.client.pending.front() else {
                break;
            };
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
            let n = self.request_size(p);
            let p = self.client.pending.front_mut().expect("a pending burst");
            take_functions(&mut self.records, p, n);
            let request = request_of(p, n);
            if p.next >= p.burst.workers {
                self.client.pending.pop_front();
            }
            self.send(request);
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

    #[inline(always)]
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

/// Records of functions `next .. next + n` of burst `p`, in id order, with their work drawn
/// from its stream.
#[inline(always)]
fn take_functions(records: &mut RecordRing, p: &mut PendingBurst, n: u32) {
    for k in p.next..p.next + n {
        // A `steps` workload has no single input: its draws are in `comm`.
        let work = p.work.next().unwrap_or(0);
        records.push(Slot::new(p.burst.id, p.burst.tenant, k, work));
    }
    p.next += n;
}

/// The request of the `n` functions of burst `p` just taken (`take_functions`).
fn request_of(p: &PendingBurst, n: u32) -> Request {
    let burst = &p.burst;
    Request {
        burst: burst.id,
        first_fid: burst.first_function + (p.next - n) as u64,
        workers: n,
        action: burst.action,
        avoid: u32::MAX,
    }
}
