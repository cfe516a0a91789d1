//! The scheduler of the pixel batch: the files run on the worker pool while the calling thread
//! takes the finished ones a batch at a time (to build their Python objects, which needs the
//! GIL: done after the decoding, it kept one core idle).

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use rayon::prelude::*;

/// How many finished files wake the calling thread. Each wake takes a core from a worker for a
/// moment; fewer, larger batches leave more of the consuming for after the last file.
const WAKE_AT: usize = 32;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Every item was worked and consumed (`stops` may have made the workers skip some).
    Done,
    /// The consumer asked to stop: the items not yet started were skipped.
    Stopped,
    /// A worker panicked.
    Panicked,
}

/// What the workers have finished and the calling thread has not yet taken.
struct Handoff<T> {
    ready: Vec<(usize, T)>,
    finished: usize,
    total: usize,
    /// Set by a fatal item, the consumer or a panic: the workers skip what they have not begun.
    stop: bool,
    panicked: bool,
}

impl<T> Handoff<T> {
    /// Whether the calling thread should wake: a panic, a full batch, or the last item.
    fn wakes(&self) -> bool {
        self.panicked || self.ready.len() >= WAKE_AT || self.finished == self.total
    }
}

struct Shared<T> {
    state: Mutex<Handoff<T>>,
    wake: Condvar,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, Handoff<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Counts one item as finished when dropped, also when its work panicked, so the calling
/// thread never waits for an item that will not come.
struct Finish<'a, T> {
    shared: &'a Shared<T>,
    index: usize,
    result: Option<T>,
    skipped: bool,
}

impl<T> Drop for Finish<'_, T> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.finished += 1;
        match self.result.take() {
            Some(item) => state.ready.push((self.index, item)),
            None if self.skipped => {}
            None => {
                state.panicked = true;
                state.stop = true;
            }
        }
        if state.wakes() {
            self.shared.wake.notify_one();
        }
    }
}

/// Run `work(i)` for `i` in `0..total` on the worker pool while this thread hands the finished
/// items to `consume`, a batch at a time, in no particular order.
///
/// An item for which `stops` is true makes the workers skip the items they have not begun (it
/// is still consumed); so does `consume` returning `false`. Skipped items are never consumed.
pub fn run<T, W, S, C>(total: usize, work: W, stops: S, mut consume: C) -> Ended
where
    T: Send,
    W: Fn(usize) -> T + Sync,
    S: Fn(&T) -> bool + Sync,
    C: FnMut(Vec<(usize, T)>) -> bool,
{
    let shared = Shared {
        state: Mutex::new(Handoff {
            ready: Vec::new(),
            finished: 0,
            total,
            stop: false,
            panicked: false,
        }),
        wake: Condvar::new(),
    };
    crate::pool::in_place_scope(|scope| {
        scope.spawn(|_| {
            (0..total).into_par_iter().for_each(|index| {
                let mut finish = Finish {
                    shared: &shared,
                    index,
                    result: None,
                    skipped: true,
                };
                if shared.lock().stop {
                    return;
                }
                finish.skipped = false;
                let item = work(index);
                if stops(&item) {
                    shared.lock().stop = true;
                }
                finish.result = Some(item);
            });
        });
        let mut ended = Ended::Done;
        loop {
            let (batch, done, panicked) = {
                let mut state = shared
                    .wake
                    .wait_while(shared.lock(), |s| !s.wakes())
                    .unwrap_or_else(PoisonError::into_inner);
                let batch = std::mem::take(&mut state.ready);
                (batch, state.finished == state.total, state.panicked)
            };
            if panicked {
                // The scope re-raises the panic once the other workers are done.
                return Ended::Panicked;
            }
            if ended == Ended::Done && !consume(batch) {
                ended = Ended::Stopped;
                shared.lock().stop = true;
            }
            if done {
                return ended;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_is_consumed_once() {
        let mut seen = vec![0u32; 1000];
        let ended = run(
            1000,
            |i| i * 2,
            |_| false,
            |batch| {
                for (i, v) in batch {
                    assert_eq!(v, i * 2);
                    seen[i] += 1;
                }
                true
            },
        );
        assert_eq!(ended, Ended::Done);
        assert!(seen.iter().all(|&n| n == 1));
    }

    #[test]
    fn a_stopping_item_skips_the_rest() {
        let mut consumed = 0;
        let ended = run(
            100_000,
            |i| i,
            |&i| i == 0,
            |batch| {
                consumed += batch.len();
                true
            },
        );
        assert_eq!(ended, Ended::Done);
        // The pool's threads may have begun a few items each before they saw the flag.
        assert!((1..100_000).contains(&consumed), "{consumed}");
    }

    #[test]
    fn the_consumer_stops_the_run() {
        let mut calls = 0;
        let ended = run(
            10_000,
            |i| i,
            |_| false,
            |_| {
                calls += 1;
                false
            },
        );
        assert_eq!((ended, calls), (Ended::Stopped, 1));
    }
}
