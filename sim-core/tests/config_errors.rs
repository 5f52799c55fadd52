//! Bad input gives one error naming the file, the field path and what was expected.

mod common;
use std::path::Path;

use common::{load, load_err, Dir};
use sim_core::config::{apply_set, parse_config_value, value_at};
use sim_core::scenario::InvokerSpec;
use sim_core::Scenario;
use toml::Value;

const BASE: &str = r#"
[[cluster.invokers]]
cpus = 4
[policy]
name = "burst-heterogeneous"
[workload]
kind = "sleep"
duration = { dist = "constant", value = 1.0 }
[[bursts]]
workers = 4
"#;

#[test]
fn base_config_loads() {
    let dir = Dir::new();
    let p = dir.write("ok.toml", BASE);
    let sc = load(&p, &[]).unwrap();
    assert_eq!(sc.name(), "ok");
    assert_eq!(sc.functions(), 4);
}

#[test]
fn unknown_field_names_its_path() {
    let msg = load_err(&BASE.replace("cpus = 4", "cpus = 4\ncpu = 3"), &[]);
    assert!(msg.contains("cluster.invokers[0]"), "{msg}");
    assert!(msg.contains("unknown field `cpu`"), "{msg}");
}

#[test]
fn wrong_type_names_its_path() {
    let msg = load_err(&BASE.replace("workers = 4", "workers = \"many\""), &[]);
    assert!(msg.contains("field `bursts[0].workers`"), "{msg}");
    assert!(msg.contains("invalid type"), "{msg}");
}

#[test]
fn negative_time_is_rejected() {
    let msg = load_err(&format!("{BASE}[invoker]\ncold_start = -0.5\n"), &[]);
    assert!(msg.contains("field `invoker.cold_start`"), "{msg}");
    assert!(msg.contains(">= 0"), "{msg}");
    let msg = load_err(&BASE.replace("workers = 4", "workers = 4\nat = -1.0"), &[]);
    assert!(msg.contains("field `bursts[0].at`"), "{msg}");
}

#[test]
fn empty_cluster_is_rejected() {
    let text = BASE.replace("[[cluster.invokers]]\ncpus = 4\n", "");
    let msg = load_err(&text, &[]);
    assert!(msg.contains("field `cluster.invokers`"), "{msg}");
    assert!(msg.contains("at least one invoker"), "{msg}");
}

#[test]
fn zero_cpus_and_zero_granularity_are_rejected() {
    let msg = load_err(&BASE.replace("cpus = 4", "cpus = 0"), &[]);
    assert!(msg.contains("field `cluster.invokers[0].cpus`"), "{msg}");
    let text = BASE.replace(
        "name = \"burst-heterogeneous\"",
        "name = \"burst-homogeneous\"\ngranularity = 0",
    );
    let msg = load_err(&text, &[]);
    assert!(msg.contains("field `policy.granularity`"), "{msg}");
}

#[test]
fn recovery_policy_must_suit_the_placement() {
    use policies::RecoverySpec;
    let sc = common::scenario(&format!("{BASE}[recovery]\nname = \"rerun-pack\"\n"));
    assert_eq!(sc.recovery, RecoverySpec::RerunPack { retries: 2 });
    // The default is `none`; `--set` names a policy like any key.
    let dir = Dir::new();
    let p = dir.write("base.toml", BASE);
    assert_eq!(load(&p, &[]).unwrap().recovery, RecoverySpec::None);
    let sc = load(&p, &["recovery.name=\"fail-burst\""]).unwrap();
    assert_eq!(sc.recovery, RecoverySpec::FailBurst);
    let msg = load_err(&format!("{BASE}[recovery]\nname = \"openwhisk\"\n"), &[]);
    assert!(msg.contains("field `recovery.name`"), "{msg}");
    assert!(msg.contains("burst recovery policy"), "{msg}");
    let faas = BASE.replace("burst-heterogeneous", "faas");
    let msg = load_err(&format!("{faas}[recovery]\nname = \"rerun-pack\"\n"), &[]);
    assert!(
        msg.contains("field `recovery.name`") && msg.contains("openwhisk"),
        "{msg}"
    );
    let msg = load_err(
        &format!("{BASE}[recovery]\nname = \"speculate-stragglers\"\nafter = 2.0\n"),
        &[],
    );
    assert!(msg.contains("field `recovery.after`"), "{msg}");
    let msg = load_err(
        &format!("{BASE}[recovery]\nname = \"rerun-pack\"\nafter = 2.0\n"),
        &[],
    );
    assert!(msg.contains("recovery") && msg.contains("`after`"), "{msg}");
}

#[test]
fn too_many_functions_is_an_error_before_any_expansion() {
    // 4e9 repetitions would be billions of bursts in memory if expanded before the check.
    let msg = load_err(
        &BASE.replace(
            "workers = 4",
            "workers = 4\ncount = 4000000000\nevery = 1.0",
        ),
        &[],
    );
    assert!(msg.contains("field `bursts`"), "{msg}");
    assert!(msg.contains("functions in total, got 16000000000"), "{msg}");
}

#[test]
fn never_fitting_burst_with_reject_is_an_error() {
    let text = format!(
        "{}[controller]\non_no_capacity = \"reject\"\n",
        BASE.replace("workers = 4", "workers = 5")
    );
    let msg = load_err(&text, &[]);
    assert!(msg.contains("field `bursts[0].workers`"), "{msg}");
    assert!(msg.contains("never fit"), "{msg}");
}

#[test]
fn missing_file_is_named() {
    let dir = Dir::new();
    let p = dir.0.path().join("nope.toml");
    let e = load(&p, &[]).unwrap_err();
    assert!(e.to_string().contains("nope.toml"), "{e}");
}

#[test]
fn missing_include_names_the_including_file_and_entry() {
    let msg = load_err(&format!("include = [\"gone.toml\"]\n{BASE}"), &[]);
    assert!(msg.contains("field `include[0]`"), "{msg}");
    assert!(msg.contains("gone.toml"), "{msg}");
}

#[test]
fn include_cycle_is_an_error() {
    let dir = Dir::new();
    dir.write("a.toml", "include = [\"b.toml\"]\nseed = 1\n");
    dir.write("b.toml", "include = [\"a.toml\"]\nseed = 2\n");
    let p = dir.write("main.toml", &format!("include = [\"a.toml\"]\n{BASE}"));
    let e = load(&p, &[]).unwrap_err().to_string();
    assert!(e.contains("include cycle"), "{e}");
    assert!(e.contains("field `include`"), "{e}");
}

#[test]
fn includes_merge_under_the_including_file() {
    let dir = Dir::new();
    std::fs::create_dir(dir.0.path().join("profiles")).unwrap();
    dir.write(
        "profiles/p.toml",
        "seed = 7\n[invoker]\ncold_start = 0.5\ncreate = 0.25\n[controller]\nprocessing = 0.1\n",
    );
    let p = dir.write(
        "main.toml",
        &format!("include = [\"profiles/p.toml\"]\n{BASE}[invoker]\ncreate = 0.125\n"),
    );
    let sc = load(&p, &[]).unwrap();
    assert_eq!(sc.seed(), 7);
    // Tables merge deeply: the included cold_start stays, the including file's create wins.
    assert!(sc.invoker.cold_start.distribution() == &policies::Distribution::constant(0.5));
    assert!(sc.invoker.create.distribution() == &policies::Distribution::constant(0.125));
    assert!(sc.controller.processing.distribution() == &policies::Distribution::constant(0.1));
}

#[test]
fn set_overrides_values_and_bad_paths_fail() {
    let dir = Dir::new();
    let p = dir.write("s.toml", BASE);
    let sc = load(
        &p,
        &[
            "bursts[0].workers=3",
            "cluster.invokers[0].cpus=8",
            "workload.duration={dist=\"constant\",value=2.0}",
            "name=renamed",
        ],
    )
    .unwrap();
    assert_eq!(sc.functions(), 3);
    assert_eq!(sc.invokers[0].cpus, 8);
    assert_eq!(sc.name(), "renamed");

    let e = load(&p, &["policy.granularity=6"]).unwrap_err().to_string();
    assert!(e.contains("s.toml") && e.contains("policy"), "{e}");
    let e = load(&p, &["cluster.invokers[3].cpus=8"])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("field `cluster.invokers[3].cpus`") && e.contains("out of range"),
        "{e}"
    );
    let e = load(&p, &["invoker.nonsense=1"]).unwrap_err().to_string();
    assert!(
        e.contains("field `invoker.nonsense`") && e.contains("unknown field"),
        "{e}"
    );
    let e = load(&p, &["no_equals_sign"]).unwrap_err().to_string();
    assert!(e.contains("expected `dotted.path=value`"), "{e}");
}

#[test]
fn a_scenario_on_another_cluster_is_validated_again() {
    let dir = Dir::new();
    let p = dir.write(
        "c.toml",
        &format!("{BASE}[controller]\non_no_capacity = \"reject\"\n"),
    );
    let on = [
        InvokerSpec {
            cpus: 2,
            user_memory_mb: 1024,
        },
        InvokerSpec {
            cpus: 3,
            user_memory_mb: 4096,
        },
    ];
    let sc = Scenario::load_on_cluster(&p, &[], &on).unwrap();
    assert_eq!(sc.invokers, on);
    assert_eq!(sc.total_cpus(), 5);
    // The same variant through `--set`.
    let set = "cluster.invokers=[{ cpus = 2, user_memory_mb = 1024 }, { cpus = 3, user_memory_mb = 4096 }]";
    assert_eq!(Scenario::load(&p, &[set.to_string()]).unwrap(), sc);
    // The 4 workers of the burst fit 5 CPUs but never 2, and the config rejects what does not fit.
    let e = Scenario::load_on_cluster(&p, &[], &on[..1])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("c.toml: field `bursts[0].workers`") && e.contains("never fits"),
        "{e}"
    );
}

#[test]
fn invalid_toml_names_the_file() {
    let msg = load_err("[[cluster.invokers]\ncpus = 4\n", &[]);
    assert!(msg.contains("invalid TOML"), "{msg}");
}

#[test]
fn bad_distribution_names_the_field() {
    let msg = load_err(
        &format!("{BASE}[queue]\nlatency = {{ dist = \"lognormal\", median = 2.0, p99 = 1.0 }}\n"),
        &[],
    );
    assert!(msg.contains("field `queue.latency`"), "{msg}");
    assert!(msg.contains("median <= p99"), "{msg}");
}

#[test]
fn faults_are_validated_with_field_paths() {
    let sc = common::scenario(&format!(
        "{BASE}[faults]\nworker_crash = 0.1\n[[faults.invoker_crashes]]\ninvoker = 0\nat = 2.0\n\
         [[faults.broker_outages]]\nfrom = 5.0\nuntil = 6.0\n[[faults.broker_outages]]\nfrom = 5.5\nuntil = 7.0\n"
    ));
    let f = sc.faults.expect("faults");
    assert_eq!(f.worker_crash, 0.1);
    assert_eq!(f.crashes[0].at_ns, 2_000_000_000);
    // OpenWhisk's defaults: offline after 10 s; ack timeout max(60, 60) * 2 + 60 = 180 s.
    assert_eq!(f.offline_timeout_ns, 10_000_000_000);
    assert_eq!(f.ack_timeout_ns, 180_000_000_000);
    // Overlapping outages are merged.
    assert_eq!(f.outages, vec![(5_000_000_000, 7_000_000_000)]);
    assert!(common::scenario(BASE).faults.is_none());
    let cases: [(&str, &str, &str); 8] = [
        (
            "[faults]\nworker_crash = 1.5\n",
            "faults.worker_crash",
            "probability",
        ),
        (
            "[faults]\nworker_crashes = 0.1\n",
            "faults",
            "unknown field `worker_crashes`",
        ),
        (
            "[faults.stragglers]\nprob = 0.1\n",
            "faults.stragglers",
            "unknown field `prob`",
        ),
        (
            "[[faults.invoker_crashes]]\ninvoker = 4\nat = 1.0\n",
            "faults.invoker_crashes[0].invoker",
            "0..1",
        ),
        (
            "[[faults.invoker_crashes]]\ninvoker = 0\nat = 1.0\nrecovery = 0.0\n",
            "faults.invoker_crashes[0].recovery",
            "> 0",
        ),
        (
            "[[faults.broker_outages]]\nfrom = 3.0\nuntil = 2.0\n",
            "faults.broker_outages[0].until",
            "after `from`",
        ),
        (
            "[faults.invoker_failures]\ntime_to_failure = 0.0\n",
            "faults.invoker_failures.time_to_failure",
            "> 0",
        ),
        (
            "[faults.stragglers]\nslowdown = { dist = \"uniform\", min = 3.0, max = 2.0 }\n",
            "faults.stragglers.slowdown",
            "min <= max",
        ),
    ];
    for (section, field, expected) in cases {
        let msg = load_err(&format!("{BASE}{section}"), &[]);
        assert!(msg.contains(&format!("field `{field}")), "{section}: {msg}");
        assert!(msg.contains(expected), "{section}: {msg}");
    }
    let msg = load_err(&format!("mode = \"serverful\"\n{BASE}[faults]\n"), &[]);
    assert!(
        msg.contains("field `faults`") && msg.contains("openwhisk"),
        "{msg}"
    );
}

#[test]
fn reference_config_documents_every_default() {
    let path = reference_path();
    let config = sim_core::load_config(&path, &[]).unwrap();
    let sc = Scenario::from_config(&config, &path).unwrap();
    assert_eq!(sc.functions(), 120);
    // The values written there are the defaults.
    let c = config;
    assert_eq!(c.client, sim_core::config::ClientConfig::default());
    assert_eq!(c.controller, sim_core::config::ControllerConfig::default());
    assert_eq!(c.queue, sim_core::config::QueueConfig::default());
    assert_eq!(c.invoker, sim_core::config::InvokerConfig::default());
    assert_eq!(c.serverful, sim_core::config::ServerfulConfig::default());
}

#[test]
fn reference_config_lists_every_key_of_the_schema() {
    let path = reference_path();
    let text = std::fs::read_to_string(&path).unwrap();
    // Keys documented as comments (`# include = [...]`) count: restore them.
    let restored: Vec<&str> = text
        .lines()
        .map(|line| commented_assignment(line).unwrap_or(line))
        .collect();
    let reference: Value = toml::from_str(&restored.join("\n")).unwrap();
    // Reference -> schema: every key written there is one the schema knows (deny_unknown_fields).
    if let Err(e) = parse_config_value(reference.clone(), &path) {
        panic!("reference.toml has a key the schema does not know: {e}");
    }
    // Schema -> reference: every key the schema accepts is written there.
    let mut missing = Vec::new();
    missing_keys(&reference, "", &path, &mut missing);
    assert!(
        missing.is_empty(),
        "keys the config schema accepts but reference.toml does not list: {missing:?}"
    );
}

fn reference_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/reference.toml")
}

/// `key = value ...` when `line` is a commented-out assignment `# key = value ...`.
fn commented_assignment(line: &str) -> Option<&str> {
    let rest = line.strip_prefix('#')?.trim_start();
    let key_len = rest.find(|c: char| !(c.is_ascii_lowercase() || c == '_'))?;
    (key_len > 0 && rest[key_len..].trim_start().starts_with('=')).then_some(rest)
}

/// The keys the schema accepts in the table at `path` of `config`: the list that its
/// unknown-field error gives for a probe key.
fn schema_keys(config: &Value, path: &str, origin: &Path) -> Vec<String> {
    let probe_key = if path.is_empty() {
        "probe_key".to_string()
    } else {
        format!("{path}.probe_key")
    };
    let mut probe = config.clone();
    apply_set(&mut probe, &format!("{probe_key}=0"), origin).unwrap();
    let Err(e) = parse_config_value(probe, origin) else {
        panic!("`{path}` accepts any key: its struct lacks deny_unknown_fields");
    };
    let Some((_, expected)) = e.message.split_once("expected") else {
        panic!("`{path}`: no list of known fields in: {e}");
    };
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(String::from)
        .collect()
}

/// Adds to `missing` the keys the schema accepts under the table at `path` that `config` does
/// not have. A distribution table is a value; an array of tables counts a key as present when
/// one of its entries has it.
fn missing_keys(config: &Value, path: &str, origin: &Path, missing: &mut Vec<String>) {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    for key in schema_keys(config, path, origin) {
        let field = join(&key);
        match value_at(config, &field) {
            None => missing.push(field),
            Some(Value::Table(t)) if !t.contains_key("dist") => {
                missing_keys(config, &field, origin, missing)
            }
            Some(Value::Array(entries)) if entries.first().is_some_and(Value::is_table) => {
                for inner in schema_keys(config, &format!("{field}[0]"), origin) {
                    if !entries.iter().any(|e| e.get(&inner).is_some()) {
                        missing.push(format!("{field}[].{inner}"));
                    }
                }
            }
            Some(_) => {}
        }
    }
}

#[test]
fn config_round_trips_through_toml() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/reference.toml");
    let mut config = sim_core::load_config(&path, &[]).unwrap();
    config.invoker.create = sim_core::config::Dur(policies::Distribution::Lognormal {
        median: Some(0.5),
        p99: Some(2.0),
        mu: None,
        sigma: None,
    });
    let text = toml::to_string(&config).unwrap();
    let value: Value = toml::from_str(&text).unwrap();
    let back = parse_config_value(value, &path).unwrap();
    assert_eq!(back, config, "{text}");
}

#[test]
fn errors_inside_tagged_tables_name_the_inner_key() {
    // Serde reports these at `workload` / `policy`; the loader finds the key at fault.
    let msg = load_err(
        &BASE.replace(
            "duration = { dist = \"constant\", value = 1.0 }",
            "duration = \"long\"",
        ),
        &[],
    );
    assert!(msg.contains("field `workload.duration`"), "{msg}");
    assert!(msg.contains("a number or a distribution table"), "{msg}");
    let msg = load_err(
        &BASE.replace(
            "name = \"burst-heterogeneous\"",
            "name = \"burst-heterogeneous\"\ngranularity = 3",
        ),
        &[],
    );
    assert!(msg.contains("field `policy.granularity`"), "{msg}");
    assert!(msg.contains("unknown field `granularity`"), "{msg}");
}
