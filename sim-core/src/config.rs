//! The TOML schema of a simulation config, and its loading: includes, `--set` overrides and
//! deserialization with errors that name the file and the field path.
//!
//! Times are seconds. A field typed [`Dur`] takes either a number (`cold_start = 0.5`) or a
//! distribution table (`cold_start = { dist = "lognormal", median = 0.5, p99 = 2.0 }`).
//! Values are checked for sense (negative times, empty cluster...) by
//! [`crate::scenario::Scenario::from_config`], not here.

use std::fmt;
use std::path::{Path, PathBuf};

use policies::{Distribution, PolicySpec, Workload};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use toml::{Table, Value};

/// A config problem: which file, which field (dotted path, may be empty), what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// Dotted field path such as `cluster.invokers[0].cpus`; empty when the whole file is at fault.
    pub field: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(file: &Path, field: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(
                f,
                "{}: field `{}`: {}",
                self.file.display(),
                self.field,
                self.message
            )
        }
    }
}

impl std::error::Error for ConfigError {}

/// A time in seconds: a number or a [`Distribution`] table.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Dur(pub Distribution);

impl Dur {
    pub fn secs(value: f64) -> Self {
        Dur(Distribution::constant(value))
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurVisitor;
        impl<'de> Visitor<'de> for DurVisitor {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number of seconds or a distribution table like { dist = \"constant\", value = 1.0 }")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Dur, E> {
                Ok(Dur::secs(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Dur, E> {
                Ok(Dur::secs(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Dur, E> {
                Ok(Dur::secs(v as f64))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Dur, A::Error> {
                Distribution::deserialize(de::value::MapAccessDeserializer::new(map)).map(Dur)
            }
        }
        deserializer.deserialize_any(DurVisitor)
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Distribution::Constant { value } => serializer.serialize_f64(value),
            ref d => d.serialize(serializer),
        }
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
    /// Files merged under this one (paths relative to this file); resolved by [`load_config`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    /// `openwhisk` (the platform model) or `serverful` (a cluster that boots, then runs the work).
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub cluster: ClusterConfig,
    /// Placement policy (`[policy] name = "burst-heterogeneous"`); `faas` means vanilla OpenWhisk.
    pub policy: PolicySpec,
    /// What each function does.
    pub workload: Workload,
    /// Group requests (bursts); in faas mode each stands for N single invocations.
    #[serde(default)]
    pub bursts: Vec<BurstConfig>,
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

pub use policies::OnNoCapacity;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControllerConfig {
    /// Processing time per request (the controller serves requests one at a time).
    #[serde(default)]
    pub processing: Dur,
    /// Time to publish each container's message of a plan (sequential).
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
    /// Engine phase duration is multiplied by `1 + alpha * n^exponent`.
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prewarm {
    /// Stem-cell containers kept ready per invoker.
    #[serde(default)]
    pub count: u32,
    /// Memory of a stem cell; only single-worker containers of this memory can use one.
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
    /// Container-engine phase, serialised through `max_concurrent_creations` slots.
    #[serde(default)]
    pub create: Dur,
    /// Engine slots per invoker; 0 = unlimited.
    #[serde(default = "one")]
    pub max_concurrent_creations: u32,
    #[serde(default)]
    pub contention: Contention,
    /// Reuse of an idle warm container.
    #[serde(default)]
    pub warm_start: Dur,
    /// Extra when the warm container was paused (idle longer than `pause_grace`).
    #[serde(default)]
    pub unpause: Dur,
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
            max_concurrent_creations: 1,
            contention: Contention::default(),
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
fn default_pause_grace() -> f64 {
    10.0
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

/// Reads `path`, resolves its includes, applies `sets`, and deserializes the result.
pub fn load_config(path: &Path, sets: &[String]) -> Result<Config, ConfigError> {
    let value = load_config_value(path, sets)?;
    parse_config_value(value, path)
}

/// Deserializes a merged config value; errors name `origin` and the field path.
pub fn parse_config_value(value: Value, origin: &Path) -> Result<Config, ConfigError> {
    serde_path_to_error::deserialize(value.clone()).map_err(|e| {
        let path = e.path().to_string();
        let mut field = if path == "." { String::new() } else { path };
        if let Some(key) = culprit_key(&value, &field) {
            field = if field.is_empty() {
                key
            } else {
                format!("{field}.{key}")
            };
        }
        ConfigError::new(origin, field, clean_message(&e.inner().to_string()))
    })
}

/// Serde loses the path inside internally tagged tables (`[workload]`, `[policy]`, distribution
/// tables) and reports the table itself. Finds the key at fault: the one whose removal makes the
/// error go away or turn into "missing field" for that key.
fn culprit_key(root: &Value, field: &str) -> Option<String> {
    let Some(Value::Table(table)) = value_at(root, field) else {
        return None;
    };
    let original = serde_path_to_error::deserialize::<_, Config>(root.clone())
        .err()
        .map(|e| e.inner().to_string())?;
    for key in table
        .keys()
        .filter(|k| !["kind", "name", "dist"].contains(&k.as_str()))
    {
        let mut trial = root.clone();
        if let Some(Value::Table(t)) = value_at_mut(&mut trial, field) {
            t.remove(key);
        }
        match serde_path_to_error::deserialize::<_, Config>(trial) {
            Ok(_) => return Some(key.clone()),
            Err(e) => {
                let msg = e.inner().to_string();
                if msg != original && msg.contains(&format!("missing field `{key}`")) {
                    return Some(key.clone());
                }
            }
        }
    }
    None
}

/// Splits `a.b[2].c` into steps: a key, then an optional array index.
fn path_steps(field: &str) -> impl Iterator<Item = (&str, Option<usize>)> {
    field
        .split('.')
        .filter(|p| !p.is_empty())
        .map(|part| match part.split_once('[') {
            Some((key, rest)) => (key, rest.trim_end_matches(']').parse().ok()),
            None => (part, None),
        })
}

/// The value at a dotted path (`a.b.c`, `a.b[2].c`) of a TOML value: the one path reader of
/// `--set`, error diagnosis and `burstsim fit`.
pub fn value_at<'a>(root: &'a Value, field: &str) -> Option<&'a Value> {
    let mut v = root;
    for (key, index) in path_steps(field) {
        v = v.get(key)?;
        if let Some(i) = index {
            v = v.get(i)?;
        }
    }
    Some(v)
}

fn value_at_mut<'a>(root: &'a mut Value, field: &str) -> Option<&'a mut Value> {
    let mut v = root;
    for (key, index) in path_steps(field) {
        v = v.get_mut(key)?;
        if let Some(i) = index {
            v = v.get_mut(i)?;
        }
    }
    Some(v)
}

/// toml's value errors end with an `in \`key\`` line that repeats part of the path we print.
fn clean_message(msg: &str) -> String {
    msg.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("in `"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The merged config of `path` (includes resolved) with `sets` applied, before deserializing.
pub fn load_config_value(path: &Path, sets: &[String]) -> Result<Value, ConfigError> {
    let mut stack = Vec::new();
    let table = load_merged(path, &mut stack)?;
    let mut value = Value::Table(table);
    for set in sets {
        apply_set(&mut value, set, path)?;
    }
    Ok(value)
}

fn load_merged(path: &Path, stack: &mut Vec<PathBuf>) -> Result<Table, ConfigError> {
    let canonical = path
        .canonicalize()
        .map_err(|e| ConfigError::new(path, "", format!("cannot read the config file: {e}")))?;
    if let Some(pos) = stack.iter().position(|p| *p == canonical) {
        let chain: Vec<String> = stack[pos..]
            .iter()
            .chain(std::iter::once(&canonical))
            .map(|p| p.display().to_string())
            .collect();
        return Err(ConfigError::new(
            path,
            "include",
            format!("include cycle: {}", chain.join(" -> ")),
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(path, "", format!("cannot read the config file: {e}")))?;
    let mut own: Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::new(path, "", format!("invalid TOML: {e}")))?;
    let includes = match own.remove("include") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s),
                other => Err(ConfigError::new(
                    path,
                    format!("include[{i}]"),
                    format!("expected a file path string, got {}", other.type_str()),
                )),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(other) => {
            return Err(ConfigError::new(
                path,
                "include",
                format!("expected an array of file paths, got {}", other.type_str()),
            ))
        }
    };
    stack.push(canonical);
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut merged = Table::new();
    for (i, inc) in includes.iter().enumerate() {
        let inc_path = dir.join(inc);
        if !inc_path.is_file() {
            return Err(ConfigError::new(
                path,
                format!("include[{i}]"),
                format!("included file `{}` does not exist", inc_path.display()),
            ));
        }
        let sub = load_merged(&inc_path, stack)?;
        merge_into(&mut merged, sub);
    }
    stack.pop();
    merge_into(&mut merged, own);
    Ok(merged)
}

/// Deep merge: keys of `top` win; tables merge recursively; arrays and scalars are replaced.
fn merge_into(base: &mut Table, top: Table) {
    for (key, value) in top {
        match (base.get_mut(&key), value) {
            (Some(Value::Table(b)), Value::Table(t)) => merge_into(b, t),
            (_, v) => {
                base.insert(key, v);
            }
        }
    }
}

/// One segment of a `--set` path: a key, then optional array indices (`invokers[0]`).
fn parse_set_path(path: &str) -> Option<Vec<(String, Vec<usize>)>> {
    let mut out = Vec::new();
    for segment in path.split('.') {
        let (key, mut rest) = match segment.find('[') {
            Some(i) => (&segment[..i], &segment[i..]),
            None => (segment, ""),
        };
        let key = key.trim();
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return None;
        }
        let mut indices = Vec::new();
        while !rest.is_empty() {
            let close = rest.find(']')?;
            if !rest.starts_with('[') {
                return None;
            }
            indices.push(rest[1..close].trim().parse().ok()?);
            rest = &rest[close + 1..];
        }
        out.push((key.to_string(), indices));
    }
    Some(out)
}

/// Applies one `dotted.path=TOML value` override. A value that is not valid TOML is a string.
pub fn apply_set(value: &mut Value, set: &str, origin: &Path) -> Result<(), ConfigError> {
    let Some((path, raw)) = set.split_once('=') else {
        return Err(ConfigError::new(
            origin,
            "",
            format!("--set `{set}`: expected `dotted.path=value`"),
        ));
    };
    let path = path.trim();
    let raw = raw.trim();
    let segments = parse_set_path(path).ok_or_else(|| {
        ConfigError::new(
            origin,
            path,
            format!("--set `{set}`: expected a path like `a.b[0].c`"),
        )
    })?;
    let new_value = match format!("v = {raw}").parse::<Table>() {
        Ok(mut t) => t.remove("v").unwrap_or_else(|| Value::String(raw.into())),
        Err(_) => Value::String(raw.into()),
    };
    let err = |msg: String| ConfigError::new(origin, path, format!("--set `{set}`: {msg}"));
    let mut current = value;
    let mut walked = String::new();
    let last = segments.len() - 1;
    for (n, (key, indices)) in segments.iter().enumerate() {
        let Value::Table(table) = current else {
            return Err(err(format!("`{walked}` is not a table")));
        };
        if !walked.is_empty() {
            walked.push('.');
        }
        walked.push_str(key);
        if n == last && indices.is_empty() {
            table.insert(key.clone(), new_value);
            return Ok(());
        }
        if indices.is_empty() {
            current = table
                .entry(key.clone())
                .or_insert_with(|| Value::Table(Table::new()));
            continue;
        }
        let Some(mut slot) = table.get_mut(key) else {
            return Err(err(format!(
                "`{walked}` is not set, so it cannot be indexed"
            )));
        };
        for (m, &index) in indices.iter().enumerate() {
            let Value::Array(items) = slot else {
                return Err(err(format!("`{walked}` is not an array")));
            };
            let len = items.len();
            let Some(item) = items.get_mut(index) else {
                return Err(err(format!(
                    "index {index} is out of range: `{walked}` has {len} entries"
                )));
            };
            walked.push_str(&format!("[{index}]"));
            if n == last && m == indices.len() - 1 {
                *item = new_value;
                return Ok(());
            }
            slot = item;
        }
        current = slot;
    }
    Ok(())
}
