//! Reading an iterator ahead on another thread: drawing a long run's arrivals (exponential
//! gaps, merging, numbering) depends on nothing the simulation does, so a producer thread can
//! draw them while the engine simulates. Items travel in chunks of [`CHUNK`] through a queue of
//! [`QUEUED_CHUNKS`], so memory stays constant whatever the run's length, and in the order the
//! iterator yields them: the engine sees exactly the items it would have drawn itself. Chunks
//! are large and the queue short: the producer, faster than the engine, mostly waits for room,
//! and each chunk the engine takes wakes it once (a futex call on the engine's thread), so the
//! hand-off costs one wake-up per [`CHUNK`] items.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::Scope;

/// Items per chunk (a burst and its `Result` take 64 bytes: 512 KiB a chunk).
pub const CHUNK: usize = 8192;
/// Chunks drawn ahead of the consumer before the producer waits (with the one being read and
/// the one being filled, at most `QUEUED_CHUNKS + 2` chunks exist).
pub const QUEUED_CHUNKS: usize = 2;

/// The consumer side: yields the producer's items in order.
pub struct ReadAhead<T> {
    /// The current chunk, reversed (its next item last).
    chunk: Vec<T>,
    /// `None` once the producer has finished and every chunk was taken.
    chunks: Option<Receiver<Vec<T>>>,
    /// Emptied chunks, sent back to be filled again (no allocation per chunk).
    spent: SyncSender<Vec<T>>,
}

impl<T: Send> ReadAhead<T> {
    /// Moves `source` to a thread of `scope` that draws it ahead. Dropping the consumer stops
    /// the producer at its next chunk.
    pub fn spawn<'scope, I>(scope: &'scope Scope<'scope, '_>, mut source: I) -> Self
    where
        I: Iterator<Item = T> + Send + 'scope,
        T: 'scope,
    {
        let (full, chunks) = sync_channel::<Vec<T>>(QUEUED_CHUNKS);
        // Room for every chunk in flight, so returning one never waits.
        let (spent, reuse) = sync_channel::<Vec<T>>(QUEUED_CHUNKS + 2);
        scope.spawn(move || loop {
            let mut chunk = reuse
                .try_recv()
                .unwrap_or_else(|_| Vec::with_capacity(CHUNK));
            chunk.extend(source.by_ref().take(CHUNK));
            let last = chunk.len() < CHUNK;
            chunk.reverse();
            if full.send(chunk).is_err() || last {
                return;
            }
        });
        ReadAhead {
            chunk: Vec::new(),
            chunks: Some(chunks),
            spent,
        }
    }
}

impl<T> Iterator for ReadAhead<T> {
    type Item = T;

    #[inline]
    fn next(&mut self) -> Option<T> {
        if let Some(item) = self.chunk.pop() {
            return Some(item);
        }
        let chunks = self.chunks.as_ref()?;
        match chunks.recv() {
            Ok(next) => {
                let spent = std::mem::replace(&mut self.chunk, next);
                if spent.capacity() >= CHUNK {
                    // The producer may have finished: then the chunk is simply dropped.
                    let _ = self.spent.try_send(spent);
                }
                self.chunk.pop()
            }
            Err(_) => {
                self.chunks = None;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yields_every_item_in_order_across_chunks() {
        for n in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK + 17] {
            let got: Vec<usize> = std::thread::scope(|s| ReadAhead::spawn(s, 0..n).collect());
            assert_eq!(got, (0..n).collect::<Vec<_>>(), "{n} items");
        }
    }

    #[test]
    fn a_consumer_that_stops_early_stops_the_producer() {
        // An endless source: the scope only ends if the producer notices the consumer left.
        let first: Vec<u64> = std::thread::scope(|s| {
            let mut ahead = ReadAhead::spawn(s, 0u64..);
            (0..10).map(|_| ahead.next().unwrap()).collect()
        });
        assert_eq!(first, (0..10).collect::<Vec<_>>());
    }
}
