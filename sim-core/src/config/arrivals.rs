//! The TOML of `[[arrivals]]` (open-loop arrival processes, one action each) and `[[traces]]`
//! (trace replay); see [`crate::arrivals`] for the processes and readers.

use policies::{ActionKind, Workload};
use serde::{Deserialize, Serialize};

use crate::arrivals::azure2019::Azure2019Config;
use crate::arrivals::azure2021::Azure2021Config;
use crate::arrivals::burst_csv::BurstCsvConfig;
use crate::arrivals::ArrivalProcess;

/// `[[arrivals]]`: requests of one action arriving by a process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArrivalConfig {
    /// Action name; default `arrivals-<index>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default)]
    pub tenant: u32,
    /// Memory of one function, MB.
    #[serde(default = "default_memory")]
    pub memory_mb: u64,
    /// `docker` or `managed`, as for `[[bursts]]`.
    #[serde(default)]
    pub kind: ActionKind,
    /// Functions per request (1: single invocations; more: bursts).
    #[serde(default = "one")]
    pub workers: u32,
    /// What each function does; default the config's `[workload]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<Workload>,
    /// When requests arrive.
    pub process: ArrivalProcess,
    /// First possible arrival, s.
    #[serde(default)]
    pub start: f64,
    /// No arrival at or after this time, s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<f64>,
    /// At most this many requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
}

/// `[[traces]]`: a trace to replay, by `format`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "format")]
pub enum TraceConfig {
    /// The Azure Functions 2019 dataset (per-minute counts, duration and memory percentiles).
    #[serde(rename = "azure-2019")]
    Azure2019(Azure2019Config),
    /// The Azure Functions 2021 per-invocation trace.
    #[serde(rename = "azure-2021")]
    Azure2021(Azure2021Config),
    /// A CSV of bursts: `at,workers,tenant,action`.
    #[serde(rename = "bursts")]
    Bursts(BurstCsvConfig),
}

fn default_memory() -> u64 {
    256
}

fn one() -> u32 {
    1
}
