//! Packed columns ([`colbuf`](crate::colbuf)) to Python: buffers as `bytes`, errors as the
//! `faceio` exceptions `read_image_meta` raises, for `faceio.arrow` to wrap.

use std::collections::HashMap;
use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

use crate::colbuf::{self, Column, Packed, RowError};
use crate::columns::{self, Outcome, ScanFacts};
use crate::convert::{facts_to_py, parsed_to_py, resolve_names, schema_error, to_pyerr};
use crate::error::{Error, ErrorKind};
use crate::meta::ImageMeta;

/// The rows of the files `names` names, as `faceio.arrow` takes them (see [`packed_to_py`]):
/// the payloads only Python builds are built first ([`resolve`]), then the rows are packed
/// with the GIL released.
pub fn outcomes_to_py<'py>(
    py: Python<'py>,
    outcomes: Vec<Outcome>,
    names: &[PathBuf],
) -> PyResult<Bound<'py, PyTuple>> {
    let (outcomes, refused) = resolve(py, outcomes, names)?;
    let packed = py.detach(|| colbuf::pack(outcomes));
    packed_to_py(py, packed, names, refused)
}

/// Face headers' scan facts as `read_scan_facts_batch` gives them (`convert::facts_to_py`),
/// `None` where a file has none, or Python refuses to build them (left to that reader's dict
/// route, which fails the file as it always has).
pub fn scan_facts_to_py<'py>(
    py: Python<'py>,
    scans: Vec<Option<ScanFacts>>,
) -> PyResult<Bound<'py, PyList>> {
    let out = PyList::empty(py);
    for scan in scans {
        let built = match scan {
            None => None,
            Some(s) => {
                let m = ImageMeta {
                    width: s.width,
                    height: s.height,
                    itxt: Some(s.parsed),
                    facts: None,
                };
                match facts_to_py(py, &m, &s.facts) {
                    Ok(t) => Some(t),
                    Err(e) if e.is_data() => None,
                    Err(e) => return Err(e.into_pyerr(py, None)),
                }
            }
        };
        out.append(built)?;
    }
    Ok(out)
}

/// The rows Python refused to build: their exceptions as `read_image_meta_batch` raises them
/// (with Python's own error as the cause), by row.
pub type Refused = HashMap<usize, PyErr>;

/// Build in Python the payloads only Python can build ([`Outcome::Python`]), as
/// `read_image_meta_batch` does, so that the table gives that reader's errors: a value Python
/// refuses fails the row with its `MetadataSyntaxError` (kept in [`Refused`] for
/// [`packed_to_py`]). Any other such payload's row is read once Python has resolved its
/// `\N{...}` names (`convert::resolve_names`); its long ints are Python's own, which the int
/// columns refuse as they always did. `names[i]` names row `i`.
fn resolve(
    py: Python<'_>,
    outcomes: Vec<Outcome>,
    names: &[PathBuf],
) -> PyResult<(Vec<Outcome>, Refused)> {
    let mut refused = Refused::new();
    let outcomes = outcomes
        .into_iter()
        .enumerate()
        .map(|(i, o)| {
            let Outcome::Python {
                width,
                height,
                bytes,
                mut parsed,
            } = o
            else {
                return Ok(o);
            };
            if let Err(e) = parsed_to_py(py, &parsed) {
                if !e.is_data() {
                    return Err(e.into_pyerr(py, None)); // MemoryError, KeyboardInterrupt...
                }
                let path = names.get(i).map(PathBuf::as_path);
                refused.insert(i, e.into_pyerr(py, path));
                // Packed as a failed row, whose exception is the one kept in `refused`.
                let row = Error::new(ErrorKind::Syntax, None, "refused by Python (see `refused`)");
                return Ok(Outcome::Failed(row));
            }
            resolve_names(py, &mut parsed)?;
            Ok(Outcome::Read {
                width,
                height,
                header: Some((bytes, columns::face_row(&parsed))),
            })
        })
        .collect::<PyResult<Vec<_>>>()?;
    Ok((outcomes, refused))
}

fn int32_bytes<'py>(py: Python<'py>, v: &[i32]) -> Option<Bound<'py, PyBytes>> {
    if v.is_empty() {
        return None;
    }
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_ne_bytes()).collect();
    Some(PyBytes::new(py, &bytes))
}

fn column_to_py<'py>(py: Python<'py>, c: &Column) -> PyResult<Bound<'py, PyTuple>> {
    // A column without nulls needs no bitmap: Arrow takes a missing one as all present.
    let validity = (c.nulls > 0).then(|| PyBytes::new(py, &c.validity));
    (
        c.name,
        c.kind.name(),
        c.nulls,
        validity,
        int32_bytes(py, &c.offsets),
        int32_bytes(py, &c.inner),
        PyBytes::new(py, &c.values),
    )
        .into_pyobject(py)
}

/// `(batches, errors, needs)`: `batches` a list of `(rows, columns)`, each column
/// `(name, kind, nulls, validity, offsets, inner_offsets, values)`; `errors` a list of
/// `(row, exception)`; `needs` a list of `(row, prefix_length)`. Rows count across batches.
fn packed_to_py<'py>(
    py: Python<'py>,
    packed: Packed,
    names: &[PathBuf],
    mut refused: Refused,
) -> PyResult<Bound<'py, PyTuple>> {
    let batches = PyList::empty(py);
    for (rows, cols) in &packed.batches {
        let cols = cols
            .iter()
            .map(|c| column_to_py(py, c))
            .collect::<PyResult<Vec<_>>>()?;
        batches.append((*rows, PyList::new(py, cols)?))?;
    }
    let errors = PyList::empty(py);
    let needs = PyList::empty(py);
    for e in packed.errors {
        match e {
            RowError::Failed(i, err) => {
                let exc = refused.remove(&i).unwrap_or_else(|| to_pyerr(py, err));
                errors.append((i, exc.into_value(py)))?
            }
            RowError::Schema(i, why) => {
                let err = schema_error(py, names.get(i).map(PathBuf::as_path), &why);
                errors.append((i, err.into_value(py)))?
            }
            RowError::Need(i, n) => needs.append((i, n))?,
        }
    }
    (batches, errors, needs).into_pyobject(py)
}
