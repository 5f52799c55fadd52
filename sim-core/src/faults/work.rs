//! Workers in a run with faults: each attempt's fate is drawn when its container is ready
//! (a straggler's slowdown, a crash point), every worker ends by an event of its own (so a
//! backup copy and its original race at their real end times, and a stopped worker frees its
//! container's slot at once), and a cold creation may fail.

use rand::Rng as _;

use crate::container::CState;
use crate::dispatcher::cpu_share;
use crate::event::Event;
use crate::records::NONE;
use crate::sim::Sim;

impl Sim<'_> {
    /// Run time and crash point of attempt `aid` (`work_ns` without faults): a straggler's
    /// work is multiplied by its slowdown (draws below 1 count as 1); a crashing attempt stops
    /// at a uniform point of that run (`Some(time into the run)`).
    fn attempt_fate(&mut self, aid: u64, work_ns: u64) -> (u64, Option<u64>) {
        let spec = self.fspec();
        let (p_slow, p_crash) = (spec.straggler_probability, spec.worker_crash);
        if p_slow == 0.0 && p_crash == 0.0 {
            return (work_ns, None);
        }
        let fid = self.fx().attempts.function_of(aid);
        let attempt = self.fx().attempts.attempt_of(aid);
        let mut work = work_ns;
        if p_slow > 0.0 {
            let mut rng = self.fx().attempt_draw("straggler", fid, attempt);
            if rng.random::<f64>() < p_slow {
                let s = self.fspec().slowdown.sample(fid, &mut rng).max(1.0);
                work = (work as f64 * s).round() as u64;
                self.stats.stragglers += 1;
            }
        }
        let mut crash = None;
        if p_crash > 0.0 {
            let mut rng = self.fx().attempt_draw("worker-crash", fid, attempt);
            if rng.random::<f64>() < p_crash {
                crash = Some((rng.random::<f64>() * work as f64) as u64);
            }
        }
        (work, crash)
    }

    /// `container_ready` with faults: the open attempts of the container's message start (the
    /// settled ones, e.g. superseded while waiting, do not), each with its drawn fate and an
    /// end event of its own.
    pub(crate) fn container_ready_faults(&mut self, cid: u32, ready: u64) {
        let c = &self.containers[cid as usize];
        let (m, inv, cold, run, id) = (c.msg, c.invoker, c.cold, c.run, c.id);
        let msg = self.messages[m as usize];
        let shared_cpu = self.shares_cpu(inv as usize, msg.action);
        let rng = &mut self.invokers[inv as usize].rng;
        let model = &self.sc.invoker;
        let mut t = ready + model.payload.sample_ns(rng);
        let spawns: Vec<u64> = (0..msg.workers)
            .map(|_| model.worker_spawn.sample_ns(rng))
            .collect();
        let mut remaining = 0;
        for (k, spawn) in spawns.into_iter().enumerate() {
            t += spawn;
            let aid = msg.first_fid + k as u64;
            if !self.fx().attempts.is_open(aid) {
                continue;
            }
            let fid = self.fx().attempts.function_of(aid);
            let c = &mut self.containers[cid as usize];
            // Extra attempts go out right after their function's first record: the container
            // is announced closed after the highest function id it ran.
            c.last_fid = if c.last_fid == NONE {
                fid
            } else {
                c.last_fid.max(fid)
            };
            let core = if self.exclusive_cpu {
                c.core_of(k)
            } else {
                u32::MAX
            };
            let work_ns = self.arec(aid).work_ns;
            let (work, crash) = self.attempt_fate(aid, work_ns);
            let r = self.arec(aid);
            r.invoker = inv;
            r.container = id;
            r.container_slot = cid;
            r.cold = cold;
            r.t_ready = ready;
            r.t_start = t;
            r.cpu = core;
            remaining += 1;
            self.fx().running.insert(aid, (cid, crash.is_some()));
            if shared_cpu {
                self.fx()
                    .pending_work
                    .insert(aid, (crash.unwrap_or(work), crash.is_some()));
                self.q.push(t, Event::WorkerBegin(cid, k as u32, run));
            } else {
                let end = t + crash.unwrap_or(work);
                self.q.push(end, Event::WorkerEnd(cid, k as u32, run));
            }
        }
        self.containers[cid as usize].remaining = remaining;
        if remaining == 0 {
            // Nothing left to run in it: it is done once ready.
            self.q.push(ready.max(self.now), Event::ContainerDone(cid));
        }
    }

    /// Worker `k` of container `cid` (run `run`) ends: it completed, or crashed.
    pub(crate) fn worker_end(&mut self, cid: u32, k: u32, run: u32) {
        let c = &self.containers[cid as usize];
        if c.state != CState::Busy || c.run != run {
            return;
        }
        let aid = self.messages[c.msg as usize].first_fid + k as u64;
        self.attempt_ended(aid, false);
    }

    /// A CPU-shares worker `k` of container `cid` (run `run`) starts: it joins the invoker's
    /// sharer with the work its fate gave it.
    pub(crate) fn worker_begin(&mut self, cid: u32, k: u32, run: u32) {
        let c = &self.containers[cid as usize];
        if c.state != CState::Busy || c.run != run {
            return;
        }
        let aid = self.messages[c.msg as usize].first_fid + k as u64;
        let Some((work, _)) = self.fx().pending_work.remove(&aid) else {
            return;
        };
        let c = &self.containers[cid as usize];
        let inv = c.invoker as usize;
        let share = cpu_share(
            c.memory_mb / c.workers.max(1) as u64,
            self.invokers[inv].user_mem,
        );
        self.invokers[inv].sharer.add(self.now, aid, work, share);
        self.reschedule_cpu(inv);
    }

    /// The worker of attempt `aid` stopped by itself now: its container has one worker less
    /// running, and the attempt completed or crashed as its fate said.
    pub(crate) fn attempt_ended(&mut self, aid: u64, slowed: bool) {
        let Some((cid, crash)) = self.fx().running.remove(&aid) else {
            return;
        };
        let now = self.now;
        let r = self.arec(aid);
        r.t_end = now;
        r.cpu_shared = slowed;
        let m = self.containers[cid as usize].msg;
        self.worker_left(cid);
        if crash {
            self.stats.worker_crashes += 1;
            self.fail_attempts(&[aid], "worker crashed", Some(m));
        } else {
            self.attempt_ok(aid, m);
        }
    }

    /// One worker of busy container `cid` is gone; the container is done after its last.
    fn worker_left(&mut self, cid: u32) {
        let c = &mut self.containers[cid as usize];
        c.remaining -= 1;
        if c.remaining == 0 && c.state == CState::Busy {
            self.container_done(cid);
        }
    }

    /// Stops the worker of attempt `aid`, if it runs (its end time is now, or it never
    /// started).
    pub(crate) fn stop_worker(&mut self, aid: u64) {
        self.fx().pending_work.remove(&aid);
        let Some((cid, _)) = self.fx().running.remove(&aid) else {
            return;
        };
        let now = self.now;
        let r = self.arec(aid);
        if r.t_start != NONE && r.t_start <= now {
            r.t_end = now;
        } else {
            r.t_start = NONE;
        }
        let inv = self.containers[cid as usize].invoker as usize;
        if self.invokers[inv].sharer.remove(self.now, aid) {
            self.reschedule_cpu(inv);
        }
        self.worker_left(cid);
    }

    /// End of the engine phase of container `cid` created for a message: it may fail. Then
    /// the container is gone, its cores and memory are back, and the message's attempts fail
    /// at once. True when it failed.
    pub(crate) fn creation_failed(&mut self, cid: u32) -> bool {
        let c = &self.containers[cid as usize];
        if c.stem || c.state != CState::Creating {
            return false;
        }
        let inv = c.invoker as usize;
        if !self.creation_fails(inv) {
            return false;
        }
        self.stats.creation_failures += 1;
        let c = &mut self.containers[cid as usize];
        let (m, memory) = (c.msg, c.memory_mb);
        c.state = CState::Dead;
        c.run = c.run.wrapping_add(1);
        let cores = std::mem::take(&mut c.cores);
        let core = c.core;
        let workers = c.workers;
        let st = &mut self.invokers[inv];
        st.starting -= 1;
        st.used_mem -= memory;
        if self.exclusive_cpu {
            if workers == 1 {
                st.free_cores.push(core);
            } else {
                st.free_cores.extend(cores.into_iter().rev());
            }
        }
        self.fx().msgs[m as usize].over = true;
        self.release_message(m, false);
        let msg = self.messages[m as usize];
        let aids: Vec<u64> = (0..msg.workers as u64).map(|k| msg.first_fid + k).collect();
        for &aid in &aids {
            if self.fx().attempts.is_open(aid) {
                self.arec(aid).invoker = msg.invoker;
            }
        }
        self.fail_attempts(&aids, "container creation failed", Some(m));
        self.drain_buffer(inv);
        true
    }
}
