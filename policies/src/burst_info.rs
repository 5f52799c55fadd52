//! The burst layout handed to every worker (thesis Listing 4.2): for each invoker, the
//! containers it runs and the inclusive worker-id range of each container.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{Deserializer, Error as _};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use crate::PlacementPlan;

/// The whole layout of one burst. On the wire it is the thesis payload, which carries no burst
/// id: the id travels beside it (e.g. in the activation's parameters) and a deserialised
/// layout has `burst_id == 0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BurstInfo {
    /// The burst (its index in the run); 0 when read back from the wire.
    pub burst_id: u64,
    /// invoker id -> container id -> (first worker, last worker), inclusive.
    pub invokers: BTreeMap<u32, BTreeMap<u64, (u32, u32)>>,
}

impl BurstInfo {
    /// Build the layout of `plan`, whose i-th container got the run-wide id `container_ids[i]`.
    pub fn from_plan(burst_id: u64, plan: &PlacementPlan, container_ids: &[u64]) -> Self {
        assert_eq!(plan.containers.len(), container_ids.len());
        let mut invokers: BTreeMap<u32, BTreeMap<u64, (u32, u32)>> = BTreeMap::new();
        for (placement, &cid) in plan.containers.iter().zip(container_ids) {
            invokers
                .entry(placement.invoker)
                .or_default()
                .insert(cid, (placement.first_worker, placement.last_worker()));
        }
        BurstInfo { burst_id, invokers }
    }

    /// Number of containers in the layout.
    pub fn containers(&self) -> usize {
        self.invokers.values().map(|c| c.len()).sum()
    }

    /// The container and invoker that run `worker_id`, if any.
    pub fn locate(&self, worker_id: u32) -> Option<(u32, u64)> {
        self.invokers.iter().find_map(|(&inv, containers)| {
            containers
                .iter()
                .find(|(_, &(lo, hi))| lo <= worker_id && worker_id <= hi)
                .map(|(&cid, _)| (inv, cid))
        })
    }
}

/// Serialises as the thesis payload: `{"invoker0": {"container0": [0, 9]}, ...}`.
impl Serialize for BurstInfo {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Containers<'a>(&'a BTreeMap<u64, (u32, u32)>);
        impl Serialize for Containers<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(Some(self.0.len()))?;
                for (cid, &(lo, hi)) in self.0 {
                    map.serialize_entry(&format!("container{cid}"), &[lo, hi])?;
                }
                map.end()
            }
        }
        let mut map = serializer.serialize_map(Some(self.invokers.len()))?;
        for (inv, containers) in &self.invokers {
            map.serialize_entry(&format!("invoker{inv}"), &Containers(containers))?;
        }
        map.end()
    }
}

/// Reads the thesis payload back: keys must be exactly `invoker<u32>` and `container<u64>` (no
/// sign, no leading zeros), ranges `[first, last]` with `first <= last`. `burst_id` is set to 0.
impl<'de> Deserialize<'de> for BurstInfo {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw: BTreeMap<String, BTreeMap<String, (u32, u32)>> =
            BTreeMap::deserialize(deserializer)?;
        let mut invokers = BTreeMap::new();
        for (inv_key, containers) in raw {
            let inv: u32 = parse_key(&inv_key, "invoker").map_err(D::Error::custom)?;
            let mut parsed = BTreeMap::new();
            for (cont_key, (lo, hi)) in containers {
                let cid: u64 = parse_key(&cont_key, "container").map_err(D::Error::custom)?;
                if lo > hi {
                    return Err(D::Error::custom(format!(
                        "{inv_key}.{cont_key}: expected [first, last] with first <= last, got [{lo}, {hi}]"
                    )));
                }
                parsed.insert(cid, (lo, hi));
            }
            invokers.insert(inv, parsed);
        }
        Ok(BurstInfo {
            burst_id: 0,
            invokers,
        })
    }
}

/// Parses `<prefix><number>` where the number is written as `Display` would write it.
fn parse_key<T: std::str::FromStr + ToString>(key: &str, prefix: &str) -> Result<T, String> {
    key.strip_prefix(prefix)
        .and_then(|digits| {
            let n = digits.parse::<T>().ok()?;
            (n.to_string() == digits).then_some(n)
        })
        .ok_or_else(|| format!("expected a key like `{prefix}0`, got `{key}`"))
}

impl fmt::Display for BurstInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (inv, containers) in &self.invokers {
            for (cid, (lo, hi)) in containers {
                write!(f, "[invoker{inv}/container{cid}: {lo}..={hi}]")?;
            }
        }
        Ok(())
    }
}

/// What the in-container dispatcher hands one worker: who it is and the whole layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkerInfo<'a> {
    /// This worker's id within the burst (`0..N`).
    pub worker_id: u32,
    /// The run-wide id of the container it runs in.
    pub container_id: u64,
    /// The invoker that runs its container.
    pub invoker_id: u32,
    /// Where every worker of the burst runs.
    pub burst_info: &'a BurstInfo,
}
