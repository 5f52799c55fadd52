//! Group communication as data: point-to-point sends and the collectives of the Burst
//! Communication Middleware, with the parameters a step of a workload gives them. What each one
//! moves, and in which order, is defined once by [`crate::comm::MessagePlan`].

use serde::{Deserialize, Serialize};

use super::units::ByteSize;
use crate::FieldError;

/// Who sends to whom in a `send` step, by worker id in a burst of N.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pattern {
    /// Worker w < N/2 sends to w + N/2 (the pair benchmarks: the first half of the burst talks
    /// to the second half). With N odd the last worker takes no part.
    Halves,
    /// Worker w sends to (w + 1) mod N.
    Ring,
}

/// `send`: point-to-point messages, each sent by its source and received by its destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Send {
    /// Bytes of each message.
    pub bytes: ByteSize,
    /// A pattern over the burst's worker ids; give either this or `pairs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<Pattern>,
    /// Explicit `[source, destination]` pairs, sent in this order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pairs: Vec<[u32; 2]>,
}

/// `broadcast`: `root` gives every other worker a copy of `bytes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Broadcast {
    /// The worker that has the data (default 0).
    #[serde(default)]
    pub root: u32,
    /// Size of the payload.
    pub bytes: ByteSize,
}

/// `scatter`: `root` sends a different `bytes_per_worker` to every other worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scatter {
    /// The sending worker (default 0).
    #[serde(default)]
    pub root: u32,
    /// Bytes each other worker receives.
    pub bytes_per_worker: ByteSize,
}

/// `gather`: every other worker sends `bytes_per_worker` to `root`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gather {
    /// The receiving worker (default 0).
    #[serde(default)]
    pub root: u32,
    /// Bytes each other worker sends.
    pub bytes_per_worker: ByteSize,
}

/// `all_to_all`: every worker sends a separate `bytes_per_pair` to every other worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllToAll {
    /// Bytes of each (source, destination) message.
    pub bytes_per_pair: ByteSize,
}

/// `reduce`: the `bytes` of every worker are combined into `root` along a binary tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reduce {
    /// The worker that ends with the result (default 0, as in the middleware).
    #[serde(default)]
    pub root: u32,
    /// Size of each partial result (a reduction keeps the size).
    pub bytes: ByteSize,
}

/// `allreduce`: a reduce to worker 0 followed by a broadcast of the result from worker 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allreduce {
    /// Size of each partial result and of the broadcast result.
    pub bytes: ByteSize,
}

/// One communication operation of a burst, as data. Serialised with a `kind` tag, the same
/// way a workload step is written: `{ kind = "broadcast", root = 0, bytes = "8 MiB" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Collective {
    /// Point-to-point messages.
    Send(Send),
    /// One payload from the root to all.
    Broadcast(Broadcast),
    /// One message from the root to each other worker.
    Scatter(Scatter),
    /// One message from each other worker to the root.
    Gather(Gather),
    /// One message between every ordered pair of workers.
    AllToAll(AllToAll),
    /// Binary-tree reduction to the root.
    Reduce(Reduce),
    /// Reduce to worker 0, then broadcast from worker 0.
    Allreduce(Allreduce),
}

impl Collective {
    /// The step kind as written in config files (`broadcast`, `all_to_all`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Collective::Send(_) => "send",
            Collective::Broadcast(_) => "broadcast",
            Collective::Scatter(_) => "scatter",
            Collective::Gather(_) => "gather",
            Collective::AllToAll(_) => "all_to_all",
            Collective::Reduce(_) => "reduce",
            Collective::Allreduce(_) => "allreduce",
        }
    }

    /// Checks what does not depend on the burst size (a `send` names a pattern or pairs, not
    /// both). The error's path is relative to the step.
    pub fn validate(&self) -> Result<(), FieldError> {
        if let Collective::Send(s) = self {
            match (&s.pattern, s.pairs.is_empty()) {
                (Some(_), false) => {
                    return Err(FieldError::new(
                        "",
                        "either `pattern` or `pairs`",
                        "both",
                    ))
                }
                (None, true) => {
                    return Err(FieldError::new(
                        "",
                        "either `pattern = \"halves\"|\"ring\"` or `pairs = [[source, destination], ...]`",
                        "neither",
                    ))
                }
                _ => {}
            }
            for (i, [src, dst]) in s.pairs.iter().enumerate() {
                if src == dst {
                    return Err(FieldError::new(
                        format!("pairs[{i}]"),
                        "a source and a different destination",
                        format!("[{src}, {dst}]"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Checks the worker ids against a burst of `workers`; the error's path is relative to
    /// the step.
    pub fn validate_for(&self, workers: u32) -> Result<(), FieldError> {
        self.validate()?;
        let id = |path: &str, id: u32| {
            if id < workers {
                Ok(())
            } else {
                Err(FieldError::new(
                    path,
                    format!("a worker id < {workers} (the burst's workers)"),
                    id,
                ))
            }
        };
        match self {
            Collective::Send(s) => {
                if s.pattern.is_some() && workers < 2 {
                    return Err(FieldError::new(
                        "pattern",
                        "a burst of at least 2 workers",
                        format!("{workers} worker"),
                    ));
                }
                for (i, [src, dst]) in s.pairs.iter().enumerate() {
                    id(&format!("pairs[{i}][0]"), *src)?;
                    id(&format!("pairs[{i}][1]"), *dst)?;
                }
                Ok(())
            }
            Collective::Broadcast(b) => id("root", b.root),
            Collective::Scatter(s) => id("root", s.root),
            Collective::Gather(g) => id("root", g.root),
            Collective::Reduce(r) => id("root", r.root),
            Collective::AllToAll(_) | Collective::Allreduce(_) => Ok(()),
        }
    }

    /// The (source, destination) pairs of a `send` step in a burst of `workers`.
    pub fn send_pairs(send: &Send, workers: u32) -> Vec<(u32, u32)> {
        match send.pattern {
            Some(Pattern::Halves) => {
                let half = workers / 2;
                (0..half).map(|w| (w, w + half)).collect()
            }
            Some(Pattern::Ring) if workers >= 2 => {
                (0..workers).map(|w| (w, (w + 1) % workers)).collect()
            }
            Some(Pattern::Ring) => Vec::new(),
            None => send.pairs.iter().map(|&[s, d]| (s, d)).collect(),
        }
    }
}
