//! The fuzz corpus (fuzz/corpus/<target>/, seeds plus every input the fuzzer kept or that once
//! made it panic) replayed through the fuzzing entry points on every test run: the config
//! loader and the `--set` parser must return on each, never panic. CI also fuzzes for a while
//! (`cargo fuzz`, .ci/run).

use std::path::{Path, PathBuf};

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} is empty", dir.display());
    files
}

#[test]
fn config_corpus_loads_without_panicking() {
    for file in corpus("config") {
        let data = std::fs::read(&file).unwrap();
        if let Err(panic) = std::panic::catch_unwind(|| sim_core::fuzzing::config(&data)) {
            panic!("{} panicked: {panic:?}", file.display());
        }
    }
}

#[test]
fn set_corpus_applies_without_panicking() {
    for file in corpus("set") {
        let data = std::fs::read(&file).unwrap();
        if let Err(panic) = std::panic::catch_unwind(|| sim_core::fuzzing::set(&data)) {
            panic!("{} panicked: {panic:?}", file.display());
        }
    }
}

/// The entry points reach validation: a seed loads, and a bad `--set` is an error, not a
/// silent pass (so the corpus exercises the loader, not only the TOML parser).
#[test]
fn entry_points_reach_the_scenario() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/reference.toml"),
    )
    .unwrap();
    let origin = Path::new("fuzz.toml");
    let config = sim_core::config::config_from_text(&text, &[], origin).unwrap();
    sim_core::Scenario::from_config(&config, origin).unwrap();
    let bad = sim_core::config::config_from_text(&text, &["policy.granularity".into()], origin);
    assert!(bad
        .unwrap_err()
        .message
        .contains("expected `dotted.path=value`"));
    let include = sim_core::config::config_from_text("include = [\"x.toml\"]", &[], origin);
    assert_eq!(include.unwrap_err().field, "include");
}
