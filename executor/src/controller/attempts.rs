//! Every attempt of every function of a live run: the first one of each function from the
//! start, one more for each re-run or backup copy. An attempt is open until it is settled (it
//! completed, failed, was rejected, superseded or discarded); the run is done when no attempt is
//! open. Whatever happens, a function gets at most one `ok` attempt.

use policies::{FunctionRecord, Outcome};

/// One attempt: its record, and whether it is still open.
struct Attempt {
    rec: FunctionRecord,
    open: bool,
}

/// The attempts of a run, by function id.
pub(super) struct Attempts {
    by_function: Vec<Vec<Attempt>>,
    open: usize,
}

impl Attempts {
    /// Attempt 0 of each function (`records[f]` is function `f`'s), all open.
    pub(super) fn new(records: Vec<FunctionRecord>) -> Self {
        let open = records.len();
        Attempts {
            by_function: records
                .into_iter()
                .map(|rec| vec![Attempt { rec, open: true }])
                .collect(),
            open,
        }
    }

    /// Attempts still open, over the whole run.
    pub(super) fn open(&self) -> usize {
        self.open
    }

    /// The number of function `f`'s newest attempt.
    pub(super) fn latest(&self, f: u64) -> u32 {
        self.by_function[f as usize].len() as u32 - 1
    }

    pub(super) fn is_open(&self, f: u64, a: u32) -> bool {
        self.by_function[f as usize][a as usize].open
    }

    /// True when function `f` has an open attempt other than `a`.
    pub(super) fn other_open(&self, f: u64, a: u32) -> bool {
        self.by_function[f as usize]
            .iter()
            .enumerate()
            .any(|(i, x)| x.open && i as u32 != a)
    }

    /// True when one of function `f`'s attempts completed.
    pub(super) fn has_ok(&self, f: u64) -> bool {
        self.by_function[f as usize]
            .iter()
            .any(|x| !x.open && x.rec.is_ok())
    }

    pub(super) fn record(&self, f: u64, a: u32) -> &FunctionRecord {
        &self.by_function[f as usize][a as usize].rec
    }

    pub(super) fn record_mut(&mut self, f: u64, a: u32) -> &mut FunctionRecord {
        &mut self.by_function[f as usize][a as usize].rec
    }

    /// Settles attempt `a` of function `f` with `outcome`; false (and nothing changes) when it
    /// was settled already.
    pub(super) fn close(&mut self, f: u64, a: u32, outcome: Outcome) -> bool {
        let x = &mut self.by_function[f as usize][a as usize];
        if !x.open {
            return false;
        }
        debug_assert!(
            !outcome.is_ok() || !self.has_ok(f),
            "function {f} completed twice"
        );
        let x = &mut self.by_function[f as usize][a as usize];
        x.open = false;
        x.rec.outcome = outcome;
        self.open -= 1;
        true
    }

    /// Rewrites the outcome of settled attempt `a` of `f` (a completed attempt whose result is
    /// discarded because its pack runs again).
    pub(super) fn rewrite(&mut self, f: u64, a: u32, outcome: Outcome) {
        let x = &mut self.by_function[f as usize][a as usize];
        debug_assert!(!x.open);
        x.rec.outcome = outcome;
    }

    /// Opens the next attempt of function `f`, submitted at `t_submit`; returns its number.
    pub(super) fn open_next(&mut self, f: u64, t_submit: f64) -> u32 {
        let attempts = &mut self.by_function[f as usize];
        let first = &attempts[0].rec;
        let mut rec = FunctionRecord::pending(
            first.function_id,
            first.burst_id,
            first.tenant,
            first.worker_id,
        );
        rec.attempt = attempts.len() as u32;
        rec.t_submit = t_submit;
        attempts.push(Attempt { rec, open: true });
        self.open += 1;
        attempts.len() as u32 - 1
    }

    /// Settles every open attempt with `outcome(function id)`.
    pub(super) fn close_all_open(&mut self, outcome: impl Fn(u64) -> Outcome) {
        for (f, attempts) in self.by_function.iter_mut().enumerate() {
            for x in attempts.iter_mut().filter(|x| x.open) {
                x.open = false;
                x.rec.outcome = outcome(f as u64);
                self.open -= 1;
            }
        }
    }

    /// Every record: by function id, then attempt.
    pub(super) fn into_records(self) -> Vec<FunctionRecord> {
        self.by_function
            .into_iter()
            .flatten()
            .map(|x| x.rec)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(n: u64) -> Attempts {
        Attempts::new(
            (0..n)
                .map(|f| FunctionRecord::pending(f, 0, 0, f as u32))
                .collect(),
        )
    }

    #[test]
    fn attempts_open_and_close_once() {
        let mut t = table(2);
        assert_eq!(t.open(), 2);
        assert!(t.close(0, 0, Outcome::failed("lost")));
        assert!(!t.close(0, 0, Outcome::Ok), "settled once");
        assert_eq!(t.record(0, 0).outcome, Outcome::failed("lost"));
        assert_eq!(t.open_next(0, 1.5), 1);
        assert_eq!((t.latest(0), t.open()), (1, 2));
        assert!(t.other_open(0, 0) && !t.other_open(0, 1));
        assert!(t.close(0, 1, Outcome::Ok));
        assert!(t.has_ok(0) && !t.has_ok(1));
        t.close_all_open(|f| Outcome::failed(format!("cancelled {f}")));
        assert_eq!(t.open(), 0);
        let records = t.into_records();
        let ids: Vec<(u64, u32)> = records.iter().map(|r| (r.function_id, r.attempt)).collect();
        assert_eq!(ids, [(0, 0), (0, 1), (1, 0)]);
        assert_eq!(records[1].t_submit, 1.5);
        assert_eq!(records[2].outcome, Outcome::failed("cancelled 1"));
    }
}
