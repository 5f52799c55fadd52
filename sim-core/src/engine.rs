//! The event queue. Events are ordered by (time, lane, insertion sequence), so events at the
//! same instant run in the order they were scheduled and a run is deterministic. There are two
//! lanes: events pushed with [`EventQueue::push_first`] (the run's arrivals) run before every
//! ordinary event at the same instant, whenever either was scheduled, as if all arrivals had
//! been scheduled before the run started (they are pulled lazily instead).
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
//! events at the current key) is consumed from its front. The key is `time * 2 + lane` (lane 0
//! first), so times are clamped to `2^63 - 1` ns (292 years).

use std::collections::VecDeque;

/// Latest representable event time, ns (the key needs one bit for the lane).
pub const MAX_TIME: u64 = u64::MAX >> 1;

/// Pending events with integer-nanosecond times. Events must not be scheduled before the time
/// of the last popped event.
pub struct EventQueue<E> {
    /// Bucket 0: events at key `last`, in scheduling order.
    zero: VecDeque<(u64, E)>,
    /// Bucket i >= 1 holds keys whose highest bit differing from `last` is bit i - 1, in
    /// scheduling order (index 0 unused).
    buckets: Vec<Vec<(u64, E)>>,
    /// Bit i set when bucket i >= 1 is non-empty.
    mask: u128,
    last: u64,
    len: usize,
    peak: usize,
    popped: u64,
    /// First-lane events pending, and popped so far.
    first_len: usize,
    first_popped: u64,
    /// Largest `ordinary pending - first-lane popped` seen at an ordinary push: the peak the
    /// queue would have had with every first-lane event scheduled up front, less their number.
    peak_upfront: i64,
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
            first_len: 0,
            first_popped: 0,
            peak_upfront: 0,
        }
    }

    #[inline(always)]
    fn file(&mut self, key: u64, event: E) {
        let diff = key ^ self.last;
        if diff == 0 {
            self.zero.push_back((key, event));
        } else {
            let b = 64 - diff.leading_zeros() as usize;
            self.buckets[b].push((key, event));
            self.mask |= 1 << b;
        }
    }

    #[inline(always)]
    fn push_key(&mut self, key: u64, event: E) {
        assert!(
            key >= self.last || self.popped == 0,
            "event scheduled in the past"
        );
        self.file(key, event);
        self.len += 1;
        if self.len > self.peak {
            self.peak = self.len;
        }
    }

    /// Schedules `event` at `time` (ns), which must not precede the last popped event.
    #[inline]
    pub fn push(&mut self, time: u64, event: E) {
        self.push_key((time.min(MAX_TIME) << 1) | 1, event);
        let ahead = (self.len - self.first_len) as i64 - self.first_popped as i64;
        self.peak_upfront = self.peak_upfront.max(ahead);
    }

    /// Schedules `event` at `time` ahead of every [`EventQueue::push`]ed event at the same
    /// time (FIFO among themselves). `time` must not precede the last popped event, and an
    /// ordinary event at `time` must not have been popped yet.
    #[inline]
    pub fn push_first(&mut self, time: u64, event: E) {
        self.push_key(time.min(MAX_TIME) << 1, event);
        self.first_len += 1;
    }

    #[inline]
    fn popped_key(&mut self, key: u64) {
        self.len -= 1;
        self.popped += 1;
        if key & 1 == 0 {
            self.first_len -= 1;
            self.first_popped += 1;
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
                let (key, event) = self.buckets[b].pop().expect("one event");
                self.mask &= !(1 << b);
                self.last = key;
                self.popped_key(key);
                return Some((key >> 1, event));
            }
            let mut items = std::mem::take(&mut self.buckets[b]);
            self.mask &= !(1 << b);
            self.last = items
                .iter()
                .map(|(t, _)| *t)
                .min()
                .expect("non-empty bucket");
            for (key, event) in items.drain(..) {
                self.file(key, event);
            }
            // Keep the allocation for later refills of this bucket.
            self.buckets[b] = items;
        }
        let (key, event) = self.zero.pop_front().expect("bucket 0 holds the minimum");
        self.popped_key(key);
        Some((key >> 1, event))
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

    /// The peak the queue would have reached had the `first_lane` first-lane events of the run
    /// all been scheduled before anything else (as a run that does not pull them lazily does),
    /// given that they are pushed one at a time, each when the previous one is popped.
    pub fn peak_with_first_lane_upfront(&self, first_lane: u64) -> usize {
        (first_lane as i64 + self.peak_upfront.max(0)) as usize
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
    fn first_lane_runs_before_earlier_scheduled_events_at_the_same_time() {
        let mut q = EventQueue::new();
        q.push(5, "late-ordinary");
        q.push(3, "x");
        q.push_first(5, "arrival-a");
        assert_eq!(q.pop(), Some((3, "x")));
        q.push_first(5, "arrival-b");
        q.push(5, "later-ordinary");
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(
            order,
            vec![
                (5, "arrival-a"),
                (5, "arrival-b"),
                (5, "late-ordinary"),
                (5, "later-ordinary")
            ]
        );
    }

    /// Three arrivals at 0, 10, 20; each schedules two events 15 later. Lazily, each arrival
    /// is pushed (first lane) when the previous one pops.
    fn arrivals_run(lazy: bool) -> EventQueue<(bool, u64)> {
        let arrivals = [0u64, 10, 20];
        let mut q = EventQueue::new();
        let mut next = 0;
        if lazy {
            q.push_first(arrivals[0], (true, 0));
            next = 1;
        } else {
            arrivals.iter().for_each(|&t| q.push(t, (true, t)));
        }
        while let Some((t, (arrival, _))) = q.pop() {
            if arrival {
                q.push(t + 15, (false, t));
                q.push(t + 15, (false, t));
                if lazy && next < arrivals.len() {
                    q.push_first(arrivals[next], (true, arrivals[next]));
                    next += 1;
                }
            }
        }
        q
    }

    #[test]
    fn peak_as_if_the_first_lane_were_scheduled_up_front() {
        let (lazy, upfront) = (arrivals_run(true), arrivals_run(false));
        assert_eq!(lazy.popped(), upfront.popped());
        assert_eq!(lazy.peak_with_first_lane_upfront(3), upfront.peak());
    }

    #[test]
    fn times_beyond_the_key_range_are_clamped() {
        let mut q = EventQueue::new();
        q.push(u64::MAX, 1);
        q.push(MAX_TIME - 1, 0);
        assert_eq!(q.pop(), Some((MAX_TIME - 1, 0)));
        assert_eq!(q.pop(), Some((MAX_TIME, 1)));
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
        /// Same order as a binary heap on (time, lane, sequence), for any interleaving of pushes
        /// in both lanes (never before the current time) and pops.
        #[test]
        fn matches_a_binary_heap(ops in prop::collection::vec((0u8..3, 0u64..50, any::<bool>()), 1..400)) {
            let mut q = EventQueue::new();
            let mut reference = BinaryHeap::new();
            let (mut now, mut seq) = (0u64, 0u64);
            for (op, dt, far) in ops {
                if op == 0 {
                    let got = q.pop();
                    let want = reference.pop().map(|Reverse((t, _, s))| (t, s));
                    prop_assert_eq!(got, want);
                    if let Some((t, _)) = got {
                        now = t;
                    }
                } else {
                    let t = now + if far { dt << 40 } else { dt };
                    // The first lane is only ever scheduled strictly ahead (as arrivals are).
                    let lane = u8::from(op == 2);
                    if lane == 0 {
                        q.push_first(t + 1, seq);
                        reference.push(Reverse((t + 1, 0u8, seq)));
                    } else {
                        q.push(t, seq);
                        reference.push(Reverse((t, 1u8, seq)));
                    }
                    seq += 1;
                }
                prop_assert_eq!(q.len(), reference.len());
            }
            while let Some(Reverse((t, _, s))) = reference.pop() {
                prop_assert_eq!(q.pop(), Some((t, s)));
            }
            prop_assert!(q.pop().is_none());
        }
    }
}
