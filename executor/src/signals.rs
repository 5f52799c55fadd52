//! The one way burstsim processes react to SIGINT, SIGTERM and SIGHUP: `ctrlc` (with its
//! `termination` feature) runs a handler on a thread of its own, and the handler only sets a
//! flag that the process's main loop polls, so cleanup runs in ordinary code.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// This process's stop flag, set by SIGINT, SIGTERM or SIGHUP. The handler is installed on the
/// first call; later calls share the flag. When it cannot be installed, a warning says so and
/// the signals keep their default action (the process ends; the agent's reaper still cleans up).
pub fn stop_flag() -> Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let set = flag.clone();
        if let Err(e) = ctrlc::set_handler(move || set.store(true, Ordering::SeqCst)) {
            eprintln!("warning: cannot catch Ctrl-C/SIGTERM: {e}");
        }
        flag
    })
    .clone()
}

/// SIGINT, SIGTERM and SIGHUP no longer end this process (the reaper, which must outlive a
/// Ctrl-C to its agent's process group to clean up after it).
pub fn outlive_termination() -> Result<(), ctrlc::Error> {
    ctrlc::set_handler(|| {})
}
