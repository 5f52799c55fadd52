//! The burst runtime inside a container: once the container is ready, after `payload` it spawns
//! one worker per CPU, sequentially in worker-id order (`worker_spawn` each), so worker k starts
//! at ready + payload + spawn_0 + ... + spawn_k. A live worker also gets its id, container,
//! invoker and the shared burst layout; no simulated time depends on them, so they are not
//! materialised per worker (`SimOutput::burst_layout` rebuilds a burst's layout afterwards).
//!
//! With exclusive CPUs (or a sleep workload, or CPU shares on an invoker whose memory cannot
//! hold more CPU-bound functions than it has cores) a worker's end is known when it starts, so
//! the whole container is computed here with one completion event; otherwise under CPU shares
//! CPU-bound workers enter the invoker's processor-sharing model at their start.

use crate::event::Event;
use crate::records::NONE;
use crate::sim::Sim;

impl Sim<'_> {
    /// Container `cid` is (or will be, at `ready` >= now) ready for its message. Nothing else
    /// observes the instant a container becomes ready, so warm and prewarmed containers are
    /// dispatched here at admission, without an event of their own.
    #[inline(always)]
    pub(crate) fn container_ready(&mut self, cid: u32, ready: u64) {
        if self.fx.is_some() {
            return self.container_ready_faults(cid, ready);
        }
        let c = &mut self.containers[cid as usize];
        let msg = self.messages[c.msg as usize];
        let last_fid = msg.first_fid + msg.workers as u64 - 1;
        c.last_fid = if c.last_fid == NONE {
            last_fid
        } else {
            c.last_fid.max(last_fid)
        };
        let inv = self.containers[cid as usize].invoker as usize;
        let shared_cpu = self.shares_cpu(inv, msg.action);
        let c = &self.containers[cid as usize];
        let rng = &mut self.invokers[inv].rng;
        let model = &self.sc.invoker;
        let mut t = ready + model.payload.sample_ns(rng);
        let program = self.comm.is_some();
        let mut last_end = t;
        for (k, slot) in self
            .records
            .range_mut(msg.first_fid, msg.workers)
            .enumerate()
        {
            t += model.worker_spawn.sample_ns(rng);
            slot.invoker = msg.invoker;
            slot.container = c.id;
            slot.container_slot = cid;
            slot.cold = c.cold;
            slot.t_ready = ready;
            slot.t_start = t;
            if self.exclusive_cpu {
                slot.cpu = c.core_of(k);
            }
            if program {
                let fid = msg.first_fid + k as u64;
                self.q.push(t, Event::StepStart(fid as u32));
            } else if shared_cpu {
                self.q
                    .schedule(self.now, t, Event::WorkerStart(cid, k as u32));
            } else {
                let end = t + slot.work_ns;
                slot.t_end = end;
                slot.done = true;
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
        let (inv, share) = (c.invoker as usize, c.share);
        let work = self.records.get_mut(fid).work_ns;
        self.invokers[inv].sharer.add(self.now, fid, work, share);
        self.reschedule_cpu(inv);
    }

    /// A CPU-bound worker (or a compute step of a program) finished under CPU shares.
    pub(crate) fn worker_done(&mut self, fid: u64, slowed: bool) {
        if self.fx.is_some() {
            return self.attempt_ended(fid, slowed);
        }
        if self.comm.is_some() {
            self.shared_compute_done(fid, slowed);
            return;
        }
        let now = self.now;
        let slot = self.records.get_mut(fid);
        slot.t_end = now;
        slot.cpu_shared = slowed;
        slot.done = true;
        self.finished += 1;
        let cid = slot.container_slot;
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
