//! A scenario's arrival sources (`[[arrivals]]` and `[[traces]]`), validated and loaded, and
//! the run's burst list: the `[[bursts]]` merged with what the sources draw for a seed.

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

use policies::{ActionKind, ActionRef, FieldError, Workload};

use super::{secs_to_ns, BurstSpec, Scenario};
use crate::arrivals::azure2019::Azure2019Trace;
use crate::arrivals::azure2021::Azure2021Trace;
use crate::arrivals::burst_csv::BurstCsvTrace;
use crate::arrivals::{
    merge, Arrival, ArrivalProcess, ArrivalSource, Merge, ProcessArrivals, TraceError,
    TraceFunction, TraceLoadError, TraceSummary,
};
use crate::config::{ArrivalConfig, TraceConfig};
use crate::rng::stream;

/// One source of arrivals of a scenario.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// `[[arrivals]]` entry `index`: a process for one action.
    Process {
        /// Entry index: the process draws from stream `arrivals`, this index.
        index: u64,
        /// When requests arrive.
        process: ArrivalProcess,
        /// Window, s (end may be infinite).
        start: f64,
        /// End of the window, s.
        end: f64,
        /// Most requests.
        count: u64,
        /// Functions per request.
        workers: u32,
        /// Tenant of the action.
        tenant: u32,
        /// Action index.
        action: u32,
    },
    /// `[[traces]]` entry `index` in the Azure 2019 format.
    Azure2019 {
        /// Entry index.
        index: usize,
        /// The loaded trace.
        trace: Arc<Azure2019Trace>,
        /// The action of each of its functions.
        actions: Vec<u32>,
    },
    /// `[[traces]]` entry `index` in the Azure 2021 format.
    Azure2021 {
        /// Entry index.
        index: usize,
        /// The loaded trace.
        trace: Arc<Azure2021Trace>,
        /// The action of each of its functions.
        actions: Vec<u32>,
    },
    /// `[[traces]]` entry `index`, a CSV of bursts.
    Bursts {
        /// The loaded file.
        trace: Arc<BurstCsvTrace>,
        /// The action of each of its actions.
        actions: Vec<u32>,
    },
}

/// `source` with each arrival's trace-local action replaced by its action in the run.
fn mapped<'a>(source: ArrivalSource<'a>, actions: &'a [u32]) -> ArrivalSource<'a> {
    Box::new(source.map(move |item| {
        item.map(|mut a| {
            a.action = actions[a.action as usize];
            a
        })
    }))
}

impl Source {
    /// The arrivals this source draws with `seed`, in time order.
    fn arrivals(&self, seed: u64) -> ArrivalSource<'_> {
        match self {
            Source::Process {
                index,
                process,
                start,
                end,
                count,
                workers,
                tenant,
                action,
            } => {
                let rng = stream(seed, "arrivals", *index);
                let (workers, tenant, action) = (*workers, *tenant, *action);
                Box::new(
                    ProcessArrivals::new(process, *start, *end, *count, rng).map(move |t| {
                        Ok(Arrival {
                            at_ns: secs_to_ns(t),
                            workers,
                            tenant,
                            action,
                            work_s: None,
                        })
                    }),
                )
            }
            Source::Azure2019 {
                index,
                trace,
                actions,
            } => mapped(
                trace.arrivals(seed, &format!("traces[{index}]"), 0),
                actions,
            ),
            Source::Azure2021 {
                index,
                trace,
                actions,
            } => mapped(
                trace.arrivals(seed, &format!("traces[{index}]"), 0),
                actions,
            ),
            Source::Bursts { trace, actions } => mapped(trace.arrivals(0), actions),
        }
    }
}

/// The bursts of one run, by arrival, numbered: `[[bursts]]` merged with the sources' draws.
#[derive(Debug, Clone)]
pub struct RunBursts<'a> {
    /// Index = burst id.
    pub bursts: Cow<'a, [BurstSpec]>,
    /// Functions in the run.
    pub functions: u64,
    /// A trace that could not be replayed (its file changed since it was loaded): the run
    /// holds the arrivals before it.
    pub error: Option<TraceError>,
}

/// The bursts of one run, lazily, by arrival, numbered: burst ids in arrival order, function
/// ids burst by burst. Only the next arrival of each source is held.
pub struct RunArrivals<'a> {
    merge: Merge<'a>,
    next_id: u64,
    next_function: u64,
}

impl RunArrivals<'_> {
    /// Functions numbered so far (the id the next burst's worker 0 gets).
    pub fn functions_so_far(&self) -> u64 {
        self.next_function
    }
}

impl Iterator for RunArrivals<'_> {
    type Item = Result<BurstSpec, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(self.merge.next()?.map(|a| {
            let burst = BurstSpec {
                id: self.next_id,
                at_ns: a.at_ns,
                workers: a.workers,
                tenant: a.tenant,
                action: a.action,
                first_function: self.next_function,
                work_s: a.work_s,
            };
            self.next_id += 1;
            self.next_function += a.workers as u64;
            burst
        }))
    }
}

impl Scenario {
    /// Every arrival of a run with `seed`, lazily and in time order: the `[[bursts]]` first at
    /// equal times (in config order, then repetition), then the sources in config order
    /// (`[[arrivals]]`, then `[[traces]]`).
    pub fn arrivals(&self, seed: u64) -> Merge<'_> {
        let mut all: Vec<ArrivalSource<'_>> =
            Vec::with_capacity(self.burst_series.len() + self.sources.len());
        for series in &self.burst_series {
            all.push(Box::new(series.arrivals().map(Ok)));
        }
        all.extend(self.sources.iter().map(|s| s.arrivals(seed)));
        merge(all)
    }

    /// [`Scenario::arrivals`] numbered into the run's bursts, lazily: what the engine pulls.
    pub fn run_arrivals(&self, seed: u64) -> RunArrivals<'_> {
        RunArrivals {
            merge: self.arrivals(seed),
            next_id: 0,
            next_function: 0,
        }
    }

    /// The bursts of a run with `seed`, collected (for callers that want them all at once,
    /// such as a live run; the simulator pulls [`Scenario::run_arrivals`] instead).
    pub fn run_bursts(&self, seed: u64) -> RunBursts<'_> {
        let mut bursts = Vec::new();
        let mut error = None;
        let mut arrivals = self.run_arrivals(seed);
        for item in arrivals.by_ref() {
            match item {
                Ok(b) => bursts.push(b),
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        RunBursts {
            bursts: Cow::Owned(bursts),
            functions: arrivals.functions_so_far(),
            error,
        }
    }

    /// The solo run time (ns) of each function of burst `burst` (id `id` of its run), in
    /// worker order: the arrival's own work, or drawn from the action's workload (stream
    /// `workload`, index = burst id).
    pub fn work_ns(&self, seed: u64, id: u64, burst: &BurstSpec) -> WorkNs<'_> {
        let given = burst
            .work_s
            .map(secs_to_ns)
            .or(self.action_constant_work_ns[burst.action as usize]);
        match given {
            Some(ns) => WorkNs::Given(std::iter::repeat_n(ns, burst.workers as usize)),
            None => WorkNs::Drawn(self.action_workloads[burst.action as usize].burst_inputs(
                seed,
                id,
                burst.workers,
            )),
        }
    }

    /// Whether the functions of action `action` need a CPU to progress.
    pub fn action_is_cpu_bound(&self, action: u32) -> bool {
        self.action_workloads
            .get(action as usize)
            .unwrap_or(&self.workload)
            .is_cpu_bound()
    }
}

/// An action to intern: its identity and workload, and where it was declared.
pub(super) struct NewAction {
    pub field: String,
    pub action: ActionRef,
    pub workload: Workload,
}

/// Interns actions with their workloads; an action declared twice must do the same work.
pub(super) trait InternAction {
    fn intern_action(&mut self, new: NewAction) -> Result<u32, FieldError>;
}

/// `[[arrivals]]` entry `i`, validated into a source (its action interned by `intern`).
pub(super) fn process_source(
    i: usize,
    entry: &ArrivalConfig,
    default_workload: &Workload,
    check_fit: &dyn Fn(&str, u64, u32) -> Result<(), FieldError>,
    intern: &mut dyn InternAction,
) -> Result<Source, FieldError> {
    let field = |f: &str| format!("arrivals[{i}].{f}");
    entry
        .process
        .validate()
        .map_err(|e| e.under(&field("process")))?;
    if !(entry.start.is_finite() && entry.start >= 0.0) {
        return Err(FieldError::new(
            field("start"),
            "a number of seconds >= 0",
            entry.start,
        ));
    }
    if let Some(end) = entry.end {
        if !(end.is_finite() && end > entry.start) {
            let expected = format!("seconds > start = {}", entry.start);
            return Err(FieldError::new(field("end"), expected, end));
        }
    }
    if entry.end.is_none() && entry.count.is_none() {
        return Err(FieldError::new(
            format!("arrivals[{i}]"),
            "`end` (seconds) or `count` (requests), so that arrivals stop",
            "neither",
        ));
    }
    if entry.count == Some(0) {
        return Err(FieldError::new(field("count"), "an integer >= 1", 0));
    }
    if entry.workers == 0 {
        return Err(FieldError::new(field("workers"), "an integer >= 1", 0));
    }
    if entry.memory_mb == 0 {
        return Err(FieldError::new(field("memory_mb"), "an integer >= 1", 0));
    }
    check_fit(&format!("arrivals[{i}]"), entry.memory_mb, entry.workers)?;
    let workload = entry
        .workload
        .clone()
        .unwrap_or_else(|| default_workload.clone());
    workload
        .validate()
        .map_err(|e| e.under(&field("workload")))?;
    let name = entry
        .action
        .clone()
        .unwrap_or_else(|| format!("arrivals-{i}"));
    if name.is_empty() {
        return Err(FieldError::new(
            field("action"),
            "a non-empty name",
            "an empty string",
        ));
    }
    let action = intern.intern_action(NewAction {
        field: field("action"),
        action: ActionRef {
            namespace: format!("tenant{}", entry.tenant),
            name,
            memory_mb: entry.memory_mb,
            kind: entry.kind,
        },
        workload,
    })?;
    Ok(Source::Process {
        index: i as u64,
        process: entry.process.clone(),
        start: entry.start,
        end: entry.end.unwrap_or(f64::INFINITY),
        count: entry.count.unwrap_or(u64::MAX),
        workers: entry.workers,
        tenant: entry.tenant,
        action,
    })
}

/// Why a trace entry failed: a field of the entry, or its files (reported under the entry).
pub(super) enum TraceProblem {
    Field(FieldError),
    File(String, TraceError),
}

impl From<FieldError> for TraceProblem {
    fn from(e: FieldError) -> Self {
        TraceProblem::Field(e)
    }
}

/// A trace load result, its errors placed under entry `at`.
fn loaded<T>(at: &str, result: Result<T, TraceLoadError>) -> Result<T, TraceProblem> {
    match result {
        Ok(t) => Ok(t),
        Err(TraceLoadError::Field(e)) => Err(TraceProblem::Field(e.under(at))),
        Err(TraceLoadError::File(e)) => Err(TraceProblem::File(at.to_string(), e)),
    }
}

/// `[[traces]]` entry `i`, loaded (files relative to `base`) into a source, its functions
/// interned as actions.
pub(super) fn trace_source(
    i: usize,
    entry: &TraceConfig,
    base: &Path,
    default_workload: &Workload,
    check_fit: &dyn Fn(&str, u64, u32) -> Result<(), FieldError>,
    intern: &mut dyn InternAction,
) -> Result<(Source, TraceSummary), TraceProblem> {
    let at = format!("traces[{i}]");
    // Azure Functions run managed language runtimes; a CSV of bursts stands for Lithops jobs.
    let mut add = |functions: &[TraceFunction],
                   widest: u32,
                   kind: ActionKind|
     -> Result<Vec<u32>, FieldError> {
        let mut actions = Vec::with_capacity(functions.len());
        for function in functions {
            check_fit(&at, function.memory_mb, widest).map_err(|e| FieldError {
                path: at.clone(),
                expected: e.expected,
                got: format!(
                    "{} ({} MB, bursts of up to {widest})",
                    function.name, function.memory_mb
                ),
            })?;
            actions.push(intern.intern_action(NewAction {
                field: format!("{at}: action {}", function.name),
                action: ActionRef {
                    namespace: format!("tenant{}", function.tenant),
                    name: function.name.clone(),
                    memory_mb: function.memory_mb,
                    kind,
                },
                workload: function.workload.clone(),
            })?);
        }
        Ok(actions)
    };
    Ok(match entry {
        TraceConfig::Azure2019(config) => {
            let trace = loaded(&at, Azure2019Trace::load(config, base))?;
            let funcs: Vec<TraceFunction> =
                trace.functions.iter().map(|f| f.function.clone()).collect();
            let actions = add(&funcs, 1, ActionKind::Managed)?;
            let summary = trace.summary.clone();
            let source = Source::Azure2019 {
                index: i,
                trace: Arc::new(trace),
                actions,
            };
            (source, summary)
        }
        TraceConfig::Azure2021(config) => {
            let trace = loaded(&at, Azure2021Trace::load(config, base))?;
            let actions = add(&trace.functions, 1, ActionKind::Managed)?;
            let summary = trace.summary.clone();
            let source = Source::Azure2021 {
                index: i,
                trace: Arc::new(trace),
                actions,
            };
            (source, summary)
        }
        TraceConfig::Bursts(config) => {
            let trace = loaded(&at, BurstCsvTrace::load(config, base, default_workload))?;
            let actions = add(&trace.functions, trace.widest, ActionKind::Docker)?;
            let summary = trace.summary.clone();
            let source = Source::Bursts {
                trace: Arc::new(trace),
                actions,
            };
            (source, summary)
        }
    })
}

/// The solo run times (ns) of one burst's functions: [`Scenario::work_ns`]. An enum rather
/// than a boxed iterator: the client keeps one per arrived burst, and a box per arrival was an
/// allocation per FaaS invocation.
#[derive(Debug, Clone)]
pub enum WorkNs<'a> {
    /// The arrival's own work (a trace), the same for every worker.
    Given(std::iter::RepeatN<u64>),
    /// Drawn from the action's workload.
    Drawn(policies::workload::BurstInputs<'a>),
}

impl Iterator for WorkNs<'_> {
    type Item = u64;

    #[inline]
    fn next(&mut self) -> Option<u64> {
        match self {
            WorkNs::Given(given) => given.next(),
            WorkNs::Drawn(inputs) => inputs.next().map(|input| secs_to_ns(input.solo_seconds())),
        }
    }
}
