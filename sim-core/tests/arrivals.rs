//! `[[arrivals]]` and `[[traces]]` in configs: validated into sources, drawn per run seed,
//! simulated with each action's own memory and work, and errors that name file and field.

mod common;

use std::path::Path;

use common::{load, Dir};
use policies::Status;
use sim_core::{simulate, Scenario};

const PLATFORM: &str = r#"
seed = 3
[[cluster.invokers]]
count = 4
cpus = 8
user_memory_mb = 4096
[policy]
name = "faas"
[workload]
kind = "sleep"
duration = 0.2
"#;

fn with(extra: &str) -> (Dir, std::path::PathBuf) {
    let dir = Dir::new();
    let p = dir.write("run.toml", &format!("{PLATFORM}{extra}"));
    (dir, p)
}

const TWO_ACTIONS: &str = r#"
[[arrivals]]
action = "api"
tenant = 0
memory_mb = 128
process = { kind = "poisson", rate = 20.0 }
end = 100.0

[[arrivals]]
action = "batch"
tenant = 1
memory_mb = 512
workload = { kind = "cpu", work = 1.5 }
process = { kind = "deterministic", rate = 2.0 }
start = 10.0
count = 50
"#;

#[test]
fn arrival_processes_drive_a_run_per_seed() {
    let (_dir, p) = with(TWO_ACTIONS);
    let sc = load(&p, &[]).unwrap();
    assert_eq!(
        sc.functions(),
        0,
        "no [[bursts]]: everything comes from the sources"
    );
    assert_eq!(sc.actions.len(), 2);
    assert_eq!(
        (sc.actions[0].memory_mb, sc.actions[1].memory_mb),
        (128, 512)
    );
    let out = simulate(&sc, 3);
    let api = out.records.iter().filter(|r| r.tenant == 0).count();
    let batch: Vec<_> = out.records.iter().filter(|r| r.tenant == 1).collect();
    // Poisson(2,000): 4 sigma is 179.
    assert!((api as f64 - 2_000.0).abs() < 179.0, "{api}");
    assert_eq!(batch.len(), 50);
    assert!(out.records.iter().all(|r| r.status() == Status::Ok));
    // The batch action's own work: 1.5 s of CPU each (1 s of sleep for none of them).
    for r in &batch {
        assert!(
            (r.t_end - r.t_start - 1.5).abs() < 1e-6,
            "{}",
            r.t_end - r.t_start
        );
    }
    // Its deterministic process: one every 0.5 s from 10 s, submitted in that order.
    let mut submits: Vec<f64> = batch.iter().map(|r| r.t_submit).collect();
    submits.sort_by(f64::total_cmp);
    let gaps: Vec<f64> = submits.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.iter().all(|g| (g - 0.5).abs() < 1e-6), "{gaps:?}");
    // Same seed, same run; another seed, other arrivals.
    let again = simulate(&sc, 3);
    assert_eq!(format!("{:?}", out.records), format!("{:?}", again.records));
    let other = simulate(&sc, 4);
    assert_ne!(
        format!("{:?}", out.records[..100].to_vec()),
        format!("{:?}", other.records[..100].to_vec())
    );
}

#[test]
fn the_arrival_stream_is_lazy_and_in_time_order() {
    // A billion arrivals a second for a day: drawing the first ones must not draw them all.
    let (_dir, p) = with(
        "[[arrivals]]\nprocess = { kind = \"poisson\", rate = 1e9 }\nend = 86400.0\n\
         [[bursts]]\nat = 0.0000005\nworkers = 3\n",
    );
    let sc = load(&p, &[]).unwrap();
    let first: Vec<_> = sc.arrivals(1).take(10_000).map(|a| a.unwrap()).collect();
    assert!(first.windows(2).all(|w| w[0].at_ns <= w[1].at_ns));
    // The [[bursts]] entry (500 ns) sits among them.
    assert_eq!(first.iter().filter(|a| a.workers == 3).count(), 1);
    assert!(first.last().unwrap().at_ns < 20_000);
}

#[test]
fn shipped_trace_configs_replay_their_fixtures() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for (config, functions, requests) in [
        ("configs/traces/azure-2019.toml", 360, 360),
        ("configs/traces/azure-2021.toml", 390, 390),
        ("configs/traces/bursts.toml", 229, 6),
        ("configs/arrivals.toml", 0, 0),
    ] {
        let sc = Scenario::load(&root.join(config), &[]).unwrap_or_else(|e| panic!("{e}"));
        let out = simulate(&sc, sc.seed());
        assert_eq!(out.stats.arrival_error, None);
        assert!(
            out.records.iter().all(|r| r.status() == Status::Ok),
            "{config}"
        );
        if functions > 0 {
            assert_eq!(out.records.len(), functions, "{config}");
            assert_eq!(out.stats.requests, requests, "{config}");
        } else {
            assert!(
                out.records.len() > 10_000,
                "{config}: {}",
                out.records.len()
            );
        }
    }
}

#[test]
fn trace_and_arrival_errors_name_file_field_and_line() {
    let dir = Dir::new();
    dir.write(
        "b.csv",
        "at,workers,tenant,action\n0.5,4,0,a\n1.0,four,0,a\n",
    );
    let p = dir.write(
        "t.toml",
        &format!("{PLATFORM}[[traces]]\nformat = \"bursts\"\nfile = \"b.csv\"\n"),
    );
    let e = load(&p, &[]).unwrap_err().to_string();
    assert!(e.contains("t.toml: field `traces[0]`: "), "{e}");
    assert!(
        e.ends_with("b.csv:3: column `workers`: expected an integer >= 0, got `four`"),
        "{e}"
    );
    let missing = dir.write(
        "m.toml",
        &format!("{PLATFORM}[[traces]]\nformat = \"azure-2021\"\nfile = \"none.txt\"\n"),
    );
    let e = load(&missing, &[]).unwrap_err().to_string();
    assert!(
        e.contains("field `traces[0]`") && e.contains("none.txt: cannot open"),
        "{e}"
    );
    for (extra, field, what) in [
        (
            "[[arrivals]]\nprocess = { kind = \"poisson\", rate = 1.0 }\n",
            "arrivals[0]",
            "`end` (seconds) or `count`",
        ),
        (
            "[[arrivals]]\nprocess = { kind = \"poisson\", rate = -1.0 }\nend = 5.0\n",
            "arrivals[0].process.rate",
            "a finite number > 0",
        ),
        (
            "[[arrivals]]\nprocess = { kind = \"poisson\", rate = 1.0, burst = 3 }\nend = 5.0\n",
            "arrivals[0].process.burst",
            "unknown field `burst`",
        ),
        (
            "[[arrivals]]\nprocess = { kind = \"poisson\", rate = 1.0 }\nend = 5.0\nmemory_mb = 9000\n",
            "arrivals[0].memory_mb",
            "at most 4096 MB",
        ),
        (
            "[[traces]]\nformat = \"azure-2019\"\ndir = \"x\"\ndays = [15]\n",
            "traces[0].days[0]",
            "a day from 1 to 14",
        ),
        (
            "[[traces]]\nformat = \"azure-2019\"\ndir = \"x\"\nwindow = 3\n",
            "traces[0].window",
            "unknown field `window`",
        ),
        (
            "[[bursts]]\nworkers = 1\naction = \"a\"\n[[arrivals]]\naction = \"a\"\n\
             workload = { kind = \"cpu\", work = 1.0 }\nprocess = { kind = \"poisson\", rate = 1.0 }\ncount = 3\n",
            "arrivals[0].action",
            "one action, one workload",
        ),
    ] {
        let (_dir, p) = with(extra);
        let e = load(&p, &[]).unwrap_err().to_string();
        assert!(e.contains(&format!("field `{field}`")), "{field}: {e}");
        assert!(e.contains(what), "{field}: {e}");
    }
    let (_dir, p) = with("");
    let e = load(&p, &[]).unwrap_err().to_string();
    assert!(
        e.contains("at least one [[bursts]], [[arrivals]] or [[traces]] entry"),
        "{e}"
    );
}

#[test]
fn a_long_run_reads_its_arrivals_ahead_unchanged() {
    // More bursts than a run pulls itself before a thread draws the rest ahead (the rest spans
    // several of its chunks): every function is still submitted at its own burst's arrival
    // time, in arrival order.
    let (_dir, p) = with(
        "[[arrivals]]\nmemory_mb = 128\nprocess = { kind = \"poisson\", rate = 2000.0 }\n\
         count = 50000\nworkload = { kind = \"sleep\", duration = 0.001 }\n\
         [[arrivals]]\nmemory_mb = 128\nworkers = 2\n\
         process = { kind = \"deterministic\", rate = 100.0 }\ncount = 1500\n",
    );
    let sc = load(&p, &[]).unwrap();
    let bursts = sc.run_bursts(5);
    assert!(bursts.error.is_none());
    assert_eq!(bursts.bursts.len(), 51_500);
    assert!(bursts.bursts.len() - (1 << 15) > 2 * sim_core::arrivals::read_ahead::CHUNK);
    let out = simulate(&sc, 5);
    assert_eq!(out.records.len() as u64, bursts.functions);
    let t0 = bursts.bursts[0].at_ns;
    for r in &out.records {
        let b = &bursts.bursts[r.burst_id as usize];
        assert_eq!(r.function_id, b.first_function + r.worker_id as u64);
        assert_eq!(r.t_submit, (b.at_ns - t0) as f64 / 1e9, "{r:?}");
        assert_eq!(r.status(), Status::Ok);
    }
}
