//! A validated config, ready to simulate: times in integer nanoseconds, invoker groups expanded,
//! actions interned; each `[[bursts]]` entry kept as one compact series (its `count`
//! repetitions are drawn lazily during a run, with the `[[arrivals]]` and `[[traces]]`).

use std::path::Path;

use policies::workload::FunctionInput;
use policies::{ActionRef, Distribution, PolicySpec, RecoverySpec, Sampler, Workload};

use crate::arrivals::{Arrival, TraceSummary};
use rand::Rng;

use crate::config::{
    ClusterConfig, Config, ConfigError, Contention, ContentionCount, InvokerGroup, Mode,
    OnNoCapacity,
};

mod build;
mod comm;
mod faults;
mod sources;

pub use comm::{BackendSpec, CommSpec};
pub use faults::{CrashSpec, FaultSpec, RandomCrashes};
pub use sources::{RunArrivals, RunBursts, Source, WorkNs};

/// Nanoseconds per second.
pub const NS: f64 = 1e9;

/// Seconds to integer nanoseconds (rounded; negative and NaN become 0).
#[inline]
pub fn secs_to_ns(s: f64) -> u64 {
    if s > 0.0 {
        crate::float::round_u64(s * NS)
    } else {
        0
    }
}

/// A duration distribution sampled in nanoseconds; constants skip the RNG, and parameters
/// worked out from the config (a lognormal's) are worked out once.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeDist {
    sampler: Sampler,
    constant_ns: Option<u64>,
}

impl TimeDist {
    pub fn new(dist: &Distribution) -> Self {
        let constant_ns = match dist {
            Distribution::Constant { value } => Some(secs_to_ns(*value)),
            _ => None,
        };
        TimeDist {
            sampler: dist.sampler(),
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
            None => secs_to_ns(self.sampler.sample(0, rng)),
        }
    }

    /// True when every draw is 0 (lets the engine skip events).
    pub fn is_zero(&self) -> bool {
        self.constant_ns == Some(0)
    }

    pub fn distribution(&self) -> &Distribution {
        self.sampler.distribution()
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

/// One `[[bursts]]` entry: `count` identical bursts, `every_ns` apart from `at_ns`. The
/// scenario keeps the entry, not its repetitions: a run draws them when they arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BurstSeries {
    pub at_ns: u64,
    pub every_ns: u64,
    pub count: u64,
    pub workers: u32,
    pub tenant: u32,
    /// Index into [`Scenario::actions`].
    pub action: u32,
}

impl BurstSeries {
    /// Its arrivals, in time order (times saturate instead of wrapping).
    pub fn arrivals(&self) -> impl Iterator<Item = Arrival> + Send + 'static {
        let s = *self;
        (0..s.count).map(move |r| Arrival {
            at_ns: s.at_ns.saturating_add(s.every_ns.saturating_mul(r)),
            workers: s.workers,
            tenant: s.tenant,
            action: s.action,
            work_s: None,
        })
    }
}

/// One group request of a run, numbered.
#[derive(Debug, Clone, PartialEq)]
pub struct BurstSpec {
    /// Burst id: its index in the run's arrival order.
    pub id: u64,
    pub at_ns: u64,
    pub workers: u32,
    pub tenant: u32,
    /// Index into [`Scenario::actions`].
    pub action: u32,
    /// Function id of worker 0 (ids are assigned burst by burst, in arrival order).
    pub first_function: u64,
    /// Seconds of work of each function when the arrival says (a per-invocation trace);
    /// `None`: drawn from the action's workload.
    pub work_s: Option<f64>,
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
    /// Requests handled at once; 0 = unlimited.
    pub concurrency: u32,
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
    /// CPU-seconds of a creation's engine work (shared over the invoker's CPUs).
    pub create_cpu: Distribution,
    pub max_concurrent_creations: u32,
    pub contention: Contention,
    /// A creation straggles with `min(1, probability * (n / cpus)^exponent)` (n counted by
    /// `count`), and then waits `delay` more in its runtime init.
    pub straggler: StragglerSpec,
    pub warm_start: TimeDist,
    pub unpause: TimeDist,
    pub pause_grace_ns: u64,
    pub keep_alive_ns: u64,
    pub prewarm: PrewarmSpec,
    pub worker_spawn: TimeDist,
    pub payload: TimeDist,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StragglerSpec {
    pub probability: f64,
    pub exponent: f64,
    pub count: ContentionCount,
    pub delay: TimeDist,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServerfulSpec {
    pub startup: TimeDist,
    pub nodes: u32,
    pub cpus_per_node: u32,
}

/// A validated simulation input.
///
/// Read-only once built: its parts were checked together (a burst against the cluster's CPUs,
/// a function's memory against the invokers'), so editing one (say `invokers`) could break
/// what was checked. For a variant, change the config and validate again:
/// [`Scenario::load`] with `--set`-style overrides (`cluster.invokers=[{ cpus = 8 }]`), or
/// [`Scenario::load_on_cluster`] for another set of invokers. The fields stay public for
/// reading (the root crate reads `mode`, `policy`, `actions`, `controller` and `invokers`).
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Run name (config `name`, or the file stem).
    pub name: String,
    /// The config's seed (the run's default seed).
    pub seed: u64,
    /// Which platform runs the functions.
    pub mode: Mode,
    /// Placement policy.
    pub policy: PolicySpec,
    /// What happens when a function fails or straggles (applied by live runs and by the
    /// simulator's fault model).
    pub recovery: RecoverySpec,
    /// What each function does.
    pub workload: Workload,
    /// One entry per invoker; index = invoker id.
    pub invokers: Vec<InvokerSpec>,
    /// The `[[bursts]]` entries, in config order (their bursts come from
    /// [`Scenario::arrivals`], by arrival; ties in config order).
    pub burst_series: Vec<BurstSeries>,
    /// The distinct actions of the bursts; [`BurstSpec::action`] indexes it.
    pub actions: Vec<ActionRef>,
    /// What each action's functions do (index = action): its `[[arrivals]]` entry's or trace
    /// function's own workload, else `[workload]`.
    pub action_workloads: Vec<Workload>,
    /// Each action's solo run time (ns) when its workload draws nothing
    /// ([`Workload::constant_input`]): its functions skip the per-burst stream.
    pub action_constant_work_ns: Vec<Option<u64>>,
    /// `[[arrivals]]` and `[[traces]]`, drawn per run on top of `burst_series`
    /// ([`Scenario::arrivals`], [`Scenario::run_bursts`]).
    pub sources: Vec<Source>,
    /// What each trace reader found, by entry (`traces[i]`), for reports.
    pub trace_summaries: Vec<(String, TraceSummary)>,
    /// `[client]`.
    pub client: ClientSpec,
    /// `[controller]`.
    pub controller: ControllerSpec,
    /// `[queue] latency`.
    pub queue_latency: TimeDist,
    /// `[invoker]` and its sub-tables.
    pub invoker: InvokerModel,
    /// `[serverful]` (used with `mode = "serverful"`).
    pub serverful: ServerfulSpec,
    /// Functions of `burst_series` (the sum of their workers); a run with sources has more
    /// ([`RunBursts::functions`]).
    pub functions: u64,
    /// `[network]` and `[direct]` for a `steps` workload (`None` for single-body workloads).
    pub comm: Option<CommSpec>,
    /// `[faults]`: what fails during the run and how the controller notices (`None`: nothing
    /// fails, and the engine runs exactly as without faults).
    pub faults: Option<FaultSpec>,
}

impl Scenario {
    /// Reads the config at `path` (with its includes and the `--set` overrides `sets`) and
    /// validates it: the one way commands turn a config file into a scenario.
    pub fn load(path: &Path, sets: &[String]) -> Result<Scenario, ConfigError> {
        let config = crate::config::load_config(path, sets)?;
        Scenario::from_config(&config, path)
    }

    /// Like [`Scenario::load`], on `invokers` instead of the config's `[cluster]` (one group
    /// per invoker, in order): how a command asks the model about another cluster, such as
    /// the live one it measured. The result is validated like any scenario: a burst that can
    /// never fit these invokers is an error naming `cluster.invokers`.
    pub fn load_on_cluster(
        path: &Path,
        sets: &[String],
        invokers: &[InvokerSpec],
    ) -> Result<Scenario, ConfigError> {
        let mut config = crate::config::load_config(path, sets)?;
        config.cluster = ClusterConfig {
            invokers: invokers
                .iter()
                .map(|i| InvokerGroup {
                    count: 1,
                    cpus: i.cpus,
                    user_memory_mb: Some(i.user_memory_mb),
                })
                .collect(),
        };
        Scenario::from_config(&config, path)
    }

    /// Validates `config` (read from `origin`); errors name `origin` and the field path.
    pub fn from_config(config: &Config, origin: &Path) -> Result<Scenario, ConfigError> {
        build::scenario(config, origin).map_err(|e| match e {
            build::BuildError::Field(e) => ConfigError::invalid(origin, e),
            build::BuildError::Trace(field, e) => ConfigError::new(origin, field, e.to_string()),
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
            Mode::Direct => format!(
                "direct {{ granularity = {} }}",
                self.comm.as_ref().map_or(1, |c| c.direct_granularity)
            ),
        }
    }

    /// Number of functions of `[[bursts]]` (all a run records unless there are sources).
    pub fn functions(&self) -> u64 {
        self.functions
    }

    /// True when the client sends one request per burst (burst policies).
    pub fn is_burst(&self) -> bool {
        self.policy.is_burst()
    }

    /// The inputs of `burst`'s functions in worker order, as [`crate::simulate`] draws them
    /// with `seed` (stream `workload`, index = burst id), lazily: a live run that calls this
    /// gives its functions exactly the simulated work.
    pub fn function_inputs(
        &self,
        seed: u64,
        burst: &BurstSpec,
    ) -> impl Iterator<Item = FunctionInput> + '_ {
        self.action_workloads[burst.action as usize].burst_inputs(seed, burst.id, burst.workers)
    }

    /// Total CPUs of the invokers.
    pub fn total_cpus(&self) -> u64 {
        self.invokers.iter().map(|i| i.cpus as u64).sum()
    }
}
