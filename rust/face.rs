//! Recognise a parsed payload that has exactly the shape of a face header (COMPAT.md §2), and
//! pull out its arrays as float32 data.
//!
//! `png_read_meta` turns a face payload into a `PNGHeader` whose landmarks, affine matrices and
//! identity vectors are float32 arrays. Building ~700 Python floats only for numpy to pack them
//! again costs more than parsing the payload; here the numbers go straight to float32 (the same
//! round-to-nearest cast numpy does). Anything that is not the canonical shape (an unknown or
//! missing key, a duplicate key, a ragged or non-numeric array, a non-string mask name) returns
//! `None`, and the caller takes the general path, whose `from_dict` raises the precise error.

use crate::literal::{Node, Parsed};

/// A float32 array: row-major data and its shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    pub data: Vec<f32>,
    pub shape: Vec<usize>,
}

/// One stored mask: node indices of the plain fields, the affine matrix as an array.
#[derive(Debug, Clone, PartialEq)]
pub struct MaskParts {
    pub name: usize,
    pub mask: usize,
    pub affine: Array,
    pub interpolator: usize,
    pub stored_size: usize,
    pub stored_centering: usize,
}

/// A face header taken apart: node indices for plain values, arrays for the array fields.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceParts {
    /// x, y, w, h.
    pub bbox: [usize; 4],
    pub landmarks: Array,
    pub masks: Vec<MaskParts>,
    pub identity: Vec<(usize, Array)>,
    /// The six PNGSource fields in field order; the last (frame dims) may be a list, tuple or None.
    pub source: [usize; 6],
}

const MASK_FIELDS: [&str; 5] = [
    "mask",
    "affine_matrix",
    "interpolator",
    "stored_size",
    "stored_centering",
];
const SOURCE_FIELDS: [&str; 6] = [
    "alignments_version",
    "original_filename",
    "face_index",
    "source_filename",
    "source_is_video",
    "source_frame_dims",
];

/// The dict at `i` as (key text, value node) with exactly the `required` keys plus any of
/// `optional`, each once; `None` otherwise.
fn fields<'p>(
    p: &'p Parsed,
    i: usize,
    required: &[&str],
    optional: &[&str],
) -> Option<Vec<(&'p [u8], usize)>> {
    let items = p.dict_items(i)?;
    let mut out = Vec::with_capacity(items.len());
    for (k, v) in items {
        let key = p.str_at(k)?;
        let known = required.iter().chain(optional).any(|f| f.as_bytes() == key);
        if !known || out.iter().any(|(seen, _)| *seen == key) {
            return None;
        }
        out.push((key, v));
    }
    let has_all = required
        .iter()
        .all(|f| out.iter().any(|(k, _)| *k == f.as_bytes()));
    has_all.then_some(out)
}

fn get(fields: &[(&[u8], usize)], name: &str) -> Option<usize> {
    fields
        .iter()
        .find(|(k, _)| *k == name.as_bytes())
        .map(|&(_, v)| v)
}

fn number(node: Node) -> Option<f32> {
    match node {
        Node::Int(v) => Some(v as f32),
        Node::Float(v) => Some(v as f32),
        Node::Bool(b) => Some(if b { 1.0 } else { 0.0 }),
        _ => None,
    }
}

/// A numeric list (1-D) or list of equal-length numeric lists (2-D), as numpy would read it.
fn array(p: &Parsed, i: usize) -> Option<Array> {
    let (Node::List { items: rows, .. } | Node::Tuple { items: rows, .. }) = *p.nodes.get(i)?
    else {
        return None;
    };
    let mut data = Vec::with_capacity(rows as usize * 2);
    let mut width: Option<usize> = None;
    let mut scalars = false;
    // One pass along the tape: a row's items must all be numbers, one node each.
    let mut k = i + 1;
    for _ in 0..rows {
        match *p.nodes.get(k)? {
            Node::List { items: cols, .. } | Node::Tuple { items: cols, .. } => {
                let cols = cols as usize;
                if scalars || *width.get_or_insert(cols) != cols {
                    return None;
                }
                for node in p.nodes.get(k + 1..k + 1 + cols)? {
                    data.push(number(*node)?);
                }
                k += 1 + cols;
            }
            node => {
                // A 1-D array: every item a number, none a list.
                if width.is_some() {
                    return None;
                }
                scalars = true;
                data.push(number(node)?);
                k += 1;
            }
        }
    }
    let rows = rows as usize;
    // Empty arrays (and rows) keep numpy's own shape rules: the general path handles them.
    let shape = match width {
        Some(w) if w > 0 => vec![rows, w],
        Some(_) => return None,
        None if rows == 0 => return None,
        None => vec![rows],
    };
    Some(Array { data, shape })
}

/// An optional dict field (`mask`, `identity`): absent, `None` or empty means no entries.
fn optional_dict(p: &Parsed, node: Option<usize>) -> Option<Vec<(usize, usize)>> {
    match node {
        None => Some(Vec::new()),
        Some(i) => match p.nodes.get(i)? {
            Node::None => Some(Vec::new()),
            Node::Dict { .. } => p.dict_items(i),
            _ => None,
        },
    }
}

/// The header's parts, if the payload has exactly a face header's shape.
pub fn face_parts(p: &Parsed) -> Option<FaceParts> {
    let top = fields(p, 0, &["alignments", "source"], &[])?;
    let al = fields(
        p,
        get(&top, "alignments")?,
        &["x", "y", "w", "h", "landmarks_xy"],
        &["mask", "identity"],
    )?;
    let src = fields(p, get(&top, "source")?, &SOURCE_FIELDS, &[])?;

    let mut masks = Vec::new();
    let mut names: Vec<&[u8]> = Vec::new();
    for (k, v) in optional_dict(p, get(&al, "mask"))? {
        let name = p.str_at(k)?;
        if names.contains(&name) {
            return None;
        }
        names.push(name);
        let f = fields(p, v, &MASK_FIELDS, &[])?;
        masks.push(MaskParts {
            name: k,
            mask: get(&f, "mask")?,
            affine: array(p, get(&f, "affine_matrix")?)?,
            interpolator: get(&f, "interpolator")?,
            stored_size: get(&f, "stored_size")?,
            stored_centering: get(&f, "stored_centering")?,
        });
    }
    let mut identity = Vec::new();
    let mut id_names: Vec<&[u8]> = Vec::new();
    for (k, v) in optional_dict(p, get(&al, "identity"))? {
        let name = p.str_at(k)?;
        if id_names.contains(&name) {
            return None;
        }
        id_names.push(name);
        identity.push((k, array(p, v)?));
    }
    let dims = get(&src, "source_frame_dims")?;
    if !matches!(
        p.nodes.get(dims)?,
        Node::None | Node::List { .. } | Node::Tuple { .. }
    ) {
        return None;
    }
    let mut source = [0usize; 6];
    for (slot, name) in source.iter_mut().zip(SOURCE_FIELDS) {
        *slot = get(&src, name)?;
    }
    Some(FaceParts {
        bbox: [
            get(&al, "x")?,
            get(&al, "y")?,
            get(&al, "w")?,
            get(&al, "h")?,
        ],
        landmarks: array(p, get(&al, "landmarks_xy")?)?,
        masks,
        identity,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::literal::parse;

    const FACE: &str = "{'alignments': {'x': 1, 'y': 2, 'w': 3, 'h': 4, \
        'landmarks_xy': [[0.5, 1.5], [2, 3]], \
        'mask': {'components': {'mask': b'x', 'affine_matrix': [[1.0, 0.0, 2.0], [0.0, 1.0, 3.0]], \
        'interpolator': 3, 'stored_size': 128, 'stored_centering': 'face'}}, \
        'identity': {'vggface2': [0.25, -1.0, 1e40]}}, \
        'source': {'alignments_version': 2.4, 'original_filename': 'a.png', 'face_index': 0, \
        'source_filename': 'b.png', 'source_is_video': False, 'source_frame_dims': [1080, 1920]}}";

    #[test]
    fn canonical_header() {
        let p = parse(FACE.as_bytes(), 64).unwrap();
        let f = face_parts(&p).unwrap();
        assert_eq!(f.landmarks.shape, vec![2, 2]);
        assert_eq!(f.landmarks.data, vec![0.5, 1.5, 2.0, 3.0]);
        assert_eq!(f.masks.len(), 1);
        assert_eq!(f.masks[0].affine.shape, vec![2, 3]);
        assert_eq!(f.identity[0].1.data, vec![0.25, -1.0, f32::INFINITY]);
        assert_eq!(p.nodes[f.bbox[3]], Node::Int(4));
    }

    #[test]
    fn anything_else_takes_the_general_path() {
        for (from, to) in [
            ("'x': 1,", "'x': 1, 'extra': 0,"),
            ("'x': 1,", ""),
            ("[[0.5, 1.5], [2, 3]]", "[[0.5, 1.5], [2]]"),
            ("[[0.5, 1.5], [2, 3]]", "[[0.5, 'a'], [2, 3]]"),
            ("[[0.5, 1.5], [2, 3]]", "[]"),
            ("'components':", "1:"),
            ("[1080, 1920]", "'ab'"),
            ("'face_index': 0,", "'face_index': 0, 'face_index': 1,"),
            ("[0.25, -1.0, 1e40]", "[99999999999999999999999]"),
        ] {
            let text = FACE.replacen(from, to, 1);
            assert_ne!(text, FACE);
            let p = parse(text.as_bytes(), 64).unwrap();
            assert!(face_parts(&p).is_none(), "{text}");
        }
        let p = parse(b"{'a': 1}", 64).unwrap();
        assert!(face_parts(&p).is_none());
    }

    #[test]
    fn optional_dicts_may_be_none_or_absent() {
        let start = FACE.find("'mask':").unwrap();
        let end = FACE.find("'source':").unwrap();
        let text = format!("{}'mask': None}}, {}", &FACE[..start], &FACE[end..]);
        let f = face_parts(&parse(text.as_bytes(), 64).unwrap()).unwrap();
        assert!(f.masks.is_empty() && f.identity.is_empty());
        let text = FACE.replacen("[[0.5, 1.5], [2, 3]]", "[1, [2, 3]]", 1);
        assert!(face_parts(&parse(text.as_bytes(), 64).unwrap()).is_none());
    }
}
