//! Rust values to Python objects, and core errors to the `faceio` exception family.

use pyo3::exceptions::PyOSError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyComplex, PyDict, PyFloat, PyList, PySet, PyString, PyTuple, PyType};

use crate::error::{Error, ErrorKind};
use crate::literal::{Text, Value};
use crate::meta::ImageMeta;

static CLASSES: PyOnceLock<[Py<PyType>; 5]> = PyOnceLock::new();

/// The Python exception classes, from `faceio.errors` (they use multiple inheritance, which is
/// simplest to declare in Python).
fn classes(py: Python<'_>) -> PyResult<&[Py<PyType>; 5]> {
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
        ])
    })
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

/// Build the Python object for a parsed literal.
pub fn value_to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::None => py.None().into_bound(py),
        Value::Ellipsis => py.Ellipsis().into_bound(py),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Value::Int(i) => i.into_pyobject(py)?.into_any(),
        Value::BigInt {
            negative,
            digits,
            radix,
        } => {
            let int = py
                .get_type::<pyo3::types::PyInt>()
                .call1((digits.as_str(), *radix))?;
            if *negative {
                int.neg()?
            } else {
                int
            }
        }
        Value::Float(f) => PyFloat::new(py, *f).into_any(),
        Value::Complex(re, im) => PyComplex::from_doubles(py, *re, *im).into_any(),
        Value::Str(Text::Utf8(s)) => PyString::new(py, s).into_any(),
        Value::Str(Text::Surrogates(b)) => {
            PyBytes::new(py, b).call_method1(intern!(py, "decode"), ("utf-8", "surrogatepass"))?
        }
        Value::PyStr(src) => py
            .import("ast")?
            .getattr("literal_eval")?
            .call1((src.as_str(),))?,
        Value::Bytes(b) => PyBytes::new(py, b).into_any(),
        Value::List(items) => {
            let objs = items
                .iter()
                .map(|x| value_to_py(py, x))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, objs)?.into_any()
        }
        Value::Tuple(items) => {
            let objs = items
                .iter()
                .map(|x| value_to_py(py, x))
                .collect::<PyResult<Vec<_>>>()?;
            PyTuple::new(py, objs)?.into_any()
        }
        Value::Set(items) => {
            let set = PySet::empty(py)?;
            for x in items {
                set.add(value_to_py(py, x)?)?;
            }
            set.into_any()
        }
        Value::Dict(pairs) => {
            let d = PyDict::new(py);
            for (k, val) in pairs {
                d.set_item(value_to_py(py, k)?, value_to_py(py, val)?)?;
            }
            d.into_any()
        }
    })
}

/// `{"width": w, "height": h}` plus `"itxt"` when the file has a faceswap header.
pub fn meta_to_dict<'py>(py: Python<'py>, m: &ImageMeta) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item(intern!(py, "width"), m.width)?;
    d.set_item(intern!(py, "height"), m.height)?;
    if let Some(v) = &m.itxt {
        d.set_item(intern!(py, "itxt"), value_to_py(py, v)?)?;
    }
    Ok(d)
}
