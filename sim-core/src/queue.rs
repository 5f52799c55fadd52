//! Per-invoker message topics (Kafka-like): each message takes a sampled latency, but a topic
//! delivers in publish order, so message i+1 never arrives before message i on one invoker.
//! Since deliveries on a topic are ordered, only its head is in the event queue (carrying its
//! message): a plan of 100,000 containers adds one pending event per invoker, not one per
//! message. A topic is a list threaded through the messages (`Message::next`), so a delivery
//! touches only the message it delivers.

use crate::event::Event;
use crate::rng::{self, Rng};
use crate::scenario::Scenario;
use crate::sim::Sim;

/// `tail` of an empty topic.
const NONE: u32 = u32::MAX;

pub(crate) struct QueueState {
    rngs: Vec<Rng>,
    last_delivery: Vec<u64>,
    /// Last message of each invoker's topic (its head has a `Deliver` event pending), or
    /// `NONE` when the topic is empty.
    tail: Vec<u32>,
}

impl QueueState {
    pub fn new(sc: &Scenario, seed: u64) -> Self {
        let n = sc.invokers.len();
        QueueState {
            rngs: (0..n)
                .map(|i| rng::stream(seed, "queue", i as u64))
                .collect(),
            last_delivery: vec![0; n],
            tail: vec![NONE; n],
        }
    }
}

impl Sim<'_> {
    /// Publishes message `m` at time `t` on its invoker's topic.
    #[inline(always)]
    pub(crate) fn publish_message(&mut self, m: u32, t: u64) {
        let inv = self.messages[m as usize].invoker as usize;
        // Faults: a message published during a broker outage enters its topic at the end.
        let t = match &self.fx {
            Some(_) => {
                let t = self.fspec().broker_up_at(t);
                self.track_message(m, t);
                t
            }
            None => t,
        };
        let latency = self.sc.queue_latency.sample_ns(&mut self.queues.rngs[inv]);
        let deliver = (t + latency).max(self.queues.last_delivery[inv]);
        self.queues.last_delivery[inv] = deliver;
        let tail = std::mem::replace(&mut self.queues.tail[inv], m);
        if tail == NONE {
            self.at(deliver, Event::Deliver(inv as u32, m));
        } else {
            let prev = &mut self.messages[tail as usize];
            prev.next = m;
            prev.next_at = deliver;
        }
    }

    /// The head message `m` of invoker `inv`'s topic arrives.
    pub(crate) fn topic_deliver(&mut self, inv: u32, m: u32) {
        if self.fx.is_some() {
            // Nothing reaches a crashed invoker (its topic keeps the messages) or gets through
            // a broker outage.
            if self.fx().health[inv as usize].down {
                self.fx().health[inv as usize].held = Some(m);
                return;
            }
            if let Some(until) = self.fspec().outage_at(self.now) {
                self.at(until, Event::Deliver(inv, m));
                return;
            }
        }
        let msg = &self.messages[m as usize];
        if msg.next == NONE {
            self.queues.tail[inv as usize] = NONE;
        } else {
            let (next, at) = (msg.next, msg.next_at);
            // Later than planned after a crash or an outage held the topic.
            self.at(at.max(self.now), Event::Deliver(inv, next));
        }
        self.deliver(m);
    }
}
