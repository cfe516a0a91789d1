//! `faceio._core`: the Python bindings. One thin function per entry point; the work is in the
//! pure-Rust modules below, which know nothing of PyO3.

pub mod decode;
pub mod error;
pub mod face;
pub mod fsio;
pub mod imagesize;
pub mod limits;
pub mod literal;
pub mod meta;
pub mod png;
pub mod source;
pub mod tiff;

mod convert;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyTuple};
use rayon::prelude::*;

use crate::convert::{face_to_py, meta_to_dict, parsed_to_py, to_pyerr};
use crate::error::Result as CoreResult;
use crate::meta::ImageMeta;

/// Build the faceswap iTXt chunk (length, type, data, CRC) for a UTF-8 payload.
#[pyfunction]
fn pack_itxt<'py>(py: Python<'py>, payload: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    let chunk = png::pack_itxt(payload).map_err(|e| to_pyerr(py, e))?;
    Ok(PyBytes::new(py, &chunk))
}

/// Put a faceswap chunk for `payload` into a PNG: replacing an existing one, else before IDAT.
#[pyfunction]
fn png_write_meta<'py>(
    py: Python<'py>,
    image: &[u8],
    payload: &[u8],
) -> PyResult<Bound<'py, PyBytes>> {
    let out = png::pack_itxt(payload)
        .and_then(|chunk| png::put_meta_chunk(image, &chunk))
        .map_err(|e| to_pyerr(py, e))?;
    Ok(PyBytes::new(py, &out))
}

fn parse_png_payload(image: &[u8], lim: &limits::Limits) -> CoreResult<literal::Parsed> {
    let m = png::read_meta(&mut source::MemSource(image), lim)?;
    let t = m
        .text
        .ok_or_else(|| error::Error::not_found("PNG has no faceswap iTXt chunk"))?;
    meta::parse_text(&t, lim)
}

/// A parsed payload, and its face parts when it has a face header's shape.
type FacePayload = (literal::Parsed, Option<face::FaceParts>);

fn parse_face_payload(image: &[u8], lim: &limits::Limits) -> CoreResult<FacePayload> {
    let parsed = parse_png_payload(image, lim)?;
    let parts = face::face_parts(&parsed);
    Ok((parsed, parts))
}

/// `(True, face parts)` for a face header, else `(False, payload)`.
fn face_payload_to_py<'py>(
    py: Python<'py>,
    (parsed, parts): &FacePayload,
) -> PyResult<(bool, Bound<'py, PyAny>)> {
    match parts {
        Some(parts) => Ok((true, face_to_py(py, parsed, parts)?)),
        None => Ok((false, parsed_to_py(py, parsed)?)),
    }
}

/// The parsed faceswap payload of an in-memory PNG (a plain Python object).
#[pyfunction]
fn png_read_meta<'py>(py: Python<'py>, image: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    // bytes objects are immutable, so the slice stays valid with the GIL released; parsing
    // then overlaps other threads' work (image decoding in read_image_batch, loaders).
    let lim = limits::current();
    let value = py
        .detach(|| parse_png_payload(image, &lim))
        .map_err(|e| to_pyerr(py, e))?;
    parsed_to_py(py, &value)
}

/// Like `png_read_meta`, but a payload with exactly a face header's shape comes back taken
/// apart with its arrays as float32 bytes: `(True, parts)`; anything else as `(False, object)`.
#[pyfunction]
fn png_read_face<'py>(py: Python<'py>, image: &[u8]) -> PyResult<(bool, Bound<'py, PyAny>)> {
    let lim = limits::current();
    let payload = py
        .detach(|| parse_face_payload(image, &lim))
        .map_err(|e| to_pyerr(py, e))?;
    face_payload_to_py(py, &payload)
}

/// Check every chunk of an in-memory PNG (bounds, CRCs, IHDR first, IDAT present, IEND).
#[pyfunction]
fn png_verify(py: Python<'_>, image: &[u8]) -> PyResult<()> {
    // bytes objects are immutable, so the slice stays valid with the GIL released.
    py.detach(|| png::verify(image))
        .map_err(|e| to_pyerr(py, e))
}

/// Parse Python-literal text (str or UTF-8 bytes) into Python objects.
#[pyfunction]
fn parse_literal<'py>(py: Python<'py>, text: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let owned;
    let bytes: &[u8] = if let Ok(b) = text.cast::<PyBytes>() {
        owned = b.as_bytes().to_vec();
        &owned
    } else {
        owned = text.extract::<String>()?.into_bytes();
        &owned
    };
    let value = literal::parse(bytes, limits::current().max_depth).map_err(|e| to_pyerr(py, e))?;
    parsed_to_py(py, &value)
}

/// Size and faceswap payload of one image file, reading only the bytes needed.
#[pyfunction]
fn read_image_meta<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyDict>> {
    let lim = limits::current();
    let m = py
        .detach(|| meta::read_image_meta(&path, &lim))
        .map_err(|e| to_pyerr(py, e))?;
    meta_to_dict(py, &m)
}

/// Insert an ImageDescription holding `payload` into a single-IFD little-endian TIFF.
#[pyfunction]
fn tiff_write_meta<'py>(
    py: Python<'py>,
    image: &[u8],
    payload: &[u8],
) -> PyResult<Bound<'py, PyBytes>> {
    let out = tiff::write_description(image, payload).map_err(|e| to_pyerr(py, e))?;
    Ok(PyBytes::new(py, &out))
}

/// The ImageDescription bytes of a TIFF (trailing NULs removed).
#[pyfunction]
fn tiff_read_description<'py>(py: Python<'py>, image: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    let out = tiff::read_description(image).map_err(|e| to_pyerr(py, e))?;
    Ok(PyBytes::new(py, &out))
}

/// Rewrite a PNG file with its faceswap chunk replaced (or inserted), crash-safely.
#[pyfunction]
fn update_png_meta(py: Python<'_>, path: PathBuf, payload: Vec<u8>) -> PyResult<()> {
    py.detach(|| -> CoreResult<()> {
        let target = fsio::resolve(&path).map_err(|e| error::Error::io(e).with_path(&path))?;
        let run = || -> CoreResult<()> {
            let data = std::fs::read(&target)?;
            let chunk = png::pack_itxt(&payload)?;
            let new = png::put_meta_chunk(&data, &chunk)?;
            fsio::replace_file(&target, &new)
        };
        run().map_err(|e| e.with_path(&path))
    })
    .map_err(|e| to_pyerr(py, e))
}

/// The base of a bytearray's buffer, handed to worker threads that each fill their own slot.
#[derive(Clone, Copy)]
struct SlotBase(*mut u8);
// SAFETY: workers only ever touch disjoint `frame`-sized slots of the buffer (see below).
unsafe impl Send for SlotBase {}
unsafe impl Sync for SlotBase {}

impl SlotBase {
    /// Slot `i` of `frame` bytes, zero-filled.
    ///
    /// # Safety
    /// The buffer must hold at least `(i + 1) * frame` bytes and outlive the slice, and no other
    /// slice may cover slot `i` at the same time.
    unsafe fn zeroed_slot<'a>(self, i: usize, frame: usize) -> &'a mut [u8] {
        let slot = self.0.add(i * frame);
        // Zeroing first means the slice covers initialised memory only.
        std::ptr::write_bytes(slot, 0, frame);
        std::slice::from_raw_parts_mut(slot, frame)
    }
}

/// Ask Linux to back the whole 2 MiB pages inside a new buffer of `len` bytes at `ptr` with
/// transparent huge pages, as numpy does for its own large arrays: the workers then take one
/// page fault per 2 MiB they fill instead of one per 4 KiB, which was a fifth of a 256-face
/// batch's time. Only a hint: where the kernel declines (or another system), nothing changes.
#[cfg(target_os = "linux")]
fn advise_huge_pages(ptr: *mut u8, len: usize) {
    const HUGE: usize = 2 << 20;
    let start = (ptr as usize).next_multiple_of(HUGE);
    let end = (ptr as usize).saturating_add(len) & !(HUGE - 1);
    if end > start {
        // SAFETY: `start..end` lies inside the caller's buffer, which no one else uses yet;
        // MADV_HUGEPAGE changes how the kernel backs those pages, never their contents.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_ptr: *mut u8, _len: usize) {}

/// What the workers of `build_while_decoding` have finished and its converting thread has not
/// yet taken.
struct Handoff {
    ready: Vec<(usize, FacePayload)>,
    finished: usize,
    total: usize,
    failed: bool,
}

impl Handoff {
    /// Whether the converting thread should wake: a failure, a full batch, or the last file.
    fn wakes(&self) -> bool {
        self.failed || self.ready.len() >= WAKE_AT || self.finished == self.total
    }
}

type Shared = (Mutex<Handoff>, Condvar);

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Handoff> {
    shared.0.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How many finished files wake the converting thread. Each wake takes a core from a worker
/// for a moment; fewer, larger batches leave more conversion for after the last file.
const WAKE_AT: usize = 32;

/// Counts one file as finished when dropped, also when its work panicked (as failed), so the
/// converting thread never waits for a file that will not come.
struct Finish<'a> {
    shared: &'a Shared,
    index: usize,
    result: Option<FacePayload>,
}

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        let mut state = lock(self.shared);
        state.finished += 1;
        match self.result.take() {
            Some(payload) => state.ready.push((self.index, payload)),
            None => state.failed = true,
        }
        if state.wakes() {
            self.shared.1.notify_one();
        }
    }
}

/// Run `work` over `paths` on the rayon pool with the GIL released while this thread turns
/// each finished file's header into `build(is_face, parts_or_payload)`, a batch at a time:
/// building Python objects needs the GIL, and done after the decoding it kept one core idle.
/// The headers in input order, or `None` if `work` failed for any file.
fn build_while_decoding<'py, F>(
    py: Python<'py>,
    paths: &[PathBuf],
    build: &Bound<'py, PyAny>,
    work: F,
) -> PyResult<Option<Bound<'py, PyList>>>
where
    F: Fn(usize, &PathBuf) -> Option<FacePayload> + Sync,
{
    let n = paths.len();
    let handoff = Handoff {
        ready: Vec::new(),
        finished: 0,
        total: n,
        failed: false,
    };
    let shared: Shared = (Mutex::new(handoff), Condvar::new());
    let build = build.clone().unbind();
    let mut headers: Vec<Option<Py<PyAny>>> = (0..n).map(|_| None).collect();
    let mut error = None;
    let complete = py.detach(|| {
        rayon::in_place_scope(|scope| {
            scope.spawn(|_| {
                paths.par_iter().enumerate().for_each(|(index, path)| {
                    let mut finish = Finish {
                        shared: &shared,
                        index,
                        result: None,
                    };
                    if !lock(&shared).failed {
                        finish.result = work(index, path);
                    }
                });
            });
            loop {
                let (batch, done) = {
                    let mut state = shared
                        .1
                        .wait_while(lock(&shared), |s| !s.wakes())
                        .unwrap_or_else(PoisonError::into_inner);
                    if state.failed {
                        return false;
                    }
                    (
                        std::mem::take(&mut state.ready),
                        state.finished == state.total,
                    )
                };
                let built = Python::attach(|py| -> PyResult<()> {
                    for (index, payload) in batch {
                        let (is_face, parts) = face_payload_to_py(py, &payload)?;
                        headers[index] = Some(build.call1(py, (is_face, parts))?);
                    }
                    Ok(())
                });
                if let Err(e) = built {
                    // The first exception (from `build`, or Ctrl-C) ends the batch: the
                    // workers skip the files they have not started.
                    error = Some(e);
                    lock(&shared).failed = true;
                    return false;
                }
                if done {
                    return true;
                }
            }
        })
    });
    if let Some(e) = error {
        return Err(e);
    }
    if !complete {
        return Ok(None);
    }
    let headers = headers
        .into_iter()
        .map(|h| h.map(|h| h.into_bound(py)))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| PyRuntimeError::new_err("faceio internal error: a header went missing"))?;
    Ok(Some(PyList::new(py, headers)?))
}

/// A new bytearray of `len` bytes left uninitialised, and its buffer, which the caller must
/// fill through `SlotBase::zeroed_slot` only. `None` if CPython gives no buffer.
///
/// The buffer stays valid while the bytearray is alive and not resized. Nothing can resize it
/// until the caller hands it out: it is referenced only by the caller, and bytearrays are not
/// tracked by the garbage collector, so Python code that runs meanwhile (a `build` callback)
/// cannot reach it.
fn uninit_bytearray(
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

/// Decode an 8-bit RGB or RGBA PNG (every extracted face) to BGR with the GIL released, about
/// twice as fast as OpenCV: `(bytearray, height, width)`, or `None` for any other kind of
/// image and for one that does not decode, which the caller then gives to OpenCV.
#[pyfunction]
fn decode_png<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Option<Bound<'py, PyTuple>>> {
    let Some((width, height, _)) = decode::fast_path_size(data) else {
        return Ok(None);
    };
    let frame = width as usize * height as usize * 3;
    let Ok(len) = isize::try_from(frame) else {
        return Ok(None);
    };
    let Some((pixels, base)) = uninit_bytearray(py, len)? else {
        return Ok(None);
    };
    // bytes objects are immutable, so `data` stays valid with the GIL released.
    let decoded = py.detach(|| {
        // SAFETY: slot 0 of `frame` bytes is the whole buffer, which only this closure uses.
        let out = unsafe { base.zeroed_slot(0, frame) };
        decode::decode_bgr(data, width, height, out)
    });
    if decoded.is_none() {
        return Ok(None);
    }
    let height = height.into_pyobject(py)?.into_any();
    let width = width.into_pyobject(py)?.into_any();
    Ok(Some(PyTuple::new(py, [pixels.into_any(), height, width])?))
}

/// Decode a batch of same-sized 8-bit RGB/RGBA PNGs into one BGR bytearray of
/// `n * height * width * 3` bytes, on all cores with the GIL released.
///
/// Returns `(bytearray, height, width, headers)`: with `build`, `headers` holds, per file,
/// `build(True, face parts)` or `build(False, payload)` (as `png_read_face` gives them), called
/// while the other files decode; without it `None`. The whole result is `None` when any file
/// is not of that kind, differs in size, fails to read, decode or parse: the caller then
/// takes the OpenCV path, which reports the problem file by name.
#[pyfunction]
#[pyo3(signature = (paths, build=None))]
fn decode_png_batch<'py>(
    py: Python<'py>,
    paths: Vec<PathBuf>,
    build: Option<Bound<'py, PyAny>>,
) -> PyResult<Option<Bound<'py, PyTuple>>> {
    let lim = limits::current();
    let Some(first) = paths.first() else {
        return Ok(None);
    };
    let head = std::fs::read(first).unwrap_or_default();
    let Some((width, height, _)) = decode::fast_path_size(&head) else {
        return Ok(None);
    };
    let frame = width as usize * height as usize * 3;
    let Some(total) = frame
        .checked_mul(paths.len())
        .and_then(|t| isize::try_from(t).ok())
    else {
        return Ok(None);
    };
    // Zeroing 50 MB up front on this thread cost a third of a 256-face batch; each worker
    // zero-fills its own slot instead, in parallel.
    let Some((pixels, base)) = uninit_bytearray(py, total)? else {
        return Ok(None);
    };
    advise_huge_pages(base.0, total as usize);
    // One file: read once, header parsed from the same bytes, pixels into slot `i`.
    let work = |i: usize, path: &PathBuf, with_meta: bool| -> Option<Option<FacePayload>> {
        // SAFETY: slot `i` lies inside the `total` bytes allocated above, `pixels` outlives
        // this closure, and each index is visited once, so slots never overlap.
        let out = unsafe { base.zeroed_slot(i, frame) };
        // The first file was read already, for the batch's size.
        let read;
        let data = match i {
            0 => &head,
            _ => {
                read = std::fs::read(path).ok()?;
                &read
            }
        };
        let meta = match with_meta {
            true => Some(parse_face_payload(data, &lim).ok()?),
            false => None,
        };
        decode::decode_bgr(data, width, height, out)?;
        Some(meta)
    };
    let headers = match &build {
        Some(build) => {
            // Parsing, a decoded file always has its payload: `None` is a failure.
            let work = |i: usize, path: &PathBuf| work(i, path, true).flatten();
            match build_while_decoding(py, &paths, build, work)? {
                Some(headers) => headers.into_any(),
                None => return Ok(None),
            }
        }
        None => {
            let decoded = py.detach(|| {
                paths
                    .par_iter()
                    .enumerate()
                    .try_for_each(|(i, path)| work(i, path, false).map(|_| ()))
            });
            if decoded.is_none() {
                return Ok(None);
            }
            py.None().into_bound(py)
        }
    };
    Ok(Some(PyTuple::new(
        py,
        [
            pixels.into_any(),
            height.into_pyobject(py)?.into_any(),
            width.into_pyobject(py)?.into_any(),
            headers,
        ],
    )?))
}

/// Replace the limits for hostile input; `None` keeps a limit as it is.
#[pyfunction]
#[pyo3(signature = (*, max_chunk=None, max_text=None, max_depth=None))]
fn set_limits(max_chunk: Option<usize>, max_text: Option<usize>, max_depth: Option<usize>) {
    limits::set(max_chunk, max_text, max_depth);
}

/// The limits in force, as a dict.
#[pyfunction]
fn get_limits(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let l = limits::current();
    let d = PyDict::new(py);
    d.set_item("max_chunk", l.max_chunk)?;
    d.set_item("max_text", l.max_text)?;
    d.set_item("max_depth", l.max_depth)?;
    Ok(d)
}

type Chunk = Vec<CoreResult<ImageMeta>>;

struct BatchState {
    rx: Option<Receiver<Chunk>>,
    ready: VecDeque<CoreResult<ImageMeta>>,
    next: usize,
    worker: Option<JoinHandle<()>>,
}

/// Iterator over `(path, dict_or_exception)` for many files, in input order.
///
/// A background thread reads and parses chunks of files on the rayon pool with the GIL released,
/// at most two chunks ahead of the consumer, so the first result comes early and memory stays
/// bounded however long the list.
#[pyclass(module = "faceio._core")]
struct MetaBatch {
    paths: Vec<Py<PyAny>>,
    state: Mutex<BatchState>,
}

const FIRST_CHUNK: usize = 32;

impl MetaBatch {
    fn start(paths: Vec<Py<PyAny>>, owned: Vec<PathBuf>, chunk: usize) -> Self {
        let (tx, rx) = sync_channel::<Chunk>(2);
        let chunk = chunk.max(1);
        let worker = std::thread::spawn(move || {
            let lim = limits::current();
            let mut start = 0;
            let mut size = FIRST_CHUNK.min(chunk);
            while start < owned.len() {
                let end = (start + size).min(owned.len());
                let out = meta::read_batch(&owned[start..end], &lim);
                if tx.send(out).is_err() {
                    return; // the iterator was dropped: stop reading
                }
                start = end;
                size = chunk;
            }
        });
        MetaBatch {
            paths,
            state: Mutex::new(BatchState {
                rx: Some(rx),
                ready: VecDeque::new(),
                next: 0,
                worker: Some(worker),
            }),
        }
    }
}

impl Drop for BatchState {
    fn drop(&mut self) {
        // Dropping the receiver makes the worker's next send fail, so it ends promptly.
        self.rx = None;
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

#[pymethods]
impl MetaBatch {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let mut guard = self.state.try_lock().map_err(|_| {
            PyRuntimeError::new_err("read_image_meta_batch iterator already executing")
        })?;
        let st = &mut *guard;
        loop {
            if let Some(item) = st.ready.pop_front() {
                let path = self.paths[st.next].bind(py).clone();
                st.next += 1;
                let value = match item {
                    Ok(m) => meta_to_dict(py, &m)?.into_any(),
                    Err(e) => to_pyerr(py, e).into_value(py).into_bound(py).into_any(),
                };
                return Ok(Some(PyTuple::new(py, [path, value])?));
            }
            let Some(rx) = st.rx.take() else {
                return Ok(None);
            };
            // Wait for the next chunk without holding the GIL (the receiver moves into the
            // closure because it is not Sync, and comes back with the result).
            let (rx, got) = py.detach(move || {
                let got = rx.recv();
                (rx, got)
            });
            match got {
                Ok(chunk) => {
                    st.rx = Some(rx);
                    st.ready.extend(chunk);
                }
                Err(_) => {
                    st.rx = None;
                    if let Some(w) = st.worker.take() {
                        if w.join().is_err() {
                            return Err(PyRuntimeError::new_err("metadata reader thread failed"));
                        }
                    }
                    return Ok(None);
                }
            }
        }
    }
}

/// Start reading many files' metadata; yields `(path, dict)` or `(path, exception)` in order.
#[pyfunction]
#[pyo3(signature = (paths, chunk_size=256))]
fn read_image_meta_batch(
    py: Python<'_>,
    paths: Vec<Bound<'_, PyAny>>,
    chunk_size: usize,
) -> PyResult<MetaBatch> {
    let owned = paths
        .iter()
        .map(|p| p.extract::<PathBuf>())
        .collect::<PyResult<Vec<_>>>()?;
    let keep = paths.into_iter().map(Bound::unbind).collect();
    let _ = py;
    Ok(MetaBatch::start(keep, owned, chunk_size))
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(pack_itxt, m)?)?;
    m.add_function(wrap_pyfunction!(png_write_meta, m)?)?;
    m.add_function(wrap_pyfunction!(png_read_meta, m)?)?;
    m.add_function(wrap_pyfunction!(png_read_face, m)?)?;
    m.add_function(wrap_pyfunction!(png_verify, m)?)?;
    m.add_function(wrap_pyfunction!(decode_png, m)?)?;
    m.add_function(wrap_pyfunction!(decode_png_batch, m)?)?;
    m.add_function(wrap_pyfunction!(parse_literal, m)?)?;
    m.add_function(wrap_pyfunction!(read_image_meta, m)?)?;
    m.add_function(wrap_pyfunction!(read_image_meta_batch, m)?)?;
    m.add_function(wrap_pyfunction!(tiff_write_meta, m)?)?;
    m.add_function(wrap_pyfunction!(tiff_read_description, m)?)?;
    m.add_function(wrap_pyfunction!(update_png_meta, m)?)?;
    m.add_function(wrap_pyfunction!(set_limits, m)?)?;
    m.add_function(wrap_pyfunction!(get_limits, m)?)?;
    m.add_class::<MetaBatch>()?;
    m.add("DEFAULT_MAX_CHUNK", limits::DEFAULT_MAX_CHUNK)?;
    m.add("DEFAULT_MAX_TEXT", limits::DEFAULT_MAX_TEXT)?;
    m.add("DEFAULT_MAX_DEPTH", limits::DEFAULT_MAX_DEPTH)?;
    Ok(())
}
