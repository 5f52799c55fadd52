//! Messages between controller and agents through the broker, all JSON. A message that does not
//! parse is rejected by the receiver with a logged reason; it never stops the receiver.

use policies::workload::FunctionInput;
use serde::{Deserialize, Serialize};

use crate::comm::CommJob;
use crate::payload::{Layout, WorkerReport};

/// A message on an invoker's queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AgentMsg {
    /// One container of a burst: a fresh container with one exclusive CPU per worker.
    Burst(BurstJob),
    /// One FaaS invocation: reuse a warm container of the action or create one.
    Invoke(InvokeJob),
    /// Drop everything of `run_id`: kill its running containers and its warm ones.
    EndRun { run_id: String },
    /// Stop job `job_id` of `run_id` (its burst failed, or another copy of it won): kill its
    /// container, or never start it.
    Stop { run_id: String, job_id: u64 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BurstJob {
    pub run_id: String,
    /// Unique within the run; results carry it back.
    pub job_id: u64,
    pub container_id: u64,
    pub first_worker: u32,
    pub layout: Layout,
    pub inputs: Vec<FunctionInput>,
    pub memory_mb: u64,
    pub seed: u64,
    /// A `steps` burst: the program and this container's part of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comm: Option<CommJob>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvokeJob {
    pub run_id: String,
    pub job_id: u64,
    /// Warm containers are reused only for the same action.
    pub action: String,
    pub memory_mb: u64,
    /// The container id to use if this invocation creates one (cold start).
    pub new_container_id: u64,
    pub worker_id: u32,
    pub burst_id: u64,
    pub input: FunctionInput,
    pub seed: u64,
    /// A `steps` burst: the program and this function's part of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comm: Option<CommJob>,
}

/// What an agent sends back for one job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobResult {
    pub run_id: String,
    pub job_id: u64,
    pub invoker: u32,
    pub container_id: u64,
    /// CLOCK_REALTIME when the agent read the message.
    pub t_dispatch: f64,
    /// CLOCK_REALTIME when the container was ready (dispatcher started inside it); NaN (JSON
    /// null) when it never was.
    #[serde(deserialize_with = "nan_if_null")]
    pub t_ready: f64,
    pub cold: bool,
    /// Invoker-local CPU index of each worker (bursts), empty for FaaS.
    pub cpus: Vec<u32>,
    /// The node has fewer physical cores than it declares, or CPUs are shared (FaaS).
    pub cpu_shared: bool,
    /// Per worker in worker-id order: its report, or why it failed.
    pub workers: Vec<Result<WorkerReport, String>>,
    /// Set when the whole job failed (container could not start...).
    pub error: Option<String>,
}

/// What an agent publishes in its heartbeat key (expires when the agent stops sending it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    pub invoker: u32,
    pub address: String,
    pub pid: u32,
    pub total_cpus: u32,
    pub free_cpus: u32,
    pub user_memory_mb: u64,
    pub free_memory_mb: u64,
    pub cpu_shared: bool,
}

/// JSON has no NaN: serde_json writes it as null, so null reads back as NaN.
fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// Parses a broker message, naming what was wrong.
pub fn parse<T: for<'de> Deserialize<'de>>(what: &str, raw: &str) -> Result<T, String> {
    let de = &mut serde_json::Deserializer::from_str(raw);
    serde_path_to_error::deserialize(de)
        .map_err(|e| format!("malformed {what}: at `{}`: {}", e.path(), e.inner()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_message_names_the_field() {
        let err = parse::<AgentMsg>(
            "agent message",
            r#"{"type":"invoke","run_id":"r","job_id":"x"}"#,
        )
        .unwrap_err();
        // Internally tagged enums lose the path; the reason still names the bad value.
        assert!(err.contains("expected u64"), "{err}");
        let err = parse::<AgentMsg>("agent message", "not json").unwrap_err();
        assert!(err.starts_with("malformed agent message"), "{err}");
    }

    #[test]
    fn failed_job_result_round_trips() {
        // A container that never started has no ready time: it must still parse, or the
        // controller would drop the failure and wait for the run timeout.
        let r = JobResult {
            run_id: "r".into(),
            job_id: 3,
            invoker: 1,
            container_id: 3,
            t_dispatch: 1.5,
            t_ready: f64::NAN,
            cold: true,
            cpus: vec![0],
            cpu_shared: false,
            workers: Vec::new(),
            error: Some("could not start".into()),
        };
        let s = serde_json::to_string(&r).unwrap();
        assert!(s.contains("\"t_ready\":null"), "{s}");
        let back: JobResult = parse("job result", &s).unwrap();
        assert!(back.t_ready.is_nan());
        assert_eq!(back.error, r.error);
        assert_eq!(back.job_id, 3);
    }

    #[test]
    fn end_run_round_trips() {
        let m = AgentMsg::EndRun { run_id: "a".into() };
        let s = serde_json::to_string(&m).unwrap();
        assert_eq!(parse::<AgentMsg>("m", &s).unwrap(), m);
    }

    #[test]
    fn a_steps_job_round_trips_with_its_program() {
        #[derive(Deserialize)]
        struct W {
            steps: policies::comm::Program,
        }
        let program = toml::from_str::<W>(
            "[[steps]]\nkind = \"compute\"\nwork = { dist = \"uniform\", min = 0.1, max = 0.2 }\n\
             [[steps]]\nkind = \"repeat\"\ntimes = 2\nsteps = [{ kind = \"broadcast\", root = 1, bytes = \"8 MiB\" }, \
             { kind = \"send\", pairs = [[0, 1]], bytes = 10 }]\n",
        )
        .unwrap()
        .steps;
        let job = BurstJob {
            run_id: "r".into(),
            job_id: 1,
            container_id: 2,
            first_worker: 0,
            layout: Layout {
                burst_id: 0,
                containers: vec![(0, 2, 0, 1)],
            },
            inputs: vec![FunctionInput::Steps; 2],
            memory_mb: 128,
            seed: 3,
            comm: Some(CommJob {
                draws: program.burst_draws(1, 0, 2),
                program,
                chunk_size: 1 << 20,
                backend: crate::comm::LiveBackend::Stream,
                broker: "redis://10.0.0.1:6390".into(),
                keys: "bs:l1:m:r:b0".into(),
                seed: 4,
                timeout_s: 60.0,
                faas_workers: None,
            }),
        };
        let m = AgentMsg::Burst(job);
        let s = serde_json::to_string(&m).unwrap();
        assert_eq!(parse::<AgentMsg>("m", &s).unwrap(), m);
    }
}
