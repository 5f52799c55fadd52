//! Policies as named in config files: `[policy] name = "burst-homogeneous"` plus parameters.
//! A spec prints itself the way it is written, e.g. `burst-homogeneous { granularity = 6 }`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::PlacementPolicy;

/// A policy and its parameters, tagged by `name` in TOML.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "kebab-case", deny_unknown_fields)]
pub enum PolicySpec {
    /// OpenWhisk's ShardingContainerPoolBalancer (vanilla FaaS).
    Faas,
    /// Containers of exactly `granularity` workers, spread over invokers by free CPUs.
    BurstHomogeneous {
        granularity: u32,
        /// Merge the containers of the burst that land on the same invoker.
        #[serde(default)]
        join: bool,
    },
    /// Fill the invokers with most free CPUs first, one container per invoker.
    BurstHeterogeneous {
        #[serde(default = "default_true")]
        join: bool,
    },
    /// Best-fit packing: the invoker whose free CPUs fit the rest most tightly first.
    BurstBestFit,
    /// Containers of `granularity` workers dealt round-robin over invokers.
    BurstRoundRobin { granularity: u32 },
}

fn default_true() -> bool {
    true
}

impl PolicySpec {
    /// The policy object this spec names.
    pub fn build(&self) -> Box<dyn PlacementPolicy> {
        match *self {
            PolicySpec::Faas => Box::new(crate::faas::ShardingBalancer),
            PolicySpec::BurstHomogeneous { granularity, join } => {
                Box::new(crate::homogeneous::Homogeneous { granularity, join })
            }
            PolicySpec::BurstHeterogeneous { join } => {
                Box::new(crate::heterogeneous::Heterogeneous { join })
            }
            PolicySpec::BurstBestFit => Box::new(crate::best_fit::BestFit),
            PolicySpec::BurstRoundRobin { granularity } => {
                Box::new(crate::round_robin::RoundRobin { granularity })
            }
        }
    }

    /// True for burst policies (one exclusive CPU per worker).
    pub fn is_burst(&self) -> bool {
        !matches!(self, PolicySpec::Faas)
    }

    /// Checks the parameters; the error names the field (relative to the policy table).
    pub fn validate(&self) -> Result<(), (String, String)> {
        match *self {
            PolicySpec::BurstHomogeneous { granularity, .. }
            | PolicySpec::BurstRoundRobin { granularity } => {
                if granularity == 0 {
                    return Err(("granularity".into(), "expected an integer >= 1, got 0".into()));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

impl fmt::Display for PolicySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicySpec::Faas => write!(f, "faas"),
            PolicySpec::BurstHomogeneous { granularity, join } => write!(
                f,
                "burst-homogeneous {{ granularity = {granularity}, join = {join} }}"
            ),
            PolicySpec::BurstHeterogeneous { join } => {
                write!(f, "burst-heterogeneous {{ join = {join} }}")
            }
            PolicySpec::BurstBestFit => write!(f, "burst-best-fit"),
            PolicySpec::BurstRoundRobin { granularity } => {
                write!(f, "burst-round-robin {{ granularity = {granularity} }}")
            }
        }
    }
}
