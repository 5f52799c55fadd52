//! The typed events of the platform model. Indices refer to the simulator's tables: bursts,
//! requests, messages (one per container placement), containers, invokers.

/// One thing that happens at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A burst reaches the client (its `at`).
    BurstArrive(u32),
    /// The client may send again (rate limit elapsed).
    ClientTry,
    /// A request reaches the controller.
    RequestArrive(u32),
    /// The controller finished processing a request and places it.
    Place(u32),
    /// The controller finished publishing a plan's messages.
    ControllerFree,
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
    /// Next CPU-bound completion on an invoker; stale unless the generation matches.
    CpuDone(u32, u32),
    /// Every worker of a container's current message has finished.
    ContainerDone(u32),
    /// Keep-alive check of an idle container.
    KeepAlive(u32),
}
