//! Workloads with steps: a function body as a list of steps (compute, sleep, any collective,
//! repeat), written in TOML as an array of tables tagged by `kind`:
//!
//! ```toml
//! [workload]
//! kind = "steps"
//! [[workload.steps]]
//! kind = "compute"
//! work = 2.0                         # seconds on one core, or a distribution
//! [[workload.steps]]
//! kind = "repeat"
//! times = 10
//! steps = [
//!   { kind = "broadcast", root = 0, bytes = "8 MiB" },
//!   { kind = "compute", work = { dist = "normal", mean = 0.5, std = 0.05 } },
//!   { kind = "reduce", root = 0, bytes = "8 MiB" },
//! ]
//! ```
//!
//! Every worker of a burst runs the same program; the `repeat`s are unrolled into one sequence
//! of *executed steps* ([`Program::sequence`]), numbered from 0, which is what per-step records
//! are indexed by. Compute and sleep times are drawn per worker and per executed step from the
//! burst's `workload` stream ([`Program::burst_draws`]), so the simulator and a live run see
//! the same values.

use serde::{Deserialize, Serialize};

use super::collective::{
    AllToAll, Allreduce, Broadcast, Collective, Gather, Reduce, Scatter, Send,
};
use crate::{Distribution, FieldError};

/// Most executed steps a program may unroll to (a guard against `times = 1e9` typos).
pub const MAX_EXECUTED_STEPS: u64 = 1_000_000;

/// One step of a function body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Busy CPU work: `work` seconds on one dedicated core (slower under CPU sharing).
    Compute {
        /// Seconds of CPU work, or a distribution of it.
        work: Distribution,
    },
    /// Waiting without using a CPU.
    Sleep {
        /// Seconds, or a distribution.
        duration: Distribution,
    },
    /// The inner steps, `times` times in a row.
    Repeat {
        /// Repetitions (>= 1).
        times: u32,
        /// The body.
        steps: Vec<Step>,
    },
    /// Point-to-point messages.
    Send(Send),
    /// One payload from the root to every worker.
    Broadcast(Broadcast),
    /// One message from the root to each other worker.
    Scatter(Scatter),
    /// One message from each other worker to the root.
    Gather(Gather),
    /// One message between every ordered pair of workers.
    AllToAll(AllToAll),
    /// Binary-tree reduction to the root.
    Reduce(Reduce),
    /// Reduce to worker 0 then broadcast from worker 0.
    Allreduce(Allreduce),
}

/// What an executed step does, for records and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// CPU work.
    Compute,
    /// A sleep.
    Sleep,
    /// Point-to-point messages.
    Send,
    /// A broadcast.
    Broadcast,
    /// A scatter.
    Scatter,
    /// A gather.
    Gather,
    /// An all-to-all exchange.
    AllToAll,
    /// A reduction.
    Reduce,
    /// A reduction followed by a broadcast.
    Allreduce,
}

impl StepKind {
    /// The name used in configs and tables (`compute`, `all_to_all`, ...).
    pub fn as_str(&self) -> &'static str {
        match self {
            StepKind::Compute => "compute",
            StepKind::Sleep => "sleep",
            StepKind::Send => "send",
            StepKind::Broadcast => "broadcast",
            StepKind::Scatter => "scatter",
            StepKind::Gather => "gather",
            StepKind::AllToAll => "all_to_all",
            StepKind::Reduce => "reduce",
            StepKind::Allreduce => "allreduce",
        }
    }

    /// True for steps that move data between workers.
    pub fn is_communication(&self) -> bool {
        !matches!(self, StepKind::Compute | StepKind::Sleep)
    }
}

impl Step {
    /// The communication this step performs, if it is a collective or a send.
    pub fn collective(&self) -> Option<Collective> {
        Some(match self {
            Step::Send(s) => Collective::Send(s.clone()),
            Step::Broadcast(b) => Collective::Broadcast(b.clone()),
            Step::Scatter(s) => Collective::Scatter(s.clone()),
            Step::Gather(g) => Collective::Gather(g.clone()),
            Step::AllToAll(a) => Collective::AllToAll(a.clone()),
            Step::Reduce(r) => Collective::Reduce(r.clone()),
            Step::Allreduce(a) => Collective::Allreduce(a.clone()),
            Step::Compute { .. } | Step::Sleep { .. } | Step::Repeat { .. } => return None,
        })
    }

    /// The kind of an executed (non-`repeat`) step; `None` for `repeat`.
    pub fn kind(&self) -> Option<StepKind> {
        Some(match self {
            Step::Compute { .. } => StepKind::Compute,
            Step::Sleep { .. } => StepKind::Sleep,
            Step::Repeat { .. } => return None,
            Step::Send(_) => StepKind::Send,
            Step::Broadcast(_) => StepKind::Broadcast,
            Step::Scatter(_) => StepKind::Scatter,
            Step::Gather(_) => StepKind::Gather,
            Step::AllToAll(_) => StepKind::AllToAll,
            Step::Reduce(_) => StepKind::Reduce,
            Step::Allreduce(_) => StepKind::Allreduce,
        })
    }

    /// The distribution of a compute or sleep step's seconds.
    pub fn seconds(&self) -> Option<&Distribution> {
        match self {
            Step::Compute { work } => Some(work),
            Step::Sleep { duration } => Some(duration),
            _ => None,
        }
    }
}

/// A function body made of steps (the `steps` workload).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Program {
    /// The top-level steps, in order.
    pub steps: Vec<Step>,
}

impl Program {
    /// Checks what does not depend on the burst size; the error's path is relative to the
    /// step list (`[1].steps[0].work`).
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.steps.is_empty() {
            return Err(FieldError::new("", "at least one step", "none"));
        }
        validate_steps(&self.steps)?;
        let executed = executed_count(&self.steps);
        if executed > MAX_EXECUTED_STEPS {
            return Err(FieldError::new(
                "",
                format!("at most {MAX_EXECUTED_STEPS} executed steps (repeats unrolled)"),
                executed,
            ));
        }
        Ok(())
    }

    /// Checks the worker ids of every collective against a burst of `workers`.
    pub fn validate_for(&self, workers: u32) -> Result<(), FieldError> {
        fn walk(steps: &[Step], workers: u32) -> Result<(), FieldError> {
            for (i, step) in steps.iter().enumerate() {
                let at = |e: FieldError| e.under(&format!("[{i}]"));
                if let Step::Repeat { steps, .. } = step {
                    walk(steps, workers)
                        .map_err(|e| e.under("steps"))
                        .map_err(at)?;
                } else if let Some(c) = step.collective() {
                    c.validate_for(workers).map_err(at)?;
                }
            }
            Ok(())
        }
        walk(&self.steps, workers)
    }

    /// The executed (non-`repeat`) steps of the program in template order: each appears once
    /// here however many times it runs.
    pub fn leaves(&self) -> Vec<&Step> {
        fn walk<'a>(steps: &'a [Step], out: &mut Vec<&'a Step>) {
            for s in steps {
                match s {
                    Step::Repeat { steps, .. } => walk(steps, out),
                    leaf => out.push(leaf),
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.steps, &mut out);
        out
    }

    /// The executed sequence: for executed step i, the index of its leaf in
    /// [`Program::leaves`]. Validate first (its length is bounded by [`MAX_EXECUTED_STEPS`]).
    pub fn sequence(&self) -> Vec<u32> {
        fn walk(steps: &[Step], next_leaf: &mut u32, out: &mut Vec<u32>) {
            for s in steps {
                match s {
                    Step::Repeat { times, steps } => {
                        let first_leaf = *next_leaf;
                        for _ in 0..*times {
                            *next_leaf = first_leaf;
                            walk(steps, next_leaf, out);
                        }
                        if *times == 0 {
                            // Skip the body's leaves so later leaves keep their index.
                            let mut sink = Vec::new();
                            walk(steps, next_leaf, &mut sink);
                        }
                    }
                    _ => {
                        out.push(*next_leaf);
                        *next_leaf += 1;
                    }
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.steps, &mut 0, &mut out);
        out
    }

    /// True when some step needs a CPU (compute).
    pub fn is_cpu_bound(&self) -> bool {
        self.leaves()
            .iter()
            .any(|s| matches!(s, Step::Compute { .. }))
    }

    /// True when some step communicates.
    pub fn communicates(&self) -> bool {
        self.leaves().iter().any(|s| s.collective().is_some())
    }

    /// Seconds of each compute or sleep step that worker `index` executes, in executed order,
    /// drawn from `rng`. `leaves` and `sequence` are [`Program::leaves`] and
    /// [`Program::sequence`] (computed once by the caller).
    pub fn draw_worker<R: rand::Rng + ?Sized>(
        leaves: &[&Step],
        sequence: &[u32],
        index: u64,
        rng: &mut R,
    ) -> Vec<f64> {
        sequence
            .iter()
            .filter_map(|&leaf| leaves[leaf as usize].seconds())
            .map(|d| d.sample(index, rng))
            .collect()
    }

    /// The drawn seconds of every worker of burst number `burst` (its index in the run), in
    /// worker order, from the burst's `workload` stream for `seed`: worker 0's steps first,
    /// then worker 1's, ... The simulator and the live executor both draw through here.
    pub fn burst_draws(&self, seed: u64, burst: u64, workers: u32) -> Vec<Vec<f64>> {
        let leaves = self.leaves();
        let sequence = self.sequence();
        let mut rng = crate::rng::stream(seed, "workload", burst);
        (0..workers as u64)
            .map(|k| Self::draw_worker(&leaves, &sequence, k, &mut rng))
            .collect()
    }
}

fn validate_steps(steps: &[Step]) -> Result<(), FieldError> {
    for (i, step) in steps.iter().enumerate() {
        let at = |e: FieldError| e.under(&format!("[{i}]"));
        match step {
            Step::Compute { work } => work.validate().map_err(|e| e.under("work")).map_err(at)?,
            Step::Sleep { duration } => duration
                .validate()
                .map_err(|e| e.under("duration"))
                .map_err(at)?,
            Step::Repeat { times, steps } => {
                if *times == 0 {
                    return Err(at(FieldError::new("times", "an integer >= 1", 0)));
                }
                if steps.is_empty() {
                    return Err(at(FieldError::new("steps", "at least one step", "none")));
                }
                validate_steps(steps)
                    .map_err(|e| e.under("steps"))
                    .map_err(at)?;
            }
            other => {
                if let Some(c) = other.collective() {
                    c.validate().map_err(at)?;
                }
            }
        }
    }
    Ok(())
}

/// Executed steps of `steps` with repeats unrolled (saturating).
fn executed_count(steps: &[Step]) -> u64 {
    steps
        .iter()
        .map(|s| match s {
            Step::Repeat { times, steps } => (*times as u64).saturating_mul(executed_count(steps)),
            _ => 1,
        })
        .fold(0u64, |a, b| a.saturating_add(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Program {
        #[derive(Deserialize)]
        struct W {
            steps: Program,
        }
        toml::from_str::<W>(text).unwrap().steps
    }

    const PAGERANK: &str = r#"
[[steps]]
kind = "compute"
work = 2.0
[[steps]]
kind = "repeat"
times = 3
steps = [
  { kind = "broadcast", root = 0, bytes = "8 MiB" },
  { kind = "compute", work = { dist = "uniform", min = 0.1, max = 0.2 } },
  { kind = "reduce", bytes = 1024 },
]
[[steps]]
kind = "sleep"
duration = 0.5
"#;

    #[test]
    fn repeats_unroll_into_the_executed_sequence() {
        let p = parse(PAGERANK);
        p.validate().unwrap();
        let leaves = p.leaves();
        assert_eq!(leaves.len(), 5);
        assert_eq!(p.sequence(), vec![0, 1, 2, 3, 1, 2, 3, 1, 2, 3, 4]);
        assert!(p.is_cpu_bound() && p.communicates());
        let draws = p.burst_draws(7, 0, 3);
        assert_eq!(draws.len(), 3);
        // compute 2.0, three drawn computes, sleep 0.5
        assert_eq!(draws[0].len(), 5);
        assert_eq!(draws[0][0], 2.0);
        assert!((0.1..0.2).contains(&draws[1][2]));
        assert_eq!(draws, p.burst_draws(7, 0, 3));
    }

    #[test]
    fn errors_name_the_step_path() {
        let p = parse(&PAGERANK.replace("times = 3", "times = 0"));
        assert_eq!(p.validate().unwrap_err().path, "[1].times");
        let p = parse(&PAGERANK.replace("max = 0.2", "max = -0.2"));
        assert_eq!(p.validate().unwrap_err().path, "[1].steps[1].work.max");
        let p = parse(&PAGERANK.replace("root = 0, bytes = \"8 MiB\"", "root = 9, bytes = 1"));
        p.validate().unwrap();
        let e = p.validate_for(4).unwrap_err();
        assert_eq!(e.path, "[1].steps[0].root");
        let p = parse(&PAGERANK.replace("times = 3", "times = 4000000"));
        assert!(p
            .validate()
            .unwrap_err()
            .expected
            .contains("executed steps"));
    }

    #[test]
    fn unknown_keys_and_kinds_are_refused() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct W {
            steps: Program,
        }
        let e = toml::from_str::<W>("[[steps]]\nkind = \"broadcast\"\nbytes = 1\nroots = 0\n")
            .unwrap_err();
        assert!(e.to_string().contains("unknown field `roots`"), "{e}");
        let e = toml::from_str::<W>("[[steps]]\nkind = \"teleport\"\n").unwrap_err();
        assert!(e.to_string().contains("unknown variant `teleport`"), "{e}");
    }
}
