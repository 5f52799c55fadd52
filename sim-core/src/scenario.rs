//! A validated config, ready to simulate: times in integer nanoseconds, invoker groups expanded,
//! repeated bursts expanded and sorted by arrival, actions interned.

use std::collections::BTreeMap;
use std::path::Path;

use policies::workload::FunctionInput;
use policies::{ActionRef, Distribution, PolicySpec, Workload};
use rand::Rng;

use crate::config::{Config, ConfigError, Contention, CpuModelSpec, Dur, Mode, OnNoCapacity};

/// Nanoseconds per second.
pub const NS: f64 = 1e9;

/// Seconds to integer nanoseconds (rounded; negative and NaN become 0).
#[inline]
pub fn secs_to_ns(s: f64) -> u64 {
    if s > 0.0 {
        (s * NS).round() as u64
    } else {
        0
    }
}

/// A duration distribution sampled in nanoseconds; constants skip the RNG.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeDist {
    dist: Distribution,
    constant_ns: Option<u64>,
}

impl TimeDist {
    pub fn new(dist: &Distribution) -> Self {
        let constant_ns = match dist {
            Distribution::Constant { value } => Some(secs_to_ns(*value)),
            _ => None,
        };
        TimeDist {
            dist: dist.clone(),
            constant_ns,
        }
    }

    pub fn zero() -> Self {
        TimeDist::new(&Distribution::constant(0.0))
    }

    /// One draw, ns.
    #[inline]
    pub fn sample_ns<R: Rng + ?Sized>(&self, rng: &mut R) -> u64 {
        match self.constant_ns {
            Some(c) => c,
            None => secs_to_ns(self.dist.sample(0, rng)),
        }
    }

    /// True when every draw is 0 (lets the engine skip events).
    pub fn is_zero(&self) -> bool {
        self.constant_ns == Some(0)
    }

    pub fn distribution(&self) -> &Distribution {
        &self.dist
    }
}

/// How CPU time is given to functions (after resolving `auto`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuModel {
    Exclusive,
    Shares,
}

/// One invoker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvokerSpec {
    pub cpus: u32,
    pub user_memory_mb: u64,
}

/// One group request, after expanding `count`/`every`.
#[derive(Debug, Clone, PartialEq)]
pub struct BurstSpec {
    pub at_ns: u64,
    pub workers: u32,
    pub tenant: u32,
    /// Index into [`Scenario::actions`].
    pub action: u32,
    /// Function id of worker 0 (ids are assigned burst by burst, in arrival order).
    pub first_function: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClientSpec {
    pub request_overhead: TimeDist,
    pub concurrency: u32,
    /// Minimum gap between two sends, ns (0 = no rate limit).
    pub min_gap_ns: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ControllerSpec {
    pub processing: TimeDist,
    pub per_container: TimeDist,
    pub heartbeat_ns: u64,
    pub on_no_capacity: OnNoCapacity,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PrewarmSpec {
    pub count: u32,
    pub memory_mb: u64,
    pub init: TimeDist,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InvokerModel {
    pub cpu_model: CpuModel,
    pub cold_start: TimeDist,
    pub create: TimeDist,
    pub max_concurrent_creations: u32,
    pub contention: Contention,
    pub warm_start: TimeDist,
    pub unpause: TimeDist,
    pub pause_grace_ns: u64,
    pub keep_alive_ns: u64,
    pub prewarm: PrewarmSpec,
    pub worker_spawn: TimeDist,
    pub payload: TimeDist,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServerfulSpec {
    pub startup: TimeDist,
    pub nodes: u32,
    pub cpus_per_node: u32,
}

/// A validated simulation input.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub seed: u64,
    pub mode: Mode,
    pub policy: PolicySpec,
    pub workload: Workload,
    pub invokers: Vec<InvokerSpec>,
    /// Sorted by arrival (ties: config order); index = burst id.
    pub bursts: Vec<BurstSpec>,
    pub actions: Vec<ActionRef>,
    pub client: ClientSpec,
    pub controller: ControllerSpec,
    pub queue_latency: TimeDist,
    pub invoker: InvokerModel,
    pub serverful: ServerfulSpec,
    pub functions: u64,
}

fn check_dur(origin: &Path, field: &str, d: &Dur) -> Result<TimeDist, ConfigError> {
    d.0.validate()
        .map_err(|m| ConfigError::new(origin, field, m))?;
    Ok(TimeDist::new(&d.0))
}

fn check_secs(origin: &Path, field: &str, v: f64, positive: bool) -> Result<u64, ConfigError> {
    let ok = v.is_finite() && if positive { v > 0.0 } else { v >= 0.0 };
    if !ok {
        let want = if positive { "> 0" } else { ">= 0" };
        return Err(ConfigError::new(
            origin,
            field,
            format!("expected a number of seconds {want}, got {v}"),
        ));
    }
    Ok(secs_to_ns(v))
}

fn at_least_one(origin: &Path, field: &str, v: u64) -> Result<(), ConfigError> {
    if v == 0 {
        return Err(ConfigError::new(
            origin,
            field,
            "expected an integer >= 1, got 0",
        ));
    }
    Ok(())
}

impl Scenario {
    /// Reads the config at `path` (with its includes and the `--set` overrides `sets`) and
    /// validates it: the one way commands turn a config file into a scenario.
    pub fn load(path: &Path, sets: &[String]) -> Result<Scenario, ConfigError> {
        let config = crate::config::load_config(path, sets)?;
        Scenario::from_config(&config, path)
    }

    /// Validates `config` (read from `origin`); errors name `origin` and the field path.
    pub fn from_config(config: &Config, origin: &Path) -> Result<Scenario, ConfigError> {
        let err = |field: &str, msg: String| ConfigError::new(origin, field, msg);
        let name = config.name.clone().unwrap_or_else(|| {
            origin
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "run".into())
        });
        if name.is_empty() {
            return Err(err("name", "expected a non-empty name".into()));
        }
        config
            .policy
            .validate()
            .map_err(|(f, m)| err(&format!("policy.{f}"), m))?;
        config
            .workload
            .validate()
            .map_err(|(f, m)| err(&format!("workload.{f}"), m))?;

        // Invokers.
        let mut invokers = Vec::new();
        at_least_one(
            origin,
            "invoker.user_memory_mb",
            config.invoker.user_memory_mb,
        )?;
        for (i, group) in config.cluster.invokers.iter().enumerate() {
            let field = |f: &str| format!("cluster.invokers[{i}].{f}");
            at_least_one(origin, &field("count"), group.count as u64)?;
            at_least_one(origin, &field("cpus"), group.cpus as u64)?;
            let mem = group
                .user_memory_mb
                .unwrap_or(config.invoker.user_memory_mb);
            at_least_one(origin, &field("user_memory_mb"), mem)?;
            for _ in 0..group.count {
                invokers.push(InvokerSpec {
                    cpus: group.cpus,
                    user_memory_mb: mem,
                });
            }
        }
        if invokers.len() > u32::MAX as usize / 2 {
            return Err(err("cluster.invokers", "too many invokers".into()));
        }
        let serverful = ServerfulSpec {
            startup: check_dur(origin, "serverful.startup", &config.serverful.startup)?,
            nodes: config.serverful.nodes,
            cpus_per_node: config.serverful.cpus_per_node,
        };
        match config.mode {
            Mode::Openwhisk => {
                if invokers.is_empty() {
                    return Err(err(
                        "cluster.invokers",
                        "expected at least one invoker group ([[cluster.invokers]] with cpus), got none".into(),
                    ));
                }
            }
            Mode::Serverful => {
                at_least_one(origin, "serverful.nodes", serverful.nodes as u64)?;
                at_least_one(
                    origin,
                    "serverful.cpus_per_node",
                    serverful.cpus_per_node as u64,
                )?;
            }
        }
        let total_cpus: u64 = invokers.iter().map(|i| i.cpus as u64).sum();
        let max_memory = invokers.iter().map(|i| i.user_memory_mb).max().unwrap_or(0);

        let inv = &config.invoker;
        let cpu_model = match inv.cpu_model {
            CpuModelSpec::Exclusive => CpuModel::Exclusive,
            CpuModelSpec::Shares => CpuModel::Shares,
            CpuModelSpec::Auto if config.policy.is_burst() => CpuModel::Exclusive,
            CpuModelSpec::Auto => CpuModel::Shares,
        };
        let c = &inv.contention;
        if !(c.alpha.is_finite() && c.alpha >= 0.0) {
            return Err(err(
                "invoker.contention.alpha",
                format!("expected a finite number >= 0, got {}", c.alpha),
            ));
        }
        if !(c.exponent.is_finite() && c.exponent >= 0.0) {
            return Err(err(
                "invoker.contention.exponent",
                format!("expected a finite number >= 0, got {}", c.exponent),
            ));
        }
        at_least_one(origin, "invoker.prewarm.memory_mb", inv.prewarm.memory_mb)?;
        let invoker = InvokerModel {
            cpu_model,
            cold_start: check_dur(origin, "invoker.cold_start", &inv.cold_start)?,
            create: check_dur(origin, "invoker.create", &inv.create)?,
            max_concurrent_creations: inv.max_concurrent_creations,
            contention: c.clone(),
            warm_start: check_dur(origin, "invoker.warm_start", &inv.warm_start)?,
            unpause: check_dur(origin, "invoker.unpause", &inv.unpause)?,
            pause_grace_ns: check_secs(origin, "invoker.pause_grace", inv.pause_grace, false)?,
            keep_alive_ns: check_secs(origin, "invoker.keep_alive", inv.keep_alive, false)?,
            prewarm: PrewarmSpec {
                count: inv.prewarm.count,
                memory_mb: inv.prewarm.memory_mb,
                init: check_dur(origin, "invoker.prewarm.init", &inv.prewarm.init)?,
            },
            worker_spawn: check_dur(
                origin,
                "invoker.dispatcher.worker_spawn",
                &inv.dispatcher.worker_spawn,
            )?,
            payload: check_dur(
                origin,
                "invoker.dispatcher.payload",
                &inv.dispatcher.payload,
            )?,
        };

        let cl = &config.client;
        if !(cl.rate.is_finite() && cl.rate >= 0.0) {
            return Err(err(
                "client.rate",
                format!("expected requests per second >= 0, got {}", cl.rate),
            ));
        }
        let client = ClientSpec {
            request_overhead: check_dur(origin, "client.request_overhead", &cl.request_overhead)?,
            concurrency: cl.concurrency,
            min_gap_ns: if cl.rate > 0.0 {
                secs_to_ns(1.0 / cl.rate).max(1)
            } else {
                0
            },
        };
        let ct = &config.controller;
        let controller = ControllerSpec {
            processing: check_dur(origin, "controller.processing", &ct.processing)?,
            per_container: check_dur(origin, "controller.per_container", &ct.per_container)?,
            heartbeat_ns: check_secs(
                origin,
                "controller.heartbeat_period",
                ct.heartbeat_period,
                true,
            )?
            .max(1),
            on_no_capacity: ct.on_no_capacity,
        };
        let queue_latency = check_dur(origin, "queue.latency", &config.queue.latency)?;

        // Bursts.
        if config.bursts.is_empty() {
            return Err(err(
                "bursts",
                "expected at least one [[bursts]] entry, got none".into(),
            ));
        }
        let mut actions: Vec<ActionRef> = Vec::new();
        let mut action_index: BTreeMap<(String, String, u64), u32> = BTreeMap::new();
        // (at_ns, config index, repeat) -> spec without function ids yet.
        let mut expanded: Vec<(u64, usize, u32, BurstSpec)> = Vec::new();
        let mut functions: u64 = 0;
        for (i, b) in config.bursts.iter().enumerate() {
            let field = |f: &str| format!("bursts[{i}].{f}");
            let at_ns = check_secs(origin, &field("at"), b.at, false)?;
            let every_ns = check_secs(origin, &field("every"), b.every, false)?;
            at_least_one(origin, &field("workers"), b.workers as u64)?;
            at_least_one(origin, &field("memory_mb"), b.memory_mb)?;
            at_least_one(origin, &field("count"), b.count as u64)?;
            if config.mode == Mode::Openwhisk {
                if cpu_model == CpuModel::Shares && b.memory_mb > max_memory {
                    return Err(err(
                        &field("memory_mb"),
                        format!(
                            "a function of {} MB never fits: the largest invoker has {} MB of user memory",
                            b.memory_mb, max_memory
                        ),
                    ));
                }
                if config.policy.is_burst()
                    && ct.on_no_capacity == OnNoCapacity::Reject
                    && b.workers as u64 > total_cpus
                {
                    return Err(err(
                        &field("workers"),
                        format!(
                            "a burst of {} workers can never fit: the cluster has {} CPUs and on_no_capacity = \"reject\"",
                            b.workers, total_cpus
                        ),
                    ));
                }
            }
            let action_name = b.action.clone().unwrap_or_else(|| format!("burst-{i}"));
            if action_name.is_empty() {
                return Err(err(&field("action"), "expected a non-empty name".into()));
            }
            let namespace = format!("tenant{}", b.tenant);
            let key = (namespace.clone(), action_name.clone(), b.memory_mb);
            let action = *action_index.entry(key).or_insert_with(|| {
                actions.push(ActionRef {
                    namespace,
                    name: action_name,
                    memory_mb: b.memory_mb,
                });
                (actions.len() - 1) as u32
            });
            for r in 0..b.count {
                let at = at_ns.saturating_add(every_ns.saturating_mul(r as u64));
                functions += b.workers as u64;
                expanded.push((
                    at,
                    i,
                    r,
                    BurstSpec {
                        at_ns: at,
                        workers: b.workers,
                        tenant: b.tenant,
                        action,
                        first_function: 0,
                    },
                ));
            }
        }
        if functions > u32::MAX as u64 {
            return Err(err(
                "bursts",
                format!(
                    "expected at most {} functions in total, got {functions}",
                    u32::MAX
                ),
            ));
        }
        expanded.sort_by_key(|(at, i, r, _)| (*at, *i, *r));
        let mut next = 0u64;
        let bursts = expanded
            .into_iter()
            .map(|(_, _, _, mut b)| {
                b.first_function = next;
                next += b.workers as u64;
                b
            })
            .collect();

        Ok(Scenario {
            name,
            seed: config.seed,
            mode: config.mode,
            policy: config.policy.clone(),
            workload: config.workload.clone(),
            invokers,
            bursts,
            actions,
            client,
            controller,
            queue_latency,
            invoker,
            serverful,
            functions,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// A short label for reports: the policy as written, or `serverful`.
    pub fn label(&self) -> String {
        match self.mode {
            Mode::Openwhisk => self.policy.to_string(),
            Mode::Serverful => format!(
                "serverful {{ nodes = {}, cpus_per_node = {} }}",
                self.serverful.nodes, self.serverful.cpus_per_node
            ),
        }
    }

    /// Number of functions the run will record.
    pub fn functions(&self) -> u64 {
        self.functions
    }

    /// True when the client sends one request per burst (burst policies).
    pub fn is_burst(&self) -> bool {
        self.policy.is_burst()
    }

    /// The inputs of burst `burst`'s functions in worker order, as [`crate::simulate`] draws
    /// them with `seed` (stream `workload`, index = burst id): a live run that calls this
    /// gives its functions exactly the simulated work.
    pub fn function_inputs(&self, seed: u64, burst: usize) -> Vec<FunctionInput> {
        self.workload
            .burst_inputs(seed, burst as u64, self.bursts[burst].workers)
            .collect()
    }

    /// Total CPUs of the invokers.
    pub fn total_cpus(&self) -> u64 {
        self.invokers.iter().map(|i| i.cpus as u64).sum()
    }
}
