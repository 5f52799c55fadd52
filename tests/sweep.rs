//! End-to-end tests of `burstsim sweep` and `burstsim merge`: grid expansion into a tidy table,
//! shards merged equal to the unsharded sweep byte for byte, resuming, Ctrl-C, and bad input
//! (exit code 2, message naming file and field, nothing written).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BASE: &str = r#"
name = "sweep-test-base"
[[cluster.invokers]]
count = 2
cpus = 48
user_memory_mb = 65536

[policy]
name = "burst-homogeneous"
granularity = 48

[workload]
kind = "sleep"
duration = { dist = "lognormal", median = 1.0, p99 = 3.0 }

[invoker]
create = { dist = "lognormal", median = 0.2, p99 = 0.6 }
cold_start = 0.3

[[bursts]]
workers = 48
"#;

const SWEEP: &str = r#"
base = "base.toml"
seeds = 3

[[axes]]
name = "granularity"
path = "policy.granularity"
values = [1, 6, 48]

[[axes]]
name = "workers"
path = "bursts[0].workers"
range = { from = 24, to = 96, step = 24 }

[plot]
metrics = ["start_latency_p50_s", "makespan_s"]
"#;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_burstsim"))
}

/// A temp folder with base.toml and sweep.toml (`sweep` text).
fn setup(sweep: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("base.toml"), BASE).unwrap();
    let file = dir.path().join("sweep.toml");
    fs::write(&file, sweep).unwrap();
    (dir, file)
}

fn sweep(file: &Path, out: &Path, extra: &[&str]) -> Output {
    bin()
        .args(["sweep", "-q", "--config"])
        .arg(file)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "status {:?}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Asserts exit code 2 and returns stderr.
fn input_error(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    stderr
}

fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn csv_lines(path: &Path) -> Vec<String> {
    String::from_utf8(read(path))
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn points_hold_mean_interval_and_spread_over_the_seeds_of_each_grid_point() {
    let (dir, file) = setup(SWEEP);
    let out = dir.path().join("out");
    // `--seeds` replaces the file's 3 replicates.
    let stdout = ok(&sweep(&file, &out, &["--seeds", "5"]));
    assert!(stdout.contains("60 runs"), "{stdout}");
    // The plot metrics are printed per point with their intervals.
    assert!(
        stdout.contains("makespan_s: median [p5-p95] mean±CI"),
        "{stdout}"
    );
    let points = csv_lines(&out.join("points.csv"));
    assert_eq!(
        points[0],
        "granularity,workers,metric,n,mean,sd,ci95_low,ci95_high,min,p5,median,p95,max"
    );
    let runs = csv_lines(&out.join("runs.csv"));
    let header: Vec<&str> = runs[0].split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (g, w, m) = (
        column("granularity"),
        column("workers"),
        column("makespan_s"),
    );
    let mut checked = 0;
    for line in &points[1..] {
        let cells: Vec<&str> = line.split(',').collect();
        if cells[2] != "makespan_s" {
            continue;
        }
        let stats: Vec<f64> = cells[3..].iter().map(|v| v.parse().unwrap()).collect();
        let values: Vec<f64> = runs[1..]
            .iter()
            .map(|r| r.split(',').collect::<Vec<_>>())
            .filter(|r| r[g] == cells[0] && r[w] == cells[1])
            .map(|r| r[m].parse().unwrap())
            .collect();
        assert_eq!((stats[0], values.len()), (5.0, 5), "{line}");
        let mean = values.iter().sum::<f64>() / 5.0;
        assert!((stats[1] - mean).abs() < 1e-9, "{line}");
        // min <= p5 <= median <= p95 <= max, ci_low <= mean <= ci_high; seeds spread.
        assert!(stats[5] <= stats[6] && stats[6] <= stats[7] && stats[7] <= stats[8]);
        assert!(stats[8] <= stats[9] && stats[3] <= stats[1] && stats[1] <= stats[4]);
        assert!(stats[2] > 0.0, "{line}");
        checked += 1;
    }
    assert_eq!(checked, 12, "one makespan row per grid point");
}

#[test]
fn sweep_writes_one_row_per_run_with_axes_seed_and_summary() {
    let (dir, file) = setup(SWEEP);
    let out = dir.path().join("out");
    let stdout = ok(&sweep(&file, &out, &[]));
    assert!(stdout.contains("36 runs"), "{stdout}");
    let lines = csv_lines(&out.join("runs.csv"));
    assert_eq!(lines.len(), 1 + 3 * 4 * 3, "header + 36 runs");
    let header: Vec<&str> = lines[0].split(',').collect();
    assert_eq!(&header[..4], &["run", "seed", "granularity", "workers"]);
    for figure in [
        "functions",
        "makespan_s",
        "start_latency_p50_s",
        "max_concurrency",
    ] {
        assert!(header.contains(&figure), "{figure} missing from {header:?}");
    }
    // Point-major order, seeds innermost; the workers axis is the range 24..96.
    let cells = |i: usize| -> Vec<String> { lines[i].split(',').map(String::from).collect() };
    assert_eq!(&cells(1)[..4], &["0", "0", "1", "24"]);
    assert_eq!(&cells(3)[..4], &["2", "2", "1", "24"]);
    assert_eq!(&cells(4)[..4], &["3", "0", "1", "48"]);
    assert_eq!(&cells(36)[..4], &["35", "2", "48", "96"]);
    // Every run simulated its own burst size.
    let functions = header.iter().position(|h| *h == "functions").unwrap();
    for i in 1..=36 {
        assert_eq!(cells(i)[functions], cells(i)[3], "row {i}");
    }
    // Seeds differ in outcome (random durations), so the table is not one row copied.
    let makespan = header.iter().position(|h| *h == "makespan_s").unwrap();
    assert_ne!(cells(1)[makespan], cells(2)[makespan]);
    assert!(read(&out.join("runs.parquet")).starts_with(b"PAR1"));
    for stem in ["start_latency_p50_s", "makespan_s"] {
        assert!(read(&out.join("plots").join(format!("{stem}.png"))).starts_with(b"\x89PNG"));
        let svg = String::from_utf8(read(&out.join("plots").join(format!("{stem}.svg")))).unwrap();
        assert!(svg.contains("workers = 96"), "legend names the series");
    }
    // Per-function records only on request.
    assert!(!out.join("records").exists());
}

#[test]
fn shards_merged_equal_the_unsharded_sweep_exactly() {
    let (dir, file) = setup(SWEEP);
    let whole = dir.path().join("whole");
    ok(&sweep(&file, &whole, &["--jobs", "2"]));
    let mut shards = Vec::new();
    for i in 0..3 {
        let shard = dir.path().join(format!("shard{i}"));
        let stdout = ok(&sweep(
            &file,
            &shard,
            &["--shard", &format!("{i}/3"), "--jobs", "1"],
        ));
        assert!(stdout.contains("12/12"), "{stdout}");
        assert_eq!(csv_lines(&shard.join("runs.csv")).len(), 13);
        shards.push(shard);
    }
    let merged = dir.path().join("merged");
    let output = bin()
        .arg("merge")
        .args(&shards)
        .arg("--out")
        .arg(&merged)
        .output()
        .unwrap();
    let stdout = ok(&output);
    assert!(stdout.contains("36/36"), "{stdout}");
    for file in [
        "runs.csv",
        "runs.parquet",
        "points.csv",
        "rows.jsonl",
        "plots/makespan_s.png",
        "plots/makespan_s.svg",
    ] {
        assert!(
            read(&whole.join(file)) == read(&merged.join(file)),
            "{file} differs"
        );
    }
    // A partial merge says what is missing and draws no plots.
    let partial = dir.path().join("partial");
    let output = bin()
        .arg("merge")
        .args(&shards[..2])
        .arg("--out")
        .arg(&partial)
        .output()
        .unwrap();
    ok(&output);
    assert!(String::from_utf8_lossy(&output.stderr).contains("12 runs of the sweep are missing"));
    assert_eq!(csv_lines(&partial.join("runs.csv")).len(), 25);
    assert!(!partial.join("plots").exists());
}

#[test]
fn same_sweep_is_byte_identical_whatever_the_thread_count() {
    let (dir, file) = setup(SWEEP);
    let one = dir.path().join("one");
    let two = dir.path().join("two");
    ok(&sweep(&file, &one, &["--jobs", "1"]));
    ok(&sweep(&file, &two, &["--jobs", "2"]));
    assert!(read(&one.join("runs.csv")) == read(&two.join("runs.csv")));
    assert!(read(&one.join("runs.parquet")) == read(&two.join("runs.parquet")));
}

#[test]
fn rerunning_resumes_and_skips_finished_runs() {
    let (dir, file) = setup(SWEEP);
    let fresh = dir.path().join("fresh");
    ok(&sweep(&file, &fresh, &[]));
    let out = dir.path().join("out");
    ok(&sweep(&file, &out, &[]));
    // Keep 10 finished rows and a torn 11th line, as if the process had been killed mid-write.
    let log = out.join("rows.jsonl");
    let text = String::from_utf8(read(&log)).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut kept: String = lines[..10].iter().map(|l| format!("{l}\n")).collect();
    kept.push_str(&lines[10][..lines[10].len() / 2]);
    fs::write(&log, kept).unwrap();
    let stdout = ok(&sweep(&file, &out, &[]));
    assert!(stdout.starts_with("26 runs"), "{stdout}");
    assert!(stdout.contains("10 already done"), "{stdout}");
    assert!(read(&fresh.join("runs.csv")) == read(&out.join("runs.csv")));
    // Nothing left to do: a third run only rewrites the tables.
    let stdout = ok(&sweep(&file, &out, &[]));
    assert!(
        stdout.starts_with("0 runs") && stdout.contains("36 already done"),
        "{stdout}"
    );
    assert_eq!(String::from_utf8(read(&log)).unwrap().lines().count(), 36);
}

#[test]
fn records_on_request() {
    let sweep_text = SWEEP.replace("seeds = 3", "seeds = 1");
    let (dir, file) = setup(&sweep_text);
    let out = dir.path().join("out");
    ok(&sweep(&file, &out, &["--records", "--no-plots"]));
    let records = csv_lines(&out.join("records").join("run-000011.csv"));
    assert_eq!(records.len(), 1 + 96, "last run: 96 workers");
    assert!(records[0].starts_with("function_id,"));
    assert!(out.join("records").join("run-000000.parquet").exists());
    assert!(!out.join("plots").exists());
}

#[test]
fn zipped_axes_with_labels_and_float_ranges() {
    let text = r#"
base = "base.toml"
[[axes]]
name = "duration"
path = "workload.duration"
values = [{ dist = "constant", value = 0.5 }, { dist = "constant", value = 2.0 }]
labels = ["short", "long"]
[[axes]]
name = "policy"
path = "policy"
values = [{ name = "burst-heterogeneous" }, { name = "burst-homogeneous", granularity = 6 }]
labels = ["hetero", "homo-6"]
zip = "p"
[[axes]]
name = "create_s"
path = "invoker.create"
range = { from = 0.1, to = 0.3, step = 0.1 }
zip = "p2"
[[axes]]
path = "invoker.cold_start"
values = [0.0, 0.5]
zip = "p"
"#;
    let (dir, file) = setup(text);
    let out = dir.path().join("out");
    ok(&sweep(&file, &out, &[]));
    let lines = csv_lines(&out.join("runs.csv"));
    // 2 durations x 2 zipped (policy, cold_start) x 3 creates = 12 points, 1 seed.
    assert_eq!(lines.len(), 13);
    assert!(
        lines[0].starts_with("run,seed,duration,policy,create_s,invoker.cold_start,"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("0,0,short,hetero,0.1,0.0,"),
        "{}",
        lines[1]
    );
    assert!(
        lines[4].starts_with("3,0,short,homo-6,0.1,0.5,"),
        "{}",
        lines[4]
    );
    assert!(
        lines[12].starts_with("11,0,long,homo-6,0.3,0.5,"),
        "{}",
        lines[12]
    );
    // Categorical x axis (labels): the plot is still drawn.
    assert!(out.join("plots").join("makespan_s.svg").exists());
}

#[test]
fn bad_input_is_exit_2_and_writes_nothing() {
    let cases: Vec<(String, &[&str], &[&str])> = vec![
        (
            SWEEP.replace(
                "path = \"policy.granularity\"",
                "path = \"policy.granularityy\"",
            ),
            &[],
            &["sweep.toml", "axes[0].path", "policy.granularityy"],
        ),
        (
            SWEEP.replace(
                "path = \"bursts[0].workers\"",
                "path = \"bursts[0].wrokers\"",
            ),
            &[],
            &["sweep.toml", "axes[1].path", "wrokers"],
        ),
        (
            SWEEP.replace("from = 24, to = 96", "from = 96, to = 24"),
            &[],
            &["sweep.toml", "axes[1].range", "empty range"],
        ),
        (
            SWEEP.replace("values = [1, 6, 48]", "values = []"),
            &[],
            &["sweep.toml", "axes[0].values", "at least one value"],
        ),
        (
            SWEEP.replace("values = [1, 6, 48]", "values = [1, \"six\"]"),
            &[],
            &["sweep.toml", "axes[0].path", "granularity"],
        ),
        (
            SWEEP.replace("seeds = 3", "seeds = 0"),
            &[],
            &["sweep.toml", "seeds"],
        ),
        (
            SWEEP.replace("seeds = 3", "seeds = 3\nsedes = 1"),
            &[],
            &["sweep.toml", "sedes"],
        ),
        (
            SWEEP.replace("base.toml", "missing.toml"),
            &[],
            &["sweep.toml", "base", "missing.toml"],
        ),
        (
            SWEEP.replace("\"makespan_s\"]", "\"makespan\"]"),
            &[],
            &["sweep.toml", "plot.metrics[1]", "makespan"],
        ),
        (
            SWEEP
                .replace(
                    "range = { from = 24, to = 96, step = 24 }",
                    "values = [48]\nzip = \"g\"",
                )
                .replace("values = [1, 6, 48]", "values = [1, 6, 48]\nzip = \"g\""),
            &[],
            &["sweep.toml", "axes[1].zip", "as many values"],
        ),
        (
            SWEEP.to_string(),
            &["--shard", "3/3"],
            &["shard index 3 out of range"],
        ),
        (SWEEP.to_string(), &["--shard", "1-3"], &["I/N"]),
    ];
    for (text, extra, expected) in cases {
        let (dir, file) = setup(&text);
        let out = dir.path().join("out");
        let stderr = input_error(&sweep(&file, &out, extra));
        for piece in expected {
            assert!(stderr.contains(piece), "`{piece}` not in: {stderr}");
        }
        assert!(
            !out.exists(),
            "nothing may be written on bad input: {stderr}"
        );
    }
}

#[test]
fn a_grid_point_that_cannot_run_is_rejected_before_anything_runs() {
    // 200 workers never fit in 96 CPUs when the controller rejects what does not fit.
    let text = SWEEP
        .replace("to = 96", "to = 200")
        .replace("step = 24", "step = 176");
    let (dir, file) = setup(&text);
    fs::write(
        dir.path().join("base.toml"),
        format!("{BASE}\n[controller]\non_no_capacity = \"reject\"\n"),
    )
    .unwrap();
    let out = dir.path().join("out");
    let stderr = input_error(&sweep(&file, &out, &[]));
    assert!(
        stderr.contains("sweep.toml") && stderr.contains("bursts[0].workers=200"),
        "{stderr}"
    );
    assert!(!out.exists());
}

#[test]
fn merging_different_sweeps_or_reusing_a_folder_is_refused() {
    let (dir, file) = setup(SWEEP);
    let a = dir.path().join("a");
    ok(&sweep(&file, &a, &["--shard", "0/2"]));
    let other = dir.path().join("other.toml");
    fs::write(&other, SWEEP.replace("seeds = 3", "seeds = 2")).unwrap();
    let b = dir.path().join("b");
    ok(&sweep(&other, &b, &["--shard", "1/2"]));
    let merged = dir.path().join("merged");
    let output = bin()
        .arg("merge")
        .arg(&a)
        .arg(&b)
        .arg("--out")
        .arg(&merged)
        .output()
        .unwrap();
    let stderr = input_error(&output);
    assert!(stderr.contains("different sweeps"), "{stderr}");
    assert!(!merged.exists());
    // Another sweep into a folder that holds this one; another shard into a shard's folder.
    assert!(input_error(&sweep(&other, &a, &["--shard", "0/2"])).contains("another sweep"));
    assert!(input_error(&sweep(&file, &a, &["--shard", "1/2"])).contains("shard 0/2"));
    // Not a sweep folder at all.
    let output = bin()
        .arg("merge")
        .arg(dir.path())
        .arg("--out")
        .arg(&merged)
        .output()
        .unwrap();
    assert!(input_error(&output).contains("not a sweep output folder"));
}

#[test]
fn ctrl_c_stops_cleanly_and_keeps_finished_rows() {
    let text = SWEEP.replace("seeds = 3", "seeds = 4000");
    let (dir, file) = setup(&text);
    let out = dir.path().join("out");
    let child = bin()
        .args(["sweep", "-q", "--jobs", "1", "--no-plots", "--config"])
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = out.join("rows.jsonl");
    let start = Instant::now();
    while fs::read(&log).map(|t| t.len()).unwrap_or(0) < 2000 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no rows after 60 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let rows = String::from_utf8(read(&log)).unwrap().lines().count();
    assert!(rows > 0 && rows < 48_000, "{rows} rows");
    // The table holds exactly the finished rows.
    assert_eq!(csv_lines(&out.join("runs.csv")).len(), rows + 1);
}

#[test]
fn shards_from_different_checkouts_merge() {
    // Cluster nodes see the repository at different paths: the sweep hash must not depend on them.
    let (a, file_a) = setup(SWEEP);
    let (b, file_b) = setup(SWEEP);
    let shard0 = a.path().join("s0");
    let shard1 = b.path().join("s1");
    ok(&sweep(&file_a, &shard0, &["--shard", "0/2", "--no-plots"]));
    ok(&sweep(&file_b, &shard1, &["--shard", "1/2", "--no-plots"]));
    let merged = a.path().join("merged");
    let output = bin()
        .arg("merge")
        .arg(&shard0)
        .arg(&shard1)
        .arg("--out")
        .arg(&merged)
        .output()
        .unwrap();
    assert!(ok(&output).contains("36/36"));
}
