//! Wall-clock time shared by the controller, agents and workers (CLOCK_REALTIME): on one machine
//! all sides read the same clock; across nodes it is as good as their NTP sync.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, from CLOCK_REALTIME.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// CPU time consumed by the calling thread, in seconds (CLOCK_THREAD_CPUTIME_ID).
pub fn thread_cpu_time() -> f64 {
    match nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID) {
        Ok(ts) => ts.tv_sec() as f64 + ts.tv_nsec() as f64 * 1e-9,
        Err(_) => 0.0,
    }
}
