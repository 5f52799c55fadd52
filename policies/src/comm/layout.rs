//! Where the workers of one burst run, as group communication sees it: which *pack* (container,
//! or for FaaS the function itself) holds each worker, and which *host* (invoker, VM) runs each
//! pack. Workers of one pack talk in memory; all other traffic goes through the backend server
//! and crosses the sender's and the receiver's host links.

use std::ops::RangeInclusive;

use crate::{BurstInfo, FieldError, PlacementPlan};

/// One pack: a contiguous range of worker ids on one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pack {
    /// First worker id (the pack leader: the middleware's lowest id of the group).
    pub first: u32,
    /// Last worker id, inclusive.
    pub last: u32,
    /// The host (invoker id, or VM index in direct runs) that runs it.
    pub host: u32,
}

impl Pack {
    /// The worker ids of the pack.
    pub fn members(&self) -> RangeInclusive<u32> {
        self.first..=self.last
    }

    /// The worker that receives remote broadcasts for the pack and re-broadcasts them locally.
    pub fn leader(&self) -> u32 {
        self.first
    }
}

/// The packs of a burst of N workers, in worker-id order, covering `0..N` without gaps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommLayout {
    packs: Vec<Pack>,
    /// Pack index of each worker.
    pack_of: Vec<u32>,
}

impl CommLayout {
    /// A layout from `(first worker, workers, host)` per pack, in any order. The packs must
    /// tile `0..N` (contiguous, disjoint, no gaps), as a placement plan's containers do.
    pub fn from_packs(
        packs: impl IntoIterator<Item = (u32, u32, u32)>,
    ) -> Result<Self, FieldError> {
        let mut packs: Vec<Pack> = packs
            .into_iter()
            .map(|(first, workers, host)| {
                if workers == 0 {
                    return Err(FieldError::new(
                        "",
                        "packs of at least one worker",
                        "an empty pack",
                    ));
                }
                Ok(Pack {
                    first,
                    last: first + (workers - 1),
                    host,
                })
            })
            .collect::<Result<_, _>>()?;
        packs.sort_by_key(|p| p.first);
        let mut next = 0u32;
        for p in &packs {
            if p.first != next {
                return Err(FieldError::new(
                    "",
                    format!("packs tiling the worker ids (next id {next})"),
                    format!("a pack starting at {}", p.first),
                ));
            }
            next = p.last + 1;
        }
        let mut pack_of = Vec::with_capacity(next as usize);
        for (i, p) in packs.iter().enumerate() {
            pack_of.extend(std::iter::repeat_n(
                i as u32,
                (p.last - p.first + 1) as usize,
            ));
        }
        Ok(CommLayout { packs, pack_of })
    }

    /// The layout of a placement plan: one pack per container, hosted by its invoker.
    pub fn from_plan(plan: &PlacementPlan) -> Result<Self, FieldError> {
        Self::from_packs(
            plan.containers
                .iter()
                .map(|c| (c.first_worker, c.workers, c.invoker)),
        )
    }

    /// The layout of the burst info a worker is handed: one pack per container.
    pub fn from_burst_info(info: &BurstInfo) -> Result<Self, FieldError> {
        Self::from_packs(info.invokers.iter().flat_map(|(&inv, containers)| {
            containers
                .values()
                .map(move |&(lo, hi)| (lo, hi - lo + 1, inv))
        }))
    }

    /// Workers started directly on VMs (the communication benchmarks): packs of `granularity`
    /// consecutive ids (the last one smaller if it does not divide), pack k on host k.
    pub fn direct(workers: u32, granularity: u32) -> Self {
        let g = granularity.max(1);
        let packs = (0..workers.div_ceil(g)).map(|k| {
            let first = k * g;
            (first, g.min(workers - first), k)
        });
        Self::from_packs(packs).expect("consecutive packs tile the ids")
    }

    /// FaaS: every function is its own pack (all its messages go through the backend), on the
    /// host `hosts[w]` that ran worker w.
    pub fn one_worker_per_pack(hosts: &[u32]) -> Self {
        let packs = hosts.iter().enumerate().map(|(w, &h)| (w as u32, 1, h));
        Self::from_packs(packs).expect("single-worker packs tile the ids")
    }

    /// Number of workers.
    pub fn workers(&self) -> u32 {
        self.pack_of.len() as u32
    }

    /// The packs, in worker-id order.
    pub fn packs(&self) -> &[Pack] {
        &self.packs
    }

    /// Index (into [`CommLayout::packs`]) of the pack of worker `w`.
    pub fn pack_of(&self, w: u32) -> u32 {
        self.pack_of[w as usize]
    }

    /// The pack of worker `w`.
    pub fn pack(&self, w: u32) -> &Pack {
        &self.packs[self.pack_of(w) as usize]
    }

    /// The host of worker `w`.
    pub fn host_of(&self, w: u32) -> u32 {
        self.pack(w).host
    }

    /// True when workers `a` and `b` share a pack (their messages stay in memory).
    pub fn same_pack(&self, a: u32, b: u32) -> bool {
        self.pack_of(a) == self.pack_of(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ContainerPlacement;

    #[test]
    fn direct_packs_tile_the_ids() {
        let l = CommLayout::direct(10, 4);
        assert_eq!(l.packs().len(), 3);
        assert_eq!(l.pack(9).members(), 8..=9);
        assert_eq!(l.host_of(5), 1);
        assert!(l.same_pack(4, 7) && !l.same_pack(3, 4));
    }

    #[test]
    fn plan_and_burst_info_give_the_same_layout() {
        let plan = PlacementPlan {
            containers: vec![
                ContainerPlacement {
                    invoker: 2,
                    first_worker: 0,
                    workers: 3,
                },
                ContainerPlacement {
                    invoker: 0,
                    first_worker: 3,
                    workers: 2,
                },
            ],
            overloaded: false,
        };
        let info = BurstInfo::from_plan(7, &plan, &[10, 11]);
        let a = CommLayout::from_plan(&plan).unwrap();
        assert_eq!(a, CommLayout::from_burst_info(&info).unwrap());
        assert_eq!(a.host_of(1), 2);
        assert_eq!(a.pack(4).leader(), 3);
    }

    #[test]
    fn gaps_and_overlaps_are_rejected() {
        assert!(CommLayout::from_packs([(0, 2, 0), (3, 1, 0)]).is_err());
        assert!(CommLayout::from_packs([(0, 2, 0), (1, 2, 0)]).is_err());
        assert!(CommLayout::from_packs([(0, 0, 0)]).is_err());
    }
}
