//! Per-invoker message topics (Kafka-like): each message takes a sampled latency, but a topic
//! delivers in publish order, so message i+1 never arrives before message i on one invoker.
//! Since deliveries on a topic are ordered, only its head is in the event queue (carrying its
//! message, so the common one-message topic never touches the deque): a plan of 100,000
//! containers adds one pending event per invoker, not one per message.

use std::collections::VecDeque;

use crate::event::Event;
use crate::rng::{self, Rng};
use crate::scenario::Scenario;
use crate::sim::Sim;

pub(crate) struct QueueState {
    rngs: Vec<Rng>,
    last_delivery: Vec<u64>,
    /// Whether the invoker's topic has a head message, whose `Deliver` event is pending.
    has_head: Vec<bool>,
    /// (delivery time, message) in order, per invoker, behind the head.
    topics: Vec<VecDeque<(u64, u32)>>,
}

impl QueueState {
    pub fn new(sc: &Scenario, seed: u64) -> Self {
        let n = sc.invokers.len();
        QueueState {
            rngs: (0..n)
                .map(|i| rng::stream(seed, "queue", i as u64))
                .collect(),
            last_delivery: vec![0; n],
            has_head: vec![false; n],
            topics: (0..n).map(|_| VecDeque::new()).collect(),
        }
    }
}

impl Sim<'_> {
    /// Publishes message `m` at time `t` on its invoker's topic.
    pub(crate) fn publish_message(&mut self, m: u32, t: u64) {
        let inv = self.messages[m as usize].invoker as usize;
        let latency = self.sc.queue_latency.sample_ns(&mut self.queues.rngs[inv]);
        let deliver = (t + latency).max(self.queues.last_delivery[inv]);
        self.queues.last_delivery[inv] = deliver;
        if self.queues.has_head[inv] {
            self.queues.topics[inv].push_back((deliver, m));
        } else {
            self.queues.has_head[inv] = true;
            self.at(deliver, Event::Deliver(inv as u32, m));
        }
    }

    /// The head message `m` of invoker `inv`'s topic arrives.
    pub(crate) fn topic_deliver(&mut self, inv: u32, m: u32) {
        let i = inv as usize;
        match self.queues.topics[i].pop_front() {
            Some((next, m2)) => self.at(next, Event::Deliver(inv, m2)),
            None => self.queues.has_head[i] = false,
        }
        self.deliver(m);
    }
}
