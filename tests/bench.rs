//! `burstsim bench` runs each case in a child process and reports events, rates and peak memory.

use std::process::Command;

#[test]
fn bench_reports_every_figure_for_each_config() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new(env!("CARGO_BIN_EXE_burstsim"))
        .current_dir(root)
        .args([
            "bench",
            "--config",
            "configs/hetero.toml",
            "--config",
            "configs/faas.toml",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    for case in ["hetero", "faas"] {
        let row: Vec<&str> = stdout
            .lines()
            .find(|l| l.starts_with(case))
            .unwrap_or_else(|| panic!("no row for {case}"))
            .split_whitespace()
            .collect();
        assert_eq!(row[1], "120", "functions");
        let events: u64 = row[2].parse().unwrap();
        assert!(events > 0);
        let cpu_s: f64 = row[4].parse().unwrap();
        assert!(cpu_s >= 0.0 && cpu_s.is_finite(), "CPU s {cpu_s}");
        let peak_mb: f64 = row[7].parse().unwrap();
        assert!(peak_mb > 0.0 && peak_mb.is_finite());
    }
}

#[test]
fn bench_names_a_missing_config() {
    let out = Command::new(env!("CARGO_BIN_EXE_burstsim"))
        .args(["bench", "--config", "no/such/bench.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no/such/bench.toml"), "{stderr}");
}
