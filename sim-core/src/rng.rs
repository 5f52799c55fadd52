//! The simulator's random streams: the shared seeded streams of [`policies::rng`], one per
//! component, so the live executor can draw exactly what the simulator draws.

pub use policies::rng::{stream, Rng};
