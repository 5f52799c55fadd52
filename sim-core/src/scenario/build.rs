//! Config -> [`Scenario`]: one validating function per config section. Errors carry the full
//! field path (`bursts[2].workers`); [`Scenario::from_config`] adds the file.

use std::collections::HashMap;
use std::path::Path;

use policies::{ActionRef, FieldError, PolicySpec, RecoverySpec, Workload};

use super::sources::{process_source, trace_source, InternAction, NewAction, TraceProblem};
use super::{
    secs_to_ns, BurstSeries, ClientSpec, ControllerSpec, CpuModel, InvokerModel, InvokerSpec,
    PrewarmSpec, Scenario, ServerfulSpec, StragglerSpec, TimeDist,
};
use crate::arrivals::TraceError;
use crate::config::{
    BurstConfig, ClientConfig, ClusterConfig, Config, ControllerConfig, CpuModelSpec, Dur,
    InvokerConfig, Mode, OnNoCapacity, ServerfulConfig,
};

/// Why a config is not a scenario: a field, or a trace file of entry `traces[i]`.
pub(super) enum BuildError {
    Field(FieldError),
    Trace(String, TraceError),
}

impl From<FieldError> for BuildError {
    fn from(e: FieldError) -> Self {
        BuildError::Field(e)
    }
}

/// Validates every section of `config` (read from `origin`) into a scenario.
pub(super) fn scenario(config: &Config, origin: &Path) -> Result<Scenario, BuildError> {
    let name = run_name(config.name.as_deref(), origin)?;
    config.policy.validate().map_err(|e| e.under("policy"))?;
    recovery(&config.recovery, &config.policy)?;
    config
        .workload
        .validate()
        .map_err(|e| e.under("workload"))?;
    let invokers = cluster(&config.cluster, config.invoker.user_memory_mb)?;
    let serverful = serverful(&config.serverful)?;
    check_platform(config.mode, &invokers, &serverful)?;
    let invoker = invoker_model(&config.invoker, &config.policy, config.mode)?;
    let client = client(&config.client)?;
    let controller = controller(&config.controller)?;
    let queue_latency = time_dist("queue.latency", &config.queue.latency)?;
    let limits = FitLimits::new(config, &invokers, invoker.cpu_model);
    let mut actions = Actions::default();
    let expanded = bursts(&config.bursts, &limits, &mut actions, &config.workload)?;
    let check_fit =
        |at: &str, memory_mb: u64, workers: u32| limits.check_fit(at, memory_mb, workers);
    let mut sources = Vec::new();
    for (i, entry) in config.arrivals.iter().enumerate() {
        let source = process_source(i, entry, &config.workload, &check_fit, &mut actions)?;
        sources.push(source);
    }
    let base = origin.parent().unwrap_or(Path::new("."));
    let mut trace_summaries = Vec::new();
    for (i, entry) in config.traces.iter().enumerate() {
        match trace_source(i, entry, base, &config.workload, &check_fit, &mut actions) {
            Ok((source, summary)) => {
                sources.push(source);
                trace_summaries.push((format!("traces[{i}]"), summary));
            }
            Err(TraceProblem::Field(e)) => return Err(e.into()),
            Err(TraceProblem::File(at, e)) => return Err(BuildError::Trace(at, e)),
        }
    }
    if expanded.series.is_empty() && sources.is_empty() {
        return Err(FieldError::new(
            "bursts",
            "at least one [[bursts]], [[arrivals]] or [[traces]] entry",
            "none",
        )
        .into());
    }
    let comm = super::comm::comm(config)?;
    let faults = super::faults::faults(config, invokers.len())?;
    Ok(Scenario {
        name,
        seed: config.seed,
        mode: config.mode,
        policy: config.policy.clone(),
        recovery: config.recovery.clone(),
        workload: config.workload.clone(),
        invokers,
        burst_series: expanded.series,
        actions: actions.list,
        action_constant_work_ns: actions
            .workloads
            .iter()
            .map(|w| {
                w.constant_input()
                    .map(|input| secs_to_ns(input.solo_seconds()))
            })
            .collect(),
        action_workloads: actions.workloads,
        sources,
        trace_summaries,
        client,
        controller,
        queue_latency,
        invoker,
        serverful,
        functions: expanded.functions,
        comm,
        faults,
    })
}

/// `[recovery]`: valid parameters, and a policy for the kind of placement (`openwhisk` for
/// FaaS only; `fail-burst`, the re-runs and speculation for bursts only).
fn recovery(recovery: &RecoverySpec, policy: &PolicySpec) -> Result<(), FieldError> {
    recovery.validate().map_err(|e| e.under("recovery"))?;
    let fits = if policy.is_burst() {
        recovery.for_bursts()
    } else {
        recovery.for_faas()
    };
    if !fits {
        let expected = if policy.is_burst() {
            "a burst recovery policy (none, fail-burst, rerun-failed-workers, rerun-pack, \
             speculate-stragglers) for a burst placement policy"
        } else {
            "`none` or `openwhisk { client_retries = N }` for the faas placement policy"
        };
        return Err(FieldError::new("recovery.name", expected, recovery.name()));
    }
    Ok(())
}

/// The run name: `name`, or the config file's stem.
fn run_name(name: Option<&str>, origin: &Path) -> Result<String, FieldError> {
    let name = match name {
        Some(name) => name.to_string(),
        None => origin
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "run".into()),
    };
    non_empty_name("name", &name)?;
    Ok(name)
}

/// `[cluster]`: the invoker groups expanded to one spec per invoker.
fn cluster(
    section: &ClusterConfig,
    default_memory_mb: u64,
) -> Result<Vec<InvokerSpec>, FieldError> {
    at_least_one("invoker.user_memory_mb", default_memory_mb)?;
    let mut invokers = Vec::new();
    for (i, group) in section.invokers.iter().enumerate() {
        let field = |f: &str| format!("cluster.invokers[{i}].{f}");
        at_least_one(&field("count"), group.count as u64)?;
        at_least_one(&field("cpus"), group.cpus as u64)?;
        let user_memory_mb = group.user_memory_mb.unwrap_or(default_memory_mb);
        at_least_one(&field("user_memory_mb"), user_memory_mb)?;
        let spec = InvokerSpec {
            cpus: group.cpus,
            user_memory_mb,
        };
        invokers.extend(std::iter::repeat_n(spec, group.count as usize));
    }
    let max = u32::MAX as usize / 2;
    if invokers.len() > max {
        let expected = format!("at most {max} invokers");
        return Err(FieldError::new(
            "cluster.invokers",
            expected,
            invokers.len(),
        ));
    }
    Ok(invokers)
}

/// `[serverful]`.
fn serverful(section: &ServerfulConfig) -> Result<ServerfulSpec, FieldError> {
    Ok(ServerfulSpec {
        startup: time_dist("serverful.startup", &section.startup)?,
        nodes: section.nodes,
        cpus_per_node: section.cpus_per_node,
    })
}

/// The platform of `mode` has something to run on.
fn check_platform(
    mode: Mode,
    invokers: &[InvokerSpec],
    serverful: &ServerfulSpec,
) -> Result<(), FieldError> {
    match mode {
        Mode::Openwhisk if invokers.is_empty() => Err(FieldError::new(
            "cluster.invokers",
            "at least one invoker group ([[cluster.invokers]] with cpus)",
            "none",
        )),
        Mode::Openwhisk | Mode::Direct => Ok(()),
        Mode::Serverful => {
            at_least_one("serverful.nodes", serverful.nodes as u64)?;
            at_least_one("serverful.cpus_per_node", serverful.cpus_per_node as u64)
        }
    }
}

/// `[invoker]` and its sub-tables; `auto` CPU model resolved for `policy`.
fn invoker_model(
    section: &InvokerConfig,
    policy: &PolicySpec,
    mode: Mode,
) -> Result<InvokerModel, FieldError> {
    let cpu_model = match section.cpu_model {
        _ if mode == Mode::Direct => CpuModel::Exclusive,
        CpuModelSpec::Exclusive => CpuModel::Exclusive,
        CpuModelSpec::Shares => CpuModel::Shares,
        CpuModelSpec::Auto if policy.is_burst() => CpuModel::Exclusive,
        CpuModelSpec::Auto => CpuModel::Shares,
    };
    let contention = &section.contention;
    finite_non_negative("invoker.contention.alpha", contention.alpha)?;
    finite_non_negative("invoker.contention.exponent", contention.exponent)?;
    at_least_one("invoker.prewarm.memory_mb", section.prewarm.memory_mb)?;
    let straggler = &section.straggler;
    if straggler.exponent == 0.0 && !(0.0..=1.0).contains(&straggler.probability) {
        return Err(FieldError::new(
            "invoker.straggler.probability",
            "a probability in [0, 1] (with exponent = 0)",
            straggler.probability,
        ));
    }
    finite_non_negative("invoker.straggler.probability", straggler.probability)?;
    finite_non_negative("invoker.straggler.exponent", straggler.exponent)?;
    let create_cpu = &section.create_cpu.0;
    create_cpu
        .validate()
        .map_err(|e| e.under("invoker.create_cpu"))?;
    let dispatcher = &section.dispatcher;
    Ok(InvokerModel {
        cpu_model,
        cold_start: time_dist("invoker.cold_start", &section.cold_start)?,
        create: time_dist("invoker.create", &section.create)?,
        create_cpu: create_cpu.clone(),
        max_concurrent_creations: section.max_concurrent_creations,
        contention: contention.clone(),
        straggler: StragglerSpec {
            probability: straggler.probability,
            exponent: straggler.exponent,
            count: straggler.count,
            delay: time_dist("invoker.straggler.delay", &straggler.delay)?,
        },
        warm_start: time_dist("invoker.warm_start", &section.warm_start)?,
        unpause: time_dist("invoker.unpause", &section.unpause)?,
        pause_grace_ns: seconds("invoker.pause_grace", section.pause_grace)?,
        keep_alive_ns: seconds("invoker.keep_alive", section.keep_alive)?,
        prewarm: PrewarmSpec {
            count: section.prewarm.count,
            memory_mb: section.prewarm.memory_mb,
            init: time_dist("invoker.prewarm.init", &section.prewarm.init)?,
        },
        worker_spawn: time_dist("invoker.dispatcher.worker_spawn", &dispatcher.worker_spawn)?,
        payload: time_dist("invoker.dispatcher.payload", &dispatcher.payload)?,
    })
}

/// `[client]`; the rate becomes the minimum gap between two sends.
fn client(section: &ClientConfig) -> Result<ClientSpec, FieldError> {
    let rate = section.rate;
    if !(rate.is_finite() && rate >= 0.0) {
        return Err(FieldError::new(
            "client.rate",
            "requests per second >= 0",
            rate,
        ));
    }
    Ok(ClientSpec {
        request_overhead: time_dist("client.request_overhead", &section.request_overhead)?,
        concurrency: section.concurrency,
        min_gap_ns: if rate > 0.0 {
            secs_to_ns(1.0 / rate).max(1)
        } else {
            0
        },
    })
}

/// `[controller]`.
fn controller(section: &ControllerConfig) -> Result<ControllerSpec, FieldError> {
    let heartbeat = section.heartbeat_period;
    if !(heartbeat.is_finite() && heartbeat > 0.0) {
        let expected = "a number of seconds > 0";
        return Err(FieldError::new(
            "controller.heartbeat_period",
            expected,
            heartbeat,
        ));
    }
    Ok(ControllerSpec {
        processing: time_dist("controller.processing", &section.processing)?,
        concurrency: section.concurrency,
        per_container: time_dist("controller.per_container", &section.per_container)?,
        heartbeat_ns: secs_to_ns(heartbeat).max(1),
        on_no_capacity: section.on_no_capacity,
    })
}

/// What the cluster can never run, where exceeding it is an error rather than a wait: in
/// shares mode a function bigger than every invoker's memory never starts; with
/// `on_no_capacity = "reject"` a burst wider than the cluster is always rejected.
struct FitLimits {
    /// The largest user memory of an invoker, MB, when functions are admitted by memory.
    memory_mb: Option<u64>,
    /// The CPUs of the cluster, when a burst that does not fit is rejected.
    workers: Option<u64>,
}

impl FitLimits {
    fn new(config: &Config, invokers: &[InvokerSpec], cpu_model: CpuModel) -> Self {
        let openwhisk = config.mode == Mode::Openwhisk;
        let by_memory = openwhisk && cpu_model == CpuModel::Shares;
        let rejects = openwhisk
            && config.policy.is_burst()
            && config.controller.on_no_capacity == OnNoCapacity::Reject;
        let largest_memory = invokers.iter().map(|i| i.user_memory_mb).max();
        FitLimits {
            memory_mb: by_memory.then(|| largest_memory.unwrap_or(0)),
            workers: rejects.then(|| invokers.iter().map(|i| i.cpus as u64).sum()),
        }
    }

    /// Burst entry `i` stays within the limits.
    fn check(&self, i: usize, burst: &BurstConfig) -> Result<(), FieldError> {
        self.check_fit(&format!("bursts[{i}]"), burst.memory_mb, burst.workers)
    }

    /// Requests of `workers` functions of `memory_mb` each, declared at `at`, stay within the
    /// limits (errors name `at.memory_mb` or `at.workers`).
    fn check_fit(&self, at: &str, memory_mb: u64, workers: u32) -> Result<(), FieldError> {
        if let Some(max) = self.memory_mb.filter(|max| memory_mb > *max) {
            return Err(FieldError::new(
                format!("{at}.memory_mb"),
                format!(
                    "at most {max} MB, the largest invoker's user memory \
                     (a bigger function never fits)"
                ),
                memory_mb,
            ));
        }
        if let Some(cpus) = self.workers.filter(|cpus| workers as u64 > *cpus) {
            return Err(FieldError::new(
                format!("{at}.workers"),
                format!(
                    "at most {cpus} workers, the cluster's CPUs (with \
                     on_no_capacity = \"reject\" a bigger burst never fits)"
                ),
                workers,
            ));
        }
        Ok(())
    }
}

/// `[[bursts]]`: one series per entry.
struct Bursts {
    series: Vec<BurstSeries>,
    functions: u64,
}

/// `[[bursts]]`: each entry checked and its action interned; its `count` repetitions stay one
/// series (a run draws them lazily; ties in config order, then repetition).
fn bursts(
    section: &[BurstConfig],
    limits: &FitLimits,
    actions: &mut Actions,
    workload: &Workload,
) -> Result<Bursts, FieldError> {
    let mut series = Vec::with_capacity(section.len());
    let mut functions: u64 = 0;
    for (i, burst) in section.iter().enumerate() {
        let field = |f: &str| format!("bursts[{i}].{f}");
        let at_ns = seconds(&field("at"), burst.at)?;
        let every_ns = seconds(&field("every"), burst.every)?;
        at_least_one(&field("workers"), burst.workers as u64)?;
        at_least_one(&field("memory_mb"), burst.memory_mb)?;
        at_least_one(&field("count"), burst.count as u64)?;
        limits.check(i, burst)?;
        let action = actions.intern(i, burst, workload)?;
        functions += burst.count as u64 * burst.workers as u64;
        series.push(BurstSeries {
            at_ns,
            every_ns,
            count: burst.count as u64,
            workers: burst.workers,
            tenant: burst.tenant,
            action,
        });
    }
    if functions > u32::MAX as u64 {
        let expected = format!("at most {} functions in total", u32::MAX);
        return Err(FieldError::new("bursts", expected, functions));
    }
    Ok(Bursts { series, functions })
}

/// The distinct actions of the run, in order of first use, with their workloads.
#[derive(Default)]
struct Actions {
    list: Vec<ActionRef>,
    workloads: Vec<Workload>,
    index: HashMap<ActionRef, u32>,
}

impl Actions {
    /// The index of the action of burst entry `i`, added if new.
    fn intern(
        &mut self,
        i: usize,
        burst: &BurstConfig,
        workload: &Workload,
    ) -> Result<u32, FieldError> {
        let name = burst.action.clone().unwrap_or_else(|| format!("burst-{i}"));
        non_empty_name(&format!("bursts[{i}].action"), &name)?;
        self.intern_action(NewAction {
            field: format!("bursts[{i}].action"),
            action: ActionRef {
                namespace: format!("tenant{}", burst.tenant),
                name,
                memory_mb: burst.memory_mb,
                kind: burst.kind,
            },
            workload: workload.clone(),
        })
    }
}

impl InternAction for Actions {
    fn intern_action(&mut self, new: NewAction) -> Result<u32, FieldError> {
        let next = self.list.len() as u32;
        let index = *self.index.entry(new.action.clone()).or_insert(next);
        if index == next {
            self.list.push(new.action);
            self.workloads.push(new.workload);
        } else if self.workloads[index as usize] != new.workload {
            return Err(FieldError::new(
                new.field,
                format!(
                    "the workload of the earlier action `{}` of tenant `{}` with {} MB \
                     (one action, one workload; rename one of them)",
                    new.action.name, new.action.namespace, new.action.memory_mb
                ),
                "another workload",
            ));
        }
        Ok(index)
    }
}

fn time_dist(field: &str, d: &Dur) -> Result<TimeDist, FieldError> {
    d.0.validate().map_err(|e| e.under(field))?;
    Ok(TimeDist::new(&d.0))
}

/// A time in seconds (finite, >= 0), in ns.
fn seconds(field: &str, v: f64) -> Result<u64, FieldError> {
    if !(v.is_finite() && v >= 0.0) {
        return Err(FieldError::new(field, "a number of seconds >= 0", v));
    }
    Ok(secs_to_ns(v))
}

fn finite_non_negative(field: &str, v: f64) -> Result<(), FieldError> {
    if !(v.is_finite() && v >= 0.0) {
        return Err(FieldError::new(field, "a finite number >= 0", v));
    }
    Ok(())
}

fn at_least_one(field: &str, v: u64) -> Result<(), FieldError> {
    if v == 0 {
        return Err(FieldError::new(field, "an integer >= 1", 0));
    }
    Ok(())
}

fn non_empty_name(field: &str, name: &str) -> Result<(), FieldError> {
    if name.is_empty() {
        return Err(FieldError::new(
            field,
            "a non-empty name",
            "an empty string",
        ));
    }
    Ok(())
}
