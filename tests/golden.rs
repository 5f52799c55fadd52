//! Byte-identical output across the move to streamed records: records.csv and summary.json of
//! the shipped configs, records.csv of small multi-burst scenarios (ties between arrivals and
//! other events at one instant, keep-alive evictions and reused container slots, prewarm,
//! rejections, queued bursts) and records.csv and steps.csv of a `steps` workload are checked
//! against FNV-1a hashes of what the code wrote when every record was kept in memory to the
//! end (the same records and steps, compared field by field, as that code's). And the streamed
//! writer (the simulator's sink) and the in-memory one (`write_run`, used by live runs) write
//! the same bytes. The configs on the 2023 and thesis profiles (container creation as CPU work,
//! lognormal durations, stragglers) were re-hashed when that model changed on purpose; the
//! others kept their hashes. arrivals.toml's summary was re-hashed when CPU completions became
//! timers (its `events` counter no longer counts stale completions; every other byte equal).

use std::path::Path;
use std::process::Command;

use burstsim::report::{self, RecordsMode};
use burstsim::run;

/// FNV-1a, 64 bits.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// (config, hash of records.csv, hash of summary.json when checked).
const GOLDEN: &[(&str, u64, Option<u64>)] = &[
    (
        "configs/faas.toml",
        0xae6e_a9ee_8e33_1f4d,
        Some(0xd733_0711_7ab2_1c81),
    ),
    (
        "configs/hetero.toml",
        0xc47f_48ee_c76c_7ed8,
        Some(0xf78a_42f0_a701_3f4f),
    ),
    (
        "configs/homo.toml",
        0xd9c5_8d8e_ca70_4be6,
        Some(0xd847_d23a_3650_e335),
    ),
    (
        "configs/calibration/invocation-48.toml",
        0xc3b6_6930_e2be_33e4,
        Some(0x6ee9_4124_7cf6_a30d),
    ),
    (
        "configs/arrivals.toml",
        0xad03_87d5_406d_4fda,
        Some(0x9305_0a1e_e92d_c1af),
    ),
    ("configs/apps/terasort.toml", 0x3754_51de_f14e_ef79, None),
    (
        "tests/data/golden/churn-faas.toml",
        0xfb4c_50f7_730a_f1bf,
        None,
    ),
    (
        "tests/data/golden/ties-burst.toml",
        0x61e6_8d95_6ba8_0346,
        None,
    ),
    (
        "tests/data/golden/ties-faas.toml",
        0x644f_4a14_a7db_496f,
        None,
    ),
    (
        "tests/data/golden/ties-reject.toml",
        0x44eb_1a18_c4d9_d6bf,
        None,
    ),
    (
        "tests/data/golden/warm-burst.toml",
        0x281d_faee_f09d_b501,
        None,
    ),
];

/// steps.csv of a `steps` workload (its steps go through the same sink as the records).
const GOLDEN_STEPS: (&str, u64) = ("configs/apps/terasort.toml", 0x28da_44f5_a711_3eff);

fn run_cli(config: &str, out: &Path, records: &str) {
    let status = Command::new(env!("CARGO_BIN_EXE_burstsim"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["run", "--config", config, "--records", records, "--out"])
        .arg(out)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{config}: {}",
        String::from_utf8_lossy(&status.stderr)
    );
}

#[test]
fn outputs_match_the_stored_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let mut wrong = Vec::new();
    for (i, &(config, records, summary)) in GOLDEN.iter().enumerate() {
        let out = dir.path().join(i.to_string());
        run_cli(config, &out, "csv");
        let got = fnv1a(&std::fs::read(out.join("records.csv")).unwrap());
        if got != records {
            wrong.push(format!(
                "{config}: records.csv hash {got:#x}, stored {records:#x}"
            ));
        }
        if let Some(want) = summary {
            let got = fnv1a(&std::fs::read(out.join("summary.json")).unwrap());
            if got != want {
                wrong.push(format!(
                    "{config}: summary.json hash {got:#x}, stored {want:#x}"
                ));
            }
        }
    }
    let out = dir.path().join("steps");
    run_cli(GOLDEN_STEPS.0, &out, "none");
    let got = fnv1a(&std::fs::read(out.join("steps.csv")).unwrap());
    if got != GOLDEN_STEPS.1 {
        wrong.push(format!(
            "{}: steps.csv hash {got:#x}, stored {:#x}",
            GOLDEN_STEPS.0, GOLDEN_STEPS.1
        ));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn records_modes_write_only_what_they_name_and_the_same_summary() {
    let dir = tempfile::tempdir().unwrap();
    let names = |d: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("records"))
            .collect();
        v.sort();
        v
    };
    let mut summaries = Vec::new();
    for (mode, files) in [
        ("none", vec![]),
        ("csv", vec!["records.csv"]),
        ("parquet", vec!["records.parquet"]),
        ("both", vec!["records.csv", "records.parquet"]),
    ] {
        let out = dir.path().join(mode);
        run_cli("configs/faas.toml", &out, mode);
        assert_eq!(names(&out), files, "--records {mode}");
        assert!(out.join("timeline.png").exists() && out.join("start_latency.svg").exists());
        summaries.push(std::fs::read(out.join("summary.json")).unwrap());
    }
    assert!(summaries.windows(2).all(|w| w[0] == w[1]));
}

#[test]
fn streamed_and_in_memory_writers_give_identical_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for config in [
        "configs/faas.toml",
        "tests/data/golden/churn-faas.toml",
        "configs/arrivals.toml",
    ] {
        let scenario = sim_core::Scenario::load(&root.join(config), &[]).unwrap();
        let (streamed, whole) = (dir.path().join("streamed"), dir.path().join("whole"));
        let run = run::simulate_streamed(&scenario, None, &streamed, RecordsMode::Both).unwrap();
        run.write_report(&streamed, &run.name).unwrap();
        let in_memory = run::simulate(scenario, None).into_report();
        report::write_run(&whole, &in_memory).unwrap();
        for file in report::RUN_FILES {
            let (a, b) = (
                std::fs::read(streamed.join(file)).unwrap(),
                std::fs::read(whole.join(file)).unwrap(),
            );
            assert!(a == b, "{config}: {file} differs");
        }
    }
}
