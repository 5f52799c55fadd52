//! `burstsim bench`: simulator speed and memory on the large reference scenarios (a burst of
//! 1,000,000 workers over ~20,000 invokers, 1,000,000 FaaS invocations, and 1,000-worker
//! all-to-all exchanges: about a million messages, two network flows each).
//! Each case runs in a child process so that its peak memory is its own.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use sim_core::Scenario;

use crate::error::Error;

/// `burstsim bench` arguments.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Benchmark configs to run (default: configs/bench/*.toml).
    #[arg(long = "config")]
    pub configs: Vec<PathBuf>,
    /// Repetitions per case (the best wall time is reported).
    #[arg(long, default_value_t = 1)]
    pub repeat: u32,
    /// Run one case in this process and print one machine-readable line (used by the parent).
    #[arg(long, hide = true)]
    pub child: bool,
}

/// One measured case.
#[derive(Debug, Clone)]
pub struct BenchResult {
    pub name: String,
    pub functions: usize,
    pub events: u64,
    /// Network flows (chunk uploads and downloads) of a `steps` workload; 0 otherwise.
    pub flows: u64,
    pub seconds: f64,
    pub peak_rss_mb: f64,
}

impl BenchResult {
    pub fn events_per_second(&self) -> f64 {
        self.events as f64 / self.seconds
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

/// Simulates one config in this process, `repeat` times, keeping the fastest run.
pub fn run_case(config: &Path, repeat: u32) -> Result<BenchResult, Error> {
    let scenario = Scenario::load(config, &[])?;
    let mut best: Option<BenchResult> = None;
    for _ in 0..repeat.max(1) {
        let started = Instant::now();
        let out = sim_core::simulate(&scenario, scenario.seed());
        let seconds = started.elapsed().as_secs_f64();
        let result = BenchResult {
            name: scenario.name().to_string(),
            functions: out.records.len(),
            events: out.stats.events,
            flows: out.comm.as_ref().map_or(0, |c| c.net.flows),
            seconds,
            peak_rss_mb: 0.0,
        };
        drop(out);
        if best.as_ref().is_none_or(|b| seconds < b.seconds) {
            best = Some(result);
        }
    }
    let mut best = best.expect("at least one repetition");
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
    if args.child {
        for config in &configs {
            let r = run_case(config, args.repeat)?;
            println!(
                "BENCH\t{}\t{}\t{}\t{:.6}\t{:.1}\t{}",
                r.name, r.functions, r.events, r.seconds, r.peak_rss_mb, r.flows
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
    println!(
        "{:<16} {:>10} {:>12} {:>9} {:>14} {:>14} {:>12} {:>10} {:>12}",
        "case",
        "functions",
        "events",
        "seconds",
        "events/s",
        "functions/s",
        "peak RSS MB",
        "flows",
        "flows/s"
    );
    for config in &configs {
        let out = Command::new(&exe)
            .args([
                "bench",
                "--child",
                "--repeat",
                &args.repeat.to_string(),
                "--config",
            ])
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
            if f.len() == 7 && f[0] == "BENCH" {
                let functions: f64 = f[2].parse().unwrap_or(f64::NAN);
                let events: f64 = f[3].parse().unwrap_or(f64::NAN);
                let secs: f64 = f[4].parse().unwrap_or(f64::NAN);
                let flows: f64 = f[6].parse().unwrap_or(f64::NAN);
                let flow_rate = if flows > 0.0 {
                    format!("{:.0}", flows / secs)
                } else {
                    "-".into()
                };
                println!(
                    "{:<16} {:>10} {:>12} {:>9.3} {:>14.0} {:>14.0} {:>12} {:>10} {:>12}",
                    f[1],
                    f[2],
                    f[3],
                    secs,
                    events / secs,
                    functions / secs,
                    f[5],
                    f[6],
                    flow_rate
                );
            }
        }
    }
    Ok(())
}
