//! The typed events of the platform model. Indices refer to the simulator's tables: bursts,
//! requests, messages (one per container placement), containers, invokers.

/// One thing that happens at an instant (besides the arrivals, which the run loop takes
/// straight from the arrival source).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The client may send again (rate limit elapsed).
    ClientTry,
    /// A request reaches the controller.
    RequestArrive(u32),
    /// The controller finished processing a request and places it.
    Place(u32),
    /// The controller publishes a plan's message: (message, messages of the plan left
    /// including this one, whether the request frees its slot after the last).
    Publish(u32, u32, bool),
    /// Invokers' heartbeats: freed CPUs become visible; queued bursts are retried.
    Heartbeat,
    /// The head message of an invoker's topic reaches the invoker: (invoker, message).
    Deliver(u32, u32),
    /// A container's wall-clock engine section (`create`) ended.
    EngineDone(u32),
    /// Next end of creation CPU work on an invoker; stale unless the generation matches.
    CreationCpuDone(u32, u32),
    /// A container's runtime init ended: it exists.
    Created(u32),
    /// Worker `k` of a container's current message starts (CPU shares model).
    WorkerStart(u32, u32),
    /// Next CPU-bound completion on an invoker (its CPU timer); stale unless the generation
    /// matches (an invoker crash replaced its CPU state).
    CpuDone(u32, u32),
    /// Every worker of a container's current message has finished.
    ContainerDone(u32),
    /// Keep-alive check of an idle container.
    KeepAlive(u32),
    /// A worker (function id) of a `steps` workload begins its next step.
    StepStart(u32),
    /// A worker's compute or sleep step ends (exclusive CPU, or no CPU).
    StepDone(u32),
    /// A chunk request's latency elapsed, or a local copy finished: (operation).
    CommTimer(u32),
    /// Flows started or ended at this instant: recompute the network's rates.
    NetUpdate,
    /// Next flow completion; stale unless the generation matches.
    NetDone(u32),
    /// Faults: an invoker crashes (invoker, index into `[faults] invoker_crashes`, or
    /// `faults::RANDOM_CRASH`).
    InvokerCrash(u32, u32),
    /// Faults: a crashed invoker is back, empty.
    InvokerRecover(u32),
    /// Faults: the controller has had no ping from an invoker for the offline timeout
    /// (invoker, crash epoch).
    InvokerOffline(u32, u32),
    /// Faults: a restarted invoker's first ping reaches the controller (invoker, crash epoch).
    InvokerPing(u32, u32),
    /// Faults: worker k of a container ends, completed or crashed (container, k, the
    /// container's run when it started; stale when the container was stopped or reused).
    WorkerEnd(u32, u32, u32),
    /// Faults: worker k of a container starts under CPU shares (container, k, run).
    WorkerBegin(u32, u32, u32),
    /// Faults: the completion ack of a FaaS message (whose invoker crashed) times out.
    AckTimeout(u32),
    /// Faults: a broker outage ended; releases it held reach the controller.
    BrokerUp,
    /// Faults: look for stragglers of a burst (speculation).
    SpeculateCheck(u64),
}
