//! `burstsim validate`: runs a config live R times and simulates it R times (same seeds, same
//! inputs, the simulator given the live cluster's invokers), then shows how far the model is
//! from reality: a side-by-side table (simulated, measured, relative error) and a plot that
//! overlays the start-latency CDFs.

use std::fmt::Write as _;
use std::path::Path;

use clap::Args;
use executor::ClusterFile;
use plotters::prelude::*;
use policies::comm::StepRecord;
use policies::{FunctionRecord, Status};
use sim_core::scenario::InvokerSpec;
use sim_core::Scenario;

use super::run::{live_report, run_live};
use super::step_compare::{compare_steps, steps_table, write_step_rows, StepRow};
use super::ScenarioArgs;
use crate::report::render::{write_png_svg, DrawError, Plot};
use crate::report::spread::OverSeeds;
use crate::report::{self, RunReport, Summary};
use crate::Error;

#[derive(Debug, Clone, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// Live runs (and simulations), seeds seed..seed+R.
    #[arg(long, default_value_t = 3)]
    pub repeat: u32,
}

/// Reads one figure from a summary.
pub type Figure = fn(&Summary) -> f64;

/// The figures compared, by name and how to read them from a summary.
pub const FIGURES: [(&str, Figure); 5] = [
    ("start_latency_p50_s", |s| s.start_latency_p50_s),
    ("start_latency_p99_s", |s| s.start_latency_p99_s),
    ("start_latency_max_s", |s| s.start_latency_max_s),
    ("makespan_s", |s| s.makespan_s),
    ("max_concurrency", |s| s.max_concurrency as f64),
];

/// One row of the comparison.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    pub figure: String,
    pub simulated: f64,
    pub measured: f64,
    /// (simulated - measured) / measured; NaN when measured is 0.
    pub relative_error: f64,
    /// Standard error of `measured`, the mean over the repeats (their standard deviation over
    /// the square root of their number; NaN with one repeat): how far an error can come from
    /// the live runs' own run-to-run spread.
    pub measured_sem: f64,
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = v.filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// Standard error of the mean of the finite values (NaN below two): their sample standard
/// deviation ([`OverSeeds`]) over the square root of their number.
fn standard_error(v: &[f64]) -> f64 {
    match OverSeeds::of(v) {
        Some(o) if o.n > 1 => o.sd / (o.n as f64).sqrt(),
        _ => f64::NAN,
    }
}

/// Compares the mean of each figure over the simulated and the measured runs.
pub fn compare(sim: &[Summary], live: &[Summary]) -> Vec<Row> {
    FIGURES
        .iter()
        .map(|(name, f)| {
            let s = mean(sim.iter().map(f));
            let m = mean(live.iter().map(f));
            Row {
                figure: name.to_string(),
                simulated: s,
                measured: m,
                relative_error: if m != 0.0 { (s - m) / m } else { f64::NAN },
                measured_sem: standard_error(&live.iter().map(f).collect::<Vec<_>>()),
            }
        })
        .collect()
}

pub fn table(rows: &[Row]) -> String {
    let mut s = format!(
        "{:<22} {:>12} {:>12} {:>10} {:>10}\n",
        "figure", "simulated", "measured", "+- s.e.", "rel.error"
    );
    for r in rows {
        let _ = writeln!(
            s,
            "{:<22} {:>12.4} {:>12.4} {:>10.4} {:>9.1}%",
            r.figure,
            r.simulated,
            r.measured,
            r.measured_sem,
            r.relative_error * 100.0
        );
    }
    s
}

fn latencies(records: &[Vec<FunctionRecord>]) -> Vec<f64> {
    let mut v: Vec<f64> = records
        .iter()
        .flat_map(|run| policies::start_latencies(run))
        .collect();
    v.sort_by(f64::total_cmp);
    v
}

/// The start-latency CDF of the simulated and the measured runs, as
/// `start_latency_cdf.{png,svg}` in `dir`.
pub fn write_cdf(dir: &Path, title: &str, sim: &[f64], live: &[f64]) -> Result<(), Error> {
    let cdf = Cdf { title, sim, live };
    write_png_svg(dir, "start_latency_cdf", (1000, 650), &cdf).map(|_| ())
}

/// What the CDF plot shows.
struct Cdf<'a> {
    title: &'a str,
    sim: &'a [f64],
    live: &'a [f64],
}

impl Plot for Cdf<'_> {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, plotters::coord::Shift>,
    ) -> Result<(), DrawError> {
        Ok(draw_cdf(root, self.title, self.sim, self.live)?)
    }
}

fn draw_cdf<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    sim: &[f64],
    live: &[f64],
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    let x_max = sim
        .iter()
        .chain(live)
        .copied()
        .fold(0.0f64, f64::max)
        .max(1e-3)
        * 1.05;
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(0.0..x_max, 0.0..1.0)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc("start latency (s from first submission)")
        .y_desc("fraction of functions")
        .label_style(("sans-serif", 15))
        .draw()
        .map_err(e)?;
    for (data, colour, name) in [
        (sim, RGBColor(31, 119, 180), "simulated"),
        (live, RGBColor(214, 39, 40), "measured"),
    ] {
        let n = data.len().max(1) as f64;
        let mut pts = vec![(0.0, 0.0)];
        for (i, &x) in data.iter().enumerate() {
            pts.push((x, i as f64 / n));
            pts.push((x, (i + 1) as f64 / n));
        }
        pts.push((x_max, if data.is_empty() { 0.0 } else { 1.0 }));
        chart
            .draw_series(LineSeries::new(pts, colour.stroke_width(2)))
            .map_err(e)?
            .label(format!("{name} ({} functions)", data.len()))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 16))
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(e)?;
    root.present().map_err(e)
}

/// `burstsim validate`.
pub fn main(args: &ValidateArgs) -> Result<(), Error> {
    if args.repeat == 0 {
        return Err(Error::input("--repeat: expected an integer >= 1, got 0"));
    }
    let a = &args.scenario;
    let cluster = ClusterFile::load(&a.cluster)?;
    // The model is asked about the cluster that was measured: the config is loaded (and
    // validated) on the live agents' invokers.
    let invokers: Vec<InvokerSpec> = cluster
        .agents
        .iter()
        .map(|a| InvokerSpec {
            cpus: a.cpus,
            user_memory_mb: a.memory_mb,
        })
        .collect();
    let sc = Scenario::load_on_cluster(&a.run.config, &a.run.options.sets, &invokers)?;
    // A communicating workload is simulated over the cluster's links as the file records them.
    let sc = match link_set(&cluster, &sc)? {
        Some(set) => {
            println!("network: {set} (the cluster's link rate)");
            let mut sets = a.run.options.sets.clone();
            sets.push(set);
            Scenario::load_on_cluster(&a.run.config, &sets, &invokers)?
        }
        None => sc,
    };
    let seed0 = a.run.options.seed_for(&sc);
    let seeds: Vec<u64> = (0..args.repeat).map(|r| seed0 + r as u64).collect();
    let dir = a.run.options.out_dir(&format!("{}-validate", sc.name()));
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let (sim, live) = run_both(&sc, &cluster, &seeds, &dir)?;
    if let Some(why) = all_rejected(&live.records, &sim.records, &cluster) {
        return Err(Error::input(format!(
            "{}: nothing to compare: {why} (records in {})",
            a.run.config.display(),
            dir.display()
        )));
    }
    let rows = compare(&sim.summaries, &live.summaries);
    print!("{}", table(&rows));
    let step_rows = compare_steps(&sim.steps, &live.steps);
    if !step_rows.is_empty() {
        println!("\nper step (mean seconds a function spends in one executed step):");
        print!("{}", steps_table(&step_rows, 24));
        write_step_rows(&dir, &step_rows)?;
    }
    write_rows(&dir, &sc, &seeds, &rows, &step_rows)?;
    write_cdf(
        &dir,
        &format!("Start latency CDF - {} ({} runs)", sc.label(), args.repeat),
        &latencies(&sim.records),
        &latencies(&live.records),
    )?;
    let steps_csv = if step_rows.is_empty() {
        ""
    } else {
        "validation_steps.csv, "
    };
    println!(
        "wrote {}/{{validation.csv, {steps_csv}validation.json, start_latency_cdf.png, start_latency_cdf.svg, live/, sim/}}",
        dir.display()
    );
    Ok(())
}

/// When every function of the live runs, or of the simulated ones, was rejected: which, and
/// why (the distinct reasons, and the live cluster's largest agent), instead of a table of
/// figures that do not exist.
pub fn all_rejected(
    live: &[Vec<FunctionRecord>],
    sim: &[Vec<FunctionRecord>],
    cluster: &ClusterFile,
) -> Option<String> {
    let rejected = |runs: &[Vec<FunctionRecord>]| {
        let all: Vec<&FunctionRecord> = runs.iter().flatten().collect();
        !all.is_empty() && all.iter().all(|r| r.status() == Status::Rejected)
    };
    let side = match (rejected(live), rejected(sim)) {
        (true, true) => "live and simulated",
        (true, false) => "live",
        (false, true) => "simulated",
        (false, false) => return None,
    };
    let mut reasons: Vec<&str> = live
        .iter()
        .chain(sim)
        .flatten()
        .filter(|r| r.status() == Status::Rejected)
        .map(|r| r.outcome.reason())
        .collect();
    reasons.sort_unstable();
    reasons.dedup();
    let largest = cluster.agents.iter().map(|a| a.cpus).max().unwrap_or(0);
    Some(format!(
        "every {side} function was rejected: {}; the cluster `{}` has {} agent(s), the largest \
         with {largest} CPU{}",
        reasons.join("; "),
        cluster.name,
        cluster.agents.len(),
        if largest == 1 { "" } else { "s" }
    ))
}

/// For a `steps` workload on a cluster whose agents record a link rate: the `--set` that gives
/// the simulator that bandwidth per host (it has one for all hosts).
fn link_set(cluster: &ClusterFile, sc: &Scenario) -> Result<Option<String>, Error> {
    if sc.comm.is_none() {
        return Ok(None);
    }
    Ok(super::calibrate_comm::link_rate(cluster)?.map(|r| format!("network.host_bandwidth={r}")))
}

/// The summaries, records and step rows of repeated runs, one per seed.
#[derive(Default)]
struct Runs {
    summaries: Vec<Summary>,
    records: Vec<Vec<FunctionRecord>>,
    steps: Vec<Vec<StepRecord>>,
}

impl Runs {
    fn push(&mut self, summary: Summary, records: Vec<FunctionRecord>, steps: Vec<StepRecord>) {
        self.summaries.push(summary);
        self.records.push(records);
        self.steps.push(steps);
    }
}

/// Runs `sc` live and simulated with each seed, (simulated, live); the files of the first
/// pair go to `dir`/sim and `dir`/live.
fn run_both(
    sc: &Scenario,
    cluster: &ClusterFile,
    seeds: &[u64],
    dir: &Path,
) -> Result<(Runs, Runs), Error> {
    let (mut sim_runs, mut live_runs) = (Runs::default(), Runs::default());
    for (r, &seed) in seeds.iter().enumerate() {
        let out = run_live(sc, seed, cluster)?;
        if out.cancelled {
            return Err(Error::environment("validation interrupted"));
        }
        let live = live_report(sc.name(), &sc.label(), seed, cluster, out);
        println!(
            "live run {}/{}: {} ok of {}",
            r + 1,
            seeds.len(),
            live.run.summary.ok,
            live.run.summary.functions
        );
        let sim = sim_core::simulate(sc, seed);
        let sim_summary = Summary::from_records(&sim.records);
        if r > 0 {
            // Every repeat's own records, to read one repeat against another.
            let rdir = dir.join(format!("live/repeat-{}", r + 1));
            std::fs::create_dir_all(&rdir).map_err(|e| Error::io(&rdir, e))?;
            report::tables::write_records_csv(&rdir.join("records.csv"), &live.run.records)?;
        }
        if r == 0 {
            live.write(&dir.join("live"))?;
            let sim_dir = dir.join("sim");
            report::write_run(
                &sim_dir,
                &RunReport {
                    name: sc.name().to_string(),
                    label: sc.label(),
                    records: sim.records.clone(),
                    summary: sim_summary.clone(),
                    extra: Some(serde_json::json!({ "seed": seed })),
                },
            )?;
            if !sim.steps.is_empty() {
                let title = format!("{}: {} - steps", sc.name(), sc.label());
                report::steps::write_steps(&sim_dir, &title, &sim.steps)?;
            }
        }
        live_runs.push(live.run.summary, live.run.records, live.steps);
        sim_runs.push(sim_summary, sim.records, sim.steps);
    }
    Ok((sim_runs, live_runs))
}

/// validation.csv and validation.json: the compared figures.
fn write_rows(
    dir: &Path,
    sc: &Scenario,
    seeds: &[u64],
    rows: &[Row],
    step_rows: &[StepRow],
) -> Result<(), Error> {
    let mut csv = String::from("figure,simulated,measured,relative_error,measured_sem\n");
    for r in rows {
        let _ = writeln!(
            csv,
            "{},{},{},{},{}",
            r.figure, r.simulated, r.measured, r.relative_error, r.measured_sem
        );
    }
    crate::atomic::write_bytes(&dir.join("validation.csv"), csv.as_bytes())?;
    let json = serde_json::json!({
        "name": sc.name(),
        "label": sc.label(),
        "repeat": seeds.len(),
        "seeds": seeds,
        "rows": rows,
        "steps": step_rows,
    });
    crate::atomic::write_json(&dir.join("validation.json"), &json)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn simulate(text: &str) -> Vec<FunctionRecord> {
        let origin = Path::new("never-fits.toml");
        let config = sim_core::config::config_from_text(text, &[], origin).unwrap();
        let sc = Scenario::from_config(&config, origin).unwrap();
        sim_core::simulate(&sc, 1).records
    }

    /// A burst at granularity 2 on agents of 1 CPU is rejected everywhere: validate names the
    /// reason and the largest agent instead of comparing figures of nothing.
    #[test]
    fn every_function_rejected_is_said_with_the_largest_agent() {
        let cfg = "[[cluster.invokers]]\ncpus = 1\ncount = 2\n[policy]\nname = \"burst-homogeneous\"\n\
                   granularity = 2\n[workload]\nkind = \"sleep\"\nduration = { dist = \"constant\", value = 1.0 }\n\
                   [[bursts]]\nworkers = 2\n";
        let sim = vec![simulate(cfg)];
        let cluster = ClusterFile::local("redis://127.0.0.1:1", Path::new("/tmp"), 2, 1);
        let why = all_rejected(&sim, &sim, &cluster).expect("every function was rejected");
        assert_eq!(
            why,
            "every live and simulated function was rejected: burst of 2 workers at granularity 2 \
             can never fit: a container of 2 workers needs 2 CPUs, the largest invoker has 1 CPU; \
             the cluster `local` has 2 agent(s), the largest with 1 CPU"
        );
        // One side with a completed function: only the other is named.
        let fits = vec![simulate(&cfg.replace("granularity = 2", "granularity = 1"))];
        assert!(fits[0].iter().all(|r| r.is_ok()));
        let why = all_rejected(&sim, &fits, &cluster).unwrap();
        assert!(why.starts_with("every live function was rejected"), "{why}");
        assert_eq!(all_rejected(&fits, &fits, &cluster), None);
    }

    /// The standard error is the repeats' sample standard deviation over sqrt(n); a single
    /// repeat has none, and NaN figures (a run without the figure) are left out.
    #[test]
    fn measured_standard_error_is_the_spread_of_the_repeats() {
        assert!((standard_error(&[1.0, 3.0]) - 1.0).abs() < 1e-12);
        let se = standard_error(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert!((se - (32.0f64 / 7.0 / 8.0).sqrt()).abs() < 1e-12, "{se}");
        assert!(standard_error(&[5.0]).is_nan());
        assert!((standard_error(&[1.0, f64::NAN, 3.0]) - 1.0).abs() < 1e-12);
    }
}
