//! Rust values to Python objects, and core errors to the `faceio` exception family.

use std::path::{Path, PathBuf};

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyComplex, PyDict, PyFloat, PyInt, PySet, PyString, PyTuple,
    PyType,
};

use crate::error::{Error, ErrorKind};
use crate::face::{Array, FaceFacts, Object, Part, SCHEMA};
use crate::literal::{Node, Parsed};
use crate::meta::ImageMeta;
use crate::pixbatch::FileOutcome;

static CLASSES: PyOnceLock<[Py<PyType>; 6]> = PyOnceLock::new();

/// The Python exception classes, from `faceio.errors` (they use multiple inheritance, which is
/// simplest to declare in Python).
fn classes(py: Python<'_>) -> PyResult<&[Py<PyType>; 6]> {
    CLASSES.get_or_try_init(py, || {
        let m = py.import("faceio.errors")?;
        let get =
            |n: &str| -> PyResult<Py<PyType>> { Ok(m.getattr(n)?.cast_into::<PyType>()?.unbind()) };
        Ok([
            get("PngFormatError")?,
            get("MetadataSyntaxError")?,
            get("TiffFormatError")?,
            get("MetadataNotFound")?,
            get("UnsupportedFormatError")?,
            get("HeaderSchemaError")?,
        ])
    })
}

/// The `HeaderSchemaError` for a payload that parsed but does not fit the face header's
/// fields, its message naming the file (as `to_pyerr`'s do) and why.
pub fn schema_error(py: Python<'_>, path: Option<&std::path::Path>, why: &str) -> PyErr {
    let path = path.map(|p| p.display().to_string());
    let message = match &path {
        Some(p) => format!("{p}: {why}"),
        None => why.to_string(),
    };
    let cls = match classes(py) {
        Ok(c) => c[5].bind(py).clone(),
        Err(e) => return e,
    };
    let kwargs = PyDict::new(py);
    let built = kwargs
        .set_item("path", path)
        .and_then(|_| cls.call((message,), Some(&kwargs)));
    match built {
        Ok(inst) => PyErr::from_value(inst),
        Err(e) => e,
    }
}

/// Map a core error to its Python exception, message naming the file, offset and chunk.
pub fn to_pyerr(py: Python<'_>, err: Error) -> PyErr {
    let path = err.path.as_ref().map(|p| p.display().to_string());
    let message = err.to_string();
    if err.kind == ErrorKind::Io {
        let io = err.io.as_ref();
        return match (io.and_then(std::io::Error::raw_os_error), io) {
            (Some(code), Some(e)) => {
                let strerror = e.to_string();
                let strerror = strerror
                    .split(" (os error")
                    .next()
                    .unwrap_or(&strerror)
                    .to_string();
                match path {
                    Some(p) => PyOSError::new_err((code, strerror, p)),
                    None => PyOSError::new_err((code, strerror)),
                }
            }
            _ => PyOSError::new_err(message),
        };
    }
    let idx = match err.kind {
        ErrorKind::Png => 0,
        ErrorKind::Syntax => 1,
        ErrorKind::Tiff => 2,
        ErrorKind::NotFound => 3,
        ErrorKind::Unsupported | ErrorKind::Io => 4,
    };
    let cls = match classes(py) {
        Ok(c) => c[idx].bind(py).clone(),
        Err(e) => return e,
    };
    let kwargs = PyDict::new(py);
    let built = kwargs
        .set_item("path", path)
        .and_then(|_| kwargs.set_item("offset", err.offset))
        .and_then(|_| cls.call((message,), Some(&kwargs)));
    match built {
        Ok(inst) => PyErr::from_value(inst),
        Err(e) => e,
    }
}

/// Why a parsed payload did not become Python objects.
pub enum ConvError {
    /// The payload holds a value Python refuses to build (a decimal int over its digit limit,
    /// an unknown `\N{...}` name): a fault of the file, raised as `MetadataSyntaxError`.
    Data {
        /// Where the value's literal starts in the payload, if known.
        offset: Option<u64>,
        message: &'static str,
        /// Python's own exception, chained as `__cause__`.
        cause: PyErr,
    },
    /// Anything else (a header class that raised, MemoryError, KeyboardInterrupt): as it is.
    Py(PyErr),
}

impl From<PyErr> for ConvError {
    fn from(err: PyErr) -> Self {
        ConvError::Py(err)
    }
}

pub type ConvResult<T> = Result<T, ConvError>;

impl ConvError {
    fn data(offset: Option<u32>, message: &'static str) -> impl FnOnce(PyErr) -> ConvError {
        move |cause| ConvError::Data {
            offset: offset.map(u64::from),
            message,
            cause,
        }
    }

    /// Whether this is a fault of the payload (rather than of a class or of Python itself).
    pub fn is_data(&self) -> bool {
        matches!(self, ConvError::Data { .. })
    }

    /// The Python exception: for a data fault a `MetadataSyntaxError` naming `path` (when the
    /// payload came from a file) and the payload offset, with Python's exception as its cause.
    pub fn into_pyerr(self, py: Python<'_>, path: Option<&Path>) -> PyErr {
        let (offset, message, cause) = match self {
            ConvError::Py(err) => return err,
            ConvError::Data {
                offset,
                message,
                cause,
            } => (offset, message, cause),
        };
        let at = offset.map_or(String::new(), |o| format!(" byte {o}"));
        let mut err = Error::new(
            ErrorKind::Syntax,
            offset,
            format!("faceswap payload{at}: {message} ({cause})"),
        );
        if let Some(path) = path {
            err = err.with_path(path);
        }
        let err = to_pyerr(py, err);
        err.set_cause(py, Some(cause));
        err
    }
}

/// Build the Python object for a parsed payload.
pub fn parsed_to_py<'py>(py: Python<'py>, p: &Parsed) -> ConvResult<Bound<'py, PyAny>> {
    let mut i = 0;
    node_to_py(py, p, &mut i)
}

/// The object for the node at `*i` (and its items), advancing `*i` past them. Recursion depth is
/// bounded by the parser's nesting limit.
fn node_to_py<'py>(py: Python<'py>, p: &Parsed, i: &mut usize) -> ConvResult<Bound<'py, PyAny>> {
    let node = p
        .nodes
        .get(*i)
        .copied()
        .ok_or_else(|| PyValueError::new_err("faceio internal error: truncated parse tape"))?;
    *i += 1;
    Ok(match node {
        Node::None => py.None().into_bound(py),
        Node::Ellipsis => py.Ellipsis().into_bound(py),
        Node::Bool(b) => PyBool::new(py, b).to_owned().into_any(),
        Node::Int(v) => PyInt::new(py, v).into_any(),
        Node::BigInt {
            start,
            len,
            radix,
            negative,
            at,
        } => {
            let digits = utf8(p.slice(start, len))?;
            // Python refuses decimal ints of more digits than sys.get_int_max_str_digits().
            let int = py
                .get_type::<PyInt>()
                .call1((digits, radix))
                .map_err(ConvError::data(
                    Some(at),
                    "an int literal Python refuses to convert",
                ))?;
            if negative {
                int.neg()?
            } else {
                int
            }
        }
        Node::Float(f) => PyFloat::new(py, f).into_any(),
        Node::Complex { re, im } => PyComplex::from_doubles(py, re, im).into_any(),
        Node::Str {
            start,
            len,
            surrogates,
        } => {
            let bytes = p.slice(start, len);
            match (surrogates, std::str::from_utf8(bytes)) {
                (false, Ok(s)) => PyString::new(py, s).into_any(),
                _ => PyBytes::new(py, bytes)
                    .call_method1(intern!(py, "decode"), ("utf-8", "surrogatepass"))?,
            }
        }
        Node::PyStr { start, len, at } => named_str(py, p.slice(start, len)).map_err(
            ConvError::data(Some(at), "a \\N{...} escape that names no character"),
        )?,
        Node::Bytes { start, len } => PyBytes::new(py, p.slice(start, len)).into_any(),
        Node::List { items: n, .. } => untracked(sequence(py, p, i, n, Seq::List)?),
        Node::Tuple { items: n, .. } => untracked(sequence(py, p, i, n, Seq::Tuple)?),
        Node::Set { items: n, .. } => {
            let set = PySet::empty(py)?;
            for _ in 0..n {
                // The parser refuses unhashable items; a failure here is still the payload's.
                set.add(node_to_py(py, p, i)?)
                    .map_err(ConvError::data(None, "a set item Python cannot hash"))?;
            }
            untracked(set.into_any())
        }
        Node::Dict { items: n, .. } => untracked(dict(py, p, i, n)?.into_any()),
    })
}

/// The dict of the `n` key-value node pairs at `*i`.
fn dict<'py>(py: Python<'py>, p: &Parsed, i: &mut usize, n: u32) -> ConvResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for _ in 0..n {
        let k = match p.nodes.get(*i) {
            // A plain str key: shared with earlier payloads (see `keys`).
            Some(&Node::Str {
                start,
                len,
                surrogates: false,
            }) => match std::str::from_utf8(p.slice(start, len)) {
                Ok(text) => {
                    *i += 1;
                    crate::keys::key(py, text).into_any()
                }
                Err(_) => node_to_py(py, p, i)?,
            },
            _ => node_to_py(py, p, i)?,
        };
        let v = node_to_py(py, p, i)?;
        d.set_item(k, v)
            .map_err(ConvError::data(None, "a dict key Python cannot hash"))?;
    }
    // Untracked by the caller after the last item: inserting a container re-tracks a dict
    // (CPython 3.11).
    Ok(d)
}

/// `obj`, a container built from a parsed payload, taken off the cyclic garbage collector's
/// list (as msgspec's `gc=False` structs are).
///
/// Why it is safe: a payload is a literal, so by induction every container built from one
/// holds only atomic values (str, bytes, int, float, complex, bool, None, ...) and containers
/// built the same way; none of them refers to an object outside the payload, so none can be
/// part of a reference cycle, and reference counting alone frees them. The collector only
/// ever needs to see objects that may sit on a cycle. Untracking is allowed on any container
/// at any time and does not change its type, value or behaviour; it only spares every
/// collection from traversing it (a kept face header is about 100 containers and 650
/// floats: with results kept, the collector took about a third of a folder scan's time).
///
/// What a caller should know (docs/format.md, "Reading"): a list or set of a header later
/// given a container and made part of a cycle (`lst.append(lst)`) is not collected; the
/// cycle leaks, as any cycle does with `gc.disable()`, and nothing crashes. A dict given a
/// container is tracked again by Python itself.
fn untracked<T>(obj: Bound<'_, T>) -> Bound<'_, T> {
    // SAFETY: `obj` is a live object we hold a reference to; PyObject_GC_UnTrack is part of
    // the stable ABI and does nothing for an object already untracked.
    unsafe { pyo3::ffi::PyObject_GC_UnTrack(obj.as_ptr().cast()) };
    obj
}

#[derive(Clone, Copy)]
enum Seq {
    List,
    Tuple,
}

/// A list or tuple of the `n` nodes at `*i`, each item stored as it is built: collecting the
/// items first (`PyList::new`) cost an allocation and a second pass per container, on the
/// thread that holds the GIL.
fn sequence<'py>(
    py: Python<'py>,
    p: &Parsed,
    i: &mut usize,
    n: u32,
    kind: Seq,
) -> ConvResult<Bound<'py, PyAny>> {
    use pyo3::ffi;
    let len = ffi::Py_ssize_t::try_from(n)
        .map_err(|_| PyValueError::new_err("faceio internal error: sequence too long"))?;
    // SAFETY: both return a new reference, or NULL with an exception set (from_owned_ptr_or_err
    // turns that into Err). Unfilled slots are NULL until set, which the list's and tuple's
    // traversal and deallocation skip, so an error part-way frees what was built.
    let seq = unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            match kind {
                Seq::List => ffi::PyList_New(len),
                Seq::Tuple => ffi::PyTuple_New(len),
            },
        )?
    };
    for k in 0..len {
        // Floats (landmarks, matrices, identities) are most of a header's items: made here
        // without a call through the general node dispatch.
        let item = match p.nodes.get(*i) {
            Some(&Node::Float(f)) => {
                *i += 1;
                PyFloat::new(py, f).into_ptr()
            }
            _ => node_to_py(py, p, i)?.into_ptr(),
        };
        // SAFETY: `seq` is the new list or tuple of `len` slots made above, `k < len`, and
        // only this function holds it (PyTuple_SetItem needs that); both steal `item`'s
        // reference, success or not.
        let status = unsafe {
            match kind {
                Seq::List => ffi::PyList_SetItem(seq.as_ptr(), k, item),
                Seq::Tuple => ffi::PyTuple_SetItem(seq.as_ptr(), k, item),
            }
        };
        if status != 0 {
            return Err(PyErr::fetch(py).into());
        }
    }
    Ok(seq)
}

/// The string a `PyStr` node's content stands for, its names resolved by Python.
fn named_str<'py>(py: Python<'py>, content: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    // The escape form of the content is what Python's own parser hands this codec for a string
    // literal, so the names resolve exactly as in Python.
    PyBytes::new(py, &unicode_escape_form(content))
        .call_method1(intern!(py, "decode"), ("unicode_escape",))
}

/// Replace each `PyStr` node of `p` by the `Str` node of the text Python resolves it to (added
/// to the arena), so that Rust can read the payload's strings; an unknown name is an error.
pub fn resolve_names(py: Python<'_>, p: &mut Parsed) -> PyResult<()> {
    for k in 0..p.nodes.len() {
        let Some(&Node::PyStr { start, len, .. }) = p.nodes.get(k) else {
            continue;
        };
        let text = named_str(py, p.slice(start, len))?;
        let encoded = text.call_method1(intern!(py, "encode"), ("utf-8", "surrogatepass"))?;
        let bytes = encoded.cast::<PyBytes>()?.as_bytes();
        let too_long = || PyValueError::new_err("faceio internal error: payload arena too long");
        let start = u32::try_from(p.arena.len()).map_err(|_| too_long())?;
        let len = u32::try_from(bytes.len()).map_err(|_| too_long())?;
        start.checked_add(len).ok_or_else(too_long)?;
        p.arena.extend_from_slice(bytes);
        p.nodes[k] = Node::Str {
            start,
            len,
            surrogates: std::str::from_utf8(bytes).is_err(),
        };
    }
    Ok(())
}

/// A `PyStr` node's content (see [`Node::PyStr`]) as ASCII for Python's `unicode_escape`
/// codec: each name as `\N{NAME}`, a backslash doubled, every other non-ASCII character (lone
/// surrogates included) as `\UXXXXXXXX`.
fn unicode_escape_form(content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 16);
    let mut k = 0;
    while let Some(&b) = content.get(k) {
        let (len, lead) = match b {
            0xFF => {
                let name = content[k + 1..].split(|&c| c == 0xFF).next().unwrap_or(&[]);
                out.extend_from_slice(b"\\N{");
                out.extend_from_slice(name);
                out.push(b'}');
                k += name.len() + 2;
                continue;
            }
            b'\\' => {
                out.extend_from_slice(b"\\\\");
                k += 1;
                continue;
            }
            0..=0x7F => {
                out.push(b);
                k += 1;
                continue;
            }
            // The (generalized) UTF-8 the parser wrote: a lead byte and its continuation bytes.
            0xC0..=0xDF => (2, u32::from(b & 0x1F)),
            0xE0..=0xEF => (3, u32::from(b & 0x0F)),
            _ => (4, u32::from(b & 0x07)),
        };
        let tail = content.get(k + 1..k + len).unwrap_or(&[]);
        let code = tail.iter().fold(lead, |v, &c| v << 6 | u32::from(c & 0x3F));
        out.extend_from_slice(format!("\\U{code:08x}").as_bytes());
        k += len;
    }
    out
}

fn utf8(b: &[u8]) -> PyResult<&str> {
    std::str::from_utf8(b)
        .map_err(|e| PyValueError::new_err(format!("invalid UTF-8 in payload: {e}")))
}

/// `{"width": w, "height": h}` plus `"itxt"` when the file has a faceswap header.
pub fn meta_to_dict<'py>(py: Python<'py>, m: &ImageMeta) -> ConvResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item(intern!(py, "width"), m.width)?;
    d.set_item(intern!(py, "height"), m.height)?;
    if let Some(v) = &m.itxt {
        d.set_item(intern!(py, "itxt"), parsed_to_py(py, v)?)?;
    }
    // It holds ints and a payload's objects only (see `untracked`).
    Ok(untracked(d))
}

/// A face file's scan facts (`face::face_facts`) as `faceio.cli.scan` takes them: `(width,
/// height, landmarks, masks, identity, version, frame, video, original)`, the names as tuples
/// of str and the last four the payload's own values.
pub fn facts_to_py<'py>(
    py: Python<'py>,
    m: &ImageMeta,
    f: &FaceFacts,
) -> ConvResult<Bound<'py, PyTuple>> {
    let Some(p) = &m.itxt else {
        return Err(PyValueError::new_err("scan facts without a payload").into());
    };
    let node = |i: usize| {
        let mut at = i;
        node_to_py(py, p, &mut at)
    };
    let names = |nodes: &[usize]| -> ConvResult<Bound<'py, PyAny>> {
        let items = nodes
            .iter()
            .map(|&i| node(i))
            .collect::<ConvResult<Vec<_>>>()?;
        Ok(PyTuple::new(py, items)?.into_any())
    };
    let items = [
        PyInt::new(py, m.width).into_any(),
        PyInt::new(py, m.height).into_any(),
        PyInt::new(py, f.landmarks).into_any(),
        names(&f.masks)?,
        names(&f.identity)?,
        node(f.version)?,
        node(f.frame)?,
        node(f.video)?,
        node(f.original)?,
    ];
    Ok(PyTuple::new(py, items)?)
}

/// numpy's array type and its float32 dtype, looked up once (numpy is imported on the first
/// face header built, not when `faceio` is).
static NUMPY: PyOnceLock<(Py<PyAny>, Py<PyAny>)> = PyOnceLock::new();

/// A float32 array as a writable numpy array over a new bytearray (no copy).
fn array_to_py<'py>(py: Python<'py>, a: &Array) -> PyResult<Bound<'py, PyAny>> {
    let (ndarray, float32) = NUMPY.get_or_try_init(py, || -> PyResult<_> {
        let np = py.import("numpy")?;
        let dtype = np.getattr("dtype")?.call1(("float32",))?;
        Ok((np.getattr("ndarray")?.unbind(), dtype.unbind()))
    })?;
    // Written straight into the bytearray: collecting the bytes first (`flat_map`) cost a
    // quarter of converting a face header, on the one thread that holds the GIL.
    let bytes = PyByteArray::new_with(py, a.data.len() * 4, |buf| {
        for (out, v) in buf.chunks_exact_mut(4).zip(&a.data) {
            out.copy_from_slice(&v.to_ne_bytes());
        }
        Ok(())
    })?;
    let shape = PyTuple::new(py, &a.shape)?;
    // One constructor over the buffer costs a third of frombuffer + reshape.
    ndarray.bind(py).call1((shape, float32.bind(py), bytes))
}

/// The field names of each class of the schema, interned once.
static FIELD_NAMES: PyOnceLock<Vec<Vec<Py<PyString>>>> = PyOnceLock::new();

fn field_names(py: Python<'_>) -> &Vec<Vec<Py<PyString>>> {
    FIELD_NAMES.get_or_init(py, || {
        SCHEMA
            .iter()
            .map(|c| {
                c.fields
                    .iter()
                    .map(|f| PyString::intern(py, f.name).unbind())
                    .collect()
            })
            .collect()
    })
}

/// Build a face header taken apart (`face::face_parts`) as objects of `classes` (one class per
/// entry of `face::SCHEMA`, in its order), each called with its fields as keywords; an optional
/// field the payload leaves out is not passed, so the class's default applies.
pub fn face_to_py<'py>(
    py: Python<'py>,
    p: &Parsed,
    obj: &Object,
    classes: &[Bound<'py, PyAny>],
) -> ConvResult<Bound<'py, PyAny>> {
    let names = field_names(py);
    let node = |i: usize| {
        let mut at = i;
        node_to_py(py, p, &mut at)
    };
    let kwargs = PyDict::new(py);
    for (name, part) in names[obj.class].iter().zip(&obj.parts) {
        let value = match part {
            Part::Absent => continue,
            Part::Node(i) => node(*i)?,
            Part::Array(a) => array_to_py(py, a)?,
            Part::Dims(None) => py.None().into_bound(py),
            Part::Dims(Some(i)) => {
                let items = p.seq_items(*i).unwrap_or_default();
                PyTuple::new(
                    py,
                    items
                        .into_iter()
                        .map(node)
                        .collect::<ConvResult<Vec<_>>>()?,
                )?
                .into_any()
            }
            Part::Object(o) => face_to_py(py, p, o, classes)?,
            Part::Objects(entries) => {
                let d = PyDict::new(py);
                for (k, o) in entries {
                    d.set_item(node(*k)?, face_to_py(py, p, o, classes)?)?;
                }
                d.into_any()
            }
            Part::Arrays(entries) => {
                let d = PyDict::new(py);
                for (k, a) in entries {
                    d.set_item(node(*k)?, array_to_py(py, a)?)?;
                }
                d.into_any()
            }
        };
        kwargs.set_item(name.bind(py), value)?;
    }
    let class = classes
        .get(obj.class)
        .ok_or_else(|| PyValueError::new_err("header classes: one class per schema entry"))?;
    Ok(class.call((), Some(&kwargs))?)
}

/// `(True, header object)` for a face header, built with `classes`, else `(False, payload)`.
pub fn face_payload_to_py<'py>(
    py: Python<'py>,
    (parsed, parts): &crate::meta::FacePayload,
    classes: &[Bound<'py, PyAny>],
) -> ConvResult<(bool, Bound<'py, PyAny>)> {
    match parts {
        Some(parts) => Ok((true, face_to_py(py, parsed, parts, classes)?)),
        None => Ok((false, parsed_to_py(py, parsed)?)),
    }
}

/// The schema as Python data, for `faceio.header`: per class `(role, name, fields)` with each
/// field as `(name, kind, required, index of its class or None)`.
pub fn schema_to_py(py: Python<'_>) -> PyResult<Bound<'_, PyTuple>> {
    let classes = SCHEMA
        .iter()
        .map(|c| {
            let fields = c
                .fields
                .iter()
                .map(|f| (f.name, f.kind.name(), f.required, f.kind.class()).into_pyobject(py))
                .collect::<PyResult<Vec<_>>>()?;
            (c.role, c.name, PyTuple::new(py, fields)?).into_pyobject(py)
        })
        .collect::<PyResult<Vec<_>>>()?;
    PyTuple::new(py, classes)
}

/// What `decode_png_batch` reports per file (the `status` bytes).
pub const DECODED: u8 = 0;
pub const OPENCV: u8 = 1;
pub const OTHER_SIZE: u8 = 2;
pub const FAILED: u8 = 3;
pub const NOT_READ: u8 = 4;

/// `decode_png_batch`'s answer when it decodes nothing: no bytearray, no file read.
pub fn no_batch(py: Python<'_>) -> PyResult<Bound<'_, PyTuple>> {
    let none = py.None().into_bound(py);
    let zero = 0u32.into_pyobject(py)?.into_any();
    PyTuple::new(
        py,
        [
            none.clone(),
            zero.clone(),
            zero,
            PyBytes::new(py, b"").into_any(),
            PyDict::new(py).into_any(),
            none,
        ],
    )
}

/// Record a hand-off of finished files (of `paths`): their status, problems and (with
/// `classes`) headers.
pub fn take_outcomes(
    py: Python<'_>,
    paths: &[PathBuf],
    items: Vec<(usize, FileOutcome)>,
    status: &mut [u8],
    problems: &Bound<'_, PyDict>,
    headers: &mut [Option<Py<PyAny>>],
    classes: &Option<Vec<Py<PyAny>>>,
) -> PyResult<()> {
    // Bound once per hand-off, not once per file.
    let classes: Option<Vec<Bound<'_, PyAny>>> = classes
        .as_ref()
        .map(|c| c.iter().map(|c| c.bind(py).clone()).collect());
    for (i, outcome) in items {
        let header = match outcome {
            FileOutcome::Decoded(header) => {
                status[i] = DECODED;
                header
            }
            FileOutcome::OpenCv(header) => {
                status[i] = OPENCV;
                header
            }
            FileOutcome::OtherSize { width, height } => {
                status[i] = OTHER_SIZE;
                problems.set_item(i, (height, width))?;
                None
            }
            FileOutcome::Failed(err) => {
                status[i] = FAILED;
                problems.set_item(i, to_pyerr(py, err).into_value(py))?;
                None
            }
        };
        if let (Some(classes), Some(payload)) = (&classes, header) {
            match face_payload_to_py(py, &payload, classes) {
                Ok((_, header)) => headers[i] = Some(header.unbind()),
                // A payload Python cannot build is that file's problem, like a parse error.
                Err(err) if err.is_data() => {
                    status[i] = FAILED;
                    let err = err.into_pyerr(py, paths.get(i).map(PathBuf::as_path));
                    problems.set_item(i, err.into_value(py))?;
                }
                // Any other exception (from a class, or Ctrl-C) ends the batch: the workers
                // skip the files they have not started.
                Err(err) => return Err(err.into_pyerr(py, None)),
            }
        }
    }
    Ok(())
}
