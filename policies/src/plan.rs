//! The output of a placement policy: containers, each on one invoker, each running a contiguous
//! range of worker ids with one CPU per worker.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// One container of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ContainerPlacement {
    /// Invoker id (index into `ClusterView::invokers`).
    pub invoker: u32,
    /// First worker id (inclusive).
    pub first_worker: u32,
    /// Number of workers, equal to the number of CPUs the container gets (at least 1).
    pub workers: u32,
}

impl ContainerPlacement {
    /// Last worker id (inclusive), as in the burst-info payload.
    pub fn last_worker(&self) -> u32 {
        self.first_worker + self.workers - 1
    }
}

/// Where every worker of a request goes. Containers are listed in worker-id order and their
/// ranges are contiguous, disjoint and cover `0..workers`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacementPlan {
    /// The containers, in worker-id order.
    pub containers: Vec<ContainerPlacement>,
    /// True when the policy placed work beyond an invoker's capacity (OpenWhisk's overload case:
    /// a random healthy invoker was forced).
    pub overloaded: bool,
}

impl PlacementPlan {
    /// Number of workers the plan places.
    pub fn workers(&self) -> u32 {
        self.containers.iter().map(|c| c.workers).sum()
    }
}

/// Why a request could not be placed.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize, Deserialize)]
pub enum PlacementError {
    /// Every invoker is unhealthy.
    #[error("no healthy invoker")]
    NoHealthyInvoker,
    /// Not enough free CPUs now; the request may fit later.
    #[error("burst of {needed} workers does not fit in {free} free CPUs")]
    DoesNotFit {
        /// Workers of the request.
        needed: u64,
        /// Free CPUs over healthy invokers.
        free: u64,
    },
    /// The healthy cluster cannot hold the request even when idle: more workers than CPUs, or
    /// containers of `granularity` workers larger than any invoker (or too many of them).
    #[error("{}", never_fits_message(*needed, *granularity, *total, *largest))]
    NeverFits {
        /// Workers of the request.
        needed: u64,
        /// Workers per container the policy packs (`None`: a burst may be split anywhere).
        granularity: Option<u32>,
        /// CPUs over healthy invokers.
        total: u64,
        /// CPUs of the largest healthy invoker.
        largest: u32,
    },
    /// The request asks for 0 workers.
    #[error("request has no workers")]
    Empty,
}

fn cpus(n: impl Into<u64>) -> String {
    let n = n.into();
    format!("{n} CPU{}", if n == 1 { "" } else { "s" })
}

/// Why a request can never fit, naming what is too small: the largest invoker when one
/// container is bigger than it, the whole cluster otherwise.
fn never_fits_message(needed: u64, granularity: Option<u32>, total: u64, largest: u32) -> String {
    match granularity {
        Some(g) => {
            let container = (g as u64).min(needed);
            let at = format!("burst of {needed} workers at granularity {g} can never fit");
            if container > largest as u64 {
                format!(
                    "{at}: a container of {container} workers needs {}, the largest invoker has {}",
                    cpus(container),
                    cpus(largest)
                )
            } else if g <= 1 {
                format!("{at}: the cluster has {}", cpus(total))
            } else {
                format!(
                    "{at}: the cluster has {} (the largest invoker {}), too few for containers \
                     of {g} workers",
                    cpus(total),
                    cpus(largest)
                )
            }
        }
        None => format!(
            "burst of {needed} workers can never fit: the cluster has {}",
            cpus(total)
        ),
    }
}
