//! Replay of the Azure Functions 2021 invocation trace (Zhang et al., SOSP '21):
//! `AzureFunctionsInvocationTraceForTwoWeeksJan2021.txt`, a CSV with the header
//! `app,func,end_timestamp,duration` and one line per invocation (seconds; the start is
//! `end_timestamp - duration`; `func` is unique only within its `app`). Lines are not in start
//! order, so loading reads the file once (functions, counts in the window, the file's
//! disorder) and replay reads it again through a reorder buffer of that depth.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use policies::{Distribution, FieldError};
use rand::Rng as _;
use serde::{Deserialize, Serialize};

use super::reorder::{Disorder, Reorder};
use super::select::Select;
use super::trace_file::{self, BadLines, Skipped, TraceFile};
use super::{
    at_ns, Arrival, ArrivalSource, TraceError, TraceFunction, TraceLoadError, TraceSummary,
    WorkKind,
};
use crate::rng::{stream, Rng};

/// The file name of the published trace.
pub const FILE_NAME: &str = "AzureFunctionsInvocationTraceForTwoWeeksJan2021.txt";
/// Its columns.
const COLUMNS: [&str; 4] = ["app", "func", "end_timestamp", "duration"];

/// `[[traces]] format = "azure-2021"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Azure2021Config {
    /// The trace file (relative to the config file).
    pub file: String,
    /// Window start, s of trace time (invocations starting in the window are replayed).
    #[serde(default)]
    pub start: f64,
    /// Window end, s of trace time (default: the end of the file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<f64>,
    /// Which functions to replay (default: every one with invocations in the window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub select: Option<Select>,
    /// Rate scaling by thinning: each invocation is kept with this probability.
    #[serde(default = "one")]
    pub scale: f64,
    /// Memory of every function, MB (the trace has none).
    #[serde(default = "default_memory")]
    pub memory_mb: u64,
    /// What the durations stand for.
    #[serde(default)]
    pub work: WorkKind,
    /// Seed of the replayed set (which functions a sample picks).
    #[serde(default)]
    pub seed: u64,
    /// What to do with a line that does not parse.
    #[serde(default)]
    pub bad_lines: BadLines,
}

fn one() -> f64 {
    1.0
}

fn default_memory() -> u64 {
    256
}

impl Azure2021Config {
    /// Checks the parameters; paths are relative to the entry.
    pub fn validate(&self) -> Result<(), FieldError> {
        check_window(self.start, self.end)?;
        if let Some(select) = &self.select {
            select.validate().map_err(|e| e.under("select"))?;
        }
        if !(self.scale.is_finite() && self.scale > 0.0 && self.scale <= 1.0) {
            let expected = "a keep probability in (0, 1] (thinning; for more load, replay \
                            more functions or another window)";
            return Err(FieldError::new("scale", expected, self.scale));
        }
        if self.memory_mb == 0 {
            return Err(FieldError::new("memory_mb", "an integer >= 1", 0));
        }
        Ok(())
    }
}

/// `start >= 0` and `end > start` when given.
pub(crate) fn check_window(start: f64, end: Option<f64>) -> Result<(), FieldError> {
    if !(start.is_finite() && start >= 0.0) {
        return Err(FieldError::new("start", "a number of seconds >= 0", start));
    }
    if let Some(end) = end {
        if !(end.is_finite() && end > start) {
            return Err(FieldError::new(
                "end",
                format!("seconds > start = {start}"),
                end,
            ));
        }
    }
    Ok(())
}

/// A parsed line: function key, start and duration, s.
struct Line<'a> {
    app: &'a str,
    func: &'a str,
    start: f64,
    duration: f64,
}

fn parse<'a>(idx: &[usize], text: &'a str) -> Result<Line<'a>, String> {
    let fields: Vec<&str> = text.split(',').collect();
    let app = trace_file::name(&fields, idx[0], "app")?;
    let func = trace_file::name(&fields, idx[1], "func")?;
    let end = trace_file::non_negative(&fields, idx[2], "end_timestamp")?;
    let duration = trace_file::non_negative(&fields, idx[3], "duration")?;
    Ok(Line {
        app,
        func,
        // Rounded to the ns of the arrival clock, so that window edges are exact.
        start: ((end - duration) * 1e9).round() / 1e9,
        duration,
    })
}

/// A chosen function: its action offset and tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Chosen {
    offset: u32,
    tenant: u32,
}

/// A loaded 2021 trace: the functions to replay and what replay needs to stream the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Azure2021Trace {
    /// The chosen functions (actions), in order of first appearance in the window.
    pub functions: Vec<TraceFunction>,
    /// What was found and kept.
    pub summary: TraceSummary,
    /// The file's disorder in the window: how deep the reorder buffer is, ns.
    pub lag_ns: u64,
    path: PathBuf,
    chosen: HashMap<String, Chosen>,
    window: (f64, f64),
    scale: f64,
    bad_lines: BadLines,
}

/// A function seen in the window.
struct Seen {
    app: String,
    func: String,
    invocations: u64,
    busy_s: f64,
}

impl Azure2021Trace {
    /// Reads the trace of `config` (validated), its `file` relative to `base`.
    pub fn load(config: &Azure2021Config, base: &Path) -> Result<Self, TraceLoadError> {
        config.validate()?;
        let path = base.join(&config.file);
        let window = (config.start, config.end.unwrap_or(f64::INFINITY));
        let mut file = TraceFile::open(&path)?;
        let idx = file.header(&COLUMNS)?;
        let mut skipped = Skipped::default();
        let mut order: HashMap<String, usize> = HashMap::new();
        let mut seen: Vec<Seen> = Vec::new();
        let mut disorder = Disorder::default();
        let mut key = String::new();
        while let Some((n, text)) = file.next_line()? {
            let line = match parse(&idx, text) {
                Ok(line) => line,
                Err(message) => {
                    skipped.handle(config.bad_lines, TraceError::at_line(&path, n, message))?;
                    continue;
                }
            };
            if !(window.0..window.1).contains(&line.start) {
                continue;
            }
            disorder.see(at_ns(line.start - window.0));
            function_key(&mut key, line.app, line.func);
            let i = match order.get(key.as_str()) {
                Some(&i) => i,
                None => {
                    order.insert(key.clone(), seen.len());
                    seen.push(Seen {
                        app: line.app.to_string(),
                        func: line.func.to_string(),
                        invocations: 0,
                        busy_s: 0.0,
                    });
                    seen.len() - 1
                }
            };
            seen[i].invocations += 1;
            seen[i].busy_s += line.duration;
        }
        let mut picked: Vec<usize> = (0..seen.len()).collect();
        if let Some(select) = &config.select {
            let weights: Vec<u64> = seen.iter().map(|s| s.invocations).collect();
            let mut rng = stream(config.seed, "azure-2021-select", 0);
            picked = select.choose(&weights, &mut rng);
        }
        let mut tenants: HashMap<&str, u32> = HashMap::new();
        let mut chosen = HashMap::new();
        let mut functions = Vec::with_capacity(picked.len());
        let mut invocations = 0;
        for (offset, &i) in picked.iter().enumerate() {
            let s = &seen[i];
            let next = tenants.len() as u32;
            let tenant = *tenants.entry(s.app.as_str()).or_insert(next);
            function_key(&mut key, &s.app, &s.func);
            chosen.insert(
                key.clone(),
                Chosen {
                    offset: offset as u32,
                    tenant,
                },
            );
            invocations += s.invocations;
            // Replay takes each invocation's own duration; the workload carries the kind of
            // work and, for reports, the function's mean duration in the window.
            let mean = s.busy_s / s.invocations as f64;
            functions.push(TraceFunction {
                name: key.clone(),
                tenant,
                memory_mb: config.memory_mb,
                workload: config.work.workload(Distribution::constant(mean)),
            });
        }
        Ok(Azure2021Trace {
            summary: TraceSummary {
                functions: seen.len() as u64,
                without_data: 0,
                selected: functions.len() as u64,
                invocations,
                skipped,
            },
            functions,
            lag_ns: disorder.lag_ns,
            path,
            chosen,
            window,
            scale: config.scale,
            bad_lines: config.bad_lines,
        })
    }

    /// The invocations of the chosen functions in start order, from the start of the window,
    /// each with its own duration: function `f` is action `first_action + f`; thinning draws
    /// from stream `stream_name`, index 0.
    pub fn arrivals(&self, seed: u64, stream_name: &str, first_action: u32) -> ArrivalSource<'_> {
        let lines = Replay {
            trace: self,
            file: None,
            columns: Vec::new(),
            rng: stream(seed, stream_name, 0),
            first_action,
            key: String::new(),
            done: false,
        };
        Box::new(Reorder::new(lines, self.lag_ns))
    }
}

fn function_key(key: &mut String, app: &str, func: &str) {
    key.clear();
    key.push_str(app);
    key.push('/');
    key.push_str(func);
}

/// The second pass over the file: chosen, kept invocations in file order with line numbers.
struct Replay<'a> {
    trace: &'a Azure2021Trace,
    file: Option<TraceFile>,
    columns: Vec<usize>,
    rng: Rng,
    first_action: u32,
    key: String,
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
                // Skipped lines were counted when loading.
                Err(_) if trace.bad_lines == BadLines::Skip => continue,
                Err(message) => {
                    self.done = true;
                    return Some(Err(TraceError::at_line(&trace.path, n, message)));
                }
            };
            if !(trace.window.0..trace.window.1).contains(&line.start) {
                continue;
            }
            function_key(&mut self.key, line.app, line.func);
            let Some(chosen) = trace.chosen.get(self.key.as_str()) else {
                continue;
            };
            if trace.scale < 1.0 && self.rng.random::<f64>() >= trace.scale {
                continue;
            }
            return Some(Ok((
                n,
                Arrival {
                    at_ns: at_ns(line.start - trace.window.0),
                    workers: 1,
                    tenant: chosen.tenant,
                    action: self.first_action + chosen.offset,
                    work_s: Some(line.duration),
                },
            )));
        }
    }
}
