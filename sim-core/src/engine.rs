//! The event queue. Events are ordered by (time, insertion sequence), so events at the same
//! instant run in the order they were scheduled and a run is deterministic.
//!
//! Simulated time never goes back, so the queue is a radix heap (Ahuja, Mehlhorn, Orlin,
//! Tarjan 1990) on the event time: an event is filed in bucket `bit length of (time XOR last
//! popped time)`, and a pop only scans the lowest non-empty bucket and refiles its events into
//! lower buckets. Pushes are O(1), every event is refiled at most ~64 times and in practice a
//! few, and buckets are contiguous vectors: this is several times faster than a binary heap
//! once a million events are pending.
//!
//! Ties need no sequence number in the key: pushes append, and a bucket is only refiled into
//! lower buckets that are all empty, so every bucket stays in scheduling order; bucket 0 (the
//! events at the current time) is consumed from its front.

use std::collections::VecDeque;

/// Pending events with integer-nanosecond times. Events must not be scheduled before the time
/// of the last popped event.
pub struct EventQueue<E> {
    /// Bucket 0: events at time `last`, in scheduling order.
    zero: VecDeque<(u64, E)>,
    /// Bucket i >= 1 holds times whose highest bit differing from `last` is bit i - 1, in
    /// scheduling order (index 0 unused).
    buckets: Vec<Vec<(u64, E)>>,
    /// Bit i set when bucket i >= 1 is non-empty.
    mask: u128,
    last: u64,
    len: usize,
    peak: usize,
    popped: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    pub fn new() -> Self {
        EventQueue {
            zero: VecDeque::new(),
            buckets: (0..65).map(|_| Vec::new()).collect(),
            mask: 0,
            last: 0,
            len: 0,
            peak: 0,
            popped: 0,
        }
    }

    #[inline]
    fn file(&mut self, time: u64, event: E) {
        let diff = time ^ self.last;
        if diff == 0 {
            self.zero.push_back((time, event));
        } else {
            let b = 64 - diff.leading_zeros() as usize;
            self.buckets[b].push((time, event));
            self.mask |= 1 << b;
        }
    }

    /// Schedules `event` at `time` (ns), which must not precede the last popped event.
    #[inline]
    pub fn push(&mut self, time: u64, event: E) {
        assert!(
            time >= self.last || self.popped == 0,
            "event scheduled in the past"
        );
        self.file(time, event);
        self.len += 1;
        if self.len > self.peak {
            self.peak = self.len;
        }
    }

    /// The earliest event; ties in scheduling order.
    #[inline]
    pub fn pop(&mut self) -> Option<(u64, E)> {
        if self.len == 0 {
            return None;
        }
        if self.zero.is_empty() {
            // Refill bucket 0 from the lowest non-empty bucket (all lower ones are empty, so
            // refiled events keep their order).
            let b = self.mask.trailing_zeros() as usize;
            if self.buckets[b].len() == 1 {
                // A lone event is the minimum: skip the refill.
                let (time, event) = self.buckets[b].pop().expect("one event");
                self.mask &= !(1 << b);
                self.last = time;
                self.len -= 1;
                self.popped += 1;
                return Some((time, event));
            }
            let mut items = std::mem::take(&mut self.buckets[b]);
            self.mask &= !(1 << b);
            self.last = items
                .iter()
                .map(|(t, _)| *t)
                .min()
                .expect("non-empty bucket");
            for (time, event) in items.drain(..) {
                self.file(time, event);
            }
            // Keep the allocation for later refills of this bucket.
            self.buckets[b] = items;
        }
        let (time, event) = self.zero.pop_front().expect("bucket 0 holds the minimum");
        self.len -= 1;
        self.popped += 1;
        Some((time, event))
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Largest number of pending events seen.
    pub fn peak(&self) -> usize {
        self.peak
    }

    /// Events popped so far.
    pub fn popped(&self) -> u64 {
        self.popped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    #[test]
    fn earliest_first_and_ties_in_insertion_order() {
        let mut q = EventQueue::new();
        q.push(5, "c");
        q.push(1, "a");
        q.push(5, "d");
        q.push(1, "b");
        q.push(3, "x");
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(
            order,
            vec![(1, "a"), (1, "b"), (3, "x"), (5, "c"), (5, "d")]
        );
        assert_eq!(q.peak(), 5);
        assert_eq!(q.popped(), 5);
        assert!(q.is_empty());
    }

    #[test]
    fn ties_stay_fifo_across_interleaved_pushes() {
        let mut q = EventQueue::new();
        for i in 0..100u32 {
            q.push(7, i);
        }
        let mut seen = Vec::new();
        while let Some((t, e)) = q.pop() {
            assert_eq!(t, 7);
            seen.push(e);
            if e < 50 {
                q.push(7, 1000 + e);
            }
        }
        let expected: Vec<u32> = (0..100).chain(1000..1050).collect();
        assert_eq!(seen, expected);
    }

    #[test]
    #[should_panic(expected = "in the past")]
    fn scheduling_in_the_past_is_a_bug() {
        let mut q = EventQueue::new();
        q.push(10, ());
        q.pop();
        q.push(9, ());
    }

    proptest! {
        /// Same order as a binary heap on (time, sequence), for any interleaving of pushes
        /// (never before the current time) and pops.
        #[test]
        fn matches_a_binary_heap(ops in prop::collection::vec((any::<bool>(), 0u64..50, any::<bool>()), 1..400)) {
            let mut q = EventQueue::new();
            let mut reference = BinaryHeap::new();
            let (mut now, mut seq) = (0u64, 0u64);
            for (pop, dt, far) in ops {
                if pop {
                    let got = q.pop();
                    let want = reference.pop().map(|Reverse((t, s))| (t, s));
                    prop_assert_eq!(got, want);
                    if let Some((t, _)) = got {
                        now = t;
                    }
                } else {
                    let t = now + if far { dt << 40 } else { dt };
                    q.push(t, seq);
                    reference.push(Reverse((t, seq)));
                    seq += 1;
                }
                prop_assert_eq!(q.len(), reference.len());
            }
            while let Some(Reverse((t, s))) = reference.pop() {
                prop_assert_eq!(q.pop(), Some((t, s)));
            }
            prop_assert!(q.pop().is_none());
        }
    }
}
