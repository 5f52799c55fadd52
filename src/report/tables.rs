//! Per-function tables: one row per record (one attempt of a function), the same columns in CSV
//! and Parquet. `outcome` is `ok`, `failed` or `rejected`; `reason` says why when not `ok`.
//!
//! A stage a function never reached (NaN time) and a placement it never got (`u32::MAX`
//! invoker, `u64::MAX` container) are written as nulls: empty in CSV, null in Parquet.

use std::path::Path;

use polars::prelude::*;
use policies::FunctionRecord;

use crate::{atomic, Error};

/// Column names, in the order they are written.
pub const RECORD_COLUMNS: [&str; 17] = [
    "function_id",
    "burst_id",
    "tenant",
    "worker_id",
    "attempt",
    "invoker",
    "container",
    "cpu",
    "cpu_shared",
    "cold",
    "outcome",
    "reason",
    "t_submit",
    "t_dispatch",
    "t_container_ready",
    "t_start",
    "t_end",
];

/// The records as a polars DataFrame (columns as in [`RECORD_COLUMNS`]).
pub fn records_frame(records: &[FunctionRecord]) -> Result<DataFrame, Error> {
    fn col<T>(name: &str, values: T) -> Column
    where
        Series: NamedFrom<T, [<T as IntoIterator>::Item]>,
        T: IntoIterator + AsRef<[<T as IntoIterator>::Item]>,
    {
        Series::new(name.into(), values).into()
    }
    fn time(records: &[FunctionRecord], name: &str, f: fn(&FunctionRecord) -> f64) -> Column {
        let values: Vec<Option<f64>> = records
            .iter()
            .map(|r| Some(f(r)).filter(|t| t.is_finite()))
            .collect();
        Series::new(name.into(), values).into()
    }
    let r = records;
    let columns: Vec<Column> = vec![
        col(
            "function_id",
            r.iter().map(|r| r.function_id).collect::<Vec<u64>>(),
        ),
        col(
            "burst_id",
            r.iter().map(|r| r.burst_id).collect::<Vec<u64>>(),
        ),
        col("tenant", r.iter().map(|r| r.tenant).collect::<Vec<u32>>()),
        col(
            "worker_id",
            r.iter().map(|r| r.worker_id).collect::<Vec<u32>>(),
        ),
        col("attempt", r.iter().map(|r| r.attempt).collect::<Vec<u32>>()),
        col(
            "invoker",
            r.iter()
                .map(|r| Some(r.invoker).filter(|&i| i != u32::MAX))
                .collect::<Vec<Option<u32>>>(),
        ),
        col(
            "container",
            r.iter()
                .map(|r| Some(r.container).filter(|&c| c != u64::MAX))
                .collect::<Vec<Option<u64>>>(),
        ),
        col("cpu", r.iter().map(|r| r.cpu).collect::<Vec<Option<u32>>>()),
        col(
            "cpu_shared",
            r.iter().map(|r| r.cpu_shared).collect::<Vec<bool>>(),
        ),
        col("cold", r.iter().map(|r| r.cold).collect::<Vec<bool>>()),
        col(
            "outcome",
            r.iter().map(|r| r.outcome.as_str()).collect::<Vec<&str>>(),
        ),
        col(
            "reason",
            r.iter().map(|r| r.outcome.reason()).collect::<Vec<&str>>(),
        ),
        time(r, "t_submit", |r| r.t_submit),
        time(r, "t_dispatch", |r| r.t_dispatch),
        time(r, "t_container_ready", |r| r.t_container_ready),
        time(r, "t_start", |r| r.t_start),
        time(r, "t_end", |r| r.t_end),
    ];
    DataFrame::new(records.len(), columns)
        .map_err(|e| polars_error(e, "building the records table".into()))
}

/// Writes `records` as CSV (header + one row per function) to `path`.
pub fn write_records_csv(path: &Path, records: &[FunctionRecord]) -> Result<(), Error> {
    let mut frame = records_frame(records)?;
    write_frame_csv(path, &mut frame)
}

/// Writes `records` as Parquet (zstd) to `path`.
pub fn write_records_parquet(path: &Path, records: &[FunctionRecord]) -> Result<(), Error> {
    let mut frame = records_frame(records)?;
    write_frame_parquet(path, &mut frame)
}

/// Writes any frame as CSV; shared by the per-run and the compare tables.
pub fn write_frame_csv(path: &Path, frame: &mut DataFrame) -> Result<(), Error> {
    atomic::write_file(path, |file| {
        Ok(CsvWriter::new(file).include_header(true).finish(frame)?)
    })
}

/// Writes any frame as Parquet.
pub fn write_frame_parquet(path: &Path, frame: &mut DataFrame) -> Result<(), Error> {
    atomic::write_file(path, |file| {
        ParquetWriter::new(file)
            .with_compression(ParquetCompression::Zstd(None))
            .finish(frame)?;
        Ok(())
    })
}

fn polars_error(err: PolarsError, context: String) -> Error {
    Error::Other(anyhow::Error::new(err).context(context))
}
