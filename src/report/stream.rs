//! Writing a run's tables while it runs. A [`TableWriter`] takes rows one by one, batches
//! them ([`BATCH_ROWS`] a batch) and hands each batch to a writer thread that appends it to the
//! CSV file and writes it as one Parquet row group (polars' batched writers), so the table never
//! sits in memory and the writing overlaps the simulation on another core. Both files are
//! written to temporary siblings and renamed into place when the table is finished; a run that
//! fails or is interrupted leaves the previous files, never half of one.
//!
//! Any row type with a fixed set of columns can be streamed ([`TableRows`]): the per-function
//! records do, a per-step table can. [`RunWriter`] is the simulator's sink: records go to the
//! `records` table (per `--records`) and into the run's [`RunAccumulator`] (summary, plots).

use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

use polars::prelude::*;
use policies::FunctionRecord;
use serde::{Deserialize, Serialize};
use sim_core::{RecordSink, SinkError};

use super::accumulate::{RunAccumulator, RunFigures};
use super::tables::records_frame;
use crate::atomic::PendingFile;
use crate::Error;

/// Rows per batch: one Parquet row group, one CSV append.
pub const BATCH_ROWS: usize = 65_536;
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

enum Batch<R> {
    Rows(Vec<R>),
    /// Everything was sent: finish and rename the files.
    Finish,
}

/// Streams the rows of one table into `<stem>.csv` and/or `<stem>.parquet`.
pub struct TableWriter<R: TableRows> {
    batch: Vec<R>,
    /// `None` once finished.
    sender: Option<SyncSender<Batch<R>>>,
    /// `None` once joined.
    worker: Option<JoinHandle<Result<(), Error>>>,
}

/// Dropped unfinished (an error, an interrupted run): the writer thread is told and waited
/// for, so its temporary files are gone when this returns.
impl<R: TableRows> Drop for TableWriter<R> {
    fn drop(&mut self) {
        self.sender = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

impl<R: TableRows> TableWriter<R> {
    /// Starts the writer thread of table `stem` in `dir` (which must exist).
    pub fn create(dir: &Path, stem: &str, mode: RecordsMode) -> Result<Self, Error> {
        let (sender, receiver) = sync_channel(QUEUED_BATCHES);
        let (dir, stem) = (dir.to_path_buf(), stem.to_string());
        let worker = std::thread::Builder::new()
            .name(format!("write-{stem}"))
            .spawn(move || write_batches::<R>(&dir, &stem, mode, &receiver))
            .map_err(|e| Error::Other(anyhow::Error::new(e).context("starting a table writer")))?;
        Ok(TableWriter {
            batch: Vec::with_capacity(BATCH_ROWS),
            sender: Some(sender),
            worker: Some(worker),
        })
    }

    /// Adds one row.
    pub fn push(&mut self, row: R) -> Result<(), Error> {
        self.batch.push(row);
        if self.batch.len() >= BATCH_ROWS {
            let rows = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH_ROWS));
            let sent = match &self.sender {
                Some(sender) => sender.send(Batch::Rows(rows)).is_ok(),
                None => false,
            };
            if !sent {
                // The writer stopped on an error: report it.
                return Err(match self.worker.take().map(join) {
                    Some(Err(e)) => e,
                    _ => Error::Other(anyhow::anyhow!("the table writer stopped early")),
                });
            }
        }
        Ok(())
    }

    /// Writes what is left, closes and renames the files.
    pub fn finish(mut self) -> Result<(), Error> {
        let batch = std::mem::take(&mut self.batch);
        // A failed send means the writer already stopped; its error comes from the join.
        if let Some(sender) = self.sender.take() {
            if !batch.is_empty() {
                let _ = sender.send(Batch::Rows(batch));
            }
            let _ = sender.send(Batch::Finish);
        }
        match self.worker.take() {
            Some(worker) => join(worker),
            None => Err(Error::Other(anyhow::anyhow!(
                "the table writer stopped early"
            ))),
        }
    }
}

fn join(worker: JoinHandle<Result<(), Error>>) -> Result<(), Error> {
    worker
        .join()
        .unwrap_or_else(|_| Err(Error::Other(anyhow::anyhow!("the table writer panicked"))))
}

fn polars_error(e: PolarsError, path: &Path) -> Error {
    Error::Other(anyhow::Error::new(e).context(format!("writing {}", path.display())))
}

/// The writer thread: appends each batch to the open files, renames them on `Finish`. If the
/// producer goes away without `Finish`, the temporary files are removed.
fn write_batches<R: TableRows>(
    dir: &Path,
    stem: &str,
    mode: RecordsMode,
    receiver: &Receiver<Batch<R>>,
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
            Ok(Batch::Rows(rows)) => {
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

/// The simulator's sink for one run: its records go to the record files chosen by `--records`
/// and into the run's summary and plot material.
pub struct RunWriter {
    tables: Option<TableWriter<FunctionRecord>>,
    figures: RunAccumulator,
}

impl RunWriter {
    /// Creates `dir` and starts the record files `records` asks for (`records.csv`, ...).
    pub fn create(dir: &Path, records: RecordsMode) -> Result<Self, Error> {
        Self::with_stem(dir, "records", records)
    }

    /// Like [`RunWriter::create`], the record files named `<stem>.csv` and `<stem>.parquet`.
    pub fn with_stem(dir: &Path, stem: &str, records: RecordsMode) -> Result<Self, Error> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let tables = match records {
            RecordsMode::None => None,
            mode => Some(TableWriter::create(dir, stem, mode)?),
        };
        Ok(RunWriter {
            tables,
            figures: RunAccumulator::new(),
        })
    }

    /// Adds one record.
    pub fn push(&mut self, record: FunctionRecord) -> Result<(), Error> {
        self.figures.push(&record);
        match self.tables.as_mut() {
            Some(tables) => tables.push(record),
            None => Ok(()),
        }
    }

    /// Finishes the record files and returns the run's figures.
    pub fn finish(self) -> Result<RunFigures, Error> {
        if let Some(tables) = self.tables {
            tables.finish()?;
        }
        self.figures
            .finish()
            .map_err(|e| Error::Other(anyhow::anyhow!(e)))
    }
}

impl RecordSink for RunWriter {
    fn record(&mut self, record: FunctionRecord) -> Result<(), SinkError> {
        self.push(record).map_err(|e| Box::new(e) as SinkError)
    }

    fn container_closed(&mut self, container: u64) -> Result<(), SinkError> {
        self.figures.container_closed(container);
        Ok(())
    }
}

/// A sink's error back as the tool's (a report writer's own error keeps its kind).
pub fn sink_error(e: SinkError) -> Error {
    match e.downcast::<Error>() {
        Ok(e) => *e,
        Err(e) => Error::Other(anyhow::anyhow!(e)),
    }
}
