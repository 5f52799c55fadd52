//! `--set` arguments, one per line, over the reference config; each value also parsed as a
//! placement and a recovery policy.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sim_core::fuzzing::set(data));
