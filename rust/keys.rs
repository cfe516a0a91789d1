//! Dict keys shared between payloads: a face header's ~30 keys (`"landmarks_xy"`, `"mask"`,
//! ...) are the same in every file, so each is made once and handed out again, as `json` does
//! for the keys of one document.
//!
//! A key's str is made, hashed and freed once per process instead of once per file, which
//! spares the thread that holds the GIL the allocation, the UTF-8 check and the hash, and a
//! kept header the key's memory. Strings are immutable, so sharing one object is invisible to
//! callers (only `is` could tell).
//!
//! The cache is small and fixed (direct-mapped, [`SLOTS`] entries of keys up to [`MAX_KEY`]
//! bytes): a payload of a million distinct keys only evicts, never grows it.

use std::sync::Mutex;

use pyo3::prelude::*;
use pyo3::types::PyString;

const SLOTS: usize = 256;
const MAX_KEY: usize = 48;

type Slots = Vec<Option<(Box<[u8]>, Py<PyString>)>>;

static CACHE: Mutex<Slots> = Mutex::new(Vec::new());

/// FNV-1a: keys are short, and this runs once per key of every payload.
fn slot(key: &[u8]) -> usize {
    let mut h: u32 = 0x811c_9dc5;
    for &b in key {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    h as usize % SLOTS
}

/// The str for `text` (whose UTF-8 bytes are `text.as_bytes()`), shared if it was met before.
pub fn key<'py>(py: Python<'py>, text: &str) -> Bound<'py, PyString> {
    let bytes = text.as_bytes();
    if bytes.len() > MAX_KEY {
        return PyString::new(py, text);
    }
    // Never waits: another thread holding it, or this one re-entering (a finalizer run by a
    // collection while a payload is converted), makes a str of its own instead.
    let Ok(mut slots) = CACHE.try_lock() else {
        return PyString::new(py, text);
    };
    if slots.is_empty() {
        slots.resize_with(SLOTS, || None);
    }
    let Some(entry) = slots.get_mut(slot(bytes)) else {
        return PyString::new(py, text);
    };
    if let Some((k, s)) = entry {
        if **k == *bytes {
            return s.bind(py).clone();
        }
    }
    let s = PyString::new(py, text);
    *entry = Some((bytes.into(), s.clone().unbind()));
    s
}
