//! The agent's table of the jobs it was sent, per run: what makes delivery idempotent. The
//! broker may deliver a job twice (the controller re-sends what a broker restart may have
//! lost): a job already running is not started again, and a finished one has its result sent
//! again (the restart may have lost it too). A job the controller stopped never starts, and a
//! run that ended takes no new job.

use std::collections::{HashMap, HashSet};

use crate::protocol::JobResult;

/// Where one job is.
#[derive(Debug, Clone, PartialEq)]
pub enum JobState {
    /// Accepted: waiting for CPUs or memory, or running.
    Running,
    /// The controller stopped it: it must not start, or its container is being removed.
    Stopped,
    /// Finished, with the result that was sent.
    Done(Box<JobResult>),
}

/// What to do with a job message.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// A new job: run it.
    Run,
    /// Seen before and finished: send this result again.
    Resend(Box<JobResult>),
    /// Seen before and not finished, stopped, or of a run that ended: nothing.
    Ignore,
}

/// The jobs of every run the agent holds something for.
#[derive(Debug, Default)]
pub struct JobTable {
    jobs: HashMap<(String, u64), JobState>,
    /// Runs that ended (EndRun, or their controller's lease expired).
    ended: HashSet<String>,
}

impl JobTable {
    /// Records the arrival of job `job` of `run` and says what to do with it.
    pub fn deliver(&mut self, run: &str, job: u64) -> Delivery {
        if self.ended.contains(run) {
            return Delivery::Ignore;
        }
        match self.jobs.get(&(run.to_string(), job)) {
            None => {
                self.jobs.insert((run.to_string(), job), JobState::Running);
                Delivery::Run
            }
            Some(JobState::Done(r)) => Delivery::Resend(r.clone()),
            Some(_) => Delivery::Ignore,
        }
    }

    /// Marks a job stopped; true when it had not finished.
    pub fn stop(&mut self, run: &str, job: u64) -> bool {
        match self.jobs.get_mut(&(run.to_string(), job)) {
            Some(s @ JobState::Running) => {
                *s = JobState::Stopped;
                true
            }
            Some(_) => false,
            None => {
                // Stopped before it arrived (the queue reorders nothing, but a re-read after a
                // broker restart may): it must never start.
                self.jobs.insert((run.to_string(), job), JobState::Stopped);
                true
            }
        }
    }

    /// True when the job may not start (stopped, or its run ended).
    pub fn is_stopped(&self, run: &str, job: u64) -> bool {
        self.ended.contains(run)
            || matches!(
                self.jobs.get(&(run.to_string(), job)),
                Some(JobState::Stopped)
            )
    }

    /// Records a job's result (kept until its run ends, to be sent again if asked).
    pub fn done(&mut self, result: &JobResult) {
        if !self.ended.contains(&result.run_id) {
            self.jobs.insert(
                (result.run_id.clone(), result.job_id),
                JobState::Done(Box::new(result.clone())),
            );
        }
    }

    /// Forgets the jobs of `run` and takes no new one of it.
    pub fn end(&mut self, run: &str) {
        self.jobs.retain(|(r, _), _| r != run);
        self.ended.insert(run.to_string());
    }

    /// The runs with jobs in the table.
    pub fn runs(&self) -> HashSet<String> {
        self.jobs.keys().map(|(r, _)| r.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(run: &str, job: u64) -> JobResult {
        JobResult {
            run_id: run.into(),
            job_id: job,
            invoker: 0,
            container_id: job,
            t_dispatch: 1.0,
            t_ready: 1.1,
            cold: true,
            cpus: vec![0],
            cpu_shared: false,
            workers: Vec::new(),
            error: None,
        }
    }

    #[test]
    fn a_job_runs_once_and_its_result_is_sent_again() {
        let mut t = JobTable::default();
        assert_eq!(t.deliver("r", 1), Delivery::Run);
        assert_eq!(t.deliver("r", 1), Delivery::Ignore);
        t.done(&result("r", 1));
        assert_eq!(
            t.deliver("r", 1),
            Delivery::Resend(Box::new(result("r", 1)))
        );
        assert_eq!(t.deliver("r", 2), Delivery::Run);
        assert_eq!(t.runs(), HashSet::from(["r".to_string()]));
    }

    #[test]
    fn stopped_jobs_and_ended_runs_never_start() {
        let mut t = JobTable::default();
        assert!(t.stop("r", 3));
        assert!(t.is_stopped("r", 3));
        assert_eq!(t.deliver("r", 3), Delivery::Ignore);
        assert_eq!(t.deliver("r", 4), Delivery::Run);
        assert!(!t.is_stopped("r", 4));
        t.end("r");
        assert!(t.is_stopped("r", 4));
        assert_eq!(t.deliver("r", 5), Delivery::Ignore);
        t.done(&result("r", 4));
        assert!(t.runs().is_empty());
    }
}
