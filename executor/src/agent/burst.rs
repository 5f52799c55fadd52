//! Burst jobs on the agent: one fresh container per job on exclusive CPUs, one pinned worker
//! per CPU, run to completion.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{parse_report, Agent};
use crate::bundle::ContainerSpec;
use crate::error::{Error, Result};
use crate::payload::{ContainerPayload, DispatchReport};
use crate::protocol::{BurstJob, JobResult};

impl Agent {
    /// Takes `n` free CPUs (lowest indices first) for job `job` of `run`, waiting for running
    /// containers to end; gives up when the job is stopped.
    fn take_cpus(&self, n: usize, run: &str, job: u64) -> Result<Vec<u32>> {
        let deadline = self.wait_deadline();
        let mut s = self.state.lock().unwrap();
        if n > s.free_cpus.len() {
            return Err(Error::input(format!(
                "container needs {n} CPUs; this invoker has {}",
                s.free_cpus.len()
            )));
        }
        loop {
            if s.jobs.is_stopped(run, job) {
                return Err(Error::Agents("stopped by the controller".into()));
            }
            let free: Vec<u32> = (0..s.free_cpus.len() as u32)
                .filter(|&c| s.free_cpus[c as usize])
                .take(n)
                .collect();
            if free.len() == n {
                for &c in &free {
                    s.free_cpus[c as usize] = false;
                }
                return Ok(free);
            }
            if self.stop.load(Ordering::Relaxed) || Instant::now() >= deadline {
                return Err(Error::Agents(format!(
                    "timed out waiting for {n} free CPUs"
                )));
            }
            s = self
                .freed
                .wait_timeout(s, Duration::from_millis(100))
                .unwrap()
                .0;
        }
    }

    fn release_cpus(&self, cpus: &[u32]) {
        let mut s = self.state.lock().unwrap();
        for &c in cpus {
            s.free_cpus[c as usize] = true;
        }
        drop(s);
        self.freed.notify_all();
    }

    pub(super) fn burst(&self, job: BurstJob, t_dispatch: f64) {
        let mut result = self.pending_result(&job.run_id, job.job_id, job.container_id, t_dispatch);
        if let Err(e) = self.burst_inner(&job, &mut result) {
            result.error = Some(e.to_string());
        }
        self.publish(&result);
    }

    fn burst_inner(&self, job: &BurstJob, result: &mut JobResult) -> Result<()> {
        let cpus = self.take_cpus(job.inputs.len(), &job.run_id, job.job_id)?;
        result.cpus = cpus.clone();
        let host: Vec<u32> = cpus.iter().map(|&c| self.host_cpus[c as usize]).collect();
        let name = self.name(&format!("{}-c{}-", job.run_id, job.container_id));
        let out = self.run_container(&name, job, &host);
        self.release_cpus(&cpus);
        let mut report = out?;
        // Pinning is checked against what each worker saw from inside.
        for (w, &cpu) in report.workers.iter_mut().zip(&host) {
            if let Ok(r) = w {
                if r.affinity != [cpu] {
                    *w = Err(format!(
                        "worker {} was to be pinned to CPU {cpu} but ran on {:?}",
                        r.worker_id, r.affinity
                    ));
                }
            }
        }
        result.t_ready = report.t_ready;
        result.workers = report.workers;
        Ok(())
    }

    /// Runs one burst container to completion and returns the dispatcher's report. A job
    /// stopped before this point never starts its container.
    fn run_container(&self, name: &str, job: &BurstJob, host: &[u32]) -> Result<DispatchReport> {
        let mut set: Vec<u32> = host.to_vec();
        set.sort_unstable();
        set.dedup();
        let spec = ContainerSpec {
            id: name.to_string(),
            cpus: Some(set),
            cpu_shares: None,
            memory_mb: job.memory_mb * job.inputs.len() as u64,
            args: vec!["dispatch".into()],
            network: job.comm.is_some(),
        };
        let payload = ContainerPayload {
            container_id: job.container_id,
            invoker_id: self.id,
            first_worker: job.first_worker,
            layout: job.layout.clone(),
            inputs: job.inputs.clone(),
            cpus: host.to_vec(),
            seed: job.seed,
            comm: job.comm.clone(),
        };
        {
            let mut s = self.state.lock().unwrap();
            if s.jobs.is_stopped(&job.run_id, job.job_id) {
                return Err(Error::Agents("stopped by the controller".into()));
            }
            s.running
                .insert(name.to_string(), (job.run_id.clone(), job.job_id));
        }
        let res = serde_json::to_vec(&payload)
            .map_err(Error::from)
            .and_then(|p| self.backend.run_dispatch(&spec, &p))
            .and_then(|out| parse_report(&out));
        self.state.lock().unwrap().running.remove(name);
        let _ = self.backend.remove(name);
        res
    }
}
