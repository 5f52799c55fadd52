//! Recovery policies: what a controller does when an attempt of a function fails (its invoker
//! or agent is lost, its worker crashes or is OOM-killed, its container cannot start) or
//! straggles. Named in config like placement policies (`[recovery] name = "rerun-pack"`), printed
//! and parsed in the same `name { key = value }` form, and built into a [`RecoveryPolicy`]
//! that the simulator and the live controller both ask, so a policy means the same on both
//! sides. Pure: the caller supplies attempt numbers and elapsed times.
//!
//! | name | on a failed attempt | stragglers |
//! |---|---|---|
//! | `none` (default) | the function stays failed; the rest of its burst carries on | - |
//! | `fail-burst` | the burst fails: its functions still running are stopped | - |
//! | `rerun-failed-workers { retries = 2 }` | the failed functions run again in a new container, on another invoker when one could ever hold them | - |
//! | `rerun-pack { retries = 2 }` | the failed function's whole container (its pack) runs again, elsewhere likewise; the pack's completed results are discarded | - |
//! | `speculate-stragglers { after = 0.9, retries = 2 }` | as `rerun-failed-workers` | once a fraction `after` of the burst has finished, each attempt still running longer than the burst's `after`-quantile gets one backup copy elsewhere; the first copy to finish wins, the other is stopped |
//! | `openwhisk { client_retries = 0 }` | FaaS: the activation fails; the client sends it again, up to `client_retries` times, placed like a new invocation | - |

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::spec::parse_named;
use crate::{ClusterView, FieldError};

/// Most re-runs a policy may allow per function: a bound on work done for one function.
pub const MAX_RETRIES: u32 = 100;

/// A recovery policy and its parameters, tagged by `name` in TOML.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(
    tag = "name",
    rename_all = "kebab-case",
    deny_unknown_fields,
    from = "RecoveryRepr"
)]
pub enum RecoverySpec {
    /// No recovery: a failed function stays failed, the rest of its burst carries on.
    #[default]
    None,
    /// A failed function fails its burst: the burst's functions still running are stopped
    /// (recorded failed, `burst failed: ...`); those that completed keep their outcome.
    FailBurst,
    /// A failed function runs again (a new attempt) in a new container, on another invoker
    /// when the others could ever hold it; at most `retries` re-runs per function.
    RerunFailedWorkers {
        /// Re-runs per function, `0..=MAX_RETRIES`.
        #[serde(default = "default_retries")]
        retries: u32,
    },
    /// A failed function's whole container (its pack: the workers that share memory) runs
    /// again as one, elsewhere as above; the results its other workers completed in the failed
    /// attempt are discarded (recorded failed, `pack re-run: ...`).
    RerunPack {
        /// Re-runs per function, `0..=MAX_RETRIES`.
        #[serde(default = "default_retries")]
        retries: u32,
    },
    /// Failures as `rerun-failed-workers`; and once a fraction `after` of a burst's functions
    /// have finished, each attempt still running longer than the `after`-quantile of their
    /// times gets one backup copy; the first copy to finish wins, the other is stopped
    /// (recorded failed, `superseded by attempt N`).
    SpeculateStragglers {
        /// The quantile, in `(0, 1]`.
        after: f64,
        /// Re-runs of failed functions, `0..=MAX_RETRIES` (backup copies are not counted).
        #[serde(default = "default_retries")]
        retries: u32,
    },
    /// OpenWhisk's behaviour for FaaS: a failed activation fails; the client sends it again
    /// up to `client_retries` times, placed like a new invocation.
    Openwhisk {
        /// Re-sends per invocation by the client, `0..=MAX_RETRIES`.
        #[serde(default)]
        client_retries: u32,
    },
}

fn default_retries() -> u32 {
    2
}

/// What `RecoverySpec` deserialises through: empty struct variants for the parameterless
/// policies, so that extra keys are rejected (serde does not apply `deny_unknown_fields` to
/// unit variants of an internally tagged enum).
#[derive(Deserialize)]
#[serde(tag = "name", rename_all = "kebab-case", deny_unknown_fields)]
enum RecoveryRepr {
    None {},
    FailBurst {},
    RerunFailedWorkers {
        #[serde(default = "default_retries")]
        retries: u32,
    },
    RerunPack {
        #[serde(default = "default_retries")]
        retries: u32,
    },
    SpeculateStragglers {
        after: f64,
        #[serde(default = "default_retries")]
        retries: u32,
    },
    Openwhisk {
        #[serde(default)]
        client_retries: u32,
    },
}

impl From<RecoveryRepr> for RecoverySpec {
    fn from(r: RecoveryRepr) -> Self {
        match r {
            RecoveryRepr::None {} => RecoverySpec::None,
            RecoveryRepr::FailBurst {} => RecoverySpec::FailBurst,
            RecoveryRepr::RerunFailedWorkers { retries } => {
                RecoverySpec::RerunFailedWorkers { retries }
            }
            RecoveryRepr::RerunPack { retries } => RecoverySpec::RerunPack { retries },
            RecoveryRepr::SpeculateStragglers { after, retries } => {
                RecoverySpec::SpeculateStragglers { after, retries }
            }
            RecoveryRepr::Openwhisk { client_retries } => {
                RecoverySpec::Openwhisk { client_retries }
            }
        }
    }
}

impl RecoverySpec {
    /// The policy object this spec names.
    pub fn build(&self) -> Box<dyn RecoveryPolicy> {
        match *self {
            RecoverySpec::None => Box::new(NoRecovery),
            RecoverySpec::FailBurst => Box::new(FailBurst),
            RecoverySpec::RerunFailedWorkers { retries } => Box::new(Rerun {
                retries,
                scope: RerunScope::Functions,
            }),
            RecoverySpec::RerunPack { retries } => Box::new(Rerun {
                retries,
                scope: RerunScope::Pack,
            }),
            RecoverySpec::SpeculateStragglers { after, retries } => {
                Box::new(SpeculateStragglers { after, retries })
            }
            RecoverySpec::Openwhisk { client_retries } => Box::new(Rerun {
                retries: client_retries,
                scope: RerunScope::Invocation,
            }),
        }
    }

    /// The name as written in config (`rerun-pack`).
    pub fn name(&self) -> &'static str {
        match self {
            RecoverySpec::None => "none",
            RecoverySpec::FailBurst => "fail-burst",
            RecoverySpec::RerunFailedWorkers { .. } => "rerun-failed-workers",
            RecoverySpec::RerunPack { .. } => "rerun-pack",
            RecoverySpec::SpeculateStragglers { .. } => "speculate-stragglers",
            RecoverySpec::Openwhisk { .. } => "openwhisk",
        }
    }

    /// True when it applies to burst placement policies (all but `openwhisk`).
    pub fn for_bursts(&self) -> bool {
        !matches!(self, RecoverySpec::Openwhisk { .. })
    }

    /// True when it applies to FaaS placement (`none` and `openwhisk`).
    pub fn for_faas(&self) -> bool {
        matches!(self, RecoverySpec::None | RecoverySpec::Openwhisk { .. })
    }

    /// Checks the parameters; the error's path is relative to the recovery table.
    pub fn validate(&self) -> Result<(), FieldError> {
        let retries = |field: &str, n: u32| {
            if n > MAX_RETRIES {
                Err(FieldError::new(
                    field,
                    format!("an integer in 0..={MAX_RETRIES}"),
                    n,
                ))
            } else {
                Ok(())
            }
        };
        match *self {
            RecoverySpec::None | RecoverySpec::FailBurst => Ok(()),
            RecoverySpec::RerunFailedWorkers { retries: n }
            | RecoverySpec::RerunPack { retries: n } => retries("retries", n),
            RecoverySpec::SpeculateStragglers { after, retries: n } => {
                if !(after > 0.0 && after <= 1.0) {
                    return Err(FieldError::new("after", "a quantile in (0, 1]", after));
                }
                retries("retries", n)
            }
            RecoverySpec::Openwhisk { client_retries } => retries("client_retries", client_retries),
        }
    }
}

impl fmt::Display for RecoverySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.name();
        match self {
            RecoverySpec::None | RecoverySpec::FailBurst => write!(f, "{name}"),
            RecoverySpec::RerunFailedWorkers { retries } | RecoverySpec::RerunPack { retries } => {
                write!(f, "{name} {{ retries = {retries} }}")
            }
            RecoverySpec::SpeculateStragglers { after, retries } => {
                // `{:?}` keeps a decimal point (1.0, not 1), so the value reads back as a float.
                write!(f, "{name} {{ after = {after:?}, retries = {retries} }}")
            }
            RecoverySpec::Openwhisk { client_retries } => {
                write!(f, "{name} {{ client_retries = {client_retries} }}")
            }
        }
    }
}

/// Parses `name` or `name { key = value, ... }`, the form `Display` prints; omitted parameters
/// take their TOML defaults and unknown ones are rejected.
impl FromStr for RecoverySpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let spec: RecoverySpec = parse_named(
            s,
            "recovery policy",
            "`rerun-failed-workers { retries = 2 }`",
        )?;
        spec.validate()
            .map_err(|e| format!("in recovery policy `{}`: {e}", s.trim()))?;
        Ok(spec)
    }
}

/// What a controller does about one failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// The function stays failed; nothing else changes.
    Keep,
    /// The function's burst fails: its functions still running are stopped.
    FailBurst,
    /// The function runs again as its next attempt, with this scope.
    Rerun(RerunScope),
}

/// What a re-run covers and where it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RerunScope {
    /// The failed functions only, in a new container placed away from the invoker they
    /// failed on (see [`avoiding`]).
    Functions,
    /// Every function of the failed attempt's container, together, placed away likewise.
    Pack,
    /// A FaaS invocation sent again by the client, placed like a new one.
    Invocation,
}

/// A recovery policy: pure decisions from attempt numbers and elapsed times.
pub trait RecoveryPolicy: fmt::Debug + Send + Sync {
    /// What to do now that attempt `attempt` (0-based) of a function has failed. The re-run
    /// that a `Rerun` asks for is attempt `attempt + 1`.
    fn on_failure(&self, attempt: u32) -> Recovery;

    /// Backup copies of stragglers: given a burst of `workers` functions and the times (from
    /// submission to end, any unit) of its functions that finished, sorted ascending, the time
    /// past which a function still running gets a backup copy; `None`: no backups (yet).
    fn backup_after(&self, workers: u32, finished_sorted: &[f64]) -> Option<f64> {
        let _ = (workers, finished_sorted);
        None
    }
}

/// `none`.
#[derive(Debug, Clone, Copy)]
pub struct NoRecovery;

impl RecoveryPolicy for NoRecovery {
    fn on_failure(&self, _attempt: u32) -> Recovery {
        Recovery::Keep
    }
}

/// `fail-burst`.
#[derive(Debug, Clone, Copy)]
pub struct FailBurst;

impl RecoveryPolicy for FailBurst {
    fn on_failure(&self, _attempt: u32) -> Recovery {
        Recovery::FailBurst
    }
}

/// `rerun-failed-workers`, `rerun-pack` and `openwhisk`: re-run with `scope` while the
/// function has had fewer than `retries` re-runs, then keep the failure.
#[derive(Debug, Clone, Copy)]
pub struct Rerun {
    /// Re-runs per function.
    pub retries: u32,
    /// What a re-run covers.
    pub scope: RerunScope,
}

impl RecoveryPolicy for Rerun {
    fn on_failure(&self, attempt: u32) -> Recovery {
        if attempt < self.retries {
            Recovery::Rerun(self.scope)
        } else {
            Recovery::Keep
        }
    }
}

/// `speculate-stragglers`.
#[derive(Debug, Clone, Copy)]
pub struct SpeculateStragglers {
    /// The quantile of the burst past which a running function is a straggler.
    pub after: f64,
    /// Re-runs of failed functions.
    pub retries: u32,
}

impl RecoveryPolicy for SpeculateStragglers {
    fn on_failure(&self, attempt: u32) -> Recovery {
        Rerun {
            retries: self.retries,
            scope: RerunScope::Functions,
        }
        .on_failure(attempt)
    }

    fn backup_after(&self, workers: u32, finished_sorted: &[f64]) -> Option<f64> {
        // The `after`-quantile is known once ceil(after * workers) functions have finished: it
        // is the last of them (nearest rank).
        let rank = ((self.after * workers as f64).ceil() as usize).max(1);
        finished_sorted.get(rank - 1).copied()
    }
}

/// The view a re-run away from `invoker` is placed on: `invoker` marked unhealthy, unless the
/// other healthy invokers together have fewer than `cpus` CPUs (they could never hold it), in
/// which case the view is unchanged.
pub fn avoiding(view: &ClusterView, invoker: u32, cpus: u32) -> ClusterView {
    let mut away = view.clone();
    if let Some(inv) = away.invokers.get_mut(invoker as usize) {
        inv.healthy = false;
    }
    if away.total_cpus() >= u64::from(cpus) {
        away
    } else {
        view.clone()
    }
}
