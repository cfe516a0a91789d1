//! The output buffer of a pixel batch: one uninitialised Python bytearray that worker threads
//! fill slot by slot, backed by huge pages where Linux allows.

use pyo3::prelude::*;
use pyo3::types::PyByteArray;

/// The base of a bytearray's buffer, handed to worker threads that each fill their own slot.
#[derive(Clone, Copy)]
pub struct SlotBase(*mut u8);
// SAFETY: workers only ever touch disjoint `frame`-sized slots of the buffer (see below).
unsafe impl Send for SlotBase {}
unsafe impl Sync for SlotBase {}

impl SlotBase {
    /// Slot `i` of `frame` bytes, zero-filled.
    ///
    /// # Safety
    /// The buffer must hold at least `(i + 1) * frame` bytes and outlive the slice, and no other
    /// slice may cover slot `i` at the same time.
    pub unsafe fn zeroed_slot<'a>(self, i: usize, frame: usize) -> &'a mut [u8] {
        let slot = self.0.add(i * frame);
        // Zeroing first means the slice covers initialised memory only.
        std::ptr::write_bytes(slot, 0, frame);
        std::slice::from_raw_parts_mut(slot, frame)
    }

    /// Ask Linux to back the whole 2 MiB pages inside the first `len` bytes with transparent
    /// huge pages, as numpy does for its own large arrays: the workers then take one page fault
    /// per 2 MiB they fill instead of one per 4 KiB, which was a fifth of a 256-face batch's
    /// time. Only a hint: where the kernel declines (or another system), nothing changes.
    #[cfg(target_os = "linux")]
    pub fn advise_huge_pages(self, len: usize) {
        const HUGE: usize = 2 << 20;
        let start = (self.0 as usize).next_multiple_of(HUGE);
        let end = (self.0 as usize).saturating_add(len) & !(HUGE - 1);
        if end > start {
            // SAFETY: `start..end` lies inside the caller's buffer, which no one else uses yet;
            // MADV_HUGEPAGE changes how the kernel backs those pages, never their contents.
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
        }
    }

    #[cfg(not(target_os = "linux"))]
    pub fn advise_huge_pages(self, _len: usize) {}
}

/// A new bytearray of `len` bytes left uninitialised, and its buffer, which the caller must
/// fill through `SlotBase::zeroed_slot` only. `None` if CPython gives no buffer.
///
/// The buffer stays valid while the bytearray is alive and not resized. Nothing can resize it
/// until the caller hands it out: it is referenced only by the caller, and bytearrays are not
/// tracked by the garbage collector, so Python code that runs meanwhile (a `build` callback)
/// cannot reach it.
pub fn uninit_bytearray(
    py: Python<'_>,
    len: isize,
) -> PyResult<Option<(Bound<'_, PyByteArray>, SlotBase)>> {
    // SAFETY: a NULL source asks CPython for an uninitialised buffer of `len` bytes; the
    // result is a new reference (or NULL with an exception set, turned into an error).
    let array = unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            pyo3::ffi::PyByteArray_FromStringAndSize(std::ptr::null(), len),
        )?
    }
    .cast_into::<PyByteArray>()?;
    // SAFETY: `array` is a live bytearray; see above for why its buffer stays put.
    let base = SlotBase(unsafe { pyo3::ffi::PyByteArray_AsString(array.as_ptr()) }.cast::<u8>());
    Ok((!base.0.is_null()).then_some((array, base)))
}
