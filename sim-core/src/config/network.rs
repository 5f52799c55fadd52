//! The TOML schema of group communication: `[network]` (chunking, host links, in-pack copies)
//! with its `[network.backend]` (the server between packs, usually included from a fitted
//! profile in `configs/profiles/comm/`), and `[direct]` (workers started directly on VMs).

use policies::comm::{ByteSize, Rate};
use serde::{Deserialize, Serialize};

/// `[network]`: how the messages of `steps` workloads travel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// Remote messages are cut into chunks of this size, one backend request each; 0 sends
    /// every message whole. Default 1 MiB, the middleware's chunk size.
    #[serde(default = "default_chunk_size")]
    pub chunk_size: ByteSize,
    /// Copy rate of a message inside a pack (in-process channels pass references: near free).
    #[serde(default = "default_local_bandwidth")]
    pub local_bandwidth: Rate,
    /// Network bandwidth of each host (invoker, or VM in direct mode), per direction, e.g.
    /// `"12.5 Gbps"` (the instance type's published figure); absent: unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_bandwidth: Option<Rate>,
    /// The backend server remote messages go through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<BackendConfig>,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            chunk_size: default_chunk_size(),
            local_bandwidth: default_local_bandwidth(),
            host_bandwidth: None,
            backend: None,
        }
    }
}

impl NetworkConfig {
    /// True when every field has its default (the section is then not written back).
    pub fn is_default(&self) -> bool {
        *self == NetworkConfig::default()
    }
}

/// `[network.backend]`: the server between packs and the client library that talks to it.
/// Every parameter is a property of the server, its connections or the library, never of one
/// experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendConfig {
    /// What it is (`redis-list`, `s3`, ...), for reports.
    #[serde(default = "default_backend_name")]
    pub name: String,
    /// Bytes per second the server handles, taken in plus sent out; absent: unlimited (S3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_throughput: Option<Rate>,
    /// Rate of one connection moving a chunk (upload or download).
    pub connection_rate: Rate,
    /// Rate of one connection for chunks of at least `large_chunk_bytes`; default
    /// `connection_rate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub large_chunk_rate: Option<Rate>,
    /// Where `large_chunk_rate` starts.
    #[serde(default = "default_large_chunk_bytes")]
    pub large_chunk_bytes: ByteSize,
    /// Seconds per chunk request, paid by the sender before each upload and by the receiver
    /// before each download (request round trip and server handling).
    #[serde(default)]
    pub chunk_latency: f64,
    /// Seconds once per remote message, before its first chunk is uploaded.
    #[serde(default)]
    pub message_latency: f64,
    /// Storage-like backends (S3): an idle receiver lists the server every this many seconds,
    /// so a chunk stored while it waits is seen at its next poll; 0: pushed at once.
    #[serde(default)]
    pub poll_interval: f64,
    /// Chunk requests a worker has in flight per direction (the middleware's Redis pool holds
    /// one connection per worker of the pack); 0: unlimited (S3's request semaphore).
    #[serde(default = "one")]
    pub connections_per_worker: u32,
}

/// `[direct]`: with `mode = "direct"`, the workers of every burst are placed as given and all
/// start at the burst's `at`, with no invocation (as the communication benchmarks ran).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectConfig {
    /// Workers per pack: pack k holds ids `k*G .. k*G + G - 1` and runs on its own host.
    #[serde(default = "one")]
    pub granularity: u32,
}

impl Default for DirectConfig {
    fn default() -> Self {
        DirectConfig { granularity: 1 }
    }
}

impl DirectConfig {
    /// True when every field has its default.
    pub fn is_default(&self) -> bool {
        *self == DirectConfig::default()
    }
}

fn default_chunk_size() -> ByteSize {
    ByteSize(1 << 20)
}

fn default_local_bandwidth() -> Rate {
    Rate(10.0 * (1u64 << 30) as f64)
}

fn default_large_chunk_bytes() -> ByteSize {
    ByteSize(8 << 20)
}

fn default_backend_name() -> String {
    "backend".into()
}

fn one() -> u32 {
    1
}
