//! Group communication between the workers of a burst, as pure data shared by the simulator
//! and the live executor:
//!
//! - [`Collective`]: what a step moves (`send`, `broadcast`, `scatter`, `gather`,
//!   `all_to_all`, `reduce`, `allreduce`), with sizes as [`ByteSize`];
//! - [`CommLayout`]: which pack (container) holds each worker and which host runs each pack;
//! - [`MessagePlan`]: the transfers a collective makes in a layout (source, destination, bytes,
//!   local or remote, chunks, dependencies), following the Burst Communication Middleware;
//! - [`Program`] and [`Step`]: workloads made of compute, sleep, collective and repeat steps.
//!
//! Nothing here knows about time or a network model: the simulator prices a plan with its flow
//! model, the executor moves real bytes along it.

pub mod collective;
pub mod layout;
pub mod plan;
pub mod program;
pub mod record;
pub mod units;

pub use collective::{
    AllToAll, Allreduce, Broadcast, Collective, Gather, Pattern, Reduce, Scatter, Send,
};
pub use layout::{CommLayout, Pack};
pub use plan::{chunk_bytes, chunk_count, MessagePlan, Route, Transfer};
pub use program::{Program, Step, StepKind};
pub use record::StepRecord;
pub use units::{ByteSize, Rate};
