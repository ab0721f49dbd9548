//! An ordered parallel map for the long read paths (`audit verify`, a projection rebuild): one
//! thread produces batches in order, a few threads map them (decoding, hashing), and the caller
//! consumes the results in the order they were produced, on its own thread.
//!
//! ## Invariants
//! - `consume` sees the result of every produced batch, in production order, until it breaks.
//! - After `consume` breaks, or `produce` runs dry, every thread ends before [`ordered`]
//!   returns; at most about `3 × workers` batches are in flight at any time.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::{mpsc, Arc, Mutex, PoisonError};

/// How many threads map batches: the machine's cores, at most 4.
pub(crate) fn workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// Runs `produce` on a thread of its own until it returns `None`, `map` on `workers` threads,
/// and `consume` on the calling thread, in production order, until it breaks.
pub(crate) fn ordered<B: Send, T: Send>(
    workers: usize,
    mut produce: impl FnMut() -> Option<B> + Send,
    map: impl Fn(B) -> T + Sync,
    mut consume: impl FnMut(T) -> ControlFlow<()>,
) {
    let workers = workers.max(1);
    std::thread::scope(|s| {
        let (work, to_map) = mpsc::sync_channel::<(u64, B)>(workers);
        let (mapped, results) = mpsc::sync_channel::<(u64, T)>(workers);
        s.spawn(move || {
            let mut n = 0;
            while let Some(batch) = produce() {
                // The mappers are gone: the consumer stopped.
                if work.send((n, batch)).is_err() {
                    return;
                }
                n += 1;
            }
        });
        // Shared by the mappers; dropped with the last of them, which stops the producer.
        let to_map = Arc::new(Mutex::new(to_map));
        for _ in 0..workers {
            let (to_map, mapped, map) = (to_map.clone(), mapped.clone(), &map);
            s.spawn(move || loop {
                let next = to_map.lock().unwrap_or_else(PoisonError::into_inner).recv();
                let Ok((n, batch)) = next else { return };
                if mapped.send((n, map(batch))).is_err() {
                    return;
                }
            });
        }
        drop((to_map, mapped));
        // Results arrive in any order; they are handed on in order.
        let mut early = BTreeMap::new();
        let mut next = 0;
        for (n, result) in results {
            early.insert(n, result);
            while let Some(result) = early.remove(&next) {
                next += 1;
                if consume(result).is_break() {
                    // Dropping `results` here makes the mappers' next send fail.
                    return;
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_in_order_and_a_break_stops_every_thread() {
        let mut produced = 0..1000u64;
        let mut seen = Vec::new();
        ordered(
            3,
            || produced.next(),
            |n| {
                // Uneven work, so results finish out of order.
                std::thread::sleep(std::time::Duration::from_micros((n * 7919) % 50));
                n * 2
            },
            |doubled| {
                seen.push(doubled);
                ControlFlow::Continue(())
            },
        );
        assert_eq!(seen, (0..1000).map(|n| n * 2).collect::<Vec<_>>());

        let mut endless = 0u64..;
        let mut taken = Vec::new();
        ordered(
            2,
            || endless.next(),
            |n| n,
            |n| {
                taken.push(n);
                if n == 10 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
        );
        assert_eq!(taken, (0..=10).collect::<Vec<_>>());
    }
}
