//! Resource limits for hostile input, adjustable at run time from Python (`faceio.set_limits`).
//!
//! Stored in atomics so that rayon workers read them without locking.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Default cap on the size of a faceswap text chunk, and separately on its decompressed text.
pub const DEFAULT_MAX_CHUNK: usize = 16 << 20;
/// Default cap on decompressed text (zTXt / compressed iTXt).
pub const DEFAULT_MAX_TEXT: usize = 16 << 20;
/// Default cap on container nesting in a payload.
pub const DEFAULT_MAX_DEPTH: usize = 64;
/// PNG chunk lengths above this are invalid by the PNG specification (2^31 - 1).
pub const PNG_MAX_LENGTH: u32 = 0x7FFF_FFFF;

static MAX_CHUNK: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_CHUNK);
static MAX_TEXT: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_TEXT);
static MAX_DEPTH: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_DEPTH);

/// A snapshot of the limits in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_chunk: usize,
    pub max_text: usize,
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_chunk: DEFAULT_MAX_CHUNK,
            max_text: DEFAULT_MAX_TEXT,
            max_depth: DEFAULT_MAX_DEPTH,
        }
    }
}

/// The limits currently in force.
pub fn current() -> Limits {
    Limits {
        max_chunk: MAX_CHUNK.load(Ordering::Relaxed),
        max_text: MAX_TEXT.load(Ordering::Relaxed),
        max_depth: MAX_DEPTH.load(Ordering::Relaxed),
    }
}

/// Replace the limits in force; `None` keeps a value as it is.
pub fn set(max_chunk: Option<usize>, max_text: Option<usize>, max_depth: Option<usize>) {
    if let Some(v) = max_chunk {
        MAX_CHUNK.store(v, Ordering::Relaxed);
    }
    if let Some(v) = max_text {
        MAX_TEXT.store(v, Ordering::Relaxed);
    }
    if let Some(v) = max_depth {
        MAX_DEPTH.store(v, Ordering::Relaxed);
    }
}
