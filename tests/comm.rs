//! End-to-end: a `steps` workload through the binary (step table, communication summary, step
//! timeline) and a sweep that reports communication figures.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

const STEPS: &str = r#"
name = "steps"
seed = 2
[[cluster.invokers]]
count = 2
cpus = 4
[policy]
name = "burst-homogeneous"
granularity = 2
[workload]
kind = "steps"
[[workload.steps]]
kind = "compute"
work = { dist = "uniform", min = 0.5, max = 1.0 }
[[workload.steps]]
kind = "repeat"
times = 2
steps = [
  { kind = "broadcast", root = 0, bytes = "8 MiB" },
  { kind = "reduce", root = 0, bytes = "1 MiB" },
]
[[bursts]]
workers = 8
[network.backend]
name = "test"
server_throughput = "1 GiB/s"
connection_rate = "400 MiB/s"
chunk_latency = 0.0005
"#;

fn burstsim(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_burstsim"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("burstsim runs")
}

#[test]
fn a_steps_run_writes_its_step_table_and_communication_figures() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("steps.toml"), STEPS).unwrap();
    let out = burstsim(&["--config", "steps.toml", "--out", "out"], dir.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("bytes through the backend"), "{text}");
    let run = dir.path().join("out");
    for f in [
        "steps.csv",
        "steps.parquet",
        "timeline_steps.png",
        "timeline_steps.svg",
    ] {
        assert!(run.join(f).exists(), "{f}");
    }
    let csv = fs::read_to_string(run.join("steps.csv")).unwrap();
    // 8 workers x 5 executed steps, plus the header.
    assert_eq!(csv.lines().count(), 41, "{csv}");
    let summary: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    let comm = &summary["communication"];
    // Packs of 2: broadcast of 8 MiB reaches 3 other packs (3 downloads) and 4 local copies;
    // reduce of 1 MiB: level 0 local (4), levels 1 and 2 remote (2 + 1); twice.
    let mib = 1u64 << 20;
    assert_eq!(comm["bytes_remote"], 2 * (3 * 8 * mib + 3 * mib));
    assert_eq!(comm["bytes_local"], 2 * (4 * 8 * mib + 4 * mib));
    assert_eq!(comm["per_kind"]["broadcast"]["steps"], 16);
    // Same config, same bytes.
    let again = burstsim(&["--config", "steps.toml", "--out", "again"], dir.path());
    assert!(again.status.success());
    let a = fs::read(run.join("steps.csv")).unwrap();
    let b = fs::read(dir.path().join("again/steps.csv")).unwrap();
    assert_eq!(a, b);
}

#[test]
fn a_sweep_of_a_steps_workload_reports_communication_columns() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("base.toml"), STEPS).unwrap();
    let sweep = r#"
base = "base.toml"
[[axes]]
name = "granularity"
path = "policy.granularity"
values = [1, 4]
[plot]
metrics = ["comm.communication_s", "comm.bytes_remote"]
"#;
    fs::write(dir.path().join("sweep.toml"), sweep).unwrap();
    let out = burstsim(
        &["sweep", "--config", "sweep.toml", "--out", "s", "-q"],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = fs::read_to_string(dir.path().join("s/runs.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = header
        .iter()
        .position(|c| *c == "comm.bytes_remote")
        .expect("comm column");
    let remote: Vec<f64> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(col).unwrap().parse().unwrap())
        .collect();
    assert!(
        remote[0] > remote[1],
        "G = 1 sends more through the backend: {remote:?}"
    );
    assert!(dir.path().join("s/plots/comm_communication_s.png").exists());
}

#[test]
fn shipped_communication_configs_load() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut configs = vec![
        root.join("configs/apps/pagerank.toml"),
        root.join("configs/apps/terasort.toml"),
        root.join("configs/sweeps/comm-granularity-base.toml"),
        root.join("configs/bench/alltoall-1000.toml"),
        root.join("configs/bench/alltoall-1000-g1.toml"),
    ];
    configs.push(root.join("configs/apps/live/pagerank-local.toml"));
    for dir in [
        "configs/apps/collectives",
        "configs/apps/comm-bench",
        "configs/profiles/comm/local-redis-bench",
        "configs/profiles/comm/local-redis-1gbit-bench",
    ] {
        for entry in fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            // (the calibrations' folders also hold their rows and fit spec)
            let stem = path.file_stem().unwrap().to_string_lossy();
            if path.extension().is_some_and(|e| e == "toml") && stem != "fit" {
                configs.push(path);
            }
        }
    }
    for config in &configs {
        let loaded = sim_core::Scenario::load(config, &[]);
        let stem = config.file_stem().unwrap().to_string_lossy();
        let base = config
            .parent()
            .is_some_and(|d| d.ends_with("apps/comm-bench"));
        if base && (stem == "pair" || stem == "aggregate") {
            // The benchmark bases name no backend: their per-backend files include one.
            let err = loaded.unwrap_err().to_string();
            assert!(err.contains("field `network.backend`"), "{err}");
            continue;
        }
        let sc = loaded.unwrap_or_else(|e| panic!("{}: {e}", config.display()));
        assert!(
            sc.comm.is_some(),
            "{} is a steps workload",
            config.display()
        );
    }
    // Every point of the communication sweeps is a valid config.
    for sweep in ["comm-granularity.toml", "collectives.toml"] {
        let s = burstsim::sweep::Sweep::load(&root.join("configs/sweeps").join(sweep)).unwrap();
        assert!(s.runs() > 0, "{sweep}");
    }
}
