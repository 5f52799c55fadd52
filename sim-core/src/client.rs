//! The client (e.g. Lithops): turns arriving bursts into requests — one per burst for burst
//! policies, one per function for faas — within a concurrency limit (a slot is held until the
//! controller acknowledges the request) and a rate limit, each paying `request_overhead`.

use std::collections::VecDeque;

use crate::event::Event;
use crate::rng::{self, Rng};
use crate::sim::{Request, Sim};

pub(crate) struct ClientState {
    rng: Rng,
    /// Arrived bursts not fully sent: (burst, next worker to send).
    pending: VecDeque<(u32, u32)>,
    in_flight: u32,
    next_send: u64,
    try_scheduled: bool,
    in_try: bool,
}

impl ClientState {
    pub fn new(seed: u64) -> Self {
        ClientState {
            rng: rng::stream(seed, "client", 0),
            pending: VecDeque::new(),
            in_flight: 0,
            next_send: 0,
            try_scheduled: false,
            in_try: false,
        }
    }
}

impl Sim<'_> {
    pub(crate) fn burst_arrive(&mut self, b: u32) {
        self.client.pending.push_back((b, 0));
        self.client_try();
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
        while let Some(&(b, next)) = self.client.pending.front() {
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
            let workers = self.bursts[b as usize].workers;
            let n = if burst_mode { workers - next } else { 1 };
            if next + n >= workers {
                self.client.pending.pop_front();
            } else if let Some(front) = self.client.pending.front_mut() {
                front.1 = next + n;
            }
            self.send(Request {
                burst: b,
                first_worker: next,
                workers: n,
            });
        }
        self.client.in_try = false;
    }

    fn send(&mut self, req: Request) {
        let id = self.requests.len() as u32;
        self.requests.push(req);
        let now = self.now;
        self.t0.get_or_insert(now);
        let t = self.secs(now);
        let first = self.bursts[req.burst as usize].first_function + req.first_worker as u64;
        for rec in &mut self.records[first as usize..(first + req.workers as u64) as usize] {
            rec.t_submit = t;
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
