//! Quick runner for the engine alone (no reports, no polars build): loads a config, simulates,
//! prints a one-line summary, the run counters and the wall time.
//!
//! `cargo run --release -p sim-core --example simulate -- CONFIG [dotted.path=value ...]`
//! (`DUMP=N` also prints the first N records).

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: simulate CONFIG [dotted.path=value ...]");
        return ExitCode::from(2);
    };
    let path = Path::new(path);
    let scenario = match sim_core::Scenario::load(path, &args[1..]) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let t = std::time::Instant::now();
    let out = sim_core::simulate(&scenario, scenario.seed());
    let wall = t.elapsed().as_secs_f64();
    let ok: Vec<_> = out.records.iter().filter(|r| r.is_ok()).collect();
    let mut latency: Vec<f64> = ok.iter().map(|r| r.t_start).collect();
    latency.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        latency
            .get(((latency.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    let makespan = ok.iter().map(|r| r.t_end).fold(0.0, f64::max);
    println!(
        "{} [{}]: {} functions, {} ok, makespan {:.3} s, start latency min {:.3} / p50 {:.3} / max {:.3} s",
        scenario.name(),
        scenario.label(),
        out.records.len(),
        ok.len(),
        makespan,
        pick(0.0),
        pick(0.5),
        pick(1.0)
    );
    println!(
        "simulated in {wall:.3} s wall: {} events ({:.2} M events/s, {:.2} M functions/s)",
        out.stats.events,
        out.stats.events as f64 / wall / 1e6,
        out.records.len() as f64 / wall / 1e6
    );
    println!("{:?}", out.stats);
    if let Some(n) = std::env::var("DUMP")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        for r in out.records.iter().take(n) {
            println!("{r:?}");
        }
    }
    ExitCode::SUCCESS
}
