//! The worker runtime inside a container. The dispatcher reads the container's payload, starts
//! one worker process per CPU in worker-id order, each pinned to its own CPU before it execs,
//! and prints one `DispatchReport`. Each worker reads its task, runs the function and prints
//! one `WorkerReport` with its timestamps and the CPU set it saw from inside. A worker that
//! crashes is reported with its exit code or signal; one the kernel killed for memory (the
//! container's cgroup counts an OOM kill) as `OOM-killed`. Workers offer themselves to the OOM
//! killer first (oom_score_adj 1000), so that the dispatcher survives to report them.

use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
use nix::unistd::Pid;
use policies::comm::CommLayout;
use policies::workload::FunctionInput;
use policies::{BurstInfo, WorkerInfo};

use crate::clock;
use crate::comm::pack::run_pack;
use crate::comm::CommJob;
use crate::error::{Context, Error, Result};
use crate::function;
use crate::payload::{ContainerPayload, DispatchReport, WorkerReport, WorkerTask};

/// Runs the dispatcher: payload on `input`, report on `output`. `worker_exe` is the binary that
/// runs one worker (`<exe> worker`).
pub fn dispatch(input: &mut dyn Read, output: &mut dyn Write, worker_exe: &Path) -> Result<()> {
    let t_ready = clock::now();
    let mut raw = String::new();
    input
        .read_to_string(&mut raw)
        .context("reading the container payload from stdin")?;
    let payload: ContainerPayload =
        crate::protocol::parse("container payload", &raw).map_err(Error::Protocol)?;
    if !payload.cpus.is_empty() && payload.cpus.len() != payload.inputs.len() {
        return Err(Error::Protocol(format!(
            "container payload: {} inputs but {} cpus",
            payload.inputs.len(),
            payload.cpus.len()
        )));
    }
    let burst_info = BurstInfo::from(&payload.layout);
    if let Some(job) = &payload.comm {
        let workers = run_steps(&payload, job, &burst_info);
        return write_report(output, &DispatchReport { t_ready, workers });
    }
    let oom_kills_before = oom_kills();
    let mut children: Vec<Result<Child, String>> = Vec::with_capacity(payload.inputs.len());
    for (i, input) in payload.inputs.iter().enumerate() {
        let worker_id = payload.first_worker + i as u32;
        let info = WorkerInfo {
            worker_id,
            container_id: payload.container_id,
            invoker_id: payload.invoker_id,
            burst_info: &burst_info,
        };
        let task = WorkerTask {
            worker_id,
            container_id: payload.container_id,
            invoker_id: payload.invoker_id,
            burst_info: serde_json::to_value(&info)?,
            input: *input,
            seed: payload.seed.wrapping_add(worker_id as u64),
        };
        let cpu = payload.cpus.get(i).copied();
        children.push(spawn_worker(worker_exe, &task, cpu).map_err(|e| e.to_string()));
    }
    let workers = children
        .into_iter()
        .map(|c| c.and_then(|child| collect_worker(child, oom_kills_before)))
        .collect();
    write_report(output, &DispatchReport { t_ready, workers })
}

fn write_report(output: &mut dyn Write, report: &DispatchReport) -> Result<()> {
    serde_json::to_writer(&mut *output, report)?;
    output
        .write_all(b"\n")
        .context("writing the dispatch report")?;
    output.flush().context("writing the dispatch report")?;
    Ok(())
}

/// A `steps` container: its workers run the program together, as pinned threads of this
/// process (`comm::pack`).
fn run_steps(
    payload: &ContainerPayload,
    job: &CommJob,
    burst_info: &BurstInfo,
) -> Vec<Result<WorkerReport, String>> {
    let n = payload.inputs.len();
    let layout = match job.faas_workers {
        // FaaS: every function of the burst is a pack of its own.
        Some(workers) => Ok(CommLayout::one_worker_per_pack(&vec![0; workers as usize])),
        None => CommLayout::from_burst_info(burst_info),
    };
    let layout = match layout {
        Ok(l) if job.draws.len() == n => l,
        Ok(_) => {
            let why = format!("{n} workers but {} draws", job.draws.len());
            return vec![Err(why); n];
        }
        Err(e) => return vec![Err(format!("burst layout: {e}")); n],
    };
    run_pack(
        job,
        layout,
        payload.first_worker,
        &payload.cpus,
        (payload.container_id, payload.invoker_id),
    )
}

fn spawn_worker(exe: &Path, task: &WorkerTask, cpu: Option<u32>) -> Result<Child> {
    let mut cmd = Command::new(exe);
    cmd.arg("worker")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(cpu) = cpu {
        let mut set = CpuSet::new();
        set.set(cpu as usize)
            .map_err(|_| Error::Protocol(format!("cpu {cpu} out of range")))?;
        // Pinned between fork and exec, so the worker never runs elsewhere.
        // SAFETY: the closure runs in the forked child before exec, where only
        // async-signal-safe calls are allowed: it makes one sched_setaffinity(2) system call on
        // a CPU set copied into the closure beforehand and converts its errno into an io::Error
        // (`from_raw_os_error`, no allocation); it takes no lock and allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                sched_setaffinity(Pid::from_raw(0), &set).map_err(std::io::Error::from)
            });
        }
    }
    let mut child = cmd
        .spawn()
        .with_context(|| format!("spawning worker {}", task.worker_id))?;
    let mut stdin = child.stdin.take().expect("stdin is piped above");
    serde_json::to_writer(&mut stdin, task)?;
    drop(stdin);
    Ok(child)
}

/// Waits for a worker and returns its report, or why it failed: its exit code, the signal
/// that killed it, or `OOM-killed` when the container's cgroup counts more OOM kills than it
/// did before the workers started (`oom_kills_before`).
fn collect_worker(child: Child, oom_kills_before: Option<u64>) -> Result<WorkerReport, String> {
    let out = child
        .wait_with_output()
        .map_err(|e| format!("waiting for a worker: {e}"))?;
    if let Some(code) = out.status.code() {
        if code != 0 {
            // Its stderr is the container's (inherited): the agent's log has it.
            return Err(format!("worker exited with code {code}"));
        }
    } else if let Some(signal) = out.status.signal() {
        let name = nix::sys::signal::Signal::try_from(signal)
            .map(|s| s.as_str().to_string())
            .unwrap_or_else(|_| format!("signal {signal}"));
        let oom = matches!((oom_kills_before, oom_kills()), (Some(b), Some(a)) if a > b);
        if signal == nix::libc::SIGKILL && oom {
            return Err(match memory_limit_mb() {
                Some(mb) => format!("OOM-killed (the container's memory limit is {mb} MB)"),
                None => "OOM-killed".to_string(),
            });
        }
        return Err(format!("worker killed by {name}"));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    crate::protocol::parse("worker report", text.trim())
}

/// The OOM kills counted by this process's memory cgroup: `oom_kill` of memory.events (cgroup
/// v2) or of memory.oom_control (v1), looked up where the container's cgroup namespace shows
/// its own cgroup (/sys/fs/cgroup) or by the path in /proc/self/cgroup. `None` when no cgroup
/// file says.
pub fn oom_kills() -> Option<u64> {
    memory_cgroup_files(&["memory.events", "memory.oom_control"])
        .into_iter()
        .find_map(|text| {
            text.lines().find_map(|l| {
                l.strip_prefix("oom_kill ")
                    .and_then(|n| n.trim().parse().ok())
            })
        })
}

/// The memory limit of this process's cgroup, MB, when it has one.
fn memory_limit_mb() -> Option<u64> {
    memory_cgroup_files(&["memory.max", "memory.limit_in_bytes"])
        .into_iter()
        .find_map(|text| text.trim().parse::<u64>().ok())
        .filter(|&bytes| bytes < 1 << 60)
        .map(|bytes| bytes >> 20)
}

/// The contents of the first of `names` found in this process's memory cgroup directory.
fn memory_cgroup_files(names: &[&str]) -> Vec<String> {
    let mut dirs = vec![
        std::path::PathBuf::from("/sys/fs/cgroup"),
        std::path::PathBuf::from("/sys/fs/cgroup/memory"),
    ];
    // Without a cgroup namespace, the cgroup's own path under each mount.
    if let Ok(text) = std::fs::read_to_string("/proc/self/cgroup") {
        for line in text.lines() {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next(), parts.next(), parts.next());
            let path = path.unwrap_or("/").trim_start_matches('/');
            match controllers {
                Some("") => dirs.push(std::path::PathBuf::from("/sys/fs/cgroup").join(path)),
                Some(c) if c.split(',').any(|c| c == "memory") => {
                    dirs.push(std::path::PathBuf::from("/sys/fs/cgroup/memory").join(path))
                }
                _ => {}
            }
        }
    }
    dirs.iter()
        .flat_map(|d| names.iter().map(move |n| d.join(n)))
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .collect()
}

/// Runs one worker: task on `input`, report on `output`.
pub fn worker(input: &mut dyn Read, output: &mut dyn Write) -> Result<()> {
    let t_start = clock::now();
    // The OOM killer's first choice in the container is a worker, never the dispatcher that
    // reports it (raising one's own score needs no privilege; where /proc is read-only, the
    // kernel's own choice stands).
    let _ = std::fs::write("/proc/self/oom_score_adj", "1000");
    let mut raw = String::new();
    input
        .read_to_string(&mut raw)
        .context("reading the worker task from stdin")?;
    let task: WorkerTask = crate::protocol::parse("worker task", &raw).map_err(Error::Protocol)?;
    // The worker knows itself from the burst info, as the thesis runtime does.
    let me = |k: &str| task.burst_info.get(k).and_then(|v| v.as_u64());
    let (Some(worker_id), Some(container_id), Some(invoker_id)) =
        (me("worker_id"), me("container_id"), me("invoker_id"))
    else {
        return Err(Error::Protocol(
            "worker task: burst_info lacks worker_id/container_id/invoker_id".into(),
        ));
    };
    if task.input == FunctionInput::Steps {
        return Err(Error::Protocol(
            "worker task: a step program runs in its pack's dispatcher, not as a worker process"
                .into(),
        ));
    }
    let affinity = current_affinity();
    let t_fn_start = clock::now();
    let value = function::run(&task.input, task.seed);
    let t_fn_end = clock::now();
    let report = WorkerReport {
        worker_id: worker_id as u32,
        container_id,
        invoker_id: invoker_id as u32,
        t_start,
        t_fn_start,
        t_fn_end,
        affinity,
        output: value,
        steps: Vec::new(),
    };
    serde_json::to_writer(&mut *output, &report)?;
    output.flush().context("writing the worker report")?;
    Ok(())
}

/// The CPUs this process may run on.
pub fn current_affinity() -> Vec<u32> {
    match sched_getaffinity(Pid::from_raw(0)) {
        Ok(set) => (0..CpuSet::count())
            .filter(|&c| set.is_set(c).unwrap_or(false))
            .map(|c| c as u32)
            .collect(),
        Err(_) => Vec::new(),
    }
}
