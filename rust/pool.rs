//! The worker threads every parallel reader runs on: a rayon pool that faceio makes, and makes
//! again in a child process after `fork`.
//!
//! rayon's global pool is made once per process and cannot be replaced. A forked child inherits
//! the record of that pool but none of its threads, so the child's first parallel call queued
//! work that no thread would ever take, and waited for it forever: a folder read in a
//! `multiprocessing` worker forked from a process that had already read one hung
//! (docs/format.md, "Worker threads"). Here a fork handler forgets the pool in the child (its
//! threads are not there to be stopped), and the child's first parallel call makes a new one.

use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::Once;

use rayon::{Scope, ThreadPool, ThreadPoolBuilder};

/// This process's pool, once made; never freed (the pool lives as long as the process, as
/// rayon's global one does).
static POOL: AtomicPtr<ThreadPool> = AtomicPtr::new(ptr::null_mut());

static FORK_HANDLER: Once = Once::new();

/// Set in a forked child by the fork handler: locks a parent's thread may have held at the fork
/// must then not be waited for (`crate::literal::spare`).
static FORKED_CHILD: AtomicBool = AtomicBool::new(false);

/// Whether this process is a forked child (of a process that had loaded the core).
pub fn in_forked_child() -> bool {
    FORKED_CHILD.load(Ordering::Relaxed)
}

/// Mark this process a forked child (the fork handler's second half; an atomic store, so safe
/// in a just-forked child).
pub fn mark_forked_child() {
    FORKED_CHILD.store(true, Ordering::Relaxed);
}

/// The pool, made on first use. `None` if its threads cannot be started.
fn pool() -> Option<&'static ThreadPool> {
    let current = POOL.load(Ordering::Acquire);
    if !current.is_null() {
        // SAFETY: a pointer stored in POOL comes from `Box::into_raw` and is never freed.
        return Some(unsafe { &*current });
    }
    handle_fork(); // before the first threads, for users of the crate without the module too
    let made = ThreadPoolBuilder::new()
        .thread_name(|i| format!("faceio-{i}"))
        .build()
        .ok()?;
    let made = Box::into_raw(Box::new(made));
    match POOL.compare_exchange(ptr::null_mut(), made, Ordering::AcqRel, Ordering::Acquire) {
        // SAFETY: just stored, and never freed.
        Ok(_) => Some(unsafe { &*made }),
        Err(other) => {
            // Another thread made one first: keep that, and end this one (never shared).
            // SAFETY: `made` came from `Box::into_raw` above and no one else has seen it.
            drop(unsafe { Box::from_raw(made) });
            // SAFETY: as for `current`.
            Some(unsafe { &*other })
        }
    }
}

/// Run `op` on the pool, so that the parallel iterators in it use the pool's threads; the
/// calling thread waits. Without a pool (no thread could be started) `op` runs here and its
/// parallel iterators go to rayon's global pool, which panics if it cannot start threads
/// either (as before this module).
pub fn install<R: Send>(op: impl FnOnce() -> R + Send) -> R {
    match pool() {
        Some(pool) => pool.install(op),
        None => op(),
    }
}

/// `rayon::in_place_scope` on the pool: `op` runs on the calling thread, the work it spawns
/// on the pool's threads.
pub fn in_place_scope<'scope, R>(op: impl FnOnce(&Scope<'scope>) -> R) -> R {
    match pool() {
        Some(pool) => pool.in_place_scope(op),
        None => rayon::in_place_scope(op),
    }
}

/// In a forked child: the parent's pool has no threads here; the next call makes a new one.
#[cfg(unix)]
extern "C" fn forget_in_child() {
    // Leaked, not dropped: ending a pool signals threads this process does not have.
    POOL.store(ptr::null_mut(), Ordering::Release);
    mark_forked_child();
}

/// Have forked children make a pool of their own (once: when the module loads, and before
/// the first pool is made).
pub fn handle_fork() {
    FORK_HANDLER.call_once(|| {
        #[cfg(unix)]
        // SAFETY: the handler only stores to an atomic, which is safe in a just-forked child.
        // It fails only for want of memory; a child then hangs as it did before this module.
        unsafe {
            libc::pthread_atfork(None, None, Some(forget_in_child));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;

    #[test]
    fn parallel_work_runs_on_the_faceio_threads() {
        let names: Vec<String> = install(|| {
            (0..64)
                .into_par_iter()
                .map(|_| std::thread::current().name().unwrap_or("").to_string())
                .collect()
        });
        assert!(names.iter().all(|n| n.starts_with("faceio-")), "{names:?}");
        let spawned = in_place_scope(|scope| {
            let (tx, rx) = std::sync::mpsc::channel();
            scope.spawn(move |_| {
                let _ = tx.send(std::thread::current().name().map(str::to_string));
            });
            rx.recv().ok().flatten()
        });
        assert!(spawned.is_some_and(|n| n.starts_with("faceio-")));
    }
}
