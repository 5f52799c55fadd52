//! Writes the synthetic trace fixtures (`sim_core::arrivals::fixtures`) under a folder:
//! `cargo run -p sim-core --example trace_fixtures -- configs/traces/fixtures`.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: trace_fixtures DIR");
        return ExitCode::from(2);
    };
    match sim_core::arrivals::fixtures::write_all(&dir) {
        Ok(()) => {
            println!("fixtures written under {}", dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}: {e}", dir.display());
            ExitCode::FAILURE
        }
    }
}
