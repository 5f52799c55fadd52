//! Policies as named in config files: `[policy] name = "burst-homogeneous"` plus parameters.
//! A spec prints itself as `burst-homogeneous { granularity = 6, join = false }` (every
//! parameter, TOML values), and `FromStr` parses that form back, so labels in reports and CLI
//! arguments name a policy the same way.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{FieldError, PlacementPolicy};

/// A policy and its parameters, tagged by `name` in TOML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "name",
    rename_all = "kebab-case",
    deny_unknown_fields,
    from = "SpecRepr"
)]
pub enum PolicySpec {
    /// OpenWhisk's ShardingContainerPoolBalancer (vanilla FaaS).
    Faas {
        /// Share of the invokers, from the start of the list, for managed actions
        /// (`whisk.loadbalancer.managed-fraction`, default 0.9).
        managed_fraction: f64,
        /// Share of the invokers, from the end of the list, for blackbox (Docker) actions
        /// (`whisk.loadbalancer.blackbox-fraction`, default 0.1; at least 1 - managed_fraction).
        blackbox_fraction: f64,
    },
    /// Containers of exactly `granularity` workers, spread over invokers by free CPUs.
    BurstHomogeneous {
        /// Workers (and CPUs) per container, >= 1.
        granularity: u32,
        /// Merge the containers of the burst that land on the same invoker.
        #[serde(default)]
        join: bool,
    },
    /// Fill the invokers with most free CPUs first, one container per invoker.
    BurstHeterogeneous {
        /// One container per invoker (true, the thesis' default), or one one-CPU container per
        /// worker (false).
        #[serde(default = "default_true")]
        join: bool,
    },
    /// Best-fit packing: the invoker whose free CPUs fit the rest most tightly first.
    BurstBestFit,
    /// Containers of `granularity` workers dealt round-robin over invokers.
    BurstRoundRobin {
        /// Workers (and CPUs) per container, >= 1.
        granularity: u32,
    },
}

fn default_true() -> bool {
    true
}

/// OpenWhisk's default `managed-fraction` (core/controller reference.conf: 90%).
pub const DEFAULT_MANAGED_FRACTION: f64 = 0.9;
/// OpenWhisk's default `blackbox-fraction` (core/controller reference.conf: 10%).
pub const DEFAULT_BLACKBOX_FRACTION: f64 = 0.1;

fn default_managed_fraction() -> f64 {
    DEFAULT_MANAGED_FRACTION
}

fn default_blackbox_fraction() -> f64 {
    DEFAULT_BLACKBOX_FRACTION
}

/// What `PolicySpec` deserialises through: serde does not apply `deny_unknown_fields` to the
/// unit variants of an internally tagged enum (`name = "faas"`, `granularity = 2` would be
/// accepted silently), so here they are empty struct variants, which do reject extra keys.
#[derive(Deserialize)]
#[serde(tag = "name", rename_all = "kebab-case", deny_unknown_fields)]
enum SpecRepr {
    Faas {
        #[serde(default = "default_managed_fraction")]
        managed_fraction: f64,
        #[serde(default = "default_blackbox_fraction")]
        blackbox_fraction: f64,
    },
    BurstHomogeneous {
        granularity: u32,
        #[serde(default)]
        join: bool,
    },
    BurstHeterogeneous {
        #[serde(default = "default_true")]
        join: bool,
    },
    BurstBestFit {},
    BurstRoundRobin {
        granularity: u32,
    },
}

impl From<SpecRepr> for PolicySpec {
    fn from(r: SpecRepr) -> Self {
        match r {
            SpecRepr::Faas {
                managed_fraction,
                blackbox_fraction,
            } => PolicySpec::Faas {
                managed_fraction,
                blackbox_fraction,
            },
            SpecRepr::BurstHomogeneous { granularity, join } => {
                PolicySpec::BurstHomogeneous { granularity, join }
            }
            SpecRepr::BurstHeterogeneous { join } => PolicySpec::BurstHeterogeneous { join },
            SpecRepr::BurstBestFit {} => PolicySpec::BurstBestFit,
            SpecRepr::BurstRoundRobin { granularity } => {
                PolicySpec::BurstRoundRobin { granularity }
            }
        }
    }
}

impl PolicySpec {
    /// OpenWhisk's balancer with its default managed/blackbox split.
    pub fn faas() -> Self {
        PolicySpec::Faas {
            managed_fraction: DEFAULT_MANAGED_FRACTION,
            blackbox_fraction: DEFAULT_BLACKBOX_FRACTION,
        }
    }

    /// The policy object this spec names.
    pub fn build(&self) -> Box<dyn PlacementPolicy> {
        match *self {
            PolicySpec::Faas {
                managed_fraction,
                blackbox_fraction,
            } => Box::new(crate::faas::ShardingBalancer::with_fractions(
                managed_fraction,
                blackbox_fraction,
            )),
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
        !matches!(self, PolicySpec::Faas { .. })
    }

    /// Checks the parameters; the error's path is relative to the policy table.
    pub fn validate(&self) -> Result<(), FieldError> {
        match *self {
            PolicySpec::BurstHomogeneous { granularity, .. }
            | PolicySpec::BurstRoundRobin { granularity } => {
                if granularity == 0 {
                    return Err(FieldError::new(
                        "granularity",
                        "an integer >= 1",
                        granularity,
                    ));
                }
                Ok(())
            }
            PolicySpec::Faas {
                managed_fraction,
                blackbox_fraction,
            } => {
                for (field, value) in [
                    ("managed_fraction", managed_fraction),
                    ("blackbox_fraction", blackbox_fraction),
                ] {
                    if !(0.0..=1.0).contains(&value) {
                        return Err(FieldError::new(field, "a fraction from 0 to 1", value));
                    }
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
            PolicySpec::Faas {
                managed_fraction,
                blackbox_fraction,
            } => write!(
                f,
                "faas {{ managed_fraction = {managed_fraction:?}, blackbox_fraction = {blackbox_fraction:?} }}"
            ),
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

/// Parses `name` or `name { key = value, ... }`, the form `Display` prints; omitted parameters
/// take their TOML defaults and unknown ones are rejected.
impl FromStr for PolicySpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let spec: PolicySpec = parse_named(s, "policy", "`burst-homogeneous { granularity = 6 }`")?;
        spec.validate()
            .map_err(|e| format!("in policy `{}`: {e}", s.trim()))?;
        Ok(spec)
    }
}

/// Parses `name` or `name { key = value, ... }` into a spec tagged by `name` in TOML (a
/// placement or a recovery policy): the body is a TOML inline table, the name becomes its
/// `name` key, and serde checks the fields. `what` and `example` word the errors.
pub(crate) fn parse_named<T: serde::de::DeserializeOwned>(
    s: &str,
    what: &str,
    example: &str,
) -> Result<T, String> {
    let s = s.trim();
    let (name, body) = match s.find('{') {
        Some(open) => (s[..open].trim(), s[open..].trim()),
        None => (s, "{}"),
    };
    let valid_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid_name {
        return Err(format!("expected a {what} like {example}, got `{s}`"));
    }
    let mut doc: toml::Table = toml::from_str(&format!("p = {body}"))
        .map_err(|e| format!("in {what} `{s}`: expected `{{ key = value, ... }}`: {e}"))?;
    let Some(toml::Value::Table(mut table)) = doc.remove("p") else {
        return Err(format!(
            "in {what} `{s}`: expected `{{ key = value, ... }}`"
        ));
    };
    table.insert("name".into(), toml::Value::String(name.into()));
    table
        .try_into()
        .map_err(|e: toml::de::Error| format!("in {what} `{s}`: {}", e.message()))
}
