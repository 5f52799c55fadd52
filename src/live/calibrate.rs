//! `burstsim calibrate`: measures a cluster through the executor itself and writes a simulator
//! profile (the `[queue]`, `[controller]` and `[invoker]` keys of a config, to `include`).
//!
//! Measured: queue latency (controller submit to agent receipt), container creation alone and
//! with one creation per CPU of an invoker at once (fitted as linear contention), warm start
//! (FaaS reuse), and the in-container dispatcher's payload time and per-worker spawn time.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;
use executor::controller::{Controller, LiveBurst, LiveRun, OnNoCapacity, RunOutcome};
use executor::ClusterFile;
use policies::workload::FunctionInput;
use policies::{ActionKind, ActionRef, FunctionRecord, PolicySpec, RecoverySpec};

use crate::report::percentile;
use crate::Error;

#[derive(Debug, Clone, Args)]
pub struct CalibrateArgs {
    /// The cluster file.
    #[arg(long, value_name = "FILE")]
    pub cluster: PathBuf,
    /// Where to write the profile, e.g. configs/profiles/NAME.toml.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Samples per measurement.
    #[arg(long, default_value_t = 8)]
    pub samples: u32,
    /// Write a communication-backend profile (`[network.backend]`, as configs/profiles/comm/)
    /// fitted to live `comm-bench` runs instead; the rows, experiment configs and fit spec go
    /// to `<out dir>/<out stem>-bench/`.
    #[arg(long)]
    pub comm: bool,
    /// With --comm: fit the rows already in the bench folder instead of measuring again.
    #[arg(long, requires = "comm")]
    pub reuse: bool,
    /// With --comm: what to measure.
    #[command(flatten)]
    pub bench: super::comm_bench::BenchPlan,
}

/// The measured figures (seconds).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Calibration {
    pub queue_latency: Vec<f64>,
    pub create_solo: Vec<f64>,
    /// (concurrent creations on one invoker, mean creation time), FaaS containers.
    pub create_concurrent: (u32, f64),
    /// Mean creation time of a FaaS container alone (the reference for `create_concurrent`).
    pub create_concurrent_solo: f64,
    pub warm_start: Vec<f64>,
    pub payload: f64,
    pub worker_spawn: f64,
    pub controller_processing: f64,
}

fn action(name: &str) -> ActionRef {
    ActionRef {
        namespace: "calibrate".into(),
        name: name.into(),
        memory_mb: 128,
        kind: ActionKind::Docker,
    }
}

/// FaaS placement over every agent (no managed/blackbox split): calibration measures the
/// nodes, not the balancer.
fn faas_on_every_agent() -> PolicySpec {
    PolicySpec::Faas {
        managed_fraction: 1.0,
        blackbox_fraction: 1.0,
    }
}

fn run(
    c: &mut Controller,
    policy: PolicySpec,
    bursts: Vec<LiveBurst>,
) -> Result<RunOutcome, Error> {
    let run = LiveRun {
        policy,
        recovery: RecoverySpec::None,
        bursts,
        seed: 0,
        on_no_capacity: OnNoCapacity::Queue,
    };
    let out = c.run(&run, &executor::signals::stop_flag())?;
    if out.cancelled {
        return Err(Error::environment("calibration interrupted"));
    }
    let failed: Vec<&FunctionRecord> = out.records.iter().filter(|r| !r.is_ok()).collect();
    if let Some(r) = failed.first() {
        return Err(Error::environment(format_args!(
            "calibration run failed: {} of {} functions did not complete (first: {})",
            failed.len(),
            out.records.len(),
            r.outcome.reason()
        )));
    }
    Ok(out)
}

fn zero() -> FunctionInput {
    FunctionInput::Sleep { seconds: 0.0 }
}

fn burst(id: u64, at: f64, workers: u32, name: &str) -> LiveBurst {
    LiveBurst {
        burst_id: id,
        at,
        tenant: 0,
        action: action(name),
        inputs: vec![zero(); workers as usize],
        comm: None,
    }
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    percentile(&s, 50.0)
}

/// Least-squares slope and intercept of y over x.
fn line(points: &[(f64, f64)]) -> (f64, f64) {
    let n = points.len() as f64;
    if points.len() < 2 {
        return (points.first().map(|p| p.1).unwrap_or(0.0), 0.0);
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    (my - slope * mx, slope)
}

/// Runs the measurements on `cluster`.
pub fn measure(cluster: &ClusterFile, samples: u32) -> Result<Calibration, Error> {
    let mut c = Controller::connect(cluster.clone())?;
    let mut cal = Calibration::default();
    let samples = samples.max(2);
    let g1 = PolicySpec::BurstHomogeneous {
        granularity: 1,
        join: false,
    };
    // 1. One single-worker container at a time: queue latency and solo creation.
    let bursts = (0..samples)
        .map(|i| burst(i as u64, i as f64 * 0.4, 1, "solo"))
        .collect();
    let out = run(&mut c, g1.clone(), bursts)?;
    for r in &out.records {
        cal.queue_latency.push((r.t_dispatch - r.t_submit).max(0.0));
        cal.create_solo
            .push((r.t_container_ready - r.t_dispatch).max(0.0));
    }
    cal.controller_processing = median(&out.submit_seconds.iter().map(|s| s.1).collect::<Vec<_>>());
    // 2. Concurrent creations on one invoker: FaaS invocations of actions never seen before
    //    are cold; first one at a time, then K at once (all land on one action's home invoker).
    let k = 4u32;
    let solo: Vec<LiveBurst> = (0..samples)
        .map(|i| burst(i as u64, i as f64 * 0.3, 1, &format!("cold{i}")))
        .collect();
    let out = run(&mut c, faas_on_every_agent(), solo)?;
    let solo_faas = mean(
        &out.records
            .iter()
            .map(|r| (r.t_container_ready - r.t_dispatch).max(0.0))
            .collect::<Vec<_>>(),
    );
    let out = run(
        &mut c,
        faas_on_every_agent(),
        vec![burst(0, 0.0, k, "together")],
    )?;
    let together = mean(
        &out.records
            .iter()
            .filter(|r| r.cold)
            .map(|r| (r.t_container_ready - r.t_dispatch).max(0.0))
            .collect::<Vec<_>>(),
    );
    cal.create_concurrent = (k, together);
    cal.create_concurrent_solo = solo_faas;
    // 3. One container with all CPUs of an invoker: payload and per-worker spawn.
    let width = cluster.agents[0].cpus;
    let spec = PolicySpec::BurstHomogeneous {
        granularity: width,
        join: false,
    };
    let bursts = (0..samples.min(4))
        .map(|i| burst(i as u64, i as f64 * 0.5, width, "spawn"))
        .collect();
    let out = run(&mut c, spec, bursts)?;
    let mut points = Vec::new();
    for r in &out.records {
        // Worker k (in its container's order) starts after the payload and k+1 spawns.
        let k = out
            .records
            .iter()
            .filter(|o| o.container == r.container && o.worker_id < r.worker_id)
            .count();
        points.push(((k + 1) as f64, (r.t_start - r.t_container_ready).max(0.0)));
    }
    let (intercept, slope) = line(&points);
    cal.worker_spawn = slope.max(0.0);
    cal.payload = intercept.max(0.0);
    if width == 1 {
        cal.worker_spawn = mean(&points.iter().map(|p| p.1).collect::<Vec<_>>());
        cal.payload = 0.0;
    }
    // 4. FaaS: the same action again and again; all but the first find a warm container.
    let bursts = (0..samples + 1)
        .map(|i| burst(i as u64, i as f64 * 0.3, 1, "warm"))
        .collect();
    let out = run(&mut c, faas_on_every_agent(), bursts)?;
    cal.warm_start = out
        .records
        .iter()
        .filter(|r| !r.cold)
        .map(|r| (r.t_container_ready - r.t_dispatch).max(0.0))
        .collect();
    Ok(cal)
}

fn dist(samples: &[f64]) -> String {
    let v: Vec<String> = samples.iter().map(|s| format!("{s:.6}")).collect();
    if v.is_empty() {
        "0.0".into()
    } else {
        format!("{{ dist = \"empirical\", samples = [{}] }}", v.join(", "))
    }
}

/// The profile TOML for `cal`, measured on `cluster`.
pub fn profile_toml(cal: &Calibration, cluster: &ClusterFile) -> String {
    let solo = cal.create_concurrent_solo;
    let (k, conc) = cal.create_concurrent;
    // Creation time grows with creations in flight: conc = solo * (1 + alpha * (k - 1)).
    let alpha = if k > 1 && solo > 0.0 {
        ((conc / solo - 1.0) / (k - 1) as f64).max(0.0)
    } else {
        0.0
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Simulator profile measured by `burstsim calibrate` on cluster `{}` ({} agents, {} CPUs, runtime {:?}).\n\
         # Include it from a config: include = [\"profiles/<this file>\"].",
        cluster.name,
        cluster.agents.len(),
        cluster.total_cpus(),
        cluster.runtime
    );
    let _ = writeln!(
        s,
        "\n[queue]\n# controller submit -> agent receipt, s\nlatency = {}",
        dist(&cal.queue_latency)
    );
    let _ = writeln!(
        s,
        "\n[controller]\n# planning and submitting one request, s (median)\nprocessing = {:.6}\nheartbeat_period = {:.3}",
        cal.controller_processing,
        cluster.heartbeat_period_ms as f64 / 1000.0
    );
    let _ = writeln!(
        s,
        "\n[invoker]\n# container creation alone, s (runc run to dispatcher start)\ncreate = {}\ncold_start = 0.0\n\
         max_concurrent_creations = 0\n# FaaS containers: {solo:.6} s alone, {conc:.6} s each with {k} created at once\n\
         contention = {{ alpha = {alpha:.6}, exponent = 1.0, count = \"in_flight\" }}\n\
         # reuse of a warm container (runc exec), s\nwarm_start = {}\nkeep_alive = {:.1}",
        dist(&cal.create_solo),
        dist(&cal.warm_start),
        cluster.keep_alive_s
    );
    let _ = writeln!(
        s,
        "\n[invoker.dispatcher]\npayload = {:.6}\nworker_spawn = {:.6}",
        cal.payload, cal.worker_spawn
    );
    s
}

/// `burstsim calibrate`.
pub fn main(args: &CalibrateArgs) -> Result<(), Error> {
    let cluster = ClusterFile::load(&args.cluster)?;
    if args.comm {
        let plan = args.bench.validate(&cluster)?;
        let table = super::calibrate_comm::calibrate(&cluster, &args.out, &plan, args.reuse)?;
        print!("{table}");
        println!(
            "wrote {} (measurements and fit spec in {})",
            args.out.display(),
            super::calibrate_comm::bench_dir(&args.out).display()
        );
        return Ok(());
    }
    let cal = measure(&cluster, args.samples)?;
    let text = profile_toml(&cal, &cluster);
    check_profile(&text)?;
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    crate::atomic::write_bytes(&args.out, text.as_bytes())?;
    println!(
        "queue latency median {:.4} s, creation {:.4} s (FaaS {:.4} s alone, {:.4} s with {} at once), \
         warm start {:.4} s, payload {:.4} s, worker spawn {:.4} s",
        median(&cal.queue_latency),
        mean(&cal.create_solo),
        cal.create_concurrent_solo,
        cal.create_concurrent.1,
        cal.create_concurrent.0,
        median(&cal.warm_start),
        cal.payload,
        cal.worker_spawn
    );
    println!("wrote {}", args.out.display());
    Ok(())
}

/// The profile must load as part of a config (a failure here is a bug, not user input).
fn check_profile(text: &str) -> Result<(), Error> {
    let dir = std::env::temp_dir().join(format!("burstsim-profile-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    std::fs::write(dir.join("profile.toml"), text).map_err(|e| Error::io(&dir, e))?;
    let cfg = dir.join("config.toml");
    std::fs::write(
        &cfg,
        "include = [\"profile.toml\"]\n[policy]\nname = \"faas\"\n[workload]\nkind = \"sleep\"\nduration = { dist = \"constant\", value = 1.0 }\n[[bursts]]\nworkers = 1\n[[cluster.invokers]]\ncpus = 1\n",
    )
    .map_err(|e| Error::io(&cfg, e))?;
    let res = sim_core::Scenario::load(&cfg, &[]);
    let _ = std::fs::remove_dir_all(&dir);
    res.map(|_| ())
        .map_err(|e| Error::environment(format_args!("generated profile does not load: {e}")))
}
