//! The binary that runs inside containers (dispatcher, worker, idle container init) and the
//! agent's reaper, which cleans up after the agent however it ends.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        // The payload on stdin (OCI runtimes) or in a file (`--payload FILE`: Docker).
        Some("dispatch") => match args.get(1..) {
            Some([flag, file]) if flag == "--payload" => std::fs::File::open(file)
                .map_err(|e| anyhow::anyhow!("opening the payload {file}: {e}"))
                .and_then(|mut f| {
                    executor::dispatcher::dispatch(
                        &mut f,
                        &mut std::io::stdout(),
                        &PathBuf::from("/proc/self/exe"),
                    )
                }),
            Some([]) | None => executor::dispatcher::dispatch(
                &mut std::io::stdin(),
                &mut std::io::stdout(),
                &PathBuf::from("/proc/self/exe"),
            ),
            Some(other) => Err(anyhow::anyhow!(
                "dispatch: expected no argument or --payload FILE, got {other:?}"
            )),
        },
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
            eprintln!("burstsim-worker: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `burstsim-worker agent --cluster FILE --id N`: the agent alone, small enough to deploy on nodes.
fn agent(args: &[String]) -> anyhow::Result<()> {
    let mut cluster = None;
    let mut id = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match (a.as_str(), it.next()) {
            ("--cluster", Some(v)) => cluster = Some(PathBuf::from(v)),
            ("--id", Some(v)) => {
                id = Some(v.parse::<u32>().map_err(|_| {
                    anyhow::anyhow!("--id: expected a non-negative integer, got `{v}`")
                })?)
            }
            (other, _) => anyhow::bail!("agent: unexpected argument `{other}`"),
        }
    }
    let (Some(cluster), Some(id)) = (cluster, id) else {
        anyhow::bail!("agent: expected --cluster FILE --id N");
    };
    let cluster = executor::ClusterFile::load(&cluster)?;
    executor::agent::run(cluster, id, executor::agent::stop_on_signals())
}
