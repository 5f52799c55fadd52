//! The records of the functions in flight, and the reorder buffer that hands them to the sink
//! in function-id order.
//!
//! A function gets a slot when its burst arrives and gives it back once its record is final and
//! every lower id has been released, so the ring spans the ids from the oldest unfinished
//! function to the newest arrival. Times are kept as engine nanoseconds and turned into seconds
//! since the first submission when released, with the same arithmetic as before they were
//! buffered, so the records are bit-identical.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::rc::Rc;

use policies::{FunctionRecord, Outcome, Status};

use crate::sink::{RecordSink, SinkError};

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
    pub reason: Option<Rc<str>>,
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
    pub fn settle(&mut self, status: Status, reason: &Rc<str>) {
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

/// The slots of functions `base .. base + len`, and containers waiting to be announced closed.
#[derive(Debug, Default)]
pub(crate) struct RecordRing {
    slots: VecDeque<Slot>,
    base: u64,
    /// (last function id that ran in it, container id): announced once that id is released.
    closes: BinaryHeap<Reverse<(u64, u64)>>,
    peak: usize,
}

impl RecordRing {
    /// Adds the slot of the next function id.
    #[inline]
    pub fn push(&mut self, slot: Slot) {
        self.slots.push_back(slot);
        self.peak = self.peak.max(self.slots.len());
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

    /// True when [`RecordRing::release`] has work: the oldest record is final, or a closed
    /// container's functions have all gone out.
    #[inline]
    pub fn has_work(&self) -> bool {
        self.slots.front().is_some_and(|s| s.done)
            || self
                .closes
                .peek()
                .is_some_and(|Reverse((last, _))| *last < self.base)
    }

    /// Hands every final record at the front to `sink`, in id order, each container announced
    /// closed right after its last record.
    pub fn release(&mut self, t0: u64, sink: &mut dyn RecordSink) -> Result<(), SinkError> {
        self.release_with(t0, sink, &mut |_, _| Ok(()))
    }

    /// [`RecordRing::release`], calling `after(fid, sink)` right after each function's record
    /// (faults: its further attempts go out there, before any container is announced closed).
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
        self.announce_closes(sink)?;
        while self.slots.front().is_some_and(|s| s.done) {
            let slot = self.slots.pop_front().expect("front is done");
            sink.record(slot.to_record(self.base, t0))?;
            after(self.base, sink)?;
            self.base += 1;
            self.announce_closes(sink)?;
        }
        Ok(())
    }

    /// The functions in flight, in id order: (id, slot).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (u64, &mut Slot)> {
        let base = self.base;
        self.slots
            .iter_mut()
            .enumerate()
            .map(move |(k, s)| (base + k as u64, s))
    }

    fn announce_closes(&mut self, sink: &mut dyn RecordSink) -> Result<(), SinkError> {
        while let Some(&Reverse((last, id))) = self.closes.peek() {
            if last >= self.base {
                break;
            }
            self.closes.pop();
            sink.container_closed(id)?;
        }
        Ok(())
    }

    /// Container `id`, whose last function was `last_fid`, will run nothing more: it is
    /// announced by the [`RecordRing::release`] after that function's record.
    pub fn close_container(&mut self, id: u64, last_fid: u64) {
        self.closes.push(Reverse((last_fid, id)));
    }

    /// Ends the run: every function still unfinished is recorded as failed with `reason`, and
    /// everything left goes to the sink.
    pub fn finish(
        &mut self,
        t0: u64,
        stranded: &Rc<str>,
        sink: &mut dyn RecordSink,
        after: &mut dyn FnMut(u64, &mut dyn RecordSink) -> Result<(), SinkError>,
    ) -> Result<(), SinkError> {
        for slot in &mut self.slots {
            if slot.status == Status::Ok && slot.t_end == NONE {
                slot.settle(Status::Failed, stranded);
            }
            slot.done = true;
        }
        self.release_with(t0, sink, after)?;
        // Closes of containers whose functions are all out (ids beyond the last are none).
        while let Some(Reverse((_, id))) = self.closes.pop() {
            sink.container_closed(id)?;
        }
        Ok(())
    }

    /// Most functions buffered at once.
    pub fn peak(&self) -> usize {
        self.peak
    }
}
