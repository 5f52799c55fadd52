//! The TOML schema of `[faults]`: failures injected into a simulated run (invoker crashes at
//! given times or at random, failed container creations, crashing workers, stragglers, broker
//! outages) and the parameters of the health protocol that detects a lost invoker. Values are
//! checked by [`crate::scenario::Scenario::from_config`].

use policies::Distribution;
use serde::{Deserialize, Serialize};

use super::Dur;

/// `[faults]`. Absent: no fault, and the run is exactly what it was without this section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultsConfig {
    /// Seconds without a ping (invokers ping every `controller.heartbeat_period`) after which
    /// the controller takes an invoker offline: OpenWhisk's `InvokerActor.healthyTimeout`.
    #[serde(default = "default_offline_timeout")]
    pub offline_timeout: f64,
    /// The action's time limit, s (OpenWhisk's default: 60 s). A FaaS activation whose
    /// completion ack never comes fails `max(action_timeout, 60) * 2 + 60` s after it was
    /// published (the load balancer's completion-ack timeout).
    #[serde(default = "default_action_timeout")]
    pub action_timeout: f64,
    /// Probability that a cold container creation fails (at the end of its engine phase).
    #[serde(default)]
    pub creation_failure: f64,
    /// Probability that an attempt's worker crashes, at a uniform point of its run.
    #[serde(default)]
    pub worker_crash: f64,
    /// Invoker crashes at given times.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invoker_crashes: Vec<InvokerCrashConfig>,
    /// Random invoker crashes (every invoker), by time to failure and recovery time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoker_failures: Option<InvokerFailuresConfig>,
    /// Attempts that run slower than their work says.
    #[serde(default, skip_serializing_if = "StragglersConfig::is_default")]
    pub stragglers: StragglersConfig,
    /// Windows during which the message broker (Kafka) is down.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub broker_outages: Vec<OutageConfig>,
}

impl Default for FaultsConfig {
    fn default() -> Self {
        FaultsConfig {
            offline_timeout: default_offline_timeout(),
            action_timeout: default_action_timeout(),
            creation_failure: 0.0,
            worker_crash: 0.0,
            invoker_crashes: Vec::new(),
            invoker_failures: None,
            stragglers: StragglersConfig::default(),
            broker_outages: Vec::new(),
        }
    }
}

/// `[[faults.invoker_crashes]]`: one crash of one invoker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvokerCrashConfig {
    /// Invoker id (listing order of `[[cluster.invokers]]`).
    pub invoker: u32,
    /// When it crashes, s (the time axis of `[[bursts]] at`).
    pub at: f64,
    /// Down for this long, s, then back with no container; absent: it stays down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<f64>,
}

/// `[faults.invoker_failures]`: each invoker crashes after a drawn up time, comes back after
/// a drawn recovery time, and so on (its own random stream).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvokerFailuresConfig {
    /// Up time from the start (or a recovery) to the next crash, s; its mean is the MTBF.
    pub time_to_failure: Dur,
    /// Down time after a crash, s.
    #[serde(default)]
    pub recovery: Dur,
}

/// `[faults.stragglers]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StragglersConfig {
    /// Probability that an attempt straggles.
    #[serde(default)]
    pub probability: f64,
    /// How much longer a straggling attempt runs: a factor on its run time (a number or a
    /// distribution; draws below 1 count as 1).
    #[serde(default = "default_slowdown")]
    pub slowdown: Distribution,
}

impl Default for StragglersConfig {
    fn default() -> Self {
        StragglersConfig {
            probability: 0.0,
            slowdown: default_slowdown(),
        }
    }
}

impl StragglersConfig {
    /// True when every field has its default (the table is then not written back).
    pub fn is_default(&self) -> bool {
        *self == StragglersConfig::default()
    }
}

/// `[[faults.broker_outages]]`: the broker is down over `[from, until)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutageConfig {
    /// Start, s.
    pub from: f64,
    /// End, s (after `from`).
    pub until: f64,
}

/// OpenWhisk's `InvokerActor.healthyTimeout` (InvokerSupervision.scala): 10 s.
fn default_offline_timeout() -> f64 {
    10.0
}

/// OpenWhisk's default action time limit (`TimeLimit.STD_DURATION`): 60 s.
fn default_action_timeout() -> f64 {
    60.0
}

fn default_slowdown() -> Distribution {
    Distribution::constant(1.0)
}
