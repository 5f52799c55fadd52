//! `burstsim bench`: simulator speed and memory on the reference scenarios of `configs/bench`:
//! the anchor workload (one action at 1,000 invocations/s, measured beside DSLab FaaS) at 1 M,
//! 10 M and 100 M invocations, a burst of 1,000,000 workers and 1,000,000 FaaS invocations.
//!
//! What is timed is what `burstsim run` does until the plots: the simulation with its records
//! streamed into the report writer (summary and plot material, and the record files that
//! `--records` asks for, `none` by default), not loading the config or drawing. Each case runs
//! in a child process so that its peak memory (VmHWM) is its own.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use sim_core::Scenario;

use crate::error::Error;
use crate::report::{sink_error, RecordsMode, RunWriter};

/// `burstsim bench` arguments.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Benchmark configs to run (default: configs/bench/*.toml).
    #[arg(long = "config")]
    pub configs: Vec<PathBuf>,
    /// Repetitions per case (the best wall time is reported).
    #[arg(long, default_value_t = 1)]
    pub repeat: u32,
    /// Record files written while timing (to a temporary folder, removed after): `none` times
    /// the simulator with its streaming summary only.
    #[arg(long, value_enum, value_name = "WHICH", default_value_t = RecordsMode::None)]
    pub records: RecordsMode,
    /// Run one case in this process and print one machine-readable line (used by the parent).
    #[arg(long, hide = true)]
    pub child: bool,
}

/// One measured case.
#[derive(Debug, Clone)]
pub struct BenchResult {
    pub name: String,
    /// Functions simulated (invocations, or workers of bursts).
    pub functions: u64,
    /// Engine events processed.
    pub events: u64,
    /// Network flows (chunk uploads and downloads) of a `steps` workload; 0 otherwise.
    pub flows: u64,
    pub seconds: f64,
    /// CPU time of the case's process over the timed runs (user + system, every thread),
    /// divided by the repetitions: on a shared machine, what the case cost whatever the load.
    pub cpu_seconds: f64,
    pub peak_rss_mb: f64,
    /// Most records buffered at once by the engine (its reorder buffer).
    pub records_buffered: usize,
}

impl BenchResult {
    pub fn events_per_second(&self) -> f64 {
        self.events as f64 / self.seconds
    }

    pub fn functions_per_second(&self) -> f64 {
        self.functions as f64 / self.seconds
    }
}

/// Peak resident set size of this process (VmHWM), in MB.
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// CPU time of this process so far (user + system, all its threads, living or joined), s.
pub fn process_cpu_seconds() -> f64 {
    // Fields 14 and 15 of /proc/self/stat, after the parenthesised command name, in clock
    // ticks of USER_HZ (100 on Linux, part of its user-space ABI).
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = &s[s.rfind(')')? + 1..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
            Some(ticks / 100.0)
        })
        .unwrap_or(f64::NAN)
}

/// Simulates one config in this process, `repeat` times, keeping the fastest run; record
/// files (if any) go to a temporary folder removed afterwards.
pub fn run_case(config: &Path, repeat: u32, records: RecordsMode) -> Result<BenchResult, Error> {
    let scenario = Scenario::load(config, &[])?;
    let scratch = std::env::temp_dir().join(format!("burstsim-bench-{}", std::process::id()));
    let mut best: Option<BenchResult> = None;
    let cpu_before = process_cpu_seconds();
    for _ in 0..repeat.max(1) {
        let started = Instant::now();
        let mut writer = RunWriter::create(&scratch, records)?;
        let end =
            sim_core::simulate_into(&scenario, scenario.seed(), &mut writer).map_err(sink_error)?;
        let out = writer.finish()?;
        let seconds = started.elapsed().as_secs_f64();
        let result = BenchResult {
            name: scenario.name().to_string(),
            functions: out.figures.summary.functions,
            events: end.stats.events,
            flows: end.comm.as_ref().map_or(0, |c| c.net.flows),
            seconds,
            cpu_seconds: 0.0,
            peak_rss_mb: 0.0,
            records_buffered: end.stats.footprint.records,
        };
        if best.as_ref().is_none_or(|b| seconds < b.seconds) {
            best = Some(result);
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    let mut best = best.expect("at least one repetition");
    best.cpu_seconds = (process_cpu_seconds() - cpu_before) / repeat.max(1) as f64;
    best.peak_rss_mb = peak_rss_mb();
    Ok(best)
}

fn default_configs() -> Result<Vec<PathBuf>, Error> {
    let dir = Path::new("configs/bench");
    let mut configs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| {
            Error::Input(format!(
                "{}: cannot list benchmark configs: {e}",
                dir.display()
            ))
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    configs.sort();
    Ok(configs)
}

/// `burstsim bench`.
pub fn main(args: &BenchArgs) -> Result<(), Error> {
    let configs = if args.configs.is_empty() {
        default_configs()?
    } else {
        args.configs.clone()
    };
    let records = args.records;
    if args.child {
        for config in &configs {
            let r = run_case(config, args.repeat, records)?;
            println!(
                "BENCH\t{}\t{}\t{}\t{:.6}\t{:.1}\t{}\t{}\t{:.2}",
                r.name,
                r.functions,
                r.events,
                r.seconds,
                r.peak_rss_mb,
                r.records_buffered,
                r.flows,
                r.cpu_seconds
            );
        }
        return Ok(());
    }
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: this is a debug build; run `cargo run --release -- bench` for real figures"
        );
    }
    // Bad input is reported here, with exit code 2, before any child runs.
    for config in &configs {
        Scenario::load(config, &[])?;
    }
    let exe = std::env::current_exe().map_err(|e| Error::Other(e.into()))?;
    let mode = serde_json::to_value(records)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    println!(
        "timed: simulation + streaming summary and plot material, record files: {mode} \
         (best of {}, one process per case); CPU s: the case's CPU time, all threads",
        args.repeat.max(1)
    );
    println!("{}", load_line());
    println!(
        "{:<16} {:>11} {:>12} {:>9} {:>7} {:>13} {:>13} {:>11} {:>9} {:>10}",
        "case",
        "functions",
        "events",
        "seconds",
        "CPU s",
        "functions/s",
        "events/s",
        "peak RSS MB",
        "buffered",
        "flows/s"
    );
    for config in &configs {
        let out = Command::new(&exe)
            .args(["bench", "--child", "--repeat", &args.repeat.to_string()])
            .args(["--records", &mode, "--config"])
            .arg(config)
            .output()
            .map_err(|e| Error::Other(e.into()))?;
        if !out.status.success() {
            return Err(Error::Other(anyhow::anyhow!(
                "benchmark {} failed: {}",
                config.display(),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() == 9 && f[0] == "BENCH" {
                let functions: f64 = f[2].parse().unwrap_or(f64::NAN);
                let events: f64 = f[3].parse().unwrap_or(f64::NAN);
                let secs: f64 = f[4].parse().unwrap_or(f64::NAN);
                let flows: f64 = f[7].parse().unwrap_or(f64::NAN);
                let flow_rate = if flows > 0.0 {
                    format!("{:.0}", flows / secs)
                } else {
                    "-".into()
                };
                println!(
                    "{:<16} {:>11} {:>12} {:>9.3} {:>7} {:>13.0} {:>13.0} {:>11} {:>9} {:>10}",
                    f[1],
                    f[2],
                    f[3],
                    secs,
                    f[8],
                    functions / secs,
                    events / secs,
                    f[5],
                    f[6],
                    flow_rate
                );
            }
        }
    }
    println!("{}", load_line());
    Ok(())
}

/// The machine's load average and core count: wall times on a shared machine depend on them.
fn load_line() -> String {
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(String::from))
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("load average (1 min): {load} on {cores} cores")
}
