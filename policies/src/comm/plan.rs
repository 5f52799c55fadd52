//! The message plan: what a collective moves in a given burst layout, as a list of transfers
//! (source, destination, bytes, local or through the backend, chunks) with their dependencies.
//! The simulator and the live executor both execute this plan, so there is one definition of
//! what a collective does. It follows the Burst Communication Middleware:
//!
//! - `send`: one message per (source, destination) pair.
//! - `broadcast`: the root sends to its own pack in memory, and **uploads the payload once** to
//!   the backend (Redis `SET`, a RabbitMQ topic exchange, an S3 object); the leader (lowest id)
//!   of every other pack downloads it and re-broadcasts it in memory to its pack. The plan
//!   writes this as one remote transfer to the first other leader, and for each further leader
//!   a remote transfer that only downloads ([`Transfer::fanout_of`]).
//! - `scatter` / `gather`: N - 1 separate messages from / to the root; same-pack ones stay local.
//! - `all_to_all`: every worker sends a separate message to every other worker (N (N - 1)
//!   transfers; nothing is aggregated per pack, so only same-pack pairs avoid the backend),
//!   each worker to destinations 0, 1, ... in order, as the middleware spawns them.
//! - `reduce`: a binary tree over worker ids relative to the root, `ceil(log2 N)` levels; at
//!   level l the worker at relative id x with `x mod 2^(l+1) == 2^l` sends its partial result
//!   to x - 2^l (after receiving everything it gets at lower levels) and is done. With packs of
//!   G contiguous ids (G a power of two, root 0) the first log2(G) levels stay local. The
//!   middleware only accepts N a power of two; for other N this is the binomial tree: a worker
//!   whose partner x + 2^l does not exist simply skips that level, so every worker except the
//!   root still sends exactly once and the root receives ceil(log2 N) or fewer messages.
//! - `allreduce`: `reduce` to worker 0, then `broadcast` from worker 0 once worker 0 has
//!   received every partial result (the middleware has no allreduce; this is how an
//!   application composes it from its primitives).
//!
//! Dependencies: [`MessagePlan::after`] lists, for a transfer, the transfers that must have been
//! *delivered to its source* before the source may send it (a pack leader forwards a broadcast
//! it received; a reduce level sends what lower levels delivered). Every other transfer may start
//! as soon as its source reaches the step. A worker's part of the step is done when all its
//! transfers are sent (a remote one: its last chunk stored at the backend) and all transfers to it
//! are delivered.

use serde::{Deserialize, Serialize};

use super::collective::Collective;
use super::layout::CommLayout;
use crate::FieldError;

/// How a transfer travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Route {
    /// Source and destination share a pack: in memory, passed by reference.
    Local,
    /// Through the backend server: uploaded by the source, downloaded by the destination.
    Remote,
}

/// One message of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    /// Sending worker id.
    pub src: u32,
    /// Receiving worker id (never `src`).
    pub dst: u32,
    /// Payload bytes.
    pub bytes: u64,
    /// Local exactly when `src` and `dst` share a pack.
    pub route: Route,
    /// Chunks the payload is split into: 1 for local transfers (always one piece in the
    /// middleware), `ceil(bytes / chunk_size)` (at least 1) for remote ones.
    pub chunks: u32,
    /// For a broadcast fan-out: the transfer whose upload stored this payload at the backend;
    /// this one only downloads it. `None`: the transfer uploads its own payload (or is local).
    pub fanout_of: Option<u32>,
}

impl Transfer {
    /// True when the transfer goes through the backend.
    pub fn is_remote(&self) -> bool {
        self.route == Route::Remote
    }

    /// True when the transfer uploads a payload (remote, not a fan-out of another upload).
    pub fn uploads(&self) -> bool {
        self.is_remote() && self.fanout_of.is_none()
    }

    /// Bytes of chunk `i` (the last one holds the rest; a one-chunk transfer is all of it),
    /// for the plan's `chunk_size`.
    pub fn chunk_bytes(&self, i: u32, chunk_size: u64) -> u64 {
        if self.chunks == 1 {
            self.bytes
        } else {
            chunk_bytes(self.bytes, chunk_size, i)
        }
    }
}

/// Chunks of a remote message of `bytes` with chunks of `chunk_size` (0: no chunking).
pub fn chunk_count(bytes: u64, chunk_size: u64) -> u32 {
    if chunk_size == 0 || bytes <= chunk_size {
        1
    } else {
        u32::try_from(bytes.div_ceil(chunk_size)).unwrap_or(u32::MAX)
    }
}

/// Bytes of chunk `i` of a message of `bytes` in chunks of `chunk_size` (0: one chunk).
pub fn chunk_bytes(bytes: u64, chunk_size: u64, i: u32) -> u64 {
    if chunk_size == 0 {
        return bytes;
    }
    let start = chunk_size.saturating_mul(i as u64);
    bytes.saturating_sub(start).min(chunk_size)
}

/// Lists of transfer indices keyed by a dense index (worker or transfer), compressed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Index {
    start: Vec<u32>,
    items: Vec<u32>,
}

impl Index {
    fn build(keys: usize, pairs: impl Iterator<Item = (u32, u32)> + Clone) -> Self {
        let mut start = vec![0u32; keys + 1];
        for (k, _) in pairs.clone() {
            start[k as usize + 1] += 1;
        }
        for i in 0..keys {
            start[i + 1] += start[i];
        }
        let mut fill = start.clone();
        let mut items = vec![0u32; start[keys] as usize];
        for (k, item) in pairs {
            items[fill[k as usize] as usize] = item;
            fill[k as usize] += 1;
        }
        Index { start, items }
    }

    fn get(&self, k: usize) -> &[u32] {
        &self.items[self.start[k] as usize..self.start[k + 1] as usize]
    }
}

/// The transfers of one collective in one layout, with dependencies and per-worker indices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessagePlan {
    workers: u32,
    chunk_size: u64,
    transfers: Vec<Transfer>,
    /// Dependencies of transfer t: `deps.get(t)`.
    deps: Index,
    /// Transfers that depend on transfer t.
    dependents: Index,
    /// Transfers sent by worker w, in plan order.
    sends: Index,
    /// Transfers received by worker w, in plan order.
    receives: Index,
    /// Fan-out downloads of an uploading transfer.
    fanouts: Index,
}

impl MessagePlan {
    /// The plan of `collective` for the burst laid out as `layout`, remote payloads cut into
    /// chunks of `chunk_size` bytes (0: no chunking, the middleware's default; the benchmarks
    /// use 1 MiB). Worker ids are checked against the layout; the error's path is relative to
    /// the step.
    pub fn new(
        collective: &Collective,
        layout: &CommLayout,
        chunk_size: u64,
    ) -> Result<MessagePlan, FieldError> {
        let n = layout.workers();
        collective.validate_for(n)?;
        let mut b = Builder {
            layout,
            chunk_size,
            transfers: Vec::new(),
            dep_pairs: Vec::new(),
        };
        match collective {
            Collective::Send(s) => {
                for (src, dst) in Collective::send_pairs(s, n) {
                    b.push(src, dst, s.bytes.0, &[], None);
                }
            }
            Collective::Broadcast(bc) => b.broadcast(bc.root, bc.bytes.0, &[]),
            Collective::Scatter(s) => {
                for dst in (0..n).filter(|&d| d != s.root) {
                    b.push(s.root, dst, s.bytes_per_worker.0, &[], None);
                }
            }
            Collective::Gather(g) => {
                for src in (0..n).filter(|&s| s != g.root) {
                    b.push(src, g.root, g.bytes_per_worker.0, &[], None);
                }
            }
            Collective::AllToAll(a) => {
                for src in 0..n {
                    for dst in (0..n).filter(|&d| d != src) {
                        b.push(src, dst, a.bytes_per_pair.0, &[], None);
                    }
                }
            }
            Collective::Reduce(r) => {
                b.reduce(r.root, r.bytes.0);
            }
            Collective::Allreduce(a) => {
                let at_root = b.reduce(0, a.bytes.0);
                b.broadcast(0, a.bytes.0, &at_root);
            }
        }
        Ok(b.finish(n))
    }

    /// Workers of the burst.
    pub fn workers(&self) -> u32 {
        self.workers
    }

    /// The chunk size the plan was cut with (0: no chunking).
    pub fn chunk_size(&self) -> u64 {
        self.chunk_size
    }

    /// All transfers, in plan order (each source sends its transfers in this order).
    pub fn transfers(&self) -> &[Transfer] {
        &self.transfers
    }

    /// The transfers that must be delivered to `transfers()[t].src` before it sends `t`.
    pub fn after(&self, t: usize) -> &[u32] {
        self.deps.get(t)
    }

    /// The transfers that list `t` in their [`MessagePlan::after`].
    pub fn dependents_of(&self, t: usize) -> &[u32] {
        self.dependents.get(t)
    }

    /// Indices of the transfers worker `w` sends, in plan order.
    pub fn sends_of(&self, w: u32) -> &[u32] {
        self.sends.get(w as usize)
    }

    /// Indices of the transfers worker `w` receives, in plan order.
    pub fn receives_of(&self, w: u32) -> &[u32] {
        self.receives.get(w as usize)
    }

    /// The fan-out transfers that download the payload uploaded by transfer `t`.
    pub fn fanouts_of(&self, t: usize) -> &[u32] {
        self.fanouts.get(t)
    }

    /// Bytes moved in memory (summed over local transfers).
    pub fn bytes_local(&self) -> u64 {
        self.transfers
            .iter()
            .filter(|t| !t.is_remote())
            .map(|t| t.bytes)
            .sum()
    }

    /// Bytes delivered through the backend (summed over remote transfers, each download counted).
    pub fn bytes_remote(&self) -> u64 {
        self.transfers
            .iter()
            .filter(|t| t.is_remote())
            .map(|t| t.bytes)
            .sum()
    }

    /// Bytes uploaded to the backend (a broadcast payload counts once).
    pub fn bytes_uploaded(&self) -> u64 {
        self.transfers
            .iter()
            .filter(|t| t.uploads())
            .map(|t| t.bytes)
            .sum()
    }
}

struct Builder<'a> {
    layout: &'a CommLayout,
    chunk_size: u64,
    transfers: Vec<Transfer>,
    /// (transfer, dependency).
    dep_pairs: Vec<(u32, u32)>,
}

impl Builder<'_> {
    fn push(
        &mut self,
        src: u32,
        dst: u32,
        bytes: u64,
        after: &[u32],
        fanout_of: Option<u32>,
    ) -> u32 {
        let local = self.layout.same_pack(src, dst);
        let t = self.transfers.len() as u32;
        self.transfers.push(Transfer {
            src,
            dst,
            bytes,
            route: if local { Route::Local } else { Route::Remote },
            chunks: if local {
                1
            } else {
                chunk_count(bytes, self.chunk_size)
            },
            fanout_of: if local { None } else { fanout_of },
        });
        self.dep_pairs.extend(after.iter().map(|&d| (t, d)));
        t
    }

    /// Root to its pack in memory; one upload; each other pack's leader downloads it and
    /// forwards it in memory. `after_root`: what the root must have received first.
    fn broadcast(&mut self, root: u32, bytes: u64, after_root: &[u32]) {
        let layout = self.layout;
        let root_pack = layout.pack_of(root);
        for m in layout.pack(root).members().filter(|&m| m != root) {
            self.push(root, m, bytes, after_root, None);
        }
        let mut upload = None;
        for (i, pack) in layout.packs().iter().enumerate() {
            if i as u32 == root_pack {
                continue;
            }
            let leader = pack.leader();
            let t = self.push(root, leader, bytes, after_root, upload);
            upload.get_or_insert(t);
            for m in pack.members().filter(|&m| m != leader) {
                self.push(leader, m, bytes, &[t], None);
            }
        }
    }

    /// The binary tree towards `root`; returns the transfers delivered to the root.
    fn reduce(&mut self, root: u32, bytes: u64) -> Vec<u32> {
        let n = self.layout.workers();
        let abs = |x: u32| ((x as u64 + root as u64) % n as u64) as u32;
        let mut received: Vec<Vec<u32>> = vec![Vec::new(); n as usize];
        let mut step = 1u32;
        while step < n {
            let mut x = step;
            while x < n {
                let (src, dst) = (abs(x), abs(x - step));
                let after = std::mem::take(&mut received[src as usize]);
                let t = self.push(src, dst, bytes, &after, None);
                received[dst as usize].push(t);
                x = match x.checked_add(2 * step) {
                    Some(next) => next,
                    None => break,
                };
            }
            step = match step.checked_mul(2) {
                Some(s) => s,
                None => break,
            };
        }
        std::mem::take(&mut received[root as usize])
    }

    fn finish(self, n: u32) -> MessagePlan {
        let count = self.transfers.len();
        let mut dep_pairs = self.dep_pairs;
        dep_pairs.sort_unstable();
        let deps = Index::build(count, dep_pairs.iter().copied());
        let dependents = Index::build(count, dep_pairs.iter().map(|&(t, d)| (d, t)));
        let transfers = self.transfers;
        let indexed = || transfers.iter().enumerate().map(|(i, t)| (i as u32, t));
        let sends = Index::build(n as usize, indexed().map(|(i, t)| (t.src, i)));
        let receives = Index::build(n as usize, indexed().map(|(i, t)| (t.dst, i)));
        let fanouts = Index::build(
            count,
            indexed().filter_map(|(i, t)| t.fanout_of.map(|u| (u, i))),
        );
        MessagePlan {
            workers: n,
            chunk_size: self.chunk_size,
            transfers,
            deps,
            dependents,
            sends,
            receives,
            fanouts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comm::collective::{Broadcast, Reduce};
    use crate::comm::ByteSize;

    #[test]
    fn chunks_cover_the_payload() {
        assert_eq!(chunk_count(0, 1 << 20), 1);
        assert_eq!(chunk_count(1 << 30, 1 << 20), 1024);
        assert_eq!(chunk_count((1 << 20) + 1, 1 << 20), 2);
        assert_eq!(chunk_count(5 << 30, 0), 1);
        assert_eq!(chunk_bytes((1 << 20) + 1, 1 << 20, 1), 1);
        assert_eq!(chunk_bytes(10, 0, 0), 10);
    }

    #[test]
    fn broadcast_uploads_once_and_leaders_forward() {
        let layout = CommLayout::direct(8, 4);
        let bc = Collective::Broadcast(Broadcast {
            root: 1,
            bytes: ByteSize(3 << 20),
        });
        let plan = MessagePlan::new(&bc, &layout, 1 << 20).unwrap();
        let t = plan.transfers();
        assert_eq!(t.len(), 7);
        assert_eq!(plan.bytes_uploaded(), 3 << 20);
        let remote: Vec<_> = t.iter().filter(|t| t.is_remote()).collect();
        assert_eq!(remote.len(), 1);
        assert_eq!((remote[0].src, remote[0].dst, remote[0].chunks), (1, 4, 3));
        // 5, 6, 7 get it from leader 4 after the remote transfer is delivered.
        for m in 5..8 {
            let i = t.iter().position(|x| x.dst == m).unwrap();
            assert_eq!(t[i].src, 4);
            assert_eq!(plan.after(i).len(), 1);
        }
    }

    #[test]
    fn reduce_levels_stay_local_inside_packs() {
        let layout = CommLayout::direct(8, 4);
        let r = Collective::Reduce(Reduce {
            root: 0,
            bytes: ByteSize(8),
        });
        let plan = MessagePlan::new(&r, &layout, 0).unwrap();
        let remote: Vec<_> = plan.transfers().iter().filter(|t| t.is_remote()).collect();
        assert_eq!(remote.len(), 1);
        assert_eq!((remote[0].src, remote[0].dst), (4, 0));
        assert_eq!(plan.receives_of(0).len(), 3);
    }
}
