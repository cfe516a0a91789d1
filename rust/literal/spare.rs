//! Parse buffers handed back by the batch reader once their Python objects are built, for the
//! next files' parses to reuse.
//!
//! Why: a batch's parses run on the rayon threads and their buffers are freed on the Python
//! thread a chunk at a time; freeing ~20 MB at once let the allocator hand the pages back to
//! the system, and the next chunk's parses faulted them in again (about 7 page faults a face).
//! Reusing them cut the CPU time of a folder scan, results dropped, from 62-65 to 59-60 us a
//! face on a quiet machine (69-71 to 58-62 under load; page faults from 6.4 to 1.8 a face).
//!
//! Bounded: at most [`MAX_BYTES`] are kept, no buffer over [`MAX_BUFFER`] (a huge payload's
//! buffers are freed as before), and everything is freed when the last batch ends
//! ([`batch_ended`]), so nothing is kept between scans.
//!
//! A forked child whose parent forked while a worker held the lock would wait for it forever
//! (docs/format.md, "Worker threads"). So [`take`] and [`give_back`] only try it (a busy lock
//! costs a fresh buffer, or the buffer handed back: 0.03-0.35% of them measured on two cores),
//! and in a forked child the last batch's end only tries it too, leaving the kept buffers if it
//! is busy. Elsewhere that end waits for the lock, so the promise above holds; the lock is held
//! only to push or pop a buffer, never while buffers are freed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::tape::{Node, Parsed};

const MAX_BYTES: usize = 32 << 20;
const MAX_BUFFER: usize = 4 << 20;

struct Spare {
    buffers: Vec<Parsed>,
    bytes: usize,
}

static SPARE: Mutex<Spare> = Mutex::new(Spare {
    buffers: Vec::new(),
    bytes: 0,
});

/// Batches reading now: buffers are kept only while one is.
static BATCHES: AtomicUsize = AtomicUsize::new(0);

fn held(p: &Parsed) -> usize {
    p.nodes.capacity() * std::mem::size_of::<Node>() + p.arena.capacity()
}

/// Empty buffers with room for at least `nodes` nodes and `arena` bytes: kept ones if any.
pub(super) fn take(nodes: usize, arena: usize) -> Parsed {
    let reused = match SPARE.try_lock() {
        Ok(mut s) => {
            let p = s.buffers.pop();
            if let Some(p) = &p {
                s.bytes -= held(p);
            }
            p
        }
        Err(_) => None,
    };
    let mut p = reused.unwrap_or_default();
    // Emptied: a parse appends to them.
    p.nodes.clear();
    p.arena.clear();
    room(&mut p.nodes, nodes);
    room(&mut p.arena, arena);
    p
}

/// Make an emptied `v` hold at least `n` items. One too small is replaced, not grown: unless
/// glibc can grow it in place (or move it with `mremap`), growing it copies its whole old
/// capacity, reading the pages of it no parse wrote. The kernel maps those to its zero page, and
/// writing them later costs a fault that interrupts the other cores running the process, to
/// flush their TLBs (about 0.13 a file on two cores before this; README, "Speed").
fn room<T>(v: &mut Vec<T>, n: usize) {
    if v.capacity() < n {
        *v = Vec::new(); // freed first, so the allocator may reuse its memory
        v.reserve_exact(n);
    }
}

/// Keep `p`'s buffers for a later parse (while a batch is reading and there is room).
pub fn give_back(p: Parsed) {
    let size = held(&p);
    if size > MAX_BUFFER {
        return;
    }
    if let Ok(mut s) = SPARE.try_lock() {
        // Checked under the lock: the last batch's end counts down before it takes the lock
        // to empty the pool, so a buffer is either pushed before that emptying or sees the
        // count at 0. Checked before the lock, a buffer could land just after it and stay
        // until another batch ended.
        if BATCHES.load(Ordering::Relaxed) > 0 && s.bytes + size <= MAX_BYTES {
            s.bytes += size;
            s.buffers.push(p);
        }
    }
}

/// A batch starts reading.
pub fn batch_started() {
    BATCHES.fetch_add(1, Ordering::Relaxed);
}

/// A batch is done: the last one frees the kept buffers.
pub fn batch_ended() {
    if BATCHES.fetch_sub(1, Ordering::Relaxed) == 1 {
        empty();
    }
}

/// Free the kept buffers (see the module docs for when the lock is only tried).
fn empty() {
    let guard = if crate::pool::in_forked_child() {
        SPARE.try_lock().ok()
    } else {
        SPARE.lock().ok()
    };
    if let Some(mut s) = guard {
        let kept = std::mem::take(&mut s.buffers);
        s.bytes = 0;
        drop(s);
        drop(kept); // freed with the lock released
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::literal::parse;

    #[test]
    fn a_reused_buffer_never_shows_in_a_parse() {
        let text = b"{'a': [1.5, b'xy'], 'b': 'text'}";
        let fresh = parse(text, 64).unwrap();
        batch_started();
        // Buffers full of another payload's nodes and bytes, handed back as a batch does
        // (other tests' parses may take them first: the check holds whichever parse does).
        for _ in 0..4 {
            give_back(parse(b"[0, 1, 2, 'zzzzzzzz', b'\\x00\\x01', {1: 2}]", 64).unwrap());
            assert_eq!(parse(text, 64).unwrap(), fresh);
        }
        // A buffer over the size limit is not kept.
        let huge = Parsed {
            nodes: Vec::new(),
            arena: Vec::with_capacity(MAX_BUFFER + 1),
        };
        give_back(huge);
        assert!(SPARE
            .lock()
            .unwrap()
            .buffers
            .iter()
            .all(|p| held(p) <= MAX_BUFFER));
        batch_ended();
    }

    #[test]
    fn a_held_lock_is_never_waited_for_in_a_forked_child() {
        // As in a child forked while a worker held the lock: nothing may wait for it. (Other
        // tests then only try the lock at a batch's end too, which none of them depends on.)
        crate::pool::mark_forked_child();
        let guard = SPARE.lock().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            batch_started();
            let p = take(100, 1000);
            let room = (p.nodes.capacity(), p.arena.capacity());
            give_back(p);
            batch_ended();
            empty(); // what the last batch's end does, whatever other tests' batches are open
            let _ = tx.send(room);
        });
        let room = rx.recv_timeout(std::time::Duration::from_secs(10));
        drop(guard);
        let (nodes, arena) = room.expect("a parse-buffer call waited for the lock");
        assert!(
            nodes >= 100 && arena >= 1000,
            "fresh buffers with the room asked for"
        );
    }

    /// Counts each thread's allocations and reallocations, so that a test can tell a buffer
    /// kept from one replaced or grown (the system allocator does the work).
    struct CountingAlloc;

    thread_local! {
        static ALLOCS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
        static REALLOCS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    // SAFETY: every call is passed on unchanged to the system allocator; the count is a
    // thread-local `Cell` with no destructor, so keeping it allocates nothing.
    unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
        unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
            let _ = ALLOCS.try_with(|n| n.set(n.get() + 1));
            std::alloc::System.alloc(layout)
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
            std::alloc::System.dealloc(ptr, layout)
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new: usize) -> *mut u8 {
            let _ = REALLOCS.try_with(|n| n.set(n.get() + 1));
            std::alloc::System.realloc(ptr, layout, new)
        }
    }

    #[global_allocator]
    static ALLOC: CountingAlloc = CountingAlloc;

    fn counts() -> (usize, usize) {
        (ALLOCS.with(|n| n.get()), REALLOCS.with(|n| n.get()))
    }

    #[test]
    fn room_replaces_a_buffer_too_small_and_keeps_one_big_enough() {
        // Too small: a new empty buffer with room for what is asked, not the old one grown
        // (which would be a realloc).
        let mut small: Vec<u64> = Vec::with_capacity(512);
        small.extend([1, 2, 3]);
        small.clear();
        let (allocs, reallocs) = counts();
        room(&mut small, 1 << 16);
        assert_eq!(counts(), (allocs + 1, reallocs), "not one new allocation");
        assert!(small.is_empty() && small.capacity() >= 1 << 16);
        // Exactly big enough, or bigger: kept as it is, with no allocation at all.
        for extra in [0, 1000] {
            let mut big: Vec<u64> = Vec::with_capacity(2000 + extra);
            let (at, capacity, before) = (big.as_ptr(), big.capacity(), counts());
            room(&mut big, capacity - extra);
            assert_eq!(
                (big.as_ptr(), big.capacity(), counts()),
                (at, capacity, before)
            );
        }
    }
}
