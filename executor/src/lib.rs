//! Live executor.
