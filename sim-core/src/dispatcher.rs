//! The burst runtime inside a container: once the container is ready, after `payload` it spawns
//! one worker per CPU, sequentially in worker-id order (`worker_spawn` each), so worker k starts
//! at ready + payload + spawn_0 + ... + spawn_k. A live worker also gets its id, container,
//! invoker and the shared burst layout; no simulated time depends on them, so they are not
//! materialised per worker (`SimOutput::burst_layout` rebuilds a burst's layout afterwards).
//!
//! With exclusive CPUs (or a sleep workload) a worker's end is known when it starts, so the
//! whole container is computed here with one completion event; under CPU shares CPU-bound
//! workers enter the invoker's processor-sharing model at their start.

use crate::event::Event;
use crate::sim::Sim;

impl Sim<'_> {
    /// Container `cid` is (or will be, at `ready` >= now) ready for its message. Nothing else
    /// observes the instant a container becomes ready, so warm and prewarmed containers are
    /// dispatched here at admission, without an event of their own.
    pub(crate) fn container_ready(&mut self, cid: u32, ready: u64) {
        let now = ready;
        let t0 = self.t0.unwrap_or(0);
        let secs = |t: u64| t.wrapping_sub(t0) as i64 as f64 / 1e9;
        let c = &self.containers[cid as usize];
        let msg = self.messages[c.msg as usize];
        let inv = c.invoker as usize;
        let rng = &mut self.invokers[inv].rng;
        let model = &self.sc.invoker;
        let mut t = now + model.payload.sample_ns(rng);
        let action = self.bursts[msg.burst as usize].action;
        let shared_cpu = !self.exclusive_cpu && self.cpu_bound[action as usize];
        let program = self.comm.is_some();
        let t_ready = secs(now);
        let mut last_end = t;
        let first = msg.first_fid as usize;
        for k in 0..msg.workers as usize {
            t += model.worker_spawn.sample_ns(rng);
            let rec = &mut self.records[first + k];
            rec.invoker = msg.invoker;
            rec.container = cid as u64;
            rec.cold = c.cold;
            rec.t_container_ready = t_ready;
            rec.t_start = secs(t);
            if self.exclusive_cpu {
                rec.cpu = Some(c.core_of(k));
            }
            if program {
                self.q.push(t, Event::StepStart((first + k) as u32));
            } else if shared_cpu {
                self.q.push(t, Event::WorkerStart(cid, k as u32));
            } else {
                let end = t + self.work_ns[first + k];
                rec.t_end = secs(end);
                last_end = last_end.max(end);
            }
        }
        if shared_cpu || program {
            self.containers[cid as usize].remaining = msg.workers;
        } else {
            self.q.push(last_end, Event::ContainerDone(cid));
        }
    }

    pub(crate) fn worker_start(&mut self, cid: u32, k: u32) {
        let c = &self.containers[cid as usize];
        let fid = self.messages[c.msg as usize].first_fid + k as u64;
        let inv = c.invoker as usize;
        let share = cpu_share(
            c.memory_mb / c.workers.max(1) as u64,
            self.invokers[inv].user_mem,
        );
        let work = self.work_ns[fid as usize];
        self.invokers[inv].sharer.add(self.now, fid, work, share);
        self.reschedule_cpu(inv);
    }

    /// A CPU-bound worker (or a compute step of a program) finished under CPU shares.
    pub(crate) fn worker_done(&mut self, fid: u64, slowed: bool) {
        if self.comm.is_some() {
            self.shared_compute_done(fid, slowed);
            return;
        }
        let t = self.secs(self.now);
        let rec = &mut self.records[fid as usize];
        rec.t_end = t;
        rec.cpu_shared = slowed;
        self.finished += 1;
        let cid = rec.container as u32;
        let c = &mut self.containers[cid as usize];
        c.remaining -= 1;
        if c.remaining == 0 {
            self.container_done(cid);
        }
    }
}

/// OpenWhisk's CPU share of a container: `max(1024 / (user_memory / memory), 2)` (integer maths).
pub(crate) fn cpu_share(memory_mb: u64, user_memory_mb: u64) -> u32 {
    let slots = user_memory_mb / memory_mb.max(1);
    1024u64.checked_div(slots).map_or(1024, |s| s.max(2) as u32)
}

#[cfg(test)]
mod tests {
    use super::cpu_share;

    #[test]
    fn share_follows_openwhisk() {
        assert_eq!(cpu_share(256, 2048), 128);
        assert_eq!(cpu_share(2048, 2048), 1024);
        assert_eq!(cpu_share(128, 1024 * 1024), 2);
    }
}
