//! Byte-identical output across the move to streamed records: records.csv and summary.json of
//! the shipped configs, records.csv of small multi-burst scenarios (ties between arrivals and
//! other events at one instant, keep-alive evictions and reused container slots, prewarm,
//! rejections, queued bursts) and records.csv and steps.csv of a `steps` workload are checked
//! against FNV-1a hashes of what the code wrote when every record was kept in memory to the
//! end (the same records and steps, compared field by field, as that code's). And the streamed
//! writer (the simulator's sink) and the in-memory one (`write_run`, used by live runs) write
//! the same bytes.

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
        0x68cc_596a_7e29_d8a3,
        Some(0xf6cf_a256_e1ed_9a84),
    ),
    (
        "configs/hetero.toml",
        0x01ea_f2a2_0585_a7aa,
        Some(0x7e26_bd77_82da_5877),
    ),
    (
        "configs/homo.toml",
        0x9c4c_bde6_0bdf_627a,
        Some(0x65af_825f_0931_6948),
    ),
    (
        "configs/calibration/invocation-48.toml",
        0x5574_5659_5fb2_c934,
        Some(0x97e4_7dca_afcb_811d),
    ),
    (
        "configs/arrivals.toml",
        0xd584_68e9_4b00_61b0,
        Some(0x3c8c_5a06_d40d_f8e9),
    ),
    ("configs/apps/terasort.toml", 0x66c0_baaa_34d0_7ffd, None),
    (
        "tests/data/golden/churn-faas.toml",
        0xfb4c_50f7_730a_f1bf,
        None,
    ),
    (
        "tests/data/golden/ties-burst.toml",
        0x6bad_78f8_c1cf_e765,
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
        0x6c4b_1f9d_7e5c_269b,
        None,
    ),
];

/// steps.csv of a `steps` workload (its steps go through the same sink as the records).
const GOLDEN_STEPS: (&str, u64) = ("configs/apps/terasort.toml", 0x6248_604d_3884_3043);

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
    for config in ["configs/faas.toml", "tests/data/golden/churn-faas.toml"] {
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
