//! The binary that runs inside containers (dispatcher, worker, idle container init) and the
//! agent's reaper, which cleans up after the agent however it ends.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use executor::{Error, Fault, Result};

/// Where the worker binary finds itself, inside a container or out.
const SELF: &str = "/proc/self/exe";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("dispatch") => dispatch(&args[1..]),
        Some("worker") => {
            executor::dispatcher::worker(&mut std::io::stdin(), &mut std::io::stdout())
        }
        Some("idle") => {
            executor::runtime::idle();
            Ok(())
        }
        Some("reap") => executor::reaper::reap_main(&args[1..]),
        Some("agent") => agent(&args[1..]),
        _ => {
            eprintln!(
                "usage: burstsim-worker agent --cluster FILE --id N | dispatch [--payload FILE]|worker|idle|reap ...\n\
                 (runs inside burstsim containers; started by `burstsim agent`)"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("burstsim-worker: {e}");
            match e.fault() {
                Fault::User => ExitCode::from(2),
                Fault::Environment => ExitCode::FAILURE,
            }
        }
    }
}

/// `dispatch [--payload FILE]`: the payload on stdin (OCI runtimes) or in a file (Docker).
fn dispatch(args: &[String]) -> Result<()> {
    let worker = Path::new(SELF);
    match args {
        [flag, file] if flag == "--payload" => {
            let mut f = std::fs::File::open(file)
                .map_err(|e| Error::from(e).context(format!("opening the payload {file}")))?;
            executor::dispatcher::dispatch(&mut f, &mut std::io::stdout(), worker)
        }
        [] => executor::dispatcher::dispatch(&mut std::io::stdin(), &mut std::io::stdout(), worker),
        other => Err(Error::input(format!(
            "dispatch: expected no argument or --payload FILE, got {other:?}"
        ))),
    }
}

/// `burstsim-worker agent --cluster FILE --id N`: the agent alone, small enough to deploy on nodes.
fn agent(args: &[String]) -> Result<()> {
    let mut cluster = None;
    let mut id = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match (a.as_str(), it.next()) {
            ("--cluster", Some(v)) => cluster = Some(PathBuf::from(v)),
            ("--id", Some(v)) => {
                id = Some(v.parse::<u32>().map_err(|_| {
                    Error::input(format!("--id: expected a non-negative integer, got `{v}`"))
                })?)
            }
            (other, _) => {
                return Err(Error::input(format!(
                    "agent: unexpected argument `{other}`"
                )))
            }
        }
    }
    let (Some(cluster), Some(id)) = (cluster, id) else {
        return Err(Error::input("agent: expected --cluster FILE --id N"));
    };
    let cluster = executor::ClusterFile::load(&cluster)?;
    executor::agent::run(cluster, id, executor::signals::stop_flag())
}
