//! Where a run's requests come from, besides the config's `[[bursts]]` list: open-loop arrival
//! processes per action (`[[arrivals]]`: Poisson, deterministic, on-off, two-state MMPP, a
//! diurnal sinusoid or a piecewise-linear rate curve by thinning) and trace replay
//! (`[[traces]]`: the Azure Functions 2019 and 2021 public traces, and a CSV of bursts).
//!
//! Every source is a lazy iterator of [`Arrival`]s in time order: a process draws its next
//! arrival when asked, and a trace reader keeps in memory only what its window needs (the
//! per-minute counts of the selected functions for the 2019 dataset; a reorder buffer as deep
//! as the file's disorder for the per-invocation traces), so a run of 100 M invocations never
//! holds 100 M arrivals. [`merge`] joins sources into one stream (ties: source order).
//! Randomness comes from one seeded stream per source (and per trace function), so adding a
//! source never shifts the draws of another.

pub mod azure2019;
pub mod azure2021;
pub mod burst_csv;
pub mod fixtures;
pub mod process;
pub mod read_ahead;
pub mod reorder;
pub mod select;
pub mod trace_file;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::path::PathBuf;

use policies::{Distribution, FieldError, Workload};
use serde::{Deserialize, Serialize};

pub use process::{ArrivalProcess, ProcessArrivals};
pub use select::Select;
pub use trace_file::{BadLines, Skipped};

/// One arrival: a group request of `workers` functions of one action (`workers = 1` is a
/// single invocation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Arrival {
    /// Arrival time at the client, ns from the start of the run.
    pub at_ns: u64,
    /// Functions in the request.
    pub workers: u32,
    /// Tenant (namespace) of the action.
    pub tenant: u32,
    /// Index of the action in the run's action table.
    pub action: u32,
    /// Seconds of work of each function when the source says (a per-invocation trace);
    /// `None`: drawn from the action's workload.
    pub work_s: Option<f64>,
}

/// A line of a trace file that could not be used, or a trace file that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceError {
    /// The file at fault.
    pub file: PathBuf,
    /// 1-based line number; `None` when the file as a whole is at fault.
    pub line: Option<u64>,
    /// What was wrong.
    pub message: String,
}

impl TraceError {
    /// A problem with line `line` of `file`.
    pub fn at_line(file: impl Into<PathBuf>, line: u64, message: impl Into<String>) -> Self {
        TraceError {
            file: file.into(),
            line: Some(line),
            message: message.into(),
        }
    }

    /// A problem with `file` as a whole.
    pub fn file(file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        TraceError {
            file: file.into(),
            line: None,
            message: message.into(),
        }
    }
}

/// `file:line: message`, as compilers write it.
impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for TraceError {}

/// Why a trace could not be loaded: a parameter of its config entry (path relative to the
/// entry), or its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceLoadError {
    /// A parameter of the `[[traces]]` entry.
    Field(FieldError),
    /// A trace file or one of its lines.
    File(TraceError),
}

impl From<FieldError> for TraceLoadError {
    fn from(e: FieldError) -> Self {
        TraceLoadError::Field(e)
    }
}

impl From<TraceError> for TraceLoadError {
    fn from(e: TraceError) -> Self {
        TraceLoadError::File(e)
    }
}

/// What a source yields: an arrival, or the error that ends it (a trace file that changed
/// between validation and replay).
pub type ArrivalItem = Result<Arrival, TraceError>;

/// A boxed source of arrivals in non-decreasing time order.
pub type ArrivalSource<'a> = Box<dyn Iterator<Item = ArrivalItem> + Send + 'a>;

/// What a trace's durations stand for in the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkKind {
    /// Time that takes no CPU: the function lasts its duration whatever the CPU contention.
    #[default]
    Sleep,
    /// CPU work on one dedicated core: slower under CPU sharing.
    Cpu,
}

impl WorkKind {
    /// The workload of a function whose durations follow `duration`.
    pub fn workload(self, duration: Distribution) -> Workload {
        match self {
            WorkKind::Sleep => Workload::Sleep { duration },
            WorkKind::Cpu => Workload::Cpu { work: duration },
        }
    }
}

/// One function of a trace that the run replays: an action of its own.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceFunction {
    /// `app/function` ids as the trace writes them.
    pub name: String,
    /// Tenant: the owner (2019) or app (2021) index, by first appearance among the chosen.
    pub tenant: u32,
    /// Memory of its containers, MB.
    pub memory_mb: u64,
    /// What each invocation does (durations from the trace).
    pub workload: Workload,
}

/// What a trace reader found and kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceSummary {
    /// Distinct functions with invocations in the window.
    pub functions: u64,
    /// Of those, functions left out for lack of duration or memory data.
    pub without_data: u64,
    /// Functions replayed.
    pub selected: u64,
    /// Invocations of the replayed functions in the window, before rate scaling.
    pub invocations: u64,
    /// Bad lines skipped (`bad_lines = "skip"`).
    pub skipped: Skipped,
}

impl fmt::Display for TraceSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} functions with invocations in the window, {} replayed ({} invocations)",
            self.functions, self.selected, self.invocations
        )?;
        if self.without_data > 0 {
            write!(
                f,
                ", {} left out for lack of duration or memory data",
                self.without_data
            )?;
        }
        if let Some(first) = &self.skipped.first {
            write!(
                f,
                ", {} bad lines skipped (first: {first})",
                self.skipped.lines
            )?;
        }
        Ok(())
    }
}

/// Seconds to ns on the arrival clock (rounded; negative and NaN become 0).
#[inline]
pub(crate) fn at_ns(seconds: f64) -> u64 {
    crate::scenario::secs_to_ns(seconds)
}

/// Joins sources that are each in time order into one stream in time order; arrivals at the
/// same instant leave in source order. The first error ends the stream.
pub fn merge<'a>(sources: Vec<ArrivalSource<'a>>) -> Merge<'a> {
    let mut merge = Merge {
        sources,
        heads: Vec::new(),
        heap: BinaryHeap::new(),
        failed: None,
    };
    merge.heads = (0..merge.sources.len()).map(|_| None).collect();
    if merge.sources.len() == 1 {
        return merge; // read straight by `next`
    }
    for s in 0..merge.sources.len() {
        merge.pull(s);
    }
    merge
}

/// The k-way merge of [`merge`].
pub struct Merge<'a> {
    sources: Vec<ArrivalSource<'a>>,
    heads: Vec<Option<Arrival>>,
    /// (time, source) of every source with a head.
    heap: BinaryHeap<Reverse<(u64, usize)>>,
    failed: Option<TraceError>,
}

impl Merge<'_> {
    /// Reads the next arrival of source `s` into its head.
    fn pull(&mut self, s: usize) {
        match self.sources[s].next() {
            Some(Ok(a)) => {
                if let Some(prev) = self.heads[s] {
                    debug_assert!(a.at_ns >= prev.at_ns, "source {s} went back in time");
                }
                self.heads[s] = Some(a);
                self.heap.push(Reverse((a.at_ns, s)));
            }
            Some(Err(e)) => {
                self.heads[s] = None;
                self.failed.get_or_insert(e);
            }
            None => self.heads[s] = None,
        }
    }
}

impl Iterator for Merge<'_> {
    type Item = ArrivalItem;

    fn next(&mut self) -> Option<ArrivalItem> {
        if let Some(e) = self.failed.take() {
            self.heap.clear();
            return Some(Err(e));
        }
        if self.sources.len() == 1 {
            // One source needs no merging: read it straight (its errors end it the same way).
            return match self.sources[0].next()? {
                Ok(a) => Some(Ok(a)),
                Err(e) => {
                    self.sources.clear();
                    Some(Err(e))
                }
            };
        }
        let Reverse((_, s)) = self.heap.pop()?;
        let head = self.heads[s].take()?;
        self.pull(s);
        Some(Ok(head))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(times: &[u64], action: u32) -> ArrivalSource<'static> {
        let v: Vec<ArrivalItem> = times
            .iter()
            .map(|&t| {
                Ok(Arrival {
                    at_ns: t,
                    workers: 1,
                    tenant: 0,
                    action,
                    work_s: None,
                })
            })
            .collect();
        Box::new(v.into_iter())
    }

    #[test]
    fn merge_orders_by_time_then_source() {
        let merged: Vec<(u64, u32)> = merge(vec![at(&[1, 5, 5, 9], 0), at(&[0, 5, 10], 1)])
            .map(|a| a.map(|a| (a.at_ns, a.action)).unwrap())
            .collect();
        assert_eq!(
            merged,
            vec![(0, 1), (1, 0), (5, 0), (5, 0), (5, 1), (9, 0), (10, 1)]
        );
    }

    #[test]
    fn one_source_passes_straight_and_stops_at_its_error() {
        let times: Vec<u64> = merge(vec![at(&[0, 3, 3, 8], 2)])
            .map(|a| a.unwrap().at_ns)
            .collect();
        assert_eq!(times, vec![0, 3, 3, 8]);
        let failing: ArrivalSource<'static> = Box::new(
            vec![
                Ok(Arrival {
                    at_ns: 1,
                    workers: 1,
                    tenant: 0,
                    action: 0,
                    work_s: None,
                }),
                Err(TraceError::at_line("t.csv", 2, "bad number")),
                Ok(Arrival {
                    at_ns: 5,
                    workers: 1,
                    tenant: 0,
                    action: 0,
                    work_s: None,
                }),
            ]
            .into_iter(),
        );
        let items: Vec<ArrivalItem> = merge(vec![failing]).collect();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].clone().unwrap().at_ns, 1);
        assert_eq!(
            items[1].clone().unwrap_err().to_string(),
            "t.csv:2: bad number"
        );
    }

    #[test]
    fn merge_stops_at_the_first_error() {
        let failing: ArrivalSource<'static> =
            Box::new(vec![Err(TraceError::at_line("t.csv", 7, "bad number"))].into_iter());
        let items: Vec<ArrivalItem> = merge(vec![at(&[1, 2], 0), failing]).collect();
        assert_eq!(items.len(), 1);
        assert_eq!(
            items[0].clone().unwrap_err().to_string(),
            "t.csv:7: bad number"
        );
    }
}
