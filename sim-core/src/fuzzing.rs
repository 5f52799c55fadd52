//! Entry points for fuzzing the config loader and the `--set` parser with untrusted input: the
//! cargo-fuzz targets in `fuzz/` call them, and `tests/fuzz_corpus.rs` replays the stored corpus
//! through them in every test run. Whatever the input, they return (an error for bad input is
//! fine); a panic is a bug.

use std::path::Path;
use std::str::FromStr;

use policies::{PolicySpec, RecoverySpec};

use crate::config::{config_from_text, Config};
use crate::Scenario;

/// Scenarios with more bursts (after `count`) or functions than this are not built: a config
/// may ask for any size, and building a huge one is slow, not wrong.
const MAX_BURSTS: u64 = 100_000;
const MAX_FUNCTIONS: u64 = 10_000_000;

/// `data`: leading lines `--set PATH=VALUE`, then a config's TOML text. Loads and validates it.
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut sets = Vec::new();
    let mut rest = text.as_ref();
    while let Some(line) = rest.strip_prefix("--set ") {
        let (set, tail) = line.split_once('\n').unwrap_or((line, ""));
        sets.push(set.to_string());
        rest = tail;
    }
    load(rest, &sets);
}

/// `data`: `--set` arguments, one per line, applied to the reference config
/// (`examples/reference.toml`); each value is also parsed as a placement and a recovery policy
/// (the `name { key = value }` form that `--set` and sweeps accept).
pub fn set(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let sets: Vec<String> = text.lines().map(str::to_string).collect();
    for set in &sets {
        let value = set.split_once('=').map_or(set.as_str(), |(_, v)| v);
        if let Ok(spec) = PolicySpec::from_str(value) {
            assert_eq!(PolicySpec::from_str(&spec.to_string()), Ok(spec));
        }
        if let Ok(spec) = RecoverySpec::from_str(value) {
            assert_eq!(RecoverySpec::from_str(&spec.to_string()), Ok(spec));
        }
    }
    load(REFERENCE, &sets);
}

/// The reference config: every key, with its default.
const REFERENCE: &str = include_str!("../examples/reference.toml");

fn load(text: &str, sets: &[String]) {
    let origin = Path::new("fuzz.toml");
    let Ok(config) = config_from_text(text, sets, origin) else {
        return;
    };
    if small_enough(&config) {
        let _ = Scenario::from_config(&config, origin);
    }
}

/// Not too large to build, and reading no file (`[[traces]]` name files, which are not what
/// this fuzzes).
fn small_enough(config: &Config) -> bool {
    if !config.traces.is_empty() {
        return false;
    }
    let bursts = config
        .bursts
        .iter()
        .fold(0u64, |n, b| n.saturating_add(b.count as u64));
    let functions = config.bursts.iter().fold(0u64, |n, b| {
        n.saturating_add(b.count as u64 * b.workers as u64)
    });
    bursts <= MAX_BURSTS && functions <= MAX_FUNCTIONS
}
