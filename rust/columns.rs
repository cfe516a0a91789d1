//! Face headers as columns (docs/table.md): many files read and parsed on the worker pool, each
//! reduced to a small row of typed values, then packed into flat buffers laid out as Arrow
//! arrays are (values, offsets, validity bitmaps), which `faceio.arrow` wraps without a copy.
//! No Python object is built per file: that is what makes a table faster than the dicts of
//! `read_image_meta_batch`.
//!
//! The same rows come from files on disk ([`read_paths`]) and from bytes fetched elsewhere
//! ([`read_blobs`]), which may be only the first bytes of a file: a prefix that ends before the
//! faceswap chunk does gives [`Outcome::Need`], the length to fetch, never an error.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::face::{self, Array, FaceFacts, Object, Part, ALIGNMENTS, MASK, SOURCE};
use crate::limits::Limits;
use crate::literal::{Node, Parsed};
use crate::meta;
use crate::source::{FileSource, Source};

/// How a column's values are laid out (`faceio.arrow` maps each to its Arrow type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int64,
    Float64,
    Bool,
    Str,
    /// A list of (x, y) float32 points.
    Points,
    /// Two int64s, or null.
    Pair,
    StrList,
    Int64List,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Int64 => "int64",
            Kind::Float64 => "float64",
            Kind::Bool => "bool",
            Kind::Str => "string",
            Kind::Points => "points",
            Kind::Pair => "pair",
            Kind::StrList => "string_list",
            Kind::Int64List => "int64_list",
        }
    }
}

/// The columns built here, in table order (`path` comes before them, the error columns
/// after). Each face column is named after its field of [`SCHEMA`] (a mask's and an
/// identity's fields prefixed `mask_`/`identity_`, in the plural as they are lists): a test
/// checks that every field of the alignments and the source has one, or is named in
/// [`LEFT_OUT`].
pub static COLUMNS: [(&str, Kind); 18] = [
    ("width", Kind::Int64),
    ("height", Kind::Int64),
    ("x", Kind::Int64),
    ("y", Kind::Int64),
    ("w", Kind::Int64),
    ("h", Kind::Int64),
    ("landmarks_xy", Kind::Points),
    ("mask_names", Kind::StrList),
    ("mask_stored_sizes", Kind::Int64List),
    ("mask_stored_centerings", Kind::StrList),
    ("identity_names", Kind::StrList),
    ("alignments_version", Kind::Float64),
    ("original_filename", Kind::Str),
    ("face_index", Kind::Int64),
    ("source_filename", Kind::Str),
    ("source_is_video", Kind::Bool),
    ("source_frame_dims", Kind::Pair),
    ("header_bytes", Kind::Int64),
];

/// Mask fields with no column: bulky, and read from the file when needed.
pub static LEFT_OUT: [&str; 3] = ["mask", "affine_matrix", "interpolator"];

/// A face header's values, one per face column.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceRow {
    /// x, y, w, h.
    pub face_box: [i64; 4],
    pub landmarks: Vec<f32>,
    pub mask_names: Vec<String>,
    pub mask_sizes: Vec<i64>,
    pub mask_centerings: Vec<String>,
    pub identity_names: Vec<String>,
    pub alignments_version: f64,
    pub original_filename: String,
    pub face_index: i64,
    pub source_filename: String,
    pub source_is_video: bool,
    pub frame_dims: Option<[i64; 2]>,
}

/// What one file gives.
#[derive(Debug)]
pub enum Outcome {
    /// The image's size and, for a PNG with a faceswap chunk, the payload's length and its
    /// face fields, or why the payload does not fit them (a `HeaderSchemaError`).
    Read {
        width: u32,
        height: u32,
        header: Option<(usize, std::result::Result<FaceRow, String>)>,
    },
    /// The file could not be read or parsed, as `read_image_meta` would fail.
    Failed(Error),
    /// The bytes given end before what is needed: the length of the prefix to give instead.
    Need(u64),
    /// A payload holding values only Python can build, or refuse (`face::python_may_refuse`):
    /// kept whole for the binding to build in Python, as `read_image_meta_batch` does, before
    /// the rows are packed (`pycolumns::resolve`).
    Python {
        width: u32,
        height: u32,
        bytes: usize,
        parsed: Parsed,
    },
}

/// A face header's scan facts as `read_scan_facts_batch` takes them (`meta::read_batch`), for
/// a caller that needs both (the folder cache): the facts' nodes copied out of the parse
/// ([`FaceFacts::extracted`]), and the image's size.
#[derive(Debug)]
pub struct ScanFacts {
    pub width: u32,
    pub height: u32,
    pub parsed: Parsed,
    pub facts: FaceFacts,
}

/// Read and reduce one file on disk; with `facts`, take a face header's scan facts too.
fn read_path(path: &Path, limits: &Limits, facts: bool) -> (Outcome, Option<ScanFacts>) {
    let read = FileSource::open(path).and_then(|mut src| {
        let png = meta::is_png_name(path);
        meta::read_text(&mut src, png, limits)
    });
    outcome(read, limits, path, facts)
}

/// Read many files on the worker pool; outcomes in input order.
pub fn read_paths(paths: &[PathBuf], limits: &Limits) -> Vec<Outcome> {
    crate::pool::install(|| {
        paths
            .par_iter()
            .map(|p| read_path(p, limits, false).0)
            .collect()
    })
}

/// [`read_paths`], with each face header's scan facts from the same parse (`None` where a file
/// is no face header, failed, or takes Python's route: `read_scan_facts_batch` gives no facts
/// for those either).
pub fn read_paths_with_facts(
    paths: &[PathBuf],
    limits: &Limits,
) -> Vec<(Outcome, Option<ScanFacts>)> {
    crate::pool::install(|| {
        paths
            .par_iter()
            .map(|p| read_path(p, limits, true))
            .collect()
    })
}

/// A file's first bytes, noting the furthest byte asked for beyond them.
struct Prefix<'a> {
    data: &'a [u8],
    wanted: u64,
}

impl Source for Prefix<'_> {
    fn read_at(&mut self, offset: u64, len: usize) -> std::io::Result<&[u8]> {
        self.wanted = self.wanted.max(offset.saturating_add(len as u64));
        let data: &[u8] = self.data;
        let start = usize::try_from(offset).map_or(data.len(), |s| s.min(data.len()));
        let end = start.saturating_add(len).min(data.len());
        Ok(&data[start..end])
    }

    fn len_hint(&mut self) -> Option<u64> {
        Some(self.data.len() as u64)
    }
}

/// Reduce one file given as bytes: the whole file when `whole`, else its first bytes.
fn read_blob(name: &Path, data: &[u8], whole: bool, limits: &Limits) -> Outcome {
    let mut src = Prefix { data, wanted: 0 };
    let read = meta::read_text(&mut src, meta::is_png_name(name), limits);
    // A read that asked past the prefix may end otherwise on more bytes: ask for them. That is
    // a failure, or a walk that found the end of the data before what it looks for (a JPEG's
    // Exif segments after SOF, a WebP's EXIF chunk: docs/format.md, "Image sizes and EXIF
    // orientation"). A PNG walk asks for a chunk's header, then the whole chunk: each round
    // gets further.
    if !whole && src.wanted > data.len() as u64 {
        return Outcome::Need(src.wanted);
    }
    outcome(read, limits, name, false).0
}

/// Reduce files given as bytes (see [`read_blob`]) on the worker pool, in input order.
pub fn read_blobs(
    names: &[PathBuf],
    blobs: &[&[u8]],
    whole: &[bool],
    limits: &Limits,
) -> Vec<Outcome> {
    crate::pool::install(|| {
        (0..names.len().min(blobs.len()).min(whole.len()))
            .into_par_iter()
            .map(|i| read_blob(&names[i], blobs[i], whole[i], limits))
            .collect()
    })
}

/// Parse a file's faceswap text and reduce it to a row (and, with `facts`, a face header's
/// scan facts), dropping the parse.
fn outcome(
    read: Result<(u32, u32, Option<crate::png::MetaText>)>,
    limits: &Limits,
    path: &Path,
    facts: bool,
) -> (Outcome, Option<ScanFacts>) {
    let (width, height, text) = match read {
        Ok(r) => r,
        Err(e) => return (Outcome::Failed(e.with_path(path)), None),
    };
    let mut scan = None;
    let header = match text {
        None => None,
        Some(t) => match meta::parse_text(&t, limits) {
            Ok(parsed) if face::python_may_refuse(&parsed) => {
                return (
                    Outcome::Python {
                        width,
                        height,
                        bytes: t.text.len(),
                        parsed,
                    },
                    None,
                );
            }
            Ok(parsed) => {
                if facts {
                    scan = face::face_facts(&parsed).map(|f| {
                        let (parsed, facts) = f.extracted(&parsed);
                        ScanFacts {
                            width,
                            height,
                            parsed,
                            facts,
                        }
                    });
                }
                Some((t.text.len(), face_row(&parsed)))
            }
            Err(e) => return (Outcome::Failed(e.with_path(path)), None),
        },
    };
    let read = Outcome::Read {
        width,
        height,
        header,
    };
    (read, scan)
}

type RowResult<T> = std::result::Result<T, String>;

/// The field's position in its class of [`SCHEMA`].
fn pos(class: usize, name: &str) -> RowResult<usize> {
    face::field_index(class, name).ok_or_else(|| format!("faceio internal error: no field {name}"))
}

fn sub_object<'o>(o: &'o Object, class: usize, field: &str) -> RowResult<&'o Object> {
    match o.parts.get(pos(o.class, field)?) {
        Some(Part::Object(sub)) if sub.class == class => Ok(sub),
        _ => Err(format!("faceio internal error: {field} is no object")),
    }
}

/// A plain field's node.
fn node<'p>(p: &'p Parsed, o: &Object, field: &str) -> RowResult<(usize, &'p Node)> {
    match o.parts.get(pos(o.class, field)?) {
        Some(Part::Node(i)) => p.nodes.get(*i).map(|n| (*i, n)).ok_or_else(|| bad(field)),
        _ => Err(bad(field)),
    }
}

fn bad(field: &str) -> String {
    format!("field '{field}' is not of its documented type (docs/table.md)")
}

fn int(p: &Parsed, o: &Object, field: &str) -> RowResult<i64> {
    match node(p, o, field)? {
        (_, Node::Int(v)) => Ok(*v),
        _ => Err(format!("field '{field}' is not an int of 64 bits")),
    }
}

fn text(p: &Parsed, i: usize, field: &str) -> RowResult<String> {
    // `str_at` gives only strings without surrogates, which are valid UTF-8.
    let bytes = p
        .str_at(i)
        .ok_or_else(|| format!("field '{field}' is not a plain str"))?;
    String::from_utf8(bytes.to_vec()).map_err(|_| format!("field '{field}' is not a plain str"))
}

/// The names of a dict field of named entries (masks, identities), in stored order.
fn names<T>(p: &Parsed, entries: &[(usize, T)], field: &str) -> RowResult<Vec<String>> {
    entries.iter().map(|(k, _)| text(p, *k, field)).collect()
}

/// A face header's column values, or why the payload does not fit them.
pub fn face_row(p: &Parsed) -> RowResult<FaceRow> {
    let f = face::face_parts(p).ok_or_else(|| {
        "the payload is not a face header: its keys, value types or array shapes differ from \
         docs/format.md, \"The face header\""
            .to_string()
    })?;
    let al = sub_object(&f, ALIGNMENTS, "alignments")?;
    let src = sub_object(&f, SOURCE, "source")?;
    let landmarks = match al.parts.get(pos(ALIGNMENTS, "landmarks_xy")?) {
        Some(Part::Array(Array { data, shape })) if shape.len() == 2 && shape[1] == 2 => {
            data.clone()
        }
        _ => return Err("field 'landmarks_xy' is not an array of (x, y) points".into()),
    };
    let (mut mask_names, mut mask_sizes, mut mask_centerings) = (vec![], vec![], vec![]);
    if let Some(Part::Objects(masks)) = al.parts.get(pos(ALIGNMENTS, "mask")?) {
        mask_names = names(p, masks, "mask")?;
        for (_, m) in masks {
            mask_sizes.push(int(p, m, "stored_size")?);
            let (i, _) = node(p, m, "stored_centering")?;
            mask_centerings.push(text(p, i, "stored_centering")?);
        }
        debug_assert!(masks.iter().all(|(_, m)| m.class == MASK));
    }
    let identity_names = match al.parts.get(pos(ALIGNMENTS, "identity")?) {
        Some(Part::Arrays(ids)) => names(p, ids, "identity")?,
        _ => Vec::new(),
    };
    let alignments_version = match node(p, src, "alignments_version")? {
        (_, Node::Float(v)) => *v,
        (_, Node::Int(v)) => *v as f64,
        _ => return Err(bad("alignments_version")),
    };
    let source_is_video = match node(p, src, "source_is_video")? {
        (_, Node::Bool(b)) => *b,
        _ => return Err(bad("source_is_video")),
    };
    let frame_dims = match src.parts.get(pos(SOURCE, "source_frame_dims")?) {
        Some(Part::Dims(None)) => None,
        Some(Part::Dims(Some(i))) => Some(pair(p, *i)?),
        _ => return Err(bad("source_frame_dims")),
    };
    Ok(FaceRow {
        face_box: [
            int(p, al, "x")?,
            int(p, al, "y")?,
            int(p, al, "w")?,
            int(p, al, "h")?,
        ],
        landmarks,
        mask_names,
        mask_sizes,
        mask_centerings,
        identity_names,
        alignments_version,
        original_filename: text(p, node(p, src, "original_filename")?.0, "original_filename")?,
        face_index: int(p, src, "face_index")?,
        source_filename: text(p, node(p, src, "source_filename")?.0, "source_filename")?,
        source_is_video,
        frame_dims,
    })
}

/// The source frame's (height, width): a list or tuple of two ints.
fn pair(p: &Parsed, i: usize) -> RowResult<[i64; 2]> {
    let items = p.seq_items(i).unwrap_or_default();
    match items.as_slice() {
        [a, b] => match (p.nodes.get(*a), p.nodes.get(*b)) {
            (Some(Node::Int(a)), Some(Node::Int(b))) => Ok([*a, *b]),
            _ => Err(bad("source_frame_dims")),
        },
        _ => Err("field 'source_frame_dims' does not hold two items".into()),
    }
}

#[cfg(test)]
#[path = "columns_tests.rs"]
mod tests;
