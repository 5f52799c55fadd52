//! Cleanup of an agent's containers (any backend), bundles, cgroups and worker processes. The agent runs it
//! at start (leftovers of a crashed predecessor) and at exit; a separate reaper process,
//! started by the agent and blocked on a pipe from it, runs it when the agent dies, even by
//! SIGKILL (the pipe closes).

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::backend::{self, Backend};
use crate::bundle::CGROUP_PARENT;
use crate::error::{Error, Result};

/// What was removed, for logs and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Cleaned {
    pub containers: usize,
    pub bundles: usize,
    pub cgroups: usize,
}

/// The cgroup directories of containers whose id starts with `prefix`, over every hierarchy.
pub fn leftover_cgroups(prefix: &str) -> Vec<PathBuf> {
    let mut parents = vec![PathBuf::from("/sys/fs/cgroup").join(CGROUP_PARENT)];
    if let Ok(entries) = fs::read_dir("/sys/fs/cgroup") {
        for e in entries.flatten() {
            parents.push(e.path().join(CGROUP_PARENT));
        }
    }
    let mut found = Vec::new();
    for p in parents {
        if let Ok(entries) = fs::read_dir(&p) {
            for e in entries.flatten() {
                if e.path().is_dir() && e.file_name().to_string_lossy().starts_with(prefix) {
                    found.push(e.path());
                }
            }
        }
    }
    found
}

/// Removes every container, bundle and cgroup whose id starts with `prefix`.
pub fn cleanup(backend: &dyn Backend, prefix: &str, bundles_dir: &Path) -> Cleaned {
    let mut cleaned = Cleaned::default();
    match backend.list() {
        Err(e) => eprintln!("cleanup: {e}"),
        Ok(ids) => {
            for id in ids.iter().filter(|id| id.starts_with(prefix)) {
                match backend.remove(id) {
                    Ok(()) => cleaned.containers += 1,
                    Err(e) => eprintln!("cleanup: {e}"),
                }
            }
        }
    }
    if let Ok(entries) = fs::read_dir(bundles_dir) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(prefix)
                && fs::remove_dir_all(e.path()).is_ok()
            {
                cleaned.bundles += 1;
            }
        }
    }
    // A container whose runtime state was lost still has its cgroup: kill what is in it.
    for dir in leftover_cgroups(prefix) {
        if let Ok(procs) = fs::read_to_string(dir.join("cgroup.procs")) {
            for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        for _ in 0..50 {
            if fs::remove_dir(&dir).is_ok() || !dir.exists() {
                cleaned.cgroups += 1;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    cleaned
}

/// `burstsim-worker reap --runtime BIN|docker --prefix P --bundles DIR`: waits for EOF on stdin
/// (the agent holds the other end), then cleans up.
pub fn reap_main(args: &[String]) -> Result<()> {
    let mut runtime = None;
    let mut prefix = None;
    let mut bundles = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let v = it.next().cloned();
        match a.as_str() {
            "--runtime" => runtime = v,
            "--prefix" => prefix = v,
            "--bundles" => bundles = v,
            other => return Err(Error::input(format!("reap: unknown argument `{other}`"))),
        }
    }
    let (Some(runtime), Some(prefix), Some(bundles)) = (runtime, prefix, bundles) else {
        return Err(Error::input(
            "reap: expected --runtime BIN --prefix P --bundles DIR",
        ));
    };
    if prefix.len() < 4 {
        return Err(Error::input(format!(
            "reap: prefix `{prefix}` too short to be safe"
        )));
    }
    // Ctrl-C to the agent's process group must not kill the reaper before it cleans up.
    if let Err(e) = crate::signals::outlive_termination() {
        eprintln!("reaper: cannot catch Ctrl-C/SIGTERM ({e}): a signal may end it early");
    }
    let _ = nix::unistd::setsid();
    let mut sink = [0u8; 64];
    let mut stdin = std::io::stdin();
    loop {
        match stdin.read(&mut sink) {
            Ok(0) => break,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    let bundles = PathBuf::from(bundles);
    let dir = bundles.parent().unwrap_or(Path::new("/"));
    let backend = backend::open_for_reaper(&runtime, dir)?;
    let c = cleanup(backend.as_ref(), &prefix, &bundles);
    if c != Cleaned::default() {
        eprintln!(
            "reaper: agent gone; removed {} containers, {} bundles, {} cgroups",
            c.containers, c.bundles, c.cgroups
        );
    }
    Ok(())
}
