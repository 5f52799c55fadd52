//! Writing a run's tables while it runs. A [`TableWriter`] takes rows one by one, batches
//! them ([`BATCH_ROWS`] a batch) and hands each batch to a writer thread that appends it to the
//! CSV file and writes it as one Parquet row group (polars' batched writers), so the table never
//! sits in memory and the writing overlaps the simulation on another core. Both files are
//! written to temporary siblings and renamed into place when the table is finished; a run that
//! fails or is interrupted leaves the previous files, never half of one.
//!
//! Any row type with a fixed set of columns can be streamed ([`TableRows`]): the per-function
//! records do, a per-step table can. [`RunWriter`] is the simulator's sink: its thread writes
//! the `records` table (per `--records`) and feeds the run's [`RunAccumulator`] (summary,
//! plots), so the simulation itself only hands records over.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

use polars::prelude::*;
use policies::comm::StepRecord;
use policies::FunctionRecord;
use serde::{Deserialize, Serialize};
use sim_core::{RawRecord, RawRecords, RecordSink, SinkError};

use super::accumulate::{RunAccumulator, RunFigures};
use super::tables::records_frame;
use crate::atomic::PendingFile;
use crate::Error;

/// Rows per batch: one Parquet row group, one CSV append.
pub const BATCH_ROWS: usize = 65_536;
/// Records per batch when only the summary is made (no file row groups to fill).
const SUMMARY_BATCH: usize = 8_192;
/// Batches queued for the writer thread before the producer waits.
const QUEUED_BATCHES: usize = 2;

/// Which per-function record files a run writes (`--records`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum RecordsMode {
    /// No record files (the summary and the plots are still made, streaming).
    None,
    /// records.csv only.
    Csv,
    /// records.parquet only.
    Parquet,
    /// records.csv and records.parquet.
    #[default]
    Both,
}

impl RecordsMode {
    pub fn csv(self) -> bool {
        matches!(self, RecordsMode::Csv | RecordsMode::Both)
    }

    pub fn parquet(self) -> bool {
        matches!(self, RecordsMode::Parquet | RecordsMode::Both)
    }

    /// The files of table `stem` this mode writes, e.g. `records.csv`.
    pub fn files(self, stem: &str) -> Vec<String> {
        let mut files = Vec::new();
        if self.csv() {
            files.push(format!("{stem}.csv"));
        }
        if self.parquet() {
            files.push(format!("{stem}.parquet"));
        }
        files
    }
}

/// A row type whose batches become frames with the same columns every time.
pub trait TableRows: Sized + Send + 'static {
    /// The rows as a frame (an empty slice gives the columns: the files' schema).
    fn frame(rows: &[Self]) -> Result<DataFrame, Error>;
}

impl TableRows for FunctionRecord {
    fn frame(rows: &[Self]) -> Result<DataFrame, Error> {
        records_frame(rows)
    }
}

enum Batch<M> {
    Items(Vec<M>),
    /// Everything was sent: finish (rename the files, return the result).
    Finish,
}

/// The producer side of a worker thread fed with batches: items are sent [`BATCH_ROWS`] at a
/// time through a short queue, so the producer (the simulator) and the worker (the report)
/// run on two cores. Dropped unfinished (an error, an interrupted run), it tells the worker
/// and waits for it, so the worker's temporary files are gone when the drop returns.
struct Pipeline<M: Send + 'static, T: Send + 'static> {
    batch: Vec<M>,
    /// Items per batch.
    batch_len: usize,
    /// `None` once finished.
    sender: Option<SyncSender<Batch<M>>>,
    /// `None` once joined.
    worker: Option<JoinHandle<Result<T, Error>>>,
}

impl<M: Send + 'static, T: Send + 'static> Pipeline<M, T> {
    fn spawn(
        name: String,
        batch_len: usize,
        work: impl FnOnce(&Receiver<Batch<M>>) -> Result<T, Error> + Send + 'static,
    ) -> Result<Self, Error> {
        let (sender, receiver) = sync_channel(QUEUED_BATCHES);
        let worker = std::thread::Builder::new()
            .name(name)
            .spawn(move || work(&receiver))
            .map_err(|e| Error::Other(anyhow::Error::new(e).context("starting a writer thread")))?;
        Ok(Pipeline {
            batch: Vec::with_capacity(batch_len),
            batch_len,
            sender: Some(sender),
            worker: Some(worker),
        })
    }

    #[inline]
    fn push(&mut self, item: M) -> Result<(), Error> {
        self.batch.push(item);
        if self.batch.len() >= self.batch_len {
            let items = std::mem::replace(&mut self.batch, Vec::with_capacity(self.batch_len));
            let sent = match &self.sender {
                Some(sender) => sender.send(Batch::Items(items)).is_ok(),
                None => false,
            };
            if !sent {
                // The worker stopped on an error: report it.
                return Err(match self.worker.take().map(join) {
                    Some(Err(e)) => e,
                    _ => Error::Other(anyhow::anyhow!("the writer thread stopped early")),
                });
            }
        }
        Ok(())
    }

    fn finish(mut self) -> Result<T, Error> {
        let batch = std::mem::take(&mut self.batch);
        // A failed send means the worker already stopped; its error comes from the join.
        if let Some(sender) = self.sender.take() {
            if !batch.is_empty() {
                let _ = sender.send(Batch::Items(batch));
            }
            let _ = sender.send(Batch::Finish);
        }
        match self.worker.take() {
            Some(worker) => join(worker),
            None => Err(Error::Other(anyhow::anyhow!(
                "the writer thread stopped early"
            ))),
        }
    }
}

impl<M: Send + 'static, T: Send + 'static> Drop for Pipeline<M, T> {
    fn drop(&mut self) {
        self.sender = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

fn join<T>(worker: JoinHandle<Result<T, Error>>) -> Result<T, Error> {
    worker
        .join()
        .unwrap_or_else(|_| Err(Error::Other(anyhow::anyhow!("a writer thread panicked"))))
}

/// Streams the rows of one table into `<stem>.csv` and/or `<stem>.parquet`.
pub struct TableWriter<R: TableRows> {
    pipeline: Pipeline<R, ()>,
}

impl<R: TableRows> TableWriter<R> {
    /// Starts the writer thread of table `stem` in `dir` (which must exist).
    pub fn create(dir: &Path, stem: &str, mode: RecordsMode) -> Result<Self, Error> {
        let (dir, stem) = (dir.to_path_buf(), stem.to_string());
        let pipeline = Pipeline::spawn(format!("write-{stem}"), BATCH_ROWS, move |receiver| {
            write_table::<R, R>(&dir, &stem, mode, receiver, &mut |rows| rows)
        })?;
        Ok(TableWriter { pipeline })
    }

    /// Adds one row.
    pub fn push(&mut self, row: R) -> Result<(), Error> {
        self.pipeline.push(row)
    }

    /// Writes what is left, closes and renames the files.
    pub fn finish(self) -> Result<(), Error> {
        self.pipeline.finish()
    }
}

fn polars_error(e: PolarsError, path: &Path) -> Error {
    Error::Other(anyhow::Error::new(e).context(format!("writing {}", path.display())))
}

/// A writer thread's loop: turns each batch of items into rows (`rows_of`, which may also
/// account for them) and appends them to the open files; renames the files on `Finish`. If the
/// producer goes away without `Finish`, the temporary files are removed.
fn write_table<M, R: TableRows>(
    dir: &Path,
    stem: &str,
    mode: RecordsMode,
    receiver: &Receiver<Batch<M>>,
    rows_of: &mut dyn FnMut(Vec<M>) -> Vec<R>,
) -> Result<(), Error> {
    let schema = R::frame(&[])?.schema().as_ref().clone();
    let csv_path: PathBuf = dir.join(format!("{stem}.csv"));
    let parquet_path: PathBuf = dir.join(format!("{stem}.parquet"));
    let mut csv = mode
        .csv()
        .then(|| PendingFile::create(&csv_path))
        .transpose()?;
    let mut parquet = mode
        .parquet()
        .then(|| PendingFile::create(&parquet_path))
        .transpose()?;
    let mut csv_writer = match csv.as_mut() {
        Some((_, file)) => Some(
            CsvWriter::new(file)
                .include_header(true)
                .batched(&schema)
                .map_err(|e| polars_error(e, &csv_path))?,
        ),
        None => None,
    };
    let mut parquet_writer = match parquet.as_mut() {
        Some((_, file)) => Some(
            ParquetWriter::new(file)
                .with_compression(ParquetCompression::Zstd(None))
                .batched(&schema)
                .map_err(|e| polars_error(e, &parquet_path))?,
        ),
        None => None,
    };
    loop {
        match receiver.recv() {
            Ok(Batch::Items(items)) => {
                let rows = rows_of(items);
                if rows.is_empty() || (csv_writer.is_none() && parquet_writer.is_none()) {
                    continue;
                }
                let frame = R::frame(&rows)?;
                drop(rows);
                if let Some(w) = csv_writer.as_mut() {
                    w.write_batch(&frame)
                        .map_err(|e| polars_error(e, &csv_path))?;
                }
                if let Some(w) = parquet_writer.as_mut() {
                    w.write_batch(&frame)
                        .map_err(|e| polars_error(e, &parquet_path))?;
                }
            }
            Ok(Batch::Finish) => break,
            Err(_) => {
                return Err(Error::Other(anyhow::anyhow!(
                    "{stem} table abandoned before it was finished"
                )))
            }
        }
    }
    if let Some(mut w) = csv_writer.take() {
        w.finish().map_err(|e| polars_error(e, &csv_path))?;
    }
    if let Some(w) = parquet_writer.take() {
        w.finish().map_err(|e| polars_error(e, &parquet_path))?;
    }
    for (pending, file) in [csv, parquet].into_iter().flatten() {
        file.into_inner()
            .map_err(|e| Error::io(pending.path(), e.into_error()))?;
        pending.commit()?;
    }
    Ok(())
}

/// What the simulator hands the report writer, in order.
enum Item {
    Record(FunctionRecord),
    /// A simulated function's record, converted on the writer thread.
    Raw(RawRecord),
    ContainerClosed(u64),
    Step(StepRecord),
}

/// What a streamed run's report is made of: its figures, and the steps of a `steps` workload
/// (kept whole: their table is sorted and summarised as a whole; empty otherwise).
pub struct RunOutput {
    pub figures: RunFigures,
    pub steps: Vec<StepRecord>,
}

/// The simulator's sink for one run: its records go, in batches, to a writer thread that
/// writes the record files chosen by `--records` and accumulates the summary and plot
/// material (on another core than the simulation).
pub struct RunWriter {
    pipeline: Pipeline<Item, RunOutput>,
}

impl RunWriter {
    /// Creates `dir` and starts the record files `records` asks for (`records.csv`, ...).
    pub fn create(dir: &Path, records: RecordsMode) -> Result<Self, Error> {
        Self::with_stem(dir, "records", records)
    }

    /// Like [`RunWriter::create`], the record files named `<stem>.csv` and `<stem>.parquet`.
    pub fn with_stem(dir: &Path, stem: &str, records: RecordsMode) -> Result<Self, Error> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let (dir, stem) = (dir.to_path_buf(), stem.to_string());
        // Without files, small batches: less memory in flight, same work.
        let batch_len = if records == RecordsMode::None {
            SUMMARY_BATCH
        } else {
            BATCH_ROWS
        };
        let pipeline = Pipeline::spawn(format!("report-{stem}"), batch_len, move |receiver| {
            let mut figures = RunAccumulator::new();
            let mut steps = Vec::new();
            let keep_rows = records != RecordsMode::None;
            write_table::<Item, FunctionRecord>(&dir, &stem, records, receiver, &mut |items| {
                let mut rows = Vec::with_capacity(if keep_rows { items.len() } else { 0 });
                for item in items {
                    let r = match item {
                        Item::Record(r) => r,
                        Item::Raw(raw) => raw.to_record(),
                        Item::ContainerClosed(id) => {
                            figures.container_closed(id);
                            continue;
                        }
                        Item::Step(step) => {
                            steps.push(step);
                            continue;
                        }
                    };
                    figures.push(&r);
                    if keep_rows {
                        rows.push(r);
                    }
                }
                rows
            })?;
            let figures = figures
                .finish()
                .map_err(|e| Error::Other(anyhow::anyhow!(e)))?;
            Ok(RunOutput { figures, steps })
        })?;
        Ok(RunWriter { pipeline })
    }

    /// Adds one record.
    #[inline]
    pub fn push(&mut self, record: FunctionRecord) -> Result<(), Error> {
        self.pipeline.push(Item::Record(record))
    }

    /// Finishes the record files and returns the run's figures (and steps).
    pub fn finish(self) -> Result<RunOutput, Error> {
        self.pipeline.finish()
    }
}

impl RecordSink for RunWriter {
    fn record(&mut self, record: FunctionRecord) -> Result<(), SinkError> {
        self.push(record).map_err(|e| Box::new(e) as SinkError)
    }

    fn raw_records(&mut self, records: RawRecords<'_>) -> Result<(), SinkError> {
        for raw in records.raw() {
            self.pipeline
                .push(Item::Raw(raw))
                .map_err(|e| Box::new(e) as SinkError)?;
        }
        Ok(())
    }

    fn container_closed(&mut self, container: u64) -> Result<(), SinkError> {
        self.pipeline
            .push(Item::ContainerClosed(container))
            .map_err(|e| Box::new(e) as SinkError)
    }

    fn step(&mut self, step: StepRecord) -> Result<(), SinkError> {
        self.pipeline
            .push(Item::Step(step))
            .map_err(|e| Box::new(e) as SinkError)
    }
}

/// A sink's error back as the tool's (a report writer's own error keeps its kind).
pub fn sink_error(e: SinkError) -> Error {
    match e.downcast::<Error>() {
        Ok(e) => *e,
        Err(e) => Error::Other(anyhow::anyhow!(e)),
    }
}
