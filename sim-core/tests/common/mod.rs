#![allow(dead_code)]

use std::path::{Path, PathBuf};

use sim_core::config::ConfigError;
use sim_core::{simulate, Scenario, SimOutput};

/// A temp dir holding config files written by a test.
pub struct Dir(pub tempfile::TempDir);

impl Dir {
    pub fn new() -> Self {
        Dir(tempfile::tempdir().expect("tempdir"))
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.path().join(name);
        std::fs::write(&p, text).expect("write config");
        p
    }
}

pub fn load(path: &Path, sets: &[&str]) -> Result<Scenario, ConfigError> {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    Scenario::load(path, &sets)
}

pub fn scenario(toml: &str) -> Scenario {
    let dir = Dir::new();
    let p = dir.write("test.toml", toml);
    load(&p, &[]).unwrap_or_else(|e| panic!("config should load: {e}"))
}

pub fn run(toml: &str) -> SimOutput {
    let sc = scenario(toml);
    simulate(&sc, sc.seed())
}

pub fn load_err(toml: &str, sets: &[&str]) -> String {
    let dir = Dir::new();
    let p = dir.write("bad.toml", toml);
    match load(&p, sets) {
        Ok(_) => panic!("config should be rejected:\n{toml}"),
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains("bad.toml"),
                "error should name the file: {msg}"
            );
            msg
        }
    }
}

/// Max number of intervals [start, end) open at once; an end at the same time as a start does not overlap.
pub fn max_overlap(intervals: &[(f64, f64)]) -> usize {
    let mut ev: Vec<(f64, i32)> = intervals
        .iter()
        .flat_map(|&(s, e)| [(s, 1), (e, -1)])
        .collect();
    ev.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut cur, mut max) = (0i64, 0i64);
    for (_, d) in ev {
        cur += d as i64;
        max = max.max(cur);
    }
    max as usize
}
