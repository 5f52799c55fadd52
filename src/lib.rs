//! `burstsim`, the root crate: the command line and everything that turns per-function records
//! into results. `run` loads a config, builds the scenario and runs the simulator (`sim-core`);
//! `report` computes the summary figures and writes records (CSV, Parquet), `summary.json` and
//! the plots (timeline, start-latency boxplot); `compare` runs several configs side by side.
//! The binary (`src/main.rs`) only parses arguments and dispatches to these modules, so sweeps
//! and the live executor's glue reuse the same pipeline and report writer. `args` holds the
//! options every config-running command shares; every output file goes through `atomic`.

pub mod args;
pub mod atomic;
pub mod bench;
pub mod compare;
pub mod error;
pub mod fit;
pub mod live;
pub mod report;
pub mod run;
pub mod sweep;

pub use error::Error;
