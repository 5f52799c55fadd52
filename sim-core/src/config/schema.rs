//! The TOML schema of a simulation config: one serde struct per section, unknown keys rejected.
//!
//! Times are seconds. A field typed [`Dur`] takes either a number (`cold_start = 0.5`) or a
//! distribution table (`cold_start = { dist = "lognormal", median = 0.5, p99 = 2.0 }`).
//! Values are checked for sense (negative times, empty cluster...) by
//! [`crate::scenario::Scenario::from_config`], not here.

pub use policies::OnNoCapacity;
use policies::{ActionKind, Distribution, PolicySpec, RecoverySpec, Workload};
use serde::{Deserialize, Deserializer, Serialize};

use super::network::{DirectConfig, NetworkConfig};

/// A time in seconds: a number or a [`Distribution`] table.
/// A constant is written back as a bare number, like any [`Distribution`].
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(transparent)]
pub struct Dur(pub Distribution);

impl Dur {
    /// A constant time of `value` seconds.
    pub fn secs(value: f64) -> Self {
        Dur(Distribution::constant(value))
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Distribution::deserialize_number_or_table(
            deserializer,
            "a number of seconds or a distribution table like { dist = \"constant\", value = 1.0 }",
        )
        .map(Dur)
    }
}

/// The whole config file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Run name; default: the config file's stem.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Run seed (the CLI's `--seed` overrides it).
    #[serde(default)]
    pub seed: u64,
    /// Files merged under this one (paths relative to this file); resolved by [`super::load_config`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    /// `openwhisk` (the platform model) or `serverful` (a cluster that boots, then runs the work).
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub cluster: ClusterConfig,
    /// Placement policy (`[policy] name = "burst-heterogeneous"`); `faas` means vanilla OpenWhisk.
    pub policy: PolicySpec,
    /// What happens when a function fails or straggles (`[recovery] name = "rerun-pack"`);
    /// default `none`. See [`policies::recovery`].
    #[serde(default, skip_serializing_if = "is_no_recovery")]
    pub recovery: RecoverySpec,
    /// Failures injected into the run and how they are detected (`[faults]`); absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faults: Option<super::FaultsConfig>,
    /// What each function does.
    pub workload: Workload,
    /// Group requests (bursts); in faas mode each stands for N single invocations.
    #[serde(default)]
    pub bursts: Vec<BurstConfig>,
    /// Open-loop arrival processes, one action each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arrivals: Vec<super::ArrivalConfig>,
    /// Traces to replay (paths relative to the config file).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub traces: Vec<super::TraceConfig>,
    #[serde(default)]
    pub client: ClientConfig,
    #[serde(default)]
    pub controller: ControllerConfig,
    #[serde(default)]
    pub queue: QueueConfig,
    #[serde(default)]
    pub invoker: InvokerConfig,
    #[serde(default)]
    pub serverful: ServerfulConfig,
    /// How `steps` workloads' messages travel (chunking, host links, the backend server).
    #[serde(default, skip_serializing_if = "NetworkConfig::is_default")]
    pub network: NetworkConfig,
    /// `mode = "direct"`: workers placed as given, started at once, no invocation.
    #[serde(default, skip_serializing_if = "DirectConfig::is_default")]
    pub direct: DirectConfig,
}

/// Which platform runs the functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Client -> controller -> queue -> invokers -> containers.
    #[default]
    Openwhisk,
    /// A VM cluster that boots first, then runs the functions on its cores.
    Serverful,
    /// No platform: every burst's workers start at its `at` on hosts of their own, in packs of
    /// `[direct] granularity` (how the communication benchmarks ran); `steps` workloads only.
    Direct,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// Groups of identical invokers; ids are assigned in listing order.
    #[serde(default)]
    pub invokers: Vec<InvokerGroup>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvokerGroup {
    /// Number of identical invokers in the group.
    #[serde(default = "one")]
    pub count: u32,
    /// CPUs each invoker offers to functions.
    pub cpus: u32,
    /// User memory (memory slots) of each invoker, MB; default `[invoker].user_memory_mb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_memory_mb: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BurstConfig {
    /// Arrival time at the client, s.
    #[serde(default)]
    pub at: f64,
    /// Number of functions (workers).
    pub workers: u32,
    #[serde(default)]
    pub tenant: u32,
    /// Action name (the faas home invoker is a hash of it); default `burst-<index>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Memory of one function, MB.
    #[serde(default = "default_memory")]
    pub memory_mb: u64,
    /// `docker` (a blackbox image, as Lithops deploys its runtime) or `managed` (an OpenWhisk
    /// runtime kind): which invokers the faas balancer may use, whether prewarm can serve it.
    #[serde(default)]
    pub kind: ActionKind,
    /// Repeat this burst `count` times, `every` seconds apart.
    #[serde(default = "one")]
    pub count: u32,
    #[serde(default)]
    pub every: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// Time for the client to send one request (in faas mode, one per function).
    #[serde(default)]
    pub request_overhead: Dur,
    /// Max requests in flight (sent, not yet acknowledged by the controller); 0 = unlimited.
    #[serde(default)]
    pub concurrency: u32,
    /// Max requests per second; 0 = unlimited.
    #[serde(default)]
    pub rate: f64,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            request_overhead: Dur::default(),
            concurrency: 0,
            rate: 0.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControllerConfig {
    /// Processing time per request (authentication, action lookup, placement): a latency.
    #[serde(default)]
    pub processing: Dur,
    /// Requests handled at once, each from processing to its last published message; 0 =
    /// unlimited (OpenWhisk's controller handles activations concurrently), 1 = one at a time.
    #[serde(default)]
    pub concurrency: u32,
    /// Time to publish each container's message of a plan (sequential within one request).
    #[serde(default)]
    pub per_container: Dur,
    /// Invokers report freed CPUs every period, s; the controller's view lags by up to one period.
    #[serde(default = "one_f64")]
    pub heartbeat_period: f64,
    #[serde(default)]
    pub on_no_capacity: OnNoCapacity,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            processing: Dur::default(),
            concurrency: 0,
            per_container: Dur::default(),
            heartbeat_period: 1.0,
            on_no_capacity: OnNoCapacity::Queue,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// Per-message latency of an invoker's topic; delivery stays in publish order.
    #[serde(default)]
    pub latency: Dur,
}

/// How CPU time is given to functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CpuModelSpec {
    /// One dedicated core per worker.
    Exclusive,
    /// OpenWhisk CPU shares (proportional to memory), processor sharing.
    Shares,
    /// Exclusive for burst policies, shares for faas.
    #[default]
    Auto,
}

/// What the contention factor counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentionCount {
    /// Containers on the invoker past the engine queue (in the engine phase, initialising, or
    /// running), excluding this one: with one engine slot the k-th creation sees n = k - 1,
    /// so ready times grow faster than linearly, as measured.
    #[default]
    Alive,
    /// Containers being created on the invoker (queued, in the engine, or initialising), excluding this one.
    InFlight,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contention {
    /// Engine phase (`create` and `create_cpu` draws) is multiplied by `1 + alpha * n^exponent`.
    #[serde(default)]
    pub alpha: f64,
    #[serde(default = "one_f64")]
    pub exponent: f64,
    #[serde(default)]
    pub count: ContentionCount,
}

impl Default for Contention {
    fn default() -> Self {
        Contention {
            alpha: 0.0,
            exponent: 1.0,
            count: ContentionCount::Alive,
        }
    }
}

/// Rare creations that take much longer: a creation is, with probability
/// `min(1, probability * (n / cpus)^exponent)`, delayed by a `delay` draw in its runtime init
/// (it holds no engine slot, so the others go on). n counts the invoker's other containers
/// (`count`, as for contention) when the init starts, relative to its CPUs; `exponent = 0`
/// makes every creation equally likely to straggle, a positive one makes stragglers a matter
/// of load (`probability` is then the chance at one container per CPU).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Straggler {
    /// Chance that a creation straggles (times `(n / cpus)^exponent`), >= 0.
    #[serde(default)]
    pub probability: f64,
    #[serde(default)]
    pub exponent: f64,
    #[serde(default = "in_flight")]
    pub count: ContentionCount,
    /// Extra runtime-init time of a straggling creation.
    #[serde(default)]
    pub delay: Dur,
}

impl Default for Straggler {
    fn default() -> Self {
        Straggler {
            probability: 0.0,
            exponent: 0.0,
            count: ContentionCount::InFlight,
            delay: Dur::default(),
        }
    }
}

fn in_flight() -> ContentionCount {
    ContentionCount::InFlight
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prewarm {
    /// Stem-cell containers kept ready per invoker, as user memory allows (they take it).
    #[serde(default)]
    pub count: u32,
    /// Memory of a stem cell; only single-worker containers of managed actions with this
    /// memory can use one.
    #[serde(default = "default_memory")]
    pub memory_mb: u64,
    /// Time to specialise a stem cell for an action (instead of engine + cold start).
    #[serde(default)]
    pub init: Dur,
}

impl Default for Prewarm {
    fn default() -> Self {
        Prewarm {
            count: 0,
            memory_mb: 256,
            init: Dur::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispatcherConfig {
    /// Per worker, sequential: worker k starts at ready + payload + (k+1) * spawn.
    #[serde(default)]
    pub worker_spawn: Dur,
    /// Per container, before the first spawn (receiving parameters and burst info).
    #[serde(default)]
    pub payload: Dur,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvokerConfig {
    /// Default user memory per invoker, MB (OpenWhisk memory slots).
    #[serde(default = "default_user_memory")]
    pub user_memory_mb: u64,
    #[serde(default)]
    pub cpu_model: CpuModelSpec,
    /// Runtime init after the engine phase; runs in parallel (no engine slot).
    #[serde(default)]
    pub cold_start: Dur,
    /// Container-engine phase, wall-clock part: a fixed section of each creation that holds
    /// one of the `max_concurrent_creations` slots and shares nothing.
    #[serde(default)]
    pub create: Dur,
    /// Container-engine phase, CPU part: CPU-seconds of work per creation. The creations in
    /// the engine share the invoker's CPUs equally (processor sharing), so one creation alone
    /// takes `create_cpu / cpus` and a bigger invoker creates faster.
    #[serde(default)]
    pub create_cpu: Dur,
    /// Engine slots per invoker (creations in the engine at once, FIFO beyond); 0 = unlimited.
    #[serde(default = "one")]
    pub max_concurrent_creations: u32,
    #[serde(default)]
    pub contention: Contention,
    /// A creation that is delayed for long in its runtime init (off the engine's slots).
    #[serde(default)]
    pub straggler: Straggler,
    /// Reuse of an idle warm container.
    #[serde(default)]
    pub warm_start: Dur,
    /// Extra when the warm container was paused (idle longer than `pause_grace`).
    #[serde(default)]
    pub unpause: Dur,
    /// An idle container is paused after this, s (OpenWhisk: 50 ms).
    #[serde(default = "default_pause_grace")]
    pub pause_grace: f64,
    /// Idle containers are removed after this, s.
    #[serde(default = "default_keep_alive")]
    pub keep_alive: f64,
    #[serde(default)]
    pub prewarm: Prewarm,
    #[serde(default)]
    pub dispatcher: DispatcherConfig,
}

impl Default for InvokerConfig {
    fn default() -> Self {
        InvokerConfig {
            user_memory_mb: default_user_memory(),
            cpu_model: CpuModelSpec::Auto,
            cold_start: Dur::default(),
            create: Dur::default(),
            create_cpu: Dur::default(),
            max_concurrent_creations: 1,
            contention: Contention::default(),
            straggler: Straggler::default(),
            warm_start: Dur::default(),
            unpause: Dur::default(),
            pause_grace: default_pause_grace(),
            keep_alive: default_keep_alive(),
            prewarm: Prewarm::default(),
            dispatcher: DispatcherConfig::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerfulConfig {
    /// Whole-cluster boot time (thesis Table 5.1: minutes).
    #[serde(default)]
    pub startup: Dur,
    #[serde(default = "default_nodes")]
    pub nodes: u32,
    #[serde(default = "default_cpus_per_node")]
    pub cpus_per_node: u32,
}

impl Default for ServerfulConfig {
    fn default() -> Self {
        ServerfulConfig {
            startup: Dur::default(),
            nodes: default_nodes(),
            cpus_per_node: default_cpus_per_node(),
        }
    }
}

fn is_no_recovery(r: &RecoverySpec) -> bool {
    *r == RecoverySpec::None
}
fn one() -> u32 {
    1
}
fn one_f64() -> f64 {
    1.0
}
fn default_memory() -> u64 {
    256
}
fn default_user_memory() -> u64 {
    2048
}
/// OpenWhisk's `container-proxy.timeouts.pause-grace` (invoker application.conf: 50 ms).
fn default_pause_grace() -> f64 {
    0.05
}
fn default_keep_alive() -> f64 {
    600.0
}
fn default_nodes() -> u32 {
    8
}
fn default_cpus_per_node() -> u32 {
    16
}
