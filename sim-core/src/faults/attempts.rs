//! Every attempt of every function of a run with faults. Attempt 0 of function `f` has attempt
//! id `f` and lives in the simulator's record table; each re-run or backup copy is an extra
//! attempt with id `EXTRA | k` (`k` counting up over the run, so the attempts opened together
//! for one re-run request have consecutive ids, as a message's functions do). An attempt is
//! open until it is settled (completed, failed, rejected, superseded or stopped); a function is
//! final when none of its attempts is open and no re-run is coming.

use std::collections::HashMap;

use policies::FunctionRecord;

/// The bit that marks an extra attempt's id.
pub(crate) const EXTRA: u64 = 1 << 63;

/// A re-run or backup attempt: its record and whether it is open.
#[derive(Debug, Clone)]
pub(crate) struct Extra {
    pub rec: FunctionRecord,
    pub open: bool,
}

/// The attempts of a run beyond the records of attempt 0.
#[derive(Debug, Default)]
pub(crate) struct Attempts {
    /// Attempt 0 of function `f` is settled (index `f`).
    settled0: Vec<bool>,
    /// Extra attempts by `id & !EXTRA`.
    extras: Vec<Extra>,
    /// Functions with extra attempts: their ids, in attempt order.
    of_function: HashMap<u64, Vec<u64>>,
}

impl Attempts {
    pub fn new(functions: u64) -> Self {
        Attempts {
            settled0: vec![false; functions as usize],
            extras: Vec::new(),
            of_function: HashMap::new(),
        }
    }

    /// True when `aid` names an extra attempt.
    #[inline]
    pub fn is_extra(aid: u64) -> bool {
        aid & EXTRA != 0
    }

    pub fn extra(&self, aid: u64) -> &Extra {
        &self.extras[(aid & !EXTRA) as usize]
    }

    pub fn extra_mut(&mut self, aid: u64) -> &mut Extra {
        &mut self.extras[(aid & !EXTRA) as usize]
    }

    /// True while attempt `aid` is open.
    pub fn is_open(&self, aid: u64) -> bool {
        if Self::is_extra(aid) {
            self.extra(aid).open
        } else {
            !self.settled0[aid as usize]
        }
    }

    /// Settles attempt `aid`; false (nothing changes) when it was settled already.
    pub fn close(&mut self, aid: u64) -> bool {
        if Self::is_extra(aid) {
            std::mem::replace(&mut self.extra_mut(aid).open, false)
        } else {
            !std::mem::replace(&mut self.settled0[aid as usize], true)
        }
    }

    /// Every attempt id of function `fid`, in attempt order.
    pub fn of(&self, fid: u64) -> impl Iterator<Item = u64> + '_ {
        std::iter::once(fid).chain(self.of_function.get(&fid).into_iter().flatten().copied())
    }

    /// The newest attempt number of function `fid`.
    pub fn latest(&self, fid: u64) -> u32 {
        self.of_function.get(&fid).map_or(0, |v| v.len() as u32)
    }

    /// True when function `fid` has an open attempt other than `aid`.
    pub fn other_open(&self, fid: u64, aid: u64) -> bool {
        self.of(fid).any(|a| a != aid && self.is_open(a))
    }

    /// Opens the next attempt of function `fid` (whose attempt 0 is `first`), submitted at
    /// `t_submit` (seconds); returns its id.
    pub fn open_next(&mut self, fid: u64, first: &FunctionRecord, t_submit: f64) -> u64 {
        let mut rec = FunctionRecord::pending(
            first.function_id,
            first.burst_id,
            first.tenant,
            first.worker_id,
        );
        rec.attempt = self.latest(fid) + 1;
        rec.t_submit = t_submit;
        let aid = EXTRA | self.extras.len() as u64;
        self.extras.push(Extra { rec, open: true });
        self.of_function.entry(fid).or_default().push(aid);
        aid
    }

    /// The function an attempt belongs to.
    pub fn function_of(&self, aid: u64) -> u64 {
        if Self::is_extra(aid) {
            self.extra(aid).rec.function_id
        } else {
            aid
        }
    }

    /// Extra attempts still open, in id order.
    pub fn open_extras(&self) -> impl Iterator<Item = u64> + '_ {
        self.extras
            .iter()
            .enumerate()
            .filter(|(_, x)| x.open)
            .map(|(k, _)| EXTRA | k as u64)
    }

    /// Attempts of all functions: attempt 0 from `records` (by function id), each followed by
    /// its extra attempts in attempt order.
    pub fn into_records(self, records: Vec<FunctionRecord>) -> Vec<FunctionRecord> {
        if self.extras.is_empty() {
            return records;
        }
        let Attempts {
            extras,
            of_function,
            ..
        } = self;
        let mut extras: Vec<Option<Extra>> = extras.into_iter().map(Some).collect();
        let mut out = Vec::with_capacity(records.len() + extras.len());
        for (fid, rec) in records.into_iter().enumerate() {
            out.push(rec);
            if let Some(ids) = of_function.get(&(fid as u64)) {
                for &aid in ids {
                    let x = extras[(aid & !EXTRA) as usize].take().expect("listed once");
                    out.push(x.rec);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_open_close_and_come_out_in_order() {
        let records: Vec<FunctionRecord> = (0..3)
            .map(|f| FunctionRecord::pending(f, 0, 0, f as u32))
            .collect();
        let mut t = Attempts::new(3);
        assert!(t.is_open(1) && !t.other_open(1, 1));
        assert!(t.close(1) && !t.close(1), "settled once");
        let a = t.open_next(1, &records[1], 2.5);
        let b = t.open_next(1, &records[1], 3.0);
        assert_eq!(b, a + 1, "consecutive ids");
        assert_eq!(t.latest(1), 2);
        assert!(t.other_open(1, a));
        assert_eq!(t.function_of(b), 1);
        assert!(t.close(a));
        assert_eq!(t.open_extras().collect::<Vec<_>>(), vec![b]);
        let out = t.into_records(records);
        let ids: Vec<(u64, u32)> = out.iter().map(|r| (r.function_id, r.attempt)).collect();
        assert_eq!(ids, [(0, 0), (1, 0), (1, 1), (1, 2), (2, 0)]);
        assert_eq!(out[2].t_submit, 2.5);
    }
}
