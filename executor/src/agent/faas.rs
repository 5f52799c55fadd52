//! FaaS invocations on the agent: a warm container of the action is reused, or a new one is
//! created (evicting idle ones when memory is short) with CPU shares proportional to its
//! memory, as OpenWhisk does; idle containers are removed after the keep-alive.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{parse_report, Agent};
use crate::bundle::ContainerSpec;
use crate::error::{Error, Result};
use crate::payload::{ContainerPayload, Layout};
use crate::protocol::{InvokeJob, JobResult};

/// A FaaS container of one action of one run, idle or running an invocation.
pub(super) struct Warm {
    pub(super) name: String,
    pub(super) run_id: String,
    action: String,
    container_id: u64,
    memory_mb: u64,
    busy: bool,
    /// The job it runs while busy.
    pub(super) job: Option<u64>,
    idle_since: Instant,
}

impl Agent {
    pub(super) fn invoke(&self, job: InvokeJob, t_dispatch: f64) {
        let mut result =
            self.pending_result(&job.run_id, job.job_id, job.new_container_id, t_dispatch);
        // Warm until `claim` says otherwise; FaaS containers share the invoker's CPUs.
        result.cold = false;
        result.cpu_shared = true;
        if let Err(e) = self.invoke_inner(&job, &mut result) {
            result.error = Some(e.to_string());
        }
        self.publish(&result);
    }

    /// Claims an idle warm container of the action, or memory for a new one (evicting idle
    /// containers of other actions), waiting while neither is possible.
    fn claim(&self, job: &InvokeJob) -> Result<(String, u64, bool)> {
        let deadline = self.wait_deadline();
        let mut s = self.state.lock().unwrap();
        loop {
            if s.jobs.is_stopped(&job.run_id, job.job_id) {
                return Err(Error::Agents("stopped by the controller".into()));
            }
            if let Some(w) = s
                .warm
                .iter_mut()
                .find(|w| !w.busy && w.action == job.action && w.run_id == job.run_id)
            {
                w.busy = true;
                w.job = Some(job.job_id);
                return Ok((w.name.clone(), w.container_id, false));
            }
            // Evict idle containers until the new one fits.
            while s.free_memory_mb < job.memory_mb {
                let Some(i) = s.warm.iter().position(|w| !w.busy) else {
                    break;
                };
                let w = s.warm.remove(i);
                s.free_memory_mb += w.memory_mb;
                let _ = self.backend.remove(&w.name);
            }
            if s.free_memory_mb >= job.memory_mb {
                s.free_memory_mb -= job.memory_mb;
                let name = self.name(&format!("{}-w", job.run_id));
                s.warm.push(Warm {
                    name: name.clone(),
                    run_id: job.run_id.clone(),
                    action: job.action.clone(),
                    container_id: job.new_container_id,
                    memory_mb: job.memory_mb,
                    busy: true,
                    job: Some(job.job_id),
                    idle_since: Instant::now(),
                });
                return Ok((name, job.new_container_id, true));
            }
            if self.stop.load(Ordering::Relaxed) || Instant::now() >= deadline {
                return Err(Error::Agents(format!(
                    "timed out waiting for {} MB of memory",
                    job.memory_mb
                )));
            }
            s = self
                .freed
                .wait_timeout(s, Duration::from_millis(100))
                .unwrap()
                .0;
        }
    }

    fn invoke_inner(&self, job: &InvokeJob, result: &mut JobResult) -> Result<()> {
        let (name, container_id, cold) = self.claim(job)?;
        result.cold = cold;
        result.container_id = container_id;
        let out = (|| {
            if cold {
                let user_mem = self.cluster.agents[self.id as usize].memory_mb.max(1);
                // OpenWhisk: CPU shares proportional to memory, at least 2.
                let shares = (1024 * job.memory_mb / user_mem).max(2);
                let mut set = self.host_cpus.clone();
                set.sort_unstable();
                set.dedup();
                let spec = ContainerSpec {
                    id: name.clone(),
                    cpus: Some(set),
                    cpu_shares: Some(shares),
                    memory_mb: job.memory_mb,
                    args: vec!["idle".into()],
                    // Functions of a `steps` burst reach the broker (the action's containers
                    // serve only this run, so a warm one was made the same way).
                    network: job.comm.is_some(),
                };
                self.backend.start_idle(&spec)?;
            }
            let payload = ContainerPayload {
                container_id,
                invoker_id: self.id,
                first_worker: job.worker_id,
                layout: Layout {
                    burst_id: job.burst_id,
                    containers: vec![(self.id, container_id, job.worker_id, job.worker_id)],
                },
                inputs: vec![job.input],
                cpus: Vec::new(),
                seed: job.seed,
                comm: job.comm.clone(),
            };
            let out = self
                .backend
                .exec_dispatch(&name, &serde_json::to_vec(&payload)?)?;
            parse_report(&out)
        })();
        let mut s = self.state.lock().unwrap();
        match &out {
            Ok(_) => match s.warm.iter_mut().find(|w| w.name == name) {
                Some(w) => {
                    w.busy = false;
                    w.job = None;
                    w.idle_since = Instant::now();
                }
                // Its run ended (or the job was stopped) while the container was being created:
                // nobody tracks it any more.
                None => {
                    let _ = self.backend.remove(&name);
                }
            },
            Err(_) => {
                // A container that failed is not reused.
                if let Some(i) = s.warm.iter().position(|w| w.name == name) {
                    let w = s.warm.remove(i);
                    s.free_memory_mb += w.memory_mb;
                }
                let _ = self.backend.remove(&name);
            }
        }
        drop(s);
        self.freed.notify_all();
        let report = out?;
        result.t_ready = report.t_ready;
        result.workers = report.workers;
        Ok(())
    }

    /// Removes warm containers idle for longer than the keep-alive.
    pub(super) fn expire_warm(&self) {
        let keep = Duration::from_secs_f64(self.cluster.keep_alive_s.max(0.0));
        self.remove_warm(|w| !w.busy && w.idle_since.elapsed() >= keep);
    }

    pub(super) fn remove_warm(&self, pred: impl Fn(&Warm) -> bool) {
        let mut s = self.state.lock().unwrap();
        let mut gone = Vec::new();
        let mut i = 0;
        while i < s.warm.len() {
            if pred(&s.warm[i]) {
                let w = s.warm.remove(i);
                s.free_memory_mb += w.memory_mb;
                gone.push(w.name);
            } else {
                i += 1;
            }
        }
        drop(s);
        for name in &gone {
            let _ = self.backend.remove(name);
        }
        if !gone.is_empty() {
            self.freed.notify_all();
        }
    }
}
