//! A config's TOML text, after leading `--set PATH=VALUE` lines: loaded and validated.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sim_core::fuzzing::config(data));
