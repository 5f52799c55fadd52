//! The event queue. Events are ordered by (time, scheduling order): every scheduled event takes
//! the next number of one sequence, so events at the same instant run in the order they were
//! scheduled and a run is deterministic.
//!
//! Pending events live in one of two structures, merged at each pop by (time, sequence):
//! - Ordinary events ([`EventQueue::push`]) in a radix heap (Ahuja, Mehlhorn, Orlin, Tarjan
//!   1990) on the event time, as simulated time never goes back: an event is filed in bucket
//!   `bit length of (time XOR last refill time)`, and a pop only scans the lowest non-empty
//!   bucket and refiles its events into lower buckets. Pushes are O(1), buckets are contiguous
//!   vectors, and every bucket stays in scheduling order (pushes append, and a bucket is only
//!   refiled into lower buckets that are all empty), so bucket 0 (the events at the refill
//!   time) is consumed from its front. A large bucket is sorted once into a run that pops
//!   from its front instead (an event a second ahead of a thousand others would otherwise be
//!   refiled about ten times); pops take the earlier of the run's front and the buckets'.
//! - Timers ([`EventQueue::set_timer`]): at most one pending event per timer (e.g. an invoker's
//!   next CPU completion). Setting a timer is exactly scheduling its event anew (it takes the
//!   next sequence number) and forgetting the one it replaces, but without leaving a stale
//!   event behind: the timers are an indexed binary heap whose keys are updated in place.
//!
//! - Events at the current instant ([`EventQueue::push_now`]) while nothing else is pending at
//!   it: they would be the next events popped anyway, in scheduling order, so they wait in a
//!   FIFO that pops drain first, without filing them in the radix heap (e.g. a zero-latency
//!   delivery, a worker starting as its container becomes ready).
//!
//! The run's arrivals do not go through the queue at all: the simulator runs the next one
//! before any pending event at the same instant or later ([`EventQueue::next_time`]), as if
//! every arrival had been scheduled before the run started, and counts it with
//! [`EventQueue::count_first_lane`]. Times are clamped to `2^63 - 1` ns (292 years).

use std::collections::VecDeque;

/// Latest representable event time, ns.
pub const MAX_TIME: u64 = u64::MAX >> 1;

/// Events in a bucket to take out whole into the sorted run rather than refile.
const RUN_MIN: usize = 64;

/// A bucket scheduled mostly in time order (e.g. work of one length ending in the order it
/// started): sorting it costs about a pass, less than refiling it bucket by bucket. One in
/// random order (drawn durations) is cheaper to refile.
fn mostly_in_order<E>(entries: &[Entry<E>]) -> bool {
    let descents = entries
        .windows(2)
        .filter(|w| key(w[1].time, w[1].seq) < key(w[0].time, w[0].seq))
        .count();
    descents <= entries.len() / 16
}

/// (time, sequence) as one number, compared in one go.
type Key = u128;
/// No pending event (a disarmed timer, an empty heap).
const NO_KEY: Key = Key::MAX;

#[inline(always)]
fn key(time: u64, seq: u64) -> Key {
    ((time as u128) << 64) | seq as u128
}

#[inline(always)]
fn time_of(key: Key) -> u64 {
    (key >> 64) as u64
}

struct Entry<E> {
    time: u64,
    seq: u64,
    event: E,
}

/// Timers as an indexed binary min-heap on their keys: every timer has a heap entry, a
/// disarmed one with `NO_KEY`.
struct Timers<E> {
    /// (key, timer id).
    heap: Vec<(Key, u32)>,
    /// Position of each timer in `heap`.
    pos: Vec<u32>,
    /// The event of each armed timer.
    events: Vec<Option<E>>,
    /// The root's event was popped, but its entry still holds the popped key: it is disarmed
    /// at the next heap operation, or re-armed in place by a `set` of the same timer (the
    /// usual case: a handler schedules its timer's next occurrence).
    fired: bool,
    armed: usize,
}

impl<E> Timers<E> {
    fn sift_up(&mut self, mut p: usize) {
        let entry = self.heap[p];
        while p > 0 {
            let parent = (p - 1) / 2;
            if self.heap[parent].0 <= entry.0 {
                break;
            }
            self.heap[p] = self.heap[parent];
            self.pos[self.heap[p].1 as usize] = p as u32;
            p = parent;
        }
        self.heap[p] = entry;
        self.pos[entry.1 as usize] = p as u32;
    }

    fn sift_down(&mut self, mut p: usize) {
        let entry = self.heap[p];
        let n = self.heap.len();
        loop {
            let mut child = 2 * p + 1;
            if child >= n {
                break;
            }
            if child + 1 < n && self.heap[child + 1].0 < self.heap[child].0 {
                child += 1;
            }
            if self.heap[child].0 >= entry.0 {
                break;
            }
            self.heap[p] = self.heap[child];
            self.pos[self.heap[p].1 as usize] = p as u32;
            p = child;
        }
        self.heap[p] = entry;
        self.pos[entry.1 as usize] = p as u32;
    }

    /// Disarms a fired root.
    #[inline]
    fn settle(&mut self) {
        if self.fired {
            self.fired = false;
            self.heap[0].0 = NO_KEY;
            self.sift_down(0);
        }
    }

    /// The key of the earliest pending timer (`NO_KEY`: none), without settling a fired root
    /// (which a handler may be about to re-arm in place): then the earliest is one of its
    /// children.
    #[inline]
    fn peek(&self) -> Key {
        let at = |i: usize| self.heap.get(i).map_or(NO_KEY, |e| e.0);
        if self.fired {
            at(1).min(at(2))
        } else {
            at(0)
        }
    }

    /// The key of the earliest armed timer (`NO_KEY`: none).
    #[inline]
    fn head(&mut self) -> Key {
        self.settle();
        self.heap.first().map_or(NO_KEY, |e| e.0)
    }
}

/// Pending events with integer-nanosecond times. Events must not be scheduled before the time
/// of the last popped event.
pub struct EventQueue<E> {
    /// Events at the current instant scheduled when nothing else was pending at it or before
    /// (so every other pending event at that instant was scheduled after them), in scheduling
    /// order: they pop before everything else.
    now_fifo: VecDeque<(u64, E)>,
    /// Bucket 0: events at time `last`, in scheduling order.
    zero: VecDeque<Entry<E>>,
    /// A large bucket taken out whole and sorted (by time, then sequence) instead of refiled
    /// level by level: events far ahead (e.g. a second of work behind a thousand others) pass
    /// through many buckets otherwise. Its events pop from the front.
    run: VecDeque<Entry<E>>,
    /// Bucket i >= 1 holds times whose highest bit differing from `last` is bit i - 1, in
    /// scheduling order (index 0 unused).
    buckets: Vec<Vec<Entry<E>>>,
    /// The key of the earliest event of each bucket (`NO_KEY`: empty), kept by pushes and
    /// refills: the earliest pending event is known without a scan.
    bucket_min: [Key; 64],
    /// Bit i set when bucket i >= 1 is non-empty.
    mask: u64,
    last: u64,
    /// Events in the radix heap and in `now_fifo`.
    queued: usize,
    /// The next sequence number.
    seq: u64,
    timers: Timers<E>,
    /// Latest time of a timer event replaced or disarmed before it was due (0: none).
    replaced_until: u64,
    peak: usize,
    popped: u64,
    /// Arrivals run so far (counted by the simulator, never queued).
    first_popped: u64,
    /// Largest `pending - arrivals run` seen when an event was scheduled: the peak the queue
    /// would have had with every arrival scheduled up front, less their number.
    peak_upfront: i64,
}

impl<E: Copy> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: Copy> EventQueue<E> {
    pub fn new() -> Self {
        EventQueue {
            now_fifo: VecDeque::new(),
            zero: VecDeque::new(),
            run: VecDeque::new(),
            buckets: (0..64).map(|_| Vec::new()).collect(),
            bucket_min: [NO_KEY; 64],
            mask: 0,
            last: 0,
            queued: 0,
            seq: 0,
            timers: Timers {
                heap: Vec::new(),
                pos: Vec::new(),
                events: Vec::new(),
                fired: false,
                armed: 0,
            },
            replaced_until: 0,
            peak: 0,
            popped: 0,
            first_popped: 0,
            peak_upfront: 0,
        }
    }

    /// Adds `n` disarmed timers; returns the id of the first (the others follow).
    pub fn add_timers(&mut self, n: usize) -> usize {
        let t = &mut self.timers;
        t.settle();
        let first = t.pos.len();
        for id in first..first + n {
            t.pos.push(t.heap.len() as u32);
            t.heap.push((NO_KEY, id as u32));
            t.events.push(None);
        }
        first
    }

    #[inline(always)]
    fn file(&mut self, entry: Entry<E>) {
        let diff = entry.time ^ self.last;
        if diff == 0 {
            self.zero.push_back(entry);
        } else {
            let b = 64 - diff.leading_zeros() as usize;
            let k = key(entry.time, entry.seq);
            if k < self.bucket_min[b] {
                self.bucket_min[b] = k;
            }
            self.buckets[b].push(entry);
            self.mask |= 1 << b;
        }
    }

    #[inline(always)]
    fn next_seq(&mut self) -> u64 {
        let seq = self.seq;
        self.seq += 1;
        seq
    }

    #[inline(always)]
    fn note_pending(&mut self) {
        let len = self.queued + self.timers.armed;
        if len > self.peak {
            self.peak = len;
        }
        let ahead = len as i64 - self.first_popped as i64;
        if ahead > self.peak_upfront {
            self.peak_upfront = ahead;
        }
    }

    /// Schedules `event` at `time` (ns), which must not precede the last popped event.
    #[inline]
    pub fn push(&mut self, time: u64, event: E) {
        let time = time.min(MAX_TIME);
        assert!(time >= self.last, "event scheduled in the past");
        let seq = self.next_seq();
        self.file(Entry { time, seq, event });
        self.queued += 1;
        self.note_pending();
    }

    /// Schedules `event` at `now`, the time of the event being handled (or of the arrival being
    /// run): exactly as `push(now, event)`. When nothing is pending at `now` (nor before), it
    /// is the next event to pop, after the events already scheduled this way: it skips the
    /// radix heap.
    #[inline]
    pub fn push_now(&mut self, now: u64, event: E) {
        debug_assert!(now >= self.last && now <= MAX_TIME);
        if time_of(self.radix_head().min(self.timers.peek())) > now {
            self.now_fifo.push_back((now, event));
            self.queued += 1;
            self.note_pending();
        } else {
            self.push(now, event);
        }
    }

    /// Schedules `event` at `time`, not before `now` (the time of the event being handled):
    /// [`EventQueue::push_now`] when it is due at once, else [`EventQueue::push`].
    #[inline]
    pub fn schedule(&mut self, now: u64, time: u64, event: E) {
        if time <= now {
            self.push_now(now, event);
        } else {
            self.push(time, event);
        }
    }

    /// Sets timer `id` to fire `event` at `time` (`None`: disarms it): its pending event, if
    /// any, is forgotten, and the new one is ordered as if pushed now.
    pub fn set_timer(&mut self, id: usize, time: Option<u64>, event: E) {
        let t = &mut self.timers;
        let refire = t.fired && t.pos[id] == 0;
        if refire {
            // Its event just ran: nothing pending is replaced.
            t.fired = false;
        } else {
            t.settle();
        }
        let p = t.pos[id] as usize;
        let old = t.heap[p].0;
        if !refire && old != NO_KEY {
            t.armed -= 1;
            self.replaced_until = self.replaced_until.max(time_of(old));
        }
        let new = match time {
            Some(time) => {
                let time = time.min(MAX_TIME);
                assert!(time >= self.last, "timer set in the past");
                let seq = self.next_seq();
                let t = &mut self.timers;
                t.events[id] = Some(event);
                t.armed += 1;
                key(time, seq)
            }
            None => NO_KEY,
        };
        let t = &mut self.timers;
        t.heap[p].0 = new;
        if new < old {
            t.sift_up(p);
        } else if new > old {
            t.sift_down(p);
        }
        if time.is_some() {
            self.note_pending();
        }
    }

    /// The key of the earliest event of the radix heap and its sorted run (`NO_KEY`: none).
    #[inline]
    fn radix_head(&self) -> Key {
        let heap = self.heap_head();
        match self.run.front() {
            Some(e) => heap.min(key(e.time, e.seq)),
            None => heap,
        }
    }

    /// The key of the earliest event in the buckets (`NO_KEY`: none): the front of bucket 0,
    /// or else the earliest of the lowest non-empty bucket.
    #[inline]
    fn heap_head(&self) -> Key {
        if let Some(e) = self.zero.front() {
            return key(e.time, e.seq);
        }
        if self.mask == 0 {
            return NO_KEY;
        }
        self.bucket_min[self.mask.trailing_zeros() as usize]
    }

    /// Pops the earliest event of the (non-empty) radix heap and sorted run.
    #[inline]
    fn radix_pop(&mut self) -> (u64, E) {
        self.queued -= 1;
        if let Some(e) = self.run.front() {
            if key(e.time, e.seq) < self.heap_head() {
                let e = self.run.pop_front().expect("a front");
                return (e.time, e.event);
            }
        }
        if self.zero.is_empty() {
            let b = self.mask.trailing_zeros() as usize;
            let min = self.bucket_min[b];
            self.bucket_min[b] = NO_KEY;
            self.mask &= !(1 << b);
            if self.buckets[b].len() == 1 {
                // A lone event is the minimum: skip the refill.
                let e = self.buckets[b].pop().expect("one event");
                self.last = e.time;
                return (e.time, e.event);
            }
            if self.buckets[b].len() >= RUN_MIN
                && self.run.is_empty()
                && mostly_in_order(&self.buckets[b])
            {
                // Sorted once rather than refiled; `last` stays, as every bucket left was
                // filed against it and holds no earlier event.
                let mut items = std::mem::take(&mut self.buckets[b]);
                // A stable sort finds the runs of the nearly sorted.
                items.sort_by_key(|e| key(e.time, e.seq));
                // The bucket's block becomes the run and the run's (empty) block the bucket's:
                // no copy, and no block held twice.
                let empty = std::mem::replace(&mut self.run, VecDeque::from(items));
                self.buckets[b] = Vec::from(empty);
                let e = self.run.pop_front().expect("a large bucket");
                return (e.time, e.event);
            }
            // Refill bucket 0 from the lowest non-empty bucket (all lower ones are empty, so
            // refiled events keep their order).
            let mut items = std::mem::take(&mut self.buckets[b]);
            self.last = time_of(min);
            for e in items.drain(..) {
                self.file(e);
            }
            // Keep the allocation for later refills of this bucket.
            self.buckets[b] = items;
        }
        let e = self.zero.pop_front().expect("bucket 0 holds the minimum");
        (e.time, e.event)
    }

    /// The time of the earliest pending event.
    #[inline]
    pub fn next_time(&mut self) -> Option<u64> {
        if let Some(&(t, _)) = self.now_fifo.front() {
            return Some(t);
        }
        let k = self.radix_head().min(self.timers.head());
        (k != NO_KEY).then(|| time_of(k))
    }

    /// The earliest event; ties in scheduling order.
    #[inline]
    pub fn pop(&mut self) -> Option<(u64, E)> {
        if let Some(e) = self.now_fifo.pop_front() {
            self.queued -= 1;
            self.popped += 1;
            return Some(e);
        }
        let timer = self.timers.head();
        let radix = self.radix_head();
        if timer < radix {
            let t = &mut self.timers;
            t.fired = true;
            t.armed -= 1;
            let id = t.heap[0].1 as usize;
            let event = t.events[id].expect("an armed timer has its event");
            self.popped += 1;
            Some((time_of(timer), event))
        } else if radix != NO_KEY {
            self.popped += 1;
            Some(self.radix_pop())
        } else {
            None
        }
    }

    /// Counts an arrival run by the simulator (arrivals are never queued): it is an event,
    /// and the peak as if arrivals were scheduled up front depends on it.
    #[inline]
    pub fn count_first_lane(&mut self) {
        self.popped += 1;
        self.first_popped += 1;
    }

    /// Latest time of a timer event replaced or disarmed before it was due (0: none): the
    /// time a run that drains the queue would have reached had the replaced events been kept
    /// and popped as no-ops.
    pub fn replaced_until(&self) -> u64 {
        self.replaced_until
    }

    /// Events pending.
    pub fn len(&self) -> usize {
        self.queued + self.timers.armed
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Largest number of pending events seen.
    pub fn peak(&self) -> usize {
        self.peak
    }

    /// Events popped (and arrivals counted) so far.
    pub fn popped(&self) -> u64 {
        self.popped
    }

    /// The peak the queue would have reached had the `first_lane` arrivals of the run all been
    /// scheduled before anything else (as a run that does not pull them lazily does).
    pub fn peak_with_first_lane_upfront(&self, first_lane: u64) -> usize {
        (first_lane as i64 + self.peak_upfront.max(0)) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn earliest_first_and_ties_in_insertion_order() {
        let mut q = EventQueue::new();
        q.push(5, "c");
        q.push(1, "a");
        q.push(5, "d");
        q.push(1, "b");
        q.push(3, "x");
        assert_eq!(q.next_time(), Some(1));
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(
            order,
            vec![(1, "a"), (1, "b"), (3, "x"), (5, "c"), (5, "d")]
        );
        assert_eq!(q.peak(), 5);
        assert_eq!(q.popped(), 5);
        assert!(q.is_empty());
        assert_eq!(q.next_time(), None);
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
    fn a_timer_set_again_runs_where_a_new_push_would() {
        let mut q = EventQueue::new();
        let cpu = q.add_timers(2);
        q.set_timer(cpu, Some(10), "cpu0-old");
        q.push(10, "a");
        q.set_timer(cpu + 1, Some(10), "cpu1");
        // Rescheduled at the same time: now after "a" and "cpu1".
        q.set_timer(cpu, Some(10), "cpu0");
        q.push(10, "b");
        assert_eq!(q.len(), 4);
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(
            order,
            vec![(10, "a"), (10, "cpu1"), (10, "cpu0"), (10, "b")]
        );
        assert_eq!(q.popped(), 4);
        assert_eq!(q.replaced_until(), 10);
    }

    #[test]
    fn a_fired_timer_is_disarmed_unless_set_again() {
        let mut q = EventQueue::new();
        let id = q.add_timers(3);
        q.set_timer(id + 2, Some(5), 2);
        q.set_timer(id, Some(3), 0);
        q.set_timer(id + 1, Some(4), 1);
        assert_eq!(q.pop(), Some((3, 0)));
        // Its handler sets it again (the usual case), later than the others.
        q.set_timer(id, Some(6), 10);
        assert_eq!(q.pop(), Some((4, 1)));
        // This one's handler does not: it must not fire again.
        q.push(5, 99);
        assert_eq!(q.pop(), Some((5, 2)));
        assert_eq!(q.pop(), Some((5, 99)));
        q.set_timer(id + 1, Some(7), 11);
        q.set_timer(id + 1, None, 11);
        assert_eq!(q.replaced_until(), 7);
        assert_eq!(q.pop(), Some((6, 10)));
        assert_eq!(q.pop(), None);
        assert!(q.is_empty());
    }

    #[test]
    fn an_event_at_the_current_instant_runs_after_those_pending_at_it() {
        let mut q = EventQueue::new();
        let cpu = q.add_timers(1);
        q.push(10, "a");
        q.push(20, "later");
        assert_eq!(q.pop(), Some((10, "a")));
        // Nothing else at 10: straight to the front.
        q.push_now(10, "now1");
        q.push_now(10, "now2");
        assert_eq!(q.next_time(), Some(10));
        // Pushed after them at the same instant: after them.
        q.push(10, "b");
        q.push_now(10, "now3");
        q.set_timer(cpu, Some(10), "cpu");
        q.push_now(10, "now4");
        assert_eq!(q.len(), 7);
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).map(|(_, e)| e).collect();
        assert_eq!(order, ["now1", "now2", "b", "now3", "cpu", "now4", "later"]);
        assert_eq!(q.popped(), 8);
        assert_eq!(q.peak(), 7);
    }

    #[test]
    fn an_event_at_the_current_instant_waits_for_a_timer_due_then() {
        let mut q = EventQueue::new();
        let id = q.add_timers(3);
        q.set_timer(id, Some(5), 0);
        q.set_timer(id + 1, Some(5), 1);
        q.set_timer(id + 2, Some(9), 2);
        assert_eq!(q.pop(), Some((5, 0)));
        // The fired timer is not pending; the other one due at 5 is.
        q.push_now(5, 10);
        // Its handler sets it again, in place.
        q.set_timer(id, Some(5), 11);
        assert_eq!(q.pop(), Some((5, 1)));
        q.push_now(5, 12);
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(order, [(5, 10), (5, 11), (5, 12), (9, 2)]);
    }

    /// The queue at the end, and (time, is an arrival) of each event run.
    type ArrivalsRun = (EventQueue<(bool, u64)>, Vec<(u64, bool)>);

    /// Three arrivals at 0, 10, 20; each schedules events 10 and 15 later. Lazily, arrivals
    /// run outside the queue, before pending events at the same time.
    fn arrivals_run(lazy: bool) -> ArrivalsRun {
        let arrivals = [0u64, 10, 20];
        let mut q = EventQueue::new();
        let mut next = 0;
        if !lazy {
            arrivals.iter().for_each(|&t| q.push(t, (true, t)));
        }
        let mut order = Vec::new();
        loop {
            let item = if lazy
                && next < arrivals.len()
                && q.next_time().is_none_or(|t| arrivals[next] <= t)
            {
                q.count_first_lane();
                next += 1;
                (arrivals[next - 1], (true, arrivals[next - 1]))
            } else if let Some(item) = q.pop() {
                item
            } else {
                break;
            };
            let (t, (arrival, _)) = item;
            order.push((t, arrival));
            if arrival {
                q.push(t + 15, (false, t));
                q.push(t + 10, (false, t));
            }
        }
        (q, order)
    }

    #[test]
    fn arrivals_outside_the_queue_run_as_if_scheduled_up_front() {
        let ((lazy, lazy_order), (upfront, upfront_order)) =
            (arrivals_run(true), arrivals_run(false));
        assert_eq!(lazy_order, upfront_order);
        assert_eq!(lazy.popped(), upfront.popped());
        assert_eq!(lazy.peak_with_first_lane_upfront(3), upfront.peak());
    }

    /// A large bucket in random order is refiled; large buckets mostly in order go to the
    /// sorted run while later events keep arriving in the buckets (some before the run's last
    /// events, some at its times): the order stays by (time, sequence) either way.
    #[test]
    fn a_large_bucket_sorted_into_the_run_keeps_the_order() {
        use std::collections::BTreeSet;
        let mut q = EventQueue::new();
        let mut reference = BTreeSet::new();
        let mut seq = 0u64;
        let mut push = |q: &mut EventQueue<u64>, reference: &mut BTreeSet<(u64, u64)>, t| {
            q.push(t, seq);
            reference.insert((t, seq));
            seq += 1;
        };
        // Work ends a second ahead, 1 ms apart in random order, some at equal times: refiled.
        for i in 0..5_000u64 {
            push(
                &mut q,
                &mut reference,
                1_000_000_000 + (i * 7_919 % 1_000) * 1_000_000,
            );
        }
        let mut now = 0;
        let mut popped = 0;
        let mut sorted_runs = 0;
        while let Some((t, e)) = q.pop() {
            sorted_runs += usize::from(q.run.len() >= RUN_MIN - 1);
            let want = reference.pop_first().expect("as many events");
            assert_eq!((t, e), want);
            assert!(t >= now);
            now = t;
            popped += 1;
            if popped % 3 == 0 && popped < 20_000 {
                push(
                    &mut q,
                    &mut reference,
                    now + 1_000_000_000 - popped % 5 * 1_000,
                );
                push(&mut q, &mut reference, now);
            }
        }
        assert!(reference.is_empty());
        assert!(popped > 10_000);
        // The events pushed while popping (a second ahead, nearly in order) went to the run.
        assert!(sorted_runs > 0);
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
        /// Same order as a brute-force list of (time, sequence, event) in which setting a
        /// timer removes its pending event and schedules a new one, for any interleaving of
        /// pushes, timer settings (never before the current time) and pops.
        #[test]
        fn matches_a_list_with_timers_replaced(
            ops in prop::collection::vec((0u8..5, 0u64..50, any::<bool>(), 0usize..4), 1..400),
        ) {
            let mut q = EventQueue::new();
            let base = q.add_timers(4);
            // (time, seq, payload, timer)
            let mut reference: Vec<(u64, u64, u64, Option<usize>)> = Vec::new();
            let (mut now, mut seq) = (0u64, 0u64);
            for (op, dt, far, timer) in ops {
                let t = now + if far { dt << 40 } else { dt };
                match op {
                    0 => {
                        let got = q.pop();
                        let want = reference
                            .iter()
                            .enumerate()
                            .min_by_key(|(_, e)| (e.0, e.1))
                            .map(|(i, _)| i)
                            .map(|i| reference.remove(i))
                            .map(|e| (e.0, e.2));
                        prop_assert_eq!(got, want);
                        if let Some((t, _)) = got {
                            now = t;
                        }
                    }
                    1 => {
                        q.push(t, seq);
                        reference.push((t, seq, seq, None));
                    }
                    4 => {
                        // At the current instant (the last pop's time).
                        q.push_now(now, seq);
                        reference.push((now, seq, seq, None));
                    }
                    _ => {
                        let time = (op == 2).then_some(t);
                        q.set_timer(base + timer, time, seq);
                        reference.retain(|e| e.3 != Some(timer));
                        if let Some(t) = time {
                            reference.push((t, seq, seq, Some(timer)));
                        }
                    }
                }
                seq += 1;
                prop_assert_eq!(q.len(), reference.len());
                prop_assert_eq!(q.next_time(), reference.iter().map(|e| e.0).min());
            }
            while !reference.is_empty() {
                let i = (0..reference.len()).min_by_key(|&i| (reference[i].0, reference[i].1)).unwrap();
                let e = reference.remove(i);
                prop_assert_eq!(q.pop(), Some((e.0, e.2)));
            }
            prop_assert!(q.pop().is_none());
        }
    }
}
