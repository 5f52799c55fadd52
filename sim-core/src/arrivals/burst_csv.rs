//! Group requests from a file: a CSV with the header `at,workers,tenant,action` (seconds,
//! functions, tenant id, action name), one burst per line, in any order. Loading reads it once
//! (actions, the file's disorder); replay reads it again through a reorder buffer.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use policies::{FieldError, Workload};
use serde::{Deserialize, Serialize};

use super::azure2021::check_window;
use super::reorder::{Disorder, Reorder};
use super::trace_file::{self, BadLines, Skipped, TraceFile};
use super::{
    at_ns, Arrival, ArrivalSource, TraceError, TraceFunction, TraceLoadError, TraceSummary,
};

/// Its columns.
const COLUMNS: [&str; 4] = ["at", "workers", "tenant", "action"];

/// `[[traces]] format = "bursts"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BurstCsvConfig {
    /// The CSV file (relative to the config file).
    pub file: String,
    /// Window start, s (bursts at or after it are replayed, shifted to start at 0).
    #[serde(default)]
    pub start: f64,
    /// Window end, s (default: the end of the file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<f64>,
    /// Memory of one function of every action, MB.
    #[serde(default = "default_memory")]
    pub memory_mb: u64,
    /// What each function does (default: the config's `[workload]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<Workload>,
    /// What to do with a line that does not parse.
    #[serde(default)]
    pub bad_lines: BadLines,
}

fn default_memory() -> u64 {
    256
}

impl BurstCsvConfig {
    /// Checks the parameters; paths are relative to the entry.
    pub fn validate(&self) -> Result<(), FieldError> {
        check_window(self.start, self.end)?;
        if self.memory_mb == 0 {
            return Err(FieldError::new("memory_mb", "an integer >= 1", 0));
        }
        if let Some(w) = &self.workload {
            w.validate().map_err(|e| e.under("workload"))?;
        }
        Ok(())
    }
}

/// A parsed line.
struct Line<'a> {
    at: f64,
    workers: u32,
    tenant: u32,
    action: &'a str,
}

fn parse<'a>(idx: &[usize], text: &'a str) -> Result<Line<'a>, String> {
    let fields: Vec<&str> = text.split(',').collect();
    let at = trace_file::non_negative(&fields, idx[0], "at")?;
    let workers = trace_file::count(&fields, idx[1], "workers")?;
    if workers == 0 || workers > u32::MAX as u64 {
        return Err(format!(
            "column `workers`: expected an integer from 1 to {}, got `{workers}`",
            u32::MAX
        ));
    }
    let tenant = trace_file::count(&fields, idx[2], "tenant")?;
    let tenant = u32::try_from(tenant)
        .map_err(|_| format!("column `tenant`: expected an id below 2^32, got `{tenant}`"))?;
    let action = trace_file::name(&fields, idx[3], "action")?;
    Ok(Line {
        at,
        workers: workers as u32,
        tenant,
        action,
    })
}

/// A loaded burst file: its actions and what replay needs to stream it.
#[derive(Debug, Clone, PartialEq)]
pub struct BurstCsvTrace {
    /// The actions, in order of first appearance in the window.
    pub functions: Vec<TraceFunction>,
    /// What was found (`invocations` counts bursts).
    pub summary: TraceSummary,
    /// Functions (the sum of the bursts' workers) in the window.
    pub workers: u64,
    /// The widest burst in the window.
    pub widest: u32,
    /// The file's disorder in the window, ns.
    pub lag_ns: u64,
    path: PathBuf,
    actions: HashMap<(u32, String), u32>,
    window: (f64, f64),
    bad_lines: BadLines,
}

impl BurstCsvTrace {
    /// Reads the file of `config` (validated), relative to `base`; actions without a workload
    /// of their own get `default_workload`.
    pub fn load(
        config: &BurstCsvConfig,
        base: &Path,
        default_workload: &Workload,
    ) -> Result<Self, TraceLoadError> {
        config.validate()?;
        let path = base.join(&config.file);
        let window = (config.start, config.end.unwrap_or(f64::INFINITY));
        let workload = config.workload.as_ref().unwrap_or(default_workload);
        let mut file = TraceFile::open(&path)?;
        let idx = file.header(&COLUMNS)?;
        let mut skipped = Skipped::default();
        let mut actions: HashMap<(u32, String), u32> = HashMap::new();
        let mut functions = Vec::new();
        let mut disorder = Disorder::default();
        let (mut bursts, mut workers, mut widest) = (0u64, 0u64, 0u32);
        while let Some((n, text)) = file.next_line()? {
            let line = match parse(&idx, text) {
                Ok(line) => line,
                Err(message) => {
                    skipped.handle(config.bad_lines, TraceError::at_line(&path, n, message))?;
                    continue;
                }
            };
            if !(window.0..window.1).contains(&line.at) {
                continue;
            }
            disorder.see(at_ns(line.at - window.0));
            bursts += 1;
            workers += line.workers as u64;
            widest = widest.max(line.workers);
            let key = (line.tenant, line.action.to_string());
            let next = functions.len() as u32;
            if let std::collections::hash_map::Entry::Vacant(slot) = actions.entry(key) {
                slot.insert(next);
                functions.push(TraceFunction {
                    name: line.action.to_string(),
                    tenant: line.tenant,
                    memory_mb: config.memory_mb,
                    workload: workload.clone(),
                });
            }
        }
        Ok(BurstCsvTrace {
            summary: TraceSummary {
                functions: functions.len() as u64,
                without_data: 0,
                selected: functions.len() as u64,
                invocations: bursts,
                skipped,
            },
            functions,
            workers,
            widest,
            lag_ns: disorder.lag_ns,
            path,
            actions,
            window,
            bad_lines: config.bad_lines,
        })
    }

    /// The bursts in time order from the start of the window; action `a` of the file is
    /// `first_action + a`.
    pub fn arrivals(&self, first_action: u32) -> ArrivalSource<'_> {
        let lines = Replay {
            trace: self,
            file: None,
            columns: Vec::new(),
            first_action,
            key: (0, String::new()),
            done: false,
        };
        Box::new(Reorder::new(lines, self.lag_ns))
    }
}

/// The second pass over the file.
struct Replay<'a> {
    trace: &'a BurstCsvTrace,
    file: Option<TraceFile>,
    columns: Vec<usize>,
    first_action: u32,
    key: (u32, String),
    done: bool,
}

impl Iterator for Replay<'_> {
    type Item = Result<(u64, Arrival), TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let trace = self.trace;
        if self.file.is_none() {
            let opened = TraceFile::open(&trace.path).and_then(|mut f| {
                self.columns = f.header(&COLUMNS)?;
                Ok(f)
            });
            match opened {
                Ok(f) => self.file = Some(f),
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        let file = self.file.as_mut()?;
        loop {
            let (n, text) = match file.next_line() {
                Ok(Some(line)) => line,
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            };
            let line = match parse(&self.columns, text) {
                Ok(line) => line,
                Err(_) if trace.bad_lines == BadLines::Skip => continue,
                Err(message) => {
                    self.done = true;
                    return Some(Err(TraceError::at_line(&trace.path, n, message)));
                }
            };
            if !(trace.window.0..trace.window.1).contains(&line.at) {
                continue;
            }
            self.key.0 = line.tenant;
            self.key.1.clear();
            self.key.1.push_str(line.action);
            let Some(&offset) = trace.actions.get(&self.key) else {
                // The file changed since it was loaded.
                self.done = true;
                return Some(Err(TraceError::at_line(
                    &trace.path,
                    n,
                    "an action not seen when the file was loaded (did the file change?)",
                )));
            };
            return Some(Ok((
                n,
                Arrival {
                    at_ns: at_ns(line.at - trace.window.0),
                    workers: line.workers,
                    tenant: line.tenant,
                    action: self.first_action + offset,
                    work_s: None,
                },
            )));
        }
    }
}
