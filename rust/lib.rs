//! `faceio._core`: the Python bindings. One thin function per entry point; the work is in the
//! pure-Rust modules below, which know nothing of PyO3.

pub mod batch;
pub mod colbuf;
pub mod columns;
pub mod decode;
pub mod error;
pub mod exif;
pub mod face;
pub mod fsio;
pub mod imagesize;
pub mod limits;
pub mod literal;
pub mod meta;
pub mod metabatch;
pub mod pixbatch;
pub mod png;
pub mod pool;
pub mod source;
pub mod statkeys;
pub mod tiff;

mod convert;
mod keys;
mod pybuf;
mod pycolumns;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Mutex;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

use crate::batch::Ended;
use crate::convert::{
    face_payload_to_py, meta_to_dict, no_batch, parsed_to_py, take_outcomes, to_pyerr, NOT_READ,
};
use crate::error::Result as CoreResult;
use crate::meta::{parse_face_payload, parse_png_payload, ImageMeta};
use crate::metabatch::{ChunkReader, ReaderFailed};
use crate::pixbatch::{FileOutcome, Frame};
use crate::pybuf::uninit_bytearray;

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

/// The parsed faceswap payload of an in-memory PNG (a plain Python object).
#[pyfunction]
fn png_read_meta<'py>(py: Python<'py>, image: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    // bytes objects are immutable, so the slice stays valid with the GIL released; parsing
    // then overlaps other threads' work (image decoding in read_image_batch, loaders).
    let lim = limits::current();
    let value = py
        .detach(|| parse_png_payload(image, &lim))
        .map_err(|e| to_pyerr(py, e))?;
    parsed_to_py(py, &value).map_err(|e| e.into_pyerr(py, None))
}

/// Like `png_read_meta`, but a payload with exactly a face header's shape comes back built as
/// objects of `classes` (one per entry of `HEADER_SCHEMA`, called by keyword, arrays as
/// float32 numpy arrays): `(True, header)`; anything else as `(False, object)`.
#[pyfunction]
fn png_read_face<'py>(
    py: Python<'py>,
    image: &[u8],
    classes: Vec<Bound<'py, PyAny>>,
) -> PyResult<(bool, Bound<'py, PyAny>)> {
    let lim = limits::current();
    let payload = py
        .detach(|| parse_face_payload(image, &lim))
        .map_err(|e| to_pyerr(py, e))?;
    face_payload_to_py(py, &payload, &classes).map_err(|e| e.into_pyerr(py, None))
}

/// Check every chunk of an in-memory PNG (bounds, CRCs, IHDR first, IDAT present, IEND).
#[pyfunction]
fn png_verify(py: Python<'_>, image: &[u8]) -> PyResult<()> {
    // bytes objects are immutable, so the slice stays valid with the GIL released.
    py.detach(|| png::verify(image))
        .map_err(|e| to_pyerr(py, e))
}

/// Check that every chunk of an in-memory PNG lies inside it, up to IEND (CRCs unchecked).
#[pyfunction]
fn png_check_chunks(py: Python<'_>, image: &[u8]) -> PyResult<()> {
    // bytes objects are immutable, so the slice stays valid with the GIL released.
    py.detach(|| png::check_chunks(image))
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
    parsed_to_py(py, &value).map_err(|e| e.into_pyerr(py, None))
}

/// Size and faceswap payload of one image file, reading only the bytes needed.
#[pyfunction]
fn read_image_meta<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyDict>> {
    let lim = limits::current();
    let m = py
        .detach(|| meta::read_image_meta(&path, &lim))
        .map_err(|e| to_pyerr(py, e))?;
    meta_to_dict(py, &m).map_err(|e| e.into_pyerr(py, Some(&path)))
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
    py.detach(|| {
        fsio::update_file(&path, |data| {
            let chunk = png::pack_itxt(&payload)?;
            png::put_meta_chunk(data, &chunk)
        })
    })
    .map_err(|e| to_pyerr(py, e))
}

/// Write `data` to `path` crash-safely: a unique temporary file in the same folder, flushed,
/// renamed over `path`, the folder flushed. An existing file keeps its mode, owner and extended
/// attributes.
#[pyfunction]
fn write_file(py: Python<'_>, path: PathBuf, data: &[u8]) -> PyResult<()> {
    // bytes objects are immutable, so the slice stays valid with the GIL released.
    py.detach(|| fsio::write_file(&path, data).map_err(|e| e.with_path(&path)))
        .map_err(|e| to_pyerr(py, e))
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

/// Decode a batch of same-sized images into one BGR bytearray of `n * height * width * 3`
/// bytes, on all cores with the GIL released: 8-bit RGB/RGBA PNGs (every extracted face) here,
/// the rest left to the caller (OpenCV), per file.
///
/// The size is the first file's, or `(height, width)` when given. Returns
/// `(bytearray, height, width, status, problems, headers)`: `status` holds a byte per file
/// (0 decoded, 1 for OpenCV, 2 a PNG of another size, 3 failed, 4 not read after a failure),
/// `problems` maps the index of a failed file to its exception and of an odd-sized one to its
/// `(height, width)`. With `classes`, `headers[i]` is each file's header, as `png_read_face`
/// gives it (a header object, or the payload as parsed), built while
/// the others decode; without it `None`. The bytearray is `None` when no size is given and the
/// first file is not one decoded here (nothing else is read then).
#[pyfunction]
#[pyo3(signature = (paths, classes=None, size=None))]
fn decode_png_batch<'py>(
    py: Python<'py>,
    paths: Vec<PathBuf>,
    classes: Option<Vec<Py<PyAny>>>,
    size: Option<(u32, u32)>,
) -> PyResult<Bound<'py, PyTuple>> {
    let lim = limits::current();
    let n = paths.len();
    // The first file is read here to learn the batch's size, and not read again.
    let head = match (size, paths.first()) {
        (None, Some(first)) => fsio::read_regular(first).ok(),
        _ => None,
    };
    let frame = match (size, head.as_deref().and_then(decode::fast_path_size)) {
        (Some((height, width)), _) => Some(Frame { width, height }),
        (None, Some((width, height, _))) => Some(Frame { width, height }),
        (None, None) => None,
    };
    let total = frame.and_then(|f| f.bytes().checked_mul(n)?.try_into().ok());
    let (Some(frame), Some(total)) = (frame, total) else {
        return no_batch(py);
    };
    // Zeroing 50 MB up front on this thread cost a third of a 256-face batch; each worker
    // zero-fills its own slot instead, in parallel.
    let Some((pixels, base)) = uninit_bytearray(py, total)? else {
        return no_batch(py);
    };
    base.advise_huge_pages(total as usize);
    let with_meta = classes.is_some();
    let work = |i: usize| {
        // SAFETY: slot `i` lies inside the `total` bytes allocated above, `pixels` outlives
        // this closure (the run ends before it is handed out), and each index is visited
        // once, so slots never overlap.
        let out = unsafe { base.zeroed_slot(i, frame.bytes()) };
        let data = if i == 0 { head.as_deref() } else { None };
        pixbatch::read_one(&paths[i], data, frame, out, with_meta, &lim)
    };
    let mut status = vec![NOT_READ; n];
    let problems = PyDict::new(py).unbind();
    let mut headers: Vec<Option<Py<PyAny>>> = (0..n).map(|_| None).collect();
    let mut error = None;
    let ended = py.detach(|| {
        batch::run(n, work, FileOutcome::is_fatal, |items| {
            Python::attach(|py| {
                let problems = problems.bind(py);
                let taken = take_outcomes(
                    py,
                    &paths,
                    items,
                    &mut status,
                    problems,
                    &mut headers,
                    &classes,
                );
                taken.map_err(|e| error = Some(e)).is_ok()
            })
        })
    });
    if let Some(e) = error {
        return Err(e);
    }
    if ended == Ended::Panicked {
        return Err(PyRuntimeError::new_err(
            "faceio internal error: a batch worker failed",
        ));
    }
    let headers = match classes {
        Some(_) => PyList::new(py, headers)?.into_any(),
        None => py.None().into_bound(py),
    };
    PyTuple::new(
        py,
        [
            pixels.into_any(),
            frame.height.into_pyobject(py)?.into_any(),
            frame.width.into_pyobject(py)?.into_any(),
            PyBytes::new(py, &status).into_any(),
            problems.into_bound(py).into_any(),
            headers,
        ],
    )
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

struct BatchState {
    reader: ChunkReader,
    ready: VecDeque<CoreResult<ImageMeta>>,
    next: usize,
}

/// Iterator over `(path, dict_or_exception)` for many files, in input order (see
/// `metabatch`).
#[pyclass(module = "faceio._core")]
struct MetaBatch {
    paths: Vec<Py<PyAny>>,
    state: Mutex<BatchState>,
}

impl MetaBatch {
    /// Start reading `paths` (`facts`: see `read_scan_facts_batch`); each path is kept as
    /// given, for the results, and taken as a `PathBuf` for the reader.
    fn start(paths: Vec<Bound<'_, PyAny>>, chunk_size: usize, facts: bool) -> PyResult<Self> {
        let owned = paths
            .iter()
            .map(|p| p.extract::<PathBuf>())
            .collect::<PyResult<Vec<_>>>()?;
        Ok(MetaBatch {
            paths: paths.into_iter().map(Bound::unbind).collect(),
            state: Mutex::new(BatchState {
                reader: ChunkReader::start(owned, chunk_size, limits::current(), facts),
                ready: VecDeque::new(),
                next: 0,
            }),
        })
    }
}

#[pymethods]
impl MetaBatch {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let mut guard = self
            .state
            .try_lock()
            .map_err(|_| PyRuntimeError::new_err("metadata batch iterator already executing"))?;
        let st = &mut *guard;
        // Refused as a whole, the results already received included: the rest never come.
        if st.reader.in_other_process() {
            return Err(forked_batch());
        }
        loop {
            if let Some(item) = st.ready.pop_front() {
                let path = self.paths[st.next].bind(py).clone();
                st.next += 1;
                let failed = match item {
                    Ok(m) => match built(py, m) {
                        Ok(d) => return Ok(Some(PyTuple::new(py, [path, d])?)),
                        // A payload Python cannot build fails its own file, like a parse
                        // error, so that a collecting caller goes on to the next file.
                        Err(e) if e.is_data() => {
                            let file = path.extract::<PathBuf>().ok();
                            e.into_pyerr(py, file.as_deref())
                        }
                        Err(e) => return Err(e.into_pyerr(py, None)),
                    },
                    Err(e) => to_pyerr(py, e),
                };
                let value = failed.into_value(py).into_bound(py).into_any();
                return Ok(Some(PyTuple::new(py, [path, value])?));
            }
            // Wait for the next chunk without holding the GIL.
            let reader = &mut st.reader;
            match py.detach(|| reader.next_chunk()) {
                Ok(Some(chunk)) => st.ready.extend(chunk),
                Ok(None) => return Ok(None),
                Err(ReaderFailed::Panicked) => {
                    return Err(PyRuntimeError::new_err("metadata reader thread failed"))
                }
                Err(ReaderFailed::OtherProcess) => return Err(forked_batch()),
            }
        }
    }
}

/// A metadata batch iterated in a forked child of the process that started it
/// (docs/format.md, "Worker threads").
fn forked_batch() -> PyErr {
    PyRuntimeError::new_err(
        "this metadata batch was started before the process forked: its reading thread is in \
         the parent; start a new batch in this process",
    )
}

/// The batch result's objects (its scan facts when it has them, else its dict); its parse
/// buffers then go to the next files' parses.
fn built<'py>(py: Python<'py>, mut m: ImageMeta) -> convert::ConvResult<Bound<'py, PyAny>> {
    let obj = match &m.facts {
        Some(f) => convert::facts_to_py(py, &m, f).map(Bound::into_any),
        None => meta_to_dict(py, &m).map(Bound::into_any),
    };
    if let Some(parsed) = m.itxt.take() {
        literal::spare::give_back(parsed);
    }
    obj
}

/// Start reading many files' metadata; yields `(path, dict)` or `(path, exception)` in order.
///
/// Chunks of 64 files: the parse tapes of a 256-face chunk (~25 MB) had left the caches by the
/// time their objects were built, and 64 cost 3-4 µs less CPU a face, kept or dropped, on
/// two cores or one (docs/format.md, "Limits").
#[pyfunction]
#[pyo3(signature = (paths, chunk_size=64))]
fn read_image_meta_batch(paths: Vec<Bound<'_, PyAny>>, chunk_size: usize) -> PyResult<MetaBatch> {
    MetaBatch::start(paths, chunk_size, false)
}

/// `read_image_meta_batch` for `faceio scan`: a file whose payload has exactly a face header's
/// shape gives its scan facts (`convert::facts_to_py`) instead of its dict, taken on the
/// reading threads; every other file gives what `read_image_meta_batch` gives.
#[pyfunction]
#[pyo3(signature = (paths, chunk_size=64))]
fn read_scan_facts_batch(paths: Vec<Bound<'_, PyAny>>, chunk_size: usize) -> PyResult<MetaBatch> {
    MetaBatch::start(paths, chunk_size, true)
}

/// Face header columns of many files on disk (docs/table.md), read and parsed on all cores
/// with the GIL released: `(batches, errors, needs)` as `faceio.arrow` takes them (see
/// `pycolumns`); `needs` is always empty here.
#[pyfunction]
fn read_meta_columns<'py>(py: Python<'py>, paths: Vec<PathBuf>) -> PyResult<Bound<'py, PyTuple>> {
    let lim = limits::current();
    let outcomes = py.detach(|| columns::read_paths(&paths, &lim));
    pycolumns::outcomes_to_py(py, outcomes, &paths)
}

/// `read_meta_columns` and, from the same reads, the scan facts `read_scan_facts_batch` gives
/// of each face header (the folder cache needs both): `(batches, errors, needs, facts)`,
/// `facts` a list of a facts tuple or `None` per file (no face header, a failure, or a payload
/// Python builds: `read_scan_facts_batch` gives no facts for those either).
#[pyfunction]
fn read_meta_columns_and_facts<'py>(
    py: Python<'py>,
    paths: Vec<PathBuf>,
) -> PyResult<Bound<'py, PyTuple>> {
    let lim = limits::current();
    let read = py.detach(|| columns::read_paths_with_facts(&paths, &lim));
    let (outcomes, scans): (Vec<_>, Vec<_>) = read.into_iter().unzip();
    let facts = pycolumns::scan_facts_to_py(py, scans)?;
    let columns = pycolumns::outcomes_to_py(py, outcomes, &paths)?;
    let items: Vec<_> = columns.iter().chain([facts.into_any()]).collect();
    PyTuple::new(py, items)
}

/// Like `read_meta_columns`, for files given as bytes (fetched from object storage): `names`
/// name them (and decide PNG or not, as paths do), `whole[i]` says whether `blobs[i]` is the
/// whole file or only its first bytes. A prefix that ends too soon gives no error but an entry
/// `(row, length)` in `needs`: the prefix length to fetch and give again.
#[pyfunction]
fn read_meta_columns_from_bytes<'py>(
    py: Python<'py>,
    names: Vec<PathBuf>,
    blobs: Vec<Bound<'py, PyBytes>>,
    whole: Vec<bool>,
) -> PyResult<Bound<'py, PyTuple>> {
    if names.len() != blobs.len() || names.len() != whole.len() {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "names, blobs and whole must be of the same length",
        ));
    }
    let lim = limits::current();
    // bytes objects are immutable, so the slices stay valid with the GIL released.
    let slices: Vec<&[u8]> = blobs.iter().map(|b| b.as_bytes()).collect();
    let outcomes = py.detach(|| columns::read_blobs(&names, &slices, &whole, &lim));
    pycolumns::outcomes_to_py(py, outcomes, &names)
}

/// The scan cache's keys of many files, `stat`ed on all cores with the GIL released: `names`
/// are file names from `folder` (as `os.fsencode` gives them), each ended by a NUL byte, and
/// `count` of them; six columns (found, size, mtime_ns, ctime_ns, inode, device) of `count`
/// little-endian 64-bit integers each, one after the other, in one bytes object (`statkeys`).
#[pyfunction]
fn stat_keys<'py>(
    py: Python<'py>,
    folder: PathBuf,
    names: &[u8],
    count: usize,
) -> PyResult<Bound<'py, PyBytes>> {
    let Some(names) = statkeys::split_names(names, count) else {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "names must be `count` names, each ended by a NUL byte",
        ));
    };
    // bytes objects are immutable, so the names stay valid with the GIL released.
    let out = py.detach(|| statkeys::stat_keys(&folder, &names));
    Ok(PyBytes::new(py, &out))
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    pool::handle_fork();
    m.add_function(wrap_pyfunction!(pack_itxt, m)?)?;
    m.add_function(wrap_pyfunction!(png_write_meta, m)?)?;
    m.add_function(wrap_pyfunction!(png_read_meta, m)?)?;
    m.add_function(wrap_pyfunction!(png_read_face, m)?)?;
    m.add_function(wrap_pyfunction!(png_verify, m)?)?;
    m.add_function(wrap_pyfunction!(png_check_chunks, m)?)?;
    m.add_function(wrap_pyfunction!(decode_png, m)?)?;
    m.add_function(wrap_pyfunction!(decode_png_batch, m)?)?;
    m.add_function(wrap_pyfunction!(parse_literal, m)?)?;
    m.add_function(wrap_pyfunction!(read_image_meta, m)?)?;
    m.add_function(wrap_pyfunction!(read_image_meta_batch, m)?)?;
    m.add_function(wrap_pyfunction!(read_scan_facts_batch, m)?)?;
    m.add_function(wrap_pyfunction!(tiff_write_meta, m)?)?;
    m.add_function(wrap_pyfunction!(tiff_read_description, m)?)?;
    m.add_function(wrap_pyfunction!(update_png_meta, m)?)?;
    m.add_function(wrap_pyfunction!(write_file, m)?)?;
    m.add_function(wrap_pyfunction!(set_limits, m)?)?;
    m.add_function(wrap_pyfunction!(get_limits, m)?)?;
    m.add_function(wrap_pyfunction!(read_meta_columns, m)?)?;
    m.add_function(wrap_pyfunction!(read_meta_columns_from_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(read_meta_columns_and_facts, m)?)?;
    m.add_function(wrap_pyfunction!(stat_keys, m)?)?;
    m.add_class::<MetaBatch>()?;
    let meta_columns: Vec<(&str, &str)> = columns::COLUMNS
        .iter()
        .map(|&(name, kind)| (name, kind.name()))
        .collect();
    m.add("META_COLUMNS", PyTuple::new(m.py(), meta_columns)?)?;
    m.add("HEADER_SCHEMA", convert::schema_to_py(m.py())?)?;
    // The one place the version is written is Cargo.toml; maturin gives it to the wheel too.
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("DEFAULT_MAX_CHUNK", limits::DEFAULT_MAX_CHUNK)?;
    m.add("DEFAULT_MAX_TEXT", limits::DEFAULT_MAX_TEXT)?;
    m.add("DEFAULT_MAX_DEPTH", limits::DEFAULT_MAX_DEPTH)?;
    Ok(())
}
