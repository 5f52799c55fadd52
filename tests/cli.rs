//! End-to-end tests of the `burstsim` binary: run, compare, determinism, `--set`, bad input.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

/// A small burst run with randomness (lognormal durations, exponential creation times).
const SMALL: &str = r#"
name = "small"
seed = 3

[[cluster.invokers]]
cpus = 8
count = 2

[policy]
name = "burst-homogeneous"
granularity = 4

[workload]
kind = "sleep"
duration = { dist = "lognormal", median = 1.0, p99 = 2.0 }

[invoker]
create = { dist = "exponential", mean = 0.2 }

[[bursts]]
at = 0.0
workers = 12
memory_mb = 256
"#;

const RUN_FILES: [&str; 7] = [
    "records.csv",
    "records.parquet",
    "summary.json",
    "timeline.png",
    "timeline.svg",
    "start_latency.png",
    "start_latency.svg",
];

fn burstsim(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_burstsim"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("burstsim runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        stdout(out),
        stderr(out)
    );
}

/// A temp dir holding `name` with `text`.
fn with_config(name: &str, text: &str) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    fs::write(&path, text).unwrap();
    (dir, path)
}

fn summary(dir: &Path) -> serde_json::Value {
    let text = fs::read_to_string(dir.join("summary.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn run_into(dir: &Path, out: &str, extra: &[&str]) -> Output {
    let mut args = vec!["--config", "small.toml", "--out", out];
    args.extend_from_slice(extra);
    burstsim(&args, dir)
}

#[test]
fn run_writes_every_file_and_a_sane_summary() {
    let (dir, _) = with_config("small.toml", SMALL);
    let out = run_into(dir.path(), "out", &[]);
    assert_ok(&out);
    let text = stdout(&out);
    for row in [
        "makespan",
        "start latency median",
        "max concurrency",
        "CPU-seconds reserved",
    ] {
        assert!(text.contains(row), "summary table lacks {row}:\n{text}");
    }
    assert!(text.contains("of 12"), "{text}");
    let out_dir = dir.path().join("out");
    for file in RUN_FILES {
        let len = fs::metadata(out_dir.join(file))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(len > 0, "{file} missing or empty");
    }
    let s = summary(&out_dir);
    assert_eq!(s["name"], "small");
    assert_eq!(s["functions"], 12);
    assert_eq!(s["ok"], 12);
    // 12 workers in containers of 4 on 16 CPUs: all can run at once.
    assert_eq!(s["containers"], 3);
    let f = |k: &str| s[k].as_f64().unwrap_or_else(|| panic!("{k} missing: {s}"));
    assert!(f("start_latency_min_s") <= f("start_latency_p50_s"));
    assert!(f("start_latency_p50_s") <= f("start_latency_p95_s"));
    assert!(f("start_latency_p99_s") <= f("start_latency_max_s"));
    assert!(f("makespan_s") > f("start_latency_max_s"));
    assert!(f("max_concurrency") >= 1.0 && f("max_concurrency") <= 12.0);
    assert!(f("cpu_seconds_used") > 0.0 && f("cpu_seconds_used") <= f("cpu_seconds_reserved"));
    assert!(f("time_above_90pct_concurrency_s") > 0.0);

    let csv = fs::read_to_string(out_dir.join("records.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "function_id,burst_id,tenant,worker_id,attempt,invoker,container,cpu,cpu_shared,cold,\
         outcome,reason,t_submit,t_dispatch,t_container_ready,t_start,t_end"
    );
    assert_eq!(lines.count(), 12);
    let png = fs::read(out_dir.join("timeline.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
}

#[test]
fn same_seed_gives_identical_files_and_another_seed_differs() {
    let (dir, _) = with_config("small.toml", SMALL);
    for (out, seed) in [("a", "7"), ("b", "7"), ("c", "8")] {
        assert_ok(&run_into(dir.path(), out, &["--seed", seed]));
    }
    let read = |out: &str, file: &str| fs::read(dir.path().join(out).join(file)).unwrap();
    for file in [
        "records.csv",
        "records.parquet",
        "summary.json",
        "timeline.png",
        "timeline.svg",
    ] {
        assert!(
            read("a", file) == read("b", file),
            "{file} differs for the same seed"
        );
    }
    assert!(read("a", "records.csv") != read("c", "records.csv"));
    assert_eq!(summary(&dir.path().join("c"))["seed"], 8);
}

#[test]
fn set_overrides_a_config_value() {
    let (dir, _) = with_config("small.toml", SMALL);
    assert_ok(&run_into(
        dir.path(),
        "w",
        &["--set", "bursts[0].workers=16"],
    ));
    assert_eq!(summary(&dir.path().join("w"))["functions"], 16);
    assert_ok(&run_into(
        dir.path(),
        "g",
        &["--set", "policy.granularity=2"],
    ));
    assert_eq!(summary(&dir.path().join("g"))["containers"], 6);
}

#[test]
fn run_subcommand_and_default_out_dir() {
    let (dir, _) = with_config("small.toml", SMALL);
    let out = burstsim(&["run", "--config", "small.toml"], dir.path());
    assert_ok(&out);
    assert!(stdout(&out).contains("results/small"), "{}", stdout(&out));
    assert_eq!(summary(&dir.path().join("results/small"))["functions"], 12);
}

/// Runs with a bad input and checks exit code 2 and a message naming file and field.
fn assert_input_error(config: &str, sets: &[&str], wanted: &[&str]) {
    let (dir, _) = with_config("bad.toml", config);
    let mut args = vec!["--config", "bad.toml", "--out", "out"];
    for set in sets {
        args.extend_from_slice(&["--set", set]);
    }
    let out = burstsim(&args, dir.path());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains("bad.toml"), "no file name in: {err}");
    for w in wanted {
        assert!(err.contains(w), "`{w}` not in: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        !dir.path().join("out").exists(),
        "wrote output despite the error"
    );
}

#[test]
fn unknown_field_is_an_input_error() {
    let config = SMALL.replace("[invoker]\n", "[invoker]\nbogus = 2\n");
    assert_input_error(&config, &[], &["invoker.bogus", "unknown field"]);
    assert_input_error(SMALL, &["nosuch.key=1"], &["nosuch"]);
}

#[test]
fn wrong_type_is_an_input_error() {
    let config = SMALL.replace("cpus = 8", "cpus = \"many\"");
    assert_input_error(&config, &[], &["cluster.invokers[0].cpus", "u32"]);
}

#[test]
fn negative_time_is_an_input_error() {
    assert_input_error(SMALL, &["bursts[0].at=-1.0"], &["bursts[0].at", ">= 0"]);
}

#[test]
fn empty_cluster_is_an_input_error() {
    assert_input_error(SMALL, &["cluster.invokers=[]"], &["cluster.invokers"]);
}

#[test]
fn burst_that_never_fits_with_reject_is_an_input_error() {
    assert_input_error(
        SMALL,
        &[
            "bursts[0].workers=100",
            "controller.on_no_capacity=\"reject\"",
        ],
        &["bursts[0].workers", "16"],
    );
}

#[test]
fn missing_file_is_an_input_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = burstsim(&["--config", "nowhere.toml"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("nowhere.toml"), "{}", stderr(&out));
}

#[test]
fn no_arguments_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = burstsim(&[], dir.path());
    assert_eq!(out.status.code(), Some(2));
    // The usage error shows what the tool can do: the commands, not only a missing `--config`.
    let help = stderr(&out);
    assert!(help.contains("compare") && help.contains("sweep"), "{help}");
}

#[test]
fn compare_prints_both_columns_and_writes_combined_outputs() {
    let (dir, _) = with_config("small.toml", SMALL);
    let faas = SMALL
        .replace("name = \"small\"", "name = \"small-faas\"")
        .replace(
            "name = \"burst-homogeneous\"\ngranularity = 4",
            "name = \"faas\"",
        )
        // A managed action may use both invokers (a docker one only the blackbox invoker).
        .replace("memory_mb = 256", "memory_mb = 256\nkind = \"managed\"");
    fs::write(dir.path().join("faas.toml"), faas).unwrap();
    let out = burstsim(
        &[
            "compare",
            "--config",
            "small.toml",
            "--config",
            "faas.toml",
            "--out",
            "cmp",
        ],
        dir.path(),
    );
    assert_ok(&out);
    let text = stdout(&out);
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["small", "small-faas"]),
        "no header row with both runs:\n{text}"
    );
    let functions = text.lines().find(|l| l.starts_with("functions")).unwrap();
    assert_eq!(
        functions.split_whitespace().collect::<Vec<_>>(),
        ["functions", "12", "12"]
    );
    let cmp = dir.path().join("cmp");
    let csv = fs::read_to_string(cmp.join("compare.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(csv.starts_with("run,label,seed,config,functions,"), "{csv}");
    for file in [
        "timeline.png",
        "timeline.svg",
        "start_latency.png",
        "start_latency.svg",
    ] {
        assert!(cmp.join(file).exists(), "{file}");
    }
    for run in ["small", "small-faas"] {
        for file in RUN_FILES {
            assert!(cmp.join(run).join(file).exists(), "{run}/{file}");
        }
    }
    // FaaS: one container per function.
    assert_eq!(summary(&cmp.join("small-faas"))["containers"], 12);
}

#[test]
fn compare_with_a_bad_config_writes_nothing() {
    let (dir, _) = with_config("small.toml", SMALL);
    fs::write(
        dir.path().join("bad.toml"),
        SMALL.replace("workers = 12", "workers = -1"),
    )
    .unwrap();
    let out = burstsim(
        &[
            "compare",
            "--config",
            "small.toml",
            "--config",
            "bad.toml",
            "--out",
            "cmp",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("bad.toml"));
    assert!(!dir.path().join("cmp").exists());
}

/// The shipped profiles carry fitted distributions, so the seed matters: the shipped thesis
/// experiment gives other records under another seed, and the same bytes under the same one.
#[test]
fn seeds_change_the_shipped_hetero_run_and_the_same_seed_repeats_it() {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/hetero.toml");
    let dir = tempfile::tempdir().unwrap();
    let records = |out: &str, seed: &str| -> Vec<u8> {
        let run = burstsim(
            &[
                "--config",
                config.to_str().unwrap(),
                "--out",
                out,
                "--seed",
                seed,
            ],
            dir.path(),
        );
        assert_ok(&run);
        fs::read(dir.path().join(out).join("records.csv")).unwrap()
    };
    let first = records("a", "1");
    assert_eq!(first, records("b", "1"), "same seed, other bytes");
    let others = ["2", "3", "4"].map(|seed| records(&format!("s{seed}"), seed));
    assert!(
        others.iter().all(|o| *o != first),
        "a seed gave the same records as seed 1"
    );
}

#[test]
fn compare_over_seeds_reports_intervals() {
    let (dir, _) = with_config("small.toml", SMALL);
    fs::write(
        dir.path().join("slow.toml"),
        SMALL
            .replace("name = \"small\"", "name = \"slow\"")
            .replace("mean = 0.2", "mean = 0.6"),
    )
    .unwrap();
    let out = burstsim(
        &[
            "compare",
            "--config",
            "small.toml",
            "--config",
            "slow.toml",
            "--seeds",
            "8",
            "--out",
            "cmp",
        ],
        dir.path(),
    );
    assert_ok(&out);
    let text = stdout(&out);
    assert!(text.contains("mean ± 95% CI over 8 seeds"), "{text}");
    let makespan = text.lines().find(|l| l.starts_with("makespan_s")).unwrap();
    assert_eq!(makespan.matches('±').count(), 2, "{makespan}");
    let cmp = dir.path().join("cmp");
    // One row per run and seed, and mean/interval/spread per run and figure.
    let csv = fs::read_to_string(cmp.join("compare.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 2 * 8, "{csv}");
    let seeds = fs::read_to_string(cmp.join("compare_seeds.csv")).unwrap();
    assert!(seeds.starts_with("run,figure,n,mean,sd,ci95_low,ci95_high,min,p5,median,p95,max"));
    let row = |run: &str| -> Vec<f64> {
        let line = seeds
            .lines()
            .find(|l| l.starts_with(&format!("{run},makespan_s,")))
            .unwrap();
        line.split(',')
            .skip(2)
            .map(|v| v.parse().unwrap())
            .collect()
    };
    let (fast, slow) = (row("small"), row("slow"));
    assert_eq!(fast[0], 8.0);
    // Random creations: the seeds spread the makespan, the interval surrounds the mean.
    assert!(
        fast[2] > 0.0 && fast[3] < fast[1] && fast[1] < fast[4],
        "{fast:?}"
    );
    assert!(slow[1] > fast[1], "slower creation, shorter makespan?");
    for file in [
        "figures_over_seeds.png",
        "figures_over_seeds.svg",
        "start_latency.png",
    ] {
        assert!(cmp.join(file).exists(), "{file}");
    }
}

/// The thesis experiment (section 5.2.1) with the shipped configs: burst runs all 120 functions
/// at once and finishes sooner than vanilla FaaS.
#[test]
fn thesis_configs_burst_beats_faas() {
    let configs = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
    let dir = tempfile::tempdir().unwrap();
    let hetero = configs.join("hetero.toml");
    let faas = configs.join("faas.toml");
    let out = burstsim(
        &[
            "compare",
            "--config",
            hetero.to_str().unwrap(),
            "--config",
            faas.to_str().unwrap(),
            "--out",
            "cmp",
        ],
        dir.path(),
    );
    assert_ok(&out);
    let burst = summary(&dir.path().join("cmp/hetero"));
    let vanilla = summary(&dir.path().join("cmp/faas"));
    assert_eq!(burst["max_concurrency"], 120);
    assert!(vanilla["max_concurrency"].as_u64().unwrap() < 120);
    assert!(burst["makespan_s"].as_f64().unwrap() < vanilla["makespan_s"].as_f64().unwrap());
}
