//! `burstsim comm-bench`: the two communication benchmarks of the Burst Communication
//! Middleware (`data/communication`), run live on a cluster through the executor itself:
//!
//! - **pair**: one worker sends a payload to one worker in another pack (single-worker
//!   containers on two agents), at several chunk sizes: the receiver's throughput;
//! - **aggregate**: k workers in one pack each send a payload to their partner in a pack on
//!   another agent, all at once (k = 1, 2, 4, ...): bytes / time to the last delivery.
//!
//! Each burst first runs a tiny allreduce (8 bytes) as a barrier, so that the measured `send`
//! step starts together on both sides, as the benchmarks' workers started together on their
//! VMs. The rows are written in the data's CSV format (`pairs.csv`, `throughput.csv`), so
//! `burstsim calibrate --comm` fits a backend profile to them with the same code and metrics as
//! `burstsim fit` uses on the shipped data.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use executor::comm::{BurstProgram, LiveBackend};
use executor::controller::{Controller, LiveBurst, LiveRun, OnNoCapacity};
use executor::ClusterFile;
use policies::comm::{Allreduce, ByteSize, Pattern, Program, Send, Step};
use policies::workload::FunctionInput;
use policies::{ActionKind, ActionRef, PolicySpec, RecoverySpec};

use crate::fit::comm::{BenchRow, CommMetric, CommTarget};
use crate::Error;

#[derive(Debug, Clone, Args)]
pub struct CommBenchArgs {
    /// The cluster file (at least two agents).
    #[arg(long, value_name = "FILE")]
    pub cluster: PathBuf,
    /// Where to write pairs.csv, throughput.csv and comm-bench.txt.
    #[arg(long, default_value = "results/comm-bench")]
    pub out: PathBuf,
    #[command(flatten)]
    pub plan: BenchPlan,
}

/// What to measure.
#[derive(Debug, Clone, Args)]
pub struct BenchPlan {
    /// Redis lists or streams (`list`, `stream`).
    #[arg(long, default_value = "list")]
    pub backend: String,
    /// Bytes each sender sends.
    #[arg(long, default_value = "64 MiB")]
    pub payload: String,
    /// Chunk sizes of the pair benchmark.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "64 KiB,256 KiB,1 MiB,4 MiB,16 MiB"
    )]
    pub chunk_sizes: Vec<String>,
    /// Concurrent pairs of the aggregate benchmark (each needs that many CPUs per agent);
    /// default 1, 2, 4, ... up to the smallest agent's CPUs.
    #[arg(long, value_delimiter = ',')]
    pub pairs: Vec<u32>,
    /// Chunk size of the aggregate benchmark.
    #[arg(long, default_value = "1 MiB")]
    pub aggregate_chunk: String,
    /// Runs of each measurement (the medians are reported).
    #[arg(long, default_value_t = 3)]
    pub runs: u32,
}

/// The benchmark as validated numbers.
#[derive(Debug, Clone)]
pub struct Plan {
    pub backend: LiveBackend,
    pub payload: u64,
    pub chunk_sizes: Vec<u64>,
    pub pairs: Vec<u32>,
    pub aggregate_chunk: u64,
    pub runs: u32,
}

fn size(flag: &str, s: &str) -> Result<u64, Error> {
    s.trim()
        .parse::<ByteSize>()
        .map(|b| b.0)
        .map_err(|e| Error::input(format!("{flag}: {e}")))
}

impl BenchPlan {
    /// Checks the flags against `cluster`.
    pub fn validate(&self, cluster: &ClusterFile) -> Result<Plan, Error> {
        let backend = match self.backend.as_str() {
            "list" => LiveBackend::List,
            "stream" => LiveBackend::Stream,
            other => {
                return Err(Error::input(format!(
                    "--backend: expected list or stream, got `{other}`"
                )))
            }
        };
        if cluster.agents.len() < 2 {
            return Err(Error::input(
                "--cluster: the benchmarks need two agents (packs on different nodes)",
            ));
        }
        let min_cpus = cluster.agents.iter().map(|a| a.cpus).min().unwrap_or(1);
        let pairs = if self.pairs.is_empty() {
            std::iter::successors(Some(1u32), |k| Some(k * 2))
                .take_while(|&k| k <= min_cpus)
                .collect()
        } else {
            self.pairs.clone()
        };
        if let Some(&k) = pairs.iter().find(|&&k| k == 0 || k > min_cpus) {
            return Err(Error::input(format!(
                "--pairs: expected 1 to {min_cpus} (the smallest agent's CPUs), got {k}"
            )));
        }
        let chunk_sizes = self
            .chunk_sizes
            .iter()
            .map(|c| size("--chunk-sizes", c))
            .collect::<Result<Vec<u64>, Error>>()?;
        let payload = size("--payload", &self.payload)?;
        if payload == 0 || chunk_sizes.contains(&0) || self.runs == 0 {
            return Err(Error::input(
                "--payload, --chunk-sizes and --runs: expected values > 0",
            ));
        }
        Ok(Plan {
            backend,
            payload,
            chunk_sizes,
            pairs,
            aggregate_chunk: size("--aggregate-chunk", &self.aggregate_chunk)?,
            runs: self.runs,
        })
    }
}

/// The benchmark program: an 8-byte allreduce as a barrier, then each worker w < N/2 sends
/// `payload` bytes to w + N/2.
pub fn program(payload: u64) -> Program {
    Program {
        steps: vec![
            Step::Allreduce(Allreduce { bytes: ByteSize(8) }),
            Step::Send(Send {
                bytes: ByteSize(payload),
                pattern: Some(Pattern::Halves),
                pairs: Vec::new(),
            }),
        ],
    }
}

/// The measured rows: (pair rows, aggregate rows), in the data's format.
pub struct Measured {
    pub pairs: Vec<BenchRow>,
    pub throughput: Vec<BenchRow>,
}

/// One live burst of `2k` workers in two packs of k (one per agent) running [`program`];
/// returns a row per worker for its `send` step.
fn one_run(
    c: &mut Controller,
    plan: &Plan,
    k: u32,
    chunk: u64,
    run: String,
    seed: u64,
) -> Result<Vec<BenchRow>, Error> {
    let n = 2 * k;
    let prog = program(plan.payload);
    let burst = LiveBurst {
        burst_id: 0,
        at: 0.0,
        tenant: 0,
        action: ActionRef {
            namespace: "comm-bench".into(),
            name: "send".into(),
            memory_mb: 256,
            kind: ActionKind::Docker,
        },
        inputs: vec![FunctionInput::Steps; n as usize],
        comm: Some(Arc::new(BurstProgram {
            draws: prog.burst_draws(seed, 0, n),
            program: prog,
            chunk_size: chunk,
            backend: plan.backend,
        })),
    };
    let live = LiveRun {
        policy: PolicySpec::BurstHomogeneous {
            granularity: k,
            join: false,
        },
        recovery: RecoverySpec::None,
        bursts: vec![burst],
        seed,
        on_no_capacity: OnNoCapacity::Queue,
    };
    wait_idle(c)?;
    let out = c.run(&live, &executor::signals::stop_flag())?;
    if out.cancelled {
        return Err(Error::environment("benchmark interrupted"));
    }
    if let Some(r) = out.records.iter().find(|r| !r.is_ok()) {
        return Err(Error::environment(format_args!(
            "benchmark run {run} failed: worker {}: {}",
            r.worker_id,
            r.outcome.reason()
        )));
    }
    let invokers: std::collections::BTreeSet<u32> = out.records.iter().map(|r| r.invoker).collect();
    if invokers.len() < 2 {
        return Err(Error::environment(format_args!(
            "benchmark run {run}: both packs ran on invoker {invokers:?} (the agents' CPUs were busy?)"
        )));
    }
    Ok(out
        .steps
        .iter()
        .filter(|s| s.step == 1)
        .map(|s| BenchRow {
            run: run.clone(),
            burst_size: n,
            chunk_size: chunk,
            payload_size: plan.payload,
            group_id: u32::from(s.worker_id >= k),
            throughput: plan.payload as f64 / 1048576.0 / (s.t_end - s.t_start),
            start: s.t_start,
            end: s.t_end,
        })
        .collect())
}

/// Waits until every agent's heartbeat shows all its CPUs free (the previous run's containers
/// are gone), so that the two packs of the next run land on two agents.
fn wait_idle(c: &mut Controller) -> Result<(), Error> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let hbs = c.heartbeats()?;
        if hbs
            .iter()
            .all(|h| h.as_ref().is_some_and(|h| h.free_cpus == h.total_cpus))
        {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            return Err(Error::environment(
                "the agents did not report all their CPUs free within 30 s",
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Runs both benchmarks on `cluster`.
pub fn measure(cluster: &ClusterFile, plan: &Plan) -> Result<Measured, Error> {
    let mut c = Controller::connect(cluster.clone())?;
    let mut m = Measured {
        pairs: Vec::new(),
        throughput: Vec::new(),
    };
    let mut seed = 1;
    for &chunk in &plan.chunk_sizes {
        for r in 1..=plan.runs {
            seed += 1;
            let rows = one_run(
                &mut c,
                plan,
                1,
                chunk,
                format!("pairs-{chunk}-run-{r}"),
                seed,
            )?;
            m.pairs.extend(rows);
        }
        println!(
            "pair, chunks of {}: {:.1} MiB/s",
            human(chunk),
            pair_figure(&m.pairs, chunk)
        );
    }
    for &k in &plan.pairs {
        for r in 1..=plan.runs {
            seed += 1;
            let run = format!("pairs-{k}-run-{r}");
            m.throughput
                .extend(one_run(&mut c, plan, k, plan.aggregate_chunk, run, seed)?);
        }
        println!(
            "{k} pair(s) at once: {:.1} MiB/s in total",
            aggregate_figure(&m.throughput, k)
        );
    }
    Ok(m)
}

/// The median receiver throughput of the pair rows at `chunk` (the fit's metric).
pub fn pair_figure(rows: &[BenchRow], chunk: u64) -> f64 {
    CommTarget {
        data: PathBuf::new(),
        metric: CommMetric::PairReceiverThroughput,
        chunk_size: Some(chunk),
        burst_size: None,
    }
    .measured(rows)
    .unwrap_or(f64::NAN)
}

/// The median aggregate throughput of `k` concurrent pairs (the fit's metric).
pub fn aggregate_figure(rows: &[BenchRow], k: u32) -> f64 {
    CommTarget {
        data: PathBuf::new(),
        metric: CommMetric::AggregateThroughput,
        chunk_size: None,
        burst_size: Some(2 * k),
    }
    .measured(rows)
    .unwrap_or(f64::NAN)
}

/// `65536` -> `64 KiB`.
pub fn human(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (scale, unit) in UNITS {
        if bytes >= scale && bytes.is_multiple_of(scale) {
            return format!("{} {unit}", bytes / scale);
        }
    }
    format!("{bytes} B")
}

/// Writes `rows` as a benchmark CSV of the data's format.
pub fn write_csv(path: &Path, backend: &str, rows: &[BenchRow]) -> Result<(), Error> {
    let mut s = String::from(
        "benchmark,backend,burst_id,burst_size,groups,granularity,chunking,chunk_size,\
         payload_size,group_id,worker_id,throughput,start,end\n",
    );
    for (i, r) in rows.iter().enumerate() {
        let _ = writeln!(
            s,
            "Pair,{backend},{},{},2,{},true,{},{},{},{},{},{},{}",
            r.run,
            r.burst_size,
            r.burst_size / 2,
            r.chunk_size,
            r.payload_size,
            r.group_id,
            i,
            r.throughput,
            r.start,
            r.end
        );
    }
    crate::atomic::write_bytes(path, s.as_bytes())
}

/// The summary table of a measurement.
pub fn table(m: &Measured, plan: &Plan, cluster: &ClusterFile) -> String {
    let link = cluster
        .agents
        .first()
        .and_then(|a| a.link_rate)
        .map(|r| format!("links of {:.0} MiB/s", r.0 / 1048576.0))
        .unwrap_or_else(
            || match cluster.agents.first().and_then(|a| a.netns.as_ref()) {
                Some(_) => "network namespaces, links not limited".into(),
                None => "loopback, no link limit".into(),
            },
        );
    let mut s = format!(
        "comm-bench on `{}` ({} agents, {link}), Redis {}s, {} per sender, median of {} runs\n",
        cluster.name,
        cluster.agents.len(),
        plan.backend.name(),
        human(plan.payload),
        plan.runs
    );
    let _ = writeln!(s, "{:<28} {:>14}", "pair: chunk size", "receiver MiB/s");
    for &c in &plan.chunk_sizes {
        let _ = writeln!(s, "{:<28} {:>14.1}", human(c), pair_figure(&m.pairs, c));
    }
    let _ = writeln!(
        s,
        "{:<28} {:>14}",
        format!("aggregate ({} chunks): pairs", human(plan.aggregate_chunk)),
        "total MiB/s"
    );
    for &k in &plan.pairs {
        let _ = writeln!(s, "{:<28} {:>14.1}", k, aggregate_figure(&m.throughput, k));
    }
    s
}

/// `burstsim comm-bench`.
pub fn main(args: &CommBenchArgs) -> Result<(), Error> {
    let cluster = ClusterFile::load(&args.cluster)?;
    let plan = args.plan.validate(&cluster)?;
    let m = measure(&cluster, &plan)?;
    write(&args.out, &m, &plan, &cluster)?;
    Ok(())
}

/// Writes pairs.csv, throughput.csv and comm-bench.txt into `dir` and prints the table.
pub fn write(dir: &Path, m: &Measured, plan: &Plan, cluster: &ClusterFile) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let backend = format!(
        "LocalRedis{}",
        if plan.backend == LiveBackend::List {
            "List"
        } else {
            "Stream"
        }
    );
    write_csv(&dir.join("pairs.csv"), &backend, &m.pairs)?;
    write_csv(&dir.join("throughput.csv"), &backend, &m.throughput)?;
    let t = table(m, plan, cluster);
    crate::atomic::write_bytes(&dir.join("comm-bench.txt"), t.as_bytes())?;
    print!("{t}");
    println!(
        "wrote {}/{{pairs.csv, throughput.csv, comm-bench.txt}}",
        dir.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_in_binary_units() {
        assert_eq!(human(65536), "64 KiB");
        assert_eq!(human(1 << 20), "1 MiB");
        assert_eq!(human(1000), "1000 B");
    }

    #[test]
    fn the_plan_is_checked_against_the_cluster() {
        let cluster = ClusterFile::local("redis://127.0.0.1:1", Path::new("/tmp/x"), 2, 4);
        let flags = BenchPlan {
            backend: "list".into(),
            payload: "8 MiB".into(),
            chunk_sizes: vec!["64 KiB".into(), "1 MiB".into()],
            pairs: Vec::new(),
            aggregate_chunk: "1 MiB".into(),
            runs: 2,
        };
        let p = flags.validate(&cluster).unwrap();
        assert_eq!(p.pairs, vec![1, 2, 4]);
        assert_eq!(p.chunk_sizes, vec![65536, 1 << 20]);
        let too_many = BenchPlan {
            pairs: vec![8],
            ..flags.clone()
        };
        assert!(too_many
            .validate(&cluster)
            .unwrap_err()
            .to_string()
            .contains("--pairs"));
        let bad = BenchPlan {
            backend: "s3".into(),
            ..flags.clone()
        };
        assert!(bad.validate(&cluster).is_err());
        let one = ClusterFile::local("redis://127.0.0.1:1", Path::new("/tmp/x"), 1, 4);
        assert!(flags.validate(&one).is_err());
    }

    #[test]
    fn rows_round_trip_through_the_data_format() {
        let rows = vec![BenchRow {
            run: "pairs-1-run-1".into(),
            burst_size: 2,
            chunk_size: 65536,
            payload_size: 1 << 20,
            group_id: 1,
            throughput: 12.5,
            start: 1.0,
            end: 1.08,
        }];
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pairs.csv");
        write_csv(&p, "LocalRedisList", &rows).unwrap();
        let back = crate::fit::comm::read_bench_csv(&p).unwrap();
        assert_eq!(back, rows);
        assert_eq!(pair_figure(&back, 65536), 12.5);
    }
}
