//! Quick runner for the engine alone (no reports, no polars build): loads a config, simulates
//! with a streaming sink that keeps nothing per function, prints a one-line summary, the run
//! counters and the wall time.
//!
//! `cargo run --release -p sim-core --example simulate -- CONFIG [dotted.path=value ...]`
//! (`DUMP=N` also prints the first N records, and the steps of a `steps` workload).

use std::path::Path;
use std::process::ExitCode;

use policies::FunctionRecord;
use sim_core::{RecordSink, SinkError};

/// Counts and extremes, computed as records stream by.
#[derive(Default)]
struct Tally {
    functions: u64,
    ok: u64,
    makespan: f64,
    start_min: f64,
    start_max: f64,
    start_sum: f64,
    dump: u64,
}

impl RecordSink for Tally {
    fn step(&mut self, step: policies::comm::StepRecord) -> Result<(), SinkError> {
        if self.dump > 0 {
            println!("{step:?}");
        }
        Ok(())
    }

    fn record(&mut self, r: FunctionRecord) -> Result<(), SinkError> {
        if self.functions < self.dump {
            println!("{r:?}");
        }
        self.functions += 1;
        if r.is_ok() {
            if self.ok == 0 {
                self.start_min = r.t_start;
            }
            self.ok += 1;
            self.makespan = self.makespan.max(r.t_end);
            self.start_min = self.start_min.min(r.t_start);
            self.start_max = self.start_max.max(r.t_start);
            self.start_sum += r.t_start;
        }
        Ok(())
    }
}

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
    let mut tally = Tally {
        dump: std::env::var("DUMP")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        ..Tally::default()
    };
    let t = std::time::Instant::now();
    let stats = match sim_core::simulate_into(&scenario, scenario.seed(), &mut tally) {
        Ok(end) => end.stats,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let wall = t.elapsed().as_secs_f64();
    println!(
        "{} [{}]: {} functions, {} ok, makespan {:.3} s, starts (s after the first submission) min {:.3} / mean {:.3} / max {:.3}",
        scenario.name(),
        scenario.label(),
        tally.functions,
        tally.ok,
        tally.makespan,
        tally.start_min,
        tally.start_sum / tally.ok.max(1) as f64,
        tally.start_max
    );
    println!(
        "simulated in {wall:.3} s wall: {} events ({:.2} M events/s, {:.2} M functions/s)",
        stats.events,
        stats.events as f64 / wall / 1e6,
        tally.functions as f64 / wall / 1e6
    );
    println!("{stats:?}");
    ExitCode::SUCCESS
}
