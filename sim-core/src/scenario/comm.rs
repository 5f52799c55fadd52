//! `[network]`, `[direct]` and a `steps` workload, validated together into a [`CommSpec`].

use policies::FieldError;

use super::secs_to_ns;
use crate::config::{BackendConfig, Config, Mode};

/// The backend server between packs, validated (rates in bytes/s, times in ns).
#[derive(Debug, Clone, PartialEq)]
pub struct BackendSpec {
    /// Name for reports.
    pub name: String,
    /// Bytes per second in plus out; `None`: unlimited.
    pub server_throughput: Option<f64>,
    /// One connection's rate for chunks below `large_chunk_bytes`.
    pub connection_rate: f64,
    /// One connection's rate for chunks of at least `large_chunk_bytes`.
    pub large_chunk_rate: f64,
    /// Where the large-chunk rate starts.
    pub large_chunk_bytes: u64,
    /// Per chunk request, each side.
    pub chunk_latency_ns: u64,
    /// Once per remote message, before its first chunk.
    pub message_latency_ns: u64,
    /// Receiver polling period (0: none).
    pub poll_interval_ns: u64,
    /// Chunk requests in flight per worker and direction (0: unlimited).
    pub connections_per_worker: u32,
}

impl BackendSpec {
    /// The rate cap of one connection moving a chunk of `bytes`.
    pub fn connection_cap(&self, bytes: u64) -> f64 {
        if bytes >= self.large_chunk_bytes {
            self.large_chunk_rate
        } else {
            self.connection_rate
        }
    }
}

/// How a run's workers communicate: present for `steps` workloads.
#[derive(Debug, Clone, PartialEq)]
pub struct CommSpec {
    /// Chunk size of remote messages, bytes (0: whole messages).
    pub chunk_size: u64,
    /// In-pack copy rate, bytes/s.
    pub local_bandwidth: f64,
    /// Each host's bandwidth per direction, bytes/s; `None`: unlimited.
    pub host_bandwidth: Option<f64>,
    /// The backend; `None` only when the program never communicates.
    pub backend: Option<BackendSpec>,
    /// Workers per pack in direct mode.
    pub direct_granularity: u32,
}

/// Validates the communication sections of `config`; `None` for single-body workloads.
pub(super) fn comm(config: &Config) -> Result<Option<CommSpec>, FieldError> {
    let program = config.workload.program();
    // Step programs run on [[bursts]]: the arrival and trace sources carry single-body work.
    for (i, entry) in config.arrivals.iter().enumerate() {
        if entry
            .workload
            .as_ref()
            .is_some_and(|w| w.program().is_some())
        {
            return Err(FieldError::new(
                format!("arrivals[{i}].workload.kind"),
                "`sleep`, `cpu` or `montecarlo` (`steps` workloads run on [[bursts]] only)",
                "steps",
            ));
        }
    }
    if program.is_some() {
        let sources = [
            ("arrivals", config.arrivals.len()),
            ("traces", config.traces.len()),
        ];
        if let Some((field, _)) = sources.iter().find(|(_, n)| *n > 0) {
            return Err(FieldError::new(
                *field,
                "no arrival or trace sources with a `steps` workload (it runs on [[bursts]] only)",
                format!("{field} entries"),
            ));
        }
    }
    match (config.mode, program) {
        (Mode::Direct, None) => {
            return Err(FieldError::new(
                "workload.kind",
                "\"steps\" with mode = \"direct\" (a single compute step for plain work)",
                "a single-body workload",
            ))
        }
        (Mode::Serverful, Some(_)) => return Err(FieldError::new(
            "mode",
            "\"openwhisk\" or \"direct\" for a `steps` workload (serverful has no network model)",
            "serverful",
        )),
        (_, None) => return Ok(None),
        (_, Some(_)) => {}
    }
    let program = program.expect("checked above");
    for burst in &config.bursts {
        program
            .validate_for(burst.workers)
            .map_err(|e| e.under("workload.steps"))?;
    }
    if config.direct.granularity == 0 {
        return Err(FieldError::new("direct.granularity", "an integer >= 1", 0));
    }
    let net = &config.network;
    let backend = match &net.backend {
        Some(b) => Some(backend(b).map_err(|e| e.under("network.backend"))?),
        None if program.communicates() => {
            return Err(FieldError::new(
                "network.backend",
                "a [network.backend] table for a workload that communicates (e.g. include \
                 \"profiles/comm/redis-list.toml\")",
                "none",
            ))
        }
        None => None,
    };
    Ok(Some(CommSpec {
        chunk_size: net.chunk_size.0,
        local_bandwidth: net.local_bandwidth.0,
        host_bandwidth: net.host_bandwidth.map(|r| r.0),
        backend,
        direct_granularity: config.direct.granularity,
    }))
}

fn backend(b: &BackendConfig) -> Result<BackendSpec, FieldError> {
    if b.name.is_empty() {
        return Err(FieldError::new(
            "name",
            "a non-empty name",
            "an empty string",
        ));
    }
    let secs = |field: &str, v: f64| {
        if v.is_finite() && v >= 0.0 {
            Ok(secs_to_ns(v))
        } else {
            Err(FieldError::new(field, "a number of seconds >= 0", v))
        }
    };
    Ok(BackendSpec {
        name: b.name.clone(),
        server_throughput: b.server_throughput.map(|r| r.0),
        connection_rate: b.connection_rate.0,
        large_chunk_rate: b.large_chunk_rate.unwrap_or(b.connection_rate).0,
        large_chunk_bytes: b.large_chunk_bytes.0,
        chunk_latency_ns: secs("chunk_latency", b.chunk_latency)?,
        message_latency_ns: secs("message_latency", b.message_latency)?,
        poll_interval_ns: secs("poll_interval", b.poll_interval)?,
        connections_per_worker: b.connections_per_worker,
    })
}
