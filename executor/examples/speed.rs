//! Speed of the executor's pieces, for the README (needs root, runc and redis-server):
//! container cold start through the executor's path (bundle generation + `runc run` until the
//! dispatcher runs) vs a bare `runc run` of the same, pre-written bundle; per-worker dispatch
//! inside a container; and the controller's time to plan and submit a 1,000-worker burst. The
//! same cold start through crun and Docker when they are installed (Docker: engine running).
//!
//! `cargo run --release -p executor --example speed [ROUNDS]`

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use executor::bundle::{self, ContainerSpec};
use executor::clock;
use executor::payload::{ContainerPayload, DispatchReport, Layout};
use executor::protocol::{AgentMsg, BurstJob};
use executor::runtime::{feed_and_wait, Runtime, RuntimeKind};
use executor::transport::Broker;
use policies::workload::FunctionInput;
use policies::{
    ActionKind, ActionRef, BurstInfo, ClusterView, InvokerView, PlacementRequest, PolicySpec,
};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn payload(workers: u32, cpus: Vec<u32>) -> Vec<u8> {
    let p = ContainerPayload {
        container_id: 0,
        invoker_id: 0,
        first_worker: 0,
        layout: Layout {
            burst_id: 0,
            containers: vec![(0, 0, 0, workers - 1)],
        },
        inputs: vec![FunctionInput::Sleep { seconds: 0.0 }; workers as usize],
        cpus,
        seed: 0,
        comm: None,
    };
    serde_json::to_vec(&p).unwrap()
}

fn report(out: &std::process::Output) -> DispatchReport {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Median cold start to dispatcher ready through `kind`'s backend, and through its bare CLI
/// (`crun run` of the runc bundle, `docker run -i` of the same image and mounts).
fn other_backend(
    kind: RuntimeKind,
    rounds: usize,
    dir: &Path,
    worker: &Path,
    bundle: &Path,
) -> Result<(f64, f64)> {
    let be = executor::backend::open(
        kind,
        &dir.join(format!("{kind:?}")),
        worker,
        &[("burstsim.cluster".into(), "speed".into())],
        std::time::Duration::from_secs(60),
    )?;
    let (mut exec_path, mut bare) = (Vec::new(), Vec::new());
    for i in 0..rounds {
        let id = format!("bs-speed-{kind:?}-x{i}").to_lowercase();
        let spec = ContainerSpec {
            id,
            cpus: Some(vec![0]),
            cpu_shares: None,
            memory_mb: 256,
            args: vec!["dispatch".into()],
            network: false,
        };
        let t0 = clock::now();
        let out = be.run_dispatch(&spec, &payload(1, vec![0]))?;
        exec_path.push(report(&out).t_ready - t0);

        let id = format!("bs-speed-{kind:?}-b{i}").to_lowercase();
        let mut cmd = match kind {
            RuntimeKind::Docker => {
                let mut c = Command::new("docker");
                c.args(["run", "--rm", "-i", "--network", "none", "--read-only"]);
                c.args(["--cpuset-cpus", "0", "-m", "256m", "--name", &id]);
                for d in ["/usr", "/lib", "/lib64", "/bin"] {
                    c.args(["-v", &format!("{d}:{d}:ro")]);
                }
                c.args(["-v", &format!("{}:/burstsim-worker:ro", worker.display())]);
                c.args(["burstsim-rootfs:1", "/burstsim-worker", "dispatch"]);
                c
            }
            _ => {
                let mut c = Command::new(kind.binary());
                c.args(["run", "--bundle"]).arg(bundle).arg(&id);
                c
            }
        };
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let t0 = clock::now();
        let out = feed_and_wait(cmd.spawn()?, &payload(1, vec![0]))?;
        bare.push(report(&out).t_ready - t0);
        if kind != RuntimeKind::Docker {
            Runtime::new(kind).delete(&id)?;
        }
    }
    Ok((median(exec_path), median(bare)))
}

/// Where the example and its containers work: a rootfs and a bundles directory.
struct Setup {
    rounds: usize,
    worker: PathBuf,
    dir: tempfile::TempDir,
    rootfs: PathBuf,
    bundles: PathBuf,
}

fn spec(id: String) -> ContainerSpec {
    ContainerSpec {
        id,
        cpus: Some(vec![0]),
        cpu_shares: None,
        memory_mb: 256,
        args: vec!["dispatch".into()],
        network: false,
    }
}

fn main() -> Result<()> {
    if let Some(why) = executor::local::missing_prerequisites() {
        println!("skipped: {why}");
        return Ok(());
    }
    let rounds: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(20);
    let exe = std::env::current_exe()?;
    let worker = exe
        .parent()
        .and_then(|p| p.parent())
        .map(|p| p.join("burstsim-worker"))
        .filter(|p| p.is_file())
        .expect("build burstsim-worker first (cargo build --release -p executor)");
    let dir = tempfile::tempdir()?;
    let rootfs = bundle::prepare_rootfs(dir.path())?;
    let bundles = dir.path().join("bundles");
    let setup = Setup {
        rounds,
        worker,
        dir,
        rootfs,
        bundles,
    };
    let bare_dir = runc_cold_start(&setup)?;
    other_backends(&setup, &bare_dir);
    per_worker_dispatch(&setup)?;
    controller_submit(rounds)
}

/// Cold start: executor path vs bare runc run, alternating to share machine noise. Returns
/// the bare run's bundle (the other backends' bare CLI runs use it too).
fn runc_cold_start(s: &Setup) -> Result<PathBuf> {
    let rt = Runtime::new(RuntimeKind::Runc);
    let mut exec_path = Vec::new();
    let mut bare = Vec::new();
    let bare_dir = bundle::write_bundle(
        &s.bundles,
        &s.rootfs,
        &s.worker,
        &spec("bs-speed-bare".into()),
    )?;
    for i in 0..s.rounds {
        let id = format!("bs-speed-x{i}");
        let t0 = clock::now();
        let b = bundle::write_bundle(&s.bundles, &s.rootfs, &s.worker, &spec(id.clone()))?;
        let out = feed_and_wait(rt.spawn_run(&id, &b)?, &payload(1, vec![0]))?;
        exec_path.push(report(&out).t_ready - t0);
        rt.delete(&id)?;
        std::fs::remove_dir_all(&b)?;

        let id = format!("bs-speed-b{i}");
        let t0 = clock::now();
        let child = Command::new("runc")
            .args(["run", "--bundle"])
            .arg(&bare_dir)
            .arg(&id)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let out = feed_and_wait(child, &payload(1, vec![0]))?;
        bare.push(report(&out).t_ready - t0);
        rt.delete(&id)?;
    }
    let (e, b) = (median(exec_path), median(bare));
    println!(
        "cold start to dispatcher ready (median of {}): executor {:.1} ms, bare runc run {:.1} ms, ratio {:.2}",
        s.rounds,
        e * 1e3,
        b * 1e3,
        e / b
    );
    Ok(bare_dir)
}

/// The other backends: the executor's path (`Backend::run_dispatch`) vs the bare CLI.
fn other_backends(s: &Setup, bare_dir: &Path) {
    let rounds = s.rounds;
    for kind in [RuntimeKind::Crun, RuntimeKind::Docker] {
        if let Some(why) = executor::local::missing_prerequisites_for(kind) {
            println!("{kind:?}: skipped ({why})");
            continue;
        }
        match other_backend(kind, rounds, s.dir.path(), &s.worker, bare_dir) {
            Ok((e, b)) => println!(
                "{kind:?} cold start to dispatcher ready (median of {rounds}): executor {:.1} ms, \
                 bare {:.1} ms, ratio {:.2}",
                e * 1e3,
                b * 1e3,
                e / b
            ),
            Err(err) => println!("{kind:?}: skipped ({err})"),
        }
    }
}

/// Per-worker dispatch inside one container of W workers.
fn per_worker_dispatch(s: &Setup) -> Result<()> {
    let rt = Runtime::new(RuntimeKind::Runc);
    let cores = executor::cluster::physical_cores();
    let w = 16u32;
    let cpus: Vec<u32> = (0..w).map(|i| i % cores).collect();
    let mut per_worker = Vec::new();
    for i in 0..s.rounds.min(10) {
        let id = format!("bs-speed-w{i}");
        let mut spec = spec(id.clone());
        spec.cpus = Some((0..cores).collect());
        let b = bundle::write_bundle(&s.bundles, &s.rootfs, &s.worker, &spec)?;
        let out = feed_and_wait(rt.spawn_run(&id, &b)?, &payload(w, cpus.clone()))?;
        let r = report(&out);
        let last = r
            .workers
            .iter()
            .filter_map(|x| x.as_ref().ok())
            .map(|x| x.t_start)
            .fold(0.0, f64::max);
        per_worker.push((last - r.t_ready) / w as f64);
        rt.delete(&id)?;
        std::fs::remove_dir_all(&b)?;
    }
    println!(
        "per-worker dispatch ({w} pinned workers in one container): {:.2} ms per worker",
        median(per_worker) * 1e3
    );
    Ok(())
}

/// Controller: plan and submit a 1,000-worker burst (4 invokers x 250 CPUs, granularity 25).
fn controller_submit(rounds: usize) -> Result<()> {
    let port = executor::local::free_port()?;
    let mut redis = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .spawn()?;
    let url = format!("redis://127.0.0.1:{port}");
    let mut broker = loop {
        if let Ok(b) = Broker::connect(&url, "speed", std::time::Duration::from_millis(200)) {
            break b;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let times = plan_and_submit(&mut broker, rounds);
    let _ = redis.kill();
    let _ = redis.wait();
    println!(
        "controller plan + submit of a 1,000-worker burst (40 containers): {:.2} ms (median of {rounds})",
        median(times?) * 1e3
    );
    Ok(())
}

/// Seconds to plan and submit the 1,000-worker burst, once per round.
fn plan_and_submit(broker: &mut Broker, rounds: usize) -> Result<Vec<f64>> {
    let view = ClusterView {
        invokers: (0..4)
            .map(|id| InvokerView {
                id,
                total_cpus: 250,
                free_cpus: 250,
                user_memory_mb: 1 << 20,
                free_memory_mb: 1 << 20,
                healthy: true,
            })
            .collect(),
    };
    let policy = PolicySpec::BurstHomogeneous {
        granularity: 25,
        join: false,
    }
    .build();
    let inputs = vec![FunctionInput::Sleep { seconds: 1.0 }; 1000];
    let mut times = Vec::new();
    for round in 0..rounds {
        let t = Instant::now();
        let req = PlacementRequest {
            request_id: round as u64,
            action: ActionRef {
                namespace: "s".into(),
                name: "f".into(),
                memory_mb: 256,
                kind: ActionKind::Docker,
            },
            workers: 1000,
        };
        let plan = policy.place(&req, &view)?;
        let cids: Vec<u64> = (0..plan.containers.len() as u64).collect();
        let layout = Layout::from(&BurstInfo::from_plan(0, &plan, &cids));
        for (c, &cid) in plan.containers.iter().zip(&cids) {
            let lo = c.first_worker as usize;
            let msg = AgentMsg::Burst(BurstJob {
                run_id: "speed".into(),
                job_id: cid,
                container_id: cid,
                first_worker: c.first_worker,
                layout: layout.clone(),
                inputs: inputs[lo..lo + c.workers as usize].to_vec(),
                memory_mb: 256,
                seed: 0,
                comm: None,
            });
            let key = broker.queue_key(c.invoker);
            broker.push(&key, &serde_json::to_string(&msg)?)?;
        }
        times.push(t.elapsed().as_secs_f64());
        for i in 0..4 {
            broker.delete(&broker.queue_key(i))?;
        }
    }
    Ok(times)
}
