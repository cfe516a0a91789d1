//! Rows of [`columns`](crate::columns) packed into Arrow's memory layout: per column a validity
//! bitmap (bit i of byte i/8, 1 = present), 32-bit offsets for variable-length values, and the
//! values in native byte order. `faceio.arrow` hands these buffers to
//! `pyarrow.Array.from_buffers` as they are.
//!
//! Offsets are 32-bit (Arrow's `string` and `list`, which every reader takes): when a row
//! would carry a column past 2^31 - 1 bytes or items, a new batch starts.

use crate::columns::{FaceRow, Kind, Outcome, COLUMNS};

/// One value of a row, as a column takes it.
enum Cell<'a> {
    Null,
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(&'a str),
    Points(&'a [f32]),
    Pair([i64; 2]),
    Strs(&'a [String]),
    Ints(&'a [i64]),
}

/// One column's buffers.
#[derive(Debug)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    pub validity: Vec<u8>,
    pub nulls: usize,
    /// For strings and lists: where each row's values start (`len + 1` entries).
    pub offsets: Vec<i32>,
    /// For lists of strings: where each string starts in `values`.
    pub inner: Vec<i32>,
    /// The values (for `Bool`, a bitmap), in native byte order.
    pub values: Vec<u8>,
    len: usize,
}

fn set_bit(bits: &mut Vec<u8>, i: usize, on: bool) {
    if i.is_multiple_of(8) {
        bits.push(0);
    }
    if on {
        if let Some(b) = bits.last_mut() {
            *b |= 1 << (i % 8);
        }
    }
}

/// The largest offset a batch holds: `i32::MAX` (tests lower it).
const LIMIT: usize = i32::MAX as usize;

/// Whether an offset may grow by `add` and stay within `limit`.
fn fits(now: usize, add: usize, limit: usize) -> bool {
    now.checked_add(add).is_some_and(|n| n <= limit)
}

fn offset(n: usize) -> i32 {
    // Callers check `fits` before growing a buffer, so this never saturates.
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl Column {
    fn new(name: &'static str, kind: Kind) -> Self {
        let var = matches!(
            kind,
            Kind::Str | Kind::Points | Kind::StrList | Kind::Int64List
        );
        Column {
            name,
            kind,
            validity: Vec::new(),
            nulls: 0,
            offsets: if var { vec![0] } else { Vec::new() },
            inner: if kind == Kind::StrList {
                vec![0]
            } else {
                Vec::new()
            },
            values: Vec::new(),
            len: 0,
        }
    }

    /// The number of items in the list offsets so far.
    fn items(&self) -> usize {
        match self.kind {
            Kind::StrList => self.inner.len() - 1,
            Kind::Points => self.values.len() / 8,
            Kind::Int64List => self.values.len() / 8,
            _ => self.values.len(),
        }
    }

    /// Whether `cell` fits without an offset passing `limit`.
    fn room(&self, cell: &Cell<'_>, limit: usize) -> bool {
        match cell {
            Cell::Str(s) => fits(self.values.len(), s.len(), limit),
            Cell::Points(p) => fits(self.items(), p.len() / 2, limit),
            Cell::Ints(v) => fits(self.items(), v.len(), limit),
            Cell::Strs(v) => {
                let bytes = v.iter().map(String::len).sum();
                fits(self.items(), v.len(), limit) && fits(self.values.len(), bytes, limit)
            }
            _ => true,
        }
    }

    fn push(&mut self, cell: Cell<'_>) {
        let present = !matches!(cell, Cell::Null);
        set_bit(&mut self.validity, self.len, present);
        self.nulls += usize::from(!present);
        match (self.kind, cell) {
            (Kind::Int64, Cell::Int(v)) => self.values.extend_from_slice(&v.to_ne_bytes()),
            (Kind::Float64, Cell::Float(v)) => self.values.extend_from_slice(&v.to_ne_bytes()),
            (Kind::Bool, Cell::Bool(b)) => set_bit(&mut self.values, self.len, b),
            (Kind::Pair, Cell::Pair(v)) => {
                for x in v {
                    self.values.extend_from_slice(&x.to_ne_bytes());
                }
            }
            (Kind::Str, Cell::Str(s)) => self.values.extend_from_slice(s.as_bytes()),
            (Kind::Points, Cell::Points(p)) => {
                for x in p {
                    self.values.extend_from_slice(&x.to_ne_bytes());
                }
            }
            (Kind::Int64List, Cell::Ints(v)) => {
                for x in v {
                    self.values.extend_from_slice(&x.to_ne_bytes());
                }
            }
            (Kind::StrList, Cell::Strs(v)) => {
                for s in v {
                    self.values.extend_from_slice(s.as_bytes());
                    self.inner.push(offset(self.values.len()));
                }
            }
            // A null (or, never, a cell of another kind): a placeholder of the column's width.
            (Kind::Int64 | Kind::Float64, _) => self.values.extend_from_slice(&[0; 8]),
            (Kind::Pair, _) => self.values.extend_from_slice(&[0; 16]),
            (Kind::Bool, _) => set_bit(&mut self.values, self.len, false),
            _ => {}
        }
        if !self.offsets.is_empty() {
            let end = match self.kind {
                Kind::Str => self.values.len(),
                _ => self.items(),
            };
            self.offsets.push(offset(end));
        }
        self.len += 1;
    }
}

/// Why a row has no face values, for the caller to raise or record.
#[derive(Debug)]
pub enum RowError {
    /// Index of the row among all rows given to [`pack`], and the failure.
    Failed(usize, crate::error::Error),
    /// Index, and why the payload does not fit the face columns.
    Schema(usize, String),
    /// Index, and the length of the prefix to fetch instead.
    Need(usize, u64),
}

/// Rows packed into column buffers: one or more batches (see the module docs), and the rows
/// without face values.
#[derive(Debug)]
pub struct Packed {
    pub batches: Vec<(usize, Vec<Column>)>,
    pub errors: Vec<RowError>,
}

fn new_batch() -> Vec<Column> {
    COLUMNS
        .iter()
        .map(|&(name, kind)| Column::new(name, kind))
        .collect()
}

fn face_cells(f: &FaceRow) -> [Cell<'_>; 15] {
    let [x, y, w, h] = f.face_box;
    [
        Cell::Int(x),
        Cell::Int(y),
        Cell::Int(w),
        Cell::Int(h),
        Cell::Points(&f.landmarks),
        Cell::Strs(&f.mask_names),
        Cell::Ints(&f.mask_sizes),
        Cell::Strs(&f.mask_centerings),
        Cell::Strs(&f.identity_names),
        Cell::Float(f.alignments_version),
        Cell::Str(&f.original_filename),
        Cell::Int(f.face_index),
        Cell::Str(&f.source_filename),
        Cell::Bool(f.source_is_video),
        f.frame_dims.map_or(Cell::Null, Cell::Pair),
    ]
}

/// A row's cells in [`COLUMNS`] order.
fn cells(o: &Outcome) -> Vec<Cell<'_>> {
    let mut out = Vec::with_capacity(COLUMNS.len());
    let Outcome::Read {
        width,
        height,
        header,
    } = o
    else {
        out.resize_with(COLUMNS.len(), || Cell::Null);
        return out;
    };
    out.push(Cell::Int(i64::from(*width)));
    out.push(Cell::Int(i64::from(*height)));
    match header {
        Some((_, Ok(face))) => out.extend(face_cells(face)),
        _ => out.resize_with(COLUMNS.len() - 1, || Cell::Null),
    }
    out.push(match header {
        Some((bytes, _)) => Cell::Int(i64::try_from(*bytes).unwrap_or(i64::MAX)),
        None => Cell::Null,
    });
    out
}

/// Pack `outcomes` (taking their errors) into column batches, in order.
pub fn pack(outcomes: Vec<Outcome>) -> Packed {
    pack_within(outcomes, LIMIT)
}

/// [`pack`], starting a new batch where an offset would pass `limit`. (A row that alone
/// passes it gets a batch of its own; with `i32::MAX`, no row can: a payload is at most
/// `max_text` bytes.)
fn pack_within(outcomes: Vec<Outcome>, limit: usize) -> Packed {
    let mut batches = vec![(0, new_batch())];
    let mut errors = Vec::new();
    for (i, o) in outcomes.into_iter().enumerate() {
        {
            let row = cells(&o);
            let full = batches.last().is_some_and(|(len, cols)| {
                *len > 0 && !cols.iter().zip(&row).all(|(c, v)| c.room(v, limit))
            });
            if full {
                batches.push((0, new_batch()));
            }
            if let Some((len, cols)) = batches.last_mut() {
                for (c, v) in cols.iter_mut().zip(row) {
                    c.push(v);
                }
                *len += 1;
            }
        }
        match o {
            Outcome::Failed(e) => errors.push(RowError::Failed(i, e)),
            Outcome::Need(n) => errors.push(RowError::Need(i, n)),
            // The binding builds these in Python first (`pycolumns::resolve`); one left here
            // is the caller's mistake, reported on its row rather than taken as a good row.
            Outcome::Python { .. } => errors.push(RowError::Schema(
                i,
                "faceio internal error: a payload Python must build was packed unbuilt".into(),
            )),
            Outcome::Read {
                header: Some((_, Err(why))),
                ..
            } => errors.push(RowError::Schema(i, why)),
            Outcome::Read { .. } => {}
        }
    }
    Packed { batches, errors }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::columns::FaceRow;

    fn face(name: &str) -> Outcome {
        let row = FaceRow {
            face_box: [1, 2, 3, 4],
            landmarks: vec![0.5; 6],
            mask_names: vec![name.into(), "m".into()],
            mask_sizes: vec![64, 128],
            mask_centerings: vec!["face".into(), "head".into()],
            identity_names: vec![],
            alignments_version: 2.4,
            original_filename: name.into(),
            face_index: 0,
            source_filename: format!("{name}.mp4"),
            source_is_video: true,
            frame_dims: None,
        };
        Outcome::Read {
            width: 8,
            height: 9,
            header: Some((100, Ok(row))),
        }
    }

    #[test]
    fn a_batch_ends_before_an_offset_passes_the_limit() {
        let names = ["abcd", "efghij", "k", "lmnopqrstu", "vw"];
        let packed = pack_within(names.iter().map(|n| face(n)).collect(), 12);
        let rows: Vec<usize> = packed.batches.iter().map(|b| b.0).collect();
        assert_eq!(rows.iter().sum::<usize>(), names.len());
        assert!(rows.len() > 1, "{rows:?}");
        let mut next = 0;
        for (len, cols) in &packed.batches {
            for c in cols {
                // Every offset within the limit (a row alone may pass it), each batch whole.
                assert!(
                    c.offsets.iter().all(|&o| o as usize <= 12) || *len == 1,
                    "{}",
                    c.name
                );
                if !c.offsets.is_empty() {
                    assert_eq!(c.offsets.len(), len + 1);
                    assert_eq!(c.offsets[0], 0);
                }
            }
            let name = cols.iter().find(|c| c.name == "original_filename").unwrap();
            let text: String = names[next..next + len].concat();
            assert_eq!(name.values, text.as_bytes());
            next += len;
        }
        let one = pack(names.iter().map(|n| face(n)).collect());
        assert_eq!(one.batches.len(), 1);
    }
}
