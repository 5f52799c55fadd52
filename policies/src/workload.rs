//! What each function does. The simulator models its duration; the executor runs it for real.
//! `sleep`, `cpu` and `montecarlo` are single-body workloads (one-step programs: a sleep, or
//! CPU work of a drawn length); `steps` is a program of compute, sleep and communication steps
//! ([`crate::comm::Program`]).

use serde::{Deserialize, Serialize};

use crate::comm::Program;
use crate::{Distribution, FieldError};

/// A function body, written in TOML as a table tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Workload {
    /// Sleeps; takes no CPU, so it does not slow down under CPU sharing.
    Sleep {
        /// Seconds of sleep per function.
        duration: Distribution,
    },
    /// Busy CPU work: `work` seconds on one dedicated core; slower under processor sharing.
    Cpu {
        /// Seconds of CPU work per function, on one dedicated core.
        work: Distribution,
    },
    /// Monte Carlo estimate of pi: `points` random points per function, at
    /// `seconds_per_million_points` on one dedicated core. CPU-bound.
    Montecarlo {
        /// Random points per function.
        points: Distribution,
        /// Time for a million points on one dedicated core (a property of the machine).
        seconds_per_million_points: f64,
    },
    /// A program of steps: compute, sleep, collectives, repeat.
    Steps {
        /// The steps, in order.
        steps: Program,
    },
}

impl Workload {
    /// True when the body needs a CPU to progress (so it slows down under sharing).
    pub fn is_cpu_bound(&self) -> bool {
        match self {
            Workload::Sleep { .. } => false,
            Workload::Cpu { .. } | Workload::Montecarlo { .. } => true,
            Workload::Steps { steps } => steps.is_cpu_bound(),
        }
    }

    /// The step program of a `steps` workload (`None` for single-body workloads).
    pub fn program(&self) -> Option<&Program> {
        match self {
            Workload::Steps { steps } => Some(steps),
            _ => None,
        }
    }

    /// Checks the parameters; the error's path is relative to the workload table.
    pub fn validate(&self) -> Result<(), FieldError> {
        match self {
            Workload::Sleep { duration } => duration.validate().map_err(|e| e.under("duration")),
            Workload::Cpu { work } => work.validate().map_err(|e| e.under("work")),
            Workload::Montecarlo {
                points,
                seconds_per_million_points,
            } => {
                points.validate().map_err(|e| e.under("points"))?;
                if !(seconds_per_million_points.is_finite() && *seconds_per_million_points > 0.0) {
                    return Err(FieldError::new(
                        "seconds_per_million_points",
                        "a number > 0",
                        seconds_per_million_points,
                    ));
                }
                Ok(())
            }
            Workload::Steps { steps } => steps.validate().map_err(|e| e.under("steps")),
        }
    }
}

/// One function's input, drawn from the workload for function `index` of its group.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FunctionInput {
    /// Sleep this long.
    Sleep {
        /// Seconds of sleep.
        seconds: f64,
    },
    /// Busy work of this length on one dedicated core.
    Cpu {
        /// Seconds of CPU work.
        seconds: f64,
    },
    /// Draw this many random points.
    Montecarlo {
        /// Random points to draw.
        points: u64,
        /// Time for a million points on one dedicated core.
        seconds_per_million_points: f64,
    },
    /// Runs the burst's step program (live runs): its compute and sleep times travel with the
    /// program, drawn by [`Program::burst_draws`].
    Steps,
    /// A crashing function (fault injection in live runs): sleeps `seconds`, then its worker
    /// process exits with `code`.
    Exit {
        /// Seconds before it exits.
        seconds: f64,
        /// The worker's exit code.
        code: i32,
    },
    /// A memory-hungry function (fault injection in live runs): touches `megabytes` of memory
    /// and holds it for `seconds`; past its container's memory limit it is OOM-killed.
    Allocate {
        /// Memory touched, MB.
        megabytes: u64,
        /// Seconds it holds the memory.
        seconds: f64,
    },
}

impl FunctionInput {
    /// Seconds the function takes on one dedicated core (or asleep); a step program's depend
    /// on its partners, so it has none (NaN).
    pub fn solo_seconds(&self) -> f64 {
        match *self {
            FunctionInput::Sleep { seconds }
            | FunctionInput::Cpu { seconds }
            | FunctionInput::Exit { seconds, .. }
            | FunctionInput::Allocate { seconds, .. } => seconds,
            FunctionInput::Montecarlo {
                points,
                seconds_per_million_points,
            } => points as f64 / 1e6 * seconds_per_million_points,
            FunctionInput::Steps => f64::NAN,
        }
    }

    /// True when the function needs a CPU to progress (so it slows down under sharing).
    pub fn is_cpu_bound(&self) -> bool {
        matches!(
            self,
            FunctionInput::Cpu { .. } | FunctionInput::Montecarlo { .. }
        )
    }
}

impl Workload {
    /// The inputs of the `workers` functions of burst number `burst` (its index in the run),
    /// in worker order, drawn lazily from the `workload` stream of that burst for `seed`. The
    /// simulator and the live executor both draw through here, so a live run gives its
    /// functions exactly the simulated work. A `steps` workload has no single input: it yields
    /// nothing here and draws through [`Program::burst_draws`].
    pub fn burst_inputs(&self, seed: u64, burst: u64, workers: u32) -> BurstInputs<'_> {
        BurstInputs {
            workload: self,
            // Created on the first draw: constant inputs (a common benchmark case) draw nothing.
            rng: crate::rng::LazyStream::new(seed, "workload", burst),
            next: 0,
            count: if self.program().is_some() {
                0
            } else {
                workers as u64
            },
        }
    }

    /// The input every function gets when the workload draws nothing (a constant duration,
    /// work or point count): what [`Workload::input`] returns for any index and stream.
    pub fn constant_input(&self) -> Option<FunctionInput> {
        let constant = match self {
            Workload::Sleep { duration: d } | Workload::Cpu { work: d } => d,
            Workload::Montecarlo { points, .. } => points,
            Workload::Steps { .. } => return None,
        };
        if !matches!(constant, Distribution::Constant { .. }) {
            return None;
        }
        // A constant never reads the stream: any one gives the same input.
        let mut unused = crate::rng::stream(0, "workload", 0);
        self.input(0, &mut unused)
    }

    /// Draws the input of function `index` of its group (`None` for a `steps` workload, whose
    /// draws come from [`Program::burst_draws`]).
    pub fn input<R: rand::Rng + ?Sized>(&self, index: u64, rng: &mut R) -> Option<FunctionInput> {
        Some(match self {
            Workload::Sleep { duration } => FunctionInput::Sleep {
                seconds: duration.sample(index, rng),
            },
            Workload::Cpu { work } => FunctionInput::Cpu {
                seconds: work.sample(index, rng),
            },
            Workload::Montecarlo {
                points,
                seconds_per_million_points,
            } => FunctionInput::Montecarlo {
                points: points.sample(index, rng).round() as u64,
                seconds_per_million_points: *seconds_per_million_points,
            },
            Workload::Steps { .. } => return None,
        })
    }
}

/// The inputs of one burst's functions, in worker order: [`Workload::burst_inputs`]. A named
/// type, so that a caller can keep it per burst without boxing it.
#[derive(Debug, Clone)]
pub struct BurstInputs<'a> {
    workload: &'a Workload,
    rng: crate::rng::LazyStream,
    next: u64,
    count: u64,
}

impl Iterator for BurstInputs<'_> {
    type Item = FunctionInput;

    fn next(&mut self) -> Option<FunctionInput> {
        while self.next < self.count {
            let k = self.next;
            self.next += 1;
            if let Some(input) = self.workload.input(k, &mut self.rng) {
                return Some(input);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_constant_input_is_what_every_draw_gives() {
        let constant = [
            Workload::Cpu {
                work: Distribution::constant(1.5),
            },
            Workload::Sleep {
                duration: Distribution::constant(0.25),
            },
            Workload::Montecarlo {
                points: Distribution::constant(2e6),
                seconds_per_million_points: 0.5,
            },
        ];
        for workload in &constant {
            let input = workload.constant_input().expect("a constant workload");
            for burst in [0, 7] {
                for drawn in workload.burst_inputs(42, burst, 3) {
                    assert_eq!(drawn, input);
                }
            }
        }
        let drawn = Workload::Cpu {
            work: Distribution::Uniform { min: 1.0, max: 2.0 },
        };
        assert_eq!(drawn.constant_input(), None);
        let per_function = Workload::Sleep {
            duration: Distribution::PerFunction {
                values: vec![1.0, 2.0],
            },
        };
        assert_eq!(per_function.constant_input(), None);
    }
}
