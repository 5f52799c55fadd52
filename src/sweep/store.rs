//! A sweep's output folder:
//!
//! - `sweep.json`: the manifest (name, hash, run count, shard, axes, plot settings);
//! - `rows.jsonl`: the append-only log of finished runs, one JSON line each, tagged with the
//!   sweep hash; the source of truth, which makes a sweep resumable and shards mergeable;
//! - `runs.csv`, `runs.parquet`: the tidy table compacted from the log, sorted by run;
//! - `points.csv`: per grid point and summary figure, mean, 95% CI and spread over the seeds;
//! - `plots/`, `records/` (per-function records, on request).
//!
//! Tables, manifest and plots are written to a temporary file and renamed, so an interrupted
//! command never leaves a half-written one; a torn last line of the log is dropped on reading.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::grid::{Shard, Sweep};
use super::row::{self, Row};
use super::spec::PlotSettings;
use crate::report::tables;
use crate::{atomic, Error};

pub const MANIFEST: &str = "sweep.json";
pub const LOG: &str = "rows.jsonl";
pub const CSV: &str = "runs.csv";
pub const PARQUET: &str = "runs.parquet";

/// What a folder holds; shards of one sweep differ only in `shard`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    pub hash: String,
    /// Runs in the whole sweep (all shards).
    pub runs: u64,
    /// The slice this folder is for; `None` for a whole sweep or a merge.
    pub shard: Option<Shard>,
    pub sweep_file: String,
    pub base: String,
    pub seeds: Vec<u64>,
    pub axes: Vec<AxisInfo>,
    pub plot: PlotSettings,
}

/// An axis as the plots need it: its column and its values in sweep order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AxisInfo {
    pub name: String,
    pub path: String,
    pub values: Vec<Json>,
    pub log: bool,
    /// Grid dimension: zipped axes share one.
    pub dim: usize,
}

impl Manifest {
    pub fn new(sweep: &Sweep, shard: Option<Shard>) -> Manifest {
        Manifest {
            name: sweep.name.clone(),
            hash: sweep.hash.clone(),
            runs: sweep.runs(),
            shard,
            sweep_file: sweep.file.display().to_string(),
            base: sweep.base_path.display().to_string(),
            seeds: sweep.seeds.clone(),
            axes: sweep
                .axes
                .iter()
                .map(|a| AxisInfo {
                    name: a.name.clone(),
                    path: a.path.clone(),
                    values: a.cells.clone(),
                    log: a.log,
                    dim: a.dim,
                })
                .collect(),
            plot: sweep.plot.clone(),
        }
    }

    /// Runs this folder is meant to hold.
    pub fn wants(&self, run: u64) -> bool {
        run < self.runs && self.shard.is_none_or(|s| s.contains(run))
    }

    /// Number of runs this folder is meant to hold.
    pub fn wanted(&self) -> u64 {
        match self.shard {
            None => self.runs,
            Some(s) => self.runs / s.count + u64::from(self.runs % s.count > s.index),
        }
    }
}

/// Reads `dir/sweep.json`, if there is one.
pub fn read_manifest(dir: &Path) -> Result<Option<Manifest>, Error> {
    let path = dir.join(MANIFEST);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&path, e)),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| Error::input(format!("{}: not a sweep manifest: {e}", path.display())))
}

/// Makes `dir` ready for `manifest`: creates it, or checks that it holds the same sweep (and
/// the same shard), so finished runs can be kept.
pub fn prepare(dir: &Path, manifest: &Manifest) -> Result<(), Error> {
    if let Some(found) = read_manifest(dir)? {
        if found.hash != manifest.hash {
            return Err(Error::input(format!(
                "{}: this folder holds results of another sweep (`{}`, hash {}), not of `{}` (hash {}); \
                 use another --out or remove the folder",
                dir.display(),
                found.name,
                found.hash,
                manifest.name,
                manifest.hash
            )));
        }
        if found.shard != manifest.shard {
            let show = |s: Option<Shard>| {
                s.map_or("the whole sweep".to_string(), |s| format!("shard {s}"))
            };
            return Err(Error::input(format!(
                "{}: this folder holds {} of this sweep, not {}; use another --out",
                dir.display(),
                show(found.shard),
                show(manifest.shard)
            )));
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    atomic::write_json(&dir.join(MANIFEST), manifest)
}

/// The finished rows in `dir`'s log, by run. Lines of another sweep are an error; a torn last
/// line (the process was killed mid-write) is ignored.
pub fn load_rows(dir: &Path, hash: &str) -> Result<BTreeMap<u64, Row>, Error> {
    let path = dir.join(LOG);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let complete = match text.rfind('\n') {
        Some(end) => &text[..end],
        None => "",
    };
    // Parsed in parallel: a large sweep's log is tens of megabytes of JSON.
    let lines: Vec<&str> = complete.lines().collect();
    let parsed: Vec<Option<Row>> = lines
        .par_iter()
        .enumerate()
        .map(|(i, line)| {
            if line.trim().is_empty() {
                return Ok(None);
            }
            let (line_hash, row) = row::from_line(line).map_err(|e| {
                Error::input(format!(
                    "{}: line {}: not a sweep row: {e}",
                    path.display(),
                    i + 1
                ))
            })?;
            if line_hash != hash {
                return Err(Error::input(format!(
                    "{}: line {}: a row of another sweep (hash {line_hash}, expected {hash})",
                    path.display(),
                    i + 1
                )));
            }
            Ok(Some(row))
        })
        .collect::<Result<_, Error>>()?;
    let mut rows = BTreeMap::new();
    for row in parsed.into_iter().flatten() {
        rows.entry(row.run).or_insert(row);
    }
    Ok(rows)
}

/// Appends finished rows to the log, one whole line per write, from any thread.
pub struct Log {
    path: PathBuf,
    file: Mutex<File>,
}

impl Log {
    /// Opens `dir`'s log for appending, first cutting a torn last line if there is one.
    pub fn open(dir: &Path) -> Result<Log, Error> {
        let path = dir.join(LOG);
        if let Ok(text) = std::fs::read(&path) {
            if !text.is_empty() && text.last() != Some(&b'\n') {
                let keep = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
                let file = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(|e| Error::io(&path, e))?;
                file.set_len(keep as u64).map_err(|e| Error::io(&path, e))?;
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        Ok(Log {
            path,
            file: Mutex::new(file),
        })
    }

    pub fn append(&self, line: &str) -> Result<(), Error> {
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        file.write_all(line.as_bytes())
            .and_then(|()| file.flush())
            .map_err(|e| Error::io(&self.path, e))
    }
}

/// Rewrites the log with exactly `rows` (sorted): used by `merge`.
pub fn write_log(dir: &Path, hash: &str, rows: &BTreeMap<u64, Row>) -> Result<(), Error> {
    let mut text = String::new();
    for row in rows.values() {
        text.push_str(&row::to_line(hash, row));
    }
    atomic::write_bytes(&dir.join(LOG), text.as_bytes())
}

/// Writes runs.csv and runs.parquet from `rows` (sorted by run).
pub fn write_tables(dir: &Path, rows: &BTreeMap<u64, Row>) -> Result<(), Error> {
    super::points::write_points(dir, rows)?;
    let rows: Vec<Row> = rows.values().cloned().collect();
    let mut frame = row::table(&rows)?;
    tables::write_frame_csv(&dir.join(CSV), &mut frame)?;
    tables::write_frame_parquet(&dir.join(PARQUET), &mut frame)
}
