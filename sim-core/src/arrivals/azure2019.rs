//! Replay of the Azure Functions 2019 dataset (Shahrad et al., "Serverless in the Wild",
//! USENIX ATC '20): per-minute invocation counts per function, duration percentiles per
//! function, allocated-memory percentiles per app, one CSV of each per day:
//!
//! - `invocations_per_function_md.anon.dNN.csv`: `HashOwner,HashApp,HashFunction,Trigger,1,..,1440`
//!   (invocations in each minute of the day);
//! - `function_durations_percentiles.anon.dNN.csv`: `HashOwner,HashApp,HashFunction,Average,Count,
//!   Minimum,Maximum,percentile_Average_0,_1,_25,_50,_75,_99,_100` (ms);
//! - `app_memory_percentiles.anon.dNN.csv`: `HashOwner,HashApp,SampleCount,AverageAllocatedMb,
//!   AverageAllocatedMb_pct1,_pct5,_pct25,_pct50,_pct75,_pct95,_pct99,_pct100` (MB; days 1-12).
//!
//! Loading reads the percentile files into maps, then the invocation files twice: once for
//! each function's invocations in the window (to choose functions), once to keep the
//! non-zero minutes of the chosen ones. Arrivals are then spread within each minute, lazily.
//! Each function's durations are the piecewise-linear inverse CDF through its percentiles;
//! each app's memory is one draw from its percentiles (or their average).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use policies::{Distribution, FieldError};
use rand::Rng as _;
use serde::{Deserialize, Serialize};

use super::select::Select;
use super::trace_file::{self, BadLines, Skipped, TraceFile};
use super::{
    at_ns, merge, Arrival, ArrivalSource, TraceError, TraceFunction, TraceLoadError, TraceSummary,
    WorkKind,
};
use crate::rng::{stream, Rng};

/// Seconds in a day of the trace.
const DAY_S: f64 = 86_400.0;
/// Minutes in a day file.
const MINUTES: usize = 1440;
/// The duration percentiles of the durations file and their probabilities.
const DURATION_COLUMNS: [(&str, f64); 7] = [
    ("percentile_Average_0", 0.0),
    ("percentile_Average_1", 0.01),
    ("percentile_Average_25", 0.25),
    ("percentile_Average_50", 0.5),
    ("percentile_Average_75", 0.75),
    ("percentile_Average_99", 0.99),
    ("percentile_Average_100", 1.0),
];
/// The memory percentiles of the memory file and their probabilities.
const MEMORY_COLUMNS: [(&str, f64); 8] = [
    ("AverageAllocatedMb_pct1", 0.01),
    ("AverageAllocatedMb_pct5", 0.05),
    ("AverageAllocatedMb_pct25", 0.25),
    ("AverageAllocatedMb_pct50", 0.5),
    ("AverageAllocatedMb_pct75", 0.75),
    ("AverageAllocatedMb_pct95", 0.95),
    ("AverageAllocatedMb_pct99", 0.99),
    ("AverageAllocatedMb_pct100", 1.0),
];

/// The invocations file of day `day`.
pub fn invocations_file(day: u32) -> String {
    format!("invocations_per_function_md.anon.d{day:02}.csv")
}

/// The durations file of day `day`.
pub fn durations_file(day: u32) -> String {
    format!("function_durations_percentiles.anon.d{day:02}.csv")
}

/// The app memory file of day `day`.
pub fn memory_file(day: u32) -> String {
    format!("app_memory_percentiles.anon.d{day:02}.csv")
}

/// How a minute's invocations are placed within the minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Spread {
    /// Exactly the minute's count, at independent uniform times (a Poisson process
    /// conditioned on the count).
    #[default]
    Uniform,
    /// A Poisson process at the minute's count per minute: the count varies, its mean holds.
    Poisson,
    /// Exactly the minute's count, evenly spaced from the start of the minute.
    Equidistant,
}

/// How an app's memory is taken from its percentiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppMemory {
    /// One draw per app from the piecewise-linear inverse CDF through its percentiles.
    #[default]
    Draw,
    /// `AverageAllocatedMb`.
    Average,
}

/// `[[traces]] format = "azure-2019"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Azure2019Config {
    /// Folder with the dataset's CSV files (relative to the config file).
    pub dir: String,
    /// Consecutive days to replay (1 to 14), read from the files of those days.
    #[serde(default = "first_day")]
    pub days: Vec<u32>,
    /// Window start, s from the start of the first day.
    #[serde(default)]
    pub start: f64,
    /// Window end, s from the start of the first day (default: the end of the last day).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<f64>,
    /// Which functions to replay (default: every one with invocations in the window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub select: Option<Select>,
    /// Rate scaling: each minute's count is multiplied (randomly rounded).
    #[serde(default = "one")]
    pub scale: f64,
    /// How invocations are spread within a minute.
    #[serde(default)]
    pub spread: Spread,
    /// What the durations stand for.
    #[serde(default)]
    pub work: WorkKind,
    /// Memory of every function, MB, instead of the app memory files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
    /// How an app's memory is taken from its percentiles.
    #[serde(default)]
    pub app_memory: AppMemory,
    /// Seed of the replayed set: which functions a sample picks and each app's memory draw
    /// (arrival times and durations use the run's seed).
    #[serde(default)]
    pub seed: u64,
    /// What to do with a line that does not parse.
    #[serde(default)]
    pub bad_lines: BadLines,
}

fn first_day() -> Vec<u32> {
    vec![1]
}

fn one() -> f64 {
    1.0
}

impl Azure2019Config {
    /// The window `[start, end)`, s from the start of the first day.
    fn window(&self) -> (f64, f64) {
        let end = self.end.unwrap_or(self.days.len() as f64 * DAY_S);
        (self.start, end)
    }

    /// Checks the parameters; paths are relative to the entry.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.days.is_empty() {
            return Err(FieldError::new("days", "a non-empty list of days", "[]"));
        }
        for (i, &d) in self.days.iter().enumerate() {
            if !(1..=14).contains(&d) {
                return Err(FieldError::new(
                    format!("days[{i}]"),
                    "a day from 1 to 14",
                    d,
                ));
            }
            if i > 0 && d != self.days[i - 1] + 1 {
                let expected = format!("consecutive days: {}", self.days[i - 1] + 1);
                return Err(FieldError::new(format!("days[{i}]"), expected, d));
            }
        }
        let (start, end) = self.window();
        let span = self.days.len() as f64 * DAY_S;
        if !(start.is_finite() && (0.0..span).contains(&start)) {
            let expected = format!("seconds in [0, {span}) (the days listed)");
            return Err(FieldError::new("start", expected, start));
        }
        if !(end.is_finite() && end > start && end <= span) {
            let expected = format!("seconds in ({start}, {span}]");
            return Err(FieldError::new("end", expected, end));
        }
        if let Some(select) = &self.select {
            select.validate().map_err(|e| e.under("select"))?;
        }
        if !(self.scale.is_finite() && self.scale > 0.0) {
            return Err(FieldError::new("scale", "a factor > 0", self.scale));
        }
        if self.memory_mb == Some(0) {
            return Err(FieldError::new("memory_mb", "an integer >= 1", 0));
        }
        Ok(())
    }
}

/// One function kept for replay: its action and its non-zero minutes in the window.
#[derive(Debug, Clone, PartialEq)]
pub struct Function2019 {
    /// Its action.
    pub function: TraceFunction,
    /// `(minute since the start of the first day, invocations)`, by minute, counts > 0.
    pub minutes: Vec<(u32, u32)>,
}

/// A loaded 2019 trace: the functions to replay.
#[derive(Debug, Clone, PartialEq)]
pub struct Azure2019Trace {
    /// The chosen functions, in order of first appearance in the invocation files.
    pub functions: Vec<Function2019>,
    /// What was found and kept.
    pub summary: TraceSummary,
    start_s: f64,
    end_s: f64,
    scale: f64,
    spread: Spread,
}

/// A parsed line of an invocations file.
struct InvocationLine<'a> {
    key: String,
    owner: &'a str,
    app: &'a str,
    func: &'a str,
    counts: Vec<u32>,
}

/// Column indices of an invocations file.
struct InvocationColumns {
    owner: usize,
    app: usize,
    func: usize,
    minutes: Vec<usize>,
}

impl InvocationColumns {
    fn read(file: &mut TraceFile) -> Result<Self, TraceError> {
        let mut names: Vec<String> = ["HashOwner", "HashApp", "HashFunction", "Trigger"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        names.extend((1..=MINUTES).map(|m| m.to_string()));
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let idx = file.header(&refs)?;
        Ok(InvocationColumns {
            owner: idx[0],
            app: idx[1],
            func: idx[2],
            minutes: idx[4..].to_vec(),
        })
    }

    fn parse<'a>(&self, text: &'a str) -> Result<InvocationLine<'a>, String> {
        let fields: Vec<&str> = text.split(',').collect();
        let owner = trace_file::name(&fields, self.owner, "HashOwner")?;
        let app = trace_file::name(&fields, self.app, "HashApp")?;
        let func = trace_file::name(&fields, self.func, "HashFunction")?;
        let mut counts = Vec::with_capacity(MINUTES);
        for (m, &i) in self.minutes.iter().enumerate() {
            let c = trace_file::count(&fields, i, &(m + 1).to_string())?;
            counts.push(
                u32::try_from(c).map_err(|_| format!("column `{}`: count too large", m + 1))?,
            );
        }
        Ok(InvocationLine {
            key: function_key(owner, app, func),
            owner,
            app,
            func,
            counts,
        })
    }
}

fn function_key(owner: &str, app: &str, func: &str) -> String {
    format!("{owner},{app},{func}")
}

fn app_key(owner: &str, app: &str) -> String {
    format!("{owner},{app}")
}

/// An app's memory data.
struct AppMemoryRow {
    average: f64,
    percentiles: Distribution,
}

/// Where a replayable function's memory comes from.
enum MemoryOf<'a> {
    Fixed(u64),
    App(&'a AppMemoryRow),
}

/// A function with invocations in the window and the data to replay it.
struct Candidate<'a> {
    key: String,
    seen: Seen,
    duration: Distribution,
    memory_mb: MemoryOf<'a>,
}

/// A function seen in the invocation files.
struct Seen {
    order: usize,
    owner: String,
    app: String,
    func: String,
    invocations: u64,
}

impl Azure2019Trace {
    /// Reads the trace of `config` (validated), its `dir` relative to `base`.
    pub fn load(config: &Azure2019Config, base: &Path) -> Result<Self, TraceLoadError> {
        config.validate()?;
        let dir = base.join(&config.dir);
        let (start_s, end_s) = config.window();
        let minute_range = (
            (start_s / 60.0).floor() as u32,
            (end_s / 60.0).ceil() as u32,
        );
        let mut skipped = Skipped::default();
        let durations = read_durations(&dir, &config.days, config.bad_lines, &mut skipped)?;
        let memory = match config.memory_mb {
            Some(_) => HashMap::new(),
            None => read_memory(&dir, &config.days, config.bad_lines, &mut skipped)?,
        };
        let in_window = count_in_window(&dir, config, minute_range, &mut skipped)?;
        let functions_in_window = in_window.len() as u64;
        // Replayable: with durations, and with memory data unless memory_mb is given.
        let mut candidates: Vec<Candidate> = in_window
            .into_iter()
            .filter_map(|(key, seen)| {
                let duration = durations.get(&key)?.clone();
                let memory_mb = match config.memory_mb {
                    Some(mb) => MemoryOf::Fixed(mb),
                    None => MemoryOf::App(memory.get(&app_key(&seen.owner, &seen.app))?),
                };
                Some(Candidate {
                    key,
                    seen,
                    duration,
                    memory_mb,
                })
            })
            .collect();
        let without_data = functions_in_window - candidates.len() as u64;
        if let Some(select) = &config.select {
            let weights: Vec<u64> = candidates.iter().map(|c| c.seen.invocations).collect();
            let mut rng = stream(config.seed, "azure-2019-select", 0);
            let chosen = select.choose(&weights, &mut rng);
            let mut keep = vec![false; candidates.len()];
            for i in chosen {
                keep[i] = true;
            }
            let mut i = 0;
            candidates.retain(|_| {
                i += 1;
                keep[i - 1]
            });
        }
        let minutes = keep_minutes(&dir, config, minute_range, &candidates)?;
        let mut tenants: HashMap<&str, u32> = HashMap::new();
        let mut apps: HashMap<String, u64> = HashMap::new();
        let mut functions = Vec::with_capacity(candidates.len());
        let mut invocations = 0;
        for (c, mins) in candidates.iter().zip(minutes) {
            let s = &c.seen;
            let next_tenant = tenants.len() as u32;
            let tenant = *tenants.entry(s.owner.as_str()).or_insert(next_tenant);
            let next_app = apps.len() as u64;
            let app_index = *apps.entry(app_key(&s.owner, &s.app)).or_insert(next_app);
            let memory_mb = match c.memory_mb {
                MemoryOf::Fixed(mb) => mb,
                MemoryOf::App(row) => {
                    let mb = match config.app_memory {
                        AppMemory::Average => row.average,
                        AppMemory::Draw => {
                            let mut rng = stream(config.seed, "azure-2019-memory", app_index);
                            row.percentiles.sample(0, &mut rng)
                        }
                    };
                    (mb.ceil() as u64).max(1)
                }
            };
            invocations += s.invocations;
            functions.push(Function2019 {
                function: TraceFunction {
                    name: format!("{}/{}", s.app, s.func),
                    tenant,
                    memory_mb,
                    workload: config.work.workload(c.duration.clone()),
                },
                minutes: mins,
            });
        }
        Ok(Azure2019Trace {
            summary: TraceSummary {
                functions: functions_in_window,
                without_data,
                selected: functions.len() as u64,
                invocations,
                skipped,
            },
            functions,
            start_s,
            end_s,
            scale: config.scale,
            spread: config.spread,
        })
    }

    /// The arrivals of the replayed functions, in time order, from the start of the window:
    /// function `f` is action `first_action + f` and draws from stream `stream_name`, index `f`.
    pub fn arrivals(&self, seed: u64, stream_name: &str, first_action: u32) -> ArrivalSource<'_> {
        let sources: Vec<ArrivalSource<'_>> = self
            .functions
            .iter()
            .enumerate()
            .map(|(f, function)| {
                let times = MinuteSpread {
                    minutes: &function.minutes,
                    next: 0,
                    rng: stream(seed, stream_name, f as u64),
                    spread: self.spread,
                    scale: self.scale,
                    window: (self.start_s, self.end_s),
                    minute: (0.0, 0.0),
                    left: 0,
                    total: 0,
                    x: 0.0,
                    rate: 0.0,
                };
                let action = first_action + f as u32;
                let tenant = function.function.tenant;
                let start_s = self.start_s;
                let source: ArrivalSource<'_> = Box::new(times.map(move |t| {
                    Ok(Arrival {
                        at_ns: at_ns(t - start_s),
                        workers: 1,
                        tenant,
                        action,
                        work_s: None,
                    })
                }));
                source
            })
            .collect();
        Box::new(merge(sources))
    }
}

/// First pass over the invocation files: each function with invocations in the minutes of
/// `range`, with that count, in order of first appearance.
fn count_in_window(
    dir: &Path,
    config: &Azure2019Config,
    range: (u32, u32),
    skipped: &mut Skipped,
) -> Result<Vec<(String, Seen)>, TraceError> {
    let mut seen: HashMap<String, Seen> = HashMap::new();
    for (d, &day) in config.days.iter().enumerate() {
        let path = dir.join(invocations_file(day));
        scan_invocations(&path, config.bad_lines, Some(&mut *skipped), |line| {
            let total = window_total(&line.counts, d, range);
            let order = seen.len();
            seen.entry(line.key)
                .or_insert_with(|| Seen {
                    order,
                    owner: line.owner.to_string(),
                    app: line.app.to_string(),
                    func: line.func.to_string(),
                    invocations: 0,
                })
                .invocations += total;
        })?;
    }
    let mut in_window: Vec<(String, Seen)> = seen
        .into_iter()
        .filter(|(_, s)| s.invocations > 0)
        .collect();
    in_window.sort_by_key(|(_, s)| s.order);
    Ok(in_window)
}

/// Second pass: the non-zero minutes of `range` of each chosen function, by minute (rows of
/// one function, e.g. one per trigger, add up).
fn keep_minutes(
    dir: &Path,
    config: &Azure2019Config,
    range: (u32, u32),
    chosen: &[Candidate<'_>],
) -> Result<Vec<Vec<(u32, u32)>>, TraceError> {
    let index: HashMap<&str, usize> = chosen
        .iter()
        .enumerate()
        .map(|(i, c)| (c.key.as_str(), i))
        .collect();
    let mut minutes: Vec<Vec<(u32, u32)>> = vec![Vec::new(); chosen.len()];
    for (d, &day) in config.days.iter().enumerate() {
        let path = dir.join(invocations_file(day));
        scan_invocations(&path, config.bad_lines, None, |line| {
            if let Some(&i) = index.get(line.key.as_str()) {
                let first = (d * MINUTES) as u32;
                for (m, &c) in line.counts.iter().enumerate() {
                    let minute = first + m as u32;
                    if c > 0 && (range.0..range.1).contains(&minute) {
                        minutes[i].push((minute, c));
                    }
                }
            }
        })?;
    }
    for mins in &mut minutes {
        mins.sort_by_key(|(m, _)| *m);
        mins.dedup_by(|later, earlier| {
            let same = later.0 == earlier.0;
            if same {
                earlier.1 = earlier.1.saturating_add(later.1);
            }
            same
        });
    }
    Ok(minutes)
}

/// Invocations of `counts` (day index `d` of the files) in the minutes of `range`.
fn window_total(counts: &[u32], d: usize, range: (u32, u32)) -> u64 {
    let first = (d * MINUTES) as u32;
    counts
        .iter()
        .enumerate()
        .filter(|(m, _)| (range.0..range.1).contains(&(first + *m as u32)))
        .map(|(_, &c)| c as u64)
        .sum()
}

/// Calls `each` on every good line of the invocations file `path`; bad lines go through
/// `policy` into `skipped` (the second pass passes `None`: they were counted already).
fn scan_invocations(
    path: &Path,
    policy: BadLines,
    mut skipped: Option<&mut Skipped>,
    mut each: impl FnMut(InvocationLine<'_>),
) -> Result<(), TraceError> {
    let mut file = TraceFile::open(path)?;
    let columns = InvocationColumns::read(&mut file)?;
    while let Some((n, text)) = file.next_line()? {
        match columns.parse(text) {
            Ok(line) => each(line),
            Err(message) => {
                let error = TraceError::at_line(path, n, message);
                match skipped.as_deref_mut() {
                    Some(s) => s.handle(policy, error)?,
                    None if policy == BadLines::Error => return Err(error),
                    None => {}
                }
            }
        }
    }
    Ok(())
}

/// Each function's durations (s) from the first listed day that has them.
fn read_durations(
    dir: &Path,
    days: &[u32],
    policy: BadLines,
    skipped: &mut Skipped,
) -> Result<HashMap<String, Distribution>, TraceError> {
    let mut out = HashMap::new();
    for &day in days {
        let path = dir.join(durations_file(day));
        let mut file = TraceFile::open(&path)?;
        let mut names = vec!["HashOwner", "HashApp", "HashFunction"];
        names.extend(DURATION_COLUMNS.iter().map(|(n, _)| *n));
        let idx = file.header(&names)?;
        while let Some((n, text)) = file.next_line()? {
            let fields: Vec<&str> = text.split(',').collect();
            let parsed = (|| {
                let owner = trace_file::name(&fields, idx[0], "HashOwner")?;
                let app = trace_file::name(&fields, idx[1], "HashApp")?;
                let func = trace_file::name(&fields, idx[2], "HashFunction")?;
                let values = percentiles(&fields, &idx[3..], &DURATION_COLUMNS, 1e-3)?;
                Ok::<_, String>((function_key(owner, app, func), values))
            })();
            match parsed {
                Ok((key, values)) => {
                    out.entry(key).or_insert_with(|| Distribution::Quantiles {
                        p: DURATION_COLUMNS.iter().map(|(_, p)| *p).collect(),
                        values,
                    });
                }
                Err(message) => skipped.handle(policy, TraceError::at_line(&path, n, message))?,
            }
        }
    }
    Ok(out)
}

/// Each app's memory data from the first listed day that has it (memory files exist for
/// days 1 to 12: later days are skipped; no file at all is an error).
fn read_memory(
    dir: &Path,
    days: &[u32],
    policy: BadLines,
    skipped: &mut Skipped,
) -> Result<HashMap<String, AppMemoryRow>, TraceError> {
    let mut out = HashMap::new();
    let paths: Vec<PathBuf> = days.iter().map(|&d| dir.join(memory_file(d))).collect();
    if !paths.iter().any(|p| p.is_file()) {
        return Err(TraceError::file(
            &paths[0],
            "cannot open the app memory file (set `memory_mb` to replay without one)",
        ));
    }
    for path in paths.iter().filter(|p| p.is_file()) {
        let mut file = TraceFile::open(path)?;
        let mut names = vec!["HashOwner", "HashApp", "AverageAllocatedMb"];
        names.extend(MEMORY_COLUMNS.iter().map(|(n, _)| *n));
        let idx = file.header(&names)?;
        while let Some((n, text)) = file.next_line()? {
            let fields: Vec<&str> = text.split(',').collect();
            let parsed = (|| {
                let owner = trace_file::name(&fields, idx[0], "HashOwner")?;
                let app = trace_file::name(&fields, idx[1], "HashApp")?;
                let average = trace_file::non_negative(&fields, idx[2], "AverageAllocatedMb")?;
                let values = percentiles(&fields, &idx[3..], &MEMORY_COLUMNS, 1.0)?;
                Ok::<_, String>((app_key(owner, app), average, values))
            })();
            match parsed {
                Ok((key, average, values)) => {
                    out.entry(key).or_insert_with(|| AppMemoryRow {
                        average,
                        percentiles: Distribution::Quantiles {
                            p: MEMORY_COLUMNS.iter().map(|(_, p)| *p).collect(),
                            values,
                        },
                    });
                }
                Err(message) => skipped.handle(policy, TraceError::at_line(path, n, message))?,
            }
        }
    }
    Ok(out)
}

/// The percentile columns `idx` (named by `columns`) times `unit`, non-decreasing.
fn percentiles(
    fields: &[&str],
    idx: &[usize],
    columns: &[(&str, f64)],
    unit: f64,
) -> Result<Vec<f64>, String> {
    let mut values = Vec::with_capacity(idx.len());
    for (&i, (name, _)) in idx.iter().zip(columns) {
        let v = trace_file::non_negative(fields, i, name)?;
        if let Some(&prev) = values.last() {
            if v * unit < prev {
                return Err(format!(
                    "column `{name}`: expected a percentile >= the previous one ({}), got `{v}`",
                    prev / unit
                ));
            }
        }
        values.push(v * unit);
    }
    Ok(values)
}

/// One function's arrival times (s since the start of the first day), minute by minute.
struct MinuteSpread<'a> {
    minutes: &'a [(u32, u32)],
    next: usize,
    rng: Rng,
    spread: Spread,
    scale: f64,
    window: (f64, f64),
    /// The current minute's `[start, end)`, s.
    minute: (f64, f64),
    /// Uniform/equidistant: arrivals left in the minute, and the minute's total.
    left: u64,
    total: u64,
    /// The last time placed in the minute (uniform, poisson).
    x: f64,
    /// Poisson: the minute's rate, per s.
    rate: f64,
}

impl MinuteSpread<'_> {
    /// Moves to the next minute with invocations; false when there is none in the window.
    fn next_minute(&mut self) -> bool {
        let Some(&(minute, count)) = self.minutes.get(self.next) else {
            return false;
        };
        self.next += 1;
        let a = minute as f64 * 60.0;
        if a >= self.window.1 {
            return false;
        }
        self.minute = (a, a + 60.0);
        self.x = a;
        let scaled = count as f64 * self.scale;
        match self.spread {
            Spread::Poisson => {
                self.rate = scaled / 60.0;
                self.left = u64::MAX;
            }
            Spread::Uniform | Spread::Equidistant => {
                // Random rounding keeps the mean: 2.3 is 2 or 3 with probability 0.7 / 0.3.
                let floor = scaled.floor();
                let extra = self.rng.random::<f64>() < scaled - floor;
                self.left = floor as u64 + u64::from(extra);
                self.total = self.left;
            }
        }
        true
    }

    /// The next time within the current minute, if any is left.
    fn next_in_minute(&mut self) -> Option<f64> {
        if self.left == 0 {
            return None;
        }
        let (a, b) = self.minute;
        match self.spread {
            Spread::Uniform => {
                // The smallest of n uniforms on (x, b): x + (b - x)(1 - U^(1/n)).
                let u = self.rng.random::<f64>();
                self.x += (b - self.x) * (1.0 - u.powf(1.0 / self.left as f64));
                self.left -= 1;
                Some(self.x)
            }
            Spread::Equidistant => {
                let k = self.total - self.left;
                self.left -= 1;
                Some(a + k as f64 * 60.0 / self.total as f64)
            }
            Spread::Poisson => {
                if self.rate <= 0.0 {
                    self.left = 0;
                    return None;
                }
                self.x += -(1.0 - self.rng.random::<f64>()).ln() / self.rate;
                if self.x >= b {
                    self.left = 0;
                    return None;
                }
                Some(self.x)
            }
        }
    }
}

impl Iterator for MinuteSpread<'_> {
    type Item = f64;

    fn next(&mut self) -> Option<f64> {
        loop {
            match self.next_in_minute() {
                Some(t) if t >= self.window.1 => {
                    self.next = self.minutes.len();
                    self.left = 0;
                    return None;
                }
                Some(t) if t >= self.window.0 => return Some(t),
                Some(_) => {}
                None => {
                    if !self.next_minute() {
                        return None;
                    }
                }
            }
        }
    }
}
