//! Every attempt of every function in flight in a run with faults. Attempt 0 of function `f` has
//! attempt id `f` and lives in the engine's record ring; each re-run or backup copy is an extra
//! attempt with id `EXTRA | k` (`k` counting up over the run, so the attempts opened together
//! for one re-run request have consecutive ids, as a message's functions do). An attempt is
//! open until it is settled (completed, failed, rejected, superseded or stopped); a function is
//! final when none of its attempts is open and no re-run is coming. Extra attempts go to the
//! sink right after their function's first record, and are forgotten then.

use policies::FunctionRecord;

use std::collections::VecDeque;

use crate::idmap::IdMap;
use crate::records::Slot;
use crate::sink::{RecordSink, SinkError};

/// The bit that marks an extra attempt's id.
pub(crate) const EXTRA: u64 = 1 << 63;

/// A re-run or backup attempt: its record (times in engine ns), function, number, and whether
/// it is open.
#[derive(Debug, Clone)]
pub(crate) struct Extra {
    pub slot: Slot,
    pub fid: u64,
    pub attempt: u32,
    pub open: bool,
}

/// The attempts of the functions in flight beyond their first.
#[derive(Debug, Default)]
pub(crate) struct Attempts {
    /// Functions below this id went to the sink: all their attempts are settled.
    released_below: u64,
    /// Whether attempt 0 is settled, for functions `released_below ..` (beyond its end: not
    /// yet).
    settled0: VecDeque<bool>,
    /// Extra attempts by `id & !EXTRA`.
    extras: IdMap<u64, Extra>,
    next_extra: u64,
    /// Functions with extra attempts: their ids, in attempt order.
    of_function: IdMap<u64, Vec<u64>>,
    /// Attempts settled so far (a cheap way to know that none was since a given moment).
    pub closes: u64,
}

impl Attempts {
    /// True when `aid` names an extra attempt.
    #[inline]
    pub fn is_extra(aid: u64) -> bool {
        aid & EXTRA != 0
    }

    pub fn extra(&self, aid: u64) -> &Extra {
        &self.extras[&(aid & !EXTRA)]
    }

    pub fn extra_mut(&mut self, aid: u64) -> &mut Extra {
        self.extras
            .get_mut(&(aid & !EXTRA))
            .expect("an extra attempt in flight")
    }

    /// True while attempt `aid`'s record is held (its function has not gone to the sink).
    pub fn in_flight(&self, aid: u64) -> bool {
        if Self::is_extra(aid) {
            self.extras.contains_key(&(aid & !EXTRA))
        } else {
            aid >= self.released_below
        }
    }

    /// True while attempt `aid` is open.
    pub fn is_open(&self, aid: u64) -> bool {
        if Self::is_extra(aid) {
            self.extras.get(&(aid & !EXTRA)).is_some_and(|x| x.open)
        } else {
            aid >= self.released_below
                && !self
                    .settled0
                    .get((aid - self.released_below) as usize)
                    .copied()
                    .unwrap_or(false)
        }
    }

    /// Settles attempt `aid`; false (nothing changes) when it was settled already.
    pub fn close(&mut self, aid: u64) -> bool {
        let closed = if Self::is_extra(aid) {
            self.extras
                .get_mut(&(aid & !EXTRA))
                .is_some_and(|x| std::mem::replace(&mut x.open, false))
        } else {
            aid >= self.released_below && {
                let k = (aid - self.released_below) as usize;
                if k >= self.settled0.len() {
                    self.settled0.resize(k + 1, false);
                }
                !std::mem::replace(&mut self.settled0[k], true)
            }
        };
        self.closes += u64::from(closed);
        closed
    }

    /// Every attempt id of function `fid`, in attempt order.
    pub fn of(&self, fid: u64) -> impl Iterator<Item = u64> + '_ {
        std::iter::once(fid).chain(self.of_function.get(&fid).into_iter().flatten().copied())
    }

    /// The newest attempt number of function `fid`.
    pub fn latest(&self, fid: u64) -> u32 {
        self.of_function.get(&fid).map_or(0, |v| v.len() as u32)
    }

    /// The attempt number of `aid`.
    pub fn attempt_of(&self, aid: u64) -> u32 {
        if Self::is_extra(aid) {
            self.extra(aid).attempt
        } else {
            0
        }
    }

    /// True when function `fid` has an open attempt other than `aid`.
    pub fn other_open(&self, fid: u64, aid: u64) -> bool {
        self.of(fid).any(|a| a != aid && self.is_open(a))
    }

    /// Opens the next attempt of function `fid` (whose attempt 0 is `first`), submitted at
    /// `t_submit` (ns, `records::NONE` when not yet); returns its id.
    pub fn open_next(&mut self, fid: u64, first: &Slot, t_submit: u64) -> u64 {
        let mut slot = Slot::new(first.burst, first.tenant, first.worker, first.work_ns);
        slot.t_submit = t_submit;
        let attempt = self.latest(fid) + 1;
        let k = self.next_extra;
        self.next_extra += 1;
        self.extras.insert(
            k,
            Extra {
                slot,
                fid,
                attempt,
                open: true,
            },
        );
        let aid = EXTRA | k;
        self.of_function.entry(fid).or_default().push(aid);
        aid
    }

    /// The function an attempt belongs to.
    pub fn function_of(&self, aid: u64) -> u64 {
        if Self::is_extra(aid) {
            self.extra(aid).fid
        } else {
            aid
        }
    }

    /// Extra attempts still open.
    pub fn open_extras(&self) -> Vec<u64> {
        let mut open: Vec<u64> = self
            .extras
            .iter()
            .filter(|(_, x)| x.open)
            .map(|(&k, _)| EXTRA | k)
            .collect();
        open.sort_unstable();
        open
    }

    /// Function `fid`'s first record went to `sink` (times relative to `t0`): its extra
    /// attempts follow, in attempt order, and the function is forgotten.
    pub fn release(
        &mut self,
        fid: u64,
        t0: u64,
        sink: &mut dyn RecordSink,
    ) -> Result<(), SinkError> {
        debug_assert_eq!(fid, self.released_below, "functions go out in id order");
        self.released_below = fid + 1;
        self.settled0.pop_front();
        if let Some(ids) = self.of_function.remove(&fid) {
            for aid in ids {
                let x = self.extras.remove(&(aid & !EXTRA)).expect("listed once");
                let mut rec: FunctionRecord = x.slot.to_record(fid, t0);
                rec.attempt = x.attempt;
                sink.record(rec)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_open_close_and_come_out_in_order() {
        let first = Slot::new(0, 0, 1, 5);
        let mut t = Attempts::default();
        assert!(t.is_open(1) && !t.other_open(1, 1));
        assert!(t.close(1) && !t.close(1), "settled once");
        let a = t.open_next(1, &first, 2_500_000_000);
        let b = t.open_next(1, &first, 3_000_000_000);
        assert_eq!(b, a + 1, "consecutive ids");
        assert_eq!(t.latest(1), 2);
        assert_eq!((t.attempt_of(a), t.attempt_of(b)), (1, 2));
        assert!(t.other_open(1, a));
        assert_eq!(t.function_of(b), 1);
        assert!(t.close(a));
        assert_eq!(t.open_extras(), vec![b]);
        let mut out: Vec<FunctionRecord> = Vec::new();
        t.release(0, 0, &mut out).unwrap();
        assert!(out.is_empty(), "function 0 has no extra attempt");
        t.release(1, 0, &mut out).unwrap();
        let ids: Vec<(u64, u32)> = out.iter().map(|r| (r.function_id, r.attempt)).collect();
        assert_eq!(ids, [(1, 1), (1, 2)]);
        assert_eq!(out[0].t_submit, 2.5);
        assert!(!t.is_open(1) && !t.is_open(b), "released: settled");
    }
}
