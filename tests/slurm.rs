//! The Slurm job-array example (`examples/slurm/`) on a real single-node Slurm: the test writes
//! a minimal slurm.conf for this host, starts munged, slurmctld and slurmd itself (no systemd),
//! submits the quick granularity sweep's shards as a job array and the merge as a dependent
//! job, and checks the merged table equals the unsharded sweep byte for byte. Every daemon it
//! started is stopped and its folder removed, also when the test fails; every wait is bounded.
//! Without root or the Debian packages `slurm-wlm` and `munge` it is skipped, counted as such
//! (`executor::skip`), and fails under `BURSTSIM_REQUIRE_LIVE=1` (`.ci/run` installs them, so CI
//! runs it).

use std::fs;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SWEEP: &str = "configs/sweeps/granularity-quick.toml";
const SHARDS: u32 = 3;
const TOOLS: [&str; 8] = [
    "munged",
    "slurmctld",
    "slurmd",
    "sbatch",
    "squeue",
    "scontrol",
    "scancel",
    "sinfo",
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The full path of `tool` on PATH or in the sbin folders, if installed.
fn find(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|uid| uid == "0"))
        })
        .unwrap_or(false)
}

/// Why the test cannot run here, if it cannot.
fn missing_prerequisite() -> Option<String> {
    if !is_root() {
        return Some("not root (slurmd and munged run as root here)".into());
    }
    let missing: Vec<&str> = TOOLS
        .iter()
        .copied()
        .filter(|t| find(t).is_none())
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "{} not installed (Debian packages slurm-wlm and munge)",
            missing.join(", ")
        )
    })
}

/// A free TCP port on loopback (bound, then released for the daemon).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn short_hostname() -> String {
    let out = Command::new("hostname").arg("-s").output();
    match out {
        Ok(o) if o.status.success() && !o.stdout.trim_ascii().is_empty() => {
            String::from_utf8_lossy(o.stdout.trim_ascii()).into_owned()
        }
        _ => fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "localhost".into()),
    }
}

/// A private Slurm cluster of one node: the daemons this test started and their folder.
/// Dropping it cancels every job, stops the daemons and removes the folder.
struct Cluster {
    dir: tempfile::TempDir,
    conf: PathBuf,
    daemons: Vec<(&'static str, Child)>,
}

impl Cluster {
    fn start() -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("burstsim-slurm-")
            .tempdir()
            .expect("temp dir");
        let mut cluster = Cluster {
            conf: dir.path().join("slurm.conf"),
            dir,
            daemons: Vec::new(),
        };
        let root = cluster.dir.path().to_path_buf();
        for sub in ["munge", "state", "spool", "log"] {
            fs::create_dir_all(root.join(sub)).unwrap();
        }
        // munged wants its key private and its socket folder reachable by everyone.
        let key = root.join("munge/munge.key");
        let mut bytes = vec![0u8; 1024];
        fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut bytes))
            .expect("random key");
        fs::write(&key, &bytes).unwrap();
        chmod(&key, 0o600);
        chmod(&root.join("munge"), 0o711);
        let socket = root.join("munge/munge.socket");
        let munged = Command::new(find("munged").unwrap())
            .arg("--foreground")
            .arg("--force")
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--key-file={}", key.display()))
            .arg(format!(
                "--pid-file={}",
                root.join("munge/munged.pid").display()
            ))
            .arg(format!(
                "--log-file={}",
                root.join("log/munged.log").display()
            ))
            .arg(format!(
                "--seed-file={}",
                root.join("munge/munged.seed").display()
            ))
            .stdin(Stdio::null())
            .stdout(log_file(&root, "munged.out"))
            .stderr(log_file(&root, "munged.err"))
            .spawn()
            .expect("start munged");
        cluster.daemons.push(("munged", munged));
        cluster.wait_for("munged's socket", Duration::from_secs(15), || {
            socket.exists()
        });

        let host = short_hostname();
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let conf = format!(
            "ClusterName=burstsim-test\n\
             SlurmctldHost={host}(127.0.0.1)\n\
             SlurmctldPort={ctld_port}\n\
             SlurmdPort={d_port}\n\
             SlurmUser=root\n\
             SlurmdUser=root\n\
             AuthType=auth/munge\n\
             CredType=cred/munge\n\
             AuthInfo=socket={socket}\n\
             StateSaveLocation={root}/state\n\
             SlurmdSpoolDir={root}/spool\n\
             SlurmctldPidFile={root}/slurmctld.pid\n\
             SlurmdPidFile={root}/slurmd.pid\n\
             SlurmctldLogFile={root}/log/slurmctld.log\n\
             SlurmdLogFile={root}/log/slurmd.log\n\
             ProctrackType=proctrack/linuxproc\n\
             TaskPlugin=task/none\n\
             SelectType=select/cons_tres\n\
             SelectTypeParameters=CR_CPU\n\
             MpiDefault=none\n\
             JobAcctGatherType=jobacct_gather/none\n\
             AccountingStorageType=accounting_storage/none\n\
             SwitchType=switch/none\n\
             ReturnToService=2\n\
             SchedulerType=sched/backfill\n\
             NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN\n\
             PartitionName=test Nodes={host} Default=YES MaxTime=INFINITE State=UP\n",
            ctld_port = free_port(),
            d_port = free_port(),
            socket = socket.display(),
            root = root.display(),
        );
        fs::write(&cluster.conf, conf).unwrap();
        for daemon in ["slurmctld", "slurmd"] {
            let child = Command::new(find(daemon).unwrap())
                .arg("-D")
                .arg("-f")
                .arg(&cluster.conf)
                .env("SLURM_CONF", &cluster.conf)
                .stdin(Stdio::null())
                .stdout(log_file(&root, &format!("{daemon}.out")))
                .stderr(log_file(&root, &format!("{daemon}.err")))
                .spawn()
                .unwrap_or_else(|e| panic!("start {daemon}: {e}"));
            cluster.daemons.push((daemon, child));
        }
        cluster.wait_for("the node to be idle", Duration::from_secs(60), || {
            cluster
                .slurm("sinfo", &["-h", "-o", "%t"])
                .is_some_and(|s| s.trim() == "idle")
        });
        cluster
    }

    /// Runs Slurm client `tool` against this cluster; its stdout when it succeeds.
    fn slurm(&self, tool: &str, args: &[&str]) -> Option<String> {
        let out = Command::new(find(tool)?)
            .args(args)
            .env("SLURM_CONF", &self.conf)
            .stdin(Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Submits `script args` from the repository root; returns the job id.
    fn sbatch(&self, options: &[String], script: &str, args: &[&str]) -> String {
        let bin = env!("CARGO_BIN_EXE_burstsim");
        let out = Command::new(find("sbatch").unwrap())
            .arg("--parsable")
            .arg(format!("--chdir={}", repo().display()))
            .arg(format!("--export=ALL,BURSTSIM_BIN={bin}"))
            // The example asks for 4 CPUs and 4 GB per task: too much for a CI machine.
            .args(["--cpus-per-task=1", "--mem=0"])
            .args(options)
            .arg(script)
            .args(args)
            .env("SLURM_CONF", &self.conf)
            .current_dir(repo())
            .stdin(Stdio::null())
            .output()
            .expect("run sbatch");
        assert!(
            out.status.success(),
            "sbatch {script} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.logs()
        );
        let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
        id.split(';').next().unwrap_or_default().to_string()
    }

    /// The state of every job (array task) of `job`, once none is pending or running.
    fn wait_job(&self, job: &str, limit: Duration) -> Vec<String> {
        let start = Instant::now();
        loop {
            let states: Vec<String> = self
                .slurm("scontrol", &["show", "job", "-o", job])
                .unwrap_or_default()
                .lines()
                .filter_map(|l| {
                    l.split_whitespace()
                        .find_map(|f| f.strip_prefix("JobState="))
                        .map(String::from)
                })
                .collect();
            let busy = [
                "PENDING",
                "RUNNING",
                "CONFIGURING",
                "COMPLETING",
                "REQUEUED",
            ];
            if !states.is_empty() && states.iter().all(|s| !busy.contains(&s.as_str())) {
                return states;
            }
            assert!(
                start.elapsed() < limit,
                "job {job} not finished after {limit:?} (states {states:?})\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn wait_for(&self, what: &str, limit: Duration, ready: impl Fn() -> bool) {
        let start = Instant::now();
        while !ready() {
            assert!(
                start.elapsed() < limit,
                "timed out waiting for {what}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The tail of every log and job output, for failure messages.
    fn logs(&self) -> String {
        let mut out = String::new();
        for folder in [self.dir.path().join("log"), self.dir.path().join("jobs")] {
            let Ok(entries) = fs::read_dir(&folder) else {
                continue;
            };
            for entry in entries.flatten() {
                let text = fs::read_to_string(entry.path()).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(15).collect();
                out.push_str(&format!("--- {}\n", entry.path().display()));
                for line in tail.into_iter().rev() {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        out
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Jobs first, so that no job step outlives its slurmd.
        if let Some(jobs) = self.slurm("squeue", &["-h", "-o", "%A"]) {
            let ids: Vec<&str> = jobs.split_whitespace().collect();
            if !ids.is_empty() {
                let mut args = vec!["--full"];
                args.extend(ids);
                let _ = self.slurm("scancel", &args);
                let start = Instant::now();
                while start.elapsed() < Duration::from_secs(20)
                    && self
                        .slurm("squeue", &["-h", "-o", "%A"])
                        .is_some_and(|s| !s.trim().is_empty())
                {
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
        // Then the daemons, newest first: SIGTERM, and SIGKILL after 10 s.
        while let Some((name, mut child)) = self.daemons.pop() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let start = Instant::now();
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if start.elapsed() < Duration::from_secs(10) => {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    _ => {
                        eprintln!("{name} ignored SIGTERM for 10 s: killing it");
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                }
            }
        }
    }
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn log_file(root: &Path, name: &str) -> Stdio {
    Stdio::from(fs::File::create(root.join("log").join(name)).unwrap())
}

#[test]
fn slurm_job_array_equals_the_unsharded_sweep() {
    if let Some(why) = missing_prerequisite() {
        executor::skip::skip_live_test(&why);
        return;
    }
    let cluster = Cluster::start();
    let root = cluster.dir.path().to_path_buf();
    fs::create_dir_all(root.join("jobs")).unwrap();
    let out = root.join("sweep");
    let out_arg = out.display().to_string();
    let array = cluster.sbatch(
        &[
            format!("--array=0-{}", SHARDS - 1),
            format!("--output={}/jobs/sweep-%A_%a.out", root.display()),
        ],
        "examples/slurm/sweep-array.sh",
        &[SWEEP, &out_arg],
    );
    let merge = cluster.sbatch(
        &[
            format!("--dependency=afterok:{array}"),
            format!("--output={}/jobs/merge-%j.out", root.display()),
        ],
        "examples/slurm/merge.sh",
        &[SWEEP, &out_arg],
    );
    let shards = cluster.wait_job(&array, Duration::from_secs(300));
    assert_eq!(shards.len(), SHARDS as usize, "{shards:?}");
    assert!(
        shards.iter().all(|s| s == "COMPLETED"),
        "array tasks: {shards:?}\n{}",
        cluster.logs()
    );
    let merged = cluster.wait_job(&merge, Duration::from_secs(120));
    assert_eq!(merged, vec!["COMPLETED"], "{}", cluster.logs());
    for i in 0..SHARDS {
        assert!(out
            .join(format!("shard-{i}-of-{SHARDS}/rows.jsonl"))
            .is_file());
    }

    // The same sweep on one machine, without Slurm.
    let whole = root.join("whole");
    let status = Command::new(env!("CARGO_BIN_EXE_burstsim"))
        .args(["sweep", "--quiet", "--config", SWEEP, "--out"])
        .arg(&whole)
        .current_dir(repo())
        .status()
        .unwrap();
    assert!(status.success());
    for table in ["runs.csv", "runs.parquet"] {
        let a = fs::read(out.join(table)).unwrap();
        let b = fs::read(whole.join(table)).unwrap();
        assert!(
            a == b,
            "{table}: merged shards differ from the unsharded sweep"
        );
    }
    let rows = fs::read_to_string(out.join("runs.csv"))
        .unwrap()
        .lines()
        .count();
    assert_eq!(rows, 1 + 12, "header + 3 granularities x 2 sizes x 2 seeds");
}
