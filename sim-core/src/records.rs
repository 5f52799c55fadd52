//! The records of the functions in flight, and the reorder buffer that hands them to the sink
//! in function-id order.
//!
//! A function gets a slot when its burst arrives and gives it back once its record is final and
//! every lower id has been released, so the ring spans the ids from the oldest unfinished
//! function to the newest arrival (and up to [`RELEASE_BATCH`] released ones that go to the
//! sink together). Times are kept as engine nanoseconds and turned into seconds since the first
//! submission when converted ([`RawRecords`], on the sink's side), with the same arithmetic as
//! before they were buffered, so the records are bit-identical.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;

use policies::{FunctionRecord, Outcome, Status};

use crate::sink::{RecordSink, SinkError};

/// Final records of consecutive functions as the engine keeps them (engine nanoseconds, the
/// outcome's reason shared), borrowed from the ring: [`RawRecords::records`] converts them. A
/// sink that hands records to another thread copies them as they are ([`RawRecords::raw`])
/// and converts them there ([`RecordSink::raw_records`]), off the simulation's thread.
#[derive(Debug, Clone, Copy)]
pub struct RawRecords<'a> {
    first_fid: u64,
    /// First submission: record times are relative to it.
    t0: u64,
    /// The slots, in id order, in two parts (the ring's two halves).
    head: &'a [Slot],
    tail: &'a [Slot],
}

impl RawRecords<'_> {
    /// (function id, slot), in id order.
    fn slots(&self) -> impl Iterator<Item = (u64, &Slot)> + '_ {
        let first = self.first_fid;
        (first..).zip(self.head.iter().chain(self.tail))
    }

    /// Each record, unconverted and owned, in id order.
    pub fn raw(&self) -> impl Iterator<Item = RawRecord> + '_ {
        self.slots().map(|(fid, slot)| RawRecord {
            fid,
            t0: self.t0,
            slot: slot.clone(),
        })
    }

    /// The records, in id order.
    pub fn records(&self) -> impl Iterator<Item = FunctionRecord> + '_ {
        self.slots().map(|(fid, slot)| slot.to_record(fid, self.t0))
    }
}

/// One function's final record, unconverted (owned): what a sink keeps of [`RawRecords`] to
/// convert it later, elsewhere ([`RawRecord::to_record`]).
#[derive(Debug, Clone)]
pub struct RawRecord {
    fid: u64,
    t0: u64,
    slot: Slot,
}

impl RawRecord {
    /// The function's record.
    #[inline]
    pub fn to_record(&self) -> FunctionRecord {
        self.slot.to_record(self.fid, self.t0)
    }
}

/// "Not reached" for a time, and "none" for an id.
pub(crate) const NONE: u64 = u64::MAX;

/// One function in flight.
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    /// Solo run time, ns, drawn from its burst's `workload` stream when the burst arrived.
    pub work_ns: u64,
    pub t_submit: u64,
    pub t_dispatch: u64,
    pub t_ready: u64,
    pub t_start: u64,
    pub t_end: u64,
    pub burst: u64,
    /// Container id (creation order, as recorded), `NONE` when never placed.
    pub container: u64,
    /// Engine slot of that container.
    pub container_slot: u32,
    pub tenant: u32,
    pub worker: u32,
    pub invoker: u32,
    /// `u32::MAX`: no exclusive core.
    pub cpu: u32,
    pub status: Status,
    pub cold: bool,
    pub cpu_shared: bool,
    /// Nothing will change this record any more.
    pub done: bool,
    /// Why it failed or was rejected (shared by the functions of one message or request).
    pub reason: Option<Arc<str>>,
}

impl Slot {
    pub fn new(burst: u64, tenant: u32, worker: u32, work_ns: u64) -> Self {
        Slot {
            work_ns,
            t_submit: NONE,
            t_dispatch: NONE,
            t_ready: NONE,
            t_start: NONE,
            t_end: NONE,
            burst,
            container: NONE,
            container_slot: u32::MAX,
            tenant,
            worker,
            invoker: u32::MAX,
            cpu: u32::MAX,
            status: Status::Ok,
            cold: false,
            cpu_shared: false,
            done: false,
            reason: None,
        }
    }

    /// Marks the function failed or rejected with `reason`.
    pub fn settle(&mut self, status: Status, reason: &Arc<str>) {
        self.status = status;
        self.reason = Some(reason.clone());
        self.done = true;
    }

    /// The record of function `fid`, times relative to the first submission `t0`.
    pub(crate) fn to_record(&self, fid: u64, t0: u64) -> FunctionRecord {
        // The five conversions side by side, without a branch each (they vectorise).
        let raw = [
            self.t_submit,
            self.t_dispatch,
            self.t_ready,
            self.t_start,
            self.t_end,
        ];
        let mut secs = [0.0f64; 5];
        for (s, &t) in secs.iter_mut().zip(&raw) {
            *s = t.wrapping_sub(t0) as i64 as f64 / 1e9;
        }
        for (s, &t) in secs.iter_mut().zip(&raw) {
            if t == NONE {
                *s = f64::NAN;
            }
        }
        FunctionRecord {
            function_id: fid,
            burst_id: self.burst,
            tenant: self.tenant,
            worker_id: self.worker,
            invoker: self.invoker,
            container: self.container,
            cpu: (self.cpu != u32::MAX).then_some(self.cpu),
            cpu_shared: self.cpu_shared,
            cold: self.cold,
            attempt: 0,
            outcome: match self.status {
                Status::Ok => Outcome::Ok,
                Status::Failed => Outcome::failed(self.reason.as_deref().unwrap_or_default()),
                Status::Rejected => Outcome::rejected(self.reason.as_deref().unwrap_or_default()),
            },
            t_submit: secs[0],
            t_dispatch: secs[1],
            t_container_ready: secs[2],
            t_start: secs[3],
            t_end: secs[4],
        }
    }
}

/// Final records held back at most before they go to the sink together (one call per run of
/// records rather than per record).
const RELEASE_BATCH: u64 = 64;

/// The slots of functions `base .. base + len`, and containers waiting to be announced closed.
///
/// Records `base .. released` are final and released in order already, but still held: they go
/// to the sink together, [`RELEASE_BATCH`] at a time (and at the end). A container's close is
/// announced at the place in that order where releasing each record at once would have put it,
/// so the sink sees exactly the same sequence of calls.
#[derive(Debug, Default)]
pub(crate) struct RecordRing {
    slots: VecDeque<Slot>,
    base: u64,
    /// Every function below it is final and released (in order).
    released: u64,
    /// The `t0` the held records go out with.
    held_t0: u64,
    /// (position, group, last function id that ran in it, container id): announced right
    /// before the record at that position goes out (after every lower one), in this order. A
    /// close whose last function is released already is late: it goes out where releasing
    /// at once puts it, at the next release, after the late ones of earlier releases (its group,
    /// counted from 1; 0 for a close on time, which goes right after its last record).
    closes: BinaryHeap<Reverse<(u64, u64, u64, u64)>>,
    /// The group of the late closes since the last release, while there are some.
    late_group: u64,
    late_open: bool,
    peak: usize,
}

impl RecordRing {
    /// Adds the slot of the next function id.
    #[inline]
    pub fn push(&mut self, slot: Slot) {
        self.slots.push_back(slot);
        // Held records are not in flight: the peak is of what releasing at once would keep.
        let in_flight = self.slots.len() - (self.released - self.base) as usize;
        self.peak = self.peak.max(in_flight);
    }

    /// The slot of function `fid` (in flight).
    #[inline]
    pub fn get_mut(&mut self, fid: u64) -> &mut Slot {
        &mut self.slots[(fid - self.base) as usize]
    }

    /// The slots of functions `first .. first + n`.
    #[inline]
    pub fn range_mut(&mut self, first: u64, n: u32) -> impl Iterator<Item = &mut Slot> {
        let a = (first - self.base) as usize;
        self.slots.range_mut(a..a + n as usize)
    }

    /// True when [`RecordRing::release`] has work: the oldest record in flight is final, or a
    /// closed container can be announced.
    #[inline(always)]
    pub fn has_work(&self) -> bool {
        self.slots
            .get((self.released - self.base) as usize)
            .is_some_and(|s| s.done)
            || self.late_open
            || self
                .closes
                .peek()
                .is_some_and(|Reverse((at, ..))| *at <= self.base)
    }

    /// Releases every final record at the front, in id order; they go to `sink` (with the
    /// containers closed among them) once [`RELEASE_BATCH`] are held.
    pub fn release(&mut self, t0: u64, sink: &mut dyn RecordSink) -> Result<(), SinkError> {
        self.late_open = false;
        if self.released > self.base && t0 != self.held_t0 {
            self.flush(sink)?;
        }
        self.held_t0 = t0;
        let mut k = (self.released - self.base) as usize;
        while self.slots.get(k).is_some_and(|s| s.done) {
            k += 1;
        }
        self.released = self.base + k as u64;
        if self.released - self.base >= RELEASE_BATCH {
            self.flush(sink)
        } else {
            self.announce_closes(sink)
        }
    }

    /// Hands the held records to `sink`, each container announced where it was due.
    fn flush(&mut self, sink: &mut dyn RecordSink) -> Result<(), SinkError> {
        loop {
            self.announce_closes(sink)?;
            if self.base == self.released {
                return Ok(());
            }
            let end = match self.closes.peek() {
                Some(Reverse((at, ..))) => (*at).min(self.released),
                None => self.released,
            };
            let n = (end - self.base) as usize;
            let (a, b) = self.slots.as_slices();
            let (head, tail) = if n <= a.len() {
                (&a[..n], &b[..0])
            } else {
                (a, &b[..n - a.len()])
            };
            sink.raw_records(RawRecords {
                first_fid: self.base,
                t0: self.held_t0,
                head,
                tail,
            })?;
            self.slots.drain(..n);
            self.base = end;
        }
    }

    /// Hands every final record at the front to `sink` now, in id order, each container
    /// announced closed right after its last record, calling `after(fid, sink)` right after
    /// each function's record (faults: its further attempts go out there, before any container
    /// is announced closed).
    #[inline]
    pub fn release_with<F>(
        &mut self,
        t0: u64,
        sink: &mut dyn RecordSink,
        after: &mut F,
    ) -> Result<(), SinkError>
    where
        F: FnMut(u64, &mut dyn RecordSink) -> Result<(), SinkError> + ?Sized,
    {
        self.late_open = false;
        self.flush(sink)?;
        while self.slots.front().is_some_and(|s| s.done) {
            sink.raw_records(RawRecords {
                first_fid: self.base,
                t0,
                head: std::slice::from_ref(&self.slots[0]),
                tail: &[],
            })?;
            self.slots.pop_front();
            after(self.base, sink)?;
            self.base += 1;
            self.released = self.base;
            self.announce_closes(sink)?;
        }
        Ok(())
    }

    /// The functions in flight, in id order: (id, slot).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (u64, &mut Slot)> {
        let (base, held) = (self.base, (self.released - self.base) as usize);
        self.slots
            .iter_mut()
            .enumerate()
            .skip(held)
            .map(move |(k, s)| (base + k as u64, s))
    }

    /// Announces the closes due before the record at `base` (every earlier one is out).
    fn announce_closes(&mut self, sink: &mut dyn RecordSink) -> Result<(), SinkError> {
        while let Some(&Reverse((at, _, _, id))) = self.closes.peek() {
            if at > self.base {
                break;
            }
            self.closes.pop();
            sink.container_closed(id)?;
        }
        Ok(())
    }

    /// Container `id`, whose last function was `last_fid`, will run nothing more: it is
    /// announced right after that function's record, or at the next release if that record
    /// is released already.
    pub fn close_container(&mut self, id: u64, last_fid: u64) {
        let (at, group) = if last_fid < self.released {
            if !self.late_open {
                self.late_open = true;
                self.late_group += 1;
            }
            (self.released, self.late_group)
        } else {
            (last_fid + 1, 0)
        };
        self.closes.push(Reverse((at, group, last_fid, id)));
    }

    /// Ends the run: every function still unfinished is recorded as failed with `reason`, and
    /// everything left goes to the sink.
    pub fn finish(
        &mut self,
        t0: u64,
        stranded: &Arc<str>,
        sink: &mut dyn RecordSink,
        after: &mut dyn FnMut(u64, &mut dyn RecordSink) -> Result<(), SinkError>,
    ) -> Result<(), SinkError> {
        for (_, slot) in self.iter_mut() {
            if slot.status == Status::Ok && slot.t_end == NONE {
                slot.settle(Status::Failed, stranded);
            }
            slot.done = true;
        }
        self.release_with(t0, sink, after)?;
        // Closes of containers whose functions are all out (ids beyond the last are none).
        while let Some(Reverse((.., id))) = self.closes.pop() {
            sink.container_closed(id)?;
        }
        Ok(())
    }

    /// Most functions buffered at once.
    pub fn peak(&self) -> usize {
        self.peak
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What a sink was told, in order: a record (its id and t_end's bits) or a container
    /// closed.
    #[derive(Debug, Default, PartialEq)]
    struct Log(Vec<(char, u64, u64)>);

    impl RecordSink for Log {
        fn record(&mut self, r: FunctionRecord) -> Result<(), SinkError> {
            self.0.push(('r', r.function_id, r.t_end.to_bits()));
            Ok(())
        }

        fn container_closed(&mut self, container: u64) -> Result<(), SinkError> {
            self.0.push(('c', container, 0));
            Ok(())
        }
    }

    /// The reorder buffer as it was before records were held: each final record goes out at
    /// the release that finds it, each close as soon as its last record is out.
    #[derive(Default)]
    struct AtOnce {
        /// t_end of each function in flight (`None`: not final).
        ends: VecDeque<Option<f64>>,
        base: u64,
        closes: BinaryHeap<Reverse<(u64, u64)>>,
        log: Vec<(char, u64, u64)>,
    }

    impl AtOnce {
        fn has_work(&self) -> bool {
            self.ends.front().is_some_and(|e| e.is_some())
                || self
                    .closes
                    .peek()
                    .is_some_and(|Reverse((last, _))| *last < self.base)
        }

        fn announce(&mut self) {
            while let Some(&Reverse((last, id))) = self.closes.peek() {
                if last >= self.base {
                    break;
                }
                self.closes.pop();
                self.log.push(('c', id, 0));
            }
        }

        fn release(&mut self) {
            self.announce();
            while let Some(Some(end)) = self.ends.front().copied() {
                self.ends.pop_front();
                self.log.push(('r', self.base, end.to_bits()));
                self.base += 1;
                self.announce();
            }
        }

        fn finish(&mut self) {
            for end in &mut self.ends {
                end.get_or_insert(f64::NAN);
            }
            self.release();
            while let Some(Reverse((_, id))) = self.closes.pop() {
                self.log.push(('c', id, 0));
            }
        }
    }

    proptest! {
        /// Holding final records back and handing them over in runs tells the sink exactly
        /// what releasing each at once did: the same records, each close at the same place.
        /// Each step is one event: a function arrives, ends, or a container is closed (its
        /// last function out already or not), then the end-of-event release.
        #[test]
        fn held_records_reach_the_sink_as_if_released_at_once(
            ops in prop::collection::vec((0u8..4, 0u64..400), 1..600),
        ) {
            let mut held = RecordRing::default();
            let mut log = Log::default();
            let mut at_once = AtOnce::default();
            let (mut pushed, mut containers) = (0u64, 0u64);
            for (op, x) in ops {
                match op {
                    0 => {
                        held.push(Slot::new(0, 0, 0, 0));
                        at_once.ends.push_back(None);
                        pushed += 1;
                    }
                    1 | 2 if pushed > held.released => {
                        let fid = held.released + x % (pushed - held.released);
                        let slot = held.get_mut(fid);
                        if !slot.done {
                            slot.t_end = 1_000 + x;
                            slot.done = true;
                            let k = (fid - at_once.base) as usize;
                            at_once.ends[k] = Some((1_000 + x) as f64 / 1e9);
                        }
                    }
                    3 if pushed > 0 => {
                        let last = x % pushed;
                        held.close_container(containers, last);
                        at_once.closes.push(Reverse((last, containers)));
                        containers += 1;
                    }
                    _ => {}
                }
                if held.has_work() {
                    held.release(0, &mut log).unwrap();
                }
                if at_once.has_work() {
                    at_once.release();
                }
                prop_assert!(held.released - held.base < RELEASE_BATCH);
            }
            let stranded: Arc<str> = "stranded".into();
            held.finish(0, &stranded, &mut log, &mut |_, _| Ok(())).unwrap();
            at_once.finish();
            prop_assert_eq!(log.0.len() as u64, pushed + containers);
            prop_assert_eq!(log.0, at_once.log);
        }
    }
}
