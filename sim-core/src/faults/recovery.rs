//! The run's recovery policy applied to failed and straggling attempts, with the live
//! controller's rules (`executor::controller::state`): a completed attempt supersedes the
//! function's other open attempts; a failed one whose function still has another open attempt
//! is left to it; otherwise the policy keeps the failure, fails the burst (its open attempts
//! are stopped), or opens re-runs: the failed functions (`rerun-failed-workers`), the failed
//! attempt's whole pack (`rerun-pack`: what its other workers completed is discarded), or a
//! FaaS invocation the client sends again (`openwhisk`). Re-runs of one failure go in one
//! request, placed away from the invoker they failed on when the others could hold them.
//!
//! Speculation (`speculate-stragglers`): once the burst's `after`-quantile of completion times
//! (submission to end) is known, each open attempt running longer than it, whose function has
//! no other open attempt, gets one backup copy; a message's stragglers go in one request.
//! Unlike the live controller, which sees a job's results only when the whole job ends and so
//! backs up whole jobs, the simulator sees each worker end and backs up the straggling workers.

use policies::{PlacementError, Recovery, RerunScope, Status};

use crate::event::Event;
use crate::records::NONE;
use crate::sim::{Request, Sim};

impl Sim<'_> {
    /// Attempt `aid` (of message `m`) completed now (its record's end is set): it is settled
    /// `ok`, the function's other open attempts are superseded, and the function is final.
    pub(crate) fn attempt_ok(&mut self, aid: u64, m: u32) {
        if !self.fx().attempts.close(aid) {
            return;
        }
        self.set_ok(aid);
        let fid = self.fx().attempts.function_of(aid);
        let winner = self.fx().attempts.attempt_of(aid);
        let others: Vec<u64> = {
            let a = &self.fx().attempts;
            a.of(fid).filter(|&x| x != aid && a.is_open(x)).collect()
        };
        if !others.is_empty() {
            let why = format!("superseded: attempt {winner} finished first");
            for x in others {
                self.cancel_attempt(x, &why);
            }
        }
        self.function_final(fid, Some(m));
        if self.fx().speculate {
            let submit = self.submit_ns(aid);
            let burst = self.arec(aid).burst;
            let done = self.now - submit;
            let list = &mut self.fx().spec.entry(burst).or_default().finished;
            let at = list.partition_point(|&d| d <= done);
            list.insert(at, done);
            self.spec_check(burst);
        }
    }

    /// The submission time of attempt `aid`, ns.
    fn submit_ns(&mut self, aid: u64) -> u64 {
        self.arec(aid).t_submit
    }

    /// Stops open attempt `aid` from outside (superseded, its burst failed, its pack runs
    /// again): its worker stops now if it runs, and it is settled failed with `reason`.
    pub(crate) fn cancel_attempt(&mut self, aid: u64, reason: &str) -> bool {
        if !self.fx().attempts.close(aid) {
            return false;
        }
        self.stop_worker(aid);
        self.set_outcome(aid, Status::Failed, reason);
        self.stats.cancelled_attempts += 1;
        true
    }

    /// Attempts `aids` failed with `reason` (their records' times are set); `job`: the message
    /// they were sent in. Each is settled, then the recovery policy decides.
    pub(crate) fn fail_attempts(&mut self, aids: &[u64], reason: &str, job: Option<u32>) {
        let mut failed = Vec::with_capacity(aids.len());
        for &aid in aids {
            if self.fx().attempts.close(aid) {
                self.set_outcome(aid, Status::Failed, reason);
                failed.push(aid);
            }
        }
        if !failed.is_empty() {
            self.recover(job, &failed, reason);
        }
    }

    /// What the recovery policy says about the failed attempts `failed` of message `job`, done.
    fn recover(&mut self, job: Option<u32>, failed: &[u64], reason: &str) {
        let mut rerun: Vec<u64> = Vec::new();
        let mut scope = RerunScope::Functions;
        let mut burst_failure = None;
        for &aid in failed {
            let fid = self.fx().attempts.function_of(aid);
            if self.fx().attempts.other_open(fid, aid) {
                continue;
            }
            let attempt = self.fx().attempts.attempt_of(aid);
            match self.fx().policy.on_failure(attempt) {
                Recovery::Keep => self.function_final(fid, None),
                Recovery::FailBurst => {
                    self.function_final(fid, None);
                    burst_failure.get_or_insert(fid);
                }
                Recovery::Rerun(s) => {
                    scope = s;
                    rerun.push(fid);
                }
            }
        }
        if scope == RerunScope::Pack && !rerun.is_empty() {
            if let Some(m) = job {
                self.discard_pack(m, &mut rerun, reason);
            }
        }
        if !rerun.is_empty() {
            if scope == RerunScope::Invocation {
                for fid in rerun {
                    self.client_retry(fid);
                }
            } else {
                let burst = self.records.get_mut(rerun[0]).burst;
                let avoid = job.map(|m| self.messages[m as usize].invoker);
                self.rerun_request(burst, rerun, avoid);
            }
        }
        if let Some(fid) = burst_failure {
            let burst = self.records.get_mut(fid).burst;
            self.fail_burst(burst, fid, reason);
        }
    }

    /// `rerun-pack`: the other workers of message `m` run again with the failed ones in
    /// `rerun`; what they completed is discarded, what still runs is stopped.
    fn discard_pack(&mut self, m: u32, rerun: &mut Vec<u64>, reason: &str) {
        let culprit = rerun[0];
        let why =
            format!("discarded: its pack runs again after function {culprit} failed ({reason})");
        let msg = self.messages[m as usize];
        for k in 0..msg.workers as u64 {
            let aid = msg.first_fid + k;
            if !self.fx().attempts.in_flight(aid) {
                // Its function went to the sink: final, whatever it was.
                continue;
            }
            let fid = self.fx().attempts.function_of(aid);
            if rerun.contains(&fid) || self.fx().attempts.other_open(fid, aid) {
                continue;
            }
            if self.fx().attempts.is_open(aid) {
                self.cancel_attempt(aid, &why);
            } else if self.arec(aid).status == Status::Ok {
                self.set_outcome(aid, Status::Failed, &why);
                // It was final; it runs again.
                self.function_unfinal(fid);
            } else {
                continue;
            }
            rerun.push(fid);
        }
    }

    /// Opens the next attempt of each of `fids` (functions of burst `burst`) and asks the
    /// controller to place them as one request, away from `avoid` when the others could hold
    /// them.
    pub(crate) fn rerun_request(&mut self, burst: u64, mut fids: Vec<u64>, avoid: Option<u32>) {
        fids.sort_unstable();
        fids.dedup();
        let t = self.now;
        let mut first_aid = None;
        for &fid in &fids {
            let first = self.records.get_mut(fid).clone();
            let aid = self.fx().attempts.open_next(fid, &first, t);
            first_aid.get_or_insert(aid);
        }
        self.stats.reruns += fids.len() as u64;
        let first_aid = first_aid.expect("at least one function");
        let action = self.fx().bursts[&burst].action;
        let r = self.requests.insert(Request {
            burst,
            first_fid: first_aid,
            workers: fids.len() as u32,
            action,
            avoid: avoid.unwrap_or(u32::MAX),
        });
        self.place_rerun(r);
    }

    /// FaaS (`openwhisk`): the client sends function `fid` again, as a new attempt.
    fn client_retry(&mut self, fid: u64) {
        let first = self.records.get_mut(fid).clone();
        let aid = self.fx().attempts.open_next(fid, &first, NONE);
        self.stats.reruns += 1;
        self.client_resend(first.burst, aid);
    }

    /// `fail-burst`: function `culprit` of burst `burst` failed (`reason`): every open attempt
    /// of the burst is stopped and settled failed; its functions are final.
    fn fail_burst(&mut self, burst: u64, culprit: u64, reason: &str) {
        let why = format!("burst failed: function {culprit} failed ({reason})");
        let b = self.fx().bursts[&burst];
        let (first, n) = (b.first_function, b.workers as u64);
        for fid in first..first + n {
            let open: Vec<u64> = {
                let a = &self.fx().attempts;
                a.of(fid).filter(|&x| a.is_open(x)).collect()
            };
            if open.is_empty() {
                continue;
            }
            for aid in open {
                self.cancel_attempt(aid, &why);
            }
            self.function_final(fid, None);
        }
    }

    /// Places re-run request `r` at once (no client, no processing): published if it fits,
    /// else first in the controller's waiting queue (it waits even when the healthy invokers
    /// could never hold it: a lost invoker may come back).
    fn place_rerun(&mut self, r: u32) {
        match self.try_place(r) {
            Ok(()) => {
                self.publish_plan(r, false);
            }
            Err(PlacementError::Empty) => {}
            Err(_) => {
                self.ctl_wait_front(r);
            }
        }
    }

    /// True when every attempt of request `r` is settled (a re-run of a burst that failed, a
    /// backup whose original finished): it needs no placement.
    pub(crate) fn settled_while_waiting(&mut self, r: u32) -> bool {
        let req = self.requests[r as usize];
        let Some(fx) = self.fx.as_ref() else {
            return false;
        };
        (0..req.workers as u64).all(|k| !fx.attempts.is_open(req.first_fid + k))
    }

    /// Speculation for burst `burst`: backs up its stragglers, and schedules the next check.
    pub(crate) fn spec_check(&mut self, burst: u64) {
        let workers = self.fx().bursts[&burst].workers;
        let finished: Vec<f64> = match self.fx().spec.get(&burst) {
            Some(sb) => sb.finished.iter().map(|&d| d as f64 / 1e9).collect(),
            None => return,
        };
        let Some(after) = self.fx().policy.backup_after(workers, &finished) else {
            return;
        };
        let after_ns = (after * 1e9).round() as u64;
        let messages = std::mem::take(&mut self.fx().spec.get_mut(&burst).expect("above").messages);
        let mut live = Vec::with_capacity(messages.len());
        let mut next: Option<u64> = None;
        for m in messages {
            if self.fx().msgs[m as usize].over {
                continue;
            }
            live.push(m);
            let msg = self.messages[m as usize];
            let mut stragglers = Vec::new();
            for k in 0..msg.workers as u64 {
                let aid = msg.first_fid + k;
                if !self.fx().attempts.is_open(aid) {
                    continue;
                }
                let fid = self.fx().attempts.function_of(aid);
                if self.fx().attempts.other_open(fid, aid) {
                    continue;
                }
                let due = self.submit_ns(aid) + after_ns;
                if self.now > due {
                    stragglers.push(fid);
                } else {
                    next = Some(next.map_or(due + 1, |n: u64| n.min(due + 1)));
                }
            }
            if !stragglers.is_empty() {
                self.stats.backups += stragglers.len() as u64;
                self.rerun_request(burst, stragglers, Some(msg.invoker));
            }
        }
        let now = self.now;
        let sb = self.fx().spec.get_mut(&burst).expect("above");
        // Backups published meanwhile were appended to the (emptied) list.
        live.append(&mut sb.messages);
        sb.messages = live;
        if let Some(t) = next {
            let pending = sb.check_at.is_some_and(|c| c > now && c <= t);
            if !pending {
                sb.check_at = Some(t);
                self.at(t, Event::SpeculateCheck(burst));
            }
        }
    }

    /// A scheduled speculation check of `burst`.
    pub(crate) fn speculate_event(&mut self, burst: u64) {
        let now = self.now;
        if let Some(sb) = self.fx().spec.get_mut(&burst) {
            if sb.check_at == Some(now) {
                sb.check_at = None;
            }
        }
        self.spec_check(burst);
    }
}
