//! Where a run's records go while it runs. The engine hands each function's record to a
//! [`RecordSink`] once it is final and every lower function id has been handed over, so
//! records arrive in function-id order (the engine keeps a reorder buffer of the functions
//! between the oldest unfinished one and the newest arrival, and lets up to 64 final records
//! gather to hand them over together) and the engine itself keeps nothing per finished
//! function: a run's memory follows what is in flight, not its length.
//!
//! Function ids are numbered in arrival order and the client submits in that order, so in this
//! order `t_submit` never decreases: a consumer may treat the `t_submit` of the latest record
//! as a lower bound of every later record's times (the report's streaming summary does).
//!
//! A `Vec<FunctionRecord>` is a sink (what [`crate::simulate`] returns); the root crate's
//! report writer is another (CSV and Parquet written as the run goes, a streaming summary).

use policies::comm::StepRecord;
use policies::FunctionRecord;

pub use crate::records::{RawRecord, RawRecords};

/// Why a sink could not take a record (e.g. the disk is full); the run stops with it.
pub type SinkError = Box<dyn std::error::Error + Send + Sync>;

/// The consumer of a run's records.
pub trait RecordSink {
    /// The final record of one function; calls come in function-id order, one per function.
    fn record(&mut self, record: FunctionRecord) -> Result<(), SinkError>;

    /// The final records of consecutive functions, not yet converted: what the engine calls
    /// (with the same order guarantees as [`RecordSink::record`]). A sink that hands records
    /// to another thread can copy them as they are ([`RawRecords::raw`]) and convert them there,
    /// off the simulation's thread. By default converts each and calls
    /// [`RecordSink::record`].
    fn raw_records(&mut self, records: RawRecords<'_>) -> Result<(), SinkError> {
        for record in records.records() {
            self.record(record)?;
        }
        Ok(())
    }

    /// No record after this call names `container` (it was removed, or the run ended); every
    /// record that names it came before. Lets a consumer close per-container figures early.
    /// Not every container is announced (one that never ran a function is not).
    fn container_closed(&mut self, container: u64) -> Result<(), SinkError> {
        let _ = container;
        Ok(())
    }

    /// One executed step of a `steps` workload, as it ends (completion order): a second
    /// table through the same sink. Ignored by default.
    fn step(&mut self, step: StepRecord) -> Result<(), SinkError> {
        let _ = step;
        Ok(())
    }
}

/// Records and steps kept in memory: what [`crate::simulate`] returns.
#[derive(Debug, Default)]
pub struct Collect {
    pub records: Vec<FunctionRecord>,
    pub steps: Vec<StepRecord>,
}

impl RecordSink for Collect {
    fn record(&mut self, record: FunctionRecord) -> Result<(), SinkError> {
        self.records.push(record);
        Ok(())
    }

    fn step(&mut self, step: StepRecord) -> Result<(), SinkError> {
        self.steps.push(step);
        Ok(())
    }
}

impl RecordSink for Vec<FunctionRecord> {
    fn record(&mut self, record: FunctionRecord) -> Result<(), SinkError> {
        self.push(record);
        Ok(())
    }
}

impl<S: RecordSink + ?Sized> RecordSink for &mut S {
    fn record(&mut self, record: FunctionRecord) -> Result<(), SinkError> {
        (**self).record(record)
    }

    fn raw_records(&mut self, records: RawRecords<'_>) -> Result<(), SinkError> {
        (**self).raw_records(records)
    }

    fn container_closed(&mut self, container: u64) -> Result<(), SinkError> {
        (**self).container_closed(container)
    }

    fn step(&mut self, step: StepRecord) -> Result<(), SinkError> {
        (**self).step(step)
    }
}
