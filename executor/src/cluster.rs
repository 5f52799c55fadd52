//! The cluster file (cluster.toml): where the broker is, which OCI runtime, which agents.
//!
//! ```toml
//! broker = "redis://127.0.0.1:6390"
//! name = "local"                 # namespace of the broker keys
//! runtime = "runc"               # or "crun"
//! state_dir = "/tmp/burstsim-cluster"
//! broker_outage_s = 10.0         # how long a run waits for a broker that went away
//! retry = false                  # true: failed functions run again (see `ClusterFile::retry`)
//! max_concurrent_creations = 1   # containers an agent creates at once (0: no limit)
//! [[agents]]
//! id = 0
//! cpus = 2
//! memory_mb = 2048
//! address = "127.0.0.2"
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use policies::comm::Rate;

use crate::error::{Error, Result};
use crate::runtime::RuntimeKind;

/// Returns a user error (a bad value in the cluster file) from the enclosing function.
macro_rules! invalid {
    ($($arg:tt)*) => {
        return Err(Error::Input(format!($($arg)*)))
    };
}

/// One agent (invoker node).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSpec {
    /// Invoker id, 0-based and dense over the cluster.
    pub id: u32,
    /// CPUs the agent offers to functions.
    pub cpus: u32,
    /// Memory the agent offers to functions (OpenWhisk's user memory), MB.
    #[serde(default = "default_memory")]
    pub memory_mb: u64,
    /// Address the agent advertises (informational: agents only connect out, to the broker).
    #[serde(default = "default_address")]
    pub address: String,
    /// Host CPUs backing the agent's CPUs (`cpus` entries); default: `(offset + i) % cores`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_cpus: Option<Vec<u32>>,
    /// The network namespace the agent runs in (`cluster up --netns`), informational.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns: Option<String>,
    /// Bandwidth of the agent's link to the broker, per direction, bytes/s (or `"1 Gbps"`):
    /// what `validate` gives the simulator as `network.host_bandwidth`. Absent: not limited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_rate: Option<Rate>,
}

fn default_memory() -> u64 {
    4096
}
fn default_address() -> String {
    "127.0.0.1".into()
}
fn default_name() -> String {
    "local".into()
}
fn default_state_dir() -> PathBuf {
    PathBuf::from("/tmp/burstsim-cluster")
}
fn default_creations() -> u32 {
    1
}

fn default_hb_period() -> u64 {
    200
}
fn default_hb_timeout() -> u64 {
    2000
}
fn default_keep_alive() -> f64 {
    10.0
}
fn default_run_timeout() -> f64 {
    300.0
}
fn default_connect_timeout() -> u64 {
    2000
}
fn default_broker_outage() -> f64 {
    10.0
}

/// The whole cluster file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterFile {
    /// Redis URL of the broker, as the agents (and the workers in their containers) reach it.
    pub broker: String,
    /// Redis URL for the controller and tools when they reach the broker another way than the
    /// agents (a local cluster with `--netns`: its unix socket); default `broker`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller_broker: Option<String>,
    #[serde(default = "default_name")]
    pub name: String,
    #[serde(default)]
    pub runtime: RuntimeKind,
    /// Where agents keep bundles, logs and their reaper state.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// The worker binary mounted in containers; default: `burstsim-worker` next to the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_binary: Option<PathBuf>,
    #[serde(default = "default_hb_period")]
    pub heartbeat_period_ms: u64,
    /// An agent whose heartbeat is older than this is lost.
    #[serde(default = "default_hb_timeout")]
    pub heartbeat_timeout_ms: u64,
    /// Idle FaaS containers are removed after this many seconds.
    #[serde(default = "default_keep_alive")]
    pub keep_alive_s: f64,
    /// A run that has not finished after this many seconds fails its unfinished functions.
    #[serde(default = "default_run_timeout")]
    pub run_timeout_s: f64,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_ms: u64,
    /// A broker that went away (a restart) is waited for this many seconds, reconnecting with
    /// backoff, before the run fails; agents wait for it as long as they run.
    #[serde(default = "default_broker_outage")]
    pub broker_outage_s: f64,
    /// Shorthand for runs whose config names no recovery policy: failed functions run again
    /// (`rerun-failed-workers { retries = 3 }` for bursts, `openwhisk { client_retries = 3 }`
    /// for FaaS) instead of staying failed.
    #[serde(default)]
    pub retry: bool,
    /// Containers an agent creates at once (`runc run -d`, or Docker's create and start);
    /// the others wait in FIFO order, as in the simulator's engine slots (`[invoker]
    /// max_concurrent_creations`, also 1 by default); 0 = no limit.
    #[serde(default = "default_creations")]
    pub max_concurrent_creations: u32,
    pub agents: Vec<AgentSpec>,
}

impl ClusterFile {
    /// Reads and checks a cluster file; errors (all the user's: the path or the file is
    /// wrong) name the file and the field.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::Input(format!("cannot read cluster file {}: {e}", path.display()))
        })?;
        Self::parse(&text)
            .map_err(|e| e.context(format_args!("in cluster file {}", path.display())))
    }

    pub fn parse(text: &str) -> Result<Self> {
        let de = toml::Deserializer::parse(text).map_err(|e| Error::Input(e.to_string()))?;
        let c: ClusterFile = serde_path_to_error::deserialize(de).map_err(|e| {
            Error::Input(format!("at `{}`: {}", e.path(), e.inner().message().trim()))
        })?;
        c.validate()?;
        Ok(c)
    }

    pub fn validate(&self) -> Result<()> {
        for (field, url) in [
            ("broker", Some(&self.broker)),
            ("controller_broker", self.controller_broker.as_ref()),
        ] {
            if let Some(url) =
                url.filter(|u| !u.starts_with("redis://") && !u.starts_with("unix://"))
            {
                invalid!("at `{field}`: expected a redis:// or unix:// URL, got `{url}`");
            }
        }
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            invalid!(
                "at `name`: expected letters, digits or '-', got `{}`",
                self.name
            );
        }
        if self.agents.is_empty() {
            invalid!("at `agents`: expected at least one [[agents]] entry");
        }
        for (i, a) in self.agents.iter().enumerate() {
            if a.id as usize != i {
                invalid!(
                    "at `agents[{i}].id`: expected {i} (ids are dense and in order), got {}",
                    a.id
                );
            }
            if a.cpus == 0 {
                invalid!("at `agents[{i}].cpus`: expected an integer >= 1, got 0");
            }
            if let Some(r) = a.link_rate.filter(|r| !(r.0.is_finite() && r.0 > 0.0)) {
                invalid!(
                    "at `agents[{i}].link_rate`: expected a rate > 0 (bytes/s, or \"1 Gbps\"), got {}",
                    r.0
                );
            }
            if let Some(h) = &a.host_cpus {
                if h.len() != a.cpus as usize {
                    invalid!(
                        "at `agents[{i}].host_cpus`: expected {} entries (one per CPU), got {}",
                        a.cpus,
                        h.len()
                    );
                }
            }
        }
        if self.heartbeat_period_ms == 0 || self.heartbeat_timeout_ms <= self.heartbeat_period_ms {
            invalid!(
                "at `heartbeat_timeout_ms`: expected more than heartbeat_period_ms ({}), got {}",
                self.heartbeat_period_ms,
                self.heartbeat_timeout_ms
            );
        }
        if !self.run_timeout_s.is_finite() || self.run_timeout_s <= 0.0 {
            invalid!("at `run_timeout_s`: expected a number > 0");
        }
        if !self.broker_outage_s.is_finite() || self.broker_outage_s <= 0.0 {
            invalid!("at `broker_outage_s`: expected a number of seconds > 0");
        }
        Ok(())
    }

    /// A local cluster of `nodes` agents with `cpus_per_node` CPUs each on 127.0.0.(2+i).
    pub fn local(broker: &str, state_dir: &Path, nodes: u32, cpus_per_node: u32) -> Self {
        ClusterFile {
            broker: broker.to_string(),
            controller_broker: None,
            name: "local".into(),
            runtime: RuntimeKind::Runc,
            state_dir: state_dir.to_path_buf(),
            worker_binary: None,
            heartbeat_period_ms: default_hb_period(),
            heartbeat_timeout_ms: default_hb_timeout(),
            keep_alive_s: default_keep_alive(),
            run_timeout_s: default_run_timeout(),
            connect_timeout_ms: default_connect_timeout(),
            broker_outage_s: default_broker_outage(),
            retry: false,
            max_concurrent_creations: default_creations(),
            agents: (0..nodes)
                .map(|i| AgentSpec {
                    id: i,
                    cpus: cpus_per_node,
                    memory_mb: default_memory(),
                    address: format!("127.0.0.{}", 2 + i),
                    host_cpus: None,
                    netns: None,
                    link_rate: None,
                })
                .collect(),
        }
    }

    /// Host CPUs of agent `id`: explicit, or dealt over the machine's cores after the CPUs of
    /// the agents before it, so agents share cores only when the machine has too few. Each
    /// pass over the cores starts one core further: an agent uses its first CPUs first, and
    /// agents that all started on core 0 would pin their first containers onto one core and
    /// slow each other's creations (measured: 0.070 s against 0.045 s alone, 2 agents x 2 CPUs
    /// on 2 cores) where separate machines would not.
    pub fn host_cpus(&self, id: u32, cores: u32) -> Vec<u32> {
        let a = &self.agents[id as usize];
        if let Some(h) = &a.host_cpus {
            return h.clone();
        }
        let cores = cores.max(1);
        let offset: u32 = self.agents[..id as usize].iter().map(|a| a.cpus).sum();
        let start = (offset + offset / cores) % cores;
        (0..a.cpus).map(|i| (start + i) % cores).collect()
    }

    /// The broker URL for the controller and tools (`controller_broker`, else `broker`).
    pub fn client_broker(&self) -> &str {
        self.controller_broker.as_deref().unwrap_or(&self.broker)
    }

    /// Total declared CPUs.
    pub fn total_cpus(&self) -> u32 {
        self.agents.iter().map(|a| a.cpus).sum()
    }
}

/// Number of CPUs this process may use.
pub fn physical_cores() -> u32 {
    std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Fault;

    #[test]
    fn parses_and_names_bad_fields() {
        let ok = "broker = \"redis://127.0.0.1:1\"\n[[agents]]\nid = 0\ncpus = 2\n";
        let c = ClusterFile::parse(ok).unwrap();
        assert_eq!(c.agents[0].memory_mb, 4096);
        let bad = "broker = \"redis://x\"\n[[agents]]\nid = 0\ncpus = \"two\"\n";
        let e = format!("{}", ClusterFile::parse(bad).unwrap_err());
        assert!(e.contains("agents[0].cpus"), "{e}");
        let unknown = "broker = \"redis://x\"\nbrokr = 1\n[[agents]]\nid = 0\ncpus = 2\n";
        let e = format!("{}", ClusterFile::parse(unknown).unwrap_err());
        assert!(e.contains("brokr"), "{e}");
        let gap = "broker = \"redis://x\"\n[[agents]]\nid = 1\ncpus = 2\n";
        let e = format!("{}", ClusterFile::parse(gap).unwrap_err());
        assert!(e.contains("agents[0].id"), "{e}");
    }

    #[test]
    fn a_bad_or_missing_cluster_file_is_the_users_fault() {
        let bad = "broker = \"http://x\"\n[[agents]]\nid = 0\ncpus = 2\n";
        assert_eq!(ClusterFile::parse(bad).unwrap_err().fault(), Fault::User);
        let e = ClusterFile::load(Path::new("/nonexistent/cluster.toml")).unwrap_err();
        assert_eq!(e.fault(), Fault::User);
        assert!(e.to_string().contains("/nonexistent/cluster.toml"), "{e}");
    }

    #[test]
    fn links_and_namespaces_are_read_and_checked() {
        let ok = "broker = \"redis://10.1.2.1:1\"\ncontroller_broker = \"unix:///tmp/r.sock\"\n\
                  [[agents]]\nid = 0\ncpus = 1\nnetns = \"bs-x-a0\"\nlink_rate = \"1 Gbps\"\n";
        let c = ClusterFile::parse(ok).unwrap();
        assert_eq!(c.client_broker(), "unix:///tmp/r.sock");
        assert_eq!(c.agents[0].link_rate, Some(Rate(125e6)));
        assert_eq!(c.agents[0].netns.as_deref(), Some("bs-x-a0"));
        let e = ClusterFile::parse(&ok.replace("\"1 Gbps\"", "0")).unwrap_err();
        assert!(e.to_string().contains("agents[0].link_rate"), "{e}");
        let e = ClusterFile::parse(&ok.replace("unix:///tmp/r.sock", "tcp://x")).unwrap_err();
        assert!(e.to_string().contains("controller_broker"), "{e}");
        let plain = ClusterFile::local("redis://127.0.0.1:1", Path::new("/tmp"), 1, 1);
        assert_eq!(plain.client_broker(), "redis://127.0.0.1:1");
    }

    #[test]
    fn host_cpus_wrap_over_cores() {
        let c = ClusterFile::local("redis://x", Path::new("/tmp"), 2, 2);
        assert_eq!(c.host_cpus(0, 2), vec![0, 1]);
        // The second pass over two cores starts on core 1: the agents' first CPUs differ.
        assert_eq!(c.host_cpus(1, 2), vec![1, 0]);
        assert_eq!(c.host_cpus(1, 4), vec![2, 3]);
        let three = ClusterFile::local("redis://x", Path::new("/tmp"), 3, 2);
        assert_eq!(three.host_cpus(2, 4), vec![1, 2]);
        assert_eq!(three.host_cpus(2, 6), vec![4, 5]);
    }
}
