//! `burstsim calibrate`: measures a cluster through the executor itself and writes a simulator
//! profile (the `[queue]`, `[controller]` and `[invoker]` keys of a config, to `include`).
//!
//! Measured, each experiment a run of its own on an idle cluster: controller processing (bursts
//! of one container per agent, one at a time); container creation at the concurrencies
//! that occur (batches of 1, 2, 4, ... FaaS invocations of a new action, which all land on the
//! action's home agent at once), fitted to the simulator's creation model ([`fit_creation`]);
//! warm start (the exec path of a FaaS reuse) and queue latency (FaaS invocations, whose
//! submit time is their sending); and the in-container dispatcher's payload time
//! and per-worker spawn (one container with every CPU of an agent).

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
    /// Largest batch of concurrent creations on one agent (batches of 1, 2, 4, ... up to it,
    /// and no more than the agent's memory holds).
    #[arg(long, default_value_t = 8)]
    pub max_concurrent: u32,
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
    pub controller_processing: f64,
    /// Every cold container's creation in the experiments.
    pub creations: Vec<CreationSample>,
    /// The creation model fitted to `creations`.
    pub creation: CreationFit,
    pub warm_start: Vec<f64>,
    pub payload: f64,
    pub worker_spawn: f64,
}

/// Memory of the calibration's actions: a config's default (`memory_mb`), since a FaaS
/// container's CPU shares follow its memory and its creation runs partly inside it.
const ACTION_MEMORY_MB: u64 = 256;

fn action(name: &str) -> ActionRef {
    ActionRef {
        namespace: "calibrate".into(),
        name: name.into(),
        memory_mb: ACTION_MEMORY_MB,
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

/// One cold container's creation as its records show it: seconds from its dispatch to its
/// container being ready; how many other creations were in flight on its invoker when it was
/// dispatched (the model's `count = "in_flight"`); and its batch (the creations that overlap
/// on the invoker) with the mean in-flight count over it.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct CreationSample {
    pub invoker: u32,
    pub in_flight: u32,
    pub batch_in_flight: f64,
    /// Creations in its batch.
    pub batch: u32,
    pub seconds: f64,
}

/// The creation of every cold container in `records` (one sample per container). Creations on
/// an invoker are ordered by dispatch (ties: function id, the order the agent took them and
/// the simulator's event order); a creation counts the earlier ones not yet ready at its
/// dispatch, so the k-th of k dispatched together counts k - 1, as the model does.
pub fn creation_samples(records: &[FunctionRecord]) -> Vec<CreationSample> {
    let key = |r: &FunctionRecord| (r.invoker, r.container, r.attempt);
    let mut cold: Vec<&FunctionRecord> = records
        .iter()
        .filter(|r| r.cold && r.t_dispatch.is_finite() && r.t_container_ready.is_finite())
        .collect();
    cold.sort_by_key(|r| (key(r), r.function_id));
    cold.dedup_by_key(|r| key(r));
    cold.sort_by(|a, b| {
        a.invoker
            .cmp(&b.invoker)
            .then(a.t_dispatch.total_cmp(&b.t_dispatch))
            .then(a.function_id.cmp(&b.function_id))
    });
    let mut out: Vec<CreationSample> = Vec::with_capacity(cold.len());
    let mut batch_start = 0;
    let mut batch_end = f64::NEG_INFINITY;
    for (i, r) in cold.iter().enumerate() {
        if i > 0 && (r.invoker != cold[i - 1].invoker || r.t_dispatch >= batch_end) {
            close_batch(&mut out[batch_start..]);
            batch_start = i;
            batch_end = f64::NEG_INFINITY;
        }
        batch_end = batch_end.max(r.t_container_ready);
        let in_flight = cold[batch_start..i]
            .iter()
            .filter(|o| o.t_container_ready > r.t_dispatch)
            .count() as u32;
        out.push(CreationSample {
            invoker: r.invoker,
            in_flight,
            batch_in_flight: 0.0,
            batch: 0,
            seconds: (r.t_container_ready - r.t_dispatch).max(0.0),
        });
    }
    close_batch(&mut out[batch_start..]);
    out
}

/// Gives every sample of a batch the batch's size and mean in-flight count.
fn close_batch(batch: &mut [CreationSample]) {
    if batch.is_empty() {
        return;
    }
    let m = batch.iter().map(|s| s.in_flight as f64).sum::<f64>() / batch.len() as f64;
    let n = batch.len() as u32;
    for s in batch {
        s.batch_in_flight = m;
        s.batch = n;
    }
}

/// The simulator's creation model fitted to creation samples, for an agent with `slots`
/// engine slots (`[invoker] max_concurrent_creations`; the cluster file's):
///
/// - no limit (0): a creation that starts with n others in flight on its invoker takes
///   `create * (1 + alpha * n)` (`contention = { alpha, exponent = 1, count = "in_flight" }`,
///   no separate runtime init), so a batch of k created together takes `create * (1 + alpha *
///   (k - 1) / 2)` on average;
/// - s slots: creations take `create` each, s at a time in FIFO order, then `cold_start` (the
///   dispatcher's exec, in parallel), so the r-th of a batch (from 0) is ready after
///   `(r / s + 1) * create + cold_start` (no contention: the slots keep creations apart).
///
/// The one place that knows the model's form: a new creation model changes this,
/// [`CreationFit::predict`] and `profile_toml`.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct CreationFit {
    pub slots: u32,
    /// Creation alone (its engine part), s.
    pub create: f64,
    /// Runtime init after the engine part, s.
    pub cold_start: f64,
    /// Relative slowdown per other creation in flight (no slot limit only).
    pub alpha: f64,
    /// Root-mean-square error of the fitted creation times over the samples, s.
    pub rms_error: f64,
    pub samples: usize,
}

impl CreationFit {
    /// The model's creation time of sample `s` (without a slot limit, the mean over its batch).
    pub fn predict(&self, s: &CreationSample) -> f64 {
        match self.slots {
            0 => self.create * (1.0 + self.alpha * s.batch_in_flight),
            n => (s.in_flight / n + 1) as f64 * self.create + self.cold_start,
        }
    }
}

/// The model's line through the mean creation time of the smallest and of the largest batch
/// size measured (the sizes in between show how well the model's shape holds, see
/// `creation_table`). Without a slot limit, of `seconds = create + create * alpha * n`, n the
/// mean in-flight count of a sample's batch: the model orders a batch (its first creation
/// alone, its last behind all others), a container engine need not (its creations may end
/// together), so the fit matches a batch's mean, which the model's median follows. With s
/// slots, of `seconds = cold_start + create * (r / s + 1)`, r its in-flight count.
pub fn fit_creation(samples: &[CreationSample], slots: u32) -> CreationFit {
    let x = |s: &CreationSample| match slots {
        0 => s.batch_in_flight,
        n => (s.in_flight / n + 1) as f64,
    };
    let sizes = samples.iter().map(|s| s.batch);
    let ends = [sizes.clone().min(), sizes.max()];
    // (mean x, mean seconds) of each end's samples.
    let points: Vec<(f64, f64)> = ends
        .iter()
        .flatten()
        .map(|&k| {
            let of: Vec<&CreationSample> = samples.iter().filter(|s| s.batch == k).collect();
            let n = of.len() as f64;
            (
                of.iter().map(|s| x(s)).sum::<f64>() / n,
                of.iter().map(|s| s.seconds).sum::<f64>() / n,
            )
        })
        .collect();
    let (intercept, slope) = line(&points);
    let mut fit = CreationFit {
        slots,
        samples: samples.len(),
        ..CreationFit::default()
    };
    if slots == 0 {
        fit.create = intercept.max(0.0);
        fit.alpha = if fit.create > 0.0 {
            (slope / fit.create).max(0.0)
        } else {
            0.0
        };
    } else {
        fit.create = slope.max(0.0);
        fit.cold_start = intercept.max(0.0);
    }
    if !samples.is_empty() {
        let sq: f64 = samples
            .iter()
            .map(|s| (fit.predict(s) - s.seconds).powi(2))
            .sum();
        fit.rms_error = (sq / samples.len() as f64).sqrt();
    }
    fit
}

/// Least-squares intercept and slope of y over x (the mean and 0 when x does not vary).
fn line(points: &[(f64, f64)]) -> (f64, f64) {
    if points.is_empty() {
        return (0.0, 0.0);
    }
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    (my - slope * mx, slope)
}

/// Batch sizes of concurrent creations measured on an agent: 1, 2, 4, ... up to `max` and to
/// what its memory holds of the calibration's containers (that bound itself last).
pub fn batch_sizes(max: u32, agent_memory_mb: u64) -> Vec<u32> {
    let cap = max
        .min((agent_memory_mb / ACTION_MEMORY_MB).clamp(1, u32::MAX as u64) as u32)
        .max(1);
    let mut v: Vec<u32> = std::iter::successors(Some(1u32), |k| k.checked_mul(2))
        .take_while(|&k| k <= cap)
        .collect();
    if v.last() != Some(&cap) {
        v.push(cap);
    }
    v
}

/// Runs the measurements on `cluster`.
pub fn measure(
    cluster: &ClusterFile,
    samples: u32,
    max_concurrent: u32,
) -> Result<Calibration, Error> {
    let mut c = Controller::connect(cluster.clone())?;
    let mut cal = Calibration::default();
    let samples = samples.max(2);
    let g1 = PolicySpec::BurstHomogeneous {
        granularity: 1,
        join: false,
    };
    // 1. Bursts of one single-worker container per agent, one burst at a time: queue latency,
    //    controller, creation alone on each agent. All agents create at once, as in a burst
    //    spread over them: agents that share one machine also share its cores.
    let agents = cluster.agents.len() as u32;
    let bursts = (0..samples)
        .map(|i| burst(i as u64, i as f64 * 0.8, agents, "solo"))
        .collect();
    let out = run(&mut c, g1, bursts)?;
    cal.controller_processing = median(&out.submit_seconds.iter().map(|s| s.1).collect::<Vec<_>>());
    cal.creations.extend(creation_samples(&out.records));
    // 2. Batches of k creations on one agent: k FaaS invocations of an action never seen
    //    before are cold and all go to its home agent. Each batch is a run of its own.
    let memory = cluster
        .agents
        .iter()
        .map(|a| a.memory_mb)
        .min()
        .unwrap_or(0);
    let reps = (samples / 4).max(2);
    for k in batch_sizes(max_concurrent, memory) {
        for rep in 0..reps {
            // Functions run on while the batch is created (they sleep 1 s), as in a run; a
            // function that ended at once would tear its exec down beside later creations.
            let mut b = burst(0, 0.0, k, &format!("batch{k}-{rep}"));
            b.inputs = vec![FunctionInput::Sleep { seconds: 1.0 }; k as usize];
            let out = run(&mut c, faas_on_every_agent(), vec![b])?;
            cal.creations.extend(creation_samples(&out.records));
        }
    }
    cal.creation = fit_creation(&cal.creations, cluster.max_concurrent_creations);
    // 3. One container with all CPUs of an agent: payload and per-worker spawn.
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
    // A FaaS invocation's submit time is when the controller sent it (a burst's is when it
    // arrived, before any wait for capacity): its dispatch minus it is the queue's latency.
    for r in &out.records {
        cal.queue_latency.push((r.t_dispatch - r.t_submit).max(0.0));
    }
    cal.warm_start = out
        .records
        .iter()
        .filter(|r| !r.cold)
        .map(|r| (r.t_container_ready - r.t_dispatch).max(0.0))
        .collect();
    Ok(cal)
}

/// Measured and fitted mean creation time per batch size, as a table.
pub fn creation_table(cal: &Calibration) -> String {
    let mut sizes: Vec<u32> = cal.creations.iter().map(|s| s.batch).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let mut t = format!(
        "{:>6} {:>8} {:>12} {:>12} {:>9}\n",
        "batch", "samples", "measured_s", "model_s", "error"
    );
    for k in sizes {
        let v: Vec<&CreationSample> = cal.creations.iter().filter(|s| s.batch == k).collect();
        let n = v.len() as f64;
        let measured = v.iter().map(|s| s.seconds).sum::<f64>() / n;
        let model = v.iter().map(|s| cal.creation.predict(s)).sum::<f64>() / n;
        let _ = writeln!(
            t,
            "{k:>6} {:>8} {measured:>12.4} {model:>12.4} {:>8.1}%",
            v.len(),
            (model - measured) / measured * 100.0
        );
    }
    t
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
    let f = &cal.creation;
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
    let mut table = String::new();
    for line in creation_table(cal).lines() {
        let _ = writeln!(table, "#   {line}");
    }
    let form = if f.slots == 0 {
        "a creation with n others in flight on its agent takes create * (1 + alpha * n)".to_string()
    } else {
        format!(
            "creations take create each, {} at a time per agent (FIFO), then cold_start (exec)",
            f.slots
        )
    };
    let _ = writeln!(
        s,
        "\n[invoker]\n# container creation (create an idle container, exec the dispatcher in it), s:\n\
         # {form}; fitted to {} creations in batches of concurrent ones (rms error {:.4} s),\n\
         # mean per batch measured and modelled:\n{table}\
         create = {:.6}\ncold_start = {:.6}\nmax_concurrent_creations = {}\n\
         contention = {{ alpha = {:.6}, exponent = 1.0, count = \"in_flight\" }}\n\
         # reuse of a warm container (exec the dispatcher), s; the agents never pause idle containers\n\
         warm_start = {}\nunpause = 0.0\nkeep_alive = {:.1}",
        f.samples,
        f.rms_error,
        f.create,
        f.cold_start,
        f.slots,
        f.alpha,
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
    let cal = measure(&cluster, args.samples, args.max_concurrent)?;
    let text = profile_toml(&cal, &cluster);
    check_profile(&text)?;
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    crate::atomic::write_bytes(&args.out, text.as_bytes())?;
    // The fit's inputs, kept so that the fit can be checked or redone.
    let raw = measurements_path(&args.out);
    crate::atomic::write_json(&raw, &cal)?;
    println!(
        "queue latency median {:.4} s, creation {:.4} s + {:.4} s init ({} engine slots, 0: no \
         limit), contention alpha {:.4} per other creation in flight, warm start {:.4} s, \
         payload {:.4} s, worker spawn {:.4} s",
        median(&cal.queue_latency),
        cal.creation.create,
        cal.creation.cold_start,
        cal.creation.slots,
        cal.creation.alpha,
        median(&cal.warm_start),
        cal.payload,
        cal.worker_spawn
    );
    print!("{}", creation_table(&cal));
    println!(
        "wrote {} (measurements in {})",
        args.out.display(),
        raw.display()
    );
    Ok(())
}

/// Where `calibrate` keeps the raw measurements of the profile at `profile`:
/// `NAME.toml` -> `NAME.measurements.json` beside it.
pub fn measurements_path(profile: &std::path::Path) -> PathBuf {
    profile.with_extension("measurements.json")
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
