//! Reports of a run: the summary figures, the per-function tables (CSV, Parquet) and the plots.
//! Everything is a function of the records, so the same records give byte-identical files.
//!
//! Records are streamed: [`RunWriter`] is the simulator's sink (tables written as the run goes,
//! summary and plot material accumulated in bounded memory, [`accumulate`]); a run already in
//! memory (a live run) goes through the same writer with [`write_run`].

pub mod accumulate;
pub mod faults;
pub mod plots;
pub mod render;
pub mod sketch;
pub mod spread;
pub mod steps;
pub mod stream;
mod summary;
pub mod tables;

use std::path::Path;

use policies::FunctionRecord;
use serde::Serialize;

use crate::{atomic, Error};

pub use accumulate::{RunAccumulator, RunFigures};
pub use plots::{LatencyBox, Timeline, TimelineData};
pub use sketch::QuantileSketch;
pub use spread::OverSeeds;
pub use stream::{sink_error, RecordsMode, RunOutput, RunWriter, TableRows, TableWriter};
pub use summary::{
    aligned_table, column_widths, first_submission, percentile, summary_table, ConcurrencyCurve,
    Summary,
};
pub use tables::{records_frame, write_records_csv, write_records_parquet};

/// One run as the report writer sees it, all its records in memory.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// Run name (the config's name): used in titles and folder names.
    pub name: String,
    /// What ran, for humans: the policy as written, e.g. `burst-homogeneous { granularity = 6, join = false }`.
    pub label: String,
    pub records: Vec<FunctionRecord>,
    pub summary: Summary,
    /// Extra figures merged into `summary.json` (e.g. simulator event count), if any.
    pub extra: Option<serde_json::Value>,
}

/// Writes the run's files into `dir` (created if needed): records.csv, records.parquet,
/// summary.json (with `run.summary`), timeline.{png,svg}, start_latency.{png,svg}, through the
/// same writer as a streamed run.
pub fn write_run(dir: &Path, run: &RunReport) -> Result<(), Error> {
    let mut writer = RunWriter::create(dir, RecordsMode::Both)?;
    for record in &run.records {
        writer.push(record.clone())?;
    }
    let figures = writer.finish()?.figures;
    let head = RunHead {
        name: &run.name,
        label: &run.label,
        extra: run.extra.as_ref(),
    };
    write_summary_and_plots(dir, &head, &run.summary, &figures)
}

/// What names a run in its files.
#[derive(Debug, Clone, Copy)]
pub struct RunHead<'a> {
    pub name: &'a str,
    pub label: &'a str,
    /// Extra figures merged into `summary.json`, if any.
    pub extra: Option<&'a serde_json::Value>,
}

/// summary.json (with `summary`), timeline.{png,svg} and start_latency.{png,svg} in `dir`.
pub fn write_summary_and_plots(
    dir: &Path,
    head: &RunHead,
    summary: &Summary,
    figures: &RunFigures,
) -> Result<(), Error> {
    write_summary_json(&dir.join("summary.json"), head, summary)?;
    let title = format!("{}: {}", head.name, head.label);
    plots::write_timelines(dir, "timeline", &[figures.timeline.titled(&title)])?;
    let mut latency = figures.latency.clone();
    latency.label = head.name.to_string();
    plots::write_latency_boxes(
        dir,
        "start_latency",
        &latency_title(&title, figures.streamed),
        &[latency],
    )
}

/// The boxplot's title; a streamed run's quartiles come from the sketch, and it says so.
pub fn latency_title(title: &str, streamed: bool) -> String {
    if streamed {
        format!(
            "Start latency - {title} (quantiles within {}%: sketch)",
            accumulate::SKETCH_ALPHA * 100.0
        )
    } else {
        format!("Start latency - {title}")
    }
}

/// summary.json: `name`, `label`, the summary's figures, then the extra figures, in that order.
pub fn write_summary_json(path: &Path, head: &RunHead, summary: &Summary) -> Result<(), Error> {
    #[derive(Serialize)]
    struct SummaryFile<'a> {
        name: &'a str,
        label: &'a str,
        #[serde(flatten)]
        summary: &'a Summary,
        #[serde(flatten)]
        extra: Option<&'a serde_json::Value>,
    }
    let file = SummaryFile {
        name: head.name,
        label: head.label,
        summary,
        extra: head.extra.filter(|e| e.is_object()),
    };
    atomic::write_json(path, &file)
}

/// Files a run writes with `records`, in order.
pub fn run_files(records: RecordsMode) -> Vec<String> {
    let mut files = records.files("records");
    files.extend(
        [
            "summary.json",
            "timeline.png",
            "timeline.svg",
            "start_latency.png",
            "start_latency.svg",
        ]
        .map(String::from),
    );
    files
}

/// Files `write_run` writes, in order.
pub const RUN_FILES: [&str; 7] = [
    "records.csv",
    "records.parquet",
    "summary.json",
    "timeline.png",
    "timeline.svg",
    "start_latency.png",
    "start_latency.svg",
];

/// "DIR/{records.csv, ...}" for the user.
pub fn describe_outputs(dir: &Path) -> String {
    describe_files(dir, RecordsMode::Both)
}

/// "DIR/{...}": the files a run with `records` wrote.
pub fn describe_files(dir: &Path, records: RecordsMode) -> String {
    format!("{}/{{{}}}", dir.display(), run_files(records).join(", "))
}

#[cfg(test)]
mod tests {
    use policies::Outcome;

    use super::*;

    /// `n` functions over 4 invokers, containers of 10, staggered starts; the 4th is rejected.
    pub(crate) fn synthetic(n: u64) -> Vec<FunctionRecord> {
        (0..n)
            .map(|i| {
                let start = 1.0 + (i * 7 % 13) as f64 * 0.4;
                let mut r = FunctionRecord {
                    function_id: i,
                    burst_id: 0,
                    tenant: 0,
                    worker_id: i as u32,
                    invoker: (i % 4) as u32,
                    container: i / 10,
                    cpu: Some((i % 48) as u32),
                    cpu_shared: false,
                    cold: true,
                    attempt: 0,
                    outcome: Outcome::Ok,
                    t_submit: i as f64 * 0.001,
                    t_dispatch: i as f64 * 0.001 + 0.01,
                    t_container_ready: start - 0.2,
                    t_start: start,
                    t_end: start + 5.0,
                };
                if i == 3 {
                    r.outcome = Outcome::rejected("no capacity, \"reject\"");
                    (r.invoker, r.container, r.cpu) = (u32::MAX, u64::MAX, None);
                    (r.t_dispatch, r.t_container_ready, r.t_start, r.t_end) =
                        (f64::NAN, f64::NAN, f64::NAN, f64::NAN);
                }
                r
            })
            .collect()
    }

    fn report(records: Vec<FunctionRecord>) -> RunReport {
        RunReport {
            name: "synthetic".into(),
            label: "burst-heterogeneous { join = true }".into(),
            summary: Summary::from_records(&records),
            records,
            extra: Some(serde_json::json!({ "seed": 1 })),
        }
    }

    #[test]
    fn write_run_is_byte_identical_for_the_same_records() {
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        for dir in &dirs {
            write_run(dir.path(), &report(synthetic(120))).unwrap();
        }
        for file in RUN_FILES {
            let a = std::fs::read(dirs[0].path().join(file)).unwrap();
            let b = std::fs::read(dirs[1].path().join(file)).unwrap();
            assert!(!a.is_empty() && a == b, "{file}");
        }
        let json = std::fs::read_to_string(dirs[0].path().join("summary.json")).unwrap();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["name"], "synthetic");
        assert_eq!(value["seed"], 1);
        assert_eq!(value["rejected"], 1);
        assert!(
            json.trim_start().starts_with("{\n  \"name\""),
            "name first: {json}"
        );
    }

    #[test]
    fn streamed_tables_equal_whole_frame_tables() {
        // More than one batch, so the CSV is appended to and the Parquet has row groups.
        let records = synthetic(stream::BATCH_ROWS as u64 + 1_234);
        let dir = tempfile::tempdir().unwrap();
        let mut writer = RunWriter::create(dir.path(), RecordsMode::Both).unwrap();
        for r in &records {
            writer.push(r.clone()).unwrap();
        }
        writer.finish().unwrap();
        let whole = dir.path().join("whole.csv");
        write_records_csv(&whole, &records).unwrap();
        let streamed = std::fs::read(dir.path().join("records.csv")).unwrap();
        assert!(streamed == std::fs::read(&whole).unwrap());
        let file = std::fs::File::open(dir.path().join("records.parquet")).unwrap();
        let back = polars::prelude::ParquetReader::new(file).finish().unwrap();
        use polars::prelude::SerReader as _;
        assert!(back.equals_missing(&records_frame(&records).unwrap()));
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.starts_with(".tmp")), "{names:?}");
    }

    #[test]
    fn an_unfinished_writer_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = RunWriter::create(dir.path(), RecordsMode::Both).unwrap();
        for r in synthetic(stream::BATCH_ROWS as u64 + 10) {
            writer.push(r).unwrap();
        }
        // Dropping waits for the writer thread to remove its temporaries.
        drop(writer);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn records_mode_picks_the_files() {
        let dir = tempfile::tempdir().unwrap();
        for (mode, want) in [
            (RecordsMode::None, vec![]),
            (RecordsMode::Csv, vec!["records.csv"]),
            (RecordsMode::Parquet, vec!["records.parquet"]),
        ] {
            let out = dir.path().join(format!("{mode:?}"));
            let mut writer = RunWriter::create(&out, mode).unwrap();
            synthetic(10)
                .into_iter()
                .for_each(|r| writer.push(r).unwrap());
            let written = writer.finish().unwrap();
            assert_eq!(written.figures.summary.functions, 10);
            let mut names: Vec<String> = std::fs::read_dir(&out)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            assert_eq!(names, want);
        }
    }

    #[test]
    fn csv_nulls_for_stages_never_reached() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        write_records_csv(&path, &synthetic(5)).unwrap();
        let csv = std::fs::read_to_string(&path).unwrap();
        let rejected = csv.lines().nth(4).unwrap();
        assert_eq!(
            rejected,
            "3,0,0,3,0,,,,false,true,rejected,\"no capacity, \"\"reject\"\"\",0.003,,,,"
        );
    }

    #[test]
    fn large_timelines_are_subsampled_and_say_so() {
        let records = synthetic(20_002);
        let timeline = Timeline::new("big", &records);
        assert!(
            timeline.title.contains("every 5th of 20001 functions"),
            "{}",
            timeline.title
        );
        assert_eq!(timeline.drawn(), 4001);
        let timeline = Timeline::new("two", &records[..10_001]);
        assert!(
            timeline.title.contains("every 2nd of 10000"),
            "{}",
            timeline.title
        );
        let small = Timeline::new("small", &records[..100]);
        assert_eq!(small.title, "small");
    }

    #[test]
    fn boxplot_whiskers_stay_within_the_data() {
        let mut values: Vec<f64> = (1..=20).map(f64::from).collect();
        values.push(100.0);
        let b = LatencyBox::from_sorted("x", &values);
        assert_eq!((b.q1, b.median, b.q3), (6.0, 11.0, 16.0));
        assert_eq!((b.whisker_lo, b.whisker_hi), (1.0, 20.0));
        assert_eq!(b.outliers, vec![100.0]);
    }
}
